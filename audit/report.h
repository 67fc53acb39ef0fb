/* report: an audit's results as one JSON document (jansson), the single
 * source for both `-o json` and the table view (cmd/ renders the table from
 * it), so the two can never disagree. Schema: docs/audit-json.md. */
#ifndef ETCDCRYPT_REPORT_H
#define ETCDCRYPT_REPORT_H

#include <jansson.h>

#include "history.h"
#include "tally.h"

struct report_meta {
	int64_t revision;
	int restarted;          /* the scan restarted after a compaction */
	const char *config;     /* path or NULL */
	const char *endpoint;
	double seconds;
};

/* A new reference (caller decrefs). hist may be NULL. */
json_t *report_build(const struct tally *t, const struct report_meta *m, const struct history_result *hist);

/* provider label for JSON: identity, aescbc, aesgcm, secretbox, kms, kmsv2 */
const char *report_provider(enum env_kind k);

#endif
