/* resources: resource <-> etcd prefix mapping; see resources.h. */
#include "resources.h"
#include "err.h"

#include <stdio.h>
#include <string.h>

/* built-in resources whose prefix is not their plural name */
static const struct {
	const char *group, *resource, *prefix;
} SPECIAL[] = {
	{ "", "replicationcontrollers", "controllers" },
	{ "", "endpoints", "services/endpoints" },
	{ "", "nodes", "minions" },
	{ "", "services", "services/specs" },
	{ "networking.k8s.io", "ingresses", "ingress" },
	{ "extensions", "ingresses", "ingress" },
	{ "policy", "podsecuritypolicies", "podsecuritypolicy" },
};

/* groups served by kube-apiserver itself: no group in the prefix */
static const char *const BUILTIN_GROUPS[] = {
	"", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
	"networking.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io", "scheduling.k8s.io",
	"certificates.k8s.io", "admissionregistration.k8s.io", "flowcontrol.apiserver.k8s.io", "events.k8s.io",
	"resource.k8s.io", "internal.apiserver.k8s.io", "storagemigration.k8s.io", "extensions",
};

/* group of common built-in resources, to find their config rule from a key */
static const struct {
	const char *resource, *group;
} GROUP_OF[] = {
	{ "deployments", "apps" }, { "replicasets", "apps" }, { "statefulsets", "apps" },
	{ "daemonsets", "apps" }, { "controllerrevisions", "apps" }, { "jobs", "batch" },
	{ "cronjobs", "batch" }, { "horizontalpodautoscalers", "autoscaling" },
	{ "poddisruptionbudgets", "policy" }, { "roles", "rbac.authorization.k8s.io" },
	{ "rolebindings", "rbac.authorization.k8s.io" }, { "clusterroles", "rbac.authorization.k8s.io" },
	{ "clusterrolebindings", "rbac.authorization.k8s.io" }, { "storageclasses", "storage.k8s.io" },
	{ "volumeattachments", "storage.k8s.io" }, { "csidrivers", "storage.k8s.io" },
	{ "csinodes", "storage.k8s.io" }, { "networkpolicies", "networking.k8s.io" },
	{ "ingressclasses", "networking.k8s.io" }, { "leases", "coordination.k8s.io" },
	{ "endpointslices", "discovery.k8s.io" }, { "runtimeclasses", "node.k8s.io" },
	{ "priorityclasses", "scheduling.k8s.io" }, { "certificatesigningrequests", "certificates.k8s.io" },
	{ "mutatingwebhookconfigurations", "admissionregistration.k8s.io" },
	{ "validatingwebhookconfigurations", "admissionregistration.k8s.io" },
	{ "flowschemas", "flowcontrol.apiserver.k8s.io" },
	{ "prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io" },
};

/* core-group resources stored under their plural name */
static const char *const CORE[] = {
	"pods", "secrets", "configmaps", "namespaces", "serviceaccounts", "persistentvolumes",
	"persistentvolumeclaims", "events", "limitranges", "resourcequotas", "podtemplates",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int res_parse(struct res_id *out, const char *spec)
{
	const char *dot = strchr(spec, '.');
	size_t rl = dot ? (size_t)(dot - spec) : strlen(spec);

	memset(out, 0, sizeof(*out));
	if (rl == 0 || rl >= RES_NAME_MAX || (dot && strlen(dot + 1) >= RES_NAME_MAX))
		return err_set(ERR_USAGE, "'%s' is not a resource name (expected e.g. secrets or deployments.apps)",
			       spec);
	for (const char *p = spec; *p; p++)
		if ((*p < 'a' || *p > 'z') && (*p < '0' || *p > '9') && *p != '.' && *p != '-')
			return err_set(ERR_USAGE, "'%s' is not a resource name (lowercase letters, digits, '.', '-')",
				       spec);
	memcpy(out->resource, spec, rl);
	if (dot)
		snprintf(out->group, sizeof(out->group), "%s", dot + 1);
	return 0;
}

static int is_builtin_group(const char *g)
{
	for (size_t i = 0; i < COUNT(BUILTIN_GROUPS); i++)
		if (strcmp(BUILTIN_GROUPS[i], g) == 0)
			return 1;
	return 0;
}

static size_t base_len(const char *etcd_prefix)
{
	size_t n = strlen(etcd_prefix);

	while (n > 0 && etcd_prefix[n - 1] == '/')
		n--;
	return n;
}

int res_prefix(char *out, size_t cap, const char *etcd_prefix, const struct res_id *r)
{
	const char *ep = etcd_prefix ? etcd_prefix : RES_DEFAULT_ETCD_PREFIX;
	int bl = (int)base_len(ep), n = -1;

	for (size_t i = 0; i < COUNT(SPECIAL) && n < 0; i++)
		if (strcmp(SPECIAL[i].group, r->group) == 0 && strcmp(SPECIAL[i].resource, r->resource) == 0)
			n = snprintf(out, cap, "%.*s/%s/", bl, ep, SPECIAL[i].prefix);
	if (n < 0 && is_builtin_group(r->group))
		n = snprintf(out, cap, "%.*s/%s/", bl, ep, r->resource);
	if (n < 0)
		n = snprintf(out, cap, "%.*s/%s/%s/", bl, ep, r->group, r->resource);
	if (n < 0 || (size_t)n >= cap)
		return err_set(ERR_USAGE, "etcd prefix for '%s' is too long", r->resource);
	return 0;
}

int res_all_prefix(char *out, size_t cap, const char *etcd_prefix)
{
	const char *ep = etcd_prefix ? etcd_prefix : RES_DEFAULT_ETCD_PREFIX;
	int n = snprintf(out, cap, "%.*s/", (int)base_len(ep), ep);

	if (n < 0 || (size_t)n >= cap)
		return err_set(ERR_USAGE, "etcd prefix '%s' is too long", ep);
	return 0;
}

static size_t seg_len(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != '/')
		i++;
	return i;
}

