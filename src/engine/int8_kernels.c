/*
 * int8_kernels.c
 *	  The inner loops of the int8 GEMM (int8.h): AVX512-VNNI (u8 x s8 dot
 *	  products of 4 bytes into int32 lanes, vpdpbusd) and portable C, and
 *	  the choice between them at run time.  Both compute the same exact
 *	  int32 sums; only the float epilogue's rounding may differ (the VNNI
 *	  one uses fused multiply-adds).
 */
#include <string.h>

#include "cpu.h"
#include "int8.h"

/* Portable: y for every row and column, a panel at a time. */
static void
generic_gemm(const uint8_t *u, int64_t rows, const float *xs, const PiInt8Weights *w,
			 const float *bias, float *y, int64_t ldy)
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
				y[r * ldy + j0 + c] = (float) (acc[c] - w->corr[j0 + c]) * (xs[r] * w->scale[j0 + c]) +
					(bias != NULL ? bias[j0 + c] : 0.0f);
		}
	}
}

const PiInt8Kernels pi_int8_kernels_generic = {"generic", generic_gemm};

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Rows of a VNNI tile: 6 x 4 accumulators of 16 int32 lanes. */
#define VNNI_MR 6
#define VNNI_NV (PI_INT8_PANEL / 16)

/* One tile's operands: mr rows of u by the first n columns (nv vectors) of a panel. */
typedef struct VnniTile
{
	const uint8_t *u;			/* the tile's first row */
	int64_t		kp;
	const int8_t *panel;
	int			n;
	const float *xs;			/* the tile's rows' scales */
	const float *ws;			/* the panel's column scales, corrections and bias */
	const int32_t *corr;
	const float *bias;			/* NULL for none */
	float	   *y;				/* the tile's first output */
	int64_t		ldy;
} VnniTile;

/* One tile, for mr and nv known where it is inlined: int32 sums, then the float epilogue. */
VNNI_TARGET static inline __attribute__((always_inline)) void
vnni_tile(const VnniTile *t, const int mr, const int nv)
{
	__m512i		acc[VNNI_MR][VNNI_NV];

	for (int i = 0; i < mr; i++)
		for (int v = 0; v < nv; v++)
			acc[i][v] = _mm512_setzero_si512();
	for (int64_t g = 0; g < t->kp / 4; g++)
	{
		const int8_t *wg = t->panel + g * 4 * PI_INT8_PANEL;
		__m512i		b[VNNI_NV];

		for (int v = 0; v < nv; v++)
			b[v] = _mm512_loadu_si512(wg + 64 * v);
		for (int i = 0; i < mr; i++)
		{
			int32_t		x4;
			__m512i		a;

			memcpy(&x4, t->u + i * t->kp + 4 * g, sizeof(x4));
			a = _mm512_set1_epi32(x4);
			for (int v = 0; v < nv; v++)
				acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], a, b[v]);
		}
	}
	for (int v = 0; v < nv; v++)
	{
		int			lanes = t->n - 16 * v < 16 ? t->n - 16 * v : 16;
		__mmask16	mask = (__mmask16) ((1u << lanes) - 1);
		__m512		ws = _mm512_loadu_ps(t->ws + 16 * v);
		__m512i		corr = _mm512_loadu_si512(t->corr + 16 * v);
		__m512		bias = t->bias ? _mm512_maskz_loadu_ps(mask, t->bias + 16 * v) : _mm512_setzero_ps();

		for (int i = 0; i < mr; i++)
		{
			__m512		f = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][v], corr));

			_mm512_mask_storeu_ps(t->y + i * t->ldy + 16 * v, mask,
								  _mm512_fmadd_ps(f, _mm512_mul_ps(ws, _mm512_set1_ps(t->xs[i])), bias));
		}
	}
}

/* The tiles for every mr (1..VNNI_MR) and nv (1..VNNI_NV), each with its loops unrolled. */
#define VNNI_TILE(R, V) \
	VNNI_TARGET static void vnni_tile_##R##_##V(const VnniTile *t) { vnni_tile(t, R, V); }
#define VNNI_TILES(R) VNNI_TILE(R, 1) VNNI_TILE(R, 2) VNNI_TILE(R, 3) VNNI_TILE(R, 4)
VNNI_TILES(1) VNNI_TILES(2) VNNI_TILES(3) VNNI_TILES(4) VNNI_TILES(5) VNNI_TILES(6)
#define VNNI_ROW(R) {vnni_tile_##R##_1, vnni_tile_##R##_2, vnni_tile_##R##_3, vnni_tile_##R##_4}
static void (*const vnni_tiles[VNNI_MR][VNNI_NV]) (const VnniTile *t) = {
	VNNI_ROW(1), VNNI_ROW(2), VNNI_ROW(3), VNNI_ROW(4), VNNI_ROW(5), VNNI_ROW(6)
};

/* AVX512-VNNI: tiles of up to 6 rows by a panel, panel by panel. */
static void
vnni_gemm(const uint8_t *u, int64_t rows, const float *xs, const PiInt8Weights *w,
		  const float *bias, float *y, int64_t ldy)
{
	int64_t		npan = (w->mdim + PI_INT8_PANEL - 1) / PI_INT8_PANEL;
	VnniTile	t;

	t.kp = w->kp;
	t.ldy = ldy;
	for (int64_t p = 0; p < npan; p++)
	{
		int64_t		j0 = p * PI_INT8_PANEL;

		t.n = (int) (w->mdim - j0 < PI_INT8_PANEL ? w->mdim - j0 : PI_INT8_PANEL);
		t.panel = w->q + p * w->kp * PI_INT8_PANEL;
		t.ws = w->scale + j0;
		t.corr = w->corr + j0;
		t.bias = bias != NULL ? bias + j0 : NULL;
		for (int64_t r0 = 0; r0 < rows; r0 += VNNI_MR)
		{
			int			mr = (int) (rows - r0 < VNNI_MR ? rows - r0 : VNNI_MR);

			t.u = u + r0 * w->kp;
			t.xs = xs + r0;
			t.y = y + r0 * ldy + j0;
			vnni_tiles[mr - 1][(t.n + 15) / 16 - 1] (&t);
		}
	}
}

const PiInt8Kernels pi_int8_kernels_vnni = {"vnni", vnni_gemm};
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
