/* rewrite: the write path; see rewrite.h. This file holds the per-value
 * decision and the batching; rw_txn.c sends batches and handles conflicts. */
#include "rewrite.h"
#include "base/err.h"
#include "rw_int.h"
#include "scan/scan.h"

#include <stdlib.h>
#include <string.h>

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80)
		v >>= 7, n++;
	return n;
}

/* bbolt, as etcd 3.4 drives it, on 4 KiB pages (bolt/ and docs/rewrite.md):
 * a new revision is one leaf element (16-byte header, 17-byte revision key,
 * the mvccpb.KeyValue). Revisions only ever append, and etcd sets the key
 * bucket's FillPercent to 0.9 for them, so a full leaf node is cut where its
 * next element would pass 0.9 x 4096 bytes, but never below two elements; a
 * node is written on as many whole pages as it needs. Each leaf page costs
 * one branch element (16 + 17 bytes) more. Measured against etcd 3.4 the
 * model alone runs 0-3 % high, the measurement itself varies by ~1 %; the
 * 8 % on top covers copy-on-write pages not yet reused and the freelist
 * (t_rewrite2 checks estimate >= growth within 15 %: it runs 4-8 % high). */
#define RW_PAGE 4096
#define RW_FILL_LIMIT 3686 /* int(4096 * 0.9) */

int64_t rw_growth_of(size_t key_len, size_t stored_len)
{
	/* key, value; create, mod revision up to 2^35; version; no lease */
	size_t kv = 1 + varint_len(key_len) + key_len + 1 + varint_len(stored_len) + stored_len + 3 * (1 + 5);
	size_t elem = 16 + 17 + kv, per_node = (RW_FILL_LIMIT - 16) / elem, pages;

	if (per_node < 2)
		per_node = 2;
	pages = (16 + per_node * elem + RW_PAGE - 1) / RW_PAGE;
	return (int64_t)(((double)(pages * RW_PAGE) + 33.0 / 0.9) / (double)per_node * 1.08);
}

int64_t rw_growth_bound(int64_t db_size_in_use)
{
	/* the live values take at most the used size now; rewritten, each
	 * takes at most twice its page share (a value pushed across a page
	 * boundary by the provider's few dozen bytes) */
	return 2 * db_size_in_use;
}

/* Encrypts for the target and proves the result reads back to the same
 * plaintext under the same rules, as current. Never write otherwise. */
static int seal_and_verify(struct rw *w, const struct scan_item *it, struct buf *out)
{
	struct xf_result back;
	int rc;

	rc = xf_write(it->xf, out, it->kv->key, it->kv->key_len, it->plain->data, it->plain->len);
	if (rc < 0)
		return err_wrap(rc, "encrypting '%.*s'", (int)it->kv->key_len, (const char *)it->kv->key);
	/* the original was inspected when it was read: a plaintext equal to it
	 * is not parsed again (the comparison below is what proves it equal) */
	rc = xf_read_back(it->xf, &back, &w->check, it->kv->key, it->kv->key_len, out->data, out->len,
			  it->plain->data, it->plain->len, &it->res->plain);
	if (rc < 0)
		return rc;
	if (!back.ok || !xf_is_current(&back) || w->check.len != it->plain->len ||
	    memcmp(w->check.data, it->plain->data, it->plain->len) != 0)
		return err_set(ERR_INTERNAL, "re-encrypted value of '%.*s' does not read back to its plaintext; nothing "
			       "was written for it",
			       (int)it->kv->key_len, (const char *)it->kv->key);
	return 0;
}

int rw_decide(struct rw *w, const struct scan_item *it, int after_conflict, int *need_write, struct buf *out)
{
	int rc;

	*need_write = 0;
	if (!it->res->ok) {
		w->st->unreadable++;
		if (w->on_bad) {
			struct rw_unreadable u = { it->kv->key, it->kv->key_len, it->res };
			w->on_bad(w->arg, &u);
		}
		return 0;
	}
	if (xf_is_current(it->res) && (!w->o->force || after_conflict)) {
		w->st->current++;
		return 0;
	}
	if ((rc = seal_and_verify(w, it, out)) < 0)
		return rc;
	w->st->growth_estimate += rw_growth_of(it->kv->key_len, out->len);
	if (w->o->dry_run)
		w->st->rewritten++;
	else
		*need_write = 1;
	return 0;
}

