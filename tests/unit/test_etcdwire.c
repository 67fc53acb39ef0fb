/* test_etcdwire: the hand-written protobuf paths of core/etcd against
 * protobuf-c, the reference encoder/decoder: RangeResponse pages read in
 * place (etcd_rangewire.c) and the CAS Txn written straight into the request
 * (etcd_txn_pack), and the Txn's response read in place. No etcd needed. */
#include "testutil.h"

#include "base/err.h"
#include "etcd/etcd_int.h"
#include "rpc.pb-c.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = { n, (uint8_t *)p };

	return b;
}

static uint8_t pool[70000];

static void fill_pool(void)
{
	srand(7);
	for (size_t i = 0; i < sizeof(pool); i++)
		pool[i] = (uint8_t)rand();
}

/* protobuf-c's bytes for the Txn that etcd_txn_pack must reproduce */
static size_t reference_txn(const struct etcd_cas_put *ops, size_t n, uint8_t **out)
{
	Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
	Etcdserverpb__Compare cmp[8], *cmpp[8];
	Etcdserverpb__PutRequest put[8];
	Etcdserverpb__RequestOp op[8], *opp[8];
	size_t len;

	for (size_t i = 0; i < n; i++) {
		etcdserverpb__compare__init(&cmp[i]);
		etcdserverpb__put_request__init(&put[i]);
		etcdserverpb__request_op__init(&op[i]);
		cmp[i].target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
		cmp[i].key = bin(ops[i].key, ops[i].key_len);
		cmp[i].target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
		cmp[i].mod_revision = ops[i].mod_revision;
		put[i].key = bin(ops[i].key, ops[i].key_len);
		put[i].value = bin(ops[i].value, ops[i].value_len);
		put[i].lease = ops[i].lease;
		op[i].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		op[i].request_put = &put[i];
		opp[i] = &op[i];
		if (ops[i].mod_revision >= 0)
			cmpp[txn.n_compare++] = &cmp[i];
	}
	txn.compare = cmpp;
	txn.n_success = n;
	txn.success = opp;
	len = protobuf_c_message_get_packed_size(&txn.base);
	*out = malloc(len);
	protobuf_c_message_pack(&txn.base, *out);
	return len;
}

START_TEST(test_txn_pack_matches_protobuf_c)
{
	fill_pool();
	for (int t = 0; t < 5000; t++) {
		struct etcd_cas_put ops[8];
		size_t n = 1 + (size_t)rand() % 8, len;
		uint8_t *want;
		grpc_slice got;

		for (size_t i = 0; i < n; i++) {
			int r = rand() % 5;

			ops[i].key = pool;
			ops[i].key_len = (size_t)(rand() % 3 == 0 ? rand() % 300 : rand() % 40);
			ops[i].value = pool + 300;
			ops[i].value_len = (size_t)(rand() % 4 == 0 ? 0 : rand() % 4 == 0 ? rand() % 60000 : rand() % 3000);
			ops[i].mod_revision = r == 0 ? -1 : r == 1 ? 0 : r == 2 ? rand() : (int64_t)rand() << 20;
			ops[i].lease = rand() % 3 ? 0 : rand() % 2 ? (int64_t)rand() << 30 : -5;
		}
		len = reference_txn(ops, n, &want);
		ck_assert_int_eq(etcd_txn_pack(ops, n, &got), 0);
		ck_assert_uint_eq(GRPC_SLICE_LENGTH(got), len);
		ck_assert_mem_eq(GRPC_SLICE_START_PTR(got), want, len);
		grpc_slice_unref(got);
		free(want);
	}
}
END_TEST

/* packs a RangeResponse with protobuf-c and reads it back in place: in one
 * slice (split 0), or cut into slices of 1..split bytes, so that varints and
 * fields straddle slice boundaries */
static size_t split;

static int read_range(const Etcdserverpb__RangeResponse *m, size_t cut, struct etcd_range_resp *out)
{
	size_t len = protobuf_c_message_get_packed_size(&m->base), n = 0;
	grpc_slice s = grpc_slice_malloc(len), *parts = malloc(len * sizeof(*parts));
	ProtobufCMessage *w = NULL;

	protobuf_c_message_pack(&m->base, GRPC_SLICE_START_PTR(s));
	len -= cut;
	if (split == 0) {
		ck_assert_int_eq(etcd_range_wire_new(grpc_slice_sub(s, 0, len), &w), 0);
	} else {
		for (size_t off = 0; off < len; n++) {
			size_t k = 1 + (size_t)rand() % split;

			k = k > len - off ? len - off : k;
			parts[n] = grpc_slice_sub_no_ref(s, off, off + k);
			off += k;
		}
		ck_assert_int_eq(etcd_range_wire_new_slices(parts, n, &w), 0);
	}
	free(parts);
	grpc_slice_unref(s);
	return etcd_range_resp_fill(out, w);
}

