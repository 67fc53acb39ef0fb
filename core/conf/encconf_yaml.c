/* encconf_yaml: an EncryptionConfiguration from YAML/JSON text into the
 * structs of encconf.h, decoded and validated as kube-apiserver does
 * (docs/formats.md §4). The only file of etcdcrypt that includes <yaml.h>.
 *
 * A first pass over the parser's events refuses nesting deeper than
 * ENCCONF_MAX_DEPTH before anything is built: libyaml's scanner rescans its
 * stack of open flow levels for every token, so a 200 KB file of brackets
 * would otherwise cost minutes (a real configuration nests 8 levels).
 * The document is then loaded whole (yaml_parser_load) and walked three times,
 * in the apiserver's order, stopping at the first error:
 *   1. apiVersion/kind must name a registered kind (TypeMeta);
 *   2. strict decoding against the schema table below: unknown or duplicate
 *      fields, and values of the wrong type (YAML 1.1 plain-scalar typing as
 *      Go's YAML-to-JSON conversion does: `cachesize: "5"` is a string,
 *      `name: 123` is a number, `x:` and `x: ~` are null = absent);
 *   3. validation (validation_encryption.go), building the result as it
 *      goes; then the load-time masking rule across entries (config.go).
 * Errors: "<file>:<line>:<col>: <field path>: <what>", the position of the
 * offending node (or of its parent mapping when a field is missing). Secret
 * values never enter a message; all scalar text is wiped before the document
 * and the parser buffers are freed. */
#include "base/b64.h"
#include "encconf_int.h"
#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PATH_MAX_LEN 256

/* ---- schema (the Go types' JSON names) ------------------------------------ */

enum encconf_ftype { FT_STR, FT_INT32, FT_DURATION, FT_MAP, FT_SEQ_MAP, FT_SEQ_STR };

struct encconf_field {
	const char *name;
	enum encconf_ftype type;
	const struct encconf_field *sub; /* FT_MAP, FT_SEQ_MAP; ends with name NULL */
};

static const struct encconf_field key_fields[] = {
	{ "name", FT_STR, NULL }, { "secret", FT_STR, NULL }, { NULL, FT_STR, NULL },
};
static const struct encconf_field aes_fields[] = {
	{ "keys", FT_SEQ_MAP, key_fields }, { NULL, FT_STR, NULL },
};
static const struct encconf_field kms_fields[] = {
	{ "apiVersion", FT_STR, NULL }, { "name", FT_STR, NULL }, { "cachesize", FT_INT32, NULL },
	{ "endpoint", FT_STR, NULL }, { "timeout", FT_DURATION, NULL }, { NULL, FT_STR, NULL },
};
static const struct encconf_field identity_fields[] = { { NULL, FT_STR, NULL } };
static const struct encconf_field provider_fields[] = {
	{ "aesgcm", FT_MAP, aes_fields }, { "aescbc", FT_MAP, aes_fields },
	{ "secretbox", FT_MAP, aes_fields }, { "identity", FT_MAP, identity_fields },
	{ "kms", FT_MAP, kms_fields }, { NULL, FT_STR, NULL },
};
static const struct encconf_field entry_fields[] = {
	{ "resources", FT_SEQ_STR, NULL }, { "providers", FT_SEQ_MAP, provider_fields },
	{ NULL, FT_STR, NULL },
};
static const struct encconf_field top_fields[] = {
	{ "apiVersion", FT_STR, NULL }, { "kind", FT_STR, NULL },
	{ "resources", FT_SEQ_MAP, entry_fields }, { NULL, FT_STR, NULL },
};

/* The KMS provider names met so far (borrowed from the providers built):
 * an open-addressing hash set, so that a 4 MiB file of KMS providers is
 * checked in linear time, not by rescanning every earlier provider. */
struct name_set {
	const char **slot;
	size_t cap, n; /* cap: 0 or a power of two, kept over twice n */
};

