/* test_transform: every reference vector (made by the real Kubernetes
 * transformer code) must read exactly as kube-apiserver read it: positives
 * decrypt to plaintext_sha256 with the right provider, key and stale flag;
 * negatives fail with the right class. Plus write round trips. */
#include "testutil.h"

#include "base/buf.h"
#include "base/err.h"
#include "conf/encconf.h"
#include "xform/kmsring.h"
#include "xform/transform.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *load_vectors(size_t *n)
{
	json_t *arr = json_array();
	char line[1 << 20];
	FILE *f = fopen(tu_fixture("k8s-vectors/vectors.jsonl"), "r");

	ck_assert_msg(f != NULL, "cannot open vectors.jsonl under %s", tu_fixture(""));
	while (fgets(line, sizeof(line), f)) {
		json_error_t e;
		json_t *v = json_loads(line, 0, &e);

		ck_assert_msg(v != NULL, "bad vector line: %s", e.text);
		json_array_append_new(arr, v);
	}
	fclose(f);
	*n = json_array_size(arr);
	return arr;
}

static const char *str(json_t *v, const char *k)
{
	const char *s = json_string_value(json_object_get(v, k));
	return s ? s : "";
}

static void read_vector(json_t *v, struct xf_result *res, struct buf *plain)
{
	char cfg[512];
	struct encconf *conf = NULL;
	struct kms_ring *ring = NULL;
	struct xf *x = NULL;
	size_t vlen;
	uint8_t *val = tu_b64(str(v, "stored_value_b64"), &vlen);
	const char *key = str(v, "etcd_key");

	snprintf(cfg, sizeof(cfg), "k8s-vectors/configs/%s", str(v, "config"));
	ck_assert_msg(encconf_load(&conf, tu_fixture(cfg)) == 0, "%s: %s", cfg, err_msg());
	ck_assert_int_eq(kmsring_load(&ring, tu_fixture("k8s-vectors/fake-kms.json")), 0);
	ck_assert_int_eq(xf_new(&x, conf, "", str(v, "resource"), ring), 0);
	ck_assert_int_eq(xf_read(x, res, plain, (const uint8_t *)key, strlen(key), val, vlen), 0);
	xf_free(x);
	kmsring_free(ring);
	encconf_free(conf);
	free(val);
}

static const char *label_provider(enum env_kind k)
{
	return env_kind_name(k);
}

START_TEST(test_vectors)
{
	size_t n, positives = 0, negatives = 0;
	json_t *arr = load_vectors(&n);

	ck_assert_uint_ge(n, 76);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		const char *id = str(v, "id");
		struct xf_result res;
		struct buf plain;

		buf_init(&plain, 0);
		read_vector(v, &res, &plain);
		if (strcmp(str(v, "expect"), "ok") == 0) {
			char hex[65];

			ck_assert_msg(res.ok, "%s: expected readable, got %s: %s", id, xf_reason_name(res.reason),
				      res.detail);
			tu_sha256_hex(hex, plain.data, plain.len);
			ck_assert_msg(strcmp(hex, str(v, "plaintext_sha256")) == 0, "%s: plaintext differs", id);
			ck_assert_msg(strcmp(label_provider(res.kind), str(v, "provider")) == 0,
				      "%s: provider %s, expected %s", id, label_provider(res.kind), str(v, "provider"));
			ck_assert_msg(strcmp(res.key_name, str(v, "key_name")) == 0, "%s: key '%s', expected '%s'", id,
				      res.key_name, str(v, "key_name"));
			ck_assert_msg(res.stale == json_is_true(json_object_get(v, "k8s_stale")),
				      "%s: stale %d, kubernetes said %d", id, res.stale,
				      json_is_true(json_object_get(v, "k8s_stale")));
			ck_assert_msg(res.plain.verdict == PLAIN_VALID, "%s: plaintext not judged a valid object", id);
			ck_assert_msg(strcmp(plain_encoding_name(res.plain.encoding), str(v, "encoding")) == 0,
				      "%s: encoding", id);
			ck_assert_msg(strcmp(res.plain.kind, str(v, "kind")) == 0, "%s: kind %s", id, res.plain.kind);
			positives++;
		} else {
			ck_assert_msg(!res.ok, "%s: expected an error, value was read", id);
			ck_assert_msg(strcmp(xf_reason_name(res.reason), str(v, "error_class")) == 0,
				      "%s: reason %s (%s), expected %s", id, xf_reason_name(res.reason), res.detail,
				      str(v, "error_class"));
			ck_assert_uint_eq(plain.len, 0);
			negatives++;
		}
		buf_release(&plain);
	}
	ck_assert_uint_gt(positives, 0);
	ck_assert_uint_gt(negatives, 0);
	json_decref(arr);
}
END_TEST

