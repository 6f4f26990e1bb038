/*
 * safetensors.c
 *	  Parser for safetensors files: an 8-byte little-endian header length,
 *	  a JSON header, then the tensors' bytes.  Tensors are widened (F16,
 *	  BF16) or narrowed (F64) to float32.  An I8 tensor holds the int8 codes
 *	  of a weight quantized per column (a Conv's per output channel), and
 *	  goes with an F32 tensor of its name plus PI_INT8_AMAX_SUFFIX that
 *	  holds each column's largest |w| (pi_format.h); it is dequantized to
 *	  float32 and the two make one tensor.  Every field is checked: the data must be covered exactly
 *	  once, in order, by the tensors' offsets.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pi_format.h"

#define MAX_HEADER_BYTES (100 * 1024 * 1024)
#define MAX_TENSORS 1000000

typedef enum StDtype
{
	ST_F32,
	ST_F16,
	ST_BF16,
	ST_F64,
	ST_I8
} StDtype;

/* A tensor's header entry before its data is converted. */
typedef struct StEntry
{
	const char *name;
	StDtype		dtype;
	int			rank;
	int64_t		dims[PI_MAX_RANK];
	int64_t		numel;
	uint64_t	begin;
	uint64_t	end;
	const struct StEntry *amax; /* an I8 tensor's column maxima */
	bool		is_amax;		/* some I8 tensor's column maxima */
} StEntry;

