/* test_etcd: the etcd client against real etcd servers (no mocks).
 *
 * The integration tier (tests/etcd/: make check, not make check-unit):
 * tests/run.sh starts three etcds and exports ETCDCRYPT_TEST_ENDPOINT (plain),
 * ETCDCRYPT_TEST_TLS_ENDPOINT + ETCDCRYPT_TEST_TLS_CERTS (client certs) and
 * ETCDCRYPT_TEST_AUTH_ENDPOINT (root/rootpw, app/apppw on /registry/). A
 * missing variable fails the test. gRPC is only ever initialised inside the
 * tests, which Check runs in forked children (docs/grpc-notes.md §5). Keys live
 * under a prefix unique to this run, so reruns do not collide. */
#include <arpa/inet.h>
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "bolt/snapshot.h"
#include "etcd/etcd.h"

static char run_prefix[64]; /* "/etcdcrypt-test/<pid>-<time>" */

static const char *need_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v && *v, "%s is not set: run this suite through tests/run.sh, which starts etcd", name);
	return v;
}

static void opts_init(struct etcd_opts *o, const char **eps, size_t n)
{
	memset(o, 0, sizeof(*o));
	o->endpoints = eps;
	o->n_endpoints = n;
	o->dial_timeout_ms = 3000;
	o->command_timeout_ms = 20000;
	/* under valgrind (tests/run.sh exports VALGRIND=1) a TLS handshake on a
	 * busy machine can take longer than a real client ever waits */
	if (getenv("VALGRIND") != NULL && strcmp(getenv("VALGRIND"), "1") == 0) {
		o->dial_timeout_ms *= 10;
		o->command_timeout_ms *= 3;
	}
}

static struct etcd_client *open_plain(void)
{
	static const char *eps[1];
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	int rc;

	eps[0] = need_env("ETCDCRYPT_TEST_ENDPOINT");
	opts_init(&o, eps, 1);
	rc = etcd_open(&c, &o);
	ck_assert_msg(rc == 0, "open: %s", err_msg());
	return c;
}

/* A key under this run's prefix: <run>/<test>/<name>. */
static size_t mkkey(char *buf, size_t size, const char *test, const char *name)
{
	int n = snprintf(buf, size, "%s/%s/%s", run_prefix, test, name);

	ck_assert(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static int64_t put_str(struct etcd_client *c, const char *key, const char *value)
{
	int64_t rev = 0;
	int rc = etcd_put(c, &rev, (const uint8_t *)key, strlen(key), (const uint8_t *)value, strlen(value), 0);

	ck_assert_msg(rc == 0, "put %s: %s", key, err_msg());
	return rev;
}

static int range_prefix(struct etcd_client *c, struct etcd_range_resp *r, const char *prefix, int keys_only,
			int count_only)
{
	uint8_t end[256];
	struct etcd_range_req q;

	memset(&q, 0, sizeof(q));
	q.key = (const uint8_t *)prefix;
	q.key_len = strlen(prefix);
	q.range_end = end;
	q.range_end_len = etcd_prefix_end(end, q.key, q.key_len);
	q.keys_only = keys_only;
	q.count_only = count_only;
	return etcd_range(c, r, &q);
}

static int kv_is(const struct etcd_kv *kv, const char *key, const char *value)
{
	return kv->key_len == strlen(key) && memcmp(kv->key, key, kv->key_len) == 0 &&
	       (!value || (kv->value_len == strlen(value) && memcmp(kv->value, value, kv->value_len) == 0));
}

/* A loopback port nobody listens on. */
static int dead_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd); /* bound but never listened: connecting is refused */
	return ntohs(a.sin_port);
}

/* A loopback port that accepts TCP connections (the kernel's backlog) but
 * never answers: what a SIGSTOPped etcd looks like. *fd_out: close it. */