/* every positive and edge vector also reads with all-providers.yaml */
START_TEST(test_vectors_all_providers)
{
	size_t n;
	json_t *arr = load_vectors(&n);

	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		struct xf_result res;
		struct buf plain;

		if (strcmp(str(v, "expect"), "ok") != 0)
			continue;
		json_object_set_new(v, "config", json_string("all-providers.yaml"));
		buf_init(&plain, 0);
		read_vector(v, &res, &plain);
		ck_assert_msg(res.ok, "%s: not readable with all-providers.yaml: %s", str(v, "id"), res.detail);
		buf_release(&plain);
	}
	json_decref(arr);
}
END_TEST

static void roundtrip(const char *config, enum env_kind want_kind, const char *want_key)
{
	struct encconf *conf = NULL;
	struct xf *x = NULL;
	struct buf plain, enc, back;
	struct xf_result res;
	size_t vlen;
	json_t *arr;
	size_t n;
	const char *key = "/registry/secrets/default/roundtrip";

	arr = load_vectors(&n);
	ck_assert_int_eq(encconf_load(&conf, tu_fixture(config)), 0);
	ck_assert_int_eq(xf_new(&x, conf, "", "secrets", NULL), 0);
	buf_init(&plain, 0);
	buf_init(&enc, 0);
	buf_init(&back, 0);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		uint8_t *p = tu_b64(str(v, "plaintext_b64"), &vlen);

		ck_assert_int_eq(xf_write(x, &enc, (const uint8_t *)key, strlen(key), p, vlen), 0);
		ck_assert_int_eq(xf_read(x, &res, &back, (const uint8_t *)key, strlen(key), enc.data, enc.len), 0);
		if (res.ok || strcmp(str(v, "category"), "negative") != 0) {
			ck_assert_msg(res.ok, "%s: own write unreadable: %s", str(v, "id"), res.detail);
			ck_assert(xf_is_current(&res));
			ck_assert_int_eq(res.kind, want_kind);
			ck_assert_str_eq(res.key_name, want_key);
			ck_assert_uint_eq(back.len, vlen);
			ck_assert(memcmp(back.data, p, vlen) == 0);
		}
		free(p);
	}
	buf_release(&plain);
	buf_release(&enc);
	buf_release(&back);
	xf_free(x);
	encconf_free(conf);
	json_decref(arr);
}

START_TEST(test_roundtrip_aescbc) { roundtrip("k8s-vectors/configs/aescbc.yaml", ENV_AESCBC, "key-2025"); }
END_TEST
START_TEST(test_roundtrip_aesgcm) { roundtrip("k8s-vectors/configs/aesgcm.yaml", ENV_AESGCM, "gcm-a"); }
END_TEST
START_TEST(test_roundtrip_secretbox) { roundtrip("k8s-vectors/configs/secretbox.yaml", ENV_SECRETBOX, "box-1"); }
END_TEST
START_TEST(test_roundtrip_colon) { roundtrip("k8s-vectors/configs/colon-keyname.yaml", ENV_AESCBC, "ops:2022:q4"); }
END_TEST
START_TEST(test_roundtrip_identity) { roundtrip("k8s-vectors/configs/identity-first.yaml", ENV_IDENTITY, ""); }
END_TEST

/* AES-GCM output is bound to its etcd key; a write for one key does not read under another */
START_TEST(test_gcm_aad_bound)
{
	struct encconf *conf = NULL;
	struct xf *x = NULL;
	struct buf enc, back;
	struct xf_result res;
	const char *obj = "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"}}\n";
	const char *k1 = "/registry/secrets/ns/a", *k2 = "/registry/secrets/ns/b";

	ck_assert_int_eq(encconf_load(&conf, tu_fixture("k8s-vectors/configs/aesgcm.yaml")), 0);
	ck_assert_int_eq(xf_new(&x, conf, "", "secrets", NULL), 0);
	buf_init(&enc, 0);
	buf_init(&back, 0);
	ck_assert_int_eq(xf_write(x, &enc, (const uint8_t *)k1, strlen(k1), (const uint8_t *)obj, strlen(obj)), 0);
	ck_assert_int_eq(xf_read(x, &res, &back, (const uint8_t *)k2, strlen(k2), enc.data, enc.len), 0);
	ck_assert(!res.ok);
	ck_assert_str_eq(xf_reason_name(res.reason), "aad_mismatch");
	ck_assert_msg(strstr(res.detail, k1) != NULL, "detail should name the original key: %s", res.detail);
	buf_release(&enc);
	buf_release(&back);
	xf_free(x);
	encconf_free(conf);
}
END_TEST

