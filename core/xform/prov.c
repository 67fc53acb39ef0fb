/* prov: provider table, shared helpers (random pool, HKDF); see prov.h. */
#include "prov_int.h"
#include "base/err.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_POOL 4096

static _Thread_local uint8_t rnd_pool[RANDOM_POOL];
static _Thread_local size_t rnd_left;

int prov_random(uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t take;

		if (rnd_left == 0) {
			/* one RAND_bytes call per 4 KiB instead of one per value */
			if (RAND_bytes(rnd_pool, RANDOM_POOL) != 1)
				return err_set(ERR_INTERNAL, "the system random generator failed");
			rnd_left = RANDOM_POOL;
		}
		take = n < rnd_left ? n : rnd_left;
		memcpy(p, rnd_pool + RANDOM_POOL - rnd_left, take);
		OPENSSL_cleanse(rnd_pool + RANDOM_POOL - rnd_left, take);
		rnd_left -= take;
		p += take;
		n -= take;
	}
	return 0;
}

int prov_cipher_new(struct prov_cipher **out, enum encconf_kind kind, const uint8_t *key, size_t key_len)
{
	struct prov_cipher *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	switch (kind) {
	case ENCCONF_AESCBC: c->ops = &prov_aescbc_ops; break;
	case ENCCONF_AESGCM: c->ops = &prov_aesgcm_ops; break;
	case ENCCONF_SECRETBOX: c->ops = &prov_secretbox_ops; break;
	default:
		free(c);
		return err_set(ERR_INTERNAL, "provider %s has no cipher", encconf_kind_name(kind));
	}
	if (key_len > sizeof(c->key)) {
		free(c);
		return err_set(ERR_CONFIG, "key of %zu bytes is too long", key_len);
	}
	memcpy(c->key, key, key_len);
	c->key_len = key_len;
	rc = c->ops->init(c, key, key_len);
	if (rc < 0) {
		prov_cipher_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void prov_cipher_free(struct prov_cipher *c)
{
	if (c == NULL)
		return;
	c->ops->release(c);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}

int prov_open(struct prov_cipher *c, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
	      size_t aad_len, enum prov_fail *why)
{
	buf_reset(out);
	return c->ops->open(c, out, body, n, aad, aad_len, why);
}

int prov_seal(struct prov_cipher *c, struct buf *out, const uint8_t *plain, size_t n, const uint8_t *aad,
	      size_t aad_len)
{
	return c->ops->seal(c, out, plain, n, aad, aad_len);
}

int prov_hkdf_expand(uint8_t *out, size_t out_len, const uint8_t *prk, size_t prk_len, const uint8_t *info,
		     size_t info_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, rc = 0;
	OSSL_PARAM params[5];

	if (ctx == NULL) {
		rc = err_set(ERR_INTERNAL, "OpenSSL has no HKDF");
		goto out;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)prk, prk_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	params[3] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) != 1)
		rc = err_set(ERR_INTERNAL, "HKDF-Expand failed");
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int prov_raw_new(struct prov_raw **out)
{
	struct prov_raw *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if ((r->gcm = EVP_CIPHER_CTX_new()) == NULL || (r->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (r->hmac = EVP_MAC_CTX_new(r->mac)) == NULL) {
		prov_raw_free(r);
		return err_set(ERR_INTERNAL, "cannot set up AES-GCM and HMAC-SHA256");
	}
	*out = r;
	return 0;
}

void prov_raw_free(struct prov_raw *r)
{
	if (r == NULL)
		return;
	EVP_CIPHER_CTX_free(r->gcm);
	EVP_MAC_CTX_free(r->hmac);
	EVP_MAC_free(r->mac);
	mem_wipe(r->prk, sizeof(r->prk));
	free(r);
}

int prov_raw_hkdf32(struct prov_raw *r, uint8_t out[32], const uint8_t *prk, size_t prk_len, const uint8_t *info,
		    size_t info_len)
{
	static const uint8_t one = 1; /* T(1) = HMAC(PRK, info | 0x01): the first 32 bytes */
	OSSL_PARAM params[2] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
				 OSSL_PARAM_construct_end() };
	size_t n = 0;
	int same = r->have_prk && prk_len == sizeof(r->prk) && memcmp(prk, r->prk, prk_len) == 0;

	if (prk_len != sizeof(r->prk))
		return prov_hkdf_expand(out, 32, prk, prk_len, info, info_len);
	/* a NULL key keeps the one set before: no re-keying for values of one seed */
	if (EVP_MAC_init(r->hmac, same ? NULL : prk, same ? 0 : prk_len, same ? NULL : params) != 1 ||
	    EVP_MAC_update(r->hmac, info, info_len) != 1 || EVP_MAC_update(r->hmac, &one, 1) != 1 ||
	    EVP_MAC_final(r->hmac, out, &n, 32) != 1 || n != 32) {
		r->have_prk = 0;
		return err_set(ERR_INTERNAL, "HKDF-Expand failed");
	}
	if (!same) {
		memcpy(r->prk, prk, prk_len);
		r->have_prk = 1;
	}
	return 0;
}
