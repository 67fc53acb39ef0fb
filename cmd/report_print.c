/* report_print: an audit's typed results as aligned tables with counts,
 * percentages and a one-line verdict; see report_print.h. */
#include "report_print.h"
#include "cmd.h"
#include "base/esc.h"

#include <stdio.h>
#include <string.h>

/* column widths: the longest resource and key name, at least the header's */
struct widths {
	int res, key;
};

/* "key-name" (escaped; "?" after a guessed name when there is a config to
 * match), "-" without one; KMS v2 rows add "@key-id" */
static void key_label(char *out, size_t cap, int have_config, const struct tally_row *row)
{
	int kms2 = row->kind == ENV_KMS2;
	char name[ENV_NAME_MAX + 8], id[ENV_NAME_MAX];

	cmd_name_cell(name, sizeof(name), row->key_name, have_config && row->key_name_guessed);
	esc_term_buf(id, sizeof(id), (const uint8_t *)row->key_id, strlen(row->key_id));
	snprintf(out, cap, "%s%s%s", name, kms2 ? "@" : "", kms2 ? id : "");
}

static struct widths measure_widths(const struct tally *t)
{
	struct widths w = { 8, 8 };
	char name[600];

	for (size_t i = 0; i < t->n; i++) {
		const struct tally_res *r = &t->res[i];

		if ((int)strlen(r->name) > w.res)
			w.res = (int)strlen(r->name);
		for (size_t j = 0; j < r->n_rows; j++) {
			key_label(name, sizeof(name), t->have_config, &r->rows[j]);
			if ((int)strlen(name) > w.key)
				w.key = (int)strlen(name);
		}
	}
	return w;
}

static void print_rows(const struct tally_res *r, int have_config, struct widths w)
{
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct tally_row *row = &r->rows[i];
		char name[600];

		key_label(name, sizeof(name), have_config, row);
		printf("%-*s %-10s %-*s %9llu %6.1f%%", w.res, r->name, env_kind_name(row->kind), w.key, name,
		       (unsigned long long)row->count, r->total ? 100.0 * (double)row->count / (double)r->total : 0.0);
		if (have_config)
			printf(" %9llu %9llu", (unsigned long long)row->readable, (unsigned long long)row->stale);
		putchar('\n');
	}
}

static void print_resource_summary(const struct tally_res *r, int have_config)
{
	printf("%s: %llu values", r->name, (unsigned long long)r->total);
	if (have_config)
		printf(", %llu readable, %llu stale, %llu unreadable", (unsigned long long)r->readable,
		       (unsigned long long)r->stale, (unsigned long long)r->unreadable);
	printf("; stored as plaintext: %llu protobuf, %llu json, %llu cbor, %llu other\n",
	       (unsigned long long)r->encodings[PLAIN_PROTOBUF], (unsigned long long)r->encodings[PLAIN_JSON],
	       (unsigned long long)r->encodings[PLAIN_CBOR], (unsigned long long)r->encodings[PLAIN_OTHER]);
}

static void print_unreadable(const struct tally *t, int with_revision)
{
	int header = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct tally_res *r = &t->res[i];

		for (size_t j = 0; j < r->n_bad; j++) {
			const struct tally_bad *b = &r->bad[j];

			char *k = esc_term((const uint8_t *)b->etcd_key, b->etcd_key_len), name[ENV_NAME_MAX + 8];
			char detail[1100];

			if (!header++)
				printf("\nUNREADABLE\n");
			cmd_name_cell(name, sizeof(name), b->key_name, b->key_name_guessed);
			esc_term_buf(detail, sizeof(detail), (const uint8_t *)b->detail, strlen(b->detail));
			printf("  %s  %s%s%s  %s: %s", k != NULL ? k : "?", env_kind_name(b->kind), b->key_name[0] ? ":" : "",
			       b->key_name[0] ? name : "", xf_reason_name(b->reason), detail);
			free(k);
			if (with_revision)
				printf(" (revision %lld)", (long long)b->mod_revision);
			putchar('\n');
		}
		if (r->bad_unlisted > 0)
			printf("  ... and %llu more in %s (not listed)\n", (unsigned long long)r->bad_unlisted, r->name);
	}
}

/* "; oldest at revision N", or "" when there is none (never "revision 0"). */
static const char *oldest_text(char buf[48], uint64_t n, int64_t rev)
{
	buf[0] = '\0';
	if (n > 0 && rev > 0)
		snprintf(buf, 48, "; oldest at revision %lld", (long long)rev);
	return buf;
}

static void print_history(const struct history_result *h)
{
	char o1[48], o2[48];

	if (h == NULL)
		return;
	/* a compaction keeps its own revision readable */
	printf("\nHISTORY (revisions %lld..%lld retained)\n",
	       (long long)(h->compact_revision > 0 ? h->compact_revision : 1), (long long)h->upto_revision);
	printf("  %llu puts, %llu deletes retained\n", (unsigned long long)h->revisions, (unsigned long long)h->deletes);
	printf("  plaintext revisions: %llu (%llu historical, in %llu keys%s)\n", (unsigned long long)h->plaintext_total,
	       (unsigned long long)h->plaintext_historical, (unsigned long long)h->keys_with_historical_plaintext,
	       oldest_text(o1, h->plaintext_historical, h->oldest_plaintext_revision));
	printf("  revisions under keys the config cannot read: %llu (%llu historical%s)\n",
	       (unsigned long long)h->retired_total, (unsigned long long)h->retired_historical,
	       oldest_text(o2, h->retired_historical, h->oldest_retired_revision));
	if (h->plaintext_historical > 0 || h->retired_historical > 0)
		printf("  to purge them: etcdctl compact %lld, then etcdctl defrag on each member\n",
		       (long long)h->upto_revision);
}

void rp_print_resources(const struct tally *t, int with_revision)
{
	struct widths w = measure_widths(t);

	printf("%-*s %-10s %-*s %9s %7s", w.res, "RESOURCE", "PROVIDER", w.key, "KEY NAME", "VALUES", "%");
	if (t->have_config)
		printf(" %9s %9s", "READABLE", "STALE");
	putchar('\n');
	for (size_t i = 0; i < t->n; i++)
		print_rows(&t->res[i], t->have_config, w);
	putchar('\n');
	for (size_t i = 0; i < t->n; i++)
		print_resource_summary(&t->res[i], t->have_config);
	print_unreadable(t, with_revision);
}

void report_print_table(const struct tally *t, const struct report_meta *m, const struct history_result *hist)
{
	char v[512];

	printf("revision %lld at %s, config %s (%.2f s)%s\n\n", (long long)m->revision, m->endpoint ? m->endpoint : "",
	       m->config ? m->config : "none (classify only)", m->seconds,
	       m->restarted ? ", restarted after a compaction" : "");
	rp_print_resources(t, 0);
	print_history(hist);
	report_verdict(v, sizeof(v), t, m, hist);
	printf("\nverdict: %s\n", v);
}
