/* etcd: the etcd v3 client, over gRPC C core and protobuf-c.
 *
 * This is the only module that includes gRPC or protobuf-c headers for the
 * etcd API; everyone else sees the plain structs below. It does not know
 * about Kubernetes: keys and values are opaque bytes.
 *
 * Connection: a list of endpoints ("host:port", "http://host:port" or
 * "https://host:port", port 1..65535); the first one that answers a Status
 * within the dial timeout and has a leader is used (else the first that
 * answers). TLS is used when cacert/cert/key are given or an endpoint says
 * https://; the PEM files are validated with OpenSSL first (readable,
 * parseable, key matches cert, cert within its validity dates). With a user,
 * Authenticate is called once and the token is sent in the "token"
 * metadata; an "invalid auth token" answer re-authenticates once and
 * retries. Proxy environment variables are ignored. gRPC's own log lines go
 * to stderr only when debug is set. The receive limit is unlimited so large
 * pages work.
 *
 * Failover (docs/notes.md, "Failover"): every call has a deadline
 * (command_timeout_ms) and carries etcd's "hasleader" metadata (except
 * Status and Defragment, which a member answers alone), so a member without
 * a leader refuses at once instead of waiting. A call moves to the next
 * endpoint, on a fresh channel, when the endpoint
 *   - could not be reached or said "no leader": always (nothing was done);
 *   - hit the deadline (a hung member) or lost the connection mid-call: only
 *     for calls that are safe to repeat: Range, Status, Alarm GET,
 *     Authenticate, and Txns whose every put has a mod_revision compare (a
 *     repeat of an applied Txn fails its compares and writes nothing).
 *     Put, DeleteRange, Compact, LeaseGrant and Defragment are not repeated.
 * Once every endpoint has failed, the call waits (250 ms, growing to 1 s)
 * and tries them all again, until command_timeout_ms has passed since it
 * started: a leader election finishes inside that window. Then it fails
 * with ERR_NOQUORUM when some member answered without a leader and none
 * with one, else ERR_UNAVAILABLE; either message lists every endpoint and
 * what it said.
 *
 * Interrupts: opts.stop points at a flag a signal handler sets. Every wait
 * checks it at least every 100 ms. Once it is set, no new call starts
 * (ERR_INTERRUPTED), and calls already in flight get 500 ms to finish (so
 * a rewrite's last Txns complete) before they are cancelled: a cancelled
 * call fails with ERR_INTERRUPTED (a cancelled Txn may or may not have been
 * applied). etcd_sleep is the interruptible sleep for callers' backoffs.
 * etcd_cleanup_begin allows one short, bounded cleanup step after a stop.
 *
 * Errors (see err.h): ERR_UNAVAILABLE (no endpoint reachable, deadline),
 * ERR_NOQUORUM (the members that answered have no leader), ERR_AUTH (bad
 * password, permission denied), ERR_COMPACTED (revision compacted),
 * ERR_NOSPACE (database space exceeded), ERR_TOOLARGE (request over etcd's
 * --max-request-bytes), ERR_TLS (bad PEM file, expired certificate),
 * ERR_USAGE (bad endpoint), ERR_INTERRUPTED (stop flag), ERR_ETCD
 * (anything else). Messages name the endpoint, the gRPC status name
 * and etcd's text, e.g.
 *   "etcd 127.0.0.1:2379: OUT_OF_RANGE: etcdserver: mvcc: required revision has been compacted"
 *
 * Threads: one client is used from one thread at a time. */
#ifndef ETCDCRYPT_ETCD_H
#define ETCDCRYPT_ETCD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct etcd_opts {
	const char *const *endpoints; /* borrowed; n_endpoints >= 1 */
	size_t n_endpoints;
	const char *cacert; /* PEM file paths or NULL */
	const char *cert;
	const char *key;
	const char *user;     /* NULL: no auth */
	const char *password; /* with user */
	long dial_timeout_ms;    /* first connection; 0 -> 2000 */
	long command_timeout_ms; /* deadline per call, and the failover budget; 0 -> 5000 */
	int debug;               /* route gRPC logs to stderr */
	const volatile sig_atomic_t *stop; /* NULL, or set (non-zero) to interrupt */
};

struct etcd_client;

/* A key-value as etcd returns it. The byte pointers are borrowed from the
 * response that holds them (valid until that response is released). */
