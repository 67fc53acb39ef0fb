/* etcd_retry: what a failed call means, whether another endpoint may be
 * asked, and the one message when none could answer.
 *
 * A failure is one of:
 *   unreachable  the transport never reached etcd (refused, DNS, TLS):
 *                nothing was done, any call may go elsewhere;
 *   no leader    the member refused the call because it has no leader
 *                (our "hasleader" metadata): nothing was done either;
 *   hung         the deadline passed without an answer (a SIGSTOPped or
 *                overloaded member): the request may still be applied later;
 *   lost         the connection broke mid-call, or etcd gave up on it
 *                ("request timed out", "leader changed"): it may have been
 *                applied.
 * Hung and lost calls go elsewhere only when they are safe to repeat
 * (ETCD_CALL_SAFE; see etcd.h). Each failover is recorded on its endpoint
 * for the final message, which lists the informative failures (no leader,
 * hung) before the refusals, so a refused first endpoint never hides why
 * the others failed. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "etcd_int.h"

enum fail_kind { FAIL_NONE = 0, FAIL_NOLEADER, FAIL_HUNG, FAIL_LOST, FAIL_UNREACHABLE };

void etcd_retry_begin(struct etcd_client *c)
{
	c->call_gen++;
}

static void details_of(char *buf, size_t size, grpc_slice details)
{
	size_t n = GRPC_SLICE_LENGTH(details);

	if (n >= size)
		n = size - 1;
	memcpy(buf, GRPC_SLICE_START_PTR(details), n);
	buf[n] = '\0';
}

static enum fail_kind kind_of(grpc_status_code code, const char *det)
{
	if (code == GRPC_STATUS_DEADLINE_EXCEEDED)
		return FAIL_HUNG;
	/* a call in flight on a channel that failover replaced */
	if ((code == GRPC_STATUS_UNKNOWN || code == GRPC_STATUS_CANCELLED) && strstr(det, "Channel Destroyed"))
		return FAIL_LOST;
	if (code != GRPC_STATUS_UNAVAILABLE)
		return FAIL_NONE;
	if (strstr(det, "etcdserver: no leader"))
		return FAIL_NOLEADER;
	if (strstr(det, "failed to connect") || strstr(det, "Connection refused") ||
	    strstr(det, "empty address list") || strstr(det, "DNS resolution failed"))
		return FAIL_UNREACHABLE;
	return FAIL_LOST;
}

static void record(struct etcd_client *c, const struct etcd_call *k, enum fail_kind kind, const char *det)
{
	struct etcd_endpoint *e = &c->eps[k->ep];
	const char *msg = err_msg();

	e->fail_gen = c->call_gen;
	e->fail_kind = kind;
	if (kind == FAIL_NOLEADER)
		snprintf(e->fail, sizeof(e->fail), "%s: no leader", e->name);
	else if (kind == FAIL_HUNG)
		snprintf(e->fail, sizeof(e->fail), "%s: no answer within %.1f s", e->name, (double)k->timeout_ms / 1000);
	else if (kind == FAIL_UNREACHABLE && strstr(det, "Connection refused"))
		snprintf(e->fail, sizeof(e->fail), "%s: connection refused", e->name);
	else
		snprintf(e->fail, sizeof(e->fail), "%s", strncmp(msg, "etcd ", 5) == 0 ? msg + 5 : msg);
}

enum etcd_retry etcd_retry_kind(struct etcd_client *c, const struct etcd_call *k, int rc)
{
	enum fail_kind kind;
	char det[256];

	if (rc == 0 || rc == ERR_INTERRUPTED)
		return RETRY_NONE;
	details_of(det, sizeof(det), k->details);
	if (k->status == GRPC_STATUS_UNAUTHENTICATED)
		return c->user && strstr(det, "invalid auth token") && !(k->flags & ETCD_CALL_NORETRY) ? RETRY_REAUTH
													: RETRY_NONE;
	kind = kind_of(k->status, det);
	if (kind == FAIL_NONE || ((kind == FAIL_HUNG || kind == FAIL_LOST) && !(k->flags & ETCD_CALL_SAFE)))
		return RETRY_NONE;
	/* recorded even without a retry: a NORETRY probe belongs to its
	 * caller's loop over the endpoints (etcd_open) */
	record(c, k, kind, det);
	return k->flags & ETCD_CALL_NORETRY ? RETRY_NONE : RETRY_FAILOVER;
}

static size_t list_kind(const struct etcd_client *c, int kind, char *buf, size_t size, size_t len)
{
	for (size_t i = 0; i < c->n_eps; i++) {
		const struct etcd_endpoint *e = &c->eps[i];
		int n;

		if (e->fail_gen != c->call_gen || e->fail_kind != kind || len >= size)
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? "; " : "", e->fail);
		len += n > 0 ? (size_t)n : 0;
	}
	return len < size ? len : size - 1;
}

size_t etcd_retry_list(struct etcd_client *c, char *buf, size_t size, size_t *n_noleader)
{
	size_t len = 0, failed = 0;

	buf[0] = '\0';
	*n_noleader = 0;
	for (int kind = FAIL_NOLEADER; kind <= FAIL_UNREACHABLE; kind++)
		len = list_kind(c, kind, buf, size, len);
	for (size_t i = 0; i < c->n_eps; i++) {
		if (c->eps[i].fail_gen != c->call_gen)
			continue;
		failed++;
		*n_noleader += c->eps[i].fail_kind == FAIL_NOLEADER;
	}
	return failed;
}

int etcd_retry_giveup(struct etcd_client *c, const char *method)
{
	char list[1024];
	size_t n_noleader, n_failed = etcd_retry_list(c, list, sizeof(list), &n_noleader);
	const char *slash = strrchr(method, '/');

	if (n_noleader > 0)
		return err_set(ERR_NOQUORUM,
			       "no quorum: no etcd member has a leader (waited %.1f s; %s); etcd serves nothing "
			       "until a majority of its members are up and connected",
			       (double)c->cmd_ms / 1000, list);
	if (n_failed == 1 && c->n_eps == 1)
		return err_set(ERR_UNAVAILABLE, "etcd %s", list); /* the one endpoint's own message */
	return err_set(ERR_UNAVAILABLE, "no etcd endpoint answered %s within %.1f s (%s)", slash ? slash + 1 : method,
		       (double)c->cmd_ms / 1000, list);
}
