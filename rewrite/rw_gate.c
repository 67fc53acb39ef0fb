/* rw_gate: the safety checks rewrite makes before its first write. */
#include "base/err.h"
#include "rw_int.h"

#include <stdio.h>
#include <string.h>

/* a small stored object to prove a node can read what we will write */
static const char PROBE[] = "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"etcdcrypt-probe\","
			    "\"namespace\":\"default\"}}\n";

static int target_label(char *out, size_t cap, const struct xf *x)
{
	enum env_kind k;
	const char *name;

	xf_target(x, &k, &name);
	return snprintf(out, cap, "%s%s%s", env_kind_name(k), name[0] ? ":" : "", name);
}

/* The resources the gates check: the run's, or secrets when it has none
 * listed (--all, or a config naming only wildcards). */
static const struct res_id *gate_resources(const struct rw_opts *o, size_t *n)
{
	static const struct res_id secrets = { "", "secrets" };

	*n = o->n_resources ? o->n_resources : 1;
	return o->n_resources ? o->resources : &secrets;
}

/* One node, one resource: same write target, and it reads our probe. */
static int check_node(const struct rw_opts *o, const struct encconf *node, const char *label,
		      const struct res_id *id)
{
	struct xf *ours = NULL, *theirs = NULL;
	struct buf enc, back;
	struct xf_result res;
	char a[300], b[300], key[600], prefix[512];
	int rc;

	buf_init(&enc, 0);
	buf_init(&back, 0);
	if ((rc = res_prefix(prefix, sizeof(prefix), o->etcd_prefix, id)) < 0 ||
	    (rc = xf_new(&ours, o->conf, id->group, id->resource, o->ring)) < 0 ||
	    (rc = xf_new(&theirs, node, id->group, id->resource, o->ring)) < 0)
		goto out;
	snprintf(key, sizeof(key), "%sdefault/etcdcrypt-probe", prefix);
	target_label(a, sizeof(a), ours);
	target_label(b, sizeof(b), theirs);
	if (strcmp(a, b) != 0) {
		rc = err_set(ERR_NODE_MISMATCH, "node %s writes %s with %s but the config to apply writes with %s: update every node's "
			     "config to the same write key first", label, id->resource, b, a);
		goto out;
	}
	if ((rc = xf_write(ours, &enc, (const uint8_t *)key, strlen(key), (const uint8_t *)PROBE, strlen(PROBE))) < 0 ||
	    (rc = xf_read(theirs, &res, &back, (const uint8_t *)key, strlen(key), enc.data, enc.len)) < 0)
		goto out;
	if (!res.ok || back.len != strlen(PROBE) || memcmp(back.data, PROBE, back.len) != 0)
		rc = err_set(ERR_NODE_MISMATCH, "node %s cannot read %s written with %s (%s): its key of that name differs",
			     label, id->resource, a, xf_reason_name(res.reason));
out:
	buf_release(&enc);
	buf_release(&back);
	xf_free(ours);
	xf_free(theirs);
	return rc;
}

