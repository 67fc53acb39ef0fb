/* etcd_snapshot: Maintenance.Snapshot, a server-streaming call
 * (docs/grpc-notes.md §1 and §3).
 *
 * One batch sends the (empty) request and half-closes; another waits for the
 * status, which completes only when the stream is over; then one
 * RECV_MESSAGE at a time. Each wait is short (SNAP_POLL_MS) so that *stop is
 * noticed promptly and a stream that stays silent for the command timeout is
 * ended. The call itself has no deadline: a big database takes as long as
 * it takes, and it is still making progress.
 *
 * etcd 3.4-3.6 send the bbolt file in pieces (32 KiB in 3.4, with
 * remaining_bytes counting down to 0), then one message whose blob is the
 * SHA-256 of the file: together exactly what `etcdctl snapshot save` writes.
 * This module only passes the blobs on; the reader of the file checks the
 * hash (core/bolt/snapshot.h). It does not write files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>

#include "base/err.h"
#include "etcd_int.h"
#include "rpc.pb-c.h"

#define SNAP_POLL_MS 200

struct snapcall {
	struct etcd_client *c;
	grpc_completion_queue *cq;
	grpc_call *call;
	size_t ep;
	unsigned token_gen;
	grpc_metadata md;
	int has_md;
	grpc_byte_buffer *send;
	grpc_byte_buffer *recv;
	grpc_metadata_array imd, tmd;
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
	int start_pending, status_pending, recv_pending;
	int silent; /* ended for silence: the member is hung (or too slow) */
};

/* tags: distinct addresses inside the call */
#define TAG_START(k) ((void *)&(k)->send)
#define TAG_RECV(k) ((void *)&(k)->recv)
#define TAG_STATUS(k) ((void *)&(k)->status)

static void wait_tag(struct snapcall *k, void *tag, int *pending)
{
	if (*pending)
		grpc_completion_queue_pluck(k->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	*pending = 0;
}

static void snapcall_release(struct snapcall *k)
{
	grpc_event ev;

	if (k->call) {
		grpc_call_cancel(k->call, NULL); /* no-op once the stream is over */
		wait_tag(k, TAG_RECV(k), &k->recv_pending);
		wait_tag(k, TAG_START(k), &k->start_pending);
		wait_tag(k, TAG_STATUS(k), &k->status_pending);
		grpc_call_unref(k->call);
	}
	if (k->send)
		grpc_byte_buffer_destroy(k->send);
	if (k->recv)
		grpc_byte_buffer_destroy(k->recv);
	grpc_metadata_array_destroy(&k->imd);
	grpc_metadata_array_destroy(&k->tmd);
	grpc_slice_unref(k->details);
	if (k->error_string)
		gpr_free((void *)k->error_string);
	if (k->has_md)
		grpc_slice_unref(k->md.value);
	if (k->cq) {
		grpc_completion_queue_shutdown(k->cq);
		do
			ev = grpc_completion_queue_pluck(k->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		while (ev.type != GRPC_QUEUE_SHUTDOWN);
		grpc_completion_queue_destroy(k->cq);
	}
	memset(k, 0, sizeof(*k));
}

static int snapcall_start(struct snapcall *k, struct etcd_client *c)
{
	Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
	grpc_op ops[4], st;
	grpc_slice s;

	memset(k, 0, sizeof(*k));
	k->c = c;
	k->ep = c->cur;
	k->token_gen = c->token_gen;
	grpc_metadata_array_init(&k->imd);
	grpc_metadata_array_init(&k->tmd);
	k->details = grpc_empty_slice();
	k->cq = grpc_completion_queue_create_for_pluck(NULL);
	k->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, k->cq,
					   grpc_slice_from_static_string(ETCD_M_SNAPSHOT), NULL,
					   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!k->call)
		return err_set(ERR_INTERNAL, "etcd %s: snapshot: cannot create the call", c->eps[k->ep].name);
	k->has_md = etcd_token_md(c, &k->md);
	etcd_pack(&req.base, &s);
	k->send = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = k->has_md ? 1 : 0;
	ops[0].data.send_initial_metadata.metadata = k->has_md ? &k->md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = k->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->imd;
	memset(&st, 0, sizeof(st));
	st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	st.data.recv_status_on_client.trailing_metadata = &k->tmd;
	st.data.recv_status_on_client.status = &k->status;
	st.data.recv_status_on_client.status_details = &k->details;
	st.data.recv_status_on_client.error_string = &k->error_string;
	if (grpc_call_start_batch(k->call, &st, 1, TAG_STATUS(k), NULL) != GRPC_CALL_OK)
		return err_set(ERR_INTERNAL, "etcd %s: snapshot: cannot start the status batch", c->eps[k->ep].name);
	k->status_pending = 1;
	if (grpc_call_start_batch(k->call, ops, 4, TAG_START(k), NULL) != GRPC_CALL_OK)
		return err_set(ERR_INTERNAL, "etcd %s: snapshot: cannot send the request", c->eps[k->ep].name);
	k->start_pending = 1;
	return 0;
}

static int start_recv(struct snapcall *k)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &k->recv;
	if (grpc_call_start_batch(k->call, &op, 1, TAG_RECV(k), NULL) != GRPC_CALL_OK)
		return err_set(ERR_INTERNAL, "etcd %s: snapshot: cannot start a receive", k->c->eps[k->ep].name);
	k->recv_pending = 1;
	return 0;
}

