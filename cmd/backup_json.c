/* backup_json: a backup verification as JSON (docs/backup-json.md); the
 * resources and summary of each configuration are audit's (report_print.h). */
#include "backup_print.h"
#include "base/hex.h"
#include "report_print.h"

#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>

static json_t *label_list(const struct backup_label *v, size_t n, int only_missing)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		if (!only_missing || v[i].readable == 0)
			json_array_append_new(a, json_string(v[i].name));
	return a;
}

static json_t *config_obj(const struct backup *bk, size_t i)
{
	const struct tally *t = backup_tally(bk, i);
	const char *path = backup_config_path(bk, i);
	struct backup_label *labels = NULL;
	size_t n = 0;
	json_t *o = json_object();
	uint64_t bad = 0;
	char v[1536];

	tally_total(t, &bad);
	(void)backup_labels(&labels, &n, bk, i); /* out of memory: listed as none */
	json_object_set_new(o, "config", path ? json_string(path) : json_null());
	json_object_set_new(o, "summary", report_summary_json(t));
	json_object_set_new(o, "resources", report_resources_json(t));
	json_object_set_new(o, "restorable", t->have_config ? json_boolean(bad == 0) : json_null());
	json_object_set_new(o, "keys_needed", label_list(labels, n, 0));
	json_object_set_new(o, "keys_missing", t->have_config ? label_list(labels, n, 1) : json_null());
	backup_config_verdict(v, sizeof(v), bk, i, labels, n);
	json_object_set_new(o, "verdict", json_string(v));
	free(labels);
	return o;
}

static json_t *history_obj(const struct backup *bk)
{
	const struct backup_history *h = backup_get_history(bk);
	const struct snap_info *in = backup_snap_info(bk);
	json_t *o = json_object();

	json_object_set_new(o, "compact_revision", json_integer(in->compact_revision));
	json_object_set_new(o, "upto_revision", json_integer(in->revision));
	json_object_set_new(o, "revisions", json_integer((json_int_t)h->sum.revisions));
	json_object_set_new(o, "deletes", json_integer((json_int_t)h->sum.deletes));
	json_object_set_new(o, "plaintext_revisions_total", json_integer((json_int_t)h->sum.plaintext_total));
	json_object_set_new(o, "plaintext_revisions_historical", json_integer((json_int_t)h->sum.plaintext_historical));
	json_object_set_new(o, "keys_with_historical_plaintext",
			    json_integer((json_int_t)h->sum.keys_with_historical_plaintext));
	cmd_json_str_list(o, "keys_with_historical_plaintext_list", h->plain_keys, h->plain_keys_len, h->n_plain_keys);
	json_object_set_new(o, "oldest_historical_plaintext_revision", json_integer(h->sum.oldest_plaintext_revision));
	json_object_set_new(o, "deleted_keys_count", json_integer((json_int_t)h->deleted_keys));
	cmd_json_str_list(o, "deleted_keys", h->deleted, h->deleted_len, h->n_deleted);
	json_object_set_new(o, "recreated_keys_count", json_integer((json_int_t)h->recreated_keys));
	cmd_json_str_list(o, "recreated_keys", h->recreated, h->recreated_len, h->n_recreated);
	json_object_set_new(o, "purge_needed", json_boolean(h->sum.plaintext_historical > 0));
	return o;
}

static json_t *trailer_obj(const struct snap_info *in)
{
	json_t *o = json_object();
	char h[65];

	json_object_set_new(o, "present", json_boolean(in->has_trailer));
	if (!in->has_trailer) {
		json_object_set_new(o, "matches", json_null());
		json_object_set_new(o, "expected_hex", json_null());
		json_object_set_new(o, "actual_hex", json_null());
		return o;
	}
	json_object_set_new(o, "matches", json_boolean(in->trailer_checked && in->trailer_matches));
	hex_encode(h, in->expected, 32);
	json_object_set_new(o, "expected_hex", json_string(h));
	hex_encode(h, in->actual, 32);
	json_object_set_new(o, "actual_hex", in->trailer_checked ? json_string(h) : json_null());
	return o;
}

static json_t *bolt_obj(const struct snap_info *in)
{
	json_t *o = json_object(), *b = json_object();

	json_object_set_new(o, "page_size", json_integer(in->bolt.page_size));
	json_object_set_new(o, "pages", json_integer((json_int_t)in->bolt.hwm));
	json_object_set_new(o, "txid", json_integer((json_int_t)in->bolt.txid));
	json_object_set_new(o, "meta_page", json_integer(in->bolt.meta_page));
	for (size_t i = 0; i < in->n_buckets; i++)
		json_object_set_new(b, in->buckets[i].name, json_integer((json_int_t)in->buckets[i].entries));
	json_object_set_new(o, "buckets", b);
	return o;
}

json_t *backup_json(const struct backup *bk, const char *file, int history, double seconds)
{
	const struct snap_info *in = backup_snap_info(bk);
	json_t *o = json_object(), *cs = json_array();
	char v[1024];

	json_object_set_new(o, "schema", json_string("etcdcrypt.backup/v1"));
	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "size", json_integer((json_int_t)in->size));
	json_object_set_new(o, "format", json_string(in->has_trailer ? "snapshot" : "db"));
	json_object_set_new(o, "trailer", trailer_obj(in));
	json_object_set_new(o, "extra_bytes", json_integer((json_int_t)in->extra_bytes));
	json_object_set_new(o, "bolt", bolt_obj(in));
	json_object_set_new(o, "revision", json_integer(in->revision));
	json_object_set_new(o, "compact_revision", json_integer(in->compact_revision));
	json_object_set_new(o, "scheduled_compact_revision", json_integer(in->scheduled_compact_revision));
	json_object_set_new(o, "mvcc_entries", json_integer((json_int_t)in->entries));
	json_object_set_new(o, "keys_total", json_integer((json_int_t)in->keys));
	json_object_set_new(o, "live_keys", json_integer((json_int_t)in->live_keys));
	json_object_set_new(o, "seconds", json_real(seconds));
	for (size_t i = 0; i < backup_n_results(bk); i++)
		json_array_append_new(cs, config_obj(bk, i));
	json_object_set_new(o, "configs", cs);
	if (history)
		json_object_set_new(o, "history", history_obj(bk));
	json_object_set_new(o, "restorable", backup_n_configs(bk) ? json_boolean(backup_all_restorable(bk)) : json_null());
	json_object_set_new(o, "ok", json_boolean(backup_ok(bk)));
	backup_verdict(v, sizeof(v), bk);
	json_object_set_new(o, "verdict", json_string(v));
	return o;
}
