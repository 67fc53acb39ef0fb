/* main: etcdcrypt's entry point, command dispatch table and signals.
 *
 * SIGINT/SIGTERM: a command that talks to etcd has said (through
 * etcdflags_opts) that it watches cmd_stop: the etcd client then stops
 * within about half a second wherever it is (dialing, backing off, waiting
 * on a hung member) and the command ends the way it documents (rewrite
 * prints its summary), exit 1. Every other command, a second signal, or a
 * cooperative command still running 2 s after the first signal, ends at once
 * with status 1. SIGPIPE is ignored: a closed stdout is a write error that
 * finish_stdout reports (exit 3), not a silent death by signal. */
#include "cmd.h"
#include "base/err.h"
#include "base/esc.h"
#include "base/num.h"
#include "scan/scan.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t cmd_stop;
static volatile sig_atomic_t cooperative;

#define STOP_FORCE_SECONDS 2

static void stop_now(const char *msg, size_t n)
{
	ssize_t w = write(STDERR_FILENO, msg, n);

	(void)w;
	_exit(EXIT_FINDINGS);
}

static void on_alarm(int sig)
{
	static const char msg[] = "\netcdcrypt: interrupted (did not stop cleanly within 2 s)\n";

	(void)sig;
	stop_now(msg, sizeof(msg) - 1);
}

static void on_stop(int sig)
{
	static const char msg[] = "\netcdcrypt: interrupted\n";

	(void)sig;
	if (!cooperative || cmd_stop)
		stop_now(msg, sizeof(msg) - 1);
	cmd_stop = 1;
	alarm(STOP_FORCE_SECONDS);
}

void cmd_stop_cooperate(void)
{
	cooperative = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART; /* file reads are not cut short; waits poll the flag */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static const struct cmd_def COMMANDS[] = {
	{ "audit", cmd_audit, "audit [--config FILE] [--resources LIST|--all] [--history] [etcd flags]",
	  "classify every stored value and prove it decrypts, at one etcd revision" },
	{ "get", cmd_get, "get KEY [--config FILE] [etcd flags]",
	  "show how one stored value is encrypted, and read it with a config" },
	{ "rewrite", cmd_rewrite, "rewrite --config FILE [--node-config FILE ...] [--dry-run] [etcd flags]",
	  "re-encrypt every value to the config's write key with safe compare-and-swap writes" },
	{ "status", cmd_status,
	  "status --node NAME=CONFIG ... [--nodes-dir DIR] [--config FILE] [-o table|json] [etcd flags]",
	  "CSM-style encryption status: node keys, goal, current, names in etcd" },
	{ "config", cmd_config, "config enable|disable|generate-key|check ...",
	  "write CSM-style EncryptionConfigurations, make keys, prove a config safe" },
	{ "enable", cmd_enable,
	  "enable (--aescbc|--aesgcm|--secretbox) KEYFILE ... [--node NAME] [--dir DIR] [etcd flags]",
	  "on this control-plane node: check, install and publish an encrypting config" },
	{ "disable", cmd_disable, "disable [(--aescbc|--aesgcm|--secretbox) KEYFILE ...] [--node NAME] [etcd flags]",
	  "on this control-plane node: check, install and publish a plaintext-writing config" },
	{ "controller", cmd_controller, "controller [--node NAME] [--dir DIR] [--once] [--expect-nodes A,B,C] [etcd flags]",
	  "per node: publish, watch, and rewrite under an etcd lock once all nodes agree" },
	{ "restart", cmd_restart, "restart [--timeout S] [etcd flags]",
	  "ask the running controllers for a rewrite of every secret and follow it" },
	{ "backup", cmd_backup, "backup verify SNAPSHOT [--config FILE ...]", "check offline that an etcd snapshot restores readable under given configs" },
	{ "version", cmd_version, "version", "print version information" },
};

#define N_COMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: etcdcrypt <command> [options]\n\n"
		   "Kubernetes encryption at rest, straight at the etcd level.\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-11s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
	fprintf(f, "\nRun 'etcdcrypt <command> --help' for a command's options.\n\n"
		   "exit status: 0 ok; 1 findings (unreadable values, key not found);\n"
		   "             2 usage or configuration error; 3 runtime failure (etcd, I/O)\n");
}