static int hung_port(int *fd_out)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	ck_assert(listen(fd, 64) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*fd_out = fd;
	return ntohs(a.sin_port);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- KV ------------------------------------------------------------------ */

START_TEST(test_put_range_prefix)
{
	struct etcd_client *c = open_plain();
	struct etcd_range_resp r;
	char k1[128], k2[128], k3[128], pfx[128];
	int rc;

	mkkey(k1, sizeof(k1), "range", "t1/a");
	mkkey(k2, sizeof(k2), "range", "t1/b");
	mkkey(k3, sizeof(k3), "range", "t10");
	mkkey(pfx, sizeof(pfx), "range", "t1/");
	put_str(c, k1, "va");
	put_str(c, k2, "vb");
	put_str(c, k3, "v10");

	rc = range_prefix(c, &r, pfx, 0, 0);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_uint_eq(r.n_kvs, 2); /* /t1/ must not match /t10 */
	ck_assert(kv_is(&r.kvs[0], k1, "va"));
	ck_assert(kv_is(&r.kvs[1], k2, "vb"));
	ck_assert_int_gt(r.kvs[0].mod_revision, 0);
	ck_assert_int_eq(r.kvs[0].version, 1);
	ck_assert_int_gt(r.revision, 0);
	etcd_range_resp_release(&r);
	etcd_range_resp_release(&r); /* idempotent */

	rc = range_prefix(c, &r, pfx, 1, 0);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_uint_eq(r.n_kvs, 2);
	ck_assert(kv_is(&r.kvs[0], k1, NULL));
	ck_assert_uint_eq(r.kvs[0].value_len, 0); /* keys_only */
	etcd_range_resp_release(&r);

	rc = range_prefix(c, &r, pfx, 0, 1);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_uint_eq(r.n_kvs, 0); /* count_only */
	ck_assert_int_eq(r.count, 2);
	etcd_range_resp_release(&r);

	{ /* a single key */
		struct etcd_range_req q;

		memset(&q, 0, sizeof(q));
		q.key = (const uint8_t *)k3;
		q.key_len = strlen(k3);
		rc = etcd_range(c, &r, &q);
		ck_assert_msg(rc == 0, "%s", err_msg());
		ck_assert_uint_eq(r.n_kvs, 1);
		ck_assert(kv_is(&r.kvs[0], k3, "v10"));
		etcd_range_resp_release(&r);
	}
	{
		int64_t deleted = -1;

		rc = etcd_delete(c, &deleted, (const uint8_t *)k3, strlen(k3), NULL, 0);
		ck_assert_msg(rc == 0, "%s", err_msg());
		ck_assert_int_eq(deleted, 1);
	}
	etcd_close(c);
}
END_TEST

START_TEST(test_pager_fixed_revision)
{
	struct etcd_client *c = open_plain();
	struct etcd_pager *p = NULL;
	const struct etcd_range_resp *page;
	char key[128], pfx[128], last[128] = "";
	uint8_t end[128];
	size_t end_len, total = 0, pages = 0;
	int64_t rev;
	int i, rc;

	mkkey(pfx, sizeof(pfx), "pager", "");
	for (i = 0; i < 25; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%02d", i);
		mkkey(key, sizeof(key), "pager", name);
		put_str(c, key, "v");
	}
	end_len = etcd_prefix_end(end, (const uint8_t *)pfx, strlen(pfx));
	rc = etcd_pager_new(&p, c, (const uint8_t *)pfx, strlen(pfx), end, end_len, 10, 0);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_int_eq(etcd_pager_revision(p), 0);
	while ((rc = etcd_pager_next(p, &page)) == 1) {
		size_t j;

		if (pages == 0) {
			rev = etcd_pager_revision(p);
			ck_assert_int_gt(rev, 0);
			/* written between pages: the pager must not see it */
			mkkey(key, sizeof(key), "pager", "k99-late");
			put_str(c, key, "late");
		}
		ck_assert_int_eq(page->revision, rev);
		for (j = 0; j < page->n_kvs; j++) {
			char k[128];

			ck_assert_uint_lt(page->kvs[j].key_len, sizeof(k));
			memcpy(k, page->kvs[j].key, page->kvs[j].key_len);
			k[page->kvs[j].key_len] = '\0';
			ck_assert_msg(strcmp(k, last) > 0, "keys out of order: %s after %s", k, last);
			ck_assert_msg(strstr(k, "late") == NULL, "pager saw a key written after its revision");
			strcpy(last, k);
			total++;
		}
		pages++;
	}
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_uint_eq(total, 25);
	ck_assert_uint_eq(pages, 3);
	ck_assert_int_eq(etcd_pager_next(p, &page), 0);
	etcd_pager_free(p);

	/* freeing with a prefetch in flight */
	rc = etcd_pager_new(&p, c, (const uint8_t *)pfx, strlen(pfx), end, end_len, 5, 0);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(etcd_pager_next(p, &page), 1);
	etcd_pager_free(p);
	etcd_close(c);
}
END_TEST

static struct etcd_cas_put cas(const char *key, const char *value, int64_t mod_revision, int64_t lease)
{
	struct etcd_cas_put o;

	o.key = (const uint8_t *)key;
	o.key_len = strlen(key);
	o.value = (const uint8_t *)value;
	o.value_len = strlen(value);
	o.mod_revision = mod_revision;
	o.lease = lease;
	return o;
}

static void get_one(struct etcd_client *c, const char *key, struct etcd_range_resp *r)
{
	struct etcd_range_req q;
	int rc;

	memset(&q, 0, sizeof(q));
	q.key = (const uint8_t *)key;
	q.key_len = strlen(key);
	rc = etcd_range(c, r, &q);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_uint_eq(r->n_kvs, 1);
}

START_TEST(test_txn_cas)
{
	struct etcd_client *c = open_plain();
	struct etcd_range_resp r;
	struct etcd_cas_put op;
	char key[128], fresh[128];
	int64_t rev, rev2 = 0;
	int ok = -1, rc;

	mkkey(key, sizeof(key), "txn", "k");
	rev = put_str(c, key, "old");
	op = cas(key, "new", rev, 0);
	rc = etcd_txn_cas(c, &ok, &rev2, &op, 1);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_int_eq(ok, 1);
	ck_assert_int_gt(rev2, rev);

	op = cas(key, "stale", rev, 0); /* rev is no longer the mod_revision */
	rc = etcd_txn_cas(c, &ok, NULL, &op, 1);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_int_eq(ok, 0);
	get_one(c, key, &r);
	ck_assert(kv_is(&r.kvs[0], key, "new"));
	etcd_range_resp_release(&r);

	/* mod_revision 0: create only if absent */
	mkkey(fresh, sizeof(fresh), "txn", "fresh");
	op = cas(fresh, "created", 0, 0);
	rc = etcd_txn_cas(c, &ok, NULL, &op, 1);
	ck_assert_msg(rc == 0 && ok == 1, "%s", err_msg());
	rc = etcd_txn_cas(c, &ok, NULL, &op, 1);
	ck_assert_msg(rc == 0 && ok == 0, "%s", err_msg());
	etcd_close(c);
}
END_TEST

START_TEST(test_txn_lease)
{
	struct etcd_client *c = open_plain();
	struct etcd_range_resp r;
	struct etcd_cas_put op;
	char key[128];
	int64_t lease = 0, rev;
	int ok = 0, rc;

	rc = etcd_lease_grant(c, &lease, 600);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_int_ne(lease, 0);
	mkkey(key, sizeof(key), "lease", "k");
	rc = etcd_put(c, &rev, (const uint8_t *)key, strlen(key), (const uint8_t *)"v1", 2, lease);
	ck_assert_msg(rc == 0, "%s", err_msg());
	op = cas(key, "v2", rev, lease);
	rc = etcd_txn_cas(c, &ok, NULL, &op, 1);
	ck_assert_msg(rc == 0 && ok == 1, "%s", err_msg());
	get_one(c, key, &r);
	ck_assert(kv_is(&r.kvs[0], key, "v2"));
	ck_assert_int_eq(r.kvs[0].lease, lease);
	etcd_range_resp_release(&r);
	etcd_close(c);
}
END_TEST

/* A write naming a lease that no longer exists is ERR_LEASE_NOTFOUND, the
 * code rewrite keys its one-by-one handling on (never the message text). */
START_TEST(test_txn_lease_gone)
{
	struct etcd_client *c = open_plain();
	struct etcd_cas_put op;
	char key[128];
	int64_t rev;
	int ok = 0, rc;

	mkkey(key, sizeof(key), "lease", "gone");
	rev = put_str(c, key, "v1");
	op = cas(key, "v2", rev, 0x7eadbeef12345678LL); /* never granted */
	rc = etcd_txn_cas(c, &ok, NULL, &op, 1);
	ck_assert_msg(rc == ERR_LEASE_NOTFOUND, "rc %d: %s", rc, err_msg());
	etcd_close(c);
}
END_TEST

START_TEST(test_txn_limits)
{
	struct etcd_client *c = open_plain();
	static struct etcd_cas_put ops[129];
	static char keys[129][128];
	int ok = 0, rc;
	size_t i;

	for (i = 0; i < 129; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%03zu", i);
		mkkey(keys[i], sizeof(keys[i]), "limits", name);
		ops[i] = cas(keys[i], "v", 0, 0);
	}
	rc = etcd_txn_cas(c, &ok, NULL, ops, 129);
	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(err_msg(), "128") != NULL, "%s", err_msg());
	rc = etcd_txn_cas(c, &ok, NULL, ops, 128);
	ck_assert_msg(rc == 0 && ok == 1, "%s", err_msg());
	rc = etcd_txn_cas(c, &ok, NULL, ops, 0);
	ck_assert_int_lt(rc, 0);
	etcd_close(c);
}
END_TEST

