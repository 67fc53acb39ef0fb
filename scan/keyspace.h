/* keyspace: where to end the next range of a scan so that it holds about a
 * target number of keys, guessed from the keys of a page already read.
 *
 * Why: etcd (3.4 to 3.6) walks its in-memory index from a Range's start key
 * to its range_end for every request, whatever the limit, so paging a
 * prefix with range_end = the prefix's end costs it quadratic time, and a
 * keys-only listing to find chunk bounds first costs it a full read of
 * every value (a keys-only Range still reads each KeyValue from bbolt).
 * Instead, the scan cuts the key space itself: a range's end is any byte
 * string, not necessarily a key. The guess only decides how many keys a
 * range holds; the ranges still cover the key space without gap or overlap,
 * which is what correctness rests on (and the scan checks its total against
 * etcd's count).
 *
 * A step is measured in a frame: the first d bytes of a key are kept as they
 * are and the next 8 bytes (zero-padded) are read as a big-endian number.
 * Pure functions: no I/O. */
#ifndef ETCDCRYPT_KEYSPACE_H
#define ETCDCRYPT_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct ks_step {
	size_t d;       /* frame: bytes of the start key kept as they are */
	uint64_t delta; /* >= 1, in units of the 8 bytes after them */
	int valid;      /* 0: no page seen yet, ks_next_end gives the end */
};

/* The step that holds about `target` keys at the density of a page whose
 * first and last keys are given (n >= 2 keys, first < last). */
void ks_step_from_page(struct ks_step *st, const uint8_t *first, size_t first_len, const uint8_t *last,
		       size_t last_len, uint64_t n, uint64_t target);

/* A range held fewer than two keys: make the next one 4 times wider. */
void ks_step_widen(struct ks_step *st);

/* Whether a covers more of the key space than b (roughly: to a bit). */
int ks_step_wider(const struct ks_step *a, const struct ks_step *b);

/* Writes to *out the end of the range that starts at cur: strictly after
 * cur, never after end (end is a range_end: the single byte "\0" means no
 * end). *out is reset first; cur must be < end. */
int ks_next_end(struct buf *out, const struct ks_step *st, const uint8_t *cur, size_t cur_len, const uint8_t *end,
		size_t end_len);

/* Bytewise order of two keys, where b may be a range_end ("\0": after
 * every key): <0, 0, >0. */
int ks_cmp_end(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

#endif
