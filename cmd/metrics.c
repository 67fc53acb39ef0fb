/* metrics: Prometheus text files from the commands' typed results; see
 * metrics.h. Does not read JSON and does not print. */
#include "metrics.h"
#include "audit/history.h"
#include "report_print.h"
#include "audit/tally.h"
#include "base/err.h"
#include "base/file.h"
#include "node/rwrec.h"
#include "rewrite/rewrite.h"
#include "status/status.h"
#include "xform/plain.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define METRICS_MAX ((size_t)16 << 20) /* a file far beyond any node_exporter would read */

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->out, METRICS_MAX);
}

void metrics_release(struct metrics *m)
{
	buf_release(&m->out);
}

static void put(struct metrics *m, const char *s, size_t n)
{
	if (m->rc == 0)
		m->rc = buf_append(&m->out, s, n);
}

static void puts_(struct metrics *m, const char *s)
{
	put(m, s, strlen(s));
}

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void escaped(struct metrics *m, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(m, "\\\\");
		else if (*s == '\n')
			puts_(m, "\\n");
		else if (*s == '"' && quote)
			puts_(m, "\\\"");
		else
			put(m, s, 1);
	}
}

void metrics_family(struct metrics *m, const char *name, const char *type, const char *help)
{
	snprintf(m->family, sizeof(m->family), "%s", name);
	puts_(m, "# HELP ");
	puts_(m, name);
	puts_(m, " ");
	escaped(m, help, 0);
	puts_(m, "\n# TYPE ");
	puts_(m, name);
	puts_(m, " ");
	puts_(m, type);
	puts_(m, "\n");
}

/* Counts print as integers; other values with enough digits to round-trip. */
static void value(struct metrics *m, double v)
{
	char s[64];

	if (isnan(v))
		snprintf(s, sizeof(s), "NaN");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(s, sizeof(s), "%.0f", v);
	else
		snprintf(s, sizeof(s), "%.17g", v);
	puts_(m, s);
}

void metrics_sample(struct metrics *m, double v, ...)
{
	va_list ap;
	const char *name;
	int n = 0;

	puts_(m, m->family);
	va_start(ap, v);
	while ((name = va_arg(ap, const char *)) != NULL) {
		const char *val = va_arg(ap, const char *);

		if (val == NULL)
			continue;
		puts_(m, n++ ? "," : "{");
		puts_(m, name);
		puts_(m, "=\"");
		escaped(m, val, 1);
		puts_(m, "\"");
	}
	va_end(ap);
	puts_(m, n ? "} " : " ");
	value(m, v);
	puts_(m, "\n");
}

