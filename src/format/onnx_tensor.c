/*
 * onnx_tensor.c
 *	  The numbers of a decoded TensorProto: finds its data (external file,
 *	  raw_data, or the typed repeated field), checks that exactly numel
 *	  elements are there, and converts them to float32 (weights,
 *	  activations) or int64 (shapes, axes, indices).  Also the public
 *	  pi_onnx_tensor_load used for ONNX test data files.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_proto.h"

/* Where the elements are: little-endian bytes or 64-bit words. */
typedef struct TensorSource
{
	const uint8_t *bytes;		/* NULL: use words */
	const uint64_t *words;
	size_t		elem_size;		/* of bytes */
} TensorSource;

/* Size in bytes of one element of a supported data type, else 0. */
static size_t
dtype_size(int data_type)
{
	switch (data_type)
	{
		case ONNX_FLOAT:
		case ONNX_INT32:
			return 4;
		case ONNX_DOUBLE:
		case ONNX_INT64:
			return 8;
		case ONNX_FLOAT16:
		case ONNX_BFLOAT16:
		case ONNX_INT16:
			return 2;
		case ONNX_INT8:
		case ONNX_UINT8:
		case ONNX_BOOL:
			return 1;
		default:
			return 0;
	}
}

/* Whether values of the data type are integers (booleans included). */
bool
onnx_dtype_is_integer(int data_type)
{
	switch (data_type)
	{
		case ONNX_INT64:
		case ONNX_INT32:
		case ONNX_INT16:
		case ONNX_INT8:
		case ONNX_UINT8:
		case ONNX_BOOL:
			return true;
		default:
			return false;
	}
}

/* Name of an ONNX data type for messages. */
const char *
onnx_dtype_name(int data_type)
{
	static const char *const names[] = {
		"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
		"STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64",
		"COMPLEX128", "BFLOAT16"
	};

	if (data_type >= 0 && data_type < (int) (sizeof(names) / sizeof(names[0])))
		return names[data_type];
	return "an unknown type";
}

/* Converts IEEE half-precision bits to float. */
static float
half_to_float(uint16_t h)
{
	int			exp = (h >> 10) & 0x1f;
	int			mant = h & 0x3ff;
	float		v;

	if (exp == 0)
		v = ldexpf((float) mant, -24);
	else if (exp == 31)
		v = mant ? NAN : INFINITY;
	else
		v = ldexpf((float) (mant | 0x400), exp - 25);
	return (h & 0x8000) ? -v : v;
}

/*
 * Checks that the int32_data values of a tensor of a narrower integer type
 * (8 or 16 bits, which that field holds one to a value) fit the type.
 */
static PiStatus
check_narrow_words(const OnnxTensor *t, const TensorSource *src, PiError *err)
{
	int64_t		lo,
				hi;

	switch (t->data_type)
	{
		case ONNX_INT8:
			lo = -128, hi = 127;
			break;
		case ONNX_UINT8:
			lo = 0, hi = 255;
			break;
		case ONNX_INT16:
			lo = -32768, hi = 32767;
			break;
		default:
			return PI_OK;
	}
	for (int64_t i = 0; i < t->numel; i++)
	{
		int64_t		v = (int32_t) (uint32_t) src->words[i];

		if (v < lo || v > hi)
			return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" element %lld is %lld, outside [%lld, %lld] of its type %s",
						   t->name, (long long) i, (long long) v, (long long) lo, (long long) hi,
						   onnx_dtype_name(t->data_type));
	}
	return PI_OK;
}

