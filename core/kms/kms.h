/* kms: the KMS plugin client, as kube-apiserver speaks to its plugins.
 *
 * A plugin listens on a unix socket (the config's `endpoint: unix:///path`,
 * `unix:///@name` for an abstract socket). Calls use insecure credentials,
 * authority "localhost" and a deadline of the config's `timeout` (default
 * 3 s) each (docs/formats.md §8):
 *   KMS v2  /v2.KeyManagementService/{Status,Decrypt,Encrypt} (a plugin that
 *           answers UNIMPLEMENTED is asked again under package v2alpha1)
 *   KMS v1  /v1beta1.KeyManagementService/{Version,Decrypt,Encrypt}
 * This module and core/etcd are the only gRPC users; it does no cryptography
 * (unwrapped DEKs/seeds are opaque bytes to it) and never prints.
 *
 * A kms_set holds one connection per plugin (name and endpoint) for a run,
 * the `--kms-endpoint NAME=unix:///...` overrides, a decrypt cache and call
 * accounting:
 *  - Decrypt results are cached by (plugin, key ID, DEK source type,
 *    annotations, wrapped bytes), failures too, so the many values sharing
 *    one KMS v2 seed cost one call. The cache is bounded (KMS_CACHE_SLOTS);
 *    evicted plaintexts are wiped.
 *  - A plugin that fails at the transport level (unreachable, UNAVAILABLE,
 *    DEADLINE_EXCEEDED) is marked down for the rest of the run: later calls
 *    fail at once with the same message, so a dead or slow plugin costs one
 *    timeout, never one per value.
 *  - Calls are synchronous, one at a time, except kms_set_prefetch: KMS v1
 *    has a DEK per value, so a page's DEKs are asked for ahead with at most
 *    KMS_PREFETCH_INFLIGHT calls in flight and land in the cache. (A set is
 *    used from one thread; a mutex makes concurrent use safe, not parallel.)
 * Failures of a plugin are results (enum kms_fail plus the plugin's own
 * message), not errors; functions return <0 only for internal errors. */
#ifndef ETCDCRYPT_KMS_H
#define ETCDCRYPT_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define KMS_KEY_ID_MAX 1024 /* the apiserver's limit on key IDs and wrapped DEKs */
#define KMS_MSG_MAX 384
#define KMS_CACHE_SLOTS 4096
#define KMS_PREFETCH_INFLIGHT 16

/* What a config's kms provider names (all borrowed). */
struct kms_plugin_ref {
	const char *name;
	const char *endpoint; /* unix:// URL; an override by name wins */
	long timeout_ms;      /* <= 0: 3000 */
	int api;              /* 1 or 2 */
};

enum kms_fail {
	KMS_OK = 0,
	KMS_UNAVAILABLE,    /* unreachable, timed out, or the plugin failed the call */
	KMS_UNKNOWN_KEY_ID, /* the plugin answered NOT_FOUND / "unknown key" */
};

struct kms_status {
	char version[64];              /* v2: "v2"; v1: "v1beta1" */
	char healthz[256];             /* v2; v1: "ok" when Version answered */
	char key_id[KMS_KEY_ID_MAX + 1]; /* v2 */
};

/* A wrapped DEK or seed and what identifies it (borrowed). */
struct kms_wrapped {
	const char *key_id;         /* v2 EncryptedObject.keyID; "" for v1 */
	int source_type;            /* v2 encryptedDEKSourceType; 0 for v1 */
	const uint8_t *annotations; /* raw EncryptedObject field-4 records (tag, length, entry) */
	size_t annotations_len;
	const uint8_t *ct;
	size_t ct_len;
};

/* Per-plugin accounting for reports. */
struct kms_stats {
	const char *name;     /* borrowed from the set */
	const char *endpoint; /* the endpoint actually dialled */
	int api;
	uint64_t status_calls, decrypt_calls, encrypt_calls, failed_calls, cache_hits;
	uint64_t plugin_us; /* wall time spent waiting for the plugin */
	int down;           /* marked down during the run */
};

struct kms_set;

int kms_set_new(struct kms_set **out, int debug);
void kms_set_free(struct kms_set *s); /* NULL-safe; wipes cached plaintexts */

/* spec "NAME=unix:///path": plugin NAME is dialled there instead of at the
 * config's endpoint. ERR_USAGE for a malformed spec. */
int kms_set_override(struct kms_set *s, const char *spec);

/* v2 Status or v1 Version, asked once per plugin per run (the answer, or
 * the failure, is kept). On KMS_OK *out holds the answer, unchecked. */
int kms_set_status(struct kms_set *s, const struct kms_plugin_ref *p, struct kms_status *out, enum kms_fail *fail,
		   char msg[KMS_MSG_MAX]);

/* Unwraps w into *plain (reset first): from the cache, else one Decrypt. */
int kms_set_decrypt(struct kms_set *s, const struct kms_plugin_ref *p, const struct kms_wrapped *w,
		    struct buf *plain, enum kms_fail *fail, char msg[KMS_MSG_MAX]);

/* KMS v1: unwraps every w[0..n) not cached yet into the cache, with up to
 * KMS_PREFETCH_INFLIGHT Decrypt calls in flight (what kms_set_decrypt then
 * finds). Does nothing for KMS v2 (one seed serves many values). */
int kms_set_prefetch(struct kms_set *s, const struct kms_plugin_ref *p, const struct kms_wrapped *w, size_t n);

/* Wraps plain with one Encrypt: *ct and *annotations (raw EncryptedObject
 * field-4 records, for v2) are reset and filled, key_id set (v2). The result
 * is cached as if decrypted (tagged with source_type), so reading back what
 * was written costs no call. */
int kms_set_encrypt(struct kms_set *s, const struct kms_plugin_ref *p, int source_type, const uint8_t *plain,
		    size_t n, struct buf *ct, char key_id[KMS_KEY_ID_MAX + 1], struct buf *annotations,
		    enum kms_fail *fail, char msg[KMS_MSG_MAX]);

/* Starts a new run for a long-lived process (the controller): Status is
 * asked again and plugins marked down are dialled again; cached DEKs stay
 * (a wrapped DEK always unwraps to the same bytes). */
void kms_set_new_run(struct kms_set *s);

/* Plugins dialled so far (for reports). */
size_t kms_set_n_plugins(const struct kms_set *s);
void kms_set_stats(const struct kms_set *s, size_t i, struct kms_stats *out);

#endif
