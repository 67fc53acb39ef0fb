/* test_tally: audit's counting with no etcd: one row per provider x key
 * name with readable/stale, the plaintext encodings, the unreadable list
 * and its bound (counted beyond TALLY_MAX_UNREADABLE, not listed). Values
 * are read with the config's rules (xf_read) exactly as the scan reads
 * them; the expected numbers are worked out by hand below. */
#include "testutil.h"

#include "audit/tally.h"
#include "base/buf.h"
#include "base/err.h"
#include "conf/encconf.h"
#include "xform/plain.h"
#include "xform/transform.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define OBJ_FMT "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\"}}\n"

/* a config that writes with aescbc key-2024 (also in aescbc.yaml, second) */
static const char CBC2024[] = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
			      "resources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n"
			      "          keys:\n            - name: key-2024\n"
			      "              secret: tmfpi6QPtuK846R8R2UKvSaiPQI7QT1A\n";

struct env {
	struct encconf *conf, *old;
	struct xf *xf, *new_xf, *old_xf; /* reader (the tally's rules); writers */
	struct tally t;
	struct tally_res *r;
	struct buf plain, val;
};

static void env_init(struct env *e, int with_config)
{
	memset(e, 0, sizeof(*e));
	ck_assert_msg(encconf_load(&e->conf, tu_fixture("k8s-vectors/configs/aescbc.yaml")) == 0, "%s", err_msg());
	ck_assert(encconf_parse(&e->old, CBC2024, strlen(CBC2024), "cbc2024") == 0);
	ck_assert(xf_new(&e->xf, with_config ? e->conf : NULL, "", "secrets", NULL) == 0);
	ck_assert(xf_new(&e->new_xf, e->conf, "", "secrets", NULL) == 0);
	ck_assert(xf_new(&e->old_xf, e->old, "", "secrets", NULL) == 0);
	tally_init(&e->t, with_config);
	ck_assert(tally_resource(&e->t, &e->r, &(struct res_id){ "", "secrets" }, "/registry/secrets/") == 0);
	buf_init(&e->plain, 0);
	buf_init(&e->val, 0);
}

static void env_release(struct env *e)
{
	buf_release(&e->plain);
	buf_release(&e->val);
	tally_release(&e->t);
	xf_free(e->xf);
	xf_free(e->new_xf);
	xf_free(e->old_xf);
	encconf_free(e->conf);
	encconf_free(e->old);
}

enum how { PLAIN, CURRENT, OLD_KEY, FORGED };

/* Stores secret ns/<name> the way `how` says, reads it back and counts it. */
static void add(struct env *e, const char *name, enum how how)
{
	char key[128], obj[256];
	struct xf_result res;
	struct xf *w = how == OLD_KEY ? e->old_xf : e->new_xf;

	snprintf(key, sizeof(key), "/registry/secrets/ns/%s", name);
	snprintf(obj, sizeof(obj), OBJ_FMT, name);
	e->val.len = 0;
	if (how == PLAIN)
		ck_assert(buf_append(&e->val, obj, strlen(obj)) == 0);
	else if (how == FORGED)
		ck_assert(buf_append(&e->val, "k8s:enc:aescbc:v1:key-1999:0123456789abcdef0123456789abcdef", 59) == 0);
	else
		ck_assert(xf_write(w, &e->val, (const uint8_t *)key, strlen(key), (const uint8_t *)obj, strlen(obj)) == 0);
	ck_assert(xf_read(e->xf, &res, &e->plain, (const uint8_t *)key, strlen(key), e->val.data, e->val.len) == 0);
	ck_assert_msg(tally_add(&e->t, e->r, (const uint8_t *)key, strlen(key), 7, e->val.data, e->val.len, &res) == 0,
		      "%s", err_msg());
}

static const struct tally_row *row(const struct tally_res *r, enum env_kind k, const char *name)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (r->rows[i].kind == k && strcmp(r->rows[i].key_name, name) == 0)
			return &r->rows[i];
	ck_abort_msg("no row %s:%s", env_kind_name(k), name);
	return NULL;
}

