/* snapshot: etcd snapshot files over core/bolt; see snapshot.h.
 *
 * It does not restore, rewrite membership or read the lease/auth buckets
 * beyond counting them. Layouts (docs/formats.md §2):
 *
 * File:
 *   [0, db_bytes)        bbolt database (hwm * page_size bytes)
 *   [db_bytes, size)     32-byte SHA-256 of [0, db_bytes), when size % 512 == 32
 *
 * `key` bucket key (revision), integers big-endian:
 *   offset  size  field
 *   0       8     main revision (signed, >= 0)
 *   8       1     '_' (0x5F)
 *   9       8     sub revision
 *   17      1     't' (0x74): tombstone; present only in 18-byte keys
 *   Bytewise order == (main, sub) order, so the walk sees revisions ascending.
 *
 * `key` bucket value: mvccpb.KeyValue (proto3):
 *   1 key bytes   2 create_revision   3 mod_revision   4 version
 *   5 value bytes 6 lease             (a tombstone holds only field 1)
 *
 * `meta` bucket: finishedCompactRev / scheduledCompactRev = 17-byte revision
 * keys as above (main = the compaction revision). */
#include "snapshot.h"
#include "base/err.h"
#include "xform/digest.h"
#include "base/pbwire.h"
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HASH_CHUNK ((size_t)16 << 20)
#define HASH_READ ((size_t)4 << 20) /* the hasher's read() size */
#define RESIDENT_MIN ((uint64_t)64 << 20)  /* the least mapped in before dropping */
#define RESIDENT_CHECK ((uint64_t)1 << 20) /* bytes read between checks */
#define ENC_PREFIX "k8s:enc:"
#define ENC_PREFIX_LEN 8

enum {
	F_NEWEST_TOMB = 1u << 0,
	F_NEWEST_PLAIN = 1u << 1,
	F_SAW_TOMB = 1u << 2,
	F_RECREATED = 1u << 3,
	F_KEY_FIRST = 1u << 4, /* the newest KeyValue's first field is its key */
};

/* The index holds one struct snap_ent per user key (20 bytes) and, only for
 * a key with more than one entry, one struct snap_hist (20 bytes). Both live
 * in fixed blocks of ENT_BLOCK records: growing never copies or doubles what
 * is there. The key, its newest KeyValue and that entry's main revision are
 * not copied: they are re-read from the mapping (a leaf element's value
 * follows its key, so the KeyValue starts 17 or 18 bytes after the revision
 * key; field 1, the user key, comes first in etcd's encoding). The hash
 * table holds uint32 entry numbers (+1), at most 3/4 full. */
#define ENT_SHIFT 12
#define ENT_BLOCK ((size_t)1 << ENT_SHIFT)
#define OFF_MAX (((uint64_t)1 << 48) - 1)

struct snap_ent {
	uint32_t off_lo;  /* newest entry's revision key: map offset, low 32 bits */
	uint16_t off_hi;  /* high 16 bits */
	uint8_t flags;
	uint8_t unused;
	uint32_t kv_len;  /* its KeyValue's length */
	uint32_t hash;    /* of the user key */
	uint32_t hist;    /* struct snap_hist number + 1; 0: one entry, whose flags say all */
};

struct snap_hist {
	uint32_t puts, deletes, plain_puts;
	uint32_t oldest_lo, oldest_hi; /* oldest plain put's main revision (0: none) */
};

/* Records of `size` bytes in blocks of ENT_BLOCK. */
struct blocks {
	uint8_t **b;
	size_t n, cap; /* blocks in use / slots in b */
	size_t size;
};

struct snap {
	struct bolt *b;
	const uint8_t *map;
	struct snap_info info;
	struct blocks ents, hists;
	size_t n, n_hist; /* entries, history records */
	uint32_t *table;  /* entry index + 1; 0 empty */
	size_t tcap;      /* power of two */
	int indexed;
	uint64_t touched; /* mapped bytes read since the last residency check */
	int statm_fd;     /* /proc/self/statm: -1 not opened yet, -2 unavailable */
	uint64_t resident_max; /* mapped file bytes kept before dropping them */
	snap_progress_fn progress;
	void *parg;
	/* snap_trailer_start: the hash runs on its own thread */
	int fd;       /* the file, for the hasher's reads; -1 in memory */
	pthread_t hasher;
	int hashing; /* hasher started, not joined yet */
	int hash_rc;
	char hash_err[256]; /* its message: err messages are per thread */
	uint8_t hash_out[SNAP_TRAILER];
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t key_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return (uint32_t)(h ^ h >> 32);
}