/* Finds the tensor's elements and checks their count. */
static PiStatus
find_source(const OnnxTensor *t, const uint8_t *external, size_t external_len,
			TensorSource *src, PiError *err)
{
	size_t		size = dtype_size(t->data_type);
	int64_t		bytes;
	const OnnxNumbers *field;

	memset(src, 0, sizeof(*src));
	if (size == 0)
		return pi_fail(err, PI_ERR_DTYPE, "tensor \"%s\" has data type %s (%d), which is not supported",
					   t->name, onnx_dtype_name(t->data_type), t->data_type);
	if (!pi_mul_size(t->numel, (int64_t) size, &bytes))
		return pi_fail(err, PI_ERR_LIMIT, "tensor \"%s\" is too large", t->name);
	src->elem_size = size;
	if (t->external)
	{
		int64_t		length = t->ext_length >= 0 ? t->ext_length : bytes;

		if (external == NULL)
			return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has its data in external file \"%s\", but no external data was given",
						   t->name, t->ext_location);
		if (length != bytes)
			return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" external data length is %lld bytes, expected %lld",
						   t->name, (long long) length, (long long) bytes);
		if (t->ext_offset > (int64_t) external_len || bytes > (int64_t) external_len - t->ext_offset)
			return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" external data at offset %lld, %lld bytes, lies past the end of the %zu-byte file",
						   t->name, (long long) t->ext_offset, (long long) bytes, external_len);
		src->bytes = external + t->ext_offset;
		return PI_OK;
	}
	if (t->has_raw)
	{
		if ((int64_t) t->raw_len != bytes)
			return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has %zu bytes of raw_data, expected %lld (%lld elements of %s)",
						   t->name, t->raw_len, (long long) bytes, (long long) t->numel,
						   onnx_dtype_name(t->data_type));
		src->bytes = t->raw;
		return PI_OK;
	}
	switch (t->data_type)
	{
		case ONNX_FLOAT:
			field = &t->float_data;
			break;
		case ONNX_DOUBLE:
			field = &t->double_data;
			break;
		case ONNX_INT64:
			field = &t->int64_data;
			break;
		default:
			field = &t->int32_data;
			break;
	}
	if (field->count != t->numel)
		return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has %lld values, expected %lld for its dims",
					   t->name, (long long) field->count, (long long) t->numel);
	src->words = field->values;
	return check_narrow_words(t, src, err);
}

/* Element i as a 64-bit word in the typed field's encoding. */
static uint64_t
element_word(const TensorSource *src, int64_t i)
{
	const uint8_t *p;

	if (src->bytes == NULL)
		return src->words[i];
	p = src->bytes + i * (int64_t) src->elem_size;
	switch (src->elem_size)
	{
		case 1:
			return p[0];
		case 2:
			return (uint64_t) p[0] | ((uint64_t) p[1] << 8);
		case 4:
			return onnx_le32(p);
		default:
			return onnx_le64(p);
	}
}

/* Element i as a double (exact for every supported type but large int64). */
static double
element_double(const OnnxTensor *t, const TensorSource *src, int64_t i)
{
	uint64_t	w = element_word(src, i);

	switch (t->data_type)
	{
		case ONNX_FLOAT:
			return onnx_bits_float((uint32_t) w);
		case ONNX_DOUBLE:
			{
				double		d;

				memcpy(&d, &w, sizeof(d));
				return d;
			}
		case ONNX_FLOAT16:
			return half_to_float((uint16_t) w);
		case ONNX_BFLOAT16:
			return onnx_bits_float((uint32_t) (w & 0xffff) << 16);
		case ONNX_INT64:
			return (double) (int64_t) w;
		case ONNX_INT32:
			return (int32_t) (uint32_t) w;
		case ONNX_INT16:
			return (int16_t) (uint16_t) w;
		case ONNX_INT8:
			return (int8_t) (uint8_t) w;
		case ONNX_UINT8:
			return (uint8_t) w;
		default:				/* BOOL */
			return (w & 0xff) != 0;
	}
}

