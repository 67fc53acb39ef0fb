/* cmd_node: `etcdcrypt enable` and `etcdcrypt disable`, CSM's
 * `encryption.sh --enable|--disable` for the one control-plane node it runs
 * on (docs/node-system.md): write the config `config enable|disable`
 * writes for the same keys, prove by decryption that every value in etcd
 * stays readable under it (status/cfgcheck.h, the engine of `config check`),
 * install it as DIR/current.yaml atomically keeping the previous file
 * (node/install.h), publish the node's record of key NAMES in etcd
 * (node/store.h), restart the node's kube-apiserver and print CSM's line.
 * A refused check changes nothing. --rollback puts back the newest kept
 * file, under the same proof. */
#include "cmd.h"
#include "conf/csmconf.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "base/esc.h"
#include "etcdflags.h"
#include "node/install.h"
#include "node/record.h"
#include "node/store.h"
#include "nodecmd.h"
#include "progress.h"
#include "xform/envelope.h"
#include "status/cfgcheck.h"
#include "xform/csmkey.h"
#include "kmsflags.h"
#include "xform/kmsring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { OPT_AESCBC = CMD_OPT_FIRST, OPT_AESGCM, OPT_SECRETBOX, OPT_NODE, OPT_DIR, OPT_RESTART_CMD,
       OPT_NO_RESTART, OPT_ROLLBACK, OPT_STATE_PREFIX, OPT_PREFIX, OPT_KEYRING, OPT_PAGE, OPT_ALLOW_EMPTY };

#define CONFIG_MAX (1u << 20)
#define MAX_KEYS 64

/* kubeadm/CSM nodes run kube-apiserver as a static pod: stopping its
 * container makes kubelet start a new one, which reads the new file. */
static const char DEFAULT_RESTART[] =
	"command -v crictl >/dev/null 2>&1 || { echo 'crictl not found: cannot restart kube-apiserver; "
	"restart it yourself or give --restart-cmd CMD' >&2; exit 127; }\n"
	"old=$(crictl ps -q --name '^kube-apiserver$' --state running) || exit 1\n"
	"[ -n \"$old\" ] || { echo 'no running kube-apiserver container' >&2; exit 1; }\n"
	"crictl stop $old >/dev/null || exit 1\n"
	"i=0\n"
	"while [ $i -lt 300 ]; do\n"
	"  new=$(crictl ps -q --name '^kube-apiserver$' --state running 2>/dev/null)\n"
	"  if [ -n \"$new\" ] && [ \"$new\" != \"$old\" ]; then\n"
	"    command -v curl >/dev/null 2>&1 || exit 0\n"
	"    curl -ksf https://127.0.0.1:6443/readyz >/dev/null 2>&1 && exit 0\n"
	"  fi\n"
	"  sleep 2; i=$((i+2))\n"
	"done\n"
	"echo 'kube-apiserver did not answer within 300 s of its restart' >&2; exit 1\n";

static const char ENABLE_HELP[] =
	"usage: etcdcrypt enable (--aescbc|--aesgcm|--secretbox) KEYFILE [...] [--node NAME]\n"
	"                        [--dir DIR] [--restart-cmd CMD | --no-restart] [etcd flags]\n"
	"       etcdcrypt enable --rollback [--node NAME] [--dir DIR] [...]\n\n"
	"CSM's 'encryption.sh --enable' for this control-plane node: writes the config\n"
	"'config enable' writes for the keys (the first key encrypts new writes, identity\n"
	"last), proves by decrypting every value in etcd that nothing becomes unreadable,\n"
	"installs it as DIR/current.yaml, publishes this node's key names in etcd,\n"
	"restarts kube-apiserver and says so. Run it on every control-plane node; the\n"
	"controllers rewrite the secrets once all nodes agree.\n\n";
static const char DISABLE_HELP[] =
	"usage: etcdcrypt disable [(--aescbc|--aesgcm|--secretbox) KEYFILE ...] [--node NAME]\n"
	"                         [--dir DIR] [--restart-cmd CMD | --no-restart] [etcd flags]\n"
	"       etcdcrypt disable --rollback [...]\n\n"
	"CSM's 'encryption.sh --disable' for this control-plane node: identity first (new\n"
	"writes are plaintext), then the keys given, which keep encrypted values readable.\n"
	"Refused (exit 1, naming the keys still needed) while any value in etcd needs a\n"
	"key the new config lacks, or another node's record writes with one: disable\n"
	"keeping the key on every node, let the controllers rewrite, then disable with\n"
	"no key.\n\n";
