/* cmd_backup: `etcdcrypt backup VERB`, offline checks of etcd snapshot
 * files. One verb today: verify (will this snapshot restore readable under
 * these configs, and which keys does it need?). Reads the file only; never
 * talks to etcd. Output: tables or JSON (docs/backup-json.md). */
#include "audit/backup.h"
#include "backup_print.h"
#include "cmd.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "base/esc.h"
#include "kmsflags.h"
#include "etcdflags.h"
#include "base/hex.h"
#include "xform/kmsring.h"
#include "progress.h"
#include "report_print.h"
#include "bolt/snapshot.h"
#include "scan/scan.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_backup_verify(int argc, char **argv);

static const struct cmd_def VERBS[] = {
	{ "verify", cmd_backup_verify,
	  "backup verify SNAPSHOT [--config FILE ...] [--resources LIST|--all] [--history] [-o table|json]",
	  "check offline that a snapshot is intact and restores readable under each config" },
};

#define N_VERBS (sizeof(VERBS) / sizeof(VERBS[0]))

static void backup_usage(FILE *f)
{
	fprintf(f, "usage: etcdcrypt backup <verb> [options]\n\nOffline checks of etcd snapshot files.\n\nverbs:\n");
	for (size_t i = 0; i < N_VERBS; i++)
		fprintf(f, "  %-8s %s\n           %s\n", VERBS[i].name, VERBS[i].summary, VERBS[i].usage);
	fprintf(f, "\nRun 'etcdcrypt backup <verb> --help' for a verb's options.\n");
}

int cmd_backup(int argc, char **argv)
{
	const struct cmd_def *verb;

	if (argc < 2) {
		backup_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		backup_usage(stdout);
		return EXIT_OK;
	}
	if ((verb = cmd_find(VERBS, N_VERBS, argv[1])) != NULL)
		return verb->fn(argc - 1, argv + 1);
	return cmd_usage_error("backup", "'%s' is not a backup verb", argv[1]);
}

/* ---- backup verify ------------------------------------------------------ */

enum { OPT_CONFIG = CMD_OPT_FIRST, OPT_KEYRING, OPT_RESOURCES, OPT_ALL, OPT_HISTORY, OPT_LIST_KEYS, OPT_PREFIX, OPT_ALLOW_EMPTY };

static const char VERIFY_HELP[] =
	"usage: etcdcrypt backup verify SNAPSHOT [--config FILE ...] [--kms-keyring FILE]\n"
	"                               [--resources LIST | --all] [--etcd-prefix P]\n"
	"                               [--history] [-o table|json] [--list-keys]\n\n"
	"Reads an etcd snapshot offline (no server): an 'etcdctl snapshot save' file\n"
	"(bbolt database + SHA-256 trailer) or a raw member db file (no trailer). Checks\n"
	"the trailer hash, reads the bbolt file, finds the newest live value of every\n"
	"key, and decrypts each value of the resources with every --config given, with\n"
	"kube-apiserver's read rules. Per config: counts by provider and key name, the\n"
	"unreadable keys and why, whether a restore would serve every value, and which\n"
	"key names the snapshot needs.\n\n"
	"options:\n"
	"  --config FILE           EncryptionConfiguration to prove values against;\n"
	"                          repeat it to check several (e.g. today's and the next)\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins (docs/kms-keyring.md)\n"
	KMSFLAGS_HELP
	"  --resources LIST        comma-separated resources (default: those the configs\n"
	"                          name, else secrets)\n"
	"  --all                   every key under the etcd prefix, grouped by resource\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --history               count revisions in the file that still hold plaintext;\n"
	"                          list deleted and re-created keys\n"
	"  --list-keys             one row per value\n"
	"  --allow-empty           a resource (or --all prefix) with no key at all in the\n"
	"                          file is fine (default: named, exit 1)\n"
	"  -o, --output FORMAT     table (default) or json\n"
	"  -h, --help              this help\n\n"
	"exit status: 0 hash good (or no trailer) and every value readable under every\n"
	"             config; 1 findings: hash mismatch, truncated or corrupt file, a\n"
	"             value unreadable, or no key at all under a resource checked (without\n"
	"             --allow-empty); 2 usage or config error; 3 I/O failure\n";

struct verify {
	const char *file, *keyring_path, *resources_arg, *prefix;
	const char *config_paths[BACKUP_MAX_CONFIGS];
	size_t n_confs;
	int all, history, list_keys, json, allow_empty;
	struct encconf *confs[BACKUP_MAX_CONFIGS];
	struct kms_ring *ring;
	struct kmsflags kf;
	struct progress prog;
	uint64_t listed;
};

