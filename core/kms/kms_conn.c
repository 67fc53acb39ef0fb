/* kms_conn: one KMS plugin connection and its unary calls (see kms.h).
 *
 * Every call is fail-fast (a missing socket is reported at once) with the
 * plugin's timeout as its deadline; the completion queue is waited on a
 * little past that deadline and the call cancelled if gRPC has not answered,
 * so nothing here can hang. gRPC status mapping:
 *   UNAVAILABLE, DEADLINE_EXCEEDED    KMS_UNAVAILABLE, and the plugin is down
 *   NOT_FOUND, text "unknown key"     KMS_UNKNOWN_KEY_ID
 *   anything else                     KMS_UNAVAILABLE (the plugin refused)
 * Messages carry the method, the status name and the plugin's own text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "base/err.h"
#include "base/pbwire.h"
#include "etcd/etcd.h"
#include "kms_int.h"
#include "kmsv1.pb-c.h"
#include "kmsv2api.pb-c.h"

#define KMS_TIMEOUT_DEFAULT 3000
#define KMS_MAX_ANNOTATIONS 64
#define KMS_ANNOTATIONS_MAX (32 * 1024)
#define CQ_GRACE_MS 2000
#define KMS_MAX_INFLIGHT 64 /* past the call deadline: cancel (gRPC's deadline should already have fired) */

static uint64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* gRPC target for a kube-apiserver endpoint: unix:///path as is, the
 * abstract unix:///@name as gRPC's unix-abstract:name. */
static int grpc_target(char **out, const char *endpoint)
{
	const char *path;
	size_t n;

	*out = NULL;
	if (strncmp(endpoint, "unix://", 7) != 0 || endpoint[7] != '/' || endpoint[8] == '\0')
		return err_set(ERR_CONFIG, "endpoint '%s' is not unix:///path (the only kind kube-apiserver dials)",
			       endpoint);
	path = endpoint + 7;
	n = strlen(path) + 32;
	if ((*out = malloc(n)) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if (path[1] == '@')
		snprintf(*out, n, "unix-abstract:%s", path + 2);
	else
		snprintf(*out, n, "unix://%s", path);
	return 0;
}

int kms_conn_open(struct kms_conn **out, const char *name, const char *endpoint, long timeout_ms, int api)
{
	grpc_arg args[2];
	grpc_channel_args ca = { 2, args };
	grpc_channel_credentials *creds;
	struct kms_conn *c;
	char *target = NULL;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->name = strdup(name)) == NULL ||
	    (c->endpoint = strdup(endpoint ? endpoint : "")) == NULL) {
		kms_conn_close(c);
		return err_set(ERR_NOMEM, "out of memory");
	}
	c->api = api;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : KMS_TIMEOUT_DEFAULT;
	c->v2_pkg = "v2";
	c->st.name = c->name;
	c->st.endpoint = c->endpoint;
	c->st.api = api;
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	*out = c;
	if (grpc_target(&target, c->endpoint) < 0) {
		/* not fatal: every value of this plugin says why it is unreadable */
		c->down = c->st.down = 1;
		snprintf(c->down_msg, sizeof(c->down_msg), "KMS plugin '%s': %s", name, err_msg());
		err_clear();
		return 0;
	}
	/* as the apiserver: authority "localhost"; proxies never apply to a socket */
	args[0].type = GRPC_ARG_STRING;
	args[0].key = (char *)GRPC_ARG_DEFAULT_AUTHORITY;
	args[0].value.string = (char *)"localhost";
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_ENABLE_HTTP_PROXY;
	args[1].value.integer = 0;
	creds = grpc_insecure_credentials_create();
	c->ch = grpc_channel_create(target, creds, &ca);
	grpc_channel_credentials_release(creds);
	free(target);
	return 0;
}

