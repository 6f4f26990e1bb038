/*
 * int8_conv_kernels.c
 *	  The inner loops of the int8 convolution (int8.h, PiInt8Conv):
 *	  AVX512-VNNI and portable C, which give the same outputs bit for bit
 *	  (the same int32 sums, and the same fused multiply-add after them),
 *	  and the per-image quantizer, which gives the same codes in both.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "int8.h"

/* Output channels per tile: a block of at most 8 rows of weights. */
#define CONV_MR 8

/*
 * Quantizes an image as the kernels' quantize says (int8.h); inlined into
 * each instruction set's function, where the compiler vectorizes it.  The
 * product is clamped before it is rounded, so that no fused multiply-add
 * can round it differently.
 */
static inline __attribute__((always_inline)) void
quantize_image(const float *x, int64_t n, uint8_t *u, float *xs, int32_t *zero)
{
	float		lo = 0.0f,
				hi = 0.0f,
				step,
				inv,
				z;
	int			bad = 0;

	for (int64_t k = 0; k < n; k++)
	{
		lo = x[k] < lo ? x[k] : lo;
		hi = x[k] > hi ? x[k] : hi;
		bad |= !(fabsf(x[k]) <= FLT_MAX);
	}
	if (bad || !(hi - lo <= FLT_MAX))
	{
		memset(u, 0, n);
		*xs = NAN;
		*zero = 0;
		return;
	}
	step = (hi - lo) / 255.0f;
	inv = step > 0.0f ? 1.0f / step : 0.0f;
	z = step > 0.0f ? pi_round_code(-lo * inv) : 0.0f;
	z = z < 255.0f ? z : 255.0f;
	for (int64_t k = 0; k < n; k++)
	{
		float		v = x[k] * inv;

		v = v >= -z ? v : -z;
		v = v <= 255.0f - z ? v : 255.0f - z;
		u[k] = (uint8_t) (int32_t) (pi_round_code(v) + z);
	}
	*xs = step;
	*zero = (int32_t) z;
}

/* Portable: quantize_image for the baseline instruction set. */
static void
generic_quantize(const float *x, int64_t n, uint8_t *u, float *xs, int32_t *zero)
{
	quantize_image(x, n, u, xs, zero);
}

/* Portable: each output channel's sums over runs of 16 positions, then each output kept. */
static void
generic_conv(const PiInt8Conv *c)
{
	int64_t		nvec = (c->npos + 15) / 16;

	for (int64_t m = 0; m < c->mdim; m++)
	{
		const int8_t *wm = c->q + m * 4 * c->kgroups;
		float		sc = c->scale[m] * c->xs;
		int32_t		corr = c->zero * c->wsum[m];
		float		b = c->bias != NULL ? c->bias[m] : 0.0f;

		for (int64_t v = 0; v < nvec; v++)
		{
			int32_t		acc[16] = {0};
			int			kept = 0;

			if (c->vmask[v] == 0)
				continue;
			for (int64_t g = 0; g < c->kgroups; g++)
			{
				const uint8_t *s = c->src + c->off[g] + 64 * v;
				const int8_t *wg = wm + 4 * g;

				for (int l = 0; l < 16; l++)
					acc[l] += s[4 * l] * wg[0] + s[4 * l + 1] * wg[1] + s[4 * l + 2] * wg[2] +
						s[4 * l + 3] * wg[3];
			}
			for (int l = 0; l < 16; l++)
				if (c->vmask[v] & (1u << l))
					c->y[m * c->ldy + c->vout[v] + kept++] = fmaf((float) (acc[l] - corr), sc, b);
		}
	}
}

const PiInt8ConvKernels pi_int8_conv_kernels_generic = {"generic", generic_quantize, generic_conv};

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vl,popcnt")))

/* Vectors of 16 positions per tile, at most. */
#define CONV_NV 4

/*
 * mr output channels from m0 by nv vectors of positions from 16 * v0:
 * the sums in registers over every k-group, then the outputs kept, each
 * vector's compressed onto its run of outputs.  mr and nv known where it
 * is inlined.
 */
