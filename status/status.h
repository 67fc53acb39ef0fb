/* status: the CSM `encryption.sh --status` view, computed from node configs
 * and one scan of the stored secrets.
 *
 *   node     the provider/key names a control-plane node's config uses for
 *            secrets, in read order: a key by its key name, identity as
 *            "identity", KMS by its plugin name (no applicable rule: the
 *            apiserver default, "identity")
 *   goal     the write name (first provider, first key) when every node
 *            has the same one; unknown otherwise
 *   etcd     every name found on stored secrets, with counts, in order of
 *            first appearance
 *   current  the one name every stored secret uses; unknown when several
 *   consistent  goal known, no unreadable value, and every stored value
 *            under the goal (or no stored value at all)
 *
 * A value's name is the configured key that read it, when a reader read
 * it; else the name its envelope claims (env_classify's guess). Readers are
 * configs every value is decrypted with (status_add_reader); a value one of
 * them cannot read is counted against that reader, with a few examples.
 * Names compare with their provider kind, so aescbc "k1" is not aesgcm "k1".
 *
 * The unreadable-value aggregator (status_bad) is shared with `config
 * check`. Memory: bounded by the distinct names and STATUS_EXAMPLES keys per
 * group, never by the number of values. This module does not print. */
#ifndef ETCDCRYPT_STATUS_H
#define ETCDCRYPT_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "conf/encconf.h"
#include "xform/envelope.h"
#include "etcd/etcd.h"
#include "xform/kmsring.h"
#include "xform/transform.h"

#define STATUS_EXAMPLES 10
#define STATUS_MAX_GROUPS 256
#define STATUS_MAX_NODES 64

/* A name with the provider kind it belongs to. */
struct status_name {
	enum encconf_kind kind;
	char *name; /* "identity", key name or KMS plugin name */
};

/* The names conf uses for secrets into *out (caller frees with
 * status_names_free). */
int status_conf_names(struct status_name **out, size_t *n, const struct encconf *conf);
void status_names_free(struct status_name *v, size_t n);

/* Unreadable values grouped by (provider, key name, reason). */
struct status_bad_group {
	enum env_kind kind;
	char key_name[ENV_NAME_MAX];
	enum xf_reason reason;
	char detail[256]; /* of the first value of the group */
	uint64_t count;
	char *examples[STATUS_EXAMPLES]; /* etcd keys, NUL-terminated but may hold NULs: */
	size_t example_len[STATUS_EXAMPLES]; /* each one's length */
	size_t n_examples;
};

struct status_bad {
	struct status_bad_group *groups;
	size_t n_groups;
	uint64_t total;
	uint64_t ungrouped; /* beyond STATUS_MAX_GROUPS groups: counted only */
};

/* Counts one unreadable value (r->ok == 0). */
int status_bad_add(struct status_bad *b, const struct etcd_kv *kv, const struct xf_result *r);
void status_bad_release(struct status_bad *b);

struct status_node {
	char *label;  /* node name */
	char *path;   /* its config file */
	struct status_name *names;
	size_t n_names;
};

struct status_reader {
	char *label;
	struct xf *xf;
	struct status_bad bad;
};

struct status_count {
	enum env_kind kind;
	char name[ENV_NAME_MAX];
	uint64_t count;
};

struct status {
	struct status_node nodes[STATUS_MAX_NODES];
	size_t n_nodes;
	struct status_reader readers[STATUS_MAX_NODES + 1];
	size_t n_readers;
	struct status_count *etcd;
	size_t n_etcd;
	uint64_t total, unreadable; /* unreadable: by at least one reader */
	struct buf plain;
	/* set by status_finish; borrowed from nodes/etcd */
	const struct status_name *goal; /* NULL: unknown */
	const struct status_count *current; /* NULL: unknown, or no value */
	int consistent;
};

void status_init(struct status *st);
void status_release(struct status *st);

/* Adds a node with conf's names. label and path are copied. */
int status_add_node(struct status *st, const char *label, const char *path, const struct encconf *conf);

/* Adds a node with the given names (e.g. from its published record; n may
 * be 0: a node expected but not known). label, path and names are copied. */
int status_add_node_names(struct status *st, const char *label, const char *path, const struct status_name *names,
			  size_t n);

/* Every value will also be read with conf (borrowed: it and ring must
 * outlive st). */
int status_add_reader(struct status *st, const char *label, const struct encconf *conf, const struct kms_ring *ring);

/* Counts one stored secret; guess is the scan's result for it without a
 * config (its envelope's kind and claimed name). */
int status_add_value(struct status *st, const struct etcd_kv *kv, const struct xf_result *guess);

/* Forgets every counted value (a scan restarting at a new revision). */
void status_reset_values(struct status *st);

/* Computes goal, current and consistent. */
void status_finish(struct status *st);

/* The name a node line shows for a count: key name, "identity", or the
 * provider when the envelope claims no name. Borrowed. */
const char *status_count_name(const struct status_count *c);

/* Does a stored value's kind belong to a config provider kind? */
int status_kind_matches(enum encconf_kind ck, enum env_kind ek);

#endif
