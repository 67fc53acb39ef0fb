/* num: strict numbers; see num.h. */
#include "num.h"
#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* only characters a plain decimal number can hold: rules out leading
 * spaces, hex floats, "inf" and "nan" before strto* sees them */
static int decimal_chars(const char *s, const char *allowed)
{
	return *s != '\0' && strspn(s, allowed) == strlen(s);
}

int num_parse_long(long *out, const char *s, long lo, long hi)
{
	char *end;
	long v;

	if (!decimal_chars(s, "-0123456789"))
		return ERR_USAGE;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return ERR_USAGE;
	*out = v;
	return 0;
}

int num_parse_double(double *out, const char *s, double lo_exclusive, double hi)
{
	char *end;
	double v;

	if (!decimal_chars(s, "-+.eE0123456789"))
		return ERR_USAGE;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || !(v > lo_exclusive) || v > hi)
		return ERR_USAGE;
	*out = v;
	return 0;
}
