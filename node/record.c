/* node record: JSON encoding of a node's published names; see record.h. */
#include "record.h"
#include "base/err.h"
#include "xform/digest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECORD_SCHEMA "etcdcrypt.node/v1"

int node_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NODE_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

void node_time_str(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

int node_record_from_conf(struct node_record *out, const char *node, const struct encconf *conf, const void *file,
			  size_t file_len, int64_t changed, const char *version)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!node_name_valid(node))
		return err_set(ERR_USAGE, "node name '%s' is not 1 to %d letters, digits, '.', '-' or '_'", node,
			       NODE_NAME_MAX);
	snprintf(out->node, sizeof(out->node), "%s", node);
	snprintf(out->version, sizeof(out->version), "%s", version);
	out->changed = changed;
	if ((rc = status_conf_names(&out->names, &out->n_names, conf)) < 0 ||
	    (rc = digest_sha256_hex(out->sha256, file, file_len)) < 0) {
		node_record_release(out);
		return rc;
	}
	return 0;
}

static json_t *name_json(const struct status_name *n)
{
	return json_pack("{s:s,s:s}", "provider", encconf_kind_name(n->kind), "name", n->name);
}

int node_record_encode(char **out, const struct node_record *r)
{
	json_t *names = json_array(), *o;
	char when[32];

	*out = NULL;
	for (size_t i = 0; i < r->n_names; i++)
		json_array_append_new(names, name_json(&r->names[i]));
	node_time_str(when, r->changed);
	o = json_pack("{s:s,s:s,s:o,s:o,s:s,s:s,s:I,s:s}", "schema", RECORD_SCHEMA, "node", r->node, "names", names,
		      "write", r->n_names ? name_json(&r->names[0]) : json_null(), "config_sha256", r->sha256,
		      "changed", when, "changed_unix", (json_int_t)r->changed, "version", r->version);
	if (o != NULL)
		*out = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(o);
	return *out ? 0 : err_set(ERR_NOMEM, "node record '%s': cannot encode", r->node);
}

static int kind_from(enum encconf_kind *out, const char *s)
{
	static const enum encconf_kind kinds[] = { ENCCONF_IDENTITY, ENCCONF_AESCBC, ENCCONF_AESGCM, ENCCONF_SECRETBOX,
						   ENCCONF_KMS };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(encconf_kind_name(kinds[i]), s) == 0) {
			*out = kinds[i];
			return 0;
		}
	return ERR_NOTFOUND;
}

static int decode_names(struct node_record *out, json_t *names, const char *where)
{
	size_t i;
	json_t *e;

	if (!json_is_array(names) || json_array_size(names) > 256)
		return err_set(ERR_CORRUPT, "node record '%s': 'names' is not a list", where);
	out->names = calloc(json_array_size(names) + 1, sizeof(*out->names));
	if (out->names == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	json_array_foreach(names, i, e) {
		const char *p = json_string_value(json_object_get(e, "provider"));
		const char *n = json_string_value(json_object_get(e, "name"));
		struct status_name *d = &out->names[out->n_names];

		if (p == NULL || n == NULL || kind_from(&d->kind, p) < 0)
			return err_set(ERR_CORRUPT, "node record '%s': name %zu has no known provider and name", where, i);
		if ((d->name = strdup(n)) == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		out->n_names++;
	}
	return 0;
}

int node_record_decode(struct node_record *out, const uint8_t *p, size_t n, const char *where)
{
	json_error_t je;
	json_t *o;
	const char *node, *sha, *ver;
	int rc;

	node_record_release(out);
	if (n > NODE_RECORD_MAX)
		return err_set(ERR_CORRUPT, "node record '%s': %zu bytes, more than %d", where, n, NODE_RECORD_MAX);
	if ((o = json_loadb((const char *)p, n, 0, &je)) == NULL)
		return err_set(ERR_CORRUPT, "node record '%s': not JSON: %s", where, je.text);
	node = json_string_value(json_object_get(o, "node"));
	sha = json_string_value(json_object_get(o, "config_sha256"));
	ver = json_string_value(json_object_get(o, "version"));
	if (!json_is_object(o) || json_string_value(json_object_get(o, "schema")) == NULL ||
	    strcmp(json_string_value(json_object_get(o, "schema")), RECORD_SCHEMA) != 0 || node == NULL ||
	    !node_name_valid(node)) {
		rc = err_set(ERR_CORRUPT, "node record '%s': not an %s record", where, RECORD_SCHEMA);
		goto out;
	}
	snprintf(out->node, sizeof(out->node), "%s", node);
	snprintf(out->sha256, sizeof(out->sha256), "%s", sha ? sha : "");
	snprintf(out->version, sizeof(out->version), "%s", ver ? ver : "");
	out->changed = json_integer_value(json_object_get(o, "changed_unix"));
	rc = decode_names(out, json_object_get(o, "names"), where);
out:
	json_decref(o);
	if (rc < 0)
		node_record_release(out);
	return rc;
}

void node_record_release(struct node_record *r)
{
	if (r == NULL)
		return;
	status_names_free(r->names, r->n_names);
	memset(r, 0, sizeof(*r));
}

const struct status_name *node_record_write(const struct node_record *r)
{
	return r->n_names ? &r->names[0] : NULL;
}

int node_name_eq(const struct status_name *a, const struct status_name *b)
{
	return a && b && a->kind == b->kind && strcmp(a->name, b->name) == 0;
}

int node_record_same(const struct node_record *a, const struct node_record *b)
{
	if (a->n_names != b->n_names || strcmp(a->sha256, b->sha256) != 0)
		return 0;
	for (size_t i = 0; i < a->n_names; i++)
		if (!node_name_eq(&a->names[i], &b->names[i]))
			return 0;
	return 1;
}
