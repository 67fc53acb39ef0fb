/* csmkey: reading, naming and generating CSM keys (struct csmconf_key,
 * conf/csmconf.h). A CSM key's name is
 *   <provider>-<lower-case hex SHA-256 of the key string followed by "\n">
 * (the CSM script runs `echo "$key" | sha256sum`). Keys never appear in a
 * message. Does not write configs (csmconf.h does). */
#ifndef ETCDCRYPT_CSMKEY_H
#define ETCDCRYPT_CSMKEY_H

#include <stddef.h>
#include <stdint.h>

#include "conf/csmconf.h"

/* Reads a key for kind from path ("-": stdin) into *out and names it. One
 * trailing "\n" is dropped. ERR_CONFIG naming the file when the length is
 * wrong for kind (aescbc/aesgcm 16, 24 or 32; secretbox 32); ERR_IO when
 * unreadable. The bytes read are wiped from every buffer but *out. */
int csmkey_read(struct csmconf_key *out, enum encconf_kind kind, const char *path);

/* Same from memory (no newline handling); source names it in messages. */
int csmkey_set(struct csmconf_key *out, enum encconf_kind kind, const uint8_t *key, size_t len, const char *source);

/* The CSM name of k into out (csmkey_set already stores it in k->name). */
int csmkey_name(char out[CSMCONF_NAME_MAX], const struct csmconf_key *k);

/* Fills out[0..n-1] with random letters and digits (uniform over the 62,
 * about 5.95 bits each) and writes out[n] = '\0'. */
int csmkey_random(char *out, size_t n);

#endif
