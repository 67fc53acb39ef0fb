/* cmd_get: the debugging verb that proves the engine end to end. Reads one
 * key from etcd, classifies its envelope and reads it with the config's
 * rules, as kube-apiserver would. Secret data is shown only with --show-data. */
#include "cmd.h"
#include "conf/encconf.h"
#include "base/err.h"
#include "base/esc.h"
#include "etcdflags.h"
#include "kmsflags.h"
#include "xform/kmsring.h"
#include "base/pbwire.h"
#include "base/resources.h"
#include "xform/transform.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_CONFIG = CMD_OPT_FIRST, OPT_KEYRING, OPT_RESOURCE, OPT_PREFIX, OPT_SHOW_DATA };

static const char GET_HELP[] =
	"usage: etcdcrypt get KEY [--config FILE] [options] [etcd flags]\n\n"
	"Reads one etcd key and shows its envelope (provider, key name), whether the\n"
	"config reads it the way kube-apiserver would, whether it is stale (not under\n"
	"the config's write key), and the object's kind, namespace and name.\n\n"
	"options:\n"
	"  --config FILE           EncryptionConfiguration to read with (without it: classify only)\n"
	"  --kms-keyring FILE      local KEKs standing in for KMS plugins (JSON, see docs)\n"
	KMSFLAGS_HELP
	"  --resource NAME         resource whose config rule applies (default: from KEY)\n"
	"  --etcd-prefix PREFIX    kube-apiserver's --etcd-prefix (default /registry)\n"
	"  --show-data             also print the decrypted Secret data (sensitive!)\n"
	"  -o, --output FORMAT     table (default) or json\n"
	"  -h, --help              this help\n\n" ETCDFLAGS_HELP
	"\nexit status: 0 readable; 1 unreadable with the config, or key not found;\n"
	"             2 usage or config error; 3 etcd unreachable or other runtime failure\n";

struct get_args {
	struct etcdflags ef;
	const char *key, *config, *keyring, *resource, *prefix;
	int json, show_data;
	struct kmsflags kf;
};

