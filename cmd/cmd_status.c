/* cmd_status: the CSM `encryption.sh --status` view (docs/status.md): each
 * control-plane node's provider/key names, the goal they agree on, the
 * names on stored secrets at one etcd revision, and whether a rewrite is
 * still needed. Exit 0 only when consistent. Does not change anything. */
#include "cmd.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "etcdflags.h"
#include "xform/kmsring.h"
#include "progress.h"
#include "audit/report.h"
#include "scan/scan.h"
#include "status/status.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { OPT_NODE = OPT_FIRST_CMD_OPTION, OPT_NODES_DIR, OPT_CONFIG, OPT_KEYRING, OPT_NAMES_ONLY, OPT_PREFIX,
       OPT_PAGE };

static const char STATUS_HELP[] =
	"usage: etcdcrypt status --node NAME=CONFIG [--node NAME=CONFIG ...] [--nodes-dir DIR]\n"
	"                        [--config FILE | --names-only] [--kms-keyring FILE]\n"
	"                        [-o table|json] [etcd flags]\n\n"
	"The HPE Cray CSM 'encryption.sh --status' view, straight from etcd. For each\n"
	"control-plane node: the provider/key names its EncryptionConfiguration uses for\n"
	"secrets (a key by its name, 'identity', a KMS plugin by its name); goal: the\n"
	"write key all nodes agree on, else 'unknown' and which node writes what; etcd:\n"
	"every name found on stored secrets at one revision, with counts; current: the\n"
	"one name every stored secret uses, else 'unknown'.\n\n"
	"Every secret is also decrypted: with --config FILE under that config, otherwise\n"
	"under every node's config. A value some config cannot read is listed on an\n"
	"'unreadable' line (config, count, an example key and why) and makes the status\n"
	"inconsistent. --names-only skips decryption and compares names, as CSM does.\n\n"
	"options:\n"
	"  --node NAME=CONFIG      a node and its EncryptionConfiguration (repeatable),\n"
	"                          e.g. ncn-m001=/etc/cray/kubernetes/encryption/current.yaml\n"
	"  --nodes-dir DIR         one config file per node, named after the node\n"
	"                          (a .yaml/.yml/.json suffix is dropped; dot files skipped)\n"
	"  --config FILE           decrypt every secret with this config instead\n"
	"  --names-only            do not decrypt; compare names only\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --page-size N           keys per etcd page (default 5000)\n"
	"  -o, --output FORMAT     table (default) or json\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 consistent: the nodes agree on the goal, every secret is stored\n"
	"             under it and readable; 1 not consistent (nodes differ, a rewrite is\n"
	"             needed, or values are unreadable); 2 usage or config error;\n"
	"             3 etcd unreachable or other runtime failure\n";

struct node_arg {
	char *label;
	char *path;
	struct encconf *conf;
};

struct st_cmd {
	struct etcdflags ef;
	const char *config_path, *keyring_path, *prefix, *nodes_dir;
	int json, names_only;
	int64_t page_size;
	struct node_arg nodes[STATUS_MAX_NODES];
	size_t n_nodes;
	struct encconf *conf;
	struct kms_ring *ring;
	struct status st;
	struct progress prog;
};

static int add_node(struct st_cmd *c, const char *label, size_t label_len, const char *path)
{
	struct node_arg *n;

	if (c->n_nodes >= STATUS_MAX_NODES)
		return cmd_usage_error("status", "more than %d nodes", STATUS_MAX_NODES);
	if (label_len == 0 || path[0] == '\0')
		return cmd_usage_error("status", "--node needs NAME=CONFIG");
	n = &c->nodes[c->n_nodes++];
	n->label = strndup(label, label_len);
	n->path = strdup(path);
	if (n->label == NULL || n->path == NULL)
		return cmd_fail(err_set(ERR_NOMEM, "out of memory"));
	return 0;
}

static int node_arg(struct st_cmd *c, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL)
		return cmd_usage_error("status", "--node '%s': expected NAME=CONFIG", arg);
	return add_node(c, arg, (size_t)(eq - arg), eq + 1);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The node name of a file in --nodes-dir: its name minus a config suffix. */
