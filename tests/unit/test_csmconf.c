/* test_csmconf: CSM-style configs and key files.
 *
 * The expected names and secrets are computed here from the CSM rule
 * (name = provider + "-" + hex SHA-256 of key + "\n"; secret = base64 of
 * the key), with this file's own base64 encoder and the test SHA-256, and
 * compared with the generated text line by line; two are also pinned to
 * values from `echo KEY | sha256sum` and `printf %s KEY | base64`. Every
 * generated config must parse with encconf_parse with the right provider
 * order. Wrong key lengths must fail naming the file. */
#include "conf/csmconf.h"
#include "xform/csmkey.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY32A "0123456789abcdef0123456789abcdef"
#define KEY32B "etcdcrypt-test-key-number-two-32"
#define KEY32C "Zq7Pw2Lm9Xc4Vb8Nn1Kj6Hg3Fd5Sa0Qe"
#define KEY16 "abcdefghijklmnop"
#define KEY24 "abcdefghijklmnopqrstuvwx"

/* the test's own base64 (RFC 4648 with padding) */
static void t_b64(char *out, const char *s)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = a[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		out[o++] = a[p[i + 2] & 63];
	}
	if (n - i == 1) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[(p[i] & 3) << 4];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = a[(p[i + 1] & 15) << 2];
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* the CSM rule: provider-sha256hex(key + "\n") */
static void t_name(char *out, size_t cap, const char *provider, const char *key)
{
	char line[64], hex[65];

	snprintf(line, sizeof(line), "%s\n", key);
	tu_sha256_hex(hex, (const uint8_t *)line, strlen(line));
	snprintf(out, cap, "%s-%s", provider, hex);
}

static void set_key(struct csmconf_key *k, enum encconf_kind kind, const char *key)
{
	int rc = csmkey_set(k, kind, (const uint8_t *)key, strlen(key), "test");

	ck_assert_msg(rc == 0, "rc %d: %s", rc, err_msg());
}

/* The provider element the CSM script writes for one key. */
static void expect_key_block(char *out, size_t cap, const char *provider, const char *key)
{
	char name[128], b64[64];

	t_name(name, sizeof(name), provider, key);
	t_b64(b64, key);
	snprintf(out, cap,
		 "      - %s:\n          keys:\n            - name: \"%s\"\n              secret: \"%s\"\n", provider,
		 name, b64);
}

#define HEAD                                                                                                     \
	"---\napiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n" \
	"      - secrets\n    providers:\n"
#define IDENT "      - identity: {}\n"

static char *generate(enum csmconf_mode mode, const struct csmconf_key *keys, size_t n)
{
	struct buf b;
	char *s;
	int rc;

	buf_init(&b, 0);
	rc = csmconf_generate(&b, mode, keys, n);
	ck_assert_msg(rc == 0, "rc %d: %s", rc, err_msg());
	s = calloc(1, b.len + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, b.data, b.len);
	buf_release(&b);
	return s;
}

static struct encconf *parse(const char *text)
{
	struct encconf *c = NULL;
	int rc = encconf_parse(&c, text, strlen(text), "generated.yaml");

	ck_assert_msg(rc == 0, "generated config does not parse: %s\n%s", err_msg(), text);
	ck_assert_uint_eq(c->n_rules, 1);
	ck_assert_uint_eq(c->rules[0].n_resources, 1);
	ck_assert_str_eq(c->rules[0].resources[0], "secrets");
	return c;
}

static void check_provider(const struct encconf_provider *p, enum encconf_kind kind, const char *key)
{
	char name[128];

	ck_assert_int_eq(p->kind, kind);
	if (kind == ENCCONF_IDENTITY)
		return;
	t_name(name, sizeof(name), encconf_kind_name(kind), key);
	ck_assert_uint_eq(p->n_keys, 1);
	ck_assert_str_eq(p->keys[0].name, name);
	ck_assert_uint_eq(p->keys[0].secret_len, strlen(key));
	ck_assert_mem_eq(p->keys[0].secret, key, strlen(key));
}