struct encconf_ctx {
	yaml_document_t *doc;
	struct encconf *c;
	size_t budget; /* node visits left: alias expansion is bounded */
	struct name_set kms_names;
};

/* ---- errors and paths ----------------------------------------------------- */

static int fail(struct encconf_ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct encconf_ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	char what[768];
	va_list ap;
	unsigned long line = n != NULL ? (unsigned long)n->start_mark.line + 1 : 1;
	unsigned long col = n != NULL ? (unsigned long)n->start_mark.column + 1 : 1;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (path[0] == '\0')
		return err_set(ERR_CONFIG, "%s:%lu:%lu: %s", x->c->path, line, col, what);
	return err_set(ERR_CONFIG, "%s:%lu:%lu: %s: %s", x->c->path, line, col, path, what);
}

/* dst = a + sep + b, cut to PATH_MAX_LEN - 1 bytes. */
static void path_join(char *dst, const char *a, const char *sep, const char *b)
{
	const char *parts[3] = { a, sep, b };
	size_t n = 0;

	for (int i = 0; i < 3; i++)
		for (const char *p = parts[i]; *p != '\0' && n + 1 < PATH_MAX_LEN; p++)
			dst[n++] = *p;
	dst[n] = '\0';
}

static void path_child(char *dst, const char *parent, const char *name)
{
	path_join(dst, parent, parent[0] != '\0' ? "." : "", name);
}

static void path_index(char *dst, const char *parent, size_t i)
{
	char num[32];

	snprintf(num, sizeof(num), "[%zu]", i);
	path_join(dst, parent, "", num);
}

/* ---- plain-scalar typing (YAML 1.1, as go-yaml resolves) ------------------ */

enum encconf_sk { SK_NULL, SK_BOOL, SK_INT, SK_FLOAT, SK_STR };

static int in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* Integer as Go's strconv.ParseInt(s, 0, 64) after removing '_'. */
static int parse_int(const char *s, long long *out)
{
	char buf[72], *end;
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s == '_')
			continue;
		if (n + 1 >= sizeof(buf))
			return ERR_CONFIG;
		buf[n++] = *s;
	}
	buf[n] = '\0';
	if (n == 0 || !(buf[0] == '-' || buf[0] == '+' || (buf[0] >= '0' && buf[0] <= '9')))
		return ERR_CONFIG;
	errno = 0;
	*out = strtoll(buf, &end, 0);
	return (errno != 0 || *end != '\0' || end == buf) ? ERR_CONFIG : 0;
}

static int digits(const char **s)
{
	const char *p = *s;

	while (**s >= '0' && **s <= '9')
		(*s)++;
	return *s != p;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static int is_float(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '.') {
		s++;
		if (!digits(&s))
			return 0;
	} else {
		if (!digits(&s))
			return 0;
		if (*s == '.') {
			s++;
			digits(&s);
		}
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!digits(&s))
			return 0;
	}
	return *s == '\0';
}

static enum encconf_sk scalar_kind(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const bools[] = { "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", NULL };
	static const char *const floats[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
		"-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL };
	const char *s = (const char *)n->data.scalar.value;
	long long v;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return SK_STR;
	if (in_list(s, nulls))
		return SK_NULL;
	if (in_list(s, bools))
		return SK_BOOL;
	if (parse_int(s, &v) == 0)
		return SK_INT;
	if (is_float(s) || in_list(s, floats))
		return SK_FLOAT;
	return SK_STR;
}

static int is_null(const yaml_node_t *n)
{
	return n == NULL || (n->type == YAML_SCALAR_NODE && scalar_kind(n) == SK_NULL);
}

static const char *node_desc(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	switch (scalar_kind(n)) {
	case SK_NULL: return "null";
	case SK_BOOL: return "a boolean";
	case SK_INT:
	case SK_FLOAT: return "a number";
	default: return "a string";
	}
}

/* ---- node access ---------------------------------------------------------- */

static yaml_node_t *node(struct encconf_ctx *x, yaml_node_item_t id)
{
	return yaml_document_get_node(x->doc, id);
}

static const char *key_text(struct encconf_ctx *x, const yaml_node_pair_t *pair)
{
	yaml_node_t *k = node(x, pair->key);

	return (k != NULL && k->type == YAML_SCALAR_NODE) ? (const char *)k->data.scalar.value : NULL;
}

/* The value of field name in map, NULL when absent or null. */
static yaml_node_t *get(struct encconf_ctx *x, const yaml_node_t *map, const char *name)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *k = key_text(x, p);
		if (k != NULL && strcmp(k, name) == 0) {
			yaml_node_t *v = node(x, p->value);
			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

/* Where to point for a missing or null field: its key if written, else the
 * mapping that lacks it. */
static const yaml_node_t *where(struct encconf_ctx *x, const yaml_node_t *map, const char *name)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return map;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *k = key_text(x, p);
		if (k != NULL && strcmp(k, name) == 0)
			return node(x, p->key);
	}
	return map;
}