int metrics_write(struct metrics *m, const char *path)
{
	char tmp[4096], dir[4096], base[4096];
	int fd, rc = 0;

	if (m->rc < 0)
		return err_set(m->rc, "metrics file '%s': out of memory", path);
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	/* hidden and without .prom: the textfile collector skips it */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dir), basename(base)) >= sizeof(tmp))
		return err_set(ERR_USAGE, "metrics file '%s': path too long", path);
	if ((fd = mkstemp(tmp)) < 0)
		return err_set(ERR_IO, "metrics file '%s': cannot create a file next to it: %s", path, strerror(errno));
	if (file_write_all(fd, m->out.data, m->out.len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0)
		rc = err_set(ERR_IO, "metrics file '%s': cannot write '%s': %s", path, tmp, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(ERR_IO, "metrics file '%s': cannot write '%s': %s", path, tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) < 0)
		rc = err_set(ERR_IO, "metrics file '%s': cannot rename '%s' over it: %s", path, tmp, strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* ---- shared families ---------------------------------------------------------------- */

static void gauge(struct metrics *m, const char *cmd, const char *name, const char *help, double v)
{
	char full[96];

	snprintf(full, sizeof(full), "etcdcrypt_%s_%s", cmd, name);
	metrics_family(m, full, "gauge", help);
	metrics_sample(m, v, NULL);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* success, time and duration of a run */
static void run_header(struct metrics *m, const char *cmd, int success, double seconds)
{
	gauge(m, cmd, "success", "1 if the last run finished, 0 if it failed (see its exit status)", success);
	gauge(m, cmd, "last_run_timestamp_seconds", "when the last run ended (Unix time)", now_seconds());
	if (seconds >= 0)
		gauge(m, cmd, "duration_seconds", "how long the last run took", seconds);
}

static int finish(struct metrics *m, const char *path)
{
	int rc = metrics_write(m, path);

	metrics_release(m);
	return rc;
}

int metrics_failed(const char *path, const char *command)
{
	struct metrics m;

	metrics_init(&m);
	run_header(&m, command, 0, -1);
	return finish(&m, path);
}

/* ---- audit ------------------------------------------------------------------------------ */

/* The row's key name as JSON gives it: none for identity. */
static const char *row_key_name(const struct tally_row *row)
{
	return row->kind == ENV_IDENTITY ? "" : row->key_name;
}

enum row_figure { ROW_VALUES, ROW_READABLE, ROW_STALE, ROW_UNREADABLE };

static void audit_rows(struct metrics *m, const struct tally *t, enum row_figure f, const char *name,
		       const char *help)
{
	metrics_family(m, name, "gauge", help);
	for (size_t i = 0; i < t->n; i++) {
		const struct tally_res *r = &t->res[i];

		for (size_t j = 0; j < r->n_rows; j++) {
			const struct tally_row *row = &r->rows[j];
			uint64_t v = f == ROW_VALUES ? row->count : f == ROW_READABLE ? row->readable
				   : f == ROW_STALE  ? row->stale : row->count - row->readable;

			metrics_sample(m, (double)v, "resource", r->name, "provider", env_kind_name(row->kind),
				       "key_name", row_key_name(row), "key_id",
				       row->kind == ENV_KMS2 ? row->key_id : NULL, NULL);
		}
	}
}

static void audit_resources(struct metrics *m, const struct tally *t)
{
	metrics_family(m, "etcdcrypt_audit_stored_bytes", "gauge", "bytes of the stored values, by resource");
	for (size_t i = 0; i < t->n; i++)
		metrics_sample(m, (double)t->res[i].bytes, "resource", t->res[i].name, NULL);
	metrics_family(m, "etcdcrypt_audit_plaintext_values", "gauge",
		       "values stored unencrypted (identity), by resource and encoding");
	for (size_t i = 0; i < t->n; i++)
		for (int e = PLAIN_PROTOBUF; e <= PLAIN_OTHER; e++)
			metrics_sample(m, (double)t->res[i].encodings[e], "resource", t->res[i].name, "encoding",
				       plain_encoding_name((enum plain_encoding)e), NULL);
}

static void audit_history(struct metrics *m, const struct history_result *h)
{
	gauge(m, "audit", "history_compact_revision", "etcd's last finished compaction revision (0: none)",
	      (double)h->compact_revision);
	gauge(m, "audit", "history_plaintext_revisions", "retained revisions (live or older) holding plaintext",
	      (double)h->plaintext_total);
	gauge(m, "audit", "history_historical_plaintext_revisions",
	      "older (not live) retained revisions holding plaintext: purged by compact + defrag",
	      (double)h->plaintext_historical);
	gauge(m, "audit", "history_retired_key_revisions",
	      "retained revisions encrypted with keys the config cannot read", (double)h->retired_total);
}

int metrics_audit(const char *path, const struct tally *t, const struct report_meta *meta,
		  const struct history_result *hist)
{
	struct metrics m;
	uint64_t bad = 0, total = tally_total(t, &bad), stale = 0;

	metrics_init(&m);
	run_header(&m, "audit", 1, meta->seconds);
	gauge(&m, "audit", "revision", "the etcd revision every value was read at", (double)meta->revision);
	gauge(&m, "audit", "scanned_values", "values scanned, all resources", (double)total);
	audit_rows(&m, t, ROW_VALUES, "etcdcrypt_audit_values", "stored values by resource, provider and key name");
	if (t->have_config) {
		for (size_t i = 0; i < t->n; i++)
			stale += t->res[i].stale;
		audit_rows(&m, t, ROW_READABLE, "etcdcrypt_audit_readable_values",
			   "values the config reads, by resource, provider and key name");
		audit_rows(&m, t, ROW_STALE, "etcdcrypt_audit_stale_values",
			   "readable values not under the config's write key (a rewrite would change them)");
		audit_rows(&m, t, ROW_UNREADABLE, "etcdcrypt_audit_unreadable_values",
			   "values the config cannot read, by resource, provider and key name");
		gauge(&m, "audit", "consistent",
		      "1 if every value is readable and under the config's write key, else 0",
		      bad == 0 && stale == 0);
	}
	audit_resources(&m, t);
	if (hist)
		audit_history(&m, hist);
	return finish(&m, path);
}

/* ---- the published rewrite (status, controller) ------------------------------------- */

static void rwrec_metrics(struct metrics *m, const char *cmd, const struct node_rwrec *r)
{
	char name[96];
	double updated = (double)r->updated, started = (double)r->started;

	snprintf(name, sizeof(name), "etcdcrypt_%s_rewrite_info", cmd);
	metrics_family(m, name, "gauge", "the running or last controller rewrite: node, state, write key (value 1)");
	metrics_sample(m, 1, "node", r->node, "state", node_rw_state_name(r->state), "provider", r->write_provider,
		       "key_name", r->write_name, NULL);
	gauge(m, cmd, "rewrite_running", "1 while a controller rewrite is running", r->state == NODE_RW_RUNNING);
	gauge(m, cmd, "rewrite_started_timestamp_seconds", "when the rewrite started (Unix time)", started);
	gauge(m, cmd, "rewrite_updated_timestamp_seconds", "when the rewrite last reported (Unix time)", updated);
	gauge(m, cmd, "rewrite_duration_seconds", "from start to its last report", updated - started);
	gauge(m, cmd, "rewrite_revision_start", "etcd revision the rewrite started at", (double)r->revision_start);
	gauge(m, cmd, "rewrite_revision_end", "etcd revision at its end (0 while running)", (double)r->revision_end);
	gauge(m, cmd, "rewrite_scanned_values", "values the rewrite scanned", (double)r->scanned);
	gauge(m, cmd, "rewrite_rewritten_values", "values it rewrote", (double)r->rewritten);
	gauge(m, cmd, "rewrite_current_values", "values already under the write key", (double)r->current);
	gauge(m, cmd, "rewrite_unreadable_values", "values it could not read (left untouched)", (double)r->unreadable);
	gauge(m, cmd, "rewrite_conflicting_txns", "Txns whose compare failed (a concurrent write won)",
	      (double)r->conflicts);
}

/* ---- status --------------------------------------------------------------------------- */

static void status_nodes(struct metrics *m, const struct status *st)
{
	char pos[16];

	metrics_family(m, "etcdcrypt_status_node_key_info", "gauge",
		       "each node's provider/key names for secrets in read order (position 0 writes; value 1)");
	for (size_t i = 0; i < st->n_nodes; i++)
		for (size_t j = 0; j < st->nodes[i].n_names; j++) {
			snprintf(pos, sizeof(pos), "%zu", j);
			metrics_sample(m, 1, "node", st->nodes[i].label, "position", pos, "provider",
				       encconf_kind_name(st->nodes[i].names[j].kind), "key_name",
				       st->nodes[i].names[j].name, NULL);
		}
	metrics_family(m, "etcdcrypt_status_node_known", "gauge", "1 if the node's names are known, 0 if missing");
	for (size_t i = 0; i < st->n_nodes; i++)
		metrics_sample(m, st->nodes[i].n_names > 0, "node", st->nodes[i].label, NULL);
}

static void status_etcd(struct metrics *m, const struct status *st)
{
	metrics_family(m, "etcdcrypt_status_etcd_values", "gauge", "stored secrets by the provider/key name they use");
	for (size_t i = 0; i < st->n_etcd; i++)
		metrics_sample(m, (double)st->etcd[i].count, "provider", env_kind_name(st->etcd[i].kind), "key_name",
			       status_count_name(&st->etcd[i]), NULL);
	metrics_family(m, "etcdcrypt_status_unreadable_values", "gauge", "stored secrets a config cannot read");
	for (size_t i = 0; i < st->n_readers; i++)
		metrics_sample(m, (double)st->readers[i].bad.total, "config", st->readers[i].label, NULL);
}

int metrics_status(const char *path, const struct status *st, int64_t revision, double seconds,
		   const struct node_rwrec *rw, int64_t changed)
{
	struct metrics m;

	metrics_init(&m);
	run_header(&m, "status", 1, seconds);
	gauge(&m, "status", "revision", "the etcd revision the secrets were read at", (double)revision);
	gauge(&m, "status", "consistent",
	      "1 if the nodes agree on the goal and every secret is readable and under it, else 0", st->consistent);
	gauge(&m, "status", "goal_known", "1 if every node writes with the same key", st->goal != NULL);
	if (st->goal) {
		metrics_family(&m, "etcdcrypt_status_goal_info", "gauge", "the write key every node agrees on (value 1)");
		metrics_sample(&m, 1, "provider", encconf_kind_name(st->goal->kind), "key_name", st->goal->name, NULL);
	}
	gauge(&m, "status", "current_known", "1 if every stored secret uses one name", st->current != NULL);
	gauge(&m, "status", "values", "stored secrets", (double)st->total);
	status_nodes(&m, st);
	status_etcd(&m, st);
	if (changed > 0)
		gauge(&m, "status", "last_change_timestamp_seconds", "newest change of a node record (Unix time)",
		      (double)changed);
	if (rw)
		rwrec_metrics(&m, "status", rw);
	return finish(&m, path);
}

/* ---- rewrite ---------------------------------------------------------------------------- */

int metrics_rewrite(const char *path, const struct rw_stats *s, double seconds, int dry_run, int finished)
{
	struct metrics m;

	metrics_init(&m);
	run_header(&m, "rewrite", finished, seconds);
	gauge(&m, "rewrite", "dry_run", "1 if the last run was --dry-run (nothing written)", dry_run);
	gauge(&m, "rewrite", "revision_start", "etcd revision the run started at", (double)s->revision_start);
	gauge(&m, "rewrite", "revision_end", "etcd revision when it ended", (double)s->revision_end);
	gauge(&m, "rewrite", "scanned_values", "values scanned", (double)s->scanned);
	gauge(&m, "rewrite", "rewritten_values", "values rewritten (dry run: would be)", (double)s->rewritten);
	gauge(&m, "rewrite", "current_values", "values already under the write key", (double)s->current);
	gauge(&m, "rewrite", "unreadable_values", "values the config cannot read (left untouched)",
	      (double)s->unreadable);
	gauge(&m, "rewrite", "too_large_values", "values etcd refused once encrypted (left untouched)",
	      (double)s->too_large);
	gauge(&m, "rewrite", "conflicting_txns", "Txns whose compare failed (a concurrent write won)",
	      (double)s->conflicts);
	gauge(&m, "rewrite", "txns", "Txns sent", (double)s->txns);
	gauge(&m, "rewrite", "written_bytes", "bytes of values written", (double)s->bytes_written);
	gauge(&m, "rewrite", "compactions", "compactions done behind the run", (double)s->compactions);
	return finish(&m, path);
}

/* ---- controller ------------------------------------------------------------------------- */

int metrics_controller(const char *path, const char *node, int agreed, uint64_t rewrites, uint64_t failures,
		       const struct node_rwrec *rw)
{
	struct metrics m;

	metrics_init(&m);
	metrics_family(&m, "etcdcrypt_controller_info", "gauge", "this controller's node (value 1)");
	metrics_sample(&m, 1, "node", node, NULL);
	gauge(&m, "controller", "last_update_timestamp_seconds", "when this file was written (Unix time)",
	      now_seconds());
	gauge(&m, "controller", "agreed", "1 if every known node writes with this node's write key", agreed);
	metrics_family(&m, "etcdcrypt_controller_rewrites_total", "counter", "rewrites this process ran to the end");
	metrics_sample(&m, (double)rewrites, NULL);
	metrics_family(&m, "etcdcrypt_controller_rewrite_failures_total", "counter", "rewrites this process saw fail");
	metrics_sample(&m, (double)failures, NULL);
	if (rw)
		rwrec_metrics(&m, "controller", rw);
	return finish(&m, path);
}
