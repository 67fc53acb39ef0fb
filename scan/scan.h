/* scan: read every stored value of some resources at ONE etcd revision and
 * pass each through the transformer. Shared by audit, rewrite and status.
 *
 * Targets are either a list of resources (each a prefix scan of
 * <etcd-prefix>/<resourcePrefix>/) or everything under <etcd-prefix>/ grouped
 * by resource (--all). The first page fixes the revision; every later page of
 * every target reads at it, so the result is a consistent snapshot while the
 * apiserver writes. Pages are fetched ahead (etcd_pager) so etcd works while
 * values are decrypted. Memory: one page in hand, one in flight. */
#ifndef ETCDCRYPT_SCAN_H
#define ETCDCRYPT_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "conf/encconf.h"
#include "etcd/etcd.h"
#include "xform/kmsring.h"
#include "base/resources.h"
#include "xform/transform.h"

#define SCAN_DEFAULT_PAGE 5000
#define SCAN_MAX_PAGE 100000 /* --page-size bound: a page is held in memory */

struct scan_target; /* private */

struct scan_opts {
	const struct encconf *conf;  /* NULL: identity rules (classify) */
	const struct kms_ring *ring; /* may be NULL */
	const char *etcd_prefix;     /* NULL: /registry */
	const struct res_id *resources;
	size_t n_resources;
	int all;            /* every key under the etcd prefix, grouped */
	int64_t page_size;  /* 0: SCAN_DEFAULT_PAGE */
	int64_t revision;   /* 0: the current revision */
	int resume;         /* on a compacted revision, go on after the last key
			       at the newest revision (rewrite) instead of failing;
			       retry unreachable etcd with backoff */
};

/* What the callback sees for each value (all borrowed for the call). */
struct scan_item {
	const struct res_id *resource;
	const char *prefix;
	const struct etcd_kv *kv;
	const struct xf_result *res;
	const struct buf *plain; /* decrypted object when res->ok */
	struct xf *xf;           /* the resource's transformer (for rewriting) */
	int64_t revision;        /* the revision the page was read at */
};

/* Returning <0 from the callback stops the scan with that code. */
typedef int (*scan_fn)(void *arg, const struct scan_item *it);
/* Called after each page with the running count (progress lines). */
typedef void (*scan_progress_fn)(void *arg, uint64_t values, int64_t revision);

struct scan;

int scan_new(struct scan **out, struct etcd_client *cl, const struct scan_opts *opts);
void scan_free(struct scan *s);

/* Runs the whole scan. ERR_COMPACTED when the pinned revision was compacted
 * under it (the caller decides whether to start again at a new revision). */
int scan_run(struct scan *s, scan_fn fn, scan_progress_fn progress, void *arg);

/* The transformer for a key's resource (targets met so far), or NULL. */
struct xf *scan_xf_for_key(struct scan *s, const uint8_t *key, size_t key_len);

/* Number of targets and each one's prefix (explicit targets; --all: the
 * resources met so far). */
size_t scan_n_targets(const struct scan *s);
const char *scan_target_prefix(const struct scan *s, size_t i);

/* How many Range requests the scan's cut ranges took (not counting the
 * plain paging after a resume): about keys / (3/4 page size) when the
 * density guesses hold. */
uint64_t scan_ranges(const struct scan *s);

/* How many times a resumable scan moved to a newer revision. */
unsigned scan_resumed(const struct scan *s);

/* The targets that held no key at all once scan_run is done: a scan that
 * finds nothing under a prefix checked nothing there (a typo in --resources
 * or --etcd-prefix must not read as a clean bill of health). Explicit
 * targets: each empty one, with its resource; --all: the etcd prefix itself
 * when nothing at all was under it (res zeroed). The first SCAN_EMPTY_MAX
 * are listed; n counts all. */
#define SCAN_EMPTY_MAX 8
struct scan_empty {
	size_t n;
	char prefix[SCAN_EMPTY_MAX][512];
	struct res_id res[SCAN_EMPTY_MAX];
};
void scan_empty(const struct scan *s, struct scan_empty *out); /* s may be NULL: none */
/* Adds one empty target (id NULL: the --all prefix itself) to *e: for
 * other walks over keys (backup verify's snapshot walk). */
void scan_empty_add(struct scan_empty *e, const char *prefix, const struct res_id *id);

/* The revision the scan read at (0 before the first page). */
int64_t scan_revision(const struct scan *s);

/* The resources a config names, for a default target list: every explicit
 * resource of every rule; *all is set when a rule holds a wildcard. Caller
 * frees *out. No config: just secrets. */
int scan_resources_from_config(struct res_id **out, size_t *n, int *all, const struct encconf *conf);

/* The union of scan_resources_from_config over n_confs configs (each
 * resource once, in first-seen order); *all when any holds a wildcard.
 * Caller frees *out. */
int scan_resources_union(struct res_id **out, size_t *n, int *all, const struct encconf *const *confs,
			 size_t n_confs);

#endif
