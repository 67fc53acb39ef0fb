/* digest: SHA-256 over OpenSSL EVP; see digest.h. */
#include "digest.h"
#include "base/err.h"
#include "base/hex.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct digest {
	EVP_MD_CTX *ctx;
};

int digest_sha256_new(struct digest **out)
{
	struct digest *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (d == NULL || (d->ctx = EVP_MD_CTX_new()) == NULL) {
		free(d);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
		digest_free(d);
		return err_set(ERR_INTERNAL, "cannot start SHA-256");
	}
	*out = d;
	return 0;
}

int digest_update(struct digest *d, const void *p, size_t n)
{
	if (EVP_DigestUpdate(d->ctx, p, n) != 1)
		return err_set(ERR_INTERNAL, "SHA-256 failed");
	return 0;
}

int digest_final(struct digest *d, uint8_t out[DIGEST_SHA256_LEN])
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(d->ctx, out, &len) != 1 || len != DIGEST_SHA256_LEN)
		return err_set(ERR_INTERNAL, "SHA-256 failed");
	return 0;
}

void digest_free(struct digest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

int digest_sha256_hex(char out[2 * DIGEST_SHA256_LEN + 1], const uint8_t *p, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != DIGEST_SHA256_LEN)
		return err_set(ERR_INTERNAL, "SHA-256 failed");
	hex_encode(out, md, md_len);
	return 0;
}
