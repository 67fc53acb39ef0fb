/* loadgen: writes N realistic Secrets into a throwaway etcd for benchmarks.
 *
 * Each value is a Kubernetes protobuf Secret ("k8s\0" + runtime.Unknown) of
 * about --size bytes in one of ~50 namespaces, stored (round robin) as
 * plaintext or under each key of bench/config.yaml: aesgcm, two aescbc keys,
 * secretbox. Writes are batched Txns of 100 create-only puts.
 * usage: loadgen --endpoints E --count N --config FILE [--size BYTES] [--prefix P] */
#include "base/buf.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "etcd/etcd.h"
#include "xform/transform.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 100

static void pb_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	buf_append(b, t, n);
}

static void pb_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	buf_append(b, p, n);
}

static void pb_str(struct buf *b, unsigned field, const char *s)
{
	pb_bytes(b, field, s, strlen(s));
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* a protobuf Secret of roughly `size` bytes */
static void make_secret(struct buf *out, const char *ns, const char *name, size_t size)
{
	struct buf meta, raw, tm, entry, data;
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char uid[40];

	buf_init(&meta, 0), buf_init(&raw, 0), buf_init(&tm, 0), buf_init(&entry, 0), buf_init(&data, 0);
	snprintf(uid, sizeof(uid), "%08llx-%04llx-4%03llx-8%03llx-%012llx", (unsigned long long)(next_rand() & 0xffffffff),
		 (unsigned long long)(next_rand() & 0xffff), (unsigned long long)(next_rand() & 0xfff),
		 (unsigned long long)(next_rand() & 0xfff), (unsigned long long)(next_rand() & 0xffffffffffffULL));
	pb_str(&meta, 1, name);
	pb_str(&meta, 3, ns);
	pb_str(&meta, 5, uid);
	pb_bytes(&raw, 1, meta.data, meta.len);
	for (int e = 0; e < 3; e++) {
		size_t vl = size > 400 ? (size - 300) / 3 : 32;
		buf_reset(&data);
		for (size_t i = 0; i < vl; i++) {
			char c = alpha[next_rand() % 64];
			buf_append(&data, &c, 1);
		}
		buf_reset(&entry);
		pb_str(&entry, 1, e == 0 ? "tls.crt" : e == 1 ? "tls.key" : "ca.crt");
		pb_bytes(&entry, 2, data.data, data.len);
		pb_bytes(&raw, 2, entry.data, entry.len);
	}
	pb_str(&raw, 3, "kubernetes.io/tls");
	pb_str(&tm, 1, "v1");
	pb_str(&tm, 2, "Secret");
	buf_reset(out);
	buf_append(out, "k8s\0", 4);
	pb_bytes(out, 1, tm.data, tm.len);
	pb_bytes(out, 2, raw.data, raw.len);
	pb_str(out, 3, "");
	pb_str(out, 4, "");
	buf_release(&meta), buf_release(&raw), buf_release(&tm), buf_release(&entry), buf_release(&data);
}

/* one writer config per stored form: identity, then each key of the config */
static int make_writers(struct xf **w, size_t *n, const struct encconf *conf, struct encconf *one,
			struct encconf_rule *rule, struct encconf_provider *prov)
{
	static char *secrets[] = { "secrets" };
	const struct encconf_rule *r = encconf_rule_for(conf, "", "secrets");
	int rc;

	*n = 0;
	if ((rc = xf_new(&w[(*n)++], NULL, "", "secrets", NULL)) < 0)
		return rc;
	for (size_t p = 0; r && p < r->n_providers; p++) {
		for (size_t k = 0; k < r->providers[p].n_keys && *n < 16; k++) {
			size_t i = *n;
			prov[i] = r->providers[p];
			prov[i].keys = &r->providers[p].keys[k];
			prov[i].n_keys = 1;
			rule[i].resources = secrets;
			rule[i].n_resources = 1;
			rule[i].providers = &prov[i];
			rule[i].n_providers = 1;
			one[i].rules = &rule[i];
			one[i].n_rules = 1;
			if ((rc = xf_new(&w[(*n)++], &one[i], "", "secrets", NULL)) < 0)
				return rc;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoints", required_argument, NULL, 'e' }, { "count", required_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },    { "size", required_argument, NULL, 's' },
		{ "prefix", required_argument, NULL, 'p' },    { NULL, 0, NULL, 0 },
	};
	const char *ep = "127.0.0.1:2379", *cfg = NULL, *prefix = "/registry";
	long count = 1000, size = 2560;
	struct encconf *conf = NULL, one[16];
	struct encconf_rule rule[16];
	struct encconf_provider prov[16];
	struct xf *w[16];
	size_t nw = 0;
	struct etcd_client *cl = NULL;
	struct etcd_cas_put ops[BATCH];
	struct buf plain, vals[BATCH];
	char keys[BATCH][128];
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': ep = optarg; break;
		case 'n': count = atol(optarg); break;
		case 'c': cfg = optarg; break;
		case 's': size = atol(optarg); break;
		case 'p': prefix = optarg; break;
		default: fprintf(stderr, "usage: loadgen --endpoints E --count N --config FILE [--size B]\n"); return 2;
		}
	}
	memset(one, 0, sizeof(one));
	memset(rule, 0, sizeof(rule));
	struct etcd_opts eo = { .endpoints = &ep, .n_endpoints = 1 };
	if (cfg == NULL || (rc = encconf_load(&conf, cfg)) < 0 || (rc = make_writers(w, &nw, conf, one, rule, prov)) < 0 ||
	    (rc = etcd_open(&cl, &eo)) < 0) {
		fprintf(stderr, "loadgen: %s\n", cfg ? err_msg() : "--config is required");
		return 2;
	}
	buf_init(&plain, 0);
	for (int i = 0; i < BATCH; i++)
		buf_init(&vals[i], 0);
	for (long base = 0; base < count; base += BATCH) {
		size_t n = 0;
		for (long i = base; i < count && i < base + BATCH; i++, n++) {
			char ns[32], name[64];
			snprintf(ns, sizeof(ns), "ns-%02ld", i % 50);
			snprintf(name, sizeof(name), "secret-%07ld", i);
			snprintf(keys[n], sizeof(keys[n]), "%s/secrets/%s/%s", prefix, ns, name);
			make_secret(&plain, ns, name, (size_t)size);
			xf_write(w[i % (long)nw], &vals[n], (const uint8_t *)keys[n], strlen(keys[n]), plain.data, plain.len);
			ops[n] = (struct etcd_cas_put){ (const uint8_t *)keys[n], strlen(keys[n]), vals[n].data, vals[n].len, 0, 0 };
		}
		int ok = 0;
		if ((rc = etcd_txn_cas(cl, &ok, NULL, ops, n)) < 0 || !ok) {
			fprintf(stderr, "loadgen: %s\n", rc < 0 ? err_msg() : "keys already exist (use a fresh etcd)");
			return 3;
		}
	}
	for (size_t i = 0; i < nw; i++)
		xf_free(w[i]);
	for (int i = 0; i < BATCH; i++)
		buf_release(&vals[i]);
	buf_release(&plain);
	etcd_close(cl);
	encconf_free(conf);
	printf("loadgen: wrote %ld secrets of ~%ld bytes in %zu forms\n", count, size, nw);
	return 0;
}
