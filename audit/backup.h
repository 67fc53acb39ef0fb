/* backup: will this etcd snapshot come back readable under these configs?
 *
 * Drives an indexed snapshot (core/snapshot.h): for every live key of the
 * chosen resources it decrypts the newest value once per configuration (the
 * apiserver's read rules, transform.h) and counts the results in one tally
 * per configuration (tally.h), so each configuration gets the same numbers
 * an `audit` would show. It also sums the per-key history summaries
 * (plaintext revisions still inside the file, deleted and re-created keys).
 *
 * Memory: the tallies and history lists are bounded (TALLY_MAX_UNREADABLE,
 * BACKUP_MAX_LISTED); values are read from the mapping one at a time. The
 * results are the structs below; cmd/ renders them (docs/backup-json.md). */
#ifndef ETCDCRYPT_BACKUP_H
#define ETCDCRYPT_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "conf/encconf.h"
#include "xform/kmsring.h"
#include "base/resources.h"
#include "bolt/snapshot.h"
#include "history.h"
#include "scan/scan.h"
#include "tally.h"
#include "xform/transform.h"

#define BACKUP_MAX_CONFIGS 16
#define BACKUP_MAX_LISTED 10000 /* keys listed per history list */

struct backup_opts {
	const struct encconf *confs[BACKUP_MAX_CONFIGS]; /* n_confs 0: classify only */
	const char *conf_paths[BACKUP_MAX_CONFIGS];
	size_t n_confs;
	const struct kms_ring *ring;      /* may be NULL */
	const char *etcd_prefix;          /* NULL: /registry */
	const struct res_id *resources;   /* explicit targets, unless all */
	size_t n_resources;
	int all;                          /* every key under the etcd prefix, grouped */
	int key_order;                    /* call fn in key order (slower on big files);
					     else file order, lists sorted afterwards */
};

/* Sums over the targets' keys (history lists are capped). */
struct backup_history {
	struct history_result sum; /* history_add_key: what audit --history counts too
				      (retired counts stay 0: not judged here) */
	uint64_t deleted_keys, recreated_keys;
	char **deleted, **recreated, **plain_keys; /* listed keys, each malloc'd and
						      NUL-terminated, but may hold NULs: */
	size_t *deleted_len, *recreated_len, *plain_keys_len; /* each one's length */
	size_t n_deleted, n_recreated, n_plain_keys;
};

/* Called once per live value with one result per configuration (a single
 * classify-only result when there is none). All borrowed for the call. */
typedef int (*backup_value_fn)(void *arg, const struct snap_kv *kv, const struct res_id *resource,
			       const struct xf_result *results, size_t n);
typedef void (*backup_progress_fn)(void *arg, uint64_t values);

struct backup;

/* s must be indexed (snap_index) and outlive *out; so must opts' pointers. */
int backup_new(struct backup **out, struct snap *s, const struct backup_opts *opts);
void backup_free(struct backup *bk); /* NULL-safe */

/* Reads every live value of the targets. fn and progress may be NULL. */
int backup_run(struct backup *bk, backup_value_fn fn, backup_progress_fn progress, void *arg);

/* The tally of configuration i (borrowed). */
const struct tally *backup_tally(const struct backup *bk, size_t i);
const struct backup_history *backup_get_history(const struct backup *bk);

/* After backup_run: the targets with no live value in the file (as
 * scan_empty: explicit targets each, --all the etcd prefix itself). A
 * resource that is not in the file proved nothing: a typo in --resources or
 * --etcd-prefix must not read as a restorable backup. */
void backup_empty(const struct backup *bk, struct scan_empty *out);

/* Restorable under configuration i: every value readable. */
int backup_restorable(const struct backup *bk, size_t i);

/* Every configuration restorable (1 with none). */
int backup_all_restorable(const struct backup *bk);

/* Overall: trailer (if any) matches, no stray bytes, every configuration
 * restorable (classify only: the file checks alone). */
int backup_ok(const struct backup *bk);

/* Results: one tally per configuration, or one classify-only tally. */
size_t backup_n_results(const struct backup *bk);
size_t backup_n_configs(const struct backup *bk);           /* 0: classify only */
const char *backup_config_path(const struct backup *bk, size_t i); /* NULL: classify only */
const struct snap_info *backup_snap_info(const struct backup *bk);

/* A key name a restore needs: "provider:key_name", how many values use it
 * and how many of those read under the configuration. */
struct backup_label {
	char name[ENV_NAME_MAX + 16];
	uint64_t count, readable;
};

/* The key names result i's values use (identity left out), sorted by name.
 * Caller frees *out. */
int backup_labels(struct backup_label **out, size_t *n, const struct backup *bk, size_t i);

#endif
