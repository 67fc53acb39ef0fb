/* xf_kms: reading KMS v1 and v2 envelopes (FORMATS.md 4.5).
 *
 *   v1 body: len(2, big-endian) | wrapped DEK (len) | data
 *            data = nonce(12) | AES-256-GCM ct | tag(16), AAD = etcd key
 *                   (written since 1.25), else IV(16) | AES-CBC ct (<= 1.24)
 *   v2 body: EncryptedObject {1 encryptedData, 2 keyID, 3 encryptedDEKSource,
 *                             4 annotations, 5 encryptedDEKSourceType}
 *            type 1 (HKDF seed): data = info(32) | nonce(12) | ct | tag(16),
 *                   key = HKDF-Expand-SHA256(seed, info, 32)
 *            type 0 (AES_GCM_KEY): data = nonce(12) | ct | tag(16), key = DEK
 *
 * The DEK/seed is unwrapped through kmsring (no plugin socket is spoken). */
#include "base/err.h"
#include "base/pbwire.h"
#include "xf_int.h"

#include <stdio.h>
#include <string.h>

#define KMS2_INFO 32
#define KMS_WRAPPED_MAX 1024 /* x->dek holds at most 4 KiB */

struct kms2_obj {
	const uint8_t *data;
	size_t data_len;
	char key_id[ENV_NAME_MAX];
	const uint8_t *dek;
	size_t dek_len;
	uint64_t type;
};

static int parse_kms2(struct kms2_obj *o, const uint8_t *p, size_t n)
{
	struct pb_reader r;
	struct pb_field f;
	int st;

	memset(o, 0, sizeof(*o));
	pb_init(&r, p, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD) {
		if (f.num == 1 && f.wire == 2) {
			o->data = f.data;
			o->data_len = f.len;
		} else if (f.num == 2 && f.wire == 2 && f.len < sizeof(o->key_id)) {
			memcpy(o->key_id, f.data, f.len);
			o->key_id[f.len] = '\0';
		} else if (f.num == 3 && f.wire == 2) {
			o->dek = f.data;
			o->dek_len = f.len;
		} else if (f.num == 5 && f.wire == 0) {
			o->type = f.varint;
		}
	}
	return st == PB_END && o->data && o->dek && o->key_id[0] ? 0 : -1;
}

/* Unwraps via the ring; notes the failure and returns 1 when it failed. */
static int unwrap(struct xf *x, struct xf_result *res, const struct encconf_provider *p, const char *key_id,
		  const uint8_t *w, size_t wl, int *failed)
{
	enum kmsring_status st;
	int rc;

	*failed = 1;
	if (wl > KMS_WRAPPED_MAX) {
		/* a wrapped DEK or seed is tens of bytes: this is not one */
		xf_note(x, res, RANK_DECRYPT, XF_MALFORMED, "KMS value: wrapped DEK of %zu bytes is not a KMS DEK", wl);
		return 0;
	}
	rc = kmsring_unwrap(x->ring, &x->dek, &st, p->kms_name, key_id, w, wl);
	if (rc < 0)
		return rc;
	switch (st) {
	case KMSRING_OK:
		*failed = 0;
		break;
	case KMSRING_NO_PLUGIN:
		xf_note(x, res, RANK_DECRYPT, XF_KMS_UNAVAILABLE,
			"KMS plugin '%s' (%s) cannot be asked to unwrap the DEK and no KMS keyring holds its keys", p->kms_name,
			p->kms_endpoint ? p->kms_endpoint : "no endpoint");
		break;
	case KMSRING_UNKNOWN_KEY_ID:
		xf_note(x, res, RANK_DECRYPT, XF_KMS_UNKNOWN_KEY_ID, "KMS plugin '%s' does not know key ID '%s'",
			p->kms_name, key_id ? key_id : "");
		break;
	case KMSRING_UNWRAP_FAILED:
		xf_note(x, res, RANK_DECRYPT, XF_WRONG_KEY, "KMS plugin '%s' failed to unwrap the DEK", p->kms_name);
		break;
	}
	return 0;
}

static int open_gcm_data(struct xf *x, struct xf_result *res, struct buf *plain, const struct xf_ctx *cx,
			 const struct xf_opener *op, const uint8_t *d, size_t dl, const char *name)
{
	enum prov_fail why;
	int rc = xf_open(op, plain, d, dl, cx->key, cx->key_len, &why);

	if (rc < 0)
		return rc;
	return xf_judge(x, res, op, plain, cx, d, dl, why, name);
}

