/* ctl: the controller loop: publish, watch, agree, lock, rewrite; see
 * ctl.h. */
#include "ctl.h"
#include "base/err.h"
#include "base/esc.h"
#include "base/resources.h"
#include "conf/encconf.h"
#include "install.h"
#include "lock.h"
#include "record.h"
#include "rewrite/rewrite.h"
#include "rwrec.h"
#include "scan/scan.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONFIG_MAX (1u << 20)
#define WAIT_MS 5000 /* look again at least this often (the config file may change) */

struct ctl {
	const struct node_ctl_opts *o;
	struct etcd_client *cl;
	struct encconf *conf;
	struct node_record own;
	char *seen[NODE_MAX_NODES]; /* every node that ever had a record */
	size_t n_seen;
	char done_kind[16], done_name[128]; /* write name of the last finished rewrite */
	int have_done;
	char served[64]; /* last restart request served */
	char why[512];   /* last reason logged for waiting */
	volatile sig_atomic_t rw_stop; /* *stop or the lease lost */
	int64_t last_put_ms;
	struct node_rwrec rec; /* the rewrite being run */
	struct node_rwrec prev; /* the record it replaced */
	int have_prev;
	int rec_put;     /* a running record of this run was published */
	int64_t start_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(const struct ctl *c, long ms)
{
	struct timespec ts = { 0, 50 * 1000000L };

	for (long t = 0; t < ms && !*c->o->stop; t += 50)
		nanosleep(&ts, NULL);
}

/* ---- this node's config and record -------------------------------------------- */

static int load_own(struct ctl *c)
{
	char path[NODE_PATH_MAX];
	struct buf file;
	struct encconf *conf = NULL;
	struct node_record rec;
	int64_t mtime = 0;
	int rc;

	buf_init(&file, CONFIG_MAX + 1);
	node_config_path(path, c->o->dir);
	if ((rc = node_read_file(&file, path, CONFIG_MAX, &mtime)) < 0 ||
	    (rc = encconf_parse(&conf, (const char *)file.data, file.len, path)) < 0 ||
	    (rc = node_record_from_conf(&rec, c->o->node, conf, file.data, file.len, mtime, "")) < 0) {
		buf_release(&file);
		encconf_free(conf);
		return rc == ERR_NOTFOUND ? err_set(ERR_CONFIG, "%s", err_msg()) : rc;
	}
	buf_release(&file);
	if (c->conf && strcmp(rec.sha256, c->own.sha256) == 0) {
		encconf_free(conf); /* unchanged */
		node_record_release(&rec);
		return 0;
	}
	encconf_free(c->conf);
	c->conf = conf;
	node_record_release(&c->own);
	c->own = rec;
	return 1;
}

/* Publishes this node's record unless etcd already has the same one. */
static int sync_own(struct ctl *c, const char *version)
{
	struct node_record cur;
	int rc = node_get(c->cl, c->o->prefix, c->o->node, &cur);

	if (rc < 0 && rc != ERR_NOTFOUND)
		return rc;
	if (rc == 0 && node_record_same(&cur, &c->own)) {
		node_record_release(&cur);
		return 0;
	}
	node_record_release(&cur);
	snprintf(c->own.version, sizeof(c->own.version), "%s", version);
	if ((rc = node_publish(c->cl, c->o->prefix, &c->own, NULL)) < 0)
		return rc;
	c->o->log(c->o->arg, "published %snodes/%s: writes %s", c->o->prefix, c->o->node,
		  c->own.n_names ? c->own.names[0].name : "-");
	return 0;
}

/* ---- agreement ---------------------------------------------------------------- */

static void remember(struct ctl *c, const char *node)
{
	for (size_t i = 0; i < c->n_seen; i++)
		if (strcmp(c->seen[i], node) == 0)
			return;
	if (c->n_seen < NODE_MAX_NODES && (c->seen[c->n_seen] = strdup(node)) != NULL)
		c->n_seen++;
}

static const struct node_record *find(const struct node_record *v, size_t n, const char *node)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].node, node) == 0)
			return &v[i];
	return NULL;
}

