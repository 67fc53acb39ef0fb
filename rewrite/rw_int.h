/* rw_int: rewrite internals shared by rewrite.c, rw_txn.c and rw_gate.c. */
#ifndef ETCDCRYPT_RW_INT_H
#define ETCDCRYPT_RW_INT_H

#include "base/buf.h"
#include "rewrite.h"
#include "scan/scan.h"

/* one Txn's worth of puts; key/value bytes live in data (offsets, since
 * data may move while it grows) */
struct rw_put {
	size_t key_off, key_len, val_off, val_len;
	int64_t mod_revision, lease;
	struct xf *xf;
};

struct rw_batch {
	struct rw_put puts[RW_MAX_BATCH];
	size_t n;
	struct buf data;
	int busy;
	int attempts;
};

struct rw {
	struct etcd_client *cl;
	const struct rw_opts *o;
	struct rw_stats *st;
	rw_unreadable_fn on_bad;
	rw_progress_fn progress;
	void *arg;
	struct etcd_async *async;
	struct rw_batch *batches; /* inflight + 1: the one being filled is cur */
	int n_batches;
	struct rw_batch *cur;
	struct buf enc, check, plain;
	struct buf enc_conflict; /* resolve_key's own: enc may be queued meanwhile */
	double pace_start;
	uint64_t paced;
	uint64_t since_compact;
	size_t batch_bytes; /* o->batch_bytes, lowered when etcd finds batches too large */
	int fatal; /* <0: a completed Txn failed for good; stop the scan */
};

double rw_now(void);

/* Decides one value: unreadable (reported), current (counted), or sealed
 * for the target and verified into *out with *need_write set. */
int rw_decide(struct rw *w, const struct scan_item *it, int after_conflict, int *need_write, struct buf *out);

/* Adds a verified put to the current batch, sending it when full. xf is the
 * key's transformer (kept for a conflict). */
int rw_queue(struct rw *w, const struct etcd_kv *kv, struct xf *xf, const uint8_t *val, size_t val_len);

/* Sends the partial batch (if send_partial) and waits for every Txn. */
int rw_drain(struct rw *w, int send_partial);

#endif