VNNI_TARGET static inline __attribute__((always_inline)) void
vnni_conv_tile(const PiInt8Conv *c, int64_t m0, int64_t v0, const int mr, const int nv)
{
	__m512i		acc[CONV_MR][CONV_NV];
	const uint8_t *src = c->src + 64 * v0;
	const int8_t *w = c->q + m0 * 4 * c->kgroups;
	int64_t		kb = 4 * c->kgroups;

#pragma GCC unroll 8
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			acc[i][v] = _mm512_setzero_si512();
	for (int64_t g = 0; g < c->kgroups; g++)
	{
		const uint8_t *s = src + c->off[g];
		__m512i		a[CONV_NV];

#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			a[v] = _mm512_loadu_si512(s + 64 * v);
#pragma GCC unroll 8
		for (int i = 0; i < mr; i++)
		{
			int32_t		w4;
			__m512i		b;

			memcpy(&w4, w + i * kb + 4 * g, sizeof(w4));
			b = _mm512_set1_epi32(w4);
#pragma GCC unroll 4
			for (int v = 0; v < nv; v++)
				acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], a[v], b);
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < mr; i++)
	{
		int64_t		m = m0 + i;
		__m512i		corr = _mm512_set1_epi32(c->zero * c->wsum[m]);
		__m512		sc = _mm512_set1_ps(c->scale[m] * c->xs);
		__m512		b = _mm512_set1_ps(c->bias != NULL ? c->bias[m] : 0.0f);

#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
		{
			__mmask16	keep = c->vmask[v0 + v];
			__m512		f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][v], corr)), sc, b);

			_mm512_mask_storeu_ps(c->y + m * c->ldy + c->vout[v0 + v],
								  (__mmask16) ((1u << _mm_popcnt_u32(keep)) - 1),
								  _mm512_maskz_compress_ps(keep, f));
		}
	}
}

/* The tiles for every mr (1..CONV_MR) and nv (1..CONV_NV), each with its loops unrolled. */
#define CONV_TILE(R, V) \
	VNNI_TARGET static void \
	vnni_conv_tile_##R##_##V(const PiInt8Conv *c, int64_t m0, int64_t v0) \
	{ \
		vnni_conv_tile(c, m0, v0, R, V); \
	}
#define CONV_TILES(R) CONV_TILE(R, 1) CONV_TILE(R, 2) CONV_TILE(R, 3) CONV_TILE(R, 4)
CONV_TILES(1) CONV_TILES(2) CONV_TILES(3) CONV_TILES(4) CONV_TILES(5) CONV_TILES(6)
CONV_TILES(7) CONV_TILES(8)
#define CONV_ROW(R) {vnni_conv_tile_##R##_1, vnni_conv_tile_##R##_2, vnni_conv_tile_##R##_3, \
	vnni_conv_tile_##R##_4}
static void (*const vnni_conv_tiles[CONV_MR][CONV_NV]) (const PiInt8Conv *c, int64_t m0,
														int64_t v0) = {
	CONV_ROW(1), CONV_ROW(2), CONV_ROW(3), CONV_ROW(4), CONV_ROW(5), CONV_ROW(6), CONV_ROW(7),
	CONV_ROW(8)
};

/*
 * AVX512-VNNI: blocks of up to 8 output channels, each over the positions
 * in tiles of up to 4 vectors (3 for blocks of 7 or 8, so that the sums
 * stay in 24 registers).
 */
static void
vnni_conv(const PiInt8Conv *c)
{
	int64_t		nb = pi_row_blocks(c->mdim, CONV_MR);
	int64_t		nvec = (c->npos + 15) / 16;

	for (int64_t blk = 0; blk < nb; blk++)
	{
		int64_t		m0;
		int			mr,
					nv_max;

		pi_row_block(c->mdim, nb, blk, &m0, &mr);
		nv_max = mr <= 6 ? 4 : 3;
		for (int64_t v0 = 0; v0 < nvec; v0 += nv_max)
		{
			int			nv = (int) (nvec - v0 < nv_max ? nvec - v0 : nv_max);

			vnni_conv_tiles[mr - 1][nv - 1] (c, m0, v0);
		}
	}
}

/* AVX-512: quantize_image, vectorized. */
VNNI_TARGET static void
vnni_quantize(const float *x, int64_t n, uint8_t *u, float *xs, int32_t *zero)
{
	quantize_image(x, n, u, xs, zero);
}

const PiInt8ConvKernels pi_int8_conv_kernels_vnni = {"vnni", vnni_quantize, vnni_conv};
#endif

/* The int8 convolution kernels for this CPU (int8.h). */
const PiInt8ConvKernels *
pi_int8_conv_kernels(void)
{
#if defined(__x86_64__)
	if (pi_int8_kernels() == &pi_int8_kernels_vnni)
		return &pi_int8_conv_kernels_vnni;
#endif
	return &pi_int8_conv_kernels_generic;
}
