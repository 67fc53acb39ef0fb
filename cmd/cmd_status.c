/* cmd_status: the CSM `encryption.sh --status` view (docs/status.md): each
 * control-plane node's provider/key names, the goal they agree on, the
 * names on stored secrets at one etcd revision, and whether a rewrite is
 * still needed. Exit 0 only when consistent. Does not change anything. */
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
#include "status/status.h"
#include "node/record.h"
#include "node/rwrec.h"
#include "node/store.h"
#include "nodecmd.h"
#include "metrics.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(CMD_MAX_NODES <= STATUS_MAX_NODES, "status holds a reader per node");

enum { OPT_NODE = CMD_OPT_FIRST, OPT_NODES_DIR, OPT_CONFIG, OPT_KEYRING, OPT_NAMES_ONLY, OPT_PREFIX,
       OPT_PAGE, OPT_EXPECT, OPT_STATE_PREFIX, OPT_METRICS, OPT_ALLOW_EMPTY };

static const char STATUS_HELP[] =
	"usage: etcdcrypt status [--expect-nodes A,B,C] [--state-prefix P] [--config FILE]\n"
	"                        [-o table|json] [etcd flags]\n"
	"       etcdcrypt status --node NAME=CONFIG [--node NAME=CONFIG ...] [--nodes-dir DIR]\n"
	"                        [--config FILE | --names-only] [--kms-keyring FILE]\n"
	"                        [-o table|json] [etcd flags]\n\n"
	"Without --node/--nodes-dir, the nodes are those that published a record in etcd\n"
	"('etcdcrypt enable/disable/controller' on each node; docs/node-system.md): their\n"
	"key names are compared without any key (add --config FILE to also decrypt), and\n"
	"the running or last controller rewrite is shown.\n\n"
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
	"  --expect-nodes A,B,C    these nodes must have published a record (a missing one\n"
	"                          makes the status inconsistent)\n"
	"  --state-prefix PREFIX   etcdcrypt's own etcd prefix (default " NODE_DEFAULT_PREFIX ")\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins\n"
	KMSFLAGS_HELP
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --page-size N           keys per etcd page (default 5000)\n"
	"  --allow-empty           no secret at all under the etcd prefix is fine (default: it\n"
	"                          is named on stderr and the exit status is 1)\n"
	"  --metrics-file PATH     also write the status as Prometheus metrics to PATH, replaced\n"
	"                          atomically (node_exporter's textfile collector; docs/metrics.md)\n"
	"  -o, --output FORMAT     table (default) or json\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 consistent: the nodes agree on the goal, every secret is stored\n"
	"             under it and readable; 1 not consistent (nodes differ, a rewrite is\n"
	"             needed, values are unreadable, or no secret was found at all and\n"
	"             --allow-empty was not given); 2 usage or config error;\n"
	"             3 etcd unreachable or other runtime failure\n";

struct node_arg {
	char *label;
	char *path;
	struct encconf *conf;
};

struct st_cmd {
	struct etcdflags ef;
	const char *config_path, *keyring_path, *prefix, *nodes_dir, *metrics_path;
	int json, names_only, allow_empty;
	int64_t page_size;
	struct scan_empty empty;
	struct node_arg nodes[CMD_MAX_NODES];
	size_t n_nodes;
	int records; /* nodes from their published records */
	const char *state_prefix;
	char *expect[NODECMD_MAX_EXPECT];
	int n_expect;
	int64_t changed; /* newest record change */
	struct node_rwrec rw;
	int have_rw;
	struct encconf *conf;
	struct kms_ring *ring;
	struct kmsflags kf;
	struct status st;
	struct progress prog;
};

