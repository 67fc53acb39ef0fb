/* cmd_config: the `config` verbs (docs/config.md), in their own dispatch
 * table: enable and disable write the EncryptionConfiguration the CSM
 * encryption.sh would write for the same keys (core/csmconf.h);
 * generate-key makes a key file; check (cmd_config_check.c) proves that
 * every stored value stays readable under a proposed config.
 * Keys come from files or stdin, never from the command line. */
#include "cmd.h"
#include "conf/csmconf.h"
#include "xform/csmkey.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "base/num.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct cmd_def VERBS[] = {
	{ "enable", cmd_config_enable, "config enable (--aescbc|--aesgcm|--secretbox) KEYFILE ... [-o FILE]",
	  "write a config that encrypts secrets with the first key (identity last)" },
	{ "disable", cmd_config_disable, "config disable [(--aescbc|--aesgcm|--secretbox) KEYFILE ...] [-o FILE]",
	  "write a config that stores plaintext (identity first), keys kept to read" },
	{ "generate-key", cmd_config_generate_key, "config generate-key [--bytes 16|24|32] -o FILE",
	  "make a random key file (0600)" },
	{ "check", cmd_config_check, "config check PROPOSED [--node-config F ...] [etcd flags]",
	  "prove by decryption that every value in etcd stays readable under PROPOSED" },
};

#define N_VERBS (sizeof(VERBS) / sizeof(VERBS[0]))

static void config_usage(FILE *f)
{
	fprintf(f, "usage: etcdcrypt config <verb> [options]\n\n"
		   "EncryptionConfigurations as the HPE Cray CSM encryption.sh writes them.\n\nverbs:\n");
	for (size_t i = 0; i < N_VERBS; i++)
		fprintf(f, "  %-13s %s\n", VERBS[i].name, VERBS[i].summary);
	fprintf(f, "\nRun 'etcdcrypt config <verb> --help' for a verb's options.\n");
}

int cmd_config(int argc, char **argv)
{
	const struct cmd_def *verb;

	if (argc < 2) {
		config_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		config_usage(stdout);
		return EXIT_OK;
	}
	if ((verb = cmd_find(VERBS, N_VERBS, argv[1])) != NULL)
		return verb->fn(argc - 1, argv + 1);
	return cmd_usage_error("config", "'%s' is not a config verb (enable, disable, generate-key, check)", argv[1]);
}

/* ---- enable / disable ------------------------------------------------------ */

static const char ENABLE_HELP[] =
	"usage: etcdcrypt config enable (--aescbc|--aesgcm|--secretbox) KEYFILE ... [-o FILE]\n\n"
	"Writes the EncryptionConfiguration CSM's 'encryption.sh --enable' writes: for\n"
	"secrets, one provider per key in the order given (the first key encrypts new\n"
	"writes), then identity (plaintext stays readable until rewritten).\n\n";
static const char DISABLE_HELP[] =
	"usage: etcdcrypt config disable [(--aescbc|--aesgcm|--secretbox) KEYFILE ...] [-o FILE]\n\n"
	"Writes the EncryptionConfiguration CSM's 'encryption.sh --disable' writes: for\n"
	"secrets, identity first (new writes are plaintext), then one provider per key\n"
	"so values still encrypted stay readable. Keep the keys until a rewrite has run\n"
	"and 'etcdcrypt status' shows current: identity; only then disable with no key.\n\n";
static const char KEYS_HELP[] =
	"options:\n"
	"  --aescbc KEYFILE        an AES-CBC key (16, 24 or 32 bytes)\n"
	"  --aesgcm KEYFILE        an AES-GCM key (16, 24 or 32 bytes)\n"
	"  --secretbox KEYFILE     a secretbox key (32 bytes)\n"
	"                          KEYFILE holds the raw key string ('-': stdin); one\n"
	"                          trailing newline is not part of the key. Keys are never\n"
	"                          taken from the command line. Repeat to add keys.\n"
	"  -o, --output FILE       write the config to FILE, created 0600 and never\n"
	"                          overwritten ('-' or no -o: stdout, not a terminal)\n"
	"  -h, --help              this help\n\n"
	"Key names are <provider>-<sha256 hex of the key string and a newline>, as CSM\n"
	"names them, so 'etcdcrypt status' shows the same names as CSM's status.\n\n"
	"exit status: 0 written; 2 usage error or bad key file; 3 cannot write\n";

enum { OPT_AESCBC = CMD_OPT_FIRST, OPT_AESGCM, OPT_SECRETBOX, OPT_BYTES };

static int enc_kind(int opt)
{
	return opt == OPT_AESCBC ? ENCCONF_AESCBC : opt == OPT_AESGCM ? ENCCONF_AESGCM : ENCCONF_SECRETBOX;
}

struct keyargs {
	struct csmconf_key keys[64];
	size_t n;
	const char *output;
	int stdin_used;
};

static int read_key(struct keyargs *k, const char *verb, int opt, const char *path)
{
	int rc;

	if (k->n >= sizeof(k->keys) / sizeof(k->keys[0]))
		return cmd_usage_error(verb, "too many keys");
	if (strcmp(path, "-") == 0 && k->stdin_used++)
		return cmd_usage_error(verb, "stdin ('-') can hold only one key");
	if ((rc = csmkey_read(&k->keys[k->n], (enum encconf_kind)enc_kind(opt), path)) < 0) {
		fprintf(stderr, "etcdcrypt %s: %s\n", verb, err_msg());
		return EXIT_USAGE;
	}
	k->n++;
	return 0;
}

