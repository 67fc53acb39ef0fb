/* hex: lower-case hexadecimal of bytes (digests, trailers, key names). */
#ifndef ETCDCRYPT_HEX_H
#define ETCDCRYPT_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*n hex digits and a NUL into out (cap >= 2*n + 1). */
void hex_encode(char *out, const uint8_t *p, size_t n);

#endif
