/* etcd_call: one unary gRPC call to etcd, its error mapping and its retry
 * loop.
 *
 * Every call is fail-fast (no wait_for_ready) with a deadline, so a dead
 * endpoint is reported within milliseconds. When etcd_retry.c says a failed
 * call may go elsewhere, it moves to the next endpoint (a fresh channel,
 * which also skips gRPC's reconnect backoff); after every endpoint failed,
 * it pauses and goes round again until the command timeout has passed since
 * the call started (leader elections). An "invalid auth token" answer
 * re-authenticates once. Nothing here prints. */
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "base/err.h"
#include "etcd_int.h"

/* pause between rounds over all endpoints: 250 ms doubling to 1 s */
#define ETCD_ROUND_PAUSE_MS 250
#define ETCD_ROUND_PAUSE_MAX_MS 1000

const char *etcd_grpc_status_name(int code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};

	if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
		return "UNKNOWN_STATUS";
	return names[code];
}

static void details_str(char *buf, size_t size, grpc_slice details)
{
	size_t n = GRPC_SLICE_LENGTH(details);

	if (n >= size)
		n = size - 1;
	memcpy(buf, GRPC_SLICE_START_PTR(details), n);
	buf[n] = '\0';
}

static int classify(grpc_status_code code, const char *det)
{
	if (code == GRPC_STATUS_OUT_OF_RANGE && strstr(det, "compacted"))
		return ERR_COMPACTED;
	if (strstr(det, "database space exceeded"))
		return ERR_NOSPACE;
	/* etcd's ErrGRPCLeaseNotFound ("etcdserver: requested lease not found"):
	 * a put named a lease that expired meanwhile */
	if (strstr(det, "lease not found"))
		return ERR_LEASE_NOTFOUND;
	/* etcd's own --max-request-bytes check, or gRPC's receive limit (that
	 * plus 512 KiB) for a request larger still */
	if (strstr(det, "request is too large") ||
	    (code == GRPC_STATUS_RESOURCE_EXHAUSTED && strstr(det, "larger than max")))
		return ERR_TOOLARGE;
	if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED)
		return ERR_UNAVAILABLE;
	/* a call still in flight on a channel that failover replaced: the
	 * transport failed under it, so it is as transient as UNAVAILABLE */
	if ((code == GRPC_STATUS_UNKNOWN || code == GRPC_STATUS_CANCELLED) && strstr(det, "Channel Destroyed"))
		return ERR_UNAVAILABLE;
	if (code == GRPC_STATUS_PERMISSION_DENIED || code == GRPC_STATUS_UNAUTHENTICATED ||
	    strstr(det, "authentication failed") || strstr(det, "user name is empty") ||
	    strstr(det, "permission denied"))
		return ERR_AUTH;
	return ERR_ETCD;
}

/* gRPC's text for TLS failures is cryptic ("Endpoint read failed"); say what
 * most likely happened (docs/grpc-notes.md §4). */
static const char *hint(const struct etcd_endpoint *ep, grpc_status_code code, const char *det)
{
	if (code != GRPC_STATUS_UNAVAILABLE)
		return "";
	if (ep->tls && (strstr(det, "Ssl handshake failed") || strstr(det, "certificate verify failed")))
		return "TLS handshake failed: etcd's server certificate is not signed by the given cacert: ";
	if (ep->tls && strstr(det, "Endpoint read failed"))
		return "TLS handshake failed: etcd rejected the client certificate (not signed by its trusted CA, or none given): ";
	if (!ep->answered && (strstr(det, "Socket closed") || strstr(det, "Connection reset by peer")))
		return ep->tls ? "TLS handshake failed (does the endpoint speak TLS?): "
			       : "connection closed (does the endpoint need https:// and certificates?): ";
	return "";
}

int etcd_map_status(struct etcd_client *c, size_t ep, grpc_status_code code, grpc_slice details)
{
	char det[600];
	struct etcd_endpoint *e = &c->eps[ep];

	if (code == GRPC_STATUS_OK) {
		e->answered = 1;
		return 0;
	}
	details_str(det, sizeof(det), details);
	if (code == GRPC_STATUS_CANCELLED && etcd_stopped(c))
		return err_set(ERR_INTERRUPTED, "interrupted (the request in flight to etcd %s was cancelled)",
			       e->name);
	if (code != GRPC_STATUS_UNAVAILABLE && code != GRPC_STATUS_DEADLINE_EXCEEDED)
		e->answered = 1;
	return err_set(classify(code, det), "etcd %s: %s: %s%s", e->name, etcd_grpc_status_name(code), hint(e, code, det),
		       det[0] ? det : "(no details)");
}

int etcd_status_err(struct etcd_client *c, const struct etcd_call *k)
{
	return etcd_map_status(c, k->ep, k->status, k->details);
}