static const char COMMON_HELP[] =
	"options:\n"
	"  --aescbc KEYFILE        an AES-CBC key (16, 24 or 32 bytes; '-': stdin)\n"
	"  --aesgcm KEYFILE        an AES-GCM key (16, 24 or 32 bytes)\n"
	"  --secretbox KEYFILE     a secretbox key (32 bytes); repeat to add keys\n"
	"  --rollback              put back the newest kept DIR/current.yaml.<time>\n"
	"  --node NAME             this node's name (default: the short host name)\n"
	"  --dir DIR               the config directory (default " NODE_DEFAULT_DIR ")\n"
	"  --restart-cmd CMD       restart kube-apiserver with /bin/sh -c CMD (default: stop\n"
	"                          its container with crictl, wait until a new one answers)\n"
	"  --no-restart            do not restart kube-apiserver\n"
	"  --state-prefix PREFIX   etcdcrypt's own etcd prefix (default " NODE_DEFAULT_PREFIX ")\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins\n"
	KMSFLAGS_HELP
	"  --page-size N           keys per etcd page (default 5000)\n"
	"  --allow-empty           no key at all under a scanned prefix is fine (default:\n"
	"                          refused: e.g. a mistyped --etcd-prefix proves nothing)\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 installed, published (and restarted); 1 refused: some value, or what\n"
	"             another node writes, would be unreadable, or a scanned prefix held no\n"
	"             key (nothing changed);\n"
	"             2 usage or config error;\n"
	"             3 etcd unreachable, cannot write the file, or the restart failed\n";

struct node_cmd {
	const char *verb;
	enum csmconf_mode mode;
	struct etcdflags ef;
	struct csmconf_key keys[MAX_KEYS];
	size_t n_keys;
	int stdin_used, no_restart, rollback, allow_empty;
	char node[NODE_NAME_MAX + 1];
	const char *dir, *restart_cmd, *state_prefix, *prefix, *keyring_path;
	int64_t page_size, old_mtime;
	char path[NODE_PATH_MAX], from[NODE_PATH_MAX]; /* current.yaml; rollback source */
	struct buf text, old;
	struct encconf *proposed, *current;
	struct kms_ring *ring;
	struct kmsflags kf;
	struct progress prog;
};

void nodecmd_hostname(char *out, size_t n)
{
	char h[256] = "";

	if (gethostname(h, sizeof(h) - 1) < 0)
		h[0] = '\0';
	h[strcspn(h, ".")] = '\0';
	snprintf(out, n, "%s", h);
}

int nodecmd_expect_list(char **v, size_t max, const char *cmd, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *t;
	size_t n = 0;

	for (t = copy ? strtok_r(copy, ",", &save) : NULL; t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (!node_name_valid(t) || n >= max) {
			cmd_usage_error(cmd, "--expect-nodes: '%s' is not a node name (or more than %zu nodes)", t, max);
			for (size_t i = 0; i < n; i++)
				free(v[i]);
			free(copy);
			return CMD_HELP_SHOWN;
		}
		v[n++] = strdup(t);
	}
	free(copy);
	return (int)n;
}

int nodecmd_getopt(const char *verb, struct etcdflags *ef, int argc, char **argv, const struct option *opts,
		   int (*one)(void *arg, int opt, const char *optarg, char **argv), void *arg, const char *hint)
{
	int opt, rc;

	if ((rc = etcdflags_init(ef)) < 0)
		return cmd_fail(rc);
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if ((rc = etcdflags_handle(ef, opt, optarg)) < 0)
			return cmd_usage_error(verb, "%s", err_msg());
		if (rc == 0 && (rc = one(arg, opt, optarg, argv)) != 0)
			return rc;
	}
	if (optind != argc)
		return cmd_usage_error(verb, "unexpected argument '%s'%s", argv[optind], hint ? hint : "");
	return 0;
}

int nodecmd_check(const char *verb, char *node, const char *state_prefix)
{
	if (!node[0])
		nodecmd_hostname(node, NODE_NAME_MAX + 1);
	if (!node_name_valid(node))
		return cmd_usage_error(verb, "the host name '%s' is not a node name; give --node NAME", node);
	if (node_prefix_check(state_prefix) < 0)
		return cmd_usage_error(verb, "%s", err_msg());
	return 0;
}

