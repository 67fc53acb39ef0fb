/* backup: snapshot values through each configuration; see backup.h.
 *
 * It does not read the file itself (core/snapshot does) and does not print
 * (cmd/cmd_backup.c renders the report). */
#include "backup.h"
#include "base/err.h"
#include "base/hex.h"
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct target {
	struct res_id id;
	char prefix[512];
	struct xf *xf[BACKUP_MAX_CONFIGS];
};

struct backup {
	struct snap *s;
	struct backup_opts o;
	size_t nx; /* transformers per target: n_confs, or 1 (classify) */
	struct target *t;
	size_t n;
	struct target *fixed; /* the explicit target being read; NULL for --all */
	struct tally tally[BACKUP_MAX_CONFIGS];
	struct backup_history h;
	struct buf plain;
	struct xf_result res[BACKUP_MAX_CONFIGS];
	uint64_t values;
	backup_value_fn fn;
	backup_progress_fn progress;
	void *arg;
};

static int add_target(struct backup *bk, struct target **out, const struct res_id *id)
{
	struct target *t = realloc(bk->t, (bk->n + 1) * sizeof(*t));
	struct tally_res *tr;
	int rc = 0;

	if (t == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	bk->t = t;
	t = &bk->t[bk->n++];
	memset(t, 0, sizeof(*t));
	t->id = *id;
	if ((rc = res_prefix(t->prefix, sizeof(t->prefix), bk->o.etcd_prefix, id)) < 0)
		return rc;
	for (size_t i = 0; i < bk->nx && rc == 0; i++) {
		const struct encconf *c = bk->o.n_confs ? bk->o.confs[i] : NULL;

		if ((rc = xf_new(&t->xf[i], c, id->group, id->resource, bk->o.ring)) == 0)
			rc = tally_resource(&bk->tally[i], &tr, id, t->prefix);
	}
	*out = t;
	return rc;
}

int backup_new(struct backup **out, struct snap *s, const struct backup_opts *opts)
{
	struct backup *bk;
	struct target *t;
	int rc = 0;

	*out = NULL;
	if (opts->n_confs > BACKUP_MAX_CONFIGS)
		return err_set(ERR_USAGE, "at most %d configs", BACKUP_MAX_CONFIGS);
	if ((bk = calloc(1, sizeof(*bk))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	bk->s = s;
	bk->o = *opts;
	bk->nx = opts->n_confs ? opts->n_confs : 1;
	for (size_t i = 0; i < bk->nx; i++)
		tally_init(&bk->tally[i], opts->n_confs > 0);
	buf_init(&bk->plain, 0);
	for (size_t i = 0; !opts->all && i < opts->n_resources && rc == 0; i++)
		rc = add_target(bk, &t, &opts->resources[i]);
	if (rc < 0) {
		backup_free(bk);
		return rc;
	}
	*out = bk;
	return 0;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void backup_free(struct backup *bk)
{
	if (bk == NULL)
		return;
	for (size_t i = 0; i < bk->n; i++)
		for (size_t j = 0; j < bk->nx; j++)
			xf_free(bk->t[i].xf[j]);
	free(bk->t);
	for (size_t i = 0; i < bk->nx; i++)
		tally_release(&bk->tally[i]);
	free_list(bk->h.deleted, bk->h.n_deleted);
	free_list(bk->h.recreated, bk->h.n_recreated);
	free_list(bk->h.plain_keys, bk->h.n_plain_keys);
	buf_release(&bk->plain);
	free(bk);
}

/* Appends key to a capped list. */
static int list_add(char ***v, size_t *n, const struct snap_kv *kv)
{
	char **nv;

	if (*n >= BACKUP_MAX_LISTED)
		return 0;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	*v = nv;
	if ((nv[*n] = strndup((const char *)kv->key, kv->key_len)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	(*n)++;
	return 0;
}

static int note_history(struct backup_history *h, const struct snap_kv *kv)
{
	int rc = 0;

	history_add_key(&h->sum, kv);
	if (kv->plain_historical > 0)
		rc = list_add(&h->plain_keys, &h->n_plain_keys, kv);
	if (rc == 0 && kv->deleted) {
		h->deleted_keys++;
		rc = list_add(&h->deleted, &h->n_deleted, kv);
	}
	if (rc == 0 && kv->recreated) {
		h->recreated_keys++;
		rc = list_add(&h->recreated, &h->n_recreated, kv);
	}
	return rc;
}

/* --all: the target of the resource a key belongs to, made on first use */
static int target_of_key(struct backup *bk, struct target **out, const struct snap_kv *kv)
{
	struct res_id id;

	memset(&id, 0, sizeof(id));
	if (res_from_key(&id, bk->o.etcd_prefix, kv->key, kv->key_len) < 0)
		snprintf(id.resource, sizeof(id.resource), "(other)");
	for (size_t i = 0; i < bk->n; i++) {
		if (strcmp(bk->t[i].id.group, id.group) == 0 && strcmp(bk->t[i].id.resource, id.resource) == 0) {
			*out = &bk->t[i];
			return 0;
		}
	}
	return add_target(bk, out, &id);
}

static int read_value(struct backup *bk, struct target *t, const struct snap_kv *kv)
{
	struct tally_res *tr;
	int rc;

	for (size_t i = 0; i < bk->nx; i++) {
		rc = xf_read(t->xf[i], &bk->res[i], &bk->plain, kv->key, kv->key_len, kv->value, kv->value_len);
		if (rc < 0)
			return err_wrap(rc, "reading '%.*s'", (int)kv->key_len, (const char *)kv->key);
		if ((rc = tally_resource(&bk->tally[i], &tr, &t->id, t->prefix)) < 0 ||
		    (rc = tally_add(&bk->tally[i], tr, kv->key, kv->key_len, kv->mod_revision, kv->value,
				    kv->value_len, &bk->res[i])) < 0)
			return rc;
	}
	return 0;
}

static int on_key(void *arg, const struct snap_kv *kv)
{
	struct backup *bk = arg;
	struct target *t = bk->fixed;
	int rc;

	if ((rc = note_history(&bk->h, kv)) < 0 || kv->deleted)
		return rc;
	if (t == NULL && (rc = target_of_key(bk, &t, kv)) < 0)
		return rc;
	if ((rc = read_value(bk, t, kv)) < 0)
		return rc;
	if (bk->fn && (rc = bk->fn(bk->arg, kv, &t->id, bk->res, bk->nx)) < 0)
		return rc;
	if (bk->progress && (++bk->values & 0x3FF) == 0)
		bk->progress(bk->arg, bk->values);
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int bad_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tally_bad *)a)->etcd_key, ((const struct tally_bad *)b)->etcd_key);
}

static int res_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tally_res *)a)->prefix, ((const struct tally_res *)b)->prefix);
}

