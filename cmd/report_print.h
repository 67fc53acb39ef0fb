/* report_print: table pieces shared by the audit and backup reports (both
 * hold a "resources" list of the audit shape, docs/audit-json.md). */
#ifndef ETCDCRYPT_REPORT_PRINT_H
#define ETCDCRYPT_REPORT_PRINT_H

#include <jansson.h>

/* o[k] as an integer (0 when absent) / a string ("" when absent; borrowed) */
long long rp_int(const json_t *o, const char *k);
const char *rp_str(const json_t *o, const char *k);

/* The report as indented JSON. streamed_keys: a "keys" array was already
 * opened on stdout (--list-keys), so this closes it and goes on. */
void rp_print_json(json_t *rep, int streamed_keys);

/* Header, one row per resource x provider x key, one summary line per
 * resource, then the unreadable values (with their revision if asked). */
void rp_print_resources(const json_t *resources, int have_config, int with_revision);

#endif
