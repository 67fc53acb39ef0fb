/* transform: the kube-apiserver's read and write rules for one resource.
 *
 * Built from an EncryptionConfiguration and a (group, resource): the provider
 * list that applies (encconf_rule_for), or identity alone when none does.
 *
 * Read (docs/formats.md §5): try providers in config order. identity matches
 * any value but refuses "k8s:enc:" data. An AES/secretbox provider matches
 * its prefix, then each configured key name followed by ':' (names may hold
 * ':'; the value is never split on ':'). KMS providers match
 * "k8s:enc:kms:v1|v2:<name>:". A failed decryption moves on to the next
 * candidate; the first success wins; "stale" means it was not the first
 * provider's first key. Every success is also checked to be a real stored
 * object (plain.h), which catches a wrong CBC key that passed the padding.
 * When nothing reads the value, the reason is the most specific failure seen:
 * a failed decryption under a matching key beats "unknown key", which beats
 * "no matching provider". AES-GCM tag failures are told apart by decrypting
 * without the tag: a random first block means a wrong key; a real object
 * whose tag verifies with the etcd key named inside it means the value was
 * copied from that key (AAD mismatch); otherwise damage (tag_mismatch or
 * truncated).
 *
 * Write: the first provider, its first key; AAD = etcd key. identity first
 * writes the plaintext. A KMS v2 first provider writes through its plugin
 * (xf_kms.c: Status checked, one seed per run; ERR_REFUSED when the plugin
 * cannot be used); KMS v1 is never a write target (ERR_CONFIG). */
#ifndef ETCDCRYPT_TRANSFORM_H
#define ETCDCRYPT_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "conf/encconf.h"
#include "envelope.h"
#include "kmsring.h"
#include "plain.h"

enum xf_reason {
	XF_OK = 0,
	XF_UNKNOWN_KEY,          /* provider matched, no configured key of that name */
	XF_WRONG_KEY,            /* key name matched, the secret differs */
	XF_TRUNCATED,
	XF_BAD_PADDING,
	XF_IV_ONLY,
	XF_TAG_MISMATCH,
	XF_AAD_MISMATCH,         /* value copied from another etcd key */
	XF_IDENTITY_REJECTS,     /* encrypted value, config does not encrypt this resource */
	XF_NO_MATCHING_PROVIDER, /* encrypted by a provider/plugin not in the config */
	XF_MALFORMED,
	XF_KMS_UNKNOWN_KEY_ID,
	XF_KMS_UNAVAILABLE,      /* KMS value and no way to reach the plugin's keys */
	XF_NOT_OBJECT,           /* decrypted/identity bytes are not a stored object */
};

struct xf;

struct xf_result {
	int ok;                       /* readable */
	enum xf_reason reason;        /* XF_OK when ok */
	char detail[256];             /* human detail for failures ("" if none) */
	enum env_kind kind;           /* provider that read it, or that it claims */
	char key_name[ENV_NAME_MAX];  /* configured key/plugin name, or the guess */
	int key_name_guessed;         /* 1: no configured key/plugin prefix matched: the
					 envelope's guess (text up to the first ':') */
	char kms_key_id[ENV_NAME_MAX];
	int provider_index;           /* which config provider read it (-1) */
	int key_index;
	int stale;
	struct plain_info plain;      /* of the plaintext, when ok */
};

/* conf NULL: identity only. ring may be NULL. conf and ring must outlive *out. */
int xf_new(struct xf **out, const struct encconf *conf, const char *group, const char *resource,
	   const struct kms_ring *ring);
void xf_free(struct xf *x); /* NULL-safe */

/* Reads one stored value. Returns 0 whether or not it was readable (see
 * res->ok); <0 only for internal errors. On success the plaintext is in
 * *plain (reset first). */
int xf_read(struct xf *x, struct xf_result *res, struct buf *plain, const uint8_t *etcd_key, size_t key_len,
	    const uint8_t *value, size_t value_len);

/* xf_read of a value just sealed from expect, whose inspection (from reading
 * it) is expect_info: the same result as xf_read, but a decrypted plaintext
 * equal to expect is not inspected again. The caller still compares the
 * plaintext with expect. expect and expect_info are borrowed for the call. */
int xf_read_back(struct xf *x, struct xf_result *res, struct buf *plain, const uint8_t *etcd_key, size_t key_len,
		 const uint8_t *value, size_t value_len, const uint8_t *expect, size_t expect_len,
		 const struct plain_info *expect_info);

/* Optional, for speed with KMS v1 (a plugin call per value): queue the
 * values about to be read with xf_prefetch_add, then xf_prefetch_run asks
 * the plugins for all their DEKs with a bounded number of calls in flight
 * (every transformer sharing x's ring is served). Values must stay valid
 * until the run. xf_read gives the same results with or without it. */
int xf_prefetch_add(struct xf *x, const uint8_t *value, size_t value_len);
int xf_prefetch_run(struct xf *x);

/* Encrypts plain for etcd_key under the write target into *out (reset
 * first). */
int xf_write(struct xf *x, struct buf *out, const uint8_t *etcd_key, size_t key_len, const uint8_t *plain,
	     size_t plain_len);

/* Makes the write target ready to write: for KMS v2, the plugin's Status
 * and the run's seed (ERR_REFUSED with the reason); nothing for the rest. */
int xf_ready(struct xf *x);

/* The write target: provider kind and key name ("" for identity). */
void xf_target(const struct xf *x, enum env_kind *kind, const char **key_name);

/* Is a result already at the write target (read by provider 0, key 0)? */
int xf_is_current(const struct xf_result *res);

const char *xf_reason_name(enum xf_reason r); /* "unknown_key", ... */

#endif
