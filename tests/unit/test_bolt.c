/* test_bolt: core/bolt and core/snapshot against the reference snapshot
 * (made by a real etcd 3.4.23): every expected number is read from
 * snapshot-manifest.json, none is typed here. Then damaged copies made in
 * the test (trailer byte, data byte, truncation, both metas, an element
 * pointing out of its page, a branch pointing at itself, big-endian magic)
 * must fail cleanly with ERR_CORRUPT naming where, or be reported as a hash
 * mismatch. */
#include "testutil.h"

#include "bolt/bolt.h"
#include "xform/envelope.h"
#include "base/err.h"
#include "base/hex.h"
#include "bolt/snapshot.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *manifest(void)
{
	json_error_t e;
	json_t *m = json_load_file(tu_fixture("k8s-vectors/snapshot-manifest.json"), 0, &e);

	ck_assert_msg(m != NULL, "snapshot-manifest.json: %s", e.text);
	return m;
}

static long long mint(const json_t *o, const char *path)
{
	char buf[256], *save = NULL, *tok;
	const json_t *v = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		v = json_object_get(v, tok);
	ck_assert_msg(json_is_integer(v), "manifest has no integer at %s", path);
	return (long long)json_integer_value(v);
}

static uint8_t *load_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long len;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the reference snapshot ---------------------------------------------- */

START_TEST(test_bolt_buckets)
{
	json_t *m = manifest(), *want = json_object_get(m, "bolt_buckets"), *v;
	struct bolt *b = NULL;
	struct bolt_bucket root, bk;
	struct bolt_info in;
	const char *name;

	ck_assert_msg(bolt_open(&b, tu_fixture("k8s-vectors/snapshot.db")) == 0, "%s", err_msg());
	bolt_get_info(b, &in);
	ck_assert_uint_eq(in.page_size, 4096);
	ck_assert_uint_eq(in.db_bytes, (uint64_t)mint(m, "sha256_trailer.bolt_db_bytes"));
	ck_assert_int_eq(in.metas_valid, 3);
	bolt_root(b, &root);
	json_object_foreach(want, name, v)
		ck_assert_msg(bolt_bucket(b, &root, name, &bk) == 0, "bucket %s: %s", name, err_msg());
	ck_assert_int_eq(bolt_bucket(b, &root, "no-such-bucket", &bk), ERR_NOTFOUND);
	bolt_close(b);
	json_decref(m);
}
END_TEST

static int count_cb(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags)
{
	(void)k, (void)kn, (void)v, (void)vn, (void)flags;
	(*(uint64_t *)arg)++;
	return 0;
}

START_TEST(test_bolt_bucket_counts)
{
	json_t *m = manifest(), *want = json_object_get(m, "bolt_buckets"), *v;
	struct bolt *b = NULL;
	struct bolt_bucket root, bk;
	const char *name;
	uint64_t top = 0;

	ck_assert_int_eq(bolt_open(&b, tu_fixture("k8s-vectors/snapshot.db")), 0);
	bolt_root(b, &root);
	ck_assert_int_eq(bolt_foreach(b, &root, count_cb, &top), 0);
	ck_assert_uint_eq(top, json_object_size(want));
	json_object_foreach(want, name, v) {
		uint64_t n = 0;

		ck_assert_int_eq(bolt_bucket(b, &root, name, &bk), 0);
		ck_assert_msg(bolt_foreach(b, &bk, count_cb, &n) == 0, "%s", err_msg());
		ck_assert_msg(n == (uint64_t)json_integer_value(v), "bucket %s: %llu entries, manifest %lld", name,
			      (unsigned long long)n, (long long)json_integer_value(v));
	}
	bolt_close(b);
	json_decref(m);
}
END_TEST

struct tally_cb {
	const char *prefix;
	uint64_t live, deleted, recreated, plain_total, plain_hist, plain_keys, puts, deletes;
	json_t *labels, *deleted_keys, *recreated_keys;
};

