/* test_node: node records (node/record.h) and the config install
 * (node/install.h), without etcd.
 *
 * A record made from a CSM config carries its key names in read order and
 * the file's SHA-256 (checked against the test's own SHA-256), and never the
 * key, its base64 or its hex; it survives encode/decode; records that are
 * not records fail with ERR_CORRUPT naming where they came from. The install
 * replaces current.yaml with a 0600 file, keeps the previous one under a
 * time-stamped name found again by node_latest_backup, and leaves no
 * temporary file behind. A rewrite record whose error quotes an etcd key
 * with any bytes still encodes, as valid JSON with that text made printable. */
#include "base/err.h"
#include "conf/csmconf.h"
#include "conf/encconf.h"
#include "node/install.h"
#include "node/record.h"
#include "node/rwrec.h"
#include "testutil.h"
#include "xform/csmkey.h"

#include <check.h>
#include <jansson.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY32A "0123456789abcdef0123456789abcdef"
#define NAMEA "aescbc-6ed6653dba3d6aee8110c6e23de37f15c609b8a6e29aa164d1acace604e5cb7e"

static char tmpdir[256];

/* The config enable --aescbc KEY32A writes, parsed; text kept in *text. */
static struct encconf *enable_conf(struct buf *text)
{
	struct csmconf_key k;
	struct encconf *c = NULL;

	ck_assert_int_eq(csmkey_set(&k, ENCCONF_AESCBC, (const uint8_t *)KEY32A, 32, "test"), 0);
	buf_init(text, 0);
	ck_assert_int_eq(csmconf_generate(text, CSMCONF_ENABLE, &k, 1), 0);
	ck_assert_int_eq(encconf_parse(&c, (const char *)text->data, text->len, "test"), 0);
	csmconf_key_wipe(&k);
	return c;
}

START_TEST(record_from_conf_names_and_hash)
{
	struct buf text;
	struct encconf *c = enable_conf(&text);
	struct node_record r;
	char sha[65], *json = NULL;

	ck_assert_int_eq(node_record_from_conf(&r, "ncn-m001", c, text.data, text.len, 1796078960, "9.9"), 0);
	ck_assert_uint_eq(r.n_names, 2);
	ck_assert_str_eq(r.names[0].name, NAMEA);
	ck_assert_int_eq(r.names[0].kind, ENCCONF_AESCBC);
	ck_assert_str_eq(r.names[1].name, "identity");
	tu_sha256_hex(sha, text.data, text.len);
	ck_assert_str_eq(r.sha256, sha);
	ck_assert_int_eq(node_record_encode(&json, &r), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"write\":{\"provider\":\"aescbc\",\"name\":\"" NAMEA "\"}"));
	ck_assert_ptr_nonnull(strstr(json, "\"changed\":\"2026-11-30T22:49:20Z\""));
	/* no key material: the key, its base64, its hex */
	ck_assert_ptr_null(strstr(json, KEY32A));
	ck_assert_ptr_null(strstr(json, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"));
	ck_assert_ptr_null(strstr(json, "30313233343536373839616263646566"));
	free(json);
	node_record_release(&r);
	encconf_free(c);
	buf_release(&text);
}
END_TEST

START_TEST(record_round_trip)
{
	struct buf text;
	struct encconf *c = enable_conf(&text);
	struct node_record a, b = { 0 };
	char *json = NULL;

	ck_assert_int_eq(node_record_from_conf(&a, "ncn-m002", c, text.data, text.len, 5, "0.1.0"), 0);
	ck_assert_int_eq(node_record_encode(&json, &a), 0);
	ck_assert_int_eq(node_record_decode(&b, (const uint8_t *)json, strlen(json), "k"), 0);
	ck_assert_str_eq(b.node, "ncn-m002");
	ck_assert_int_eq(b.changed, 5);
	ck_assert(node_record_same(&a, &b));
	ck_assert(node_name_eq(node_record_write(&a), node_record_write(&b)));
	free(json);
	node_record_release(&a);
	node_record_release(&b);
	encconf_free(c);
	buf_release(&text);
}
END_TEST

START_TEST(record_decode_refuses)
{
	static const char *const bad[] = {
		"not json",
		"{}",
		"{\"schema\":\"etcdcrypt.node/v2\",\"node\":\"a\",\"names\":[]}",
		"{\"schema\":\"etcdcrypt.node/v1\",\"node\":\"../x\",\"names\":[]}",
		"{\"schema\":\"etcdcrypt.node/v1\",\"node\":\"a\",\"names\":{}}",
		"{\"schema\":\"etcdcrypt.node/v1\",\"node\":\"a\",\"names\":[{\"provider\":\"rot13\",\"name\":\"x\"}]}",
	};
	struct node_record r = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(node_record_decode(&r, (const uint8_t *)bad[i], strlen(bad[i]), "/etcdcrypt/nodes/a"),
				 ERR_CORRUPT);
		ck_assert_ptr_nonnull(strstr(err_msg(), "/etcdcrypt/nodes/a"));
	}
}
END_TEST

