/*
 * int8_kernels.c
 *	  The inner loops of the int8 GEMM (int8.h): AVX512-VNNI (u8 x s8 dot
 *	  products of 4 bytes into int32 lanes, vpdpbusd) and portable C, and
 *	  the choice between them at run time.  Both compute the same exact
 *	  int32 sums and the same float epilogue: the product by the scales,
 *	  then the sum with the bias, each rounded (as a quantize_dynamic
 *	  file's Mul and Add round them).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "int8.h"

/*
 * Quantizes rows as the kernels' quantize says (int8.h); inlined into each
 * instruction set's function, where the compiler vectorizes it.
 */
static inline __attribute__((always_inline)) void
quantize_rows(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint8_t *u, float *xs)
{
	for (int64_t r = 0; r < rows; r++)
	{
		const float *row = x + r * kdim;
		uint8_t    *ur = u + r * kp;
		float		amax,
					inv;
		uint32_t	top = 0;

		/*
		 * The largest |x| by its bits (which order as unsigned integers as
		 * the values do); an infinity or a NaN has them all set in the
		 * exponent, and larger bits than any finite value.
		 */
		for (int64_t k = 0; k < kdim; k++)
		{
			uint32_t	bits;

			memcpy(&bits, &row[k], sizeof(bits));
			bits &= 0x7fffffffu;
			top = bits > top ? bits : top;
		}
		memcpy(&amax, &top, sizeof(amax));
		memset(ur + kdim, 128, kp - kdim);
		if (top >= 0x7f800000u)
		{
			memset(ur, 128, kdim);
			xs[r] = NAN;
			continue;
		}
		xs[r] = amax / 127.0f;
		inv = amax > 0.0f ? 127.0f / amax : 0.0f;
		for (int64_t k = 0; k < kdim; k++)
			ur[k] = (uint8_t) (128 + pi_int8_code(row[k] * inv));
	}
}

/*
 * Quantizes rows as the kernels' quantize_asymmetric says (int8.h), as
 * pi_int8_dynamic_code does each value; inlined into each instruction
 * set's function.
 */
static inline __attribute__((always_inline)) void
asymmetric_rows(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint8_t *u, float *xs,
				int32_t *zp)
{
	for (int64_t r = 0; r < rows; r++)
	{
		const float *restrict xr = x + r * kdim;
		uint8_t    *restrict ur = u + r * kp;
		float		scale,
					z;

		memset(ur + kdim, 0, kp - kdim);
		if (!pi_int8_dynamic_params(xr, kdim, &scale, &z))
		{
			memset(ur, 0, kdim);
			xs[r] = NAN;
			zp[r] = 0;
			continue;
		}
		/* restrict: the bytes written never alias the row, so the loop vectorizes */
		for (int64_t k = 0; k < kdim; k++)
			ur[k] = (uint8_t) (int32_t) pi_int8_dynamic_code(xr[k], scale, z);
		xs[r] = scale;
		zp[r] = (int32_t) z;
	}
}

/* Portable: the kernels' codes (int8.h); NaN goes to the low end, infinities saturate, both flag the row. */
static void
generic_codes(const float *x, int64_t rows, int64_t kdim, int64_t kp, float scale, int32_t offset,
			  uint8_t *u, float *xs)
{
	float		lo = (float) -offset,
				hi = 255.0f - (float) offset;

	for (int64_t r = 0; r < rows; r++)
	{
		const float *xr = x + r * kdim;
		int			bad = 0;

		for (int64_t k = 0; k < kdim; k++)
		{
			float		v = xr[k] / scale;

			bad |= !(fabsf(xr[k]) <= FLT_MAX);
			v = v >= lo ? v : lo;
			v = v <= hi ? v : hi;
			u[r * kp + k] = (uint8_t) (pi_round_code(v) + (float) offset);
		}
		memset(u + r * kp + kdim, 0, kp - kdim);
		xs[r] = bad ? NAN : scale;
	}
}

