/* keyspace: range ends guessed from key density; see keyspace.h. */
#include "keyspace.h"
#include "base/err.h"
#include "etcd/etcd.h" /* etcd_prefix_end: pure */

#include <string.h>

#define KS_FRAME 8 /* bytes read as a number after the kept ones */

/* The KS_FRAME bytes of key after d, zero-padded, big-endian. */
static uint64_t frame_at(const uint8_t *key, size_t len, size_t d)
{
	uint64_t v = 0;

	for (size_t i = 0; i < KS_FRAME; i++)
		v = v << 8 | (d + i < len ? key[d + i] : 0);
	return v;
}

static size_t common_prefix(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl, i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

void ks_step_from_page(struct ks_step *st, const uint8_t *first, size_t first_len, const uint8_t *last,
		       size_t last_len, uint64_t n, uint64_t target)
{
	size_t d = common_prefix(first, first_len, last, last_len);
	uint64_t a = frame_at(first, first_len, d), b = frame_at(last, last_len, d);
	long double want;

	/* keys that differ only after the frame span 0: the step stays 1 and
	 * a range that holds too many keys is cut again at its last key */
	want = b > a && n > 1 ? (long double)(b - a) * (long double)target / (long double)(n - 1) : 1.0L;
	st->d = d;
	st->delta = want >= 18446744073709551615.0L ? UINT64_MAX : want < 1.0L ? 1 : (uint64_t)want;
	st->valid = 1;
}

/* Four times wider. Asking for too few keys costs a round trip; asking for
 * too many costs etcd an index walk over every key in the range (it walks
 * the whole range whatever the limit: ~1 us a key on etcd 3.4, 0.5 s for a
 * range over 400k keys), and keys cluster (a namespace), so a range that
 * widens past a gap must not land far inside the clusters behind it. */
void ks_step_widen(struct ks_step *st)
{
	if (!st->valid)
		return;
	if (st->delta <= UINT64_MAX / 4) {
		st->delta *= 4;
	} else if (st->d > 0) {
		st->d--; /* one byte up divides by 256 */
		st->delta /= 64;
	} else {
		st->delta = UINT64_MAX;
	}
}

/* log2 of a step's width, in bits below the first byte */
static int step_bits(const struct ks_step *st)
{
	int b = 0;

	for (uint64_t v = st->delta; v > 1; v >>= 1)
		b++;
	return b - 8 * (int)st->d;
}

int ks_step_wider(const struct ks_step *a, const struct ks_step *b)
{
	return a->valid && (!b->valid || step_bits(a) > step_bits(b));
}

int ks_cmp_end(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c;

	if (bl == 1 && b[0] == 0)
		return -1; /* "\0" as a range_end: no end */
	c = n ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl ? 1 : 0;
}

int ks_next_end(struct buf *out, const struct ks_step *st, const uint8_t *cur, size_t cur_len, const uint8_t *end,
		size_t end_len)
{
	uint8_t num[KS_FRAME];
	uint64_t pos, delta;
	size_t d;

	buf_reset(out);
	if (!st->valid)
		goto whole;
	/* a start shorter than the frame (an end cut in a shallower one): the
	 * same width in the frame that starts at its length */
	d = st->d;
	delta = st->delta;
	if (cur_len < d) {
		size_t up = d - cur_len;

		delta = up >= KS_FRAME ? 1 : delta >> (8 * up);
		delta = delta ? delta : 1;
		d = cur_len;
	}
	/* the end keeps cur's first d bytes and takes a larger number after
	 * them, so it sorts after cur (zero-padded when shorter) */
	pos = frame_at(cur, cur_len, d);
	if (buf_append(out, cur, d) < 0 || buf_reserve(out, KS_FRAME) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (pos > UINT64_MAX - delta) {
		/* past every key with these d bytes: the first string after them
		 * (none when they are all 0xff: etcd's "\0", no end) */
		out->len = etcd_prefix_end(out->data, cur, d);
		if (out->len == 0 || (out->len == 1 && out->data[0] == 0))
			goto whole;
	} else {
		pos += delta;
		for (size_t i = 0; i < KS_FRAME; i++)
			num[i] = (uint8_t)(pos >> (8 * (KS_FRAME - 1 - i)));
		memcpy(out->data + out->len, num, KS_FRAME);
		out->len += KS_FRAME;
	}
	if (ks_cmp_end(out->data, out->len, end, end_len) < 0 && ks_cmp_end(cur, cur_len, out->data, out->len) < 0)
		return 0;
whole:
	buf_reset(out);
	if (buf_append(out, end, end_len) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}
