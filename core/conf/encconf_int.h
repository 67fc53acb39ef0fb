/* encconf_int: private interface between the files of the encconf module.
 *
 *   encconf.c        public API: reading the file, freeing, rule lookup
 *   encconf_yaml.c   libyaml: strict decoding and validation into the structs
 *   encconf_rules.c  value rules with no YAML in them: base64, Go durations,
 *                    resource names, KMS endpoints
 *
 * Nothing outside core/encconf*.c includes this header. The "problem"
 * functions return NULL when the value is fine, else the apiserver's text for
 * what is wrong (static, or written into the caller's buffer). */
#ifndef ETCDCRYPT_ENCCONF_INT_H
#define ETCDCRYPT_ENCCONF_INT_H

#include "encconf.h"

#include <stddef.h>
#include <stdint.h>

#define ENCCONF_MAX_INPUT (4u * 1024u * 1024u)
/* Deepest nesting of mappings and lists accepted. A real configuration
 * needs 8: root > resources > entry > providers > provider > aescbc > keys
 * > key. */
#define ENCCONF_MAX_DEPTH 64u

/* Decodes and validates text into c (c->path already set; c->rules empty).
 * On failure c may hold a partial result: the caller frees it. */
int encconf_yaml_decode(struct encconf *c, const char *text, size_t len);


/* A Go duration string (base/godur.h) in ms, rounded away from zero when
 * not whole. Returns 0, or ERR_CORRUPT (no message) when time.ParseDuration
 * would fail. */
int encconf_duration_ms(long *out, const char *s);

/* Splits "resource.group" at the first dot; no dot means the core group "". */
void encconf_split_resource(const char *s, const char **res, size_t *res_len, const char **group);

/* validateResourceNames, for one string. */
const char *encconf_resource_problem(const char *res);

/* validateResourceOverlap, for one entry's list: *out = NULL or the text.
 * Returns 0 or ERR_NOMEM. */
int encconf_overlap_problem(const char **out, char *const *res, size_t n);

/* validateKMSEndpoint; buf receives formatted texts. */
const char *encconf_endpoint_problem(const char *endpoint, char *buf, size_t size);

/* config.go's masking rule: the first resource, in file order, covered by
 * an earlier entry's "*.<group>" or "*.*". Returns 1 and sets entry/res and
 * rule (the masking text: "*.", "*.apps", "*.*"), 0 when none, or
 * ERR_NOMEM. */
int encconf_find_masked(const struct encconf *c, size_t *entry, size_t *res, char *rule, size_t size);

#endif
