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
#include <stdint.h>
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
	grpc_slice *sl;        /* the received slices (references), in order */
	size_t nsl;
	grpc_slice one; /* sl == &one: the message in one slice */
	uint8_t *spill; /* copies of the fields that straddle two slices */
};

int etcd_range_wire_new(grpc_slice bytes, ProtobufCMessage **out)
{
	struct range_wire *w = calloc(1, sizeof(*w));

	if (!w) {
		grpc_slice_unref(bytes);
		return err_set(ERR_NOMEM, "etcd range: out of memory");
	}
	w->base.descriptor = &etcd_range_wire_descriptor;
	w->one = bytes;
	w->sl = &w->one;
	w->nsl = 1;
	*out = &w->base;
	return 0;
}

int etcd_range_wire_new_slices(const grpc_slice *sl, size_t n, ProtobufCMessage **out)
{
	struct range_wire *w = calloc(1, sizeof(*w));

	if (!w || !(w->sl = malloc((n ? n : 1) * sizeof(*w->sl)))) {
		free(w);
		return err_set(ERR_NOMEM, "etcd range: out of memory");
	}
	w->base.descriptor = &etcd_range_wire_descriptor;
	for (size_t i = 0; i < n; i++)
		w->sl[i] = grpc_slice_ref(sl[i]);
	w->nsl = n;
	*out = &w->base;
	return 0;
}

void etcd_range_wire_free(ProtobufCMessage *m)
{
	struct range_wire *w = (struct range_wire *)m;

	for (size_t i = 0; i < w->nsl; i++)
		grpc_slice_unref(w->sl[i]);
	if (w->sl != &w->one)
		free(w->sl);
	free(w->spill);
	free(w);
}

/* A read position over the slices. */
struct cur {
	const grpc_slice *sl;
	size_t n, i, off;
};

static size_t cur_avail(struct cur *c)
{
	while (c->i < c->n && c->off == GRPC_SLICE_LENGTH(c->sl[c->i])) {
		c->i++;
		c->off = 0;
	}
	return c->i < c->n ? GRPC_SLICE_LENGTH(c->sl[c->i]) - c->off : 0;
}

static const uint8_t *cur_ptr(const struct cur *c)
{
	return GRPC_SLICE_START_PTR(c->sl[c->i]) + c->off;
}

static int cur_varint(struct cur *c, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (cur_avail(c) == 0)
			return PB_TRUNCATED;
		b = *cur_ptr(c);
		c->off++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return PB_MALFORMED;
}

/* Takes n bytes: in place when they lie in one slice; else copied to *spill
 * (advanced past them) or, without spill, only skipped and added to *need. */
