/* test_rewrite: rewrite's per-value decision (rw_decide) with no etcd: what
 * is left alone (unreadable: reported; current: counted, also when --force
 * meets a value decided again after a conflict), what is sealed for the
 * write target and verified, what a dry run counts; and after a Txn's compare
 * failed, what each re-read key becomes (rw_redo_key). Sealed values are opened
 * here with OpenSSL's EVP directly (AES-256-CBC, PKCS#7, the key from the
 * config file), not with etcdcrypt's provider. */
#include "testutil.h"

#include "base/buf.h"
#include "base/err.h"
#include "conf/encconf.h"
#include "rewrite/rw_int.h"
#include "xform/transform.h"

#include <check.h>
#include <openssl/evp.h>
#include <string.h>

#define KEY "/registry/secrets/ns/a"
#define OBJ "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"}}\n"
/* key-2025 of fixtures/k8s-vectors/configs/aescbc.yaml: the write key */
#define KEY_2025_B64 "w9tL45qy7u2MX+7I9dEnn+Kjpot7A+0GQi+YU4cjuWc="

struct fixture {
	struct encconf *conf;
	struct xf *xf;
	struct rw_opts o;
	struct rw_stats st;
	struct rw w;
	struct buf out;
	int bad_calls;
	char bad_key[128];
};

static void on_bad(void *arg, const struct rw_unreadable *u)
{
	struct fixture *f = arg;

	f->bad_calls++;
	snprintf(f->bad_key, sizeof(f->bad_key), "%.*s", (int)u->key_len, (const char *)u->key);
}

static void fx_init(struct fixture *f, const char *config)
{
	memset(f, 0, sizeof(*f));
	ck_assert_msg(encconf_load(&f->conf, tu_fixture(config)) == 0, "%s", err_msg());
	ck_assert_msg(xf_new(&f->xf, f->conf, "", "secrets", NULL) == 0, "%s", err_msg());
	f->o.conf = f->conf;
	f->w.o = &f->o;
	f->w.st = &f->st;
	f->w.on_bad = on_bad;
	f->w.arg = f;
	buf_init(&f->w.check, 0);
	buf_init(&f->w.plain, 0);
	buf_init(&f->w.enc_conflict, 0);
	buf_init(&f->out, 0);
}

static void fx_release(struct fixture *f)
{
	buf_release(&f->w.check);
	buf_release(&f->w.plain);
	buf_release(&f->w.enc_conflict);
	buf_release(&f->out);
	xf_free(f->xf);
	encconf_free(f->conf);
}

/* Reads value as the scan would, then lets rw_decide judge it. */
static int decide(struct fixture *f, const void *value, size_t n, int after_conflict, int *need)
{
	struct xf_result res;
	struct buf plain;
	struct etcd_kv kv = { .key = (const uint8_t *)KEY, .key_len = strlen(KEY), .value = value, .value_len = n,
			      .mod_revision = 42 };
	struct scan_item it = { .kv = &kv, .res = &res, .plain = &plain, .xf = f->xf, .revision = 42 };
	int rc;

	buf_init(&plain, 0);
	ck_assert_msg(xf_read(f->xf, &res, &plain, kv.key, kv.key_len, value, n) == 0, "%s", err_msg());
	f->out.len = 0;
	rc = rw_decide(&f->w, &it, after_conflict, need, &f->out);
	buf_release(&plain);
	return rc;
}

/* An aescbc value under key-2025 as the apiserver writes it: prefix, IV, ciphertext. */
static size_t cbc_open(uint8_t *out, size_t cap, const uint8_t *v, size_t n)
{
	static const char prefix[] = "k8s:enc:aescbc:v1:key-2025:";
	size_t pl = sizeof(prefix) - 1, kl;
	uint8_t *key = tu_b64(KEY_2025_B64, &kl);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	ck_assert(kl == 32 && n > pl + 16 && memcmp(v, prefix, pl) == 0);
	ck_assert(n - pl - 16 <= cap);
	ck_assert(EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, v + pl) == 1);
	ck_assert(EVP_DecryptUpdate(c, out, &l1, v + pl + 16, (int)(n - pl - 16)) == 1);
	ck_assert_msg(EVP_DecryptFinal_ex(c, out + l1, &l2) == 1, "bad PKCS#7 padding");
	EVP_CIPHER_CTX_free(c);
	free(key);
	return (size_t)(l1 + l2);
}