static int read_kms1(struct xf *x, struct xf_result *res, const struct encconf_provider *p, struct buf *plain,
		     const struct xf_ctx *cx, const uint8_t *b, size_t n)
{
	struct xf_opener gcm = { 0 }, cbc = { 0 };
	struct xf_result cbc_res;
	size_t wl;
	int rc, failed;

	if (n < 2 || (wl = ((size_t)b[0] << 8) | b[1]) > n - 2) {
		xf_note(x, res, RANK_DECRYPT, XF_MALFORMED, "KMS v1 value: DEK length exceeds the value");
		return 0;
	}
	if ((rc = unwrap(x, res, p, "", b + 2, wl, &failed)) < 0 || failed)
		return rc;
	gcm.aead = 1;
	gcm.raw_key = cbc.raw_key = x->dek.data;
	gcm.raw_key_len = cbc.raw_key_len = x->dek.len;
	cbc.raw_cbc = 1;
	/* GCM first (written since 1.25), then the CBC of <= 1.24. When both
	 * fail, the GCM diagnosis (AAD, damage) is kept: x->rank makes the CBC
	 * attempt's notes lose against it. */
	rc = open_gcm_data(x, res, plain, cx, &gcm, b + 2 + wl, n - 2 - wl, p->kms_name);
	if (rc < 0 || res->ok)
		return rc;
	memset(&cbc_res, 0, sizeof(cbc_res));
	rc = open_gcm_data(x, &cbc_res, plain, cx, &cbc, b + 2 + wl, n - 2 - wl, p->kms_name);
	if (rc == 0 && cbc_res.ok) {
		res->ok = 1;
		res->plain = cbc_res.plain;
	}
	return rc;
}

static int read_kms2(struct xf *x, struct xf_result *res, const struct encconf_provider *p, struct buf *plain,
		     const struct xf_ctx *cx, const uint8_t *b, size_t n)
{
	struct xf_opener op = { 0 };
	uint8_t key[32];
	struct kms2_obj o;
	int rc, failed;

	if (parse_kms2(&o, b, n) < 0) {
		xf_note(x, res, RANK_DECRYPT, XF_MALFORMED, "KMS v2 value: EncryptedObject does not parse");
		return 0;
	}
	if ((rc = unwrap(x, res, p, o.key_id, o.dek, o.dek_len, &failed)) < 0 || failed)
		return rc;
	op.raw_key = x->dek.data;
	op.raw_key_len = x->dek.len;
	op.aead = 1;
	if (o.type == 1) {
		if (o.data_len < KMS2_INFO) {
			xf_note(x, res, RANK_DECRYPT, XF_TRUNCATED, "KMS v2 value: data shorter than its KDF info");
			return 0;
		}
		if ((rc = prov_hkdf_expand(key, sizeof(key), x->dek.data, x->dek.len, o.data, KMS2_INFO)) < 0)
			return rc;
		op.raw_key = key;
		op.raw_key_len = sizeof(key);
		o.data += KMS2_INFO;
		o.data_len -= KMS2_INFO;
	}
	rc = open_gcm_data(x, res, plain, cx, &op, o.data, o.data_len, p->kms_name);
	mem_wipe(key, sizeof(key));
	return rc;
}

int xf_try_kms(struct xf *x, struct xf_result *res, size_t i, struct buf *plain, const struct xf_ctx *cx)
{
	const struct xf_prov *xp = &x->provs[i];
	size_t pl = strlen(xp->prefix);
	const uint8_t *b = cx->value + pl;
	size_t n = cx->value_len - pl;
	int rc;

	if (cx->value_len < pl || memcmp(cx->value, xp->prefix, pl) != 0)
		return 0;
	if (xp->env == ENV_KMS2)
		rc = read_kms2(x, res, xp->conf, plain, cx, b, n);
	else
		rc = read_kms1(x, res, xp->conf, plain, cx, b, n);
	if (rc < 0 || !res->ok)
		return rc;
	res->ok = 1;
	res->reason = XF_OK;
	res->detail[0] = '\0';
	res->kind = xp->env;
	snprintf(res->key_name, sizeof(res->key_name), "%s", xp->conf->kms_name);
	res->provider_index = (int)i;
	res->key_index = 0;
	res->stale = i != 0;
	return 0;
}