static size_t label_len(const char *file)
{
	static const char *const sfx[] = { ".yaml", ".yml", ".json" };
	size_t n = strlen(file);

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t l = strlen(sfx[i]);

		if (n > l && strcmp(file + n - l, sfx[i]) == 0)
			return n - l;
	}
	return n;
}

static int nodes_dir(struct st_cmd *c, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *names[STATUS_MAX_NODES + 1], path[4096];
	size_t n = 0;
	int status = 0;

	if (d == NULL)
		return cmd_usage_error("status", "--nodes-dir '%s': cannot open the directory", dir);
	while ((e = readdir(d)) != NULL && n <= STATUS_MAX_NODES)
		if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name)) != NULL)
			n++;
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (status == 0)
			status = add_node(c, names[i], label_len(names[i]), path);
		free(names[i]);
	}
	if (status == 0 && n == 0)
		status = cmd_usage_error("status", "--nodes-dir '%s': no config file in it", dir);
	return status;
}

static int parse_opt(struct st_cmd *c, int opt, const char *arg, char **argv)
{
	char *end;

	switch (opt) {
	case OPT_NODE: return node_arg(c, arg);
	case OPT_NODES_DIR: c->nodes_dir = arg; return 0;
	case OPT_CONFIG: c->config_path = arg; return 0;
	case OPT_KEYRING: c->keyring_path = arg; return 0;
	case OPT_NAMES_ONLY: c->names_only = 1; return 0;
	case OPT_PREFIX: c->prefix = arg; return 0;
	case OPT_PAGE:
		c->page_size = strtoll(arg, &end, 10);
		if (*end || c->page_size < 1 || c->page_size > 100000)
			return cmd_usage_error("status", "--page-size: '%s' is not a number from 1 to 100000", arg);
		return 0;
	case 'o':
		if ((c->json = cmd_output_format(arg)) < 0)
			return cmd_usage_error("status", "-o: '%s' is not table or json", arg);
		return 0;
	case 'h': fputs(STATUS_HELP, stdout); return CMD_HELP_SHOWN;
	case ':': return cmd_usage_error("status", "option '%s' needs a value", argv[optind - 1]);
	default: return cmd_usage_error("status", "unknown option '%s'", argv[optind - 1]);
	}
}

static int parse_args(struct st_cmd *c, int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "node", required_argument, NULL, OPT_NODE },
		{ "nodes-dir", required_argument, NULL, OPT_NODES_DIR },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "names-only", no_argument, NULL, OPT_NAMES_ONLY },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "page-size", required_argument, NULL, OPT_PAGE },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc;

	if ((rc = etcdflags_init(&c->ef)) < 0)
		return cmd_fail(rc);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		if ((rc = etcdflags_handle(&c->ef, opt, optarg)) < 0)
			return cmd_usage_error("status", "%s", err_msg());
		if (rc == 1)
			continue;
		if ((rc = parse_opt(c, opt, optarg, argv)) != 0)
			return rc;
	}
	if (optind != argc)
		return cmd_usage_error("status", "unexpected argument '%s'", argv[optind]);
	if (c->nodes_dir && (rc = nodes_dir(c, c->nodes_dir)) != 0)
		return rc;
	if (c->n_nodes == 0)
		return cmd_usage_error("status", "give the nodes' configs with --node NAME=CONFIG or --nodes-dir DIR");
	if (c->names_only && c->config_path)
		return cmd_usage_error("status", "--names-only and --config exclude each other");
	return 0;
}

