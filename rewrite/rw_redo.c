/* rw_redo: what rewrite does with a Txn that did not simply apply.
 *
 * Both cases read the Txn's keys again in ONE read (etcd_get_many: a
 * read-only Txn of up to 128 Range ops), never key by key:
 *  - its compare failed (a live writer got there first, or a lease expired):
 *    a key still at the revision it was read at keeps its verified value; a
 *    key holding exactly the bytes we sent was written by an earlier attempt
 *    of this Txn; a key changed by someone else is decided again from what it
 *    holds now (decrypt, encrypt, verify); a key gone is counted as vanished.
 *    What still needs writing goes out as one new Txn, compared against the
 *    revisions just read, for at most RW_CONFLICT_TRIES rounds.
 *  - it ended in an error: it may still have been applied (etcd 3.4 applies
 *    a Txn that crosses the quota and then answers NOSPACE). A Txn is atomic,
 *    so one key holding our bytes means all of it was applied.
 * Our values carry a fresh random nonce/IV, so equal bytes are ours. */
#include "base/err.h"
#include "rw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reread(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, struct etcd_many_resp *m)
{
	struct etcd_key_ref keys[RW_MAX_BATCH];
	double wait = 0.5;
	int rc;

	for (size_t i = lo; i < hi; i++)
		keys[i - lo] = (struct etcd_key_ref){ b->data.data + b->puts[i].key_off, b->puts[i].key_len };
	rc = etcd_get_many(w->cl, m, keys, hi - lo);
	for (int i = 0; i < RW_RETRIES && rw_transient(rc); i++, wait *= 2) {
		if ((rc = rw_sleep(w, wait)) < 0)
			break;
		rc = etcd_get_many(w->cl, m, keys, hi - lo);
	}
	w->st->rereads++;
	return rc;
}

/* kv holds the bytes we sent for p; then its revision is one we wrote, and
 * the purge advice (compact at revision_end) must reach it */
static int is_ours(struct rw *w, const struct rw_put *p, const struct etcd_kv *kv)
{
	if (!kv->key || kv->value_len != p->val.len || memcmp(kv->value, p->val.data, p->val.len) != 0)
		return 0;
	if (kv->mod_revision > w->st->revision_end)
		w->st->revision_end = kv->mod_revision;
	return 1;
}

int rw_redo_key(struct rw *w, const struct rw_batch *b, const struct rw_put *p, const struct etcd_kv *kv,
		    struct rw_batch *redo)
{
	const uint8_t *key = b->data.data + p->key_off;
	struct scan_item it = { 0 };
	struct xf_result res;
	int rc, need = 0;

	if (kv->key == NULL) {
		w->st->vanished++;
		return 0;
	}
	if (kv->mod_revision == p->mod_revision) /* unchanged: the verified value still applies */
		return rw_batch_add(redo, key, p->key_len, p->val.data, p->val.len, kv->mod_revision,
				    kv->lease, p->xf);
	if (is_ours(w, p, kv)) { /* an earlier attempt of this Txn was applied */
		w->st->rewritten++;
		w->st->bytes_written += p->val.len;
		return 0;
	}
	w->st->rehandled++;
	if ((rc = xf_read(p->xf, &res, &w->plain, kv->key, kv->key_len, kv->value, kv->value_len)) < 0)
		return rc;
	it.kv = kv, it.res = &res, it.plain = &w->plain, it.xf = p->xf;
	if ((rc = rw_decide(w, &it, 1, &need, &w->enc_conflict)) < 0 || !need)
		return rc;
	return rw_batch_add(redo, key, p->key_len, w->enc_conflict.data, w->enc_conflict.len, kv->mod_revision,
			    kv->lease, p->xf);
}

int rw_resolve(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int depth)
{
	struct etcd_many_resp m = { 0 };
	struct rw_batch *redo;
	int rc, ok = 0;
	int64_t rev = 0;

	w->st->conflicts++;
	if (depth >= RW_CONFLICT_TRIES)
		return err_set(ERR_ETCD, "'%.*s' and %zu other keys kept changing during %d attempts; rerun rewrite to "
			       "finish them", (int)b->puts[lo].key_len, (const char *)b->data.data + b->puts[lo].key_off,
			       hi - lo - 1, RW_CONFLICT_TRIES);
	if ((redo = calloc(1, sizeof(*redo))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	rw_batch_init(redo);
	if ((rc = reread(w, b, lo, hi, &m)) < 0)
		goto out;
	for (size_t i = lo; i < hi && rc == 0; i++)
		rc = rw_redo_key(w, b, &b->puts[i], &m.kvs[i - lo], redo);
	etcd_many_resp_release(&m);
	if (rc == 0 && redo->n > 0) {
		rc = rw_txn_sync(w, redo, 0, redo->n, &ok, &rev);
		rc = rw_settle(w, redo, 0, redo->n, rc, ok, rev, depth + 1);
	}
out:
	rw_batch_release(redo);
	free(redo);
	return rc;
}

void rw_in_doubt(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int rc)
{
	struct etcd_many_resp m = { 0 };
	char msg[512];
	int applied = 0, unchanged = 1;

	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (reread(w, b, lo, hi, &m) < 0) {
		w->st->in_doubt += hi - lo;
		goto out;
	}
	for (size_t i = lo; i < hi; i++) {
		applied |= is_ours(w, &b->puts[i], &m.kvs[i - lo]);
		unchanged &= m.kvs[i - lo].key != NULL && m.kvs[i - lo].mod_revision == b->puts[i].mod_revision;
	}
	etcd_many_resp_release(&m);
	if (applied) {
		w->st->rewritten += hi - lo;
		for (size_t i = lo; i < hi; i++)
			w->st->bytes_written += b->puts[i].val.len;
	} else if (unchanged && rw_transient(rc)) {
		/* a Txn lost to a deadline may still sit in raft's log and be
		 * applied after this read */
		w->st->in_doubt += hi - lo;
	}
out:
	err_set(rc, "%s", msg);
}
