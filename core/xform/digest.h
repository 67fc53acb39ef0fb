/* digest: SHA-256 for the layers that must not include OpenSSL themselves
 * (bolt checks a snapshot's trailer with it; csmkey names keys with it).
 * The hash lives here because xform owns OpenSSL. */
#ifndef ETCDCRYPT_DIGEST_H
#define ETCDCRYPT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_LEN 32

struct digest; /* an incremental SHA-256 */

int digest_sha256_new(struct digest **out);
int digest_update(struct digest *d, const void *p, size_t n);
/* Writes the 32-byte hash; d cannot be updated afterwards. */
int digest_final(struct digest *d, uint8_t out[DIGEST_SHA256_LEN]);
void digest_free(struct digest *d); /* NULL-safe */

/* Lower-case hex SHA-256 of p (n bytes) into out (64 digits and a NUL). */
int digest_sha256_hex(char out[2 * DIGEST_SHA256_LEN + 1], const uint8_t *p, size_t n);

#endif