struct etcd_kv {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

struct etcd_range_req {
	const uint8_t *key; /* required */
	size_t key_len;
	const uint8_t *range_end; /* NULL: single key */
	size_t range_end_len;
	int64_t limit;    /* 0: no limit */
	int64_t revision; /* 0: latest */
	int keys_only;
	int count_only;
	int serializable; /* answer from the member's own state, no ReadIndex
			     round (safe with a revision it has already served) */
};

struct etcd_range_resp {
	int64_t revision; /* header.revision: the store's current revision */
	struct etcd_kv *kvs; /* owned by the response */
	size_t n_kvs;
	int more;
	int64_t count;
	void *priv; /* the unpacked message; freed by release */
};

struct etcd_status {
	char version[32];
	int64_t db_size;
	int64_t db_size_in_use;
	uint64_t leader;
	uint64_t member_id;
	uint64_t raft_index;
	int64_t revision;
	int n_errors; /* StatusResponse.errors count */
};

/* One compare-and-swap put: succeeds only if key's mod_revision is still
 * mod_revision (0 = key must not exist; negative = no compare, a plain put,
 * for benchmarks and loaders). The put attaches `lease` (0 = none). */
struct etcd_cas_put {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	int64_t mod_revision;
	int64_t lease;
};

enum etcd_alarm { ETCD_ALARM_NONE = 0, ETCD_ALARM_NOSPACE = 1, ETCD_ALARM_CORRUPT = 2 };

/* Connects (fail-fast on the first call; see above) and authenticates. On
 * success *out is owned by the caller; free with etcd_close. Calls grpc_init
 * itself (reference counted with etcd_close). */
int etcd_open(struct etcd_client **out, const struct etcd_opts *opts);
void etcd_close(struct etcd_client *c); /* NULL-safe */

/* The endpoint currently in use (borrowed). */
const char *etcd_endpoint(const struct etcd_client *c);

/* 0 when s is an endpoint etcd_open accepts, else ERR_USAGE with a message
 * saying what is wrong (for a usage error before anything is opened). */
int etcd_endpoint_check(const char *s);

/* 1 once the stop flag is set (and no cleanup window is open). */
int etcd_stopped(struct etcd_client *c);

/* The one cleanup step a stopped program may still take (the controller:
 * publish that its rewrite was interrupted, revoke its lock's lease so that
 * another controller takes over at once). Once the stop flag is set, this
 * opens a window of min(ms, ETCD_CLEANUP_MAX_MS) during which calls start
 * again, each with its deadline cut to the window's end; when the window
 * ends, calls in flight are cancelled and new ones refused
 * (ERR_INTERRUPTED), as after any stop. The window opens once per client:
 * later calls never extend or reopen it. Without a stop it does nothing
 * (calls run as usual). Call it only after the work the stop ended has
 * returned: within the window, the client does not refuse new calls. */
#define ETCD_CLEANUP_MAX_MS 500
void etcd_cleanup_begin(struct etcd_client *c, long ms);

/* Sleeps ms milliseconds; returns ERR_INTERRUPTED at once (within 50 ms)
 * when the stop flag is or becomes set, else 0. */
int etcd_sleep(struct etcd_client *c, long ms);

/* Unary Range. *out must be released with etcd_range_resp_release. */
int etcd_range(struct etcd_client *c, struct etcd_range_resp *out, const struct etcd_range_req *req);
void etcd_range_resp_release(struct etcd_range_resp *r); /* NULL-safe, idempotent */

/* Put one key (tests, demo loader). *out_revision may be NULL. */
int etcd_put(struct etcd_client *c, int64_t *out_revision, const uint8_t *key, size_t key_len,
	     const uint8_t *value, size_t value_len, int64_t lease);

/* DeleteRange [key, range_end) (range_end NULL: one key). *out_deleted may be NULL. */
int etcd_delete(struct etcd_client *c, int64_t *out_deleted, const uint8_t *key, size_t key_len,
		const uint8_t *range_end, size_t range_end_len);

/* One Txn: compare mod_revision of every op's key, on success put all of them.
 * *out_succeeded is 0 when any compare failed (not an error); *out_revision
 * is the header revision. n_ops must be 1..128. */
int etcd_txn_cas(struct etcd_client *c, int *out_succeeded, int64_t *out_revision,
		 const struct etcd_cas_put *ops, size_t n_ops);

/* ---- many single keys at once (rewrite's re-reads) -----------------------
 * Up to 128 keys (etcd's --max-txn-ops) read in one read-only Txn of Range
 * ops: one round trip, one revision, linearizable. kvs[i] answers keys[i];
 * its key is NULL when keys[i] does not exist. Release with
 * etcd_many_resp_release (kvs point into the response). */
struct etcd_key_ref {
	const uint8_t *key;
	size_t key_len;
};

struct etcd_many_resp {
	int64_t revision;
	struct etcd_kv *kvs; /* n entries, owned by the response */
	size_t n;
	void *priv;
};

int etcd_get_many(struct etcd_client *c, struct etcd_many_resp *out, const struct etcd_key_ref *keys, size_t n);
void etcd_many_resp_release(struct etcd_many_resp *r); /* NULL-safe, idempotent */

/* Compact at revision (physical: wait until applied). */
int etcd_compact(struct etcd_client *c, int64_t revision, int physical);

/* Maintenance.Status of the endpoint in use. */
int etcd_status(struct etcd_client *c, struct etcd_status *out);

/* The database sizes over every member, each asked for its Status on its
 * own short-lived channel (deadline: the dial timeout): every endpoint
 * given, then every member Cluster.MemberList names that was not given (by
 * its first client URL, with the same TLS files). A member's quota is its
 * own, so a guard must use the largest. Members that do not answer are
 * skipped (counted in answered < asked); ERR_UNAVAILABLE when no endpoint
 * given answers. */
struct etcd_db_sizes {
	int64_t max_db_size;        /* largest StatusResponse.dbSize */
	int64_t max_db_size_in_use; /* largest dbSizeInUse */
	char max_endpoint[256];     /* the endpoint or member URL with max_db_size */
	size_t answered;
	size_t asked;
};
int etcd_db_sizes(struct etcd_client *c, struct etcd_db_sizes *out);

/* Maintenance.Defragment of the endpoint in use (long deadline). */
int etcd_defragment(struct etcd_client *c);

/* Maintenance.Alarm GET: *out_alarms is a bitmask of enum etcd_alarm values
 * (1 << alarm) over all members; 0 when none is raised. */
int etcd_alarms(struct etcd_client *c, unsigned *out_alarms);

/* ---- snapshot ------------------------------------------------------------
 * Maintenance.Snapshot of the endpoint in use: etcd streams its whole bbolt
 * database, then the SHA-256 of those bytes (32 bytes): in order, exactly the
 * bytes `etcdctl snapshot save` writes. fn gets each piece in order; total is
 * the database size (without the hash) once the first piece told it. fn
 * returns <0 to stop with that code. It costs etcd what `etcdctl snapshot
 * save` costs: one read transaction and the file read once.
 * Stops within a fraction of a second with ERR_INTERRUPTED once *stop (may
 * be NULL) or the client's stop flag is non-zero; a stream silent for the
 * command timeout ends with ERR_UNAVAILABLE. Before the first piece arrives,
 * an unreachable or silent (hung) endpoint fails over and an expired token
 * is renewed, as for unary calls; after it,
 * errors are returned (fn's bytes so far are then incomplete). etcd with
 * auth lets only a user with the root role take a snapshot: others get
 * ERR_AUTH ("permission denied"). The hash is not checked here. */
typedef int (*etcd_snapshot_fn)(void *arg, const uint8_t *p, size_t n, uint64_t total);
int etcd_snapshot(struct etcd_client *c, etcd_snapshot_fn fn, void *arg, const volatile sig_atomic_t *stop);

/* Grants a lease (tests, demo, the controller's lock). */
int etcd_lease_grant(struct etcd_client *c, int64_t *out_id, int64_t ttl_seconds);

/* Renews a lease once (LeaseKeepAlive, one request on its own stream).
 * *out_ttl is the TTL left after renewal; 0 means the lease is gone
 * (expired or revoked): not an error, the caller has lost it. */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *out_ttl);

