/* cmd_controller: `etcdcrypt controller`, one per control-plane node (CSM's
 * cray-kubernetes-encryption; node/ctl.h does the work), and `etcdcrypt
 * restart` (CSM's --restart): ask the running controllers for a forced
 * rewrite and follow it until it finished (docs/node-system.md). */
#include "cmd.h"
#include "base/err.h"
#include "base/num.h"
#include "etcdflags.h"
#include "node/ctl.h"
#include "node/install.h"
#include "node/lock.h"
#include "node/record.h"
#include "node/rwrec.h"
#include "node/store.h"
#include "nodecmd.h"
#include "metrics.h"
#include "rewrite/rewrite.h"
#include "kmsflags.h"
#include "xform/kmsring.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { OPT_NODE = CMD_OPT_FIRST, OPT_DIR, OPT_ONCE, OPT_EXPECT, OPT_LOCK_TTL, OPT_STATE_PREFIX, OPT_PREFIX,
       OPT_KEYRING, OPT_PAGE, OPT_TIMEOUT, OPT_RATE, OPT_METRICS, OPT_QUOTA };

static const char CONTROLLER_HELP[] =
	"usage: etcdcrypt controller [--node NAME] [--dir DIR] [--once] [--expect-nodes A,B,C]\n"
	"                            [--lock-ttl SECONDS] [etcd flags]\n\n"
	"CSM's cray-kubernetes-encryption, one per control-plane node. Reads this node's\n"
	"config (DIR/current.yaml: the only keys it holds), publishes the node's key names\n"
	"in etcd, and watches every node's record. When every node known (every node that\n"
	"ever published a record, and every --expect-nodes name) writes with the key this\n"
	"node's config writes with, it takes an etcd lease lock, so that exactly one\n"
	"controller rewrites, and re-encrypts every secret to that key with all of\n"
	"'rewrite''s gates and verify-before-write, publishing progress and result.\n"
	"A controller that dies loses its lease; another one finishes the job.\n\n"
	"options:\n"
	"  --node NAME             this node's name (default: the short host name)\n"
	"  --dir DIR               the config directory (default " NODE_DEFAULT_DIR ")\n"
	"  --once                  wait for agreement, make etcd consistent, exit\n"
	"  --expect-nodes A,B,C    never count agreement without these nodes\n"
	"  --lock-ttl SECONDS      the lock's lease TTL, 2..3600 (default 15): how long a\n"
	"                          dead controller holds the lock\n"
	"  --state-prefix PREFIX   etcdcrypt's own etcd prefix (default " NODE_DEFAULT_PREFIX ")\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins\n"
	KMSFLAGS_HELP
	"  --page-size N           keys per etcd page (default 5000)\n"
	"  --max-rate N            at most N puts per second (pace a live cluster)\n"
	"  --quota-bytes N         etcd's --quota-backend-bytes (K/M/G suffixes) for the quota\n"
	"                          guard, as in rewrite (default: 2 GiB, etcd's default)\n"
	"  --metrics-file PATH     keep Prometheus metrics in PATH (agreement, rewrites, the\n"
	"                          published rewrite), replaced atomically (docs/metrics.md)\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nSIGINT/SIGTERM stop it within about a second in every state, etcd down included:\n"
	"a rewrite ends cleanly (its record says interrupted) and the lock's lease is\n"
	"revoked, so another controller takes over at once (within the lease TTL when\n"
	"etcd cannot be reached).\n"
	"\nexit status: 0 (--once) etcd is consistent with the agreed key; (without --once)\n"
	"             stopped by SIGINT/SIGTERM; 1 values left unreadable, or --once\n"
	"             interrupted; 2 usage or config error; 3 a gate refused (alarm,\n"
	"             quota) or a runtime failure\n";

static const char RESTART_HELP[] =
	"usage: etcdcrypt restart [--timeout SECONDS] [--state-prefix PREFIX] [etcd flags]\n\n"
	"CSM's 'encryption.sh --restart': asks the running controllers for a rewrite of\n"
	"every secret (even when status is consistent), follows its progress and exits\n"
	"when it finished. Needs a controller running on at least one node.\n\n"
	"options:\n"
	"  --timeout SECONDS       give up waiting after this long (default 3600)\n"
	"  --state-prefix PREFIX   etcdcrypt's own etcd prefix (default " NODE_DEFAULT_PREFIX ")\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 the rewrite finished; 1 it failed or left unreadable values, or\n"
	"             interrupted (SIGINT/SIGTERM: the controllers go on with the\n"
	"             request); 2 usage error; 3 etcd unreachable or the timeout passed\n";

