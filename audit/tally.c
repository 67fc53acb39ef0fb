/* tally: value counts for audit reports; see tally.h. */
#include "tally.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tally_init(struct tally *t, int have_config)
{
	memset(t, 0, sizeof(*t));
	t->have_config = have_config;
}

void tally_release(struct tally *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tally_res *r = &t->res[i];

		for (size_t b = 0; b < r->n_bad; b++)
			free(r->bad[b].etcd_key);
		free(r->bad);
		free(r->rows);
	}
	free(t->res);
	memset(t, 0, sizeof(*t));
}

int tally_resource(struct tally *t, struct tally_res **out, const struct res_id *id, const char *prefix)
{
	struct tally_res *r;

	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->res[i].id.group, id->group) == 0 && strcmp(t->res[i].id.resource, id->resource) == 0) {
			*out = &t->res[i];
			return 0;
		}
	}
	r = realloc(t->res, (t->n + 1) * sizeof(*r));
	if (r == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	t->res = r;
	r = &t->res[t->n++];
	memset(r, 0, sizeof(*r));
	r->id = *id;
	res_name(r->name, sizeof(r->name), id);
	snprintf(r->prefix, sizeof(r->prefix), "%s", prefix);
	*out = r;
	return 0;
}

static int find_row(struct tally_res *r, struct tally_row **out, const struct xf_result *res)
{
	const char *kid = res->kind == ENV_KMS2 ? res->kms_key_id : "";
	struct tally_row *row;

	for (size_t i = 0; i < r->n_rows; i++) {
		row = &r->rows[i];
		if (row->kind == res->kind && strcmp(row->key_name, res->key_name) == 0 &&
		    strcmp(row->key_id, kid) == 0) {
			row->key_name_guessed |= res->key_name_guessed && res->kind != ENV_IDENTITY;
			*out = row;
			return 0;
		}
	}
	row = realloc(r->rows, (r->n_rows + 1) * sizeof(*row));
	if (row == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	r->rows = row;
	row = &r->rows[r->n_rows++];
	memset(row, 0, sizeof(*row));
	row->kind = res->kind;
	snprintf(row->key_name, sizeof(row->key_name), "%s", res->kind == ENV_IDENTITY ? "" : res->key_name);
	snprintf(row->key_id, sizeof(row->key_id), "%s", kid);
	row->key_name_guessed = res->key_name_guessed && res->kind != ENV_IDENTITY;
	*out = row;
	return 0;
}

static int add_bad(struct tally_res *r, const uint8_t *key, size_t key_len, int64_t mod_revision,
		   const struct xf_result *res)
{
	struct tally_bad *b;

	if (r->n_bad >= TALLY_MAX_UNREADABLE) {
		r->bad_unlisted++;
		return 0;
	}
	if (r->n_bad == r->cap_bad) {
		/* doubling: growing by one copies the list once per value */
		size_t cap = r->cap_bad ? 2 * r->cap_bad : 16;

		if (cap > TALLY_MAX_UNREADABLE)
			cap = TALLY_MAX_UNREADABLE;
		if ((b = realloc(r->bad, cap * sizeof(*b))) == NULL)
			return err_set(ERR_NOMEM, "out of memory");
		r->bad = b;
		r->cap_bad = cap;
	}
	b = &r->bad[r->n_bad];
	memset(b, 0, sizeof(*b));
	if ((b->etcd_key = malloc(key_len + 1)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	memcpy(b->etcd_key, key, key_len);
	b->etcd_key[key_len] = '\0';
	b->etcd_key_len = key_len;
	b->key_name_guessed = res->key_name_guessed && res->kind != ENV_IDENTITY;
	r->n_bad++;
	b->kind = res->kind;
	snprintf(b->key_name, sizeof(b->key_name), "%s", res->key_name);
	b->reason = res->reason;
	snprintf(b->detail, sizeof(b->detail), "%s", res->detail);
	b->mod_revision = mod_revision;
	return 0;
}

int tally_add(struct tally *t, struct tally_res *r, const uint8_t *key, size_t key_len, int64_t mod_revision,
	      const uint8_t *value, size_t value_len, const struct xf_result *res)
{
	struct tally_row *row = NULL;
	int rc;

	if ((rc = find_row(r, &row, res)) < 0)
		return rc;
	r->total++;
	r->bytes += value_len;
	row->count++;
	if (res->kind == ENV_IDENTITY)
		r->encodings[plain_encoding_of(value, value_len)]++;
	if (!t->have_config)
		return 0;
	if (res->ok) {
		if ((unsigned)res->plain.encoding < 4)
			r->objects[res->plain.encoding]++;
		r->readable++;
		row->readable++;
		if (res->stale) {
			r->stale++;
			row->stale++;
		}
		return 0;
	}
	r->unreadable++;
	return add_bad(r, key, key_len, mod_revision, res);
}

uint64_t tally_total(const struct tally *t, uint64_t *unreadable)
{
	uint64_t n = 0, u = 0;

	for (size_t i = 0; i < t->n; i++) {
		n += t->res[i].total;
		u += t->res[i].unreadable;
	}
	if (unreadable)
		*unreadable = u;
	return n;
}