int rw_check_nodes(const struct rw_opts *o, const struct encconf *const *nodes, const char *const *names, size_t n)
{
	size_t nr;
	const struct res_id *res = gate_resources(o, &nr);

	for (size_t i = 0; i < n; i++) {
		for (size_t r = 0; r < nr; r++) {
			int rc = check_node(o, nodes[i], names[i], &res[r]);

			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int rw_check_alarms(struct etcd_client *cl)
{
	unsigned alarms = 0;
	int rc = etcd_alarms(cl, &alarms);

	if (rc < 0)
		return rc;
	if (alarms & (1u << ETCD_ALARM_NOSPACE))
		return err_set(ERR_REFUSED, "etcd has a NOSPACE alarm raised: compact, defragment and disarm it "
			       "(etcdctl alarm disarm) before rewriting");
	if (alarms & (1u << ETCD_ALARM_CORRUPT))
		return err_set(ERR_REFUSED, "etcd has a CORRUPT alarm raised: repair the cluster before rewriting");
	if (alarms)
		return err_set(ERR_REFUSED, "etcd has alarms raised (0x%x): clear them before rewriting", alarms);
	return 0;
}

#define EST_CACHE 16

/* Values that would change and their growth. The new length is the
 * plaintext's plus the write target's overhead, probed once per
 * transformer with a 16-byte plaintext (AES-CBC's worst padding). */
struct estimate {
	int force;
	uint64_t values;
	int64_t growth;
	struct buf probe;
	struct {
		const struct xf *xf;
		size_t overhead;
	} cache[EST_CACHE];
	size_t n_cache;
};

static int target_overhead(struct estimate *e, const struct scan_item *it, size_t *out)
{
	static const uint8_t sixteen[16];
	int rc;

	for (size_t i = 0; i < e->n_cache; i++) {
		if (e->cache[i].xf == it->xf) {
			*out = e->cache[i].overhead;
			return 0;
		}
	}
	if ((rc = xf_write(it->xf, &e->probe, it->kv->key, it->kv->key_len, sixteen, sizeof(sixteen))) < 0)
		return rc;
	*out = e->probe.len > sizeof(sixteen) ? e->probe.len - sizeof(sixteen) : 0;
	if (e->n_cache < EST_CACHE)
		e->cache[e->n_cache].xf = it->xf, e->cache[e->n_cache++].overhead = *out;
	return 0;
}

static int on_estimate(void *arg, const struct scan_item *it)
{
	struct estimate *e = arg;
	size_t overhead;
	int rc;

	if (!it->res->ok || (xf_is_current(it->res) && !e->force))
		return 0;
	if ((rc = target_overhead(e, it, &overhead)) < 0)
		return rc;
	e->values++;
	e->growth += rw_growth_of(it->kv->key_len, it->plain->len + overhead);
	return 0;
}

int rw_estimate(struct etcd_client *cl, const struct rw_opts *o, uint64_t *out_values, int64_t *out_growth)
{
	struct scan_opts so = { .conf = o->conf, .ring = o->ring, .etcd_prefix = o->etcd_prefix,
				.resources = o->resources, .n_resources = o->n_resources, .all = o->all,
				.page_size = o->page_size, .resume = 1 };
	struct estimate e = { .force = o->force };
	struct scan *s = NULL;
	int rc;

	buf_init(&e.probe, 0);
	if ((rc = scan_new(&s, cl, &so)) == 0)
		rc = scan_run(s, on_estimate, NULL, &e);
	scan_free(s);
	buf_release(&e.probe);
	*out_values = e.values;
	*out_growth = e.growth;
	return rc;
}

static int count_prefix(struct etcd_client *cl, const char *prefix, uint64_t *n)
{
	uint8_t end[512];
	size_t el = etcd_prefix_end(end, (const uint8_t *)prefix, strlen(prefix));
	struct etcd_range_req req = { .key = (const uint8_t *)prefix, .key_len = strlen(prefix), .range_end = end,
				      .range_end_len = el, .count_only = 1 };
	struct etcd_range_resp r = { 0 };
	int rc = etcd_range(cl, &r, &req);

	if (rc == 0)
		*n += (uint64_t)r.count;
	etcd_range_resp_release(&r);
	return rc;
}

int rw_count(struct etcd_client *cl, const struct rw_opts *o, uint64_t *out)
{
	char prefix[512];
	int rc = 0;

	*out = 0;
	if (o->all) {
		if ((rc = res_all_prefix(prefix, sizeof(prefix), o->etcd_prefix)) < 0)
			return rc;
		return count_prefix(cl, prefix, out);
	}
	for (size_t i = 0; i < o->n_resources && rc == 0; i++)
		if ((rc = res_prefix(prefix, sizeof(prefix), o->etcd_prefix, &o->resources[i])) == 0)
			rc = count_prefix(cl, prefix, out);
	return rc;
}

int rw_check_target(const struct rw_opts *o)
{
	size_t nr;
	const struct res_id *res = gate_resources(o, &nr);

	for (size_t r = 0; r < nr; r++) {
		struct xf *x = NULL;
		enum env_kind k;
		const char *name;
		int rc = xf_new(&x, o->conf, res[r].group, res[r].resource, o->ring);

		if (rc < 0)
			return rc;
		xf_target(x, &k, &name);
		if (k == ENV_KMS1)
			rc = err_set(ERR_CONFIG, "the config writes %s with KMS v1 plugin '%s': KMS v1 is deprecated and "
				     "etcdcrypt writes only KMS v2; put a KMS v2 provider first", res[r].resource, name);
		else if (k == ENV_KMS2)
			rc = xf_ready(x); /* Status, then the run's one seed (one Encrypt) */
		xf_free(x);
		if (rc < 0)
			return rc;
	}
	return 0;
}