/* Portable: asymmetric_rows for the baseline instruction set. */
static void
generic_quantize_asymmetric(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint8_t *u,
							float *xs, int32_t *zp)
{
	asymmetric_rows(x, rows, kdim, kp, u, xs, zp);
}

/* Portable: quantize_rows for the baseline instruction set. */
static void
generic_quantize(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint8_t *u, float *xs)
{
	quantize_rows(x, rows, kdim, kp, u, xs);
}

/* Portable: y for every row and column, a panel at a time. */
static void
generic_gemm(const uint8_t *u, int64_t rows, const float *xs, const PiInt8Weights *w,
			 const float *bias, const PiAttrs *quant, float *y, int64_t ldy)
{
	int64_t		npan = (w->mdim + PI_INT8_PANEL - 1) / PI_INT8_PANEL;

	for (int64_t p = 0; p < npan; p++)
	{
		int64_t		j0 = p * PI_INT8_PANEL;
		int			n = (int) (w->mdim - j0 < PI_INT8_PANEL ? w->mdim - j0 : PI_INT8_PANEL);
		const int8_t *panel = w->q + p * w->kp * PI_INT8_PANEL;

		for (int64_t r = 0; r < rows; r++)
		{
			const uint8_t *ur = u + r * w->kp;
			int32_t		acc[PI_INT8_PANEL] = {0};

			for (int64_t g = 0; g < w->kp / 4; g++)
			{
				const int8_t *wg = panel + g * 4 * PI_INT8_PANEL;
				int32_t		x0 = ur[4 * g],
							x1 = ur[4 * g + 1],
							x2 = ur[4 * g + 2],
							x3 = ur[4 * g + 3];

				for (int c = 0; c < PI_INT8_PANEL; c++)
					acc[c] += x0 * wg[4 * c] + x1 * wg[4 * c + 1] + x2 * wg[4 * c + 2] + x3 * wg[4 * c + 3];
			}
			for (int c = 0; c < n; c++)
			{
				float		f = (float) (acc[c] - w->corr[j0 + c]) * (xs[r] * w->scale[j0 + c]) +
					(bias != NULL ? bias[j0 + c] : 0.0f);

				y[r * ldy + j0 + c] = quant != NULL ? pi_quantize_value(f, quant) : f;
			}
		}
	}
}

const PiInt8Kernels pi_int8_kernels_generic = {
	"generic", generic_quantize, generic_quantize_asymmetric, generic_codes, generic_gemm
};

#if defined(__x86_64__)
#include "int8_tile.h"

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Rows of a VNNI tile: 6 x 4 accumulators of 16 int32 lanes. */
#define VNNI_MR 6
#define VNNI_NV (PI_INT8_PANEL / 16)
_Static_assert(VNNI_NV == PI_TILE_NV, "a panel is one tile's vectors: pi_vnni_tile's sums are rows of PI_INT8_PANEL");

/* The tiles for every mr (1..VNNI_MR) and nv (1..VNNI_NV), each with its loops unrolled. */
#define VNNI_TILE(R, V) \
	VNNI_TARGET static void \
	vnni_tile_##R##_##V(const uint8_t *u, int64_t kp, const int8_t *panel, int32_t *acc) \
	{ \
		pi_vnni_tile(u, kp, (const uint8_t *) panel, false, NULL, 4 * PI_INT8_PANEL, kp / 4, false, \
					 acc, R, V); \
	}
