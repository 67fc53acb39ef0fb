/* test_codec: envelope classification, plaintext recognition, protobuf
 * wire reading, base64 and the resource <-> prefix mapping. */
#include "testutil.h"

#include "base/b64.h"
#include "base/err.h"
#include "base/esc.h"
#include "base/godur.h"
#include "base/hex.h"
#include "base/num.h"
#include "etcd/etcd.h"
#include "xform/envelope.h"
#include "base/pbwire.h"
#include "xform/plain.h"
#include "base/resources.h"
#include "kmsv2.pb-c.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* every vector's stored value classifies as the provider that wrote it */
START_TEST(test_envelope_vectors)
{
	char line[1 << 20];
	FILE *f = fopen(tu_fixture("k8s-vectors/vectors.jsonl"), "r");
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *v = json_loads(line, 0, NULL);
		const char *prov = json_string_value(json_object_get(v, "provider"));
		const char *key = json_string_value(json_object_get(v, "key_name"));
		const char *note = json_string_value(json_object_get(v, "note"));
		size_t len;
		uint8_t *val = tu_b64(json_string_value(json_object_get(v, "stored_value_b64")), &len);
		struct env_info e;

		env_classify(&e, val, len);
		ck_assert_msg(strcmp(env_kind_name(e.kind), prov) == 0, "%s: %s vs %s",
			      json_string_value(json_object_get(v, "id")), env_kind_name(e.kind), prov);
		/* names are guessed without a config: exact unless damaged or ':' in them */
		if (strcmp(json_string_value(json_object_get(v, "category")), "positive") == 0 && !strchr(key, ':'))
			ck_assert_msg(strcmp(e.key_name, key) == 0, "%s: name '%s' vs '%s' (%s)",
				      json_string_value(json_object_get(v, "id")), e.key_name, key, note);
		if (e.kind == ENV_KMS2 && strcmp(json_string_value(json_object_get(v, "category")), "positive") == 0) {
			const char *kid = json_string_value(
				json_object_get(json_object_get(v, "kms"), "key_id"));
			/* our wire reader and protoc-c's generated parser agree */
			V2__EncryptedObject *o = v2__encrypted_object__unpack(NULL, e.body_len, e.body);
			ck_assert_ptr_nonnull(o);
			ck_assert_str_eq(e.kms_key_id, kid);
			ck_assert_str_eq(o->keyid, kid);
			ck_assert_uint_gt(o->encrypteddeksource.len, 0);
			v2__encrypted_object__free_unpacked(o, NULL);
		}
		if (e.kind == ENV_IDENTITY)
			ck_assert_str_eq(plain_encoding_name(e.encoding),
					 json_string_value(json_object_get(v, "encoding")));
		free(val);
		json_decref(v);
		n++;
	}
	fclose(f);
	ck_assert_int_ge(n, 76);
}
END_TEST