/* Loads every node's config (and --config, --kms-keyring) into the status. */
static int load_configs(struct st_cmd *c)
{
	int rc;

	if ((c->config_path && (rc = encconf_load(&c->conf, c->config_path)) < 0) ||
	    (c->keyring_path && (rc = kmsring_load(&c->ring, c->keyring_path)) < 0))
		return rc;
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct node_arg *n = &c->nodes[i];

		if ((rc = encconf_load(&n->conf, n->path)) < 0)
			return err_wrap(rc, "node %s", n->label);
		if ((rc = status_add_node(&c->st, n->label, n->path, n->conf)) < 0)
			return rc;
		if (!c->names_only && !c->conf && (rc = status_add_reader(&c->st, n->label, n->conf, c->ring)) < 0)
			return rc;
	}
	if (c->conf && (rc = status_add_reader(&c->st, c->config_path, c->conf, c->ring)) < 0)
		return rc;
	return 0;
}

static int on_value(void *arg, const struct scan_item *it)
{
	struct st_cmd *c = arg;

	return status_add_value(&c->st, it->kv, it->res);
}

static void on_progress(void *arg, uint64_t values, int64_t revision)
{
	struct st_cmd *c = arg;

	progress_update(&c->prog, "status: %llu secrets at revision %lld", (unsigned long long)values,
			(long long)revision);
}

/* Scans the secrets without a config (names from the envelopes); restarts
 * once if the revision is compacted under it. */
static int run_scan(struct st_cmd *c, struct etcd_client *cl, int64_t *revision)
{
	struct res_id secrets = { .group = "", .resource = "secrets" };
	struct scan_opts so = { .etcd_prefix = c->prefix, .resources = &secrets, .n_resources = 1,
				.page_size = c->page_size };
	struct scan *s = NULL;
	int rc;

	for (int attempt = 0;; attempt++) {
		if ((rc = scan_new(&s, cl, &so)) < 0)
			return rc;
		rc = scan_run(s, on_value, on_progress, c);
		*revision = scan_revision(s);
		scan_free(s);
		if (rc != ERR_COMPACTED || attempt > 0)
			return rc;
		fprintf(stderr, "etcdcrypt: revision %lld was compacted during the scan; starting again\n",
			(long long)*revision);
		status_reset_values(&c->st);
	}
}

static void print_names(const struct status_name *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf(" %s", v[i].name);
}

/* "unknown (ncn-m001 writes X; ncn-m002, ncn-m003 write identity)" */
static void print_goal_unknown(const struct status *st)
{
	int *done = calloc(st->n_nodes, sizeof(int));

	printf("goal: unknown (");
	for (size_t i = 0, groups = 0; done != NULL && i < st->n_nodes; i++) {
		const struct status_name *w = st->nodes[i].n_names ? &st->nodes[i].names[0] : NULL;
		size_t members = 0;

		if (done[i])
			continue;
		printf("%s", groups++ ? "; " : "");
		for (size_t j = i; j < st->n_nodes; j++) {
			const struct status_name *x = st->nodes[j].n_names ? &st->nodes[j].names[0] : NULL;

			if (done[j] || (w && (!x || x->kind != w->kind || strcmp(x->name, w->name) != 0)))
				continue;
			done[j] = 1;
			printf("%s%s", members++ ? ", " : "", st->nodes[j].label);
		}
		printf(" %s %s", members > 1 ? "write" : "writes", w ? w->name : "nothing");
	}
	printf(")\n");
	free(done);
}

static void print_table(const struct status *st, int64_t revision)
{
	printf("k8s encryption status\nrevision: %lld\n", (long long)revision);
	for (size_t i = 0; i < st->n_nodes; i++) {
		printf("%s:", st->nodes[i].label);
		print_names(st->nodes[i].names, st->nodes[i].n_names);
		printf("\n");
	}
	printf("current: %s\n", st->current ? status_count_name(st->current) : st->n_etcd ? "unknown" : "none");
	if (st->goal)
		printf("goal: %s\n", st->goal->name);
	else
		print_goal_unknown(st);
	printf("etcd:");
	for (size_t i = 0; i < st->n_etcd; i++)
		printf(" %s (%llu)", status_count_name(&st->etcd[i]), (unsigned long long)st->etcd[i].count);
	printf("%s\n", st->n_etcd ? "" : " none");
	for (size_t i = 0; i < st->n_readers; i++) {
		const struct status_bad *b = &st->readers[i].bad;

		if (b->total == 0)
			continue;
		printf("unreadable: %s: %llu", st->readers[i].label, (unsigned long long)b->total);
		if (b->n_groups > 0 && b->groups[0].n_examples > 0)
			printf(" (e.g. %s: %s %s, %s)", b->groups[0].examples[0], report_provider(b->groups[0].kind),
			       b->groups[0].key_name[0] ? b->groups[0].key_name : "-", xf_reason_name(b->groups[0].reason));
		printf("\n");
	}
}

