/* nodecmd: what the node-system commands (enable, disable, controller,
 * restart: docs/node-system.md) share on the command line. */
#ifndef ETCDCRYPT_NODECMD_H
#define ETCDCRYPT_NODECMD_H

#include <getopt.h>
#include <stddef.h>

#include "etcdflags.h"

#define NODECMD_MAX_EXPECT 64

/* The short host name (up to the first '.') into out; "" when unknown. */
void nodecmd_hostname(char *out, size_t n);

/* Splits "A,B,C" into names (copied into v, at most max). Returns the
 * count, or -1 on a bad name (message printed for cmd). */
int nodecmd_expect_list(char **v, size_t max, const char *cmd, const char *arg);

/* The option loop the node commands share: etcdflags_init(ef), then every
 * option through etcdflags_handle and the rest through one(arg, opt,
 * optarg, argv); no operand may be left (hint, may be NULL, is added to
 * that message). 0, or what one returned (an exit status, CMD_HELP_SHOWN),
 * or EXIT_USAGE (message printed). */
int nodecmd_getopt(const char *verb, struct etcdflags *ef, int argc, char **argv, const struct option *opts,
		   int (*one)(void *arg, int opt, const char *optarg, char **argv), void *arg, const char *hint);

/* After the options: node (NODE_NAME_MAX + 1 bytes) defaults to the short
 * host name and must be a node name; the state prefix must be valid. 0 or
 * EXIT_USAGE (message printed). */
int nodecmd_check(const char *verb, char *node, const char *state_prefix);

#endif
