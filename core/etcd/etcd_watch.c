/* etcd_watch: one Watch stream (docs/grpc-notes.md §3).
 *
 * The RECV_STATUS batch is started first and completes only when the stream
 * ends; then the create request is sent with fragment = true, so etcd splits
 * a large replay into pieces of about 2 MB, which are joined here
 * into one batch. Only one RECV_MESSAGE is ever pending; a timeout leaves it
 * pending for the next call. The unpacked responses of a batch stay alive
 * until the next call, because the events point into them. Closing cancels
 * the call (etcd keeps a stream open after a cancel request or a half-close)
 * and drains its completions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>

#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

struct etcd_watch {
	struct etcd_client *c;
	grpc_completion_queue *cq; /* pluck: each wait names its tag */
	grpc_call *call;
	size_t ep;
	grpc_metadata md[2]; /* token, hasleader */
	size_t n_md;
	int token_md;
	int md_sent;
	grpc_metadata_array imd;
	grpc_metadata_array tmd;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
	int status_started;
	int status_done;
	grpc_byte_buffer *recv;
	int recv_pending;
	int imd_requested;
	int ended; /* stream over: end_rc/end_msg repeat its error */
	int end_rc;
	char end_msg[512];
	Etcdserverpb__WatchResponse **held; /* responses of the batch being built or returned */
	size_t n_held;
	size_t cap_held;
	int returned; /* held was returned: free it on the next call */
	struct etcd_event *events;
	size_t cap_events;
};

/* tags: distinct addresses inside the watch */
#define TAG_SEND(w) ((void *)&(w)->md[0])
#define TAG_RECV(w) ((void *)&(w)->recv)
#define TAG_STATUS(w) ((void *)&(w)->status)

static void free_held(struct etcd_watch *w)
{
	size_t i;

	for (i = 0; i < w->n_held; i++)
		protobuf_c_message_free_unpacked(&w->held[i]->base, NULL);
	w->n_held = 0;
	w->returned = 0;
}

static int hold(struct etcd_watch *w, Etcdserverpb__WatchResponse *r)
{
	if (w->n_held == w->cap_held) {
		size_t cap = w->cap_held ? 2 * w->cap_held : 8;
		Etcdserverpb__WatchResponse **h = realloc(w->held, cap * sizeof(*h));

		if (!h) {
			protobuf_c_message_free_unpacked(&r->base, NULL);
			return err_set(ERR_NOMEM, "etcd watch: out of memory");
		}
		w->held = h;
		w->cap_held = cap;
	}
	w->held[w->n_held++] = r;
	return 0;
}

static int start_status(struct etcd_watch *w)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &w->tmd;
	op.data.recv_status_on_client.status = &w->status;
	op.data.recv_status_on_client.status_details = &w->details;
	op.data.recv_status_on_client.error_string = &w->error_string;
	if (grpc_call_start_batch(w->call, &op, 1, TAG_STATUS(w), NULL) != GRPC_CALL_OK)
		return err_set(ERR_INTERNAL, "etcd watch: cannot start the status batch");
	w->status_started = 1;
	return 0;
}

/* Later calls repeat the error that ended the watch. */
static int remember_end(struct etcd_watch *w, int rc)
{
	w->ended = 1;
	w->end_rc = rc;
	snprintf(w->end_msg, sizeof(w->end_msg), "%s", err_msg());
	return rc;
}

/* The stream is over: its status says why. Remembered for later calls. */
static int end_stream(struct etcd_watch *w)
{
	int rc;

	if (w->status_started && !w->status_done) {
		etcd_wait_pluck(w->c, w->cq, TAG_STATUS(w), w->call);
		w->status_done = 1;
	}
	rc = etcd_map_status(w->c, w->ep, w->status, w->details);
	if (rc == 0)
		rc = err_set(ERR_ETCD, "etcd %s: watch stream ended by the server", w->c->eps[w->ep].name);
	return remember_end(w, rc);
}

/* Sends one WatchRequest and waits for the send (sends are serialized:
 * only one SEND_MESSAGE may be pending). The first also sends metadata. */
static int send_request(struct etcd_watch *w, const Etcdserverpb__WatchRequest *req)
{
	grpc_byte_buffer *bb;
	grpc_event ev;
	grpc_op ops[2];
	grpc_slice s;
	size_t n = 0;

	etcd_pack(&req->base, &s);
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	memset(ops, 0, sizeof(ops));
	if (!w->md_sent) {
		ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
		ops[n].data.send_initial_metadata.count = w->n_md;
		ops[n++].data.send_initial_metadata.metadata = w->n_md ? w->md : NULL;
	}
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = bb;
	if (grpc_call_start_batch(w->call, ops, n, TAG_SEND(w), NULL) != GRPC_CALL_OK) {
		grpc_byte_buffer_destroy(bb);
		return err_set(ERR_INTERNAL, "etcd watch: cannot start a send");
	}
	w->md_sent = 1;
	ev = etcd_wait_pluck(w->c, w->cq, TAG_SEND(w), w->call);
	grpc_byte_buffer_destroy(bb);
	if (ev.type != GRPC_OP_COMPLETE || !ev.success)
		return end_stream(w); /* the call failed: e.g. endpoint unreachable */
	return 0;
}