static json_t *names_json(const struct status_name *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s,s:s}", "provider", encconf_kind_name(v[i].kind), "name",
						   v[i].name));
	return a;
}

static json_t *bad_json(const struct status_reader *r)
{
	json_t *groups = json_array();

	for (size_t i = 0; i < r->bad.n_groups; i++) {
		const struct status_bad_group *g = &r->bad.groups[i];
		json_t *ex = json_array();

		for (size_t j = 0; j < g->n_examples; j++)
			json_array_append_new(ex, json_string(g->examples[j]));
		json_array_append_new(groups, json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "provider", report_provider(g->kind),
							"key_name", g->key_name, "reason", xf_reason_name(g->reason),
							"detail", g->detail, "count", (json_int_t)g->count,
							"examples", ex));
	}
	return json_pack("{s:s,s:I,s:o}", "config", r->label, "count", (json_int_t)r->bad.total, "groups", groups);
}

static void print_json(const struct status *st, int64_t revision)
{
	json_t *nodes = json_array(), *etcd = json_array(), *bad = json_array(), *o;

	for (size_t i = 0; i < st->n_nodes; i++)
		json_array_append_new(nodes, json_pack("{s:s,s:s,s:o}", "name", st->nodes[i].label, "config",
						       st->nodes[i].path, "names",
						       names_json(st->nodes[i].names, st->nodes[i].n_names)));
	for (size_t i = 0; i < st->n_etcd; i++)
		json_array_append_new(etcd, json_pack("{s:s,s:s,s:I}", "provider", report_provider(st->etcd[i].kind),
						      "name", status_count_name(&st->etcd[i]), "count",
						      (json_int_t)st->etcd[i].count));
	for (size_t i = 0; i < st->n_readers; i++)
		json_array_append_new(bad, bad_json(&st->readers[i]));
	o = json_pack("{s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:b}", "revision", (json_int_t)revision, "nodes", nodes,
		      "goal", st->goal ? json_string(st->goal->name) : json_null(), "current",
		      st->current ? json_string(status_count_name(st->current)) : json_null(), "etcd", etcd, "total",
		      (json_int_t)st->total, "unreadable_count", (json_int_t)st->unreadable, "unreadable", bad,
		      "consistent", st->consistent);
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
}

int cmd_status(int argc, char **argv)
{
	struct st_cmd c = { 0 };
	struct etcd_client *cl = NULL;
	struct etcd_opts eo;
	int64_t revision = 0;
	int rc, status;

	status_init(&c.st);
	progress_init(&c.prog);
	if ((status = parse_args(&c, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	if ((rc = load_configs(&c)) < 0)
		goto fail;
	etcdflags_opts(&c.ef, &eo);
	if ((rc = etcd_open(&cl, &eo)) < 0 || (rc = run_scan(&c, cl, &revision)) < 0)
		goto fail;
	progress_done(&c.prog);
	status_finish(&c.st);
	if (c.json)
		print_json(&c.st, revision);
	else
		print_table(&c.st, revision);
	status = c.st.consistent ? EXIT_OK : EXIT_FINDINGS;
	goto out;
fail:
	progress_done(&c.prog);
	status = cmd_fail(rc);
out:
	etcd_close(cl);
	status_release(&c.st);
	for (size_t i = 0; i < c.n_nodes; i++) {
		free(c.nodes[i].label);
		free(c.nodes[i].path);
		encconf_free(c.nodes[i].conf);
	}
	encconf_free(c.conf);
	kmsring_free(c.ring);
	etcdflags_release(&c.ef);
	return status;
}
