/* report_json: an audit's typed results as JSON (jansson); see
 * report_print.h and docs/audit-json.md. */
#include "report_print.h"
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static json_t *count_or_null(int have, uint64_t v)
{
	return have ? json_integer((json_int_t)v) : json_null();
}

static json_t *provider_rows(const struct tally *t, const struct tally_res *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < r->n_rows; i++) {
		const struct tally_row *row = &r->rows[i];
		json_t *o = json_object();

		json_object_set_new(o, "provider", json_string(env_kind_name(row->kind)));
		json_object_set_new(o, "key_name", cmd_json_text((const uint8_t *)row->key_name, strlen(row->key_name)));
		json_object_set_new(o, "key_name_guessed", json_boolean(row->key_name_guessed));
		if (row->kind == ENV_KMS2)
			json_object_set_new(o, "key_id", json_string(row->key_id));
		json_object_set_new(o, "count", json_integer((json_int_t)row->count));
		json_object_set_new(o, "readable", count_or_null(t->have_config, row->readable));
		json_object_set_new(o, "stale", count_or_null(t->have_config, row->stale));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *unreadable_rows(const struct tally_res *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < r->n_bad; i++) {
		const struct tally_bad *b = &r->bad[i];
		json_t *o = json_object();

		cmd_json_bytes(o, "etcd_key", (const uint8_t *)b->etcd_key, b->etcd_key_len);
		json_object_set_new(o, "provider", json_string(env_kind_name(b->kind)));
		json_object_set_new(o, "key_name", cmd_json_text((const uint8_t *)b->key_name, strlen(b->key_name)));
		json_object_set_new(o, "key_name_guessed", json_boolean(b->key_name_guessed));
		json_object_set_new(o, "reason", json_string(xf_reason_name(b->reason)));
		json_object_set_new(o, "detail", cmd_json_text((const uint8_t *)b->detail, strlen(b->detail)));
		json_object_set_new(o, "mod_revision", json_integer(b->mod_revision));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *resource_obj(const struct tally *t, const struct tally_res *r)
{
	json_t *o = json_object(), *pt = json_object();

	json_object_set_new(o, "resource", json_string(r->name));
	json_object_set_new(o, "prefix", json_string(r->prefix));
	json_object_set_new(o, "total", json_integer((json_int_t)r->total));
	json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(o, "readable", count_or_null(t->have_config, r->readable));
	json_object_set_new(o, "stale", count_or_null(t->have_config, r->stale));
	json_object_set_new(o, "unreadable_count", count_or_null(t->have_config, r->unreadable));
	for (int e = 0; e < 4; e++)
		json_object_set_new(pt, plain_encoding_name((enum plain_encoding)e),
				    json_integer((json_int_t)r->encodings[e]));
	json_object_set_new(o, "plaintext", pt);
	pt = json_object();
	for (int e = 0; t->have_config && e < 4; e++)
		json_object_set_new(pt, plain_encoding_name((enum plain_encoding)e),
				    json_integer((json_int_t)r->objects[e]));
	json_object_set_new(o, "objects", t->have_config ? pt : (json_decref(pt), json_null()));
	json_object_set_new(o, "providers", provider_rows(t, r));
	json_object_set_new(o, "unreadable", unreadable_rows(r));
	json_object_set_new(o, "unreadable_unlisted", json_integer((json_int_t)r->bad_unlisted));
	return o;
}

static json_t *history_obj(const struct history_result *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "compact_revision", json_integer(h->compact_revision));
	json_object_set_new(o, "upto_revision", json_integer(h->upto_revision));
	json_object_set_new(o, "revisions", json_integer((json_int_t)h->revisions));
	json_object_set_new(o, "deletes", json_integer((json_int_t)h->deletes));
	json_object_set_new(o, "plaintext_revisions_total", json_integer((json_int_t)h->plaintext_total));
	json_object_set_new(o, "plaintext_revisions_historical", json_integer((json_int_t)h->plaintext_historical));
	json_object_set_new(o, "keys_with_historical_plaintext",
			    json_integer((json_int_t)h->keys_with_historical_plaintext));
	json_object_set_new(o, "oldest_historical_plaintext_revision", json_integer(h->oldest_plaintext_revision));
	json_object_set_new(o, "retired_revisions_total", json_integer((json_int_t)h->retired_total));
	json_object_set_new(o, "retired_revisions_historical", json_integer((json_int_t)h->retired_historical));
	json_object_set_new(o, "oldest_historical_retired_revision", json_integer(h->oldest_retired_revision));
	json_object_set_new(o, "purge_needed",
			    json_boolean(h->plaintext_historical > 0 || h->retired_historical > 0));
	return o;
}

void report_verdict(char *s, size_t cap, const struct tally *t, const struct report_meta *m,
		    const struct history_result *h)
{
	uint64_t bad, total = tally_total(t, &bad), stale = 0;

	for (size_t i = 0; i < t->n; i++)
		stale += t->res[i].stale;
	if (!t->have_config)
		snprintf(s, cap, "classified %llu values (no --config: readability not checked)",
			 (unsigned long long)total);
	else if (bad > 0)
		snprintf(s, cap, "%llu of %llu values cannot be read with %s: do not deploy it or remove keys",
			 (unsigned long long)bad, (unsigned long long)total, m->config);
	else if (stale > 0)
		snprintf(s, cap, "all %llu values readable; %llu not under the write key (run rewrite)",
			 (unsigned long long)total, (unsigned long long)stale);
	else
		snprintf(s, cap, "all %llu values readable and under the write key", (unsigned long long)total);
	if (h && (h->plaintext_historical || h->retired_historical)) {
		size_t l = strlen(s);

		if (l + 1 >= cap)
			return;
		snprintf(s + l, cap - l, "; history still holds %llu plaintext and %llu retired-key revisions",
			 (unsigned long long)h->plaintext_historical, (unsigned long long)h->retired_historical);
	}
}

json_t *report_summary_json(const struct tally *t)
{
	json_t *sum = json_object();
	uint64_t bad, total = tally_total(t, &bad), readable = 0, stale = 0;

	for (size_t i = 0; i < t->n; i++) {
		readable += t->res[i].readable;
		stale += t->res[i].stale;
	}
	json_object_set_new(sum, "total", json_integer((json_int_t)total));
	json_object_set_new(sum, "readable", count_or_null(t->have_config, readable));
	json_object_set_new(sum, "stale", count_or_null(t->have_config, stale));
	json_object_set_new(sum, "unreadable", count_or_null(t->have_config, bad));
	return sum;
}

json_t *report_resources_json(const struct tally *t)
{
	json_t *res = json_array();

	for (size_t i = 0; i < t->n; i++)
		json_array_append_new(res, resource_obj(t, &t->res[i]));
	return res;
}

json_t *report_json(const struct tally *t, const struct report_meta *m, const struct history_result *hist)
{
	json_t *o = json_object();
	char v[512];

	json_object_set_new(o, "schema", json_string("etcdcrypt.audit/v1"));
	json_object_set_new(o, "revision", json_integer(m->revision));
	json_object_set_new(o, "restarted", json_boolean(m->restarted));
	json_object_set_new(o, "config", m->config ? json_string(m->config) : json_null());
	json_object_set_new(o, "endpoint", m->endpoint ? json_string(m->endpoint) : json_null());
	json_object_set_new(o, "seconds", json_real(m->seconds));
	json_object_set_new(o, "summary", report_summary_json(t));
	json_object_set_new(o, "resources", report_resources_json(t));
	if (hist)
		json_object_set_new(o, "history", history_obj(hist));
	report_verdict(v, sizeof(v), t, m, hist);
	json_object_set_new(o, "verdict", json_string(v));
	return o;
}

void rp_print_json(json_t *rep, int json_lines)
{
	/* after --list-keys every line is one JSON value (JSON Lines): the
	 * report is the last line */
	json_dumpf(rep, stdout, (json_lines ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER);
	putchar('\n');
}
