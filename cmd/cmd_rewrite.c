/* cmd_rewrite: the forced-rewrite step of every key rotation, enablement and
 * disablement, at etcd's own write speed (rewrite/rewrite.h). Refuses to
 * start when node configs disagree, an etcd alarm is raised, or the
 * database would outgrow its quota. */
#include "cmd.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "base/esc.h"
#include "base/num.h"
#include "etcdflags.h"
#include "kmsflags.h"
#include "xform/kmsring.h"
#include "progress.h"
#include "metrics.h"
#include "rewrite/rewrite.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_CONFIG = CMD_OPT_FIRST, OPT_KEYRING, OPT_RESOURCES, OPT_ALL, OPT_NODE, OPT_DRY, OPT_BATCH,
       OPT_INFLIGHT, OPT_RATE, OPT_FORCE, OPT_QUOTA, OPT_COMPACT_EVERY, OPT_COMPACT, OPT_PREFIX, OPT_PAGE,
       OPT_METRICS, OPT_ALLOW_EMPTY };

#define MAX_LISTED 1000

static const char REWRITE_HELP[] =
	"usage: etcdcrypt rewrite --config FILE [--node-config [NAME=]FILE ...] [--dry-run]\n"
	"                         [--resources LIST | --all] [options] [etcd flags]\n\n"
	"Re-encrypts every stored value of the resources to the config's first provider and\n"
	"first key, exactly where kube-apiserver would write it, straight into etcd. Each new\n"
	"value is decrypted again and compared before it is written; writes are batched\n"
	"compare-and-swap Txns that never overwrite a concurrent apiserver write. Values\n"
	"already there are skipped, so a rerun after any interruption only finishes the job.\n"
	"Unreadable values are reported and left untouched. If the first provider is\n"
	"identity, values are written back as plaintext (the disable path).\n\n"
	"options:\n"
	"  --config FILE           the EncryptionConfiguration being rolled out (required)\n"
	"  --node-config [NAME=]FILE  each control-plane node's config: all must write with\n"
	"                          the same key and read it, or nothing is written\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins (to read KMS values)\n"
	KMSFLAGS_HELP
	"  --resources LIST        comma-separated (default: those the config names, else secrets)\n"
	"  --all                   every key under the etcd prefix\n"
	"  --dry-run               do everything but write: what would change, projected growth;\n"
	"                          exit 3 when the quota guard would refuse the real run\n"
	"  --batch N               puts per Txn, 1..128 (default 128)\n"
	"  --inflight N            Txns in flight, 1..64 (default 8)\n"
	"  --max-rate N            at most N puts per second (pace a live cluster)\n"
	"  --force                 rewrite values already under the write key too\n"
	"  --quota-bytes N         etcd's --quota-backend-bytes (K/M/G suffixes); etcd 3.4 does not\n"
	"                          report it, so without this flag its default, 2 GiB, is assumed\n"
	"  --compact-every N       compact behind the run every N puts (to stay under the quota: the\n"
	"                          growth of two intervals must fit)\n"
	"  --compact               compact at the final revision when done (purges old revisions\n"
	"                          from the keyspace; run etcdctl defrag on each member afterwards)\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --page-size N           keys per etcd page (default 5000)\n"
	"  --allow-empty           a resource (or --all prefix) with no key at all is fine\n"
	"                          (default: it is named on stderr and the exit status is 1)\n"
	"  --metrics-file PATH     also write the run's counts as Prometheus metrics to PATH,\n"
	"                          replaced atomically (node_exporter's textfile collector)\n"
	"  -o, --output FORMAT     table (default) or json\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 every readable value is at the write key; 1 some values unreadable\n"
	"             or too large for etcd once encrypted (left untouched), the run was\n"
	"             interrupted, or a scanned prefix held no key (without --allow-empty); 2 usage or config error, or\n"
	"             node configs disagree; 3 etcd failure, alarm raised, or quota would be exceeded\n";

/* One value the report lists: unreadable (kind, key name, reason) or too
 * large once encrypted (value_bytes). */
