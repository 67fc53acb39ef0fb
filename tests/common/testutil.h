/* testutil: helpers shared by the Check suites (fixtures, files, hashing). */
#ifndef ETCDCRYPT_TESTUTIL_H
#define ETCDCRYPT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Path under the fixtures dir ($ETCDCRYPT_FIXTURES or "fixtures"); static buffer. */
const char *tu_fixture(const char *rel);

/* Decodes base64 into a malloc'd buffer (caller frees); aborts the test on error. */
uint8_t *tu_b64(const char *s, size_t *len);

/* Lower-case hex SHA-256 of p into out[65]. */
void tu_sha256_hex(char out[65], const uint8_t *p, size_t n);

/* Runs a suite with the standard runner; returns the process exit status. */
#include <check.h>
int tu_run(Suite *s);

#endif