void kms_conn_close(struct kms_conn *c)
{
	if (c == NULL)
		return;
	if (c->cq) {
		grpc_completion_queue_shutdown(c->cq);
		while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(c->cq);
	}
	if (c->cq_many) {
		grpc_completion_queue_shutdown(c->cq_many);
		while (grpc_completion_queue_next(c->cq_many, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
		       GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(c->cq_many);
	}
	if (c->ch)
		grpc_channel_destroy(c->ch);
	free(c->name);
	free(c->endpoint);
	free(c);
}

struct call_result {
	grpc_status_code code;
	char det[KMS_MSG_MAX / 2];
	grpc_byte_buffer *resp;
};

static void copy_slice(char *dst, size_t cap, grpc_slice s)
{
	size_t n = GRPC_SLICE_LENGTH(s);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, GRPC_SLICE_START_PTR(s), n);
	dst[n] = '\0';
}

/* One call in flight: what start_call set up and end_call releases. */
struct pending {
	grpc_call *call;
	grpc_byte_buffer *req;
	grpc_metadata_array imd, tmd;
	grpc_slice details;
	struct call_result r;
	int started;
};

/* Starts a unary call on cq with tag pd; on failure pd->r says why (no
 * event will come). */
static void start_call(struct kms_conn *c, grpc_completion_queue *cq, const char *method,
		       const ProtobufCMessage *req, gpr_timespec deadline, struct pending *pd)
{
	size_t n = protobuf_c_message_get_packed_size(req);
	grpc_slice s = grpc_slice_malloc(n), m;
	grpc_op ops[6];

	memset(pd, 0, sizeof(*pd));
	pd->details = grpc_empty_slice();
	protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(s));
	pd->req = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	m = grpc_slice_from_copied_string(method);
	pd->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
	grpc_slice_unref(m);
	grpc_metadata_array_init(&pd->imd);
	grpc_metadata_array_init(&pd->tmd);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = pd->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &pd->imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &pd->r.resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &pd->tmd;
	ops[5].data.recv_status_on_client.status = &pd->r.code;
	ops[5].data.recv_status_on_client.status_details = &pd->details;
	pd->started = grpc_call_start_batch(pd->call, ops, 6, pd, NULL) == GRPC_CALL_OK;
	if (!pd->started) {
		pd->r.code = GRPC_STATUS_INTERNAL;
		snprintf(pd->r.det, sizeof(pd->r.det), "cannot start the call");
	}
}

/* After the call's event (or a failed start): fills pd->r, frees the rest;
 * pd->r.resp (NULL unless OK) is the caller's to destroy. */
static void end_call(struct pending *pd, int timed_out)
{
	if (timed_out)
		pd->r.code = GRPC_STATUS_DEADLINE_EXCEEDED;
	if (pd->started && !pd->r.det[0])
		copy_slice(pd->r.det, sizeof(pd->r.det), pd->details);
	grpc_byte_buffer_destroy(pd->req);
	grpc_slice_unref(pd->details);
	grpc_metadata_array_destroy(&pd->imd);
	grpc_metadata_array_destroy(&pd->tmd);
	grpc_call_unref(pd->call);
	if (pd->r.code != GRPC_STATUS_OK && pd->r.resp) {
		grpc_byte_buffer_destroy(pd->r.resp);
		pd->r.resp = NULL;
	}
}