/* Values were read in file order: put every list in key order, so the
 * report is the same whatever the order of the file. */
static void sort_results(struct backup *bk)
{
	for (size_t i = 0; i < bk->nx; i++) {
		struct tally *t = &bk->tally[i];

		if (bk->o.all && t->n > 1)
			qsort(t->res, t->n, sizeof(*t->res), res_cmp);
		for (size_t r = 0; r < t->n; r++)
			if (t->res[r].n_bad > 1)
				qsort(t->res[r].bad, t->res[r].n_bad, sizeof(*t->res[r].bad), bad_cmp);
	}
	if (bk->h.n_deleted > 1)
		qsort(bk->h.deleted, bk->h.n_deleted, sizeof(char *), str_cmp);
	if (bk->h.n_recreated > 1)
		qsort(bk->h.recreated, bk->h.n_recreated, sizeof(char *), str_cmp);
	if (bk->h.n_plain_keys > 1)
		qsort(bk->h.plain_keys, bk->h.n_plain_keys, sizeof(char *), str_cmp);
}

int backup_run(struct backup *bk, backup_value_fn fn, backup_progress_fn progress, void *arg)
{
	enum snap_order order = bk->o.key_order ? SNAP_ORDER_KEY : SNAP_ORDER_FILE;
	int rc = 0;

	bk->fn = fn;
	bk->progress = progress;
	bk->arg = arg;
	if (bk->o.all) {
		char all[512];

		if ((rc = res_all_prefix(all, sizeof(all), bk->o.etcd_prefix)) < 0)
			return rc;
		bk->fixed = NULL;
		rc = snap_foreach_key(bk->s, (const uint8_t *)all, strlen(all), order, on_key, bk);
		if (rc == 0)
			sort_results(bk);
		return rc;
	}
	for (size_t i = 0; i < bk->n && rc == 0; i++) {
		bk->fixed = &bk->t[i];
		rc = snap_foreach_key(bk->s, (const uint8_t *)bk->t[i].prefix, strlen(bk->t[i].prefix), order, on_key,
				      bk);
	}
	bk->fixed = NULL;
	if (rc == 0)
		sort_results(bk);
	return rc;
}