/* 1 when every counted node writes with this node's write name; else 0
 * and why says who does not. */
static int agree(struct ctl *c, const struct node_record *v, size_t n, char *why, size_t why_len)
{
	const struct status_name *mine = node_record_write(&c->own);

	for (size_t i = 0; i < n; i++)
		remember(c, v[i].node);
	for (size_t i = 0; i < c->o->n_expect; i++)
		if (find(v, n, c->o->expect[i]) == NULL) {
			snprintf(why, why_len, "waiting for %s (expected, no record)", c->o->expect[i]);
			return 0;
		}
	for (size_t i = 0; i < c->n_seen; i++) {
		const struct node_record *r = find(v, n, c->seen[i]);

		if (r == NULL) {
			snprintf(why, why_len, "waiting for %s (its record is gone)", c->seen[i]);
			return 0;
		}
		if (!node_name_eq(node_record_write(r), mine)) {
			snprintf(why, why_len, "waiting: %s writes %s, %s writes %s", r->node,
				 r->n_names ? r->names[0].name : "nothing", c->o->node, mine ? mine->name : "nothing");
			return 0;
		}
	}
	return 1;
}

/* ---- the rewrite -------------------------------------------------------------- */

static void notify(const struct ctl *c, enum node_ctl_event ev, int agreed, const struct node_rwrec *rw)
{
	if (c->o->on_state)
		c->o->on_state(c->o->arg, ev, agreed, rw);
}

static void put_rec(struct ctl *c)
{
	c->rec.updated = (int64_t)time(NULL);
	if (node_rwrec_put(c->cl, c->o->prefix, &c->rec) < 0)
		c->o->log(c->o->arg, "cannot publish the rewrite's progress: %s", err_msg());
	c->last_put_ms = now_ms();
	c->rec_put = 1;
	notify(c, NODE_CTL_PROGRESS, 1, &c->rec);
}

static void fill_rec(struct ctl *c, const struct rw_stats *st)
{
	c->rec.revision_start = st->revision_start;
	c->rec.revision_end = st->revision_end;
	c->rec.scanned = st->scanned;
	c->rec.rewritten = st->rewritten;
	c->rec.current = st->current;
	c->rec.unreadable = st->unreadable;
	c->rec.conflicts = st->conflicts;
}

static void on_progress(void *arg, const struct rw_stats *st)
{
	struct ctl *c = arg;

	fill_rec(c, st);
	/* a run that writes, or has scanned for a second, shows up; a quick
	 * pass that finds everything current leaves the last result alone */
	if ((st->rewritten > 0 || now_ms() - c->start_ms >= 1000) && (!c->rec_put || now_ms() - c->last_put_ms >= 1000))
		put_rec(c);
}

static void on_bad(void *arg, const struct rw_unreadable *u)
{
	struct ctl *c = arg;

	/* an etcd key: every byte, escaped (a log read on a terminal) */
	char *k = esc_term(u->key, u->key_len);

	c->o->log(c->o->arg, "unreadable, left untouched: %s (%s)", k != NULL ? k : "?", xf_reason_name(u->res->reason));
	free(k);
}

/* `rewrite`'s gates before the first write: a usable KMS v2 write plugin
 * (no KMS v1 target), no alarm, and
 * the quota guard (estimating the growth only when the bound from the used
 * size does not fit). */
static int gates(struct ctl *c, const struct rw_opts *ro)
{
	struct etcd_db_sizes db;
	struct rw_quota q;
	int rc;

	/* each member enforces the quota on its own file: the largest decides */
	if ((rc = rw_check_target(ro)) < 0 || (rc = rw_check_alarms(c->cl)) < 0 || (rc = etcd_db_sizes(c->cl, &db)) < 0 ||
	    (rc = rw_count(c->cl, ro, &c->rec.total)) < 0)
		return rc;
	q = (struct rw_quota){ .quota = c->o->quota, .quota_given = c->o->quota_given, .db_size = db.max_db_size,
			       .db_size_in_use = db.max_db_size_in_use, .keys = c->rec.total, .growth = -1 };
	if ((rc = rw_quota_check(ro, &q)) <= 0)
		return rc;
	if ((rc = rw_estimate(c->cl, ro, &q.values, &q.growth)) < 0)
		return rc;
	return rw_quota_check(ro, &q);
}