#define VNNI_TILES(R) VNNI_TILE(R, 1) VNNI_TILE(R, 2) VNNI_TILE(R, 3) VNNI_TILE(R, 4)
VNNI_TILES(1) VNNI_TILES(2) VNNI_TILES(3) VNNI_TILES(4) VNNI_TILES(5) VNNI_TILES(6)
#define VNNI_ROW(R) {vnni_tile_##R##_1, vnni_tile_##R##_2, vnni_tile_##R##_3, vnni_tile_##R##_4}
static void (*const vnni_tiles[VNNI_MR][VNNI_NV]) (const uint8_t *u, int64_t kp,
												   const int8_t *panel, int32_t *acc) = {
	VNNI_ROW(1), VNNI_ROW(2), VNNI_ROW(3), VNNI_ROW(4), VNNI_ROW(5), VNNI_ROW(6)
};

/*
 * y[i * ldy + j] = (acc[i * PI_INT8_PANEL + j] - corr[j]) * xs[i] * ws[j] +
 * bias[j] (bias NULL for none) for rows i < mr and columns j < n, then
 * quant's QuantizeLinear (NULL for none) as pi_quantize_value computes it.
 */
VNNI_TARGET static void
vnni_epilogue(const int32_t *acc, int mr, int n, const float *xs, const float *ws,
			  const int32_t *corr, const float *bias, const PiAttrs *quant, float *y, int64_t ldy)
{
	const __m512 magic = _mm512_set1_ps(12582912.0f);
	bool		values = quant != NULL && quant->quant_dequantized;
	float		zp = quant != NULL ? (float) quant->quant_zero_point : 0.0f;
	__m512		qs = _mm512_set1_ps(quant != NULL ? quant->quant_scale : 1.0f),
				qlo = _mm512_set1_ps(quant != NULL && quant->quant_signed ? -128.0f - zp : -zp),
				qhi = _mm512_set1_ps(quant != NULL && quant->quant_signed ? 127.0f - zp : 255.0f - zp),
				qzp = _mm512_set1_ps(zp);

	for (int v = 0; v * 16 < n; v++)
	{
		int			lanes = n - 16 * v < 16 ? n - 16 * v : 16;
		__mmask16	mask = (__mmask16) ((1u << lanes) - 1);
		__m512		s = _mm512_loadu_ps(ws + 16 * v);
		__m512i		c = _mm512_loadu_si512(corr + 16 * v);
		__m512		b = bias ? _mm512_maskz_loadu_ps(mask, bias + 16 * v) : _mm512_setzero_ps();

		for (int i = 0; i < mr; i++)
		{
			__m512		f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_loadu_si512(acc + i * PI_INT8_PANEL + 16 * v), c));

			/* a product, then a sum, as the portable code (the rounding form is never fused) */
			f = _mm512_add_ps(_mm512_mul_round_ps(f, _mm512_mul_ps(_mm512_set1_ps(xs[i]), s),
												  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), b);
			if (quant != NULL)
			{
				/* min and max return their second operand on NaN: NaN stays NaN */
				f = _mm512_min_ps(qhi, _mm512_max_ps(qlo, _mm512_div_ps(f, qs)));
				f = _mm512_sub_ps(_mm512_add_ps(f, magic), magic);
				f = values ? _mm512_mul_ps(f, qs) : _mm512_add_ps(f, qzp);
			}
			_mm512_mask_storeu_ps(y + i * ldy + 16 * v, mask, f);
		}
	}
}