/* xf_read_back answers as xf_read: the known inspection is used only for a
 * plaintext equal to the expected one (a bogus one shows whether it was) */
START_TEST(test_read_back)
{
	const char *obj = "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"}}\n";
	const char *other = "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b\",\"namespace\":\"ns\"}}\n";
	const char *key = "/registry/secrets/ns/a";
	const char *cfgs[] = { "aescbc.yaml", "aesgcm.yaml", "secretbox.yaml", "identity-first.yaml" };
	struct plain_info bogus;

	memset(&bogus, 0, sizeof(bogus));
	bogus.verdict = PLAIN_VALID;
	snprintf(bogus.name, sizeof(bogus.name), "bogus");
	for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
		struct encconf *conf = NULL;
		struct xf *x = NULL;
		struct buf enc, back, back2;
		struct xf_result r1, r2;
		char cfg[256];

		snprintf(cfg, sizeof(cfg), "k8s-vectors/configs/%s", cfgs[c]);
		ck_assert_msg(encconf_load(&conf, tu_fixture(cfg)) == 0, "%s: %s", cfg, err_msg());
		ck_assert_int_eq(xf_new(&x, conf, "", "secrets", NULL), 0);
		buf_init(&enc, 0);
		buf_init(&back, 0);
		buf_init(&back2, 0);
		ck_assert_int_eq(xf_write(x, &enc, (const uint8_t *)key, strlen(key), (const uint8_t *)obj, strlen(obj)), 0);
		ck_assert_int_eq(xf_read(x, &r1, &back, (const uint8_t *)key, strlen(key), enc.data, enc.len), 0);
		ck_assert_msg(r1.ok && strcmp(r1.plain.name, "a") == 0, "%s", cfgs[c]);
		/* expected plaintext: the same answer, the known inspection */
		ck_assert_int_eq(xf_read_back(x, &r2, &back2, (const uint8_t *)key, strlen(key), enc.data, enc.len,
					      (const uint8_t *)obj, strlen(obj), &r1.plain), 0);
		ck_assert(r2.ok && r2.provider_index == r1.provider_index && r2.key_index == r1.key_index);
		ck_assert(back2.len == back.len && memcmp(back2.data, back.data, back.len) == 0);
		ck_assert(memcmp(&r2.plain, &r1.plain, sizeof(r1.plain)) == 0);
		/* another plaintext expected: inspected as by xf_read, never the given info */
		ck_assert_int_eq(xf_read_back(x, &r2, &back2, (const uint8_t *)key, strlen(key), enc.data, enc.len,
					      (const uint8_t *)other, strlen(other), &bogus), 0);
		ck_assert_msg(r2.ok && strcmp(r2.plain.name, "a") == 0, "%s: %s", cfgs[c], r2.plain.name);
		/* and the next xf_read is plain xf_read again */
		ck_assert_int_eq(xf_read(x, &r2, &back2, (const uint8_t *)key, strlen(key), (const uint8_t *)other,
					 strlen(other)), 0);
		ck_assert(c == 3 ? r2.ok : 1);
		ck_assert(!r2.ok || strcmp(r2.plain.name, "b") == 0);
		buf_release(&enc);
		buf_release(&back);
		buf_release(&back2);
		xf_free(x);
		encconf_free(conf);
	}
}
END_TEST

/* configmaps are not in the configs: identity applies */
START_TEST(test_unlisted_resource_identity)
{
	struct encconf *conf = NULL;
	struct xf *x = NULL;
	enum env_kind k;
	const char *name;

	ck_assert_int_eq(encconf_load(&conf, tu_fixture("k8s-vectors/configs/aescbc.yaml")), 0);
	ck_assert_int_eq(xf_new(&x, conf, "", "configmaps", NULL), 0);
	xf_target(x, &k, &name);
	ck_assert_int_eq(k, ENV_IDENTITY);
	xf_free(x);
	ck_assert_int_eq(xf_new(&x, conf, "", "secrets", NULL), 0);
	xf_target(x, &k, &name);
	ck_assert_int_eq(k, ENV_AESCBC);
	ck_assert_str_eq(name, "key-2025");
	xf_free(x);
	encconf_free(conf);
}
END_TEST

