/* cmd_config_check: `config check PROPOSED`: before a config is installed
 * on a node, decrypt every value now in etcd with it (kube-apiserver's read
 * rules) and refuse, listing the keys and key names concerned, when any
 * value would become unreadable. CSM's status compares names only; this
 * proves it. Also warns when PROPOSED writes with another key than the
 * --node-config files (the nodes would disagree on the goal).
 *
 * --backup SNAPSHOT does the same for the newest live values in an etcd
 * snapshot file (audit/backup.h over core/snapshot.h): a backup that could
 * not be restored readable under PROPOSED refuses it too. */
#include "audit/backup.h"
#include "cmd.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "base/esc.h"
#include "etcdflags.h"
#include "kmsflags.h"
#include "xform/kmsring.h"
#include "progress.h"
#include "xform/envelope.h"
#include "scan/scan.h"
#include "bolt/snapshot.h"
#include "status/cfgcheck.h"
#include "status/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_NODE_CONFIG = CMD_OPT_FIRST, OPT_KEYRING, OPT_BACKUP, OPT_PREFIX, OPT_PAGE, OPT_ALLOW_EMPTY };


static const char CHECK_HELP[] =
	"usage: etcdcrypt config check PROPOSED [--node-config FILE ...] [--kms-keyring FILE]\n"
	"                              [--backup SNAPSHOT ...] [etcd flags]\n\n"
	"Proves, by decrypting every value now in etcd at one revision with kube-apiserver's\n"
	"read rules, that nothing becomes unreadable when PROPOSED is installed. Refuses\n"
	"(exit 1) listing each provider/key name concerned, why, and the etcd keys, when\n"
	"any value could not be read: e.g. disabling encryption fully before a rewrite\n"
	"has moved every secret back to identity. Scans the resources PROPOSED and the\n"
	"--node-config files name (secrets for CSM configs).\n\n"
	"options:\n"
	"  --node-config FILE      a config the nodes run now (repeatable): its resources\n"
	"                          are scanned too, and a warning is printed when\n"
	"                          PROPOSED writes with another key than it does\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins\n"
	KMSFLAGS_HELP
	"  --backup SNAPSHOT       also decrypt every live value of an etcd snapshot file\n"
	"                          (etcdctl snapshot save) under PROPOSED (repeatable)\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --page-size N           keys per etcd page (default 5000)\n"
	"  --allow-empty           a resource (or --all prefix) with no key at all in etcd is\n"
	"                          fine (default: refused, e.g. a mistyped --etcd-prefix proves\n"
	"                          nothing)\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 every value readable under PROPOSED (warnings may be printed);\n"
	"             1 refused: some value would be unreadable, or a scanned prefix held no\n"
	"             key (without --allow-empty); 2 usage or config error;\n"
	"             3 etcd unreachable or other runtime failure\n";

struct check {
	struct etcdflags ef;
	const char *proposed_path, *keyring_path, *prefix;
	const char *node_paths[CMD_MAX_NODES];
	size_t n_nodes;
	const char *backups[CMD_MAX_BACKUPS];
	size_t n_backups;
	uint64_t backup_bad;
	int64_t page_size;
	int allow_empty;
	struct encconf *proposed;
	struct encconf *nodes[CMD_MAX_NODES];
	struct kms_ring *ring;
	struct kmsflags kf;
	struct cfgcheck_result res; /* etcd under PROPOSED */
	struct progress prog;
};

