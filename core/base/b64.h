/* b64: standard base64 (RFC 4648, with padding), decoded as Go's
 * base64.StdEncoding decodes it (the apiserver reads config secrets so):
 * CR and LF are skipped, padding is required, unused trailing bits are
 * ignored, anything else is an error. */
#ifndef ETCDCRYPT_B64_H
#define ETCDCRYPT_B64_H

#include <stddef.h>
#include <stdint.h>

/* Decodes n chars of s into out (cap >= b64_decoded_max(n)). Returns the
 * decoded length, or ERR_CORRUPT (no message set: the caller names the
 * input) for anything that is not standard base64 (bad character, bad
 * length, bad padding, data after the padding). */
long b64_decode(uint8_t *out, size_t cap, const char *s, size_t n);
size_t b64_decoded_max(size_t n);

/* Encodes n bytes into out (cap >= b64_encoded_len(n) + 1), NUL-terminated. */
void b64_encode(char *out, const uint8_t *p, size_t n);
size_t b64_encoded_len(size_t n);

#endif
