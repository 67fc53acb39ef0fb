/* etcd_wait: completion-queue waits and sleeps that notice an interrupt.
 *
 * A signal handler only sets the caller's stop flag, and may run on any of
 * gRPC's threads; a thread blocked in a completion queue would not notice.
 * So no wait here blocks longer than ETCD_POLL_MS without looking at the
 * flag. Once the flag is set, calls in flight get ETCD_STOP_GRACE_MS to
 * finish (a rewrite's last Txns usually complete in milliseconds), then
 * they are cancelled: a hung member or a long backoff never holds up the
 * exit. Nothing here prints or exits. */
#include <errno.h>
#include <time.h>

#include <grpc/support/time.h>

#include "base/err.h"
#include "etcd_int.h"

double etcd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int etcd_stop_state(struct etcd_client *c)
{
	if (!c->stop || !*c->stop)
		return 0;
	if (c->cleanup_until > 0) /* its window is its grace: then cancel at once */
		return etcd_now() < c->cleanup_until ? 0 : 2;
	if (c->stop_at == 0)
		c->stop_at = etcd_now();
	return etcd_now() - c->stop_at >= ETCD_STOP_GRACE_MS / 1000.0 ? 2 : 1;
}

int etcd_stopped(struct etcd_client *c)
{
	return etcd_stop_state(c) != 0;
}

void etcd_cleanup_begin(struct etcd_client *c, long ms)
{
	if (c == NULL || !c->stop || !*c->stop || c->cleanup_until > 0)
		return;
	if (ms > ETCD_CLEANUP_MAX_MS)
		ms = ETCD_CLEANUP_MAX_MS;
	c->cleanup_until = etcd_now() + (double)(ms > 0 ? ms : 0) / 1000.0;
}

long etcd_cleanup_left_ms(struct etcd_client *c, long timeout_ms)
{
	long left;

	if (c->cleanup_until <= 0 || !c->stop || !*c->stop)
		return timeout_ms;
	left = (long)((c->cleanup_until - etcd_now()) * 1000.0);
	return left < timeout_ms ? left : timeout_ms;
}

grpc_event etcd_wait_pluck(struct etcd_client *c, grpc_completion_queue *cq, void *tag, grpc_call *call)
{
	int cancelled = 0;

	for (;;) {
		grpc_event ev = grpc_completion_queue_pluck(cq, tag, etcd_deadline(ETCD_POLL_MS), NULL);

		if (ev.type != GRPC_QUEUE_TIMEOUT)
			return ev;
		if (!cancelled && call && etcd_stop_state(c) == 2) {
			grpc_call_cancel(call, NULL); /* the event follows at once */
			cancelled = 1;
		}
	}
}

grpc_event etcd_wait_next(struct etcd_client *c, grpc_completion_queue *cq, void (*cancel)(void *), void *arg)
{
	int cancelled = 0;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(cq, etcd_deadline(ETCD_POLL_MS), NULL);

		if (ev.type != GRPC_QUEUE_TIMEOUT)
			return ev;
		if (!cancelled && cancel && etcd_stop_state(c) == 2) {
			cancel(arg);
			cancelled = 1;
		}
	}
}

int etcd_sleep(struct etcd_client *c, long ms)
{
	double until = etcd_now() + (double)ms / 1000.0;

	for (;;) {
		double left = until - etcd_now();
		struct timespec ts = { 0, 50 * 1000000L };

		if (etcd_stopped(c))
			return err_set(ERR_INTERRUPTED, "interrupted");
		if (left <= 0)
			return 0;
		if (left < 0.05)
			ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL); /* EINTR: look at the flag again */
	}
}
