/* scan: consistent paged scan through the transformer; see scan.h. */
#include "scan.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

#define SCAN_PREFETCH 256 /* values whose KMS v1 DEKs are asked for together */

#define SCAN_RETRIES 5
#define SCAN_KEYS_PAGE 25000      /* first keys-only page (doubled for each next one) */
/* Not larger: etcd walks the whole remaining index and reads every returned
 * KeyValue from bbolt for one limited page, so at 1M keys a 200k page took
 * more than the 5 s default --command-timeout on a busy host. */
#define SCAN_KEYS_PAGE_MAX 50000

struct scan_target {
	struct res_id id;
	char prefix[512];
	struct xf *xf;
	uint64_t values; /* keys found under prefix */
};

struct scan {
	struct etcd_client *cl;
	struct scan_opts o;
	struct scan_target *t; /* explicit targets, or resources met in --all */
	size_t n;
	int64_t revision;
	struct buf plain;
	struct buf resume_key; /* last key handled + "\0" */
	unsigned resumed;
	uint64_t values; /* keys found, all targets */
};

static int add_target(struct scan *s, struct scan_target **out, const struct res_id *id)
{
	struct scan_target *t = realloc(s->t, (s->n + 1) * sizeof(*t));
	int rc;

	if (t == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	s->t = t;
	t = &s->t[s->n];
	memset(t, 0, sizeof(*t));
	t->id = *id;
	if ((rc = res_prefix(t->prefix, sizeof(t->prefix), s->o.etcd_prefix, id)) < 0 ||
	    (rc = xf_new(&t->xf, s->o.conf, id->group, id->resource, s->o.ring)) < 0)
		return rc;
	s->n++;
	*out = t;
	return 0;
}

int scan_new(struct scan **out, struct etcd_client *cl, const struct scan_opts *opts)
{
	struct scan *s = calloc(1, sizeof(*s));
	struct scan_target *t;
	int rc = 0;

	*out = NULL;
	if (s == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	s->cl = cl;
	s->o = *opts;
	if (s->o.page_size <= 0)
		s->o.page_size = SCAN_DEFAULT_PAGE;
	s->revision = opts->revision;
	buf_init(&s->plain, 0);
	buf_init(&s->resume_key, 64 * 1024);
	for (size_t i = 0; !opts->all && i < opts->n_resources && rc == 0; i++)
		rc = add_target(s, &t, &opts->resources[i]);
	if (rc < 0) {
		scan_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void scan_free(struct scan *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		xf_free(s->t[i].xf);
	free(s->t);
	buf_release(&s->plain);
	buf_release(&s->resume_key);
	free(s);
}

unsigned scan_resumed(const struct scan *s)
{
	return s->resumed;
}

int64_t scan_revision(const struct scan *s)
{
	return s->revision;
}

void scan_empty_add(struct scan_empty *e, const char *prefix, const struct res_id *id)
{
	if (e->n < SCAN_EMPTY_MAX) {
		snprintf(e->prefix[e->n], sizeof(e->prefix[e->n]), "%s", prefix);
		if (id != NULL)
			e->res[e->n] = *id;
		else
			memset(&e->res[e->n], 0, sizeof(e->res[e->n]));
	}
	e->n++;
}

void scan_empty(const struct scan *s, struct scan_empty *out)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	if (s->o.all) {
		char all[512];

		if (s->values == 0 && res_all_prefix(all, sizeof(all), s->o.etcd_prefix) == 0)
			scan_empty_add(out, all, NULL);
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i].values == 0)
			scan_empty_add(out, s->t[i].prefix, &s->t[i].id);
}

/* --all: the target of the resource a key belongs to, made on first use */
static int target_of_key(struct scan *s, struct scan_target **out, const struct etcd_kv *kv)
{
	struct res_id id;

	if (res_from_key(&id, s->o.etcd_prefix, kv->key, kv->key_len) < 0)
		snprintf(id.resource, sizeof(id.resource), "(other)");
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->t[i].id.group, id.group) == 0 && strcmp(s->t[i].id.resource, id.resource) == 0) {
			*out = &s->t[i];
			return 0;
		}
	}
	return add_target(s, out, &id);
}

/* KMS v1 values need a plugin call each: ask for the next chunk's DEKs
 * together, a bounded number in flight, before reading them one by one. */
