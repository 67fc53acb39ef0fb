/* node store: etcdcrypt's keys under its own prefix; see store.h. */
#include "store.h"
#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int node_key(char out[NODE_PREFIX_MAX + 128], const char *prefix, const char *suffix)
{
	if (strlen(prefix) > NODE_PREFIX_MAX || strlen(suffix) >= 127)
		return err_set(ERR_USAGE, "etcd key '%s%s' is too long", prefix, suffix);
	snprintf(out, NODE_PREFIX_MAX + 128, "%s%s", prefix, suffix);
	return 0;
}

int node_prefix_check(const char *prefix)
{
	size_t n = strlen(prefix);

	if (n < 2 || n > NODE_PREFIX_MAX || prefix[0] != '/' || prefix[n - 1] != '/')
		return err_set(ERR_USAGE, "--state-prefix '%s': must start and end with '/' (at most %d bytes)", prefix,
			       NODE_PREFIX_MAX);
	if (strncmp(prefix, "/registry/", 10) == 0 || strcmp(prefix, "/registry/") == 0)
		return err_set(ERR_USAGE, "--state-prefix '%s': inside kube-apiserver's /registry/", prefix);
	return 0;
}

int node_publish(struct etcd_client *cl, const char *prefix, const struct node_record *r, int64_t *out_revision)
{
	char key[NODE_PREFIX_MAX + 128], suffix[NODE_NAME_MAX + 16];
	char *text = NULL;
	int rc;

	snprintf(suffix, sizeof(suffix), "nodes/%s", r->node);
	if ((rc = node_key(key, prefix, suffix)) < 0 || (rc = node_record_encode(&text, r)) < 0)
		return rc;
	rc = etcd_put(cl, out_revision, (const uint8_t *)key, strlen(key), (const uint8_t *)text, strlen(text), 0);
	free(text);
	return rc < 0 ? err_wrap(rc, "publishing '%s'", key) : 0;
}

static int get_one(struct etcd_client *cl, const char *key, struct etcd_range_resp *resp)
{
	struct etcd_range_req req = { .key = (const uint8_t *)key, .key_len = strlen(key) };
	int rc;

	if ((rc = etcd_range(cl, resp, &req)) < 0)
		return err_wrap(rc, "reading '%s'", key);
	if (resp->n_kvs == 0) {
		etcd_range_resp_release(resp);
		return err_set(ERR_NOTFOUND, "no '%s' in etcd", key);
	}
	return 0;
}

int node_get(struct etcd_client *cl, const char *prefix, const char *node, struct node_record *out)
{
	char key[NODE_PREFIX_MAX + 128], suffix[NODE_NAME_MAX + 16];
	struct etcd_range_resp resp = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(suffix, sizeof(suffix), "nodes/%s", node);
	if ((rc = node_key(key, prefix, suffix)) < 0 || (rc = get_one(cl, key, &resp)) < 0)
		return rc;
	rc = node_record_decode(out, resp.kvs[0].value, resp.kvs[0].value_len, key);
	out->mod_revision = resp.kvs[0].mod_revision;
	etcd_range_resp_release(&resp);
	return rc;
}

void node_records_free(struct node_record *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		node_record_release(&v[i]);
	free(v);
}

int node_list(struct etcd_client *cl, const char *prefix, struct node_record **out, size_t *n,
	      int64_t *out_revision)
{
	char key[NODE_PREFIX_MAX + 128], where[NODE_PREFIX_MAX + 256];
	uint8_t end[NODE_PREFIX_MAX + 128];
	struct etcd_range_req req = { 0 };
	struct etcd_range_resp resp = { 0 };
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = node_key(key, prefix, "nodes/")) < 0)
		return rc;
	req.key = (const uint8_t *)key;
	req.key_len = strlen(key);
	req.range_end = end;
	req.range_end_len = etcd_prefix_end(end, req.key, req.key_len);
	if ((rc = etcd_range(cl, &resp, &req)) < 0)
		return err_wrap(rc, "reading '%s'", key);
	*out_revision = resp.revision;
	if (resp.n_kvs > NODE_MAX_NODES) {
		rc = err_set(ERR_CORRUPT, "'%s' holds %zu node records, more than %d", key, resp.n_kvs, NODE_MAX_NODES);
		goto out;
	}
	if ((*out = calloc(resp.n_kvs + 1, sizeof(**out))) == NULL) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < resp.n_kvs && rc == 0; i++) {
		snprintf(where, sizeof(where), "%.*s", (int)resp.kvs[i].key_len, (const char *)resp.kvs[i].key);
		rc = node_record_decode(&(*out)[i], resp.kvs[i].value, resp.kvs[i].value_len, where);
		(*out)[i].mod_revision = resp.kvs[i].mod_revision;
		*n += rc == 0;
	}
out:
	etcd_range_resp_release(&resp);
	if (rc < 0) {
		node_records_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int node_get_raw(struct etcd_client *cl, const char *prefix, const char *suffix, char **out, int64_t *mod_revision)
{
	char key[NODE_PREFIX_MAX + 128];
	struct etcd_range_resp resp = { 0 };
	int rc;

	*out = NULL;
	if ((rc = node_key(key, prefix, suffix)) < 0 || (rc = get_one(cl, key, &resp)) < 0)
		return rc;
	if (resp.kvs[0].value_len > NODE_RECORD_MAX)
		rc = err_set(ERR_CORRUPT, "'%s': %zu bytes, more than %d", key, resp.kvs[0].value_len, NODE_RECORD_MAX);
	else if ((*out = strndup((const char *)resp.kvs[0].value, resp.kvs[0].value_len)) == NULL)
		rc = err_set(ERR_NOMEM, "out of memory");
	if (mod_revision)
		*mod_revision = resp.kvs[0].mod_revision;
	etcd_range_resp_release(&resp);
	return rc;
}

int node_put_raw(struct etcd_client *cl, const char *prefix, const char *suffix, const char *text)
{
	char key[NODE_PREFIX_MAX + 128];
	int rc;

	if ((rc = node_key(key, prefix, suffix)) < 0)
		return rc;
	rc = etcd_put(cl, NULL, (const uint8_t *)key, strlen(key), (const uint8_t *)text, strlen(text), 0);
	return rc < 0 ? err_wrap(rc, "writing '%s'", key) : 0;
}