/* The record to leave behind: a quick run that changed nothing after a
 * finished rewrite to the same key leaves that rewrite's record (it says
 * more); anything else publishes this run's result. */
static void put_result(struct ctl *c)
{
	const struct node_rwrec *p = &c->prev;

	if (!c->rec_put && c->have_prev && !c->rec.forced && c->rec.rewritten == 0 && c->rec.unreadable == 0 &&
	    c->rec.state == NODE_RW_DONE && p->state == NODE_RW_DONE && strcmp(p->write_name, c->rec.write_name) == 0 &&
	    strcmp(p->write_provider, c->rec.write_provider) == 0) {
		notify(c, NODE_CTL_PROGRESS, 1, p); /* it stays the published one */
		return;
	}
	put_rec(c);
}

/* Stopped (SIGINT/SIGTERM): rw_run has returned, so nothing writes a
 * secret any more. A published running record says "interrupted" (status
 * and restart then know nobody runs it); this put and the lock's revoke
 * (node_lock_release) share the client's one cleanup window, the record
 * first: once the lease is gone another controller may publish its own. */
static void put_interrupted(struct ctl *c)
{
	c->rec.state = NODE_RW_INTERRUPTED;
	snprintf(c->rec.error, sizeof(c->rec.error), "stopped by SIGINT/SIGTERM; the next holder of the lock goes on");
	if (!c->rec_put)
		return; /* nothing published: the last result stays */
	etcd_cleanup_begin(c->cl, NODE_LOCK_CLEANUP_MS);
	put_rec(c);
}

static int run_rewrite(struct ctl *c, int force, const char *request)
{
	const struct status_name *w = node_record_write(&c->own);
	struct res_id *res = NULL;
	size_t n = 0;
	int all = 0, rc;
	struct rw_stats st = { 0 };
	struct rw_opts ro = { .conf = c->conf, .ring = c->o->ring, .etcd_prefix = c->o->etcd_prefix,
			      .force = force, .batch_ops = RW_DEFAULT_BATCH, .batch_bytes = RW_DEFAULT_BATCH_BYTES,
			      .inflight = RW_DEFAULT_INFLIGHT, .page_size = c->o->page_size, .max_rate = c->o->max_rate,
			      .stop = &c->rw_stop };

	kmsring_new_run(c->o->ring); /* a fresh KMS Status and seed for every rewrite */
	memset(&c->rec, 0, sizeof(c->rec));
	snprintf(c->rec.node, sizeof(c->rec.node), "%s", c->o->node);
	snprintf(c->rec.write_provider, sizeof(c->rec.write_provider), "%s", encconf_kind_name(w->kind));
	snprintf(c->rec.write_name, sizeof(c->rec.write_name), "%s", w->name);
	snprintf(c->rec.request, sizeof(c->rec.request), "%s", request);
	c->rec.forced = force;
	c->rec.started = (int64_t)time(NULL);
	c->last_put_ms = now_ms();
	if ((rc = scan_resources_from_config(&res, &n, &all, c->conf)) < 0)
		return rc;
	ro.resources = res;
	ro.n_resources = n;
	ro.all = all;
	if ((rc = gates(c, &ro)) == 0) {
		c->have_prev = node_rwrec_get(c->cl, c->o->prefix, &c->prev) == 0;
		c->rec_put = 0;
		c->start_ms = now_ms();
		if (force)
			put_rec(c); /* running: restart follows it */
		c->o->log(c->o->arg, "rewriting to %s%s (%llu keys)", w->name, force ? " (forced)" : "",
			  (unsigned long long)c->rec.total);
		rc = rw_run(c->cl, &ro, &st, on_bad, on_progress, c);
		fill_rec(c, &st);
	}
	free(res);
	if (rc == ERR_INTERRUPTED && !*c->o->stop)
		rc = err_set(ERR_UNAVAILABLE, "lost the lock's lease during the rewrite; stopped writing");
	c->rec.state = rc == 0 ? NODE_RW_DONE : NODE_RW_FAILED;
	if (rc < 0)
		snprintf(c->rec.error, sizeof(c->rec.error), "%s", err_msg());
	if (rc == ERR_INTERRUPTED)
		put_interrupted(c);
	else if (rc != ERR_UNAVAILABLE)
		put_result(c);
	notify(c, rc == 0 ? NODE_CTL_REWRITE_DONE : rc == ERR_INTERRUPTED ? NODE_CTL_PROGRESS : NODE_CTL_REWRITE_FAILED, 1,
	       &c->rec);
	c->o->log(c->o->arg, "rewrite %s: revisions %lld..%lld, %llu scanned, %llu rewritten, %llu already current, "
		  "%llu unreadable%s%s", node_rw_state_name(c->rec.state), (long long)st.revision_start,
		  (long long)st.revision_end, (unsigned long long)st.scanned, (unsigned long long)st.rewritten,
		  (unsigned long long)st.current, (unsigned long long)st.unreadable, rc < 0 ? ": " : "",
		  rc < 0 ? c->rec.error : "");
	/* a mistyped --etcd-prefix rewrites nothing: say so, a 'done' alone
	 * would read as an all-clear */
	for (size_t i = 0; rc == 0 && i < st.empty.n && i < SCAN_EMPTY_MAX; i++)
		c->o->log(c->o->arg, "warning: no key at all under '%s' (check --etcd-prefix): nothing was rewritten there",
			  st.empty.prefix[i]);
	if (rc == 0 && st.unreadable > 0)
		rc = err_set(ERR_DECRYPT, "%llu values stay unreadable under %s's config",
			     (unsigned long long)st.unreadable, c->o->node);
	return rc;
}

