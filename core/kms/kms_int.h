/* kms_int: internals shared by kms_set.c (set, overrides, cache) and
 * kms_conn.c (one plugin connection and its unary calls). */
#ifndef ETCDCRYPT_KMS_INT_H
#define ETCDCRYPT_KMS_INT_H

#include <grpc/grpc.h>

#include "kms.h"

struct kms_conn {
	char *name;
	char *endpoint; /* as given (unix://...) */
	int api;
	long timeout_ms;
	grpc_channel *ch;
	grpc_completion_queue *cq; /* pluck: one call at a time */
	grpc_completion_queue *cq_many; /* next: kms_conn_decrypt_many, made on first use */
	const char *v2_pkg;        /* "v2", or "v2alpha1" once v2 was UNIMPLEMENTED */
	int down;                  /* a transport failure: fail at once from now on */
	char down_msg[KMS_MSG_MAX];
	int have_status;           /* status or status_fail is known */
	struct kms_status status;
	enum kms_fail status_fail;
	char status_msg[KMS_MSG_MAX];
	struct kms_stats st;
};

/* Opens a connection (no I/O yet). An endpoint that is not a unix:// URL
 * gives a connection that is down from the start (its calls say why). */
int kms_conn_open(struct kms_conn **out, const char *name, const char *endpoint, long timeout_ms, int api);
void kms_conn_close(struct kms_conn *c); /* NULL-safe */

int kms_conn_status(struct kms_conn *c, struct kms_status *out, enum kms_fail *fail, char msg[KMS_MSG_MAX]);
int kms_conn_decrypt(struct kms_conn *c, const struct kms_wrapped *w, struct buf *plain, enum kms_fail *fail,
		     char msg[KMS_MSG_MAX]);
/* Called once per finished Decrypt of kms_conn_decrypt_many (plain borrowed). */
typedef int (*kms_done_fn)(void *arg, size_t i, const struct buf *plain, enum kms_fail fail, const char *msg);

/* Decrypts ws[idx[0..n)] (KMS v1) with up to max_inflight calls in flight,
 * each with the plugin's deadline; done() gets each result. Stops starting
 * calls once the plugin is down (those indexes get no done()). */
int kms_conn_decrypt_many(struct kms_conn *c, const struct kms_wrapped *ws, const size_t *idx, size_t n,
			  size_t max_inflight, kms_done_fn done, void *arg);

int kms_conn_encrypt(struct kms_conn *c, const uint8_t *plain, size_t n, struct buf *ct,
		     char key_id[KMS_KEY_ID_MAX + 1], struct buf *annotations, enum kms_fail *fail,
		     char msg[KMS_MSG_MAX]);

#endif
