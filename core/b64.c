/* b64: strict standard base64; see b64.h. */
#include "b64.h"

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

size_t b64_decoded_max(size_t n)
{
	return n / 4 * 3 + 3;
}

size_t b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

long b64_decode(uint8_t *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	if (n % 4 != 0 || cap < n / 4 * 3)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int j = 0; j < 4; j++) {
			char c = s[i + j];

			if (c == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = val(c)) < 0)
				return -1;
		}
		if (pad == 1 && s[i + 2] == '=')
			return -1;
		unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
				  ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
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