/* esc: the JSON and terminal forms of arbitrary bytes */
START_TEST(test_esc)
{
	static const struct {
		const char *in;
		size_t n;
		int clean;
		const char *lossy, *term;
	} c[] = {
		{ "/registry/secrets/ns/a", 22, 1, "/registry/secrets/ns/a", "/registry/secrets/ns/a" },
		{ "caf\xc3\xa9", 5, 1, "caf\xc3\xa9", "caf\xc3\xa9" },             /* valid UTF-8 as is */
		{ "a\xff" "b", 3, 0, "a\xef\xbf\xbd" "b", "a\\xffb" },               /* invalid byte */
		{ "a\0b", 3, 0, "a\xef\xbf\xbd" "b", "a\\x00b" },                 /* NUL */
		{ "\xc0\xaf", 2, 0, "\xef\xbf\xbd\xef\xbf\xbd", "\\xc0\\xaf" }, /* overlong '/' */
		{ "\xed\xa0\x80", 3, 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "\\xed\\xa0\\x80" }, /* surrogate */
		{ "\xe2\x82", 2, 0, "\xef\xbf\xbd\xef\xbf\xbd", "\\xe2\\x82" }, /* cut sequence */
		{ "x\x1b]0;t\x07\x1b[2Jy\nz\t\\", 16, 1, "x\x1b]0;t\x07\x1b[2Jy\nz\t\\",
		  "x\\e]0;t\\x07\\e[2Jy\\nz\\t\\\\" },                               /* OSC, CSI, newline */
		{ "\xc2\x9b" "31m\xe2\x80\xae", 8, 1, "\xc2\x9b" "31m\xe2\x80\xae", "\\u009b31m\\u202e" }, /* C1 CSI, RLO */
		{ "", 0, 1, "", "\"\"" },
	};
	char cell[12];
	int e;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const uint8_t *p = (const uint8_t *)c[i].in;
		char *l = esc_utf8_lossy(p, c[i].n), *t = esc_term(p, c[i].n), *b = esc_json_b64(p, c[i].n, &e);

		ck_assert_msg(esc_utf8_clean(p, c[i].n) == c[i].clean, "case %zu: clean", i);
		ck_assert_msg(strcmp(l, c[i].lossy) == 0, "case %zu: lossy '%s'", i, l);
		ck_assert_msg(strcmp(t, c[i].term) == 0, "case %zu: term '%s' want '%s'", i, t, c[i].term);
		ck_assert_int_eq(e, 0);
		ck_assert_msg((b == NULL) == c[i].clean, "case %zu: b64 twin only when not clean", i);
		for (const char *q = t; *q; q++)
			ck_assert_msg((unsigned char)*q >= 0x20 && *q != 0x7f, "case %zu: control byte in term form", i);
		free(l);
		free(t);
		free(b);
	}
	{
		int err;
		char *b = esc_json_b64((const uint8_t *)"a\xff" "b", 3, &err);
		ck_assert_str_eq(b, "Yf9i");
		free(b);
	}
	/* fixed cells: whole escapes only, "..." when cut */
	esc_term_buf(cell, sizeof(cell), (const uint8_t *)"abcdefghijk", 11);
	ck_assert_str_eq(cell, "abcdefghijk");
	esc_term_buf(cell, sizeof(cell), (const uint8_t *)"abcdefghijkl", 12);
	ck_assert_str_eq(cell, "abcdefgh...");
	esc_term_buf(cell, sizeof(cell), (const uint8_t *)"abcdef\x1b\x1b", 8);
	ck_assert_str_eq(cell, "abcdef\\e\\e");
	esc_term_buf(cell, sizeof(cell), (const uint8_t *)"abcdef\x01\x1b", 8);
	ck_assert_str_eq(cell, "abcdef...");
}
END_TEST

START_TEST(test_envelope_colon_guess)
{
	/* without a config the name is the text up to the first ':' after
	 * "v1:", flagged as a guess (names with ':' are found by matching the
	 * configured names: test_transform) */
	uint8_t v[128];
	const char *p = "k8s:enc:aescbc:v1:ops:2022:q4:";
	struct env_info e;

	memcpy(v, p, strlen(p));
	memset(v + strlen(p), 0x41, 48);
	env_classify(&e, v, strlen(p) + 48);
	ck_assert_int_eq(e.kind, ENV_AESCBC);
	ck_assert_str_eq(e.key_name, "ops");
	ck_assert_int_eq(e.name_guessed, 1);
	ck_assert_uint_eq(e.body_len, 48 + strlen("2022:q4:"));
	/* a binary or terminal-attacking name is never shown raw; empty is "(none)" */
	env_classify(&e, (const uint8_t *)"k8s:enc:aescbc:v1:a\x1b]0;x\x07\xff:rest", 31);
	ck_assert_str_eq(e.key_name, "a\\e]0;x\\x07\\xff");
	env_classify(&e, (const uint8_t *)"k8s:enc:aesgcm:v1::rest", 23);
	ck_assert_str_eq(e.key_name, "(none)");

	env_classify(&e, (const uint8_t *)"k8s:enc:rot13:v1:x:abc", 22);
	ck_assert_int_eq(e.kind, ENV_UNKNOWN_ENC);
	env_classify(&e, (const uint8_t *)"k8s:enc:aescbc:v1:", 18);
	ck_assert_int_eq(e.kind, ENV_AESCBC);
	ck_assert_uint_eq(e.body_len, 0);
	env_classify(&e, (const uint8_t *)"", 0);
	ck_assert_int_eq(e.kind, ENV_IDENTITY);
	ck_assert_int_eq(e.encoding, PLAIN_OTHER);
}
END_TEST

