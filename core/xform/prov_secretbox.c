/* prov_secretbox: the secretbox provider (NaCl XSalsa20-Poly1305).
 * body = nonce(24) | tag(16) | ciphertext; key 32 bytes; no AAD. */
#include "prov_int.h"
#include "base/err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SB_NONCE crypto_secretbox_NONCEBYTES /* 24 */
#define SB_TAG crypto_secretbox_MACBYTES     /* 16 */
#define SB_SUBKEY 32 /* keystream bytes used for the Poly1305 key before the data */

static int sb_init(struct prov_cipher *c, const uint8_t *key, size_t key_len)
{
	(void)c;
	(void)key;
	if (key_len != crypto_secretbox_KEYBYTES)
		return err_set(ERR_CONFIG, "secretbox key must be 32 bytes, got %zu", key_len);
	if (sodium_init() < 0)
		return err_set(ERR_INTERNAL, "libsodium failed to initialise");
	return 0;
}

/* Unverified decryption: the XSalsa20 keystream from byte 32 on, XORed with
 * the ciphertext. Only to tell a wrong key from a damaged value. */
static int sb_unverified(struct prov_cipher *c, struct buf *out, const uint8_t *nonce, const uint8_t *ct,
			 size_t n)
{
	size_t total = SB_SUBKEY + n;
	uint8_t *tmp = calloc(1, total);
	int rc;

	if (tmp == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(tmp + SB_SUBKEY, ct, n);
	crypto_stream_xsalsa20_xor(tmp, tmp, total, nonce, c->key);
	rc = buf_append(out, tmp + SB_SUBKEY, n);
	sodium_memzero(tmp, total);
	free(tmp);
	return rc;
}

static int sb_open(struct prov_cipher *c, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
		   size_t aad_len, enum prov_fail *why)
{
	size_t ct;
	int rc;

	(void)aad;
	(void)aad_len;
	if (n < SB_NONCE + SB_TAG) {
		*why = PROV_TRUNCATED;
		return 0;
	}
	ct = n - SB_NONCE - SB_TAG;
	if ((rc = buf_reserve(out, ct)) < 0)
		return rc;
	if (crypto_secretbox_open_easy(out->data + out->len, body + SB_NONCE, n - SB_NONCE, body, c->key) == 0) {
		out->len += ct;
		*why = PROV_OK;
		return 0;
	}
	*why = PROV_AUTH;
	return sb_unverified(c, out, body, body + SB_NONCE + SB_TAG, ct);
}

static int sb_seal(struct prov_cipher *c, struct buf *out, const uint8_t *plain, size_t n, const uint8_t *aad,
		   size_t aad_len)
{
	uint8_t nonce[SB_NONCE];
	int rc;

	(void)aad;
	(void)aad_len;
	if ((rc = prov_random(nonce, sizeof(nonce))) < 0 || (rc = buf_reserve(out, SB_NONCE + SB_TAG + n)) < 0)
		return rc;
	buf_append(out, nonce, sizeof(nonce));
	if (crypto_secretbox_easy(out->data + out->len, plain, n, nonce, c->key) != 0)
		return err_set(ERR_INTERNAL, "secretbox encryption failed");
	out->len += SB_TAG + n;
	return 0;
}

static void sb_release(struct prov_cipher *c)
{
	(void)c;
}

const struct prov_ops prov_secretbox_ops = { "secretbox", sb_init, sb_open, sb_seal, sb_release };
