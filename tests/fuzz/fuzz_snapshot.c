/* fuzz_snapshot: libFuzzer target over the offline snapshot reader
 * (core/bolt + core/snapshot) on an in-memory buffer: open, hash, index,
 * visit every key. Any input must end in 0 or a clean error code; the
 * sanitizers catch reads outside the buffer, overflows and leaks. */
#include "bolt/bolt.h"
#include "base/err.h"
#include "bolt/snapshot.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int visit(void *arg, const struct snap_kv *kv)
{
	uint64_t *sum = arg;

	/* touch every byte handed out, so out-of-bounds pointers are caught */
	for (size_t i = 0; i < kv->key_len; i++)
		*sum += kv->key[i];
	for (size_t i = 0; i < kv->value_len; i++)
		*sum += kv->value[i];
	return 0;
}

static int touch(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags)
{
	uint64_t *sum = arg;

	(void)flags;
	for (size_t i = 0; i < kn; i++)
		*sum += k[i];
	for (size_t i = 0; i < vn; i++)
		*sum += v[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy, so that the reader only sees [copy, copy + size) */
	uint8_t *copy = malloc(size ? size : 1);
	struct snap *s = NULL;
	struct bolt *b = NULL;
	struct bolt_bucket root, bk;
	uint64_t sum = 0;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (snap_open_mem(&s, copy, size) == 0 && snap_check_trailer(s, NULL, NULL) == 0 &&
	    snap_index(s, NULL, NULL) == 0) {
		snap_foreach_key(s, NULL, 0, SNAP_ORDER_KEY, visit, &sum);
		snap_foreach_key(s, (const uint8_t *)"/registry/", 10, SNAP_ORDER_FILE, visit, &sum);
	}
	snap_free(s);
	/* the generic bucket paths too: every top-level bucket, looked up by name */
	if (bolt_open_mem(&b, copy, size) == 0) {
		bolt_root(b, &root);
		bolt_foreach(b, &root, touch, &sum);
		if (bolt_bucket(b, &root, "meta", &bk) == 0)
			bolt_foreach(b, &bk, touch, &sum);
	}
	bolt_close(b);
	free(copy);
	err_clear();
	return sum == 0xFFFFFFFFFFFFFFFFULL; /* keep sum alive */
}