/* Converts a tensor's elements to float32 (a malloc'd array of numel). */
PiStatus
onnx_tensor_floats(const OnnxTensor *t, const uint8_t *external, size_t external_len,
				   float **out, PiError *err)
{
	TensorSource src;
	float	   *v;
	PiStatus	st;

	*out = NULL;
	if ((st = find_source(t, external, external_len, &src, err)) != PI_OK)
		return st;
	if ((v = malloc(sizeof(float) * (t->numel > 0 ? t->numel : 1))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory for tensor \"%s\"", t->name);
	for (int64_t i = 0; i < t->numel; i++)
	{
		double		d = element_double(t, &src, i);

		if (onnx_dtype_is_integer(t->data_type) && fabs(d) > 16777216.0)
		{
			free(v);
			return pi_fail(err, PI_ERR_DTYPE, "tensor \"%s\" element %lld is %.0f, beyond the float32-exact range of 2^24",
						   t->name, (long long) i, d);
		}
		v[i] = (float) d;
	}
	*out = v;
	return PI_OK;
}

/*
 * The elements of a FLOAT tensor where they lie, when they can be used as
 * float32 in place (raw_data or external data, at an aligned address, on a
 * little-endian machine); else *out is NULL and they must be converted.
 * Checks the data as onnx_tensor_floats does.
 */
PiStatus
onnx_tensor_float_view(const OnnxTensor *t, const uint8_t *external, size_t external_len,
					   const float **out, PiError *err)
{
	TensorSource src;

	*out = NULL;
	TRY(find_source(t, external, external_len, &src, err));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (t->data_type == ONNX_FLOAT && src.bytes != NULL && (uintptr_t) src.bytes % sizeof(float) == 0)
		*out = (const float *) src.bytes;
#endif
	return PI_OK;
}

/* A numeric tensor's elements as doubles, exactly (a malloc'd array of numel). */
PiStatus
onnx_tensor_doubles(const OnnxTensor *t, const uint8_t *external, size_t external_len,
					double **out, PiError *err)
{
	TensorSource src;
	double	   *v;
	PiStatus	st;

	*out = NULL;
	if ((st = find_source(t, external, external_len, &src, err)) != PI_OK)
		return st;
	if ((v = malloc(sizeof(double) * (t->numel > 0 ? t->numel : 1))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory for tensor \"%s\"", t->name);
	for (int64_t i = 0; i < t->numel; i++)
		v[i] = element_double(t, &src, i);
	*out = v;
	return PI_OK;
}

/* Converts an integer tensor's elements to int64 (a malloc'd array of numel). */
PiStatus
onnx_tensor_ints(const OnnxTensor *t, const uint8_t *external, size_t external_len,
				 int64_t **out, PiError *err)
{
	TensorSource src;
	int64_t    *v;
	PiStatus	st;

	*out = NULL;
	if (!onnx_dtype_is_integer(t->data_type))
		return pi_fail(err, PI_ERR_DTYPE, "tensor \"%s\" has data type %s, expected an integer type",
					   t->name, onnx_dtype_name(t->data_type));
	if ((st = find_source(t, external, external_len, &src, err)) != PI_OK)
		return st;
	if ((v = malloc(sizeof(int64_t) * (t->numel > 0 ? t->numel : 1))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory for tensor \"%s\"", t->name);
	for (int64_t i = 0; i < t->numel; i++)
		v[i] = (t->data_type == ONNX_INT64) ? (int64_t) element_word(&src, i) :
			(int64_t) element_double(t, &src, i);
	*out = v;
	return PI_OK;
}

/* A STRING tensor's strings as malloc'd copies (numel of them). */
static PiStatus
tensor_strings(const OnnxTensor *t, char ***out, PiError *err)
{
	char	  **v;

	if (t->nstrings != t->numel)
		return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has %lld strings, expected %lld for its dims",
					   t->name, (long long) t->nstrings, (long long) t->numel);
	if ((v = calloc(t->numel + 1, sizeof(char *))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory for tensor \"%s\"", t->name);
	for (int64_t i = 0; i < t->numel; i++)
		if ((v[i] = strdup(t->strings[i])) == NULL)
		{
			for (int64_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return pi_fail(err, PI_ERR_NOMEM, "out of memory for tensor \"%s\"", t->name);
		}
	*out = v;
	return PI_OK;
}

/* Decodes a serialized TensorProto with its data in the message itself. */
PiStatus
pi_onnx_tensor_load(const uint8_t *bytes, size_t len, PiOnnxTensor *out, PiError *err)
{
	OnnxArena	arena = {0};
	OnnxTensor	t;
	PiStatus	st;

	memset(out, 0, sizeof(*out));
	st = onnx_tensor_decode(bytes, bytes, len, &arena, &t, err);
	if (st == PI_OK && t.external)
		st = pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has external data", t.name);
	if (st == PI_OK && strlen(t.name) >= PI_MAX_NAME)
		st = pi_fail(err, PI_ERR_LIMIT, "tensor name \"%.40s...\" is too long", t.name);
	if (st == PI_OK && t.data_type == ONNX_STRING)
		st = tensor_strings(&t, &out->strings, err);
	else if (st == PI_OK)
		st = onnx_tensor_floats(&t, NULL, 0, &out->data, err);
	if (st == PI_OK)
	{
		strcpy(out->name, t.name);
		out->data_type = t.data_type;
		out->rank = t.rank;
		memcpy(out->dims, t.dims, sizeof(t.dims));
		out->numel = t.numel;
	}
	onnx_arena_free(&arena);
	return st;
}

/* Frees what pi_onnx_tensor_load allocated. */
void
pi_onnx_tensor_free(PiOnnxTensor *tensor)
{
	for (int64_t i = 0; tensor->strings != NULL && i < tensor->numel; i++)
		free(tensor->strings[i]);
	free(tensor->strings);
	free(tensor->data);
	tensor->strings = NULL;
	tensor->data = NULL;
}