START_TEST(test_compacted)
{
	struct etcd_client *c = open_plain();
	struct etcd_range_req q;
	struct etcd_range_resp r;
	char key[128], want[160];
	int64_t rev1, rev2;
	int rc;

	mkkey(key, sizeof(key), "compact", "k");
	rev1 = put_str(c, key, "a");
	rev2 = put_str(c, key, "b");
	rc = etcd_compact(c, rev2, 1);
	ck_assert_msg(rc == 0, "%s", err_msg());
	memset(&q, 0, sizeof(q));
	q.key = (const uint8_t *)key;
	q.key_len = strlen(key);
	q.revision = rev1;
	rc = etcd_range(c, &r, &q);
	ck_assert_int_eq(rc, ERR_COMPACTED);
	snprintf(want, sizeof(want), "etcd %s: OUT_OF_RANGE: etcdserver: mvcc: required revision has been compacted",
		 etcd_endpoint(c));
	ck_assert_str_eq(err_msg(), want);

	/* the pager reports it too */
	{
		struct etcd_pager *p = NULL;
		const struct etcd_range_resp *page;

		rc = etcd_pager_new(&p, c, q.key, q.key_len, NULL, 0, 10, rev1);
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(etcd_pager_next(p, &page), ERR_COMPACTED);
		etcd_pager_free(p);
	}
	etcd_close(c);
}
END_TEST

/* ---- connection ---------------------------------------------------------- */

START_TEST(test_dead_endpoint)
{
	char dead[64];
	const char *eps[1] = { dead };
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	double t0;
	int rc;

	/* a live client first, so grpc_init's start-up is not part of the timing */
	struct etcd_client *live = open_plain();

	snprintf(dead, sizeof(dead), "127.0.0.1:%d", dead_port());
	opts_init(&o, eps, 1);
	o.dial_timeout_ms = 10000; /* fail-fast: the refusal, not the timeout, ends it */
	t0 = now_ms();
	rc = etcd_open(&c, &o);
	ck_assert_int_eq(rc, ERR_UNAVAILABLE);
	ck_assert_ptr_null(c);
	ck_assert_msg(now_ms() - t0 < 1500, "took %.0f ms", now_ms() - t0);
	etcd_close(live);
	ck_assert_msg(strstr(err_msg(), dead) && strstr(err_msg(), "UNAVAILABLE"), "%s", err_msg());
}
END_TEST

START_TEST(test_failover)
{
	char dead[64];
	const char *eps[2] = { dead, NULL };
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	char key[128];
	int rc;

	eps[1] = need_env("ETCDCRYPT_TEST_ENDPOINT");
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", dead_port());
	opts_init(&o, eps, 2);
	rc = etcd_open(&c, &o);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_str_eq(etcd_endpoint(c), eps[1]);
	mkkey(key, sizeof(key), "failover", "k");
	put_str(c, key, "v");
	etcd_close(c);
}
END_TEST


START_TEST(test_endpoint_check)
{
	static const char *const good[] = { "127.0.0.1:2379", "localhost:1", "http://h:65535/", "https://[::1]:2379" };
	static const char *const bad[] = { "127.0.0.1:abc", "127.0.0.1:0", "h:70000", ":2379", "127.0.0.1", "::1:2379",
					   "h:12ab", "ftp://h:1", "h:" };
	const char *eps[1] = { "127.0.0.1:abc" };
	struct etcd_opts o;
	struct etcd_client *c = NULL;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(etcd_endpoint_check(good[i]) == 0, "%s: %s", good[i], err_msg());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(etcd_endpoint_check(bad[i]) == ERR_USAGE, "%s accepted", bad[i]);
		ck_assert_msg(strstr(err_msg(), bad[i]), "%s: %s", bad[i], err_msg());
	}
	etcd_endpoint_check("127.0.0.1:abc");
	ck_assert_msg(strstr(err_msg(), "'abc' is not a port number"), "%s", err_msg());
	opts_init(&o, eps, 1);
	ck_assert_int_eq(etcd_open(&c, &o), ERR_USAGE);
	ck_assert_ptr_null(c);
}
END_TEST

/* A hung first endpoint costs one dial timeout; the message of a failed
 * dial names every endpoint, the hung one first. */
START_TEST(test_hung_endpoint)
{
	char hung[64], dead[64];
	const char *eps[2] = { hung, NULL };
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	double t0;
	int fd, rc;

	snprintf(hung, sizeof(hung), "127.0.0.1:%d", hung_port(&fd));
	eps[1] = need_env("ETCDCRYPT_TEST_ENDPOINT");
	opts_init(&o, eps, 2);
	o.dial_timeout_ms = 400;
	t0 = now_ms();
	rc = etcd_open(&c, &o);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_msg(now_ms() - t0 < 1500, "took %.0f ms", now_ms() - t0);
	ck_assert_str_eq(etcd_endpoint(c), eps[1]);
	etcd_close(c);

	snprintf(dead, sizeof(dead), "127.0.0.1:%d", dead_port());
	eps[0] = dead;
	eps[1] = hung;
	rc = etcd_open(&c, &o);
	ck_assert_int_eq(rc, ERR_UNAVAILABLE);
	ck_assert_msg(strstr(err_msg(), hung) && strstr(err_msg(), "no answer within 0.4 s") &&
			      strstr(err_msg(), dead) && strstr(err_msg(), "connection refused") &&
			      strstr(err_msg(), hung) < strstr(err_msg(), dead),
		      "%s", err_msg());
	close(fd);
}
END_TEST

static volatile sig_atomic_t stop_flag;

static void *set_stop_later(void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	stop_flag = 1;
	return NULL;
}

/* The stop flag ends a dial to a hung member, and every call after it, at
 * once: no deadline is waited out. */