static int parse_opt(struct check *k, int opt, const char *arg, char **argv)
{

	switch (opt) {
	case OPT_NODE_CONFIG:
		if (k->n_nodes >= CMD_MAX_NODES)
			return cmd_usage_error("config check", "more than %d --node-config files", CMD_MAX_NODES);
		k->node_paths[k->n_nodes++] = arg;
		return 0;
	case OPT_KEYRING: k->keyring_path = arg; return 0;
	case OPT_KMS_ENDPOINT:
		return kmsflags_add(&k->kf, arg) < 0 ? cmd_usage_error("config check", "%s", err_msg()) : 0;
	case OPT_BACKUP:
		if (k->n_backups >= CMD_MAX_BACKUPS)
			return cmd_usage_error("config check", "more than %d --backup files", CMD_MAX_BACKUPS);
		k->backups[k->n_backups++] = arg;
		return 0;
	case OPT_PREFIX: k->prefix = arg; return 0;
	case OPT_ALLOW_EMPTY: k->allow_empty = 1; return 0;
	case OPT_PAGE:
		return cmd_page_size(&k->page_size, "config check", arg);
	case 'h': fputs(CHECK_HELP, stdout); return CMD_HELP_SHOWN;
	case ':': return cmd_usage_error("config check", "option '%s' needs a value", argv[optind - 1]);
	default: return cmd_usage_error("config check", "unknown option '%s'", argv[optind - 1]);
	}
}

