/* rewrite: bulk re-encryption straight into etcd, safe under live writes.
 *
 * Every value of the resources is read (audit/scan.h, resumable across
 * compactions) and read with the config's rules. Unreadable values are left
 * byte for byte untouched and reported. Values already under the write
 * target (first provider, first key) are skipped unless force is set. Every
 * other value is encrypted for the target, DECRYPTED AGAIN AND COMPARED with
 * its plaintext, and only then queued. Queued puts go out in Txns of at most
 * batch_ops puts and batch_bytes bytes, several in flight on one channel; each
 * put is guarded by a compare mod_revision == the revision it was read at,
 * and keeps the key's lease. A Txn whose compare fails writes nothing: its
 * keys are read again one by one and handled again (a value the apiserver
 * wrote meanwhile may already be current), so a concurrent write is never
 * lost. Txns are atomic, so no value is ever half written.
 *
 * The run stops cleanly (in-flight Txns finish) on *stop, on NOSPACE and
 * on repeated etcd errors (after retries with backoff). A rerun after any
 * stop only finishes the job. */
#ifndef ETCDCRYPT_REWRITE_H
#define ETCDCRYPT_REWRITE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/encconf.h"
#include "etcd/etcd.h"
#include "xform/kmsring.h"
#include "base/resources.h"
#include "xform/transform.h"

#define RW_DEFAULT_BATCH 128
#define RW_MAX_BATCH 128                    /* etcd's --max-txn-ops default */
#define RW_DEFAULT_BATCH_BYTES (1u << 20)   /* under --max-request-bytes (1.5 MiB) */
#define RW_DEFAULT_INFLIGHT 8
#define RW_DEFAULT_QUOTA ((int64_t)2 << 30) /* etcd's default --quota-backend-bytes */

struct rw_opts {
	const struct encconf *conf;
	const struct kms_ring *ring;
	const char *etcd_prefix;
	const struct res_id *resources;
	size_t n_resources;
	int all;
	int dry_run;
	int force;
	int batch_ops;        /* 1..128 */
	size_t batch_bytes;
	int inflight;         /* Txns in flight */
	double max_rate;      /* puts per second, 0: unlimited */
	int64_t page_size;
	uint64_t compact_every; /* compact behind the run every N puts (0: never) */
	volatile sig_atomic_t *stop;
};

struct rw_stats {
	uint64_t scanned;
	uint64_t rewritten;   /* dry run: would be rewritten */
	uint64_t current;     /* already under the target */
	uint64_t unreadable;
	uint64_t conflicts;   /* Txns whose compare failed */
	uint64_t rehandled;   /* keys read again after a conflict */
	uint64_t vanished;    /* keys deleted while the run went on */
	uint64_t txns;
	uint64_t bytes_written;
	uint64_t compactions;
	uint64_t retries;     /* Txns sent again after an etcd error */
	unsigned resumed;     /* scan moved past a compaction */
	int64_t revision_start, revision_end, last_compacted;
	int64_t growth_estimate; /* bytes the etcd database grows by */
};

/* An unreadable value (borrowed for the call). */
struct rw_unreadable {
	const uint8_t *key;
	size_t key_len;
	const struct xf_result *res;
};

typedef void (*rw_unreadable_fn)(void *arg, const struct rw_unreadable *u);
typedef void (*rw_progress_fn)(void *arg, const struct rw_stats *st);

/* The whole run. Returns 0 when it went to the end (values may still be
 * unreadable: see st), ERR_INTERRUPTED when *stop was set, or the error that
 * stopped it; *st is filled in every case. */
int rw_run(struct etcd_client *cl, const struct rw_opts *o, struct rw_stats *st, rw_unreadable_fn on_bad,
	   rw_progress_fn progress, void *arg);

/* Safety gates before the first write. */

/* Every node config must write with the same target as o->conf for each
 * resource and must read a value written with it. ERR_NODE_MISMATCH naming the
 * first node that differs. names[i] labels nodes[i]. */
int rw_check_nodes(const struct rw_opts *o, const struct encconf *const *nodes, const char *const *names,
		   size_t n);

/* ERR_CONFIG when a resource's write target is a KMS provider. */
int rw_check_target(const struct rw_opts *o);

/* ERR_REFUSED when any etcd alarm (NOSPACE, CORRUPT) is raised. */
int rw_check_alarms(struct etcd_client *cl);

/* A scan without writes: how many values would be rewritten and by how many
 * bytes the database would grow (each rewrite adds a revision). */
int rw_estimate(struct etcd_client *cl, const struct rw_opts *o, uint64_t *out_values, int64_t *out_growth);

/* How many keys the run will scan (count-only ranges; for progress). */
int rw_count(struct etcd_client *cl, const struct rw_opts *o, uint64_t *out);

/* Bytes the database grows by when a value of plain_len bytes under key_len
 * bytes of key is written once more (bbolt pages and MVCC overhead). */
int64_t rw_growth_of(size_t key_len, size_t stored_len);

#endif
