/* buf: a growable byte buffer with a hard maximum.
 *
 * Used for decrypted plaintexts and encoded values. release wipes the bytes
 * (they may be secret data) before freeing them. A buffer is reused across
 * values: buf_reset keeps the allocation. */
#ifndef ETCDCRYPT_BUF_H
#define ETCDCRYPT_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* growth beyond this fails with ERR_NOMEM */
};

#define BUF_DEFAULT_MAX ((size_t)64 << 20)

void buf_init(struct buf *b, size_t max); /* max 0: BUF_DEFAULT_MAX */
/* Ensures room for n more bytes. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
void buf_reset(struct buf *b);   /* len = 0, keeps memory */
void buf_release(struct buf *b); /* wipes and frees; b can be reused after buf_init */

/* Wipes n bytes in a way the compiler keeps. */
void mem_wipe(void *p, size_t n);

#endif
