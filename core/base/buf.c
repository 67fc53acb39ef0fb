/* buf: growable byte buffer; see buf.h. */
#include "buf.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BUF_DEFAULT_MAX;
}

int buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (n > b->max || b->len > b->max - n)
		return err_set(ERR_NOMEM, "buffer would exceed its limit of %zu bytes", b->max);
	need = b->len + n;
	/* always leave memory behind data, even for 0 bytes: callers do
	 * pointer arithmetic on data + len */
	if (need <= b->cap && b->data != NULL)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	/* realloc would leave the old copy of secret bytes behind: copy and wipe */
	p = malloc(cap);
	if (p == NULL)
		return err_set(ERR_NOMEM, "out of memory (%zu bytes)", cap);
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		mem_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc < 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

void buf_release(struct buf *b)
{
	if (b->data != NULL) {
		mem_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void mem_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}
