/* testutil: see testutil.h. */
#include "testutil.h"
#include "base/b64.h"
#include "base/hex.h"

#include <check.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tu_fixture(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("ETCDCRYPT_FIXTURES");

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "fixtures", rel);
	return path;
}

uint8_t *tu_b64(const char *s, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *out = malloc(b64_decoded_max(n) + 1);
	long got;

	ck_assert_ptr_nonnull(out);
	got = b64_decode(out, b64_decoded_max(n), s, n);
	ck_assert_msg(got >= 0, "bad base64 in fixture");
	*len = (size_t)got;
	return out;
}

void tu_sha256_hex(char out[65], const uint8_t *p, size_t n)
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256(p, n, md);
	hex_encode(out, md, SHA256_DIGEST_LENGTH);
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
