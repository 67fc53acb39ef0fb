/* prov: the ciphers behind the apiserver's providers, one key each.
 *
 * A prov_cipher holds one key with its key schedule prepared once (cipher
 * contexts are reused; only the IV/nonce changes per value). Providers sit
 * behind one table of function pointers, one file per provider:
 * prov_aescbc.c, prov_aesgcm.c, prov_secretbox.c. OpenSSL and libsodium are
 * included only by these files. Bodies are what follows "<prefix><key>:":
 *
 *   aescbc     IV(16) | AES-CBC(plaintext + PKCS#7 padding)      no AAD
 *   aesgcm     nonce(12) | AES-GCM ciphertext | tag(16)          AAD = etcd key
 *   secretbox  nonce(24) | Poly1305 tag(16) | XSalsa20 ciphertext no AAD
 *
 * open() follows Kubernetes' checks exactly: CBC padding is accepted when
 * 0 < pad <= length and all pad bytes equal pad (longer than a block too),
 * an IV with no ciphertext is an error (Kubernetes panics), short input is
 * "truncated". On an authentication failure (PROV_AUTH) the unverified
 * plaintext is still left in *out, for diagnosis only (was the key right and
 * the AAD wrong?); it must never be used as data. */
#ifndef ETCDCRYPT_PROV_H
#define ETCDCRYPT_PROV_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "conf/encconf.h"

enum prov_fail {
	PROV_OK = 0,
	PROV_TRUNCATED,   /* shorter than nonce/IV + tag, or not whole blocks */
	PROV_IV_ONLY,     /* CBC: IV and no ciphertext block */
	PROV_BAD_PADDING, /* CBC: PKCS#7 check failed (wrong key or damage) */
	PROV_AUTH,        /* GCM/secretbox tag check failed */
};

struct prov_cipher;

struct prov_ops {
	const char *name;
	int (*init)(struct prov_cipher *c, const uint8_t *key, size_t key_len);
	/* 0 with *why set (PROV_OK or a failure class); <0 only for internal errors */
	int (*open)(struct prov_cipher *c, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
		    size_t aad_len, enum prov_fail *why);
	int (*seal)(struct prov_cipher *c, struct buf *out, const uint8_t *plain, size_t n, const uint8_t *aad,
		    size_t aad_len);
	void (*release)(struct prov_cipher *c);
};

/* kind: ENCCONF_AESCBC, ENCCONF_AESGCM or ENCCONF_SECRETBOX. The key bytes
 * are copied into the cipher state (and wiped on free). */
int prov_cipher_new(struct prov_cipher **out, enum encconf_kind kind, const uint8_t *key, size_t key_len);
void prov_cipher_free(struct prov_cipher *c); /* NULL-safe */

/* Appends the plaintext to *out (after buf_reset). */
int prov_open(struct prov_cipher *c, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
	      size_t aad_len, enum prov_fail *why);
/* Appends the body (nonce/IV + ciphertext [+ tag]) to *out. */
int prov_seal(struct prov_cipher *c, struct buf *out, const uint8_t *plain, size_t n, const uint8_t *aad,
	      size_t aad_len);

/* Fills p with n cryptographically random bytes (taken from a buffered
 * pool, refilled in bulk). */
int prov_random(uint8_t *p, size_t n);

/* AES-GCM with a raw key, for KMS data and DEK unwrapping: body = nonce(12) |
 * ciphertext | tag(16). Same failure classes as open(). */
int prov_gcm_open_raw(struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *body, size_t n,
		      const uint8_t *aad, size_t aad_len, enum prov_fail *why);
/* AES-GCM with a raw key and a random nonce: appends nonce(12) | ciphertext |
 * tag(16) to *out (KMS v2 writes). */
int prov_gcm_seal_raw(struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *plain, size_t n,
		      const uint8_t *aad, size_t aad_len);
/* AES-CBC (PKCS#7) with a raw key, for KMS v1 data written before 1.25. */
int prov_cbc_open_raw(struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *body, size_t n,
		      enum prov_fail *why);
/* HKDF-Expand (SHA-256, no extract step) of prk with info into out (out_len). */
int prov_hkdf_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len, const uint8_t *info,
		     size_t info_len);

/* Reusable contexts for per-value keys (KMS): the AES-256-GCM context is
 * re-keyed instead of rebuilt, and HMAC-SHA256 keeps its key while the seed
 * stays the same (all values of one KMS v2 seed). */
struct prov_raw;
int prov_raw_new(struct prov_raw **out);
void prov_raw_free(struct prov_raw *r); /* NULL-safe; wipes the key it holds */
/* prov_gcm_open_raw with r's context (32-byte keys fast, others as before). */
int prov_raw_gcm_open(struct prov_raw *r, struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *body,
		      size_t n, const uint8_t *aad, size_t aad_len, enum prov_fail *why);
/* HKDF-Expand-SHA256(prk, info) of 32 bytes into out (= HMAC(prk, info | 1)). */
int prov_raw_hkdf32(struct prov_raw *r, uint8_t out[32], const uint8_t *prk, size_t prk_len, const uint8_t *info,
		    size_t info_len);

#endif
