/* plain: is this byte string a real stored Kubernetes object?
 *
 * The apiserver stores objects as protobuf ("k8s\0" + runtime.Unknown), JSON
 * ("{...}\n") or, for custom resources under an alpha gate, CBOR (D9 D9 F7).
 * After a decryption, this check is what catches a wrong AES-CBC key whose
 * output happened to pass the padding check. It parses runtime.Unknown fully
 * (typeMeta, raw, contentEncoding, contentType) and reads the object's
 * ObjectMeta name and namespace from raw; JSON must parse completely and hold
 * kind and apiVersion. Layout (docs/formats.md §7):
 *
 *   offset 0  4 bytes  6B 38 73 00 ("k8s" + encoding style 0)
 *   offset 4  ...      runtime.Unknown { 1 typeMeta {1 apiVersion, 2 kind},
 *                                        2 raw, 3 contentEncoding, 4 contentType }
 *   raw: the object's message; field 1 is ObjectMeta {1 name, 3 namespace}
 *
 * It does not judge the object's contents beyond that. */
#ifndef ETCDCRYPT_PLAIN_H
#define ETCDCRYPT_PLAIN_H

#include <stddef.h>
#include <stdint.h>

enum plain_encoding {
	PLAIN_PROTOBUF = 0,
	PLAIN_JSON,
	PLAIN_CBOR,
	PLAIN_OTHER,
};

enum plain_verdict {
	PLAIN_VALID = 0,     /* a complete stored object */
	PLAIN_TRUNCATED,     /* starts like one but ends early */
	PLAIN_MALFORMED,     /* starts like one but does not parse */
	PLAIN_UNKNOWN,       /* not a Kubernetes storage encoding at all */
};

struct plain_info {
	enum plain_encoding encoding;
	enum plain_verdict verdict;
	char api_version[64];
	char kind[64];
	char name[254];
	char namespace_[64];
};

/* Cheap start check: does p begin like a stored object (protobuf magic +
 * typeMeta tag, '{', or the CBOR tag)? Used to tell a wrong key (random first
 * block) from a damaged value under the right key. */
int plain_looks_like_object(const uint8_t *p, size_t n);

/* Encoding judged from the first bytes only (no parse). */
enum plain_encoding plain_encoding_of(const uint8_t *p, size_t n);

/* Full check. Fills *out; never fails. */
void plain_inspect(struct plain_info *out, const uint8_t *p, size_t n);

const char *plain_encoding_name(enum plain_encoding e); /* protobuf, json, cbor, other */

#endif