static int key_cb(void *arg, const struct snap_kv *kv)
{
	struct tally_cb *t = arg;
	char key[1024];

	snprintf(key, sizeof(key), "%.*s", (int)kv->key_len, (const char *)kv->key);
	t->puts += kv->puts;
	t->deletes += kv->deletes;
	t->plain_total += kv->plain_puts;
	t->plain_hist += kv->plain_historical;
	t->plain_keys += kv->plain_historical > 0;
	if (kv->recreated) {
		t->recreated++;
		json_array_append_new(t->recreated_keys, json_string(key));
	}
	if (kv->deleted) {
		t->deleted++;
		json_array_append_new(t->deleted_keys, json_string(key));
		return 0;
	}
	t->live++;
	if (t->labels) {
		struct env_info ei;
		char label[600];

		env_classify(&ei, kv->value, kv->value_len);
		if (ei.kind == ENV_IDENTITY)
			snprintf(label, sizeof(label), "identity");
		else
			snprintf(label, sizeof(label), "%s:%s", env_kind_name(ei.kind), ei.key_name);
		json_object_set_new(t->labels, label,
				    json_integer(json_integer_value(json_object_get(t->labels, label)) + 1));
	}
	return 0;
}

static void tcb_init(struct tally_cb *t)
{
	memset(t, 0, sizeof(*t));
	t->deleted_keys = json_array();
	t->recreated_keys = json_array();
}

static void tcb_release(struct tally_cb *t)
{
	json_decref(t->labels);
	json_decref(t->deleted_keys);
	json_decref(t->recreated_keys);
}

START_TEST(test_snapshot_manifest)
{
	json_t *m = manifest(), *sec = json_object_get(m, "secrets"), *v;
	struct snap *s = NULL;
	const struct snap_info *in;
	const char *prefix;
	struct tally_cb t;
	char hexd[65];

	ck_assert_msg(snap_open(&s, tu_fixture("k8s-vectors/snapshot.db")) == 0, "%s", err_msg());
	ck_assert_int_eq(snap_check_trailer(s, NULL, NULL), 0);
	ck_assert_int_eq(snap_index(s, NULL, NULL), 0);
	in = snap_get_info(s);
	ck_assert_uint_eq(in->size, (uint64_t)mint(m, "snapshot_size_bytes"));
	ck_assert_uint_eq(in->db_bytes, (uint64_t)mint(m, "sha256_trailer.bolt_db_bytes"));
	ck_assert(in->has_trailer && in->trailer_checked && in->trailer_matches);
	hex_encode(hexd, in->expected, 32);
	ck_assert_str_eq(hexd, json_string_value(json_object_get(json_object_get(m, "sha256_trailer"), "last_32_bytes_hex")));
	ck_assert_int_eq(in->revision, mint(m, "revision"));
	ck_assert_int_eq(in->compact_revision, mint(m, "compact_revision"));
	ck_assert_uint_eq(in->entries, (uint64_t)mint(m, "mvcc_entries_in_key_bucket"));
	ck_assert_uint_eq(in->live_keys, (uint64_t)mint(m, "total_keys"));
	for (size_t i = 0; i < in->n_buckets; i++)
		ck_assert_int_eq((long long)in->buckets[i].entries,
				 json_integer_value(json_object_get(json_object_get(m, "bolt_buckets"), in->buckets[i].name)));
	ck_assert_uint_eq(in->n_buckets, json_object_size(json_object_get(m, "bolt_buckets")));

	/* live keys per prefix */
	json_object_foreach(json_object_get(m, "live_keys_by_prefix"), prefix, v) {
		tcb_init(&t);
		ck_assert_int_eq(snap_foreach_key(s, (const uint8_t *)prefix, strlen(prefix), SNAP_ORDER_KEY, key_cb, &t), 0);
		ck_assert_msg(t.live == (uint64_t)json_integer_value(v), "%s: %llu live, manifest %lld", prefix,
			      (unsigned long long)t.live, (long long)json_integer_value(v));
		tcb_release(&t);
	}

	/* secrets: latest by provider/key, history, deleted and re-created keys */
	tcb_init(&t);
	t.labels = json_object();
	prefix = json_string_value(json_object_get(sec, "prefix"));
	ck_assert_int_eq(snap_foreach_key(s, (const uint8_t *)prefix, strlen(prefix), SNAP_ORDER_KEY, key_cb, &t), 0);
	ck_assert_uint_eq(t.live, (uint64_t)mint(sec, "live_keys"));
	ck_assert_msg(json_equal(t.labels, json_object_get(sec, "latest_by_provider_key")), "labels %s",
		      json_dumps(t.labels, JSON_SORT_KEYS));
	ck_assert_uint_eq(t.puts, (uint64_t)mint(sec, "revisions_total"));
	ck_assert_uint_eq(t.deletes, (uint64_t)mint(sec, "tombstones_total"));
	ck_assert_uint_eq(t.plain_total, (uint64_t)mint(sec, "plaintext_revisions_total"));
	ck_assert_uint_eq(t.plain_hist, (uint64_t)mint(sec, "plaintext_revisions_historical"));
	ck_assert_uint_eq(t.plain_keys, (uint64_t)mint(sec, "keys_with_historical_plaintext"));
	ck_assert_uint_eq(t.deleted, (uint64_t)mint(sec, "deleted_keys_count"));
	ck_assert(json_equal(t.deleted_keys, json_object_get(sec, "deleted_keys")));
	ck_assert(json_equal(t.recreated_keys, json_object_get(sec, "recreated_keys")));
	tcb_release(&t);
	snap_free(s);
	json_decref(m);
}
END_TEST

