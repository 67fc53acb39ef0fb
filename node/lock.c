/* node lock: lease + create-revision election with a keep-alive thread;
 * see lock.h. */
#include "lock.h"
#include "base/err.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 200

struct node_lock {
	struct node_lock_opts o;
	int64_t lease;
	int64_t granted_ms; /* when the grant was sent: etcd's TTL runs from after it */
	char key[NODE_PREFIX_MAX + 128];
	pthread_t thread;
	int thread_started;
	volatile sig_atomic_t quit; /* tell the keeper to end */
	volatile sig_atomic_t lost;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void mark_lost(struct node_lock *l)
{
	l->lost = 1;
	if (l->o.on_lost)
		*l->o.on_lost = 1;
}

/* How long after a renewal was SENT the lease is given up for lost when
 * no later one succeeded: etcd counts the TTL from when it handled the
 * renewal, which is after we sent it, so the holder stops writing before
 * etcd can expire the lease and hand the lock to the next in line. The
 * margin covers the keeper's polling and the in-flight Txns the rewrite
 * still finishes after its stop flag is set. */
static int64_t lost_after_ms(int ttl)
{
	int64_t ms = (int64_t)ttl * 1000, margin = ms / 5 > 500 ? ms / 5 : 500;

	return ms - margin;
}

/* Renews the lease every ttl/3 s on a client of its own, each call bounded
 * by ttl/3 s (a hung member must not hold a renewal past the lease's
 * life); gives the lease up for lost when etcd says it is gone or no
 * renewal sent in the last lost_after_ms succeeded. */
static void *keeper(void *arg)
{
	struct node_lock *l = arg;
	struct etcd_client *kc = NULL;
	struct etcd_opts eo = *l->o.eo;
	int64_t period = (int64_t)l->o.ttl * 1000 / 3, last_ok = l->granted_ms, next = last_ok + period, sent, ttl;
	int rc;

	if (eo.command_timeout_ms <= 0 || eo.command_timeout_ms > period)
		eo.command_timeout_ms = period;
	if (eo.dial_timeout_ms <= 0 || eo.dial_timeout_ms > period)
		eo.dial_timeout_ms = period;
	/* eo.stop stays: a renewal in flight on a hung member is cancelled
	 * within half a second of a stop, so release's join never waits long;
	 * release revokes on the holder's client in its cleanup window */
	while (!l->quit && !l->lost) {
		if (*l->o.stop && l->o.on_lost)
			*l->o.on_lost = 1; /* SIGINT/SIGTERM: the holder stops writing too */
		if (now_ms() - last_ok >= lost_after_ms(l->o.ttl)) {
			mark_lost(l);
			break;
		}
		if (now_ms() < next) {
			sleep_ms(50);
			continue;
		}
		next = now_ms() + period;
		if (kc == NULL && etcd_open(&kc, &eo) < 0)
			kc = NULL;
		sent = now_ms();
		rc = kc != NULL ? etcd_lease_keepalive(kc, l->lease, &ttl) : ERR_UNAVAILABLE;
		if (rc == 0) {
			if (ttl == 0) {
				mark_lost(l); /* expired or revoked */
				break;
			}
			last_ok = sent;
		} else if (rc == ERR_LEASE_NOTFOUND) {
			mark_lost(l); /* etcd says so: no need to wait for the time rule */
			break;
		} else if (kc != NULL) {
			etcd_close(kc);
			kc = NULL;
			next = now_ms() + 500;
		}
	}
	etcd_close(kc);
	return NULL;
}

/* Step 2: our key, only if it does not exist yet. */
static int enqueue(struct node_lock *l, struct etcd_client *cl)
{
	char suffix[64];
	struct etcd_cas_put put = { 0 };
	int ok = 0, rc;

	snprintf(suffix, sizeof(suffix), "lock/%016llx", (unsigned long long)l->lease);
	if ((rc = node_key(l->key, l->o.prefix, suffix)) < 0)
		return rc;
	put.key = (const uint8_t *)l->key;
	put.key_len = strlen(l->key);
	put.value = (const uint8_t *)l->o.node;
	put.value_len = strlen(l->o.node);
	put.mod_revision = 0;
	put.lease = l->lease;
	if ((rc = etcd_txn_cas(cl, &ok, NULL, &put, 1)) < 0)
		return err_wrap(rc, "lock '%s'", l->key);
	return ok ? 0 : err_set(ERR_INTERNAL, "lock '%s' exists already", l->key);
}

/* Step 3: 1 when ours is the oldest key, 0 when another is (holder gets
 * its node name), ERR_REFUSED when ours is gone. */
static int check_turn(struct node_lock *l, struct etcd_client *cl, char holder[NODE_NAME_MAX + 1])
{
	char pfx[NODE_PREFIX_MAX + 128];
	uint8_t end[NODE_PREFIX_MAX + 128];
	struct etcd_range_req req = { 0 };
	struct etcd_range_resp resp = { 0 };
	const struct etcd_kv *min = NULL, *mine = NULL;
	int rc;

	if ((rc = node_key(pfx, l->o.prefix, "lock/")) < 0)
		return rc;
	req.key = (const uint8_t *)pfx;
	req.key_len = strlen(pfx);
	req.range_end = end;
	req.range_end_len = etcd_prefix_end(end, req.key, req.key_len);
	if ((rc = etcd_range(cl, &resp, &req)) < 0)
		return err_wrap(rc, "reading '%s'", pfx);
	for (size_t i = 0; i < resp.n_kvs; i++) {
		const struct etcd_kv *kv = &resp.kvs[i];

		if (min == NULL || kv->create_revision < min->create_revision)
			min = kv;
		if (kv->key_len == strlen(l->key) && memcmp(kv->key, l->key, kv->key_len) == 0)
			mine = kv;
	}
	if (mine == NULL)
		rc = err_set(ERR_REFUSED, "lock '%s' is gone: the lease expired while waiting", l->key);
	else if (min == mine)
		rc = 1;
	else
		snprintf(holder, NODE_NAME_MAX + 1, "%.*s", (int)(min->value_len > NODE_NAME_MAX ? NODE_NAME_MAX
											: min->value_len),
			 (const char *)min->value);
	etcd_range_resp_release(&resp);
	return rc;
}

int node_lock_acquire(struct node_lock **out, struct etcd_client *cl, const struct node_lock_opts *o,
		      void (*holder)(void *arg, const char *node), void *arg)
{
	struct node_lock *l = calloc(1, sizeof(*l));
	char seen[NODE_NAME_MAX + 1] = "", cur[NODE_NAME_MAX + 1];
	int rc;

	*out = NULL;
	if (l == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	l->o = *o;
	l->granted_ms = now_ms();
	if ((rc = etcd_lease_grant(cl, &l->lease, o->ttl)) < 0)
		goto fail;
	if (pthread_create(&l->thread, NULL, keeper, l) != 0) {
		rc = err_set(ERR_INTERNAL, "cannot start the lease keep-alive thread");
		goto fail;
	}
	l->thread_started = 1;
	if ((rc = enqueue(l, cl)) < 0)
		goto fail;
	for (;;) {
		if (*o->stop) {
			rc = err_set(ERR_INTERRUPTED, "stopped while waiting for the lock");
			goto fail;
		}
		if (l->lost) {
			rc = err_set(ERR_REFUSED, "lost the lease of '%s' while waiting for the lock", l->key);
			goto fail;
		}
		cur[0] = '\0';
		if ((rc = check_turn(l, cl, cur)) < 0)
			goto fail;
		if (rc == 1)
			break;
		if (holder && strcmp(cur, seen) != 0)
			holder(arg, cur);
		snprintf(seen, sizeof(seen), "%s", cur);
		sleep_ms(POLL_MS);
	}
	*out = l;
	return 0;
fail:
	node_lock_release(l, cl);
	return rc;
}

int node_lock_lost(const struct node_lock *l)
{
	return l->lost;
}

void node_lock_release(struct node_lock *l, struct etcd_client *cl)
{
	if (l == NULL)
		return;
	l->quit = 1;
	if (l->lease && cl) {
		/* after a stop, the revoke is the client's one bounded cleanup
		 * step; it goes before the keeper's join, which may wait for a
		 * renewal in flight on a hung member */
		char why[512];

		snprintf(why, sizeof(why), "%s", err_msg()); /* the caller's error, if any */
		etcd_cleanup_begin(cl, NODE_LOCK_CLEANUP_MS);
		if (etcd_lease_revoke(cl, l->lease) < 0) /* best effort: else it expires */
			err_set(ERR_INTERNAL, "%s", why);
	}
	if (l->thread_started)
		pthread_join(l->thread, NULL);
	free(l);
}