static int read_key(struct node_cmd *c, int opt, const char *path)
{
	enum encconf_kind kind = opt == OPT_AESCBC ? ENCCONF_AESCBC : opt == OPT_AESGCM ? ENCCONF_AESGCM
											 : ENCCONF_SECRETBOX;

	if (c->n_keys >= MAX_KEYS)
		return cmd_usage_error(c->verb, "too many keys");
	if (strcmp(path, "-") == 0 && c->stdin_used++)
		return cmd_usage_error(c->verb, "stdin ('-') can hold only one key");
	if (csmkey_read(&c->keys[c->n_keys], kind, path) < 0) {
		fprintf(stderr, "etcdcrypt %s: %s\n", c->verb, err_msg());
		return EXIT_USAGE;
	}
	c->n_keys++;
	return 0;
}

static int parse_opt(struct node_cmd *c, int opt, const char *arg, char **argv)
{
	switch (opt) {
	case OPT_AESCBC:
	case OPT_AESGCM:
	case OPT_SECRETBOX: return read_key(c, opt, arg);
	case OPT_NODE: snprintf(c->node, sizeof(c->node), "%s", arg); return node_name_valid(arg) ? 0 :
		cmd_usage_error(c->verb, "--node '%s': 1 to %d letters, digits, '.', '-' or '_'", arg, NODE_NAME_MAX);
	case OPT_DIR: c->dir = arg; return 0;
	case OPT_RESTART_CMD: c->restart_cmd = arg; return 0;
	case OPT_NO_RESTART: c->no_restart = 1; return 0;
	case OPT_ROLLBACK: c->rollback = 1; return 0;
	case OPT_ALLOW_EMPTY: c->allow_empty = 1; return 0;
	case OPT_STATE_PREFIX: c->state_prefix = arg; return 0;
	case OPT_PREFIX: c->prefix = arg; return 0;
	case OPT_KEYRING: c->keyring_path = arg; return 0;
	case OPT_KMS_ENDPOINT:
		return kmsflags_add(&c->kf, arg) < 0 ? cmd_usage_error(c->verb, "%s", err_msg()) : 0;
	case OPT_PAGE:
		return cmd_page_size(&c->page_size, c->verb, arg);
	case 'h':
		printf("%s%s", c->mode == CSMCONF_ENABLE ? ENABLE_HELP : DISABLE_HELP, COMMON_HELP);
		return CMD_HELP_SHOWN;
	case ':': return cmd_usage_error(c->verb, "option '%s' needs a value", argv[optind - 1]);
	default: return cmd_usage_error(c->verb, "unknown option '%s'", argv[optind - 1]);
	}
}

static int parse_one(void *arg, int opt, const char *optarg, char **argv)
{
	return parse_opt(arg, opt, optarg, argv);
}

static int parse_args(struct node_cmd *c, int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "aescbc", required_argument, NULL, OPT_AESCBC },
		{ "aesgcm", required_argument, NULL, OPT_AESGCM },
		{ "secretbox", required_argument, NULL, OPT_SECRETBOX },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "restart-cmd", required_argument, NULL, OPT_RESTART_CMD },
		{ "no-restart", no_argument, NULL, OPT_NO_RESTART },
		{ "rollback", no_argument, NULL, OPT_ROLLBACK },
		{ "state-prefix", required_argument, NULL, OPT_STATE_PREFIX },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "page-size", required_argument, NULL, OPT_PAGE },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rc = nodecmd_getopt(c->verb, &c->ef, argc, argv, opts, parse_one, c, " (keys are read from files: --aescbc KEYFILE)");

	if (rc != 0)
		return rc;
	if (c->rollback && c->n_keys)
		return cmd_usage_error(c->verb, "--rollback takes no key: it puts back the kept file");
	if (!c->rollback && c->mode == CSMCONF_ENABLE && c->n_keys == 0)
		return cmd_usage_error(c->verb, "needs at least one key: --aescbc KEYFILE, --aesgcm KEYFILE or --secretbox KEYFILE");
	if (c->restart_cmd && c->no_restart)
		return cmd_usage_error(c->verb, "--restart-cmd and --no-restart exclude each other");
	return nodecmd_check(c->verb, c->node, c->state_prefix);
}

/* The new config text (generated, or the kept file for --rollback) and the
 * running one, both parsed. */
static int load(struct node_cmd *c)
{
	int rc;

	node_config_path(c->path, c->dir);
	if (c->rollback) {
		if ((rc = node_latest_backup(c->from, c->dir)) < 0 ||
		    (rc = node_read_file(&c->text, c->from, CONFIG_MAX, NULL)) < 0)
			return rc;
	} else if ((rc = csmconf_generate(&c->text, c->mode, c->keys, c->n_keys)) < 0) {
		return rc;
	}
	if ((rc = encconf_parse(&c->proposed, (const char *)c->text.data, c->text.len,
				c->rollback ? c->from : "the new config")) < 0)
		return rc;
	if ((rc = kmsflags_open(&c->kf, &c->ring, c->keyring_path, c->ef.debug)) < 0)
		return rc;
	rc = node_read_file(&c->old, c->path, CONFIG_MAX, &c->old_mtime);
	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc == 0)
		rc = encconf_parse(&c->current, (const char *)c->old.data, c->old.len, c->path);
	return rc;
}