START_TEST(test_stop_flag)
{
	char hung[64];
	const char *eps[1] = { hung };
	struct etcd_opts o;
	struct etcd_client *c = NULL, *live;
	struct etcd_range_req q = { .key = (const uint8_t *)"a", .key_len = 1 };
	struct etcd_range_resp r;
	pthread_t th;
	double t0;
	int fd, rc;

	snprintf(hung, sizeof(hung), "127.0.0.1:%d", hung_port(&fd));
	opts_init(&o, eps, 1);
	o.dial_timeout_ms = 20000;
	o.stop = &stop_flag;
	stop_flag = 0;
	ck_assert(pthread_create(&th, NULL, set_stop_later, NULL) == 0);
	t0 = now_ms();
	rc = etcd_open(&c, &o);
	pthread_join(th, NULL);
	ck_assert_int_eq(rc, ERR_INTERRUPTED);
	ck_assert_msg(now_ms() - t0 < 1500, "took %.0f ms", now_ms() - t0);
	close(fd);

	stop_flag = 0;
	eps[0] = need_env("ETCDCRYPT_TEST_ENDPOINT");
	rc = etcd_open(&live, &o);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_int_eq(etcd_sleep(live, 1), 0);
	stop_flag = 1;
	t0 = now_ms();
	ck_assert_int_eq(etcd_sleep(live, 10000), ERR_INTERRUPTED);
	ck_assert_int_eq(etcd_range(live, &r, &q), ERR_INTERRUPTED);
	ck_assert_msg(now_ms() - t0 < 200, "took %.0f ms", now_ms() - t0);
	etcd_close(live);
}
END_TEST

/* After a stop, etcd_cleanup_begin opens one window (at most 0.5 s) in
 * which calls run again; it never opens without a stop, never reopens,
 * never extends. */
START_TEST(test_cleanup_window)
{
	const char *eps[1] = { need_env("ETCDCRYPT_TEST_ENDPOINT") };
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	struct etcd_range_req q = { .key = (const uint8_t *)"a", .key_len = 1 };
	struct etcd_range_resp r = { 0 };
	double t0;
	int rc;

	opts_init(&o, eps, 1);
	o.stop = &stop_flag;
	stop_flag = 0;
	rc = etcd_open(&c, &o);
	ck_assert_msg(rc == 0, "%s", err_msg());
	etcd_cleanup_begin(c, 500); /* no stop: nothing opens */
	stop_flag = 1;
	ck_assert_int_eq(etcd_range(c, &r, &q), ERR_INTERRUPTED);
	t0 = now_ms();
	etcd_cleanup_begin(c, 60000); /* capped at ETCD_CLEANUP_MAX_MS */
	rc = etcd_range(c, &r, &q);
	ck_assert_msg(rc == 0, "%s", err_msg());
	etcd_range_resp_release(&r);
	ck_assert_int_eq(etcd_stopped(c), 0);
	usleep((useconds_t)((ETCD_CLEANUP_MAX_MS + 50) * 1000 - (now_ms() - t0) * 1000));
	ck_assert_int_eq(etcd_range(c, &r, &q), ERR_INTERRUPTED);
	ck_assert_int_eq(etcd_stopped(c), 1);
	etcd_cleanup_begin(c, 500); /* once per client */
	ck_assert_int_eq(etcd_range(c, &r, &q), ERR_INTERRUPTED);
	stop_flag = 0;
	etcd_close(c);
}
END_TEST

static int open_tls(struct etcd_client **c, const char *ca, const char *cert, const char *key)
{
	static char ep[128], paths[3][512];
	const char *eps[1] = { ep };
	const char *dir = need_env("ETCDCRYPT_TEST_TLS_CERTS");
	struct etcd_opts o;

	snprintf(ep, sizeof(ep), "https://%s", need_env("ETCDCRYPT_TEST_TLS_ENDPOINT"));
	opts_init(&o, eps, 1);
	if (ca)
		snprintf(paths[0], sizeof(paths[0]), "%s/%s", ca[0] == '/' ? "" : dir, ca);
	snprintf(paths[1], sizeof(paths[1]), "%s/%s", dir, cert);
	snprintf(paths[2], sizeof(paths[2]), "%s/%s", dir, key);
	o.cacert = ca ? (ca[0] == '/' ? ca : paths[0]) : NULL;
	o.cert = paths[1];
	o.key = paths[2];
	return etcd_open(c, &o);
}

START_TEST(test_tls_ok)
{
	struct etcd_client *c = NULL;
	struct etcd_range_resp r;
	char key[128];
	int rc = open_tls(&c, "ca.crt", "client.crt", "client.key");

	ck_assert_msg(rc == 0, "%s", err_msg());
	mkkey(key, sizeof(key), "tls", "k");
	put_str(c, key, "secret");
	get_one(c, key, &r);
	ck_assert(kv_is(&r.kvs[0], key, "secret"));
	etcd_range_resp_release(&r);
	etcd_close(c);
}
END_TEST

START_TEST(test_tls_other_ca_cert)
{
	struct etcd_client *c = NULL;
	int rc = open_tls(&c, "ca.crt", "other.crt", "other.key");

	ck_assert_int_eq(rc, ERR_UNAVAILABLE);
	ck_assert_msg(strstr(err_msg(), "TLS handshake failed") && strstr(err_msg(), "rejected"), "%s", err_msg());
	ck_assert_msg(strstr(err_msg(), need_env("ETCDCRYPT_TEST_TLS_ENDPOINT")), "%s", err_msg());
}
END_TEST

START_TEST(test_tls_wrong_ca)
{
	struct etcd_client *c = NULL;
	int rc = open_tls(&c, "other-ca.crt", "client.crt", "client.key");

	ck_assert_int_eq(rc, ERR_UNAVAILABLE);
	ck_assert_msg(strstr(err_msg(), "TLS handshake failed") && strstr(err_msg(), "cacert"), "%s", err_msg());
}
END_TEST

START_TEST(test_tls_garbage_pem)
{
	char path[] = "/tmp/etcdcrypt-test-pem-XXXXXX";
	struct etcd_client *c = NULL;
	int fd = mkstemp(path), rc;

	ck_assert(fd >= 0);
	ck_assert(write(fd, "this is not a certificate\n", 26) == 26);
	close(fd);
	rc = open_tls(&c, path, "client.crt", "client.key");
	unlink(path);
	ck_assert_int_eq(rc, ERR_TLS);
	ck_assert_msg(strstr(err_msg(), path) && strstr(err_msg(), "cacert"), "%s", err_msg());

	rc = open_tls(&c, "ca.crt", "client.crt", "ca.crt"); /* a certificate where the key should be */
	ck_assert_int_eq(rc, ERR_TLS);
	ck_assert_msg(strstr(err_msg(), "ca.crt") && strstr(err_msg(), "private key"), "%s", err_msg());

	rc = open_tls(&c, "ca.crt", "client.crt", "no-such.key");
	ck_assert_int_eq(rc, ERR_TLS);
	ck_assert_msg(strstr(err_msg(), "no-such.key"), "%s", err_msg());
}
END_TEST

