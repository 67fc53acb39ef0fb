/* esc: see esc.h. One UTF-8 decoder shared by the JSON and terminal forms. */
#include "base/esc.h"
#include "base/b64.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4) and its code point, or 0
 * when the bytes there are not one (overlong, surrogate, > U+10FFFF, cut). */
static size_t utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t b = p[0];
	size_t len;
	uint32_t c, min;

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xC2 && b <= 0xDF)
		len = 2, c = b & 0x1F, min = 0x80;
	else if (b >= 0xE0 && b <= 0xEF)
		len = 3, c = b & 0x0F, min = 0x800;
	else if (b >= 0xF0 && b <= 0xF4)
		len = 4, c = b & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

int esc_utf8_clean(const uint8_t *p, size_t n)
{
	uint32_t cp;

	for (size_t i = 0, l; i < n; i += l)
		if ((l = utf8_seq(p + i, n - i, &cp)) == 0 || cp == 0)
			return 0;
	return 1;
}

char *esc_utf8_lossy(const uint8_t *p, size_t n)
{
	char *out = malloc(3 * n + 1), *o = out; /* U+FFFD is 3 bytes per bad byte */
	uint32_t cp;

	if (out == NULL) {
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0, l; i < n; i += l) {
		if ((l = utf8_seq(p + i, n - i, &cp)) == 0 || cp == 0) {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			l = 1;
		} else {
			memcpy(o, p + i, l);
			o += l;
		}
	}
	*o = '\0';
	return out;
}

char *esc_json_b64(const uint8_t *p, size_t n, int *err)
{
	char *out;

	*err = 0;
	if (esc_utf8_clean(p, n))
		return NULL;
	if ((out = malloc(b64_encoded_len(n) + 1)) == NULL) {
		*err = err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	b64_encode(out, p, n);
	return out;
}

/* Bidirectional controls reorder what a terminal shows (U+202A..U+202E,
 * U+2066..U+2069), line/paragraph separators break lines. */
static int is_invisible_control(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x2028 || cp == 0x2029 || cp == 0x200E || cp == 0x200F || cp == 0x061C;
}

/* The escaped form of the sequence at p (l bytes, code point cp; l == 0:
 * one invalid byte) into e (>= 32 bytes); returns its length. */
static size_t escape_one(char *e, const uint8_t *p, size_t l, uint32_t cp)
{
	if (l == 0)
		return (size_t)snprintf(e, 32, "\\x%02x", p[0]);
	if (cp == '\\')
		return (size_t)snprintf(e, 32, "\\\\");
	if (cp == '\n')
		return (size_t)snprintf(e, 32, "\\n");
	if (cp == '\r')
		return (size_t)snprintf(e, 32, "\\r");
	if (cp == '\t')
		return (size_t)snprintf(e, 32, "\\t");
	if (cp == 0x1B)
		return (size_t)snprintf(e, 32, "\\e");
	if (cp < 0x20 || cp == 0x7F)
		return (size_t)snprintf(e, 32, "\\x%02x", (unsigned)cp);
	if (is_invisible_control(cp))
		return (size_t)snprintf(e, 32, "\\u%04x", (unsigned)cp);
	memcpy(e, p, l);
	return l;
}

/* Escaped length of p (without the NUL). */
static size_t escaped_len(const uint8_t *p, size_t n)
{
	size_t total = 0;
	char e[32];
	uint32_t cp = 0;

	for (size_t i = 0, l; i < n; i += l ? l : 1) {
		l = utf8_seq(p + i, n - i, &cp);
		total += escape_one(e, p + i, l, cp);
	}
	return total;
}

void esc_term_buf(char *out, size_t cap, const uint8_t *p, size_t n)
{
	size_t o = 0, room;
	char e[32];
	uint32_t cp = 0;
	int cut;

	if (cap == 0)
		return;
	if (n == 0) {
		snprintf(out, cap, "\"\"");
		return;
	}
	/* whole escapes and whole UTF-8 sequences only; "..." when cut */
	cut = escaped_len(p, n) + 1 > cap;
	room = cut ? (cap > 4 ? cap - 4 : 0) : cap - 1;
	for (size_t i = 0, l; i < n; i += l ? l : 1) {
		size_t el;

		l = utf8_seq(p + i, n - i, &cp);
		el = escape_one(e, p + i, l, cp);
		if (o + el > room)
			break;
		memcpy(out + o, e, el);
		o += el;
	}
	if (cut && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

char *esc_term(const uint8_t *p, size_t n)
{
	size_t cap = 6 * n + 8; /* "\u202e" is 6 bytes for 3 in */
	char *out = malloc(cap);

	if (out == NULL) {
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	esc_term_buf(out, cap, p, n);
	return out;
}