const struct tally *backup_tally(const struct backup *bk, size_t i)
{
	return &bk->tally[i];
}

const struct backup_history *backup_get_history(const struct backup *bk)
{
	return &bk->h;
}

int backup_restorable(const struct backup *bk, size_t i)
{
	uint64_t bad = 0;

	tally_total(&bk->tally[i], &bad);
	return bad == 0;
}

static int all_restorable(const struct backup *bk)
{
	for (size_t i = 0; i < bk->o.n_confs; i++)
		if (!backup_restorable(bk, i))
			return 0;
	return 1;
}

int backup_ok(const struct backup *bk)
{
	const struct snap_info *in = snap_get_info(bk->s);

	if ((in->has_trailer && !(in->trailer_checked && in->trailer_matches)) || in->extra_bytes > 0)
		return 0;
	return all_restorable(bk);
}

/* ---- report ------------------------------------------------------------- */

/* "provider:key_name" labels of a tally, with counts (for keys_needed). */
struct label {
	char name[ENV_NAME_MAX + 16];
	uint64_t count, readable;
};

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

static struct label *labels_of(const struct tally *t, size_t *n)
{
	struct label *v = NULL, *nv;
	size_t cnt = 0, j;

	for (size_t r = 0; r < t->n; r++) {
		for (size_t i = 0; i < t->res[r].n_rows; i++) {
			const struct tally_row *row = &t->res[r].rows[i];
			char name[sizeof(v->name)];

			if (row->kind == ENV_IDENTITY)
				continue;
			snprintf(name, sizeof(name), "%s:%s", report_provider(row->kind), row->key_name);
			for (j = 0; j < cnt && strcmp(v[j].name, name) != 0; j++)
				;
			if (j == cnt) {
				if ((nv = realloc(v, (cnt + 1) * sizeof(*nv))) == NULL)
					break;
				v = nv;
				memset(&v[cnt], 0, sizeof(v[cnt]));
				memcpy(v[cnt].name, name, sizeof(name));
				cnt++;
			}
			v[j].count += row->count;
			v[j].readable += row->readable;
		}
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), label_cmp);
	*n = cnt;
	return v;
}

static void keys_lists(const struct tally *t, json_t *o, char *missing, size_t cap)
{
	size_t n = 0, used = 0;
	struct label *v = labels_of(t, &n);
	json_t *need = json_array(), *miss = json_array();

	missing[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(need, json_string(v[i].name));
		if (t->have_config && v[i].readable == 0) {
			json_array_append_new(miss, json_string(v[i].name));
			if (used < cap) {
				int w = snprintf(missing + used, cap - used, "%s%s", used ? ", " : "", v[i].name);
				used += w > 0 ? (size_t)w : 0;
			}
		}
	}
	free(v);
	json_object_set_new(o, "keys_needed", need);
	json_object_set_new(o, "keys_missing", t->have_config ? miss : (json_decref(miss), json_null()));
}