int etcd_unpack_bb(struct etcd_client *c, size_t ep, const char *method, grpc_byte_buffer *bb,
		   const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	ProtobufCMessage *m;

	if (!bb)
		return err_set(ERR_ETCD, "etcd %s: %s: no response message", c->eps[ep].name, method);
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return err_set(ERR_INTERNAL, "etcd %s: %s: cannot read the response buffer", c->eps[ep].name, method);
	/* pages are read in place, in gRPC's receive slices (16 KiB): no copy
	 * of the whole message (docs/performance.md) */
	if (d == &etcd_range_wire_descriptor && bb->type == GRPC_BB_RAW &&
	    bb->data.raw.compression == GRPC_COMPRESS_NONE) {
		grpc_byte_buffer_reader_destroy(&r);
		return etcd_range_wire_new_slices(bb->data.raw.slice_buffer.slices, bb->data.raw.slice_buffer.count,
						  out);
	}
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	if (d == &etcd_range_wire_descriptor)
		return etcd_range_wire_new(s, out); /* keeps s: the page points into it */
	m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!m)
		return err_set(ERR_CORRUPT, "etcd %s: %s: cannot decode the %s", c->eps[ep].name, method, d->name);
	*out = m;
	return 0;
}

int etcd_pack(const ProtobufCMessage *m, grpc_slice *out)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	*out = s;
	return 0;
}

