/* rwbase: the two baselines of the rewrite benchmark.
 *
 *   --mode cas      what the apiserver does per object: one Range and one
 *                   compare-and-swap Txn per key, sequential (no crypto:
 *                   writes the value back as it is)
 *   --mode ceiling  etcd's write ceiling for the same bytes: batched plain
 *                   puts (no reads in the timed part, no compares, no
 *                   crypto), --batch puts per Txn, --inflight Txns in flight
 *   --mode batched-cas  the same with a mod_revision compare per put (the
 *                   revisions read before timing): what a Go client doing
 *                   batched CAS rewrites without crypto does
 *
 * Prints "seconds: S keys: N" for the timed part only.
 * usage: rwbase --endpoints E --mode cas|ceiling|batched-cas [--prefix P] [--limit N]
 *               [--batch 128] [--inflight 8] */
#include "base/err.h"
#include "etcd/etcd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct kvcopy {
	uint8_t *key, *val;
	size_t kl, vl;
	int64_t mod;
};

static int load(struct etcd_client *cl, const char *prefix, long limit, struct kvcopy **out, size_t *n)
{
	uint8_t end[256];
	size_t el = etcd_prefix_end(end, (const uint8_t *)prefix, strlen(prefix));
	struct etcd_pager *p = NULL;
	const struct etcd_range_resp *page;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = etcd_pager_new(&p, cl, (const uint8_t *)prefix, strlen(prefix), end, el, 5000, 0)) < 0)
		return rc;
	while ((rc = etcd_pager_next(p, &page)) == 1) {
		for (size_t i = 0; i < page->n_kvs && (limit <= 0 || (long)*n < limit); i++) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 1024;
				*out = realloc(*out, cap * sizeof(**out));
			}
			struct kvcopy *c = &(*out)[(*n)++];
			c->kl = page->kvs[i].key_len;
			c->vl = page->kvs[i].value_len;
			c->key = malloc(c->kl);
			c->val = malloc(c->vl);
			memcpy(c->key, page->kvs[i].key, c->kl);
			memcpy(c->val, page->kvs[i].value, c->vl);
			c->mod = page->kvs[i].mod_revision;
		}
	}
	etcd_pager_free(p);
	return rc;
}

static int run_cas(struct etcd_client *cl, struct kvcopy *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct etcd_range_req req = { .key = kv[i].key, .key_len = kv[i].kl };
		struct etcd_range_resp r = { 0 };
		int ok = 0, rc;

		if ((rc = etcd_range(cl, &r, &req)) < 0)
			return rc;
		struct etcd_cas_put op = { kv[i].key, kv[i].kl, r.kvs[0].value, r.kvs[0].value_len, r.kvs[0].mod_revision,
					   r.kvs[0].lease };
		rc = etcd_txn_cas(cl, &ok, NULL, &op, 1);
		etcd_range_resp_release(&r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* plain puts: a compare that always holds (mod_revision > 0 is not used);
 * etcd_cas_put with mod_revision -1 is not expressible, so compare against
 * the key's current mod_revision read before timing */
static int run_ceiling(struct etcd_client *cl, struct kvcopy *kv, size_t n, int batch, int inflight, int cas)
{
	struct etcd_async *a = NULL;
	struct etcd_async_result res;
	struct etcd_cas_put *ops = calloc((size_t)batch * (size_t)(inflight + 1), sizeof(*ops));
	int rc, slot = 0;

	if ((rc = etcd_async_new(&a, cl, inflight)) < 0)
		return rc;
	for (size_t i = 0; i < n; i += (size_t)batch) {
		size_t m = n - i < (size_t)batch ? n - i : (size_t)batch;
		struct etcd_cas_put *o = &ops[(size_t)slot * (size_t)batch];

		if (etcd_async_inflight(a) >= inflight && (rc = etcd_async_wait(a, &res)) < 0)
			return rc;
		for (size_t j = 0; j < m; j++)
			o[j] = (struct etcd_cas_put){ kv[i + j].key, kv[i + j].kl, kv[i + j].val, kv[i + j].vl,
						      cas ? kv[i + j].mod : -1, 0 };
		if ((rc = etcd_async_txn_cas(a, o, m, NULL)) < 0)
			return rc;
		slot = (slot + 1) % (inflight + 1);
	}
	while (etcd_async_inflight(a) > 0)
		etcd_async_wait(a, &res);
	etcd_async_free(a);
	free(ops);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoints", required_argument, NULL, 'e' }, { "mode", required_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'p' },    { "limit", required_argument, NULL, 'l' },
		{ "batch", required_argument, NULL, 'b' },     { "inflight", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ep = "127.0.0.1:2379", *mode = "cas", *prefix = "/registry/secrets/";
	long limit = 0;
	int batch = 128, inflight = 8, c, rc;
	struct etcd_client *cl = NULL;
	struct kvcopy *kv = NULL;
	size_t n = 0;
	double t0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': ep = optarg; break;
		case 'm': mode = optarg; break;
		case 'p': prefix = optarg; break;
		case 'l': limit = atol(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'i': inflight = atoi(optarg); break;
		default: return 2;
		}
	}
	struct etcd_opts eo = { .endpoints = &ep, .n_endpoints = 1 };
	if ((rc = etcd_open(&cl, &eo)) < 0 || (rc = load(cl, prefix, limit, &kv, &n)) < 0) {
		fprintf(stderr, "rwbase: %s\n", err_msg());
		return 3;
	}
	t0 = now();
	if (strcmp(mode, "cas") == 0)
		rc = run_cas(cl, kv, n);
	else
		rc = run_ceiling(cl, kv, n, batch, inflight, strcmp(mode, "batched-cas") == 0);
	if (rc < 0) {
		fprintf(stderr, "rwbase: %s\n", err_msg());
		return 3;
	}
	printf("seconds: %.3f keys: %zu\n", now() - t0, n);
	for (size_t i = 0; i < n; i++)
		free(kv[i].key), free(kv[i].val);
	free(kv);
	etcd_close(cl);
	return 0;
}