START_TEST(name_pinned)
{
	struct csmconf_key k;
	char name[CSMCONF_NAME_MAX];

	set_key(&k, ENCCONF_AESCBC, KEY32A);
	ck_assert_int_eq(csmkey_name(name, &k), 0);
	/* echo 0123456789abcdef0123456789abcdef | sha256sum */
	ck_assert_str_eq(name, "aescbc-6ed6653dba3d6aee8110c6e23de37f15c609b8a6e29aa164d1acace604e5cb7e");
	set_key(&k, ENCCONF_AESGCM, KEY16);
	ck_assert_int_eq(csmkey_name(name, &k), 0);
	ck_assert_str_eq(name, "aesgcm-4eaeca677d57a71a930297c981f31591ae842442e286df1e6394cc00a67e3ed5");
	csmconf_key_wipe(&k);
}
END_TEST

START_TEST(enable_one_key_exact_text)
{
	struct csmconf_key k;
	char want[1024], block[512];
	char *got;
	struct encconf *c;

	set_key(&k, ENCCONF_AESCBC, KEY32A);
	got = generate(CSMCONF_ENABLE, &k, 1);
	expect_key_block(block, sizeof(block), "aescbc", KEY32A);
	snprintf(want, sizeof(want), "%s%s%s", HEAD, block, IDENT);
	ck_assert_str_eq(got, want);
	/* pinned: printf %s KEY | base64 */
	ck_assert_ptr_nonnull(strstr(got, "secret: \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n"));
	c = parse(got);
	ck_assert_uint_eq(c->rules[0].n_providers, 2);
	check_provider(&c->rules[0].providers[0], ENCCONF_AESCBC, KEY32A);
	check_provider(&c->rules[0].providers[1], ENCCONF_IDENTITY, NULL);
	encconf_free(c);
	free(got);
	csmconf_key_wipe(&k);
}
END_TEST

START_TEST(enable_keys_in_order_then_identity)
{
	struct csmconf_key k[3];
	char want[4096], b0[512], b1[512], b2[512];
	char *got;
	struct encconf *c;

	set_key(&k[0], ENCCONF_AESGCM, KEY32B);
	set_key(&k[1], ENCCONF_AESCBC, KEY32A);
	set_key(&k[2], ENCCONF_SECRETBOX, KEY32C);
	got = generate(CSMCONF_ENABLE, k, 3);
	expect_key_block(b0, sizeof(b0), "aesgcm", KEY32B);
	expect_key_block(b1, sizeof(b1), "aescbc", KEY32A);
	expect_key_block(b2, sizeof(b2), "secretbox", KEY32C);
	snprintf(want, sizeof(want), "%s%s%s%s%s", HEAD, b0, b1, b2, IDENT);
	ck_assert_str_eq(got, want);
	c = parse(got);
	ck_assert_uint_eq(c->rules[0].n_providers, 4);
	check_provider(&c->rules[0].providers[0], ENCCONF_AESGCM, KEY32B);
	check_provider(&c->rules[0].providers[1], ENCCONF_AESCBC, KEY32A);
	check_provider(&c->rules[0].providers[2], ENCCONF_SECRETBOX, KEY32C);
	check_provider(&c->rules[0].providers[3], ENCCONF_IDENTITY, NULL);
	encconf_free(c);
	free(got);
}
END_TEST

