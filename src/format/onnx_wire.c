/*
 * onnx_wire.c
 *	  Protobuf wire-format primitives for the ONNX decoder: tags, varints
 *	  (with overflow checks), fixed32/64, length-delimited payloads (checked
 *	  against the bytes left), packed repeated fields, and the arena that
 *	  decoded data lives in.  Unknown fields are consumed by their wire type;
 *	  groups (wire types 3 and 4, unused by ONNX) are rejected.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_proto.h"

#define ARENA_BLOCK_MIN (64 * 1024)

typedef struct OnnxArenaBlock
{
	struct OnnxArenaBlock *next;
	size_t		used;
	size_t		cap;
	max_align_t data[];
} OnnxArenaBlock;

/* Starts reading len bytes at data; start is the file's first byte. */
void
onnx_wire_init(OnnxWire *w, const uint8_t *start, const uint8_t *data, size_t len)
{
	w->start = start;
	w->pos = data;
	w->end = data + len;
}

/* Whether fields are left. */
bool
onnx_wire_more(const OnnxWire *w)
{
	return w->pos < w->end;
}

/* Reads a varint of at most 10 bytes whose value fits 64 bits. */
static bool
read_varint(const uint8_t **pos, const uint8_t *end, uint64_t *value)
{
	uint64_t	v = 0;

	for (int i = 0; i < 10; i++)
	{
		uint8_t		b;

		if (*pos >= end)
			return false;
		b = *(*pos)++;
		if (i == 9 && b > 1)
			return false;		/* bits beyond 64 */
		v |= (uint64_t) (b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0)
		{
			*value = v;
			return true;
		}
	}
	return false;
}

/* Reads the next field's tag and payload; what names the message for errors. */
PiStatus
onnx_wire_next(OnnxWire *w, OnnxField *f, const char *what, PiError *err)
{
	uint64_t	tag;
	size_t		offset = (size_t) (w->pos - w->start);
	size_t		left;

	memset(f, 0, sizeof(*f));
	f->offset = offset;
	if (!read_varint(&w->pos, w->end, &tag))
		return pi_fail(err, PI_ERR_CORRUPT, "%s: truncated or overlong field tag at byte %zu",
					   what, offset);
	if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return pi_fail(err, PI_ERR_CORRUPT, "%s: field number %llu at byte %zu, expected 1 to 536870911",
					   what, (unsigned long long) (tag >> 3), offset);
	f->number = (uint32_t) (tag >> 3);
	f->wire_type = (int) (tag & 7);
	left = (size_t) (w->end - w->pos);
	switch (f->wire_type)
	{
		case WIRE_VARINT:
			if (!read_varint(&w->pos, w->end, &f->varint))
				return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu has a truncated or overlong varint",
							   what, f->number, offset);
			return PI_OK;
		case WIRE_FIXED64:
		case WIRE_FIXED32:
			f->len = (f->wire_type == WIRE_FIXED64) ? 8 : 4;
			if (left < f->len)
				return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu needs %zu bytes, %zu are left",
							   what, f->number, offset, f->len, left);
			f->data = w->pos;
			w->pos += f->len;
			return PI_OK;
		case WIRE_LEN:
			{
				uint64_t	len;

				if (!read_varint(&w->pos, w->end, &len))
					return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu has a truncated length",
								   what, f->number, offset);
				left = (size_t) (w->end - w->pos);
				if (len > left)
					return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu has length %llu, only %zu bytes are left",
								   what, f->number, offset, (unsigned long long) len, left);
				f->data = w->pos;
				f->len = (size_t) len;
				w->pos += len;
				return PI_OK;
			}
		default:
			return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu has wire type %d, expected 0, 1, 2 or 5 (groups are not used by ONNX)",
						   what, f->number, offset, f->wire_type);
	}
}

/*
 * Counts the values of a repeated numeric field entry: 1 when it is a single
 * value of wire_type, else the values of a packed (length-delimited) entry.
 */
