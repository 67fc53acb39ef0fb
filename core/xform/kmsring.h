/* kmsring: key-encryption keys of KMS plugins, held locally.
 *
 * kube-apiserver asks a KMS plugin over a unix socket to unwrap each value's
 * DEK. etcdcrypt cannot reach a plugin offline, so KMS values are classified
 * but reported unreadable ("kms_unavailable") unless the operator gives a
 * keyring file (--kms-keyring FILE) that stands in for the plugins: JSON
 *
 *   {"plugins": {"<plugin name>": {"api_version": "v1"|"v2",
 *                                  "keks_b64": {"<key id>": "<base64 32 bytes>"}}}}
 *
 * (KMS v1 uses the key id ""). A wrapped DEK/seed is nonce(12) | AES-256-GCM
 * ciphertext | tag(16) under the KEK, no AAD — the format of the stand-in
 * plugin the reference fixtures were made with. KEKs are wiped on free. */
#ifndef ETCDCRYPT_KMSRING_H
#define ETCDCRYPT_KMSRING_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct kms_ring;

int kmsring_load(struct kms_ring **out, const char *path);
void kmsring_free(struct kms_ring *r); /* NULL-safe */

enum kmsring_status { KMSRING_OK = 0, KMSRING_NO_PLUGIN, KMSRING_UNKNOWN_KEY_ID, KMSRING_UNWRAP_FAILED };

/* Unwraps a DEK/seed for plugin `name` and key id (NULL or "" for v1) into
 * *dek (replacing its contents). *status says why it failed; returns <0 only
 * for internal errors. r may be NULL (then KMSRING_NO_PLUGIN). */
int kmsring_unwrap(const struct kms_ring *r, struct buf *dek, enum kmsring_status *status, const char *name,
		   const char *key_id, const uint8_t *wrapped, size_t wrapped_len);

#endif
