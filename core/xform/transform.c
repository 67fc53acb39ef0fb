/* transform: apiserver read/write rules; see transform.h. */
#include "transform.h"
#include "base/err.h"
#include "prov.h"
#include "xf_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* strlcpy: names are copied for every value read, so no printf machinery */
static void set_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static enum env_kind env_of(const struct encconf_provider *p)
{
	switch (p->kind) {
	case ENCCONF_AESCBC: return ENV_AESCBC;
	case ENCCONF_AESGCM: return ENV_AESGCM;
	case ENCCONF_SECRETBOX: return ENV_SECRETBOX;
	case ENCCONF_KMS: return p->kms_api_version == 2 ? ENV_KMS2 : ENV_KMS1;
	default: return ENV_IDENTITY;
	}
}

static int prov_setup(struct xf_prov *xp, const struct encconf_provider *p)
{
	xp->conf = p;
	xp->env = env_of(p);
	if (p->kind == ENCCONF_IDENTITY)
		return 0;
	if (p->kind == ENCCONF_KMS) {
		int n = snprintf(xp->prefix, sizeof(xp->prefix), "%s%s:", env_prefix(xp->env), p->kms_name);

		if (n < 0 || (size_t)n >= sizeof(xp->prefix))
			return err_set(ERR_CONFIG, "KMS provider name '%s' is too long", p->kms_name);
		return 0;
	}
	snprintf(xp->prefix, sizeof(xp->prefix), "%s", env_prefix(xp->env));
	xp->ciphers = calloc(p->n_keys, sizeof(*xp->ciphers));
	if (xp->ciphers == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t k = 0; k < p->n_keys; k++) {
		int rc = prov_cipher_new(&xp->ciphers[k], p->kind, p->keys[k].secret, p->keys[k].secret_len);

		if (rc < 0)
			return err_wrap(rc, "key '%s'", p->keys[k].name);
	}
	return 0;
}

int xf_new(struct xf **out, const struct encconf *conf, const char *group, const char *resource,
	   const struct kms_ring *ring)
{
	static const struct encconf_provider identity = { .kind = ENCCONF_IDENTITY };
	const struct encconf_rule *rule = conf ? encconf_rule_for(conf, group, resource) : NULL;
	size_t n = rule ? rule->n_providers : 1;
	struct xf *x;
	int rc = 0;

	*out = NULL;
	x = calloc(1, sizeof(*x));
	if (x == NULL || (x->provs = calloc(n, sizeof(*x->provs))) == NULL) {
		free(x);
		return err_set(ERR_NOMEM, "out of memory");
	}
	x->n = n;
	x->ring = ring;
	buf_init(&x->tmp, 0);
	buf_init(&x->dek, 4096);
	buf_init(&x->last, 0);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct encconf_provider *p = rule ? &rule->providers[i] : &identity;

		rc = prov_setup(&x->provs[i], p);
		if (p->kind != ENCCONF_IDENTITY)
			x->encrypting = 1;
	}
	if (rc < 0) {
		xf_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

void xf_free(struct xf *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++) {
		struct xf_prov *p = &x->provs[i];

		for (size_t k = 0; p->ciphers && k < p->conf->n_keys; k++)
			prov_cipher_free(p->ciphers[k]);
		free(p->ciphers);
	}
	free(x->provs);
	buf_release(&x->tmp);
	buf_release(&x->dek);
	buf_release(&x->last);
	free(x->cur_key_id);
	prov_raw_free(x->raw);
	free(x);
}

