/* rewrite: the write path; see rewrite.h. This file holds the per-value
 * decision and the batching; rw_txn.c sends batches and handles conflicts. */
#include "rewrite.h"
#include "base/err.h"
#include "rw_int.h"
#include "scan/scan.h"

#include <stdlib.h>
#include <string.h>

int64_t rw_growth_of(size_t key_len, size_t stored_len)
{
	/* revision key (17) + KeyValue framing (~24) + key + value, and bbolt
	 * leaves pages about a third empty: measured ~4.1 KB per 2.5 KiB secret */
	return (int64_t)((double)(17 + 24 + key_len + stored_len) * 1.55);
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
	rc = xf_read(it->xf, &back, &w->check, it->kv->key, it->kv->key_len, out->data, out->len);
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
	return rw_queue(w, it->kv, it->xf, w->enc.data, w->enc.len);
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
		buf_release(&w->batches[i].data);
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
		buf_init(&w->batches[i].data, 0);
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
	if (st->revision_end == 0)
		st->revision_end = scan_revision(s);
	if (st->revision_start == 0) /* nothing scanned: the revision it found empty */
		st->revision_start = st->revision_end;
out:
	scan_free(s);
	rw_release(&w);
	return rc;
}