START_TEST(test_plaintext_is_sealed_and_verified)
{
	struct fixture f;
	uint8_t back[512];
	int need = -1;

	fx_init(&f, "k8s-vectors/configs/aescbc.yaml");
	ck_assert_int_eq(decide(&f, OBJ, strlen(OBJ), 0, &need), 0);
	ck_assert_int_eq(need, 1);
	ck_assert_uint_eq(f.st.current, 0);
	ck_assert_uint_eq(f.st.unreadable, 0);
	ck_assert_uint_eq(f.st.rewritten, 0); /* counted when its Txn succeeds */
	ck_assert_int_gt(f.st.growth_estimate, 0);
	/* what would be written opens, outside etcdcrypt, to the old plaintext */
	size_t n = cbc_open(back, sizeof(back), f.out.data, f.out.len);
	ck_assert_uint_eq(n, strlen(OBJ));
	ck_assert(memcmp(back, OBJ, n) == 0);
	fx_release(&f);
}
END_TEST

START_TEST(test_current_is_left_alone)
{
	struct fixture f;
	struct buf sealed;
	int need = -1;

	fx_init(&f, "k8s-vectors/configs/aescbc.yaml");
	buf_init(&sealed, 0);
	ck_assert(xf_write(f.xf, &sealed, (const uint8_t *)KEY, strlen(KEY), (const uint8_t *)OBJ, strlen(OBJ)) == 0);
	ck_assert_int_eq(decide(&f, sealed.data, sealed.len, 0, &need), 0);
	ck_assert_int_eq(need, 0);
	ck_assert_uint_eq(f.st.current, 1);
	ck_assert_uint_eq(f.out.len, 0);

	/* --force rewrites current values too ... */
	f.o.force = 1;
	ck_assert_int_eq(decide(&f, sealed.data, sealed.len, 0, &need), 0);
	ck_assert_int_eq(need, 1);
	ck_assert_uint_eq(f.st.current, 1);
	/* ... but a value decided again after a conflict and found current was
	 * written by someone else with the target key: never again */
	ck_assert_int_eq(decide(&f, sealed.data, sealed.len, 1, &need), 0);
	ck_assert_int_eq(need, 0);
	ck_assert_uint_eq(f.st.current, 2);
	buf_release(&sealed);
	fx_release(&f);
}
END_TEST

START_TEST(test_unreadable_is_reported_not_written)
{
	static const char forged[] = "k8s:enc:aescbc:v1:key-1999:0123456789abcdef0123456789abcdef";
	struct fixture f;
	int need = -1;

	fx_init(&f, "k8s-vectors/configs/aescbc.yaml");
	ck_assert_int_eq(decide(&f, forged, strlen(forged), 0, &need), 0);
	ck_assert_int_eq(need, 0);
	ck_assert_uint_eq(f.st.unreadable, 1);
	ck_assert_int_eq(f.bad_calls, 1);
	ck_assert_str_eq(f.bad_key, KEY);
	ck_assert_uint_eq(f.out.len, 0);
	/* --force does not make an unreadable value writable */
	f.o.force = 1;
	ck_assert_int_eq(decide(&f, forged, strlen(forged), 0, &need), 0);
	ck_assert_int_eq(need, 0);
	ck_assert_uint_eq(f.st.unreadable, 2);
	fx_release(&f);
}
END_TEST

START_TEST(test_dry_run_counts_without_writing)
{
	struct fixture f;
	int need = -1;

	fx_init(&f, "k8s-vectors/configs/aescbc.yaml");
	f.o.dry_run = 1;
	ck_assert_int_eq(decide(&f, OBJ, strlen(OBJ), 0, &need), 0);
	ck_assert_int_eq(need, 0);
	ck_assert_uint_eq(f.st.rewritten, 1); /* would be rewritten */
	ck_assert_int_gt(f.st.growth_estimate, 0);
	fx_release(&f);
}
END_TEST

