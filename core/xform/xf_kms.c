/* xf_kms: reading KMS v1 and v2 envelopes (docs/formats.md §5).
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
 * The DEK/seed is unwrapped through kmsring: the plugin over its socket
 * (cached per distinct wrapped DEK/seed), or a local keyring.
 *
 * Stale (the apiserver's rule): a KMS v2 value read by the first provider is
 * stale when its key ID differs from the plugin's current one (Status) or it
 * is not of the HKDF seed type the apiserver writes since 1.29 (and
 * etcdcrypt writes); without a Status (keyring only, plugin down) only the
 * provider position counts, as for every other provider.
 *
 * Write (KMS v2 only; v1 is deprecated upstream): the run's one seed
 * (kmsring_writer), info = 32 random bytes, key = HKDF-Expand(seed, info),
 * data = info | nonce(12) | AES-256-GCM ct | tag, AAD = etcd key; the
 * EncryptedObject carries the key ID, wrapped seed and annotations of the
 * writer's Encrypt call and type 1. */
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
	char key_id[KMS_KEY_ID_MAX + 1];
	const uint8_t *dek;
	size_t dek_len;
	const uint8_t *ann; /* field-4 records: first record's tag to last record's end */
	size_t ann_len;
	uint64_t type;
};

static int parse_kms2(struct kms2_obj *o, const uint8_t *p, size_t n)
{
	struct pb_reader r;
	struct pb_field f;
	int st;

	/* not the 1 KiB key ID buffer: this runs for every value */
	o->data = o->dek = o->ann = NULL;
	o->data_len = o->dek_len = o->ann_len = 0;
	o->type = 0;
	o->key_id[0] = '\0';
	pb_init(&r, p, n);
	for (const uint8_t *at = r.p; (st = pb_next(&r, &f)) == PB_FIELD; at = r.p) {
		if (f.num == 4 && f.wire == 2) {
			if (o->ann == NULL)
				o->ann = at;
			o->ann_len = (size_t)(r.p - o->ann);
		}
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

/* The identity of the DEK in x->dek (provider, key ID, type, annotations,
 * wrapped bytes: the ring's cache key), so the next value of the same seed
 * skips the ring (its lock, its key building and hashing). */
static int same_as_last(const struct xf *x, const struct encconf_provider *p, const struct kms_wrapped *w)
{
	const char *id = w->key_id ? w->key_id : "";
	size_t idl = strlen(id);

	return x->last_ok && x->last_prov == p && x->last_type == w->source_type &&
	       x->last_id_len == idl && x->last.len == idl + w->annotations_len + w->ct_len &&
	       memcmp(x->last.data, id, idl) == 0 &&
	       (w->annotations_len == 0 || memcmp(x->last.data + idl, w->annotations, w->annotations_len) == 0) &&
	       memcmp(x->last.data + idl + w->annotations_len, w->ct, w->ct_len) == 0;
}

static int remember_last(struct xf *x, const struct encconf_provider *p, const struct kms_wrapped *w)
{
	const char *id = w->key_id ? w->key_id : "";
	int rc;

	buf_reset(&x->last);
	if ((rc = buf_append(&x->last, id, strlen(id))) < 0 ||
	    (w->annotations_len && (rc = buf_append(&x->last, w->annotations, w->annotations_len)) < 0) ||
	    (rc = buf_append(&x->last, w->ct, w->ct_len)) < 0)
		return rc;
	x->last_prov = p;
	x->last_type = w->source_type;
	x->last_id_len = strlen(id);
	x->last_ok = 1;
	return 0;
}

/* Unwraps via the ring; notes the failure and sets *failed when it failed. */
static int unwrap(struct xf *x, struct xf_result *res, const struct encconf_provider *p, const struct kms_wrapped *w,
		  int *failed)
{
	enum kmsring_status st;
	char msg[KMS_MSG_MAX];
	int rc;

	*failed = 1;
	if (w->ct_len > KMS_WRAPPED_MAX) {
		/* a wrapped DEK or seed is tens of bytes: this is not one */
		xf_note(x, res, RANK_DECRYPT, XF_MALFORMED, "KMS value: wrapped DEK of %zu bytes is not a KMS DEK",
			w->ct_len);
		return 0;
	}
	if (same_as_last(x, p, w)) {
		*failed = 0; /* x->dek still holds it: the values of one seed come in runs */
		return 0;
	}
	x->last_ok = 0;
	rc = kmsring_unwrap(x->ring, &x->dek, &st, msg, p, w);
	if (rc < 0)
		return rc;
	switch (st) {
	case KMSRING_OK:
		/* what the apiserver generates: a 32-byte seed (type 1) or AES key;
		 * anything else from a plugin is not a DEK (and must not reach the
		 * cipher, whose key sizes are fixed) */
		if (w->source_type == 1 ? x->dek.len != 32 : x->dek.len != 16 && x->dek.len != 24 && x->dek.len != 32) {
			xf_note(x, res, RANK_DECRYPT, XF_WRONG_KEY, "KMS plugin '%s' returned a DEK of %zu bytes",
				p->kms_name, x->dek.len);
			break;
		}
		*failed = 0;
		if ((rc = remember_last(x, p, w)) < 0)
			return rc;
		break;
	case KMSRING_NO_PLUGIN:
		xf_note(x, res, RANK_DECRYPT, XF_KMS_UNAVAILABLE,
			"KMS plugin '%s' (%s) cannot be asked to unwrap the DEK and no KMS keyring holds its keys", p->kms_name,
			p->kms_endpoint ? p->kms_endpoint : "no endpoint");
		break;
	case KMSRING_UNAVAILABLE:
		xf_note(x, res, RANK_DECRYPT, XF_KMS_UNAVAILABLE, "%s", msg);
		break;
	case KMSRING_UNKNOWN_KEY_ID:
		if (msg[0])
			xf_note(x, res, RANK_DECRYPT, XF_KMS_UNKNOWN_KEY_ID, "%s", msg);
		else
			xf_note(x, res, RANK_DECRYPT, XF_KMS_UNKNOWN_KEY_ID, "KMS plugin '%s' does not know key ID '%s'",
				p->kms_name, w->key_id ? w->key_id : "");
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
	struct kms_wrapped w = { .key_id = "", .ct = b + 2, .ct_len = wl };

	if ((rc = unwrap(x, res, p, &w, &failed)) < 0 || failed)
		return rc;
	if (x->raw == NULL && (rc = prov_raw_new(&x->raw)) < 0)
		return rc;
	gcm.aead = 1;
	gcm.raw = x->raw;
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
		     const struct xf_ctx *cx, const uint8_t *b, size_t n, struct kms2_obj *po)
{
	struct xf_opener op = { 0 };
	uint8_t key[32];
	struct kms2_obj o; /* a copy whose data pointer moves past the KDF info */
	struct kms_wrapped w;
	int rc, failed;

	if (parse_kms2(po, b, n) < 0) {
		xf_note(x, res, RANK_DECRYPT, XF_MALFORMED, "KMS v2 value: EncryptedObject does not parse");
		return 0;
	}
	o.data = po->data;
	o.data_len = po->data_len;
	o.type = po->type;
	w = (struct kms_wrapped){ po->key_id, (int)po->type, po->ann, po->ann_len, po->dek, po->dek_len };
	if ((rc = unwrap(x, res, p, &w, &failed)) < 0 || failed)
		return rc;
	if (x->raw == NULL && (rc = prov_raw_new(&x->raw)) < 0)
		return rc;
	op.raw = x->raw;
	op.raw_key = x->dek.data;
	op.raw_key_len = x->dek.len;
	op.aead = 1;
	if (o.type == 1) {
		if (o.data_len < KMS2_INFO) {
			xf_note(x, res, RANK_DECRYPT, XF_TRUNCATED, "KMS v2 value: data shorter than its KDF info");
			return 0;
		}
		if ((rc = prov_raw_hkdf32(x->raw, key, x->dek.data, x->dek.len, o.data, KMS2_INFO)) < 0)
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

/* The apiserver's staleness rule for a KMS v2 value read by the first
 * provider; the plugin's current key ID is asked once per transformer. */
static int kms2_stale(struct xf *x, const struct encconf_provider *p, const struct kms2_obj *o)
{
	if (!x->cur_asked) {
		const char *cur = kmsring_current_key_id(x->ring, p);

		x->cur_asked = 1;
		if (cur != NULL && (x->cur_key_id = strdup(cur)) == NULL)
			return 0; /* out of memory: say current, as without a Status */
	}
	if (x->cur_key_id == NULL)
		return 0;
	return strcmp(x->cur_key_id, o->key_id) != 0 || o->type != 1;
}

int xf_try_kms(struct xf *x, struct xf_result *res, size_t i, struct buf *plain, const struct xf_ctx *cx)
{
	const struct xf_prov *xp = &x->provs[i];
	size_t pl = strlen(xp->prefix);
	const uint8_t *b = cx->value + pl;
	size_t n = cx->value_len - pl;
	struct kms2_obj o;
	int rc;

	if (cx->value_len < pl || memcmp(cx->value, xp->prefix, pl) != 0)
		return 0;
	o.type = 0;
	o.key_id[0] = '\0';
	/* the configured plugin's prefix matched: its name, decryptable or not */
	snprintf(res->key_name, sizeof(res->key_name), "%s", xp->conf->kms_name);
	res->key_name_guessed = 0;
	if (xp->env == ENV_KMS2)
		rc = read_kms2(x, res, xp->conf, plain, cx, b, n, &o);
	else
		rc = read_kms1(x, res, xp->conf, plain, cx, b, n);
	if (rc < 0 || !res->ok)
		return rc;
	res->ok = 1;
	res->reason = XF_OK;
	res->detail[0] = '\0';
	res->kind = xp->env;
	res->provider_index = (int)i;
	res->key_index = 0;
	res->stale = i != 0 || (xp->env == ENV_KMS2 && kms2_stale(x, xp->conf, &o));
	return 0;
}

static int put_varint(struct buf *out, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return buf_append(out, b, n);
}

static int put_bytes(struct buf *out, unsigned field, const void *p, size_t n)
{
	int rc;

	if ((rc = put_varint(out, (uint64_t)field << 3 | 2)) < 0 || (rc = put_varint(out, n)) < 0)
		return rc;
	return buf_append(out, p, n);
}

/* info | nonce | AES-256-GCM(HKDF-Expand(seed, info)) into x->tmp */
static int seal_kms2_data(struct xf *x, const struct kms_writer *w, const uint8_t *etcd_key, size_t key_len,
			  const uint8_t *plain, size_t plain_len)
{
	uint8_t info[KMS2_INFO], key[32];
	int rc;

	buf_reset(&x->tmp);
	if ((rc = prov_random(info, sizeof(info))) < 0 ||
	    (rc = prov_hkdf_expand(key, sizeof(key), w->seed, sizeof(w->seed), info, sizeof(info))) < 0 ||
	    (rc = buf_append(&x->tmp, info, sizeof(info))) < 0)
		goto out;
	rc = prov_gcm_seal_raw(&x->tmp, key, sizeof(key), plain, plain_len, etcd_key, key_len);
out:
	mem_wipe(key, sizeof(key));
	return rc;
}

int xf_write_kms(struct xf *x, struct buf *out, const uint8_t *etcd_key, size_t key_len, const uint8_t *plain,
		 size_t plain_len)
{
	const struct xf_prov *p = &x->provs[0];
	const struct kms_writer *w;
	int rc;

	if (p->env != ENV_KMS2)
		return err_set(ERR_CONFIG, "cannot write with KMS v1 provider '%s': KMS v1 is deprecated; write KMS v2",
			       p->conf->kms_name);
	if ((rc = kmsring_writer(x->ring, p->conf, &w)) < 0 ||
	    (rc = seal_kms2_data(x, w, etcd_key, key_len, plain, plain_len)) < 0)
		return rc;
	/* EncryptedObject fields in number order, as Go marshals them */
	if ((rc = buf_append(out, p->prefix, strlen(p->prefix))) < 0 ||
	    (rc = put_bytes(out, 1, x->tmp.data, x->tmp.len)) < 0 ||
	    (rc = put_bytes(out, 2, w->key_id, strlen(w->key_id))) < 0 ||
	    (rc = put_bytes(out, 3, w->wrapped.data, w->wrapped.len)) < 0 ||
	    (rc = buf_append(out, w->annotations.data, w->annotations.len)) < 0 || (rc = put_varint(out, 5 << 3)) < 0)
		return rc;
	return put_varint(out, 1);
}

int xf_prefetch_add(struct xf *x, const uint8_t *value, size_t value_len)
{
	for (size_t i = 0; i < x->n; i++) {
		const struct xf_prov *xp = &x->provs[i];
		size_t pl = strlen(xp->prefix), wl;
		const uint8_t *b = value + pl;

		if (xp->env != ENV_KMS1 || value_len < pl + 2 || memcmp(value, xp->prefix, pl) != 0)
			continue;
		wl = ((size_t)b[0] << 8) | b[1];
		if (wl == 0 || wl > value_len - pl - 2 || wl > KMS_WRAPPED_MAX)
			return 0; /* malformed: xf_read will say so */
		struct kms_wrapped w = { .key_id = "", .ct = b + 2, .ct_len = wl };
		return kmsring_prefetch_add(x->ring, xp->conf, &w);
	}
	return 0;
}

int xf_prefetch_run(struct xf *x)
{
	return kmsring_prefetch_run(x->ring);
}