/* Revokes a lease: every key attached to it is deleted. A lease that is
 * already gone is not an error. */
int etcd_lease_revoke(struct etcd_client *c, int64_t id);

/* Range end that makes [prefix, end) a prefix scan. Writes at most
 * prefix_len bytes to end_out (caller gives prefix_len bytes; a prefix of
 * only 0xff bytes gives the single byte "\0"). Returns the end length. */
size_t etcd_prefix_end(uint8_t *end_out, const uint8_t *prefix, size_t prefix_len);

/* ---- paging at one revision -------------------------------------------
 * Iterates [key, range_end) in pages of page_size keys, all at one revision
 * (the first page's, or the one given). The next page is requested
 * asynchronously while the caller processes the current one. Every page is
 * a linearizable read (serializable pages at the pinned revision measured no
 * faster on etcd 3.4, and could fail after a failover to a lagging member). */
struct etcd_pager;

int etcd_pager_new(struct etcd_pager **out, struct etcd_client *c, const uint8_t *key, size_t key_len,
		   const uint8_t *range_end, size_t range_end_len, int64_t page_size, int64_t revision);
/* Returns 1 and fills *page (released by the next call or by free) while
 * keys remain, 0 at the end, <0 on error. page->revision is the revision the
 * whole iteration reads at. */