START_TEST(test_plain)
{
	struct plain_info pi;
	static const uint8_t pb[] = { 'k', '8', 's', 0, 0x0a, 0x0c, 0x0a, 0x02, 'v', '1', 0x12, 0x06, 'S', 'e',
				      'c', 'r', 'e', 't', 0x12, 0x08, 0x0a, 0x06, 0x0a, 0x01, 'a', 0x1a, 0x01, 'n',
				      0x1a, 0x00, 0x22, 0x00 };

	plain_inspect(&pi, pb, sizeof(pb));
	ck_assert_int_eq(pi.verdict, PLAIN_VALID);
	ck_assert_str_eq(pi.kind, "Secret");
	ck_assert_str_eq(pi.api_version, "v1");
	ck_assert_str_eq(pi.name, "a");
	ck_assert_str_eq(pi.namespace_, "n");
	plain_inspect(&pi, pb, sizeof(pb) - 1);
	ck_assert_int_eq(pi.verdict, PLAIN_TRUNCATED);
	plain_inspect(&pi, pb, 4);
	ck_assert_int_ne(pi.verdict, PLAIN_VALID);

	const char *js = "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"}}\n";
	plain_inspect(&pi, (const uint8_t *)js, strlen(js));
	ck_assert_int_eq(pi.verdict, PLAIN_VALID);
	ck_assert_str_eq(pi.kind, "ConfigMap");
	plain_inspect(&pi, (const uint8_t *)js, 20);
	ck_assert_int_eq(pi.verdict, PLAIN_TRUNCATED);
	plain_inspect(&pi, (const uint8_t *)"{\"a\":1}", 7);
	ck_assert_int_eq(pi.verdict, PLAIN_MALFORMED);
	plain_inspect(&pi, (const uint8_t *)"hello", 5);
	ck_assert_int_eq(pi.verdict, PLAIN_UNKNOWN);
	ck_assert(!plain_looks_like_object((const uint8_t *)"k8s:", 4));
}
END_TEST