static void on_progress(void *arg, uint64_t values, int64_t revision)
{
	struct node_cmd *c = arg;

	progress_update(&c->prog, "%s: checking %llu values at revision %lld", c->verb, (unsigned long long)values,
			(long long)revision);
}

/* Refusal: which key names the values need, as config check lists them. */
static void print_refusal(const struct node_cmd *c, const struct cfgcheck_result *r)
{
	printf("%s: REFUSED: %llu of %llu values in etcd (revision %lld) could not be read under the new config;"
	       " nothing was changed\n", c->verb, (unsigned long long)r->bad.total, (unsigned long long)r->total,
	       (long long)r->revision);
	for (size_t i = 0; i < r->bad.n_groups; i++) {
		const struct status_bad_group *g = &r->bad.groups[i];

		char name[ENV_NAME_MAX + 8];
		char *k = esc_term((const uint8_t *)(g->n_examples ? g->examples[0] : ""),
				   g->n_examples ? g->example_len[0] : 0);

		cmd_name_cell(name, sizeof(name), g->key_name, 0);
		printf("  needs %s key '%s': %llu values (%s), e.g. %s\n", env_kind_name(g->kind), name,
		       (unsigned long long)g->count, xf_reason_name(g->reason), k ? k : "?");
		free(k);
	}
	printf("Keep the keys these values need (e.g. 'etcdcrypt disable --aescbc KEYFILE' on every node),\n"
	       "let the controllers rewrite, and check 'etcdcrypt status' before dropping them.\n");
}

static int prove(struct node_cmd *c, struct etcd_client *cl, int *refused)
{
	const struct encconf *others[1] = { c->current };
	struct cfgcheck_opts o = { .proposed = c->proposed, .others = others, .n_others = c->current ? 1 : 0,
				   .ring = c->ring, .etcd_prefix = c->prefix, .page_size = c->page_size,
				   .progress = on_progress, .arg = c };
	struct cfgcheck_result r;
	int rc = cfgcheck_run(&r, cl, &o);

	progress_done(&c->prog);
	if (rc == 0) {
		*refused = r.bad.total > 0;
		if (*refused)
			print_refusal(c, &r);
		else if (cmd_empty_status(c->verb, &r.empty, c->allow_empty) != EXIT_OK) {
			/* nothing read there proved nothing: no config goes in on it */
			*refused = 1;
			printf("%s: REFUSED: a scanned prefix held no key in etcd; nothing was changed\n", c->verb);
		} else
			printf("checked: every one of %llu values in etcd (revision %lld) is readable under the new config\n",
			       (unsigned long long)r.total, (long long)r.revision);
	}
	cfgcheck_release(&r);
	return rc;
}

/* The other nodes' kube-apiservers write new values with the write key of
 * their published records: a config that cannot read one of those would
 * make this node's apiserver fail on values written after the proof (e.g.
 * a full disable on one node while the others still encrypt). Refuses
 * (printing who writes what) in that case. */
static int others_readable(const struct node_cmd *c, struct etcd_client *cl, int *refused)
{
	struct node_record *v = NULL;
	struct status_name *mine = NULL;
	size_t n = 0, n_mine = 0;
	int64_t rev;
	int rc;

	*refused = 0;
	if ((rc = node_list(cl, c->state_prefix, &v, &n, &rev)) < 0 ||
	    (rc = status_conf_names(&mine, &n_mine, c->proposed)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct status_name *w = node_record_write(&v[i]);
		size_t j = 0;

		if (w == NULL || strcmp(v[i].node, c->node) == 0)
			continue;
		while (j < n_mine && !node_name_eq(&mine[j], w))
			j++;
		if (j < n_mine)
			continue;
		if (!*refused)
			printf("%s: REFUSED: other nodes write new values with a key the new config cannot read; "
			       "nothing was changed\n", c->verb);
		printf("  %s writes %s '%s' (its record %snodes/%s)\n", v[i].node, encconf_kind_name(w->kind), w->name,
		       c->state_prefix, v[i].node);
		*refused = 1;
	}
	if (*refused)
		printf("Keep those keys in this node's config until every node has moved on "
		       "(e.g. 'etcdcrypt disable --aescbc KEYFILE' on every node first).\n");
out:
	status_names_free(mine, n_mine);
	node_records_free(v, n);
	return rc;
}

static int restart(const struct node_cmd *c)
{
	const char *cmd = c->restart_cmd ? c->restart_cmd : DEFAULT_RESTART;
	int ws;

	fflush(stdout);
	setenv("ETCDCRYPT_NODE", c->node, 1);
	setenv("ETCDCRYPT_CONFIG", c->path, 1);
	pid_t pid = fork();

	if (pid < 0)
		return err_set(ERR_IO, "cannot start the restart command: fork failed");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &ws, 0) < 0)
		;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return err_set(ERR_IO, "kube-apiserver restart failed (%s %d); the new config is installed and published: "
			       "restart kube-apiserver on %s yourself", WIFEXITED(ws) ? "exit status" : "signal",
			       WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws), c->node);
	return 0;
}

