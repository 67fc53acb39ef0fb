/* envelope: classify stored values by prefix; see envelope.h. */
#include "envelope.h"
#include "base/esc.h"
#include "base/pbwire.h"

#include <stdio.h>

#include <string.h>

static const struct {
	enum env_kind kind;
	const char *prefix;
} PREFIXES[] = {
	{ ENV_AESCBC, "k8s:enc:aescbc:v1:" },
	{ ENV_AESGCM, "k8s:enc:aesgcm:v1:" },
	{ ENV_SECRETBOX, "k8s:enc:secretbox:v1:" },
	{ ENV_KMS1, "k8s:enc:kms:v1:" },
	{ ENV_KMS2, "k8s:enc:kms:v2:" },
};

const char *env_kind_name(enum env_kind k)
{
	switch (k) {
	case ENV_IDENTITY: return "identity";
	case ENV_AESCBC: return "aescbc";
	case ENV_AESGCM: return "aesgcm";
	case ENV_SECRETBOX: return "secretbox";
	case ENV_KMS1: return "kms";
	case ENV_KMS2: return "kmsv2";
	default: return "unknown";
	}
}

const char *env_prefix(enum env_kind k)
{
	for (size_t i = 0; i < sizeof(PREFIXES) / sizeof(PREFIXES[0]); i++)
		if (PREFIXES[i].kind == k)
			return PREFIXES[i].prefix;
	return "";
}

/* The guessed name as shown: the bytes themselves when they are printable
 * UTF-8, else escaped (esc.h), so that no name is binary; "(none)" when
 * empty. */
static void set_guess(struct env_info *out, const uint8_t *p, size_t n)
{
	int printable = esc_utf8_clean(p, n);

	for (size_t i = 0; printable && i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7F)
			printable = 0;
	if (n == 0)
		snprintf(out->key_name, sizeof(out->key_name), "(none)");
	else if (printable && n < sizeof(out->key_name))
		memcpy(out->key_name, p, n), out->key_name[n] = '\0';
	else
		esc_term_buf(out->key_name, sizeof(out->key_name), p, n);
}

/* Splits "<name>:<body>" at the first ':' (issue 9: names with ':' are
 * found by matching configured names, never by guessing a later split,
 * which could take IV bytes into the name). */
static void split_name(struct env_info *out, const uint8_t *p, size_t n)
{
	size_t limit = n < ENV_NAME_MAX - 1 ? n : ENV_NAME_MAX - 1;
	const uint8_t *colon = memchr(p, ':', limit);

	out->name_guessed = 1;
	if (colon == NULL) {
		set_guess(out, p, limit < 64 ? limit : 64);
		out->body = p + n;
		out->body_len = 0;
		return;
	}
	set_guess(out, p, (size_t)(colon - p));
	out->body = colon + 1;
	out->body_len = n - (size_t)(colon - p) - 1;
}

int env_kms2_key_id(char *out, size_t cap, const uint8_t *obj, size_t n)
{
	struct pb_reader r;
	struct pb_field f;
	int st, found = 0;

	out[0] = '\0';
	pb_init(&r, obj, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD) {
		if (f.num == 2 && f.wire == 2 && f.len < cap) {
			memcpy(out, f.data, f.len);
			out[f.len] = '\0';
			found = 1;
		}
	}
	return st == PB_END && found ? 0 : -1;
}

void env_classify(struct env_info *out, const uint8_t *v, size_t n)
{
	size_t el = strlen(ENV_ENC_PREFIX);

	memset(out, 0, sizeof(*out));
	out->body = v;
	out->body_len = n;
	if (n < el || memcmp(v, ENV_ENC_PREFIX, el) != 0) {
		out->kind = ENV_IDENTITY;
		out->encoding = plain_encoding_of(v, n);
		return;
	}
	out->kind = ENV_UNKNOWN_ENC;
	for (size_t i = 0; i < sizeof(PREFIXES) / sizeof(PREFIXES[0]); i++) {
		size_t pl = strlen(PREFIXES[i].prefix);

		if (n >= pl && memcmp(v, PREFIXES[i].prefix, pl) == 0) {
			out->kind = PREFIXES[i].kind;
			split_name(out, v + pl, n - pl);
			break;
		}
	}
	if (out->kind == ENV_KMS2)
		env_kms2_key_id(out->kms_key_id, sizeof(out->kms_key_id), out->body, out->body_len);
}