/* identity first: the write target is plaintext; an encrypted value the
 * config still reads is stale and goes back to plaintext, byte for byte */
START_TEST(test_decrypt_to_identity)
{
	static const char cbc2023[] = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
				      "resources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n"
				      "          keys:\n            - name: key-2023\n"
				      "              secret: W8qjsabLjhuVlxqTYCNKbQ==\n";
	struct encconf *c = NULL;
	struct xf *x = NULL;
	struct fixture f;
	struct buf sealed;
	int need = -1;

	ck_assert_msg(encconf_parse(&c, cbc2023, strlen(cbc2023), "cbc2023") == 0, "%s", err_msg());
	ck_assert(xf_new(&x, c, "", "secrets", NULL) == 0);
	buf_init(&sealed, 0);
	ck_assert(xf_write(x, &sealed, (const uint8_t *)KEY, strlen(KEY), (const uint8_t *)OBJ, strlen(OBJ)) == 0);
	ck_assert(sealed.len > 30 && memcmp(sealed.data, "k8s:enc:aescbc:v1:key-2023:", 27) == 0);
	fx_init(&f, "k8s-vectors/configs/identity-first.yaml");
	ck_assert_int_eq(decide(&f, sealed.data, sealed.len, 0, &need), 0);
	ck_assert_int_eq(need, 1);
	ck_assert_uint_eq(f.out.len, strlen(OBJ));
	ck_assert(memcmp(f.out.data, OBJ, f.out.len) == 0);
	buf_release(&sealed);
	xf_free(x);
	encconf_free(c);
	fx_release(&f);
}
END_TEST

/* ---- after a failed compare: one put, its key as re-read ------------------- */

struct conflict {
	struct fixture f;
	struct rw_batch b, redo; /* the failed batch: one put of KEY; what goes out again */
	struct buf sent;         /* the verified value that Txn carried */
};

static void conflict_init(struct conflict *c)
{
	int need = 0;

	fx_init(&c->f, "k8s-vectors/configs/aescbc.yaml");
	memset(&c->b, 0, sizeof(c->b));
	memset(&c->redo, 0, sizeof(c->redo));
	rw_batch_init(&c->b);
	rw_batch_init(&c->redo);
	buf_init(&c->sent, 0);
	ck_assert_int_eq(decide(&c->f, OBJ, strlen(OBJ), 0, &need), 0);
	ck_assert(need == 1 && buf_append(&c->sent, c->f.out.data, c->f.out.len) == 0);
	ck_assert(rw_batch_add(&c->b, (const uint8_t *)KEY, strlen(KEY), c->sent.data, c->sent.len, 42, 0, c->f.xf) == 0);
	memset(&c->f.st, 0, sizeof(c->f.st));
}

static void conflict_release(struct conflict *c)
{
	rw_batch_release(&c->b);
	rw_batch_release(&c->redo);
	buf_release(&c->sent);
	fx_release(&c->f);
}

static int redo(struct conflict *c, const void *value, size_t n, int64_t mod, int64_t lease)
{
	struct etcd_kv kv = { .key = (const uint8_t *)KEY, .key_len = strlen(KEY), .value = value, .value_len = n,
			      .mod_revision = mod, .lease = lease };

	if (value == NULL)
		kv.key = NULL; /* deleted meanwhile */
	return rw_redo_key(&c->f.w, &c->b, &c->b.puts[0], &kv, &c->redo);
}

START_TEST(test_conflict_key_vanished)
{
	struct conflict c;

	conflict_init(&c);
	ck_assert_int_eq(redo(&c, NULL, 0, 0, 0), 0);
	ck_assert_uint_eq(c.f.st.vanished, 1);
	ck_assert_uint_eq(c.redo.n, 0);
	conflict_release(&c);
}
END_TEST

/* the compare failed for another key of the Txn: this one still holds what
 * was read; its verified value goes out again, keeping the lease it has now */