struct listed {
	char *etcd_key; /* the key's bytes, NUL-terminated (may hold NULs) */
	size_t etcd_key_len;
	enum env_kind kind;
	char key_name[ENV_NAME_MAX];
	int key_name_guessed;
	enum xf_reason reason;
	size_t value_bytes;
	char detail[256];
};

struct rewrite_cmd {
	struct etcdflags ef;
	const char *config_path, *keyring_path, *resources_arg, *prefix, *metrics_path;
	const char *node_arg[CMD_MAX_NODES];
	size_t n_nodes;
	int all, dry_run, force, json, compact_end, allow_empty;
	int batch, inflight;
	double max_rate;
	int64_t quota, page_size;
	uint64_t compact_every;
	struct encconf *conf;
	struct encconf *nodes[CMD_MAX_NODES];
	char *node_names[CMD_MAX_NODES];
	struct kms_ring *ring;
	struct kmsflags kf;
	struct progress prog;
	int quota_given;
	struct rw_quota q; /* the quota guard's inputs, filled by preflight */
	int dry_refused;   /* a dry run found the real run would be refused */
	char dry_refusal[600];
	uint64_t expected; /* values the estimate says will change (0: not estimated) */
	uint64_t total;    /* keys the run will scan */
	struct listed *bad; /* listed unreadable values (at most MAX_LISTED) */
	size_t n_bad;
	struct listed *big; /* listed values etcd refused as too large */
	size_t n_big;
	double seconds;     /* the run's, for both views */
};

static int parse_opt(struct rewrite_cmd *a, int c, const char *arg)
{
	long v;

	switch (c) {
	case OPT_CONFIG: a->config_path = arg; return 0;
	case OPT_KEYRING: a->keyring_path = arg; return 0;
	case OPT_KMS_ENDPOINT:
		return kmsflags_add(&a->kf, arg) < 0 ? cmd_usage_error("rewrite", "%s", err_msg()) : 0;
	case OPT_RESOURCES: a->resources_arg = arg; return 0;
	case OPT_ALL: a->all = 1; return 0;
	case OPT_NODE:
		if (a->n_nodes == CMD_MAX_NODES)
			return cmd_usage_error("rewrite", "at most %d --node-config", CMD_MAX_NODES);
		a->node_arg[a->n_nodes++] = arg;
		return 0;
	case OPT_DRY: a->dry_run = 1; return 0;
	case OPT_FORCE: a->force = 1; return 0;
	case OPT_COMPACT: a->compact_end = 1; return 0;
	case OPT_PREFIX: a->prefix = arg; return 0;
	case OPT_METRICS: a->metrics_path = arg; return 0;
	case OPT_ALLOW_EMPTY: a->allow_empty = 1; return 0;
	case OPT_BATCH:
		if (num_parse_long(&v, arg, 1, RW_MAX_BATCH) < 0)
			return cmd_usage_error("rewrite", "--batch: '%s' is not a number from 1 to %d", arg, RW_MAX_BATCH);
		a->batch = (int)v;
		return 0;
	case OPT_INFLIGHT:
		if (num_parse_long(&v, arg, 1, RW_MAX_INFLIGHT) < 0)
			return cmd_usage_error("rewrite", "--inflight: '%s' is not a number from 1 to %d", arg, RW_MAX_INFLIGHT);
		a->inflight = (int)v;
		return 0;
	case OPT_PAGE:
		return cmd_page_size(&a->page_size, "rewrite", arg);
	case OPT_COMPACT_EVERY:
		if (num_parse_long(&v, arg, 1, RW_MAX_COMPACT_EVERY) < 0)
			return cmd_usage_error("rewrite", "--compact-every: '%s' is not a positive number", arg);
		a->compact_every = (uint64_t)v;
		return 0;
	case OPT_RATE:
		if (num_parse_double(&a->max_rate, arg, 0, RW_MAX_RATE) < 0)
			return cmd_usage_error("rewrite", "--max-rate: '%s' is not a positive number", arg);
		return 0;
	case OPT_QUOTA:
		if (cmd_quota_bytes(&a->quota, "rewrite", arg) != 0)
			return EXIT_USAGE;
		a->quota_given = 1;
		return 0;
	case 'o':
		if ((a->json = cmd_output_format(arg)) < 0)
			return cmd_usage_error("rewrite", "-o: '%s' is not table or json", arg);
		return 0;
	default: return cmd_usage_error("rewrite", "unknown option");
	}
}