static int prefetch(struct scan *s, const struct etcd_range_resp *page, struct scan_target *fixed, size_t from)
{
	struct scan_target *t = fixed;
	int rc = 0;

	for (size_t i = from; i < page->n_kvs && i < from + SCAN_PREFETCH && rc == 0; i++) {
		const struct etcd_kv *kv = &page->kvs[i];

		if (fixed == NULL && (rc = target_of_key(s, &t, kv)) < 0)
			return rc;
		rc = xf_prefetch_add(t->xf, kv->value, kv->value_len);
	}
	return rc < 0 || t == NULL ? rc : xf_prefetch_run(t->xf);
}

static int scan_page(struct scan *s, const struct etcd_range_resp *page, struct scan_target *fixed, scan_fn fn,
		     void *arg)
{
	for (size_t i = 0; i < page->n_kvs; i++) {
		const struct etcd_kv *kv = &page->kvs[i];
		struct scan_target *t = fixed;
		struct xf_result res;
		struct scan_item it;
		int rc;

		if (i % SCAN_PREFETCH == 0 && (rc = prefetch(s, page, fixed, i)) < 0)
			return rc;
		if (t == NULL && (rc = target_of_key(s, &t, kv)) < 0)
			return rc;
		rc = xf_read(t->xf, &res, &s->plain, kv->key, kv->key_len, kv->value, kv->value_len);
		if (rc < 0)
			return err_wrap(rc, "reading '%.*s'", (int)kv->key_len, (const char *)kv->key);
		it.resource = &t->id;
		it.prefix = t->prefix;
		it.kv = kv;
		it.res = &res;
		it.plain = &s->plain;
		it.xf = t->xf;
		it.revision = s->revision;
		t->values++;
		s->values++;
		if ((rc = fn(arg, &it)) < 0)
			return rc;
	}
	return 0;
}

