/* node lock: the rewrite lock the controllers share, etcd's standard
 * election (the recipe of etcd's clientv3/concurrency Mutex):
 *
 *   1. grant a lease of ttl seconds and keep it alive from a thread of its
 *      own (with its own etcd client: a client serves one thread), renewing
 *      every ttl/3 seconds;
 *   2. create <prefix>lock/<lease id in hex> = node name, attached to the
 *      lease, in a Txn that requires the key not to exist;
 *   3. the key with the lowest create_revision under <prefix>lock/ holds
 *      the lock; the others wait (polling every 200 ms) until theirs is the
 *      lowest.
 *
 * Release revokes the lease, which deletes the key. A holder that dies
 * (SIGKILL) stops renewing; etcd expires its lease after ttl seconds and
 * deletes its key, and the next in line holds the lock. A holder that
 * cannot renew in time (etcd unreachable, the lease gone) sets *on_lost:
 * it must stop writing (the rewrite's stop flag). "In time" is counted
 * from when the last good renewal was sent, less a margin (a fifth of the
 * TTL, at least 0.5 s), so the holder stops before etcd can expire the
 * lease; each renewal call is bounded by ttl/3. Its writes stay safe
 * either way: every rewrite write is a compare-and-swap. */
#ifndef ETCDCRYPT_NODE_LOCK_H
#define ETCDCRYPT_NODE_LOCK_H

#include <signal.h>
#include <stdint.h>

#include "etcd/etcd.h"

#define NODE_LOCK_DEFAULT_TTL 15

struct node_lock_opts {
	const struct etcd_opts *eo; /* for the keep-alive thread's own client (borrowed) */
	const char *prefix;         /* etcdcrypt's prefix, e.g. "/etcdcrypt/" */
	const char *node;           /* the value of the lock key */
	int ttl;                    /* seconds, 2..3600 */
	volatile sig_atomic_t *stop;    /* acquire gives up when set (ERR_INTERRUPTED) */
	/* may be NULL; set to 1 (within 50 ms) when the lease is lost or *stop
	 * is set: the holder's writes must stop (the rewrite's stop flag) */
	volatile sig_atomic_t *on_lost;
};

struct node_lock;

/* Blocks until the lock is held (0, *out set), *stop is set
 * (ERR_INTERRUPTED) or the lease is lost while waiting (ERR_REFUSED: try
 * again). holder (may be NULL) is called with the current holder's node
 * name each time it changes while waiting. */
int node_lock_acquire(struct node_lock **out, struct etcd_client *cl, const struct node_lock_opts *o,
		      void (*holder)(void *arg, const char *node), void *arg);

/* Non-zero once the lease was lost (the holder must stop writing). */
int node_lock_lost(const struct node_lock *l);

/* Revokes the lease (deleting the lock key), stops the keep-alive thread
 * and frees l. NULL-safe. After a stop (the client's stop flag), the
 * revoke is still sent: release opens the client's cleanup window
 * (etcd_cleanup_begin, NODE_LOCK_CLEANUP_MS; a window the caller opened
 * already is not extended). A revoke that cannot be sent in it leaves the
 * lease to expire after its TTL. */
#define NODE_LOCK_CLEANUP_MS 500
void node_lock_release(struct node_lock *l, struct etcd_client *cl);

#endif