static json_t *config_obj(const struct backup *bk, size_t i, double seconds)
{
	const struct tally *t = &bk->tally[i];
	struct report_meta m = { .revision = snap_get_info(bk->s)->revision,
				 .config = bk->o.n_confs ? bk->o.conf_paths[i] : NULL,
				 .seconds = seconds };
	json_t *rep = report_build(t, &m, NULL), *o = json_object();
	uint64_t bad = 0, total = tally_total(t, &bad);
	char missing[1024], v[1536];

	json_object_set_new(o, "config", m.config ? json_string(m.config) : json_null());
	json_object_set(o, "summary", json_object_get(rep, "summary"));
	json_object_set(o, "resources", json_object_get(rep, "resources"));
	json_decref(rep);
	json_object_set_new(o, "restorable", t->have_config ? json_boolean(bad == 0) : json_null());
	keys_lists(t, o, missing, sizeof(missing));
	if (!t->have_config)
		snprintf(v, sizeof(v), "classified %llu values (no --config: readability not checked)",
			 (unsigned long long)total);
	else if (bad == 0)
		snprintf(v, sizeof(v), "restorable with %s: all %llu values readable", m.config,
			 (unsigned long long)total);
	else
		snprintf(v, sizeof(v), "NOT restorable with %s: %llu of %llu values unreadable%s%s%s", m.config,
			 (unsigned long long)bad, (unsigned long long)total, missing[0] ? " (keys missing: " : "",
			 missing, missing[0] ? ")" : "");
	json_object_set_new(o, "verdict", json_string(v));
	return o;
}

