/* backup_print: a backup verification as tables, and its verdicts; see
 * backup_print.h. The per-config tables use audit's columns (report_print.h). */
#include "backup_print.h"
#include "base/esc.h"
#include "base/hex.h"
#include "report_print.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends to a fixed string, cutting what does not fit. */
static void append(char *s, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void append(char *s, size_t cap, const char *fmt, ...)
{
	size_t l = strlen(s);
	va_list ap;

	if (l + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(s + l, cap - l, fmt, ap);
	va_end(ap);
}

void backup_config_verdict(char *v, size_t cap, const struct backup *bk, size_t i, const struct backup_label *labels,
			   size_t n_labels)
{
	const struct tally *t = backup_tally(bk, i);
	const char *path = backup_config_path(bk, i);
	uint64_t bad = 0, total = tally_total(t, &bad);
	char missing[1024];
	size_t used = 0;

	missing[0] = '\0';
	for (size_t j = 0; t->have_config && j < n_labels; j++) {
		if (labels[j].readable == 0 && used < sizeof(missing)) {
			int w = snprintf(missing + used, sizeof(missing) - used, "%s%s", used ? ", " : "", labels[j].name);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	if (!t->have_config)
		snprintf(v, cap, "classified %llu values (no --config: readability not checked)", (unsigned long long)total);
	else if (bad == 0)
		snprintf(v, cap, "restorable with %s: all %llu values readable", path, (unsigned long long)total);
	else
		snprintf(v, cap, "NOT restorable with %s: %llu of %llu values unreadable%s%s%s", path,
			 (unsigned long long)bad, (unsigned long long)total, missing[0] ? " (keys missing: " : "", missing,
			 missing[0] ? ")" : "");
}

void backup_verdict(char *s, size_t cap, const struct backup *bk)
{
	const struct snap_info *in = backup_snap_info(bk);
	size_t bad = 0, n = backup_n_configs(bk);

	s[0] = '\0';
	if (in->has_trailer && !in->trailer_matches)
		append(s, cap, "SHA-256 trailer does not match: the file was changed or damaged; ");
	else
		append(s, cap, in->has_trailer ? "hash OK; " : "no trailer (raw db, hash not checked); ");
	if (in->extra_bytes > 0)
		append(s, cap, "%llu bytes after the last whole page: truncated or damaged; ",
		       (unsigned long long)in->extra_bytes);
	for (size_t i = 0; i < n; i++)
		if (!backup_restorable(bk, i))
			append(s, cap, "%s%s", bad++ ? ", " : "NOT restorable under ", backup_config_path(bk, i));
	if (bad > 0)
		append(s, cap, " (%zu of %zu configs)", bad, n);
	else if (n > 0)
		append(s, cap, "restorable: every value readable under %s", n > 1 ? "every config" : "the config");
	else
		append(s, cap, "no --config: values classified, readability not checked");
}

static void print_file(const struct snap_info *in, const char *file)
{
	printf("%s: %lld bytes, %s: bbolt %lld pages of %lld bytes%s\n", file, (long long)in->size,
	       in->has_trailer ? "etcd snapshot" : "raw db file", (long long)in->bolt.hwm, (long long)in->bolt.page_size,
	       in->has_trailer ? " + SHA-256 trailer" : "");
	if (!in->has_trailer) {
		printf("trailer: none (a raw member db, not 'etcdctl snapshot save' output): integrity not checked\n");
	} else {
		char want[65], got[65];

		hex_encode(want, in->expected, 32);
		hex_encode(got, in->actual, 32);
		if (in->trailer_checked && in->trailer_matches)
			printf("trailer: SHA-256 matches (%s)\n", got);
		else
			printf("trailer: SHA-256 DOES NOT MATCH: file says %s, data hashes to %s\n", want,
			       in->trailer_checked ? got : "");
	}
	if (in->extra_bytes > 0)
		printf("warning: %lld bytes after the last whole page (truncated or damaged)\n", (long long)in->extra_bytes);
	printf("revision %lld, compacted at %lld, %lld MVCC entries, %lld live keys of %lld\nbuckets:",
	       (long long)in->revision, (long long)in->compact_revision, (long long)in->entries,
	       (long long)in->live_keys, (long long)in->keys);
	for (size_t i = 0; i < in->n_buckets; i++)
		printf("%s %s %lld", i ? "," : "", in->buckets[i].name, (long long)in->buckets[i].entries);
	putchar('\n');
}

static void print_labels(const char *title, const struct backup_label *v, size_t n, int only_missing)
{
	size_t shown = 0;

	printf("%s", title);
	for (size_t i = 0; i < n; i++)
		if (!only_missing || v[i].readable == 0)
			printf("%s %s", shown++ ? "," : "", v[i].name);
	if (shown == 0)
		printf(" none");
	putchar('\n');
}

static void print_config(const struct backup *bk, size_t i)
{
	const struct tally *t = backup_tally(bk, i);
	const char *path = backup_config_path(bk, i);
	struct backup_label *labels = NULL;
	size_t n = 0;
	char v[1536];

	(void)backup_labels(&labels, &n, bk, i); /* out of memory: listed as none */
	printf("\n== config %s\n", path ? path : "none (classify only)");
	rp_print_resources(t, 1);
	print_labels("keys needed:", labels, n, 0);
	if (t->have_config)
		print_labels("keys missing:", labels, n, 1);
	backup_config_verdict(v, sizeof(v), bk, i, labels, n);
	printf("verdict: %s\n", v);
	free(labels);
}

static void print_keys(const char *title, uint64_t count, char **v, const size_t *lens, size_t n)
{
	printf("  %s: %llu\n", title, (unsigned long long)count);
	for (size_t i = 0; i < n; i++) {
		char *k = esc_term((const uint8_t *)v[i], lens[i]);

		printf("    %s\n", k != NULL ? k : "?");
		free(k);
	}
	if ((uint64_t)n < count)
		printf("    ... and %llu more (not listed)\n", (unsigned long long)(count - n));
}

static void print_history(const struct backup *bk)
{
	const struct backup_history *h = backup_get_history(bk);
	const struct snap_info *in = backup_snap_info(bk);

	printf("\nHISTORY (revisions %lld..%lld held in the file)\n", (long long)in->compact_revision + 1,
	       (long long)in->revision);
	printf("  %llu puts, %llu deletes\n", (unsigned long long)h->sum.revisions, (unsigned long long)h->sum.deletes);
	printf("  plaintext revisions: %llu (%llu historical, in %llu keys", (unsigned long long)h->sum.plaintext_total,
	       (unsigned long long)h->sum.plaintext_historical, (unsigned long long)h->sum.keys_with_historical_plaintext);
	if (h->sum.plaintext_historical > 0 && h->sum.oldest_plaintext_revision > 0)
		printf("; oldest at revision %lld", (long long)h->sum.oldest_plaintext_revision);
	printf(")\n");
	print_keys("deleted keys", h->deleted_keys, h->deleted, h->deleted_len, h->n_deleted);
	print_keys("re-created keys", h->recreated_keys, h->recreated, h->recreated_len, h->n_recreated);
	if (h->sum.plaintext_historical > 0)
		printf("  this backup still holds old plaintext: compact and defragment the cluster, then take a new "
		       "snapshot and retire this one\n");
}

void backup_print_table(const struct backup *bk, const char *file, int history)
{
	char v[1024];

	print_file(backup_snap_info(bk), file);
	for (size_t i = 0; i < backup_n_results(bk); i++)
		print_config(bk, i);
	if (history)
		print_history(bk);
	backup_verdict(v, sizeof(v), bk);
	printf("\nverdict: %s\n", v);
}