/* A string field's text; "" when absent or null (Go's zero value). */
static const char *str(const yaml_node_t *n)
{
	return is_null(n) ? "" : (const char *)n->data.scalar.value;
}

static size_t seq_len(const yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(struct encconf_ctx *x, const yaml_node_t *n, size_t i)
{
	return node(x, n->data.sequence.items.start[i]);
}

/* ---- pass 2: strict decoding ---------------------------------------------- */

static int check_value(struct encconf_ctx *x, const yaml_node_t *n, const struct encconf_field *f,
		       const char *path);

static int check_scalar(struct encconf_ctx *x, const yaml_node_t *n, enum encconf_ftype t, const char *path)
{
	enum encconf_sk k = n->type == YAML_SCALAR_NODE ? scalar_kind(n) : SK_STR;
	long long v;
	long ms;

	if (n->type != YAML_SCALAR_NODE || (t != FT_INT32 && k != SK_STR) || (t == FT_INT32 && k != SK_INT))
		return fail(x, n, path, "expected %s, got %s", t == FT_INT32 ? "an integer" :
			    t == FT_DURATION ? "a duration string such as \"3s\"" : "a string", node_desc(n));
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return fail(x, n, path, "must not contain NUL characters");
	if (t == FT_INT32 && (parse_int((const char *)n->data.scalar.value, &v) < 0 ||
			      v < INT32_MIN || v > INT32_MAX))
		return fail(x, n, path, "value out of range for int32");
	if (t == FT_DURATION && encconf_duration_ms(&ms, (const char *)n->data.scalar.value) < 0)
		return fail(x, n, path, "time: invalid duration \"%.64s\"", (const char *)n->data.scalar.value);
	return 0;
}

static int check_map(struct encconf_ctx *x, const yaml_node_t *n, const struct encconf_field *fields,
		     const char *path)
{
	char sub[PATH_MAX_LEN];
	unsigned seen = 0;

	if (n->type != YAML_MAPPING_NODE)
		return fail(x, n, path, "expected a mapping, got %s", node_desc(n));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = key_text(x, p);
		size_t i;
		int rc;

		if (k == NULL)
			return fail(x, node(x, p->key), path, "mapping keys must be strings");
		path_child(sub, path, k);
		for (i = 0; fields[i].name != NULL && strcmp(fields[i].name, k) != 0; i++)
			;
		if (fields[i].name == NULL)
			return fail(x, node(x, p->key), sub, "unknown field \"%s\"", sub);
		if (seen & (1u << i))
			return fail(x, node(x, p->key), sub, "duplicate field \"%s\"", sub);
		seen |= 1u << i;
		if ((rc = check_value(x, node(x, p->value), &fields[i], sub)) < 0)
			return rc;
	}
	return 0;
}

