/* report_print: an audit's typed results (audit/tally.h, audit/history.h)
 * rendered for people (aligned tables) and for scripts (JSON built with
 * jansson, schema docs/audit-json.md). Both views read the same structs,
 * so they cannot disagree; backup verify reuses the resource pieces. */
#ifndef ETCDCRYPT_REPORT_PRINT_H
#define ETCDCRYPT_REPORT_PRINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/history.h"
#include "audit/tally.h"

struct report_meta {
	int64_t revision;
	int restarted;          /* the scan restarted after a compaction */
	const char *config;     /* path or NULL */
	const char *endpoint;
	double seconds;
};

/* The audit report (a new reference). hist may be NULL. */
json_t *report_json(const struct tally *t, const struct report_meta *m, const struct history_result *hist);
/* Its "summary" object and "resources" array (new references). */
json_t *report_summary_json(const struct tally *t);
json_t *report_resources_json(const struct tally *t);

/* The one-line verdict of the report into out. */
void report_verdict(char *out, size_t cap, const struct tally *t, const struct report_meta *m,
		    const struct history_result *hist);

/* A report as indented JSON on stdout; after --list-keys JSON Lines, as the
 * last line (compact, same fields). */
void rp_print_json(json_t *rep, int json_lines);

/* Header, one row per resource x provider x key, one summary line per
 * resource, then the unreadable values (with their revision if asked). */
void rp_print_resources(const struct tally *t, int with_revision);

/* The whole audit report as tables. hist may be NULL. */
void report_print_table(const struct tally *t, const struct report_meta *m, const struct history_result *hist);

#endif