static int parse_verify(struct verify *v, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "resources", required_argument, NULL, OPT_RESOURCES },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "history", no_argument, NULL, OPT_HISTORY },
		{ "list-keys", no_argument, NULL, OPT_LIST_KEYS },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "allow-empty", no_argument, NULL, OPT_ALLOW_EMPTY },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			if (v->n_confs >= BACKUP_MAX_CONFIGS)
				return cmd_usage_error("backup verify", "at most %d --config files", BACKUP_MAX_CONFIGS);
			v->config_paths[v->n_confs++] = optarg;
			break;
		case OPT_KEYRING: v->keyring_path = optarg; break;
		case OPT_KMS_ENDPOINT:
			if (kmsflags_add(&v->kf, optarg) < 0)
				return cmd_usage_error("backup verify", "%s", err_msg());
			break;
		case OPT_RESOURCES: v->resources_arg = optarg; break;
		case OPT_ALL: v->all = 1; break;
		case OPT_HISTORY: v->history = 1; break;
		case OPT_LIST_KEYS: v->list_keys = 1; break;
		case OPT_PREFIX: v->prefix = optarg; break;
		case OPT_ALLOW_EMPTY: v->allow_empty = 1; break;
		case 'o':
			if ((v->json = cmd_output_format(optarg)) < 0)
				return cmd_usage_error("backup verify", "-o: '%s' is not table or json", optarg);
			break;
		case 'h': fputs(VERIFY_HELP, stdout); return CMD_HELP_SHOWN;
		case ':': return cmd_usage_error("backup verify", "option '%s' needs a value", argv[optind - 1]);
		default: return cmd_usage_error("backup verify", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cmd_usage_error("backup verify", "which snapshot file? (SNAPSHOT is required)");
	v->file = argv[optind++];
	if (optind != argc)
		return cmd_usage_error("backup verify", "unexpected argument '%s'", argv[optind]);
	if (v->all && v->resources_arg)
		return cmd_usage_error("backup verify", "--all and --resources exclude each other");
	return 0;
}

/* --resources, else the union of what the configs name, else secrets. */
static int resource_list(struct verify *v, struct res_id **out, size_t *n, int *all)
{
	*all = v->all;
	if (v->all || v->resources_arg || v->n_confs <= 1)
		return v->all ? 0 : cmd_resource_list(out, n, all, v->resources_arg, v->n_confs ? v->confs[0] : NULL);
	return scan_resources_union(out, n, all, (const struct encconf *const *)v->confs, v->n_confs);
}

static void on_snap_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct verify *v = arg;

	if (total > 0)
		progress_update(&v->prog, "backup verify: %s %.0f%% of %.1f MB", phase, 100.0 * (double)done / (double)total,
				(double)total / 1e6);
	else
		progress_update(&v->prog, "backup verify: %s, %llu revisions", phase, (unsigned long long)done);
}

static void on_values(void *arg, uint64_t values)
{
	struct verify *v = arg;

	progress_update(&v->prog, "backup verify: decrypting, %llu values", (unsigned long long)values);
}

static const char *status_of(const struct verify *v, const struct xf_result *r)
{
	if (v->n_confs == 0)
		return "-";
	return !r->ok ? xf_reason_name(r->reason) : r->stale ? "stale" : "current";
}

static int list_value(void *arg, const struct snap_kv *kv, const struct res_id *res, const struct xf_result *r,
		      size_t n)
{
	struct verify *v = arg;
	const char *name = r[0].kind == ENV_IDENTITY ? "" : r[0].key_name;

	(void)res;
	if (!v->list_keys)
		return 0;
	if (v->json) {
		json_t *o = json_object(), *st = json_array();

		cmd_json_bytes(o, "etcd_key", kv->key, kv->key_len);
		json_object_set_new(o, "mod_revision", json_integer(kv->mod_revision));
		json_object_set_new(o, "provider", json_string(env_kind_name(r[0].kind)));
		json_object_set_new(o, "key_name", cmd_json_text((const uint8_t *)name, strlen(name)));
		json_object_set_new(o, "key_name_guessed", json_boolean(name[0] && r[0].key_name_guessed));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(st, json_string(status_of(v, &r[i])));
		json_object_set_new(o, "status", st);
		/* JSON Lines: one value per line, the report last */
		json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		char *k = esc_term(kv->key, kv->key_len), cell[ENV_NAME_MAX + 8];

		cmd_name_cell(cell, sizeof(cell), name, name[0] && r[0].key_name_guessed);
		printf("%-64s %9lld %-10s %-20s", k != NULL ? k : "?", (long long)kv->mod_revision,
		       env_kind_name(r[0].kind), cell);
		free(k);
		for (size_t i = 0; i < n; i++)
			printf("%s%s", i ? "," : " ", status_of(v, &r[i]));
		putchar('\n');
	}
	v->listed++;
	return 0;
}

