/* test_keyspace: the range ends the scan cuts (scan/keyspace.h), no etcd.
 * Correctness rests on one property: an end is strictly after the range's
 * start and never after the range end, whatever the guess; the guesses
 * themselves are checked for sense (a denser page gives a narrower step, an
 * empty range a wider one). The scan over real key sets is
 * tests/etcd/test_scan.c. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "scan/keyspace.h"
#include "testutil.h"

/* The cut itself: strictly after the start, never after the end. */
START_TEST(test_next_end_bounds)
{
	struct buf out;
	uint32_t x = 99;

	buf_init(&out, 0);
	for (int t = 0; t < 200000; t++) {
		uint8_t cur[24], end[24];
		size_t cl, el;
		struct ks_step st;

		do {
			cl = 1 + (x = x * 1103515245u + 12345u) % 20;
			el = 1 + (x = x * 1103515245u + 12345u) % 20;
			for (size_t i = 0; i < 24; i++) {
				x = x * 1103515245u + 12345u;
				/* few distinct bytes: long common prefixes, 0x00 and 0xff */
				uint8_t pick[] = { 0x00, 0x01, 'a', 0xfe, 0xff };
				cur[i] = pick[(x >> 16) % 5];
				end[i] = pick[(x >> 8) % 5];
			}
		} while (ks_cmp_end(cur, cl, end, el) >= 0);
		st.valid = (x >> 5) % 7 != 0;
		st.d = (x >> 9) % 24;
		st.delta = (x >> 12) % 3 == 0 ? UINT64_MAX - (x % 5) : ((uint64_t)x << ((x >> 20) % 40)) | 1;
		ck_assert_int_eq(ks_next_end(&out, &st, cur, cl, end, el), 0);
		ck_assert_msg(ks_cmp_end(cur, cl, out.data, out.len) < 0, "end not after the start (trial %d)", t);
		ck_assert_msg(ks_cmp_end(out.data, out.len, end, el) <= 0 &&
				      (out.len != el || memcmp(out.data, end, el) == 0 ||
				       ks_cmp_end(out.data, out.len, end, el) < 0),
			      "end after the range end (trial %d)", t);
	}
	buf_release(&out);
}
END_TEST

/* Ten keys over a span give a step ten times wider than a hundred over it. */
START_TEST(test_step_density)
{
	struct ks_step a, b;

	ks_step_from_page(&a, (const uint8_t *)"ns/a000", 7, (const uint8_t *)"ns/z999", 7, 10, 100);
	ks_step_from_page(&b, (const uint8_t *)"ns/a000", 7, (const uint8_t *)"ns/z999", 7, 100, 100);
	ck_assert_int_eq(a.d, 3);
	ck_assert(a.valid && b.valid);
	ck_assert(ks_step_wider(&a, &b));
	ck_assert(!ks_step_wider(&b, &a));
	/* keys that differ only past the frame: the smallest step, not 0 */
	ks_step_from_page(&a, (const uint8_t *)"p0000000000x1", 13, (const uint8_t *)"p0000000000x2", 13, 2, 1000);
	ck_assert(a.delta >= 1);
}
END_TEST

START_TEST(test_widen)
{
	struct ks_step a, w;

	ks_step_from_page(&a, (const uint8_t *)"ns/secret-0001", 14, (const uint8_t *)"ns/secret-0999", 14, 999, 750);
	w = a;
	ks_step_widen(&w);
	ck_assert(ks_step_wider(&w, &a));
	/* at frame 0 it saturates instead of wrapping */
	w.d = 0;
	w.delta = UINT64_MAX - 3;
	ks_step_widen(&w);
	ck_assert(w.delta == UINT64_MAX);
}
END_TEST

/* No guess yet: the whole range. */
START_TEST(test_no_guess)
{
	struct ks_step st = { 0 };
	struct buf out;

	buf_init(&out, 0);
	ck_assert_int_eq(ks_next_end(&out, &st, (const uint8_t *)"/r/", 3, (const uint8_t *)"/r0", 3), 0);
	ck_assert(out.len == 3 && memcmp(out.data, "/r0", 3) == 0);
	buf_release(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keyspace");
	TCase *tc = tcase_create("cuts");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_next_end_bounds);
	tcase_add_test(tc, test_step_density);
	tcase_add_test(tc, test_widen);
	tcase_add_test(tc, test_no_guess);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
