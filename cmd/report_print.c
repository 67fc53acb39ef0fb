/* report_print: renders an audit report (audit/report.h) as JSON or as an
 * aligned table with counts, percentages and a one-line verdict. */
#include "cmd.h"
#include "report_print.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long long rp_int(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

const char *rp_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

#define ival rp_int
#define sval rp_str

void rp_print_json(json_t *rep, int streamed_keys)
{
	char *s = json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s == NULL)
		return;
	/* with --list-keys the "keys" array was streamed first: close it and
	 * continue the same object */
	if (streamed_keys)
		printf("\n  ],\n%s\n", s + 2);
	else
		printf("%s\n", s);
	free(s);
}

/* column widths: the longest resource and key name, at least the header's */
struct widths {
	int res, key;
};

static void key_label(char *out, size_t cap, const json_t *row)
{
	snprintf(out, cap, "%s%s%s", sval(row, "key_name")[0] ? sval(row, "key_name") : "-",
		 json_object_get(row, "key_id") ? "@" : "", sval(row, "key_id"));
}

static struct widths measure_widths(const json_t *res)
{
	struct widths w = { 8, 8 };
	size_t i, j;
	json_t *r, *row;
	char name[600];

	json_array_foreach(res, i, r) {
		if ((int)strlen(sval(r, "resource")) > w.res)
			w.res = (int)strlen(sval(r, "resource"));
		json_array_foreach(json_object_get(r, "providers"), j, row) {
			key_label(name, sizeof(name), row);
			if ((int)strlen(name) > w.key)
				w.key = (int)strlen(name);
		}
	}
	return w;
}

static void print_rows(const json_t *r, int have_config, struct widths w)
{
	const json_t *rows = json_object_get(r, "providers");
	long long total = ival(r, "total");
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row) {
		long long n = ival(row, "count");
		char name[600];

		key_label(name, sizeof(name), row);
		printf("%-*s %-10s %-*s %9lld %6.1f%%", w.res, sval(r, "resource"), sval(row, "provider"), w.key, name, n,
		       total ? 100.0 * (double)n / (double)total : 0.0);
		if (have_config)
			printf(" %9lld %9lld", ival(row, "readable"), ival(row, "stale"));
		putchar('\n');
	}
}

static void print_resource_summary(const json_t *r, int have_config)
{
	const json_t *pt = json_object_get(r, "plaintext");

	printf("%s: %lld values", sval(r, "resource"), ival(r, "total"));
	if (have_config)
		printf(", %lld readable, %lld stale, %lld unreadable", ival(r, "readable"), ival(r, "stale"),
		       ival(r, "unreadable_count"));
	printf("; stored as plaintext: %lld protobuf, %lld json, %lld cbor, %lld other\n", ival(pt, "protobuf"),
	       ival(pt, "json"), ival(pt, "cbor"), ival(pt, "other"));
}

static void print_unreadable(const json_t *res, int with_revision)
{
	size_t i, j;
	json_t *r, *b;
	int header = 0;

	json_array_foreach(res, i, r) {
		json_array_foreach(json_object_get(r, "unreadable"), j, b) {
			if (!header++)
				printf("\nUNREADABLE\n");
			printf("  %s  %s%s%s  %s: %s", sval(b, "etcd_key"), sval(b, "provider"),
			       sval(b, "key_name")[0] ? ":" : "", sval(b, "key_name"), sval(b, "reason"),
			       sval(b, "detail"));
			if (with_revision)
				printf(" (revision %lld)", ival(b, "mod_revision"));
			putchar('\n');
		}
		if (ival(r, "unreadable_unlisted") > 0)
			printf("  ... and %lld more in %s (not listed)\n", ival(r, "unreadable_unlisted"),
			       sval(r, "resource"));
	}
}

/* "; oldest at revision N", or "" when there is none (never "revision 0"). */
static const char *oldest_text(char buf[48], long long n, long long rev)
{
	buf[0] = '\0';
	if (n > 0 && rev > 0)
		snprintf(buf, 48, "; oldest at revision %lld", rev);
	return buf;
}

static void print_history(const json_t *h)
{
	char o1[48], o2[48];

	if (h == NULL)
		return;
	/* a compaction keeps its own revision readable */
	printf("\nHISTORY (revisions %lld..%lld retained)\n",
	       ival(h, "compact_revision") > 0 ? ival(h, "compact_revision") : 1, ival(h, "upto_revision"));
	printf("  %lld puts, %lld deletes retained\n", ival(h, "revisions"), ival(h, "deletes"));
	printf("  plaintext revisions: %lld (%lld historical, in %lld keys%s)\n",
	       ival(h, "plaintext_revisions_total"), ival(h, "plaintext_revisions_historical"),
	       ival(h, "keys_with_historical_plaintext"),
	       oldest_text(o1, ival(h, "plaintext_revisions_historical"), ival(h, "oldest_historical_plaintext_revision")));
	printf("  revisions under keys the config cannot read: %lld (%lld historical%s)\n",
	       ival(h, "retired_revisions_total"), ival(h, "retired_revisions_historical"),
	       oldest_text(o2, ival(h, "retired_revisions_historical"), ival(h, "oldest_historical_retired_revision")));
	if (json_is_true(json_object_get(h, "purge_needed")))
		printf("  to purge them: etcdctl compact %lld, then etcdctl defrag on each member\n",
		       ival(h, "upto_revision"));
}

void rp_print_resources(const json_t *res, int have_config, int with_revision)
{
	size_t i;
	json_t *r;

	struct widths w = measure_widths(res);

	printf("%-*s %-10s %-*s %9s %7s", w.res, "RESOURCE", "PROVIDER", w.key, "KEY NAME", "VALUES", "%");
	if (have_config)
		printf(" %9s %9s", "READABLE", "STALE");
	putchar('\n');
	json_array_foreach(res, i, r)
		print_rows(r, have_config, w);
	putchar('\n');
	json_array_foreach(res, i, r)
		print_resource_summary(r, have_config);
	print_unreadable(res, with_revision);
}

static void print_table(json_t *rep)
{
	int have_config = !json_is_null(json_object_get(rep, "config"));

	printf("revision %lld at %s, config %s (%.2f s)%s\n\n", ival(rep, "revision"), sval(rep, "endpoint"),
	       have_config ? sval(rep, "config") : "none (classify only)",
	       json_real_value(json_object_get(rep, "seconds")),
	       json_is_true(json_object_get(rep, "restarted")) ? ", restarted after a compaction" : "");
	rp_print_resources(json_object_get(rep, "resources"), have_config, 0);
	print_history(json_object_get(rep, "history"));
	printf("\nverdict: %s\n", sval(rep, "verdict"));
}

void cmd_print_report(json_t *rep, int json, int streamed_keys)
{
	if (json)
		rp_print_json(rep, streamed_keys);
	else
		print_table(rep);
}
