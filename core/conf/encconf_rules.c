/* encconf_rules: the value rules of an EncryptionConfiguration that need no
 * YAML: strict base64, Go durations (base/godur), resource-name and overlap rules, KMS
 * endpoint schemes and cross-entry masking. Texts follow kube-apiserver's
 * validation_encryption.go and config.go (docs/formats.md §4).
 *
 * It does not know where a value came from: encconf_yaml.c adds the file
 * position and field path. */
#include "encconf_int.h"
#include "base/err.h"
#include "base/godur.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Go durations ----------------------------------------------------------- */

int encconf_duration_ms(long *out, const char *s)
{
	int64_t ns;
	uint64_t mag, ms;
	int rc;

	if ((rc = godur_parse_ns(&ns, s)) < 0)
		return rc;
	mag = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
	ms = mag / 1000000u + (mag % 1000000u != 0);
	*out = ns < 0 ? -(long)ms : (long)ms;
	return 0;
}

/* ---- resources ------------------------------------------------------------ */

void encconf_split_resource(const char *s, const char **res, size_t *res_len, const char **group)
{
	const char *dot = strchr(s, '.');

	*res = s;
	*res_len = dot != NULL ? (size_t)(dot - s) : strlen(s);
	*group = dot != NULL ? dot + 1 : "";
}

const char *encconf_resource_problem(const char *res)
{
	const char *r, *g;
	size_t rlen;

	for (const char *p = res; *p != '\0'; p++)
		if (isupper((unsigned char)*p))
			return "resource name should not contain capital letters";
	if (strcmp(res, "*") == 0)
		return "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources";
	if (strcmp(res, "apiserveripinfo") == 0 || strcmp(res, "serviceipallocations") == 0 ||
	    strcmp(res, "servicenodeportallocations") == 0)
		return "resources which do not have REST API/s cannot be encrypted";
	encconf_split_resource(res, &r, &rlen, &g);
	if (strcmp(g, "events.k8s.io") == 0)
		return "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. "
		       "Use 'events' instead in the config file";
	if (strcmp(g, "extensions") == 0)
		return "'extensions' group has been removed and cannot be used for encryption";
	if (strcmp(g, "*") == 0 && !(rlen == 1 && r[0] == '*'))
		return "encrypting the same resource across groups is not supported";
	return NULL;
}

/* A resource string split at its first dot, with where it came from. */
struct encconf_gr {
	const char *res;
	size_t res_len;
	const char *group;
	size_t idx;
};

static struct encconf_gr gr_parse(const char *s, size_t idx)
{
	struct encconf_gr gr;

	encconf_split_resource(s, &gr.res, &gr.res_len, &gr.group);
	gr.idx = idx;
	return gr;
}

static int gr_is_star(const struct encconf_gr *gr)
{
	return gr->res_len == 1 && gr->res[0] == '*';
}

static int gr_cmp_name(const struct encconf_gr *a, const struct encconf_gr *b)
{
	int d = strcmp(a->group, b->group);
	size_t n = a->res_len < b->res_len ? a->res_len : b->res_len;

	if (d != 0)
		return d;
	if ((d = memcmp(a->res, b->res, n)) != 0)
		return d;
	return (a->res_len > b->res_len) - (a->res_len < b->res_len);
}

/* qsort order: group, resource, then position (stable "earliest first"). */
static int gr_cmp(const void *pa, const void *pb)
{
	const struct encconf_gr *a = pa, *b = pb;
	int d = gr_cmp_name(a, b);

	return d != 0 ? d : (a->idx > b->idx) - (a->idx < b->idx);
}

/* The apiserver compares all pairs: an equal pair is a duplicate; "*.*"
 * with anything, or "*.<g>" with anything else in group g, is an overlap
 * (so is a duplicated wildcard). Sorting finds the same in n log n. */
