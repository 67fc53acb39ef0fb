/* test_scan: the scan cuts each prefix into ranges of the key space by
 * guessing densities (scan/keyspace.h). Against a real etcd: key sets shaped
 * to fool the guess (a dense cluster after sparse keys, keys that differ only
 * far past their common prefix, 0x00 and 0xff bytes, keys that are prefixes
 * of others, random binary keys) are read at several page sizes; every key
 * must come back exactly once, in key order, and the number of Range
 * requests must stay near keys / page size. Needs ETCDCRYPT_TEST_ENDPOINT
 * (tests/run.sh). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "etcd/etcd.h"
#include "scan/scan.h"
#include "testutil.h"

#define MAXK 8000

static char run_prefix[64];

struct keyset {
	uint8_t *k[MAXK];
	size_t len[MAXK];
	size_t n;
};

static struct etcd_client *open_plain(void)
{
	static const char *eps[1];
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	const char *ep = getenv("ETCDCRYPT_TEST_ENDPOINT");

	ck_assert_msg(ep && *ep, "ETCDCRYPT_TEST_ENDPOINT is not set: run through tests/run.sh");
	eps[0] = ep;
	memset(&o, 0, sizeof(o));
	o.endpoints = eps;
	o.n_endpoints = 1;
	o.dial_timeout_ms = 3000;
	o.command_timeout_ms = 60000;
	ck_assert_msg(etcd_open(&c, &o) == 0, "open: %s", err_msg());
	return c;
}

static void ks_add(struct keyset *s, const char *prefix, const uint8_t *suffix, size_t n)
{
	size_t pl = strlen(prefix);

	/* each key once: a Txn may not put one key twice */
	for (size_t j = 0; j < s->n; j++)
		if (s->len[j] == pl + n && memcmp(s->k[j] + pl, suffix, n) == 0)
			return;
	ck_assert(s->n < MAXK);
	s->k[s->n] = malloc(pl + n);
	memcpy(s->k[s->n], prefix, pl);
	memcpy(s->k[s->n] + pl, suffix, n);
	s->len[s->n++] = pl + n;
}

static void ks_adds(struct keyset *s, const char *prefix, const char *suffix)
{
	ks_add(s, prefix, (const uint8_t *)suffix, strlen(suffix));
}

static int cmp_key(const void *a, const void *b, const struct keyset *s)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	size_t n = s->len[i] < s->len[j] ? s->len[i] : s->len[j];
	int c = memcmp(s->k[i], s->k[j], n);

	return c ? c : (s->len[i] > s->len[j]) - (s->len[i] < s->len[j]);
}

static const struct keyset *sort_set;
static int cmp_idx(const void *a, const void *b)
{
	return cmp_key(a, b, sort_set);
}

/* Writes every key (128 per Txn), value "v". */
static void load(struct etcd_client *c, const struct keyset *s)
{
	struct etcd_cas_put ops[128];

	for (size_t i = 0; i < s->n; i += 128) {
		size_t m = s->n - i < 128 ? s->n - i : 128;
		int ok = 0;
		int64_t rev;

		for (size_t j = 0; j < m; j++) {
			memset(&ops[j], 0, sizeof(ops[j]));
			ops[j].key = s->k[i + j];
			ops[j].key_len = s->len[i + j];
			ops[j].value = (const uint8_t *)"v";
			ops[j].value_len = 1;
		}
		ck_assert_msg(etcd_txn_cas(c, &ok, &rev, ops, m) == 0, "load: %s", err_msg());
		ck_assert_msg(ok, "load: a key existed already");
	}
}

struct seen {
	const struct keyset *want;
	size_t *order; /* indexes of want in key order */
	size_t next;
	int bad;
	char why[256];
};

static int on_value(void *arg, const struct scan_item *it)
{
	struct seen *v = arg;
	size_t i;

	if (v->bad)
		return 0;
	if (v->next >= v->want->n) {
		v->bad = 1;
		snprintf(v->why, sizeof(v->why), "more keys than written (%zu)", v->want->n);
		return 0;
	}
	i = v->order[v->next];
	if (it->kv->key_len != v->want->len[i] || memcmp(it->kv->key, v->want->k[i], it->kv->key_len) != 0) {
		v->bad = 1;
		snprintf(v->why, sizeof(v->why), "key %zu in order is not the expected one (missing, repeated or out of order)",
			 v->next);
	}
	v->next++;
	return 0;
}

