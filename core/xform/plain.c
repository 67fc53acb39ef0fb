/* plain: recognise stored Kubernetes objects; see plain.h. */
#include "plain.h"
#include "base/pbwire.h"

#include <jansson.h>
#include <string.h>

static const uint8_t K8S_MAGIC[4] = { 'k', '8', 's', 0 };

int plain_looks_like_object(const uint8_t *p, size_t n)
{
	if (n >= 5 && memcmp(p, K8S_MAGIC, 4) == 0 && p[4] == 0x0a)
		return 1;
	if (n >= 1 && p[0] == '{')
		return 1;
	if (n >= 3 && p[0] == 0xd9 && p[1] == 0xd9 && p[2] == 0xf7)
		return 1;
	return 0;
}

static void copy_str(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int status_verdict(int st)
{
	return st == PB_TRUNCATED ? PLAIN_TRUNCATED : PLAIN_MALFORMED;
}

/* Parses a message whose fields 1 and 2 (or 1 and 3) are strings. */
static int read_two_strings(const uint8_t *p, size_t n, uint32_t a, char *da, size_t ca, uint32_t b, char *db,
			    size_t cb)
{
	struct pb_reader r;
	struct pb_field f;
	int st;

	pb_init(&r, p, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD) {
		if (f.wire != 2)
			continue;
		if (f.num == a)
			copy_str(da, ca, f.data, f.len);
		else if (f.num == b)
			copy_str(db, cb, f.data, f.len);
	}
	return st;
}

static int read_object_meta(struct plain_info *out, const uint8_t *raw, size_t n)
{
	struct pb_reader r;
	struct pb_field f;
	int st;

	pb_init(&r, raw, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD) {
		if (f.num == 1 && f.wire == 2)
			return read_two_strings(f.data, f.len, 1, out->name, sizeof(out->name), 3,
						out->namespace_, sizeof(out->namespace_));
	}
	return st;
}

static void inspect_protobuf(struct plain_info *out, const uint8_t *p, size_t n)
{
	struct pb_reader r;
	struct pb_field f;
	int st, have_type = 0, have_raw = 0;

	pb_init(&r, p + 4, n - 4);
	while ((st = pb_next(&r, &f)) == PB_FIELD) {
		if (f.num == 1 && f.wire == 2) {
			st = read_two_strings(f.data, f.len, 1, out->api_version, sizeof(out->api_version), 2,
					      out->kind, sizeof(out->kind));
			if (st != PB_END)
				break;
			have_type = 1;
		} else if (f.num == 2 && f.wire == 2) {
			st = read_object_meta(out, f.data, f.len);
			if (st != PB_END)
				break;
			have_raw = 1;
		} else if ((f.num == 3 || f.num == 4) && f.wire == 2) {
			continue;
		} else {
			st = PB_MALFORMED;
			break;
		}
	}
	if (st != PB_END)
		out->verdict = status_verdict(st);
	else if (!have_type || !have_raw || out->kind[0] == '\0')
		out->verdict = PLAIN_MALFORMED;
	else
		out->verdict = PLAIN_VALID;
}

static void json_str(const json_t *o, const char *key, char *dst, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s != NULL)
		copy_str(dst, cap, (const uint8_t *)s, strlen(s));
}

static void inspect_json(struct plain_info *out, const uint8_t *p, size_t n)
{
	json_error_t e;
	json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);

	if (o == NULL) {
		out->verdict = json_error_code(&e) == json_error_premature_end_of_input ? PLAIN_TRUNCATED
											 : PLAIN_MALFORMED;
		return;
	}
	if (!json_is_object(o)) {
		out->verdict = PLAIN_MALFORMED;
		json_decref(o);
		return;
	}
	json_str(o, "kind", out->kind, sizeof(out->kind));
	json_str(o, "apiVersion", out->api_version, sizeof(out->api_version));
	json_t *meta = json_object_get(o, "metadata");
	if (json_is_object(meta)) {
		json_str(meta, "name", out->name, sizeof(out->name));
		json_str(meta, "namespace", out->namespace_, sizeof(out->namespace_));
	}
	out->verdict = out->kind[0] && out->api_version[0] ? PLAIN_VALID : PLAIN_MALFORMED;
	json_decref(o);
}

enum plain_encoding plain_encoding_of(const uint8_t *p, size_t n)
{
	if (n >= 4 && memcmp(p, K8S_MAGIC, 4) == 0)
		return PLAIN_PROTOBUF;
	if (n >= 1 && p[0] == '{')
		return PLAIN_JSON;
	if (n >= 3 && p[0] == 0xd9 && p[1] == 0xd9 && p[2] == 0xf7)
		return PLAIN_CBOR;
	return PLAIN_OTHER;
}

void plain_inspect(struct plain_info *out, const uint8_t *p, size_t n)
{
	memset(out, 0, sizeof(*out));
	out->encoding = plain_encoding_of(p, n);
	switch (out->encoding) {
	case PLAIN_PROTOBUF:
		inspect_protobuf(out, p, n);
		break;
	case PLAIN_JSON:
		inspect_json(out, p, n);
		break;
	case PLAIN_CBOR:
		out->verdict = PLAIN_VALID;
		break;
	default:
		out->verdict = PLAIN_UNKNOWN;
	}
}

const char *plain_encoding_name(enum plain_encoding e)
{
	switch (e) {
	case PLAIN_PROTOBUF: return "protobuf";
	case PLAIN_JSON: return "json";
	case PLAIN_CBOR: return "cbor";
	default: return "other";
	}
}
