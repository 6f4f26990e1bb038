/*
 * quant.c
 *	  The number formats of the reduced precisions (pi_ir.h): int8 codes of
 *	  a weight per output column and back, the check that a stored int8
 *	  version loads back to what the int8 path quantizes alike, bf16 and
 *	  IEEE half rounding.
 *	  Shared by the engine's packing and the stored versions' weights, so
 *	  that both quantize alike.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pi_ir.h"

/* The name of a precision as the option spells it. */
const char *
pi_precision_name(PiPrecision precision)
{
	switch (precision)
	{
		case PI_PRECISION_INT8:
			return "int8";
		case PI_PRECISION_BF16:
			return "bf16";
		case PI_PRECISION_FP16:
			return "fp16";
		default:
			return "fp32";
	}
}

/* Index of element (k, j) of a [kdim, mdim] matrix stored as given or transposed. */
static inline int64_t
at(int64_t k, int64_t j, int64_t kdim, int64_t mdim, bool trans)
{
	return trans ? j * kdim + k : k * mdim + j;
}

/* Quantizes a weight per column as the int8 path packs it; false when a column is not finite. */
bool
pi_int8_quantize_matrix(const float *w, int64_t kdim, int64_t mdim, bool trans, int8_t *q,
						float *amax)
{
	for (int64_t j = 0; j < mdim; j++)
	{
		float		top = 0.0f,
					inv;

		for (int64_t k = 0; k < kdim; k++)
		{
			float		v = w[at(k, j, kdim, mdim, trans)];

			if (!isfinite(v))
				return false;
			top = fmaxf(top, fabsf(v));
		}
		amax[j] = top;
		inv = top > 0.0f ? 127.0f / top : 0.0f;
		for (int64_t k = 0; k < kdim; k++)
			q[at(k, j, kdim, mdim, trans)] = (int8_t) pi_int8_code(w[at(k, j, kdim, mdim, trans)] * inv);
	}
	return true;
}

/* Whether n weights are integer multiples of max |w| / 127 (within 1e-3 of one). */
static bool
multiples_of_step(const float *w, int64_t n, float amax)
{
	for (int64_t i = 0; i < n; i++)
	{
		float		v = amax > 0.0f ? w[i] * (127.0f / amax) : 0.0f;

		if (!(fabsf(v - nearbyintf(v)) <= 1e-3f))
			return false;
	}
	return true;
}

/* Whether rows of weights are exactly int8 codes times a scale per row or per tensor. */
bool
pi_int8_codes_exact(const float *w, int64_t m, int64_t kdim)
{
	float		whole = 0.0f;
	bool		rows = true;

	for (int64_t i = 0; i < m * kdim; i++)
	{
		if (!isfinite(w[i]))
			return false;
		whole = fmaxf(whole, fabsf(w[i]));
	}
	for (int64_t j = 0; j < m && rows; j++)
	{
		float		amax = 0.0f;

		for (int64_t k = 0; k < kdim; k++)
			amax = fmaxf(amax, fabsf(w[j * kdim + k]));
		rows = multiples_of_step(w + j * kdim, kdim, amax);
	}
	return rows || multiples_of_step(w, m * kdim, whole);
}

/* The weight whose int8 quantization is q and amax. */
void
pi_int8_dequantize_matrix(const int8_t *q, const float *amax, int64_t kdim, int64_t mdim,
						  bool trans, float *w)
{
	for (int64_t j = 0; j < mdim; j++)
	{
		float		step = amax[j] / 127.0f;

		for (int64_t k = 0; k < kdim; k++)
		{
			int64_t		i = at(k, j, kdim, mdim, trans);

			w[i] = q[i] == 127 ? amax[j] : q[i] == -127 ? -amax[j] : (float) q[i] * step;
		}
	}
}

/* The [kdim, mdim] matrix that a weight of that shape holds in form. */
bool
pi_weight_form_matrix(PiWeightForm form, int rank, const int64_t *dims, int64_t numel,
					  int64_t *kdim, int64_t *mdim, bool *trans)
{
	if (form == PI_WEIGHT_COLUMNS_LAST && rank == 2)
	{
		*kdim = dims[0];
		*mdim = dims[1];
		*trans = false;
		return true;
	}
	if (form == PI_WEIGHT_COLUMNS_FIRST && rank >= 2 && dims[0] > 0)
	{
		*mdim = dims[0];
		*kdim = numel / dims[0];
		*trans = true;
		return true;
	}
	return false;
}

/* The form of int8 codes by the shape of their column maxima. */
PiWeightForm
pi_int8_maxima_form(int rank, const int64_t *dims, int amax_rank, const int64_t *amax_dims)
{
	bool		first = rank >= 2 && amax_rank == rank && amax_dims[0] == dims[0];

	if (rank == 2 && amax_rank == 2 && amax_dims[0] == 1 && amax_dims[1] == dims[1])
		return PI_WEIGHT_COLUMNS_LAST;
	for (int d = 1; first && d < amax_rank; d++)
		first = amax_dims[d] == 1;
	return first ? PI_WEIGHT_COLUMNS_FIRST : PI_WEIGHT_KEEP;
}

