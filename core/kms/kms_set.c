/* kms_set: the plugins of one run, their endpoint overrides, the decrypt
 * cache and the accounting (see kms.h).
 *
 * Cache: KMS_CACHE_SLOTS slots, open addressing over a 64-bit FNV-1a hash of
 * the full key (plugin name, key ID, source type, annotations, wrapped
 * bytes), probing CACHE_PROBE slots; a full window evicts its first slot.
 * Keys are compared in full, never by hash alone. Plaintexts (DEKs/seeds)
 * are wiped when evicted or freed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "etcd/etcd.h"
#include "kms_int.h"

#define CACHE_PROBE 8

struct kms_override {
	char *name;
	char *endpoint;
};

struct cache_ent {
	int used;
	uint64_t h;
	uint8_t *key;
	size_t key_len;
	uint8_t *plain;
	size_t plain_len;
	enum kms_fail fail;
	char *msg; /* when fail */
};

struct kms_set {
	pthread_mutex_t mu;
	int debug;
	int grpc_held;
	struct kms_override *ov;
	size_t n_ov;
	struct kms_conn **conns;
	size_t n_conns;
	struct cache_ent *cache;
	struct buf key; /* scratch: the cache key being looked up */
};

int kms_set_new(struct kms_set **out, int debug)
{
	struct kms_set *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL || (s->cache = calloc(KMS_CACHE_SLOTS, sizeof(*s->cache))) == NULL) {
		free(s);
		return err_set(ERR_NOMEM, "out of memory");
	}
	pthread_mutex_init(&s->mu, NULL);
	s->debug = debug;
	buf_init(&s->key, 0);
	*out = s;
	return 0;
}

