/* etcd_int: internals shared by the etcd_*.c files (not for other modules).
 *
 * One struct etcd_call holds everything a single unary call owns (docs/grpc-notes.md
 * §1): the call, both byte buffers, both metadata
 * arrays, the status details, the token metadata and the packed request,
 * which is kept so a call that failed over or met an expired token can be
 * sent again. The blocking calls use the client's pluck queue; the pager and
 * the async writer start the same calls on their own next queues and finish
 * them with etcd_call_complete, which retries synchronously. Whether and
 * where a failed call is sent again is decided in etcd_retry.c. */
#ifndef ETCDCRYPT_ETCD_INT_H
#define ETCDCRYPT_ETCD_INT_H

#include <signal.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "etcd.h"
#include "etcd_tls.h"
#include "kv.pb-c.h"

/* etcd's default --max-txn-ops */
#define ETCD_MAX_TXN_OPS 128

struct etcd_endpoint {
	char *name;   /* as the user gave it: used in messages */
	char *target; /* host:port for grpc_channel_create */
	int tls;
	int answered; /* a call on it has reached etcd at least once */
	/* the last failure of the call being retried (etcd_retry.c) */
	unsigned fail_gen; /* == client call_gen: belongs to the current call */
	int fail_kind;
	char fail[200];
};

struct etcd_client {
	struct etcd_endpoint *eps;
	size_t n_eps;
	size_t cur; /* index into eps of the channel in use */
	grpc_channel *ch;
	grpc_completion_queue *cq; /* pluck queue for blocking calls */
	struct etcd_tls pem;       /* validated PEM contents */
	char *user;
	char *password;
	grpc_slice token;
	int have_token;
	unsigned token_gen; /* bumped on every Authenticate */
	long dial_ms;
	long cmd_ms;
	int grpc_ref; /* this client holds one grpc_init reference */
	const volatile sig_atomic_t *stop;
	double stop_at;    /* monotonic seconds the stop was first seen; 0: not yet */
	double cleanup_until; /* >0: end of the one cleanup window after a stop
				 (etcd_cleanup_begin) */
	unsigned call_gen; /* bumped per retried call (endpoint fail records) */
};

/* Call flags. */
#define ETCD_CALL_NOTOKEN 1 /* Authenticate: never send the token */
#define ETCD_CALL_NORETRY 2 /* no failover and no re-authentication */
#define ETCD_CALL_SAFE 4    /* repeating it is harmless: fails over after a
			       deadline or a connection lost mid-call too */
#define ETCD_CALL_LOCAL 8   /* a member answers it alone (Status, Defragment):
			       no "hasleader" metadata */

/* How often blocking waits look at the stop flag, and how long calls in
 * flight may still finish once it is set. */
#define ETCD_POLL_MS 100
#define ETCD_STOP_GRACE_MS 500

struct etcd_call {
	grpc_call *call;
	const char *method; /* static string */
	grpc_slice req;     /* packed request, kept for a retry */
	long timeout_ms;
	int flags;
	grpc_byte_buffer *send;
	grpc_byte_buffer *recv;
	grpc_metadata_array imd;
	grpc_metadata_array tmd;
	grpc_metadata md[2]; /* token, hasleader */
	size_t n_md;
	int token_md;        /* md[0] holds a token reference */
	grpc_status_code status;
	grpc_slice details;
	const char *error_string;
	size_t ep;          /* endpoint index the call went to */
	unsigned token_gen; /* token generation it carried */
};

/* etcd_conn.c */
/* Moves to the next endpoint with a fresh channel. */
int etcd_switch_endpoint(struct etcd_client *c);
int etcd_authenticate(struct etcd_client *c);
/* A new channel to endpoint i (the caller destroys it). */
int etcd_channel_new(struct etcd_client *c, size_t i, grpc_channel **out);
/* One endpoint from a URL (host:port, http://, https://), TLS when the
 * scheme says so or the client holds TLS files; release with
 * etcd_endpoint_release. For members found by MemberList. */
int etcd_endpoint_from_url(const struct etcd_client *c, struct etcd_endpoint *e, const char *url);
void etcd_endpoint_release(struct etcd_endpoint *e);
double etcd_now(void); /* monotonic seconds */

/* etcd_wait.c: waits that watch the stop flag */
/* 1 once the stop flag was seen; 2 once its grace period is over too. */
int etcd_stop_state(struct etcd_client *c);
/* timeout_ms cut to what is left of an open cleanup window (<= 0: none
 * left); timeout_ms itself when no window is open. */
long etcd_cleanup_left_ms(struct etcd_client *c, long timeout_ms);
/* Plucks tag from cq; cancels call (may be NULL) when the grace is over. */
grpc_event etcd_wait_pluck(struct etcd_client *c, grpc_completion_queue *cq, void *tag, grpc_call *call);
/* Next event of cq; calls cancel(arg) once when the grace is over. */
grpc_event etcd_wait_next(struct etcd_client *c, grpc_completion_queue *cq, void (*cancel)(void *), void *arg);

/* etcd_retry.c */
enum etcd_retry { RETRY_NONE = 0, RETRY_FAILOVER, RETRY_REAUTH };
/* Starts a new retried call: forgets the endpoints' failure records. */
void etcd_retry_begin(struct etcd_client *c);
/* What to do after the finished call k failed (rc from etcd_status_err):
 * records a failover on k's endpoint. */
enum etcd_retry etcd_retry_kind(struct etcd_client *c, const struct etcd_call *k, int rc);
/* After every endpoint failed once: ERR_NOQUORUM or ERR_UNAVAILABLE with a
 * message naming each endpoint and its failure. */