struct ctl_cmd {
	const char *verb;
	struct etcdflags ef;
	char node[NODE_NAME_MAX + 1];
	const char *dir, *state_prefix, *prefix, *keyring_path;
	struct kmsflags kf;
	char *expect[NODECMD_MAX_EXPECT];
	int n_expect, once;
	long lock_ttl, timeout, max_rate;
	int64_t page_size;
	int64_t quota;  /* --quota-bytes, else RW_DEFAULT_QUOTA */
	int quota_given;
	const char *metrics_path; /* --metrics-file, and what it shows: */
	int agreed;
	uint64_t rewrites, failures;
	struct node_rwrec last;
	int have_last;
};

static int parse_long(const char *verb, const char *opt, const char *arg, long lo, long hi, long *out)
{
	if (num_parse_long(out, arg, lo, hi) < 0)
		return cmd_usage_error(verb, "%s: '%s' is not a number from %ld to %ld", opt, arg, lo, hi);
	return 0;
}

static int parse_opt(struct ctl_cmd *c, int opt, const char *arg, char **argv)
{
	long v;
	int rc;

	switch (opt) {
	case OPT_NODE:
		snprintf(c->node, sizeof(c->node), "%s", arg);
		return node_name_valid(arg) ? 0 : cmd_usage_error(c->verb, "--node '%s' is not a node name", arg);
	case OPT_DIR: c->dir = arg; return 0;
	case OPT_ONCE: c->once = 1; return 0;
	case OPT_EXPECT:
		return (c->n_expect = nodecmd_expect_list(c->expect, NODECMD_MAX_EXPECT, c->verb, arg)) < 0 ? EXIT_USAGE : 0;
	case OPT_LOCK_TTL: return parse_long(c->verb, "--lock-ttl", arg, 2, 3600, &c->lock_ttl);
	case OPT_RATE: return parse_long(c->verb, "--max-rate", arg, 1, 10000000, &c->max_rate);
	case OPT_TIMEOUT: return parse_long(c->verb, "--timeout", arg, 1, 86400 * 7, &c->timeout);
	case OPT_STATE_PREFIX: c->state_prefix = arg; return 0;
	case OPT_PREFIX: c->prefix = arg; return 0;
	case OPT_KEYRING: c->keyring_path = arg; return 0;
	case OPT_KMS_ENDPOINT:
		return kmsflags_add(&c->kf, arg) < 0 ? cmd_usage_error(c->verb, "%s", err_msg()) : 0;
	case OPT_METRICS: c->metrics_path = arg; return 0;
	case OPT_QUOTA:
		c->quota_given = 1;
		return cmd_quota_bytes(&c->quota, c->verb, arg);
	case OPT_PAGE:
		if ((rc = parse_long(c->verb, "--page-size", arg, 1, 100000, &v)) != 0)
			return rc;
		c->page_size = v;
		return 0;
	case 'h': fputs(strcmp(c->verb, "restart") == 0 ? RESTART_HELP : CONTROLLER_HELP, stdout); return CMD_HELP_SHOWN;
	case ':': return cmd_usage_error(c->verb, "option '%s' needs a value", argv[optind - 1]);
	default: return cmd_usage_error(c->verb, "unknown option '%s'", argv[optind - 1]);
	}
}

static int parse_one(void *arg, int opt, const char *optarg, char **argv)
{
	return parse_opt(arg, opt, optarg, argv);
}

static int parse_args(struct ctl_cmd *c, int argc, char **argv, const struct option *opts)
{
	int rc = nodecmd_getopt(c->verb, &c->ef, argc, argv, opts, parse_one, c, NULL);

	return rc != 0 ? rc : nodecmd_check(c->verb, c->node, c->state_prefix);
}

static void release(struct ctl_cmd *c)
{
	for (int i = 0; i < c->n_expect; i++)
		free(c->expect[i]);
	etcdflags_release(&c->ef);
}