/* every revision, one by one: the same counts as the per-key index */
struct rev_count {
	const char *prefix;
	uint64_t puts, tombs, newest, plain, plain_hist;
	int64_t last_main;
	int ordered;
};

static int rev_cb(void *arg, const struct snap_rev *r)
{
	struct rev_count *c = arg;
	size_t pl = strlen(c->prefix);
	int plain;

	if (r->main < c->last_main)
		c->ordered = 0;
	c->last_main = r->main;
	if (r->key_len < pl || memcmp(r->key, c->prefix, pl) != 0)
		return 0;
	if (r->tombstone) {
		c->tombs++;
		ck_assert(r->value == NULL && !r->newest);
		return 0;
	}
	plain = r->value_len < 8 || memcmp(r->value, "k8s:enc:", 8) != 0;
	c->puts++;
	c->newest += r->newest != 0;
	c->plain += plain;
	c->plain_hist += plain && !r->newest;
	return 0;
}

START_TEST(test_snapshot_revisions)
{
	json_t *m = manifest(), *sec = json_object_get(m, "secrets");
	struct snap *s = NULL;
	struct rev_count c = { .prefix = json_string_value(json_object_get(sec, "prefix")), .ordered = 1 };

	ck_assert_msg(snap_open(&s, tu_fixture("k8s-vectors/snapshot.db")) == 0, "%s", err_msg());
	ck_assert_int_eq(snap_foreach_revision(s, rev_cb, &c), ERR_INTERNAL); /* needs the index */
	ck_assert_int_eq(snap_index(s, NULL, NULL), 0);
	ck_assert_int_eq(snap_foreach_revision(s, rev_cb, &c), 0);
	ck_assert(c.ordered);
	ck_assert_uint_eq(c.puts, (uint64_t)mint(sec, "revisions_total"));
	ck_assert_uint_eq(c.tombs, (uint64_t)mint(sec, "tombstones_total"));
	ck_assert_uint_eq(c.newest, (uint64_t)mint(sec, "live_keys"));
	ck_assert_uint_eq(c.plain, (uint64_t)mint(sec, "plaintext_revisions_total"));
	ck_assert_uint_eq(c.plain_hist, (uint64_t)mint(sec, "plaintext_revisions_historical"));
	snap_free(s);
	json_decref(m);
}
END_TEST

/* ---- damaged copies ------------------------------------------------------ */

static uint8_t *fixture_copy(size_t *n)
{
	return load_file(tu_fixture("k8s-vectors/snapshot.db"), n);
}

/* opens + hashes + indexes; returns the first failing code (0 if none) */
static int open_all(uint8_t *p, size_t n, struct snap **out)
{
	int rc;

	*out = NULL;
	if ((rc = snap_open_mem(out, p, n)) < 0)
		return rc;
	if ((rc = snap_check_trailer(*out, NULL, NULL)) < 0)
		return rc;
	return snap_index(*out, NULL, NULL);
}

START_TEST(test_trailer_byte_flipped)
{
	size_t n;
	uint8_t *p = fixture_copy(&n);
	struct snap *s;

	p[n - 5] ^= 0x01;
	ck_assert_int_eq(open_all(p, n, &s), 0);
	ck_assert(snap_get_info(s)->trailer_checked && !snap_get_info(s)->trailer_matches);
	snap_free(s);
	free(p);
}
END_TEST

struct find_value {
	const uint8_t *value;
	size_t len;
};

static int first_value(void *arg, const struct snap_kv *kv)
{
	struct find_value *f = arg;

	if (!kv->deleted && kv->value_len > 64 && f->value == NULL) {
		f->value = kv->value;
		f->len = kv->value_len;
	}
	return 0;
}