int etcd_retry_giveup(struct etcd_client *c, const char *method);
/* The failures recorded since etcd_retry_begin, most telling first ("E1:
 * no leader; E2: connection refused"), into buf; returns how many
 * endpoints failed, *n_noleader of them without a leader. */
size_t etcd_retry_list(struct etcd_client *c, char *buf, size_t size, size_t *n_noleader);

/* etcd_call.c */
int etcd_pack(const ProtobufCMessage *m, grpc_slice *out);
gpr_timespec etcd_deadline(long timeout_ms);
/* Starts the six-op unary batch with `tag` on cq. Takes a reference on req.
 * On failure nothing is pending and k is released. */
int etcd_call_start(struct etcd_client *c, struct etcd_call *k, grpc_completion_queue *cq,
		    const char *method, grpc_slice req, long timeout_ms, int flags, void *tag);
/* After the batch completed: maps the status (err_set) and unpacks. If the
 * call failed in a way that a retry can fix (UNAVAILABLE, expired token), it
 * is redone as a blocking call with failover. k is released either way. */
int etcd_call_complete(struct etcd_client *c, struct etcd_call *k,
		       const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);
void etcd_call_release(struct etcd_call *k); /* idempotent */
/* Blocking unary call with failover and one re-authentication (flags:
 * ETCD_CALL_*). */
int etcd_unary(struct etcd_client *c, const char *method, const ProtobufCMessage *req,
	       const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, long timeout_ms, int flags);
int etcd_unary_slice(struct etcd_client *c, const char *method, grpc_slice req,
		     const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, long timeout_ms,
		     int flags);
/* Sets the error for a finished call from its status; 0 when OK. */
int etcd_status_err(struct etcd_client *c, const struct etcd_call *k);
/* Maps a raw status (streams); details may be empty. */
int etcd_map_status(struct etcd_client *c, size_t ep, grpc_status_code code, grpc_slice details);
/* Unpacks one received byte buffer (NULL: error). */
int etcd_unpack_bb(struct etcd_client *c, size_t ep, const char *method, grpc_byte_buffer *bb,
		   const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);
/* Fills md with the token when the client has one; returns 1 if it did
 * (streams a member serves alone: Snapshot). */
int etcd_token_md(struct etcd_client *c, grpc_metadata *md);
/* Fills md (room for 2) with the token when the client has one and
 * "hasleader" unless local; returns the count. *token_md: md[0] holds a
 * token reference (unref it when done). */
size_t etcd_call_md(struct etcd_client *c, grpc_metadata *md, int flags, int *token_md);

/* etcd_kv.c */
/* ETCD_CALL_SAFE when every put has a mod_revision compare, else 0. */
int etcd_txn_flags(const struct etcd_cas_put *ops, size_t n_ops);
int etcd_txn_pack(const struct etcd_cas_put *ops, size_t n_ops, grpc_slice *out);
int etcd_range_pack(grpc_slice *out, const struct etcd_range_req *req);
/* Points d at s's bytes (zero-copy: valid while s lives). */
void etcd_kv_from(struct etcd_kv *d, const Mvccpb__KeyValue *s);
/* etcd_rangewire.c: a RangeResponse read in place. Passing
 * &etcd_range_wire_descriptor to etcd_call_complete/etcd_unary_slice returns
 * the received bytes wrapped as a message of that descriptor (never given to
 * protobuf-c); etcd_range_resp_fill parses it with its kvs pointing into the
 * bytes, and etcd_range_resp_release frees it. */
extern const ProtobufCMessageDescriptor etcd_range_wire_descriptor;
/* Takes ownership of bytes (also on failure). */
int etcd_range_wire_new(grpc_slice bytes, ProtobufCMessage **out);
/* The same over a message received in several slices (references taken):
 * fields that straddle two slices are copied, the rest are read in place. */
int etcd_range_wire_new_slices(const grpc_slice *sl, size_t n, ProtobufCMessage **out);
void etcd_range_wire_free(ProtobufCMessage *m);
int etcd_range_wire_fill(struct etcd_range_resp *out, ProtobufCMessage *m);
/* A TxnResponse received that way (not freed): succeeded and header.revision. */
int etcd_txn_wire_result(ProtobufCMessage *m, int *succeeded, int64_t *revision);
/* Takes ownership of the unpacked RangeResponse m. */
int etcd_range_resp_fill(struct etcd_range_resp *out, ProtobufCMessage *m);

#define ETCD_M_RANGE "/etcdserverpb.KV/Range"
#define ETCD_M_PUT "/etcdserverpb.KV/Put"
#define ETCD_M_DELETE "/etcdserverpb.KV/DeleteRange"
#define ETCD_M_TXN "/etcdserverpb.KV/Txn"
#define ETCD_M_COMPACT "/etcdserverpb.KV/Compact"
#define ETCD_M_WATCH "/etcdserverpb.Watch/Watch"
#define ETCD_M_LEASE_GRANT "/etcdserverpb.Lease/LeaseGrant"
#define ETCD_M_LEASE_REVOKE "/etcdserverpb.Lease/LeaseRevoke"
#define ETCD_M_LEASE_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"
#define ETCD_M_ALARM "/etcdserverpb.Maintenance/Alarm"
#define ETCD_M_STATUS "/etcdserverpb.Maintenance/Status"
#define ETCD_M_SNAPSHOT "/etcdserverpb.Maintenance/Snapshot"
#define ETCD_M_DEFRAG "/etcdserverpb.Maintenance/Defragment"
#define ETCD_M_AUTHENTICATE "/etcdserverpb.Auth/Authenticate"
#define ETCD_M_MEMBERLIST "/etcdserverpb.Cluster/MemberList"

#endif