static int add_node(struct st_cmd *c, const char *label, size_t label_len, const char *path)
{
	struct node_arg *n;

	if (c->n_nodes >= CMD_MAX_NODES)
		return cmd_usage_error("status", "more than %d nodes", CMD_MAX_NODES);
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
	char *names[CMD_MAX_NODES + 1], path[4096];
	size_t n = 0;
	int status = 0;

	if (d == NULL)
		return cmd_usage_error("status", "--nodes-dir '%s': cannot open the directory: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL && n <= CMD_MAX_NODES)
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

	switch (opt) {
	case OPT_NODE: return node_arg(c, arg);
	case OPT_NODES_DIR: c->nodes_dir = arg; return 0;
	case OPT_CONFIG: c->config_path = arg; return 0;
	case OPT_KEYRING: c->keyring_path = arg; return 0;
	case OPT_KMS_ENDPOINT:
		return kmsflags_add(&c->kf, arg) < 0 ? cmd_usage_error("status", "%s", err_msg()) : 0;
	case OPT_NAMES_ONLY: c->names_only = 1; return 0;
	case OPT_PREFIX: c->prefix = arg; return 0;
	case OPT_STATE_PREFIX: c->state_prefix = arg; return 0;
	case OPT_METRICS: c->metrics_path = arg; return 0;
	case OPT_ALLOW_EMPTY: c->allow_empty = 1; return 0;
	case OPT_EXPECT:
		if ((c->n_expect = nodecmd_expect_list(c->expect, NODECMD_MAX_EXPECT, "status", arg)) < 0)
			return EXIT_USAGE;
		return 0;
	case OPT_PAGE:
		return cmd_page_size(&c->page_size, "status", arg);
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
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "names-only", no_argument, NULL, OPT_NAMES_ONLY },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "page-size", required_argument, NULL, OPT_PAGE },
		{ "expect-nodes", required_argument, NULL, OPT_EXPECT },
		{ "state-prefix", required_argument, NULL, OPT_STATE_PREFIX },
		{ "metrics-file", required_argument, NULL, OPT_METRICS },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
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
	c->records = c->n_nodes == 0;
	if (c->records && node_prefix_check(c->state_prefix) < 0)
		return cmd_usage_error("status", "%s", err_msg());
	if (c->names_only && c->config_path)
		return cmd_usage_error("status", "--names-only and --config exclude each other");
	return 0;
}

/* A node of --expect-nodes: has it a config or a record? */
static int expect_missing(struct st_cmd *c)
{
	int rc;

	for (int i = 0; i < c->n_expect; i++) {
		size_t j;

		for (j = 0; j < c->st.n_nodes && strcmp(c->st.nodes[j].label, c->expect[i]) != 0; j++)
			;
		if (j == c->st.n_nodes && (rc = status_add_node_names(&c->st, c->expect[i], "", NULL, 0)) < 0)
			return rc;
	}
	return 0;
}

/* Record mode: the nodes are the published records (names only: no key
 * leaves its node), plus the running or last rewrite. */
