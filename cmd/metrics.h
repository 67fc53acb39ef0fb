/* metrics: --metrics-file for audit, status, rewrite and controller: the
 * Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector. Every metric is listed in docs/metrics.md.
 *
 * Rendered from the commands' typed results (tally, status, rw_stats, the
 * published rewrite record), never from their JSON. Names follow Prometheus
 * conventions: etcdcrypt_<command>_..., base units (seconds, bytes), every
 * figure a gauge (each file describes one run; counters only where a number
 * grows over a process's life: the controller's). The file is replaced
 * atomically: written to a hidden temporary file in the same directory
 * (which the collector ignores: it reads *.prom), fsynced, chmod 0644 and
 * renamed over PATH, so a scrape never sees half a file.
 *
 * A failed run still writes a file: <command>_success 0 and the time, so a
 * stale success is not left behind for alerts to trust. */
#ifndef ETCDCRYPT_METRICS_H
#define ETCDCRYPT_METRICS_H

#include <stdint.h>

#include "base/buf.h"

struct tally;
struct report_meta;
struct history_result;
struct status;
struct rw_stats;
struct node_rwrec;

/* ---- the writer -------------------------------------------------------------- */

struct metrics {
	struct buf out;
	char family[96]; /* the family whose samples are being written */
	int rc;          /* first error; later calls do nothing */
};

void metrics_init(struct metrics *m);
void metrics_release(struct metrics *m);

/* Starts a family: its HELP and TYPE ("gauge" or "counter") lines. All its
 * samples must follow before the next family starts (the format requires
 * one group per family). */
void metrics_family(struct metrics *m, const char *name, const char *type, const char *help);

/* One sample of the current family. The variable arguments are label name,
 * value pairs ending with NULL; values are escaped. A label whose value is
 * NULL is left out. */
void metrics_sample(struct metrics *m, double value, ...) __attribute__((sentinel));

/* Replaces path with what was rendered. Returns 0 or ERR_IO/ERR_NOMEM
 * (message names the file). */
int metrics_write(struct metrics *m, const char *path);

/* ---- per command ------------------------------------------------------------------ */

/* audit: counts by resource x provider x key name, readable/stale/unreadable,
 * plaintext encodings, bytes, revision, duration; hist may be NULL. */
int metrics_audit(const char *path, const struct tally *t, const struct report_meta *meta,
		  const struct history_result *hist);

/* status: consistent, goal, each node's names, names in etcd with counts,
 * unreadable counts per reader; rw (the published rewrite) may be NULL;
 * changed: newest record change (0: unknown). */
int metrics_status(const char *path, const struct status *st, int64_t revision, double seconds,
		   const struct node_rwrec *rw, int64_t changed);

/* rewrite: one run's counts, revision range, duration; finished: it went
 * to the end (no error, not interrupted). */
int metrics_rewrite(const char *path, const struct rw_stats *s, double seconds, int dry_run, int finished);

/* controller: whether the nodes agree, rewrites run by this process (a
 * counter), and the published rewrite (rw may be NULL). */
int metrics_controller(const char *path, const char *node, int agreed, uint64_t rewrites, uint64_t failures,
		       const struct node_rwrec *rw);

/* Any command: <command>_success 0 and the time of the failed run. */
int metrics_failed(const char *path, const char *command);

#endif
