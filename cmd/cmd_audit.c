/* cmd_audit: classify and prove every stored value, live from etcd, at one
 * revision; optionally count the retained history (from a snapshot). Output: a table for
 * people or JSON (docs/audit-json.md) for scripts; both from one report. */
#include "cmd.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "base/esc.h"
#include "etcdflags.h"
#include "audit/history.h"
#include "kmsflags.h"
#include "xform/kmsring.h"
#include "progress.h"
#include "report_print.h"
#include "scan/scan.h"
#include "audit/tally.h"
#include "metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_CONFIG = CMD_OPT_FIRST, OPT_KEYRING, OPT_RESOURCES, OPT_ALL, OPT_HISTORY, OPT_LIST_KEYS,
       OPT_PREFIX, OPT_PAGE, OPT_METRICS, OPT_ALLOW_EMPTY };

static const char AUDIT_HELP[] =
	"usage: etcdcrypt audit [--config FILE] [--resources LIST | --all] [--history]\n"
	"                       [-o table|json] [--list-keys] [etcd flags]\n\n"
	"Scans every stored value of the resources at one etcd revision and counts them\n"
	"by resource, provider and key name. With --config every value is decrypted with\n"
	"kube-apiserver's read rules and checked to be a real object: readable, stale\n"
	"(not under the write key: a rewrite would change it) or unreadable, with why.\n\n"
	"options:\n"
	"  --config FILE           EncryptionConfiguration to prove values against\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins (docs/kms-keyring.md)\n"
	KMSFLAGS_HELP
	"  --resources LIST        comma-separated resources (default: those the config names,\n"
	"                          else secrets), e.g. secrets,configmaps,deployments.apps\n"
	"  --all                   every key under the etcd prefix, grouped by resource\n"
	"                          (also implied by a wildcard such as *.* in the config)\n"
	"  --history               also count the revisions etcd retains that still hold\n"
	"                          plaintext or retired keys, read from a snapshot etcd\n"
	"                          streams into $TMPDIR (needs the db size free there, and\n"
	"                          the root user on etcd with auth; docs/history.md)\n"
	"  --list-keys             one row per value\n"
	"  --allow-empty           a resource (or --all prefix) with no key at all is fine\n"
	"                          (default: it is named on stderr and the exit status is 1)\n"
	"  --metrics-file PATH     also write the counts as Prometheus metrics to PATH, replaced\n"
	"                          atomically (node_exporter's textfile collector; docs/metrics.md)\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --page-size N           keys per etcd page (default 5000)\n"
	"  -o, --output FORMAT     table (default) or json\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 every value readable (or no --config); 1 some value unreadable,\n"
	"             or no key at all under a scanned prefix (without --allow-empty);\n"
	"             2 usage or config error; 3 etcd unreachable or other runtime failure\n";

struct audit {
	struct etcdflags ef;
	const char *config_path, *keyring_path, *resources_arg, *prefix, *metrics_path;
	int all, history, list_keys, json, allow_empty;
	int64_t page_size;
	struct encconf *conf;
	struct kms_ring *ring;
	struct kmsflags kf;
	struct tally tally;
	struct progress prog;
	uint64_t listed;
};

