/* test_encconf: the EncryptionConfiguration parser and validator.
 *
 * Golden configs from fixtures/k8s-vectors/configs (ETCDCRYPT_FIXTURES, default
 * "fixtures"; a missing directory fails the suite), legacy and JSON input,
 * rule precedence, and a table of broken configs that must fail with
 * ERR_CONFIG, the apiserver's text and the line of the offending node, and
 * never echo a secret. Run under valgrind (CK_FORK=no) for the wipe/free
 * paths. */
#include "conf/encconf.h"
#include "base/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
#define K16 "W8qjsabLjhuVlxqTYCNKbQ=="
#define K24 "tmfpi6QPtuK846R8R2UKvSaiPQI7QT1A"
#define K32 "w9tL45qy7u2MX+7I9dEnn+Kjpot7A+0GQi+YU4cjuWc="
#define K20 "AAECAwQFBgcICQoLDA0ODxAREhM=" /* 20 bytes */

/* lines 4-9 of a one-entry config, up to and including "keys:" */
#define AESCBC_KEYS "  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n"
/* lines 4-7, then "      - kms:" on line 7 */
#define KMS_HEAD "  - resources:\n      - secrets\n    providers:\n      - kms:\n"

static const char *fixtures_dir(void)
{
	const char *d = getenv("ETCDCRYPT_FIXTURES");
	return d != NULL && d[0] != '\0' ? d : "fixtures";
}

static struct encconf *load_fixture(const char *name)
{
	char path[1024];
	struct encconf *c = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/k8s-vectors/configs/%s", fixtures_dir(), name);
	rc = encconf_load(&c, path);
	ck_assert_msg(rc == 0, "%s: rc %d: %s", path, rc, err_msg());
	ck_assert_str_eq(c->path, path);
	return c;
}

static struct encconf *parse_ok(const char *text)
{
	struct encconf *c = NULL;
	int rc = encconf_parse(&c, text, strlen(text), "t.yaml");

	ck_assert_msg(rc == 0, "rc %d: %s", rc, err_msg());
	ck_assert_ptr_nonnull(c);
	return c;
}

static void check_key(const struct encconf_provider *p, size_t i, const char *name, size_t len)
{
	ck_assert_uint_gt(p->n_keys, i);
	ck_assert_str_eq(p->keys[i].name, name);
	ck_assert_uint_eq(p->keys[i].secret_len, len);
}

static const struct encconf_provider *only_rule_provider(const struct encconf *c, size_t i)
{
	ck_assert_uint_eq(c->n_rules, 1);
	ck_assert_uint_eq(c->rules[0].n_resources, 1);
	ck_assert_str_eq(c->rules[0].resources[0], "secrets");
	ck_assert_uint_gt(c->rules[0].n_providers, i);
	return &c->rules[0].providers[i];
}

static void check_kind(const struct encconf *c, size_t i, enum encconf_kind kind, size_t n_keys)
{
	const struct encconf_provider *p = only_rule_provider(c, i);

	ck_assert_msg(p->kind == kind, "provider %zu is %s, want %s", i, encconf_kind_name(p->kind),
		      encconf_kind_name(kind));
	ck_assert_uint_eq(p->n_keys, n_keys);
}

static void check_kms(const struct encconf_provider *p, const char *name, int ver, long timeout, int cache)
{
	ck_assert_int_eq(p->kind, ENCCONF_KMS);
	ck_assert_str_eq(p->kms_name, name);
	ck_assert_int_eq(p->kms_api_version, ver);
	ck_assert_ptr_nonnull(p->kms_endpoint);
	ck_assert(strncmp(p->kms_endpoint, "unix://", 7) == 0);
	ck_assert_int_eq(p->kms_timeout_ms, timeout);
	ck_assert_int_eq(p->kms_cachesize, cache);
}

/* ---- fixtures --------------------------------------------------------------- */

START_TEST(test_fixtures_dir_exists)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/k8s-vectors/configs", fixtures_dir());
	ck_assert_msg(stat(path, &st) == 0 && S_ISDIR(st.st_mode),
		      "fixtures not found at %s (set ETCDCRYPT_FIXTURES)", path);
}
END_TEST