START_TEST(test_range_wire_matches_protobuf_c)
{
	Etcdserverpb__RangeResponse m = ETCDSERVERPB__RANGE_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	Mvccpb__KeyValue kv[300], *kvp[300];
	struct etcd_range_resp r;

	fill_pool();
	h.cluster_id = 0xfeedfacecafebeefULL;
	h.member_id = 77;
	h.revision = 123456789012LL;
	h.raft_term = 9;
	m.header = &h;
	m.more = 1;
	m.count = 4242;
	for (size_t i = 0; i < 300; i++) {
		mvccpb__key_value__init(&kv[i]);
		kv[i].key = bin(pool + i, 1 + i % 60);
		if (i % 7) /* every 7th: keys only, no value field */
			kv[i].value = bin(pool + 1000 + i, (size_t)rand() % 5000);
		kv[i].create_revision = (int64_t)i * 3;
		kv[i].mod_revision = (int64_t)i * 1000003;
		kv[i].version = (int64_t)i % 5;
		kv[i].lease = i % 11 ? 0 : (int64_t)rand() << 24;
		kvp[i] = &kv[i];
	}
	m.kvs = kvp;
	for (size_t round = 0; round < 4; round++) {
	split = (size_t[]){ 0, 16384, 700, 3 }[round];
	m.n_kvs = 300;
	m.more = 1;
	ck_assert_int_eq(read_range(&m, 0, &r), 0);
	ck_assert_int_eq(r.revision, h.revision);
	ck_assert_int_eq(r.more, 1);
	ck_assert_int_eq(r.count, 4242);
	ck_assert_uint_eq(r.n_kvs, 300);
	for (size_t i = 0; i < 300; i++) {
		ck_assert_uint_eq(r.kvs[i].key_len, kv[i].key.len);
		ck_assert_mem_eq(r.kvs[i].key, kv[i].key.data, kv[i].key.len);
		ck_assert_uint_eq(r.kvs[i].value_len, kv[i].value.len);
		if (kv[i].value.len)
			ck_assert_mem_eq(r.kvs[i].value, kv[i].value.data, kv[i].value.len);
		ck_assert_int_eq(r.kvs[i].create_revision, kv[i].create_revision);
		ck_assert_int_eq(r.kvs[i].mod_revision, kv[i].mod_revision);
		ck_assert_int_eq(r.kvs[i].version, kv[i].version);
		ck_assert_int_eq(r.kvs[i].lease, kv[i].lease);
	}
	etcd_range_resp_release(&r);

	/* an empty page; then one cut inside its last KeyValue (behind it are
	 * more, 2 bytes, and count, 3) is an error, not a short page */
	m.n_kvs = 0;
	m.more = 0;
	ck_assert_int_eq(read_range(&m, 0, &r), 0);
	ck_assert_uint_eq(r.n_kvs, 0);
	ck_assert_int_eq(r.revision, h.revision);
	etcd_range_resp_release(&r);
	m.n_kvs = 300;
	ck_assert_int_eq(read_range(&m, 6, &r), ERR_CORRUPT);
	ck_assert_ptr_null(r.priv);
	ck_assert_ptr_null(r.kvs);
	}
}
END_TEST

START_TEST(test_txn_result)
{
	Etcdserverpb__TxnResponse m = ETCDSERVERPB__TXN_RESPONSE__INIT;
	Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
	Etcdserverpb__PutResponse put = ETCDSERVERPB__PUT_RESPONSE__INIT;
	Etcdserverpb__ResponseOp op = ETCDSERVERPB__RESPONSE_OP__INIT, *ops[3] = { &op, &op, &op };
	ProtobufCMessage *w = NULL;
	int64_t rev;
	int ok;

	h.revision = 987654321;
	put.header = &h;
	op.response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
	op.response_put = &put;
	m.header = &h;
	m.responses = ops;
	for (int succeeded = 0; succeeded < 2; succeeded++) {
		for (size_t cut = 0; cut < 2; cut++) {
			size_t len;
			grpc_slice s;

			m.succeeded = succeeded;
			m.n_responses = succeeded ? 3 : 0;
			len = protobuf_c_message_get_packed_size(&m.base);
			s = grpc_slice_malloc(len);
			protobuf_c_message_pack(&m.base, GRPC_SLICE_START_PTR(s));
			if (cut) /* inside the last field */
				s = grpc_slice_sub_no_ref(s, 0, len - 1);
			ck_assert_int_eq(etcd_range_wire_new(s, &w), 0);
			if (cut) {
				ck_assert_int_eq(etcd_txn_wire_result(w, &ok, &rev), ERR_CORRUPT);
			} else {
				ck_assert_int_eq(etcd_txn_wire_result(w, &ok, &rev), 0);
				ck_assert_int_eq(ok, succeeded);
				ck_assert_int_eq(rev, 987654321);
			}
			etcd_range_wire_free(w);
		}
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("etcdwire");
	TCase *tc = tcase_create("etcdwire");

	tcase_add_test(tc, test_txn_pack_matches_protobuf_c);
	tcase_add_test(tc, test_range_wire_matches_protobuf_c);
	tcase_add_test(tc, test_txn_result);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
