/* bolt: read-only bbolt reader over a mapping; see bolt.h.
 *
 * It does not write, lock, repair, or read the freelist, and it never scans
 * pages linearly (freed pages keep stale contents): it only walks from the
 * root. Integers are little-endian (the writer's native order on every
 * platform etcd ships for except s390x). Format version 2 (docs/formats.md §1):
 *
 * Page header, at the start of every page (page n at n * page_size):
 *   offset  size  field
 *   0       8     id        page id; equals n (inline pages: 0)
 *   8       2     flags     0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
 *   10      2     count     elements in the page
 *   12      4     overflow  extra contiguous pages of this node (run = overflow+1 pages)
 *
 * Meta page (pages 0 and 1), meta struct at page offset 16:
 *   16  4 magic 0xED0CDAED      20 4 version 2         24 4 page_size
 *   28  4 flags                 32 8 root bucket pgid  40 8 root sequence
 *   48  8 freelist pgid         56 8 pgid (hwm)        64 8 txid
 *   72  8 checksum: FNV-1a 64 of bytes [16, 72)
 *   Use the valid meta with the larger txid, else the other valid one.
 *   Page size: meta 0's field if meta 0 is valid, else the offset 1024 << i
 *   (i = 0..14) at which a valid meta 1 says that page size.
 *
 * Branch element (16 bytes, at page offset 16 + 16 * i):
 *   0 4 pos (from this element to its key)   4 4 ksize   8 8 child pgid
 *   The key is the smallest key of the child subtree.
 *
 * Leaf element (16 bytes, at page offset 16 + 16 * i):
 *   0 4 flags (0x01: value is a bucket header)   4 4 pos   8 4 ksize   12 4 vsize
 *   key at element + pos, value right after the key.
 *
 * Bucket header (value of a bucket element; also meta.root):
 *   0 8 root pgid (0: inline)   8 8 sequence
 *   Inline: a leaf page image (page header + elements + data) follows at
 *   value offset 16; element offsets are relative to that image. */
#include "bolt.h"
#include "base/err.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOLT_MAGIC 0xED0CDAEDu
#define BOLT_VERSION 2u
#define PAGE_HDR 16u
#define ELEM_SIZE 16u
#define META_OFF 16u
#define META_END 80u /* meta struct ends at page offset 80 */
#define PF_BRANCH 0x01u
#define PF_LEAF 0x02u
#define MIN_PAGE 512u
#define MAX_PAGE (1u << 26)

struct bolt {
	const uint8_t *map;
	size_t size;
	int mapped;
	uint32_t page_size;
	uint64_t hwm, root, txid;
	int meta_page, metas_valid;
};

/* One node: a page run or an inline page image. */
struct node {
	const uint8_t *p;
	size_t len;
	uint64_t pgid;   /* 0 for inline */
	uint64_t off;    /* file offset of p */
	uint16_t flags, count;
	int is_inline;
};

