/* etcd_rangewire: RangeResponse pages read in place.
 *
 * protobuf-c's unpack copies every key and value into its own malloc'd
 * buffer (and one struct per KeyValue): for a page of 5,000 values of
 * ~2.7 KiB that is 10,000 allocations and a second copy of the page, about a
 * fifth of a scan's client instructions (docs/performance.md). The pager
 * keeps the received bytes instead and points the etcd_kv array into them.
 * Only RangeResponse and its KeyValue are parsed; unknown fields are skipped
 * as protobuf requires. The CAS Txn's response is read the same way: only
 * its header revision and `succeeded` are used, while protobuf-c would
 * allocate a ResponseOp, a PutResponse and a header for every put. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/pbwire.h"
#include "etcd_int.h"

/* Identity marker only: never passed to protobuf-c. */
const ProtobufCMessageDescriptor etcd_range_wire_descriptor = {
	.name = "etcdcrypt.RangeResponseWire",
};

struct range_wire {
	ProtobufCMessage base; /* base.descriptor == &etcd_range_wire_descriptor */
	grpc_slice bytes;
};

int etcd_range_wire_new(grpc_slice bytes, ProtobufCMessage **out)
{
	struct range_wire *w = calloc(1, sizeof(*w));

	if (!w) {
		grpc_slice_unref(bytes);
		return err_set(ERR_NOMEM, "etcd range: out of memory");
	}
	w->base.descriptor = &etcd_range_wire_descriptor;
	w->bytes = bytes;
	*out = &w->base;
	return 0;
}

void etcd_range_wire_free(ProtobufCMessage *m)
{
	struct range_wire *w = (struct range_wire *)m;

	grpc_slice_unref(w->bytes);
	free(w);
}

static int parse_header(const uint8_t *p, size_t n, int64_t *rev)
{
	struct pb_reader r;
	struct pb_field f;
	int st;

	pb_init(&r, p, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD)
		if (f.num == 3 && f.wire == 0)
			*rev = (int64_t)f.varint;
	return st;
}

static int parse_kv(const uint8_t *p, size_t n, struct etcd_kv *kv)
{
	struct pb_reader r;
	struct pb_field f;
	int st;

	memset(kv, 0, sizeof(*kv));
	pb_init(&r, p, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD) {
		if (f.wire == 2 && f.num == 1) {
			kv->key = f.data;
			kv->key_len = f.len;
		} else if (f.wire == 2 && f.num == 5) {
			kv->value = f.data;
			kv->value_len = f.len;
		} else if (f.wire == 0) {
			switch (f.num) {
			case 2: kv->create_revision = (int64_t)f.varint; break;
			case 3: kv->mod_revision = (int64_t)f.varint; break;
			case 4: kv->version = (int64_t)f.varint; break;
			case 6: kv->lease = (int64_t)f.varint; break;
			default: break;
			}
		}
	}
	return st;
}

/* Two passes over the bytes: count the KeyValues, then fill them. */
static int parse_range(struct etcd_range_resp *out, const uint8_t *p, size_t n)
{
	struct pb_reader r;
	struct pb_field f;
	size_t nkv = 0, i = 0;
	int st;

	pb_init(&r, p, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD)
		nkv += f.num == 2 && f.wire == 2;
	if (st != PB_END)
		return err_set(ERR_CORRUPT, "etcd range: cannot decode the RangeResponse");
	if (nkv && !(out->kvs = malloc(nkv * sizeof(*out->kvs))))
		return err_set(ERR_NOMEM, "etcd range: out of memory for %zu keys", nkv);
	pb_init(&r, p, n);
	while (pb_next(&r, &f) == PB_FIELD) {
		if (f.num == 1 && f.wire == 2)
			st = parse_header(f.data, f.len, &out->revision);
		else if (f.num == 2 && f.wire == 2)
			st = parse_kv(f.data, f.len, &out->kvs[i++]);
		else if (f.num == 3 && f.wire == 0)
			out->more = f.varint != 0;
		else if (f.num == 4 && f.wire == 0)
			out->count = (int64_t)f.varint;
		if (st != PB_END)
			return err_set(ERR_CORRUPT, "etcd range: cannot decode the RangeResponse");
	}
	out->n_kvs = nkv;
	return 0;
}

int etcd_range_wire_fill(struct etcd_range_resp *out, ProtobufCMessage *m)
{
	struct range_wire *w = (struct range_wire *)m;
	int rc;

	memset(out, 0, sizeof(*out));
	out->priv = m;
	rc = parse_range(out, GRPC_SLICE_START_PTR(w->bytes), GRPC_SLICE_LENGTH(w->bytes));
	if (rc < 0)
		etcd_range_resp_release(out);
	return rc;
}

int etcd_txn_wire_result(ProtobufCMessage *m, int *succeeded, int64_t *revision)
{
	struct range_wire *w = (struct range_wire *)m;
	struct pb_reader r;
	struct pb_field f;
	int st = PB_END;

	*succeeded = 0;
	*revision = 0;
	pb_init(&r, GRPC_SLICE_START_PTR(w->bytes), GRPC_SLICE_LENGTH(w->bytes));
	while (st == PB_END && pb_next(&r, &f) == PB_FIELD) {
		if (f.num == 1 && f.wire == 2)
			st = parse_header(f.data, f.len, revision);
		else if (f.num == 2 && f.wire == 0)
			*succeeded = f.varint != 0;
	}
	if (st != PB_END || r.p != r.end)
		return err_set(ERR_CORRUPT, "etcd txn: cannot decode the TxnResponse");
	return 0;
}