/* Duplicate key names inside one provider: kube-apiserver's validation
 * (validation_encryption.go validateKeys) does not reject them, and its
 * prefix transformers never stop at a prefix match that fails to decrypt, so
 * a value under the second same-named key reads (as stale). Mirrored. */
START_TEST(test_duplicate_key_names)
{
#define DUP_HDR "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n" \
		"  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n"
	const char *one = DUP_HDR "            - {name: dup, secret: \"w9tL45qy7u2MX+7I9dEnn+Kjpot7A+0GQi+YU4cjuWc=\"}\n";
	const char *two = DUP_HDR "            - {name: dup, secret: \"W8qjsabLjhuVlxqTYCNKbQ==\"}\n"
				  "            - {name: dup, secret: \"w9tL45qy7u2MX+7I9dEnn+Kjpot7A+0GQi+YU4cjuWc=\"}\n";
	const char *obj = "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"}}\n";
	const char *key = "/registry/secrets/ns/a";
	struct encconf *c1 = NULL, *c2 = NULL;
	struct xf *x1 = NULL, *x2 = NULL;
	struct buf enc, back;
	struct xf_result res;

	ck_assert_int_eq(encconf_parse(&c1, one, strlen(one), "one.yaml"), 0);
	ck_assert_msg(encconf_parse(&c2, two, strlen(two), "two.yaml") == 0, "duplicate names refused: %s", err_msg());
	ck_assert_uint_eq(c2->rules[0].providers[0].n_keys, 2);
	ck_assert_int_eq(xf_new(&x1, c1, "", "secrets", NULL), 0);
	ck_assert_int_eq(xf_new(&x2, c2, "", "secrets", NULL), 0);
	buf_init(&enc, 0);
	buf_init(&back, 0);
	/* sealed with the 32-byte key, which is the second 'dup' in two.yaml */
	ck_assert_int_eq(xf_write(x1, &enc, (const uint8_t *)key, strlen(key), (const uint8_t *)obj, strlen(obj)), 0);
	ck_assert_int_eq(xf_read(x2, &res, &back, (const uint8_t *)key, strlen(key), enc.data, enc.len), 0);
	ck_assert_msg(res.ok, "not read: %s", res.detail);
	ck_assert_int_eq(res.key_index, 1);
	ck_assert_str_eq(res.key_name, "dup");
	ck_assert(res.stale);
	ck_assert_uint_eq(back.len, strlen(obj));
	/* and what two.yaml writes (its first 'dup') reads as current */
	ck_assert_int_eq(xf_write(x2, &enc, (const uint8_t *)key, strlen(key), (const uint8_t *)obj, strlen(obj)), 0);
	ck_assert_int_eq(xf_read(x2, &res, &back, (const uint8_t *)key, strlen(key), enc.data, enc.len), 0);
	ck_assert(res.ok && res.key_index == 0 && !res.stale);
	buf_release(&enc);
	buf_release(&back);
	xf_free(x1);
	xf_free(x2);
	encconf_free(c1);
	encconf_free(c2);
#undef DUP_HDR
}
END_TEST

/* A truncated aescbc value whose IV holds ':' (issue 9 item 5): it belongs
 * to the configured key whose prefix it carries, even though it does not
 * decrypt; never to "key-2025:ab" (a later split the old guess preferred
 * because it left whole blocks). Without a config: the text up to the first
 * ':' after "v1:", flagged as a guess. */