static void on_holder(void *arg, const char *node)
{
	struct ctl *c = arg;

	c->o->log(c->o->arg, "waiting for the rewrite lock (held by %s)", node[0] ? node : "?");
}

/* Every controller sees a restart request; the first to hold the lock
 * serves it. The others, once they hold the lock in turn, must find it
 * served (the request marked so, or the published record: that request,
 * done, to this node's write key) rather than rewrite every value once
 * more each. */
static int served_meanwhile(struct ctl *c, const char *request)
{
	const struct status_name *w = node_record_write(&c->own);
	struct node_request q;
	struct node_rwrec r;

	if (node_request_get(c->cl, c->o->prefix, &q) == 0 && strcmp(q.id, request) == 0 && q.served_by[0]) {
		c->o->log(c->o->arg, "restart request %s was served by %s meanwhile", request, q.served_by);
		return 1;
	}
	if (node_rwrec_get(c->cl, c->o->prefix, &r) < 0 || strcmp(r.request, request) != 0 || r.state != NODE_RW_DONE ||
	    strcmp(r.write_name, w->name) != 0 || strcmp(r.write_provider, encconf_kind_name(w->kind)) != 0)
		return 0;
	c->o->log(c->o->arg, "restart request %s was served by %s meanwhile", request, r.node);
	return 1;
}

/* A forced rewrite finished (done, unreadable values included): the
 * request key says so, for every controller started later (its rewrite
 * record may be replaced by a normal rewrite). Still under the lock. */
static void mark_served(struct ctl *c, const struct node_request *req)
{
	int rc = node_request_served(c->cl, c->o->prefix, req, c->o->node);

	if (rc < 0)
		c->o->log(c->o->arg, "cannot mark restart request %s served: %s", req->id, err_msg());
	else if (rc == 1)
		c->o->log(c->o->arg, "restart request %s was replaced meanwhile: the newer one stays pending", req->id);
}

