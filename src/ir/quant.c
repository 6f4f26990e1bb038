/*
 * quant.c
 *	  The number formats of the reduced precisions (pi_ir.h): int8 codes of
 *	  a weight per output column and back, bf16 and IEEE half rounding.
 *	  Shared by the engine's packing and the stored versions' weights, so
 *	  that both quantize alike.
 */
#include <math.h>
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
