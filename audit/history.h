/* history: replay every revision etcd still retains for some prefixes
 * (Watch from the compact revision, fragments joined) and count the older
 * revisions that still hold plaintext, or values no key in the config can
 * read (retired keys). Rewriting is not enough while history keeps them:
 * only compaction at the current revision and defragmentation purge them.
 *
 * "Historical" means not the live value of its key at the scan revision.
 * The live values are known from the scan: the caller registers each live
 * value that is plaintext or unreadable (history_note_live), so memory is 8
 * bytes per such value and per historical key, never a copy of the data. */
#ifndef ETCDCRYPT_HISTORY_H
#define ETCDCRYPT_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "etcd/etcd.h"
#include "xform/transform.h"

struct history_result {
	int64_t compact_revision;     /* oldest retained revision - 1 (0: none) */
	int64_t upto_revision;        /* replayed up to this revision */
	uint64_t revisions;           /* puts replayed */
	uint64_t deletes;
	uint64_t plaintext_total;     /* puts whose value is not k8s:enc: */
	uint64_t plaintext_historical;
	uint64_t keys_with_historical_plaintext;
	int64_t oldest_plaintext_revision; /* historical; 0: none */
	uint64_t retired_total;       /* encrypted puts the config cannot read */
	uint64_t retired_historical;
	int64_t oldest_retired_revision;   /* historical; 0: none */
};

struct history;

int history_new(struct history **out);
void history_free(struct history *h);

/* Registers a live value (key, mod_revision) as plaintext or unreadable. */
int history_note_live(struct history *h, const uint8_t *key, size_t key_len, int64_t mod_revision);

/* Which transformer reads the values of a key (a resource's, for --all). */
typedef struct xf *(*history_xf_fn)(void *arg, const uint8_t *key, size_t key_len);

/* Replays [key, range_end) from the oldest retained revision up to
 * `revision`, adding to *out. xf_for may return NULL (no config: retired
 * values are not judged). */
int history_replay(struct history *h, struct etcd_client *cl, const uint8_t *key, size_t key_len,
		   const uint8_t *range_end, size_t range_end_len, int64_t revision, history_xf_fn xf_for,
		   void *arg, struct history_result *out);

/* Finishes the per-key counts (call once after all replays). */
void history_finish(struct history *h, struct history_result *out);

#endif
