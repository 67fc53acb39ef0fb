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
#include <stdint.h>

#define EXIT_OK 0
#define EXIT_FINDINGS 1
#define EXIT_USAGE 2
#define EXIT_RUNTIME 3

/* getopt_long values of long options without a short letter: above any
 * character, the shared etcd flags (etcdflags.h) from CMD_OPT_ETCD, each
 * command's own from CMD_OPT_FIRST, so the two never collide. */
#define CMD_OPT_ETCD 1000
#define CMD_OPT_FIRST 1100

/* What a command's parse_args returns after printing --help: the command
 * then exits EXIT_OK (positive returns are exit statuses, 0 means run). */
#define CMD_HELP_SHOWN (-1)

/* How many --node/--node-config files a command takes: one per control-plane
 * node, the same bound for status, rewrite and config check (status keeps a
 * reader per node: at most STATUS_MAX_NODES, checked in cmd_status.c). */
#define CMD_MAX_NODES 64
/* How many --backup files config check takes. */
#define CMD_MAX_BACKUPS 64

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
int cmd_enable(int argc, char **argv);  /* cmd_node.c: this node's config, record, restart */
int cmd_disable(int argc, char **argv); /* cmd_node.c */
int cmd_controller(int argc, char **argv); /* cmd_controller.c: watch, agree, lock, rewrite */
int cmd_restart(int argc, char **argv);    /* cmd_controller.c: ask the controllers for a rewrite */
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
/* The entry of a dispatch table (commands, or a command's verbs) named
 * name, or NULL. Exact names only: no abbreviations (rewrite is dangerous). */
const struct cmd_def *cmd_find(const struct cmd_def *table, size_t n, const char *name);

/* Prints "etcdcrypt: <err_msg()>" (or "etcdcrypt <cmd>: ..." ) to stderr
 * and returns the exit status for code. */
int cmd_fail(int code);

/* The documented exit status for an ERR_* code: 1 for findings (key not
 * found, value unreadable), 2 for usage/config/TLS-file errors and node
 * configs that disagree, 3 for runtime failures. */
int cmd_exit_status(int code);

/* Prints a usage error and the hint to run --help; returns EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --page-size for command cmd: 1..SCAN_MAX_PAGE into *out, 0; else prints a
 * usage error and returns EXIT_USAGE. */
int cmd_page_size(int64_t *out, const char *cmd, const char *arg);

/* --quota-bytes for command cmd: a byte count with an optional K/M/G (KiB,
 * MB...) suffix into *out, 0; else prints a usage error, EXIT_USAGE. */
int cmd_quota_bytes(int64_t *out, const char *cmd, const char *arg);

/* Parses "table" or "json" for -o. Returns 0/1 (json) or ERR_USAGE. */
int cmd_output_format(const char *arg);


struct json_t;
/* Bytes from etcd in JSON (cmd/jsonesc.c over core/base/esc.h; never a
 * dropped field): obj[field] = the bytes as UTF-8 text (invalid bytes and
 * NUL as U+FFFD), plus obj["<field>_b64"] = the exact bytes in base64 when
 * the text is not them. Returns 0 or ERR_NOMEM. */
int cmd_json_bytes(struct json_t *obj, const char *field, const uint8_t *p, size_t n);
/* The text form alone (a new reference; json null if memory runs out). */
struct json_t *cmd_json_text(const uint8_t *p, size_t n);
/* obj[field] = array of the strings' text forms; when any is not clean
 * UTF-8, also obj["<field>_b64"] = array of each one's base64 (null for
 * the clean ones). lens: each one's length (etcd keys may hold NULs);
 * NULL: strlen. */
int cmd_json_str_list(struct json_t *obj, const char *field, char *const *v, const size_t *lens, size_t n);

/* A key name for a table cell: escaped (esc_term), "-" when empty, with a
 * trailing "?" when guessed (no configured key matched its prefix). */
void cmd_name_cell(char *out, size_t cap, const char *name, int guessed);

struct scan;
struct scan_opts;
struct scan_item;
struct etcd_client;
/* What a scan calls (scan/scan.h), and how to forget what a compacted
 * attempt gathered; reset NULL: never start again. */
struct cmd_scan_cb {
	int (*value)(void *arg, const struct scan_item *it);
	void (*progress)(void *arg, uint64_t values, int64_t revision);
	int (*reset)(void *arg);
	void *arg;
};
/* Runs a consistent scan; when its revision is compacted under it, says so
 * on stderr, calls cb->reset and starts once more at the current revision
 * (a read-only command may: nothing was written). *revision (may be NULL):
 * the revision read at; *restarted (may be NULL) set to 1 on a restart;
 * keep (may be NULL): the scan, owned by the caller, else freed here. */
int cmd_scan_restarting(struct scan **keep, int64_t *revision, int *restarted, struct etcd_client *cl,
			const struct scan_opts *so, const struct cmd_scan_cb *cb);

struct scan_empty;
/* Empty prefixes after a scan (scan_empty): unless allow_empty, one line
 * per prefix on stderr ("etcdcrypt audit: no key under '/registry/secret/'
 * (resource 'secret'; did you mean 'secrets'?)") and EXIT_FINDINGS; else,
 * or when none was empty, EXIT_OK and nothing printed. */
int cmd_empty_status(const char *cmd, const struct scan_empty *e, int allow_empty);
/* The empty prefixes as a JSON array of strings (new reference). */
struct json_t *cmd_empty_json(const struct scan_empty *e);

struct res_id;
struct encconf;
/* --resources LIST, else the resources the config names, else secrets. */
int cmd_resource_list(struct res_id **out, size_t *n, int *all, const char *arg, const struct encconf *conf);

#endif