static int parse_keys(struct keyargs *k, const char *verb, const char *help, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "aescbc", required_argument, NULL, OPT_AESCBC },
		{ "aesgcm", required_argument, NULL, OPT_AESGCM },
		{ "secretbox", required_argument, NULL, OPT_SECRETBOX },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_AESCBC:
		case OPT_AESGCM:
		case OPT_SECRETBOX:
			if ((rc = read_key(k, verb, c, optarg)) != 0)
				return rc;
			break;
		case 'o': k->output = optarg; break;
		case 'h': printf("%s%s", help, KEYS_HELP); return CMD_HELP_SHOWN;
		case ':': return cmd_usage_error(verb, "option '%s' needs a value", argv[optind - 1]);
		default: return cmd_usage_error(verb, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error(verb, "unexpected argument '%s' (keys are read from files: --aescbc KEYFILE)",
				       argv[optind]);
	return 0;
}

/* Writes text to -o FILE (exclusive, 0600) or stdout (never a terminal:
 * the text holds the keys). */
int cmd_config_emit(const char *verb, const char *output, const void *text, size_t n)
{
	int rc;

	if (output == NULL || strcmp(output, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			return cmd_usage_error(verb, "not printing key material to a terminal; use -o FILE or a pipe");
		if (fwrite(text, 1, n, stdout) != n)
			return cmd_fail(err_set(ERR_IO, "cannot write to stdout"));
		return EXIT_OK;
	}
	if ((rc = csmconf_write_new(output, text, n)) < 0)
		return cmd_fail(rc);
	return EXIT_OK;
}

/* After writing to a file: its node line, as status shows it. */
static void print_summary(const char *output, const struct csmconf_key *keys, size_t n, enum csmconf_mode mode)
{
	char name[CSMCONF_NAME_MAX];

	printf("%s:%s", output, mode == CSMCONF_DISABLE ? " identity" : "");
	for (size_t i = 0; i < n; i++)
		if (csmkey_name(name, &keys[i]) == 0)
			printf(" %s", name);
	printf("%s\n", mode == CSMCONF_ENABLE ? " identity" : "");
}

static int enable_disable(int argc, char **argv, enum csmconf_mode mode)
{
	const char *verb = mode == CSMCONF_ENABLE ? "config enable" : "config disable";
	struct keyargs k = { 0 };
	struct buf text;
	int rc, status;

	buf_init(&text, 1 << 20);
	if ((status = parse_keys(&k, verb, mode == CSMCONF_ENABLE ? ENABLE_HELP : DISABLE_HELP, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	if (mode == CSMCONF_ENABLE && k.n == 0) {
		status = cmd_usage_error(verb, "needs at least one key: --aescbc KEYFILE, --aesgcm KEYFILE or --secretbox KEYFILE");
		goto out;
	}
	if ((rc = csmconf_generate(&text, mode, k.keys, k.n)) < 0) {
		status = rc == ERR_USAGE ? cmd_usage_error(verb, "%s", err_msg()) : cmd_fail(rc);
		goto out;
	}
	status = cmd_config_emit(verb, k.output, text.data, text.len);
	if (status == EXIT_OK && k.output && strcmp(k.output, "-") != 0)
		print_summary(k.output, k.keys, k.n, mode);
out:
	for (size_t i = 0; i < k.n; i++)
		csmconf_key_wipe(&k.keys[i]);
	buf_release(&text);
	return status;
}

int cmd_config_enable(int argc, char **argv)
{
	return enable_disable(argc, argv, CSMCONF_ENABLE);
}

int cmd_config_disable(int argc, char **argv)
{
	return enable_disable(argc, argv, CSMCONF_DISABLE);
}

/* ---- generate-key ------------------------------------------------------------ */

static const char GENKEY_HELP[] =
	"usage: etcdcrypt config generate-key [--bytes 16|24|32] -o FILE\n\n"
	"Makes a random key file for config enable/disable: a key string of printable\n"
	"letters and digits (about 5.95 bits each: 32 characters give ~190 bits) and a\n"
	"newline. The same string can be given to CSM's encryption.sh. FILE is created\n"
	"0600 with O_EXCL and O_NOFOLLOW: an existing file is never overwritten. The key\n"
	"is never printed.\n\n"
	"options:\n"
	"  --bytes N               key length: 16, 24 or 32 (default 32; secretbox needs 32)\n"
	"  -o, --output FILE       the key file (required)\n"
	"  -h, --help              this help\n\n"
	"exit status: 0 written; 2 usage error; 3 cannot write FILE\n";

int cmd_config_generate_key(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bytes", required_argument, NULL, OPT_BYTES },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *verb = "config generate-key", *output = NULL;
	char key[CSMCONF_KEY_MAX + 2];
	long bytes = 32;
	int c, rc, status;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_BYTES:
			if (num_parse_long(&bytes, optarg, 16, 32) < 0 || (bytes != 16 && bytes != 24 && bytes != 32))
				return cmd_usage_error(verb, "--bytes: '%s' is not 16, 24 or 32", optarg);
			break;
		case 'o': output = optarg; break;
		case 'h': fputs(GENKEY_HELP, stdout); return EXIT_OK;
		case ':': return cmd_usage_error(verb, "option '%s' needs a value", argv[optind - 1]);
		default: return cmd_usage_error(verb, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error(verb, "unexpected argument '%s'", argv[optind]);
	if (output == NULL || strcmp(output, "-") == 0)
		return cmd_usage_error(verb, "give the key file with -o FILE (keys are never printed)");
	if ((rc = csmkey_random(key, (size_t)bytes)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	key[bytes] = '\n';
	status = (rc = csmconf_write_new(output, key, (size_t)bytes + 1)) < 0 ? cmd_fail(rc) : EXIT_OK;
	if (status == EXIT_OK)
		printf("%s: %ld-byte key written (0600)\n", output, bytes);
out:
	mem_wipe(key, sizeof(key));
	return status;
}
