/* history: retained revisions counted from a snapshot; see history.h.
 *
 * It does not talk gRPC (core/etcd streams the snapshot) nor parse bbolt
 * (core/bolt/snapshot does); it owns the temporary file in between and the
 * counting rules. */
#include "history.h"
#include "base/buf.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ENC_PREFIX "k8s:enc:"
#define ENC_PREFIX_LEN 8
#define SPACE_SLACK ((uint64_t)1 << 20) /* the hash trailer, and growth while streaming */

static void oldest(int64_t *slot, int64_t rev)
{
	if (*slot == 0 || rev < *slot)
		*slot = rev;
}

void history_add_key(struct history_result *out, const struct snap_kv *kv)
{
	out->revisions += kv->puts;
	out->deletes += kv->deletes;
	out->plaintext_total += kv->plain_puts;
	out->plaintext_historical += kv->plain_historical;
	if (kv->plain_historical > 0) {
		out->keys_with_historical_plaintext++;
		oldest(&out->oldest_plaintext_revision, kv->oldest_plain_historical);
	}
}

/* ---- counting ------------------------------------------------------------ */

struct counting {
	struct history_result *out;
	const char *const *prefixes;
	size_t n;
	history_xf_fn xf_for;
	void *arg;
	struct buf plain;
};

static int on_key(void *arg, const struct snap_kv *kv)
{
	history_add_key(((struct counting *)arg)->out, kv);
	return 0;
}

static int under_prefixes(const struct counting *c, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < c->n; i++) {
		size_t pl = strlen(c->prefixes[i]);

		if (len >= pl && memcmp(key, c->prefixes[i], pl) == 0)
			return 1;
	}
	return 0;
}

/* Every retained encrypted put: can the config still read it? */
static int on_revision(void *arg, const struct snap_rev *r)
{
	struct counting *c = arg;
	struct xf_result res;
	struct xf *x;
	int rc;

	if (r->tombstone || r->value_len < ENC_PREFIX_LEN || memcmp(r->value, ENC_PREFIX, ENC_PREFIX_LEN) != 0 ||
	    !under_prefixes(c, r->key, r->key_len) || (x = c->xf_for(c->arg, r->key, r->key_len)) == NULL)
		return 0;
	rc = xf_read(x, &res, &c->plain, r->key, r->key_len, r->value, r->value_len);
	buf_reset(&c->plain);
	if (rc < 0)
		return err_wrap(rc, "history: revision %lld of '%.*s'", (long long)r->main, (int)r->key_len,
				(const char *)r->key);
	if (res.ok)
		return 0;
	c->out->retired_total++;
	if (!r->newest) {
		c->out->retired_historical++;
		oldest(&c->out->oldest_retired_revision, r->main);
	}
	return 0;
}

int history_count(struct history_result *out, struct snap *s, const char *const *prefixes, size_t n_prefixes,
		  history_xf_fn xf_for, void *arg)
{
	const struct snap_info *in = snap_get_info(s);
	struct counting c = { out, prefixes, n_prefixes, xf_for, arg, { 0 } };
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->compact_revision = in->compact_revision;
	out->upto_revision = in->revision;
	for (size_t i = 0; i < n_prefixes && rc == 0; i++)
		rc = snap_foreach_key(s, (const uint8_t *)prefixes[i], strlen(prefixes[i]), SNAP_ORDER_FILE, on_key,
				      &c);
	if (rc == 0 && xf_for != NULL) {
		buf_init(&c.plain, 0);
		rc = snap_foreach_revision(s, on_revision, &c);
		buf_release(&c.plain);
	}
	return rc;
}

/* ---- the snapshot from etcd ---------------------------------------------- */

struct sink {
	int fd;
	const char *name;
	uint64_t written;
	const struct history_live *o;
};

static const char *tmp_dir(const struct history_live *o)
{
	const char *d = o->tmpdir ? o->tmpdir : getenv("TMPDIR");

	return d && d[0] ? d : "/tmp";
}

static double mib(uint64_t n)
{
	return (double)n / (1024.0 * 1024.0);
}

