/* history: replay retained revisions; see history.h. */
#include "history.h"
#include "base/err.h"

#include <stdlib.h>
#include <string.h>

#define HISTORY_WAIT_MS 2000
#define HISTORY_MAX_IDLE 30 /* idle waits before giving up (one minute) */

struct u64vec {
	uint64_t *v;
	size_t n, cap;
	int sorted;
};

struct history {
	struct u64vec live;      /* hash(key, mod_revision) of plaintext/unreadable live values */
	struct u64vec hist_keys; /* hash(key) of keys with historical plaintext */
	struct buf plain;
};

static int vec_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 1024;
		uint64_t *v = realloc(a->v, cap * sizeof(*v));

		if (v == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	a->sorted = 0;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void vec_sort(struct u64vec *a)
{
	if (!a->sorted)
		qsort(a->v, a->n, sizeof(*a->v), cmp_u64);
	a->sorted = 1;
}

static int vec_has(struct u64vec *a, uint64_t x)
{
	vec_sort(a);
	return a->n > 0 && bsearch(&x, a->v, a->n, sizeof(*a->v), cmp_u64) != NULL;
}

static uint64_t fnv(const uint8_t *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t key_hash(const uint8_t *key, size_t n)
{
	return fnv(key, n, 0xcbf29ce484222325ULL);
}

static uint64_t rev_hash(const uint8_t *key, size_t n, int64_t rev)
{
	uint8_t r[8];

	for (int i = 0; i < 8; i++)
		r[i] = (uint8_t)((uint64_t)rev >> (8 * i));
	return fnv(r, sizeof(r), key_hash(key, n));
}

int history_new(struct history **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	buf_init(&(*out)->plain, 0);
	return 0;
}

void history_free(struct history *h)
{
	if (h == NULL)
		return;
	free(h->live.v);
	free(h->hist_keys.v);
	buf_release(&h->plain);
	free(h);
}

int history_note_live(struct history *h, const uint8_t *key, size_t key_len, int64_t mod_revision)
{
	return vec_push(&h->live, rev_hash(key, key_len, mod_revision));
}

static void oldest(int64_t *slot, int64_t rev)
{
	if (*slot == 0 || rev < *slot)
		*slot = rev;
}

static int count_put(struct history *h, const struct etcd_kv *kv, history_xf_fn xf_for, void *arg,
		     struct history_result *out)
{
	int enc = kv->value_len >= 8 && memcmp(kv->value, "k8s:enc:", 8) == 0;
	int historical = !vec_has(&h->live, rev_hash(kv->key, kv->key_len, kv->mod_revision));
	struct xf *x;
	struct xf_result res;
	int rc;

	out->revisions++;
	if (!enc) {
		out->plaintext_total++;
		if (historical) {
			out->plaintext_historical++;
			oldest(&out->oldest_plaintext_revision, kv->mod_revision);
			return vec_push(&h->hist_keys, key_hash(kv->key, kv->key_len));
		}
		return 0;
	}
	if (xf_for == NULL || (x = xf_for(arg, kv->key, kv->key_len)) == NULL)
		return 0;
	rc = xf_read(x, &res, &h->plain, kv->key, kv->key_len, kv->value, kv->value_len);
	buf_reset(&h->plain);
	if (rc < 0 || res.ok)
		return rc;
	out->retired_total++;
	if (historical) {
		out->retired_historical++;
		oldest(&out->oldest_retired_revision, kv->mod_revision);
	}
	return 0;
}

/* Processes one batch; sets *done once the replay has passed `revision`. */
static int take_batch(struct history *h, const struct etcd_watch_batch *b, int64_t revision, history_xf_fn xf_for,
		      void *arg, struct history_result *out, int *done)
{
	for (size_t i = 0; i < b->n_events; i++) {
		const struct etcd_event *ev = &b->events[i];
		int rc;

		if (ev->kv.mod_revision > revision) {
			*done = 1;
			return 0;
		}
		if (ev->type == ETCD_EVENT_DELETE) {
			out->deletes++;
		} else if ((rc = count_put(h, &ev->kv, xf_for, arg, out)) < 0) {
			return rc;
		}
		if (ev->kv.mod_revision == revision)
			*done = 1;
	}
	/* a progress notification (the creation notice is never returned):
	 * everything up to its revision was sent */
	if (b->n_events == 0 && b->header_revision >= revision)
		*done = 1;
	return 0;
}

int history_replay(struct history *h, struct etcd_client *cl, const uint8_t *key, size_t key_len,
		   const uint8_t *range_end, size_t range_end_len, int64_t revision, history_xf_fn xf_for,
		   void *arg, struct history_result *out)
{
	struct etcd_watch *w = NULL;
	struct etcd_watch_batch b;
	int64_t start = 1;
	int rc = 0, done = 0, idle = 0;

	out->upto_revision = revision;
	if ((rc = etcd_watch_open(&w, cl, key, key_len, range_end, range_end_len, start)) < 0)
		return rc;
	while (!done && rc == 0) {
		rc = etcd_watch_next(w, &b, HISTORY_WAIT_MS);
		if (rc == 0) {
			if (++idle > HISTORY_MAX_IDLE)
				rc = err_set(ERR_UNAVAILABLE, "history replay: etcd sent nothing for %d s",
					     HISTORY_MAX_IDLE * HISTORY_WAIT_MS / 1000);
			else
				rc = etcd_watch_progress(w);
			continue;
		}
		if (rc < 0)
			break;
		rc = 0;
		idle = 0;
		if (b.canceled && b.compact_revision > 0 && start < b.compact_revision) {
			/* the oldest revisions are gone: start at the compaction point */
			start = b.compact_revision;
			out->compact_revision = b.compact_revision;
			etcd_watch_close(w);
			w = NULL;
			rc = etcd_watch_open(&w, cl, key, key_len, range_end, range_end_len, start);
			continue;
		}
		if (b.canceled) {
			rc = err_set(ERR_ETCD, "history replay: etcd canceled the watch");
			break;
		}
		rc = take_batch(h, &b, revision, xf_for, arg, out, &done);
		if (rc == 0 && !done)
			rc = etcd_watch_progress(w);
	}
	etcd_watch_close(w);
	return rc;
}

void history_finish(struct history *h, struct history_result *out)
{
	size_t distinct = 0;

	vec_sort(&h->hist_keys);
	for (size_t i = 0; i < h->hist_keys.n; i++)
		if (i == 0 || h->hist_keys.v[i] != h->hist_keys.v[i - 1])
			distinct++;
	out->keys_with_historical_plaintext = distinct;
}
