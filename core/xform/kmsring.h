/* kmsring: where KMS DEKs and seeds come from — the plugins, or local KEKs.
 *
 * kube-apiserver asks a KMS plugin over a unix socket to unwrap each value's
 * DEK (KMS v1) or seed (KMS v2). A ring does the same through a kms_set
 * (core/kms: the config's endpoint, or a --kms-endpoint override), and can
 * also hold a keyring file (--kms-keyring FILE) that stands in for plugins
 * offline: JSON
 *
 *   {"plugins": {"<plugin name>": {"api_version": "v1"|"v2",
 *                                  "keks_b64": {"<key id>": "<base64 32 bytes>"}}}}
 *
 * (KMS v1 uses the key id ""). A wrapped DEK/seed there is nonce(12) |
 * AES-256-GCM ciphertext | tag(16) under the KEK, no AAD — the format of the
 * stand-in plugin the reference fixtures were made with. A plugin named in
 * the keyring is never dialled; any other is asked over its socket.
 *
 * Writing KMS v2 (kmsring_writer): the plugin's Status is checked as the
 * apiserver checks it (healthz "ok", version "v2"/"v2beta1", key ID
 * non-empty), then ONE fresh 32-byte seed per plugin per run is wrapped by
 * ONE Encrypt call, whose key ID must equal Status's. Every transformer of
 * the run shares it. KEKs and seeds are wiped on free and never printed. */
#ifndef ETCDCRYPT_KMSRING_H
#define ETCDCRYPT_KMSRING_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "conf/encconf.h"
#include "kms/kms.h"

struct kms_ring;

/* A ring with no KEKs. set (may be NULL: no plugin is dialled) is borrowed
 * and must outlive the ring. */
int kmsring_new(struct kms_ring **out, struct kms_set *set);
/* Adds the KEKs of a keyring file. */
int kmsring_load_file(struct kms_ring *r, const char *path);
/* kmsring_new(NULL) + kmsring_load_file (offline use, tests). */
int kmsring_load(struct kms_ring **out, const char *path);
void kmsring_free(struct kms_ring *r); /* NULL-safe */

enum kmsring_status {
	KMSRING_OK = 0,
	KMSRING_NO_PLUGIN,      /* no KEKs for it and no plugin client */
	KMSRING_UNKNOWN_KEY_ID,
	KMSRING_UNWRAP_FAILED,  /* keyring: the KEK did not open it */
	KMSRING_UNAVAILABLE,    /* the plugin failed; msg has its error */
};

/* Unwraps w for provider p into *dek (replacing its contents). *status and
 * msg (the plugin's error) say why it failed; <0 only for internal errors.
 * r may be NULL (then KMSRING_NO_PLUGIN). */
int kmsring_unwrap(const struct kms_ring *r, struct buf *dek, enum kmsring_status *status, char msg[KMS_MSG_MAX],
		   const struct encconf_provider *p, const struct kms_wrapped *w);

/* The plugin's current KMS v2 key ID (its Status, asked once per run), or
 * NULL when unknown (keyring only, plugin unreachable). Borrowed. */
const char *kmsring_current_key_id(const struct kms_ring *r, const struct encconf_provider *p);

/* The KMS v2 write state of one plugin for the run (see above). */
struct kms_writer {
	uint8_t seed[32];
	struct buf wrapped;     /* EncryptedObject.encryptedDEKSource */
	struct buf annotations; /* raw EncryptedObject field-4 records */
	char key_id[KMS_KEY_ID_MAX + 1];
};

/* Gets (creating on first use) the writer of KMS v2 provider p. ERR_REFUSED
 * with the reason when the plugin is unreachable, unhealthy, of another
 * version, or its Encrypt key ID differs from Status's. Borrowed. */
int kmsring_writer(const struct kms_ring *r, const struct encconf_provider *p, const struct kms_writer **out);

/* KMS v1 prefetch: queue wrapped DEKs (w's bytes borrowed until the run),
 * then ask their plugins for all of them at once, a bounded number of calls
 * in flight (kms_set_prefetch); later unwraps find them cached. Plugins in
 * the keyring and KMS v2 are skipped. */
int kmsring_prefetch_add(const struct kms_ring *r, const struct encconf_provider *p, const struct kms_wrapped *w);
int kmsring_prefetch_run(const struct kms_ring *r);

/* A new run of a long-lived process: a new seed (and Status) for the next
 * KMS v2 write, plugins asked again (kms_set_new_run). */
void kmsring_new_run(const struct kms_ring *r);

/* The set the ring asks (for reports), or NULL. */
struct kms_set *kmsring_set(const struct kms_ring *r);

#endif
