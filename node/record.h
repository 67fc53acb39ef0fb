/* node record: what one control-plane node publishes about its encryption
 * config, so that status and the controllers on other nodes can compare
 * nodes without ever holding another node's keys.
 *
 * A record says which provider/key NAMES the node's config uses for
 * secrets, in read order (status.h's names: CSM-style key names,
 * "identity", KMS plugin names), which one it writes with, the SHA-256 of
 * the config file, when that file changed and which etcdcrypt wrote the
 * record. It NEVER holds key material: no key, no base64 of a key, nothing
 * derived from a key but the names (themselves SHA-256 of the key string,
 * as CSM publishes them) and the file hash (SHA-256 over the whole file:
 * the same one-way exposure as the names).
 *
 * Stored as JSON (docs/node-system.md):
 *   {"schema":"etcdcrypt.node/v1","node":"ncn-m001",
 *    "names":[{"provider":"aescbc","name":"aescbc-<sha>"},{"provider":"identity","name":"identity"}],
 *    "write":{"provider":"aescbc","name":"aescbc-<sha>"},
 *    "config_sha256":"<hex>","changed":"2026-11-30T22:00:00Z","changed_unix":1796076000,
 *    "version":"0.1.0"}
 * This module encodes and decodes; node/store.h puts records in etcd. */
#ifndef ETCDCRYPT_NODE_RECORD_H
#define ETCDCRYPT_NODE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "conf/encconf.h"
#include "status/status.h"

#define NODE_NAME_MAX 63
#define NODE_RECORD_MAX 65536 /* bytes of JSON accepted */

struct node_record {
	char node[NODE_NAME_MAX + 1];
	struct status_name *names; /* read order; names[0] is the write name */
	size_t n_names;
	char sha256[65];      /* of the config file, lower-case hex */
	int64_t changed;      /* unix seconds */
	char version[32];
	int64_t mod_revision; /* set when read from etcd */
};

/* A node name is 1..63 of [A-Za-z0-9._-], not starting with '.' (it is a
 * path element of an etcd key). */
int node_name_valid(const char *name);

/* Fills *out from a parsed config and its file bytes. node is copied. */
int node_record_from_conf(struct node_record *out, const char *node, const struct encconf *conf, const void *file,
			  size_t file_len, int64_t changed, const char *version);

/* JSON text into *out (malloc'd, NUL-terminated; caller frees). */
int node_record_encode(char **out, const struct node_record *r);

/* Parses JSON; where names the etcd key in messages. ERR_CORRUPT when the
 * text is not a record. *out is released first. */
int node_record_decode(struct node_record *out, const uint8_t *p, size_t n, const char *where);

void node_record_release(struct node_record *r); /* NULL-safe */

/* The write name (names[0]), NULL when the record has none. Borrowed. */
const struct status_name *node_record_write(const struct node_record *r);

/* Same names in the same order, and the same file. */
int node_record_same(const struct node_record *a, const struct node_record *b);

/* Two names are the same name (provider kind and name). */
int node_name_eq(const struct status_name *a, const struct status_name *b);

/* "2026-11-30T22:00:00Z" */
void node_time_str(char out[32], int64_t unix_seconds);

#endif
