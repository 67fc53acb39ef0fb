/* cmd: the command-line layer. Only cmd/ prints and picks exit statuses.
 *
 * Exit statuses (docs/exit-codes.md): 0 ok; 1 ran fine but found problems
 * (unreadable values, key not found, inconsistent status) or was
 * interrupted; 2 usage or configuration error; 3 runtime failure (etcd
 * unreachable, no quorum, I/O). */
#ifndef ETCDCRYPT_CMD_H
#define ETCDCRYPT_CMD_H

#include <signal.h>
#include <stddef.h>

#define EXIT_OK 0
#define EXIT_FINDINGS 1
#define EXIT_USAGE 2
#define EXIT_RUNTIME 3

/* What a command's parse_args returns after printing --help: the command
 * then exits EXIT_OK (positive returns are exit statuses, 0 means run). */
#define CMD_HELP_SHOWN (-1)

#define ETCDCRYPT_VERSION "0.1.0"

/* one entry of a dispatch table */
struct cmd_def {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *summary;
};

int cmd_audit(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_rewrite(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_status(int argc, char **argv); /* cmd_status.c */
int cmd_config(int argc, char **argv); /* cmd_config.c: enable, disable, generate-key, check */
/* the config verbs (argv[0] is the verb) */
int cmd_config_enable(int argc, char **argv);
int cmd_config_disable(int argc, char **argv);
int cmd_config_generate_key(int argc, char **argv);
int cmd_config_check(int argc, char **argv); /* cmd_config_check.c */
/* Writes a generated config to output (NULL or "-": stdout, refused when it
 * is a terminal; else a new 0600 file). Returns an exit status. */
int cmd_config_emit(const char *verb, const char *output, const void *text, size_t n);

/* Set by SIGINT/SIGTERM once a command has called cmd_stop_cooperate (main.c
 * explains): pass it as etcd_opts.stop / rw_opts.stop. */
extern volatile sig_atomic_t cmd_stop;
/* From now on this command stops by itself once cmd_stop is set (etcd work:
 * the client polls it); until then a signal ends the process at once. */
void cmd_stop_cooperate(void);

/* Prints "etcdcrypt: <err_msg()>" (or "etcdcrypt <cmd>: ..." ) to stderr
 * and returns the exit status for code. */
int cmd_fail(int code);

/* The documented exit status for an ERR_* code: 1 for findings (key not
 * found, value unreadable), 2 for usage/config/TLS-file errors and node
 * configs that disagree, 3 for runtime failures. */
int cmd_exit_status(int code);

/* Prints a usage error and the hint to run --help; returns EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "table" or "json" for -o. Returns 0/1 (json) or ERR_USAGE. */
int cmd_output_format(const char *arg);

/* Renders an audit report (audit/report.h) to stdout as JSON or a table.
 * streamed_keys: a "keys" array was already opened on stdout (--list-keys). */
struct json_t;
void cmd_print_report(struct json_t *rep, int json, int streamed_keys);

struct res_id;
struct encconf;
/* --resources LIST, else the resources the config names, else secrets. */
int cmd_resource_list(struct res_id **out, size_t *n, int *all, const char *arg, const struct encconf *conf);

#endif
