/* b64: strict standard base64; see b64.h. */
#include "b64.h"
#include "err.h"

#define B64_NOT_ALPHABET (-1) /* val() of a character outside the alphabet */

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return B64_NOT_ALPHABET;
}

size_t b64_decoded_max(size_t n)
{
	return n / 4 * 3 + 3;
}

size_t b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Collects the next 4 characters that count (CR/LF skipped) into quad. */
static size_t next_quad(char quad[4], const char *s, size_t n, size_t *pos)
{
	size_t got = 0;

	while (got < 4 && *pos < n) {
		char c = s[(*pos)++];

		if (c != '\r' && c != '\n')
			quad[got++] = c;
	}
	return got;
}

long b64_decode(uint8_t *out, size_t cap, const char *s, size_t n)
{
	size_t pos = 0, o = 0, got;
	char quad[4];

	while ((got = next_quad(quad, s, n, &pos)) > 0) {
		int v[4], pad = 0;

		if (got != 4 || o + 3 > cap)
			return ERR_CORRUPT;
		for (int j = 0; j < 4; j++) {
			if (quad[j] == '=' && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = val(quad[j])) == B64_NOT_ALPHABET)
				return ERR_CORRUPT;
		}
		unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
				  ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
		/* padding ends the data: only CR/LF may follow */
		if (pad > 0 && next_quad(quad, s, n, &pos) != 0)
			return ERR_CORRUPT;
	}
	return (long)o;
}

void b64_encode(char *out, const uint8_t *p, size_t n)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		unsigned long w = ((unsigned long)p[i] << 16) | ((unsigned long)p[i + 1] << 8) | p[i + 2];

		out[o++] = ALPHA[(w >> 18) & 63];
		out[o++] = ALPHA[(w >> 12) & 63];
		out[o++] = ALPHA[(w >> 6) & 63];
		out[o++] = ALPHA[w & 63];
	}
	if (i < n) {
		unsigned long w = (unsigned long)p[i] << 16;

		if (i + 1 < n)
			w |= (unsigned long)p[i + 1] << 8;
		out[o++] = ALPHA[(w >> 18) & 63];
		out[o++] = ALPHA[(w >> 12) & 63];
		out[o++] = i + 1 < n ? ALPHA[(w >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}