static json_t *str_list(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *history_obj(const struct backup *bk)
{
	const struct backup_history *h = &bk->h;
	const struct snap_info *in = snap_get_info(bk->s);
	json_t *o = json_object();

	json_object_set_new(o, "compact_revision", json_integer(in->compact_revision));
	json_object_set_new(o, "upto_revision", json_integer(in->revision));
	json_object_set_new(o, "revisions", json_integer((json_int_t)h->sum.revisions));
	json_object_set_new(o, "deletes", json_integer((json_int_t)h->sum.deletes));
	json_object_set_new(o, "plaintext_revisions_total", json_integer((json_int_t)h->sum.plaintext_total));
	json_object_set_new(o, "plaintext_revisions_historical",
			    json_integer((json_int_t)h->sum.plaintext_historical));
	json_object_set_new(o, "keys_with_historical_plaintext",
			    json_integer((json_int_t)h->sum.keys_with_historical_plaintext));
	json_object_set_new(o, "keys_with_historical_plaintext_list", str_list(h->plain_keys, h->n_plain_keys));
	json_object_set_new(o, "oldest_historical_plaintext_revision", json_integer(h->sum.oldest_plaintext_revision));
	json_object_set_new(o, "deleted_keys_count", json_integer((json_int_t)h->deleted_keys));
	json_object_set_new(o, "deleted_keys", str_list(h->deleted, h->n_deleted));
	json_object_set_new(o, "recreated_keys_count", json_integer((json_int_t)h->recreated_keys));
	json_object_set_new(o, "recreated_keys", str_list(h->recreated, h->n_recreated));
	json_object_set_new(o, "purge_needed", json_boolean(h->sum.plaintext_historical > 0));
	return o;
}

static json_t *trailer_obj(const struct snap_info *in)
{
	json_t *o = json_object();
	char h[65];

	json_object_set_new(o, "present", json_boolean(in->has_trailer));
	if (!in->has_trailer) {
		json_object_set_new(o, "matches", json_null());
		json_object_set_new(o, "expected_hex", json_null());
		json_object_set_new(o, "actual_hex", json_null());
		return o;
	}
	json_object_set_new(o, "matches", json_boolean(in->trailer_checked && in->trailer_matches));
	hex_encode(h, in->expected, 32);
	json_object_set_new(o, "expected_hex", json_string(h));
	hex_encode(h, in->actual, 32);
	json_object_set_new(o, "actual_hex", in->trailer_checked ? json_string(h) : json_null());
	return o;
}

static json_t *bolt_obj(const struct snap_info *in)
{
	json_t *o = json_object(), *b = json_object();

	json_object_set_new(o, "page_size", json_integer(in->bolt.page_size));
	json_object_set_new(o, "pages", json_integer((json_int_t)in->bolt.hwm));
	json_object_set_new(o, "txid", json_integer((json_int_t)in->bolt.txid));
	json_object_set_new(o, "meta_page", json_integer(in->bolt.meta_page));
	for (size_t i = 0; i < in->n_buckets; i++)
		json_object_set_new(b, in->buckets[i].name, json_integer((json_int_t)in->buckets[i].entries));
	json_object_set_new(o, "buckets", b);
	return o;
}

/* Appends to a fixed string, cutting what does not fit. */
static void append(char *s, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void append(char *s, size_t cap, const char *fmt, ...)
{
	size_t l = strlen(s);
	va_list ap;

	if (l + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(s + l, cap - l, fmt, ap);
	va_end(ap);
}

static json_t *overall_verdict(const struct backup *bk)
{
	const struct snap_info *in = snap_get_info(bk->s);
	char s[1024] = "";
	size_t bad = 0;

	if (in->has_trailer && !in->trailer_matches)
		append(s, sizeof(s), "SHA-256 trailer does not match: the file was changed or damaged; ");
	else
		append(s, sizeof(s), in->has_trailer ? "hash OK; " : "no trailer (raw db, hash not checked); ");
	if (in->extra_bytes > 0)
		append(s, sizeof(s), "%llu bytes after the last whole page: truncated or damaged; ",
		       (unsigned long long)in->extra_bytes);
	for (size_t i = 0; i < bk->o.n_confs; i++)
		if (!backup_restorable(bk, i))
			append(s, sizeof(s), "%s%s", bad++ ? ", " : "NOT restorable under ", bk->o.conf_paths[i]);
	if (bad > 0)
		append(s, sizeof(s), " (%zu of %zu configs)", bad, bk->o.n_confs);
	else if (bk->o.n_confs > 0)
		append(s, sizeof(s), "restorable: every value readable under %s",
		       bk->o.n_confs > 1 ? "every config" : "the config");
	else
		append(s, sizeof(s), "no --config: values classified, readability not checked");
	return json_string(s);
}

json_t *backup_report(const struct backup *bk, const char *file, int history, double seconds)
{
	const struct snap_info *in = snap_get_info(bk->s);
	json_t *o = json_object(), *cs = json_array();

	json_object_set_new(o, "schema", json_string("etcdcrypt.backup/v1"));
	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "size", json_integer((json_int_t)in->size));
	json_object_set_new(o, "format", json_string(in->has_trailer ? "snapshot" : "db"));
	json_object_set_new(o, "trailer", trailer_obj(in));
	json_object_set_new(o, "extra_bytes", json_integer((json_int_t)in->extra_bytes));
	json_object_set_new(o, "bolt", bolt_obj(in));
	json_object_set_new(o, "revision", json_integer(in->revision));
	json_object_set_new(o, "compact_revision", json_integer(in->compact_revision));
	json_object_set_new(o, "scheduled_compact_revision", json_integer(in->scheduled_compact_revision));
	json_object_set_new(o, "mvcc_entries", json_integer((json_int_t)in->entries));
	json_object_set_new(o, "keys_total", json_integer((json_int_t)in->keys));
	json_object_set_new(o, "live_keys", json_integer((json_int_t)in->live_keys));
	json_object_set_new(o, "seconds", json_real(seconds));
	for (size_t i = 0; i < bk->nx; i++)
		json_array_append_new(cs, config_obj(bk, i, seconds));
	json_object_set_new(o, "configs", cs);
	if (history)
		json_object_set_new(o, "history", history_obj(bk));
	json_object_set_new(o, "restorable", bk->o.n_confs ? json_boolean(all_restorable(bk)) : json_null());
	json_object_set_new(o, "ok", json_boolean(backup_ok(bk)));
	json_object_set_new(o, "verdict", overall_verdict(bk));
	return o;
}