int encconf_overlap_problem(const char **out, char *const *res, size_t n)
{
	struct encconf_gr *v;
	int dup = 0, overlap = 0;
	size_t run = 0;

	*out = NULL;
	if (n < 2)
		return 0;
	if ((v = malloc(n * sizeof(*v))) == NULL)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = gr_parse(res[i], i);
	qsort(v, n, sizeof(*v), gr_cmp);
	for (size_t i = 0, star = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i].group, v[i - 1].group) == 0) {
			run++;
		} else {
			run = 1;
			star = 0;
		}
		star |= gr_is_star(&v[i]);
		if (i > 0 && gr_cmp_name(&v[i], &v[i - 1]) == 0)
			dup = 1;
		if ((star && run >= 2) || (gr_is_star(&v[i]) && strcmp(v[i].group, "*") == 0))
			overlap = 1;
	}
	free(v);
	if (dup)
		*out = "the same resource cannot be specified multiple times";
	else if (overlap)
		*out = "using overlapping resources such as 'secrets' and '*.' in the same resource list "
		       "is not allowed as they will be masked";
	return 0;
}

/* The earliest entry with wildcard "*.<group>" among the sorted list w,
 * or (size_t)-1. */
static size_t first_wildcard(const struct encconf_gr *w, size_t n, const char *group)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(w[mid].group, group) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(w[lo].group, group) == 0 ? w[lo].idx : (size_t)-1;
}

static int masked(const struct encconf_gr *w, size_t nw, const char *s, size_t i, char *rule, size_t size)
{
	struct encconf_gr gr = gr_parse(s, i);

	if (first_wildcard(w, nw, gr.group) < i) {
		snprintf(rule, size, "*.%s", gr.group);
		return 1;
	}
	if (first_wildcard(w, nw, "*") < i) {
		snprintf(rule, size, "*.*");
		return 1;
	}
	return 0;
}

/* Every "*.<group>" of every entry, sorted by group then entry. */
static int collect_wildcards(const struct encconf *c, struct encconf_gr **out, size_t *n_out)
{
	size_t n = 0;
	struct encconf_gr *w;

	for (size_t i = 0; i < c->n_rules; i++)
		n += c->rules[i].n_resources;
	if ((w = malloc((n > 0 ? n : 1) * sizeof(*w))) == NULL)
		return ERR_NOMEM;
	n = 0;
	for (size_t i = 0; i < c->n_rules; i++)
		for (size_t j = 0; j < c->rules[i].n_resources; j++) {
			struct encconf_gr gr = gr_parse(c->rules[i].resources[j], i);
			if (gr_is_star(&gr))
				w[n++] = gr;
		}
	qsort(w, n, sizeof(*w), gr_cmp);
	*out = w;
	*n_out = n;
	return 0;
}

int encconf_find_masked(const struct encconf *c, size_t *entry, size_t *res, char *rule, size_t size)
{
	struct encconf_gr *w;
	size_t nw;
	int rc, found = 0;

	if ((rc = collect_wildcards(c, &w, &nw)) < 0)
		return rc;
	for (size_t i = 1; i < c->n_rules && !found; i++)
		for (size_t j = 0; j < c->rules[i].n_resources && !found; j++)
			if (masked(w, nw, c->rules[i].resources[j], i, rule, size)) {
				*entry = i;
				*res = j;
				found = 1;
			}
	free(w);
	return found;
}

/* ---- KMS endpoint (url.Parse, then scheme == "unix") ---------------------- */

const char *encconf_endpoint_problem(const char *endpoint, char *buf, size_t size)
{
	char scheme[64];
	size_t n = 0;
	const char *p;

	if (endpoint[0] == '\0')
		return "endpoint is a mandatory field for a kms";
	for (p = endpoint; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			return "invalid endpoint for kms provider, error: net/url: invalid control character in URL";
		}
	}
	/* Go's getScheme: [A-Za-z][A-Za-z0-9+.-]* followed by ':' */
	for (p = endpoint; *p != '\0' && *p != ':'; p++) {
		int ok = isalpha((unsigned char)*p) || (p != endpoint && (isdigit((unsigned char)*p) ||
			 *p == '+' || *p == '-' || *p == '.'));
		if (!ok)
			break;
		if (n + 1 < sizeof(scheme))
			scheme[n++] = (char)tolower((unsigned char)*p);
	}
	if (*p == ':' && p == endpoint)
		return "invalid endpoint for kms provider, error: missing protocol scheme";
	if (*p != ':')
		n = 0; /* no scheme: a path */
	scheme[n] = '\0';
	if (strcmp(scheme, "unix") == 0)
		return NULL;
	snprintf(buf, size, "unsupported scheme \"%s\" for KMS provider, only unix is supported", scheme);
	return buf;
}