START_TEST(test_conflict_key_unchanged)
{
	static const char stored[] = OBJ;
	struct conflict c;

	conflict_init(&c);
	ck_assert_int_eq(redo(&c, stored, strlen(stored), 42, 7), 0);
	ck_assert_uint_eq(c.redo.n, 1);
	ck_assert_int_eq(c.redo.puts[0].mod_revision, 42);
	ck_assert_int_eq(c.redo.puts[0].lease, 7);
	ck_assert_uint_eq(c.redo.puts[0].val.len, c.sent.len);
	ck_assert(memcmp(c.redo.puts[0].val.data, c.sent.data, c.sent.len) == 0);
	ck_assert_uint_eq(c.f.st.rehandled, 0);
	conflict_release(&c);
}
END_TEST

/* the key holds exactly the bytes we sent (fresh IV: nobody else's): an
 * earlier attempt was applied; counted, not sent again */
START_TEST(test_conflict_key_ours)
{
	struct conflict c;

	conflict_init(&c);
	ck_assert_int_eq(redo(&c, c.sent.data, c.sent.len, 50, 0), 0);
	ck_assert_uint_eq(c.redo.n, 0);
	ck_assert_uint_eq(c.f.st.rewritten, 1);
	ck_assert_int_eq(c.f.st.revision_end, 50);
	conflict_release(&c);
}
END_TEST

/* someone wrote a new plaintext: decided again, sealed from the NEW value */
START_TEST(test_conflict_key_rewritten_by_someone)
{
	static const char newer[] = "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\","
				    "\"namespace\":\"ns\"},\"data\":{\"k\":\"djI=\"}}\n";
	struct conflict c;
	uint8_t back[512];

	conflict_init(&c);
	ck_assert_int_eq(redo(&c, newer, strlen(newer), 51, 0), 0);
	ck_assert_uint_eq(c.f.st.rehandled, 1);
	ck_assert_uint_eq(c.redo.n, 1);
	ck_assert_int_eq(c.redo.puts[0].mod_revision, 51);
	size_t n = cbc_open(back, sizeof(back), c.redo.puts[0].val.data, c.redo.puts[0].val.len);
	ck_assert(n == strlen(newer) && memcmp(back, newer, n) == 0);
	conflict_release(&c);
}
END_TEST

/* the apiserver wrote it meanwhile with the write key: done, even with
 * --force; and a value changed into something unreadable is reported */
START_TEST(test_conflict_key_now_current_or_unreadable)
{
	static const char forged[] = "k8s:enc:aescbc:v1:key-1999:0123456789abcdef0123456789abcdef";
	struct conflict c;
	struct buf theirs;

	conflict_init(&c);
	c.f.o.force = 1;
	buf_init(&theirs, 0);
	ck_assert(xf_write(c.f.xf, &theirs, (const uint8_t *)KEY, strlen(KEY), (const uint8_t *)OBJ, strlen(OBJ)) == 0);
	ck_assert_int_eq(redo(&c, theirs.data, theirs.len, 52, 0), 0);
	ck_assert_uint_eq(c.f.st.current, 1);
	ck_assert_uint_eq(c.redo.n, 0);
	ck_assert_int_eq(redo(&c, forged, strlen(forged), 53, 0), 0);
	ck_assert_uint_eq(c.f.st.unreadable, 1);
	ck_assert_int_eq(c.f.bad_calls, 1);
	ck_assert_uint_eq(c.redo.n, 0);
	ck_assert_uint_eq(c.f.st.rehandled, 2);
	buf_release(&theirs);
	conflict_release(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("rewrite");
	TCase *tc = tcase_create("decide");

	tcase_add_test(tc, test_plaintext_is_sealed_and_verified);
	tcase_add_test(tc, test_current_is_left_alone);
	tcase_add_test(tc, test_unreadable_is_reported_not_written);
	tcase_add_test(tc, test_dry_run_counts_without_writing);
	tcase_add_test(tc, test_decrypt_to_identity);
	suite_add_tcase(s, tc);
	tc = tcase_create("conflict");
	tcase_add_test(tc, test_conflict_key_vanished);
	tcase_add_test(tc, test_conflict_key_unchanged);
	tcase_add_test(tc, test_conflict_key_ours);
	tcase_add_test(tc, test_conflict_key_rewritten_by_someone);
	tcase_add_test(tc, test_conflict_key_now_current_or_unreadable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