static int send_create(struct etcd_watch *w, const uint8_t *key, size_t key_len, const uint8_t *end,
		       size_t end_len, int64_t start_revision)
{
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;

	cr.key.data = (uint8_t *)key;
	cr.key.len = key_len;
	cr.range_end.data = (uint8_t *)end;
	cr.range_end.len = end ? end_len : 0;
	cr.start_revision = start_revision;
	cr.fragment = 1;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &cr;
	return send_request(w, &req);
}

static int watch_start(struct etcd_watch *w, const uint8_t *key, size_t key_len, const uint8_t *end,
		       size_t end_len, int64_t start_revision)
{
	struct etcd_client *c = w->c;
	int rc;

	w->ep = c->cur;
	w->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
					   grpc_slice_from_static_string(ETCD_M_WATCH), NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!w->call)
		return err_set(ERR_INTERNAL, "etcd %s: watch: cannot create the call", c->eps[w->ep].name);
	/* with "hasleader", etcd also ends the stream when the member loses
	 * its leader, instead of leaving a cut-off watch silent */
	w->n_md = etcd_call_md(c, w->md, 0, &w->token_md);
	rc = start_status(w);
	if (rc == 0)
		rc = send_create(w, key, key_len, end, end_len, start_revision);
	return rc;
}

static struct etcd_watch *watch_alloc(struct etcd_client *c)
{
	struct etcd_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->c = c;
	grpc_metadata_array_init(&w->imd);
	grpc_metadata_array_init(&w->tmd);
	w->details = grpc_empty_slice();
	w->cq = grpc_completion_queue_create_for_pluck(NULL);
	return w;
}

int etcd_watch_open(struct etcd_watch **out, struct etcd_client *c, const uint8_t *key, size_t key_len,
		    const uint8_t *range_end, size_t range_end_len, int64_t start_revision)
{
	struct etcd_watch *w = NULL;
	size_t tries;
	int rc = 0;

	*out = NULL;
	if (etcd_stopped(c))
		return err_set(ERR_INTERRUPTED, "interrupted");
	for (tries = 0; tries <= c->n_eps; tries++) {
		if (tries > 0 && (rc = etcd_switch_endpoint(c)) < 0)
			break;
		w = watch_alloc(c);
		if (!w)
			return err_set(ERR_NOMEM, "etcd watch: out of memory");
		rc = watch_start(w, key, key_len, range_end, range_end_len, start_revision);
		if (rc == 0) {
			*out = w;
			return 0;
		}
		etcd_watch_close(w);
		if (rc != ERR_UNAVAILABLE)
			break;
	}
	return rc;
}

static int start_recv(struct etcd_watch *w)
{
	grpc_op ops[2];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n++].data.recv_message.recv_message = &w->recv;
	if (!w->imd_requested) {
		ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[n++].data.recv_initial_metadata.recv_initial_metadata = &w->imd;
	}
	if (grpc_call_start_batch(w->call, ops, n, TAG_RECV(w), NULL) != GRPC_CALL_OK)
		return err_set(ERR_INTERNAL, "etcd watch: cannot start a receive");
	w->imd_requested = 1;
	w->recv_pending = 1;
	return 0;
}

static int grow_events(struct etcd_watch *w, size_t n)
{
	struct etcd_event *e;

	if (n <= w->cap_events)
		return 0;
	e = realloc(w->events, n * sizeof(*e));
	if (!e)
		return err_set(ERR_NOMEM, "etcd watch: out of memory for %zu events", n);
	w->events = e;
	w->cap_events = n;
	return 0;
}

/* All held responses (fragments, then the last one) become one batch. */
static int build_batch(struct etcd_watch *w, struct etcd_watch_batch *out)
{
	const Etcdserverpb__WatchResponse *last = w->held[w->n_held - 1];
	size_t i, j, n = 0;
	int rc;

	for (i = 0; i < w->n_held; i++)
		n += w->held[i]->n_events;
	if ((rc = grow_events(w, n)) < 0)
		return rc;
	n = 0;
	for (i = 0; i < w->n_held; i++) {
		for (j = 0; j < w->held[i]->n_events; j++) {
			const Mvccpb__Event *ev = w->held[i]->events[j];
			struct etcd_event *d = &w->events[n++];

			memset(d, 0, sizeof(*d));
			d->type = ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? ETCD_EVENT_DELETE : ETCD_EVENT_PUT;
			if (ev->kv)
				etcd_kv_from(&d->kv, ev->kv);
		}
	}
	out->header_revision = last->header ? last->header->revision : 0;
	out->compact_revision = last->compact_revision;
	out->canceled = last->canceled;
	out->created = last->created;
	out->events = n ? w->events : NULL;
	out->n_events = n;
	w->returned = 1;
	return 1;
}