/* Reads a little-endian uint64. */
static uint64_t
read_le64(const uint8_t *p)
{
	uint64_t	v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* IEEE half to float. */
static float
half_to_float(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	mant = h & 0x3ff;
	uint32_t	bits;
	float		f;

	if (exp == 0)
	{
		/* zero or subnormal: mant * 2^-24 */
		f = ldexpf((float) mant, -24);
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000u | (mant << 13);
	else
		bits = sign | ((exp + 112) << 23) | (mant << 13);
	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* Size in bytes of one element, and the dtype from its name. */
static int
dtype_from_name(const char *name, StDtype *dtype)
{
	if (strcmp(name, "F32") == 0)
		return *dtype = ST_F32, 4;
	if (strcmp(name, "F16") == 0)
		return *dtype = ST_F16, 2;
	if (strcmp(name, "BF16") == 0)
		return *dtype = ST_BF16, 2;
	if (strcmp(name, "F64") == 0)
		return *dtype = ST_F64, 8;
	if (strcmp(name, "I8") == 0)
		return *dtype = ST_I8, 1;
	return 0;
}

/* Reads a JSON number that must be a non-negative integer below 2^53. */
static bool
json_uint(const cJSON *item, uint64_t *out)
{
	double		d;

	if (!cJSON_IsNumber(item))
		return false;
	d = item->valuedouble;
	if (!(d >= 0.0) || d > 9007199254740992.0 || d != floor(d))
		return false;
	*out = (uint64_t) d;
	return true;
}

/* Validates one header entry. */
static PiStatus
parse_entry(const cJSON *item, size_t data_len, StEntry *e, PiError *err)
{
	const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
	const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
	const cJSON *dim;
	int			esize;
	int64_t		bytes;

	e->name = item->string;
	if (!cJSON_IsObject(item) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) ||
		!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
		return pi_fail(err, PI_ERR_CORRUPT,
					   "safetensors tensor \"%s\" needs \"dtype\", \"shape\" and two \"data_offsets\"",
					   e->name);
	esize = dtype_from_name(dtype->valuestring, &e->dtype);
	if (esize == 0)
		return pi_fail(err, PI_ERR_DTYPE,
					   "safetensors tensor \"%s\" has dtype %s, expected F32, F16, BF16, F64 or I8",
					   e->name, dtype->valuestring);
	e->rank = cJSON_GetArraySize(shape);
	if (e->rank > PI_MAX_RANK)
		return pi_fail(err, PI_ERR_LIMIT, "safetensors tensor \"%s\" has rank %d, the limit is %d",
					   e->name, e->rank, PI_MAX_RANK);
	e->numel = 1;
	{
		int			i = 0;

		cJSON_ArrayForEach(dim, shape)
		{
			uint64_t	d;

			if (!json_uint(dim, &d))
				return pi_fail(err, PI_ERR_CORRUPT,
							   "safetensors tensor \"%s\" has a dimension that is not a non-negative integer",
							   e->name);
			e->dims[i++] = (int64_t) d;
			if (!pi_mul_size(e->numel, (int64_t) d, &e->numel))
				return pi_fail(err, PI_ERR_LIMIT,
							   "safetensors tensor \"%s\" element count overflows", e->name);
		}
	}
	if (!pi_mul_size(e->numel, esize, &bytes))
		return pi_fail(err, PI_ERR_LIMIT, "safetensors tensor \"%s\" byte size overflows", e->name);
	if (!json_uint(cJSON_GetArrayItem(offsets, 0), &e->begin) ||
		!json_uint(cJSON_GetArrayItem(offsets, 1), &e->end))
		return pi_fail(err, PI_ERR_CORRUPT,
					   "safetensors tensor \"%s\" data_offsets are not non-negative integers", e->name);
	if (e->begin > e->end || e->end > data_len)
		return pi_fail(err, PI_ERR_CORRUPT,
					   "safetensors tensor \"%s\" data_offsets [%llu, %llu] are outside the %zu data bytes",
					   e->name, (unsigned long long) e->begin, (unsigned long long) e->end, data_len);
	if (e->end - e->begin != (uint64_t) bytes)
		return pi_fail(err, PI_ERR_CORRUPT,
					   "safetensors tensor \"%s\" covers %llu bytes, its dtype and shape need %lld",
					   e->name, (unsigned long long) (e->end - e->begin), (long long) bytes);
	return PI_OK;
}

/* Orders entries by begin offset. */
static int
entry_by_offset(const void *a, const void *b)
{
	const StEntry *x = a,
			   *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

/* Orders entries by name (the duplicate check, finding column maxima). */
static int
entry_by_name(const void *a, const void *b)
{
	return strcmp((*(StEntry *const *) a)->name, (*(StEntry *const *) b)->name);
}

/* The form of I8 codes e with column maxima a (pi_int8_maxima_form). */
static PiWeightForm
int8_form(const StEntry *e, const StEntry *a)
{
	return pi_int8_maxima_form(e->rank, e->dims, a->rank, a->dims);
}

/*
 * Finds the column maxima of each I8 entry (by_name: count entries sorted
 * by name) and checks their form (int8_form), F32.
 */
static PiStatus
pair_int8(StEntry **by_name, int count, PiError *err)
{
	for (int i = 0; i < count; i++)
	{
		StEntry    *e = by_name[i];
		StEntry		key = {0};
		StEntry    *keyp = &key;
		StEntry   **found;
		char	   *want;
		const StEntry *a;

		if (e->dtype != ST_I8)
			continue;
		want = malloc(strlen(e->name) + sizeof(PI_INT8_AMAX_SUFFIX));
		if (want == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		strcpy(want, e->name);
		strcat(want, PI_INT8_AMAX_SUFFIX);
		key.name = want;
		found = bsearch(&keyp, by_name, count, sizeof(StEntry *), entry_by_name);
		free(want);
		if (found == NULL)
			return pi_fail(err, PI_ERR_CORRUPT,
						   "safetensors I8 tensor \"%s\" has no tensor \"%s" PI_INT8_AMAX_SUFFIX "\" of column maxima",
						   e->name, e->name);
		a = *found;
		if (a->dtype != ST_F32 || int8_form(e, a) == PI_WEIGHT_KEEP)
			return pi_fail(err, PI_ERR_CORRUPT,
						   "safetensors I8 tensor \"%s\" needs rank 2 or more and F32 column maxima of shape [1, columns] or [channels, 1, ...] of its rank",
						   e->name);
		e->amax = a;
		(*found)->is_amax = true;
	}
	return PI_OK;
}

/* Dequantizes an I8 entry's codes with its column maxima (pi_int8_dequantize_matrix). */
static PiStatus
convert_int8(const StEntry *e, const uint8_t *data, float *dst, PiError *err)
{
	const StEntry *a = e->amax;
	int64_t		kdim = 0,
				mdim = 0;
	bool		trans = false;
	float	   *amax;
	const int8_t *q = (const int8_t *) (data + e->begin);

	if (!pi_weight_form_matrix(int8_form(e, a), e->rank, e->dims, e->numel, &kdim, &mdim, &trans))
		return PI_OK;			/* no elements: codes [0, ...] */
	if ((amax = malloc(sizeof(float) * (mdim > 0 ? mdim : 1))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	memcpy(amax, data + a->begin, sizeof(float) * mdim);
	for (int64_t j = 0; j < mdim; j++)
		if (!isfinite(amax[j]) || amax[j] < 0.0f)
		{
			double		bad = amax[j];

			free(amax);
			return pi_fail(err, PI_ERR_CORRUPT,
						   "safetensors I8 tensor \"%s\" has column maximum %g at %lld, expected a finite value >= 0",
						   e->name, bad, (long long) j);
		}
	for (int64_t i = 0; i < e->numel; i++)
		if (q[i] == -128)
		{
			free(amax);
			return pi_fail(err, PI_ERR_CORRUPT,
						   "safetensors I8 tensor \"%s\" has code -128 at %lld, expected -127 to 127",
						   e->name, (long long) i);
		}
	pi_int8_dequantize_matrix(q, amax, kdim, mdim, trans, dst);
	free(amax);
	return PI_OK;
}

/* Converts an entry's bytes to float32. */
static void
convert(const StEntry *e, const uint8_t *src, float *dst)
{
	for (int64_t i = 0; i < e->numel; i++)
	{
		switch (e->dtype)
		{
			case ST_F32:
				memcpy(&dst[i], src + 4 * i, 4);
				break;
			case ST_F16:
				dst[i] = half_to_float((uint16_t) (src[2 * i] | (src[2 * i + 1] << 8)));
				break;
			case ST_BF16:
				{
					uint32_t	bits = (uint32_t) (src[2 * i] | (src[2 * i + 1] << 8)) << 16;

					memcpy(&dst[i], &bits, 4);
					break;
				}
			case ST_F64:
				{
					double		d;

					memcpy(&d, src + 8 * i, 8);
					dst[i] = (float) d;
					break;
				}
			case ST_I8:
				break;			/* convert_int8 */
		}
	}
}

/* Checks that tensors tile the data exactly: no gaps, no overlaps. */
static PiStatus
check_coverage(StEntry *entries, int count, size_t data_len, PiError *err)
{
	uint64_t	pos = 0;

	qsort(entries, count, sizeof(StEntry), entry_by_offset);
	for (int i = 0; i < count; i++)
	{
		if (entries[i].begin < pos)
			return pi_fail(err, PI_ERR_CORRUPT,
						   "safetensors tensor \"%s\" overlaps tensor \"%s\"",
						   entries[i].name, entries[i - 1].name);
		if (entries[i].begin > pos)
			return pi_fail(err, PI_ERR_CORRUPT,
						   "safetensors data bytes %llu to %llu belong to no tensor",
						   (unsigned long long) pos, (unsigned long long) entries[i].begin);
		pos = entries[i].end;
	}
	if (pos != data_len)
		return pi_fail(err, PI_ERR_CORRUPT,
					   "safetensors data has %zu bytes, its tensors cover %llu",
					   data_len, (unsigned long long) pos);
	return PI_OK;
}

/*
 * The float32 data of a tensor in place, or NULL when it must be converted:
 * F32 on a little-endian machine, at an address aligned for floats.
 */
static const float *
data_in_place(const StEntry *e, const uint8_t *at)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (e->dtype == ST_F32 && (uintptr_t) at % sizeof(float) == 0)
		return (const float *) at;
#endif
	return NULL;
}

/*
 * Parses a safetensors buffer into float32 tensors: converted copies, or
 * with in_place, pointers into bytes where the data is already float32.
 */
static PiStatus
parse(const uint8_t *bytes, size_t len, bool in_place, PiTensorSet *out, PiError *err)
{
	uint64_t	header_len;
	const uint8_t *data;
	size_t		data_len;
	cJSON	   *root = NULL;
	const cJSON *item;
	StEntry    *entries = NULL;
	StEntry   **by_name = NULL;
	int			count = 0,
				made = 0;
	PiStatus	st = PI_OK;

	memset(out, 0, sizeof(*out));
	if (len < 8)
		return pi_fail(err, PI_ERR_CORRUPT, "safetensors file has %zu bytes, expected at least 8", len);
	header_len = read_le64(bytes);
	if (header_len > len - 8 || header_len > MAX_HEADER_BYTES)
		return pi_fail(err, PI_ERR_CORRUPT,
					   "safetensors header length %llu is past the end of the %zu-byte file",
					   (unsigned long long) header_len, len);
	data = bytes + 8 + header_len;
	data_len = len - 8 - header_len;
	root = cJSON_ParseWithLength((const char *) bytes + 8, header_len);
	if (root == NULL || !cJSON_IsObject(root))
	{
		cJSON_Delete(root);
		return pi_fail(err, PI_ERR_CORRUPT, "safetensors header is not a JSON object");
	}
	cJSON_ArrayForEach(item, root)
		if (strcmp(item->string, "__metadata__") != 0)
		count++;
	if (count > MAX_TENSORS)
	{
		st = pi_fail(err, PI_ERR_LIMIT, "safetensors file has %d tensors, the limit is %d",
					 count, MAX_TENSORS);
		goto done;
	}
	entries = calloc(count + 1, sizeof(StEntry));
	by_name = calloc(count + 1, sizeof(StEntry *));
	out->tensors = calloc(count + 1, sizeof(PiTensor));
	if (entries == NULL || by_name == NULL || out->tensors == NULL)
	{
		st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
		goto done;
	}
	{
		int			i = 0;

		cJSON_ArrayForEach(item, root)
		{
			if (strcmp(item->string, "__metadata__") == 0)
			{
				if (!cJSON_IsObject(item))
				{
					st = pi_fail(err, PI_ERR_CORRUPT, "safetensors __metadata__ is not an object");
					goto done;
				}
				continue;
			}
			if ((st = parse_entry(item, data_len, &entries[i], err)) != PI_OK)
				goto done;
			i++;
		}
	}
	for (int i = 0; i < count; i++)
		by_name[i] = &entries[i];
	qsort(by_name, count, sizeof(StEntry *), entry_by_name);
	for (int i = 1; i < count; i++)
		if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0)
		{
			st = pi_fail(err, PI_ERR_DUPLICATE, "safetensors tensor \"%s\" appears more than once",
						 by_name[i]->name);
			goto done;
		}
	/* the coverage check orders the entries by offset: index them by name again after it */
	if ((st = check_coverage(entries, count, data_len, err)) != PI_OK)
		goto done;
	for (int i = 0; i < count; i++)
		by_name[i] = &entries[i];
	qsort(by_name, count, sizeof(StEntry *), entry_by_name);
	if ((st = pair_int8(by_name, count, err)) != PI_OK)
		goto done;
	for (int i = 0; i < count; i++)
	{
		PiTensor   *t = &out->tensors[made];
		const StEntry *e = &entries[i];

		if (e->is_amax)
			continue;			/* part of its I8 tensor */

		const float *view = in_place ? data_in_place(e, data + e->begin) : NULL;

		t->name = strdup(e->name);
		t->borrowed = view != NULL;
		t->data = view ? (float *) view : malloc(sizeof(float) * (e->numel > 0 ? e->numel : 1));
		out->count = ++made;
		if (t->name == NULL || t->data == NULL)
		{
			st = pi_fail(err, PI_ERR_NOMEM, "out of memory for tensor \"%s\"", e->name);
			goto done;
		}
		t->rank = e->rank;
		memcpy(t->dims, e->dims, sizeof(t->dims));
		t->numel = e->numel;
		if (e->dtype == ST_I8)
			st = convert_int8(e, data, t->data, err);
		else if (!t->borrowed)
			convert(e, data + e->begin, t->data);
		if (st != PI_OK)
			goto done;
	}

done:
	free(entries);
	free(by_name);
	cJSON_Delete(root);
	if (st != PI_OK)
		pi_tensor_set_free(out);
	return st;
}

/* Parses a safetensors buffer into float32 tensors. */
PiStatus
pi_safetensors_parse(const uint8_t *bytes, size_t len, PiTensorSet *out, PiError *err)
{
	return parse(bytes, len, false, out, err);
}

/* The same, F32 tensors pointing into bytes where they are aligned (borrowed). */
PiStatus
pi_safetensors_parse_in_place(const uint8_t *bytes, size_t len, PiTensorSet *out, PiError *err)
{
	return parse(bytes, len, true, out, err);
}

/* Frees what pi_safetensors_parse allocated. */
void
pi_tensor_set_free(PiTensorSet *set)
{
	for (int i = 0; i < set->count; i++)
	{
		free(set->tensors[i].name);
		if (!set->tensors[i].borrowed)
			free(set->tensors[i].data);
	}
	free(set->tensors);
	set->tensors = NULL;
	set->count = 0;
}

/* Index of a tensor by name, or -1. */
int
pi_tensor_set_find(const PiTensorSet *set, const char *name)
{
	for (int i = 0; i < set->count; i++)
		if (set->tensors[i].name != NULL && strcmp(set->tensors[i].name, name) == 0)
			return i;
	return -1;
}
