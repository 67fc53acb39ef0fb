/* status: node names, goal, current and etcd counts for the CSM status
 * view, and the unreadable-value groups; see status.h. */
#include "status.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names a config uses -------------------------------------------------- */

static int push_name(struct status_name **v, size_t *n, enum encconf_kind kind, const char *name)
{
	struct status_name *nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (nv == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	*v = nv;
	if ((nv[*n].name = strdup(name)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	nv[*n].kind = kind;
	(*n)++;
	return 0;
}

static int provider_names(struct status_name **v, size_t *n, const struct encconf_provider *p)
{
	int rc = 0;

	if (p->kind == ENCCONF_IDENTITY)
		return push_name(v, n, p->kind, "identity");
	if (p->kind == ENCCONF_KMS)
		return push_name(v, n, p->kind, p->kms_name);
	for (size_t k = 0; k < p->n_keys && rc == 0; k++)
		rc = push_name(v, n, p->kind, p->keys[k].name);
	return rc;
}

int status_conf_names(struct status_name **out, size_t *n, const struct encconf *conf)
{
	const struct encconf_rule *r = conf ? encconf_rule_for(conf, "", "secrets") : NULL;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (r == NULL)
		rc = push_name(out, n, ENCCONF_IDENTITY, "identity");
	for (size_t i = 0; r != NULL && i < r->n_providers && rc == 0; i++)
		rc = provider_names(out, n, &r->providers[i]);
	if (rc < 0) {
		status_names_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void status_names_free(struct status_name *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i].name);
	free(v);
}

int status_kind_matches(enum encconf_kind ck, enum env_kind ek)
{
	switch (ck) {
	case ENCCONF_IDENTITY: return ek == ENV_IDENTITY;
	case ENCCONF_AESCBC: return ek == ENV_AESCBC;
	case ENCCONF_AESGCM: return ek == ENV_AESGCM;
	case ENCCONF_SECRETBOX: return ek == ENV_SECRETBOX;
	case ENCCONF_KMS: return ek == ENV_KMS1 || ek == ENV_KMS2;
	}
	return 0;
}

/* ---- unreadable groups ---------------------------------------------------- */

static struct status_bad_group *bad_group(struct status_bad *b, const struct xf_result *r)
{
	struct status_bad_group *g;

	for (size_t i = 0; i < b->n_groups; i++) {
		g = &b->groups[i];
		if (g->kind == r->kind && g->reason == r->reason && strcmp(g->key_name, r->key_name) == 0)
			return g;
	}
	if (b->n_groups >= STATUS_MAX_GROUPS)
		return NULL;
	g = realloc(b->groups, (b->n_groups + 1) * sizeof(*g));
	if (g == NULL)
		return NULL;
	b->groups = g;
	g = &b->groups[b->n_groups++];
	memset(g, 0, sizeof(*g));
	g->kind = r->kind;
	g->reason = r->reason;
	memcpy(g->key_name, r->key_name, sizeof(g->key_name));
	memcpy(g->detail, r->detail, sizeof(g->detail));
	return g;
}

int status_bad_add(struct status_bad *b, const struct etcd_kv *kv, const struct xf_result *r)
{
	struct status_bad_group *g = bad_group(b, r);
	char *key;

	b->total++;
	if (g == NULL) {
		b->ungrouped++;
		return 0;
	}
	g->count++;
	if (g->n_examples >= STATUS_EXAMPLES)
		return 0;
	if ((key = malloc(kv->key_len + 1)) == NULL) /* not strndup: a key may hold NULs */
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(key, kv->key, kv->key_len);
	key[kv->key_len] = '\0';
	g->example_len[g->n_examples] = kv->key_len;
	g->examples[g->n_examples++] = key;
	return 0;
}

void status_bad_release(struct status_bad *b)
{
	for (size_t i = 0; i < b->n_groups; i++)
		for (size_t j = 0; j < b->groups[i].n_examples; j++)
			free(b->groups[i].examples[j]);
	free(b->groups);
	memset(b, 0, sizeof(*b));
}

/* ---- the status ------------------------------------------------------------- */

void status_init(struct status *st)
{
	memset(st, 0, sizeof(*st));
	buf_init(&st->plain, 0);
}

void status_release(struct status *st)
{
	for (size_t i = 0; i < st->n_nodes; i++) {
		free(st->nodes[i].label);
		free(st->nodes[i].path);
		status_names_free(st->nodes[i].names, st->nodes[i].n_names);
	}
	for (size_t i = 0; i < st->n_readers; i++) {
		free(st->readers[i].label);
		xf_free(st->readers[i].xf);
		status_bad_release(&st->readers[i].bad);
	}
	free(st->etcd);
	buf_release(&st->plain);
	memset(st, 0, sizeof(*st));
}

static int new_node(struct status *st, struct status_node **out, const char *label, const char *path)
{
	struct status_node *n;

	if (st->n_nodes >= STATUS_MAX_NODES)
		return err_set(ERR_USAGE, "more than %d nodes", STATUS_MAX_NODES);
	for (size_t i = 0; i < st->n_nodes; i++)
		if (strcmp(st->nodes[i].label, label) == 0)
			return err_set(ERR_USAGE, "node '%s' given twice", label);
	n = &st->nodes[st->n_nodes];
	memset(n, 0, sizeof(*n));
	n->label = strdup(label);
	n->path = strdup(path);
	st->n_nodes++; /* from here status_release frees it */
	*out = n;
	if (n->label == NULL || n->path == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	return 0;
}

int status_add_node(struct status *st, const char *label, const char *path, const struct encconf *conf)
{
	struct status_node *n;
	int rc;

	if ((rc = new_node(st, &n, label, path)) < 0)
		return rc;
	return status_conf_names(&n->names, &n->n_names, conf);
}

int status_add_node_names(struct status *st, const char *label, const char *path, const struct status_name *names,
			  size_t count)
{
	struct status_node *n;
	int rc;

	if ((rc = new_node(st, &n, label, path)) < 0)
		return rc;
	for (size_t i = 0; i < count; i++) {
		struct status_name *v = realloc(n->names, (n->n_names + 1) * sizeof(*v));

		if (v == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		n->names = v;
		if ((v[n->n_names].name = strdup(names[i].name)) == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		v[n->n_names++].kind = names[i].kind;
	}
	return 0;
}

int status_add_reader(struct status *st, const char *label, const struct encconf *conf, const struct kms_ring *ring)
{
	struct status_reader *r;

	if (st->n_readers >= sizeof(st->readers) / sizeof(st->readers[0]))
		return err_set(ERR_USAGE, "too many configs to read with");
	r = &st->readers[st->n_readers];
	memset(r, 0, sizeof(*r));
	st->n_readers++;
	if ((r->label = strdup(label)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	return xf_new(&r->xf, conf, "", "secrets", ring);
}

static int count_name(struct status *st, enum env_kind kind, const char *name)
{
	struct status_count *c;

	if (kind == ENV_IDENTITY)
		name = "";
	for (size_t i = 0; i < st->n_etcd; i++)
		if (st->etcd[i].kind == kind && strcmp(st->etcd[i].name, name) == 0) {
			st->etcd[i].count++;
			return 0;
		}
	if (st->n_etcd >= STATUS_MAX_GROUPS)
		return err_set(ERR_CORRUPT, "more than %d different key names on stored secrets", STATUS_MAX_GROUPS);
	c = realloc(st->etcd, (st->n_etcd + 1) * sizeof(*c));
	if (c == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	st->etcd = c;
	c = &c[st->n_etcd++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->count = 1;
	return 0;
}

int status_add_value(struct status *st, const struct etcd_kv *kv, const struct xf_result *guess)
{
	struct xf_result r;
	enum env_kind kind = guess->kind;
	char name[ENV_NAME_MAX];
	int rc, bad = 0, named = 0;

	st->total++;
	memcpy(name, guess->key_name, sizeof(name));
	for (size_t i = 0; i < st->n_readers; i++) {
		if ((rc = xf_read(st->readers[i].xf, &r, &st->plain, kv->key, kv->key_len, kv->value,
				  kv->value_len)) < 0)
			return rc;
		if (r.ok && !named) {
			/* the configured key that read it beats the envelope's guess */
			kind = r.kind;
			memcpy(name, r.key_name, sizeof(name));
			named = 1;
		}
		if (!r.ok) {
			bad = 1;
			if ((rc = status_bad_add(&st->readers[i].bad, kv, &r)) < 0)
				return rc;
		}
	}
	st->unreadable += (uint64_t)bad;
	return count_name(st, kind, name);
}

void status_reset_values(struct status *st)
{
	for (size_t i = 0; i < st->n_readers; i++)
		status_bad_release(&st->readers[i].bad);
	free(st->etcd);
	st->etcd = NULL;
	st->n_etcd = 0;
	st->total = st->unreadable = 0;
}

static int same_name(const struct status_name *a, const struct status_name *b)
{
	return a->kind == b->kind && strcmp(a->name, b->name) == 0;
}

void status_finish(struct status *st)
{
	const struct status_name *g = st->n_nodes > 0 && st->nodes[0].n_names > 0 ? &st->nodes[0].names[0] : NULL;

	for (size_t i = 1; g != NULL && i < st->n_nodes; i++)
		if (st->nodes[i].n_names == 0 || !same_name(g, &st->nodes[i].names[0]))
			g = NULL;
	st->goal = g;
	st->current = st->n_etcd == 1 ? &st->etcd[0] : NULL;
	st->consistent = g != NULL && st->unreadable == 0 &&
			 (st->n_etcd == 0 ||
			  (st->n_etcd == 1 && status_kind_matches(g->kind, st->etcd[0].kind) &&
			   strcmp(status_count_name(&st->etcd[0]), g->name) == 0));
}

const char *status_count_name(const struct status_count *c)
{
	if (c->kind == ENV_IDENTITY)
		return "identity";
	return c->name[0] ? c->name : env_kind_name(c->kind);
}
