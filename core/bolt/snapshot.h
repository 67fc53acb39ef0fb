/* snapshot: an etcd snapshot file read offline, over core/bolt.
 *
 * An `etcdctl snapshot save` file is a bbolt database followed by the
 * SHA-256 of those bytes (32 bytes; etcd detects it by size % 512 == 32). A
 * raw member `db` file has no trailer and is a whole number of pages. This
 * module checks the trailer (SHA-256 through xform/digest.h, which owns
 * OpenSSL), then walks etcd's `key` bucket (revision
 * keys -> mvccpb.KeyValue, layouts at the top of snapshot.c) and finds the
 * newest revision of every user key, plus per-key history summaries.
 *
 * Memory: the file stays mapped; the index holds one 20-byte record per user
 * key (where its newest entry is in the mapping, flags) plus 20 bytes of
 * counters for a key with more than one entry, in fixed blocks, and a hash
 * table of 4-byte slots: about 26-32 bytes per key, never a value, so memory
 * is O(keys), not O(file). Keys and values are re-read from the mapping.
 *
 * It does not decrypt (see transform.h) and does not print. */
#ifndef ETCDCRYPT_SNAPSHOT_H
#define ETCDCRYPT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "bolt.h"

#define SNAP_TRAILER 32
#define SNAP_MAX_KEYS (1u << 28)  /* index cap: user keys */
#define SNAP_MAX_BUCKETS 32       /* top-level buckets counted */

struct snap;

struct snap_bucket_count {
	char name[64];
	uint64_t entries;
};

struct snap_info {
	uint64_t size;          /* file bytes */
	uint64_t db_bytes;      /* bytes before the trailer (= size without one) */
	int has_trailer;        /* size % 512 == 32 */
	int trailer_checked;    /* snap_check_trailer ran */
	int trailer_matches;
	uint8_t expected[32];   /* the trailer */
	uint8_t actual[32];     /* SHA-256 of the first db_bytes */
	uint64_t extra_bytes;   /* raw db only: bytes after the last whole page */
	struct bolt_info bolt;
	/* after snap_index */
	int64_t revision;            /* current revision: max main (or compaction if larger) */
	int64_t compact_revision;    /* meta finishedCompactRev (0: none) */
	int64_t scheduled_compact_revision;
	uint64_t entries;            /* key bucket entries (puts + tombstones) */
	uint64_t puts, tombstones;
	uint64_t keys, live_keys;    /* user keys ever seen / live at `revision` */
	struct snap_bucket_count buckets[SNAP_MAX_BUCKETS];
	size_t n_buckets;
};

/* The newest revision of one user key, with its history summary. Pointers
 * are into the mapping (borrowed for the snap's lifetime). */
struct snap_kv {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value; /* live: field 5 of the newest put (may be empty) */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
	int deleted;          /* the newest entry is a tombstone */
	int recreated;        /* a put followed a tombstone */
	uint32_t puts, deletes;
	uint32_t plain_puts;       /* puts whose value does not start "k8s:enc:" */
	uint32_t plain_historical; /* of those, not the live value */
	int64_t oldest_plain_historical; /* main revision; 0: none */
};

/* Progress: phase ("hashing", "reading"), work done and total (0 unknown). */
typedef void (*snap_progress_fn)(void *arg, const char *phase, uint64_t done, uint64_t total);

/* Maps path and reads the bbolt metas. ERR_IO (open/map), ERR_CORRUPT (not
 * bbolt, truncated: the message names the offset where the file ends). */
int snap_open(struct snap **out, const char *path);
/* Same over an open file (see bolt_open_fd; fd stays the caller's). */
int snap_open_fd(struct snap **out, int fd, const char *name);
/* Same over caller-owned bytes (kept unchanged until snap_free). */
int snap_open_mem(struct snap **out, const uint8_t *p, size_t n);
void snap_free(struct snap *s); /* NULL-safe */

/* Borrowed; filled in as the steps below run. */
const struct snap_info *snap_get_info(const struct snap *s);
/* Bytes the per-key index holds (records, counters, hash table), for tests
 * and benchmarks of its bound. */
size_t snap_index_bytes(const struct snap *s);

/* SHA-256 of the db bytes against the trailer (no-op without one). A
 * mismatch is not an error: see info->trailer_matches. */
int snap_check_trailer(struct snap *s, snap_progress_fn progress, void *arg);
/* The same on a second thread, while the caller walks the file: start it
 * after snap_open, then snap_trailer_wait before reading info's trailer
 * fields (snap_free waits too). The hasher only reads the mapping, so the
 * walk, index and key calls below may run meanwhile. Without a thread it
 * hashes at once (as snap_check_trailer, no progress). */
int snap_trailer_start(struct snap *s);

/* How many bytes of the mapped file the walk may keep resident before it
 * lets the kernel drop them (default 64 MB; 0: a quarter of the machine's
 * memory). Dropping keeps RSS small but makes every later touch a fault
 * again (the walk indexes, then decrypts each newest value and compares
 * keys against older entries, all through the mapping): backup verify of a
 * 4.1 GB snapshot took 1.2x `openssl dgst` with 64 MB and 0.95x with it
 * all resident. The pages are page cache (clean, shared, reclaimable): RSS,
 * not anonymous memory. Call before snap_index. */
void snap_keep_resident(struct snap *s, uint64_t bytes);
/* Joins the hasher and fills trailer_checked/matches/actual; its error if
 * hashing failed; 0 when nothing was started. */
int snap_trailer_wait(struct snap *s);

/* Walks the key and meta buckets and builds the per-key index; counts the
 * entries of every top-level bucket. ERR_CORRUPT names the page/offset or
 * the revision key at fault. */
int snap_index(struct snap *s, snap_progress_fn progress, void *arg);

/* Called once per user key. Return <0 to stop with that code. */
typedef int (*snap_key_fn)(void *arg, const struct snap_kv *kv);

enum snap_order {
	SNAP_ORDER_KEY,  /* ascending key order: stable output, random reads */
	SNAP_ORDER_FILE, /* order of the newest entries in the file: sequential
			    reads, the fast way through a file larger than RAM */
};

/* Visits every indexed user key starting with prefix (NULL/0: all), live
 * and deleted, in the given order. */
int snap_foreach_key(struct snap *s, const uint8_t *prefix, size_t prefix_len, enum snap_order order, snap_key_fn fn,
		     void *arg);

/* One entry of the key bucket: a put or a tombstone (pointers into the
 * mapping, borrowed for the call). */
struct snap_rev {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value; /* a put's value (may be empty); NULL for a tombstone */
	size_t value_len;
	int64_t main;         /* the revision that wrote it */
	int tombstone;
	int newest;           /* the live value of its key (a put, not deleted since) */
};

typedef int (*snap_rev_fn)(void *arg, const struct snap_rev *r);

/* Visits every entry of the key bucket in revision order, e.g. to judge
 * every retained value and not only the live one. Needs snap_index first.
 * Return <0 from fn to stop. */
int snap_foreach_revision(struct snap *s, snap_rev_fn fn, void *arg);

#endif
