/* pbwire: a minimal, bounds-checked protobuf wire-format reader.
 *
 * For the few small messages we read outside the etcd client (runtime.Unknown
 * and ObjectMeta inside stored objects, the KMS v2 EncryptedObject, mvccpb
 * KeyValue in snapshot files). It never allocates and never reads past the
 * end; it does not know any schema. Groups (wire types 3/4) are rejected. */
#ifndef ETCDCRYPT_PBWIRE_H
#define ETCDCRYPT_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

struct pb_reader {
	const uint8_t *p;
	const uint8_t *end;
};

struct pb_field {
	uint32_t num;
	uint32_t wire; /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
	uint64_t varint;        /* wire 0, 1, 5 */
	const uint8_t *data;    /* wire 2 */
	size_t len;             /* wire 2 */
};

enum pb_status { PB_END = 0, PB_FIELD = 1, PB_TRUNCATED = -1, PB_MALFORMED = -2 };

void pb_init(struct pb_reader *r, const uint8_t *p, size_t n);
/* Reads the next field. Returns PB_FIELD, PB_END at the exact end, or a
 * negative status: PB_TRUNCATED when the data ends inside a field. */
int pb_next(struct pb_reader *r, struct pb_field *f);
/* Reads one varint at *p (advancing it); ERR_CORRUPT (no message set) on
 * truncation or overlong. */
int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

#endif