int cmd_fail(int code)
{
	/* messages may quote etcd keys: control bytes never reach the terminal raw */
	const char *m = err_msg()[0] ? err_msg() : err_name(code);
	char *e = esc_term((const uint8_t *)m, strlen(m));

	fprintf(stderr, "etcdcrypt: %s\n", e != NULL ? e : m);
	free(e);
	return cmd_exit_status(code);
}

int cmd_exit_status(int code)
{
	switch (code) {
	case ERR_OK:
		return EXIT_OK;
	case ERR_NOTFOUND:
	case ERR_DECRYPT:
	case ERR_INTERRUPTED: /* the run did not finish (docs/exit-codes.md) */
		return EXIT_FINDINGS;
	case ERR_USAGE:
	case ERR_CONFIG:
	case ERR_TLS:
	case ERR_NODE_MISMATCH:
		return EXIT_USAGE;
	default:
		return EXIT_RUNTIME;
	}
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "etcdcrypt %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'etcdcrypt %s --help' for usage.\n", cmd);
	return EXIT_USAGE;
}

const struct cmd_def *cmd_find(const struct cmd_def *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, table[i].name) == 0)
			return &table[i];
	return NULL;
}

int cmd_page_size(int64_t *out, const char *cmd, const char *arg)
{
	long v;

	if (num_parse_long(&v, arg, 1, SCAN_MAX_PAGE) < 0)
		return cmd_usage_error(cmd, "--page-size: '%s' is not a number from 1 to %d", arg, SCAN_MAX_PAGE);
	*out = v;
	return 0;
}

static int parse_size(const char *s, int64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	double mult = 1;

	if (end == s || v <= 0)
		return ERR_USAGE;
	if (*end == 'K' || *end == 'k')
		mult = 1024, end++;
	else if (*end == 'M')
		mult = 1024.0 * 1024, end++;
	else if (*end == 'G')
		mult = 1024.0 * 1024 * 1024, end++;
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return ERR_USAGE;
	*out = (int64_t)(v * mult);
	return 0;
}

int cmd_quota_bytes(int64_t *out, const char *cmd, const char *arg)
{
	if (parse_size(arg, out) < 0)
		return cmd_usage_error(cmd, "--quota-bytes: '%s' is not a size (e.g. 8589934592 or 8G)", arg);
	return 0;
}

int cmd_output_format(const char *arg)
{
	if (strcmp(arg, "table") == 0)
		return 0;
	if (strcmp(arg, "json") == 0)
		return 1;
	return ERR_USAGE;
}

int cmd_version(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs("usage: etcdcrypt version\n\nPrints etcdcrypt's version (also: etcdcrypt --version).\n\n"
		      "exit status: 0\n", stdout);
		return EXIT_OK;
	}
	if (argc > 1)
		return cmd_usage_error("version", "takes no arguments");
	printf("etcdcrypt %s\n", ETCDCRYPT_VERSION);
	return EXIT_OK;
}

/* Results go to stdout: a write error there (full disk, closed pipe) must
 * not be reported as success. */
static int finish_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		fprintf(stderr, "etcdcrypt: cannot write results to stdout: %s\n", strerror(errno));
		return status == EXIT_OK ? EXIT_RUNTIME : status;
	}
	return status;
}

int main(int argc, char **argv)
{
	const struct cmd_def *c;

	/* Scans and rewrites allocate and free page-sized buffers (10-20 MB) for
	 * every chunk; by default glibc maps and unmaps each one and trims the
	 * heap after it, so every chunk faults its pages in afresh (a third of
	 * audit's CPU was page faults). Keep them in the heap instead
	 * (docs/performance.md). */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	install_signals();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return finish_stdout(EXIT_OK);
	}
	if (strcmp(argv[1], "--version") == 0)
		return finish_stdout(cmd_version(1, argv));
	if ((c = cmd_find(COMMANDS, N_COMMANDS, argv[1])) != NULL)
		return finish_stdout(c->fn(argc - 1, argv + 1));
	fprintf(stderr, "etcdcrypt: '%s' is not a command; run 'etcdcrypt --help'\n", argv[1]);
	return EXIT_USAGE;
}