/* ---- index storage ------------------------------------------------------ */

static void *blocks_at(const struct blocks *bl, size_t i)
{
	return bl->b[i >> ENT_SHIFT] + (i & (ENT_BLOCK - 1)) * bl->size;
}

/* Room for record i (the next one): a new block when the last is full. */
static int blocks_reserve(struct blocks *bl, size_t i)
{
	if ((i >> ENT_SHIFT) < bl->n)
		return 0;
	if (bl->n == bl->cap) {
		size_t ncap = bl->cap ? bl->cap * 2 : 16;
		uint8_t **nb = realloc(bl->b, ncap * sizeof(*nb));

		if (nb == NULL)
			return err_set(ERR_NOMEM, "out of memory (index of %zu keys)", i);
		bl->b = nb;
		bl->cap = ncap;
	}
	if ((bl->b[bl->n] = malloc(ENT_BLOCK * bl->size)) == NULL)
		return err_set(ERR_NOMEM, "out of memory (index of %zu keys)", i);
	bl->n++;
	return 0;
}

static size_t blocks_bytes(const struct blocks *bl)
{
	return bl->n * ENT_BLOCK * bl->size + bl->cap * sizeof(*bl->b);
}

static void blocks_free(struct blocks *bl)
{
	for (size_t i = 0; i < bl->n; i++)
		free(bl->b[i]);
	free(bl->b);
	memset(bl, 0, sizeof(*bl));
}

static struct snap *snap_new(void)
{
	struct snap *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->statm_fd = -1;
	s->resident_max = RESIDENT_MIN;
	s->ents.size = sizeof(struct snap_ent);
	s->hists.size = sizeof(struct snap_hist);
	return s;
}

/* ---- open ------------------------------------------------------------- */

static int check_layout(struct snap *s)
{
	struct snap_info *in = &s->info;
	size_t len;

	s->map = bolt_bytes(s->b, &len);
	bolt_get_info(s->b, &in->bolt);
	in->size = len;
	in->has_trailer = len % 512 == SNAP_TRAILER;
	in->db_bytes = in->has_trailer ? len - SNAP_TRAILER : len;
	if (in->has_trailer)
		memcpy(in->expected, s->map + in->db_bytes, SNAP_TRAILER);
	if (in->bolt.db_bytes > in->db_bytes)
		return err_set(ERR_CORRUPT,
			       "truncated: reading stopped at offset %llu (start of the trailer) but the database needs "
			       "%llu bytes (%llu pages of %u)",
			       (unsigned long long)in->db_bytes, (unsigned long long)in->bolt.db_bytes,
			       (unsigned long long)in->bolt.hwm, in->bolt.page_size);
	if (!in->has_trailer)
		in->extra_bytes = in->db_bytes % in->bolt.page_size;
	return 0;
}