/* Controller log lines: time, node, what happened (stdout, line-buffered). */
static void ctl_log(void *arg, const char *fmt, ...)
{
	const struct ctl_cmd *c = arg;
	char when[32];
	va_list ap;

	node_time_str(when, (int64_t)time(NULL));
	printf("%s %s: ", when, c->node);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* --metrics-file: rewritten at every event; a write error is logged, the
 * controller goes on. */
static void ctl_state(void *arg, enum node_ctl_event ev, int agreed, const struct node_rwrec *rw)
{
	struct ctl_cmd *c = arg;

	if (ev == NODE_CTL_LOOKED)
		c->agreed = agreed;
	c->rewrites += ev == NODE_CTL_REWRITE_DONE;
	c->failures += ev == NODE_CTL_REWRITE_FAILED;
	if (rw) {
		c->last = *rw;
		c->have_last = 1;
	}
	if (metrics_controller(c->metrics_path, c->node, c->agreed, c->rewrites, c->failures,
			       c->have_last ? &c->last : NULL) < 0)
		ctl_log(c, "cannot write metrics: %s", err_msg());
}

int cmd_controller(int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "node", required_argument, NULL, OPT_NODE },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "expect-nodes", required_argument, NULL, OPT_EXPECT },
		{ "lock-ttl", required_argument, NULL, OPT_LOCK_TTL },
		{ "state-prefix", required_argument, NULL, OPT_STATE_PREFIX },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "page-size", required_argument, NULL, OPT_PAGE },
		{ "max-rate", required_argument, NULL, OPT_RATE },
		{ "metrics-file", required_argument, NULL, OPT_METRICS },
		{ "quota-bytes", required_argument, NULL, OPT_QUOTA },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_cmd c = { .verb = "controller", .dir = NODE_DEFAULT_DIR, .state_prefix = NODE_DEFAULT_PREFIX,
			     .quota = RW_DEFAULT_QUOTA,
			     .lock_ttl = NODE_LOCK_DEFAULT_TTL };
	struct kms_ring *ring = NULL;
	struct etcd_opts eo;
	struct node_ctl_opts o;
	int rc, status;

	if ((status = parse_args(&c, argc, argv, opts)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	if ((rc = kmsflags_open(&c.kf, &ring, c.keyring_path, c.ef.debug)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	etcdflags_opts(&c.ef, &eo);
	o = (struct node_ctl_opts){ .eo = &eo, .prefix = c.state_prefix, .node = c.node, .dir = c.dir,
				    .expect = c.expect, .n_expect = (size_t)c.n_expect, .once = c.once,
				    .lock_ttl = (int)c.lock_ttl, .etcd_prefix = c.prefix, .page_size = c.page_size,
				    .quota = c.quota, .quota_given = c.quota_given, .max_rate = (double)c.max_rate, .ring = ring, .version = ETCDCRYPT_VERSION,
				    .stop = &cmd_stop, .log = ctl_log, .arg = &c,
				    .on_state = c.metrics_path ? ctl_state : NULL };
	/* SIGINT/SIGTERM set cmd_stop (main.c; etcdflags_opts made this
	 * command cooperative): the etcd client stops within half a second
	 * wherever it is, a rewrite ends cleanly, its record and the lock's
	 * lease get one cleanup step of at most 0.5 s, and main's 2 s
	 * fallback ends whatever is still running (exit 1). Without --once
	 * a signal is how the service is stopped: exit 0 (docs/exit-codes.md) */
	rc = node_ctl_run(&o);
	if (rc == ERR_INTERRUPTED && !c.once)
		status = (fprintf(stderr, "etcdcrypt controller: stopped\n"), EXIT_OK);
	else if (rc == ERR_INTERRUPTED)
		status = (fprintf(stderr, "etcdcrypt controller: interrupted\n"), EXIT_FINDINGS);
	else if (rc == ERR_DECRYPT)
		status = (fprintf(stderr, "etcdcrypt controller: %s\n", err_msg()), EXIT_FINDINGS);
	else if (rc == ERR_REFUSED)
		status = (fprintf(stderr, "etcdcrypt controller: refusing to rewrite: %s\n", err_msg()), EXIT_RUNTIME);
	else
		status = rc < 0 ? cmd_fail(rc) : EXIT_OK;
out:
	kmsring_free(ring);
	kmsflags_release(&c.kf);
	release(&c);
	return status;
}

/* ---- restart ----------------------------------------------------------------------- */

/* Another restart wrote <P>request after ours: the controllers may never
 * see our id, but the rewrite that serves the newer one starts after it, so
 * it covers ours too: follow that one. */
static int superseded(struct ctl_cmd *c, struct etcd_client *cl, char id[64])
{
	struct node_request cur;
	int rc = node_request_get(cl, c->state_prefix, &cur);

	if (rc < 0 || strcmp(cur.id, id) == 0)
		return rc == ERR_NOTFOUND ? 0 : rc;
	printf("%s: superseded by request %s (a rewrite for it covers this one too); following it\n", id, cur.id);
	snprintf(id, 64, "%s", cur.id);
	return 0;
}

static int follow(struct ctl_cmd *c, struct etcd_client *cl, char id[64])
{
	struct node_rwrec r;
	time_t until = time(NULL) + c->timeout;
	uint64_t shown = (uint64_t)-1;
	int rc;

	while (!cmd_stop) {
		int have, mine;

		rc = node_rwrec_get(cl, c->state_prefix, &r);
		if (rc == ERR_INTERRUPTED)
			break;
		if (rc < 0 && rc != ERR_NOTFOUND)
			return cmd_fail(rc);
		have = rc == 0;
		mine = have && strcmp(r.request, id) == 0;
		if (!mine) {
			if ((rc = superseded(c, cl, id)) == ERR_INTERRUPTED)
				break;
			if (rc < 0)
				return cmd_fail(rc);
			mine = have && strcmp(r.request, id) == 0; /* id may be the newer one now */
		}
		if (mine) {
			if (r.scanned != shown)
				printf("%s: %s on %s: %llu/%llu scanned, %llu rewritten\n", id, node_rw_state_name(r.state),
				       r.node, (unsigned long long)r.scanned, (unsigned long long)r.total,
				       (unsigned long long)r.rewritten);
			fflush(stdout);
			shown = r.scanned;
			if (r.state == NODE_RW_DONE) {
				printf("rewrite done by %s: revisions %lld..%lld, %llu rewritten, %llu unreadable\n", r.node,
				       (long long)r.revision_start, (long long)r.revision_end,
				       (unsigned long long)r.rewritten, (unsigned long long)r.unreadable);
				return r.unreadable ? EXIT_FINDINGS : EXIT_OK;
			}
			if (r.state == NODE_RW_FAILED) {
				fprintf(stderr, "etcdcrypt restart: the rewrite on %s failed: %s\n", r.node, r.error);
				return EXIT_FINDINGS;
			}
		}
		if (time(NULL) >= until) {
			fprintf(stderr, "etcdcrypt restart: no controller finished the rewrite within %ld s "
					"(is 'etcdcrypt controller' running on the nodes, and do they agree?)\n", c->timeout);
			return EXIT_RUNTIME;
		}
		if (etcd_sleep(cl, 250) < 0)
			break;
	}
	fprintf(stderr, "etcdcrypt restart: interrupted; the controllers go on with the request\n");
	return EXIT_FINDINGS;
}

int cmd_restart(int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "state-prefix", required_argument, NULL, OPT_STATE_PREFIX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_cmd c = { .verb = "restart", .state_prefix = NODE_DEFAULT_PREFIX, .timeout = 3600 };
	struct etcd_client *cl = NULL;
	struct etcd_opts eo;
	char id[64];
	int rc, status;

	if ((status = parse_args(&c, argc, argv, opts)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	snprintf(id, sizeof(id), "%lld-%s-%ld", (long long)time(NULL), c.node, (long)getpid());
	etcdflags_opts(&c.ef, &eo);
	if ((rc = etcd_open(&cl, &eo)) < 0 || (rc = node_request_put(cl, c.state_prefix, id, c.node)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	printf("requested a rewrite of every secret: %srequest = %s\n", c.state_prefix, id);
	fflush(stdout); /* a log or a pipe sees it before the rewrite ends */
	status = follow(&c, cl, id);
out:
	etcd_close(cl);
	release(&c);
	return status;
}
