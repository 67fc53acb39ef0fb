/* encconf: a Kubernetes EncryptionConfiguration, parsed with libyaml and
 * validated as kube-apiserver validates it (docs/formats.md §4).
 *
 * Accepts apiserver.config.k8s.io/v1 EncryptionConfiguration and the legacy
 * v1 EncryptionConfig, in YAML or JSON (JSON is YAML). Decoding is strict:
 * unknown fields are errors. A bad file fails with ERR_CONFIG and one line:
 *   "<path>:<line>:<col>: resources[0].providers[1].aescbc.keys[0].secret: secrets must be base64 encoded"
 * (line/column of the offending YAML node, then the field path, then what is
 * wrong). Key secrets are decoded and kept only in memory owned by the
 * config; they are wiped when the config is freed and never appear in any
 * message. This module does not build ciphers (see transform.h). */
#ifndef ETCDCRYPT_ENCCONF_H
#define ETCDCRYPT_ENCCONF_H

#include <stddef.h>
#include <stdint.h>

enum encconf_kind {
	ENCCONF_IDENTITY = 0,
	ENCCONF_AESCBC,
	ENCCONF_AESGCM,
	ENCCONF_SECRETBOX,
	ENCCONF_KMS,
};

struct encconf_key {
	char *name;
	uint8_t *secret; /* decoded bytes: 16/24/32 (secretbox: 32) */
	size_t secret_len;
};

struct encconf_provider {
	enum encconf_kind kind;
	struct encconf_key *keys; /* aescbc/aesgcm/secretbox; n_keys >= 1 */
	size_t n_keys;
	/* kms only */
	char *kms_name;
	int kms_api_version; /* 1 or 2 (default 1) */
	char *kms_endpoint;  /* unix:// URL */
	long kms_timeout_ms; /* default 3000 */
	int kms_cachesize;   /* v1: default 1000 */
};

/* One entry of the top-level resources list. */
struct encconf_rule {
	char **resources; /* as written: "secrets", "*.apps", "*.", "*.*" */
	size_t n_resources;
	struct encconf_provider *providers; /* in priority order */
	size_t n_providers;
};

struct encconf {
	char *path; /* as given to encconf_load ("<input>" for encconf_parse) */
	struct encconf_rule *rules;
	size_t n_rules;
};

/* Reads and validates a file (at most 4 MiB). *out is owned by the caller. */
int encconf_load(struct encconf **out, const char *path);

/* Same from memory; name is used in messages. */
int encconf_parse(struct encconf **out, const char *text, size_t len, const char *name);

void encconf_free(struct encconf *c); /* wipes secrets; NULL-safe */

/* The provider list that applies to (group, resource) following the
 * apiserver's precedence: exact entry, then "*.<group>", then "*.*"; the
 * core group is "". Returns NULL when none applies (identity by default).
 * Borrowed from c. */
const struct encconf_rule *encconf_rule_for(const struct encconf *c, const char *group, const char *resource);

/* "aescbc", "aesgcm", "secretbox", "identity", "kms". */
const char *encconf_kind_name(enum encconf_kind kind);

#endif
