/* tally: counts of stored values by resource x provider x key name, plus
 * the plaintext encodings and the list of unreadable keys.
 *
 * Memory is bounded by the number of distinct (provider, key name, key ID)
 * rows and by TALLY_MAX_UNREADABLE listed keys per resource (beyond that
 * they are counted, not listed), never by the number of values. */
#ifndef ETCDCRYPT_TALLY_H
#define ETCDCRYPT_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "xform/envelope.h"
#include "base/resources.h"
#include "xform/transform.h"

#define TALLY_MAX_UNREADABLE 10000

struct tally_row {
	enum env_kind kind;
	char key_name[ENV_NAME_MAX];
	char key_id[ENV_NAME_MAX]; /* kmsv2 only */
	int key_name_guessed;      /* some value of the row matched no configured key */
	uint64_t count, readable, stale;
};

struct tally_bad {
	char *etcd_key; /* the key's bytes (NUL-terminated copy; may hold NULs) */
	size_t etcd_key_len;
	enum env_kind kind;
	char key_name[ENV_NAME_MAX];
	int key_name_guessed;
	enum xf_reason reason;
	char detail[256];
	int64_t mod_revision;
};

struct tally_res {
	struct res_id id;
	char name[2 * RES_NAME_MAX];
	char prefix[512];
	uint64_t total, readable, stale, unreadable, bytes;
	uint64_t encodings[4]; /* enum plain_encoding of values stored as plaintext */
	uint64_t objects[4];   /* enum plain_encoding of every readable object */
	struct tally_row *rows;
	size_t n_rows;
	struct tally_bad *bad;
	size_t n_bad, cap_bad;
	uint64_t bad_unlisted; /* unreadable beyond TALLY_MAX_UNREADABLE */
};

struct tally {
	struct tally_res *res;
	size_t n;
	int have_config; /* readable/stale are meaningful */
};

void tally_init(struct tally *t, int have_config);
void tally_release(struct tally *t);

/* The entry for a resource, created on first use. Borrowed from t. */
int tally_resource(struct tally *t, struct tally_res **out, const struct res_id *id, const char *prefix);

/* Counts one value and its read result. */
int tally_add(struct tally *t, struct tally_res *r, const uint8_t *key, size_t key_len, int64_t mod_revision,
	      const uint8_t *value, size_t value_len, const struct xf_result *res);

/* Totals over all resources. */
uint64_t tally_total(const struct tally *t, uint64_t *unreadable);

#endif
