/*
 * bf16_kernels.c
 *	  The inner loops of the bf16 GEMM (bf16.h) on AVX512-BF16: rows
 *	  rounded to bf16 two vectors at a time (vcvtne2ps2bf16), and tiles of
 *	  up to 6 rows by a panel of 64 columns whose float32 sums take pairs
 *	  of bf16 products (vdpbf16ps), and the check for the instructions.
 */
#include <string.h>

#include "bf16.h"
#include "cpu.h"

/* Whether this CPU runs the bf16 kernels. */
bool
pi_bf16_available(void)
{
#if defined(__x86_64__)
	static int	available = -1;

	if (available < 0)
	{
		__builtin_cpu_init();
		available = pi_cpu() == &pi_cpu_kernels_avx512 && __builtin_cpu_supports("avx512bf16");
	}
	return available;
#else
	return false;
#endif
}

#if defined(__x86_64__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* Rows of a tile: 6 x 4 accumulators of 16 float32 lanes. */
#define BF16_MR 6
#define BF16_NV (PI_BF16_PANEL / 16)

/* Rounds rows of x to bf16 rows of kp, 32 values at a time. */
BF16_TARGET void
pi_bf16_round_rows(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint16_t *xb)
{
	for (int64_t r = 0; r < rows; r++)
	{
		const float *row = x + r * kdim;
		uint16_t   *out = xb + r * kp;

		for (int64_t k = 0; k < kp; k += 32)
		{
			int64_t		left = kdim - k;
			__mmask16	lo = left >= 16 ? 0xffff : left > 0 ? (__mmask16) ((1u << left) - 1) : 0;
			__mmask16	hi = left >= 32 ? 0xffff : left > 16 ? (__mmask16) ((1u << (left - 16)) - 1) : 0;
			int64_t		store = kp - k < 32 ? kp - k : 32;
			__m512bh	b = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, row + k + 16),
												_mm512_maskz_loadu_ps(lo, row + k));

			_mm512_mask_storeu_epi16(out + k, (__mmask32) (store == 32 ? 0xffffffffu : (1u << store) - 1),
									 (__m512i) b);
		}
	}
}

/*
 * The float32 sums of mr rows of xb (kp bf16 each) by nv vectors of a
 * panel, plus bias (64 floats, zero past the columns), to y (rows ldy
 * apart, n columns); mr and nv known where it is inlined.
 */
BF16_TARGET static inline __attribute__((always_inline)) void
bf16_tile(const uint16_t *xb, int64_t kp, const uint16_t *panel, const float *bias, float *y,
		  int64_t ldy, int n, const int mr, const int nv)
{
	__m512		acc[BF16_MR][BF16_NV];

#pragma GCC unroll 6
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			acc[i][v] = _mm512_loadu_ps(bias + 16 * v);
	for (int64_t g = 0; g < kp / 2; g++)
	{
		const uint16_t *wg = panel + g * 2 * PI_BF16_PANEL;
		__m512bh	b[BF16_NV];

#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			b[v] = (__m512bh) _mm512_loadu_si512(wg + 32 * v);
#pragma GCC unroll 6
		for (int i = 0; i < mr; i++)
		{
			int32_t		pair;
			__m512bh	a;

			memcpy(&pair, xb + i * kp + 2 * g, sizeof(pair));
			a = (__m512bh) _mm512_set1_epi32(pair);
#pragma GCC unroll 4
			for (int v = 0; v < nv; v++)
				acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, b[v]);
		}
	}
#pragma GCC unroll 6
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
		{
			int			lanes = n - 16 * v < 16 ? n - 16 * v : 16;

			_mm512_mask_storeu_ps(y + i * ldy + 16 * v, (__mmask16) ((1u << lanes) - 1), acc[i][v]);
		}
}

/* The tiles for every mr (1..BF16_MR) and nv (1..BF16_NV), each with its loops unrolled. */
#define BF16_TILE(R, V) \
	BF16_TARGET static void \
	bf16_tile_##R##_##V(const uint16_t *xb, int64_t kp, const uint16_t *panel, const float *bias, \
						float *y, int64_t ldy, int n) \
	{ \
		bf16_tile(xb, kp, panel, bias, y, ldy, n, R, V); \
	}
#define BF16_TILES(R) BF16_TILE(R, 1) BF16_TILE(R, 2) BF16_TILE(R, 3) BF16_TILE(R, 4)
BF16_TILES(1) BF16_TILES(2) BF16_TILES(3) BF16_TILES(4) BF16_TILES(5) BF16_TILES(6)
#define BF16_ROW(R) {bf16_tile_##R##_1, bf16_tile_##R##_2, bf16_tile_##R##_3, bf16_tile_##R##_4}
static void (*const bf16_tiles[BF16_MR][BF16_NV]) (const uint16_t *xb, int64_t kp,
												   const uint16_t *panel, const float *bias,
												   float *y, int64_t ldy, int n) = {
	BF16_ROW(1), BF16_ROW(2), BF16_ROW(3), BF16_ROW(4), BF16_ROW(5), BF16_ROW(6)
};

/* Tiles of up to 6 rows by a panel, panel by panel. */
void
pi_bf16_gemm(const uint16_t *xb, int64_t rows, const PiBf16Weights *w, const float *bias,
			 float *y, int64_t ldy)
{
	int64_t		npan = (w->mdim + PI_BF16_PANEL - 1) / PI_BF16_PANEL;

	for (int64_t p = 0; p < npan; p++)
	{
		int64_t		j0 = p * PI_BF16_PANEL;
		int			n = (int) (w->mdim - j0 < PI_BF16_PANEL ? w->mdim - j0 : PI_BF16_PANEL);
		const uint16_t *panel = w->w + p * w->kp * PI_BF16_PANEL;
		float		b[PI_BF16_PANEL] = {0};

		if (bias != NULL)
			memcpy(b, bias + j0, sizeof(float) * n);
		for (int64_t r0 = 0; r0 < rows; r0 += BF16_MR)
		{
			int			mr = (int) (rows - r0 < BF16_MR ? rows - r0 : BF16_MR);

			bf16_tiles[mr - 1][(n + 15) / 16 - 1] (xb + r0 * w->kp, w->kp, panel, b,
												   y + r0 * ldy + j0, ldy, n);
		}
	}
}
#else
/* No BF16 instructions off x86-64: pi_bf16_available is false and these never run. */
void
pi_bf16_round_rows(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint16_t *xb)
{
}

void
pi_bf16_gemm(const uint16_t *xb, int64_t rows, const PiBf16Weights *w, const float *bias,
			 float *y, int64_t ldy)
{
}
#endif