START_TEST(test_data_byte_flipped)
{
	size_t n, off;
	uint8_t *p = fixture_copy(&n);
	struct snap *s;
	struct find_value f = { 0 };

	ck_assert_int_eq(open_all(p, n, &s), 0);
	ck_assert_int_eq(snap_foreach_key(s, (const uint8_t *)"/registry/secrets/", 18, SNAP_ORDER_KEY, first_value, &f), 0);
	ck_assert_ptr_nonnull(f.value);
	off = (size_t)(f.value - p) + f.len / 2;
	snap_free(s);
	p[off] ^= 0x40; /* inside a stored value: bbolt still reads, the hash does not */
	ck_assert_int_eq(open_all(p, n, &s), 0);
	ck_assert(!snap_get_info(s)->trailer_matches);
	snap_free(s);
	free(p);
}
END_TEST

START_TEST(test_truncated)
{
	size_t n;
	uint8_t *p = fixture_copy(&n);
	struct snap *s;
	char path[] = "/tmp/etcdcrypt-test-bolt.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_eq(snap_open_mem(&s, p, n / 2), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "truncated") && strstr(err_msg(), "offset 139280"), "%s", err_msg());
	/* a file cut to a size that looks like it has a trailer */
	ck_assert_int_eq(snap_open_mem(&s, p, 512 * 300 + 32), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "offset 153632"), "%s", err_msg());
	/* through a real mapped file */
	ck_assert(fd >= 0);
	ck_assert_int_eq(write(fd, p, 100000), 100000);
	close(fd);
	ck_assert_int_eq(snap_open(&s, path), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "offset 100000"), "%s", err_msg());
	unlink(path);
	ck_assert_int_eq(snap_open_mem(&s, p, 40), ERR_CORRUPT);
	free(p);
}
END_TEST

START_TEST(test_metas_invalid)
{
	size_t n;
	uint8_t *p = fixture_copy(&n);
	struct snap *s;

	p[40] ^= 1; /* meta 0 root: checksum now wrong */
	ck_assert_int_eq(open_all(p, n, &s), 0); /* meta 1 still good */
	snap_free(s);
	p[4096 + 40] ^= 1;
	ck_assert_int_eq(snap_open_mem(&s, p, n), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "meta"), "%s", err_msg());
	free(p);
}
END_TEST

START_TEST(test_big_endian_magic)
{
	size_t n;
	uint8_t *p = fixture_copy(&n);
	struct snap *s;

	memcpy(p + 16, "\xED\x0C\xDA\xED", 4);
	memcpy(p + 4096 + 16, "\xED\x0C\xDA\xED", 4);
	ck_assert_int_eq(snap_open_mem(&s, p, n), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "big-endian"), "%s", err_msg());
	free(p);
}
END_TEST

/* The key bucket's root page id (the fixture's key bucket is a real tree). */
static uint64_t key_root(const uint8_t *p, size_t n)
{
	struct bolt *b;
	struct bolt_bucket root, kb;
	uint64_t r;

	ck_assert_int_eq(bolt_open_mem(&b, p, n), 0);
	bolt_root(b, &root);
	ck_assert_int_eq(bolt_bucket(b, &root, "key", &kb), 0);
	r = kb.root;
	bolt_close(b);
	ck_assert_uint_gt(r, 1);
	return r;
}

START_TEST(test_element_out_of_range)
{
	size_t n;
	uint8_t *p = fixture_copy(&n);
	uint64_t pg = key_root(p, n);
	uint8_t *page = p + pg * 4096;
	struct snap *s;

	if (page[8] == 0x01) /* branch: go to its first leaf */
		page = p + rd64(page + 16 + 8) * 4096;
	ck_assert_int_eq(page[8], 0x02);
	wr32(page + 16 + 4, 0x7FFFFF00u); /* element 0 pos */
	ck_assert_int_eq(open_all(p, n, &s), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "page ") && strstr(err_msg(), "element 0") && strstr(err_msg(), "offset"),
		      "%s", err_msg());
	snap_free(s);
	free(p);
}
END_TEST

START_TEST(test_branch_cycle)
{
	size_t n;
	uint8_t *p = fixture_copy(&n);
	uint64_t pg = key_root(p, n);
	uint8_t *page = p + pg * 4096;
	struct snap *s;

	ck_assert_msg(page[8] == 0x01, "the key bucket root should be a branch page");
	wr64(page + 16 + 8, pg); /* element 0 -> itself */
	ck_assert_int_eq(open_all(p, n, &s), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "cycle") || strstr(err_msg(), "shared"), "%s", err_msg());
	snap_free(s);
	/* a child outside the database */
	wr64(page + 16 + 8, 1u << 30);
	ck_assert_int_eq(open_all(p, n, &s), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "outside the database"), "%s", err_msg());
	snap_free(s);
	/* a child whose header names another page */
	wr64(page + 16 + 8, pg);
	wr64(page, pg + 1);
	ck_assert_int_eq(open_all(p, n, &s), ERR_CORRUPT);
	ck_assert_msg(strstr(err_msg(), "header says page"), "%s", err_msg());
	snap_free(s);
	free(p);
}
END_TEST