static int parse_args(struct get_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		ETCDFLAGS_LONGOPTS,
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "kms-keyring", required_argument, NULL, OPT_KEYRING },
		{ "kms-endpoint", required_argument, NULL, OPT_KMS_ENDPOINT },
		{ "resource", required_argument, NULL, OPT_RESOURCE },
		{ "etcd-prefix", required_argument, NULL, OPT_PREFIX },
		{ "show-data", no_argument, NULL, OPT_SHOW_DATA },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	if ((rc = etcdflags_init(&a->ef)) < 0)
		return cmd_fail(rc);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		if ((rc = etcdflags_handle(&a->ef, c, optarg)) < 0)
			return cmd_usage_error("get", "%s", err_msg());
		if (rc == 1)
			continue;
		switch (c) {
		case OPT_CONFIG: a->config = optarg; break;
		case OPT_KEYRING: a->keyring = optarg; break;
		case OPT_KMS_ENDPOINT:
			if (kmsflags_add(&a->kf, optarg) < 0)
				return cmd_usage_error("get", "%s", err_msg());
			break;
		case OPT_RESOURCE: a->resource = optarg; break;
		case OPT_PREFIX: a->prefix = optarg; break;
		case OPT_SHOW_DATA: a->show_data = 1; break;
		case 'o':
			if ((a->json = cmd_output_format(optarg)) < 0)
				return cmd_usage_error("get", "-o: '%s' is not table or json", optarg);
			break;
		case 'h':
			fputs(GET_HELP, stdout);
			return CMD_HELP_SHOWN;
		case ':': return cmd_usage_error("get", "option '%s' needs a value", argv[optind - 1]);
		default: return cmd_usage_error("get", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cmd_usage_error("get", optind >= argc ? "missing KEY" : "exactly one KEY expected");
	a->key = argv[optind];
	return 0;
}

/* the Secret's data map (Secret field 2: entries {1 key, 2 value}) from a
 * protobuf object; calls fn for each entry */
static void each_secret_entry(const uint8_t *obj, size_t n, void (*fn)(void *, const uint8_t *, size_t,
								     const uint8_t *, size_t), void *arg)
{
	struct pb_reader r, s, e;
	struct pb_field f, g, h;

	if (n < 4)
		return;
	pb_init(&r, obj + 4, n - 4);
	while (pb_next(&r, &f) == PB_FIELD) {
		if (f.num != 2 || f.wire != 2)
			continue;
		pb_init(&s, f.data, f.len);
		while (pb_next(&s, &g) == PB_FIELD) {
			const uint8_t *k = NULL, *v = NULL;
			size_t kl = 0, vl = 0;

			if (g.num != 2 || g.wire != 2)
				continue;
			pb_init(&e, g.data, g.len);
			while (pb_next(&e, &h) == PB_FIELD) {
				if (h.num == 1 && h.wire == 2)
					k = h.data, kl = h.len;
				else if (h.num == 2 && h.wire == 2)
					v = h.data, vl = h.len;
			}
			if (k)
				fn(arg, k, kl, v ? v : (const uint8_t *)"", vl);
		}
	}
}

static void print_entry(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char *ek = esc_term(k, kl), *ev = esc_term(v, vl);

	(void)arg;
	printf("  %s: %s\n", ek ? ek : "?", ev ? ev : "?");
	free(ek);
	free(ev);
}

static void json_entry(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char *key = esc_utf8_lossy(k, kl);

	/* the data's exact bytes in "<name>_b64" when they are not UTF-8 text */
	if (key != NULL)
		cmd_json_bytes(arg, key, v, vl);
	free(key);
}

static const char *yes(int b)
{
	return b ? "yes" : "no";
}

static void print_table(const struct get_args *a, const struct etcd_kv *kv, const struct xf_result *res,
			const struct buf *plain)
{
	char *key = esc_term((const uint8_t *)a->key, strlen(a->key)), name[ENV_NAME_MAX + 8], s[4 * ENV_NAME_MAX];

	printf("key:          %s\n", key ? key : "?");
	free(key);
	printf("revision:     mod %lld, create %lld, version %lld\n", (long long)kv->mod_revision,
	       (long long)kv->create_revision, (long long)kv->version);
	printf("lease:        %lld\n", (long long)kv->lease);
	printf("size:         %zu bytes\n", kv->value_len);
	printf("provider:     %s\n", env_kind_name(res->kind));
	cmd_name_cell(name, sizeof(name), res->key_name, a->config != NULL && res->key_name_guessed && res->kind != ENV_IDENTITY);
	printf("key name:     %s\n", name);
	if (res->kind == ENV_KMS2)
		printf("kms key id:   %s\n", res->kms_key_id[0] ? res->kms_key_id : "-");
	if (a->config == NULL)
		return;
	printf("readable:     %s\n", yes(res->ok));
	if (!res->ok) {
		esc_term_buf(s, sizeof(s), (const uint8_t *)res->detail, strlen(res->detail));
		printf("reason:       %s: %s\n", xf_reason_name(res->reason), s);
		return;
	}
	printf("stale:        %s\n", yes(res->stale));
	snprintf(s, sizeof(s), "%s %s %s%s%s", res->plain.api_version, res->plain.kind, res->plain.namespace_,
		 res->plain.namespace_[0] ? "/" : "", res->plain.name);
	key = esc_term((const uint8_t *)s, strlen(s));
	printf("object:       %s (%s, %zu bytes)\n", key ? key : "?", plain_encoding_name(res->plain.encoding), plain->len);
	free(key);
	if (a->show_data && res->plain.encoding == PLAIN_PROTOBUF) {
		printf("data:\n");
		each_secret_entry(plain->data, plain->len, print_entry, NULL);
	} else if (a->show_data) {
		key = esc_term(plain->data, plain->len);
		printf("data:\n%s\n", key ? key : "?");
		free(key);
	}
}

static void print_json(const struct get_args *a, const struct etcd_kv *kv, const struct xf_result *res,
		       const struct buf *plain)
{
	json_t *o = json_object();

	cmd_json_bytes(o, "key", (const uint8_t *)a->key, strlen(a->key));
	json_object_set_new(o, "mod_revision", json_integer(kv->mod_revision));
	json_object_set_new(o, "create_revision", json_integer(kv->create_revision));
	json_object_set_new(o, "version", json_integer(kv->version));
	json_object_set_new(o, "lease", json_integer(kv->lease));
	json_object_set_new(o, "size", json_integer((json_int_t)kv->value_len));
	json_object_set_new(o, "provider", json_string(env_kind_name(res->kind)));
	json_object_set_new(o, "key_name", cmd_json_text((const uint8_t *)res->key_name, strlen(res->key_name)));
	json_object_set_new(o, "key_name_guessed", json_boolean(res->kind != ENV_IDENTITY && res->key_name_guessed));
	if (res->kind == ENV_KMS2)
		json_object_set_new(o, "key_id", json_string(res->kms_key_id));
	if (a->config != NULL) {
		json_object_set_new(o, "readable", json_boolean(res->ok));
		json_object_set_new(o, "stale", json_boolean(res->ok && res->stale));
		json_object_set_new(o, "reason", json_string(xf_reason_name(res->reason)));
		json_object_set_new(o, "detail", cmd_json_text((const uint8_t *)res->detail, strlen(res->detail)));
	}
	if (res->ok) {
		json_t *obj = json_object();

		json_object_set_new(obj, "encoding", json_string(plain_encoding_name(res->plain.encoding)));
		json_object_set_new(obj, "api_version", cmd_json_text((const uint8_t *)res->plain.api_version, strlen(res->plain.api_version)));
		json_object_set_new(obj, "kind", cmd_json_text((const uint8_t *)res->plain.kind, strlen(res->plain.kind)));
		json_object_set_new(obj, "namespace", cmd_json_text((const uint8_t *)res->plain.namespace_, strlen(res->plain.namespace_)));
		json_object_set_new(obj, "name", cmd_json_text((const uint8_t *)res->plain.name, strlen(res->plain.name)));
		json_object_set_new(obj, "size", json_integer((json_int_t)plain->len));
		if (a->show_data && res->plain.encoding == PLAIN_PROTOBUF) {
			json_t *d = json_object();
			each_secret_entry(plain->data, plain->len, json_entry, d);
			json_object_set_new(obj, "data", d);
		}
		json_object_set_new(o, "object", obj);
	}
	json_dumpf(o, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(o);
}

/* Classifies (no config) or reads (config) one value. */
static int judge(const struct get_args *a, const struct etcd_kv *kv, struct xf_result *res, struct buf *plain,
		 const struct encconf *conf, const struct kms_ring *ring)
{
	struct res_id rid;
	struct xf *x = NULL;
	int rc;

	if (a->resource) {
		if ((rc = res_parse(&rid, a->resource)) < 0)
			return rc;
	} else if (res_from_key(&rid, a->prefix, kv->key, kv->key_len) < 0) {
		memset(&rid, 0, sizeof(rid)); /* outside the prefix: no config rule applies */
	}
	if ((rc = xf_new(&x, conf, rid.group, rid.resource, ring)) < 0)
		return rc;
	rc = xf_read(x, res, plain, kv->key, kv->key_len, kv->value, kv->value_len);
	xf_free(x);
	if (rc == 0 && conf == NULL) {
		/* classification only: say what the bytes claim, not what identity read */
		struct env_info e;

		env_classify(&e, kv->value, kv->value_len);
		res->kind = e.kind;
		snprintf(res->key_name, sizeof(res->key_name), "%s", e.key_name);
	}
	return rc;
}

static int fetch(struct etcd_client *cl, struct etcd_range_resp *resp, const char *key)
{
	struct etcd_range_req req = { .key = (const uint8_t *)key, .key_len = strlen(key) };
	int rc = etcd_range(cl, resp, &req);

	if (rc == 0 && resp->n_kvs == 0)
		return err_set(ERR_NOTFOUND, "key '%s' not found at %s", key, etcd_endpoint(cl));
	return rc;
}

int cmd_get(int argc, char **argv)
{
	struct get_args a = { 0 };
	struct encconf *conf = NULL;
	struct kms_ring *ring = NULL;
	struct etcd_client *cl = NULL;
	struct etcd_range_resp resp = { 0 };
	struct etcd_opts eo;
	struct xf_result res;
	struct buf plain;
	int rc, status;

	buf_init(&plain, 0);
	if ((status = parse_args(&a, argc, argv)) != 0) {
		status = status == CMD_HELP_SHOWN ? EXIT_OK : status;
		goto out;
	}
	/* local inputs first: a bad config must fail before touching etcd */
	if ((a.config && (rc = encconf_load(&conf, a.config)) < 0) ||
	    (rc = kmsflags_open(&a.kf, &ring, a.keyring, a.ef.debug)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	etcdflags_opts(&a.ef, &eo);
	if ((rc = etcd_open(&cl, &eo)) < 0 || (rc = fetch(cl, &resp, a.key)) < 0 ||
	    (rc = judge(&a, &resp.kvs[0], &res, &plain, conf, ring)) < 0) {
		status = cmd_fail(rc);
		goto out;
	}
	if (a.json)
		print_json(&a, &resp.kvs[0], &res, &plain);
	else
		print_table(&a, &resp.kvs[0], &res, &plain);
	status = conf == NULL || res.ok ? EXIT_OK : EXIT_FINDINGS;
out:
	etcd_range_resp_release(&resp);
	etcd_close(cl);
	buf_release(&plain);
	kmsring_free(ring);
	kmsflags_release(&a.kf);
	encconf_free(conf);
	etcdflags_release(&a.ef);
	return status;
}
