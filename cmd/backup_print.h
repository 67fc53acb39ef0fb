/* backup_print: a backup verification's typed results (audit/backup.h)
 * rendered as JSON (jansson, schema docs/backup-json.md) or as tables in
 * audit's style (report_print.h). */
#ifndef ETCDCRYPT_BACKUP_PRINT_H
#define ETCDCRYPT_BACKUP_PRINT_H

#include <jansson.h>
#include <stddef.h>

#include "audit/backup.h"

/* The report (a new reference). file: the path shown; history: include it. */
json_t *backup_json(const struct backup *bk, const char *file, int history, double seconds);

/* The report as tables on stdout. */
void backup_print_table(const struct backup *bk, const char *file, int history);

/* The overall verdict, and result i's (labels: backup_labels of i). */
void backup_verdict(char *out, size_t cap, const struct backup *bk);
void backup_config_verdict(char *out, size_t cap, const struct backup *bk, size_t i, const struct backup_label *labels,
			   size_t n_labels);

#endif