static void print_names(const char *what, const struct node_record *r)
{
	printf("%s:", what);
	for (size_t i = 0; i < r->n_names; i++)
		printf(" %s", r->names[i].name);
	printf("\n");
}

/* Install, publish, restart: after the proof. */
static int apply(struct node_cmd *c, struct etcd_client *cl)
{
	char backup[NODE_PATH_MAX], key[NODE_PREFIX_MAX + 128];
	struct node_record rec;
	int64_t now = (int64_t)time(NULL);
	int rc, same = c->old.len == c->text.len && memcmp(c->old.data, c->text.data, c->text.len) == 0;

	if (same) {
		now = c->old_mtime; /* the record's change time is the file's */
		printf("%s: unchanged\n", c->path);
	} else {
		if ((rc = node_install(backup, c->dir, c->text.data, c->text.len, now)) < 0)
			return rc;
		printf("installed %s%s%s%s\n", c->path, c->rollback ? " from " : "", c->rollback ? c->from : "",
		       backup[0] ? "" : " (no previous file)");
		if (backup[0])
			printf("previous config kept as %s\n", backup);
	}
	if ((rc = node_record_from_conf(&rec, c->node, c->proposed, c->text.data, c->text.len, now,
					ETCDCRYPT_VERSION)) < 0)
		return rc;
	snprintf(key, sizeof(key), "%snodes/%s", c->state_prefix, c->node);
	rc = node_publish(cl, c->state_prefix, &rec, NULL);
	if (rc == 0)
		print_names(key, &rec);
	node_record_release(&rec);
	if (rc == 0 && !c->no_restart) {
		printf("restarting kube-apiserver on %s\n", c->node);
		rc = restart(c);
	}
	return rc;
}

static int node_change(int argc, char **argv, enum csmconf_mode mode)
{
	struct node_cmd c = { .verb = mode == CSMCONF_ENABLE ? "enable" : "disable", .mode = mode,
			      .dir = NODE_DEFAULT_DIR, .state_prefix = NODE_DEFAULT_PREFIX };
	struct etcd_client *cl = NULL;
	struct etcd_opts eo;
	int rc, status, refused = 0;

	buf_init(&c.text, CONFIG_MAX + 1);
	buf_init(&c.old, CONFIG_MAX + 1);
	progress_init(&c.prog);
	if ((status = parse_args(&c, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	if ((rc = load(&c)) < 0) {
		status = rc == ERR_USAGE ? cmd_usage_error(c.verb, "%s", err_msg()) : cmd_fail(rc);
		goto out;
	}
	etcdflags_opts(&c.ef, &eo);
	if ((rc = etcd_open(&cl, &eo)) < 0 || (rc = others_readable(&c, cl, &refused)) < 0 ||
	    (!refused && (rc = prove(&c, cl, &refused)) < 0)) {
		status = cmd_fail(rc);
		goto out;
	}
	if (refused) {
		status = EXIT_FINDINGS;
		goto out;
	}
	if ((rc = apply(&c, cl)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	printf("%s configuration updated ensure all control plane nodes run this same command\n", c.node);
	status = EXIT_OK;
out:
	etcd_close(cl);
	for (size_t i = 0; i < c.n_keys; i++)
		csmconf_key_wipe(&c.keys[i]);
	buf_release(&c.text);
	buf_release(&c.old);
	encconf_free(c.proposed);
	encconf_free(c.current);
	kmsring_free(c.ring);
	kmsflags_release(&c.kf);
	etcdflags_release(&c.ef);
	return status;
}

int cmd_enable(int argc, char **argv)
{
	return node_change(argc, argv, CSMCONF_ENABLE);
}

int cmd_disable(int argc, char **argv)
{
	return node_change(argc, argv, CSMCONF_DISABLE);
}