/* AVX-512: quantize_rows 16 floats at a time (the same codes, see pi_int8_code). */
VNNI_TARGET static void
vnni_quantize(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint8_t *u, float *xs)
{
	const __m512i abs_bits = _mm512_set1_epi32(0x7fffffff);
	const __m512i sign_bit = _mm512_set1_epi32((int32_t) 0x80000000u);
	const __m512i half = _mm512_castps_si512(_mm512_set1_ps(0.5f));
	const __m512 lo = _mm512_set1_ps(-127.0f),
				hi = _mm512_set1_ps(127.0f);
	const __m512i offset = _mm512_set1_epi32(128);

	for (int64_t r = 0; r < rows; r++)
	{
		const float *row = x + r * kdim;
		uint8_t    *ur = u + r * kp;
		__m512i		top = _mm512_setzero_si512();
		uint32_t	top_bits;
		float		amax;
		__m512		inv;

		/* the largest |x| by its bits, as in quantize_rows */
		for (int64_t k = 0; k < kdim; k += 16)
		{
			__mmask16	m = kdim - k >= 16 ? 0xffff : (__mmask16) ((1u << (kdim - k)) - 1);

			top = _mm512_max_epu32(top, _mm512_and_si512(_mm512_maskz_loadu_epi32(m, row + k), abs_bits));
		}
		top_bits = (uint32_t) _mm512_reduce_max_epu32(top);
		memcpy(&amax, &top_bits, sizeof(amax));
		memset(ur + kdim, 128, kp - kdim);
		if (top_bits >= 0x7f800000u)
		{
			memset(ur, 128, kdim);
			xs[r] = NAN;
			continue;
		}
		xs[r] = amax / 127.0f;
		inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
		for (int64_t k = 0; k < kdim; k += 16)
		{
			__mmask16	m = kdim - k >= 16 ? 0xffff : (__mmask16) ((1u << (kdim - k)) - 1);
			__m512		v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + k), inv), lo), hi);
			/* + 0.5 with v's sign, then truncated: half away from zero */
			__m512		s = _mm512_castsi512_ps(_mm512_or_si512(half, _mm512_and_si512(_mm512_castps_si512(v), sign_bit)));
			__m512i		q = _mm512_add_epi32(_mm512_cvttps_epi32(_mm512_add_ps(v, s)), offset);

			_mm512_mask_cvtepi32_storeu_epi8(ur + k, m, q);
		}
	}
}

/*
 * AVX-512: asymmetric_rows 16 floats at a time, the same operations in
 * the same order (a true division, then rounding half to even by adding
 * and taking off 1.5 * 2^23), so the same codes.
 */
VNNI_TARGET static void
vnni_quantize_asymmetric(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint8_t *u,
						 float *xs, int32_t *zp)
{
	const __m512i abs_bits = _mm512_set1_epi32(0x7fffffff);
	const __m512 magic = _mm512_set1_ps(12582912.0f),
				top = _mm512_set1_ps(255.0f);

	for (int64_t r = 0; r < rows; r++)
	{
		const float *row = x + r * kdim;
		uint8_t    *ur = u + r * kp;
		__m512i		pos = _mm512_setzero_si512(),
					neg = _mm512_setzero_si512();
		float		scale,
					z;
		__m512		vs,
					vz;

		/* the largest positive value and negative magnitude by their bits (pi_int8_dynamic_params) */
		for (int64_t k = 0; k < kdim; k += 16)
		{
			__mmask16	m = kdim - k >= 16 ? 0xffff : (__mmask16) ((1u << (kdim - k)) - 1);
			__m512i		b = _mm512_maskz_loadu_epi32(m, row + k);
			__m512i		sign = _mm512_srai_epi32(b, 31);

			pos = _mm512_max_epu32(pos, _mm512_andnot_si512(sign, b));
			neg = _mm512_max_epu32(neg, _mm512_and_si512(sign, _mm512_and_si512(b, abs_bits)));
		}
		memset(ur + kdim, 0, kp - kdim);
		if (!pi_int8_dynamic_range((uint32_t) _mm512_reduce_max_epu32(pos),
								   (uint32_t) _mm512_reduce_max_epu32(neg), &scale, &z))
		{
			memset(ur, 0, kdim);
			xs[r] = NAN;
			zp[r] = 0;
			continue;
		}
		vs = _mm512_set1_ps(scale);
		vz = _mm512_set1_ps(z);
		for (int64_t k = 0; k < kdim; k += 16)
		{
			__mmask16	m = kdim - k >= 16 ? 0xffff : (__mmask16) ((1u << (kdim - k)) - 1);
			__m512		v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, row + k), vs);

			v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), vz);
			v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), top);
			_mm512_mask_cvtepi32_storeu_epi8(ur + k, m, _mm512_cvtps_epi32(v));
		}
		xs[r] = scale;
		zp[r] = (int32_t) z;
	}
}

