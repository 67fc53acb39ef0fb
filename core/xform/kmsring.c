/* kmsring: KMS DEKs and seeds from plugins or local KEKs; see kmsring.h. */
#include "kmsring.h"
#include "base/b64.h"
#include "base/err.h"
#include "base/file.h"
#include "prov.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kms_kek {
	char *plugin;
	char *key_id;
	uint8_t kek[32];
};

/* per-run state, mutable behind the const rings the transformers hold */
struct kms_ring_state {
	struct kms_writer **writers;
	char **writer_names;
	size_t n_writers;
	const struct encconf_provider **pf_prov; /* queued KMS v1 prefetches */
	struct kms_wrapped *pf_w;
	size_t pf_n, pf_cap;
};

struct kms_ring {
	struct kms_kek *keks;
	size_t n;
	struct kms_set *set;
	struct kms_ring_state *st;
};

static int add_kek(struct kms_ring *r, const char *path, const char *plugin, const char *id, const char *b64)
{
	struct kms_kek *k;
	uint8_t tmp[64];
	long n = b64_decode(tmp, sizeof(tmp), b64, strlen(b64));

	if (n != 32) {
		mem_wipe(tmp, sizeof(tmp));
		return err_set(ERR_CONFIG, "%s: plugins.%s.keks_b64.%s: must be base64 of 32 bytes", path, plugin,
			       id[0] ? id : "\"\"");
	}
	k = realloc(r->keks, (r->n + 1) * sizeof(*k));
	if (k == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	r->keks = k;
	k = &r->keks[r->n++];
	k->plugin = strdup(plugin);
	k->key_id = strdup(id);
	memcpy(k->kek, tmp, 32);
	mem_wipe(tmp, sizeof(tmp));
	if (k->plugin == NULL || k->key_id == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

static int load_plugins(struct kms_ring *r, const char *path, json_t *plugins)
{
	const char *name, *id;
	json_t *p, *v;

	json_object_foreach(plugins, name, p) {
		json_t *keks = json_object_get(p, "keks_b64");

		if (!json_is_object(keks))
			return err_set(ERR_CONFIG, "%s: plugins.%s: keks_b64 must be an object", path, name);
		json_object_foreach(keks, id, v) {
			int rc;

			if (!json_is_string(v))
				return err_set(ERR_CONFIG, "%s: plugins.%s.keks_b64: values must be strings", path,
					       name);
			if ((rc = add_kek(r, path, name, id, json_string_value(v))) < 0)
				return rc;
		}
	}
	return 0;
}

int kmsring_new(struct kms_ring **out, struct kms_set *set)
{
	struct kms_ring *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL || (r->st = calloc(1, sizeof(*r->st))) == NULL) {
		free(r);
		return err_set(ERR_NOMEM, "out of memory");
	}
	r->set = set;
	*out = r;
	return 0;
}

int kmsring_load_file(struct kms_ring *r, const char *path)
{
	json_error_t e;
	json_t *root;
	int fd, rc;

	if ((rc = file_open_regular(&fd, path, "KMS keyring", ERR_CONFIG)) < 0)
		return rc;
	root = json_loadfd(fd, 0, &e);
	close(fd);
	if (root == NULL)
		return err_set(ERR_CONFIG, "%s:%d:%d: %s", path, e.line, e.column, e.text);
	json_t *plugins = json_object_get(root, "plugins");
	if (!json_is_object(plugins))
		rc = err_set(ERR_CONFIG, "%s: no \"plugins\" object", path);
	else
		rc = load_plugins(r, path, plugins);
	json_decref(root);
	return rc;
}

int kmsring_load(struct kms_ring **out, const char *path)
{
	struct kms_ring *r;
	int rc = kmsring_new(&r, NULL);

	*out = NULL;
	if (rc < 0)
		return rc;
	if ((rc = kmsring_load_file(r, path)) < 0) {
		kmsring_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void kmsring_free(struct kms_ring *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		mem_wipe(r->keks[i].kek, sizeof(r->keks[i].kek));
		free(r->keks[i].plugin);
		free(r->keks[i].key_id);
	}
	free(r->keks);
	for (size_t i = 0; r->st && i < r->st->n_writers; i++) {
		struct kms_writer *w = r->st->writers[i];

		mem_wipe(w->seed, sizeof(w->seed));
		buf_release(&w->wrapped);
		buf_release(&w->annotations);
		free(w);
		free(r->st->writer_names[i]);
	}
	if (r->st) {
		free(r->st->writers);
		free(r->st->writer_names);
		free(r->st->pf_prov);
		free(r->st->pf_w);
	}
	free(r->st);
	free(r);
}

static void ref_of(struct kms_plugin_ref *ref, const struct encconf_provider *p)
{
	ref->name = p->kms_name;
	ref->endpoint = p->kms_endpoint;
	ref->timeout_ms = p->kms_timeout_ms;
	ref->api = p->kms_api_version == 2 ? 2 : 1;
}

/* 1 when the keyring holds KEKs of plugin name (the plugin is then never asked) */
static int ring_has(const struct kms_ring *r, const char *name)
{
	for (size_t i = 0; r != NULL && i < r->n; i++)
		if (strcmp(r->keks[i].plugin, name) == 0)
			return 1;
	return 0;
}

static int unwrap_local(const struct kms_ring *r, struct buf *dek, enum kmsring_status *status, const char *name,
			const char *key_id, const uint8_t *wrapped, size_t wrapped_len)
{
	enum prov_fail why;

	for (size_t i = 0; i < r->n; i++) {
		const struct kms_kek *k = &r->keks[i];

		if (strcmp(k->plugin, name) != 0 || strcmp(k->key_id, key_id) != 0)
			continue;
		int rc = prov_gcm_open_raw(dek, k->kek, sizeof(k->kek), wrapped, wrapped_len, NULL, 0, &why);
		if (rc < 0)
			return rc;
		*status = why == PROV_OK ? KMSRING_OK : KMSRING_UNWRAP_FAILED;
		if (why != PROV_OK)
			buf_reset(dek);
		return 0;
	}
	*status = KMSRING_UNKNOWN_KEY_ID;
	return 0;
}

int kmsring_unwrap(const struct kms_ring *r, struct buf *dek, enum kmsring_status *status, char msg[KMS_MSG_MAX],
		   const struct encconf_provider *p, const struct kms_wrapped *w)
{
	struct kms_plugin_ref ref;
	enum kms_fail fail;
	int rc;

	msg[0] = '\0';
	buf_reset(dek);
	if (ring_has(r, p->kms_name))
		return unwrap_local(r, dek, status, p->kms_name, w->key_id ? w->key_id : "", w->ct, w->ct_len);
	if (r == NULL || r->set == NULL) {
		*status = KMSRING_NO_PLUGIN;
		return 0;
	}
	ref_of(&ref, p);
	if ((rc = kms_set_decrypt(r->set, &ref, w, dek, &fail, msg)) < 0)
		return rc;
	*status = fail == KMS_OK ? KMSRING_OK : fail == KMS_UNKNOWN_KEY_ID ? KMSRING_UNKNOWN_KEY_ID : KMSRING_UNAVAILABLE;
	return 0;
}

const char *kmsring_current_key_id(const struct kms_ring *r, const struct encconf_provider *p)
{
	static __thread struct kms_status st;
	struct kms_plugin_ref ref;
	enum kms_fail fail;
	char msg[KMS_MSG_MAX];

	if (r == NULL || r->set == NULL || ring_has(r, p->kms_name) || p->kms_api_version != 2)
		return NULL;
	ref_of(&ref, p);
	if (kms_set_status(r->set, &ref, &st, &fail, msg) < 0 || fail != KMS_OK || st.key_id[0] == '\0') {
		err_clear();
		return NULL;
	}
	return st.key_id;
}

struct kms_set *kmsring_set(const struct kms_ring *r)
{
	return r ? r->set : NULL;
}

/* Status as the apiserver checks it before it writes with a plugin. */
static int check_status(struct kms_set *set, const struct kms_plugin_ref *ref, struct kms_status *st)
{
	enum kms_fail fail;
	char msg[KMS_MSG_MAX];
	int rc = kms_set_status(set, ref, st, &fail, msg);

	if (rc < 0)
		return rc;
	if (fail != KMS_OK)
		return err_set(ERR_REFUSED, "%s", msg);
	if (strcmp(st->healthz, "ok") != 0)
		return err_set(ERR_REFUSED, "KMS plugin '%s' is not healthy: Status healthz '%s'", ref->name,
			       st->healthz);
	if (strcmp(st->version, "v2") != 0 && strcmp(st->version, "v2beta1") != 0)
		return err_set(ERR_REFUSED, "KMS plugin '%s' answers Status with version '%s', not v2", ref->name,
			       st->version);
	if (st->key_id[0] == '\0')
		return err_set(ERR_REFUSED, "KMS plugin '%s' answers Status with an empty key ID", ref->name);
	return 0;
}

static int new_writer(const struct kms_ring *r, const struct encconf_provider *p, struct kms_writer *w)
{
	struct kms_status st;
	struct kms_plugin_ref ref;
	enum kms_fail fail;
	char msg[KMS_MSG_MAX];
	int rc;

	if (r == NULL || r->set == NULL || ring_has(r, p->kms_name))
		return err_set(ERR_REFUSED, "cannot write with KMS plugin '%s' without its socket (a keyring "
			       "only reads)", p->kms_name);
	ref_of(&ref, p);
	if ((rc = check_status(r->set, &ref, &st)) < 0 || (rc = prov_random(w->seed, sizeof(w->seed))) < 0)
		return rc;
	rc = kms_set_encrypt(r->set, &ref, 1, w->seed, sizeof(w->seed), &w->wrapped, w->key_id, &w->annotations,
			     &fail, msg);
	if (rc < 0)
		return rc;
	if (fail != KMS_OK)
		return err_set(ERR_REFUSED, "%s", msg);
	if (strcmp(w->key_id, st.key_id) != 0)
		return err_set(ERR_REFUSED, "KMS plugin '%s': Encrypt used key ID '%s' but Status says '%s' "
			       "(a rotation in progress; try again)", p->kms_name, w->key_id, st.key_id);
	return 0;
}

int kmsring_writer(const struct kms_ring *r, const struct encconf_provider *p, const struct kms_writer **out)
{
	struct kms_ring_state *s = r ? r->st : NULL;
	struct kms_writer *w, **ws;
	char **ns;
	int rc;

	*out = NULL;
	for (size_t i = 0; s && i < s->n_writers; i++)
		if (strcmp(s->writer_names[i], p->kms_name) == 0) {
			*out = s->writers[i];
			return 0;
		}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	buf_init(&w->wrapped, 0);
	buf_init(&w->annotations, 0);
	if ((rc = new_writer(r, p, w)) < 0)
		goto fail;
	ws = realloc(s->writers, (s->n_writers + 1) * sizeof(*ws));
	if (ws)
		s->writers = ws;
	ns = realloc(s->writer_names, (s->n_writers + 1) * sizeof(*ns));
	if (ns)
		s->writer_names = ns;
	if (ws == NULL || ns == NULL || (ns[s->n_writers] = strdup(p->kms_name)) == NULL) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	ws[s->n_writers++] = w;
	*out = w;
	return 0;
fail:
	mem_wipe(w->seed, sizeof(w->seed));
	buf_release(&w->wrapped);
	buf_release(&w->annotations);
	free(w);
	return rc;
}

int kmsring_prefetch_add(const struct kms_ring *r, const struct encconf_provider *p, const struct kms_wrapped *w)
{
	struct kms_ring_state *s;

	if (r == NULL || r->set == NULL || p->kms_api_version == 2 || ring_has(r, p->kms_name))
		return 0;
	s = r->st;
	if (s->pf_n == s->pf_cap) {
		size_t cap = s->pf_cap ? s->pf_cap * 2 : 256;
		const struct encconf_provider **pp = realloc(s->pf_prov, cap * sizeof(*pp));
		struct kms_wrapped *ww;

		if (pp == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		s->pf_prov = pp;
		if ((ww = realloc(s->pf_w, cap * sizeof(*ww))) == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		s->pf_w = ww;
		s->pf_cap = cap;
	}
	s->pf_prov[s->pf_n] = p;
	s->pf_w[s->pf_n++] = *w;
	return 0;
}

int kmsring_prefetch_run(const struct kms_ring *r)
{
	struct kms_ring_state *s = r ? r->st : NULL;
	int rc = 0;

	if (s == NULL || s->pf_n == 0)
		return 0;
	/* one batch per provider; a page rarely holds more than one v1 plugin */
	for (size_t i = 0; i < s->pf_n && rc == 0;) {
		const struct encconf_provider *p = s->pf_prov[i];
		struct kms_plugin_ref ref;
		size_t j = i;

		while (j < s->pf_n && s->pf_prov[j] == p)
			j++;
		ref_of(&ref, p);
		rc = kms_set_prefetch(r->set, &ref, &s->pf_w[i], j - i);
		i = j;
	}
	s->pf_n = 0;
	return rc;
}

void kmsring_new_run(const struct kms_ring *r)
{
	struct kms_ring_state *s = r ? r->st : NULL;

	for (size_t i = 0; s && i < s->n_writers; i++) {
		mem_wipe(s->writers[i]->seed, sizeof(s->writers[i]->seed));
		buf_release(&s->writers[i]->wrapped);
		buf_release(&s->writers[i]->annotations);
		free(s->writers[i]);
		free(s->writer_names[i]);
	}
	if (s)
		s->n_writers = 0;
	if (r && r->set)
		kms_set_new_run(r->set);
}
