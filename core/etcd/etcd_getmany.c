/* etcd_getmany: many single keys read in one read-only Txn of Range ops.
 *
 * One round trip and one revision for up to 128 keys that need not be
 * neighbours (rewrite re-reads the keys of a batch whose compare failed, or
 * whose outcome is unknown). A read-only Txn is served like a linearizable
 * Range: no raft proposal, no new revision. Zero-copy like etcd_range: the
 * kvs point into the unpacked response kept in priv. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

static int pack(grpc_slice *out, const struct etcd_key_ref *keys, size_t n)
{
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__RangeRequest *rr = calloc(n, sizeof(*rr));
	Etcdserverpb__RequestOp *op = calloc(n, sizeof(*op));
	Etcdserverpb__RequestOp **opp = calloc(n, sizeof(*opp));
	int rc;

	if (!rr || !op || !opp) {
		rc = err_set(ERR_NOMEM, "etcd get many: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
		Etcdserverpb__RequestOp o = ETCDSERVERPB__REQUEST_OP__INIT;

		r.key.data = (uint8_t *)keys[i].key; /* only read by pack */
		r.key.len = keys[i].key_len;
		rr[i] = r;
		op[i] = o;
		op[i].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
		op[i].request_range = &rr[i];
		opp[i] = &op[i];
	}
	txn.n_success = n;
	txn.success = opp;
	rc = etcd_pack(&txn.base, out);
out:
	free(rr);
	free(op);
	free(opp);
	return rc;
}

static int fill(struct etcd_many_resp *out, Etcdserverpb__TxnResponse *r, size_t n)
{
	out->priv = r;
	out->revision = r->header ? r->header->revision : 0;
	if (r->n_responses != n)
		return err_set(ERR_ETCD, "etcd get many: %zu answers to %zu reads", r->n_responses, n);
	out->kvs = calloc(n, sizeof(*out->kvs));
	if (!out->kvs)
		return err_set(ERR_NOMEM, "etcd get many: out of memory for %zu keys", n);
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		const Etcdserverpb__ResponseOp *op = r->responses[i];

		if (op->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE || !op->response_range)
			return err_set(ERR_ETCD, "etcd get many: answer %zu is not a range", i);
		if (op->response_range->n_kvs > 0)
			etcd_kv_from(&out->kvs[i], op->response_range->kvs[0]);
	}
	return 0;
}

int etcd_get_many(struct etcd_client *c, struct etcd_many_resp *out, const struct etcd_key_ref *keys, size_t n)
{
	Etcdserverpb__TxnResponse *r = NULL;
	grpc_slice s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > ETCD_MAX_TXN_OPS)
		return err_set(ERR_USAGE, "etcd get many: %zu keys (must be 1..%d)", n, ETCD_MAX_TXN_OPS);
	for (size_t i = 0; i < n; i++)
		if (!keys[i].key || keys[i].key_len == 0)
			return err_set(ERR_USAGE, "etcd get many: key %zu is empty", i);
	if ((rc = pack(&s, keys, n)) < 0)
		return rc;
	rc = etcd_unary_slice(c, ETCD_M_TXN, s, &etcdserverpb__txn_response__descriptor, (ProtobufCMessage **)&r,
			      c->cmd_ms, ETCD_CALL_SAFE); /* reads only */
	grpc_slice_unref(s);
	if (rc < 0)
		return rc;
	if ((rc = fill(out, r, n)) < 0)
		etcd_many_resp_release(out);
	return rc;
}

void etcd_many_resp_release(struct etcd_many_resp *r)
{
	if (!r)
		return;
	free(r->kvs);
	if (r->priv)
		protobuf_c_message_free_unpacked(r->priv, NULL);
	memset(r, 0, sizeof(*r));
}
