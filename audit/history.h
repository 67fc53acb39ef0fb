/* history: count the revisions etcd still retains for some prefixes that
 * hold plaintext, or values no key in the config can read (retired keys).
 * Rewriting is not enough while history keeps them: only compaction at the
 * current revision and defragmentation purge them.
 *
 * The history is read from a snapshot, never replayed with a Watch: live,
 * etcd streams one (Maintenance.Snapshot, what `etcdctl snapshot save`
 * does) into a private temporary file, which is checked against its SHA-256
 * and read with the same snapshot reader and the same per-key summary as
 * `backup verify --history`. So both count the same things, exactly, at the
 * snapshot's revision, on every etcd version (docs/history.md says why a
 * Watch replay cannot: etcd < 3.4.31/3.5.13 answers progress requests before
 * the watcher has caught up, and a replay from the compaction point makes
 * etcd's heap balloon).
 *
 * What is counted: every entry of etcd's key bucket under the prefixes --
 * the values kept AT the compaction revision (each key's newest value at or
 * before it) included. "Historical" means not the live value of its key at
 * the snapshot's revision. Memory: the snapshot reader's per-key index (no
 * values); the file is mapped, with its resident share bounded. */
#ifndef ETCDCRYPT_HISTORY_H
#define ETCDCRYPT_HISTORY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "bolt/snapshot.h"
#include "etcd/etcd.h"
#include "xform/transform.h"

struct history_result {
	int64_t compact_revision;     /* etcd's last finished compaction (0: none) */
	int64_t upto_revision;        /* the snapshot's revision: counted up to it */
	uint64_t revisions;           /* puts retained (values kept at the compaction included) */
	uint64_t deletes;             /* tombstones retained */
	uint64_t plaintext_total;     /* puts whose value is not k8s:enc: */
	uint64_t plaintext_historical;
	uint64_t keys_with_historical_plaintext;
	int64_t oldest_plaintext_revision; /* historical; 0: none */
	uint64_t retired_total;       /* encrypted puts the config cannot read */
	uint64_t retired_historical;
	int64_t oldest_retired_revision;   /* historical; 0: none */
};

/* Adds one key's history summary (puts, tombstones, plaintext puts) to
 * *out: the one sum audit and backup verify share. */
void history_add_key(struct history_result *out, const struct snap_kv *kv);

/* Which transformer reads the values of a key (a resource's, for --all);
 * NULL: that key's values are not judged. */
typedef struct xf *(*history_xf_fn)(void *arg, const uint8_t *key, size_t key_len);

/* Counts the history of every key under one of prefixes (each ending in
 * '/', none inside another) in an indexed snapshot, into *out (zeroed
 * first). With xf_for, every retained encrypted put is also decrypted to
 * count the retired ones (one more pass over the file); without, retired
 * counts stay 0. */
int history_count(struct history_result *out, struct snap *s, const char *const *prefixes, size_t n_prefixes,
		  history_xf_fn xf_for, void *arg);

/* Progress of history_from_etcd: phase "receiving" (done/total bytes),
 * "hashing", "reading". */
typedef void (*history_progress_fn)(void *arg, const char *phase, uint64_t done, uint64_t total);

struct history_live {
	const char *tmpdir;            /* NULL: $TMPDIR, else /tmp */
	const char *const *prefixes;   /* as for history_count */
	size_t n_prefixes;
	history_xf_fn xf_for;          /* may be NULL */
	void *xf_arg;
	const volatile sig_atomic_t *stop; /* may be NULL: ERR_INTERRUPTED when set */
	history_progress_fn progress;  /* may be NULL */
	void *progress_arg;
};

/* Takes a snapshot from the endpoint cl uses into an unnamed temporary file
 * in tmpdir (O_TMPFILE, else mkstemp + unlink: nothing is left behind, even
 * on SIGKILL), refusing up front when tmpdir has less free space than
 * etcd's database size (ERR_IO, naming both). The stream's SHA-256 trailer
 * must match (ERR_CORRUPT otherwise). Then history_count. On etcd with
 * auth a user without the root role gets ERR_AUTH with a message saying a
 * root user is needed. */
int history_from_etcd(struct history_result *out, struct etcd_client *cl, const struct history_live *o);

#endif
