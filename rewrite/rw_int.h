/* rw_int: rewrite internals shared by rewrite.c, rw_txn.c and rw_gate.c. */
#ifndef ETCDCRYPT_RW_INT_H
#define ETCDCRYPT_RW_INT_H

#include "base/buf.h"
#include "rewrite.h"
#include "scan/scan.h"

/* one Txn's worth of puts. Key bytes live in data (offsets, since data may
 * move while it grows); each put owns its value buffer, which keeps its
 * memory across batches: a sealed value is swapped in, not copied. */
struct rw_put {
	size_t key_off, key_len;
	struct buf val;
	int64_t mod_revision, lease;
	struct xf *xf;
};

struct rw_batch {
	struct rw_put puts[RW_MAX_BATCH];
	size_t n;
	struct buf data;
	size_t bytes; /* keys and values of the n puts */
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

#define RW_RETRIES 5        /* sends of a Txn that failed with a transient error */
#define RW_CONFLICT_TRIES 5 /* rounds of re-reads for keys that keep changing */

double rw_now(void);
int rw_sleep(struct rw *w, double seconds); /* ERR_INTERRUPTED when stopped */
int rw_transient(int rc); /* worth sending again: etcd unreachable, deadline */

/* Decides one value: unreadable (reported), current (counted), or sealed
 * for the target and verified into *out with *need_write set. */
int rw_decide(struct rw *w, const struct scan_item *it, int after_conflict, int *need_write, struct buf *out);

/* Adds a verified put to the current batch, sending it when full. xf is the
 * key's transformer (kept for a conflict). The sealed value is taken by
 * swapping buffers: *val comes back empty, holding a spare allocation. */
int rw_queue(struct rw *w, const struct etcd_kv *kv, struct xf *xf, struct buf *val);

/* An empty batch (every buffer initialized), and its release. */
void rw_batch_init(struct rw_batch *b);
void rw_batch_release(struct rw_batch *b);
void rw_batch_clear(struct rw_batch *b); /* no puts; keeps the memory */

/* Appends one put (key copied into b->data, value into the put's buffer). */
int rw_batch_add(struct rw_batch *b, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len,
		 int64_t mod_revision, int64_t lease, struct xf *xf);

/* rw_txn.c: sends puts lo..hi of b as one Txn now (retrying transient
 * errors), and what a finished Txn means: applied (counted), compare failed
 * (rw_resolve), too large (split in halves), or an error that stops the run
 * (returned, after rw_in_doubt). depth counts conflict rounds. */
int rw_txn_sync(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int *ok, int64_t *rev);
int rw_settle(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int rc, int ok, int64_t rev, int depth);

/* rw_redo.c: a Txn over puts lo..hi failed its compare (or a lease was
 * gone): read the keys again in one read and send what still needs writing
 * as one new Txn. */
int rw_resolve(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int depth);

/* One put p of a failed batch b against its key as just read (kv; key NULL:
 * deleted meanwhile): gone (vanished), unchanged (its verified value goes
 * into redo, with the key's current lease), holding our bytes (an earlier
 * attempt applied: rewritten), or changed by someone (rehandled: decided
 * again with rw_decide, after_conflict set; into redo if it needs a write). */
int rw_redo_key(struct rw *w, const struct rw_batch *b, const struct rw_put *p, const struct etcd_kv *kv,
		struct rw_batch *redo);

/* rw_redo.c: a Txn over puts lo..hi ended in error rc and may still have
 * been applied: read its keys to count it as applied or not, or else as in
 * doubt. Keeps err_msg(). */
void rw_in_doubt(struct rw *w, const struct rw_batch *b, size_t lo, size_t hi, int rc);

/* Sends the partial batch (if send_partial) and waits for every Txn. */
int rw_drain(struct rw *w, int send_partial);

#endif