/* Remembers where a page ended, so a compacted scan can resume there. */
static int note_last(struct scan *s, const struct etcd_range_resp *page)
{
	const struct etcd_kv *last = &page->kvs[page->n_kvs - 1];

	buf_reset(&s->resume_key);
	if (buf_append(&s->resume_key, last->key, last->key_len) < 0 || buf_append(&s->resume_key, "", 1) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

/* Hands every page of p to fn, keeping the resume point. */
static int drain_pager(struct scan *s, struct etcd_pager *p, struct scan_target *fixed, scan_fn fn,
		       scan_progress_fn progress, void *arg, uint64_t *seen)
{
	const struct etcd_range_resp *page;
	int rc;

	while ((rc = etcd_pager_next(p, &page)) == 1) {
		if (s->revision == 0)
			s->revision = etcd_pager_revision(p);
		if ((rc = scan_page(s, page, fixed, fn, arg)) < 0 || (page->n_kvs && (rc = note_last(s, page)) < 0))
			return rc;
		*seen += page->n_kvs;
		if (progress)
			progress(arg, *seen, s->revision);
	}
	if (rc == 0 && s->revision == 0)
		s->revision = etcd_pager_revision(p);
	return rc;
}

/* chunk boundaries: every page_size-th key of a range (owned copies) */
struct bounds {
	uint8_t **key;
	size_t *len;
	size_t n;
};

static void bounds_free(struct bounds *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->key[i]);
	free(b->key);
	free(b->len);
}

static int bounds_add(struct bounds *b, const uint8_t *key, size_t n)
{
	uint8_t **k = realloc(b->key, (b->n + 1) * sizeof(*k));
	size_t *l;

	if (k == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	b->key = k;
	if ((l = realloc(b->len, (b->n + 1) * sizeof(*l))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	b->len = l;
	if ((b->key[b->n] = malloc(n)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(b->key[b->n], key, n);
	b->len[b->n++] = n;
	return 0;
}

/* The keys-only planning pass, read as the chunks need it: the first page
 * fixes the revision and the first chunks' starts, and the value chunks are
 * read while the next keys page is on the wire (audit used to wait for the
 * whole pass first). Keys pages grow from SCAN_KEYS_PAGE to SCAN_KEYS_PAGE_MAX:
 * a small first page starts the values early. */
struct planner {
	struct etcd_pager *p;
	struct bounds b;
	uint64_t n;   /* keys seen */
	int64_t page; /* keys page size asked for next */
	int done;
};

static int plan_open(struct scan *s, struct planner *pl, const uint8_t *start, size_t sl, const uint8_t *end,
		     size_t el)
{
	int rc;

	memset(pl, 0, sizeof(*pl));
	pl->page = SCAN_KEYS_PAGE;
	if ((rc = etcd_pager_new(&pl->p, s->cl, start, sl, end, el, pl->page, s->revision)) < 0)
		return rc;
	etcd_pager_keys_only(pl->p);
	return 0;
}

static void plan_close(struct planner *pl)
{
	etcd_pager_free(pl->p);
	bounds_free(&pl->b);
}

/* Reads keys pages until `want` chunk starts are known or the range ends. */
static int plan_need(struct scan *s, struct planner *pl, size_t want)
{
	const struct etcd_range_resp *page;
	int rc = 0;

	while (!pl->done && pl->b.n < want) {
		if ((rc = etcd_pager_next(pl->p, &page)) < 0)
			return rc;
		if (pl->page < SCAN_KEYS_PAGE_MAX) { /* the next page is on the wire: this sizes the one after */
			pl->page = pl->page * 2 > SCAN_KEYS_PAGE_MAX ? SCAN_KEYS_PAGE_MAX : pl->page * 2;
			etcd_pager_set_page_size(pl->p, pl->page);
		}
		if (s->revision == 0)
			s->revision = etcd_pager_revision(pl->p);
		if (rc == 0) {
			pl->done = 1;
			break;
		}
		for (size_t i = 0; i < page->n_kvs && rc >= 0; i++)
			if (pl->n++ % (uint64_t)s->o.page_size == 0)
				rc = bounds_add(&pl->b, page->kvs[i].key, page->kvs[i].key_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A pager over chunk i, its first request already on the wire. */
static int chunk_pager(struct scan *s, struct etcd_pager **out, const struct bounds *b, size_t i, const uint8_t *end,
		       size_t el)
{
	const uint8_t *ce = i + 1 < b->n ? b->key[i + 1] : end;
	size_t cel = i + 1 < b->n ? b->len[i + 1] : el;
	int rc = etcd_pager_new(out, s->cl, b->key[i], b->len[i], ce, cel, 4 * s->o.page_size, s->revision);

	return rc < 0 ? rc : etcd_pager_prefetch(*out);
}

/* etcd 3.4 walks its whole index from a page's start key to range_end for
 * every limited page, so paging a large prefix costs it quadratic time.
 * Bounded chunks cost it linear time; two are in flight, so etcd reads the
 * next while this one is decrypted. A chunk's pager starts only when the
 * start of the chunk after it is known (or the keys ran out), so its end is
 * right. */
static int scan_chunks(struct scan *s, const uint8_t *start, size_t sl, const uint8_t *end, size_t el,
		       struct scan_target *fixed, scan_fn fn, scan_progress_fn progress, void *arg, uint64_t *seen)
{
	struct planner pl;
	struct etcd_pager *cur = NULL, *next = NULL;
	int rc = plan_open(s, &pl, start, sl, end, el);

	for (size_t i = 0; rc == 0; i++) {
		if ((rc = plan_need(s, &pl, i + 3)) < 0 || i >= pl.b.n)
			break;
		if (cur == NULL)
			rc = chunk_pager(s, &cur, &pl.b, i, end, el);
		if (rc == 0 && i + 1 < pl.b.n)
			rc = chunk_pager(s, &next, &pl.b, i + 1, end, el);
		if (rc == 0)
			rc = drain_pager(s, cur, fixed, fn, progress, arg, seen);
		etcd_pager_free(cur);
		cur = next;
		next = NULL;
	}
	/* an empty prefix still fixes the revision (its header's), which later
	 * prefixes are read at and the reports print */
	if (rc == 0 && s->revision == 0)
		s->revision = etcd_pager_revision(pl.p);
	etcd_pager_free(cur);
	etcd_pager_free(next);
	plan_close(&pl);
	return rc;
}

/* Plain paging from start (the way back after a compaction or an outage). */
static int scan_paged(struct scan *s, const uint8_t *start, size_t sl, const uint8_t *end, size_t el,
		      struct scan_target *fixed, scan_fn fn, scan_progress_fn progress, void *arg, uint64_t *seen)
{
	struct etcd_pager *p = NULL;
	int rc = etcd_pager_new(&p, s->cl, start, sl, end, el, s->o.page_size, s->revision);

	if (rc == 0)
		rc = drain_pager(s, p, fixed, fn, progress, arg, seen);
	etcd_pager_free(p);
	return rc;
}

static int scan_prefix(struct scan *s, const char *prefix, struct scan_target *fixed, scan_fn fn,
		       scan_progress_fn progress, void *arg, uint64_t *seen)
{
	size_t pl = strlen(prefix);
	uint8_t end[512];
	size_t el = etcd_prefix_end(end, (const uint8_t *)prefix, pl);
	int rc, retries = 0;

	buf_reset(&s->resume_key);
	rc = scan_chunks(s, (const uint8_t *)prefix, pl, end, el, fixed, fn, progress, arg, seen);
	while (s->o.resume && (rc == ERR_COMPACTED || (rc == ERR_UNAVAILABLE && retries < SCAN_RETRIES))) {
		if (rc == ERR_COMPACTED) {
			/* go on at the newest revision: each value still carries
			 * its own mod_revision for the writer's compare */
			s->revision = 0;
			s->resumed++;
		} else if ((rc = etcd_sleep(s->cl, 500L << retries++)) < 0) {
			break; /* interrupted while waiting for etcd to come back */
		}
		if (s->resume_key.len > 0)
			rc = scan_paged(s, s->resume_key.data, s->resume_key.len, end, el, fixed, fn, progress, arg,
					seen);
		else
			rc = scan_paged(s, (const uint8_t *)prefix, pl, end, el, fixed, fn, progress, arg, seen);
	}
	return rc < 0 ? rc : 0;
}

int scan_run(struct scan *s, scan_fn fn, scan_progress_fn progress, void *arg)
{
	uint64_t seen = 0;
	int rc = 0;

	if (s->o.all) {
		char all[512];

		if ((rc = res_all_prefix(all, sizeof(all), s->o.etcd_prefix)) < 0)
			return rc;
		return scan_prefix(s, all, NULL, fn, progress, arg, &seen);
	}
	for (size_t i = 0; i < s->n && rc == 0; i++)
		rc = scan_prefix(s, s->t[i].prefix, &s->t[i], fn, progress, arg, &seen);
	return rc;
}

static int has_res(const struct res_id *v, size_t n, const struct res_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].group, id->group) == 0 && strcmp(v[i].resource, id->resource) == 0)
			return 1;
	return 0;
}

int scan_resources_from_config(struct res_id **out, size_t *n, int *all, const struct encconf *conf)
{
	struct res_id *v = NULL, id;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	*all = 0;
	for (size_t r = 0; conf && r < conf->n_rules; r++) {
		for (size_t i = 0; i < conf->rules[r].n_resources; i++) {
			const char *spec = conf->rules[r].resources[i];

			if (spec[0] == '*') {
				*all = 1;
				continue;
			}
			if (res_parse(&id, spec) < 0 || has_res(v, cnt, &id))
				continue;
			struct res_id *nv = realloc(v, (cnt + 1) * sizeof(*nv));
			if (nv == NULL) {
				free(v);
				return err_set(ERR_NOMEM, "out of memory");
			}
			v = nv;
			v[cnt++] = id;
		}
	}
	if (cnt == 0 && !*all) {
		v = calloc(1, sizeof(*v));
		if (v == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		snprintf(v->resource, sizeof(v->resource), "secrets");
		cnt = 1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int scan_resources_union(struct res_id **out, size_t *n, int *all, const struct encconf *const *confs,
			 size_t n_confs)
{
	struct res_id *acc = NULL, *one = NULL, *nv;
	size_t na = 0, n1 = 0;
	int rc = 0, a1 = 0;

	*all = 0;
	for (size_t c = 0; c < n_confs && rc == 0; c++) {
		if ((rc = scan_resources_from_config(&one, &n1, &a1, confs[c])) < 0)
			break;
		*all |= a1;
		for (size_t i = 0; i < n1 && rc == 0; i++) {
			if (has_res(acc, na, &one[i]))
				continue;
			if ((nv = realloc(acc, (na + 1) * sizeof(*nv))) == NULL) {
				rc = err_set(ERR_NOMEM, "out of memory");
				break;
			}
			acc = nv;
			acc[na++] = one[i];
		}
		free(one);
		one = NULL;
	}
	if (rc < 0) {
		free(acc);
		acc = NULL;
		na = 0;
	}
	*out = acc;
	*n = na;
	return rc;
}

struct xf *scan_xf_for_key(struct scan *s, const uint8_t *key, size_t key_len)
{
	for (size_t i = 0; i < s->n; i++) {
		size_t pl = strlen(s->t[i].prefix);

		if (key_len >= pl && memcmp(key, s->t[i].prefix, pl) == 0)
			return s->t[i].xf;
	}
	return NULL;
}

size_t scan_n_targets(const struct scan *s)
{
	return s->n;
}

const char *scan_target_prefix(const struct scan *s, size_t i)
{
	return s->t[i].prefix;
}
