/* backup_print: renders a backup report (audit/backup.h, schema
 * docs/backup-json.md) to stdout as JSON or as tables in audit's style. */
#ifndef ETCDCRYPT_BACKUP_PRINT_H
#define ETCDCRYPT_BACKUP_PRINT_H

#include <jansson.h>

/* streamed_keys: a "keys" array was already opened on stdout (--list-keys). */
void backup_print_report(json_t *rep, int json, int streamed_keys);

#endif