static int on_value(void *arg, const struct scan_item *it)
{
	struct rw *w = arg;
	int rc, need_write;

	if (w->o->stop && *w->o->stop)
		return err_set(ERR_INTERRUPTED, "interrupted");
	if (w->fatal < 0)
		return w->fatal;
	w->st->scanned++;
	if (w->st->revision_start == 0)
		w->st->revision_start = it->revision;
	if ((rc = rw_decide(w, it, 0, &need_write, &w->enc)) < 0 || !need_write)
		return rc;
	return rw_queue(w, it->kv, it->xf, &w->enc);
}

static void on_page(void *arg, uint64_t values, int64_t revision)
{
	struct rw *w = arg;

	(void)values;
	if (w->st->revision_start == 0)
		w->st->revision_start = revision;
	if (w->progress)
		w->progress(w->arg, w->st);
}

static void scan_opts_of(const struct rw_opts *o, struct scan_opts *so)
{
	memset(so, 0, sizeof(*so));
	so->conf = o->conf;
	so->ring = o->ring;
	so->etcd_prefix = o->etcd_prefix;
	so->resources = o->resources;
	so->n_resources = o->n_resources;
	so->all = o->all;
	so->page_size = o->page_size;
	so->resume = 1;
}

static void rw_release(struct rw *w)
{
	etcd_async_free(w->async);
	for (int i = 0; w->batches && i < w->n_batches; i++)
		rw_batch_release(&w->batches[i]);
	free(w->batches);
	buf_release(&w->enc);
	buf_release(&w->enc_conflict);
	buf_release(&w->check);
	buf_release(&w->plain);
}

static int rw_init(struct rw *w, struct etcd_client *cl, const struct rw_opts *o, struct rw_stats *st)
{
	memset(st, 0, sizeof(*st));
	w->cl = cl;
	w->o = o;
	w->st = st;
	buf_init(&w->enc, 0);
	buf_init(&w->enc_conflict, 0);
	buf_init(&w->check, 0);
	buf_init(&w->plain, 0);
	if (o->batch_ops < 1 || o->batch_ops > RW_MAX_BATCH || o->inflight < 1 || o->batch_bytes < 1024)
		return err_set(ERR_USAGE, "batch must be 1..%d puts and inflight at least 1", RW_MAX_BATCH);
	w->batch_bytes = o->batch_bytes;
	if (o->dry_run)
		return 0;
	w->n_batches = o->inflight + 1;
	w->batches = calloc((size_t)w->n_batches, sizeof(*w->batches));
	if (w->batches == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	for (int i = 0; i < w->n_batches; i++)
		rw_batch_init(&w->batches[i]);
	return etcd_async_new(&w->async, cl, o->inflight);
}

int rw_run(struct etcd_client *cl, const struct rw_opts *o, struct rw_stats *st, rw_unreadable_fn on_bad,
	   rw_progress_fn progress, void *arg)
{
	struct rw w = { 0 };
	struct scan_opts so;
	struct scan *s = NULL;
	int rc, drc;

	w.on_bad = on_bad;
	w.progress = progress;
	w.arg = arg;
	if ((rc = rw_init(&w, cl, o, st)) < 0)
		goto out;
	w.pace_start = rw_now();
	scan_opts_of(o, &so);
	if ((rc = scan_new(&s, cl, &so)) < 0)
		goto out;
	rc = scan_run(s, on_value, on_page, &w);
	if (rc == 0 && w.fatal < 0)
		rc = w.fatal;
	/* whatever stopped the scan, what is queued or in flight is finished */
	drc = rw_drain(&w, rc == 0);
	if (rc == 0)
		rc = drc;
	st->resumed = scan_resumed(s);
	scan_empty(s, &st->empty);
	if (st->revision_end == 0)
		st->revision_end = scan_revision(s);
	if (st->revision_start == 0) /* nothing scanned: the revision it found empty */
		st->revision_start = st->revision_end;
out:
	scan_free(s);
	rw_release(&w);
	return rc;
}
