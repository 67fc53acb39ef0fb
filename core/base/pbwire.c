/* pbwire: minimal protobuf wire reader; see pbwire.h. */
#include "pbwire.h"
#include "err.h"

void pb_init(struct pb_reader *r, const uint8_t *p, size_t n)
{
	r->p = p;
	r->end = p + n;
}

int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;
	const uint8_t *q = *p;

	while (q < end) {
		uint8_t b = *q++;

		if (shift == 63 && b > 1)
			return ERR_CORRUPT;
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*p = q;
			*out = v;
			return 0;
		}
		shift += 7;
		if (shift > 63)
			return ERR_CORRUPT;
	}
	return ERR_CORRUPT;
}

int pb_next(struct pb_reader *r, struct pb_field *f)
{
	uint64_t tag, len;

	if (r->p == r->end)
		return PB_END;
	if (pb_varint(&r->p, r->end, &tag) < 0)
		return PB_TRUNCATED;
	f->num = (uint32_t)(tag >> 3);
	f->wire = (uint32_t)(tag & 7);
	if (f->num == 0 || (tag >> 3) > 0x1fffffff)
		return PB_MALFORMED;
	switch (f->wire) {
	case 0:
		return pb_varint(&r->p, r->end, &f->varint) < 0 ? PB_TRUNCATED : PB_FIELD;
	case 1:
	case 5: {
		size_t n = f->wire == 1 ? 8 : 4;

		if ((size_t)(r->end - r->p) < n)
			return PB_TRUNCATED;
		f->varint = 0;
		for (size_t i = 0; i < n; i++)
			f->varint |= (uint64_t)r->p[i] << (8 * i);
		r->p += n;
		return PB_FIELD;
	}
	case 2:
		if (pb_varint(&r->p, r->end, &len) < 0)
			return PB_TRUNCATED;
		if (len > (uint64_t)(r->end - r->p))
			return PB_TRUNCATED;
		f->data = r->p;
		f->len = (size_t)len;
		r->p += len;
		return PB_FIELD;
	default:
		return PB_MALFORMED;
	}
}