int etcd_pager_next(struct etcd_pager *p, const struct etcd_range_resp **page);
int64_t etcd_pager_revision(const struct etcd_pager *p); /* 0 before the first page */
/* Before the first next: fetch one page only; next returns it (its `more`
 * says whether keys remain after it in the range) and then 0. */
void etcd_pager_one_page(struct etcd_pager *p);
/* Sends the first page's request now (so several ranges can be in flight);
 * next returns it later. */
int etcd_pager_prefetch(struct etcd_pager *p);
void etcd_pager_free(struct etcd_pager *p);

/* ---- many Txns in flight (rewrite) --------------------------------------
 * Up to max_inflight CAS Txns in flight on one completion queue. Submit
 * copies nothing it does not need: key/value bytes must stay valid until that
 * Txn's result is returned by etcd_async_wait. */
struct etcd_async;

struct etcd_async_result {
	void *user;      /* as given to submit */
	int rc;          /* 0 or a negative ERR_* (message in rc_msg) */
	char rc_msg[256];
	int succeeded;   /* Txn compares all held */
	int64_t revision;
};

int etcd_async_new(struct etcd_async **out, struct etcd_client *c, int max_inflight);
/* Starts one Txn. Fails with ERR_INTERNAL if max_inflight are already in
 * flight (wait first). */
int etcd_async_txn_cas(struct etcd_async *a, const struct etcd_cas_put *ops, size_t n_ops, void *user);
int etcd_async_inflight(const struct etcd_async *a);
/* Blocks until one in-flight Txn completes; 0 and *out filled, or
 * ERR_INTERNAL when nothing is in flight. */
int etcd_async_wait(struct etcd_async *a, struct etcd_async_result *out);
void etcd_async_free(struct etcd_async *a); /* waits for in-flight calls first */

/* ---- watch ---------------------------------------------------------------
 * One watch stream over [key, range_end) from start_revision, fragment on,
 * with prev_kv off. Events of a fragmented response are joined. */
struct etcd_watch;

enum etcd_event_type { ETCD_EVENT_PUT = 0, ETCD_EVENT_DELETE = 1 };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;
};

struct etcd_watch_batch {
	int64_t header_revision;
	int64_t compact_revision; /* > 0: start revision was compacted, stream canceled */
	int canceled;
	struct etcd_event *events; /* owned by the watch until the next call */
	size_t n_events;
	int created; /* the response also carried etcd's "created" flag. A plain
		      * creation notice (no events) is consumed, never returned;
		      * this is set only when it comes with a cancel. */
};

int etcd_watch_open(struct etcd_watch **out, struct etcd_client *c, const uint8_t *key, size_t key_len,
		    const uint8_t *range_end, size_t range_end_len, int64_t start_revision);
/* Waits up to timeout_ms for the next (joined) response. Returns 1 with
 * *out filled, 0 on timeout, <0 on error. */
int etcd_watch_next(struct etcd_watch *w, struct etcd_watch_batch *out, long timeout_ms);
void etcd_watch_close(struct etcd_watch *w); /* cancels the stream */

/* gRPC process state shared with the other gRPC user (core/kms): grpc_init
 * reference counting, with gRPC's log lines routed to stderr only when some
 * holder asked for debug output. Each ref is paired with one unref. */
void etcd_grpc_ref(int debug);
void etcd_grpc_unref(void);

/* "UNAVAILABLE", "DEADLINE_EXCEEDED", ... for a grpc_status_code. */
const char *etcd_grpc_status_name(int code);

#endif
