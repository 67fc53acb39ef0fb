/* bolt: a read-only reader of bbolt database files (etcd's backend).
 *
 * The file is mmapped, never read into memory; every key and value handed
 * out points into the mapping and lives as long as the struct bolt. It reads
 * the on-disk format version 2 as laid out at the top of bolt.c (docs/formats.md
 * §1): meta pages chosen by checksum and txid, branch and leaf pages,
 * overflow runs, inline and nested buckets. Every offset is checked against
 * the page run and the mapped size; a damaged file gives ERR_CORRUPT with
 * one line naming the page id and the byte offset, never a crash and never
 * an endless walk (depth and page-visit limits catch cycles and shared
 * pages).
 *
 * Only little-endian files (amd64, arm64, ppc64le writers) are read; a file
 * written on a big-endian machine (s390x) is refused with a message saying
 * so. The reader itself decodes byte by byte, so it runs on any host. It
 * never writes, never takes bbolt's flock, and ignores the freelist. */
#ifndef ETCDCRYPT_BOLT_H
#define ETCDCRYPT_BOLT_H

#include <stddef.h>
#include <stdint.h>

#define BOLT_MAX_DEPTH 64         /* deeper trees are corrupt (or cyclic) */
#define BOLT_FLAG_BUCKET 0x01u    /* leaf element flag: value is a bucket header */

struct bolt;

/* A bucket to iterate: a tree rooted at a page, or an inline leaf image.
 * Borrowed from the struct bolt it came from. */
struct bolt_bucket {
	uint64_t root;             /* 0: inline */
	const uint8_t *inline_page; /* inline only: page image (header + elements) */
	size_t inline_len;
};

/* What the open found (for reports and tests). */
struct bolt_info {
	uint32_t page_size;
	uint64_t hwm;         /* pages in use (meta pgid) */
	uint64_t txid;
	int meta_page;        /* 0 or 1: the meta used */
	int metas_valid;      /* bit 0: meta 0 valid, bit 1: meta 1 valid */
	uint64_t db_bytes;    /* hwm * page_size */
};

/* Maps path read-only (the whole file) and reads its meta pages. ERR_IO when
 * the file cannot be opened or mapped, ERR_CORRUPT when it is not a usable
 * bbolt file (both metas invalid, big-endian, too short, truncated below
 * hwm * page_size: the message names the offset where the file ends).
 * ERR_IO messages name path; ERR_CORRUPT ones do not (callers put the file
 * in front, as for bolt_open_mem). */
int bolt_open(struct bolt **out, const char *path);

/* Same over an open file (read from offset 0; the mapping outlives fd, which
 * the caller still owns and may close). name is for the ERR_IO messages. */
int bolt_open_fd(struct bolt **out, int fd, const char *name);

/* Same over bytes the caller keeps alive and unchanged until bolt_close. */
int bolt_open_mem(struct bolt **out, const uint8_t *p, size_t n);

/* Unmaps (bolt_open) and frees. NULL-safe. */
void bolt_close(struct bolt *b);

/* The whole mapped file (borrowed), e.g. for hashing. */
const uint8_t *bolt_bytes(const struct bolt *b, size_t *len);

void bolt_get_info(const struct bolt *b, struct bolt_info *out);

/* Lets the kernel drop this process's mapping of [off, off + len) (the
 * whole file when len is 0): the pages stay in the page cache and fault back
 * in when touched, so resident memory stays bounded on huge files. Pointers
 * handed out stay valid. No-op for bolt_open_mem. */
void bolt_drop_resident(const struct bolt *b, uint64_t off, uint64_t len);
/* Asks the kernel to read [off, off+len) of a mapped file ahead (no-op in
 * memory); only a hint. */
void bolt_advise_willneed(const struct bolt *b, uint64_t off, uint64_t len);

/* The root bucket (whose elements are the top-level buckets). */
void bolt_root(const struct bolt *b, struct bolt_bucket *out);

/* The sub-bucket `name` of parent. ERR_NOTFOUND if there is no such key,
 * ERR_CORRUPT if the key exists but is not a bucket or its header is bad. */
int bolt_bucket(const struct bolt *b, const struct bolt_bucket *parent, const char *name, struct bolt_bucket *out);

/* Called for each element in ascending key order. k/v point into the
 * mapping. flags has BOLT_FLAG_BUCKET for sub-buckets (v is then the bucket
 * header). Return <0 to stop the walk with that code. */
typedef int (*bolt_fn)(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags);

/* In-order walk of every element of bk. Returns 0, the callback's negative
 * code, or ERR_CORRUPT naming the page and offset. */
int bolt_foreach(const struct bolt *b, const struct bolt_bucket *bk, bolt_fn fn, void *arg);

/* Converts a sub-bucket element value (flags & BOLT_FLAG_BUCKET) into a
 * bolt_bucket. ERR_CORRUPT when the header is bad. */
int bolt_bucket_from_value(const struct bolt *b, struct bolt_bucket *out, const uint8_t *v, size_t vn);

#endif