static int check_seq(struct encconf_ctx *x, const yaml_node_t *n, const struct encconf_field *f,
		     const char *path)
{
	struct encconf_field item = { f->name, f->type == FT_SEQ_MAP ? FT_MAP : FT_STR, f->sub };
	char sub[PATH_MAX_LEN];

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(x, n, path, "expected a list, got %s", node_desc(n));
	for (size_t i = 0; i < seq_len(n); i++) {
		int rc;
		path_index(sub, path, i);
		if ((rc = check_value(x, seq_item(x, n, i), &item, sub)) < 0)
			return rc;
	}
	return 0;
}

static int check_value(struct encconf_ctx *x, const yaml_node_t *n, const struct encconf_field *f,
		       const char *path)
{
	if (x->budget-- == 0)
		return fail(x, n, path, "document too large after alias expansion");
	if (is_null(n))
		return 0;
	switch (f->type) {
	case FT_MAP:
		return check_map(x, n, f->sub, path);
	case FT_SEQ_MAP:
	case FT_SEQ_STR:
		return check_seq(x, n, f, path);
	default:
		return check_scalar(x, n, f->type, path);
	}
}

/* ---- pass 3: validation and building -------------------------------------- */

static char *dup_str(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		err_set(ERR_NOMEM, "out of memory");
	return d;
}

/* Decodes a secret into a buffer of its own; wiped and freed on failure so
 * that no partial key material outlives the error. */