START_TEST(test_plain_to_tls)
{
	const char *eps[1];
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	int rc;

	eps[0] = need_env("ETCDCRYPT_TEST_TLS_ENDPOINT");
	opts_init(&o, eps, 1);
	rc = etcd_open(&c, &o);
	ck_assert_int_eq(rc, ERR_UNAVAILABLE);
	ck_assert_msg(strstr(err_msg(), "https://"), "%s", err_msg());
}
END_TEST

START_TEST(test_tls_key_mismatch)
{
	struct etcd_client *c = NULL;
	int rc = open_tls(&c, "ca.crt", "client.crt", "other.key");

	ck_assert_int_eq(rc, ERR_TLS);
	ck_assert_msg(strstr(err_msg(), "does not match") && strstr(err_msg(), "other.key"), "%s", err_msg());
}
END_TEST

static struct etcd_watch *watch_prefix(struct etcd_client *c, const char *pfx, int64_t start);

/* ---- auth ---------------------------------------------------------------- */

static int open_auth(struct etcd_client **c, const char *user, const char *password)
{
	static const char *eps[1];
	struct etcd_opts o;

	eps[0] = need_env("ETCDCRYPT_TEST_AUTH_ENDPOINT");
	opts_init(&o, eps, 1);
	o.user = user;
	o.password = password;
	return etcd_open(c, &o);
}

START_TEST(test_auth_ok)
{
	struct etcd_client *c = NULL;
	struct etcd_range_resp r;
	char key[160];
	int rc = open_auth(&c, "app", "apppw");

	ck_assert_msg(rc == 0, "%s", err_msg());
	snprintf(key, sizeof(key), "/registry%s/auth/k", run_prefix);
	put_str(c, key, "v");
	get_one(c, key, &r);
	ck_assert(kv_is(&r.kvs[0], key, "v"));

	{ /* the pager and a watch carry the token too */
		struct etcd_pager *p = NULL;
		const struct etcd_range_resp *page;
		struct etcd_watch *w = NULL;
		struct etcd_watch_batch b;
		char pfx[160];

		uint8_t end[160];

		snprintf(pfx, sizeof(pfx), "/registry%s/", run_prefix);
		rc = etcd_pager_new(&p, c, (const uint8_t *)pfx, strlen(pfx), end,
				    etcd_prefix_end(end, (const uint8_t *)pfx, strlen(pfx)), 1, 0);
		ck_assert_int_eq(rc, 0);
		ck_assert_msg(etcd_pager_next(p, &page) == 1, "%s", err_msg());
		ck_assert(kv_is(&page->kvs[0], key, "v"));
		etcd_pager_free(p);
		w = watch_prefix(c, pfx, r.kvs[0].mod_revision);
		rc = etcd_watch_next(w, &b, 10000);
		ck_assert_msg(rc == 1 && b.n_events == 1, "rc %d: %s", rc, err_msg());
		etcd_watch_close(w);
		w = watch_prefix(c, "/other/", 0);
		rc = etcd_watch_next(w, &b, 10000);
		ck_assert_int_eq(rc, ERR_AUTH);
		ck_assert_int_eq(etcd_watch_next(w, &b, 10), ERR_AUTH);
		etcd_watch_close(w);
	}
	etcd_range_resp_release(&r);

	/* app may not read outside /registry/ */
	{
		struct etcd_range_req q;

		memset(&q, 0, sizeof(q));
		q.key = (const uint8_t *)"/other";
		q.key_len = 6;
		rc = etcd_range(c, &r, &q);
		ck_assert_int_eq(rc, ERR_AUTH);
		ck_assert_msg(strstr(err_msg(), "permission denied"), "%s", err_msg());
	}
	etcd_close(c);
}
END_TEST

/* run.sh starts the auth etcd with --auth-token-ttl 2: a token older than
 * that is refused, and the client must authenticate again once and retry */
START_TEST(test_auth_token_expiry)
{
	struct etcd_client *c = NULL;
	struct etcd_range_resp r;
	char key[160];
	int rc = open_auth(&c, "app", "apppw");

	ck_assert_msg(rc == 0, "%s", err_msg());
	snprintf(key, sizeof(key), "/registry%s/auth/ttl", run_prefix);
	put_str(c, key, "before");
	sleep(4);
	put_str(c, key, "after"); /* fails unless the expired token was renewed */
	get_one(c, key, &r);
	ck_assert(kv_is(&r.kvs[0], key, "after"));
	etcd_range_resp_release(&r);
	etcd_close(c);
}
END_TEST

START_TEST(test_auth_wrong_password)
{
	struct etcd_client *c = NULL;
	int rc = open_auth(&c, "app", "wrong");

	ck_assert_int_eq(rc, ERR_AUTH);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err_msg(), "authentication failed"), "%s", err_msg());
}
END_TEST

START_TEST(test_auth_no_user)
{
	struct etcd_client *c = NULL;
	struct etcd_range_resp r;
	struct etcd_range_req q;
	int rc = open_auth(&c, NULL, NULL);

	/* reachable, so open works; the read is refused */
	ck_assert_msg(rc == 0, "%s", err_msg());
	memset(&q, 0, sizeof(q));
	q.key = (const uint8_t *)"/registry/x";
	q.key_len = 11;
	rc = etcd_range(c, &r, &q);
	ck_assert_int_eq(rc, ERR_AUTH);
	etcd_close(c);
}
END_TEST

/* ---- maintenance --------------------------------------------------------- */

START_TEST(test_maintenance)
{
	struct etcd_client *c = open_plain();
	struct etcd_status st;
	unsigned alarms = 99;
	int rc;

	rc = etcd_status(c, &st);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_msg(strncmp(st.version, "3.", 2) == 0, "version '%s'", st.version);
	ck_assert_int_gt(st.db_size, 0);
	ck_assert_int_gt(st.db_size_in_use, 0);
	ck_assert_int_gt(st.revision, 0);
	ck_assert(st.member_id != 0 && st.leader == st.member_id);
	ck_assert_int_eq(st.n_errors, 0);
	rc = etcd_alarms(c, &alarms);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_uint_eq(alarms, 0);
	rc = etcd_defragment(c);
	ck_assert_msg(rc == 0, "%s", err_msg());
	etcd_close(c);
}
END_TEST

/* ---- async ----------------------------------------------------------------- */

