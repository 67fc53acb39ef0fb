/* prov_int: the cipher state shared by the provider files (private). */
#ifndef ETCDCRYPT_PROV_INT_H
#define ETCDCRYPT_PROV_INT_H

#include "prov.h"

struct prov_cipher {
	const struct prov_ops *ops;
	uint8_t key[32];
	size_t key_len;
	void *dec; /* EVP_CIPHER_CTX for decryption (AES) */
	void *enc; /* EVP_CIPHER_CTX for encryption (AES) */
};

struct prov_raw {
	void *gcm;       /* EVP_CIPHER_CTX, AES-256-GCM once used */
	void *mac;       /* EVP_MAC "HMAC" */
	void *hmac;      /* EVP_MAC_CTX */
	uint8_t prk[32]; /* the HMAC key set in hmac */
	int have_prk;
};

extern const struct prov_ops prov_aescbc_ops;
extern const struct prov_ops prov_aesgcm_ops;
extern const struct prov_ops prov_secretbox_ops;

#endif