static int cur_take(struct cur *c, size_t n, const uint8_t **p, uint8_t **spill, size_t *need)
{
	uint8_t *dst = spill ? *spill : NULL;

	if (p)
		*p = NULL;
	if (n == 0)
		return 0;
	if (cur_avail(c) >= n) {
		if (p)
			*p = cur_ptr(c);
		c->off += n;
		return 0;
	}
	if (need)
		*need += n;
	if (p)
		*p = dst;
	while (n > 0) {
		size_t a = cur_avail(c), k = a < n ? a : n;

		if (a == 0)
			return PB_TRUNCATED;
		if (dst) {
			memcpy(dst, cur_ptr(c), k);
			dst += k;
		}
		c->off += k;
		n -= k;
	}
	if (spill)
		*spill = dst;
	return 0;
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

/* One walk over RangeResponse's top-level fields. Without out it counts the
 * KeyValues (*nkv) and the bytes of fields that straddle slices (*need);
 * with out it fills it, copying straddling fields to spill. */
static int walk(const struct range_wire *w, struct etcd_range_resp *out, uint8_t *spill, size_t *nkv, size_t *need)
{
	struct cur c = { w->sl, w->nsl, 0, 0 };
	size_t k = 0;

	while (cur_avail(&c) > 0) {
		uint64_t tag, v;
		const uint8_t *p;
		int st;

		if ((st = cur_varint(&c, &tag)) < 0)
			return st;
		if ((tag >> 3) == 0)
			return PB_MALFORMED;
		switch (tag & 7) {
		case 0:
			if ((st = cur_varint(&c, &v)) < 0)
				return st;
			if (out && (tag >> 3) == 3)
				out->more = v != 0;
			else if (out && (tag >> 3) == 4)
				out->count = (int64_t)v;
			break;
		case 1:
		case 5:
			if ((st = cur_take(&c, (tag & 7) == 1 ? 8 : 4, NULL, NULL, NULL)) < 0)
				return st;
			break;
		case 2:
			if ((st = cur_varint(&c, &v)) < 0)
				return st;
			if (v > SIZE_MAX / 2)
				return PB_MALFORMED;
			if ((st = cur_take(&c, (size_t)v, &p, out ? &spill : NULL, out ? NULL : need)) < 0)
				return st;
			if (!out)
				k += (tag >> 3) == 2;
			else if ((tag >> 3) == 1)
				st = parse_header(p, (size_t)v, &out->revision);
			else if ((tag >> 3) == 2)
				st = parse_kv(p, (size_t)v, &out->kvs[k++]);
			else
				st = PB_END;
			if (st != PB_END)
				return st < 0 ? st : PB_MALFORMED;
			break;
		default:
			return PB_MALFORMED;
		}
	}
	if (nkv)
		*nkv = k;
	return PB_END;
}

int etcd_range_wire_fill(struct etcd_range_resp *out, ProtobufCMessage *m)
{
	struct range_wire *w = (struct range_wire *)m;
	size_t nkv = 0, need = 0;

	memset(out, 0, sizeof(*out));
	out->priv = m;
	if (walk(w, NULL, NULL, &nkv, &need) != PB_END)
		goto corrupt;
	if ((nkv && !(out->kvs = malloc(nkv * sizeof(*out->kvs)))) || (need && !(w->spill = malloc(need)))) {
		etcd_range_resp_release(out);
		return err_set(ERR_NOMEM, "etcd range: out of memory for %zu keys", nkv);
	}
	if (walk(w, out, w->spill, NULL, NULL) != PB_END)
		goto corrupt;
	out->n_kvs = nkv;
	return 0;
corrupt:
	etcd_range_resp_release(out);
	return err_set(ERR_CORRUPT, "etcd range: cannot decode the RangeResponse");
}

int etcd_txn_wire_result(ProtobufCMessage *m, int *succeeded, int64_t *revision)
{
	struct range_wire *w = (struct range_wire *)m;
	struct pb_reader r;
	struct pb_field f;
	uint8_t *flat = NULL;
	size_t n = 0;
	int st = PB_END;

	*succeeded = 0;
	*revision = 0;
	for (size_t i = 0; i < w->nsl; i++)
		n += GRPC_SLICE_LENGTH(w->sl[i]);
	if (w->nsl == 1) {
		pb_init(&r, GRPC_SLICE_START_PTR(w->sl[0]), n);
	} else { /* small: one copy */
		if (!(flat = malloc(n ? n : 1)))
			return err_set(ERR_NOMEM, "etcd txn: out of memory");
		n = 0;
		for (size_t i = 0; i < w->nsl; i++) {
			memcpy(flat + n, GRPC_SLICE_START_PTR(w->sl[i]), GRPC_SLICE_LENGTH(w->sl[i]));
			n += GRPC_SLICE_LENGTH(w->sl[i]);
		}
		pb_init(&r, flat, n);
	}
	while (st == PB_END && pb_next(&r, &f) == PB_FIELD) {
		if (f.num == 1 && f.wire == 2)
			st = parse_header(f.data, f.len, revision);
		else if (f.num == 2 && f.wire == 0)
			*succeeded = f.varint != 0;
	}
	n = st != PB_END || r.p != r.end;
	free(flat);
	if (n)
		return err_set(ERR_CORRUPT, "etcd txn: cannot decode the TxnResponse");
	return 0;
}