START_TEST(test_async)
{
	struct etcd_client *c = open_plain();
	struct etcd_async *a = NULL;
	struct etcd_async_result res;
	static char keys[50][128];
	static struct etcd_cas_put ops[50];
	int seen[50] = { 0 }, i, rc, done = 0;

	for (i = 0; i < 50; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%02d", i);
		mkkey(keys[i], sizeof(keys[i]), "async", name);
		ops[i] = cas(keys[i], "v", 0, 0);
	}
	rc = etcd_async_new(&a, c, 8);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(etcd_async_wait(a, &res), ERR_INTERNAL);
	for (i = 0; i < 50; i++) {
		if (etcd_async_inflight(a) == 8) {
			ck_assert_int_eq(etcd_async_txn_cas(a, &ops[i], 1, &seen[i]), ERR_INTERNAL);
			rc = etcd_async_wait(a, &res);
			ck_assert_int_eq(rc, 0);
			ck_assert_msg(res.rc == 0 && res.succeeded, "txn: %d %s", res.rc, res.rc_msg);
			(*(int *)res.user)++;
			done++;
		}
		rc = etcd_async_txn_cas(a, &ops[i], 1, &seen[i]);
		ck_assert_msg(rc == 0, "%s", err_msg());
	}
	while (etcd_async_inflight(a) > 0) {
		rc = etcd_async_wait(a, &res);
		ck_assert_int_eq(rc, 0);
		ck_assert_msg(res.rc == 0 && res.succeeded, "txn: %d %s", res.rc, res.rc_msg);
		ck_assert_int_gt(res.revision, 0);
		(*(int *)res.user)++;
		done++;
	}
	ck_assert_int_eq(done, 50);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(seen[i], 1);

	/* a second round: every compare fails now; free with calls in flight */
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(etcd_async_txn_cas(a, &ops[i], 1, NULL), 0);
	rc = etcd_async_wait(a, &res);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(res.rc, 0);
	ck_assert_int_eq(res.succeeded, 0);
	etcd_async_free(a);
	etcd_close(c);
}
END_TEST

/* ---- watch ----------------------------------------------------------------- */

static struct etcd_watch *watch_prefix(struct etcd_client *c, const char *pfx, int64_t start)
{
	static uint8_t end[256];
	struct etcd_watch *w = NULL;
	size_t n = etcd_prefix_end(end, (const uint8_t *)pfx, strlen(pfx));
	int rc = etcd_watch_open(&w, c, (const uint8_t *)pfx, strlen(pfx), end, n, start);

	ck_assert_msg(rc == 0, "%s", err_msg());
	return w;
}

START_TEST(test_watch_compacted)
{
	struct etcd_client *c = open_plain();
	struct etcd_watch *w;
	struct etcd_watch_batch b;
	char key[128], pfx[128];
	int64_t rev1, rev2;
	int rc;

	mkkey(key, sizeof(key), "wcompact", "k");
	mkkey(pfx, sizeof(pfx), "wcompact", "");
	rev1 = put_str(c, key, "a");
	rev2 = put_str(c, key, "b");
	rc = etcd_compact(c, rev2, 1);
	ck_assert_msg(rc == 0, "%s", err_msg());
	w = watch_prefix(c, pfx, rev1);
	rc = etcd_watch_next(w, &b, 10000);
	ck_assert_msg(rc == 1, "rc %d: %s", rc, err_msg());
	ck_assert_int_eq(b.canceled, 1);
	ck_assert_int_ge(b.compact_revision, rev2);
	ck_assert_uint_eq(b.n_events, 0);
	etcd_watch_close(w);
	etcd_close(c);
}
END_TEST

START_TEST(test_watch_replay)
{
	struct etcd_client *c = open_plain();
	struct etcd_watch *w;
	struct etcd_watch_batch b;
	char ka[128], kb[128], kc[128], pfx[128], got[4][128];
	enum etcd_event_type types[4];
	int64_t first, last = 0;
	size_t n = 0, i;
	int rc;

	mkkey(ka, sizeof(ka), "wreplay", "a");
	mkkey(kb, sizeof(kb), "wreplay", "b");
	mkkey(kc, sizeof(kc), "wreplay", "c");
	mkkey(pfx, sizeof(pfx), "wreplay", "");
	first = put_str(c, ka, "1");
	put_str(c, kb, "2");
	put_str(c, kc, "3");
	rc = etcd_delete(c, NULL, (const uint8_t *)kb, strlen(kb), NULL, 0);
	ck_assert_msg(rc == 0, "%s", err_msg());
	w = watch_prefix(c, pfx, first);
	while (n < 4) {
		rc = etcd_watch_next(w, &b, 10000);
		ck_assert_msg(rc == 1, "rc %d after %zu events: %s", rc, n, err_msg());
		ck_assert_int_eq(b.canceled, 0);
		for (i = 0; i < b.n_events && n < 4; i++, n++) {
			ck_assert_uint_lt(b.events[i].kv.key_len, sizeof(got[n]));
			memcpy(got[n], b.events[i].kv.key, b.events[i].kv.key_len);
			got[n][b.events[i].kv.key_len] = '\0';
			types[n] = b.events[i].type;
			ck_assert_int_gt(b.events[i].kv.mod_revision, last);
			last = b.events[i].kv.mod_revision;
		}
	}
	ck_assert_str_eq(got[0], ka);
	ck_assert_str_eq(got[1], kb);
	ck_assert_str_eq(got[2], kc);
	ck_assert_str_eq(got[3], kb);
	ck_assert(types[0] == ETCD_EVENT_PUT && types[1] == ETCD_EVENT_PUT && types[2] == ETCD_EVENT_PUT);
	ck_assert(types[3] == ETCD_EVENT_DELETE);

	/* nothing more: a timeout, then a live event */
	rc = etcd_watch_next(w, &b, 200);
	ck_assert_int_eq(rc, 0);
	put_str(c, ka, "live");
	rc = etcd_watch_next(w, &b, 10000);
	ck_assert_msg(rc == 1, "%s", err_msg());
	ck_assert_uint_eq(b.n_events, 1);
	ck_assert(kv_is(&b.events[0].kv, ka, "live"));
	etcd_watch_close(w);
	etcd_close(c);
}
END_TEST

