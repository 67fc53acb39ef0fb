/* etcdflags: the etcd connection flags every command shares, with
 * etcdctl's names and ETCDCTL_* environment fallbacks:
 *
 *   --endpoints LIST     ETCDCTL_ENDPOINTS     (default 127.0.0.1:2379)
 *   --cacert FILE        ETCDCTL_CACERT
 *   --cert FILE          ETCDCTL_CERT
 *   --key FILE           ETCDCTL_KEY
 *   --user NAME[:PASS]   ETCDCTL_USER
 *   --password PASS      ETCDCTL_PASSWORD
 *   --dial-timeout D     ETCDCTL_DIAL_TIMEOUT    (default 2s)
 *   --command-timeout D  ETCDCTL_COMMAND_TIMEOUT (default 5s)
 *   --debug              ETCDCTL_DEBUG=true
 *
 * Flags win over the environment. Durations are Go-style: 500ms, 5s, 1m. */
#ifndef ETCDCRYPT_ETCDFLAGS_H
#define ETCDCRYPT_ETCDFLAGS_H

#include <getopt.h>

#include "cmd.h"
#include "etcd/etcd.h"

enum {
	OPT_ENDPOINTS = CMD_OPT_ETCD,
	OPT_CACERT,
	OPT_CERT,
	OPT_KEY,
	OPT_USER,
	OPT_PASSWORD,
	OPT_DIAL_TIMEOUT,
	OPT_COMMAND_TIMEOUT,
	OPT_DEBUG,
	OPT_KMS_ENDPOINT, /* kmsflags.h */
	OPT_ETCD_END, /* must stay <= CMD_OPT_FIRST */
};
_Static_assert(OPT_ETCD_END <= CMD_OPT_FIRST, "etcd flags collide with a command's options");

#define ETCDFLAGS_LONGOPTS                                                                 \
	{ "endpoints", required_argument, NULL, OPT_ENDPOINTS },                             \
	{ "cacert", required_argument, NULL, OPT_CACERT },                                   \
	{ "cert", required_argument, NULL, OPT_CERT },                                       \
	{ "key", required_argument, NULL, OPT_KEY },                                         \
	{ "user", required_argument, NULL, OPT_USER },                                       \
	{ "password", required_argument, NULL, OPT_PASSWORD },                               \
	{ "dial-timeout", required_argument, NULL, OPT_DIAL_TIMEOUT },                       \
	{ "command-timeout", required_argument, NULL, OPT_COMMAND_TIMEOUT },                 \
	{ "debug", no_argument, NULL, OPT_DEBUG }

#define ETCDFLAGS_HELP                                                                        \
	"etcd connection (etcdctl's flags; ETCDCTL_* environment variables as fallback):\n"    \
	"  --endpoints LIST        comma-separated host:port or https://host:port; list every\n" \
	"                          member (default 127.0.0.1:2379). A request goes to the next\n" \
	"                          when one is down, hung or without leader (docs/failover.md)\n" \
	"  --cacert FILE           CA bundle to verify etcd's certificate (enables TLS)\n"      \
	"  --cert FILE             client certificate (PEM)\n"                                  \
	"  --key FILE              client private key (PEM)\n"                                  \
	"  --user NAME[:PASSWORD]  etcd user (password also from --password)\n"                 \
	"  --password PASSWORD     etcd password (prefer ETCDCTL_PASSWORD)\n"                   \
	"  --dial-timeout DUR      time to connect (default 2s)\n"                              \
	"  --command-timeout DUR   deadline per request, and how long to wait for a leader\n"   \
	"                          (default 5s)\n"                                               \
	"  --debug                 show gRPC's own log lines\n"

#define ETCDFLAGS_MAX_ENDPOINTS 16

struct etcdflags {
	char *endpoints_buf;
	const char *endpoints[ETCDFLAGS_MAX_ENDPOINTS];
	size_t n_endpoints;
	const char *cacert, *cert, *key;
	char *user, *password;
	long dial_ms, command_ms;
	int debug;
};

/* Fills defaults and the ETCDCTL_* environment. */
int etcdflags_init(struct etcdflags *f);
/* 1 if opt was an etcd flag (and was applied), 0 if not, <0 on a bad value. */
int etcdflags_handle(struct etcdflags *f, int opt, const char *arg);
/* The options for etcd_open (borrowing from f). */
void etcdflags_opts(const struct etcdflags *f, struct etcd_opts *out);
void etcdflags_release(struct etcdflags *f);

/* A Go duration (base/godur.h) or a bare number of seconds, at least 1 ms,
 * into whole milliseconds. ERR_USAGE (no message set) when invalid. */
int etcdflags_duration_ms(long *out, const char *s);

#endif