static int copy_seg(char *dst, const uint8_t *p, size_t n)
{
	if (n == 0 || n >= RES_NAME_MAX)
		return ERR_NOTFOUND;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

int res_from_key(struct res_id *out, const char *etcd_prefix, const uint8_t *key, size_t n)
{
	const char *ep = etcd_prefix ? etcd_prefix : RES_DEFAULT_ETCD_PREFIX;
	size_t bl = base_len(ep), s1, s2;
	const uint8_t *p;

	memset(out, 0, sizeof(*out));
	if (n <= bl + 1 || memcmp(key, ep, bl) != 0 || key[bl] != '/')
		return ERR_NOTFOUND;
	p = key + bl + 1;
	n -= bl + 1;
	s1 = seg_len(p, n);
	s2 = s1 < n ? seg_len(p + s1 + 1, n - s1 - 1) : 0;
	if (s1 < n && memchr(p, '.', s1) != NULL) /* "<group>/<resource>/..." */
		return copy_seg(out->group, p, s1) < 0 || copy_seg(out->resource, p + s1 + 1, s2) < 0 ? ERR_NOTFOUND : 0;
	/* a two-segment special prefix first (services/specs), then one segment */
	for (size_t i = 0; i < COUNT(SPECIAL); i++) {
		size_t pl = strlen(SPECIAL[i].prefix);

		if (pl <= n && memcmp(p, SPECIAL[i].prefix, pl) == 0 && (pl == n || p[pl] == '/') &&
		    strcmp(SPECIAL[i].group, "extensions") != 0) {
			snprintf(out->group, sizeof(out->group), "%s", SPECIAL[i].group);
			snprintf(out->resource, sizeof(out->resource), "%s", SPECIAL[i].resource);
			return 0;
		}
	}
	if (copy_seg(out->resource, p, s1) < 0)
		return ERR_NOTFOUND;
	for (size_t i = 0; i < COUNT(GROUP_OF); i++)
		if (strcmp(GROUP_OF[i].resource, out->resource) == 0)
			snprintf(out->group, sizeof(out->group), "%s", GROUP_OF[i].group);
	return 0;
}

/* Levenshtein distance, capped: anything over 3 is 3 (names < RES_NAME_MAX). */
static unsigned edits(const char *a, const char *b)
{
	unsigned row[RES_NAME_MAX + 1], la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

	if (la > RES_NAME_MAX || lb > RES_NAME_MAX || (la > lb ? la - lb : lb - la) > 2)
		return 3;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > 3 ? 3 : row[lb];
}

/* Candidate (group, resource): keeps it in *best when closer than so far. */
static void consider(const struct res_id *r, const char *group, const char *resource, unsigned *best,
		     const char **bg, const char **br)
{
	/* a group left out ("deployments") costs one edit */
	unsigned d = edits(r->resource, resource) + (r->group[0] == '\0' && group[0] != '\0' ? 1 : edits(r->group, group));

	if (d < *best) {
		*best = d;
		*bg = group;
		*br = resource;
	}
}

int res_suggest(char *out, size_t cap, const struct res_id *r)
{
	unsigned best = 3;
	const char *bg = NULL, *br = NULL;

	for (size_t i = 0; i < COUNT(CORE); i++)
		consider(r, "", CORE[i], &best, &bg, &br);
	for (size_t i = 0; i < COUNT(SPECIAL); i++)
		consider(r, SPECIAL[i].group, SPECIAL[i].resource, &best, &bg, &br);
	for (size_t i = 0; i < COUNT(GROUP_OF); i++)
		consider(r, GROUP_OF[i].group, GROUP_OF[i].resource, &best, &bg, &br);
	if (br == NULL || best == 0)
		return ERR_NOTFOUND;
	if (bg[0] != '\0')
		snprintf(out, cap, "%s.%s", br, bg);
	else
		snprintf(out, cap, "%s", br);
	return 0;
}

void res_name(char *out, size_t cap, const struct res_id *r)
{
	if (r->group[0])
		snprintf(out, cap, "%s.%s", r->resource, r->group);
	else
		snprintf(out, cap, "%s", r->resource);
}
