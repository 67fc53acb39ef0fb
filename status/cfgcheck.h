/* cfgcheck: the engine of `config check` (and of `enable`/`disable`, which
 * run the same proof before they install a config): decrypt every value now
 * in etcd, at one revision, with a PROPOSED config under kube-apiserver's
 * read rules, and count what would become unreadable, grouped by provider,
 * key name and reason (status_bad).
 *
 * Resources scanned: those PROPOSED names plus those of every other config
 * given (a node's running config), so a config that stops covering a
 * resource is caught. A scan whose revision is compacted under it starts
 * again once. This module does not print; progress goes to a callback. */
#ifndef ETCDCRYPT_CFGCHECK_H
#define ETCDCRYPT_CFGCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "base/resources.h"
#include "conf/encconf.h"
#include "etcd/etcd.h"
#include "scan/scan.h"
#include "status/status.h"
#include "xform/kmsring.h"

struct cfgcheck_opts {
	const struct encconf *proposed;
	const struct encconf *const *others; /* resources to scan too; may be NULL */
	size_t n_others;
	const struct kms_ring *ring;         /* may be NULL */
	const char *etcd_prefix;             /* NULL: /registry */
	int64_t page_size;                   /* 0: default */
	scan_progress_fn progress;           /* may be NULL */
	void *arg;
};

struct cfgcheck_result {
	int64_t revision;
	uint64_t total;   /* values scanned */
	uint64_t current; /* already under PROPOSED's write key */
	struct status_bad bad; /* unreadable under PROPOSED; release with cfgcheck_release */
	struct scan_empty empty; /* targets that held no key: nothing was proven there */
};

/* The union of the resources the configs name into *out (caller frees). */
int cfgcheck_targets(struct res_id **out, size_t *n, int *all, const struct cfgcheck_opts *o);

/* The whole check. *out is zeroed first and filled on success. */
int cfgcheck_run(struct cfgcheck_result *out, struct etcd_client *cl, const struct cfgcheck_opts *o);

void cfgcheck_release(struct cfgcheck_result *r);

#endif
