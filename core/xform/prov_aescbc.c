/* prov_aescbc: the aescbc provider. body = IV(16) | AES-CBC ciphertext.
 *
 * Padding is checked the way Kubernetes checks it (not OpenSSL's stricter
 * PKCS#7): the last byte p must satisfy 0 < p <= length and the last p bytes
 * must all equal p. So OpenSSL's own padding is turned off for decryption.
 * Encryption pads as Kubernetes does, which is PKCS#7 (1..16 bytes of the
 * pad length), so OpenSSL's padding is kept there: a context without
 * padding re-applies that setting through the parameter machinery on
 * every EVP_EncryptInit_ex, i.e. for every value sealed. */
#include "prov_int.h"
#include "base/err.h"

#include <openssl/evp.h>
#include <string.h>

#define CBC_BLOCK 16

static const EVP_CIPHER *cbc_cipher(size_t key_len)
{
	switch (key_len) {
	case 16: return EVP_aes_128_cbc();
	case 24: return EVP_aes_192_cbc();
	case 32: return EVP_aes_256_cbc();
	default: return NULL;
	}
}

static int cbc_init(struct prov_cipher *c, const uint8_t *key, size_t key_len)
{
	const EVP_CIPHER *ci = cbc_cipher(key_len);
	EVP_CIPHER_CTX *d, *e;

	if (ci == NULL)
		return err_set(ERR_CONFIG, "aescbc key must be 16, 24 or 32 bytes, got %zu", key_len);
	c->dec = d = EVP_CIPHER_CTX_new();
	c->enc = e = EVP_CIPHER_CTX_new();
	if (d == NULL || e == NULL || EVP_DecryptInit_ex(d, ci, NULL, key, NULL) != 1 ||
	    EVP_EncryptInit_ex(e, ci, NULL, key, NULL) != 1)
		return err_set(ERR_INTERNAL, "cannot set up AES-CBC");
	EVP_CIPHER_CTX_set_padding(d, 0);
	return 0;
}

/* Kubernetes' unpadding rule: the unpadded length into *out, or
 * ERR_DECRYPT (no message: the caller reports PROV_BAD_PADDING). */
static int k8s_unpad(size_t *out, const uint8_t *p, size_t n)
{
	size_t pad;

	if (n == 0)
		return ERR_DECRYPT;
	pad = p[n - 1];
	if (pad == 0 || pad > n)
		return ERR_DECRYPT;
	for (size_t i = n - pad; i < n; i++)
		if (p[i] != pad)
			return ERR_DECRYPT;
	*out = n - pad;
	return 0;
}

static int cbc_decrypt_raw(EVP_CIPHER_CTX *d, struct buf *out, const uint8_t *body, size_t n,
			   enum prov_fail *why)
{
	size_t ct = n - CBC_BLOCK;
	int len = 0;
	size_t plain;
	int rc;

	if (n < CBC_BLOCK) {
		*why = PROV_TRUNCATED;
		return 0;
	}
	if (ct == 0) {
		*why = PROV_IV_ONLY;
		return 0;
	}
	if (ct % CBC_BLOCK != 0) {
		*why = PROV_TRUNCATED;
		return 0;
	}
	if ((rc = buf_reserve(out, ct)) < 0)
		return rc;
	if (EVP_DecryptInit_ex(d, NULL, NULL, NULL, body) != 1 ||
	    EVP_DecryptUpdate(d, out->data + out->len, &len, body + CBC_BLOCK, (int)ct) != 1 || (size_t)len != ct)
		return err_set(ERR_INTERNAL, "AES-CBC decryption failed");
	if (k8s_unpad(&plain, out->data + out->len, ct) < 0) {
		/* leave the raw blocks so the caller can tell a wrong key (random
		 * first block) from a damaged tail */
		out->len += ct;
		*why = PROV_BAD_PADDING;
		return 0;
	}
	out->len += plain;
	*why = PROV_OK;
	return 0;
}

static int cbc_open(struct prov_cipher *c, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
		    size_t aad_len, enum prov_fail *why)
{
	(void)aad;
	(void)aad_len;
	return cbc_decrypt_raw(c->dec, out, body, n, why);
}

static int cbc_seal(struct prov_cipher *c, struct buf *out, const uint8_t *plain, size_t n, const uint8_t *aad,
		    size_t aad_len)
{
	size_t pad = CBC_BLOCK - n % CBC_BLOCK; /* always 1..16: a full block when aligned */
	uint8_t iv[CBC_BLOCK];
	int len = 0, len2 = 0, rc;

	(void)aad;
	(void)aad_len;
	if ((rc = prov_random(iv, sizeof(iv))) < 0 || (rc = buf_reserve(out, CBC_BLOCK + n + pad)) < 0)
		return rc;
	buf_append(out, iv, sizeof(iv));
	/* the whole blocks, then the PKCS#7-padded last one from Final */
	if (EVP_EncryptInit_ex(c->enc, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(c->enc, out->data + out->len, &len, plain, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c->enc, out->data + out->len + len, &len2) != 1 || (size_t)len + (size_t)len2 != n + pad)
		return err_set(ERR_INTERNAL, "AES-CBC encryption failed");
	out->len += n + pad;
	return 0;
}

static void cbc_release(struct prov_cipher *c)
{
	EVP_CIPHER_CTX_free(c->dec);
	EVP_CIPHER_CTX_free(c->enc);
}

const struct prov_ops prov_aescbc_ops = { "aescbc", cbc_init, cbc_open, cbc_seal, cbc_release };

int prov_cbc_open_raw(struct buf *out, const uint8_t *key, size_t key_len, const uint8_t *body, size_t n,
		      enum prov_fail *why)
{
	const EVP_CIPHER *ci = cbc_cipher(key_len);
	EVP_CIPHER_CTX *d = EVP_CIPHER_CTX_new();
	int rc;

	buf_reset(out);
	if (ci == NULL || d == NULL || EVP_DecryptInit_ex(d, ci, NULL, key, NULL) != 1) {
		EVP_CIPHER_CTX_free(d);
		return err_set(ERR_INTERNAL, "cannot set up AES-CBC");
	}
	EVP_CIPHER_CTX_set_padding(d, 0);
	rc = cbc_decrypt_raw(d, out, body, n, why);
	EVP_CIPHER_CTX_free(d);
	return rc;
}
