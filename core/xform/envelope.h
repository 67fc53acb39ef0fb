/* envelope: what kind of stored value is this, judged from its bytes alone.
 *
 * Stored value layouts (docs/formats.md §5; prefixes are ASCII):
 *
 *   identity   the object itself: "k8s\0"+protobuf, JSON "{...}\n", CBOR, or other
 *   aescbc     "k8s:enc:aescbc:v1:"    <key name> ":" IV(16) ciphertext(+PKCS#7)
 *   aesgcm     "k8s:enc:aesgcm:v1:"    <key name> ":" nonce(12) ciphertext tag(16)
 *   secretbox  "k8s:enc:secretbox:v1:" <key name> ":" nonce(24) tag(16) ciphertext
 *   kms v1     "k8s:enc:kms:v1:" <plugin> ":" len(2, big-endian) wrapped DEK, data
 *   kms v2     "k8s:enc:kms:v2:" <plugin> ":" EncryptedObject protobuf
 *              {1 encryptedData, 2 keyID, 3 encryptedDEKSource, 4 annotations,
 *               5 encryptedDEKSourceType}
 *
 * Key names may contain ':' so the name cannot be split off without the
 * config: env_classify guesses the text up to the first ':' after "v1:"
 * (name_guessed), shown printable (escaped when binary, "(none)" when
 * empty: esc.h); the transformer matches configured names exactly and
 * attributes a value to the configured key whose name prefix it carries,
 * even when it then fails to decrypt. */
#ifndef ETCDCRYPT_ENVELOPE_H
#define ETCDCRYPT_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "plain.h"

enum env_kind {
	ENV_IDENTITY = 0,
	ENV_AESCBC,
	ENV_AESGCM,
	ENV_SECRETBOX,
	ENV_KMS1,
	ENV_KMS2,
	ENV_UNKNOWN_ENC, /* "k8s:enc:" with a provider we do not know */
};

#define ENV_NAME_MAX 256

struct env_info {
	enum env_kind kind;
	const uint8_t *body; /* after "k8s:enc:<provider>:<version>:" (borrowed) */
	size_t body_len;
	char key_name[ENV_NAME_MAX]; /* key name or KMS plugin name; guessed, printable */
	int name_guessed;              /* 1 for every keyed/KMS kind: not matched to a config */
	char kms_key_id[ENV_NAME_MAX]; /* kms v2 only, "" when unreadable */
	enum plain_encoding encoding;  /* identity only, from the first bytes */
};

#define ENV_ENC_PREFIX "k8s:enc:"

/* Classifies v (borrowed by out->body). Never fails. */
void env_classify(struct env_info *out, const uint8_t *v, size_t n);

/* "identity", "aescbc", "aesgcm", "secretbox", "kms", "kmsv2", "unknown". */
const char *env_kind_name(enum env_kind k);

/* The provider prefix ("k8s:enc:aescbc:v1:"), "" for identity. */
const char *env_prefix(enum env_kind k);

/* Reads the keyID (field 2) of a KMS v2 EncryptedObject into out (cap
 * bytes). 0, or -1 if the protobuf is malformed or has no keyID. */
int env_kms2_key_id(char *out, size_t cap, const uint8_t *obj, size_t n);

#endif