START_TEST(test_not_bolt)
{
	uint8_t junk[8192];
	struct bolt *b;

	memset(junk, 0xA5, sizeof(junk));
	ck_assert_int_eq(bolt_open_mem(&b, junk, sizeof(junk)), ERR_CORRUPT);
	ck_assert_int_eq(bolt_open(&b, "/nonexistent/snapshot.db"), ERR_IO);
	ck_assert_int_eq(bolt_open(&b, "/tmp"), ERR_IO);
}
END_TEST

/* ---- the index's memory bound ------------------------------------------------ */

#define SYN_PAGE 4096u
#define SYN_KEYS 20000u

struct syn {
	uint8_t *p;
	size_t n;
};

static void syn_page_hdr(uint8_t *p, uint64_t id, uint16_t flags, uint16_t count, uint32_t overflow)
{
	wr64(p, id);
	p[8] = (uint8_t)flags;
	p[9] = (uint8_t)(flags >> 8);
	p[10] = (uint8_t)count;
	p[11] = (uint8_t)(count >> 8);
	wr32(p + 12, overflow);
}

static uint64_t syn_fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* mvccpb.KeyValue of key i: version 1 a plaintext value, version 2 an
 * encrypted one (no mod_revision: the revision key says it). Returns its
 * length (at most 96 bytes). */
static size_t syn_kv(uint8_t *out, unsigned i, int version)
{
	char key[48], val[32];
	int kn = snprintf(key, sizeof(key), "/registry/secrets/ns/name-%06u", i);
	int vn = snprintf(val, sizeof(val), version == 1 ? "plain-%u" : "k8s:enc:aescbc:v1:k:%u", i);
	size_t n = 0;

	out[n++] = 0x0A;
	out[n++] = (uint8_t)kn;
	memcpy(out + n, key, (size_t)kn);
	n += (size_t)kn;
	out[n++] = 0x10; /* create_revision: any one-byte varint */
	out[n++] = (uint8_t)(1 + (i & 0x3F));
	out[n++] = 0x20;
	out[n++] = (uint8_t)version;
	out[n++] = 0x2A;
	out[n++] = (uint8_t)vn;
	memcpy(out + n, val, (size_t)vn);
	return n + (size_t)vn;
}

/* A bbolt file (no trailer) whose key bucket holds SYN_KEYS keys, each put
 * `versions` times (revision r = (version - 1) * SYN_KEYS + i + 1), in one
 * leaf with overflow pages: meta 0, meta 1 (left invalid), the root leaf
 * with the 'key' bucket, then the key bucket's leaf. */
static struct syn syn_snapshot(int versions)
{
	unsigned count = SYN_KEYS * (unsigned)versions;
	size_t data = (size_t)count * (17 + 96), leaf_bytes = 16 + 16 * (size_t)count + data;
	uint32_t leaf_pages = (uint32_t)((leaf_bytes + SYN_PAGE - 1) / SYN_PAGE);
	uint64_t hwm = 3 + leaf_pages;
	struct syn s = { calloc(hwm, SYN_PAGE), hwm * SYN_PAGE };
	uint8_t *m = s.p, *root = s.p + 2 * SYN_PAGE, *leaf = s.p + 3 * SYN_PAGE;
	size_t off = 16 + 16 * (size_t)count;