/* The stream is over (no more messages): its status says how. */
static int end_status(struct snapcall *k)
{
	wait_tag(k, TAG_START(k), &k->start_pending);
	wait_tag(k, TAG_STATUS(k), &k->status_pending);
	return etcd_map_status(k->c, k->ep, k->status, k->details);
}

/* Waits for the next message: 1 with k->recv set, 0 at the end of the
 * stream, <0 on error, stop or silence. */
static int next_message(struct snapcall *k, const volatile sig_atomic_t *stop)
{
	long idle = 0, limit = k->c->cmd_ms;
	grpc_event ev;
	int rc;

	if ((rc = start_recv(k)) < 0)
		return rc;
	for (;;) {
		ev = grpc_completion_queue_pluck(k->cq, TAG_RECV(k), etcd_deadline(SNAP_POLL_MS), NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			k->recv_pending = 0;
		/* checked on every message too: a fast stream never times out */
		if ((stop && *stop) || etcd_stopped(k->c))
			return err_set(ERR_INTERRUPTED, "interrupted while receiving the snapshot from etcd %s",
				       k->c->eps[k->ep].name);
		if (ev.type == GRPC_OP_COMPLETE)
			break;
		if ((idle += SNAP_POLL_MS) >= limit) {
			k->silent = 1;
			return err_set(ERR_UNAVAILABLE, "etcd %s: snapshot: nothing received for %.1f s",
				       k->c->eps[k->ep].name, (double)limit / 1000);
		}
	}
	if (!ev.success || k->recv == NULL) {
		rc = end_status(k);
		return rc < 0 ? rc : 0;
	}
	return 1;
}

/* One attempt on the endpoint in use; *got counts the blob bytes passed on. */
static int stream_once(struct snapcall *k, struct etcd_client *c, etcd_snapshot_fn fn, void *arg,
		       const volatile sig_atomic_t *stop, uint64_t *got)
{
	uint64_t total = 0;
	int rc;

	if ((rc = snapcall_start(k, c)) < 0)
		return rc;
	while ((rc = next_message(k, stop)) == 1) {
		Etcdserverpb__SnapshotResponse *r = NULL;

		rc = etcd_unpack_bb(c, k->ep, ETCD_M_SNAPSHOT, k->recv, &etcdserverpb__snapshot_response__descriptor,
				    (ProtobufCMessage **)&r);
		grpc_byte_buffer_destroy(k->recv);
		k->recv = NULL;
		if (rc < 0)
			return rc;
		/* the first piece tells the size of the file: what is left plus itself */
		if (total == 0 && r->blob.len > 0)
			total = r->remaining_bytes + r->blob.len;
		if (r->blob.len > 0)
			rc = fn(arg, r->blob.data, r->blob.len, total);
		*got += r->blob.len;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		if (rc < 0)
			return rc;
	}
	if (rc == 0 && *got == 0)
		rc = err_set(ERR_ETCD, "etcd %s: snapshot: the stream ended without data", c->eps[k->ep].name);
	return rc;
}

/* A failure before any byte was passed on can be retried: on the next
 * endpoint (unreachable, or a hung member that sent nothing for the command
 * timeout: another member's snapshot serves as well) or after a new token
 * (expired). */
static int retryable(const struct snapcall *k, const struct etcd_client *c, int rc, int *reauth)
{
	char det[128];
	size_t n = GRPC_SLICE_LENGTH(k->details);

	*reauth = 0;
	if (rc == ERR_UNAVAILABLE && (k->status == GRPC_STATUS_UNAVAILABLE || k->silent))
		return 1;
	if (k->status != GRPC_STATUS_UNAUTHENTICATED || !c->user)
		return 0;
	if (n >= sizeof(det))
		n = sizeof(det) - 1;
	memcpy(det, GRPC_SLICE_START_PTR(k->details), n);
	det[n] = '\0';
	*reauth = strstr(det, "invalid auth token") != NULL;
	return *reauth;
}

int etcd_snapshot(struct etcd_client *c, etcd_snapshot_fn fn, void *arg, const volatile sig_atomic_t *stop)
{
	size_t switches = 0;
	int reauthed = 0;

	for (;;) {
		struct snapcall k;
		uint64_t got = 0;
		int rc = stream_once(&k, c, fn, arg, stop, &got), reauth = 0;
		int again = rc < 0 && got == 0 && k.call && retryable(&k, c, rc, &reauth);
		size_t ep = k.ep;
		unsigned gen = k.token_gen;

		snapcall_release(&k);
		if (!again || (reauth && reauthed) || (!reauth && switches >= c->n_eps))
			return rc;
		if (reauth) {
			reauthed = 1;
			if (gen == c->token_gen && (rc = etcd_authenticate(c)) < 0)
				return rc;
			continue;
		}
		switches++;
		if (ep == c->cur && (rc = etcd_switch_endpoint(c)) < 0)
			return rc;
	}
}
