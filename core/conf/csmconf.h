/* csmconf: EncryptionConfigurations exactly as the HPE Cray CSM script
 * `encryption.sh --enable|--disable` writes them, and the key files behind
 * them.
 *
 * A CSM key is a raw string of 16, 24 or 32 bytes (secretbox: 32), stored in
 * the config base64-encoded, and named
 *
 *   <provider>-<lower-case hex SHA-256 of the key string followed by "\n">
 *
 * (the script runs `echo "$key" | sha256sum`). `status` shows these names,
 * so the same key always gets the same name. Every key gets a provider
 * element of its own, in the order given; enable puts identity last (new
 * writes use the first key, plaintext stays readable), disable puts it first
 * (new writes are plaintext, the keys keep old values readable). The text:
 *
 *   ---
 *   apiVersion: apiserver.config.k8s.io/v1
 *   kind: EncryptionConfiguration
 *   resources:
 *     - resources:
 *         - secrets
 *       providers:
 *         - aescbc:
 *             keys:
 *               - name: "aescbc-<sha256 hex>"
 *                 secret: "<base64 of the key string>"
 *         - identity: {}
 *
 * Key files hold the key string itself; one trailing newline is not part of
 * the key. Generated keys are printable (letters and digits) so they can
 * also be given to the CSM script. Keys live in struct csmconf_key, which the
 * caller wipes with csmconf_key_wipe; they never appear in a message.
 *
 * Keys are read and named by xform/csmkey.h (naming hashes the key, which
 * is the providers' library's job). This module does not parse configs
 * (encconf.h does), hashes nothing and does not print. */
#ifndef ETCDCRYPT_CSMCONF_H
#define ETCDCRYPT_CSMCONF_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "encconf.h"

#define CSMCONF_KEY_MAX 32
/* "secretbox-" + 64 hex digits + NUL */
#define CSMCONF_NAME_MAX 80
/* A key file may hold at most this many bytes (longer is refused unread). */
#define CSMCONF_KEYFILE_MAX 4096

enum csmconf_mode {
	CSMCONF_ENABLE,  /* keys..., identity */
	CSMCONF_DISABLE, /* identity, keys... */
};

struct csmconf_key {
	enum encconf_kind kind; /* ENCCONF_AESCBC, ENCCONF_AESGCM or ENCCONF_SECRETBOX */
	uint8_t key[CSMCONF_KEY_MAX];
	size_t len;
	char name[CSMCONF_NAME_MAX]; /* "<provider>-<sha256 hex>", set by csmkey_set */
	char source[256]; /* where it came from, for messages: the file or "<stdin>" */
};

void csmconf_key_wipe(struct csmconf_key *k);

/* Writes the config text for mode and keys (n may be 0 for disable, not
 * for enable: ERR_USAGE) into *out (reset first; the caller releases it,
 * which wipes the secrets). ERR_USAGE when two keys have the same name. */
int csmconf_generate(struct buf *out, enum csmconf_mode mode, const struct csmconf_key *keys, size_t n);

/* Creates path (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) and writes p fully,
 * then fsyncs. Never overwrites: an existing path is ERR_IO "exists". A
 * partly written file is removed. */
int csmconf_write_new(const char *path, const void *p, size_t n);

#endif