PiStatus
onnx_packed_count(const OnnxField *f, int wire_type, const char *what,
				  int64_t *count, PiError *err)
{
	if (f->wire_type == wire_type)
	{
		*count = 1;
		return PI_OK;
	}
	if (f->wire_type != WIRE_LEN)
		return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu has wire type %d, expected %d or a packed list",
					   what, f->number, f->offset, f->wire_type, wire_type);
	if (wire_type == WIRE_VARINT)
	{
		const uint8_t *p = f->data;
		const uint8_t *end = f->data + f->len;
		int64_t		n = 0;
		uint64_t	v;

		while (p < end)
		{
			if (!read_varint(&p, end, &v))
				return pi_fail(err, PI_ERR_CORRUPT, "%s: packed field %u at byte %zu has a truncated or overlong varint",
							   what, f->number, f->offset);
			n++;
		}
		*count = n;
		return PI_OK;
	}
	{
		size_t		size = (wire_type == WIRE_FIXED32) ? 4 : 8;

		if (f->len % size != 0)
			return pi_fail(err, PI_ERR_CORRUPT, "%s: packed field %u at byte %zu has %zu bytes, not a multiple of %zu",
						   what, f->number, f->offset, f->len, size);
		*count = (int64_t) (f->len / size);
	}
	return PI_OK;
}

/* Reads the values onnx_packed_count counted (raw bits for fixed types). */
void
onnx_packed_read(const OnnxField *f, int wire_type, uint64_t *values)
{
	if (f->wire_type != WIRE_LEN)
	{
		values[0] = (f->wire_type == WIRE_VARINT) ? f->varint :
			(f->wire_type == WIRE_FIXED32) ? onnx_le32(f->data) : onnx_le64(f->data);
		return;
	}
	if (wire_type == WIRE_VARINT)
	{
		const uint8_t *p = f->data;
		const uint8_t *end = f->data + f->len;

		while (p < end && read_varint(&p, end, values))
			values++;
		return;
	}
	for (size_t off = 0; off < f->len; off += (wire_type == WIRE_FIXED32) ? 4 : 8)
		*values++ = (wire_type == WIRE_FIXED32) ? onnx_le32(f->data + off) : onnx_le64(f->data + off);
}

/* The float whose IEEE 754 bits these are. */
float
onnx_bits_float(uint32_t bits)
{
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* Reads a little-endian uint32. */
uint32_t
onnx_le32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) |
		((uint32_t) p[3] << 24);
}

/* Reads a little-endian uint64. */
uint64_t
onnx_le64(const uint8_t *p)
{
	return (uint64_t) onnx_le32(p) | ((uint64_t) onnx_le32(p + 4) << 32);
}

/* Zeroed room for count items of size bytes; NULL on overflow or no memory. */
void *
onnx_arena_alloc(OnnxArena *arena, int64_t count, size_t size)
{
	int64_t		bytes;
	size_t		need;
	OnnxArenaBlock *b = arena->blocks;

	if (count < 0 || !pi_mul_size(count, (int64_t) size, &bytes) || bytes > ((int64_t) 1 << 40))
		return NULL;
	need = ((size_t) bytes + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (need == 0)
		need = sizeof(max_align_t);
	if (b == NULL || b->cap - b->used < need)
	{
		size_t		cap = need > ARENA_BLOCK_MIN ? need : ARENA_BLOCK_MIN;

		b = malloc(sizeof(OnnxArenaBlock) + cap);
		if (b == NULL)
			return NULL;
		b->cap = cap;
		b->used = 0;
		/* a large block goes second so that the current one keeps filling */
		if (arena->blocks != NULL && need > ARENA_BLOCK_MIN)
		{
			b->next = arena->blocks->next;
			arena->blocks->next = b;
		}
		else
		{
			b->next = arena->blocks;
			arena->blocks = b;
		}
	}
	{
		void	   *p = (char *) b->data + b->used;

		b->used += need;
		memset(p, 0, need);
		return p;
	}
}

/* Frees everything the arena handed out. */
void
onnx_arena_free(OnnxArena *arena)
{
	OnnxArenaBlock *b = arena->blocks;

	while (b != NULL)
	{
		OnnxArenaBlock *next = b->next;

		free(b);
		b = next;
	}
	arena->blocks = NULL;
}