static int load_records(struct st_cmd *c, struct etcd_client *cl)
{
	struct node_record *v = NULL;
	size_t n = 0;
	int64_t rev;
	char key[NODE_PREFIX_MAX + 128];
	int rc;

	if ((rc = node_list(cl, c->state_prefix, &v, &n, &rev)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		snprintf(key, sizeof(key), "%snodes/%s", c->state_prefix, v[i].node);
		rc = status_add_node_names(&c->st, v[i].node, key, v[i].names, v[i].n_names);
		if (v[i].changed > c->changed)
			c->changed = v[i].changed;
	}
	node_records_free(v, n);
	if (rc == 0)
		rc = expect_missing(c);
	if (rc == 0 && c->st.n_nodes == 0)
		rc = err_set(ERR_NOTFOUND, "no node has published a record under '%snodes/': run 'etcdcrypt enable', "
			     "'disable' or 'controller' on each control-plane node, or give --node/--nodes-dir",
			     c->state_prefix);
	if (rc == 0) {
		rc = node_rwrec_get(cl, c->state_prefix, &c->rw);
		c->have_rw = rc == 0;
		rc = rc == ERR_NOTFOUND ? 0 : rc;
	}
	return rc;
}

/* Loads every node's config (and --config, --kms-keyring) into the status. */
static int load_configs(struct st_cmd *c)
{
	int rc;

	if ((c->config_path && (rc = encconf_load(&c->conf, c->config_path)) < 0) ||
	    (rc = kmsflags_open(&c->kf, &c->ring, c->keyring_path, c->ef.debug)) < 0)
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
	return c->records ? 0 : expect_missing(c);
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

static int reset_values(void *arg)
{
	struct st_cmd *c = arg;

	status_reset_values(&c->st);
	return 0;
}

/* Scans the secrets without a config (names from the envelopes); restarts
 * once if the revision is compacted under it. */
static int run_scan(struct st_cmd *c, struct etcd_client *cl, int64_t *revision)
{
	struct res_id secrets = { .group = "", .resource = "secrets" };
	struct scan_opts so = { .etcd_prefix = c->prefix, .resources = &secrets, .n_resources = 1,
				.page_size = c->page_size };
	struct cmd_scan_cb cb = { .value = on_value, .progress = on_progress, .reset = reset_values, .arg = c };
	struct scan *s = NULL;
	int rc = cmd_scan_restarting(&s, revision, NULL, cl, &so, &cb);

	scan_empty(rc == 0 ? s : NULL, &c->empty);
	scan_free(s);
	return rc;
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
		if (w)
			printf(" %s %s", members > 1 ? "write" : "writes", w->name);
		else
			printf(" %s no record", members > 1 ? "have" : "has");
	}
	printf(")\n");
	free(done);
}

static void print_rewrite(const struct node_rwrec *r)
{
	char started[32], updated[32];

	node_time_str(started, r->started);
	node_time_str(updated, r->updated);
	printf("rewrite: %s%s on %s to %s, started %s, updated %s: revisions %lld..%lld, %llu/%llu scanned, "
	       "%llu rewritten, %llu already current, %llu unreadable%s%s\n", node_rw_state_name(r->state),
	       r->forced ? " (forced)" : "", r->node, r->write_name, started, updated, (long long)r->revision_start,
	       (long long)r->revision_end, (unsigned long long)r->scanned, (unsigned long long)r->total,
	       (unsigned long long)r->rewritten, (unsigned long long)r->current, (unsigned long long)r->unreadable,
	       r->error[0] ? ": " : "", r->error);
}

static void print_table(const struct st_cmd *c, const struct status *st, int64_t revision)
{
	char when[32];

	printf("k8s encryption status\n");
	if (c->records) {
		node_time_str(when, c->changed);
		printf("changed: %s\n", c->changed ? when : "unknown");
	}
	printf("revision: %lld\n", (long long)revision);
	for (size_t i = 0; i < st->n_nodes; i++) {
		printf("%s:", st->nodes[i].label);
		print_names(st->nodes[i].names, st->nodes[i].n_names);
		printf("%s\n", st->nodes[i].n_names ? "" : " missing (no record)");
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
		if (b->n_groups > 0 && b->groups[0].n_examples > 0) {
			const char *ex = b->groups[0].examples[0];
			char *k = esc_term((const uint8_t *)ex, b->groups[0].example_len[0]), name[ENV_NAME_MAX + 8];

			cmd_name_cell(name, sizeof(name), b->groups[0].key_name, 0);
			printf(" (e.g. %s: %s %s, %s)", k ? k : "?", env_kind_name(b->groups[0].kind), name,
			       xf_reason_name(b->groups[0].reason));
			free(k);
		}
		printf("\n");
	}
	if (c->have_rw)
		print_rewrite(&c->rw);
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
		json_t *o = json_object();

		/* keys and details are etcd's bytes: never through json_pack's "s",
		 * which fails (and drops the group) on invalid UTF-8 */
		json_object_set_new(o, "provider", json_string(env_kind_name(g->kind)));
		json_object_set_new(o, "key_name", cmd_json_text((const uint8_t *)g->key_name, strlen(g->key_name)));
		json_object_set_new(o, "reason", json_string(xf_reason_name(g->reason)));
		json_object_set_new(o, "detail", cmd_json_text((const uint8_t *)g->detail, strlen(g->detail)));
		json_object_set_new(o, "count", json_integer((json_int_t)g->count));
		cmd_json_str_list(o, "examples", g->examples, g->example_len, g->n_examples);
		json_array_append_new(groups, o);
	}
	return json_pack("{s:s,s:I,s:o}", "config", r->label, "count", (json_int_t)r->bad.total, "groups", groups);
}