static int parse_args(struct rewrite_cmd *a, int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "resources", required_argument, NULL, OPT_RESOURCES },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "node-config", required_argument, NULL, OPT_NODE },
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "inflight", required_argument, NULL, OPT_INFLIGHT },
		{ "max-rate", required_argument, NULL, OPT_RATE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "quota-bytes", required_argument, NULL, OPT_QUOTA },
		{ "compact-every", required_argument, NULL, OPT_COMPACT_EVERY },
		{ "compact", no_argument, NULL, OPT_COMPACT },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "page-size", required_argument, NULL, OPT_PAGE },
		{ "metrics-file", required_argument, NULL, OPT_METRICS },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	a->batch = RW_DEFAULT_BATCH;
	a->inflight = RW_DEFAULT_INFLIGHT;
	a->quota = RW_DEFAULT_QUOTA;
	if ((rc = etcdflags_init(&a->ef)) < 0)
		return cmd_fail(rc);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		if ((rc = etcdflags_handle(&a->ef, c, optarg)) < 0)
			return cmd_usage_error("rewrite", "%s", err_msg());
		if (rc == 1)
			continue;
		if (c == 'h') {
			fputs(REWRITE_HELP, stdout);
			return CMD_HELP_SHOWN;
		}
		if (c == ':')
			return cmd_usage_error("rewrite", "option '%s' needs a value", argv[optind - 1]);
		if (c == '?')
			return cmd_usage_error("rewrite", "unknown option '%s'", argv[optind - 1]);
		if ((rc = parse_opt(a, c, optarg)) != 0)
			return rc;
	}
	if (optind != argc)
		return cmd_usage_error("rewrite", "unexpected argument '%s'", argv[optind]);
	if (a->config_path == NULL)
		return cmd_usage_error("rewrite", "--config FILE is required (the config being rolled out)");
	if (a->all && a->resources_arg)
		return cmd_usage_error("rewrite", "--all and --resources exclude each other");
	return 0;
}

