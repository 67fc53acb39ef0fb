/* backup_print: a backup report as JSON or tables; see backup_print.h.
 * The per-config tables use the same columns as audit's (report_print.c). */
#include "backup_print.h"
#include "report_print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ival rp_int
#define sval rp_str

static void print_file(const json_t *rep)
{
	const json_t *b = json_object_get(rep, "bolt"), *t = json_object_get(rep, "trailer");
	const char *k;
	json_t *v;
	int first = 1;

	printf("%s: %lld bytes, %s: bbolt %lld pages of %lld bytes%s\n", sval(rep, "file"), ival(rep, "size"),
	       json_is_true(json_object_get(t, "present")) ? "etcd snapshot" : "raw db file", ival(b, "pages"),
	       ival(b, "page_size"), json_is_true(json_object_get(t, "present")) ? " + SHA-256 trailer" : "");
	if (!json_is_true(json_object_get(t, "present")))
		printf("trailer: none (a raw member db, not 'etcdctl snapshot save' output): integrity not checked\n");
	else if (json_is_true(json_object_get(t, "matches")))
		printf("trailer: SHA-256 matches (%s)\n", sval(t, "actual_hex"));
	else
		printf("trailer: SHA-256 DOES NOT MATCH: file says %s, data hashes to %s\n", sval(t, "expected_hex"),
		       sval(t, "actual_hex"));
	if (ival(rep, "extra_bytes") > 0)
		printf("warning: %lld bytes after the last whole page (truncated or damaged)\n", ival(rep, "extra_bytes"));
	printf("revision %lld, compacted at %lld, %lld MVCC entries, %lld live keys of %lld\nbuckets:",
	       ival(rep, "revision"), ival(rep, "compact_revision"), ival(rep, "mvcc_entries"), ival(rep, "live_keys"),
	       ival(rep, "keys_total"));
	json_object_foreach(json_object_get(b, "buckets"), k, v) {
		printf("%s %s %lld", first ? "" : ",", k, (long long)json_integer_value(v));
		first = 0;
	}
	putchar('\n');
}

static void print_list(const char *title, const json_t *a)
{
	size_t i;
	json_t *v;

	printf("%s", title);
	if (json_array_size(a) == 0)
		printf(" none");
	json_array_foreach(a, i, v)
		printf("%s %s", i ? "," : "", json_string_value(v));
	putchar('\n');
}

static void print_config(const json_t *c)
{
	const json_t *res = json_object_get(c, "resources");
	int have_config = !json_is_null(json_object_get(c, "config"));

	printf("\n== config %s\n", have_config ? sval(c, "config") : "none (classify only)");
	rp_print_resources(res, have_config, 1);
	print_list("keys needed:", json_object_get(c, "keys_needed"));
	if (have_config)
		print_list("keys missing:", json_object_get(c, "keys_missing"));
	printf("verdict: %s\n", sval(c, "verdict"));
}

static void print_keys(const char *title, long long count, const json_t *a)
{
	size_t i;
	json_t *v;

	printf("  %s: %lld\n", title, count);
	json_array_foreach(a, i, v)
		printf("    %s\n", json_string_value(v));
	if ((long long)json_array_size(a) < count)
		printf("    ... and %lld more (not listed)\n", count - (long long)json_array_size(a));
}

static void print_history(const json_t *h)
{
	if (h == NULL)
		return;
	printf("\nHISTORY (revisions %lld..%lld held in the file)\n", ival(h, "compact_revision") + 1,
	       ival(h, "upto_revision"));
	printf("  %lld puts, %lld deletes\n", ival(h, "revisions"), ival(h, "deletes"));
	printf("  plaintext revisions: %lld (%lld historical, in %lld keys",
	       ival(h, "plaintext_revisions_total"), ival(h, "plaintext_revisions_historical"),
	       ival(h, "keys_with_historical_plaintext"));
	if (ival(h, "plaintext_revisions_historical") > 0 && ival(h, "oldest_historical_plaintext_revision") > 0)
		printf("; oldest at revision %lld", ival(h, "oldest_historical_plaintext_revision"));
	printf(")\n");
	print_keys("deleted keys", ival(h, "deleted_keys_count"), json_object_get(h, "deleted_keys"));
	print_keys("re-created keys", ival(h, "recreated_keys_count"), json_object_get(h, "recreated_keys"));
	if (json_is_true(json_object_get(h, "purge_needed")))
		printf("  this backup still holds old plaintext: compact and defragment the cluster, then take a new "
		       "snapshot and retire this one\n");
}

static void print_table(json_t *rep)
{
	size_t i;
	json_t *c;

	print_file(rep);
	json_array_foreach(json_object_get(rep, "configs"), i, c)
		print_config(c);
	print_history(json_object_get(rep, "history"));
	printf("\nverdict: %s\n", sval(rep, "verdict"));
}

void backup_print_report(json_t *rep, int json, int streamed_keys)
{
	if (json)
		rp_print_json(rep, streamed_keys);
	else
		print_table(rep);
}
