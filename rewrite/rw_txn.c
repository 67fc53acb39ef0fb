/* rw_txn: batches of compare-and-swap puts, in flight on one channel.
 *
 * A batch is sent when it reaches batch_ops puts or batch_bytes bytes. With
 * `inflight` Txns out, the next send first waits for one to complete. A
 * completed Txn either succeeded (all its puts applied), failed its compare
 * (nothing applied: its keys are read again, rw_redo.c), was
 * too large for etcd (split in halves, down to the one value that is, which
 * is reported and skipped), or failed with an error: transient errors are
 * retried with backoff, NOSPACE and the rest stop the run. */
#include "base/err.h"
#include "rw_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


double rw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int stopped(const struct rw *w)
{
	return w->o->stop && *w->o->stop;
}

/* ERR_INTERRUPTED within 50 ms when the run is stopped: the client's stop
 * flag, or the run's own (which is not the client's in the controller: a
 * lost lock lease sets it) */
int rw_sleep(struct rw *w, double s)
{
	double until = rw_now() + s;
	int rc;

	for (double left = s; left > 0; left = until - rw_now()) {
		if (stopped(w))
			return err_set(ERR_INTERRUPTED, "interrupted");
		if ((rc = etcd_sleep(w->cl, (long)((left < 0.05 ? left : 0.05) * 1000) + 1)) < 0)
			return rc;
	}
	return 0;
}

static void ops_of(const struct rw_batch *b, size_t lo, size_t hi, struct etcd_cas_put *ops)
{
	for (size_t i = lo; i < hi; i++) {
		const struct rw_put *p = &b->puts[i];

		ops[i - lo].key = b->data.data + p->key_off;
		ops[i - lo].key_len = p->key_len;
		ops[i - lo].value = p->val.data;
		ops[i - lo].value_len = p->val.len;
		ops[i - lo].mod_revision = p->mod_revision;
		ops[i - lo].lease = p->lease;
	}
}

static size_t bytes_of(const struct rw_batch *b, size_t lo, size_t hi)
{
	size_t n = 0;

	for (size_t i = lo; i < hi; i++)
		n += b->puts[i].key_len + b->puts[i].val.len;
	return n;
}

static void after_success(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int64_t revision)
{
	w->st->rewritten += hi - lo;
	w->st->txns++;
	for (size_t i = lo; i < hi; i++)
		w->st->bytes_written += b->puts[i].val.len;
	if (revision > w->st->revision_end)
		w->st->revision_end = revision;
	w->since_compact += hi - lo;
	if (w->o->compact_every && w->since_compact >= w->o->compact_every) {
		/* compacting behind ourselves keeps the database under its quota;
		 * the scan resumes past it at the newest revision. At the newest
		 * revision written so far (Txns in flight complete out of order):
		 * the previous revisions of every put counted until now are gone,
		 * which is what the history line subtracts. */
		if (etcd_compact(w->cl, w->st->revision_end, 0) == 0) {
			w->st->compactions++;
			w->st->last_compacted = w->st->revision_end;
			w->st->purged = w->st->rewritten;
		}
		w->since_compact = 0;
	}
}

int rw_transient(int rc)
{
	return rc == ERR_UNAVAILABLE;
}

/* Retries a Txn that failed with a transient error, synchronously with
 * backoff; repeating is safe (the compares fail if it was applied). */
static int txn_retry(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int rc, int *ok, int64_t *rev)
{
	struct etcd_cas_put ops[RW_MAX_BATCH];
	double wait = 0.5;

	ops_of(b, lo, hi, ops);
	for (int i = 0; i < RW_RETRIES && rw_transient(rc); i++, wait *= 2) {
		if ((rc = rw_sleep(w, wait)) < 0)
			break;
		w->st->retries++;
		rc = etcd_txn_cas(w->cl, ok, rev, ops, hi - lo);
	}
	return rc;
}

int rw_txn_sync(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int *ok, int64_t *rev)
{
	struct etcd_cas_put ops[RW_MAX_BATCH];

	ops_of(b, lo, hi, ops);
	return txn_retry(w, b, lo, hi, etcd_txn_cas(w->cl, ok, rev, ops, hi - lo), ok, rev);
}

/* One value etcd will not store even alone: left as it is, reported. */
static void too_large(struct rw *w, const struct rw_batch *b, size_t i)
{
	const struct rw_put *p = &b->puts[i];
	struct rw_too_large t = { b->data.data + p->key_off, p->key_len, p->val.len, err_msg() };

	w->st->too_large++;
	if (w->o->on_too_large)
		w->o->on_too_large(w->arg, &t);
}

/* etcd refused puts lo..hi as one request too large: halves, down to the
 * single value that is. When no single value was, etcd's limit is below
 * these bytes: later batches are cut smaller. */
static int split(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int depth)
{
	size_t mid = lo + (hi - lo) / 2, bytes = bytes_of(b, lo, hi);
	uint64_t before = w->st->too_large;
	int rc = 0, ok = 0;
	int64_t rev = 0;

	if (hi - lo == 1) {
		too_large(w, b, lo);
		return 0;
	}
	for (int half = 0; half < 2 && rc == 0; half++) {
		size_t l = half ? mid : lo, h = half ? hi : mid;

		rc = rw_txn_sync(w, b, l, h, &ok, &rev);
		rc = rw_settle(w, b, l, h, rc, ok, rev, depth);
	}
	if (rc == 0 && w->st->too_large == before && bytes / 2 < w->batch_bytes)
		w->batch_bytes = bytes / 2 > 4096 ? bytes / 2 : 4096;
	return rc;
}