static int parse_args(struct check *k, int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "node-config", required_argument, NULL, OPT_NODE_CONFIG },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "backup", required_argument, NULL, OPT_BACKUP },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "page-size", required_argument, NULL, OPT_PAGE },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;

	if ((rc = etcdflags_init(&k->ef)) < 0)
		return cmd_fail(rc);
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if ((rc = etcdflags_handle(&k->ef, opt, optarg)) < 0)
			return cmd_usage_error("config check", "%s", err_msg());
		if (rc == 1)
			continue;
		if ((rc = parse_opt(k, opt, optarg, argv)) != 0)
			return rc;
	}
	if (optind == argc)
		return cmd_usage_error("config check", "give the PROPOSED config file");
	k->proposed_path = argv[optind++];
	if (optind != argc)
		return cmd_usage_error("config check", "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Warns when a node config's write name differs from PROPOSED's. */
static int warn_write_keys(struct check *k)
{
	struct status_name *pv = NULL, *nv = NULL;
	size_t pn = 0, nn = 0;
	int rc;

	if ((rc = status_conf_names(&pv, &pn, k->proposed)) < 0)
		return rc;
	for (size_t i = 0; i < k->n_nodes && rc == 0; i++) {
		if ((rc = status_conf_names(&nv, &nn, k->nodes[i])) < 0)
			break;
		if (pv[0].kind != nv[0].kind || strcmp(pv[0].name, nv[0].name) != 0)
			fprintf(stderr,
				"etcdcrypt config check: warning: %s writes with %s but node config %s writes with %s; "
				"the nodes disagree on the goal until every node has the same write key\n",
				k->proposed_path, pv[0].name, k->node_paths[i], nv[0].name);
		status_names_free(nv, nn);
		nv = NULL;
	}
	status_names_free(pv, pn);
	return rc;
}

static int load(struct check *k)
{
	int rc;

	if ((rc = encconf_load(&k->proposed, k->proposed_path)) < 0 ||
	    (rc = kmsflags_open(&k->kf, &k->ring, k->keyring_path, k->ef.debug)) < 0)
		return rc;
	for (size_t i = 0; i < k->n_nodes; i++)
		if ((rc = encconf_load(&k->nodes[i], k->node_paths[i])) < 0)
			return rc;
	return warn_write_keys(k);
}

static void on_progress(void *arg, uint64_t values, int64_t revision)
{
	struct check *k = arg;

	progress_update(&k->prog, "config check: %llu values at revision %lld", (unsigned long long)values,
			(long long)revision);
}

/* The groups of unreadable values: provider, key name, why, etcd keys. */
static void print_groups(const struct status_bad *b)
{
	for (size_t i = 0; i < b->n_groups; i++) {
		const struct status_bad_group *g = &b->groups[i];

		char name[ENV_NAME_MAX + 8], detail[1100];

		cmd_name_cell(name, sizeof(name), g->key_name, 0);
		esc_term_buf(detail, sizeof(detail), (const uint8_t *)g->detail, strlen(g->detail));
		printf("  %s key '%s': %llu values (%s%s%s)\n", env_kind_name(g->kind), name,
		       (unsigned long long)g->count, xf_reason_name(g->reason), g->detail[0] ? ": " : "", g->detail[0] ? detail : "");
		for (size_t j = 0; j < g->n_examples; j++) {
			char *k = esc_term((const uint8_t *)g->examples[j], g->example_len[j]);

			printf("    %s\n", k ? k : "?");
			free(k);
		}
		if (g->count > g->n_examples)
			printf("    ... and %llu more\n", (unsigned long long)(g->count - g->n_examples));
	}
	if (b->ungrouped)
		printf("  %llu more values in further groups\n", (unsigned long long)b->ungrouped);
}

static void check_opts(struct check *k, struct cfgcheck_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->proposed = k->proposed;
	o->others = (const struct encconf *const *)k->nodes;
	o->n_others = k->n_nodes;
	o->ring = k->ring;
	o->etcd_prefix = k->prefix;
	o->page_size = k->page_size;
	o->progress = on_progress;
	o->arg = k;
}

static void print_etcd(const struct check *k, int64_t revision)
{
	struct status_name *v = NULL;
	size_t n = 0;

	if (status_conf_names(&v, &n, k->proposed) == 0) {
		printf("proposed: %s:", k->proposed_path);
		for (size_t i = 0; i < n; i++)
			printf(" %s", v[i].name);
		printf("\n");
		status_names_free(v, n);
	}
	printf("etcd: %llu values at revision %lld: %llu readable, %llu under the write key, %llu unreadable\n",
	       (unsigned long long)k->res.total, (long long)revision,
	       (unsigned long long)(k->res.total - k->res.bad.total), (unsigned long long)k->res.current,
	       (unsigned long long)k->res.bad.total);
	print_groups(&k->res.bad);
}

/* A prefix with no key proved nothing: no "safe" unless --allow-empty. */
static int empty_refused(const struct check *k)
{
	return k->res.empty.n > 0 && !k->allow_empty;
}

static void print_verdict(const struct check *k)
{
	if (k->res.bad.total == 0 && k->backup_bad == 0 && empty_refused(k)) {
		printf("verdict: REFUSED: %zu scanned prefix%s held no key in etcd: nothing was proven there\n",
		       k->res.empty.n, k->res.empty.n == 1 ? "" : "es");
		return;
	}
	if (k->res.bad.total == 0 && k->backup_bad == 0) {
		printf("verdict: safe: every value in etcd%s is readable under %s\n",
		       k->n_backups ? " and in the backups" : "", k->proposed_path);
		return;
	}
	printf("verdict: REFUSED: %llu values in etcd", (unsigned long long)k->res.bad.total);
	if (k->n_backups)
		printf(" and %llu in the backups", (unsigned long long)k->backup_bad);
	printf(" could not be read under %s\n", k->proposed_path);
	printf("Keep the keys these values need in %s (or rewrite them first).\n", k->proposed_path);
}

/* ---- backups ------------------------------------------------------------------ */

struct bk_count {
	struct status_bad bad;
	uint64_t total;
};

static int on_backup_value(void *arg, const struct snap_kv *kv, const struct res_id *resource,
			   const struct xf_result *results, size_t n)
{
	struct bk_count *c = arg;
	struct etcd_kv ekv = { .key = kv->key, .key_len = kv->key_len, .value = kv->value,
			       .value_len = kv->value_len, .mod_revision = kv->mod_revision };

	(void)resource;
	c->total++;
	if (n == 0 || results[0].ok)
		return 0;
	return status_bad_add(&c->bad, &ekv, &results[0]);
}

static const char *trailer_state(const struct snap_info *si)
{
	if (!si->has_trailer)
		return "no SHA-256 trailer";
	return si->trailer_matches ? "SHA-256 trailer ok" : "SHA-256 trailer MISMATCH";
}

/* Opens, checks and indexes one snapshot, then reads every live value of
 * the targets under PROPOSED. */
static int check_backup(struct check *k, const char *path, const struct res_id *res, size_t n, int all)
{
	struct backup_opts bo = { .confs = { k->proposed }, .conf_paths = { k->proposed_path }, .n_confs = 1,
				  .ring = k->ring, .etcd_prefix = k->prefix, .resources = res,
				  .n_resources = n, .all = all };
	struct snap *s = NULL;
	struct backup *bk = NULL;
	struct bk_count c = { 0 };
	const struct snap_info *si;
	int rc;

	progress_update(&k->prog, "config check: reading %s", path);
	if ((rc = snap_open(&s, path)) < 0) {
		/* open/map messages name the file already, format ones do not */
		if (rc == ERR_CORRUPT)
			rc = err_wrap(rc, "backup '%s'", path);
		goto out;
	}
	if ((rc = snap_check_trailer(s, NULL, NULL)) < 0 || (rc = snap_index(s, NULL, NULL)) < 0 ||
	    (rc = backup_new(&bk, s, &bo)) < 0 || (rc = backup_run(bk, on_backup_value, NULL, &c)) < 0) {
		rc = err_wrap(rc, "backup '%s'", path);
		goto out;
	}
	progress_done(&k->prog);
	si = snap_get_info(s);
	printf("backup %s: %llu values at revision %lld (%s): %llu readable, %llu unreadable\n", path,
	       (unsigned long long)c.total, (long long)si->revision, trailer_state(si),
	       (unsigned long long)(c.total - c.bad.total), (unsigned long long)c.bad.total);
	print_groups(&c.bad);
	if (si->has_trailer && !si->trailer_matches)
		fprintf(stderr, "etcdcrypt config check: warning: backup '%s' does not match its SHA-256 trailer; "
				"etcd will refuse to restore it\n", path);
	k->backup_bad += c.bad.total;
out:
	status_bad_release(&c.bad);
	backup_free(bk);
	snap_free(s);
	return rc;
}

static int check_backups(struct check *k)
{
	struct res_id *res = NULL;
	struct cfgcheck_opts o;
	size_t n = 0;
	int all = 0, rc;

	check_opts(k, &o);
	rc = cfgcheck_targets(&res, &n, &all, &o);
	for (size_t i = 0; i < k->n_backups && rc == 0; i++)
		rc = check_backup(k, k->backups[i], res, n, all);
	free(res);
	return rc;
}

int cmd_config_check(int argc, char **argv)
{
	struct check k = { 0 };
	struct etcd_client *cl = NULL;
	struct etcd_opts eo;
	struct cfgcheck_opts co;
	int rc, status;

	progress_init(&k.prog);
	if ((status = parse_args(&k, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	if ((rc = load(&k)) < 0)
		goto fail;
	etcdflags_opts(&k.ef, &eo);
	check_opts(&k, &co);
	if ((rc = etcd_open(&cl, &eo)) < 0 || (rc = cfgcheck_run(&k.res, cl, &co)) < 0)
		goto fail;
	progress_done(&k.prog);
	print_etcd(&k, k.res.revision);
	if ((rc = check_backups(&k)) < 0)
		goto fail;
	cmd_empty_status("config check", &k.res.empty, k.allow_empty);
	print_verdict(&k);
	status = k.res.bad.total > 0 || k.backup_bad > 0 || empty_refused(&k) ? EXIT_FINDINGS : EXIT_OK;
	goto out;
fail:
	progress_done(&k.prog);
	status = cmd_fail(rc);
out:
	etcd_close(cl);
	cfgcheck_release(&k.res);
	for (size_t i = 0; i < k.n_nodes; i++)
		encconf_free(k.nodes[i]);
	encconf_free(k.proposed);
	kmsring_free(k.ring);
	kmsflags_release(&k.kf);
	etcdflags_release(&k.ef);
	return status;
}
