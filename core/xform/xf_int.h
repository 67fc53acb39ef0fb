/* xf_int: transform internals shared by transform.c, xf_judge.c and
 * xf_kms.c (private to the transform module). */
#ifndef ETCDCRYPT_XF_INT_H
#define ETCDCRYPT_XF_INT_H

#include "prov.h"
#include "transform.h"

/* failure ranks: a higher rank is a more specific reason */
enum { RANK_NOMATCH = 1, RANK_UNKNOWN_KEY = 2, RANK_DECRYPT = 3 };

struct xf_prov {
	const struct encconf_provider *conf;
	enum env_kind env;
	char prefix[ENV_NAME_MAX + 32]; /* provider prefix; KMS: with "<name>:" */
	struct prov_cipher **ciphers;   /* one per key (AES, secretbox) */
};

struct xf {
	struct xf_prov *provs;
	size_t n;
	const struct kms_ring *ring;
	int encrypting; /* any provider other than identity */
	int rank;       /* of the failure noted so far in this read */
	struct buf tmp; /* scratch plaintext for diagnosis */
	struct buf dek; /* unwrapped KMS DEK/seed */
	struct prov_raw *raw; /* KMS data keys: reused contexts (made on first KMS value) */
	/* what x->dek holds (xf_kms.c: same_as_last), valid when last_ok */
	int last_ok, last_type;
	const struct encconf_provider *last_prov;
	size_t last_id_len;
	struct buf last; /* key ID | annotations | wrapped bytes */
	int cur_asked;    /* the first provider's current KMS v2 key ID asked */
	char *cur_key_id; /* NULL: unknown */
	/* during xf_read_back only: the plaintext expected, and its inspection */
	const uint8_t *known;
	size_t known_len;
	const struct plain_info *known_info;
};

/* plain_inspect, unless p is the plaintext xf_read_back expects: then its
 * known inspection (plain_inspect is a pure function of the bytes) */
void xf_inspect(const struct xf *x, struct plain_info *out, const uint8_t *p, size_t n);

/* the value being read */
struct xf_ctx {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
};

/* what decrypts a body: a prepared cipher, or a raw AES-GCM/CBC key */
struct xf_opener {
	struct prov_cipher *cipher;
	const uint8_t *raw_key;
	size_t raw_key_len;
	int raw_cbc;
	struct prov_raw *raw; /* with raw_key: reuse these contexts */
	int aead; /* a passing tag proves the key: a bad object then is not a wrong key */
};

void xf_note(struct xf *x, struct xf_result *res, int rank, enum xf_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

int xf_open(const struct xf_opener *op, struct buf *out, const uint8_t *body, size_t n, const uint8_t *aad,
	    size_t aad_len, enum prov_fail *why);

/* Judges one decryption attempt. Sets res->ok (and res->plain) on a real
 * object; otherwise notes the failure class. plain holds the attempt's output. */
int xf_judge(struct xf *x, struct xf_result *res, const struct xf_opener *op, struct buf *plain,
	     const struct xf_ctx *cx, const uint8_t *body, size_t n, enum prov_fail why, const char *name);

int xf_try_kms(struct xf *x, struct xf_result *res, size_t i, struct buf *plain, const struct xf_ctx *cx);

/* Appends a KMS v2 value for the first provider (a KMS one) to *out. */
int xf_write_kms(struct xf *x, struct buf *out, const uint8_t *etcd_key, size_t key_len, const uint8_t *plain,
		 size_t plain_len);

#endif