/* "NAME=FILE" or "FILE" (named after the file) */
static int load_nodes(struct rewrite_cmd *a)
{
	for (size_t i = 0; i < a->n_nodes; i++) {
		const char *arg = a->node_arg[i], *eq = strchr(arg, '=');
		const char *path = eq ? eq + 1 : arg;
		int rc;

		a->node_names[i] = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
		if (a->node_names[i] == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		if ((rc = encconf_load(&a->nodes[i], path)) < 0)
			return err_wrap(rc, "--node-config %s", a->node_names[i]);
	}
	return 0;
}

/* A new entry at the end of *v (NULL when the list is full or out of
 * memory: the value is still counted, just not listed). */
static struct listed *list_add(struct listed **v, size_t *n, const uint8_t *key, size_t key_len)
{
	struct listed *nv, *e;

	if (*n >= MAX_LISTED || (nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return NULL;
	*v = nv;
	e = &nv[*n];
	memset(e, 0, sizeof(*e));
	if ((e->etcd_key = malloc(key_len + 1)) == NULL)
		return NULL;
	memcpy(e->etcd_key, key, key_len);
	e->etcd_key[key_len] = '\0';
	e->etcd_key_len = key_len;
	(*n)++;
	return e;
}

static void list_free(struct listed *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].etcd_key);
	free(v);
}

static void on_bad(void *arg, const struct rw_unreadable *u)
{
	struct rewrite_cmd *a = arg;
	struct listed *e = list_add(&a->bad, &a->n_bad, u->key, u->key_len);

	if (e == NULL)
		return;
	e->kind = u->res->kind;
	snprintf(e->key_name, sizeof(e->key_name), "%s", u->res->key_name);
	e->key_name_guessed = u->res->kind != ENV_IDENTITY && u->res->key_name_guessed;
	e->reason = u->res->reason;
	snprintf(e->detail, sizeof(e->detail), "%s", u->res->detail);
}

static void on_too_large(void *arg, const struct rw_too_large *t)
{
	struct rewrite_cmd *a = arg;
	struct listed *e = list_add(&a->big, &a->n_big, t->key, t->key_len);

	if (e == NULL)
		return;
	e->value_bytes = t->value_len;
	snprintf(e->detail, sizeof(e->detail), "%s", t->detail ? t->detail : "");
}

static json_t *bad_json(const struct listed *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();

		cmd_json_bytes(o, "etcd_key", (const uint8_t *)v[i].etcd_key, v[i].etcd_key_len);
		json_object_set_new(o, "provider", json_string(env_kind_name(v[i].kind)));
		json_object_set_new(o, "key_name", cmd_json_text((const uint8_t *)v[i].key_name, strlen(v[i].key_name)));
		json_object_set_new(o, "key_name_guessed", json_boolean(v[i].key_name_guessed));
		json_object_set_new(o, "reason", json_string(xf_reason_name(v[i].reason)));
		json_object_set_new(o, "detail", cmd_json_text((const uint8_t *)v[i].detail, strlen(v[i].detail)));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *big_json(const struct listed *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();

		cmd_json_bytes(o, "etcd_key", (const uint8_t *)v[i].etcd_key, v[i].etcd_key_len);
		json_object_set_new(o, "reason", json_string("too_large"));
		json_object_set_new(o, "value_bytes", json_integer((json_int_t)v[i].value_bytes));
		json_object_set_new(o, "detail", cmd_json_text((const uint8_t *)v[i].detail, strlen(v[i].detail)));
		json_array_append_new(arr, o);
	}
	return arr;
}

static void on_progress(void *arg, const struct rw_stats *st)
{
	struct rewrite_cmd *a = arg;
	double t = progress_elapsed(&a->prog), rate = t > 0 ? (double)st->scanned / t : 0;
	uint64_t left = a->total > st->scanned ? a->total - st->scanned : 0;

	progress_update(&a->prog, "rewrite: %llu/%llu scanned, %llu rewritten, %.0f values/s, ETA %.0f s",
			(unsigned long long)st->scanned, (unsigned long long)a->total,
			(unsigned long long)st->rewritten, rate, rate > 0 ? (double)left / rate : 0.0);
}

/* Alarms, then the quota guard: from the used size alone when that bound
 * fits, else after a scan that estimates the growth. A dry run is checked
 * after its own scan instead (dry_run_quota). */
static int preflight(struct rewrite_cmd *a, struct etcd_client *cl, const struct rw_opts *o, json_t *rep)
{
	struct etcd_db_sizes db;
	int rc;

	/* each member enforces the quota on its own file: the largest decides */
	if ((rc = rw_check_alarms(cl)) < 0 || (rc = etcd_db_sizes(cl, &db)) < 0 || (rc = rw_count(cl, o, &a->total)) < 0)
		return rc;
	a->q = (struct rw_quota){ .quota = a->quota, .quota_given = a->quota_given, .db_size = db.max_db_size,
				  .db_size_in_use = db.max_db_size_in_use, .keys = a->total, .growth = -1 };
	json_object_set_new(rep, "db_size", json_integer(db.max_db_size));
	json_object_set_new(rep, "quota_bytes", json_integer(a->quota));
	json_object_set_new(rep, "quota_assumed", json_boolean(!a->quota_given));
	if (a->dry_run || (rc = rw_quota_check(o, &a->q)) <= 0)
		return rc;
	progress_update(&a->prog, "rewrite: estimating what will change");
	if ((rc = rw_estimate(cl, o, &a->q.values, &a->q.growth)) < 0)
		return rc;
	a->expected = a->q.values;
	json_object_set_new(rep, "expected", json_integer((json_int_t)a->expected));
	return rw_quota_check(o, &a->q);
}

/* The dry run's own scan measured the growth: would the real run pass? */
static void dry_run_quota(struct rewrite_cmd *a, const struct rw_opts *o, const struct rw_stats *st, json_t *rep)
{
	a->q.growth = st->growth_estimate;
	a->q.values = st->rewritten;
	a->dry_refused = rw_quota_check(o, &a->q) < 0;
	if (a->dry_refused)
		snprintf(a->dry_refusal, sizeof(a->dry_refusal), "%s", err_msg());
	json_object_set_new(rep, "quota_refusal", a->dry_refused ? json_string(a->dry_refusal) : json_null());
}

static double rate_of(const struct rw_stats *st, double secs)
{
	return secs > 0 ? (double)st->rewritten / secs : 0;
}

static void fill_report(json_t *rep, const struct rewrite_cmd *a, const struct rw_stats *st, int rc, double secs)
{
	json_object_set_new(rep, "schema", json_string("etcdcrypt.rewrite/v1"));
	json_object_set_new(rep, "dry_run", json_boolean(a->dry_run));
	json_object_set_new(rep, "config", json_string(a->config_path));
	json_object_set_new(rep, "kms_plugins", kmsflags_report(&a->kf));
	json_object_set_new(rep, "revision_start", json_integer(st->revision_start));
	json_object_set_new(rep, "revision_end", json_integer(st->revision_end));
	json_object_set_new(rep, "scanned", json_integer((json_int_t)st->scanned));
	json_object_set_new(rep, a->dry_run ? "would_rewrite" : "rewritten", json_integer((json_int_t)st->rewritten));
	json_object_set_new(rep, "already_current", json_integer((json_int_t)st->current));
	json_object_set_new(rep, "unreadable", json_integer((json_int_t)st->unreadable));
	json_object_set_new(rep, "unreadable_keys", bad_json(a->bad, a->n_bad));
	json_object_set_new(rep, "not_rewritable", json_integer((json_int_t)st->too_large));
	json_object_set_new(rep, "not_rewritable_keys", big_json(a->big, a->n_big));
	json_object_set_new(rep, "in_doubt", json_integer((json_int_t)st->in_doubt));
	json_object_set_new(rep, "empty_prefixes", cmd_empty_json(&st->empty));
	json_object_set_new(rep, "txn_conflicts", json_integer((json_int_t)st->conflicts));
	json_object_set_new(rep, "keys_reread", json_integer((json_int_t)st->rehandled));
	json_object_set_new(rep, "batch_rereads", json_integer((json_int_t)st->rereads));
	/* the names before txn_conflicts / keys_reread, kept for scripts */
	json_object_set_new(rep, "conflicts", json_integer((json_int_t)st->conflicts));
	json_object_set_new(rep, "conflict_keys_rehandled", json_integer((json_int_t)st->rehandled));
	json_object_set_new(rep, "vanished", json_integer((json_int_t)st->vanished));
	json_object_set_new(rep, "txns", json_integer((json_int_t)st->txns));
	json_object_set_new(rep, "retries", json_integer((json_int_t)st->retries));
	json_object_set_new(rep, "compactions", json_integer((json_int_t)st->compactions));
	json_object_set_new(rep, "resumed_after_compaction", json_integer(st->resumed));
	json_object_set_new(rep, "growth_estimate_bytes", json_integer(st->growth_estimate));
	json_object_set_new(rep, "seconds", json_real(secs));
	json_object_set_new(rep, "rate", json_real(rate_of(st, secs)));
	json_object_set_new(rep, "stopped", rc == 0 ? json_null() : json_string(err_name(rc)));
	json_object_set_new(rep, "old_revisions_with_previous_encryption",
			    json_integer(a->dry_run ? 0 : (json_int_t)(st->rewritten - st->purged)));
	json_object_set_new(rep, "old_revisions_in_doubt", json_integer(a->dry_run ? 0 : (json_int_t)st->in_doubt));
}

static void print_table(const struct rewrite_cmd *a, const struct rw_stats *st)
{
	printf("%s %s at revisions %lld..%lld in %.2f s (%.0f/s)\n", a->dry_run ? "dry run of" : "rewrite with",
	       a->config_path, (long long)st->revision_start, (long long)st->revision_end, a->seconds,
	       rate_of(st, a->seconds));
	printf("  scanned           %llu\n", (unsigned long long)st->scanned);
	printf("  %-17s %llu\n", a->dry_run ? "would rewrite" : "rewritten", (unsigned long long)st->rewritten);
	printf("  already current   %llu\n", (unsigned long long)st->current);
	printf("  unreadable        %llu (left untouched)\n", (unsigned long long)st->unreadable);
	if (st->too_large)
		printf("  not rewritable    %llu (too large for etcd once encrypted; left as they are)\n",
		       (unsigned long long)st->too_large);
	if (st->in_doubt)
		printf("  in doubt          %llu (their Txns failed and may still have been applied: up to %llu more "
		       "rewritten; a rerun settles them)\n", (unsigned long long)st->in_doubt,
		       (unsigned long long)st->in_doubt);
	printf("  conflicts         %llu Txns, %llu batch re-reads, %llu changed keys handled again\n",
	       (unsigned long long)st->conflicts, (unsigned long long)st->rereads, (unsigned long long)st->rehandled);
	if (st->vanished)
		printf("  deleted meanwhile %llu\n", (unsigned long long)st->vanished);
	printf("  database growth   ~%.1f MB (each rewrite adds a revision)\n", (double)st->growth_estimate / 1e6);
	kmsflags_print(&a->kf, stdout);
	for (size_t i = 0; i < a->n_bad; i++) {
		const struct listed *e = &a->bad[i];
		char *k = esc_term((const uint8_t *)e->etcd_key, e->etcd_key_len), name[ENV_NAME_MAX + 8], d[1100];

		cmd_name_cell(name, sizeof(name), e->key_name, e->key_name_guessed);
		esc_term_buf(d, sizeof(d), (const uint8_t *)e->detail, strlen(e->detail));
		printf("  UNREADABLE %s  %s:%s  %s: %s\n", k ? k : "?", env_kind_name(e->kind), e->key_name[0] ? name : "",
		       xf_reason_name(e->reason), d);
		free(k);
	}
	for (size_t i = 0; i < a->n_big; i++) {
		const struct listed *e = &a->big[i];
		char *k = esc_term((const uint8_t *)e->etcd_key, e->etcd_key_len), d[1100];

		esc_term_buf(d, sizeof(d), (const uint8_t *)e->detail, strlen(e->detail));
		printf("  TOO LARGE %s  %zu bytes once encrypted, over etcd's --max-request-bytes: %s\n", k ? k : "?",
		       e->value_bytes, d);
		free(k);
	}
	if (!a->dry_run && st->rewritten - st->purged + st->in_doubt > 0 && !a->compact_end)
		printf("history: %s%llu older revisions still hold the previous encryption; to purge them run\n"
		       "  etcdctl compact %lld   and then   etcdctl defrag   on each member\n",
		       st->in_doubt ? "up to " : "", (unsigned long long)(st->rewritten - st->purged + st->in_doubt),
		       (long long)st->revision_end);
	else if (!a->dry_run && st->purged > 0 && !a->compact_end)
		printf("history: compacted behind the run up to revision %lld: no older revision holds the previous\n"
		       "  encryption; run etcdctl defrag on each member to return the space\n",
		       (long long)st->last_compacted);
	else if (a->compact_end && st->rewritten > 0)
		printf("history: compacted at revision %lld; run etcdctl defrag on each member to return the space\n",
		       (long long)st->revision_end);
}

static int run(struct rewrite_cmd *a, json_t *rep, struct rw_stats *st)
{
	struct etcd_client *cl = NULL;
	struct res_id *res = NULL;
	size_t n = 0;
	int all = a->all, rc;
	struct etcd_opts eo;
	struct rw_opts o = { .conf = a->conf, .ring = a->ring, .etcd_prefix = a->prefix, .dry_run = a->dry_run,
			     .force = a->force, .batch_ops = a->batch, .batch_bytes = RW_DEFAULT_BATCH_BYTES,
			     .inflight = a->inflight, .max_rate = a->max_rate, .page_size = a->page_size,
			     .compact_every = a->compact_every, .stop = &cmd_stop, .on_too_large = on_too_large };

	memset(st, 0, sizeof(*st));
	if (!all && (rc = cmd_resource_list(&res, &n, &all, a->resources_arg, a->conf)) < 0) {
		free(res);
		return rc;
	}
	o.resources = res;
	o.n_resources = n;
	o.all = all;
	rc = rw_check_target(&o);
	if (rc == 0)
		rc = rw_check_nodes(&o, (const struct encconf *const *)a->nodes, (const char *const *)a->node_names,
				    a->n_nodes);
	etcdflags_opts(&a->ef, &eo);
	if (rc == 0 && (rc = etcd_open(&cl, &eo)) == 0 && (rc = preflight(a, cl, &o, rep)) == 0) {
		rc = rw_run(cl, &o, st, on_bad, on_progress, a);
		if (rc == 0 && a->dry_run)
			dry_run_quota(a, &o, st, rep);
		if (rc == 0 && a->compact_end && !a->dry_run && st->revision_end > 0)
			rc = etcd_compact(cl, st->revision_end, 1);
	}
	etcd_close(cl);
	free(res);
	return rc;
}

/* --metrics-file: the run's counts when it got to scanning (ran), else
 * success 0. A file that cannot be written makes the status 3. */
static int write_metrics(const struct rewrite_cmd *a, const struct rw_stats *st, int rc, int ran, int status)
{
	int mrc = ran ? metrics_rewrite(a->metrics_path, st, progress_elapsed(&a->prog), a->dry_run, rc == 0)
		      : metrics_failed(a->metrics_path, "rewrite");

	return mrc < 0 ? cmd_fail(mrc) : status;
}

int cmd_rewrite(int argc, char **argv)
{
	struct rewrite_cmd a = { 0 };
	struct rw_stats st = { 0 };
	json_t *rep = json_object();
	int rc = 0, status, parsed = 0, ran = 0;

	progress_init(&a.prog);
	if ((status = parse_args(&a, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	parsed = 1;
	if ((rc = encconf_load(&a.conf, a.config_path)) < 0 ||
	    (rc = kmsflags_open(&a.kf, &a.ring, a.keyring_path, a.ef.debug)) < 0 ||
	    (rc = load_nodes(&a)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	rc = run(&a, rep, &st);
	progress_done(&a.prog);
	if ((rc == ERR_REFUSED || rc == ERR_NODE_MISMATCH) && st.scanned == 0) {
		/* a gate refused before anything was written: a node config that
		 * disagrees is a configuration error, a raised alarm or the quota
		 * a runtime condition */
		fprintf(stderr, "etcdcrypt: refusing to rewrite: %s\n", err_msg());
		status = cmd_exit_status(rc);
		goto out;
	}
	if (rc < 0 && st.scanned == 0 && st.rewritten == 0) {
		status = cmd_fail(rc);
		goto out;
	}
	ran = 1;
	a.seconds = progress_elapsed(&a.prog);
	if (a.json) {
		fill_report(rep, &a, &st, rc, a.seconds);
		json_dumpf(rep, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		print_table(&a, &st);
	}
	if (rc == ERR_INTERRUPTED) {
		fprintf(stderr, "etcdcrypt: interrupted: in-flight writes finished; rerun to complete the rewrite\n");
		status = EXIT_FINDINGS;
	} else if (rc < 0) {
		status = cmd_fail(rc);
		fprintf(stderr, "etcdcrypt: stopped cleanly: no value is half written; rerun to finish after fixing that\n");
	} else if (a.dry_refused) {
		fprintf(stderr, "etcdcrypt: the real run would be refused: %s\n", a.dry_refusal);
		status = cmd_exit_status(ERR_REFUSED);
	} else {
		status = st.unreadable > 0 || st.too_large > 0 ? EXIT_FINDINGS : EXIT_OK;
		if (cmd_empty_status("rewrite", &st.empty, a.allow_empty) != EXIT_OK)
			status = EXIT_FINDINGS;
	}
out:
	if (parsed && a.metrics_path)
		status = write_metrics(&a, &st, rc, ran, status);
	json_decref(rep);
	list_free(a.bad, a.n_bad);
	list_free(a.big, a.n_big);
	for (size_t i = 0; i < a.n_nodes; i++) {
		encconf_free(a.nodes[i]);
		free(a.node_names[i]);
	}
	kmsring_free(a.ring);
	kmsflags_release(&a.kf);
	encconf_free(a.conf);
	etcdflags_release(&a.ef);
	return status;
}