/* Handles one received message: 1 a batch is complete, 0 keep reading. */
static int take_message(struct etcd_watch *w, struct etcd_watch_batch *out)
{
	Etcdserverpb__WatchResponse *r = NULL;
	int rc;

	rc = etcd_unpack_bb(w->c, w->ep, ETCD_M_WATCH, w->recv, &etcdserverpb__watch_response__descriptor,
			    (ProtobufCMessage **)&r);
	grpc_byte_buffer_destroy(w->recv);
	w->recv = NULL;
	if (rc < 0)
		return rc;
	if (r->created && !r->canceled && r->n_events == 0 && w->n_held == 0) {
		protobuf_c_message_free_unpacked(&r->base, NULL); /* the creation notice */
		return 0;
	}
	if (r->canceled && r->compact_revision == 0 && r->cancel_reason[0]) {
		/* e.g. an expired token or no read permission on the range */
		rc = err_set(strstr(r->cancel_reason, "permission denied") ? ERR_AUTH : ERR_ETCD,
			     "etcd %s: watch canceled: %s", w->c->eps[w->ep].name, r->cancel_reason);
		protobuf_c_message_free_unpacked(&r->base, NULL);
		return remember_end(w, rc); /* etcd keeps the stream, but this watch is over */
	}
	if ((rc = hold(w, r)) < 0)
		return rc;
	if (r->fragment)
		return 0;
	return build_batch(w, out);
}

/* Waits for the pending receive until the deadline, in slices that look
 * at the stop flag. */
static grpc_event wait_recv(struct etcd_watch *w, gpr_timespec deadline)
{
	for (;;) {
		gpr_timespec slice = etcd_deadline(ETCD_POLL_MS);
		int last = gpr_time_cmp(deadline, slice) <= 0;
		grpc_event ev = grpc_completion_queue_pluck(w->cq, TAG_RECV(w), last ? deadline : slice, NULL);

		if (ev.type != GRPC_QUEUE_TIMEOUT || last || etcd_stopped(w->c))
			return ev;
	}
}

int etcd_watch_next(struct etcd_watch *w, struct etcd_watch_batch *out, long timeout_ms)
{
	gpr_timespec deadline = etcd_deadline(timeout_ms > 0 ? timeout_ms : 1);
	grpc_event ev;
	int rc;

	memset(out, 0, sizeof(*out));
	if (w->ended)
		return err_set(w->end_rc, "%s", w->end_msg);
	if (w->returned)
		free_held(w);
	for (;;) {
		if (!w->recv_pending && (rc = start_recv(w)) < 0)
			return rc;
		ev = wait_recv(w, deadline);
		if (ev.type == GRPC_QUEUE_TIMEOUT && etcd_stopped(w->c))
			return remember_end(w, err_set(ERR_INTERRUPTED, "interrupted"));
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			return 0; /* the receive stays pending for the next call */
		w->recv_pending = 0;
		if (ev.type != GRPC_OP_COMPLETE || !w->recv)
			return end_stream(w);
		rc = take_message(w, out);
		if (rc != 0)
			return rc;
	}
}

void etcd_watch_close(struct etcd_watch *w)
{
	grpc_event ev;

	if (!w)
		return;
	if (w->call) {
		grpc_call_cancel(w->call, NULL);
		if (w->recv_pending)
			grpc_completion_queue_pluck(w->cq, TAG_RECV(w), gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (w->status_started && !w->status_done)
			grpc_completion_queue_pluck(w->cq, TAG_STATUS(w), gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_call_unref(w->call);
	}
	if (w->recv)
		grpc_byte_buffer_destroy(w->recv);
	free_held(w);
	free(w->held);
	free(w->events);
	grpc_metadata_array_destroy(&w->imd);
	grpc_metadata_array_destroy(&w->tmd);
	grpc_slice_unref(w->details);
	if (w->error_string)
		gpr_free((void *)w->error_string);
	if (w->token_md)
		grpc_slice_unref(w->md[0].value);
	grpc_completion_queue_shutdown(w->cq);
	do
		ev = grpc_completion_queue_pluck(w->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	while (ev.type != GRPC_QUEUE_SHUTDOWN);
	grpc_completion_queue_destroy(w->cq);
	free(w);
}
