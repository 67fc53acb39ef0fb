/* node store: etcdcrypt's own keys in etcd, under a prefix of its own,
 * outside kube-apiserver's (default "/etcdcrypt/"):
 *
 *   <prefix>nodes/<node>     a node's record (node/record.h), no lease
 *   <prefix>lock/<lease hex> a controller waiting for or holding the
 *                            rewrite lock (node/lock.h), on its lease
 *   <prefix>rewrite          the running or last rewrite (node/rwrec.h)
 *   <prefix>request          a forced rewrite asked by `etcdcrypt restart`
 *
 * Records persist (no lease): a node that published once stays known, so
 * agreement is never counted among fewer nodes than have ever published.
 * This module moves bytes; it does not decide anything. */
#ifndef ETCDCRYPT_NODE_STORE_H
#define ETCDCRYPT_NODE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "etcd/etcd.h"
#include "record.h"

#define NODE_DEFAULT_PREFIX "/etcdcrypt/"
#define NODE_PREFIX_MAX 256
#define NODE_MAX_NODES 64

/* prefix + suffix into out (ERR_USAGE when too long). */
int node_key(char out[NODE_PREFIX_MAX + 128], const char *prefix, const char *suffix);

/* A prefix must start with '/', end with '/', and must not be inside
 * kube-apiserver's /registry/. */
int node_prefix_check(const char *prefix);

/* Puts r at <prefix>nodes/<r->node>. *out_revision may be NULL. */
int node_publish(struct etcd_client *cl, const char *prefix, const struct node_record *r, int64_t *out_revision);

/* Reads one node's record: ERR_NOTFOUND when it has none. */
int node_get(struct etcd_client *cl, const char *prefix, const char *node, struct node_record *out);

/* Every record, in node-name order, at one revision (*out_revision).
 * A record that does not decode is an error naming its key. Caller frees
 * with node_records_free. */
int node_list(struct etcd_client *cl, const char *prefix, struct node_record **out, size_t *n,
	      int64_t *out_revision);
void node_records_free(struct node_record *v, size_t n);

/* Reads a small JSON value at <prefix><suffix> into *out (malloc'd,
 * NUL-terminated) and its mod_revision; ERR_NOTFOUND when absent. */
int node_get_raw(struct etcd_client *cl, const char *prefix, const char *suffix, char **out, int64_t *mod_revision);
int node_put_raw(struct etcd_client *cl, const char *prefix, const char *suffix, const char *text);

#endif
