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
 * keys are read again in one read; keys still at their revision keep their
 * verified value, keys changed meanwhile are decided again from what they
 * now hold (a value the apiserver wrote may already be current), and the
 * rest goes out again as one Txn, so a concurrent write is never lost. Txns are atomic, so no value is ever half written. A Txn etcd
 * refuses as too large (--max-request-bytes) is split in halves down to
 * single keys; a single value still too large is left as it is and reported
 * (on_too_large), and the run goes on.
 *
 * The run stops cleanly (in-flight Txns finish) on *stop, on NOSPACE and
 * on repeated etcd errors (after retries with backoff). A Txn that ended in
 * an error may still have been applied (etcd 3.4 applies a Txn that crosses
 * the quota and then answers NOSPACE): its keys are read again and it is
 * counted as applied or not, or, when that read fails, as in doubt. A rerun after any
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
#include "scan/scan.h"

#define RW_DEFAULT_BATCH 128
#define RW_MAX_BATCH 128                    /* etcd's --max-txn-ops default */
#define RW_DEFAULT_BATCH_BYTES (1u << 20)   /* under --max-request-bytes (1.5 MiB) */
#define RW_DEFAULT_INFLIGHT 8
#define RW_MAX_INFLIGHT 64                  /* Txns in flight on the one channel */
#define RW_MAX_COMPACT_EVERY 1000000000     /* --compact-every: values between compactions */
#define RW_MAX_RATE 1e9                     /* --max-rate: keys per second (no real limit) */
#define RW_DEFAULT_QUOTA ((int64_t)2 << 30) /* etcd's default --quota-backend-bytes */

struct rw_too_large;
typedef void (*rw_too_large_fn)(void *arg, const struct rw_too_large *t);

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
	rw_too_large_fn on_too_large; /* may be NULL; gets rw_run's arg */
};

struct rw_stats {
	uint64_t scanned;
	uint64_t rewritten;   /* dry run: would be rewritten */
	uint64_t current;     /* already under the target */
	uint64_t unreadable;
	uint64_t too_large;   /* refused by etcd as too large after encryption (left as they are) */
	uint64_t conflicts;   /* Txns whose compare failed */
	uint64_t rehandled;   /* keys found changed after a conflict, decided again */
	uint64_t rereads;     /* reads of a whole failed batch (one Txn of Range ops each) */
	uint64_t in_doubt;    /* puts of Txns that failed and may still have been applied */
	uint64_t vanished;    /* keys deleted while the run went on */
	uint64_t txns;
	uint64_t bytes_written;
	uint64_t compactions;
	uint64_t purged;      /* of rewritten: previous revisions already removed by a
				 --compact-every compaction (the rest remain in history) */
	uint64_t retries;     /* Txns sent again after an etcd error */
	unsigned resumed;     /* scan moved past a compaction */
	int64_t revision_start, revision_end, last_compacted;
	int64_t growth_estimate; /* bytes the etcd database grows by */
	struct scan_empty empty; /* prefixes that held no key (scan_empty) */
};

/* An unreadable value (borrowed for the call). */
struct rw_unreadable {
	const uint8_t *key;
	size_t key_len;
	const struct xf_result *res;
};

/* A value etcd refused to store once encrypted (borrowed for the call). */
struct rw_too_large {
	const uint8_t *key;
	size_t key_len;
	size_t value_len; /* the encrypted value's length */
	const char *detail; /* etcd's answer */
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

/* Checks every resource's write target before anything is read: KMS v1 is
 * ERR_CONFIG; a KMS v2 plugin must answer Status healthy (healthz "ok",
 * version v2, a key ID) and wrap the run's seed, else ERR_REFUSED. */
int rw_check_target(const struct rw_opts *o);

/* ERR_REFUSED when any etcd alarm (NOSPACE, CORRUPT) is raised. */
int rw_check_alarms(struct etcd_client *cl);

/* A scan without writes: how many values would be rewritten and by how many
 * bytes the database would grow (each rewrite adds a revision). */
int rw_estimate(struct etcd_client *cl, const struct rw_opts *o, uint64_t *out_values, int64_t *out_growth);

/* The quota guard (rw_quota.c). */
struct rw_quota {
	int64_t quota;       /* bytes etcd may hold */
	int quota_given;     /* 0: quota is etcd's default, assumed */
	int64_t db_size;     /* the database now (the largest member's) */
	int64_t db_size_in_use;
	uint64_t keys;       /* keys the run will scan (rw_count) */
	int64_t growth;      /* estimated growth; <0: not estimated yet */
	uint64_t values;     /* values the estimate says will change */
};

/* 0 when the run fits under the quota; ERR_REFUSED with a message saying why
 * and what to do when the database is already at the quota or the growth
 * (with o->compact_every: the growth of two compaction intervals) would
 * cross it; 1 when growth is not estimated yet and the bound from the used
 * size does not fit (estimate, then call again). */
int rw_quota_check(const struct rw_opts *o, const struct rw_quota *q);

/* How many keys the run will scan (count-only ranges; for progress). */
int rw_count(struct etcd_client *cl, const struct rw_opts *o, uint64_t *out);

/* Bytes the database grows by when a value of stored_len bytes under
 * key_len bytes of key is written once more: bbolt's page model for etcd's
 * append-only revisions (see rewrite.c), never below what etcd 3.4 measures. */
int64_t rw_growth_of(size_t key_len, size_t stored_len);

/* An upper bound on the growth of rewriting every live value once, from the
 * database's used size alone (no scan). */
int64_t rw_growth_bound(int64_t db_size_in_use);

#endif
