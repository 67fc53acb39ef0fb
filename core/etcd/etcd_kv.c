/* etcd_kv: the unary KV, Lease and Maintenance calls.
 *
 * Range responses are zero-copy: the etcd_kv array points into the received
 * bytes (etcd_rangewire.c), which the response keeps in priv until it is
 * released. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

/* Defragment rewrites the whole database file: give it time. A physical
 * compaction returns once the old revisions are gone from the file. */
#define ETCD_DEFRAG_MS_MIN (10L * 60 * 1000)
#define ETCD_COMPACT_PHYSICAL_MS_MIN (2L * 60 * 1000)

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b;

	b.len = p ? n : 0;
	b.data = (uint8_t *)p; /* only read by pack */
	return b;
}

int etcd_range_pack(grpc_slice *out, const struct etcd_range_req *r)
{
	Etcdserverpb__RangeRequest m = ETCDSERVERPB__RANGE_REQUEST__INIT;

	if (!r->key || r->key_len == 0)
		return err_set(ERR_USAGE, "etcd range: empty key (use \"\\0\" for the smallest key)");
	m.key = bin(r->key, r->key_len);
	m.range_end = bin(r->range_end, r->range_end_len);
	m.limit = r->limit;
	m.revision = r->revision;
	m.keys_only = r->keys_only != 0;
	m.count_only = r->count_only != 0;
	m.serializable = r->serializable != 0;
	return etcd_pack(&m.base, out);
}

void etcd_kv_from(struct etcd_kv *d, const Mvccpb__KeyValue *s)
{
	d->key = s->key.data;
	d->key_len = s->key.len;
	d->value = s->value.data;
	d->value_len = s->value.len;
	d->create_revision = s->create_revision;
	d->mod_revision = s->mod_revision;
	d->version = s->version;
	d->lease = s->lease;
}

int etcd_range_resp_fill(struct etcd_range_resp *out, ProtobufCMessage *m)
{
	Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
	size_t i;

	if (m->descriptor == &etcd_range_wire_descriptor)
		return etcd_range_wire_fill(out, m);
	memset(out, 0, sizeof(*out));
	out->priv = m;
	out->revision = r->header ? r->header->revision : 0;
	out->more = r->more;
	out->count = r->count;
	if (r->n_kvs == 0)
		return 0;
	out->kvs = calloc(r->n_kvs, sizeof(*out->kvs));
	if (!out->kvs) {
		etcd_range_resp_release(out);
		return err_set(ERR_NOMEM, "etcd range: out of memory for %zu keys", r->n_kvs);
	}
	for (i = 0; i < r->n_kvs; i++)
		etcd_kv_from(&out->kvs[i], r->kvs[i]);
	out->n_kvs = r->n_kvs;
	return 0;
}

void etcd_range_resp_release(struct etcd_range_resp *r)
{
	if (!r)
		return;
	free(r->kvs);
	if (r->priv && ((ProtobufCMessage *)r->priv)->descriptor == &etcd_range_wire_descriptor)
		etcd_range_wire_free(r->priv);
	else if (r->priv)
		protobuf_c_message_free_unpacked(r->priv, NULL);
	memset(r, 0, sizeof(*r));
}

int etcd_range(struct etcd_client *c, struct etcd_range_resp *out, const struct etcd_range_req *req)
{
	ProtobufCMessage *m = NULL;
	grpc_slice s;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = etcd_range_pack(&s, req);
	if (rc < 0)
		return rc;
	rc = etcd_unary_slice(c, ETCD_M_RANGE, s, &etcd_range_wire_descriptor, &m, c->cmd_ms, ETCD_CALL_SAFE);
	grpc_slice_unref(s);
	if (rc < 0)
		return rc;
	return etcd_range_resp_fill(out, m);
}

static int64_t header_rev(const Etcdserverpb__ResponseHeader *h)
{
	return h ? h->revision : 0;
}

