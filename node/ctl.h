/* ctl: the controller, one per control-plane node: CSM's
 * cray-kubernetes-encryption at the etcd level (docs/node-system.md).
 *
 * It holds only its own node's config (DIR/current.yaml: the only keys it
 * ever has), publishes its node's record when it starts and whenever that
 * file changes, and watches <prefix>. The nodes it counts are every node
 * that has a record, every node ever seen with one, and every --expect-
 * nodes name: agreement is never counted among fewer. When every one of
 * them has a record whose write name is the one its own config writes
 * with, it takes the lease lock (node/lock.h) and runs the rewrite
 * (rewrite/rewrite.h: the target and alarm gates, the quota estimate,
 * verify-before-write, compare-and-swap), publishing progress and result
 * at <prefix>rewrite (node/rwrec.h). A restart request (<prefix>request
 * with an id no rewrite has served yet) forces a rewrite of every value.
 *
 * once: wait for agreement, make etcd consistent, return. Otherwise run
 * until *stop, reacting to every change of the records, and reconnecting
 * (with backoff) when etcd goes away. Events go to a log callback; this
 * module never prints. */
#ifndef ETCDCRYPT_NODE_CTL_H
#define ETCDCRYPT_NODE_CTL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/etcd.h"
#include "xform/kmsring.h"

struct node_rwrec;

/* What the controller just did, for on_state (e.g. --metrics-file). */
enum node_ctl_event {
	NODE_CTL_LOOKED,         /* looked at the records: agreed or not */
	NODE_CTL_PROGRESS,       /* published a running rewrite's progress */
	NODE_CTL_REWRITE_DONE,   /* a rewrite it ran went to the end */
	NODE_CTL_REWRITE_FAILED, /* a rewrite it ran failed or lost its lease */
};

struct node_ctl_opts {
	const struct etcd_opts *eo;
	const char *prefix;      /* etcdcrypt's, e.g. "/etcdcrypt/" */
	const char *node;
	const char *dir;         /* holds current.yaml */
	char *const *expect;     /* --expect-nodes */
	size_t n_expect;
	int once;
	int lock_ttl;
	const char *etcd_prefix; /* kube-apiserver's, NULL: /registry */
	int64_t page_size;
	int64_t quota;           /* etcd's --quota-backend-bytes */
	int quota_given;         /* quota was given, not assumed (the messages differ) */
	double max_rate;         /* puts per second, 0: unlimited */
	const struct kms_ring *ring;
	const char *version;     /* etcdcrypt's, for the record */
	volatile sig_atomic_t *stop;
	void (*log)(void *arg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* May be NULL. agreed: every known node writes with this node's write
	 * key; rw: the published rewrite record (this controller's or another's;
	 * NULL when none), borrowed for the call. */
	void (*on_state)(void *arg, enum node_ctl_event ev, int agreed, const struct node_rwrec *rw);
	void *arg;
};

/* 0: (once) etcd is consistent with the agreed write key; ERR_DECRYPT:
 * (once) the rewrite left unreadable values; ERR_REFUSED: (once) a gate
 * refused (alarm, quota); ERR_INTERRUPTED on *stop; or an error that
 * cannot be waited out (bad config file). etcd errors and a lost lease
 * are waited out: the controller connects again and goes on. */
int node_ctl_run(const struct node_ctl_opts *o);

#endif