/* Takes the lock, checks agreement again (it may have changed while
 * waiting), rewrites (forced when req, a pending restart request, is not
 * NULL), releases. *ran: a rewrite was run. */
static int locked_rewrite(struct ctl *c, const struct node_request *req, int *ran)
{
	struct node_lock_opts lo = { .eo = c->o->eo, .prefix = c->o->prefix, .node = c->o->node,
				     .ttl = c->o->lock_ttl, .stop = c->o->stop, .on_lost = &c->rw_stop };
	struct node_lock *l = NULL;
	struct node_record *v = NULL;
	size_t n = 0;
	int64_t rev;
	char why[512];
	int rc;

	*ran = 0;
	c->rw_stop = 0;
	if ((rc = node_lock_acquire(&l, c->cl, &lo, on_holder, c)) < 0)
		return rc == ERR_REFUSED ? ERR_UNAVAILABLE : rc; /* lease lost while waiting: again */
	c->o->log(c->o->arg, "holding the rewrite lock");
	if ((rc = node_list(c->cl, c->o->prefix, &v, &n, &rev)) == 0 && agree(c, v, n, why, sizeof(why))) {
		*ran = 1;
		if (req && served_meanwhile(c, req->id))
			rc = 0;
		else
			rc = run_rewrite(c, req != NULL, req ? req->id : "");
		if (req && (rc == 0 || rc == ERR_DECRYPT))
			mark_served(c, req);
	}
	node_records_free(v, n);
	node_lock_release(l, c->cl);
	return rc;
}

/* ---- the loop ------------------------------------------------------------------ */

/* One look at everything. *done: etcd was made consistent this time. */
static int step(struct ctl *c, int64_t *rev, int *done, const char *version)
{
	struct node_record *v = NULL;
	size_t n = 0;
	struct node_request req = { 0 };
	char why[512];
	const struct status_name *w;
	int rc, pending, ran = 0;

	*done = 0;
	if ((rc = load_own(c)) < 0) {
		c->o->log(c->o->arg, "keeping the last config read: %s", err_msg());
	} else if (rc == 1) {
		c->o->log(c->o->arg, "config %s/%s: writes %s", c->o->dir, NODE_CONFIG_FILE,
			  c->own.n_names ? c->own.names[0].name : "-");
	}
	if ((rc = sync_own(c, version)) < 0 || (rc = node_list(c->cl, c->o->prefix, &v, &n, rev)) < 0)
		return rc;
	rc = agree(c, v, n, why, sizeof(why));
	node_records_free(v, n);
	if (c->o->on_state) {
		struct node_rwrec r;

		notify(c, NODE_CTL_LOOKED, rc, node_rwrec_get(c->cl, c->o->prefix, &r) == 0 ? &r : NULL);
	}
	if (!rc) {
		if (strcmp(why, c->why) != 0)
			c->o->log(c->o->arg, "%s", why);
		snprintf(c->why, sizeof(c->why), "%s", why);
		return 0;
	}
	c->why[0] = '\0';
	if ((rc = node_request_get(c->cl, c->o->prefix, &req)) < 0 && rc != ERR_NOTFOUND)
		return rc;
	w = node_record_write(&c->own);
	pending = req.id[0] && !req.served_by[0] && strcmp(req.id, c->served) != 0;
	if (c->have_done && strcmp(c->done_name, w->name) == 0 &&
	    strcmp(c->done_kind, encconf_kind_name(w->kind)) == 0 && !pending)
		return 0;
	c->o->log(c->o->arg, "all %zu nodes write %s%s", c->n_seen, w->name, pending ? "; a restart was requested" : "");
	rc = locked_rewrite(c, pending ? &req : NULL, &ran);
	if (!ran || (rc < 0 && rc != ERR_DECRYPT))
		return rc;
	snprintf(c->done_name, sizeof(c->done_name), "%s", w->name);
	snprintf(c->done_kind, sizeof(c->done_kind), "%s", encconf_kind_name(w->kind));
	c->have_done = 1;
	if (pending)
		snprintf(c->served, sizeof(c->served), "%s", req.id);
	*done = 1;
	return rc;
}