START_TEST(test_watch_large_joined)
{
	struct etcd_client *c = open_plain();
	struct etcd_watch *w;
	struct etcd_watch_batch b;
	char key[128], pfx[128];
	size_t vlen = 100 * 1024, i;
	uint8_t *value = malloc(vlen);
	int64_t first = 0, rev;
	int rc;

	ck_assert_ptr_nonnull(value);
	mkkey(pfx, sizeof(pfx), "wlarge", "");
	for (i = 0; i < 40; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%02zu", i);
		mkkey(key, sizeof(key), "wlarge", name);
		memset(value, 'a' + (int)(i % 26), vlen);
		rc = etcd_put(c, &rev, (const uint8_t *)key, strlen(key), value, vlen, 0);
		ck_assert_msg(rc == 0, "%s", err_msg());
		if (i == 0)
			first = rev;
	}
	free(value);
	/* about 4 MB of replay: etcd sends fragments of ~2 MB; one batch comes back */
	w = watch_prefix(c, pfx, first);
	rc = etcd_watch_next(w, &b, 20000);
	ck_assert_msg(rc == 1, "rc %d: %s", rc, err_msg());
	ck_assert_uint_eq(b.n_events, 40);
	for (i = 0; i < 40; i++) {
		ck_assert_uint_eq(b.events[i].kv.value_len, vlen);
		ck_assert_int_eq(b.events[i].kv.value[vlen - 1], 'a' + (int)(i % 26));
		ck_assert_int_eq(b.events[i].kv.mod_revision, first + (int64_t)i);
	}
	etcd_watch_close(w);
	etcd_close(c);
}
END_TEST

/* ---- snapshot stream ------------------------------------------------------ */

struct snapbuf {
	uint8_t *p;
	size_t n, cap;
	uint64_t total;
	int fail; /* return this from the first call */
};

static int snap_sink(void *arg, const uint8_t *p, size_t n, uint64_t total)
{
	struct snapbuf *b = arg;

	if (b->fail)
		return err_set(b->fail, "sink refused");
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->total = total;
	return 0;
}

/* ---- a member that hangs on demand -------------------------------------
 * A TCP proxy to the live etcd whose byte pumps can be frozen: connections
 * stay open and new ones are accepted, but nothing moves, exactly what a
 * SIGSTOPped etcd looks like to a client. Threads and sockets live until
 * the test process ends. */
struct hproxy {
	int lfd;
	int port;
	struct sockaddr_in up;
	volatile int frozen;
};

struct hpump {
	struct hproxy *px;
	int from, to;
};