/* Reads the resource back at page size ps; every key once, in order. */
static void check_read(struct etcd_client *c, const char *res, const struct keyset *s, int64_t ps)
{
	struct res_id id = { { 0 }, { 0 } };
	struct scan_opts o;
	struct scan *sc = NULL;
	struct seen v = { 0 };
	size_t *order = malloc(s->n * sizeof(*order));
	uint64_t ranges, bound;
	char ep[128];

	for (size_t i = 0; i < s->n; i++)
		order[i] = i;
	sort_set = s;
	qsort(order, s->n, sizeof(*order), cmp_idx);
	v.want = s;
	v.order = order;
	snprintf(id.resource, sizeof(id.resource), "%s", res);
	snprintf(ep, sizeof(ep), "%s", run_prefix);
	memset(&o, 0, sizeof(o));
	o.etcd_prefix = ep;
	o.resources = &id;
	o.n_resources = 1;
	o.page_size = ps;
	ck_assert_msg(scan_new(&sc, c, &o) == 0, "scan_new: %s", err_msg());
	ck_assert_msg(scan_run(sc, on_value, NULL, &v) == 0, "%s at page size %lld: %s", res, (long long)ps,
		      err_msg());
	ck_assert_msg(!v.bad, "%s at page size %lld: %s", res, (long long)ps, v.why);
	ck_assert_msg(v.next == s->n, "%s at page size %lld: %zu of %zu keys read", res, (long long)ps, v.next, s->n);
	/* near keys / (3/4 page) ranges: a wrong guess costs a few more, a
	 * quadratic or key-by-key walk many more */
	ranges = scan_ranges(sc);
	bound = 8 + 4 * (s->n / (uint64_t)ps) + 40;
	ck_assert_msg(ranges <= bound, "%s at page size %lld: %llu Range requests for %zu keys (bound %llu)", res,
		      (long long)ps, (unsigned long long)ranges, s->n, (unsigned long long)bound);
	scan_free(sc);
	free(order);
}

static void free_set(struct keyset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->k[i]);
	s->n = 0;
}

static char *res_prefix_of(char *buf, size_t cap, const char *res)
{
	snprintf(buf, cap, "%s/%s/", run_prefix, res);
	return buf;
}

static void run_shape(const char *res, void (*make)(struct keyset *, const char *))
{
	struct etcd_client *c = open_plain();
	static struct keyset s;
	static const int64_t sizes[] = { 1, 2, 3, 10, 100, 1000 };
	char p[128];

	make(&s, res_prefix_of(p, sizeof(p), res));
	load(c, &s);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i] * 2 >= (int64_t)(s.n / 300)) /* page size 1 over 5000 keys: too slow to be useful */
			check_read(c, res, &s, sizes[i]);
	free_set(&s);
	etcd_close(c);
}

/* 40 sparse keys, a cluster of 3000 that share 30 bytes, 40 sparse after */
static void make_cluster(struct keyset *s, const char *p)
{
	char b[128];

	for (int i = 0; i < 40; i++) {
		snprintf(b, sizeof(b), "a%02d/x", i);
		ks_adds(s, p, b);
	}
	for (int i = 0; i < 3000; i++) {
		snprintf(b, sizeof(b), "kube-system/secret-token-%07d", i * 7);
		ks_adds(s, p, b);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(b, sizeof(b), "z%c/y", 'a' + i % 26);
		ks_adds(s, p, b);
	}
}

/* namespaces of very different sizes, names differing only 40 bytes in */
static void make_deep(struct keyset *s, const char *p)
{
	char b[160];
	int sizes[] = { 1, 2000, 3, 700, 1, 1, 1500, 10 };

	for (int n = 0; n < 8; n++)
		for (int i = 0; i < sizes[n]; i++) {
			snprintf(b, sizeof(b), "ns-%d/%s-%05d", n,
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", i);
			ks_adds(s, p, b);
		}
}

/* 0x00 and 0xff runs, keys that are prefixes of others, the prefix itself */
static void make_bytes(struct keyset *s, const char *p)
{
	uint8_t b[32] = { 0 };

	ks_add(s, p, b, 0); /* the key equal to the prefix */
	for (int len = 1; len <= 12; len++) {
		memset(b, 0x00, sizeof(b));
		ks_add(s, p, b, (size_t)len);
		memset(b, 0xff, sizeof(b));
		ks_add(s, p, b, (size_t)len);
		memset(b, 'a', sizeof(b));
		b[len - 1] = 0xff;
		ks_add(s, p, b, (size_t)len);
		b[len - 1] = 0x00;
		ks_add(s, p, b, (size_t)len);
	}
	for (int i = 0; i < 300; i++) {
		memset(b, 0xff, sizeof(b));
		b[9] = (uint8_t)(i >> 8);
		b[10] = (uint8_t)i;
		ks_add(s, p, b, 11 + (size_t)(i % 3));
	}
}

/* random binary keys of random lengths (fixed seed) */
static void make_random(struct keyset *s, const char *p)
{
	uint8_t b[48];
	uint32_t x = 12345;

	while (s->n < 2500) {
		size_t len = 1 + (x >> 3) % 40;

		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			b[i] = (uint8_t)(x >> 16);
		}
		ks_add(s, p, b, len);
	}
}

static void make_one(struct keyset *s, const char *p)
{
	ks_adds(s, p, "only");
}

START_TEST(test_cluster)
{
	run_shape("cluster", make_cluster);
}
END_TEST

START_TEST(test_deep)
{
	run_shape("deep", make_deep);
}
END_TEST

START_TEST(test_bytes)
{
	run_shape("bytes", make_bytes);
}
END_TEST

START_TEST(test_random)
{
	run_shape("random", make_random);
}
END_TEST

START_TEST(test_one)
{
	run_shape("one", make_one);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scan");
	TCase *tc = tcase_create("keyspace");

	snprintf(run_prefix, sizeof(run_prefix), "/etcdcrypt-test/scan-%d-%ld", (int)getpid(), (long)time(NULL));
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_cluster);
	tcase_add_test(tc, test_deep);
	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_one);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