static int parse_args(struct audit *a, int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "resources", required_argument, NULL, OPT_RESOURCES },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "history", no_argument, NULL, OPT_HISTORY },
		{ "list-keys", no_argument, NULL, OPT_LIST_KEYS },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "page-size", required_argument, NULL, OPT_PAGE },
		{ "metrics-file", required_argument, NULL, OPT_METRICS },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	if ((rc = etcdflags_init(&a->ef)) < 0)
		return cmd_fail(rc);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		if ((rc = etcdflags_handle(&a->ef, c, optarg)) < 0)
			return cmd_usage_error("audit", "%s", err_msg());
		if (rc == 1)
			continue;
		switch (c) {
		case OPT_CONFIG: a->config_path = optarg; break;
		case OPT_KEYRING: a->keyring_path = optarg; break;
		case OPT_KMS_ENDPOINT:
			if (kmsflags_add(&a->kf, optarg) < 0)
				return cmd_usage_error("audit", "%s", err_msg());
			break;
		case OPT_RESOURCES: a->resources_arg = optarg; break;
		case OPT_ALL: a->all = 1; break;
		case OPT_HISTORY: a->history = 1; break;
		case OPT_LIST_KEYS: a->list_keys = 1; break;
		case OPT_PREFIX: a->prefix = optarg; break;
		case OPT_METRICS: a->metrics_path = optarg; break;
		case OPT_ALLOW_EMPTY: a->allow_empty = 1; break;
		case OPT_PAGE:
			if (cmd_page_size(&a->page_size, "audit", optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'o':
			if ((a->json = cmd_output_format(optarg)) < 0)
				return cmd_usage_error("audit", "-o: '%s' is not table or json", optarg);
			break;
		case 'h': fputs(AUDIT_HELP, stdout); return CMD_HELP_SHOWN;
		case ':': return cmd_usage_error("audit", "option '%s' needs a value", argv[optind - 1]);
		default: return cmd_usage_error("audit", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error("audit", "unexpected argument '%s'", argv[optind]);
	if (a->all && a->resources_arg)
		return cmd_usage_error("audit", "--all and --resources exclude each other");
	return 0;
}

/* --resources LIST, else the config's resources, else secrets */
int cmd_resource_list(struct res_id **out, size_t *n, int *all, const char *arg, const struct encconf *conf)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	if (arg == NULL)
		return scan_resources_from_config(out, n, all, conf);
	*out = NULL;
	*n = 0;
	if ((copy = strdup(arg)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		struct res_id *v = realloc(*out, (*n + 1) * sizeof(*v));

		if (v == NULL) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		*out = v;
		if ((rc = res_parse(&v[*n], tok)) == 0)
			(*n)++;
	}
	free(copy);
	if (rc == 0 && *n == 0)
		rc = err_set(ERR_USAGE, "--resources: no resource in '%s'", arg);
	return rc;
}

static void list_key(struct audit *a, const struct scan_item *it)
{
	const struct xf_result *r = it->res;
	const char *status = a->conf == NULL ? "-" : !r->ok ? xf_reason_name(r->reason) : r->stale ? "stale" : "current";

	if (a->json) {
		json_t *o = json_object();

		cmd_json_bytes(o, "etcd_key", it->kv->key, it->kv->key_len);
		json_object_set_new(o, "provider", json_string(env_kind_name(r->kind)));
		json_object_set_new(o, "key_name", cmd_json_text((const uint8_t *)(r->kind == ENV_IDENTITY ? "" : r->key_name),
								 r->kind == ENV_IDENTITY ? 0 : strlen(r->key_name)));
		json_object_set_new(o, "key_name_guessed", json_boolean(r->kind != ENV_IDENTITY && r->key_name_guessed));
		json_object_set_new(o, "status", json_string(status));
		json_object_set_new(o, "mod_revision", json_integer(it->kv->mod_revision));
		/* JSON Lines: one value per line, the report last */
		json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		char *k = esc_term(it->kv->key, it->kv->key_len), name[ENV_NAME_MAX + 8];

		cmd_name_cell(name, sizeof(name), r->kind == ENV_IDENTITY ? "" : r->key_name,
			      a->conf != NULL && r->kind != ENV_IDENTITY && r->key_name_guessed);
		printf("%-64s %-10s %-20s %s\n", k != NULL ? k : "?", env_kind_name(r->kind), name, status);
		free(k);
	}
	a->listed++;
}

static int on_value(void *arg, const struct scan_item *it)
{
	struct audit *a = arg;
	struct tally_res *tr;
	const struct xf_result *r = it->res;
	int rc;

	if ((rc = tally_resource(&a->tally, &tr, it->resource, it->prefix)) < 0 ||
	    (rc = tally_add(&a->tally, tr, it->kv->key, it->kv->key_len, it->kv->mod_revision, it->kv->value,
			    it->kv->value_len, r)) < 0)
		return rc;
	if (a->list_keys)
		list_key(a, it);
	return rc;
}

static void on_progress(void *arg, uint64_t values, int64_t revision)
{
	struct audit *a = arg;
	double t = progress_elapsed(&a->prog);

	progress_update(&a->prog, "audit: %llu values at revision %lld (%.0f/s)", (unsigned long long)values,
			(long long)revision, t > 0 ? (double)values / t : 0.0);
}

static struct xf *xf_for_key(void *arg, const uint8_t *key, size_t key_len)
{
	return scan_xf_for_key(arg, key, key_len);
}

static void on_history_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct audit *a = arg;

	if (total > 0)
		progress_update(&a->prog, "audit: history: %s the snapshot, %.0f of %.0f MiB", phase,
				(double)done / 1048576.0, (double)total / 1048576.0);
	else
		progress_update(&a->prog, "audit: history: %s the snapshot, %llu entries", phase,
				(unsigned long long)done);
}

/* The history of the scanned prefixes, from a snapshot (audit/history.h). */
static int count_history(struct audit *a, struct scan *s, struct etcd_client *cl, struct history_result *hr)
{
	size_t n = a->all ? 1 : scan_n_targets(s);
	const char **prefixes = calloc(n ? n : 1, sizeof(*prefixes));
	char all[512];
	struct history_live o = { .xf_for = a->conf ? xf_for_key : NULL, .xf_arg = s,
				  .progress = on_history_progress, .progress_arg = a, .stop = &cmd_stop };
	int rc = 0;

	if (prefixes == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if (a->all && (rc = res_all_prefix(all, sizeof(all), a->prefix)) == 0)
		prefixes[0] = all;
	for (size_t i = 0; !a->all && i < n; i++)
		prefixes[i] = scan_target_prefix(s, i);
	o.prefixes = prefixes;
	o.n_prefixes = n;
	/* SIGINT/SIGTERM: the stream stops within its poll interval (the
	 * temporary snapshot file is unnamed: nothing is left behind) */
	if (rc == 0)
		rc = history_from_etcd(hr, cl, &o);
	free(prefixes);
	return rc;
}

/* Forgets what a compacted scan counted. */
static int reset_counts(void *arg)
{
	struct audit *a = arg;

	tally_release(&a->tally);
	tally_init(&a->tally, a->conf != NULL);
	return 0;
}

/* One scan; restarts once if its revision is compacted under it. */
static int run_scan(struct audit *a, struct etcd_client *cl, struct scan **sp, int *restarted)
{
	struct res_id *res = NULL;
	size_t n = 0;
	int all = a->all, rc;
	struct scan_opts so = { .conf = a->conf, .ring = a->ring, .etcd_prefix = a->prefix, .page_size = a->page_size };
	struct cmd_scan_cb cb = { .value = on_value, .progress = on_progress, .arg = a };

	if (!all && (rc = cmd_resource_list(&res, &n, &all, a->resources_arg, a->conf)) < 0) {
		free(res);
		return rc;
	}
	so.resources = res;
	so.n_resources = n;
	so.all = all;
	a->all = all;
	/* --list-keys streamed keys already: it cannot take them back */
	cb.reset = a->list_keys ? NULL : reset_counts;
	rc = cmd_scan_restarting(sp, NULL, restarted, cl, &so, &cb);
	free(res);
	return rc;
}

int cmd_audit(int argc, char **argv)
{
	struct audit a = { 0 };
	struct etcd_client *cl = NULL;
	struct scan *s = NULL;
	struct etcd_opts eo;
	struct history_result hr;
	struct report_meta meta = { 0 };
	struct scan_empty empty;
	json_t *rep = NULL;
	int rc = 0, status;
	uint64_t bad = 0;

	progress_init(&a.prog);
	if ((status = parse_args(&a, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	tally_init(&a.tally, a.config_path != NULL);
	if ((a.config_path && (rc = encconf_load(&a.conf, a.config_path)) < 0) ||
	    (rc = kmsflags_open(&a.kf, &a.ring, a.keyring_path, a.ef.debug)) < 0)
		goto fail;
	etcdflags_opts(&a.ef, &eo);
	if ((rc = etcd_open(&cl, &eo)) < 0)
		goto fail;
	if (a.list_keys && !a.json)
		printf("%-64s %-10s %-20s %s\n", "KEY", "PROVIDER", "KEY NAME", "STATUS");
	if ((rc = run_scan(&a, cl, &s, &meta.restarted)) < 0 || (a.history && (rc = count_history(&a, s, cl, &hr)) < 0))
		goto fail;
	progress_done(&a.prog);
	meta.revision = scan_revision(s);
	meta.config = a.config_path;
	meta.endpoint = etcd_endpoint(cl);
	meta.seconds = progress_elapsed(&a.prog);
	scan_empty(s, &empty);
	if (a.json) {
		rep = report_json(&a.tally, &meta, a.history ? &hr : NULL);
		json_object_set_new(rep, "empty_prefixes", cmd_empty_json(&empty));
		json_object_set_new(rep, "kms_plugins", kmsflags_report(&a.kf));
		rp_print_json(rep, a.list_keys);
	} else {
		report_print_table(&a.tally, &meta, a.history ? &hr : NULL);
		kmsflags_print(&a.kf, stdout);
	}
	tally_total(&a.tally, &bad);
	status = bad > 0 ? EXIT_FINDINGS : EXIT_OK;
	if (cmd_empty_status("audit", &empty, a.allow_empty) != EXIT_OK)
		status = EXIT_FINDINGS;
	if (a.metrics_path && (rc = metrics_audit(a.metrics_path, &a.tally, &meta, a.history ? &hr : NULL)) < 0)
		status = cmd_fail(rc);
	goto out;
fail:
	progress_done(&a.prog);
	status = cmd_fail(rc);
	if (a.metrics_path && (rc = metrics_failed(a.metrics_path, "audit")) < 0)
		cmd_fail(rc);
out:
	json_decref(rep);
	scan_free(s);
	etcd_close(cl);
	tally_release(&a.tally);
	kmsring_free(a.ring);
	kmsflags_release(&a.kf);
	encconf_free(a.conf);
	etcdflags_release(&a.ef);
	return status;
}