int rw_settle(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int rc, int ok, int64_t rev, int depth)
{
	if (rc == 0 && ok) {
		after_success(w, b, lo, hi, rev);
		return 0;
	}
	if (rc == 0 || rc == ERR_LEASE_NOTFOUND) /* a lease expired: its key went with it */
		return rw_resolve(w, b, lo, hi, depth);
	if (rc == ERR_TOOLARGE)
		return split(w, b, lo, hi, depth);
	rw_in_doubt(w, b, lo, hi, rc);
	return rc;
}

static int complete_one(struct rw *w)
{
	struct etcd_async_result r;
	struct rw_batch *b;
	int rc;

	if ((rc = etcd_async_wait(w->async, &r)) < 0)
		return rc;
	b = r.user;
	rc = r.rc;
	if (rc < 0) {
		err_set(rc, "%s", r.rc_msg);
		rc = txn_retry(w, b, 0, b->n, rc, &r.succeeded, &r.revision);
	}
	rc = rw_settle(w, b, 0, b->n, rc, r.succeeded, r.revision, 0);
	b->busy = 0;
	rw_batch_clear(b);
	if (rc < 0 && w->fatal == 0)
		w->fatal = rc;
	return rc;
}

static void pace(struct rw *w, size_t n)
{
	if (w->o->max_rate <= 0)
		return;
	w->paced += n;
	/* a stop cuts it short; the next send then says interrupted */
	(void)rw_sleep(w, w->pace_start + (double)w->paced / w->o->max_rate - rw_now());
}

static int send_current(struct rw *w)
{
	struct etcd_cas_put ops[RW_MAX_BATCH];
	struct rw_batch *b = w->cur;
	int rc;

	if (b == NULL || b->n == 0)
		return 0;
	while (etcd_async_inflight(w->async) >= w->o->inflight)
		if ((rc = complete_one(w)) < 0)
			return rc;
	pace(w, b->n);
	/* stopped while pacing (an interrupt, a lost lock lease): not one more write */
	if (stopped(w))
		return err_set(ERR_INTERRUPTED, "interrupted");
	ops_of(b, 0, b->n, ops);
	if ((rc = etcd_async_txn_cas(w->async, ops, b->n, b)) < 0)
		return rc;
	b->busy = 1;
	w->cur = NULL;
	return 0;
}

static struct rw_batch *free_batch(struct rw *w)
{
	for (int i = 0; i < w->n_batches; i++)
		if (!w->batches[i].busy)
			return &w->batches[i];
	return NULL;
}

void rw_batch_init(struct rw_batch *b)
{
	b->n = 0;
	b->bytes = 0;
	buf_init(&b->data, 0);
	for (size_t i = 0; i < RW_MAX_BATCH; i++)
		buf_init(&b->puts[i].val, 0);
}

void rw_batch_release(struct rw_batch *b)
{
	buf_release(&b->data);
	for (size_t i = 0; i < RW_MAX_BATCH; i++)
		buf_release(&b->puts[i].val);
}

void rw_batch_clear(struct rw_batch *b)
{
	b->n = 0;
	b->bytes = 0;
	buf_reset(&b->data);
}

/* The next put of b with its key copied in; its value buffer is left to the caller. */
static int put_key(struct rw_batch *b, struct rw_put **out, const uint8_t *key, size_t key_len,
		   int64_t mod_revision, int64_t lease, struct xf *xf)
{
	struct rw_put *p = &b->puts[b->n];
	int rc;

	p->key_off = b->data.len;
	p->key_len = key_len;
	if ((rc = buf_append(&b->data, key, key_len)) < 0)
		return rc;
	p->mod_revision = mod_revision;
	p->lease = lease;
	p->xf = xf;
	*out = p;
	return 0;
}

int rw_batch_add(struct rw_batch *b, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len,
		 int64_t mod_revision, int64_t lease, struct xf *xf)
{
	struct rw_put *p;
	int rc;

	if ((rc = put_key(b, &p, key, key_len, mod_revision, lease, xf)) < 0)
		return rc;
	buf_reset(&p->val);
	if ((rc = buf_append(&p->val, val, val_len)) < 0)
		return rc;
	b->bytes += key_len + val_len;
	b->n++;
	return 0;
}

int rw_queue(struct rw *w, const struct etcd_kv *kv, struct xf *xf, struct buf *val)
{
	struct rw_batch *b;
	struct rw_put *p;
	struct buf spare;
	int rc;

	b = w->cur;
	if (b && (b->n == (size_t)w->o->batch_ops || b->bytes + kv->key_len + val->len > w->batch_bytes) &&
	    (rc = send_current(w)) < 0)
		return rc;
	if (w->cur == NULL) {
		while ((b = free_batch(w)) == NULL)
			if ((rc = complete_one(w)) < 0)
				return rc;
		w->cur = b;
		rw_batch_clear(b);
	}
	b = w->cur;
	if ((rc = put_key(b, &p, kv->key, kv->key_len, kv->mod_revision, kv->lease, xf)) < 0)
		return rc;
	/* the sealed bytes move into the batch; the put's old buffer is the next spare */
	spare = p->val;
	p->val = *val;
	*val = spare;
	buf_reset(val);
	b->bytes += kv->key_len + p->val.len;
	b->n++;
	return 0;
}

int rw_drain(struct rw *w, int send_partial)
{
	int rc = 0, r2;

	if (w->async == NULL)
		return 0;
	if (send_partial)
		rc = send_current(w);
	while (etcd_async_inflight(w->async) > 0)
		if ((r2 = complete_one(w)) < 0 && rc == 0)
			rc = r2;
	return rc;
}