/* The whole snapshot must fit: say so before etcd starts sending it. */
static int check_space(const char *dir, uint64_t need)
{
	struct statvfs v;
	uint64_t avail;

	if (statvfs(dir, &v) < 0)
		return err_set(ERR_IO, "history: temporary directory '%s': %s (set TMPDIR)", dir, strerror(errno));
	avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
	if (avail < need)
		return err_set(ERR_IO,
			       "history: the snapshot of etcd needs %.1f MiB of temporary space, but '%s' has %.1f MiB "
			       "free: set TMPDIR to a directory with room",
			       mib(need), dir, mib(avail));
	return 0;
}

/* A file nobody else can open and that vanishes with the process. */
static int tmp_open(int *out, const char *dir, char *name, size_t cap)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);

	snprintf(name, cap, "temporary file in '%s'", dir);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char path[4096];

		/* no O_TMPFILE on this file system: a private file, unlinked at once */
		if (snprintf(path, sizeof(path), "%s/etcdcrypt-history.XXXXXX", dir) >= (int)sizeof(path))
			return err_set(ERR_IO, "history: temporary directory name too long");
		if ((fd = mkostemp(path, O_CLOEXEC)) >= 0 && unlink(path) < 0) {
			int e = errno;

			close(fd);
			return err_set(ERR_IO, "history: cannot unlink '%s': %s", path, strerror(e));
		}
	}
	if (fd < 0)
		return err_set(ERR_IO, "history: cannot create a %s: %s (set TMPDIR)", name, strerror(errno));
	*out = fd;
	return 0;
}

static int sink_write(void *arg, const uint8_t *p, size_t n, uint64_t total)
{
	struct sink *k = arg;

	while (n > 0) {
		ssize_t w = write(k->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return err_set(ERR_IO, "history: writing the snapshot to a %s at byte %llu: %s", k->name,
				       (unsigned long long)k->written, strerror(errno));
		p += w;
		n -= (size_t)w;
		k->written += (uint64_t)w;
	}
	if (k->o->progress)
		k->o->progress(k->o->progress_arg, "receiving", k->written, total);
	return 0;
}

static void snap_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	const struct history_live *o = arg;

	o->progress(o->progress_arg, phase, done, total);
}

/* Streams the snapshot into fd; a refusal for lack of rights says what to do. */
static int receive(struct etcd_client *cl, struct sink *k)
{
	int rc = etcd_snapshot(cl, sink_write, k, k->o->stop);

	if (rc == ERR_AUTH && strstr(err_msg(), "permission denied"))
		return err_set(ERR_AUTH,
			       "history: etcd %s refused the snapshot: with auth enabled, etcd sends snapshots only to a "
			       "user with the root role; run audit --history with --user root (or leave out --history)",
			       etcd_endpoint(cl));
	return rc;
}

static int check_hash(struct snap *s, const char *endpoint, const struct history_live *o)
{
	const struct snap_info *in = snap_get_info(s);
	int rc = snap_check_trailer(s, o->progress ? snap_progress : NULL, (void *)o);

	if (rc < 0)
		return rc;
	if (!in->has_trailer)
		return err_set(ERR_CORRUPT, "history: the snapshot from etcd %s is incomplete (%llu bytes, no SHA-256 trailer)",
			       endpoint, (unsigned long long)in->size);
	if (!in->trailer_matches)
		return err_set(ERR_CORRUPT, "history: the snapshot from etcd %s does not match its SHA-256 trailer",
			       endpoint);
	return 0;
}

int history_from_etcd(struct history_result *out, struct etcd_client *cl, const struct history_live *o)
{
	const char *dir = tmp_dir(o);
	struct etcd_status st;
	struct snap *s = NULL;
	char name[4200];
	struct sink k = { -1, name, 0, o };
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = etcd_status(cl, &st)) < 0 ||
	    (rc = check_space(dir, (uint64_t)(st.db_size > 0 ? st.db_size : 0) + SPACE_SLACK)) < 0 ||
	    (rc = tmp_open(&k.fd, dir, name, sizeof(name))) < 0)
		return rc;
	if ((rc = receive(cl, &k)) < 0 || (rc = snap_open_fd(&s, k.fd, name)) < 0 ||
	    (rc = check_hash(s, etcd_endpoint(cl), o)) < 0 ||
	    (rc = snap_index(s, o->progress ? snap_progress : NULL, (void *)o)) < 0)
		goto out;
	rc = history_count(out, s, o->prefixes, o->n_prefixes, o->xf_for, o->xf_arg);
out:
	snap_free(s);
	close(k.fd);
	return rc;
}