struct meta {
	uint32_t magic, version, page_size;
	uint64_t root, pgid, txid, checksum;
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* 1 if the meta page at off is valid (and fills *m), else 0. */
static int meta_at(const struct bolt *b, uint64_t off, struct meta *m)
{
	const uint8_t *p;

	if (off > b->size || b->size - off < META_END)
		return 0;
	p = b->map + off;
	m->magic = le32(p + 16);
	m->version = le32(p + 20);
	m->page_size = le32(p + 24);
	m->root = le64(p + 32);
	m->pgid = le64(p + 56);
	m->txid = le64(p + 64);
	m->checksum = le64(p + 72);
	return m->magic == BOLT_MAGIC && m->version == BOLT_VERSION && m->checksum == fnv1a64(p + META_OFF, 56);
}

static int page_size_ok(uint32_t ps)
{
	return ps >= MIN_PAGE && ps <= MAX_PAGE && (ps & (ps - 1)) == 0;
}

/* Finds the page size and both metas (docs/formats.md §1). */
static int read_metas(struct bolt *b, struct meta *m0, struct meta *m1, int *v0, int *v1)
{
	*v0 = meta_at(b, 0, m0) && page_size_ok(m0->page_size);
	*v1 = 0;
	if (*v0) {
		b->page_size = m0->page_size;
		*v1 = meta_at(b, b->page_size, m1) && m1->page_size == b->page_size;
		return 0;
	}
	for (int i = 0; i <= 14; i++) {
		uint32_t off = 1024u << i;

		if ((size_t)off >= b->size)
			break;
		if (meta_at(b, off, m1) && m1->page_size == off) {
			b->page_size = off;
			*v1 = 1;
			return 0;
		}
	}
	if (b->size >= 20 && memcmp(b->map + 16, "\xED\x0C\xDA\xED", 4) == 0 &&
	    !(m0->magic == BOLT_MAGIC))
		return err_set(ERR_CORRUPT, "big-endian bbolt file (written on a big-endian machine such as s390x): "
					    "only little-endian files can be read");
	return err_set(ERR_CORRUPT, "not a bbolt database: both meta pages are invalid (bad magic, version or checksum)");
}

static int load(struct bolt *b)
{
	struct meta m0 = { 0 }, m1 = { 0 }, *m;
	int v0, v1, rc;

	if (b->size < META_END)
		return err_set(ERR_CORRUPT, "file is %zu bytes: too short for a bbolt database", b->size);
	if ((rc = read_metas(b, &m0, &m1, &v0, &v1)) < 0)
		return rc;
	b->metas_valid = v0 | v1 << 1;
	m = v0 && (!v1 || m0.txid >= m1.txid) ? &m0 : &m1;
	b->meta_page = m == &m0 ? 0 : 1;
	b->hwm = m->pgid;
	b->root = m->root;
	b->txid = m->txid;
	if (b->hwm < 3 || b->hwm > UINT64_MAX / b->page_size)
		return err_set(ERR_CORRUPT, "meta page %d: bad page count %llu", b->meta_page, (unsigned long long)b->hwm);
	if (b->hwm * b->page_size > b->size)
		return err_set(ERR_CORRUPT,
			       "truncated: reading stopped at offset %zu (end of file) but the database needs %llu bytes "
			       "(%llu pages of %u)",
			       b->size, (unsigned long long)(b->hwm * b->page_size), (unsigned long long)b->hwm,
			       b->page_size);
	if (b->root < 2 || b->root >= b->hwm)
		return err_set(ERR_CORRUPT, "meta page %d: root page %llu outside the database (%llu pages)",
			       b->meta_page, (unsigned long long)b->root, (unsigned long long)b->hwm);
	return 0;
}

int bolt_open_mem(struct bolt **out, const uint8_t *p, size_t n)
{
	struct bolt *b = calloc(1, sizeof(*b));
	int rc;

	*out = NULL;
	if (b == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	b->map = p;
	b->size = n;
	if ((rc = load(b)) < 0) {
		free(b);
		return rc;
	}
	*out = b;
	return 0;
}

int bolt_open_fd(struct bolt **out, int fd, const char *name)
{
	struct stat st;
	void *map = MAP_FAILED;
	int rc = 0;

	*out = NULL;
	if (fstat(fd, &st) < 0)
		return err_set(ERR_IO, "cannot stat '%s': %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(ERR_IO, "'%s' is not a regular file", name);
	if (st.st_size < (off_t)META_END)
		return err_set(ERR_CORRUPT, "%lld bytes: too short for a bbolt database", (long long)st.st_size);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return err_set(ERR_IO, "cannot map '%s': %s", name, strerror(errno));
	if ((rc = bolt_open_mem(out, map, (size_t)st.st_size)) < 0) {
		munmap(map, (size_t)st.st_size);
		return rc;
	}
	(*out)->mapped = 1;
	return 0;
}

int bolt_open(struct bolt **out, const char *path)
{
	int fd, rc;

	*out = NULL;
	if ((rc = file_open_regular(&fd, path, "snapshot", ERR_IO)) < 0)
		return rc;
	rc = bolt_open_fd(out, fd, path);
	close(fd);
	return rc;
}

void bolt_close(struct bolt *b)
{
	if (b == NULL)
		return;
	if (b->mapped)
		munmap((void *)b->map, b->size);
	free(b);
}

const uint8_t *bolt_bytes(const struct bolt *b, size_t *len)
{
	*len = b->size;
	return b->map;
}

void bolt_get_info(const struct bolt *b, struct bolt_info *out)
{
	out->page_size = b->page_size;
	out->hwm = b->hwm;
	out->txid = b->txid;
	out->meta_page = b->meta_page;
	out->metas_valid = b->metas_valid;
	out->db_bytes = b->hwm * b->page_size;
}

void bolt_drop_resident(const struct bolt *b, uint64_t off, uint64_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t start, end;

	if (!b->mapped || pg <= 0 || off >= b->size)
		return;
	end = len == 0 || len > b->size - off ? b->size : off + len;
	start = off - off % (uint64_t)pg; /* the mapping starts page-aligned */
	madvise((void *)(b->map + start), (size_t)(end - start), MADV_DONTNEED);
}

void bolt_advise_willneed(const struct bolt *b, uint64_t off, uint64_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t start, end;

	if (!b->mapped || pg <= 0 || off >= b->size)
		return;
	end = len > b->size - off ? b->size : off + len;
	start = off - off % (uint64_t)pg;
	madvise((void *)(b->map + start), (size_t)(end - start), MADV_WILLNEED);
}

void bolt_root(const struct bolt *b, struct bolt_bucket *out)
{
	out->root = b->root;
	out->inline_page = NULL;
	out->inline_len = 0;
}

static void where(const struct node *n, char *s, size_t cap)
{
	if (n->is_inline)
		snprintf(s, cap, "inline bucket page at offset %llu", (unsigned long long)n->off);
	else
		snprintf(s, cap, "page %llu at offset %llu", (unsigned long long)n->pgid, (unsigned long long)n->off);
}

static int node_check(struct node *n)
{
	char w[96];

	if (n->flags != PF_BRANCH && n->flags != PF_LEAF) {
		where(n, w, sizeof(w));
		return err_set(ERR_CORRUPT, "%s: flags 0x%x: not a branch or leaf page", w, n->flags);
	}
	if (n->flags == PF_BRANCH && n->count == 0) {
		where(n, w, sizeof(w));
		return err_set(ERR_CORRUPT, "%s: empty branch page", w);
	}
	if ((uint64_t)PAGE_HDR + (uint64_t)ELEM_SIZE * n->count > n->len) {
		where(n, w, sizeof(w));
		return err_set(ERR_CORRUPT, "%s: %u elements do not fit in %zu bytes", w, n->count, n->len);
	}
	return 0;
}

/* The page run of pgid; ref_off is the file offset that referenced it. */
static int node_page(const struct bolt *b, struct node *n, uint64_t pgid, uint64_t ref_off)
{
	const uint8_t *p;
	uint32_t overflow;

	if (pgid < 2 || pgid >= b->hwm)
		return err_set(ERR_CORRUPT, "page %llu (referenced at offset %llu): outside the database (%llu pages)",
			       (unsigned long long)pgid, (unsigned long long)ref_off, (unsigned long long)b->hwm);
	memset(n, 0, sizeof(*n));
	n->pgid = pgid;
	n->off = pgid * b->page_size;
	p = b->map + n->off;
	if (le64(p) != pgid)
		return err_set(ERR_CORRUPT, "page %llu at offset %llu: header says page %llu", (unsigned long long)pgid,
			       (unsigned long long)n->off, (unsigned long long)le64(p));
	overflow = le32(p + 12);
	if ((uint64_t)overflow >= b->hwm - pgid)
		return err_set(ERR_CORRUPT, "page %llu at offset %llu: overflow of %u pages runs past the last page",
			       (unsigned long long)pgid, (unsigned long long)n->off, overflow);
	n->p = p;
	n->len = (size_t)(((uint64_t)overflow + 1) * b->page_size);
	n->flags = le16(p + 8);
	n->count = le16(p + 10);
	return node_check(n);
}

static int node_inline(const struct bolt *b, struct node *n, const uint8_t *p, size_t len)
{
	memset(n, 0, sizeof(*n));
	n->is_inline = 1;
	n->p = p;
	n->len = len;
	n->off = (uint64_t)(p - b->map);
	if (len < PAGE_HDR)
		return err_set(ERR_CORRUPT, "inline bucket page at offset %llu: %zu bytes, shorter than a page header",
			       (unsigned long long)n->off, len);
	n->flags = le16(p + 8);
	n->count = le16(p + 10);
	if (n->flags != PF_LEAF) {
		char w[96];

		where(n, w, sizeof(w));
		return err_set(ERR_CORRUPT, "%s: flags 0x%x: an inline bucket must be a leaf", w, n->flags);
	}
	return node_check(n);
}

/* Element i of a leaf: bounds-checked key and value. */
static int leaf_elem(const struct node *n, unsigned i, const uint8_t **k, size_t *kn, const uint8_t **v, size_t *vn,
		     uint32_t *flags)
{
	size_t eo = PAGE_HDR + (size_t)ELEM_SIZE * i;
	const uint8_t *e = n->p + eo;
	uint32_t pos = le32(e + 4), ks = le32(e + 8), vs = le32(e + 12);

	if ((uint64_t)eo + pos + ks + vs > n->len) {
		char w[96];

		where(n, w, sizeof(w));
		return err_set(ERR_CORRUPT, "%s: element %u at offset %llu points past the end of the page "
					    "(pos %u, key %u, value %u bytes)",
			       w, i, (unsigned long long)(n->off + eo), pos, ks, vs);
	}
	*flags = le32(e);
	*k = e + pos;
	*kn = ks;
	*v = e + pos + ks;
	*vn = vs;
	return 0;
}

static int branch_elem(const struct node *n, unsigned i, const uint8_t **k, size_t *kn, uint64_t *child,
		       uint64_t *elem_off)
{
	size_t eo = PAGE_HDR + (size_t)ELEM_SIZE * i;
	const uint8_t *e = n->p + eo;
	uint32_t pos = le32(e), ks = le32(e + 4);

	*elem_off = n->off + eo;
	if ((uint64_t)eo + pos + ks > n->len) {
		char w[96];

		where(n, w, sizeof(w));
		return err_set(ERR_CORRUPT, "%s: element %u at offset %llu points past the end of the page "
					    "(pos %u, key %u bytes)",
			       w, i, (unsigned long long)*elem_off, pos, ks);
	}
	*k = e + pos;
	*kn = ks;
	*child = le64(e + 8);
	return 0;
}

static int bucket_node(const struct bolt *b, struct node *n, const struct bolt_bucket *bk)
{
	if (bk->root == 0)
		return node_inline(b, n, bk->inline_page, bk->inline_len);
	return node_page(b, n, bk->root, 0);
}

struct walk {
	const struct bolt *b;
	bolt_fn fn;
	void *arg;
	uint64_t visits;
};

static int walk_node(struct walk *w, const struct node *n, int depth);

static int walk_page(struct walk *w, uint64_t pgid, uint64_t ref_off, int depth)
{
	struct node n;
	int rc;

	if (depth > BOLT_MAX_DEPTH)
		return err_set(ERR_CORRUPT, "page %llu (referenced at offset %llu): tree deeper than %d levels (a cycle?)",
			       (unsigned long long)pgid, (unsigned long long)ref_off, BOLT_MAX_DEPTH);
	if (++w->visits > w->b->hwm)
		return err_set(ERR_CORRUPT, "page %llu (referenced at offset %llu): more pages visited than the database "
					    "holds (a page is shared or cyclic)",
			       (unsigned long long)pgid, (unsigned long long)ref_off);
	if ((rc = node_page(w->b, &n, pgid, ref_off)) < 0)
		return rc;
	return walk_node(w, &n, depth);
}

static int walk_node(struct walk *w, const struct node *n, int depth)
{
	const uint8_t *k, *v;
	size_t kn, vn;
	uint64_t child, eo;
	uint32_t flags;
	int rc;

	for (unsigned i = 0; i < n->count; i++) {
		if (n->flags == PF_LEAF) {
			if ((rc = leaf_elem(n, i, &k, &kn, &v, &vn, &flags)) < 0 ||
			    (rc = w->fn(w->arg, k, kn, v, vn, flags)) < 0)
				return rc;
			continue;
		}
		if ((rc = branch_elem(n, i, &k, &kn, &child, &eo)) < 0 ||
		    (rc = walk_page(w, child, eo, depth + 1)) < 0)
			return rc;
	}
	return 0;
}

int bolt_foreach(const struct bolt *b, const struct bolt_bucket *bk, bolt_fn fn, void *arg)
{
	struct walk w = { .b = b, .fn = fn, .arg = arg };
	struct node n;
	int rc;

	if (bk->root != 0)
		return walk_page(&w, bk->root, 0, 0);
	if ((rc = node_inline(b, &n, bk->inline_page, bk->inline_len)) < 0)
		return rc;
	return walk_node(&w, &n, 0);
}

int bolt_bucket_from_value(const struct bolt *b, struct bolt_bucket *out, const uint8_t *v, size_t vn)
{
	memset(out, 0, sizeof(*out));
	if (vn < 16)
		return err_set(ERR_CORRUPT, "bucket header at offset %llu: %zu bytes, need 16",
			       (unsigned long long)(v - b->map), vn);
	out->root = le64(v);
	if (out->root == 0) {
		if (vn < 16 + PAGE_HDR)
			return err_set(ERR_CORRUPT, "inline bucket at offset %llu: %zu bytes, too short for a page",
				       (unsigned long long)(v - b->map), vn);
		out->inline_page = v + 16;
		out->inline_len = vn - 16;
		return 0;
	}
	if (out->root < 2 || out->root >= b->hwm)
		return err_set(ERR_CORRUPT, "bucket header at offset %llu: root page %llu outside the database (%llu pages)",
			       (unsigned long long)(v - b->map), (unsigned long long)out->root,
			       (unsigned long long)b->hwm);
	return 0;
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/* Leaf lookup of name in n: 1 found (v/vn/flags set), 0 not found. */
static int leaf_find(const struct node *n, const uint8_t *name, size_t len, const uint8_t **v, size_t *vn,
		     uint32_t *flags)
{
	const uint8_t *k;
	size_t kn;
	int rc;

	for (unsigned i = 0; i < n->count; i++) {
		if ((rc = leaf_elem(n, i, &k, &kn, v, vn, flags)) < 0)
			return rc;
		if (key_cmp(k, kn, name, len) == 0)
			return 1;
	}
	return 0;
}

int bolt_bucket(const struct bolt *b, const struct bolt_bucket *parent, const char *name, struct bolt_bucket *out)
{
	size_t len = strlen(name), kn, vn;
	const uint8_t *k, *v;
	uint64_t child = 0, eo = 0, pick, pick_off;
	uint32_t flags;
	struct node n;
	int rc;

	if ((rc = bucket_node(b, &n, parent)) < 0)
		return rc;
	for (int depth = 0; n.flags == PF_BRANCH; depth++) {
		if (depth >= BOLT_MAX_DEPTH)
			return err_set(ERR_CORRUPT, "page %llu: tree deeper than %d levels (a cycle?)",
				       (unsigned long long)n.pgid, BOLT_MAX_DEPTH);
		pick = 0;
		pick_off = 0;
		for (unsigned i = 0; i < n.count; i++) {
			if ((rc = branch_elem(&n, i, &k, &kn, &child, &eo)) < 0)
				return rc;
			if (i > 0 && key_cmp(k, kn, (const uint8_t *)name, len) > 0)
				break;
			pick = child;
			pick_off = eo;
		}
		if ((rc = node_page(b, &n, pick, pick_off)) < 0)
			return rc;
	}
	if ((rc = leaf_find(&n, (const uint8_t *)name, len, &v, &vn, &flags)) < 0)
		return rc;
	if (rc == 0)
		return err_set(ERR_NOTFOUND, "no bucket '%s'", name);
	if (!(flags & BOLT_FLAG_BUCKET))
		return err_set(ERR_CORRUPT, "'%s' at offset %llu is a key, not a bucket", name,
			       (unsigned long long)(v - b->map));
	return bolt_bucket_from_value(b, out, v, vn);
}
