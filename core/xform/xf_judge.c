/* xf_judge: turn one decryption attempt into "readable" or a failure class.
 *
 * Why this is more than "did it decrypt": operators need to know whether a
 * key is wrong (they have the wrong secret), the value is damaged, or it was
 * copied from another etcd key. AES-GCM and secretbox decrypt without the
 * tag too (prov.h), so the unverified plaintext tells these apart. */
#include "base/err.h"
#include "xf_int.h"

#include <stdio.h>
#include <string.h>

#define DERIVED_KEY_MAX 1024

int xf_open(const struct xf_opener *op, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
	    size_t aad_len, enum prov_fail *why)
{
	if (op->cipher != NULL)
		return prov_open(op->cipher, out, body, n, aad, aad_len, why);
	if (op->raw_cbc)
		return prov_cbc_open_raw(out, op->raw_key, op->raw_key_len, body, n, why);
	if (op->raw != NULL)
		return prov_raw_gcm_open(op->raw, out, op->raw_key, op->raw_key_len, body, n, aad, aad_len, why);
	return prov_gcm_open_raw(out, op->raw_key, op->raw_key_len, body, n, aad, aad_len, why);
}

/* The etcd key the object names itself under: the key's directory part with
 * the object's namespace and name. 0, or ERR_CORRUPT (no message) if it cannot be formed. */
static int derived_key(char *out, size_t cap, const struct xf_ctx *cx, const struct plain_info *pi)
{
	size_t cut = cx->key_len;
	int segs = pi->namespace_[0] ? 2 : 1, n;

	if (pi->name[0] == '\0')
		return ERR_CORRUPT;
	while (segs > 0 && cut > 0) {
		cut--;
		if (cx->key[cut] == '/')
			segs--;
	}
	if (segs > 0)
		return ERR_CORRUPT;
	if (pi->namespace_[0])
		n = snprintf(out, cap, "%.*s/%s/%s", (int)cut, (const char *)cx->key, pi->namespace_, pi->name);
	else
		n = snprintf(out, cap, "%.*s/%s", (int)cut, (const char *)cx->key, pi->name);
	return n < 0 || (size_t)n >= cap ? ERR_CORRUPT : 0;
}

/* A tag failure under a key that decrypts to a real-looking object. */
static int judge_auth(struct xf *x, struct xf_result *res, const struct xf_opener *op, struct buf *plain,
		      const struct xf_ctx *cx, const uint8_t *body, size_t n, const char *name)
{
	char orig[DERIVED_KEY_MAX];
	struct plain_info pi;
	enum prov_fail why;
	int rc;

	plain_inspect(&pi, plain->data, plain->len);
	if (derived_key(orig, sizeof(orig), cx, &pi) == 0 &&
	    (strlen(orig) != cx->key_len || memcmp(orig, cx->key, cx->key_len) != 0)) {
		rc = xf_open(op, &x->tmp, body, n, (const uint8_t *)orig, strlen(orig), &why);
		if (rc < 0)
			return rc;
		if (why == PROV_OK) {
			xf_note(x, res, RANK_DECRYPT, XF_AAD_MISMATCH,
				"authentication failed: value was written for '%s' and copied here", orig);
			return 0;
		}
	}
	if (pi.verdict == PLAIN_TRUNCATED)
		xf_note(x, res, RANK_DECRYPT, XF_TRUNCATED, "authentication failed under key '%s': value is truncated",
			name);
	else
		xf_note(x, res, RANK_DECRYPT, XF_TAG_MISMATCH,
			"authentication failed under key '%s': value was altered (tag mismatch)", name);
	return 0;
}

void xf_inspect(const struct xf *x, struct plain_info *out, const uint8_t *p, size_t n)
{
	if (x->known_info && n == x->known_len && (n == 0 || memcmp(p, x->known, n) == 0))
		*out = *x->known_info;
	else
		plain_inspect(out, p, n);
}

int xf_judge(struct xf *x, struct xf_result *res, const struct xf_opener *op, struct buf *plain,
	     const struct xf_ctx *cx, const uint8_t *body, size_t n, enum prov_fail why, const char *name)
{
	int looks = plain_looks_like_object(plain->data, plain->len);

	switch (why) {
	case PROV_TRUNCATED:
		xf_note(x, res, RANK_DECRYPT, XF_TRUNCATED, "value under key '%s' is truncated (%zu bytes of body)",
			name, n);
		return 0;
	case PROV_IV_ONLY:
		xf_note(x, res, RANK_DECRYPT, XF_IV_ONLY, "value under key '%s' holds an IV and no ciphertext", name);
		return 0;
	case PROV_BAD_PADDING:
		if (looks)
			xf_note(x, res, RANK_DECRYPT, XF_BAD_PADDING,
				"invalid padding under key '%s': value is damaged", name);
		else
			xf_note(x, res, RANK_DECRYPT, XF_WRONG_KEY,
				"invalid padding: key '%s' is not the key this value was written with", name);
		return 0;
	case PROV_AUTH:
		if (!looks) {
			xf_note(x, res, RANK_DECRYPT, XF_WRONG_KEY,
				"authentication failed: key '%s' is not the key this value was written with", name);
			return 0;
		}
		return judge_auth(x, res, op, plain, cx, body, n, name);
	case PROV_OK:
		break;
	}
	xf_inspect(x, &res->plain, plain->data, plain->len);
	if (res->plain.verdict == PLAIN_VALID) {
		res->ok = 1;
		return 0;
	}
	if (!looks && !op->aead)
		xf_note(x, res, RANK_DECRYPT, XF_WRONG_KEY,
			"key '%s' decrypts this value to garbage: it is not the key it was written with", name);
	else if (!looks)
		xf_note(x, res, RANK_DECRYPT, XF_NOT_OBJECT,
			"value under key '%s' authenticates but is not a stored object (%zu bytes)", name, plain->len);
	else
		xf_note(x, res, RANK_DECRYPT, XF_NOT_OBJECT, "value under key '%s' decrypts to a %s %s object", name,
			res->plain.verdict == PLAIN_TRUNCATED ? "truncated" : "malformed",
			plain_encoding_name(res->plain.encoding));
	return 0;
}
