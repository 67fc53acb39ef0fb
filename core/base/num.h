/* num: strict numbers from command-line arguments. The whole string must be
 * the number: no spaces, no trailing text, no hex, no inf/nan, no overflow.
 * (strtol/strtod alone accept " 5", "5x" with an end pointer nobody checks,
 * "inf" and values that overflowed to HUGE_VAL.) */
#ifndef ETCDCRYPT_NUM_H
#define ETCDCRYPT_NUM_H

/* A decimal integer in [lo, hi] into *out. ERR_USAGE (no message set: the
 * caller names the flag) otherwise. */
int num_parse_long(long *out, const char *s, long lo, long hi);

/* A decimal number (digits, optional fraction and exponent) with
 * lo < value <= hi into *out. ERR_USAGE (no message set) otherwise. */
int num_parse_double(double *out, const char *s, double lo_exclusive, double hi);

#endif