START_TEST(node_names)
{
	ck_assert(node_name_valid("ncn-m001"));
	ck_assert(node_name_valid("a.b_c-9"));
	ck_assert(!node_name_valid(""));
	ck_assert(!node_name_valid(".hidden"));
	ck_assert(!node_name_valid("a/b"));
	ck_assert(!node_name_valid("a b"));
	ck_assert(!node_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}
END_TEST

static void setup_dir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/etcdcrypt-node.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown_dir(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.' || strncmp(e->d_name, ".current", 8) == 0;
	closedir(d);
	return n;
}

START_TEST(install_keeps_previous)
{
	char dir[300], path[NODE_PATH_MAX], backup[NODE_PATH_MAX], latest[NODE_PATH_MAX];
	struct buf b;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/enc", tmpdir);
	buf_init(&b, 0);
	ck_assert_int_eq(node_latest_backup(latest, tmpdir), ERR_NOTFOUND);
	ck_assert_int_eq(node_install(backup, dir, "one\n", 4, 1796078960), 0);
	ck_assert_str_eq(backup, "");
	node_config_path(path, dir);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(node_install(backup, dir, "two\n", 4, 1796078960), 0);
	ck_assert_ptr_nonnull(strstr(backup, "current.yaml.20261130T224920Z"));
	ck_assert_int_eq(node_read_file(&b, backup, 100, NULL), 0);
	ck_assert(b.len == 4 && memcmp(b.data, "one\n", 4) == 0);
	ck_assert_int_eq(node_read_file(&b, path, 100, NULL), 0);
	ck_assert(b.len == 4 && memcmp(b.data, "two\n", 4) == 0);
	/* same second: a distinct name, and it is the newest */
	ck_assert_int_eq(node_install(backup, dir, "three\n", 6, 1796078960), 0);
	ck_assert_ptr_nonnull(strstr(backup, "current.yaml.20261130T224920Z.1"));
	ck_assert_int_eq(node_latest_backup(latest, dir), 0);
	ck_assert_str_eq(latest, backup);
	ck_assert_uint_eq(count_files(dir), 3); /* current.yaml and two kept files, no temporary */
	ck_assert_int_eq(node_read_file(&b, path, 3, NULL), ERR_CONFIG); /* over the cap */
	buf_release(&b);
}
END_TEST

START_TEST(install_refuses_a_symlink)
{
	char dir[300], path[NODE_PATH_MAX], backup[NODE_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/enc", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	node_config_path(path, dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	ck_assert_int_eq(node_install(backup, dir, "x\n", 2, 1), ERR_IO);
	ck_assert_ptr_nonnull(strstr(err_msg(), "not a regular file"));
}
END_TEST

START_TEST(rwrec_error_with_any_bytes)
{
	struct node_rwrec r = { .node = "ncn-m001", .state = NODE_RW_FAILED, .write_provider = "aescbc",
				.write_name = NAMEA };
	char *text = NULL;
	json_t *o;
	json_error_t je;

	snprintf(r.error, sizeof(r.error), "txn on '/registry/secrets/a\xff\xfe\x1b]0;x\x07': deadline exceeded");
	ck_assert_int_eq(node_rwrec_encode(&text, &r), 0);
	ck_assert_ptr_nonnull(o = json_loads(text, 0, &je));
	ck_assert_str_eq(json_string_value(json_object_get(o, "error")),
			 "txn on '/registry/secrets/a???]0;x?': deadline exceeded");
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "failed");
	json_decref(o);
	free(text);
}
END_TEST

/* An interrupted controller's record says so (restart keeps waiting on it). */
START_TEST(rwrec_interrupted_state)
{
	struct node_rwrec r = { .node = "ncn-m001", .state = NODE_RW_INTERRUPTED, .write_provider = "aescbc",
				.write_name = NAMEA };
	char *text = NULL;
	json_t *o;
	json_error_t je;

	ck_assert_str_eq(node_rw_state_name(NODE_RW_INTERRUPTED), "interrupted");
	ck_assert_int_eq(node_rwrec_encode(&text, &r), 0);
	ck_assert_ptr_nonnull(o = json_loads(text, 0, &je));
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "interrupted");
	json_decref(o);
	free(text);
}
END_TEST

static Suite *node_suite(void)
{
	Suite *s = suite_create("node");
	TCase *r = tcase_create("record");
	TCase *f = tcase_create("install");

	tcase_add_test(r, record_from_conf_names_and_hash);
	tcase_add_test(r, record_round_trip);
	tcase_add_test(r, record_decode_refuses);
	tcase_add_test(r, node_names);
	tcase_add_test(r, rwrec_error_with_any_bytes);
	tcase_add_test(r, rwrec_interrupted_state);
	suite_add_tcase(s, r);
	tcase_add_checked_fixture(f, setup_dir, teardown_dir);
	tcase_add_test(f, install_keeps_previous);
	tcase_add_test(f, install_refuses_a_symlink);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	return tu_run(node_suite());
}
