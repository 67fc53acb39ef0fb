/* etcd_pager: a range read in pages, all at one revision, with the next page
 * always on the wire while the caller works on the current one.
 *
 * Page k+1 is started on the pager's own next completion queue before page k
 * is returned; etcd_pager_next then only waits for a call that has usually
 * already finished. Pages after the first are pinned to the first page's
 * header revision, and start at the last key + "\0" (docs/formats.md §3). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

struct etcd_pager {
	struct etcd_client *c;
	grpc_completion_queue *cq; /* next queue: at most one call on it */
	uint8_t *key;              /* start key of the next page */
	size_t key_len;
	size_t key_cap;
	uint8_t *end; /* NULL: single key */
	size_t end_len;
	int64_t page_size;
	int64_t revision; /* 0 until known */
	int one_page; /* stop after the first page (the caller plans the rest) */
	struct etcd_call call;
	int pending; /* call is in flight */
	int done;    /* no page after the current one */
	struct etcd_range_resp page;
};

static int start_page(struct etcd_pager *p)
{
	struct etcd_range_req r;
	grpc_slice s;
	int rc;

	memset(&r, 0, sizeof(r));
	r.key = p->key;
	r.key_len = p->key_len;
	r.range_end = p->end;
	r.range_end_len = p->end_len;
	r.limit = p->page_size;
	r.revision = p->revision;
	rc = etcd_range_pack(&s, &r);
	if (rc < 0)
		return rc;
	rc = etcd_call_start(p->c, &p->call, p->cq, ETCD_M_RANGE, s, p->c->cmd_ms, ETCD_CALL_SAFE, p);
	grpc_slice_unref(s);
	if (rc == 0)
		p->pending = 1;
	return rc;
}

static void cancel_page(void *arg)
{
	struct etcd_pager *p = arg;

	grpc_call_cancel(p->call.call, NULL);
}

static int wait_page(struct etcd_pager *p, struct etcd_range_resp *out)
{
	ProtobufCMessage *m = NULL;
	grpc_event ev;
	int rc;

	/* the call's deadline (or the stop grace) guarantees the event */
	ev = etcd_wait_next(p->c, p->cq, cancel_page, p);
	p->pending = 0;
	if (ev.type != GRPC_OP_COMPLETE || ev.tag != p) {
		etcd_call_release(&p->call);
		return err_set(ERR_INTERNAL, "etcd pager: unexpected completion queue event %d", (int)ev.type);
	}
	rc = etcd_call_complete(p->c, &p->call, &etcd_range_wire_descriptor, &m);
	if (rc < 0)
		return rc;
	return etcd_range_resp_fill(out, m);
}

/* next start key = last key + "\0" */
static int advance_key(struct etcd_pager *p, const struct etcd_kv *last)
{
	size_t need = last->key_len + 1;

	if (need > p->key_cap) {
		uint8_t *k = realloc(p->key, need);

		if (!k)
			return err_set(ERR_NOMEM, "etcd pager: out of memory");
		p->key = k;
		p->key_cap = need;
	}
	memcpy(p->key, last->key, last->key_len);
	p->key[last->key_len] = 0;
	p->key_len = need;
	return 0;
}

static int dupbytes(uint8_t **out, size_t *cap, const uint8_t *b, size_t n)
{
	*out = malloc(n ? n : 1);
	if (!*out)
		return err_set(ERR_NOMEM, "etcd pager: out of memory");
	if (n)
		memcpy(*out, b, n);
	if (cap)
		*cap = n;
	return 0;
}

int etcd_pager_new(struct etcd_pager **out, struct etcd_client *c, const uint8_t *key, size_t key_len,
		   const uint8_t *range_end, size_t range_end_len, int64_t page_size, int64_t revision)
{
	struct etcd_pager *p;
	int rc;

	*out = NULL;
	if (!key || key_len == 0 || page_size <= 0)
		return err_set(ERR_USAGE, "etcd pager: empty key or page size %lld", (long long)page_size);
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(ERR_NOMEM, "etcd pager: out of memory");
	p->c = c;
	p->page_size = page_size;
	p->revision = revision > 0 ? revision : 0;
	p->key_len = key_len;
	rc = dupbytes(&p->key, &p->key_cap, key, key_len);
	if (rc == 0 && range_end) {
		p->end_len = range_end_len;
		rc = dupbytes(&p->end, NULL, range_end, range_end_len);
	}
	if (rc < 0) {
		etcd_pager_free(p);
		return rc;
	}
	p->cq = grpc_completion_queue_create_for_next(NULL);
	*out = p;
	return 0;
}

int etcd_pager_next(struct etcd_pager *p, const struct etcd_range_resp **page)
{
	int rc;

	*page = NULL;
	etcd_range_resp_release(&p->page);
	if (p->done)
		return 0;
	if (!p->pending && (rc = start_page(p)) < 0)
		goto fail;
	if ((rc = wait_page(p, &p->page)) < 0)
		goto fail;
	if (p->revision == 0)
		p->revision = p->page.revision;
	p->page.revision = p->revision; /* header.revision is the store's, not ours */
	if (p->page.n_kvs == 0) {
		p->done = 1;
		etcd_range_resp_release(&p->page);
		return 0;
	}
	if (!p->page.more || p->one_page) {
		p->done = 1;
	} else if ((rc = advance_key(p, &p->page.kvs[p->page.n_kvs - 1])) < 0 || (rc = start_page(p)) < 0) {
		goto fail;
	}
	*page = &p->page;
	return 1;
fail:
	p->done = 1;
	etcd_range_resp_release(&p->page);
	return rc;
}

int64_t etcd_pager_revision(const struct etcd_pager *p)
{
	return p->revision;
}

void etcd_pager_free(struct etcd_pager *p)
{
	grpc_event ev;

	if (!p)
		return;
	if (p->pending) {
		grpc_call_cancel(p->call.call, NULL);
		grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	}
	etcd_call_release(&p->call);
	etcd_range_resp_release(&p->page);
	if (p->cq) {
		grpc_completion_queue_shutdown(p->cq);
		do
			ev = grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		while (ev.type != GRPC_QUEUE_SHUTDOWN);
		grpc_completion_queue_destroy(p->cq);
	}
	free(p->key);
	free(p->end);
	free(p);
}

void etcd_pager_one_page(struct etcd_pager *p)
{
	p->one_page = 1;
}

int etcd_pager_prefetch(struct etcd_pager *p)
{
	if (p->pending || p->done)
		return 0;
	return start_page(p);
}