START_TEST(disable_identity_then_keys)
{
	struct csmconf_key k[2];
	char want[4096], b0[512], b1[512];
	char *got;
	struct encconf *c;

	set_key(&k[0], ENCCONF_AESCBC, KEY32A);
	set_key(&k[1], ENCCONF_AESCBC, KEY24);
	got = generate(CSMCONF_DISABLE, k, 2);
	expect_key_block(b0, sizeof(b0), "aescbc", KEY32A);
	expect_key_block(b1, sizeof(b1), "aescbc", KEY24);
	snprintf(want, sizeof(want), "%s%s%s%s", HEAD, IDENT, b0, b1);
	ck_assert_str_eq(got, want);
	c = parse(got);
	ck_assert_uint_eq(c->rules[0].n_providers, 3);
	check_provider(&c->rules[0].providers[0], ENCCONF_IDENTITY, NULL);
	check_provider(&c->rules[0].providers[1], ENCCONF_AESCBC, KEY32A);
	check_provider(&c->rules[0].providers[2], ENCCONF_AESCBC, KEY24);
	encconf_free(c);
	free(got);
}
END_TEST

START_TEST(disable_fully_is_identity_only)
{
	char want[1024];
	char *got = generate(CSMCONF_DISABLE, NULL, 0);
	struct encconf *c;

	snprintf(want, sizeof(want), "%s%s", HEAD, IDENT);
	ck_assert_str_eq(got, want);
	c = parse(got);
	ck_assert_uint_eq(c->rules[0].n_providers, 1);
	check_provider(&c->rules[0].providers[0], ENCCONF_IDENTITY, NULL);
	encconf_free(c);
	free(got);
}
END_TEST

START_TEST(enable_needs_a_key)
{
	struct buf b;

	buf_init(&b, 0);
	ck_assert_int_eq(csmconf_generate(&b, CSMCONF_ENABLE, NULL, 0), ERR_USAGE);
	buf_release(&b);
}
END_TEST

START_TEST(same_key_twice_refused)
{
	struct csmconf_key k[2];
	struct buf b;

	csmkey_set(&k[0], ENCCONF_AESCBC, (const uint8_t *)KEY32A, 32, "one.key");
	csmkey_set(&k[1], ENCCONF_AESCBC, (const uint8_t *)KEY32A, 32, "two.key");
	buf_init(&b, 0);
	ck_assert_int_eq(csmconf_generate(&b, CSMCONF_ENABLE, k, 2), ERR_USAGE);
	ck_assert_ptr_nonnull(strstr(err_msg(), "one.key"));
	ck_assert_ptr_nonnull(strstr(err_msg(), "two.key"));
	buf_release(&b);
}
END_TEST

static char tmpdir[256];

static void setup_dir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/etcdcrypt-csmconf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown_dir(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, n, f), n);
	fclose(f);
}

START_TEST(key_file_one_newline_dropped)
{
	struct csmconf_key k;
	char path[512];

	snprintf(path, sizeof(path), "%s/k", tmpdir);
	write_file(path, KEY32A "\n", 33);
	ck_assert_int_eq(csmkey_read(&k, ENCCONF_AESCBC, path), 0);
	ck_assert_uint_eq(k.len, 32);
	ck_assert_mem_eq(k.key, KEY32A, 32);
	ck_assert_str_eq(k.source, path);
	unlink(path);
	write_file(path, KEY32A, 32);
	ck_assert_int_eq(csmkey_read(&k, ENCCONF_SECRETBOX, path), 0);
	ck_assert_uint_eq(k.len, 32);
	csmconf_key_wipe(&k);
}
END_TEST

static void expect_bad_len(enum encconf_kind kind, const char *text, size_t n, const char *sizes)
{
	struct csmconf_key k;
	char path[512];

	snprintf(path, sizeof(path), "%s/bad.key", tmpdir);
	unlink(path);
	write_file(path, text, n);
	ck_assert_int_eq(csmkey_read(&k, kind, path), ERR_CONFIG);
	ck_assert_msg(strstr(err_msg(), path) != NULL, "message lacks the file: %s", err_msg());
	ck_assert_msg(strstr(err_msg(), sizes) != NULL, "message lacks the sizes: %s", err_msg());
	ck_assert_msg(strstr(err_msg(), "abcdef") == NULL, "message shows the key: %s", err_msg());
}

