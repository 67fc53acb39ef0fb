/* test_kms: the KMS plugin client with no plugin process: endpoint
 * overrides and their errors, an endpoint that is not a unix socket, a
 * socket nobody listens on, and a socket that accepts but never answers
 * (the deadline must end the call, the plugin is then down for the run and
 * later calls fail at once without dialling, until a new run). The
 * protocol itself, against
 * a real plugin, is tests/integration/t_kms.sh. */
#include "testutil.h"

#include "base/buf.h"
#include "base/err.h"
#include "kms/kms.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static const uint8_t WRAPPED[] = "not really a wrapped DEK";

static void decrypt(struct kms_set *s, const struct kms_plugin_ref *p, enum kms_fail *fail, char *msg)
{
	struct kms_wrapped w = { "kek-1", 1, NULL, 0, WRAPPED, sizeof(WRAPPED) };
	struct buf plain;

	buf_init(&plain, 0);
	ck_assert_int_eq(kms_set_decrypt(s, p, &w, &plain, fail, msg), 0);
	ck_assert_uint_eq(plain.len, 0);
	buf_release(&plain);
}

START_TEST(test_override_spec)
{
	struct kms_set *s = NULL;

	ck_assert_int_eq(kms_set_new(&s, 0), 0);
	ck_assert_int_eq(kms_set_override(s, "cloud=unix:///run/kms.sock"), 0);
	ck_assert_int_eq(kms_set_override(s, "cloud=/run/kms.sock"), ERR_USAGE);
	ck_assert_int_eq(kms_set_override(s, "=unix:///run/kms.sock"), ERR_USAGE);
	ck_assert_int_eq(kms_set_override(s, "cloud"), ERR_USAGE);
	ck_assert_int_eq(kms_set_override(s, "cloud=unix:///"), ERR_USAGE);
	ck_assert_uint_eq(kms_set_n_plugins(s), 0); /* nothing dialled yet */
	kms_set_free(s);
}
END_TEST

START_TEST(test_not_a_unix_endpoint)
{
	struct kms_plugin_ref p = { "cloud", "tcp://127.0.0.1:1", 1000, 2 };
	struct kms_set *s = NULL;
	struct kms_stats st;
	enum kms_fail fail;
	char msg[KMS_MSG_MAX];

	ck_assert_int_eq(kms_set_new(&s, 0), 0);
	decrypt(s, &p, &fail, msg);
	ck_assert_int_eq(fail, KMS_UNAVAILABLE);
	ck_assert_msg(strstr(msg, "'cloud'") && strstr(msg, "tcp://127.0.0.1:1") && strstr(msg, "unix:///"), "%s", msg);
	kms_set_stats(s, 0, &st);
	ck_assert_uint_eq(st.decrypt_calls, 0); /* never dialled */
	ck_assert_int_eq(st.down, 1);
	kms_set_free(s);
}
END_TEST

START_TEST(test_missing_socket_and_override)
{
	char ep[128], spec[160];
	struct kms_plugin_ref p = { "cloud", "unix:///var/run/kmsplugin/nowhere.sock", 3000, 2 };
	struct kms_set *s = NULL;
	struct kms_stats st;
	struct timespec t0;
	enum kms_fail fail;
	char msg[KMS_MSG_MAX];

	snprintf(ep, sizeof(ep), "unix:///tmp/etcdcrypt-test-kms-%d.sock", (int)getpid());
	snprintf(spec, sizeof(spec), "cloud=%s", ep);
	ck_assert_int_eq(kms_set_new(&s, 0), 0);
	ck_assert_int_eq(kms_set_override(s, spec), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	decrypt(s, &p, &fail, msg);
	ck_assert_int_eq(fail, KMS_UNAVAILABLE);
	ck_assert_msg(strstr(msg, ep) && strstr(msg, "UNAVAILABLE"), "%s", msg); /* the override was dialled */
	ck_assert_msg(ms_since(&t0) < 2000, "a missing socket fails fast, took %ld ms", ms_since(&t0));
	kms_set_stats(s, 0, &st);
	ck_assert_str_eq(st.endpoint, ep);
	ck_assert_int_eq(st.down, 1);
	kms_set_free(s);
}
END_TEST

START_TEST(test_silent_socket_deadline)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char ep[160];
	struct kms_plugin_ref p = { "slow", ep, 500, 2 };
	struct kms_set *s = NULL;
	struct kms_status status;
	struct kms_stats st;
	struct timespec t0;
	enum kms_fail fail;
	char msg[KMS_MSG_MAX];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* a socket that accepts connections (the kernel's backlog) and never speaks */
	snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/etcdcrypt-test-silent-%d.sock", (int)getpid());
	unlink(a.sun_path);
	ck_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 16) == 0);
	snprintf(ep, sizeof(ep), "unix://%s", a.sun_path);
	ck_assert_int_eq(kms_set_new(&s, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	decrypt(s, &p, &fail, msg);
	ck_assert_int_eq(fail, KMS_UNAVAILABLE);
	ck_assert_msg(ms_since(&t0) >= 400 && ms_since(&t0) < 2500, "deadline of 500 ms, took %ld ms", ms_since(&t0));
	/* later calls: at once, with the same reason, no new call */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(kms_set_status(s, &p, &status, &fail, msg), 0);
	ck_assert_int_eq(fail, KMS_UNAVAILABLE);
	ck_assert_msg(strstr(msg, "'slow'"), "%s", msg);
	ck_assert_msg(ms_since(&t0) < 100, "a down plugin answers at once, took %ld ms", ms_since(&t0));
	kms_set_stats(s, 0, &st);
	ck_assert_uint_eq(st.decrypt_calls, 1);
	ck_assert_uint_eq(st.failed_calls, 1);
	ck_assert_int_eq(st.down, 1);
	/* the same wrapped DEK again: the cached failure */
	decrypt(s, &p, &fail, msg);
	ck_assert_int_eq(fail, KMS_UNAVAILABLE);
	kms_set_stats(s, 0, &st);
	ck_assert_uint_eq(st.cache_hits, 1);
	/* a long-lived process starts a new run: the plugin is asked again */
	kms_set_new_run(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	decrypt(s, &p, &fail, msg);
	ck_assert_int_eq(fail, KMS_UNAVAILABLE);
	ck_assert_msg(ms_since(&t0) >= 400, "new run: dialled again, took %ld ms", ms_since(&t0));
	kms_set_stats(s, 0, &st);
	ck_assert_uint_eq(st.decrypt_calls, 2);
	kms_set_free(s);
	close(fd);
	unlink(a.sun_path);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("kms");
	TCase *tc = tcase_create("client");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_override_spec);
	tcase_add_test(tc, test_not_a_unix_endpoint);
	tcase_add_test(tc, test_missing_socket_and_override);
	tcase_add_test(tc, test_silent_socket_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
