/* backup: snapshot values through each configuration; see backup.h.
 *
 * It does not read the file itself (core/snapshot does) and does not print
 * (cmd/cmd_backup.c renders the report). */
#include "backup.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct target {
	struct res_id id;
	char prefix[512];
	struct xf *xf[BACKUP_MAX_CONFIGS];
	uint64_t live; /* live values read */
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
	uint64_t values; /* for progress: counted only with a progress callback */
	uint64_t live;   /* live values read, every target */
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

static void free_list(char **v, size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	free(lens);
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
	free_list(bk->h.deleted, bk->h.deleted_len, bk->h.n_deleted);
	free_list(bk->h.recreated, bk->h.recreated_len, bk->h.n_recreated);
	free_list(bk->h.plain_keys, bk->h.plain_keys_len, bk->h.n_plain_keys);
	buf_release(&bk->plain);
	free(bk);
}

/* Appends key (all its bytes: a key may hold NULs) to a capped list. */
static int list_add(char ***v, size_t **lens, size_t *n, const struct snap_kv *kv)
{
	char **nv, *k;
	size_t *nl;

	if (*n >= BACKUP_MAX_LISTED)
		return 0;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	*v = nv;
	if ((nl = realloc(*lens, (*n + 1) * sizeof(*nl))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	*lens = nl;
	if ((k = malloc(kv->key_len + 1)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(k, kv->key, kv->key_len);
	k[kv->key_len] = '\0';
	nv[*n] = k;
	nl[*n] = kv->key_len;
	(*n)++;
	return 0;
}

static int note_history(struct backup_history *h, const struct snap_kv *kv)
{
	int rc = 0;

	history_add_key(&h->sum, kv);
	if (kv->plain_historical > 0)
		rc = list_add(&h->plain_keys, &h->plain_keys_len, &h->n_plain_keys, kv);
	if (rc == 0 && kv->deleted) {
		h->deleted_keys++;
		rc = list_add(&h->deleted, &h->deleted_len, &h->n_deleted, kv);
	}
	if (rc == 0 && kv->recreated) {
		h->recreated_keys++;
		rc = list_add(&h->recreated, &h->recreated_len, &h->n_recreated, kv);
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
	t->live++;
	bk->live++;
	if (bk->fn && (rc = bk->fn(bk->arg, kv, &t->id, bk->res, bk->nx)) < 0)
		return rc;
	if (bk->progress && (++bk->values & 0x3FF) == 0)
		bk->progress(bk->arg, bk->values);
	return 0;
}

/* etcd's order: bytewise, a prefix first (keys may hold NULs: no strcmp) */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c != 0 ? c : (an > bn) - (an < bn);
}

static int bad_cmp(const void *a, const void *b)
{
	const struct tally_bad *x = a, *y = b;

	return bytes_cmp(x->etcd_key, x->etcd_key_len, y->etcd_key, y->etcd_key_len);
}

struct keyref {
	char *key;
	size_t len;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;

	return bytes_cmp(x->key, x->len, y->key, y->len);
}

/* Sorts a listed-key list and its lengths together (unsorted when out of
 * memory: the lists are still complete). */
static void sort_keys(char **v, size_t *lens, size_t n)
{
	struct keyref *r = n > 1 ? malloc(n * sizeof(*r)) : NULL;

	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		r[i] = (struct keyref){ v[i], lens[i] };
	qsort(r, n, sizeof(*r), keyref_cmp);
	for (size_t i = 0; i < n; i++)
		v[i] = r[i].key, lens[i] = r[i].len;
	free(r);
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
	sort_keys(bk->h.deleted, bk->h.deleted_len, bk->h.n_deleted);
	sort_keys(bk->h.recreated, bk->h.recreated_len, bk->h.n_recreated);
	sort_keys(bk->h.plain_keys, bk->h.plain_keys_len, bk->h.n_plain_keys);
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

int backup_all_restorable(const struct backup *bk)
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
	return backup_all_restorable(bk);
}

size_t backup_n_results(const struct backup *bk)
{
	return bk->nx;
}

size_t backup_n_configs(const struct backup *bk)
{
	return bk->o.n_confs;
}

const char *backup_config_path(const struct backup *bk, size_t i)
{
	return bk->o.n_confs ? bk->o.conf_paths[i] : NULL;
}

const struct snap_info *backup_snap_info(const struct backup *bk)
{
	return snap_get_info(bk->s);
}

/* ---- key names needed ----------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct backup_label *)a)->name, ((const struct backup_label *)b)->name);
}

int backup_labels(struct backup_label **out, size_t *n, const struct backup *bk, size_t ti)
{
	const struct tally *t = &bk->tally[ti];
	struct backup_label *v = NULL, *nv;
	size_t cnt = 0, j;

	*out = NULL;
	*n = 0;
	for (size_t r = 0; r < t->n; r++) {
		for (size_t i = 0; i < t->res[r].n_rows; i++) {
			const struct tally_row *row = &t->res[r].rows[i];
			char name[sizeof(v->name)];

			if (row->kind == ENV_IDENTITY)
				continue;
			snprintf(name, sizeof(name), "%s:%s", env_kind_name(row->kind), row->key_name);
			for (j = 0; j < cnt && strcmp(v[j].name, name) != 0; j++)
				;
			if (j == cnt) {
				if ((nv = realloc(v, (cnt + 1) * sizeof(*nv))) == NULL) {
					free(v);
					return err_set(ERR_NOMEM, "out of memory");
				}
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
	*out = v;
	*n = cnt;
	return 0;
}


void backup_empty(const struct backup *bk, struct scan_empty *out)
{
	char all[512];

	memset(out, 0, sizeof(*out));
	if (bk->o.all) {
		if (bk->live == 0 && res_all_prefix(all, sizeof(all), bk->o.etcd_prefix) == 0)
			scan_empty_add(out, all, NULL);
		return;
	}
	for (size_t i = 0; i < bk->n; i++)
		if (bk->t[i].live == 0)
			scan_empty_add(out, bk->t[i].prefix, &bk->t[i].id);
}
