/* test_rwquota: rewrite's quota guard (rw_quota_check) and its growth model
 * (rw_growth_of), without etcd. The model's figures are the ones measured
 * against etcd 3.4 in t_rewrite2.sh; the guard's messages say what to do,
 * and a suggested --compact-every passes when taken. */
#include "base/err.h"
#include "rewrite/rewrite.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define MB ((int64_t)1 << 20)

static struct rw_opts opts(uint64_t compact_every)
{
	struct rw_opts o = { .batch_ops = 8, .inflight = 2, .batch_bytes = RW_DEFAULT_BATCH_BYTES,
			     .compact_every = compact_every };
	return o;
}

START_TEST(growth_model_matches_etcd)
{
	/* a 600-byte loadgen Secret: 38-byte key, 491 bytes encrypted; etcd
	 * 3.4 grew 688 bytes per value (six to a page) */
	int64_t g = rw_growth_of(38, 491);

	ck_assert_int_ge(g, 688);
	ck_assert_int_le(g, 688 * 115 / 100);
	/* 2.5 KiB: two to a node on two pages: 4096 per value measured 4115 */
	g = rw_growth_of(38, 2620);
	ck_assert_int_ge(g, 4115);
	ck_assert_int_le(g, 4115 * 115 / 100);
	/* more bytes never cost less */
	for (size_t v = 1; v < 20000; v += 37)
		ck_assert_int_le(rw_growth_of(38, v), rw_growth_of(38, v + 37));
}
END_TEST

START_TEST(over_the_assumed_default_points_at_quota_bytes)
{
	struct rw_opts o = opts(0);
	struct rw_quota q = { .quota = RW_DEFAULT_QUOTA, .quota_given = 0, .db_size = RW_DEFAULT_QUOTA + MB,
			      .db_size_in_use = MB, .keys = 10, .growth = -1 };

	ck_assert_int_eq(rw_quota_check(&o, &q), ERR_REFUSED);
	ck_assert_ptr_nonnull(strstr(err_msg(), "already"));
	ck_assert_ptr_nonnull(strstr(err_msg(), "2 GiB, etcd's default, assumed"));
	ck_assert_ptr_nonnull(strstr(err_msg(), "pass --quota-bytes"));
	q.quota_given = 1;
	ck_assert_int_eq(rw_quota_check(&o, &q), ERR_REFUSED);
	ck_assert_ptr_nonnull(strstr(err_msg(), "NOSPACE"));
	ck_assert_ptr_null(strstr(err_msg(), "assumed"));
}
END_TEST

START_TEST(bound_then_estimate)
{
	struct rw_opts o = opts(0);
	struct rw_quota q = { .quota = 100 * MB, .quota_given = 1, .db_size = 50 * MB, .db_size_in_use = 20 * MB,
			      .keys = 1000, .growth = -1 };

	ck_assert_int_eq(rw_quota_check(&o, &q), 0);  /* 50 + 2 x 20 fits */
	q.db_size_in_use = 40 * MB;
	ck_assert_int_eq(rw_quota_check(&o, &q), 1);  /* 50 + 80 may not: estimate */
	q.growth = 45 * MB, q.values = 1000;
	ck_assert_int_eq(rw_quota_check(&o, &q), 0);
	q.growth = 60 * MB;
	ck_assert_int_eq(rw_quota_check(&o, &q), ERR_REFUSED);
	ck_assert_ptr_nonnull(strstr(err_msg(), "over the quota"));
}
END_TEST

START_TEST(compact_every_must_fit_too)
{
	struct rw_opts o = opts(1000000);
	struct rw_quota q = { .quota = 100 * MB, .quota_given = 1, .db_size = 90 * MB, .db_size_in_use = 40 * MB,
			      .keys = 10000, .growth = 40 * MB, .values = 10000 };
	const char *at;
	unsigned long long n;

	/* an interval longer than the run bypasses nothing */
	ck_assert_int_eq(rw_quota_check(&o, &q), ERR_REFUSED);
	ck_assert_ptr_nonnull(strstr(err_msg(), "compacting every 1000000 puts"));
	at = strstr(err_msg(), "use --compact-every ");
	ck_assert_ptr_nonnull(at);
	n = strtoull(at + strlen("use --compact-every "), NULL, 10);
	ck_assert_uint_gt(n, 0);
	/* the suggestion fits, one much larger does not */
	o.compact_every = n;
	ck_assert_int_eq(rw_quota_check(&o, &q), 0);
	o.compact_every = n * 3;
	ck_assert_int_eq(rw_quota_check(&o, &q), ERR_REFUSED);
}
END_TEST

static Suite *rwquota_suite(void)
{
	Suite *s = suite_create("rwquota");
	TCase *tc = tcase_create("guard");

	tcase_add_test(tc, growth_model_matches_etcd);
	tcase_add_test(tc, over_the_assumed_default_points_at_quota_bytes);
	tcase_add_test(tc, bound_then_estimate);
	tcase_add_test(tc, compact_every_must_fit_too);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(rwquota_suite());
}