static void ent_clear(struct cache_ent *e)
{
	if (e->plain)
		mem_wipe(e->plain, e->plain_len);
	free(e->plain);
	free(e->key);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

void kms_set_free(struct kms_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < KMS_CACHE_SLOTS; i++)
		ent_clear(&s->cache[i]);
	free(s->cache);
	for (size_t i = 0; i < s->n_conns; i++)
		kms_conn_close(s->conns[i]);
	free(s->conns);
	for (size_t i = 0; i < s->n_ov; i++) {
		free(s->ov[i].name);
		free(s->ov[i].endpoint);
	}
	free(s->ov);
	buf_release(&s->key);
	if (s->grpc_held)
		etcd_grpc_unref();
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int kms_set_override(struct kms_set *s, const char *spec)
{
	const char *eq = strchr(spec, '=');
	struct kms_override *o;

	if (eq == NULL || eq == spec || strncmp(eq + 1, "unix:///", 8) != 0 || eq[9] == '\0')
		return err_set(ERR_USAGE, "'%s': expected NAME=unix:///path", spec);
	if ((o = realloc(s->ov, (s->n_ov + 1) * sizeof(*o))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	s->ov = o;
	o = &s->ov[s->n_ov];
	o->name = strndup(spec, (size_t)(eq - spec));
	o->endpoint = strdup(eq + 1);
	if (o->name == NULL || o->endpoint == NULL) {
		free(o->name);
		free(o->endpoint);
		return err_set(ERR_NOMEM, "out of memory");
	}
	s->n_ov++;
	return 0;
}

static const char *endpoint_for(const struct kms_set *s, const struct kms_plugin_ref *p)
{
	/* the last override of a name wins, as with repeated flags elsewhere */
	for (size_t i = s->n_ov; i-- > 0;)
		if (strcmp(s->ov[i].name, p->name) == 0)
			return s->ov[i].endpoint;
	return p->endpoint ? p->endpoint : "";
}

static int conn_for(struct kms_set *s, const struct kms_plugin_ref *p, struct kms_conn **out)
{
	const char *ep = endpoint_for(s, p);
	struct kms_conn **cs, *c;
	int rc;

	for (size_t i = 0; i < s->n_conns; i++) {
		c = s->conns[i];
		if (c->api == p->api && strcmp(c->name, p->name) == 0 && strcmp(c->endpoint, ep) == 0) {
			*out = c;
			return 0;
		}
	}
	if (!s->grpc_held) {
		etcd_grpc_ref(s->debug);
		s->grpc_held = 1;
	}
	if ((cs = realloc(s->conns, (s->n_conns + 1) * sizeof(*cs))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	s->conns = cs;
	if ((rc = kms_conn_open(&c, p->name, ep, p->timeout_ms, p->api)) < 0)
		return rc;
	s->conns[s->n_conns++] = c;
	*out = c;
	return 0;
}

static int add_field(struct buf *k, const void *p, size_t n)
{
	uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	int rc = buf_append(k, len, sizeof(len));

	return rc < 0 || n == 0 ? rc : buf_append(k, p, n);
}

/* The cache key: every field length-prefixed, so no two keys collide. */
static int build_key(struct buf *k, const struct kms_conn *c, const struct kms_wrapped *w)
{
	const char *id = w->key_id ? w->key_id : "";
	uint8_t type[2] = { (uint8_t)c->api, (uint8_t)w->source_type };
	int rc;

	buf_reset(k);
	if ((rc = add_field(k, c->name, strlen(c->name))) < 0 || (rc = add_field(k, c->endpoint, strlen(c->endpoint))) < 0 ||
	    (rc = add_field(k, type, sizeof(type))) < 0 || (rc = add_field(k, id, strlen(id))) < 0 ||
	    (rc = add_field(k, w->annotations, w->annotations_len)) < 0)
		return rc;
	return add_field(k, w->ct, w->ct_len);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static struct cache_ent *cache_find(struct kms_set *s, const struct buf *k, uint64_t h)
{
	for (size_t i = 0; i < CACHE_PROBE; i++) {
		struct cache_ent *e = &s->cache[(h + i) % KMS_CACHE_SLOTS];

		if (e->used && e->h == h && e->key_len == k->len && memcmp(e->key, k->data, k->len) == 0)
			return e;
	}
	return NULL;
}

static int cache_put(struct kms_set *s, const struct buf *k, uint64_t h, const struct buf *plain, enum kms_fail fail,
		     const char *msg)
{
	struct cache_ent *e = &s->cache[h % KMS_CACHE_SLOTS];

	for (size_t i = 0; i < CACHE_PROBE; i++) {
		struct cache_ent *f = &s->cache[(h + i) % KMS_CACHE_SLOTS];

		if (!f->used) {
			e = f;
			break;
		}
	}
	ent_clear(e);
	e->h = h;
	e->fail = fail;
	e->key = malloc(k->len ? k->len : 1);
	e->plain = malloc(plain->len ? plain->len : 1);
	e->msg = fail ? strdup(msg) : NULL;
	if (e->key == NULL || e->plain == NULL || (fail && e->msg == NULL)) {
		ent_clear(e);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (k->len > 0) /* an empty buf has no data pointer */
		memcpy(e->key, k->data, k->len);
	e->key_len = k->len;
	if (plain->len > 0)
		memcpy(e->plain, plain->data, plain->len);
	e->plain_len = plain->len;
	e->used = 1;
	return 0;
}

int kms_set_status(struct kms_set *s, const struct kms_plugin_ref *p, struct kms_status *out, enum kms_fail *fail,
		   char msg[KMS_MSG_MAX])
{
	struct kms_conn *c;
	int rc;

	pthread_mutex_lock(&s->mu);
	*fail = KMS_OK;
	msg[0] = '\0';
	if ((rc = conn_for(s, p, &c)) == 0 && !c->have_status) {
		rc = kms_conn_status(c, &c->status, &c->status_fail, c->status_msg);
		c->have_status = rc == 0;
	}
	if (rc == 0) {
		*out = c->status;
		*fail = c->status_fail;
		memcpy(msg, c->status_msg, KMS_MSG_MAX);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int kms_set_decrypt(struct kms_set *s, const struct kms_plugin_ref *p, const struct kms_wrapped *w,
		    struct buf *plain, enum kms_fail *fail, char msg[KMS_MSG_MAX])
{
	struct cache_ent *e;
	struct kms_conn *c;
	uint64_t h;
	int rc;

	pthread_mutex_lock(&s->mu);
	*fail = KMS_OK;
	msg[0] = '\0';
	buf_reset(plain);
	if ((rc = conn_for(s, p, &c)) < 0 || (rc = build_key(&s->key, c, w)) < 0)
		goto out;
	h = fnv1a(s->key.data, s->key.len);
	if ((e = cache_find(s, &s->key, h)) != NULL) {
		c->st.cache_hits++;
		*fail = e->fail;
		if (e->fail)
			snprintf(msg, KMS_MSG_MAX, "%s", e->msg);
		else
			rc = buf_append(plain, e->plain, e->plain_len);
		goto out;
	}
	if ((rc = kms_conn_decrypt(c, w, plain, fail, msg)) == 0)
		rc = cache_put(s, &s->key, h, plain, *fail, msg);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

struct prefetch {
	struct kms_set *s;
	struct kms_conn *c;
	const struct kms_wrapped *w;
};

static int prefetched(void *arg, size_t i, const struct buf *plain, enum kms_fail fail, const char *msg)
{
	struct prefetch *pf = arg;
	int rc = build_key(&pf->s->key, pf->c, &pf->w[i]);

	return rc < 0 ? rc : cache_put(pf->s, &pf->s->key, fnv1a(pf->s->key.data, pf->s->key.len), plain, fail, msg);
}

int kms_set_prefetch(struct kms_set *s, const struct kms_plugin_ref *p, const struct kms_wrapped *w, size_t n)
{
	struct prefetch pf = { s, NULL, w };
	size_t *idx = NULL, m = 0;
	int rc;

	if (p->api != 1 || n == 0)
		return 0;
	pthread_mutex_lock(&s->mu);
	if ((rc = conn_for(s, p, &pf.c)) < 0 || pf.c->down)
		goto out;
	if ((idx = malloc(n * sizeof(*idx))) == NULL) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = build_key(&s->key, pf.c, &w[i])) == 0 &&
		    cache_find(s, &s->key, fnv1a(s->key.data, s->key.len)) == NULL)
			idx[m++] = i;
	}
	if (rc == 0)
		rc = kms_conn_decrypt_many(pf.c, w, idx, m, KMS_PREFETCH_INFLIGHT, prefetched, &pf);
out:
	free(idx);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int kms_set_encrypt(struct kms_set *s, const struct kms_plugin_ref *p, int source_type, const uint8_t *plain,
		    size_t n, struct buf *ct, char key_id[KMS_KEY_ID_MAX + 1], struct buf *annotations,
		    enum kms_fail *fail, char msg[KMS_MSG_MAX])
{
	struct kms_wrapped w;
	struct buf pb = { (uint8_t *)plain, n, n, n };
	struct kms_conn *c;
	int rc;

	pthread_mutex_lock(&s->mu);
	*fail = KMS_OK;
	msg[0] = '\0';
	if ((rc = conn_for(s, p, &c)) < 0 || (rc = kms_conn_encrypt(c, plain, n, ct, key_id, annotations, fail, msg)) < 0 ||
	    *fail)
		goto out;
	w.key_id = c->api == 2 ? key_id : "";
	w.source_type = source_type;
	w.annotations = annotations->data;
	w.annotations_len = annotations->len;
	w.ct = ct->data;
	w.ct_len = ct->len;
	if ((rc = build_key(&s->key, c, &w)) == 0)
		rc = cache_put(s, &s->key, fnv1a(s->key.data, s->key.len), &pb, KMS_OK, "");
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void kms_set_new_run(struct kms_set *s)
{
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n_conns; i++) {
		struct kms_conn *c = s->conns[i];

		c->have_status = 0;
		if (c->down && c->ch != NULL) /* a bad endpoint stays down: it cannot heal */
			c->down = 0;
	}
	/* failures were cached with the DEKs: forget them, keep the DEKs */
	for (size_t i = 0; i < KMS_CACHE_SLOTS; i++)
		if (s->cache[i].used && s->cache[i].fail)
			ent_clear(&s->cache[i]);
	pthread_mutex_unlock(&s->mu);
}

size_t kms_set_n_plugins(const struct kms_set *s)
{
	return s ? s->n_conns : 0;
}

void kms_set_stats(const struct kms_set *s, size_t i, struct kms_stats *out)
{
	*out = s->conns[i]->st;
}
