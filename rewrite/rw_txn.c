/* rw_txn: batches of compare-and-swap puts, in flight on one channel.
 *
 * A batch is sent when it reaches batch_ops puts or batch_bytes bytes. With
 * `inflight` Txns out, the next send first waits for one to complete. A
 * completed Txn either succeeded (all its puts applied), failed its compare
 * (nothing applied: each key is read again and handled on its own), or
 * failed with an error: transient errors are retried with backoff, NOSPACE
 * and the rest stop the run (nothing of that Txn was applied). */
#include "base/err.h"
#include "rw_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RW_RETRIES 5
#define RW_CONFLICT_TRIES 5

double rw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ERR_INTERRUPTED at once when the run is stopped (the client's stop flag) */
static int sleep_s(struct rw *w, double s)
{
	return s > 0 ? etcd_sleep(w->cl, (long)(s * 1000)) : 0;
}

static void ops_of(const struct rw_batch *b, struct etcd_cas_put *ops)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct rw_put *p = &b->puts[i];

		ops[i].key = b->data.data + p->key_off;
		ops[i].key_len = p->key_len;
		ops[i].value = b->data.data + p->val_off;
		ops[i].value_len = p->val_len;
		ops[i].mod_revision = p->mod_revision;
		ops[i].lease = p->lease;
	}
}

static void after_success(struct rw *w, const struct rw_batch *b, int64_t revision)
{
	w->st->rewritten += b->n;
	w->st->txns++;
	for (size_t i = 0; i < b->n; i++)
		w->st->bytes_written += b->puts[i].val_len;
	if (revision > w->st->revision_end)
		w->st->revision_end = revision;
	w->since_compact += b->n;
	if (w->o->compact_every && w->since_compact >= w->o->compact_every) {
		/* compacting behind ourselves keeps the database under its quota;
		 * the scan resumes past it at the newest revision */
		if (etcd_compact(w->cl, revision, 0) == 0) {
			w->st->compactions++;
			w->st->last_compacted = revision;
		}
		w->since_compact = 0;
	}
}

/* One key of a failed batch, read again and handled on its own. */
static int resolve_key(struct rw *w, const struct rw_batch *b, const struct rw_put *p)
{
	const uint8_t *key = b->data.data + p->key_off;
	int64_t expect = p->mod_revision;

	w->st->rehandled++;
	for (int attempt = 0; attempt < RW_CONFLICT_TRIES; attempt++) {
		struct etcd_range_req req = { .key = key, .key_len = p->key_len };
		struct etcd_range_resp r = { 0 };
		struct etcd_cas_put op;
		struct xf_result res;
		struct scan_item it = { 0 };
		int rc, need, ok = 0;

		if ((rc = etcd_range(w->cl, &r, &req)) < 0)
			return rc;
		if (r.n_kvs == 0) {
			w->st->vanished++;
			etcd_range_resp_release(&r);
			return 0;
		}
		const struct etcd_kv *kv = &r.kvs[0];
		if (kv->mod_revision == expect) {
			/* unchanged: the verified value still applies */
			op = (struct etcd_cas_put){ key, p->key_len, b->data.data + p->val_off, p->val_len, expect, kv->lease };
		} else {
			rc = xf_read(p->xf, &res, &w->plain, kv->key, kv->key_len, kv->value, kv->value_len);
			it.kv = kv, it.res = &res, it.plain = &w->plain, it.xf = p->xf;
			if (rc == 0)
				rc = rw_decide(w, &it, 1, &need, &w->enc_conflict);
			if (rc < 0 || !need) {
				etcd_range_resp_release(&r);
				return rc;
			}
			op = (struct etcd_cas_put){ key, p->key_len, w->enc_conflict.data, w->enc_conflict.len, kv->mod_revision,
						    kv->lease };
		}
		expect = kv->mod_revision;
		rc = etcd_txn_cas(w->cl, &ok, NULL, &op, 1);
		etcd_range_resp_release(&r);
		if (rc < 0 && rc != ERR_LEASE_NOTFOUND)
			return rc;
		if (rc == 0 && ok) {
			w->st->rewritten++;
			w->st->txns++;
			w->st->bytes_written += op.value_len;
			return 0;
		}
		expect = -1; /* changed again (or its lease expired): read anew */
	}
	return err_set(ERR_ETCD, "'%.*s' kept changing during %d attempts; rerun rewrite to finish it",
		       (int)p->key_len, (const char *)key, RW_CONFLICT_TRIES);
}

static int resolve_batch(struct rw *w, const struct rw_batch *b)
{
	w->st->conflicts++;
	for (size_t i = 0; i < b->n; i++) {
		int rc = resolve_key(w, b, &b->puts[i]);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int transient(int rc)
{
	return rc == ERR_UNAVAILABLE;
}

/* A Txn failed with an error: retry transient ones synchronously. */
static int retry_batch(struct rw *w, struct rw_batch *b, int rc)
{
	struct etcd_cas_put ops[RW_MAX_BATCH];
	int ok = 0;
	int64_t rev = 0;
	double wait = 0.5;

	ops_of(b, ops);
	for (int i = 0; i < RW_RETRIES && transient(rc); i++, wait *= 2) {
		if ((rc = sleep_s(w, wait)) < 0)
			break;
		w->st->retries++;
		rc = etcd_txn_cas(w->cl, &ok, &rev, ops, b->n);
	}
	if (rc == 0 && ok)
		after_success(w, b, rev);
	else if (rc == 0)
		rc = resolve_batch(w, b);
	else if (rc == ERR_LEASE_NOTFOUND)
		rc = resolve_batch(w, b); /* a lease expired: handle keys one by one */
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
	if (r.rc < 0) {
		err_set(r.rc, "%s", r.rc_msg);
		rc = retry_batch(w, b, r.rc);
	} else if (r.succeeded) {
		after_success(w, b, r.revision);
	} else {
		rc = resolve_batch(w, b);
	}
	b->busy = 0;
	b->n = 0;
	buf_reset(&b->data);
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
	(void)sleep_s(w, w->pace_start + (double)w->paced / w->o->max_rate - rw_now());
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
	ops_of(b, ops);
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

int rw_queue(struct rw *w, const struct etcd_kv *kv, struct xf *xf, const uint8_t *val, size_t val_len)
{
	struct rw_batch *b;
	struct rw_put *p;
	int rc;

	b = w->cur;
	if (b && (b->n == (size_t)w->o->batch_ops || b->data.len + kv->key_len + val_len > w->o->batch_bytes) &&
	    (rc = send_current(w)) < 0)
		return rc;
	if (w->cur == NULL) {
		while ((b = free_batch(w)) == NULL)
			if ((rc = complete_one(w)) < 0)
				return rc;
		w->cur = b;
		b->n = 0;
		buf_reset(&b->data);
	}
	b = w->cur;
	p = &b->puts[b->n];
	p->key_off = b->data.len;
	p->key_len = kv->key_len;
	if ((rc = buf_append(&b->data, kv->key, kv->key_len)) < 0)
		return rc;
	p->val_off = b->data.len;
	p->val_len = val_len;
	if ((rc = buf_append(&b->data, val, val_len)) < 0)
		return rc;
	p->mod_revision = kv->mod_revision;
	p->lease = kv->lease;
	p->xf = xf;
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
