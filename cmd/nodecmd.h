/* nodecmd: what the node-system commands (enable, disable, controller,
 * restart: docs/node-system.md) share on the command line. */
#ifndef ETCDCRYPT_NODECMD_H
#define ETCDCRYPT_NODECMD_H

#include <stddef.h>

#define NODECMD_MAX_EXPECT 64

/* The short host name (up to the first '.') into out; "" when unknown. */
void nodecmd_hostname(char *out, size_t n);

/* Splits "A,B,C" into names (copied into v, at most max). Returns the
 * count, or -1 on a bad name (message printed for cmd). */
int nodecmd_expect_list(char **v, size_t max, const char *cmd, const char *arg);

#endif
