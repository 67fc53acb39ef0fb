/* etcd_async: many compare-and-swap Txns in flight on one next completion
 * queue (docs/grpc-notes.md §2: 8-32 in flight doubles 1-put throughput).
 *
 * Each in-flight Txn has a slot; the slot's address is the call's tag, so a
 * completion maps straight back to its call. A Txn that failed in a way
 * etcd_retry.c may retry (unreachable, no leader, a hung member's deadline,
 * a lost connection, an expired token) is sent again as a blocking call
 * with failover; that is safe because every put is guarded by its
 * mod_revision compare: if the first attempt was applied, the retry reports
 * a failed compare instead of writing twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

struct etcd_async_slot {
	struct etcd_call call;
	void *user;
	int busy;
};

struct etcd_async {
	struct etcd_client *c;
	grpc_completion_queue *cq;
	struct etcd_async_slot *slots;
	int max;
	int inflight;
};

int etcd_async_new(struct etcd_async **out, struct etcd_client *c, int max_inflight)
{
	struct etcd_async *a;

	*out = NULL;
	if (max_inflight < 1)
		return err_set(ERR_USAGE, "etcd async: max in flight must be at least 1 (got %d)", max_inflight);
	a = calloc(1, sizeof(*a));
	if (!a)
		return err_set(ERR_NOMEM, "etcd async: out of memory");
	a->slots = calloc((size_t)max_inflight, sizeof(*a->slots));
	if (!a->slots) {
		free(a);
		return err_set(ERR_NOMEM, "etcd async: out of memory");
	}
	a->c = c;
	a->max = max_inflight;
	a->cq = grpc_completion_queue_create_for_next(NULL);
	*out = a;
	return 0;
}

int etcd_async_txn_cas(struct etcd_async *a, const struct etcd_cas_put *ops, size_t n_ops, void *user)
{
	struct etcd_async_slot *s = NULL;
	grpc_slice req;
	int i, rc;

	for (i = 0; i < a->max && !s; i++)
		if (!a->slots[i].busy)
			s = &a->slots[i];
	if (!s)
		return err_set(ERR_INTERNAL, "etcd async: %d Txns already in flight; wait first", a->max);
	rc = etcd_txn_pack(ops, n_ops, &req);
	if (rc < 0)
		return rc;
	rc = etcd_call_start(a->c, &s->call, a->cq, ETCD_M_TXN, req, a->c->cmd_ms, etcd_txn_flags(ops, n_ops), s);
	grpc_slice_unref(req);
	if (rc < 0)
		return rc;
	s->user = user;
	s->busy = 1;
	a->inflight++;
	return 0;
}

int etcd_async_inflight(const struct etcd_async *a)
{
	return a->inflight;
}

static void fill_result(struct etcd_async *a, struct etcd_async_slot *s, struct etcd_async_result *out)
{
	ProtobufCMessage *r = NULL;

	memset(out, 0, sizeof(*out));
	out->user = s->user;
	/* read in place: only succeeded and the revision are needed */
	out->rc = etcd_call_complete(a->c, &s->call, &etcd_range_wire_descriptor, &r);
	if (out->rc == 0) {
		out->rc = etcd_txn_wire_result(r, &out->succeeded, &out->revision);
		etcd_range_wire_free(r);
	}
	if (out->rc < 0)
		snprintf(out->rc_msg, sizeof(out->rc_msg), "%s", err_msg());
}

static void cancel_all(void *arg)
{
	struct etcd_async *a = arg;

	for (int i = 0; i < a->max; i++)
		if (a->slots[i].busy)
			grpc_call_cancel(a->slots[i].call.call, NULL);
}

int etcd_async_wait(struct etcd_async *a, struct etcd_async_result *out)
{
	struct etcd_async_slot *s;
	grpc_event ev;

	if (a->inflight == 0)
		return err_set(ERR_INTERNAL, "etcd async: nothing in flight");
	/* every call has a deadline (or the stop grace), so an event always comes */
	ev = etcd_wait_next(a->c, a->cq, cancel_all, a);
	if (ev.type != GRPC_OP_COMPLETE)
		return err_set(ERR_INTERNAL, "etcd async: unexpected completion queue event %d", (int)ev.type);
	s = ev.tag;
	a->inflight--;
	s->busy = 0;
	fill_result(a, s, out);
	return 0;
}

void etcd_async_free(struct etcd_async *a)
{
	struct etcd_async_result r;
	grpc_event ev;

	if (!a)
		return;
	while (a->inflight > 0 && etcd_async_wait(a, &r) == 0)
		;
	grpc_completion_queue_shutdown(a->cq);
	do
		ev = grpc_completion_queue_next(a->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	while (ev.type != GRPC_QUEUE_SHUTDOWN);
	grpc_completion_queue_destroy(a->cq);
	free(a->slots);
	free(a);
}