static void *hpump_run(void *arg)
{
	struct hpump *p = arg;
	char buf[16384];

	for (;;) {
		struct pollfd pf = { p->from, POLLIN, 0 };
		ssize_t n;

		if (p->px->frozen || poll(&pf, 1, 20) <= 0 || p->px->frozen) {
			usleep(10 * 1000); /* frozen: checked again after the poll */
			continue;
		}
		if ((n = read(p->from, buf, sizeof(buf))) <= 0)
			break;
		for (ssize_t off = 0; off < n;) {
			/* the peer may have closed: an error, not a SIGPIPE that kills the suite */
			ssize_t w = send(p->to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);

			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	shutdown(p->to, SHUT_WR);
	free(p);
	return NULL;
}

static void hpump_start(struct hproxy *px, int from, int to)
{
	struct hpump *p = malloc(sizeof(*p));
	pthread_t th;

	ck_assert_ptr_nonnull(p);
	*p = (struct hpump){ px, from, to };
	ck_assert(pthread_create(&th, NULL, hpump_run, p) == 0);
	pthread_detach(th);
}

static void *hproxy_accept(void *arg)
{
	struct hproxy *px = arg;

	for (;;) {
		int c = accept(px->lfd, NULL, NULL), u;

		if (c < 0)
			break;
		u = socket(AF_INET, SOCK_STREAM, 0);
		if (u < 0 || connect(u, (struct sockaddr *)&px->up, sizeof(px->up)) != 0) {
			close(c);
			if (u >= 0)
				close(u);
			continue;
		}
		hpump_start(px, c, u);
		hpump_start(px, u, c);
	}
	return NULL;
}

static void hproxy_start(struct hproxy *px, const char *upstream)
{
	const char *colon = strrchr(upstream, ':');
	pthread_t th;

	memset(px, 0, sizeof(*px));
	ck_assert_ptr_nonnull(colon);
	px->up.sin_family = AF_INET;
	px->up.sin_port = htons((uint16_t)atoi(colon + 1));
	px->up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	px->port = hung_port(&px->lfd); /* listening: accept() takes them */
	ck_assert(pthread_create(&th, NULL, hproxy_accept, px) == 0);
	pthread_detach(th);
}

/* A client whose first endpoint is px (then the live etcd), on px. */
static struct etcd_client *open_via(struct hproxy *px, char *ep, size_t size, long cmd_ms)
{
	static const char *eps[2];
	struct etcd_opts o;
	struct etcd_client *c = NULL;
	int rc;

	snprintf(ep, size, "127.0.0.1:%d", px->port);
	eps[0] = ep;
	eps[1] = need_env("ETCDCRYPT_TEST_ENDPOINT");
	opts_init(&o, eps, 2);
	o.command_timeout_ms = cmd_ms;
	px->frozen = 0;
	rc = etcd_open(&c, &o);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_str_eq(etcd_endpoint(c), ep);
	return c;
}

/* The member in use hangs: every call that is safe to repeat goes on on the
 * next endpoint after one command timeout; a plain Put is not repeated. */
START_TEST(test_hung_member_failover)
{
	static struct hproxy px; /* its threads outlive the test */
	char ep[64], key[128];
	struct etcd_client *c;
	struct etcd_range_resp r;
	struct etcd_range_req q;
	struct etcd_cas_put op;
	struct etcd_async *a = NULL;
	struct etcd_async_result res;
	struct snapbuf b = { 0 };
	int64_t rev;
	double t0, ms;

	hproxy_start(&px, need_env("ETCDCRYPT_TEST_ENDPOINT"));
	mkkey(key, sizeof(key), "hung", "k");
	memset(&q, 0, sizeof(q));
	q.key = (const uint8_t *)key;
	q.key_len = strlen(key);

	/* a read */
	c = open_via(&px, ep, sizeof(ep), 600);
	rev = put_str(c, key, "v1");
	px.frozen = 1;
	t0 = now_ms();
	ck_assert_msg(etcd_range(c, &r, &q) == 0, "%s", err_msg());
	ms = now_ms() - t0;
	ck_assert_msg(ms >= 550 && ms < 2500, "range took %.0f ms", ms);
	ck_assert_int_eq((int)r.n_kvs, 1);
	ck_assert_str_ne(etcd_endpoint(c), ep);
	etcd_range_resp_release(&r);
	etcd_close(c);

	/* a CAS Txn in flight (the async writer) */
	c = open_via(&px, ep, sizeof(ep), 600);
	ck_assert_int_eq(etcd_async_new(&a, c, 4), 0);
	op = (struct etcd_cas_put){ (const uint8_t *)key, strlen(key), (const uint8_t *)"v2", 2, rev, 0 };
	px.frozen = 1;
	ck_assert_int_eq(etcd_async_txn_cas(a, &op, 1, NULL), 0);
	ck_assert_int_eq(etcd_async_wait(a, &res), 0);
	ck_assert_msg(res.rc == 0 && res.succeeded, "rc %d succeeded %d: %s", res.rc, res.succeeded, res.rc_msg);
	ck_assert_str_ne(etcd_endpoint(c), ep);
	etcd_async_free(a);
	etcd_close(c);

	/* a pager */
	c = open_via(&px, ep, sizeof(ep), 600);
	px.frozen = 1;
	{
		struct etcd_pager *p = NULL;
		const struct etcd_range_resp *page;

		ck_assert_int_eq(etcd_pager_new(&p, c, q.key, q.key_len, NULL, 0, 10, 0), 0);
		ck_assert_msg(etcd_pager_next(p, &page) == 1, "%s", err_msg());
		ck_assert(kv_is(&page->kvs[0], key, "v2"));
		etcd_pager_free(p);
	}
	etcd_close(c);

	/* a plain Put is not repeated: it may be applied once the member wakes */
	c = open_via(&px, ep, sizeof(ep), 600);
	px.frozen = 1;
	ck_assert_int_eq(etcd_put(c, NULL, q.key, q.key_len, (const uint8_t *)"v3", 2, 0), ERR_UNAVAILABLE);
	ck_assert_msg(strstr(err_msg(), "DEADLINE_EXCEEDED") && strstr(err_msg(), ep), "%s", err_msg());
	etcd_close(c);

	/* a snapshot stream that never starts */
	c = open_via(&px, ep, sizeof(ep), 600);
	px.frozen = 1;
	ck_assert_msg(etcd_snapshot(c, snap_sink, &b, NULL) == 0, "%s", err_msg());
	ck_assert_uint_eq(b.n, b.total + 32);
	ck_assert_str_ne(etcd_endpoint(c), ep);
	free(b.p);
	etcd_close(c);
	px.frozen = 0;
}
END_TEST

START_TEST(test_snapshot_stream)
{
	struct etcd_client *c = open_plain();
	struct snapbuf b = { 0 }, b2 = { 0 };
	const struct snap_info *in;
	volatile sig_atomic_t stop = 1;
	struct snap *s = NULL;
	char key[128];
	int64_t rev;
	int rc;

	mkkey(key, sizeof(key), "snapshot", "k");
	rev = put_str(c, key, "v");
	rc = etcd_snapshot(c, snap_sink, &b, NULL);
	ck_assert_msg(rc == 0, "%s", err_msg());
	/* the database, then its SHA-256: an etcdctl snapshot file */
	ck_assert_uint_gt(b.total, 0);
	ck_assert_uint_eq(b.n, b.total + 32);
	ck_assert_msg(snap_open_mem(&s, b.p, b.n) == 0, "%s", err_msg());
	ck_assert_int_eq(snap_check_trailer(s, NULL, NULL), 0);
	ck_assert_int_eq(snap_index(s, NULL, NULL), 0);
	in = snap_get_info(s);
	ck_assert(in->has_trailer && in->trailer_matches);
	ck_assert_int_ge(in->revision, rev);
	snap_free(s);
	/* a stop flag already set: interrupted, nothing delivered */
	ck_assert_int_eq(etcd_snapshot(c, snap_sink, &b2, &stop), ERR_INTERRUPTED);
	ck_assert_uint_eq(b2.n, 0);
	/* the sink's error ends the stream with its code */
	b2.fail = ERR_IO;
	ck_assert_int_eq(etcd_snapshot(c, snap_sink, &b2, NULL), ERR_IO);
	free(b.p);
	free(b2.p);
	etcd_close(c);
}
END_TEST

START_TEST(test_snapshot_needs_root)
{
	struct etcd_client *c = NULL;
	struct snapbuf b = { 0 };
	int rc = open_auth(&c, "app", "apppw");

	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_int_eq(etcd_snapshot(c, snap_sink, &b, NULL), ERR_AUTH);
	ck_assert_msg(strstr(err_msg(), "permission denied") != NULL, "%s", err_msg());
	ck_assert_uint_eq(b.n, 0);
	etcd_close(c);
	rc = open_auth(&c, "root", "rootpw");
	ck_assert_msg(rc == 0, "%s", err_msg());
	rc = etcd_snapshot(c, snap_sink, &b, NULL);
	ck_assert_msg(rc == 0, "%s", err_msg());
	ck_assert_uint_eq(b.n, b.total + 32);
	free(b.p);
	etcd_close(c);
}
END_TEST

static Suite *etcd_suite(void)
{
	Suite *s = suite_create("etcd");
	TCase *t = tcase_create("etcd");

	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_put_range_prefix);
	tcase_add_test(t, test_pager_fixed_revision);
	tcase_add_test(t, test_txn_cas);
	tcase_add_test(t, test_txn_lease);
	tcase_add_test(t, test_txn_lease_gone);
	tcase_add_test(t, test_txn_limits);
	tcase_add_test(t, test_compacted);
	tcase_add_test(t, test_dead_endpoint);
	tcase_add_test(t, test_failover);
	tcase_add_test(t, test_endpoint_check);
	tcase_add_test(t, test_hung_endpoint);
	tcase_add_test(t, test_stop_flag);
	tcase_add_test(t, test_cleanup_window);
	tcase_add_test(t, test_hung_member_failover);
	tcase_add_test(t, test_tls_ok);
	tcase_add_test(t, test_tls_other_ca_cert);
	tcase_add_test(t, test_tls_wrong_ca);
	tcase_add_test(t, test_tls_garbage_pem);
	tcase_add_test(t, test_tls_key_mismatch);
	tcase_add_test(t, test_plain_to_tls);
	tcase_add_test(t, test_auth_ok);
	tcase_add_test(t, test_auth_wrong_password);
	tcase_add_test(t, test_auth_token_expiry);
	tcase_add_test(t, test_auth_no_user);
	tcase_add_test(t, test_maintenance);
	tcase_add_test(t, test_async);
	tcase_add_test(t, test_watch_compacted);
	tcase_add_test(t, test_watch_replay);
	tcase_add_test(t, test_watch_large_joined);
	tcase_add_test(t, test_snapshot_stream);
	tcase_add_test(t, test_snapshot_needs_root);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(etcd_suite());
	int failed;

	snprintf(run_prefix, sizeof(run_prefix), "/etcdcrypt-test/%ld-%ld", (long)getpid(), (long)time(NULL));
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