static json_t *rewrite_json(const struct node_rwrec *r)
{
	return json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "state",
			 node_rw_state_name(r->state), "node", r->node, "write", r->write_name, "forced", r->forced,
			 "revision_start", (json_int_t)r->revision_start, "revision_end", (json_int_t)r->revision_end,
			 "total", (json_int_t)r->total, "scanned", (json_int_t)r->scanned, "rewritten",
			 (json_int_t)r->rewritten, "current", (json_int_t)r->current, "unreadable",
			 (json_int_t)r->unreadable, "started_unix", (json_int_t)r->started, "updated_unix",
			 (json_int_t)r->updated, "error", r->error);
}

static void print_json(const struct st_cmd *c, const struct status *st, int64_t revision)
{
	json_t *nodes = json_array(), *etcd = json_array(), *bad = json_array(), *o;

	for (size_t i = 0; i < st->n_nodes; i++)
		json_array_append_new(nodes, json_pack("{s:s,s:s,s:o}", "name", st->nodes[i].label, "config",
						       st->nodes[i].path, "names",
						       names_json(st->nodes[i].names, st->nodes[i].n_names)));
	for (size_t i = 0; i < st->n_etcd; i++)
		json_array_append_new(etcd, json_pack("{s:s,s:s,s:I}", "provider", env_kind_name(st->etcd[i].kind),
						      "name", status_count_name(&st->etcd[i]), "count",
						      (json_int_t)st->etcd[i].count));
	for (size_t i = 0; i < st->n_readers; i++)
		json_array_append_new(bad, bad_json(&st->readers[i]));
	o = json_pack("{s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:b}", "revision", (json_int_t)revision, "nodes", nodes,
		      "goal", st->goal ? json_string(st->goal->name) : json_null(), "current",
		      st->current ? json_string(status_count_name(st->current)) : json_null(), "etcd", etcd, "total",
		      (json_int_t)st->total, "unreadable_count", (json_int_t)st->unreadable, "unreadable", bad,
		      "consistent", st->consistent);
	if (c->records) {
		char when[32];

		node_time_str(when, c->changed);
		json_object_set_new(o, "source", json_string("records"));
		json_object_set_new(o, "changed", c->changed ? json_string(when) : json_null());
		json_object_set_new(o, "rewrite", c->have_rw ? rewrite_json(&c->rw) : json_null());
	}
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
}

int cmd_status(int argc, char **argv)
{
	struct st_cmd c = { .state_prefix = NODE_DEFAULT_PREFIX };
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
	if ((rc = etcd_open(&cl, &eo)) < 0 || (c.records && (rc = load_records(&c, cl)) < 0) ||
	    (rc = run_scan(&c, cl, &revision)) < 0)
		goto fail;
	progress_done(&c.prog);
	status_finish(&c.st);
	if (c.json)
		print_json(&c, &c.st, revision);
	else
		print_table(&c, &c.st, revision);
	status = c.st.consistent ? EXIT_OK : EXIT_FINDINGS;
	if (cmd_empty_status("status", &c.empty, c.allow_empty) != EXIT_OK)
		status = EXIT_FINDINGS;
	if (c.metrics_path && (rc = metrics_status(c.metrics_path, &c.st, revision, progress_elapsed(&c.prog),
						   c.have_rw ? &c.rw : NULL, c.changed)) < 0)
		status = cmd_fail(rc);
	goto out;
fail:
	progress_done(&c.prog);
	status = cmd_fail(rc);
	if (c.metrics_path && (rc = metrics_failed(c.metrics_path, "status")) < 0)
		cmd_fail(rc);
out:
	etcd_close(cl);
	status_release(&c.st);
	for (size_t i = 0; i < c.n_nodes; i++) {
		free(c.nodes[i].label);
		free(c.nodes[i].path);
		encconf_free(c.nodes[i].conf);
	}
	for (int i = 0; i < c.n_expect; i++)
		free(c.expect[i]);
	encconf_free(c.conf);
	kmsring_free(c.ring);
	kmsflags_release(&c.kf);
	etcdflags_release(&c.ef);
	return status;
}