START_TEST(key_file_wrong_length_names_file)
{
	expect_bad_len(ENCCONF_AESCBC, "abcdefghijklmnopq\n", 18, "16, 24 or 32");  /* 17 */
	expect_bad_len(ENCCONF_AESGCM, KEY32A "\n\n", 34, "16, 24 or 32");       /* two newlines: 33 */
	expect_bad_len(ENCCONF_AESCBC, "", 0, "16, 24 or 32");                    /* empty */
	expect_bad_len(ENCCONF_SECRETBOX, KEY16 "\n", 17, "must be 32");         /* secretbox: 32 only */
	expect_bad_len(ENCCONF_AESCBC, KEY32A KEY32A KEY32A, 96, "16, 24 or 32"); /* too long */
}
END_TEST

START_TEST(key_file_missing)
{
	struct csmconf_key k;

	ck_assert_int_eq(csmkey_read(&k, ENCCONF_AESCBC, "/nonexistent/etcdcrypt.key"), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err_msg(), "/nonexistent/etcdcrypt.key"));
}
END_TEST

START_TEST(write_new_is_exclusive_0600)
{
	char path[512], link[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/out.yaml", tmpdir);
	ck_assert_int_eq(csmconf_write_new(path, "abc\n", 4), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(st.st_size, 4);
	/* never overwrites */
	ck_assert_int_eq(csmconf_write_new(path, "xyz\n", 4), ERR_IO);
	ck_assert_ptr_nonnull(strstr(err_msg(), "exists"));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 4);
	/* nor follows a planted symlink */
	snprintf(link, sizeof(link), "%s/link.yaml", tmpdir);
	ck_assert_int_eq(symlink("/tmp/etcdcrypt-csmconf-target-never", link), 0);
	ck_assert_int_eq(csmconf_write_new(link, "xyz\n", 4), ERR_IO);
	ck_assert_int_ne(access("/tmp/etcdcrypt-csmconf-target-never", F_OK), 0);
}
END_TEST

START_TEST(random_key_alnum)
{
	char a[33], b[33];
	struct csmconf_key k;

	ck_assert_int_eq(csmkey_random(a, 32), 0);
	ck_assert_int_eq(csmkey_random(b, 32), 0);
	ck_assert_uint_eq(strlen(a), 32);
	ck_assert_str_ne(a, b);
	for (size_t i = 0; i < 32; i++)
		ck_assert_msg((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9'),
			      "character %zu is %d", i, a[i]);
	/* a generated key is a valid key */
	set_key(&k, ENCCONF_SECRETBOX, a);
	csmconf_key_wipe(&k);
	ck_assert_int_eq(csmkey_random(a, 16), 0);
	ck_assert_uint_eq(strlen(a), 16);
}
END_TEST

START_TEST(key_set_refuses_identity)
{
	struct csmconf_key k;

	ck_assert_int_eq(csmkey_set(&k, ENCCONF_IDENTITY, (const uint8_t *)KEY32A, 32, "x"), ERR_USAGE);
}
END_TEST

static Suite *csmconf_suite(void)
{
	Suite *s = suite_create("csmconf");
	TCase *t = tcase_create("generate");
	TCase *f = tcase_create("files");

	tcase_add_test(t, name_pinned);
	tcase_add_test(t, enable_one_key_exact_text);
	tcase_add_test(t, enable_keys_in_order_then_identity);
	tcase_add_test(t, disable_identity_then_keys);
	tcase_add_test(t, disable_fully_is_identity_only);
	tcase_add_test(t, enable_needs_a_key);
	tcase_add_test(t, same_key_twice_refused);
	tcase_add_test(t, random_key_alnum);
	tcase_add_test(t, key_set_refuses_identity);
	suite_add_tcase(s, t);
	tcase_add_checked_fixture(f, setup_dir, teardown_dir);
	tcase_add_test(f, key_file_one_newline_dropped);
	tcase_add_test(f, key_file_wrong_length_names_file);
	tcase_add_test(f, key_file_missing);
	tcase_add_test(f, write_new_is_exclusive_0600);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	return tu_run(csmconf_suite());
}