static int decode_secret(struct encconf_ctx *x, struct encconf_key *key, const yaml_node_t *secret,
			 const char *path, const size_t *sizes, size_t n_sizes, const char *sizes_text)
{
	const char *s = str(secret);
	size_t len = strlen(s), cap = len / 4 * 3 + 3, got = 0, i;
	uint8_t *buf = malloc(cap);
	int rc = 0;

	if (buf == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	long dl = b64_decode(buf, cap, s, len);

	if (dl < 0) {
		rc = fail(x, secret, path, "secrets must be base64 encoded");
		goto out;
	}
	got = (size_t)dl;
	for (i = 0; i < n_sizes && sizes[i] != got; i++)
		;
	if (i == n_sizes) {
		rc = fail(x, secret, path, "secret is not of the expected length, got %zu, expected one of %s",
			  got, sizes_text);
		goto out;
	}
	key->secret = buf;
	key->secret_len = got;
	buf = NULL;
out:
	if (buf != NULL) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	return rc;
}

static int build_key(struct encconf_ctx *x, struct encconf_key *key, const yaml_node_t *item,
		     const char *path, const size_t *sizes, size_t n_sizes, const char *sizes_text)
{
	char sub[PATH_MAX_LEN];
	const yaml_node_t *name = get(x, item, "name"), *secret = get(x, item, "secret");

	path_child(sub, path, "name");
	if (str(name)[0] == '\0')
		return fail(x, name != NULL ? name : where(x, item, "name"), sub, "name is a mandatory field for a key");
	path_child(sub, path, "secret");
	if (str(secret)[0] == '\0')
		return fail(x, secret != NULL ? secret : where(x, item, "secret"), sub, "secret is a mandatory field for a key");
	if ((key->name = dup_str(str(name))) == NULL)
		return ERR_NOMEM;
	return decode_secret(x, key, secret, sub, sizes, n_sizes, sizes_text);
}

static int build_keys(struct encconf_ctx *x, struct encconf_provider *p, const yaml_node_t *conf,
		      const char *path)
{
	static const size_t aes_sizes[] = { 16, 24, 32 }, box_sizes[] = { 32 };
	int box = p->kind == ENCCONF_SECRETBOX;
	const yaml_node_t *keys = get(x, conf, "keys");
	size_t n = seq_len(keys);
	char kpath[PATH_MAX_LEN], sub[PATH_MAX_LEN];

	path_child(kpath, path, "keys");
	if (n == 0)
		return fail(x, keys != NULL ? keys : where(x, conf, "keys"), kpath, "at least one keys is required");
	if ((p->keys = calloc(n, sizeof(*p->keys))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	p->n_keys = n;
	for (size_t i = 0; i < n; i++) {
		int rc;
		path_index(sub, kpath, i);
		rc = build_key(x, &p->keys[i], seq_item(x, keys, i), sub, box ? box_sizes : aes_sizes,
			       box ? 1 : 3, box ? "[32]" : "[16 24 32]");
		if (rc < 0)
			return rc;
	}
	return 0;
}

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603u; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* Has any KMS provider built so far (all entries) got this name? */
static int names_has(const struct name_set *v, const char *name)
{
	if (v->cap == 0)
		return 0;
	for (size_t i = name_hash(name) & (v->cap - 1);; i = (i + 1) & (v->cap - 1)) {
		if (v->slot[i] == NULL)
			return 0;
		if (strcmp(v->slot[i], name) == 0)
			return 1;
	}
}

static void names_put(struct name_set *v, const char *name)
{
	size_t i = name_hash(name) & (v->cap - 1);

	while (v->slot[i] != NULL && strcmp(v->slot[i], name) != 0)
		i = (i + 1) & (v->cap - 1);
	if (v->slot[i] == NULL) {
		v->slot[i] = name;
		v->n++;
	}
}

static int names_add(struct name_set *v, const char *name)
{
	if (2 * (v->n + 1) > v->cap) {
		struct name_set bigger = { calloc(v->cap ? 2 * v->cap : 16, sizeof(char *)), v->cap ? 2 * v->cap : 16, 0 };

		if (bigger.slot == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < v->cap; i++)
			if (v->slot[i] != NULL)
				names_put(&bigger, v->slot[i]);
		free(v->slot);
		*v = bigger;
	}
	names_put(v, name);
	return 0;
}

static int check_kms_name(struct encconf_ctx *x, const yaml_node_t *kms, const char *path, int v1)
{
	char sub[PATH_MAX_LEN];
	const yaml_node_t *n = get(x, kms, "name");
	const char *name = str(n);

	path_child(sub, path, "name");
	if (name[0] == '\0')
		return fail(x, where(x, kms, "name"), sub, "name is a mandatory field for a provider");
	if (!v1 && strchr(name, ':') != NULL)
		return fail(x, n, sub, "invalid KMS provider name %.200s, must not contain ':'", name);
	if (!v1 && names_has(&x->kms_names, name))
		return fail(x, n, sub, "duplicate KMS provider name %.200s, names must be unique", name);
	return 0;
}

/* validateKMSConfiguration after defaulting: name, timeout, endpoint,
 * cachesize, apiVersion. */
static int check_kms(struct encconf_ctx *x, struct encconf_provider *p, const yaml_node_t *kms,
		     const char *path)
{
	char sub[PATH_MAX_LEN], buf[256];
	const yaml_node_t *av = get(x, kms, "apiVersion"), *t = get(x, kms, "timeout");
	const yaml_node_t *ep = get(x, kms, "endpoint"), *cs = get(x, kms, "cachesize");
	const char *api = str(av)[0] != '\0' ? str(av) : "v1", *problem;
	int v1 = strcmp(api, "v1") == 0, rc;
	long long size = v1 ? 1000 : 0;

	if ((rc = check_kms_name(x, kms, path, v1)) < 0)
		return rc;
	path_child(sub, path, "timeout");
	p->kms_timeout_ms = 3000;
	if (t != NULL && (encconf_duration_ms(&p->kms_timeout_ms, str(t)) < 0 || p->kms_timeout_ms <= 0))
		return fail(x, t, sub, "timeout should be a positive value");
	path_child(sub, path, "endpoint");
	if ((problem = encconf_endpoint_problem(str(ep), buf, sizeof(buf))) != NULL)
		return fail(x, ep != NULL ? ep : where(x, kms, "endpoint"), sub, "%s", problem);
	path_child(sub, path, "cachesize");
	if (!v1 && cs != NULL)
		return fail(x, cs, sub, "cachesize is not supported in v2");
	if (cs != NULL && (parse_int(str(cs), &size) < 0 || size == 0))
		return fail(x, cs, sub, "cachesize should be a positive value, or negative to disable");
	path_child(sub, path, "apiVersion");
	if (!v1 && strcmp(api, "v2") != 0)
		return fail(x, av, sub, "Invalid value: \"%.64s\": unsupported apiVersion apiVersion for KMS "
			    "provider, only v1 and v2 are supported", api);
	p->kms_api_version = v1 ? 1 : 2;
	p->kms_cachesize = (int)size;
	if ((p->kms_endpoint = dup_str(str(ep))) == NULL || (p->kms_name = dup_str(str(get(x, kms, "name")))) == NULL)
		return ERR_NOMEM;
	return 0;
}

static int build_provider(struct encconf_ctx *x, struct encconf_provider *p, const yaml_node_t *item,
			  const char *path)
{
	static const char *const names[] = { "identity", "aescbc", "aesgcm", "secretbox", "kms" };
	const yaml_node_t *conf = NULL;
	char sub[PATH_MAX_LEN];
	int set = 0;

	for (int k = 0; k < 5; k++) {
		const yaml_node_t *v = get(x, item, names[k]);
		if (v != NULL) {
			set++;
			conf = v;
			p->kind = (enum encconf_kind)k;
		}
	}
	if (set == 0)
		return fail(x, item, path, "provider does not contain any of the expected providers: "
			    "KMS, AESGCM, AESCBC, Secretbox, Identity");
	if (set > 1)
		return fail(x, item, path, "more than one provider specified in a single element, "
			    "should split into different list elements");
	path_child(sub, path, encconf_kind_name(p->kind));
	if (p->kind == ENCCONF_KMS) {
		int rc = check_kms(x, p, conf, sub);

		return rc < 0 ? rc : names_add(&x->kms_names, p->kms_name);
	}
	if (p->kind != ENCCONF_IDENTITY)
		return build_keys(x, p, conf, sub);
	return 0;
}

static int build_resources(struct encconf_ctx *x, struct encconf_rule *r, const yaml_node_t *entry,
			   const char *path)
{
	const yaml_node_t *res = get(x, entry, "resources");
	size_t n = seq_len(res);
	char rpath[PATH_MAX_LEN], sub[PATH_MAX_LEN];
	const char *problem;

	path_child(rpath, path, "resources");
	if (n == 0)
		return fail(x, res != NULL ? res : where(x, entry, "resources"), rpath, "at least one %s is required", rpath);
	if ((r->resources = calloc(n, sizeof(*r->resources))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	r->n_resources = n;
	for (size_t j = 0; j < n; j++)
		if ((r->resources[j] = dup_str(str(seq_item(x, res, j)))) == NULL)
			return ERR_NOMEM;
	if (encconf_overlap_problem(&problem, r->resources, n) < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (problem != NULL)
		return fail(x, res, rpath, "%s", problem);
	for (size_t j = 0; j < n; j++) {
		path_index(sub, rpath, j);
		if ((problem = encconf_resource_problem(r->resources[j])) != NULL)
			return fail(x, seq_item(x, res, j), sub, "%s", problem);
	}
	return 0;
}

static int build_rule(struct encconf_ctx *x, struct encconf_rule *r, const yaml_node_t *entry,
		      const char *path)
{
	const yaml_node_t *prov = get(x, entry, "providers");
	size_t n = seq_len(prov);
	char ppath[PATH_MAX_LEN], sub[PATH_MAX_LEN];
	int rc;

	if ((rc = build_resources(x, r, entry, path)) < 0)
		return rc;
	path_child(ppath, path, "providers");
	if (n == 0)
		return fail(x, prov != NULL ? prov : where(x, entry, "providers"), ppath, "at least one %s is required", ppath);
	if ((r->providers = calloc(n, sizeof(*r->providers))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	r->n_providers = n;
	for (size_t j = 0; j < n; j++) {
		path_index(sub, ppath, j);
		if ((rc = build_provider(x, &r->providers[j], seq_item(x, prov, j), sub)) < 0)
			return rc;
	}
	return 0;
}

/* config.go: a resource covered by an earlier "*.<group>" or "*.*" entry. */
static int check_masking(struct encconf_ctx *x, const yaml_node_t *list)
{
	char rule[PATH_MAX_LEN], path[PATH_MAX_LEN];
	size_t i, j;
	const yaml_node_t *res;
	int rc = encconf_find_masked(x->c, &i, &j, rule, sizeof(rule));

	if (rc < 0)
		return err_set(ERR_NOMEM, "out of memory");
	if (rc == 0)
		return 0;
	res = get(x, seq_item(x, list, i), "resources");
	snprintf(path, sizeof(path), "resources[%zu].resources[%zu]", i, j);
	return fail(x, seq_item(x, res, j), path, "resource \"%.200s\" is masked by earlier rule \"%.200s\"",
		    x->c->rules[i].resources[j], rule);
}

static int build_config(struct encconf_ctx *x, const yaml_node_t *root)
{
	const yaml_node_t *list = get(x, root, "resources");
	size_t n = seq_len(list);
	char path[PATH_MAX_LEN];
	int rc;

	if (n == 0)
		return fail(x, list != NULL ? list : where(x, root, "resources"), "resources", "at least one resources is required");
	if ((x->c->rules = calloc(n, sizeof(*x->c->rules))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	x->c->n_rules = n;
	for (size_t i = 0; i < n; i++) {
		path_index(path, "resources", i);
		if ((rc = build_rule(x, &x->c->rules[i], seq_item(x, list, i), path)) < 0)
			return rc;
	}
	return check_masking(x, list);
}

/* ---- pass 1: TypeMeta ----------------------------------------------------- */

static int check_type_meta(struct encconf_ctx *x, const yaml_node_t *root)
{
	const yaml_node_t *kind = get(x, root, "kind"), *ver = get(x, root, "apiVersion");
	const char *k, *v;

	if (kind != NULL && (kind->type != YAML_SCALAR_NODE || scalar_kind(kind) != SK_STR))
		return fail(x, kind, "kind", "expected a string, got %s", node_desc(kind));
	if (ver != NULL && (ver->type != YAML_SCALAR_NODE || scalar_kind(ver) != SK_STR))
		return fail(x, ver, "apiVersion", "expected a string, got %s", node_desc(ver));
	k = str(kind);
	v = str(ver);
	if (k[0] == '\0')
		return fail(x, root, "kind", "Object 'Kind' is missing");
	if (v[0] == '\0')
		return fail(x, root, "apiVersion", "Object 'apiVersion' is missing");
	if ((strcmp(v, "apiserver.config.k8s.io/v1") == 0 && strcmp(k, "EncryptionConfiguration") == 0) ||
	    (strcmp(v, "v1") == 0 && strcmp(k, "EncryptionConfig") == 0))
		return 0;
	return fail(x, kind, "kind", "no kind \"%.100s\" is registered for version \"%.100s\"", k, v);
}

static int decode_root(struct encconf_ctx *x, const yaml_node_t *root)
{
	static const struct encconf_field top = { "", FT_MAP, top_fields };
	int rc;

	if (root->type != YAML_MAPPING_NODE)
		return fail(x, root, "", "expected a mapping at the top level, got %s", node_desc(root));
	if ((rc = check_type_meta(x, root)) < 0)
		return rc;
	if ((rc = check_value(x, root, &top, "")) < 0)
		return rc;
	return build_config(x, root);
}

/* ---- libyaml plumbing ----------------------------------------------------- */

static int syntax_error(struct encconf *c, const yaml_parser_t *p, const char *text)
{
	unsigned long line = (unsigned long)p->problem_mark.line + 1, col = (unsigned long)p->problem_mark.column + 1;

	if (p->error == YAML_MEMORY_ERROR)
		return err_set(ERR_NOMEM, "%s: out of memory while parsing YAML", c->path);
	if (p->error == YAML_READER_ERROR) {
		line = 1;
		col = 1;
		for (size_t i = 0; i < p->problem_offset; i++, col++)
			if (text[i] == '\n') {
				line++;
				col = 0;
			}
	}
	if (p->context != NULL)
		return err_set(ERR_CONFIG, "%s:%lu:%lu: yaml: %s: %s", c->path, line, col, p->context,
			       p->problem != NULL ? p->problem : "syntax error");
	return err_set(ERR_CONFIG, "%s:%lu:%lu: yaml: %s", c->path, line, col,
		       p->problem != NULL ? p->problem : "syntax error");
}

/* Scalars may hold key material: wipe them before libyaml frees them. */
static void wipe_document(yaml_document_t *doc)
{
	for (yaml_node_t *n = doc->nodes.start; n != NULL && n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value != NULL)
			explicit_bzero(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(doc);
}

static void wipe_parser(yaml_parser_t *p)
{
	if (p->raw_buffer.start != NULL)
		explicit_bzero(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	if (p->buffer.start != NULL)
		explicit_bzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	yaml_parser_delete(p);
}

/* Events carry scalar text (secrets included): wipe before freeing. */
static void wipe_event(yaml_event_t *e)
{
	if (e->type == YAML_SCALAR_EVENT && e->data.scalar.value != NULL)
		explicit_bzero(e->data.scalar.value, e->data.scalar.length);
	yaml_event_delete(e);
}

/* Pass 0: a streaming walk of the events that stops at the first collection
 * opened deeper than ENCCONF_MAX_DEPTH, so the scanner never sees more than
 * that many open levels (plus its bounded look-ahead). Syntax errors get the
 * same message the loading pass would give. */
static int check_depth(struct encconf *c, const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t e;
	unsigned depth = 0;
	int rc = 0, done = 0;

	if (!yaml_parser_initialize(&p))
		return err_set(ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&p, &e)) {
			rc = syntax_error(c, &p, text);
			break;
		}
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT) {
			if (++depth > ENCCONF_MAX_DEPTH)
				rc = err_set(ERR_CONFIG, "%s:%lu:%lu: yaml: nested deeper than %u levels",
					     c->path, (unsigned long)e.start_mark.line + 1,
					     (unsigned long)e.start_mark.column + 1, ENCCONF_MAX_DEPTH);
		} else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
		done = e.type == YAML_STREAM_END_EVENT;
		wipe_event(&e);
	}
	wipe_parser(&p);
	return rc;
}

/* Only the first document counts for the apiserver; a second one is refused
 * here rather than silently ignored. */
static int check_single_document(struct encconf *c, yaml_parser_t *p, const char *text)
{
	yaml_document_t next;
	yaml_node_t *root;
	int rc = 0;

	if (!yaml_parser_load(p, &next))
		return syntax_error(c, p, text);
	root = yaml_document_get_root_node(&next);
	if (root != NULL)
		rc = err_set(ERR_CONFIG, "%s:%lu:%lu: yaml: more than one document in the file", c->path,
			     (unsigned long)next.start_mark.line + 1, (unsigned long)next.start_mark.column + 1);
	wipe_document(&next);
	return rc;
}

int encconf_yaml_decode(struct encconf *c, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct encconf_ctx x = { &doc, c, 0, { NULL, 0, 0 } };
	yaml_node_t *root;
	int loaded = 0, rc;

	if ((rc = check_depth(c, text, len)) < 0)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return err_set(ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = syntax_error(c, &parser, text);
		goto out;
	}
	loaded = 1;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL) {
		rc = err_set(ERR_CONFIG, "encryption provider configuration file \"%s\" is empty", c->path);
		goto out;
	}
	if ((rc = check_single_document(c, &parser, text)) < 0)
		goto out;
	x.budget = 4 * (size_t)(doc.nodes.top - doc.nodes.start) + 1024;
	rc = decode_root(&x, root);
out:
	free(x.kms_names.slot);
	if (loaded)
		wipe_document(&doc);
	wipe_parser(&parser);
	return rc;
}