START_TEST(test_attribution)
{
	struct encconf *conf = NULL;
	struct xf *x = NULL, *plain = NULL;
	struct buf back;
	struct xf_result res;
	uint8_t v[256];
	const char *pre = "k8s:enc:aescbc:v1:key-2025:ab:", *key = "/registry/secrets/ns/a";
	size_t n = strlen(pre);

	memcpy(v, pre, n);
	memset(v + n, 0x5a, 13 + 35); /* rest of the IV, then 35 bytes: 51 in all, not whole blocks */
	n += 13 + 35;
	ck_assert_int_eq(encconf_load(&conf, tu_fixture("k8s-vectors/configs/aescbc.yaml")), 0);
	ck_assert_int_eq(xf_new(&x, conf, "", "secrets", NULL), 0);
	ck_assert_int_eq(xf_new(&plain, NULL, "", "secrets", NULL), 0);
	buf_init(&back, 0);
	ck_assert_int_eq(xf_read(x, &res, &back, (const uint8_t *)key, strlen(key), v, n), 0);
	ck_assert(!res.ok);
	ck_assert_str_eq(res.key_name, "key-2025");
	ck_assert_int_eq(res.key_name_guessed, 0);
	ck_assert_str_eq(xf_reason_name(res.reason), "truncated");
	ck_assert_int_eq(xf_read(plain, &res, &back, (const uint8_t *)key, strlen(key), v, n), 0);
	ck_assert_str_eq(res.key_name, "key-2025");
	ck_assert_int_eq(res.key_name_guessed, 1);
	/* a prefix no configured key has: the guess, flagged */
	memcpy(v + strlen("k8s:enc:aescbc:v1:"), "zzz-9999", 8);
	ck_assert_int_eq(xf_read(x, &res, &back, (const uint8_t *)key, strlen(key), v, n), 0);
	ck_assert_str_eq(res.key_name, "zzz-9999");
	ck_assert_int_eq(res.key_name_guessed, 1);
	buf_release(&back);
	xf_free(x);
	xf_free(plain);
	encconf_free(conf);
}
END_TEST

/* found by fuzz_value: input-made conditions are failure classes, never
 * internal errors or undefined behaviour */
START_TEST(test_fuzz_regressions)
{
	struct encconf *conf = NULL;
	struct kms_ring *ring = NULL;
	struct xf *x = NULL, *sb = NULL;
	struct xf_result res;
	struct buf plain, enc;
	static uint8_t v[32 + 2 + 65535];
	const char *prefix = "k8s:enc:kms:v1:legacy-kms:", *key = "/registry/secrets/default/f";
	size_t pl = strlen(prefix);

	ck_assert_int_eq(encconf_load(&conf, tu_fixture("k8s-vectors/configs/all-providers.yaml")), 0);
	ck_assert_int_eq(kmsring_load(&ring, tu_fixture("k8s-vectors/fake-kms.json")), 0);
	ck_assert_int_eq(xf_new(&x, conf, "", "secrets", ring), 0);
	buf_init(&plain, 0);
	buf_init(&enc, 0);
	/* a KMS v1 "wrapped DEK" of 65535 bytes */
	memcpy(v, prefix, pl);
	v[pl] = 0xff;
	v[pl + 1] = 0xff;
	ck_assert_int_eq(xf_read(x, &res, &plain, (const uint8_t *)key, strlen(key), v, pl + 2 + 65535), 0);
	ck_assert(!res.ok);
	ck_assert_str_eq(xf_reason_name(res.reason), "malformed");
	/* secretbox of an empty plaintext: a 0-byte decryption */
	xf_free(x); /* x borrows conf */
	x = NULL;
	encconf_free(conf);
	conf = NULL;
	ck_assert_int_eq(encconf_load(&conf, tu_fixture("k8s-vectors/configs/secretbox.yaml")), 0);
	ck_assert_int_eq(xf_new(&sb, conf, "", "secrets", NULL), 0);
	ck_assert_int_eq(xf_write(sb, &enc, (const uint8_t *)key, strlen(key), (const uint8_t *)"", 0), 0);
	ck_assert_int_eq(xf_read(sb, &res, &plain, (const uint8_t *)key, strlen(key), enc.data, enc.len), 0);
	ck_assert(!res.ok);
	ck_assert_str_eq(xf_reason_name(res.reason), "not_object");
	buf_release(&plain);
	buf_release(&enc);
	xf_free(sb);
	xf_free(x);
	kmsring_free(ring);
	encconf_free(conf);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("transform");
	TCase *tc = tcase_create("vectors");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_vectors_all_providers);
	tcase_add_test(tc, test_roundtrip_aescbc);
	tcase_add_test(tc, test_roundtrip_aesgcm);
	tcase_add_test(tc, test_roundtrip_secretbox);
	tcase_add_test(tc, test_roundtrip_colon);
	tcase_add_test(tc, test_roundtrip_identity);
	tcase_add_test(tc, test_gcm_aad_bound);
	tcase_add_test(tc, test_unlisted_resource_identity);
	tcase_add_test(tc, test_fuzz_regressions);
	tcase_add_test(tc, test_duplicate_key_names);
	tcase_add_test(tc, test_attribution);
	tcase_add_test(tc, test_read_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
