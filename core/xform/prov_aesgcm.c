/* prov_aesgcm: the aesgcm provider. body = nonce(12) | ciphertext | tag(16),
 * AAD = the full etcd key. Also the raw AES-GCM used by the KMS envelopes. */
#include "prov_int.h"
#include "base/err.h"

#include <openssl/evp.h>
#include <string.h>

#define GCM_NONCE 12
#define GCM_TAG 16

static const EVP_CIPHER *gcm_cipher(size_t key_len)
{
	switch (key_len) {
	case 16: return EVP_aes_128_gcm();
	case 24: return EVP_aes_192_gcm();
	case 32: return EVP_aes_256_gcm();
	default: return NULL;
	}
}

static int gcm_init(struct prov_cipher *c, const uint8_t *key, size_t key_len)
{
	const EVP_CIPHER *ci = gcm_cipher(key_len);
	EVP_CIPHER_CTX *d, *e;

	if (ci == NULL)
		return err_set(ERR_CONFIG, "aesgcm key must be 16, 24 or 32 bytes, got %zu", key_len);
	c->dec = d = EVP_CIPHER_CTX_new();
	c->enc = e = EVP_CIPHER_CTX_new();
	if (d == NULL || e == NULL || EVP_DecryptInit_ex(d, ci, NULL, key, NULL) != 1 ||
	    EVP_EncryptInit_ex(e, ci, NULL, key, NULL) != 1)
		return err_set(ERR_INTERNAL, "cannot set up AES-GCM");
	return 0;
}

/* Decrypts with a prepared context (key set). On a tag failure the
 * unverified plaintext stays in out (see prov.h). */
static int gcm_decrypt(EVP_CIPHER_CTX *d, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
		       size_t aad_len, enum prov_fail *why)
{
	size_t ct;
	int len = 0, fin = 0, rc;

	if (n < GCM_NONCE + GCM_TAG) {
		*why = PROV_TRUNCATED;
		return 0;
	}
	ct = n - GCM_NONCE - GCM_TAG;
	if ((rc = buf_reserve(out, ct + 16)) < 0)
		return rc;
	if (EVP_DecryptInit_ex(d, NULL, NULL, NULL, body) != 1 ||
	    (aad_len > 0 && EVP_DecryptUpdate(d, NULL, &len, aad, (int)aad_len) != 1) ||
	    EVP_DecryptUpdate(d, out->data + out->len, &len, body + GCM_NONCE, (int)ct) != 1 ||
	    EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_GCM_SET_TAG, GCM_TAG, (void *)(body + n - GCM_TAG)) != 1)
		return err_set(ERR_INTERNAL, "AES-GCM decryption failed");
	out->len += (size_t)len;
	fin = EVP_DecryptFinal_ex(d, out->data + out->len, &len);
	*why = fin == 1 ? PROV_OK : PROV_AUTH;
	return 0;
}

static int gcm_open(struct prov_cipher *c, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
		    size_t aad_len, enum prov_fail *why)
{
	return gcm_decrypt(c->dec, out, body, n, aad, aad_len, why);
}

static int gcm_seal(struct prov_cipher *c, struct buf *out, const uint8_t *plain, size_t n, const uint8_t *aad,
		    size_t aad_len)
{
	uint8_t nonce[GCM_NONCE];
	int len = 0, rc;

	if ((rc = prov_random(nonce, sizeof(nonce))) < 0 || (rc = buf_reserve(out, GCM_NONCE + n + GCM_TAG)) < 0)
		return rc;
	buf_append(out, nonce, sizeof(nonce));
	if (EVP_EncryptInit_ex(c->enc, NULL, NULL, NULL, nonce) != 1 ||
	    (aad_len > 0 && EVP_EncryptUpdate(c->enc, NULL, &len, aad, (int)aad_len) != 1) ||
	    EVP_EncryptUpdate(c->enc, out->data + out->len, &len, plain, (int)n) != 1)
		return err_set(ERR_INTERNAL, "AES-GCM encryption failed");
	out->len += (size_t)len;
	if (EVP_EncryptFinal_ex(c->enc, out->data + out->len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_GCM_GET_TAG, GCM_TAG, out->data + out->len + len) != 1)
		return err_set(ERR_INTERNAL, "AES-GCM encryption failed");
	out->len += (size_t)len + GCM_TAG;
	return 0;
}

static void gcm_release(struct prov_cipher *c)
{
	EVP_CIPHER_CTX_free(c->dec);
	EVP_CIPHER_CTX_free(c->enc);
}

const struct prov_ops prov_aesgcm_ops = { "aesgcm", gcm_init, gcm_open, gcm_seal, gcm_release };

int prov_gcm_open_raw(struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *body, size_t n,
		      const uint8_t *aad, size_t aad_len, enum prov_fail *why)
{
	const EVP_CIPHER *ci = gcm_cipher(key_len);
	EVP_CIPHER_CTX *d = EVP_CIPHER_CTX_new();
	int rc;

	buf_reset(out);
	if (ci == NULL || d == NULL || EVP_DecryptInit_ex(d, ci, NULL, key, NULL) != 1) {
		EVP_CIPHER_CTX_free(d);
		return err_set(ERR_INTERNAL, "cannot set up AES-GCM with a %zu-byte key", key_len);
	}
	rc = gcm_decrypt(d, out, body, n, aad, aad_len, why);
	EVP_CIPHER_CTX_free(d);
	return rc;
}

int prov_gcm_seal_raw(struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *plain, size_t n,
		      const uint8_t *aad, size_t aad_len)
{
	const EVP_CIPHER *ci = gcm_cipher(key_len);
	struct prov_cipher c = { 0 };
	int rc;

	if (ci == NULL || (c.enc = EVP_CIPHER_CTX_new()) == NULL || EVP_EncryptInit_ex(c.enc, ci, NULL, key, NULL) != 1) {
		EVP_CIPHER_CTX_free(c.enc);
		return err_set(ERR_INTERNAL, "cannot set up AES-GCM with a %zu-byte key", key_len);
	}
	rc = gcm_seal(&c, out, plain, n, aad, aad_len);
	EVP_CIPHER_CTX_free(c.enc);
	return rc;
}

int prov_raw_gcm_open(struct prov_raw *r, struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *body,
		      size_t n, const uint8_t *aad, size_t aad_len, enum prov_fail *why)
{
	EVP_CIPHER_CTX *d = r->gcm;

	if (key_len != 32)
		return prov_gcm_open_raw(out, key, key_len, body, n, aad, aad_len, why);
	buf_reset(out);
	/* the cipher once, then only the key: no fetch, no new context per value */
	if (EVP_CIPHER_CTX_get0_cipher(d) == NULL ? EVP_DecryptInit_ex(d, EVP_aes_256_gcm(), NULL, key, NULL) != 1
						  : EVP_DecryptInit_ex(d, NULL, NULL, key, NULL) != 1)
		return err_set(ERR_INTERNAL, "cannot set up AES-GCM");
	return gcm_decrypt(d, out, body, n, aad, aad_len, why);
}