/* One line on stderr for a file that could not be read as a whole. */
static int file_finding(const struct verify *v, const struct snap *s, int rc)
{
	const struct snap_info *in = s ? snap_get_info(s) : NULL;

	if (rc != ERR_CORRUPT)
		return cmd_fail(rc);
	fprintf(stderr, "etcdcrypt: '%s': %s%s\n", v->file, err_msg(),
		in && in->trailer_checked && !in->trailer_matches ? " (and the SHA-256 trailer does not match)" : "");
	return EXIT_FINDINGS;
}

static int load_inputs(struct verify *v)
{
	int rc = 0;

	for (size_t i = 0; i < v->n_confs && rc == 0; i++)
		rc = encconf_load(&v->confs[i], v->config_paths[i]);
	if (rc == 0)
		rc = kmsflags_open(&v->kf, &v->ring, v->keyring_path, 0);
	return rc;
}

static void note_file(const struct verify *v, const struct snap_info *in)
{
	char want[9], got[9];

	hex_encode(want, in->expected, 4);
	hex_encode(got, in->actual, 4);
	if (!in->has_trailer)
		fprintf(stderr, "etcdcrypt: note: '%s' has no SHA-256 trailer (a raw member db, not 'etcdctl snapshot "
				"save' output): integrity not checked, continuing\n", v->file);
	else if (!in->trailer_matches)
		fprintf(stderr, "etcdcrypt: '%s': SHA-256 trailer does not match the data (file says %s..., "
				"data hashes to %s...): the file was changed or damaged\n", v->file, want, got);
	if (in->extra_bytes > 0)
		fprintf(stderr, "etcdcrypt: '%s': %llu bytes after the last whole page: truncated or damaged\n", v->file,
			(unsigned long long)in->extra_bytes);
}

static int run_verify(struct verify *v, struct snap **sp, struct backup **bkp)
{
	struct backup_opts o = { .ring = v->ring, .etcd_prefix = v->prefix, .n_confs = v->n_confs,
				 .key_order = v->list_keys };
	struct res_id *res = NULL;
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < v->n_confs; i++) {
		o.confs[i] = v->confs[i];
		o.conf_paths[i] = v->config_paths[i];
	}
	if ((rc = resource_list(v, &res, &n, &o.all)) < 0)
		return rc;
	o.resources = res;
	o.n_resources = n;
	/* the trailer's hash runs on a second thread while this one walks and
	 * decrypts: one read of the file, the two jobs overlapped */
	if ((rc = snap_open(sp, v->file)) < 0 || (rc = snap_trailer_start(*sp)) < 0)
		goto out;
	/* offline and time-bound (the target is the hash's own speed): keep
	 * the file mapped in rather than fault it in twice */
	snap_keep_resident(*sp, 0);
	if ((rc = snap_index(*sp, on_snap_progress, v)) < 0 || (rc = backup_new(bkp, *sp, &o)) < 0)
		goto out;
	if (v->list_keys && !v->json)
		printf("%-64s %9s %-10s %-20s %s\n", "KEY", "REVISION", "PROVIDER", "KEY NAME", "STATUS");
	rc = backup_run(*bkp, list_value, on_values, v);
	if (rc == 0) {
		progress_update(&v->prog, "backup verify: hashing");
		rc = snap_trailer_wait(*sp);
	}
out:
	if (*sp)
		snap_trailer_wait(*sp);
	free(res);
	return rc;
}

static int cmd_backup_verify(int argc, char **argv)
{
	struct verify v = { 0 };
	struct snap *s = NULL;
	struct backup *bk = NULL;
	struct scan_empty empty;
	json_t *rep = NULL;
	int rc, status;

	progress_init(&v.prog);
	if ((status = parse_verify(&v, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	if ((rc = load_inputs(&v)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	if ((rc = run_verify(&v, &s, &bk)) < 0) {
		progress_done(&v.prog);
		status = file_finding(&v, s, rc);
		goto out;
	}
	progress_done(&v.prog);
	note_file(&v, snap_get_info(s));
	backup_empty(bk, &empty);
	if (v.json) {
		rep = backup_json(bk, v.file, v.history, progress_elapsed(&v.prog));
		json_object_set_new(rep, "kms_plugins", kmsflags_report(&v.kf));
		json_object_set_new(rep, "empty_prefixes", cmd_empty_json(&empty));
		rp_print_json(rep, v.list_keys);
	} else {
		backup_print_table(bk, v.file, v.history);
		kmsflags_print(&v.kf, stdout);
	}
	status = backup_ok(bk) ? EXIT_OK : EXIT_FINDINGS;
	if (cmd_empty_status("backup verify", &empty, v.allow_empty) != EXIT_OK)
		status = EXIT_FINDINGS;
out:
	json_decref(rep);
	backup_free(bk);
	snap_free(s);
	kmsring_free(v.ring);
	kmsflags_release(&v.kf);
	for (size_t i = 0; i < v.n_confs; i++)
		encconf_free(v.confs[i]);
	return status;
}