START_TEST(test_pbwire)
{
	struct pb_reader r;
	struct pb_field f;
	static const uint8_t ok[] = { 0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i' };
	static const uint8_t trunc[] = { 0x12, 0x05, 'h' };
	static const uint8_t group[] = { 0x0b };
	static const uint8_t overlong[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };

	pb_init(&r, ok, sizeof(ok));
	ck_assert_int_eq(pb_next(&r, &f), PB_FIELD);
	ck_assert_uint_eq(f.num, 1);
	ck_assert_uint_eq(f.varint, 150);
	ck_assert_int_eq(pb_next(&r, &f), PB_FIELD);
	ck_assert_uint_eq(f.len, 2);
	ck_assert_int_eq(pb_next(&r, &f), PB_END);
	pb_init(&r, trunc, sizeof(trunc));
	ck_assert_int_eq(pb_next(&r, &f), PB_TRUNCATED);
	pb_init(&r, group, sizeof(group));
	ck_assert_int_eq(pb_next(&r, &f), PB_MALFORMED);
	pb_init(&r, overlong, sizeof(overlong));
	ck_assert_int_lt(pb_next(&r, &f), 0);
}
END_TEST

START_TEST(test_b64)
{
	uint8_t out[64];
	char enc[64];

	ck_assert_int_eq(b64_decode(out, sizeof(out), "aGk=", 4), 2);
	ck_assert(memcmp(out, "hi", 2) == 0);
	ck_assert_int_eq(b64_decode(out, sizeof(out), "aGk", 3), ERR_CORRUPT);
	ck_assert_int_eq(b64_decode(out, sizeof(out), "aGl=", 4), 2); /* unused bits ignored, as Go does */
	ck_assert_int_eq(b64_decode(out, sizeof(out), "aG\r\nk=", 6), 2); /* CR/LF skipped, as Go does */
	ck_assert_int_eq(b64_decode(out, sizeof(out), "aGk=aGk=", 8), ERR_CORRUPT); /* data after padding */
	ck_assert_int_eq(b64_decode(out, sizeof(out), "a=k=", 4), ERR_CORRUPT);
	ck_assert_int_eq(b64_decode(out, sizeof(out), "aG-=", 4), ERR_CORRUPT);
	ck_assert_int_eq(b64_decode(out, sizeof(out), "", 0), 0);
	b64_encode(enc, (const uint8_t *)"hello", 5);
	ck_assert_str_eq(enc, "aGVsbG8=");
}
END_TEST

/* A likely typo of a built-in resource gets a suggestion; built-in names
 * and names far from any (custom resources) get none. */
START_TEST(test_res_suggest)
{
	struct res_id r;
	char out[300];
	static const char *const cases[][2] = {
		{ "secret", "secrets" }, { "configmap", "configmaps" }, { "secrtes", "secrets" },
		{ "deployments", "deployments.apps" }, { "deployment.apps", "deployments.apps" },
		{ "ingress.networking.k8s.io", "ingresses.networking.k8s.io" }, { "node", "nodes" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(res_parse(&r, cases[i][0]), 0);
		ck_assert_msg(res_suggest(out, sizeof(out), &r) == 0, "%s: no suggestion", cases[i][0]);
		ck_assert_str_eq(out, cases[i][1]);
	}
	ck_assert_int_eq(res_parse(&r, "secrets"), 0);
	ck_assert_int_eq(res_suggest(out, sizeof(out), &r), ERR_NOTFOUND);
	ck_assert_int_eq(res_parse(&r, "deployments.apps"), 0);
	ck_assert_int_eq(res_suggest(out, sizeof(out), &r), ERR_NOTFOUND);
	ck_assert_int_eq(res_parse(&r, "widgets.example.com"), 0);
	ck_assert_int_eq(res_suggest(out, sizeof(out), &r), ERR_NOTFOUND);
}
END_TEST

START_TEST(test_resources)
{
	struct res_id r;
	char p[256];

	ck_assert_int_eq(res_parse(&r, "secrets"), 0);
	ck_assert_int_eq(res_prefix(p, sizeof(p), NULL, &r), 0);
	ck_assert_str_eq(p, "/registry/secrets/");
	ck_assert_int_eq(res_prefix(p, sizeof(p), "/custom/", &r), 0);
	ck_assert_str_eq(p, "/custom/secrets/");
	ck_assert_int_eq(res_parse(&r, "services"), 0);
	res_prefix(p, sizeof(p), NULL, &r);
	ck_assert_str_eq(p, "/registry/services/specs/");
	ck_assert_int_eq(res_parse(&r, "deployments.apps"), 0);
	res_prefix(p, sizeof(p), NULL, &r);
	ck_assert_str_eq(p, "/registry/deployments/");
	ck_assert_int_eq(res_parse(&r, "ingresses.networking.k8s.io"), 0);
	res_prefix(p, sizeof(p), NULL, &r);
	ck_assert_str_eq(p, "/registry/ingress/");
	ck_assert_int_eq(res_parse(&r, "widgets.example.com"), 0);
	res_prefix(p, sizeof(p), NULL, &r);
	ck_assert_str_eq(p, "/registry/example.com/widgets/");
	ck_assert_int_lt(res_parse(&r, "Secrets"), 0);
	ck_assert_int_lt(res_parse(&r, ""), 0);

	const char *k1 = "/registry/secrets/default/a";
	ck_assert_int_eq(res_from_key(&r, NULL, (const uint8_t *)k1, strlen(k1)), 0);
	ck_assert_str_eq(r.resource, "secrets");
	ck_assert_str_eq(r.group, "");
	const char *k2 = "/registry/secrets-store.csi.x-k8s.io/secretproviderclasses/ns/x";
	ck_assert_int_eq(res_from_key(&r, NULL, (const uint8_t *)k2, strlen(k2)), 0);
	ck_assert_str_eq(r.group, "secrets-store.csi.x-k8s.io");
	ck_assert_str_eq(r.resource, "secretproviderclasses");
	const char *k3 = "/registry/services/endpoints/default/kubernetes";
	ck_assert_int_eq(res_from_key(&r, NULL, (const uint8_t *)k3, strlen(k3)), 0);
	ck_assert_str_eq(r.resource, "endpoints");
	const char *k4 = "/registry/deployments/ns/d";
	ck_assert_int_eq(res_from_key(&r, NULL, (const uint8_t *)k4, strlen(k4)), 0);
	ck_assert_str_eq(r.group, "apps");
	const char *k5 = "/other/secrets/a";
	ck_assert_int_eq(res_from_key(&r, NULL, (const uint8_t *)k5, strlen(k5)), ERR_NOTFOUND);

	/* --all: one helper, trailing slashes ignored */
	ck_assert_int_eq(res_all_prefix(p, sizeof(p), NULL), 0);
	ck_assert_str_eq(p, "/registry/");
	ck_assert_int_eq(res_all_prefix(p, sizeof(p), "/registry/"), 0);
	ck_assert_str_eq(p, "/registry/");
	ck_assert_int_eq(res_all_prefix(p, sizeof(p), "/custom//"), 0);
	ck_assert_str_eq(p, "/custom/");
	ck_assert_int_eq(res_all_prefix(p, 4, "/registry"), ERR_USAGE);
}
END_TEST

START_TEST(test_hex)
{
	static const uint8_t b[] = { 0x00, 0x0f, 0xa5, 0xff };
	char out[9];

	hex_encode(out, b, sizeof(b));
	ck_assert_str_eq(out, "000fa5ff");
	hex_encode(out, b, 0);
	ck_assert_str_eq(out, "");
}
END_TEST

/* --max-rate, --batch, --page-size: the whole argument is the number */
START_TEST(test_num)
{
	double d = -1;
	long l = -1;

	ck_assert_int_eq(num_parse_double(&d, "250", 0, 1e9), 0);
	ck_assert(d == 250);
	ck_assert_int_eq(num_parse_double(&d, "0.5", 0, 1e9), 0);
	ck_assert(d == 0.5);
	ck_assert_int_eq(num_parse_double(&d, "1e3", 0, 1e9), 0);
	ck_assert(d == 1000);
	d = 7;
	/* garbage, trailing text, negative, zero, overflow, inf/nan/hex, spaces */
	static const char *bad_d[] = { "", "abc", "10x", "10 ", " 10", "-5", "0", "0.0", "1e999", "1e10",
				       "inf", "nan", "0x10", "1,5" };
	for (size_t i = 0; i < sizeof(bad_d) / sizeof(bad_d[0]); i++)
		ck_assert_msg(num_parse_double(&d, bad_d[i], 0, 1e9) == ERR_USAGE, "'%s' accepted", bad_d[i]);
	ck_assert(d == 7); /* untouched on failure */

	ck_assert_int_eq(num_parse_long(&l, "128", 1, 128), 0);
	ck_assert_int_eq(l, 128);
	static const char *bad_l[] = { "", "0", "129", "-1", "+5", " 5", "5 ", "5x", "1.0", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad_l) / sizeof(bad_l[0]); i++)
		ck_assert_msg(num_parse_long(&l, bad_l[i], 1, 128) == ERR_USAGE, "'%s' accepted", bad_l[i]);
	ck_assert_int_eq(l, 128);
}
END_TEST

/* Go's time.ParseDuration, as the KMS timeout and etcdctl's flags read it */
START_TEST(test_godur)
{
	int64_t ns = 0;

	ck_assert_int_eq(godur_parse_ns(&ns, "1m30s"), 0);
	ck_assert_int_eq(ns, 90000000000LL);
	ck_assert_int_eq(godur_parse_ns(&ns, "1.5s"), 0);
	ck_assert_int_eq(ns, 1500000000LL);
	ck_assert_int_eq(godur_parse_ns(&ns, "-2ms"), 0);
	ck_assert_int_eq(ns, -2000000LL);
	ck_assert_int_eq(godur_parse_ns(&ns, "10us"), 0);
	ck_assert_int_eq(ns, 10000LL);
	ck_assert_int_eq(godur_parse_ns(&ns, "10\xc2\xb5s"), 0); /* micro sign */
	ck_assert_int_eq(ns, 10000LL);
	ck_assert_int_eq(godur_parse_ns(&ns, "0"), 0);
	ck_assert_int_eq(ns, 0);
	ck_assert_int_eq(godur_parse_ns(&ns, "2562047h47m16.854775807s"), 0); /* the int64 maximum */
	ck_assert_int_eq(ns, INT64_MAX);
	static const char *bad[] = { "", "3", "3 s", "s", "1x", "+", "2562047h47m16.854775808s", "9999999999h", "1e3s" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(godur_parse_ns(&ns, bad[i]) == ERR_CORRUPT, "'%s' accepted", bad[i]);
}
END_TEST

/* etcd_prefix_end: the range end of a prefix scan (docs/formats.md §3) */
START_TEST(test_prefix_end)
{
	uint8_t end[8];
	size_t n;

	n = etcd_prefix_end(end, (const uint8_t *)"/a/", 3);
	ck_assert_uint_eq(n, 3);
	ck_assert(memcmp(end, "/a0", 3) == 0);
	n = etcd_prefix_end(end, (const uint8_t *)"a\xff", 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(end[0], 'b');
	n = etcd_prefix_end(end, (const uint8_t *)"\xff\xff", 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(end[0], 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_envelope_vectors);
	tcase_add_test(tc, test_envelope_colon_guess);
	tcase_add_test(tc, test_esc);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_pbwire);
	tcase_add_test(tc, test_b64);
	tcase_add_test(tc, test_resources);
	tcase_add_test(tc, test_res_suggest);
	tcase_add_test(tc, test_hex);
	tcase_add_test(tc, test_prefix_end);
	tcase_add_test(tc, test_num);
	tcase_add_test(tc, test_godur);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
