/* godur: Go's time.ParseDuration; see godur.h. */
#include "godur.h"
#include "err.h"

#include <stdint.h>
#include <string.h>

#define NS_MAX 9223372036854775807ull

static uint64_t dur_unit(const char *u, size_t n)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
		{ "ns", 1ull }, { "us", 1000ull }, { "\xc2\xb5s", 1000ull }, { "\xce\xbcs", 1000ull },
		{ "ms", 1000000ull }, { "s", 1000000000ull }, { "m", 60000000000ull },
		{ "h", 3600000000000ull },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
			return units[i].ns;
	return 0;
}

/* One "<number><unit>" component; adds its nanoseconds to *total. */
static int dur_component(const char **sp, uint64_t *total)
{
	const char *s = *sp, *u;
	uint64_t v = 0, f = 0, scale = 1, unit, add;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (v > (NS_MAX - 9) / 10)
			return ERR_CORRUPT;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
			if (scale > NS_MAX / 10)
				continue; /* further digits are below 1ns precision */
			f = f * 10 + (uint64_t)(*s - '0');
			scale *= 10;
		}
	}
	if (digits == 0)
		return ERR_CORRUPT;
	for (u = s; *s != '\0' && *s != '.' && !(*s >= '0' && *s <= '9'); s++)
		;
	unit = dur_unit(u, (size_t)(s - u));
	if (unit == 0 || v > NS_MAX / unit)
		return ERR_CORRUPT;
	add = v * unit + (uint64_t)((double)f * ((double)unit / (double)scale));
	if (add > NS_MAX - *total)
		return ERR_CORRUPT;
	*total += add;
	*sp = s;
	return 0;
}

int godur_parse_ns(int64_t *out, const char *s)
{
	uint64_t ns = 0;
	int neg = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*s == '\0')
		return ERR_CORRUPT;
	while (*s != '\0')
		if (dur_component(&s, &ns) < 0)
			return ERR_CORRUPT;
	*out = neg ? -(int64_t)ns : (int64_t)ns;
	return 0;
}