gpr_timespec etcd_deadline(long timeout_ms)
{
	if (timeout_ms <= 0)
		return gpr_inf_future(GPR_CLOCK_REALTIME);
	return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

int etcd_token_md(struct etcd_client *c, grpc_metadata *md)
{
	memset(md, 0, sizeof(*md));
	if (!c->have_token)
		return 0; /* a token header on an etcd without auth fails the call */
	md->key = grpc_slice_from_static_string("token");
	md->value = grpc_slice_ref(c->token);
	return 1;
}

size_t etcd_call_md(struct etcd_client *c, grpc_metadata *md, int flags, int *token_md)
{
	size_t n = 0;

	memset(md, 0, 2 * sizeof(*md));
	*token_md = 0;
	/* a token header on an etcd without auth fails the call */
	if (c->have_token && !(flags & ETCD_CALL_NOTOKEN)) {
		md[n].key = grpc_slice_from_static_string("token");
		md[n++].value = grpc_slice_ref(c->token);
		*token_md = 1;
	}
	/* etcd's require-leader metadata (clientv3.WithRequireLeader): a member
	 * without a leader answers "etcdserver: no leader" at once instead of
	 * waiting for a ReadIndex or a proposal to time out */
	if (!(flags & ETCD_CALL_LOCAL)) {
		md[n].key = grpc_slice_from_static_string("hasleader");
		md[n++].value = grpc_slice_from_static_string("true");
	}
	return n;
}

void etcd_call_release(struct etcd_call *k)
{
	if (k->call)
		grpc_call_unref(k->call);
	if (k->send)
		grpc_byte_buffer_destroy(k->send);
	if (k->recv)
		grpc_byte_buffer_destroy(k->recv);
	grpc_metadata_array_destroy(&k->imd);
	grpc_metadata_array_destroy(&k->tmd);
	grpc_slice_unref(k->details);
	grpc_slice_unref(k->req);
	if (k->error_string)
		gpr_free((void *)k->error_string);
	if (k->token_md)
		grpc_slice_unref(k->md[0].value);
	memset(k, 0, sizeof(*k));
}

static void fill_ops(struct etcd_call *k, grpc_op *ops)
{
	memset(ops, 0, 6 * sizeof(*ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = k->n_md;
	ops[0].data.send_initial_metadata.metadata = k->n_md ? k->md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = k->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &k->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &k->tmd;
	ops[5].data.recv_status_on_client.status = &k->status;
	ops[5].data.recv_status_on_client.status_details = &k->details;
	ops[5].data.recv_status_on_client.error_string = &k->error_string;
}

int etcd_call_start(struct etcd_client *c, struct etcd_call *k, grpc_completion_queue *cq,
		    const char *method, grpc_slice req, long timeout_ms, int flags, void *tag)
{
	grpc_op ops[6];
	grpc_call_error ce;

	memset(k, 0, sizeof(*k));
	timeout_ms = etcd_cleanup_left_ms(c, timeout_ms); /* a cleanup call ends with its window */
	if (etcd_stopped(c) || timeout_ms <= 0)
		return err_set(ERR_INTERRUPTED, "interrupted");
	grpc_metadata_array_init(&k->imd);
	grpc_metadata_array_init(&k->tmd);
	k->details = grpc_empty_slice();
	k->method = method;
	k->req = grpc_slice_ref(req);
	k->timeout_ms = timeout_ms;
	k->flags = flags;
	k->ep = c->cur;
	k->token_gen = c->token_gen;
	k->send = grpc_raw_byte_buffer_create(&req, 1);
	k->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					   grpc_slice_from_static_string(method), NULL,
					   etcd_deadline(timeout_ms), NULL);
	if (!k->call) {
		etcd_call_release(k);
		return err_set(ERR_INTERNAL, "etcd %s: %s: cannot create the call", c->eps[c->cur].name, method);
	}
	k->n_md = etcd_call_md(c, k->md, flags, &k->token_md);
	fill_ops(k, ops);
	ce = grpc_call_start_batch(k->call, ops, 6, tag, NULL);
	if (ce != GRPC_CALL_OK) {
		etcd_call_release(k);
		return err_set(ERR_INTERNAL, "etcd %s: %s: cannot start the call: %s", c->eps[c->cur].name,
			       method, grpc_call_error_to_string(ce));
	}
	return 0;
}

static int finish(struct etcd_client *c, struct etcd_call *k, const ProtobufCMessageDescriptor *d,
		  ProtobufCMessage **out)
{
	int rc = etcd_status_err(c, k);

	if (rc == 0)
		rc = etcd_unpack_bb(c, k->ep, k->method, k->recv, d, out);
	return rc;
}

static int call_blocking(struct etcd_client *c, struct etcd_call *k, const char *method, grpc_slice req,
			 const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, long timeout_ms, int flags)
{
	grpc_event ev;
	int rc = etcd_call_start(c, k, c->cq, method, req, timeout_ms, flags, k);

	if (rc < 0)
		return rc;
	/* the call's deadline (or the stop grace) guarantees that the event arrives */
	ev = etcd_wait_pluck(c, c->cq, k, k->call);
	if (ev.type != GRPC_OP_COMPLETE)
		return err_set(ERR_INTERNAL, "etcd %s: %s: completion queue failed", c->eps[k->ep].name, method);
	return finish(c, k, d, out);
}

/* The retry state of one logical call, kept across its attempts. */
struct retry_state {
	double start;
	size_t failed_in_round;
	long pause_ms;
	int reauthed;
};

static void retry_init(struct etcd_client *c, struct retry_state *r, int flags)
{
	if (!(flags & ETCD_CALL_NORETRY))
		etcd_retry_begin(c); /* a NORETRY call is one step of its caller's loop */
	r->start = etcd_now();
	r->failed_in_round = 0;
	r->pause_ms = ETCD_ROUND_PAUSE_MS;
	r->reauthed = 0;
}

/* After the attempt k failed with rc: 1 to send it again (the endpoint may
 * have been switched), or 0 with the error to return in *rc. */
static int again(struct etcd_client *c, struct retry_state *r, const struct etcd_call *k, int *rc)
{
	enum etcd_retry kind = etcd_retry_kind(c, k, *rc);

	if (kind == RETRY_REAUTH && !r->reauthed) {
		r->reauthed = 1;
		if (k->token_gen == c->token_gen && (*rc = etcd_authenticate(c)) < 0)
			return 0;
		return 1;
	}
	if (kind != RETRY_FAILOVER)
		return 0;
	if (++r->failed_in_round >= c->n_eps) {
		/* every endpoint failed: wait for an election or a restart, within
		 * the command timeout */
		if ((etcd_now() - r->start) * 1000 + (double)r->pause_ms >= (double)c->cmd_ms) {
			*rc = etcd_retry_giveup(c, k->method);
			return 0;
		}
		if ((*rc = etcd_sleep(c, r->pause_ms)) < 0)
			return 0;
		r->pause_ms = r->pause_ms * 2 > ETCD_ROUND_PAUSE_MAX_MS ? ETCD_ROUND_PAUSE_MAX_MS : r->pause_ms * 2;
		r->failed_in_round = 0;
	}
	/* calls that failed together switch only once */
	if (k->ep == c->cur && (*rc = etcd_switch_endpoint(c)) < 0)
		return 0;
	return 1;
}

static int unary_loop(struct etcd_client *c, struct retry_state *r, const char *method, grpc_slice req,
		      const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, long timeout_ms, int flags)
{
	for (;;) {
		struct etcd_call k;
		int rc = call_blocking(c, &k, method, req, d, out, timeout_ms, flags);
		int more = rc < 0 && k.call && again(c, r, &k, &rc);

		etcd_call_release(&k);
		if (!more)
			return rc;
	}
}

int etcd_unary_slice(struct etcd_client *c, const char *method, grpc_slice req,
		     const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, long timeout_ms, int flags)
{
	struct retry_state r;

	retry_init(c, &r, flags);
	return unary_loop(c, &r, method, req, d, out, timeout_ms, flags);
}

int etcd_unary(struct etcd_client *c, const char *method, const ProtobufCMessage *req,
	       const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, long timeout_ms, int flags)
{
	grpc_slice s;
	int rc = etcd_pack(req, &s);

	if (rc < 0)
		return rc;
	rc = etcd_unary_slice(c, method, s, d, out, timeout_ms, flags);
	grpc_slice_unref(s);
	return rc;
}

int etcd_call_complete(struct etcd_client *c, struct etcd_call *k, const ProtobufCMessageDescriptor *d,
		       ProtobufCMessage **out)
{
	struct retry_state r;
	int rc = finish(c, k, d, out);
	grpc_slice req;

	if (rc == 0) {
		etcd_call_release(k);
		return 0;
	}
	/* the async attempt counts as the first of a blocking retry loop */
	retry_init(c, &r, k->flags);
	if (!again(c, &r, k, &rc)) {
		etcd_call_release(k);
		return rc;
	}
	req = grpc_slice_ref(k->req);
	rc = unary_loop(c, &r, k->method, req, d, out, k->timeout_ms, k->flags);
	grpc_slice_unref(req);
	etcd_call_release(k);
	return rc;
}
