/* rwrec: rewrite progress/result and restart request records; see rwrec.h. */
#include "rwrec.h"
#include "base/err.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RW_SCHEMA "etcdcrypt.rewrite/v1"
#define REQ_SCHEMA "etcdcrypt.request/v1"

const char *node_rw_state_name(enum node_rw_state s)
{
	switch (s) {
	case NODE_RW_DONE: return "done";
	case NODE_RW_FAILED: return "failed";
	case NODE_RW_INTERRUPTED: return "interrupted";
	default: return "running";
	}
}

/* Puts o (consumed; NULL: it could not be built) at <prefix><suffix>. */
static int put_json(struct etcd_client *cl, const char *prefix, const char *suffix, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
	int rc;

	json_decref(o);
	if (text == NULL)
		return err_set(ERR_NOMEM, "%s record: cannot encode", suffix);
	rc = node_put_raw(cl, prefix, suffix, text);
	free(text);
	return rc;
}

/* An error message may quote an etcd key with any bytes; JSON strings must
 * be UTF-8, so the record carries the printable ASCII of it ('?' else)
 * rather than failing to encode and never saying the rewrite failed. */
static void ascii_of(char *out, size_t cap, const char *s)
{
	size_t i = 0;

	for (; s[i] && i + 1 < cap; i++)
		out[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

static json_t *rwrec_json(const struct node_rwrec *r)
{
	char started[32], updated[32], error[sizeof(r->error)];

	node_time_str(started, r->started);
	node_time_str(updated, r->updated);
	ascii_of(error, sizeof(error), r->error);
	return json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:s,s:I,s:s}",
		      "schema", RW_SCHEMA, "node", r->node, "state", node_rw_state_name(r->state), "write", "provider",
		      r->write_provider, "name", r->write_name, "forced", r->forced, "request", r->request,
		      "revision_start", (json_int_t)r->revision_start, "revision_end", (json_int_t)r->revision_end,
		      "total", (json_int_t)r->total, "scanned", (json_int_t)r->scanned, "rewritten",
		      (json_int_t)r->rewritten, "current", (json_int_t)r->current, "unreadable",
		      (json_int_t)r->unreadable, "conflicts", (json_int_t)r->conflicts, "started", started,
		      "started_unix", (json_int_t)r->started, "updated", updated, "updated_unix",
		      (json_int_t)r->updated, "error", error);
}

int node_rwrec_encode(char **out, const struct node_rwrec *r)
{
	json_t *o = rwrec_json(r);

	*out = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
	json_decref(o);
	return *out ? 0 : err_set(ERR_NOMEM, "rewrite record: cannot encode");
}

int node_rwrec_put(struct etcd_client *cl, const char *prefix, const struct node_rwrec *r)
{
	return put_json(cl, prefix, "rewrite", rwrec_json(r));
}

static void str_field(char *out, size_t n, json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	snprintf(out, n, "%s", s ? s : "");
}

static uint64_t u_field(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 ? (uint64_t)v : 0;
}

int node_rwrec_get(struct etcd_client *cl, const char *prefix, struct node_rwrec *out)
{
	char *text = NULL, state[16];
	json_error_t je;
	json_t *o;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = node_get_raw(cl, prefix, "rewrite", &text, &out->mod_revision)) < 0)
		return rc;
	o = json_loads(text, 0, &je);
	free(text);
	if (!json_is_object(o) || json_string_value(json_object_get(o, "schema")) == NULL ||
	    strcmp(json_string_value(json_object_get(o, "schema")), RW_SCHEMA) != 0) {
		json_decref(o);
		return err_set(ERR_CORRUPT, "'%srewrite': not an %s record", prefix, RW_SCHEMA);
	}
	str_field(out->node, sizeof(out->node), o, "node");
	str_field(state, sizeof(state), o, "state");
	out->state = strcmp(state, "done") == 0	       ? NODE_RW_DONE
		     : strcmp(state, "failed") == 0      ? NODE_RW_FAILED
		     : strcmp(state, "interrupted") == 0 ? NODE_RW_INTERRUPTED
							 : NODE_RW_RUNNING;
	str_field(out->write_provider, sizeof(out->write_provider), json_object_get(o, "write"), "provider");
	str_field(out->write_name, sizeof(out->write_name), json_object_get(o, "write"), "name");
	out->forced = json_is_true(json_object_get(o, "forced"));
	str_field(out->request, sizeof(out->request), o, "request");
	str_field(out->error, sizeof(out->error), o, "error");
	out->revision_start = (int64_t)u_field(o, "revision_start");
	out->revision_end = (int64_t)u_field(o, "revision_end");
	out->total = u_field(o, "total");
	out->scanned = u_field(o, "scanned");
	out->rewritten = u_field(o, "rewritten");
	out->current = u_field(o, "current");
	out->unreadable = u_field(o, "unreadable");
	out->conflicts = u_field(o, "conflicts");
	out->started = (int64_t)u_field(o, "started_unix");
	out->updated = (int64_t)u_field(o, "updated_unix");
	json_decref(o);
	return 0;
}

int node_request_put(struct etcd_client *cl, const char *prefix, const char *id, const char *by)
{
	char when[32];
	json_t *o;

	node_time_str(when, (int64_t)time(NULL));
	o = json_pack("{s:s,s:s,s:s,s:s}", "schema", REQ_SCHEMA, "id", id, "by", by, "time", when);
	return put_json(cl, prefix, "request", o);
}

int node_request_get(struct etcd_client *cl, const char *prefix, struct node_request *out)
{
	char *text = NULL;
	json_t *o;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = node_get_raw(cl, prefix, "request", &text, &out->mod_revision)) < 0)
		return rc;
	o = json_loads(text, 0, NULL);
	free(text);
	if (json_string_value(json_object_get(o, "id")) == NULL) {
		json_decref(o);
		return err_set(ERR_CORRUPT, "'%srequest': not an %s record", prefix, REQ_SCHEMA);
	}
	str_field(out->id, sizeof(out->id), o, "id");
	str_field(out->by, sizeof(out->by), o, "by");
	str_field(out->time, sizeof(out->time), o, "time");
	str_field(out->served_by, sizeof(out->served_by), o, "served_by");
	json_decref(o);
	return 0;
}

int node_request_served(struct etcd_client *cl, const char *prefix, const struct node_request *q, const char *node)
{
	char key[NODE_PREFIX_MAX + 128], when[32], *text;
	struct etcd_cas_put op;
	int64_t rev;
	int ok = 0, rc;
	json_t *o;

	if ((rc = node_key(key, prefix, "request")) < 0)
		return rc;
	node_time_str(when, (int64_t)time(NULL));
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "schema", REQ_SCHEMA, "id", q->id, "by", q->by, "time", q->time,
		      "served_by", node, "served", when);
	text = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return err_set(ERR_NOMEM, "request record: cannot encode");
	op = (struct etcd_cas_put){ .key = (const uint8_t *)key, .key_len = strlen(key), .value = (const uint8_t *)text,
				    .value_len = strlen(text), .mod_revision = q->mod_revision };
	rc = etcd_txn_cas(cl, &ok, &rev, &op, 1);
	free(text);
	if (rc < 0)
		return err_wrap(rc, "marking '%s' served", key);
	return ok ? 0 : 1;
}
