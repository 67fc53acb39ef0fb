/* kmsflags: where commands get KMS DEKs from (docs/kms.md).
 *
 *   --kms-endpoint NAME=unix:///PATH  dial plugin NAME there, not at the
 *                                     config's endpoint (repeatable)
 *   --kms-keyring FILE                local KEKs standing in for plugins
 *
 * Every command that reads values opens a ring through kmsflags_open: the
 * config's plugins are dialled on first use (their endpoint, their timeout),
 * plugins named in the keyring never are. The plugin accounting is shown by
 * kmsflags_report / kmsflags_print. */
#ifndef ETCDCRYPT_KMSFLAGS_H
#define ETCDCRYPT_KMSFLAGS_H

#include <jansson.h>
#include <stdio.h>

#include "kms/kms.h"
#include "xform/kmsring.h"

#define KMSFLAGS_MAX 16

#define KMSFLAGS_HELP                                                                        \
	"  --kms-endpoint NAME=unix:///PATH\n"                                               \
	"                          dial KMS plugin NAME at PATH instead of the config's\n"      \
	"                          endpoint (repeatable; docs/kms.md)\n"

struct kmsflags {
	const char *endpoints[KMSFLAGS_MAX];
	size_t n;
	struct kms_set *set;
};

/* Records one --kms-endpoint (checked when opened). ERR_USAGE past the limit. */
int kmsflags_add(struct kmsflags *k, const char *arg);
/* Creates the plugin set and a ring over it (+ the keyring file if given). */
int kmsflags_open(struct kmsflags *k, struct kms_ring **ring, const char *keyring_path, int debug);
/* Frees the set; free the ring first. */
void kmsflags_release(struct kmsflags *k);

/* [{"name", "endpoint", "api_version", "status_calls", "decrypt_calls",
 * "encrypt_calls", "failed_calls", "cache_hits", "plugin_seconds", "down"}] */
json_t *kmsflags_report(const struct kmsflags *k);
/* One line per plugin dialled ("" when none). */
void kmsflags_print(const struct kmsflags *k, FILE *f);

#endif