/* Waits for a change under the prefix after rev (or WAIT_MS). */
static int wait_change(struct ctl *c, int64_t rev)
{
	uint8_t end[NODE_PREFIX_MAX + 128];
	struct etcd_watch *w = NULL;
	struct etcd_watch_batch b;
	size_t plen = strlen(c->o->prefix);
	int rc;

	if ((rc = etcd_watch_open(&w, c->cl, (const uint8_t *)c->o->prefix, plen, end,
				  etcd_prefix_end(end, (const uint8_t *)c->o->prefix, plen), rev + 1)) < 0)
		return rc;
	for (long t = 0; t < WAIT_MS && !*c->o->stop; t += 250) {
		if ((rc = etcd_watch_next(w, &b, 250)) < 0)
			break;
		if (rc == 1 && (b.n_events > 0 || b.canceled)) {
			rc = 0;
			break;
		}
		rc = 0;
	}
	etcd_watch_close(w);
	return rc;
}

static int connect(struct ctl *c)
{
	struct node_rwrec prev;
	long backoff = 500;

	while (!*c->o->stop) {
		if (etcd_open(&c->cl, c->o->eo) == 0) {
			/* a request of an etcdcrypt older than the served mark:
			 * served when the last rewrite finished it */
			if (!c->served[0] && node_rwrec_get(c->cl, c->o->prefix, &prev) == 0 && prev.state == NODE_RW_DONE)
				snprintf(c->served, sizeof(c->served), "%s", prev.request);
			return 0;
		}
		c->cl = NULL;
		c->o->log(c->o->arg, "etcd: %s; trying again in %.1f s", err_msg(), (double)backoff / 1000);
		sleep_ms(c, backoff);
		backoff = backoff < 8000 ? backoff * 2 : 8000;
	}
	return err_set(ERR_INTERRUPTED, "stopped");
}

static void ctl_release(struct ctl *c)
{
	etcd_close(c->cl);
	encconf_free(c->conf);
	node_record_release(&c->own);
	for (size_t i = 0; i < c->n_seen; i++)
		free(c->seen[i]);
}

static int fatal(int rc)
{
	return rc == ERR_CONFIG || rc == ERR_USAGE || rc == ERR_NOMEM || rc == ERR_INTERNAL || rc == ERR_INTERRUPTED;
}

int node_ctl_run(const struct node_ctl_opts *o)
{
	struct ctl c = { .o = o };
	int64_t rev = 0;
	int rc, done;

	if ((rc = load_own(&c)) < 0)
		goto out;
	c.o->log(c.o->arg, "node %s, config %s/%s: writes %s", o->node, o->dir, NODE_CONFIG_FILE,
		 c.own.n_names ? c.own.names[0].name : "-");
	while (!*o->stop) {
		if (c.cl == NULL && (rc = connect(&c)) < 0)
			break;
		rc = step(&c, &rev, &done, o->version);
		if (o->once && ((rc == 0 && done) || rc == ERR_DECRYPT || rc == ERR_REFUSED))
			break;
		if (rc == ERR_REFUSED)
			o->log(o->arg, "refused: %s", err_msg());
		if (rc == 0 || rc == ERR_DECRYPT || rc == ERR_REFUSED)
			rc = wait_change(&c, rev);
		if (rc < 0 && fatal(rc))
			break;
		if (rc < 0) {
			/* etcd went away or refused for now: look again on a new connection */
			o->log(o->arg, "%s; again in 1 s", err_msg());
			etcd_close(c.cl);
			c.cl = NULL;
			sleep_ms(&c, 1000);
		}
	}
	/* a stop ends the run whatever transient error came before it (etcd
	 * down: it would have been waited out); a result of --once stays */
	if (*o->stop && (rc >= 0 || (!fatal(rc) && rc != ERR_DECRYPT && rc != ERR_REFUSED)))
		rc = err_set(ERR_INTERRUPTED, "stopped");
out:
	ctl_release(&c);
	return rc;
}