static gpr_timespec deadline_in(long ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* One unary call; r->resp (NULL unless OK) is the caller's to destroy. */
static int unary(struct kms_conn *c, const char *method, const ProtobufCMessage *req, struct call_result *r)
{
	gpr_timespec deadline = deadline_in(c->timeout_ms);
	struct pending pd;
	grpc_event ev;
	uint64_t t0 = now_us();
	int timed_out = 0;

	start_call(c, c->cq, method, req, deadline, &pd);
	if (pd.started) {
		ev = grpc_completion_queue_pluck(c->cq, &pd, gpr_time_add(deadline, gpr_time_from_millis(CQ_GRACE_MS,
									     GPR_TIMESPAN)), NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			grpc_call_cancel(pd.call, NULL);
			grpc_completion_queue_pluck(c->cq, &pd, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
			timed_out = 1;
		}
	}
	end_call(&pd, timed_out);
	c->st.plugin_us += now_us() - t0;
	*r = pd.r;
	return 0;
}

/* Maps a finished call to a kms_fail and message; unpacks the answer. */
static int finish(struct kms_conn *c, const char *what, struct call_result *r, const ProtobufCMessageDescriptor *d,
		  ProtobufCMessage **resp, enum kms_fail *fail, char *msg)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;

	*resp = NULL;
	*fail = KMS_OK;
	if (r->code == GRPC_STATUS_OK) {
		if (r->resp == NULL || !grpc_byte_buffer_reader_init(&rd, r->resp)) {
			r->code = GRPC_STATUS_INTERNAL;
			snprintf(r->det, sizeof(r->det), "no response message");
		} else {
			s = grpc_byte_buffer_reader_readall(&rd);
			*resp = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
			grpc_slice_unref(s);
			grpc_byte_buffer_reader_destroy(&rd);
			if (*resp == NULL) {
				r->code = GRPC_STATUS_INTERNAL;
				snprintf(r->det, sizeof(r->det), "cannot decode the %s", d->name);
			}
		}
		grpc_byte_buffer_destroy(r->resp);
		r->resp = NULL;
		if (*resp)
			return 0;
	}
	c->st.failed_calls++;
	if (r->code == GRPC_STATUS_NOT_FOUND || strcasestr(r->det, "unknown key"))
		*fail = KMS_UNKNOWN_KEY_ID;
	else
		*fail = KMS_UNAVAILABLE;
	snprintf(msg, KMS_MSG_MAX, "KMS plugin '%s' at %s: %s: %s: %s", c->name, c->endpoint, what,
		 etcd_grpc_status_name(r->code), r->det[0] ? r->det : "(no details)");
	if (r->code == GRPC_STATUS_UNAVAILABLE || r->code == GRPC_STATUS_DEADLINE_EXCEEDED) {
		c->down = 1;
		c->st.down = 1;
		snprintf(c->down_msg, sizeof(c->down_msg), "%s", msg);
	}
	return 0;
}

/* A v2 call, under package v2alpha1 when the plugin does not serve v2. */
static int call_v2(struct kms_conn *c, const char *method, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *d, ProtobufCMessage **resp, enum kms_fail *fail, char *msg)
{
	char path[96];
	struct call_result r;

	snprintf(path, sizeof(path), "/%s.KeyManagementService/%s", c->v2_pkg, method);
	unary(c, path, req, &r);
	if (r.code == GRPC_STATUS_UNIMPLEMENTED && strcmp(c->v2_pkg, "v2") == 0) {
		snprintf(path, sizeof(path), "/v2alpha1.KeyManagementService/%s", method);
		unary(c, path, req, &r);
		if (r.code != GRPC_STATUS_UNIMPLEMENTED)
			c->v2_pkg = "v2alpha1";
	}
	return finish(c, method, &r, d, resp, fail, msg);
}

static int call_v1(struct kms_conn *c, const char *method, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *d, ProtobufCMessage **resp, enum kms_fail *fail, char *msg)
{
	char path[96];
	struct call_result r;

	snprintf(path, sizeof(path), "/v1beta1.KeyManagementService/%s", method);
	unary(c, path, req, &r);
	return finish(c, method, &r, d, resp, fail, msg);
}

static int is_down(struct kms_conn *c, enum kms_fail *fail, char *msg)
{
	if (!c->down)
		return 0;
	*fail = KMS_UNAVAILABLE;
	snprintf(msg, KMS_MSG_MAX, "%s", c->down_msg);
	return 1;
}

static void set_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int kms_conn_status(struct kms_conn *c, struct kms_status *out, enum kms_fail *fail, char msg[KMS_MSG_MAX])
{
	ProtobufCMessage *resp = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (is_down(c, fail, msg))
		return 0;
	c->st.status_calls++;
	if (c->api == 2) {
		V2__StatusRequest req = V2__STATUS_REQUEST__INIT;

		rc = call_v2(c, "Status", &req.base, &v2__status_response__descriptor, &resp, fail, msg);
		if (rc == 0 && resp) {
			V2__StatusResponse *s = (V2__StatusResponse *)resp;

			set_str(out->version, sizeof(out->version), s->version);
			set_str(out->healthz, sizeof(out->healthz), s->healthz);
			set_str(out->key_id, sizeof(out->key_id), s->key_id);
		}
	} else {
		V1beta1__VersionRequest req = V1BETA1__VERSION_REQUEST__INIT;

		req.version = (char *)"v1beta1";
		rc = call_v1(c, "Version", &req.base, &v1beta1__version_response__descriptor, &resp, fail, msg);
		if (rc == 0 && resp) {
			set_str(out->version, sizeof(out->version), ((V1beta1__VersionResponse *)resp)->version);
			set_str(out->healthz, sizeof(out->healthz), "ok");
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* The annotation records of an EncryptedObject (field 4: map entries of
 * key = 1 string, value = 2 bytes) as protobuf-c entries pointing into blob. */
static int parse_annotations(V2__DecryptRequest__AnnotationsEntry *e, V2__DecryptRequest__AnnotationsEntry **pe,
			     size_t *n, char keys[][256], const uint8_t *blob, size_t len)
{
	struct pb_reader r, er;
	struct pb_field f, ef;

	*n = 0;
	pb_init(&r, blob, len);
	while (pb_next(&r, &f) == PB_FIELD) {
		if (f.num != 4 || f.wire != 2)
			continue;
		if (*n == KMS_MAX_ANNOTATIONS)
			return ERR_CORRUPT;
		v2__decrypt_request__annotations_entry__init(&e[*n]);
		pb_init(&er, f.data, f.len);
		while (pb_next(&er, &ef) == PB_FIELD) {
			if (ef.num == 1 && ef.wire == 2 && ef.len < 256) {
				memcpy(keys[*n], ef.data, ef.len);
				keys[*n][ef.len] = '\0';
				e[*n].key = keys[*n];
			} else if (ef.num == 2 && ef.wire == 2) {
				e[*n].value.data = (uint8_t *)ef.data;
				e[*n].value.len = ef.len;
			}
		}
		pe[*n] = &e[*n];
		(*n)++;
	}
	return 0;
}

static int put_plain(struct buf *plain, const ProtobufCBinaryData *d)
{
	buf_reset(plain);
	return buf_append(plain, d->data, d->len);
}

static int decrypt_v2(struct kms_conn *c, const struct kms_wrapped *w, struct buf *plain, enum kms_fail *fail,
		      char *msg)
{
	V2__DecryptRequest__AnnotationsEntry e[KMS_MAX_ANNOTATIONS], *pe[KMS_MAX_ANNOTATIONS];
	char keys[KMS_MAX_ANNOTATIONS][256];
	V2__DecryptRequest req = V2__DECRYPT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	char uid[48];
	int rc;

	if (parse_annotations(e, pe, &req.n_annotations, keys, w->annotations, w->annotations_len) < 0) {
		*fail = KMS_UNAVAILABLE;
		snprintf(msg, KMS_MSG_MAX, "KMS v2 value has more than %d annotations", KMS_MAX_ANNOTATIONS);
		return 0;
	}
	snprintf(uid, sizeof(uid), "etcdcrypt-%llu", (unsigned long long)c->st.decrypt_calls);
	req.annotations = req.n_annotations ? pe : NULL;
	req.ciphertext.data = (uint8_t *)w->ct;
	req.ciphertext.len = w->ct_len;
	req.uid = uid;
	req.key_id = (char *)w->key_id;
	rc = call_v2(c, "Decrypt", &req.base, &v2__decrypt_response__descriptor, &resp, fail, msg);
	if (rc == 0 && resp)
		rc = put_plain(plain, &((V2__DecryptResponse *)resp)->plaintext);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static int decrypt_v1(struct kms_conn *c, const struct kms_wrapped *w, struct buf *plain, enum kms_fail *fail,
		      char *msg)
{
	V1beta1__DecryptRequest req = V1BETA1__DECRYPT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.version = (char *)"v1beta1";
	req.cipher.data = (uint8_t *)w->ct;
	req.cipher.len = w->ct_len;
	rc = call_v1(c, "Decrypt", &req.base, &v1beta1__decrypt_response__descriptor, &resp, fail, msg);
	if (rc == 0 && resp)
		rc = put_plain(plain, &((V1beta1__DecryptResponse *)resp)->plain);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int kms_conn_decrypt(struct kms_conn *c, const struct kms_wrapped *w, struct buf *plain, enum kms_fail *fail,
		     char msg[KMS_MSG_MAX])
{
	buf_reset(plain);
	if (is_down(c, fail, msg))
		return 0;
	c->st.decrypt_calls++;
	return c->api == 2 ? decrypt_v2(c, w, plain, fail, msg) : decrypt_v1(c, w, plain, fail, msg);
}

/* Appends one annotation as an EncryptedObject field-4 record. */
static int put_annotation(struct buf *out, const V2__EncryptResponse__AnnotationsEntry *a)
{
	size_t n = protobuf_c_message_get_packed_size(&a->base);
	uint8_t hdr[11], *p = hdr;
	size_t v = n;
	int rc;

	*p++ = 0x22; /* field 4, wire type 2 */
	do {
		*p++ = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	if ((rc = buf_append(out, hdr, (size_t)(p - hdr))) < 0 || (rc = buf_reserve(out, n)) < 0)
		return rc;
	protobuf_c_message_pack(&a->base, out->data + out->len);
	out->len += n;
	return 0;
}

static int encrypt_v2(struct kms_conn *c, const uint8_t *plain, size_t n, struct buf *ct, char *key_id,
		      struct buf *ann, enum kms_fail *fail, char *msg)
{
	V2__EncryptRequest req = V2__ENCRYPT_REQUEST__INIT;
	V2__EncryptResponse *e;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.plaintext.data = (uint8_t *)plain;
	req.plaintext.len = n;
	req.uid = (char *)"etcdcrypt-encrypt";
	rc = call_v2(c, "Encrypt", &req.base, &v2__encrypt_response__descriptor, &resp, fail, msg);
	if (rc < 0 || resp == NULL)
		return rc;
	e = (V2__EncryptResponse *)resp;
	if (e->ciphertext.len == 0 || e->ciphertext.len > KMS_KEY_ID_MAX || e->key_id[0] == '\0' ||
	    strlen(e->key_id) > KMS_KEY_ID_MAX) {
		*fail = KMS_UNAVAILABLE;
		snprintf(msg, KMS_MSG_MAX, "KMS plugin '%s' at %s: Encrypt: ciphertext of %zu bytes, key ID of %zu bytes "
			 "(both must be 1..%d)", c->name, c->endpoint, e->ciphertext.len, strlen(e->key_id),
			 KMS_KEY_ID_MAX);
	} else {
		snprintf(key_id, KMS_KEY_ID_MAX + 1, "%s", e->key_id);
		rc = buf_append(ct, e->ciphertext.data, e->ciphertext.len);
		for (size_t i = 0; rc == 0 && i < e->n_annotations; i++)
			rc = put_annotation(ann, e->annotations[i]);
		if (rc == 0 && ann->len > KMS_ANNOTATIONS_MAX) { /* the apiserver's limit */
			*fail = KMS_UNAVAILABLE;
			snprintf(msg, KMS_MSG_MAX, "KMS plugin '%s' at %s: Encrypt: annotations of %zu bytes (at most %d)",
				 c->name, c->endpoint, ann->len, KMS_ANNOTATIONS_MAX);
		}
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static int encrypt_v1(struct kms_conn *c, const uint8_t *plain, size_t n, struct buf *ct, enum kms_fail *fail,
		      char *msg)
{
	V1beta1__EncryptRequest req = V1BETA1__ENCRYPT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.version = (char *)"v1beta1";
	req.plain.data = (uint8_t *)plain;
	req.plain.len = n;
	rc = call_v1(c, "Encrypt", &req.base, &v1beta1__encrypt_response__descriptor, &resp, fail, msg);
	if (rc == 0 && resp)
		rc = put_plain(ct, &((V1beta1__EncryptResponse *)resp)->cipher);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

int kms_conn_encrypt(struct kms_conn *c, const uint8_t *plain, size_t n, struct buf *ct,
		     char key_id[KMS_KEY_ID_MAX + 1], struct buf *annotations, enum kms_fail *fail,
		     char msg[KMS_MSG_MAX])
{
	buf_reset(ct);
	buf_reset(annotations);
	key_id[0] = '\0';
	if (is_down(c, fail, msg))
		return 0;
	c->st.encrypt_calls++;
	if (c->api == 2)
		return encrypt_v2(c, plain, n, ct, key_id, annotations, fail, msg);
	return encrypt_v1(c, plain, n, ct, fail, msg);
}

/* ---- many KMS v1 Decrypts in flight ---------------------------------------- */

struct many {
	struct kms_conn *c;
	struct pending pd[KMS_MAX_INFLIGHT];
	size_t at[KMS_MAX_INFLIGHT]; /* index into ws of each busy slot */
	int busy[KMS_MAX_INFLIGHT];
	size_t inflight;
	gpr_timespec last_deadline;
	struct buf plain;
	kms_done_fn done;
	void *arg;
};

/* Maps a finished call and hands its result on. */
static int deliver(struct many *m, size_t k)
{
	ProtobufCMessage *resp = NULL;
	enum kms_fail fail;
	char msg[KMS_MSG_MAX] = "";
	int rc = finish(m->c, "Decrypt", &m->pd[k].r, &v1beta1__decrypt_response__descriptor, &resp, &fail, msg);

	buf_reset(&m->plain);
	if (rc == 0 && resp)
		rc = put_plain(&m->plain, &((V1beta1__DecryptResponse *)resp)->plain);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc < 0 ? rc : m->done(m->arg, m->at[k], &m->plain, fail, msg);
}

static int start_one(struct many *m, const struct kms_wrapped *w, size_t at)
{
	V1beta1__DecryptRequest req = V1BETA1__DECRYPT_REQUEST__INIT;
	size_t k = 0;

	while (m->busy[k])
		k++;
	req.version = (char *)"v1beta1";
	req.cipher.data = (uint8_t *)w->ct;
	req.cipher.len = w->ct_len;
	m->last_deadline = deadline_in(m->c->timeout_ms);
	m->c->st.decrypt_calls++;
	m->at[k] = at;
	start_call(m->c, m->c->cq_many, "/v1beta1.KeyManagementService/Decrypt", &req.base, m->last_deadline,
		   &m->pd[k]);
	if (!m->pd[k].started) {
		end_call(&m->pd[k], 0);
		return deliver(m, k);
	}
	m->busy[k] = 1;
	m->inflight++;
	return 0;
}

/* Waits for one call; past every deadline (+ grace) cancels them all. */
static int wait_one(struct many *m)
{
	grpc_event ev = grpc_completion_queue_next(
		m->c->cq_many, gpr_time_add(m->last_deadline, gpr_time_from_millis(CQ_GRACE_MS, GPR_TIMESPAN)), NULL);
	int timed_out = 0;
	size_t k;

	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		for (k = 0; k < KMS_MAX_INFLIGHT; k++)
			if (m->busy[k])
				grpc_call_cancel(m->pd[k].call, NULL);
		ev = grpc_completion_queue_next(m->c->cq_many, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		timed_out = 1;
	}
	k = (size_t)((struct pending *)ev.tag - m->pd);
	end_call(&m->pd[k], timed_out);
	m->busy[k] = 0;
	m->inflight--;
	return deliver(m, k);
}

int kms_conn_decrypt_many(struct kms_conn *c, const struct kms_wrapped *ws, const size_t *idx, size_t n,
			  size_t max_inflight, kms_done_fn done, void *arg)
{
	struct many *m;
	uint64_t t0 = now_us();
	size_t next = 0;
	int rc = 0;

	if (c->api != 1 || c->down || n == 0)
		return 0;
	if (max_inflight > KMS_MAX_INFLIGHT)
		max_inflight = KMS_MAX_INFLIGHT;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return err_set(ERR_NOMEM, "out of memory");
	if (c->cq_many == NULL)
		c->cq_many = grpc_completion_queue_create_for_next(NULL);
	m->c = c;
	m->done = done;
	m->arg = arg;
	buf_init(&m->plain, 0);
	while (rc == 0 && (next < n || m->inflight > 0)) {
		while (rc == 0 && next < n && m->inflight < max_inflight && !c->down) {
			rc = start_one(m, &ws[idx[next]], idx[next]);
			next++;
		}
		if (m->inflight > 0)
			rc = wait_one(m);
		else if (c->down)
			break;
	}
	while (m->inflight > 0) /* after an error: collect what is still out */
		wait_one(m);
	c->st.plugin_us += now_us() - t0;
	buf_release(&m->plain);
	free(m);
	return rc;
}