START_TEST(test_fixture_aescbc)
{
	struct encconf *c = load_fixture("aescbc.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 2);
	check_kind(c, 0, ENCCONF_AESCBC, 3);
	check_key(&c->rules[0].providers[0], 0, "key-2025", 32);
	check_key(&c->rules[0].providers[0], 1, "key-2024", 24);
	check_key(&c->rules[0].providers[0], 2, "key-2023", 16);
	check_kind(c, 1, ENCCONF_IDENTITY, 0);
	/* first bytes of key-2023 (W8qj... = 0x5b 0xca 0xa3) */
	ck_assert_uint_eq(c->rules[0].providers[0].keys[2].secret[0], 0x5b);
	ck_assert_uint_eq(c->rules[0].providers[0].keys[2].secret[1], 0xca);
	ck_assert_uint_eq(c->rules[0].providers[0].keys[2].secret[2], 0xa3);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_aesgcm)
{
	struct encconf *c = load_fixture("aesgcm.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 2);
	check_kind(c, 0, ENCCONF_AESGCM, 3);
	check_key(&c->rules[0].providers[0], 0, "gcm-a", 24);
	check_key(&c->rules[0].providers[0], 1, "gcm-b", 16);
	check_key(&c->rules[0].providers[0], 2, "gcm-c", 32);
	check_kind(c, 1, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_all_providers)
{
	struct encconf *c = load_fixture("all-providers.yaml");
	const struct encconf_provider *p = c->rules[0].providers;

	ck_assert_uint_eq(c->rules[0].n_providers, 7);
	check_kind(c, 0, ENCCONF_AESCBC, 3);
	check_key(&p[0], 0, "key-2025", 32);
	check_key(&p[0], 1, "key-2024", 24);
	check_key(&p[0], 2, "key-2023", 16);
	check_kind(c, 1, ENCCONF_AESGCM, 3);
	check_key(&p[1], 0, "gcm-a", 24);
	check_key(&p[1], 1, "gcm-b", 16);
	check_key(&p[1], 2, "gcm-c", 32);
	check_kind(c, 2, ENCCONF_SECRETBOX, 1);
	check_key(&p[2], 0, "box-1", 32);
	check_kind(c, 3, ENCCONF_AESCBC, 1);
	check_key(&p[3], 0, "ops:2022:q4", 32);
	check_kms(&p[4], "cloud-kms", 2, 3000, 0);
	ck_assert_str_eq(p[4].kms_endpoint, "unix:///var/run/kmsplugin/cloud-kms.sock");
	check_kms(&p[5], "legacy-kms", 1, 3000, 1000);
	ck_assert_str_eq(p[5].kms_endpoint, "unix:///var/run/kmsplugin/legacy-kms.sock");
	check_kind(c, 6, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_colon_keyname)
{
	struct encconf *c = load_fixture("colon-keyname.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 2);
	check_kind(c, 0, ENCCONF_AESCBC, 1);
	check_key(&c->rules[0].providers[0], 0, "ops:2022:q4", 32);
	check_kind(c, 1, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_identity_first)
{
	struct encconf *c = load_fixture("identity-first.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 3);
	check_kind(c, 0, ENCCONF_IDENTITY, 0);
	check_kind(c, 1, ENCCONF_AESCBC, 1);
	check_key(&c->rules[0].providers[1], 0, "key-2023", 16);
	check_kind(c, 2, ENCCONF_AESGCM, 1);
	check_key(&c->rules[0].providers[2], 0, "gcm-a", 24);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_identity_only)
{
	struct encconf *c = load_fixture("identity-only.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 1);
	check_kind(c, 0, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_kms)
{
	struct encconf *c = load_fixture("kms.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 3);
	check_kms(&c->rules[0].providers[0], "cloud-kms", 2, 3000, 0);
	check_kms(&c->rules[0].providers[1], "legacy-kms", 1, 3000, 1000);
	check_kind(c, 2, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_multi_key)
{
	struct encconf *c = load_fixture("multi-key.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 4);
	check_kind(c, 0, ENCCONF_AESGCM, 1);
	check_key(&c->rules[0].providers[0], 0, "gcm-b", 16);
	check_kind(c, 1, ENCCONF_AESCBC, 2);
	check_key(&c->rules[0].providers[1], 0, "key-2025", 32);
	check_key(&c->rules[0].providers[1], 1, "key-2023", 16);
	check_kind(c, 2, ENCCONF_SECRETBOX, 1);
	check_key(&c->rules[0].providers[2], 0, "box-1", 32);
	check_kind(c, 3, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

START_TEST(test_fixture_secretbox)
{
	struct encconf *c = load_fixture("secretbox.yaml");

	ck_assert_uint_eq(c->rules[0].n_providers, 2);
	check_kind(c, 0, ENCCONF_SECRETBOX, 1);
	check_key(&c->rules[0].providers[0], 0, "box-1", 32);
	check_kind(c, 1, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

/* ---- other accepted inputs -------------------------------------------------- */

START_TEST(test_legacy_kind)
{
	struct encconf *c = parse_ok("apiVersion: v1\nkind: EncryptionConfig\nresources:\n"
				     "- resources: [secrets]\n  providers:\n  - secretbox:\n"
				     "      keys: [{name: b, secret: \"" K32 "\"}]\n");

	check_kind(c, 0, ENCCONF_SECRETBOX, 1);
	check_key(&c->rules[0].providers[0], 0, "b", 32);
	ck_assert_str_eq(c->path, "t.yaml");
	encconf_free(c);
}
END_TEST

START_TEST(test_json_input)
{
	struct encconf *c = parse_ok(
		"{\"kind\":\"EncryptionConfiguration\",\"apiVersion\":\"apiserver.config.k8s.io/v1\",\n"
		"\t\"resources\": [ {\"resources\": [\"secrets\"],\n"
		"\t\t\"providers\": [{\"aesgcm\": {\"keys\": [{\"name\": \"k\", \"secret\": \"" K24 "\"}]}},\n"
		"\t\t\t{\"kms\": {\"apiVersion\": \"v1\", \"name\": \"p\", \"endpoint\": \"unix:///s\", \"cachesize\": 7}},\n"
		"\t\t\t{\"identity\": {}}]}]}\n");

	check_kind(c, 0, ENCCONF_AESGCM, 1);
	check_key(&c->rules[0].providers[0], 0, "k", 24);
	check_kms(&c->rules[0].providers[1], "p", 1, 3000, 7);
	check_kind(c, 2, ENCCONF_IDENTITY, 0);
	encconf_free(c);
}
END_TEST

START_TEST(test_json_error_line)
{
	const char *text =
		"{\"kind\": \"EncryptionConfiguration\", \"apiVersion\": \"apiserver.config.k8s.io/v1\",\n"
		" \"resources\": [{\"resources\": [\"secrets\"],\n"
		"  \"providers\": [{\"aescbc\": {\"keys\": [\n"
		"    {\"name\": \"k\",\n"
		"     \"secret\": \"" K20 "\"}]}}]}]}\n";
	struct encconf *c = NULL;

	ck_assert_int_eq(encconf_parse(&c, text, strlen(text), "j.json"), ERR_CONFIG);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err_msg(), "j.json:5:16: resources[0].providers[0].aescbc.keys[0].secret: "
				  "secret is not of the expected length, got 20, expected one of [16 24 32]") != NULL,
		      "got: %s", err_msg());
	ck_assert(strstr(err_msg(), K20) == NULL);
}
END_TEST

START_TEST(test_kms_defaults_and_durations)
{
	struct encconf *c = parse_ok(HDR KMS_HEAD
		"          name: a\n          endpoint: unix:///a.sock\n"
		"      - kms:\n          name: a\n          endpoint: UNIX:///b.sock\n          timeout: 1m30s\n"
		"          cachesize: -1\n"
		"      - kms:\n          apiVersion: v2\n          name: c\n          endpoint: unix:///c\n"
		"          timeout: 500ms\n"
		"      - kms:\n          apiVersion: v2\n          name: d\n          endpoint: unix:///d\n"
		"          timeout: 1.5s\n"
		"      - kms:\n          apiVersion: v2\n          name: e\n          endpoint: unix:///e\n"
		"          timeout: 10us\n");
	const struct encconf_provider *p = c->rules[0].providers;

	/* v1 names may repeat without automatic reload; negative cachesize disables caching */
	check_kms(&p[0], "a", 1, 3000, 1000);
	ck_assert_int_eq(p[1].kms_api_version, 1);
	ck_assert_int_eq(p[1].kms_timeout_ms, 90000);
	ck_assert_int_eq(p[1].kms_cachesize, -1);
	check_kms(&p[2], "c", 2, 500, 0);
	check_kms(&p[3], "d", 2, 1500, 0);
	check_kms(&p[4], "e", 2, 1, 0); /* sub-millisecond but positive */
	encconf_free(c);
}
END_TEST

START_TEST(test_base64_forms)
{
	/* Go's StdEncoding skips CR/LF: a folded literal block still decodes */
	struct encconf *c = parse_ok(HDR AESCBC_KEYS
		"            - name: k\n              secret: |\n                w9tL45qy7u2MX+7I9dEnn+Kj\n"
		"                pot7A+0GQi+YU4cjuWc=\n"
		"            - name: \"123\"\n              secret: '" K16 "'\n");

	check_key(&c->rules[0].providers[0], 0, "k", 32);
	check_key(&c->rules[0].providers[0], 1, "123", 16);
	encconf_free(c);
}
END_TEST

START_TEST(test_wildcards_and_groups)
{
	struct encconf *c = parse_ok(HDR
		"  - resources: [secrets, configmaps]\n    providers: [{aescbc: {keys: [{name: a, secret: " K16 "}]}}]\n"
		"  - resources: [deployments.apps, pandas.awesome.bears.example]\n    providers: [{aesgcm: {keys: [{name: b, secret: " K16 "}]}}]\n"
		"  - resources: [secrets]\n    providers: [{identity: {}}]\n"
		"  - resources: ['*.apps']\n    providers: [{secretbox: {keys: [{name: c, secret: " K32 "}]}}]\n"
		"  - resources: ['*.']\n    providers: [{identity: {}}]\n"
		"  - resources: ['*.*']\n    providers: [{kms: {apiVersion: v2, name: k, endpoint: 'unix:///k'}}]\n");
	const struct encconf_rule *r = c->rules;

	ck_assert_uint_eq(c->n_rules, 6);
	ck_assert_ptr_eq(encconf_rule_for(c, "", "secrets"), &r[0]); /* earlier of two equal entries */
	ck_assert_ptr_eq(encconf_rule_for(c, NULL, "configmaps"), &r[0]);
	ck_assert_ptr_eq(encconf_rule_for(c, "apps", "deployments"), &r[1]);
	ck_assert_ptr_eq(encconf_rule_for(c, "awesome.bears.example", "pandas"), &r[1]);
	ck_assert_ptr_eq(encconf_rule_for(c, "apps", "statefulsets"), &r[3]);
	ck_assert_ptr_eq(encconf_rule_for(c, "", "pods"), &r[4]);
	ck_assert_ptr_eq(encconf_rule_for(c, "batch", "jobs"), &r[5]);
	ck_assert_ptr_eq(encconf_rule_for(c, "bears.example", "pandas"), &r[5]);
	ck_assert_str_eq(r[3].resources[0], "*.apps");
	ck_assert_str_eq(r[4].resources[0], "*.");
	ck_assert_ptr_null(encconf_rule_for(NULL, "", "secrets"));
	encconf_free(c);
}
END_TEST

/* Big lists are checked in n log n: one overlap among 120000 names. */
START_TEST(test_large_config)
{
	size_t n_res = 60000, cap = n_res * 48 + 4096, n;
	char *text = malloc(cap);
	struct encconf *c;

	ck_assert_ptr_nonnull(text);
	n = (size_t)snprintf(text, cap, HDR "  - resources: [secrets, '*.apps', deployments.batch]\n"
			     "    providers: [{identity: {}}]\n  - resources:\n");
	for (size_t i = 0; i < n_res; i++)
		n += (size_t)snprintf(text + n, cap - n, "      - r%zu.g%zu\n      - '*.w%zu'\n", i, i, i);
	n += (size_t)snprintf(text + n, cap - n, "      - z.w777\n    providers: [{identity: {}}]\n");
	ck_assert_int_eq(encconf_parse(&c, text, n, "big.yaml"), ERR_CONFIG);
	ck_assert_msg(strstr(err_msg(), "big.yaml:") != NULL &&
		      strstr(err_msg(), ": resources[1].resources: using overlapping resources") != NULL, "got: %s", err_msg());
	/* without the overlapping wildcards it loads; a later entry is masked */
	n = (size_t)snprintf(text, cap, HDR "  - resources:\n");
	for (size_t i = 0; i < n_res; i++)
		n += (size_t)snprintf(text + n, cap - n, "      - '*.w%zu'\n", i);
	n += (size_t)snprintf(text + n, cap - n, "    providers: [{identity: {}}]\n  - resources: [secrets, x.w59999]\n"
			      "    providers: [{identity: {}}]\n");
	ck_assert_int_eq(encconf_parse(&c, text, n, "big.yaml"), ERR_CONFIG);
	ck_assert_msg(strstr(err_msg(), "resources[1].resources[1]: resource \"x.w59999\" is masked by earlier rule "
				  "\"*.w59999\"") != NULL, "got: %s", err_msg());
	free(text);
}
END_TEST

START_TEST(test_rule_for_without_wildcards)
{
	struct encconf *c = load_fixture("aescbc.yaml");

	ck_assert_ptr_eq(encconf_rule_for(c, "", "secrets"), &c->rules[0]);
	ck_assert_ptr_null(encconf_rule_for(c, "", "configmaps"));
	ck_assert_ptr_null(encconf_rule_for(c, "apps", "secrets"));
	encconf_free(c);
}
END_TEST

START_TEST(test_kind_names)
{
	ck_assert_str_eq(encconf_kind_name(ENCCONF_IDENTITY), "identity");
	ck_assert_str_eq(encconf_kind_name(ENCCONF_AESCBC), "aescbc");
	ck_assert_str_eq(encconf_kind_name(ENCCONF_AESGCM), "aesgcm");
	ck_assert_str_eq(encconf_kind_name(ENCCONF_SECRETBOX), "secretbox");
	ck_assert_str_eq(encconf_kind_name(ENCCONF_KMS), "kms");
	encconf_free(NULL);
}
END_TEST

/* ---- files ------------------------------------------------------------------ */

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_load_errors)
{
	char path[] = "/tmp/test_encconf_XXXXXX";
	struct encconf *c = (struct encconf *)1;
	const char *bad = HDR AESCBC_KEYS "            - name: k\n              secret: \"%%%%\"\n";
	char *big;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	/* a missing file, a directory, a FIFO (no writer: must not block) and a
	 * device are the user's mistake: ERR_CONFIG, exit 2 */
	ck_assert_int_eq(encconf_load(&c, "/nonexistent/enc.yaml"), ERR_CONFIG);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err_msg(), "cannot open config '/nonexistent/enc.yaml': No such file or directory");
	ck_assert_int_eq(encconf_load(&c, "/"), ERR_CONFIG);
	ck_assert_str_eq(err_msg(), "config '/' is a directory, not a regular file");
	ck_assert_int_eq(encconf_load(&c, "/dev/zero"), ERR_CONFIG);
	ck_assert_str_eq(err_msg(), "config '/dev/zero' is a character device, not a regular file");
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(encconf_load(&c, path), ERR_CONFIG);
	ck_assert_msg(strstr(err_msg(), "' is a FIFO, not a regular file") != NULL, "got: %s", err_msg());
	unlink(path);

	write_file(path, "", 0);
	ck_assert_int_eq(encconf_load(&c, path), ERR_CONFIG);
	ck_assert(strstr(err_msg(), "is empty") != NULL && strstr(err_msg(), path) != NULL);

	big = malloc(4u * 1024 * 1024 + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', 4u * 1024 * 1024 + 1);
	write_file(path, big, 4u * 1024 * 1024 + 1);
	ck_assert_int_eq(encconf_load(&c, path), ERR_CONFIG);
	ck_assert(strstr(err_msg(), "4 MiB") != NULL);
	free(big);

	write_file(path, bad, strlen(bad));
	ck_assert_int_eq(encconf_load(&c, path), ERR_CONFIG);
	ck_assert_msg(strncmp(err_msg(), path, strlen(path)) == 0 && strstr(err_msg(), ":10:23: ") != NULL,
		      "got: %s", err_msg());
	unlink(path);
}
END_TEST

/* ---- broken configs --------------------------------------------------------- */

struct bad_case {
	const char *yaml;
	const char *want; /* substring of the message */
	int line;         /* 0: no position in the message */
	int col;          /* 0: not checked */
};

static const struct bad_case bad_cases[] = {
	{ "", "encryption provider configuration file \"t.yaml\" is empty", 0, 0 },
	{ "# only a comment\n\n", "encryption provider configuration file \"t.yaml\" is empty", 0, 0 },
	{ "apiVersion: v1\nkind: [\n", "yaml: ", 3, 1 },
	{ "apiVersion: v1\n\tkind: x\n", "yaml: ", 2, 1 },
	{ "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfigurations\nresources: []\n",
	  "kind: no kind \"EncryptionConfigurations\" is registered for version \"apiserver.config.k8s.io/v1\"", 2, 7 },
	{ "apiVersion: v1\nkind: EncryptionConfiguration\n",
	  "no kind \"EncryptionConfiguration\" is registered for version \"v1\"", 2, 7 },
	{ "apiVersion: apiserver.config.k8s.io/v1\nkinds: EncryptionConfiguration\n", "Object 'Kind' is missing", 1, 1 },
	{ "kind: EncryptionConfiguration\n", "Object 'apiVersion' is missing", 1, 1 },
	{ "- apiVersion: v1\n", "expected a mapping at the top level", 1, 1 },
	{ HDR, "resources: at least one resources is required", 3, 1 },
	{ HDR "  - resources:\n    providers: [{identity: {}}]\n", "at least one resources[0].resources is required", 4, 5 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n",
	  "resources[0].providers[0].aescbc.keys: at least one keys is required", 7, 11 },
	{ HDR "  []\n", "resources: at least one resources is required", 4, 3 },
	{ HDR "  - resources: [secrets]\n    providers: [{identity: {}}]\nfoo: 1\n", "foo: unknown field \"foo\"", 6, 1 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          pandas: 1\n",
	  "unknown field \"resources[0].providers[0].kms.pandas\"", 10, 11 },
	{ HDR "  - resources: [secrets]\n    providers: [{identity: {}}]\n    resources: [configmaps]\n",
	  "duplicate field \"resources[0].resources\"", 6, 5 },
	{ HDR "  - resources: secrets\n    providers: [{identity: {}}]\n",
	  "resources[0].resources: expected a list, got a string", 4, 16 },
	{ HDR "  - resources: []\n    providers: [{identity: {}}]\n",
	  "resources[0].resources: at least one resources[0].resources is required", 4, 16 },
	{ HDR "  - resources: [secrets]\n", "resources[0].providers: at least one resources[0].providers is required", 4, 5 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - {}\n",
	  "resources[0].providers[0]: provider does not contain any of the expected providers: "
	  "KMS, AESGCM, AESCBC, Secretbox, Identity", 6, 9 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - identity:\n",
	  "provider does not contain any of the expected providers", 6, 9 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - identity: {}\n        aescbc: {keys: [{name: a, secret: " K16 "}]}\n",
	  "resources[0].providers[0]: more than one provider specified in a single element, "
	  "should split into different list elements", 6, 9 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys: []\n",
	  "resources[0].providers[0].aesgcm.keys: at least one keys is required", 7, 17 },
	{ HDR AESCBC_KEYS "            - secret: " K32 "\n",
	  "resources[0].providers[0].aescbc.keys[0].name: name is a mandatory field for a key", 9, 15 },
	{ HDR AESCBC_KEYS "            - name: k\n",
	  "resources[0].providers[0].aescbc.keys[0].secret: secret is a mandatory field for a key", 9, 15 },
	{ HDR AESCBC_KEYS "            - name: k\n              secret: 'not*base64=='\n",
	  "resources[0].providers[0].aescbc.keys[0].secret: secrets must be base64 encoded", 10, 23 },
	{ HDR AESCBC_KEYS "            - name: k\n              secret: W8qjsabLjhuVlxqTYCNKbQ\n",
	  "secrets must be base64 encoded", 10, 23 },
	{ HDR AESCBC_KEYS "            - name: k\n              secret: " K32 "\n            - name: k2\n"
	  "              secret: " K20 "\n",
	  "resources[0].providers[0].aescbc.keys[1].secret: secret is not of the expected length, got 20, "
	  "expected one of [16 24 32]", 12, 23 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - secretbox:\n          keys:\n"
	  "            - name: box\n              secret: " K16 "\n",
	  "secret is not of the expected length, got 16, expected one of [32]", 9, 23 },
	{ HDR "  - resources:\n      - Secrets\n    providers: [{identity: {}}]\n",
	  "resources[0].resources[0]: resource name should not contain capital letters", 5, 9 },
	{ HDR "  - resources:\n      - '*'\n    providers: [{identity: {}}]\n",
	  "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources", 5, 9 },
	{ HDR "  - resources:\n      - secrets\n      - serviceipallocations\n    providers: [{identity: {}}]\n",
	  "resources[0].resources[1]: resources which do not have REST API/s cannot be encrypted", 6, 9 },
	{ HDR "  - resources:\n      - '*.events.k8s.io'\n    providers: [{identity: {}}]\n",
	  "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. "
	  "Use 'events' instead in the config file", 5, 9 },
	{ HDR "  - resources:\n      - deployments.extensions\n    providers: [{identity: {}}]\n",
	  "'extensions' group has been removed and cannot be used for encryption", 5, 9 },
	{ HDR "  - resources:\n      - secrets.*\n    providers: [{identity: {}}]\n",
	  "encrypting the same resource across groups is not supported", 5, 9 },
	{ HDR "  - resources:\n      - secrets\n      - secrets\n    providers: [{identity: {}}]\n",
	  "resources[0].resources: the same resource cannot be specified multiple times", 5, 7 },
	{ HDR "  - resources:\n      - secrets\n      - '*.'\n    providers: [{identity: {}}]\n",
	  "using overlapping resources such as 'secrets' and '*.' in the same resource list is not "
	  "allowed as they will be masked", 5, 7 },
	{ HDR "  - resources: [deployments.apps, '*.*']\n    providers: [{identity: {}}]\n",
	  "using overlapping resources", 4, 16 },
	{ HDR "  - resources: ['*.apps', deployments.apps]\n    providers: [{identity: {}}]\n",
	  "using overlapping resources", 4, 16 },
	{ HDR "  - resources: ['*.', '*.']\n    providers: [{identity: {}}]\n",
	  "the same resource cannot be specified multiple times", 4, 16 },
	{ HDR "  - resources: ['*.']\n    providers: [{identity: {}}]\n"
	  "  - resources: [configmaps, secrets]\n    providers: [{identity: {}}]\n",
	  "resources[1].resources[0]: resource \"configmaps\" is masked by earlier rule \"*.\"", 6, 17 },
	{ HDR "  - resources: ['*.*']\n    providers: [{identity: {}}]\n"
	  "  - resources:\n      - deployments.apps\n    providers: [{identity: {}}]\n",
	  "resource \"deployments.apps\" is masked by earlier rule \"*.*\"", 7, 9 },
	{ HDR "  - resources: ['*.apps']\n    providers: [{identity: {}}]\n"
	  "  - resources: [secrets, '*.apps']\n    providers: [{identity: {}}]\n",
	  "resource \"*.apps\" is masked by earlier rule \"*.apps\"", 6, 26 },
	{ HDR KMS_HEAD "          endpoint: unix:///a\n",
	  "resources[0].providers[0].kms.name: name is a mandatory field for a provider", 8, 11 },
	{ HDR KMS_HEAD "          apiVersion: v2\n          name: a:b\n          endpoint: unix:///a\n",
	  "resources[0].providers[0].kms.name: invalid KMS provider name a:b, must not contain ':'", 9, 17 },
	{ HDR KMS_HEAD "          name: dup\n          endpoint: unix:///a\n"
	  "      - kms:\n          apiVersion: v2\n          name: dup\n          endpoint: unix:///b\n",
	  "resources[0].providers[1].kms.name: duplicate KMS provider name dup, names must be unique", 12, 17 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          timeout: 0s\n",
	  "resources[0].providers[0].kms.timeout: timeout should be a positive value", 10, 20 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          timeout: -3s\n",
	  "timeout should be a positive value", 10, 20 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          timeout: 3 s\n",
	  "time: invalid duration \"3 s\"", 10, 20 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          timeout: 3\n",
	  "expected a duration string such as \"3s\", got a number", 10, 20 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: tcp://127.0.0.1:8080\n",
	  "resources[0].providers[0].kms.endpoint: unsupported scheme \"tcp\" for KMS provider, only unix is "
	  "supported", 9, 21 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: /var/run/kms.sock\n",
	  "unsupported scheme \"\" for KMS provider", 9, 21 },
	{ HDR KMS_HEAD "          name: a\n",
	  "resources[0].providers[0].kms.endpoint: endpoint is a mandatory field for a kms", 8, 11 },
	{ HDR KMS_HEAD "          apiVersion: v2\n          name: a\n          endpoint: unix:///a\n          cachesize: 10\n",
	  "resources[0].providers[0].kms.cachesize: cachesize is not supported in v2", 11, 22 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          cachesize: 0\n",
	  "cachesize should be a positive value, or negative to disable", 10, 22 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          cachesize: \"100\"\n",
	  "resources[0].providers[0].kms.cachesize: expected an integer, got a string", 10, 22 },
	{ HDR KMS_HEAD "          name: a\n          endpoint: unix:///a\n          cachesize: 3000000000\n",
	  "out of range for int32", 10, 22 },
	{ HDR KMS_HEAD "          apiVersion: v3\n          name: a\n          endpoint: unix:///a\n",
	  "resources[0].providers[0].kms.apiVersion: Invalid value: \"v3\": unsupported apiVersion apiVersion "
	  "for KMS provider, only v1 and v2 are supported", 8, 23 },
	{ HDR AESCBC_KEYS "            - name: 123\n              secret: " K32 "\n",
	  "resources[0].providers[0].aescbc.keys[0].name: expected a string, got a number", 9, 21 },
	{ HDR AESCBC_KEYS "            - name: k\n              secret: 12345678901234567890123456789012\n",
	  "resources[0].providers[0].aescbc.keys[0].secret: expected a string, got a number", 10, 23 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - identity: {x: 1}\n",
	  "unknown field \"resources[0].providers[0].identity.x\"", 6, 20 },
	{ HDR "  - resources: [secrets]\n    providers:\n      - identity: []\n",
	  "resources[0].providers[0].identity: expected a mapping, got a list", 6, 19 },
	{ HDR "  - resources: [secrets]\n    providers: [{identity: {}}]\n---\nfoo: 1\n",
	  "more than one document", 6, 1 },
};

#define N_BAD (int)(sizeof(bad_cases) / sizeof(bad_cases[0]))

/* Every "secret: X" value in the text, so that none can leak into a message. */
static void assert_no_secret(const char *yaml, const char *msg)
{
	const char *p = yaml;

	while ((p = strstr(p, "secret: ")) != NULL) {
		char val[128];
		size_t n;

		p += strlen("secret: ");
		n = strcspn(p, "\n}\"'");
		if (*p == '"' || *p == '\'')
			n = strcspn(++p, "\"'");
		if (n < 4 || n >= sizeof(val))
			continue;
		memcpy(val, p, n);
		val[n] = '\0';
		ck_assert_msg(strstr(msg, val) == NULL, "message leaks a secret: %s", msg);
	}
}

START_TEST(test_bad_config)
{
	const struct bad_case *bc = &bad_cases[_i];
	struct encconf *c = (struct encconf *)1;
	char pos[64];
	int rc;

	err_clear();
	rc = encconf_parse(&c, bc->yaml, strlen(bc->yaml), "t.yaml");
	ck_assert_msg(rc == ERR_CONFIG, "case %d: rc %d, message: %s", _i, rc, err_msg());
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err_msg(), bc->want) != NULL, "case %d: want \"%s\" in: %s", _i, bc->want, err_msg());
	ck_assert_msg(strchr(err_msg(), '\n') == NULL, "case %d: not one line: %s", _i, err_msg());
	if (bc->line > 0) {
		if (bc->col > 0)
			snprintf(pos, sizeof(pos), "t.yaml:%d:%d: ", bc->line, bc->col);
		else
			snprintf(pos, sizeof(pos), "t.yaml:%d:", bc->line);
		ck_assert_msg(strncmp(err_msg(), pos, strlen(pos)) == 0, "case %d: want \"%s\" at start of: %s", _i,
			      pos, err_msg());
	}
	assert_no_secret(bc->yaml, err_msg());
}
END_TEST

/* An alias bomb must fail quickly instead of expanding exponentially. */
START_TEST(test_alias_bomb)
{
	char text[4096];
	struct encconf *c = NULL;
	int n = snprintf(text, sizeof(text), HDR "  - resources: &a0 [x]\n    providers: [{identity: {}}]\n");

	for (int i = 1; i < 40; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "  - resources: &a%d [*a%d, *a%d]\n    providers: [{identity: {}}]\n",
			      i, i - 1, i - 1);
	ck_assert_int_eq(encconf_parse(&c, text, (size_t)n, "bomb.yaml"), ERR_CONFIG);
	ck_assert_ptr_null(c);
}
END_TEST

/* Nesting 100000 levels deep (200 KB of brackets, which made libyaml's
 * scanner take 30 s) fails at the 65th level: the message points at the
 * bracket that opened it, so the parser cannot have gone much further. The
 * legal depth (64, with the root mapping) is still decoded to its usual
 * schema error. */
START_TEST(test_deep_nesting)
{
	size_t depth = 100000, n;
	char *text = malloc(2 * depth + 256);
	struct encconf *c = (struct encconf *)1;

	ck_assert_ptr_nonnull(text);
	n = (size_t)sprintf(text, "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: ");
	memset(text + n, '[', depth);
	memset(text + n + depth, ']', depth);
	n += 2 * depth;
	text[n++] = '\n';
	ck_assert_int_eq(encconf_parse(&c, text, n, "deep.yaml"), ERR_CONFIG);
	ck_assert_ptr_null(c);
	/* root mapping = level 1, so the 64th bracket (column 11 + 64) is level 65 */
	ck_assert_str_eq(err_msg(), "deep.yaml:3:75: yaml: nested deeper than 64 levels");

	n = (size_t)sprintf(text, "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: ");
	memset(text + n, '[', 63);
	memset(text + n + 63, ']', 63);
	n += 126;
	text[n++] = '\n';
	ck_assert_int_eq(encconf_parse(&c, text, n, "deep.yaml"), ERR_CONFIG);
	ck_assert_msg(strstr(err_msg(), "resources[0]: expected a mapping, got a list") != NULL, "got: %s", err_msg());

	/* block style nests too: "- - - x" */
	n = (size_t)sprintf(text, HDR);
	for (size_t i = 0; i < depth / 10; i++)
		n += (size_t)sprintf(text + n, "- ");
	n += (size_t)sprintf(text + n, "x\n");
	ck_assert_int_eq(encconf_parse(&c, text, n, "deep.yaml"), ERR_CONFIG);
	ck_assert_str_eq(err_msg(), "deep.yaml:4:127: yaml: nested deeper than 64 levels");
	free(text);
}
END_TEST

/* KMS v2 names must be unique across the file; a file near the 4 MiB cap
 * holds ~70000 KMS providers, and checking each against every earlier one
 * took 45 s. The duplicate at the very end is still found, at its line. */
START_TEST(test_many_kms_providers)
{
	size_t cap = 4u * 1024 * 1024, n, count = 0;
	char *text = malloc(cap);
	struct encconf *c = (struct encconf *)1;
	char want[96];

	ck_assert_ptr_nonnull(text);
	n = (size_t)snprintf(text, cap, HDR "  - resources: [secrets]\n    providers:\n");
	while (n + 200 < cap - 100)
		n += (size_t)snprintf(text + n, cap - n, "      - kms: {apiVersion: v2, name: k%zu, endpoint: unix:///a}\n",
				      count++);
	n += (size_t)snprintf(text + n, cap - n, "      - kms: {apiVersion: v2, name: k7, endpoint: unix:///a}\n");
	ck_assert_uint_gt(count, 60000);
	ck_assert_int_eq(encconf_parse(&c, text, n, "kms.yaml"), ERR_CONFIG);
	snprintf(want, sizeof(want), "kms.yaml:%zu:", count + 6);
	ck_assert_msg(strncmp(err_msg(), want, strlen(want)) == 0 &&
		      strstr(err_msg(), "duplicate KMS provider name k7, names must be unique") != NULL, "got: %s", err_msg());
	free(text);
}
END_TEST

static Suite *encconf_suite(void)
{
	Suite *s = suite_create("encconf");
	TCase *tc = tcase_create("fixtures");
	TCase *tb = tcase_create("broken");

	tcase_add_test(tc, test_fixtures_dir_exists);
	tcase_add_test(tc, test_fixture_aescbc);
	tcase_add_test(tc, test_fixture_aesgcm);
	tcase_add_test(tc, test_fixture_all_providers);
	tcase_add_test(tc, test_fixture_colon_keyname);
	tcase_add_test(tc, test_fixture_identity_first);
	tcase_add_test(tc, test_fixture_identity_only);
	tcase_add_test(tc, test_fixture_kms);
	tcase_add_test(tc, test_fixture_multi_key);
	tcase_add_test(tc, test_fixture_secretbox);
	tcase_add_test(tc, test_legacy_kind);
	tcase_add_test(tc, test_json_input);
	tcase_add_test(tc, test_json_error_line);
	tcase_add_test(tc, test_kms_defaults_and_durations);
	tcase_add_test(tc, test_base64_forms);
	tcase_add_test(tc, test_wildcards_and_groups);
	tcase_add_test(tc, test_rule_for_without_wildcards);
	tcase_add_test(tc, test_large_config);
	tcase_add_test(tc, test_kind_names);
	tcase_add_test(tc, test_load_errors);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(tb, test_bad_config, 0, N_BAD);
	tcase_add_test(tb, test_alias_bomb);
	tcase_add_test(tb, test_deep_nesting);
	tcase_add_test(tb, test_many_kms_providers);
	tcase_set_timeout(tb, 30);
	suite_add_tcase(s, tb);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(encconf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