static int finish_open(struct snap **out, struct snap *s)
{
	int rc = check_layout(s);

	if (rc < 0) {
		snap_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int snap_open(struct snap **out, const char *path)
{
	struct snap *s = snap_new();
	int rc, fd = -1;

	*out = NULL;
	if (s == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = file_open_regular(&fd, path, "snapshot", ERR_IO)) < 0) {
		free(s);
		return rc;
	}
	if ((rc = bolt_open_fd(&s->b, fd, path)) < 0) {
		close(fd);
		free(s);
		return rc;
	}
	s->fd = fd; /* kept for the hasher's reads */
	return finish_open(out, s);
}

int snap_open_fd(struct snap **out, int fd, const char *name)
{
	struct snap *s = snap_new();
	int rc;

	*out = NULL;
	if (s == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if ((rc = bolt_open_fd(&s->b, fd, name)) < 0) {
		free(s);
		return rc;
	}
	s->fd = dup(fd); /* -1: the hasher reads the mapping */
	return finish_open(out, s);
}

int snap_open_mem(struct snap **out, const uint8_t *p, size_t n)
{
	struct snap *s = snap_new();
	int rc;

	*out = NULL;
	if (s == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	s->statm_fd = -2; /* memory: nothing to drop */
	s->fd = -1;
	if ((rc = bolt_open_mem(&s->b, p, n)) < 0) {
		free(s);
		return rc;
	}
	return finish_open(out, s);
}

void snap_free(struct snap *s)
{
	if (s == NULL)
		return;
	if (s->hashing)
		snap_trailer_wait(s);
	if (s->statm_fd >= 0)
		close(s->statm_fd);
	if (s->fd >= 0)
		close(s->fd);
	bolt_close(s->b);
	blocks_free(&s->ents);
	blocks_free(&s->hists);
	free(s->table);
	free(s);
}

const struct snap_info *snap_get_info(const struct snap *s)
{
	return &s->info;
}

size_t snap_index_bytes(const struct snap *s)
{
	return blocks_bytes(&s->ents) + blocks_bytes(&s->hists) + s->tcap * sizeof(*s->table);
}

/* ---- trailer ------------------------------------------------------------ */

int snap_check_trailer(struct snap *s, snap_progress_fn progress, void *arg)
{
	struct snap_info *in = &s->info;
	struct digest *d = NULL;
	int rc;

	if (!in->has_trailer)
		return 0;
	if ((rc = digest_sha256_new(&d)) < 0)
		return rc;
	for (uint64_t off = 0; off < in->db_bytes; off += HASH_CHUNK) {
		size_t n = in->db_bytes - off < HASH_CHUNK ? (size_t)(in->db_bytes - off) : HASH_CHUNK;

		if ((rc = digest_update(d, s->map + off, n)) < 0)
			goto out;
		bolt_drop_resident(s->b, off, n);
		if (progress)
			progress(arg, "hashing", off + n, in->db_bytes);
	}
	if ((rc = digest_final(d, in->actual)) < 0)
		goto out;
	in->trailer_checked = 1;
	in->trailer_matches = memcmp(in->actual, in->expected, SNAP_TRAILER) == 0;
out:
	digest_free(d);
	return rc;
}

/* The hasher's input from the file with read(): no page faults and no
 * mapping to drop behind it (the walk's faults and drops on the shared
 * mapping stay the walk's own); file order, with a sequential read-ahead
 * hint. */
static int hash_file(struct snap *s, struct digest *d)
{
	uint64_t off = 0, end = s->info.db_bytes;
	uint8_t *buf = malloc(HASH_READ);
	int rc = 0;

	if (buf == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	posix_fadvise(s->fd, 0, (off_t)end, POSIX_FADV_SEQUENTIAL);
	while (off < end && rc == 0) {
		size_t want = end - off < HASH_READ ? (size_t)(end - off) : HASH_READ;
		ssize_t n = pread(s->fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(ERR_IO, "reading the snapshot at offset %llu: %s", (unsigned long long)off,
				     n < 0 ? strerror(errno) : "the file ended early");
			break;
		}
		rc = digest_update(d, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/* The same over the mapping (a snapshot in memory, or no fd). */
static int hash_map(struct snap *s, struct digest *d)
{
	const struct snap_info *in = &s->info;
	int rc = 0;

	for (uint64_t off = 0; off < in->db_bytes && rc == 0; off += HASH_CHUNK) {
		size_t n = in->db_bytes - off < HASH_CHUNK ? (size_t)(in->db_bytes - off) : HASH_CHUNK;

		if (off + n < in->db_bytes)
			bolt_advise_willneed(s->b, off + n, HASH_CHUNK);
		rc = digest_update(d, s->map + off, n);
		bolt_drop_resident(s->b, off, n);
	}
	return rc;
}

/* The hasher thread. It touches nothing of s but hash_rc/hash_out (and
 * reads fd, map and info, which do not change meanwhile). */
static void *hash_thread(void *arg)
{
	struct snap *s = arg;
	struct digest *d = NULL;
	int rc;

	if ((rc = digest_sha256_new(&d)) < 0)
		goto out;
	rc = s->fd >= 0 ? hash_file(s, d) : hash_map(s, d);
	if (rc == 0)
		rc = digest_final(d, s->hash_out);
out:
	digest_free(d);
	if (rc < 0)
		snprintf(s->hash_err, sizeof(s->hash_err), "%s", err_msg());
	s->hash_rc = rc;
	return NULL;
}

int snap_trailer_start(struct snap *s)
{
	if (!s->info.has_trailer || s->hashing || s->info.trailer_checked)
		return 0;
	if (pthread_create(&s->hasher, NULL, hash_thread, s) != 0)
		return snap_check_trailer(s, NULL, NULL); /* no thread: hash now */
	s->hashing = 1;
	return 0;
}

int snap_trailer_wait(struct snap *s)
{
	struct snap_info *in = &s->info;

	if (!s->hashing)
		return 0;
	pthread_join(s->hasher, NULL);
	s->hashing = 0;
	if (s->hash_rc < 0)
		return err_set(s->hash_rc, "%s", s->hash_err);
	memcpy(in->actual, s->hash_out, SNAP_TRAILER);
	in->trailer_checked = 1;
	in->trailer_matches = memcmp(in->actual, in->expected, SNAP_TRAILER) == 0;
	return 0;
}

/* ---- index ------------------------------------------------------------- */

static void note_touched(struct snap *s, uint64_t n);

/* Decoded mvccpb.KeyValue (pointers into the map). */
struct kvpb {
	const uint8_t *key, *value;
	size_t key_len, value_len;
	int64_t create_revision, mod_revision, version, lease;
};

static int kv_decode(struct kvpb *kv, const uint8_t *p, size_t n)
{
	struct pb_reader r;
	struct pb_field f;
	int st;

	memset(kv, 0, sizeof(*kv));
	pb_init(&r, p, n);
	while ((st = pb_next(&r, &f)) == PB_FIELD) {
		int is_bytes = f.num == 1 || f.num == 5;

		if (f.num >= 1 && f.num <= 6 && (f.wire == 2) != is_bytes)
			return ERR_CORRUPT;
		switch (f.num) {
		case 1: kv->key = f.data; kv->key_len = f.len; break;
		case 2: kv->create_revision = (int64_t)f.varint; break;
		case 3: kv->mod_revision = (int64_t)f.varint; break;
		case 4: kv->version = (int64_t)f.varint; break;
		case 5: kv->value = f.data; kv->value_len = f.len; break;
		case 6: kv->lease = (int64_t)f.varint; break;
		default: break;
		}
	}
	return st == PB_END && kv->key != NULL && kv->key_len > 0 ? 0 : ERR_CORRUPT;
}

/* Whether the key kv_decode found (the last field 1) is the first field of
 * p: then ent_key reads one field instead of decoding all. */
static int key_is_first(const uint8_t *p, size_t n, const struct kvpb *kv)
{
	struct pb_reader r;
	struct pb_field f;

	pb_init(&r, p, n);
	return pb_next(&r, &f) == PB_FIELD && f.num == 1 && f.data == kv->key;
}

static struct snap_ent *ent_at(const struct snap *s, size_t i)
{
	return blocks_at(&s->ents, i);
}

static struct snap_hist *hist_of(const struct snap *s, const struct snap_ent *e)
{
	return e->hist ? blocks_at(&s->hists, e->hist - 1) : NULL;
}

static uint64_t ent_off(const struct snap_ent *e)
{
	return (uint64_t)e->off_hi << 32 | e->off_lo;
}

/* The newest entry's revision key, and its KeyValue right after it. */
static const uint8_t *ent_rev(const struct snap *s, const struct snap_ent *e)
{
	return s->map + ent_off(e);
}

static const uint8_t *ent_kv(const struct snap *s, const struct snap_ent *e)
{
	return ent_rev(s, e) + ((e->flags & F_NEWEST_TOMB) ? 18 : 17);
}

static int64_t ent_main(const struct snap *s, const struct snap_ent *e)
{
	return (int64_t)be64(ent_rev(s, e));
}

/* The user key, from the newest KeyValue (decoded once when indexed, so
 * this cannot fail). */
static const uint8_t *ent_key(const struct snap *s, const struct snap_ent *e, size_t *len)
{
	const uint8_t *p = ent_kv(s, e);
	struct pb_reader r;
	struct pb_field f;
	struct kvpb kv;

	if (e->flags & F_KEY_FIRST) {
		pb_init(&r, p, e->kv_len);
		pb_next(&r, &f);
		*len = f.len;
		return f.data;
	}
	kv_decode(&kv, p, e->kv_len);
	*len = kv.key_len;
	return kv.key;
}

static int64_t hist_oldest(const struct snap_hist *h)
{
	return (int64_t)((uint64_t)h->oldest_hi << 32 | h->oldest_lo);
}

static void hist_set_oldest(struct snap_hist *h, int64_t main)
{
	h->oldest_lo = (uint32_t)main;
	h->oldest_hi = (uint32_t)((uint64_t)main >> 32);
}

static int table_grow(struct snap *s)
{
	size_t ncap = s->tcap ? s->tcap * 2 : 1024;
	uint32_t *t = calloc(ncap, sizeof(*t));

	if (t == NULL)
		return err_set(ERR_NOMEM, "out of memory (index of %zu keys)", s->n);
	for (size_t i = 0; i < s->n; i++) {
		size_t j = ent_at(s, i)->hash & (ncap - 1);

		while (t[j] != 0)
			j = (j + 1) & (ncap - 1);
		t[j] = (uint32_t)(i + 1);
	}
	free(s->table);
	s->table = t;
	s->tcap = ncap;
	return 0;
}

/* The entry of key or NULL; *slot: its table slot, or the empty one where
 * it would go. The hash only narrows: keys are compared byte for byte. */
static struct snap_ent *ent_lookup(const struct snap *s, const uint8_t *key, size_t len, uint32_t h, size_t *slot)
{
	size_t j;

	for (j = h & (s->tcap - 1); s->table[j] != 0; j = (j + 1) & (s->tcap - 1)) {
		struct snap_ent *e = ent_at(s, s->table[j] - 1);
		const uint8_t *k;
		size_t n;

		if (e->hash != h)
			continue;
		k = ent_key(s, e, &n);
		if (n == len && memcmp(k, key, len) == 0) {
			*slot = j;
			return e;
		}
	}
	*slot = j;
	return NULL;
}

/* The entry of key; a new one (zeroed but for the hash) sets *created. */
static int ent_get(struct snap *s, struct snap_ent **out, int *created, const uint8_t *key, size_t len)
{
	uint32_t h = key_hash(key, len);
	size_t j;
	int rc;

	*created = 0;
	if ((s->n + 1) * 4 > s->tcap * 3 && (rc = table_grow(s)) < 0)
		return rc;
	if ((*out = ent_lookup(s, key, len, h, &j)) != NULL)
		return 0;
	if (s->n >= SNAP_MAX_KEYS)
		return err_set(ERR_NOMEM, "more than %u keys in the snapshot", SNAP_MAX_KEYS);
	if ((rc = blocks_reserve(&s->ents, s->n)) < 0)
		return rc;
	*out = ent_at(s, s->n);
	memset(*out, 0, sizeof(**out));
	(*out)->hash = h;
	s->table[j] = (uint32_t)(++s->n);
	*created = 1;
	return 0;
}

/* A key seen a second time gets its counters, from what its one entry so
 * far says (that entry's revision is read back from the mapping only when
 * it was a plaintext put: the oldest one). */
static int hist_start(struct snap *s, struct snap_ent *e)
{
	int tomb = (e->flags & F_NEWEST_TOMB) != 0, rc;
	struct snap_hist *h;

	if ((rc = blocks_reserve(&s->hists, s->n_hist)) < 0)
		return rc;
	h = blocks_at(&s->hists, s->n_hist);
	memset(h, 0, sizeof(*h));
	h->puts = !tomb;
	h->deletes = tomb;
	if (e->flags & F_NEWEST_PLAIN) {
		h->plain_puts = 1;
		hist_set_oldest(h, ent_main(s, e));
		note_touched(s, 4096);
	}
	e->hist = (uint32_t)++s->n_hist;
	return 0;
}

static int is_plain(const uint8_t *v, size_t n)
{
	return n < ENC_PREFIX_LEN || memcmp(v, ENC_PREFIX, ENC_PREFIX_LEN) != 0;
}

/* Counts one entry of e's key (at revision key k, KeyValue v) and makes it
 * the newest unless the file has it out of order (damaged: the newest
 * stays). The walk sees revisions ascending, so only an entry older than
 * the newest revision so far needs e's own read back from the mapping. */
static int ent_update(struct snap *s, struct snap_ent *e, int created, const struct kvpb *kv, const uint8_t *k,
		      const uint8_t *v, size_t vn, int64_t main, int tomb)
{
	int plain = !tomb && is_plain(kv->value, kv->value_len), rc;
	uint64_t off = (uint64_t)(k - s->map);
	struct snap_hist *h = NULL;

	if (off > OFF_MAX)
		return err_set(ERR_CORRUPT, "key bucket: entry at offset %llu is beyond what the index holds",
			       (unsigned long long)off);
	if (!created) {
		if (e->hist == 0 && (rc = hist_start(s, e)) < 0)
			return rc;
		h = hist_of(s, e);
	}
	if (tomb) {
		if (h)
			h->deletes++;
		e->flags |= F_SAW_TOMB;
	} else {
		if (h)
			h->puts++;
		if (e->flags & F_SAW_TOMB)
			e->flags |= F_RECREATED;
		if (plain && h) {
			h->plain_puts++;
			if (hist_oldest(h) == 0 || main < hist_oldest(h))
				hist_set_oldest(h, main);
		}
	}
	if (!created && main < s->info.revision && main < ent_main(s, e))
		return 0; /* out of order (damaged file): keep the newest */
	e->off_lo = (uint32_t)off;
	e->off_hi = (uint16_t)(off >> 32);
	e->kv_len = (uint32_t)vn;
	e->flags = (uint8_t)((e->flags & ~(F_NEWEST_TOMB | F_NEWEST_PLAIN | F_KEY_FIRST)) | (tomb ? F_NEWEST_TOMB : 0) |
			     (plain ? F_NEWEST_PLAIN : 0) | (key_is_first(v, vn, kv) ? F_KEY_FIRST : 0));
	return 0;
}

static uint64_t map_off(const struct snap *s, const uint8_t *p)
{
	return (uint64_t)(p - s->map);
}

#define RESIDENT_UNKNOWN (-1)

/* Bytes of the mapping resident in this process (statm "shared": file
 * pages), or RESIDENT_UNKNOWN when /proc cannot tell. */
static int64_t file_resident(struct snap *s)
{
	char buf[128];
	unsigned long long size, resident, shared;
	ssize_t n;

	if (s->statm_fd == -1 && (s->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) < 0)
		s->statm_fd = -2;
	if (s->statm_fd < 0)
		return RESIDENT_UNKNOWN;
	n = pread(s->statm_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return RESIDENT_UNKNOWN;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
		return RESIDENT_UNKNOWN;
	return (int64_t)shared * (int64_t)sysconf(_SC_PAGESIZE);
}

/* A quarter of the machine's memory, at least RESIDENT_MIN. */
static uint64_t quarter_of_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE);
	uint64_t max = pages > 0 && pg > 0 ? (uint64_t)pages * (uint64_t)pg / 4 : 0;

	return max < RESIDENT_MIN ? RESIDENT_MIN : max;
}

void snap_keep_resident(struct snap *s, uint64_t bytes)
{
	s->resident_max = bytes == 0 ? quarter_of_memory() : bytes < RESIDENT_MIN ? RESIDENT_MIN : bytes;
}

/* Keeps this process's resident share of the mapping bounded (a huge file
 * must not look like a huge process): every few MB read, if more than
 * s->resident_max of the file is mapped in,
 * let the kernel drop it. The pages stay in the page cache; touching them
 * again is a minor fault. */
static void note_touched(struct snap *s, uint64_t n)
{
	int64_t res;

	s->touched += n;
	if (s->touched < RESIDENT_CHECK)
		return;
	s->touched = 0;
	res = file_resident(s);
	if (res == RESIDENT_UNKNOWN || res > (int64_t)s->resident_max)
		bolt_drop_resident(s->b, 0, 0);
}

static int on_revision(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags)
{
	struct snap *s = arg;
	struct snap_ent *e = NULL;
	struct kvpb kv;
	int64_t main;
	int tomb = kn == 18 && k[17] == 't', created, rc;

	if (flags & BOLT_FLAG_BUCKET)
		return err_set(ERR_CORRUPT, "key bucket: sub-bucket at offset %llu", (unsigned long long)map_off(s, k));
	if ((kn != 17 && !tomb) || k[8] != '_' || (k[0] & 0x80))
		return err_set(ERR_CORRUPT, "key bucket: bad revision key of %zu bytes at offset %llu", kn,
			       (unsigned long long)map_off(s, k));
	main = (int64_t)be64(k);
	if (vn > UINT32_MAX || kv_decode(&kv, v, vn) < 0 || kv.key_len > UINT32_MAX)
		return err_set(ERR_CORRUPT, "key bucket: revision %lld_%llu at offset %llu: KeyValue is not valid protobuf",
			       (long long)main, (unsigned long long)be64(k + 9), (unsigned long long)map_off(s, v));
	if ((rc = ent_get(s, &e, &created, kv.key, kv.key_len)) < 0 ||
	    (rc = ent_update(s, e, created, &kv, k, v, vn, main, tomb)) < 0)
		return rc;
	note_touched(s, vn + 64);
	s->info.entries++;
	if (tomb)
		s->info.tombstones++;
	else
		s->info.puts++;
	if (main > s->info.revision)
		s->info.revision = main;
	if (s->progress && (s->info.entries & 0xFFF) == 0)
		s->progress(s->parg, "reading", s->info.entries, 0);
	return 0;
}

static int on_meta(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags)
{
	struct snap *s = arg;
	int64_t *dst = NULL;

	(void)flags;
	if (kn == 18 && memcmp(k, "finishedCompactRev", 18) == 0)
		dst = &s->info.compact_revision;
	else if (kn == 19 && memcmp(k, "scheduledCompactRev", 19) == 0)
		dst = &s->info.scheduled_compact_revision;
	if (dst == NULL)
		return 0;
	if (vn != 17 || v[8] != '_' || (v[0] & 0x80))
		return err_set(ERR_CORRUPT, "meta bucket: '%.*s' at offset %llu is not a revision", (int)kn,
			       (const char *)k, (unsigned long long)map_off(s, v));
	*dst = (int64_t)be64(v);
	return 0;
}

static int count_one(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags)
{
	(void)k, (void)kn, (void)v, (void)vn, (void)flags;
	(*(uint64_t *)arg)++;
	return 0;
}

/* Each top-level bucket: the key bucket is indexed, the others counted. */
static int on_bucket(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags)
{
	struct snap *s = arg;
	struct snap_bucket_count *c = NULL;
	struct bolt_bucket bk;
	int rc, is_key = kn == 3 && memcmp(k, "key", 3) == 0;

	if (!(flags & BOLT_FLAG_BUCKET))
		return 0; /* etcd keeps no plain keys at the top level; ignore */
	if ((rc = bolt_bucket_from_value(s->b, &bk, v, vn)) < 0)
		return err_wrap(rc, "bucket '%.*s'", (int)(kn < 64 ? kn : 64), (const char *)k);
	if (s->info.n_buckets < SNAP_MAX_BUCKETS) {
		c = &s->info.buckets[s->info.n_buckets++];
		snprintf(c->name, sizeof(c->name), "%.*s", (int)(kn < 63 ? kn : 63), (const char *)k);
	}
	if (is_key)
		rc = bolt_foreach(s->b, &bk, on_revision, s);
	else if (kn == 4 && memcmp(k, "meta", 4) == 0)
		rc = bolt_foreach(s->b, &bk, on_meta, s);
	if (rc == 0 && c != NULL) {
		if (is_key)
			c->entries = s->info.entries;
		else
			rc = bolt_foreach(s->b, &bk, count_one, &c->entries);
	}
	return rc < 0 ? err_wrap(rc, "bucket '%.*s'", (int)(kn < 64 ? kn : 64), (const char *)k) : 0;
}

int snap_index(struct snap *s, snap_progress_fn progress, void *arg)
{
	struct bolt_bucket root, kb;
	int rc;

	if (s->indexed)
		return 0;
	s->progress = progress;
	s->parg = arg;
	bolt_root(s->b, &root);
	if ((rc = bolt_bucket(s->b, &root, "key", &kb)) < 0)
		return rc == ERR_NOTFOUND ? err_set(ERR_CORRUPT, "not an etcd database: no 'key' bucket") : rc;
	if ((rc = bolt_foreach(s->b, &root, on_bucket, s)) < 0)
		return rc;
	if (s->info.compact_revision > s->info.revision)
		s->info.revision = s->info.compact_revision;
	s->info.keys = s->n;
	for (size_t i = 0; i < s->n; i++)
		s->info.live_keys += !(ent_at(s, i)->flags & F_NEWEST_TOMB);
	s->indexed = 1;
	return 0;
}

/* ---- visiting keys ------------------------------------------------------ */

static const struct snap *sort_snap; /* qsort has no context argument in C11 */

static int ent_cmp_file(const void *a, const void *b)
{
	uint64_t x = ent_off(ent_at(sort_snap, *(const uint32_t *)a));
	uint64_t y = ent_off(ent_at(sort_snap, *(const uint32_t *)b));

	return (x > y) - (x < y);
}

static int ent_cmp(const void *a, const void *b)
{
	size_t xn, yn;
	const uint8_t *x = ent_key(sort_snap, ent_at(sort_snap, *(const uint32_t *)a), &xn);
	const uint8_t *y = ent_key(sort_snap, ent_at(sort_snap, *(const uint32_t *)b), &yn);
	int c = memcmp(x, y, xn < yn ? xn : yn);

	return c != 0 ? c : (xn > yn) - (xn < yn);
}

static void fill_kv(const struct snap *s, struct snap_kv *out, const struct snap_ent *e)
{
	const struct snap_hist *h = hist_of(s, e);
	int newest_plain = (e->flags & F_NEWEST_PLAIN) != 0;
	struct kvpb kv;

	memset(out, 0, sizeof(*out));
	out->key = ent_key(s, e, &out->key_len);
	out->mod_revision = ent_main(s, e);
	if (kv_decode(&kv, ent_kv(s, e), e->kv_len) == 0) { /* decoded once already: cannot fail */
		out->value = kv.value;
		out->value_len = kv.value_len;
		out->create_revision = kv.create_revision;
		out->version = kv.version;
		out->lease = kv.lease;
		if (kv.mod_revision > 0)
			out->mod_revision = kv.mod_revision;
	}
	out->deleted = (e->flags & F_NEWEST_TOMB) != 0;
	if (out->deleted) {
		out->value = NULL;
		out->value_len = 0;
	}
	out->recreated = (e->flags & F_RECREATED) != 0;
	/* one entry: its flags are its counters */
	out->puts = h ? h->puts : (uint32_t)!out->deleted;
	out->deletes = h ? h->deletes : (uint32_t)out->deleted;
	out->plain_puts = h ? h->plain_puts : (uint32_t)newest_plain;
	out->plain_historical = out->plain_puts - (uint32_t)newest_plain;
	out->oldest_plain_historical = out->plain_historical > 0 ? hist_oldest(h) : 0;
}

int snap_foreach_key(struct snap *s, const uint8_t *prefix, size_t prefix_len, enum snap_order order, snap_key_fn fn,
		     void *arg)
{
	uint32_t *idx = NULL;
	size_t n = 0;
	int rc = 0;

	if (!s->indexed)
		return err_set(ERR_INTERNAL, "snap_foreach_key before snap_index");
	if (s->n > 0 && (idx = malloc(s->n * sizeof(*idx))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < s->n; i++) {
		size_t kn;
		const uint8_t *k = prefix_len ? ent_key(s, ent_at(s, i), &kn) : NULL;

		if (prefix_len == 0 || (kn >= prefix_len && memcmp(k, prefix, prefix_len) == 0))
			idx[n++] = (uint32_t)i;
		note_touched(s, prefix_len ? 4096u : 0u); /* the key lives in the mapping */
	}
	sort_snap = s;
	if (n > 1)
		qsort(idx, n, sizeof(*idx), order == SNAP_ORDER_FILE ? ent_cmp_file : ent_cmp);
	if (order == SNAP_ORDER_KEY)
		bolt_drop_resident(s->b, 0, 0); /* the sort read every key */
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct snap_ent *e = ent_at(s, idx[i]);
		struct snap_kv kv;

		fill_kv(s, &kv, e);
		rc = fn(arg, &kv);
		note_touched(s, e->kv_len + 4096u);
	}
	free(idx);
	return rc;
}

/* ---- visiting revisions ------------------------------------------------- */

/* The index entry of key, or NULL. */
static const struct snap_ent *ent_find(const struct snap *s, const uint8_t *key, size_t len)
{
	size_t slot;

	if (s->tcap == 0)
		return NULL;
	return ent_lookup(s, key, len, key_hash(key, len), &slot);
}

struct rev_walk {
	struct snap *s;
	snap_rev_fn fn;
	void *arg;
};

static int on_rev_entry(void *arg, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint32_t flags)
{
	struct rev_walk *w = arg;
	const struct snap_ent *e;
	struct snap_rev r;
	struct kvpb kv;

	/* snap_index walked and checked these same bytes already */
	if ((flags & BOLT_FLAG_BUCKET) || (kn != 17 && kn != 18) || kv_decode(&kv, v, vn) < 0)
		return err_set(ERR_CORRUPT, "key bucket: entry at offset %llu changed since it was indexed",
			       (unsigned long long)map_off(w->s, k));
	note_touched(w->s, vn + 64);
	memset(&r, 0, sizeof(r));
	r.key = kv.key;
	r.key_len = kv.key_len;
	r.main = (int64_t)be64(k);
	r.tombstone = kn == 18 && k[17] == 't';
	if (!r.tombstone) {
		r.value = kv.value;
		r.value_len = kv.value_len;
	}
	e = ent_find(w->s, kv.key, kv.key_len);
	r.newest = e != NULL && ent_off(e) == map_off(w->s, k) && !(e->flags & F_NEWEST_TOMB);
	return w->fn(w->arg, &r);
}

int snap_foreach_revision(struct snap *s, snap_rev_fn fn, void *arg)
{
	struct bolt_bucket root, kb;
	struct rev_walk w = { s, fn, arg };
	int rc;

	if (!s->indexed)
		return err_set(ERR_INTERNAL, "snap_foreach_revision before snap_index");
	bolt_root(s->b, &root);
	if ((rc = bolt_bucket(s->b, &root, "key", &kb)) < 0)
		return rc;
	return bolt_foreach(s->b, &kb, on_rev_entry, &w);
}