START_TEST(test_counts)
{
	struct env e;
	uint64_t bad = 0;

	env_init(&e, 1);
	add(&e, "p1", PLAIN);   /* identity (second provider): readable, stale */
	add(&e, "c1", CURRENT); /* aescbc key-2025: readable, current */
	add(&e, "c2", CURRENT);
	add(&e, "o1", OLD_KEY); /* aescbc key-2024: readable, stale */
	add(&e, "f1", FORGED);  /* aescbc key-1999: no such key */
	ck_assert_uint_eq(tally_total(&e.t, &bad), 5);
	ck_assert_uint_eq(bad, 1);
	ck_assert_uint_eq(e.r->total, 5);
	ck_assert_uint_eq(e.r->readable, 4);
	ck_assert_uint_eq(e.r->stale, 2);
	ck_assert_uint_eq(e.r->unreadable, 1);
	ck_assert_uint_eq(e.r->n_rows, 4);
	ck_assert_uint_eq(row(e.r, ENV_IDENTITY, "")->count, 1);
	ck_assert_uint_eq(row(e.r, ENV_IDENTITY, "")->stale, 1);
	ck_assert_uint_eq(row(e.r, ENV_AESCBC, "key-2025")->count, 2);
	ck_assert_uint_eq(row(e.r, ENV_AESCBC, "key-2025")->readable, 2);
	ck_assert_uint_eq(row(e.r, ENV_AESCBC, "key-2025")->stale, 0);
	ck_assert_uint_eq(row(e.r, ENV_AESCBC, "key-2024")->stale, 1);
	ck_assert_uint_eq(row(e.r, ENV_AESCBC, "key-1999")->readable, 0);
	/* stored as plaintext: one JSON object; readable objects: four JSON */
	ck_assert_uint_eq(e.r->encodings[PLAIN_JSON], 1);
	ck_assert_uint_eq(e.r->encodings[PLAIN_PROTOBUF], 0);
	ck_assert_uint_eq(e.r->objects[PLAIN_JSON], 4);
	ck_assert_uint_eq(e.r->n_bad, 1);
	ck_assert_str_eq(e.r->bad[0].etcd_key, "/registry/secrets/ns/f1");
	ck_assert_str_eq(xf_reason_name(e.r->bad[0].reason), "unknown_key");
	ck_assert_int_eq(e.r->bad[0].mod_revision, 7);
	env_release(&e);
}
END_TEST

START_TEST(test_unreadable_list_is_bounded)
{
	static const char forged[] = "k8s:enc:aescbc:v1:key-1999:0123456789abcdef0123456789abcdef";
	struct env e;
	struct xf_result res;
	char key[64];

	env_init(&e, 1);
	/* read once: every value below is the same forged bytes under its own key */
	ck_assert(xf_read(e.xf, &res, &e.plain, (const uint8_t *)"/registry/secrets/ns/f", 22, (const uint8_t *)forged,
			  strlen(forged)) == 0);
	ck_assert(!res.ok);
	for (int i = 0; i < TALLY_MAX_UNREADABLE + 5; i++) {
		int n = snprintf(key, sizeof(key), "/registry/secrets/ns/f%05d", i);

		ck_assert(tally_add(&e.t, e.r, (const uint8_t *)key, (size_t)n, 7, (const uint8_t *)forged, strlen(forged),
				    &res) == 0);
	}
	ck_assert_uint_eq(e.r->unreadable, TALLY_MAX_UNREADABLE + 5);
	ck_assert_uint_eq(e.r->n_bad, TALLY_MAX_UNREADABLE);
	ck_assert_uint_eq(e.r->bad_unlisted, 5);
	ck_assert_str_eq(e.r->bad[TALLY_MAX_UNREADABLE - 1].etcd_key, "/registry/secrets/ns/f09999");
	ck_assert_uint_eq(e.r->n_rows, 1);
	env_release(&e);
}
END_TEST

/* no config: values are classified by their envelope only */
START_TEST(test_classify_only)
{
	struct env e;

	env_init(&e, 0);
	add(&e, "p1", PLAIN);
	add(&e, "c1", CURRENT);
	add(&e, "o1", OLD_KEY);
	ck_assert_uint_eq(e.r->total, 3);
	ck_assert_int_eq(e.t.have_config, 0);
	ck_assert_uint_eq(row(e.r, ENV_AESCBC, "key-2025")->count, 1);
	ck_assert_uint_eq(row(e.r, ENV_AESCBC, "key-2024")->count, 1);
	ck_assert_uint_eq(row(e.r, ENV_IDENTITY, "")->count, 1);
	ck_assert_uint_eq(e.r->encodings[PLAIN_JSON], 1);
	env_release(&e);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tally");
	TCase *tc = tcase_create("tally");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_unreadable_list_is_bounded);
	tcase_add_test(tc, test_classify_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