/*
 * AVX-512: generic_codes 16 floats at a time, the same operations in the
 * same order (max and min return their second operand on NaN: the low end).
 */
VNNI_TARGET static void
vnni_codes(const float *x, int64_t rows, int64_t kdim, int64_t kp, float scale, int32_t offset,
		   uint8_t *u, float *xs)
{
	const __m512 magic = _mm512_set1_ps(12582912.0f),
				vs = _mm512_set1_ps(scale),
				lo = _mm512_set1_ps((float) -offset),
				hi = _mm512_set1_ps(255.0f - (float) offset),
				off = _mm512_set1_ps((float) offset),
				top = _mm512_set1_ps(FLT_MAX);

	for (int64_t r = 0; r < rows; r++)
	{
		const float *xr = x + r * kdim;
		__mmask16	bad = 0;

		for (int64_t k = 0; k < kdim; k += 16)
		{
			__mmask16	m = kdim - k >= 16 ? 0xffff : (__mmask16) ((1u << (kdim - k)) - 1);
			__m512		x16 = _mm512_maskz_loadu_ps(m, xr + k);
			__m512		v = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(x16, vs), lo), hi);

			bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(x16), top, _CMP_NLE_UQ);
			v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), off);
			_mm512_mask_cvtepi32_storeu_epi8(u + r * kp + k, m, _mm512_cvtps_epi32(v));
		}
		memset(u + r * kp + kdim, 0, kp - kdim);
		xs[r] = bad ? NAN : scale;
	}
}

/* AVX512-VNNI: tiles of up to 6 rows by a panel, panel by panel. */
static void
vnni_gemm(const uint8_t *u, int64_t rows, const float *xs, const PiInt8Weights *w,
		  const float *bias, const PiAttrs *quant, float *y, int64_t ldy)
{
	int64_t		npan = (w->mdim + PI_INT8_PANEL - 1) / PI_INT8_PANEL;
	int32_t		acc[VNNI_MR * PI_INT8_PANEL];

	for (int64_t p = 0; p < npan; p++)
	{
		int64_t		j0 = p * PI_INT8_PANEL;
		int			n = (int) (w->mdim - j0 < PI_INT8_PANEL ? w->mdim - j0 : PI_INT8_PANEL);
		const int8_t *panel = w->q + p * w->kp * PI_INT8_PANEL;

		for (int64_t r0 = 0; r0 < rows; r0 += VNNI_MR)
		{
			int			mr = (int) (rows - r0 < VNNI_MR ? rows - r0 : VNNI_MR);

			vnni_tiles[mr - 1][(n + 15) / 16 - 1] (u + r0 * w->kp, w->kp, panel, acc);
			vnni_epilogue(acc, mr, n, xs + r0, w->scale + j0, w->corr + j0,
						  bias != NULL ? bias + j0 : NULL, quant, y + r0 * ldy + j0, ldy);
		}
	}
}

const PiInt8Kernels pi_int8_kernels_vnni = {
	"vnni", vnni_quantize, vnni_quantize_asymmetric, vnni_codes, vnni_gemm
};
#endif

/* The int8 kernels for this CPU (int8.h). */
const PiInt8Kernels *
pi_int8_kernels(void)
{
#if defined(__x86_64__)
	static const PiInt8Kernels *chosen;

	if (chosen == NULL)
	{
		__builtin_cpu_init();
		chosen = pi_cpu() == &pi_cpu_kernels_avx512 && __builtin_cpu_supports("avx512vnni") &&
			__builtin_cpu_supports("avx512bw") ? &pi_int8_kernels_vnni : &pi_int8_kernels_generic;
	}
	return chosen;
#else
	return &pi_int8_kernels_generic;
#endif
}
