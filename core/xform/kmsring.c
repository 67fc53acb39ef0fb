/* kmsring: local stand-in for KMS plugins; see kmsring.h. */
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

struct kms_ring {
	struct kms_kek *keks;
	size_t n;
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

int kmsring_load(struct kms_ring **out, const char *path)
{
	json_error_t e;
	json_t *root;
	struct kms_ring *r;
	int fd, rc;

	*out = NULL;
	if ((rc = file_open_regular(&fd, path, "KMS keyring", ERR_CONFIG)) < 0)
		return rc;
	root = json_loadfd(fd, 0, &e);
	close(fd);
	if (root == NULL)
		return err_set(ERR_CONFIG, "%s:%d:%d: %s", path, e.line, e.column, e.text);
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		json_decref(root);
		return err_set(ERR_NOMEM, "out of memory");
	}
	json_t *plugins = json_object_get(root, "plugins");
	if (!json_is_object(plugins))
		rc = err_set(ERR_CONFIG, "%s: no \"plugins\" object", path);
	else
		rc = load_plugins(r, path, plugins);
	json_decref(root);
	if (rc < 0) {
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
	free(r);
}

int kmsring_unwrap(const struct kms_ring *r, struct buf *dek, enum kmsring_status *status, const char *name,
		   const char *key_id, const uint8_t *wrapped, size_t wrapped_len)
{
	int have_plugin = 0;
	enum prov_fail why;

	if (key_id == NULL)
		key_id = "";
	for (size_t i = 0; r != NULL && i < r->n; i++) {
		const struct kms_kek *k = &r->keks[i];

		if (strcmp(k->plugin, name) != 0)
			continue;
		have_plugin = 1;
		if (strcmp(k->key_id, key_id) != 0)
			continue;
		int rc = prov_gcm_open_raw(dek, k->kek, sizeof(k->kek), wrapped, wrapped_len, NULL, 0, &why);
		if (rc < 0)
			return rc;
		*status = why == PROV_OK ? KMSRING_OK : KMSRING_UNWRAP_FAILED;
		if (why != PROV_OK)
			buf_reset(dek);
		return 0;
	}
	*status = have_plugin ? KMSRING_UNKNOWN_KEY_ID : KMSRING_NO_PLUGIN;
	return 0;
}