void xf_note(struct xf *x, struct xf_result *res, int rank, enum xf_reason reason, const char *fmt, ...)
{
	va_list ap;

	/* keep the most specific failure; among equals, the first */
	if (rank <= x->rank)
		return;
	x->rank = rank;
	res->reason = reason;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

static int starts_with(const uint8_t *v, size_t n, const char *prefix, size_t pl)
{
	return n >= pl && memcmp(v, prefix, pl) == 0;
}

/* Accepts a decrypted plaintext for provider i, key k. */
static void succeed(struct xf *x, struct xf_result *res, size_t i, size_t k, const char *name, struct buf *plain)
{
	res->ok = 1;
	res->reason = XF_OK;
	res->detail[0] = '\0';
	res->kind = x->provs[i].env;
	set_str(res->key_name, sizeof(res->key_name), name);
	res->key_name_guessed = 0;
	res->provider_index = (int)i;
	res->key_index = (int)k;
	res->stale = !(i == 0 && k == 0);
	(void)plain;
}

static int try_identity(struct xf *x, struct xf_result *res, size_t i, struct buf *plain, const uint8_t *v,
			size_t n)
{
	int rc;

	/* identity refuses encrypted data and the search goes on; whether that
	 * is "encryption off" or "provider not configured" is decided at the end */
	if (starts_with(v, n, ENV_ENC_PREFIX, strlen(ENV_ENC_PREFIX)))
		return 0;
	xf_inspect(x, &res->plain, v, n);
	if (res->plain.verdict != PLAIN_VALID) {
		xf_note(x, res, RANK_DECRYPT, XF_NOT_OBJECT, "plaintext value is not a stored object (%s)",
			plain_encoding_name(res->plain.encoding));
		return 0;
	}
	buf_reset(plain);
	if ((rc = buf_append(plain, v, n)) < 0)
		return rc;
	succeed(x, res, i, 0, "", plain);
	return 0;
}

/* A key name matched: decrypt with it and judge the result. */
static int try_key(struct xf *x, struct xf_result *res, size_t i, size_t k, struct buf *plain,
		   const struct xf_ctx *cx, const uint8_t *body, size_t n)
{
	struct xf_opener op = { .cipher = x->provs[i].ciphers[k],
				.aead = x->provs[i].conf->kind != ENCCONF_AESCBC };
	const char *name = x->provs[i].conf->keys[k].name;
	enum prov_fail why;
	int rc;

	rc = xf_open(&op, plain, body, n, cx->key, cx->key_len, &why);
	if (rc < 0)
		return rc;
	rc = xf_judge(x, res, &op, plain, cx, body, n, why, name);
	if (rc < 0 || !res->ok)
		return rc;
	succeed(x, res, i, k, name, plain);
	return 0;
}

static int try_keyed(struct xf *x, struct xf_result *res, size_t i, struct buf *plain, const struct xf_ctx *cx)
{
	const struct xf_prov *p = &x->provs[i];
	size_t pl = strlen(p->prefix), matched = 0;

	if (!starts_with(cx->value, cx->value_len, p->prefix, pl))
		return 0;
	for (size_t k = 0; k < p->conf->n_keys && !res->ok; k++) {
		const char *name = p->conf->keys[k].name;
		size_t nl = strlen(name);
		const uint8_t *rest = cx->value + pl;
		size_t rl = cx->value_len - pl;

		if (rl <= nl || memcmp(rest, name, nl) != 0 || rest[nl] != ':')
			continue;
		/* the value carries this configured key's prefix: it is that key's,
		 * whether or not it decrypts (never the envelope's guess) */
		if (!matched)
			set_str(res->key_name, sizeof(res->key_name), name);
		res->key_name_guessed = 0;
		matched++;
		int rc = try_key(x, res, i, k, plain, cx, rest + nl + 1, rl - nl - 1);
		if (rc < 0)
			return rc;
	}
	if (!matched)
		xf_note(x, res, RANK_UNKNOWN_KEY, XF_UNKNOWN_KEY, "no key named '%s' in %s provider %zu",
			res->key_name, p->conf ? encconf_kind_name(p->conf->kind) : "?", i + 1);
	return 0;
}

static void finish_failure(struct xf *x, struct xf_result *res, const struct env_info *env)
{
	res->ok = 0;
	res->provider_index = -1;
	res->key_index = -1;
	if (res->reason != XF_OK)
		return;
	/* nothing even matched: the value's provider is not configured */
	if (env->kind != ENV_IDENTITY && !x->encrypting)
		res->reason = XF_IDENTITY_REJECTS;
	else
		res->reason = XF_NO_MATCHING_PROVIDER;
	snprintf(res->detail, sizeof(res->detail), "no matching prefix found (value is %s%s%s)",
		 env_kind_name(env->kind), env->key_name[0] ? ":" : "", env->key_name);
}

int xf_read(struct xf *x, struct xf_result *res, struct buf *plain, const uint8_t *etcd_key, size_t key_len,
	    const uint8_t *value, size_t value_len)
{
	struct xf_ctx cx = { etcd_key, key_len, value, value_len };
	struct env_info env;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	x->rank = 0;
	buf_reset(plain);
	env_classify(&env, value, value_len);
	res->kind = env.kind;
	set_str(res->key_name, sizeof(res->key_name), env.key_name);
	res->key_name_guessed = env.name_guessed;
	set_str(res->kms_key_id, sizeof(res->kms_key_id), env.kms_key_id);
	for (size_t i = 0; i < x->n && !res->ok && rc == 0; i++) {
		const struct xf_prov *p = &x->provs[i];

		if (p->conf->kind == ENCCONF_IDENTITY)
			rc = try_identity(x, res, i, plain, value, value_len);
		else if (p->conf->kind == ENCCONF_KMS)
			rc = xf_try_kms(x, res, i, plain, &cx);
		else
			rc = try_keyed(x, res, i, plain, &cx);
	}
	if (rc < 0)
		return rc;
	if (!res->ok) {
		finish_failure(x, res, &env);
		buf_reset(plain);
	}
	return 0;
}

int xf_read_back(struct xf *x, struct xf_result *res, struct buf *plain, const uint8_t *etcd_key, size_t key_len,
		 const uint8_t *value, size_t value_len, const uint8_t *expect, size_t expect_len,
		 const struct plain_info *expect_info)
{
	int rc;

	x->known = expect;
	x->known_len = expect_len;
	x->known_info = expect_info;
	rc = xf_read(x, res, plain, etcd_key, key_len, value, value_len);
	x->known = NULL;
	x->known_len = 0;
	x->known_info = NULL;
	return rc;
}

int xf_write(struct xf *x, struct buf *out, const uint8_t *etcd_key, size_t key_len, const uint8_t *plain,
	     size_t plain_len)
{
	const struct xf_prov *p = &x->provs[0];
	const char *name;
	int rc;

	buf_reset(out);
	switch (p->conf->kind) {
	case ENCCONF_IDENTITY:
		return buf_append(out, plain, plain_len);
	case ENCCONF_KMS:
		return xf_write_kms(x, out, etcd_key, key_len, plain, plain_len);
	default:
		break;
	}
	name = p->conf->keys[0].name;
	if ((rc = buf_append(out, p->prefix, strlen(p->prefix))) < 0 ||
	    (rc = buf_append(out, name, strlen(name))) < 0 || (rc = buf_append(out, ":", 1)) < 0)
		return rc;
	return prov_seal(p->ciphers[0], out, plain, plain_len, etcd_key, key_len);
}

int xf_ready(struct xf *x)
{
	const struct kms_writer *w;

	if (x->provs[0].env != ENV_KMS2)
		return 0;
	return kmsring_writer(x->ring, x->provs[0].conf, &w);
}

void xf_target(const struct xf *x, enum env_kind *kind, const char **key_name)
{
	const struct encconf_provider *p = x->provs[0].conf;

	*kind = x->provs[0].env;
	if (p->kind == ENCCONF_KMS)
		*key_name = p->kms_name;
	else if (p->kind == ENCCONF_IDENTITY)
		*key_name = "";
	else
		*key_name = p->keys[0].name;
}

int xf_is_current(const struct xf_result *res)
{
	/* stale also covers a first-provider KMS v2 value under an old key ID */
	return res->ok && res->provider_index == 0 && res->key_index == 0 && !res->stale;
}

const char *xf_reason_name(enum xf_reason r)
{
	static const char *const names[] = {
		[XF_OK] = "ok",
		[XF_UNKNOWN_KEY] = "unknown_key",
		[XF_WRONG_KEY] = "wrong_key",
		[XF_TRUNCATED] = "truncated",
		[XF_BAD_PADDING] = "bad_padding",
		[XF_IV_ONLY] = "iv_only",
		[XF_TAG_MISMATCH] = "tag_mismatch",
		[XF_AAD_MISMATCH] = "aad_mismatch",
		[XF_IDENTITY_REJECTS] = "identity_rejects_encrypted",
		[XF_NO_MATCHING_PROVIDER] = "no_matching_provider",
		[XF_MALFORMED] = "malformed",
		[XF_KMS_UNKNOWN_KEY_ID] = "kms_unknown_key_id",
		[XF_KMS_UNAVAILABLE] = "kms_unavailable",
		[XF_NOT_OBJECT] = "not_object",
	};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}