int etcd_put(struct etcd_client *c, int64_t *out_revision, const uint8_t *key, size_t key_len,
	     const uint8_t *value, size_t value_len, int64_t lease)
{
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	Etcdserverpb__PutResponse *resp = NULL;
	int rc;

	req.key = bin(key, key_len);
	req.value = bin(value, value_len);
	req.lease = lease;
	rc = etcd_unary(c, ETCD_M_PUT, &req.base, &etcdserverpb__put_response__descriptor,
			(ProtobufCMessage **)&resp, c->cmd_ms, 0);
	if (rc < 0)
		return rc;
	if (out_revision)
		*out_revision = header_rev(resp->header);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int etcd_delete(struct etcd_client *c, int64_t *out_deleted, const uint8_t *key, size_t key_len,
		const uint8_t *range_end, size_t range_end_len)
{
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	Etcdserverpb__DeleteRangeResponse *resp = NULL;
	int rc;

	req.key = bin(key, key_len);
	req.range_end = bin(range_end, range_end_len);
	rc = etcd_unary(c, ETCD_M_DELETE, &req.base, &etcdserverpb__delete_range_response__descriptor,
			(ProtobufCMessage **)&resp, c->cmd_ms, 0);
	if (rc < 0)
		return rc;
	if (out_deleted)
		*out_deleted = resp->deleted;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/* The CAS Txn is written straight into the request slice: protobuf-c would
 * need five structs per put and copy every value once more while packing
 * (~6,500 instructions per rewritten secret, docs/performance.md). The bytes
 * are what protobuf-c writes for the same message (proto3: zero scalars
 * left out, except mod_revision, which is a oneof member and always sent):
 *   TxnRequest  1 compare: Compare { 2 target = MOD, 3 key, 6 mod_revision }
 *               2 success: RequestOp { 2 request_put: PutRequest
 *                                       { 1 key, 2 value, 3 lease } } */
static size_t vlen(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_bytes(uint8_t *p, unsigned field, const uint8_t *b, size_t n)
{
	p = put_varint(p, (uint64_t)field << 3 | 2);
	p = put_varint(p, n);
	if (n)
		memcpy(p, b, n);
	return p + n;
}

static size_t bytes_len(size_t n)
{
	return 1 + vlen(n) + n; /* field numbers < 16: one tag byte */
}

static size_t cmp_len(const struct etcd_cas_put *o)
{
	return 2 + (o->key_len ? bytes_len(o->key_len) : 0) + 1 + vlen((uint64_t)o->mod_revision);
}

static size_t put_len(const struct etcd_cas_put *o)
{
	return (o->key_len ? bytes_len(o->key_len) : 0) + (o->value_len ? bytes_len(o->value_len) : 0) +
	       (o->lease ? 1 + vlen((uint64_t)o->lease) : 0);
}

static size_t op_len(const struct etcd_cas_put *o)
{
	return bytes_len(put_len(o));
}

int etcd_txn_pack(const struct etcd_cas_put *ops, size_t n_ops, grpc_slice *out)
{
	size_t n = 0;
	grpc_slice s;
	uint8_t *p;

	if (n_ops == 0 || n_ops > ETCD_MAX_TXN_OPS)
		return err_set(ERR_USAGE, "etcd txn: %zu operations (must be 1..%d, etcd's --max-txn-ops)", n_ops,
			       ETCD_MAX_TXN_OPS);
	/* a negative mod_revision asks for a plain put: no compare for it */
	for (size_t i = 0; i < n_ops; i++)
		n += (ops[i].mod_revision >= 0 ? bytes_len(cmp_len(&ops[i])) : 0) + bytes_len(op_len(&ops[i]));
	s = grpc_slice_malloc(n);
	p = GRPC_SLICE_START_PTR(s);
	for (size_t i = 0; i < n_ops; i++) {
		const struct etcd_cas_put *o = &ops[i];

		if (o->mod_revision < 0)
			continue;
		p = put_varint(p, 1 << 3 | 2);
		p = put_varint(p, cmp_len(o));
		*p++ = 2 << 3 | 0;
		*p++ = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
		if (o->key_len)
			p = put_bytes(p, 3, o->key, o->key_len);
		*p++ = 6 << 3 | 0;
		p = put_varint(p, (uint64_t)o->mod_revision);
	}
	for (size_t i = 0; i < n_ops; i++) {
		const struct etcd_cas_put *o = &ops[i];

		p = put_varint(p, 2 << 3 | 2);
		p = put_varint(p, op_len(o));
		p = put_varint(p, 2 << 3 | 2);
		p = put_varint(p, put_len(o));
		if (o->key_len)
			p = put_bytes(p, 1, o->key, o->key_len);
		if (o->value_len)
			p = put_bytes(p, 2, o->value, o->value_len);
		if (o->lease) {
			*p++ = 3 << 3 | 0;
			p = put_varint(p, (uint64_t)o->lease);
		}
	}
	*out = s;
	return 0;
}

int etcd_txn_flags(const struct etcd_cas_put *ops, size_t n_ops)
{
	for (size_t i = 0; i < n_ops; i++)
		if (ops[i].mod_revision < 0)
			return 0; /* a plain put: a repeat would write twice */
	return ETCD_CALL_SAFE;
}

int etcd_txn_cas(struct etcd_client *c, int *out_succeeded, int64_t *out_revision,
		 const struct etcd_cas_put *ops, size_t n_ops)
{
	Etcdserverpb__TxnResponse *resp = NULL;
	grpc_slice s;
	int rc = etcd_txn_pack(ops, n_ops, &s);

	if (rc < 0)
		return rc;
	rc = etcd_unary_slice(c, ETCD_M_TXN, s, &etcdserverpb__txn_response__descriptor,
			      (ProtobufCMessage **)&resp, c->cmd_ms, etcd_txn_flags(ops, n_ops));
	grpc_slice_unref(s);
	if (rc < 0)
		return rc;
	if (out_succeeded)
		*out_succeeded = resp->succeeded;
	if (out_revision)
		*out_revision = header_rev(resp->header);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int etcd_compact(struct etcd_client *c, int64_t revision, int physical)
{
	Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.revision = revision;
	req.physical = physical != 0;
	/* not repeated elsewhere: a repeat of an applied compaction fails */
	rc = etcd_unary(c, ETCD_M_COMPACT, &req.base, &etcdserverpb__compaction_response__descriptor, &resp,
			physical && c->cmd_ms < ETCD_COMPACT_PHYSICAL_MS_MIN ? ETCD_COMPACT_PHYSICAL_MS_MIN : c->cmd_ms, 0);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static void status_fill(struct etcd_status *out, const Etcdserverpb__StatusResponse *r)
{
	strncpy(out->version, r->version, sizeof(out->version) - 1);
	out->db_size = r->dbsize;
	out->db_size_in_use = r->dbsizeinuse;
	out->leader = r->leader;
	out->member_id = r->header ? r->header->member_id : 0;
	out->raft_index = r->raftindex;
	out->revision = header_rev(r->header);
	out->n_errors = (int)r->n_errors;
}

int etcd_status(struct etcd_client *c, struct etcd_status *out)
{
	Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
	Etcdserverpb__StatusResponse *r = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = etcd_unary(c, ETCD_M_STATUS, &req.base, &etcdserverpb__status_response__descriptor,
			(ProtobufCMessage **)&r, c->cmd_ms, ETCD_CALL_SAFE | ETCD_CALL_LOCAL);
	if (rc < 0)
		return rc;
	status_fill(out, r);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

/* Status of endpoint i on a channel of its own, without failover: the
 * client's channel and endpoint are swapped in for the one call. */
static int status_of(struct etcd_client *c, size_t i, struct etcd_status *out)
{
	Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
	Etcdserverpb__StatusResponse *r = NULL;
	grpc_channel *saved = c->ch, *ch = NULL;
	size_t saved_cur = c->cur;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = etcd_channel_new(c, i, &ch)) < 0)
		return rc;
	c->ch = ch;
	c->cur = i;
	rc = etcd_unary(c, ETCD_M_STATUS, &req.base, &etcdserverpb__status_response__descriptor,
			(ProtobufCMessage **)&r, c->dial_ms, ETCD_CALL_NORETRY | ETCD_CALL_LOCAL);
	c->ch = saved;
	c->cur = saved_cur;
	grpc_channel_destroy(ch);
	if (rc < 0)
		return rc;
	status_fill(out, r);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static void size_seen(struct etcd_db_sizes *out, const struct etcd_status *st, const char *name)
{
	out->answered++;
	if (st->db_size >= out->max_db_size) {
		out->max_db_size = st->db_size;
		snprintf(out->max_endpoint, sizeof(out->max_endpoint), "%s", name);
	}
	if (st->db_size_in_use > out->max_db_size_in_use)
		out->max_db_size_in_use = st->db_size_in_use;
}

/* Status of a member by URL: the client's endpoint list swapped for that
 * one endpoint for the one call (no failover: it is that member's size). */
static int status_of_url(struct etcd_client *c, const char *url, struct etcd_status *st)
{
	struct etcd_endpoint e, *saved = c->eps;
	size_t saved_n = c->n_eps, saved_cur = c->cur;
	int rc;

	if ((rc = etcd_endpoint_from_url(c, &e, url)) < 0) {
		etcd_endpoint_release(&e);
		return rc;
	}
	c->eps = &e;
	c->n_eps = 1;
	rc = status_of(c, 0, st);
	c->eps = saved;
	c->n_eps = saved_n;
	c->cur = saved_cur;
	etcd_endpoint_release(&e);
	return rc;
}

/* A member is asked already when one of its client URLs is an endpoint given. */
static int member_given(const struct etcd_client *c, const Etcdserverpb__Member *m)
{
	struct etcd_endpoint e;

	for (size_t u = 0; u < m->n_clienturls; u++) {
		if (etcd_endpoint_from_url(c, &e, m->clienturls[u]) < 0) {
			etcd_endpoint_release(&e);
			continue;
		}
		for (size_t i = 0; i < c->n_eps; i++) {
			if (strcmp(e.target, c->eps[i].target) == 0) {
				etcd_endpoint_release(&e);
				return 1;
			}
		}
		etcd_endpoint_release(&e);
	}
	return 0;
}

/* The members MemberList names that were not given as endpoints (the usual
 * --endpoints of one local member): asked too, by their first client URL.
 * A failed MemberList leaves the sizes of the endpoints given. */
static int other_members(struct etcd_client *c, struct etcd_db_sizes *out)
{
	Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
	Etcdserverpb__MemberListResponse *r = NULL;
	struct etcd_status st;
	int rc;

	rc = etcd_unary(c, ETCD_M_MEMBERLIST, &req.base, &etcdserverpb__member_list_response__descriptor,
			(ProtobufCMessage **)&r, c->cmd_ms, ETCD_CALL_SAFE);
	if (rc < 0)
		return rc == ERR_INTERRUPTED ? rc : 0;
	for (size_t i = 0; i < r->n_members && rc == 0; i++) {
		const Etcdserverpb__Member *m = r->members[i];

		if (m->n_clienturls == 0 || member_given(c, m))
			continue; /* not started yet, or asked already */
		out->asked++;
		if ((rc = status_of_url(c, m->clienturls[0], &st)) == 0)
			size_seen(out, &st, m->clienturls[0]);
		else if (rc != ERR_INTERRUPTED)
			rc = 0; /* a member down: the others still bound the growth */
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

int etcd_db_sizes(struct etcd_client *c, struct etcd_db_sizes *out)
{
	struct etcd_status st;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->asked = c->n_eps;
	for (size_t i = 0; i < c->n_eps; i++) {
		if ((rc = status_of(c, i, &st)) == ERR_INTERRUPTED)
			return rc;
		if (rc < 0)
			continue; /* a member down: the others still bound the growth */
		size_seen(out, &st, c->eps[i].name);
	}
	if (out->answered == 0)
		return err_wrap(rc, "database size: no etcd endpoint answered a Status (last)");
	return other_members(c, out);
}

int etcd_defragment(struct etcd_client *c)
{
	Etcdserverpb__DefragmentRequest req = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	long ms = c->cmd_ms > ETCD_DEFRAG_MS_MIN ? c->cmd_ms : ETCD_DEFRAG_MS_MIN;
	int rc;

	/* this member's file: never another one's */
	rc = etcd_unary(c, ETCD_M_DEFRAG, &req.base, &etcdserverpb__defragment_response__descriptor, &resp, ms,
			ETCD_CALL_LOCAL | ETCD_CALL_NORETRY);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int etcd_alarms(struct etcd_client *c, unsigned *out_alarms)
{
	Etcdserverpb__AlarmRequest req = ETCDSERVERPB__ALARM_REQUEST__INIT;
	Etcdserverpb__AlarmResponse *r = NULL;
	size_t i;
	int rc;

	*out_alarms = 0;
	req.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET; /* memberID 0: all members */
	rc = etcd_unary(c, ETCD_M_ALARM, &req.base, &etcdserverpb__alarm_response__descriptor,
			(ProtobufCMessage **)&r, c->cmd_ms, ETCD_CALL_SAFE);
	if (rc < 0)
		return rc;
	for (i = 0; i < r->n_alarms; i++) {
		int a = r->alarms[i]->alarm;

		if (a > ETCD_ALARM_NONE && a < 32)
			*out_alarms |= 1u << a;
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

int etcd_lease_grant(struct etcd_client *c, int64_t *out_id, int64_t ttl_seconds)
{
	Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	Etcdserverpb__LeaseGrantResponse *r = NULL;
	int rc;

	req.ttl = ttl_seconds;
	rc = etcd_unary(c, ETCD_M_LEASE_GRANT, &req.base, &etcdserverpb__lease_grant_response__descriptor,
			(ProtobufCMessage **)&r, c->cmd_ms, 0);
	if (rc < 0)
		return rc;
	if (r->error[0])
		rc = err_set(ERR_ETCD, "etcd %s: lease grant: %s", etcd_endpoint(c), r->error);
	else
		*out_id = r->id;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

size_t etcd_prefix_end(uint8_t *end_out, const uint8_t *prefix, size_t prefix_len)
{
	size_t n = prefix_len;

	if (prefix_len == 0)
		return 0;
	while (n > 0 && prefix[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end_out[0] = 0; /* only 0xff bytes: every key from prefix on */
		return 1;
	}
	memcpy(end_out, prefix, n);
	end_out[n - 1]++;
	return n;
}