	ck_assert_ptr_nonnull(s.p);
	ck_assert_uint_le(count, 65535);
	/* meta 0 */
	syn_page_hdr(m, 0, 0x04, 0, 0);
	wr32(m + 16, 0xED0CDAEDu);
	wr32(m + 20, 2);
	wr32(m + 24, SYN_PAGE);
	wr64(m + 32, 2);   /* root bucket page */
	wr64(m + 48, 1);   /* freelist (not read) */
	wr64(m + 56, hwm);
	wr64(m + 64, 1);   /* txid */
	wr64(m + 72, syn_fnv(m + 16, 56));
	/* root leaf: one bucket, "key", rooted at page 3 */
	syn_page_hdr(root, 2, 0x02, 1, 0);
	wr32(root + 16, 0x01);
	wr32(root + 20, 16);
	wr32(root + 24, 3);
	wr32(root + 28, 16);
	memcpy(root + 32, "key", 3);
	wr64(root + 35, 3);
	/* the key bucket: revision key -> KeyValue, revisions ascending */
	syn_page_hdr(leaf, 3, 0x02, (uint16_t)count, leaf_pages - 1);
	for (unsigned e = 0; e < count; e++) {
		uint8_t *el = leaf + 16 + 16 * (size_t)e, *k = leaf + off;
		uint64_t rev = (uint64_t)e + 1;
		size_t vn;

		for (int b = 0; b < 8; b++)
			k[b] = (uint8_t)(rev >> (8 * (7 - b)));
		k[8] = '_';
		memset(k + 9, 0, 8);
		vn = syn_kv(k + 17, e % SYN_KEYS, (int)(e / SYN_KEYS) + 1);
		wr32(el, 0);
		wr32(el + 4, (uint32_t)(k - el));
		wr32(el + 8, 17);
		wr32(el + 12, (uint32_t)vn);
		off += 17 + vn;
	}
	ck_assert_uint_le(off, leaf_bytes);
	return s;
}

struct syn_sum {
	uint64_t keys, puts, plain_hist;
	int64_t oldest_max;
};

static int syn_key(void *arg, const struct snap_kv *kv)
{
	struct syn_sum *t = arg;

	t->keys++;
	t->puts += kv->puts;
	t->plain_hist += kv->plain_historical;
	if (kv->oldest_plain_historical > t->oldest_max)
		t->oldest_max = kv->oldest_plain_historical;
	return 0;
}

/* The index of n keys stays within `per_key` bytes a key (records, counters,
 * table; 64-byte records in a doubling array took > 100 here), and still
 * finds every key and its history. */
static void check_index_bound(int versions, size_t per_key)
{
	struct syn f = syn_snapshot(versions);
	struct syn_sum t = { 0 };
	struct snap *s = NULL;
	const struct snap_info *in;

	ck_assert_msg(snap_open_mem(&s, f.p, f.n) == 0, "%s", err_msg());
	ck_assert_msg(snap_index(s, NULL, NULL) == 0, "%s", err_msg());
	in = snap_get_info(s);
	ck_assert_uint_eq(in->keys, SYN_KEYS);
	ck_assert_uint_eq(in->live_keys, SYN_KEYS);
	ck_assert_uint_eq(in->puts, (uint64_t)SYN_KEYS * (uint64_t)versions);
	ck_assert_msg(snap_index_bytes(s) <= per_key * SYN_KEYS, "index: %zu bytes for %u keys (%.1f a key, bound %zu)",
		      snap_index_bytes(s), SYN_KEYS, (double)snap_index_bytes(s) / SYN_KEYS, per_key);
	ck_assert_int_eq(snap_foreach_key(s, (const uint8_t *)"/registry/secrets/", 18, SNAP_ORDER_KEY, syn_key, &t), 0);
	ck_assert_uint_eq(t.keys, SYN_KEYS);
	ck_assert_uint_eq(t.puts, (uint64_t)SYN_KEYS * (uint64_t)versions);
	/* with two versions, every first (plaintext) put is historical; the last key's at revision SYN_KEYS */
	ck_assert_uint_eq(t.plain_hist, versions == 2 ? SYN_KEYS : 0);
	ck_assert_int_eq(t.oldest_max, versions == 2 ? (int64_t)SYN_KEYS : 0);
	snap_free(s);
	free(f.p);
}

START_TEST(test_index_bytes_per_key)
{
	check_index_bound(1, 32); /* one put a key: a record and a table slot */
	check_index_bound(2, 56); /* two: plus the history counters */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bolt");
	TCase *tc = tcase_create("bolt");

	tcase_add_test(tc, test_bolt_buckets);
	tcase_add_test(tc, test_bolt_bucket_counts);
	tcase_add_test(tc, test_snapshot_manifest);
	tcase_add_test(tc, test_snapshot_revisions);
	tcase_add_test(tc, test_trailer_byte_flipped);
	tcase_add_test(tc, test_data_byte_flipped);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_metas_invalid);
	tcase_add_test(tc, test_big_endian_magic);
	tcase_add_test(tc, test_element_out_of_range);
	tcase_add_test(tc, test_branch_cycle);
	tcase_add_test(tc, test_not_bolt);
	tcase_add_test(tc, test_index_bytes_per_key);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