/* Quantizes a weight of form to codes and column maxima that load back to the same ones. */
bool
pi_int8_quantize_weight(const float *w, PiWeightForm form, int rank, const int64_t *dims,
						int64_t numel, int8_t *q, float *amax, int64_t *mdim, int64_t *amax_dims)
{
	int64_t		kdim;
	bool		trans,
				ok;
	int8_t	   *q2;
	float	   *amax2,
			   *back;

	if (!pi_weight_form_matrix(form, rank, dims, numel, &kdim, mdim, &trans))
		return false;
	q2 = malloc(numel + 1);
	amax2 = malloc(sizeof(float) * (*mdim + 1));
	back = malloc(sizeof(float) * (numel + 1));
	ok = q2 != NULL && amax2 != NULL && back != NULL &&
		pi_int8_quantize_matrix(w, kdim, *mdim, trans, q, amax);
	if (ok)
	{
		pi_int8_dequantize_matrix(q, amax, kdim, *mdim, trans, back);
		ok = pi_int8_quantize_matrix(back, kdim, *mdim, trans, q2, amax2) &&
			memcmp(q, q2, numel) == 0 && memcmp(amax, amax2, sizeof(float) * *mdim) == 0;
	}
	free(q2);
	free(amax2);
	free(back);
	/* [1, M] along the last axis, [M, 1, ...] of the weight's rank along the first */
	for (int d = 0; d < rank; d++)
		amax_dims[d] = 1;
	amax_dims[trans ? 0 : 1] = *mdim;
	return ok;
}

/* Whether two weights of form quantize to the same codes and column maxima (-1: out of memory). */
static int
same_int8(const PiValue *a, const PiValue *b, PiWeightForm form)
{
	int64_t		kdim,
				mdim;
	bool		trans;
	int8_t	   *qa,
			   *qb;
	float	   *ma,
			   *mb;
	int			same;

	if (!pi_weight_form_matrix(form, a->rank, a->dims, a->numel, &kdim, &mdim, &trans))
		return 0;
	qa = malloc(2 * a->numel + 1);
	ma = malloc(2 * sizeof(float) * mdim + 1);
	if (qa == NULL || ma == NULL)
	{
		free(qa);
		free(ma);
		return -1;
	}
	qb = qa + a->numel;
	mb = ma + mdim;
	same = pi_int8_quantize_matrix(a->data, kdim, mdim, trans, qa, ma) &&
		pi_int8_quantize_matrix(b->data, kdim, mdim, trans, qb, mb) &&
		memcmp(qa, qb, a->numel) == 0 && memcmp(ma, mb, sizeof(float) * mdim) == 0;
	free(qa);
	free(ma);
	return same;
}

/* Whether loaded has given's weights as the int8 path needs them; demotes those that differ. */
PiInt8Agreement
pi_int8_weights_agree(const PiModel *given, const PiModel *loaded, PiWeightForm *forms)
{
	PiInt8Agreement result = PI_INT8_AGREE;

	if (given->nvalues != loaded->nvalues || given->nnodes != loaded->nnodes)
		return PI_INT8_DIFFERENT;
	for (int v = 0; v < given->nvalues; v++)
	{
		const PiValue *a = &given->values[v];
		int			w = pi_model_find_value(loaded, a->name);
		const PiValue *b = w >= 0 ? &loaded->values[w] : NULL;
		int			same;

		if (b == NULL || a->kind != b->kind || a->numel != b->numel || a->rank != b->rank ||
			memcmp(a->dims, b->dims, sizeof(int64_t) * a->rank) != 0 ||
			(a->data == NULL) != (b->data == NULL))
			return PI_INT8_DIFFERENT;
		if (a->data == NULL || memcmp(a->data, b->data, sizeof(float) * a->numel) == 0)
			continue;
		if (forms[v] == PI_WEIGHT_KEEP)
			return PI_INT8_DIFFERENT;
		if ((same = same_int8(a, b, forms[v])) < 0)
			return PI_INT8_NOMEM;
		if (!same)
		{
			forms[v] = PI_WEIGHT_KEEP;
			result = PI_INT8_DEMOTED;
		}
	}
	return result;
}

/*
 * bf16 bits of v, rounded to nearest even, as AVX512-BF16 rounds
 * (vcvtneps2bf16): a subnormal v becomes a zero of its sign.
 */
uint16_t
pi_bf16_bits(float v)
{
	uint32_t	bits;

	memcpy(&bits, &v, sizeof(bits));
	if ((bits & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t) ((bits >> 16) | 0x40);	/* quiet NaN */
	if ((bits & 0x7f800000u) == 0)
		return (uint16_t) ((bits >> 16) & 0x8000u);
	bits += 0x7fffu + ((bits >> 16) & 1);
	return (uint16_t) (bits >> 16);
}

/* IEEE half bits of v, rounded to nearest even. */
uint16_t
pi_fp16_bits(float v)
{
	uint32_t	bits,
				sign,
				mant;
	int			exp;

	memcpy(&bits, &v, sizeof(bits));
	sign = (bits >> 16) & 0x8000u;
	exp = (int) ((bits >> 23) & 0xff) - 127 + 15;
	mant = bits & 0x7fffffu;
	if (((bits >> 23) & 0xff) == 0xff)
		return (uint16_t) (sign | 0x7c00u | (mant ? 0x200u : 0));	/* infinity or NaN */
	if (exp >= 31)
		return (uint16_t) (sign | 0x7c00u);
	if (exp <= 0)
	{
		/* subnormal half (or zero): the mantissa with its leading 1, shifted */
		int			shift = 14 - exp;
		uint32_t	full = mant | 0x800000u;
		uint32_t	half,
					rest;

		if (shift > 24)
			return (uint16_t) sign;
		half = full >> shift;
		rest = full & ((1u << shift) - 1);
		if (rest > (1u << (shift - 1)) || (rest == (1u << (shift - 1)) && (half & 1)))
			half++;
		return (uint16_t) (sign | half);
	}
	{
		uint32_t	half = ((uint32_t) exp << 10) | (mant >> 13);
		uint32_t	rest = mant & 0x1fffu;

		/* a carry out of the mantissa raises the exponent, up to infinity */
		if (rest > 0x1000u || (rest == 0x1000u && (half & 1)))
			half++;
		return (uint16_t) (sign | half);
	}
}
