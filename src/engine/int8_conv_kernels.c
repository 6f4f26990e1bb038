/*
 * int8_conv_kernels.c
 *	  The inner loops of the int8 convolution (int8.h, PiInt8Conv):
 *	  AVX512-VNNI and portable C, which give the same outputs bit for bit:
 *	  the same codes, the same int32 sums, and the same product by the
 *	  scales and sum with the bias after them, each rounded (as a quantize_
 *	  dynamic file's Mul and Add round them).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "int8.h"

/* Output channels per tile: a block of at most 8 rows of weights. */
#define CONV_MR 8

/* The range of an image (range in PiInt8ConvKernels); inlined into each instruction set's function. */
static inline __attribute__((always_inline)) bool
range_of(const float *x, int64_t n, float *lo, float *hi)
{
	float		l = 0.0f,
				h = 0.0f;
	int			bad = 0;

	for (int64_t k = 0; k < n; k++)
	{
		l = x[k] < l ? x[k] : l;
		h = x[k] > h ? x[k] : h;
		bad |= !(fabsf(x[k]) <= FLT_MAX);
	}
	*lo = l;
	*hi = h;
	return !bad && h - l <= FLT_MAX;
}

/* Portable: range_of. */
static bool
generic_range(const float *x, int64_t n, float *lo, float *hi)
{
	return range_of(x, n, lo, hi);
}

/*
 * The code of v (lay_out in PiInt8ConvKernels): the quotient clamped, then
 * rounded (the bounds are integers, so clamping first changes nothing).
 */
static inline uint8_t
code_of(float v, float step, float z)
{
	v = v / step;
	v = v >= -z ? v : -z;
	v = v <= 255.0f - z ? v : 255.0f - z;
	return (uint8_t) (int32_t) (pi_round_code(v) + z);
}

/*
 * The first byte of row py of an x4 plane (py counted in the padded
 * image), or of a set's row in its phase plane.
 */
static inline uint8_t *
row_start(const PiInt8Layout *l, uint8_t *set_base, int64_t py)
{
	return set_base + (py % l->sy) * l->sx * l->plane_bytes + 4 * (py / l->sy) * l->wq;
}

/*
 * Portable: the layout, value by value.  An x4 row's positions near its
 * end read zero codes past it (weights of taps past the kernel are zero).
 */
static void
generic_lay_out(const PiInt8Layout *l, const float *x, float step, int32_t zero, uint8_t *buf)
{
	float		z = (float) zero;

	memset(buf, zero, l->bytes);
	for (int64_t c = 0; c < l->c; c++)
	{
		int64_t		ci = c % l->cg;
		uint8_t    *base = buf + c / l->cg * l->group_bytes;

		for (int64_t iy = 0; iy < l->h; iy++)
		{
			const float *xr = x + (c * l->h + iy) * l->w;

			if (l->x4)
			{
				uint8_t    *row = row_start(l, base + ci * l->plane_bytes, iy + l->pt);

				for (int64_t p = 0; p < l->wq; p++)
					for (int j = 0; j < 4; j++)
					{
						int64_t		ix = p + j - l->pl;

						row[4 * p + j] = ix >= 0 && ix < l->w ? code_of(xr[ix], step, z) : (uint8_t) zero;
					}
				continue;
			}
			for (int64_t ix = 0; ix < l->w; ix++)
			{
				int64_t		px = ix + l->pl;
				uint8_t    *row = row_start(l, base + (ci / 4) * l->sy * l->sx * l->plane_bytes,
											iy + l->pt);

				row[(px % l->sx) * l->plane_bytes + 4 * (px / l->sx) + ci % 4] = code_of(xr[ix], step, z);
			}
		}
	}
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
				{
					/* a product, then a sum: rounded twice, as ONNX's Mul and Add are */
					float		f = (float) (acc[l] - corr) * sc;

					f = f + b;

					c->y[m * c->ldy + c->vout[v] + kept++] = c->quant ? pi_quantize_value(f, c->quant) : f;
				}
		}
	}
}

const PiInt8ConvKernels pi_int8_conv_kernels_generic = {"generic", generic_range, generic_lay_out, generic_conv};

#if defined(__x86_64__)
#include "int8_tile.h"

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx512vl,popcnt")))

/* Vectors of 16 positions per tile, at most. */
#define CONV_NV PI_TILE_NV

/* The tiles for every mr (1..CONV_MR) and nv (1..CONV_NV), each with its loops unrolled. */
#define CONV_TILE(R, V) \
	VNNI_TARGET static void \
	vnni_conv_tile_##R##_##V(const uint8_t *src, const int64_t *off, int64_t kgroups, \
							 const int8_t *w, int32_t *acc) \
	{ \
		pi_vnni_tile((const uint8_t *) w, 4 * kgroups, src, true, off, 0, kgroups, true, acc, R, V); \
	}
#define CONV_TILES(R) CONV_TILE(R, 1) CONV_TILE(R, 2) CONV_TILE(R, 3) CONV_TILE(R, 4)
CONV_TILES(1) CONV_TILES(2) CONV_TILES(3) CONV_TILES(4) CONV_TILES(5) CONV_TILES(6)
CONV_TILES(7) CONV_TILES(8)
#define CONV_ROW(R) {vnni_conv_tile_##R##_1, vnni_conv_tile_##R##_2, vnni_conv_tile_##R##_3, \
	vnni_conv_tile_##R##_4}
static void (*const vnni_conv_tiles[CONV_MR][CONV_NV]) (const uint8_t *src, const int64_t *off,
														int64_t kgroups, const int8_t *w,
														int32_t *acc) = {
	CONV_ROW(1), CONV_ROW(2), CONV_ROW(3), CONV_ROW(4), CONV_ROW(5), CONV_ROW(6), CONV_ROW(7),
	CONV_ROW(8)
};

/*
 * The outputs of a tile's sums acc (mr channels from m0, nv vectors from
 * v0): each vector's kept lanes compressed onto its run of outputs.
 */
VNNI_TARGET static void
vnni_conv_epilogue(const PiInt8Conv *c, const int32_t *acc, int64_t m0, int mr, int64_t v0, int nv)
{
	const __m512 magic = _mm512_set1_ps(12582912.0f);
	__m512		qs = _mm512_setzero_ps(),
				qlo = qs,
				qhi = qs,
				qzp = qs;
	bool		quantize = c->quant != NULL,
				values = quantize && c->quant->quant_dequantized;

	if (c->quant != NULL)
	{
		float		zp = (float) c->quant->quant_zero_point;

		qs = _mm512_set1_ps(c->quant->quant_scale);
		qlo = _mm512_set1_ps((c->quant->quant_signed ? -128.0f : 0.0f) - zp);
		qhi = _mm512_set1_ps((c->quant->quant_signed ? 127.0f : 255.0f) - zp);
		qzp = _mm512_set1_ps(zp);
	}
	for (int i = 0; i < mr; i++)
	{
		int64_t		m = m0 + i;
		__m512i		corr = _mm512_set1_epi32(c->zero * c->wsum[m]);
		__m512		sc = _mm512_set1_ps(c->scale[m] * c->xs);
		__m512		b = _mm512_set1_ps(c->bias != NULL ? c->bias[m] : 0.0f);

		for (int v = 0; v < nv; v++)
		{
			__mmask16	keep = c->vmask[v0 + v];
			__m512i		sums = _mm512_loadu_si512(acc + i * 16 * CONV_NV + 16 * v);
			/* a product, then a sum (the rounding form of the product is never fused) */
			__m512		f = _mm512_add_ps(_mm512_mul_round_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(sums, corr)), sc,
															  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), b);

			if (quantize)
			{
				/* pi_quantize_value; min and max return their second operand on NaN */
				f = _mm512_min_ps(qhi, _mm512_max_ps(qlo, _mm512_div_ps(f, qs)));
				f = _mm512_sub_ps(_mm512_add_ps(f, magic), magic);
				f = values ? _mm512_mul_ps(f, qs) : _mm512_add_ps(f, qzp);
			}

			_mm512_mask_storeu_ps(c->y + m * c->ldy + c->vout[v0 + v],
								  (__mmask16) ((1u << _mm_popcnt_u32(keep)) - 1),
								  _mm512_maskz_compress_ps(keep, f));
		}
	}
}

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
	int32_t		acc[CONV_MR * 16 * CONV_NV];

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

			vnni_conv_tiles[mr - 1][nv - 1] (c->src + 64 * v0, c->off, c->kgroups,
											 c->q + m0 * 4 * c->kgroups, acc);
			vnni_conv_epilogue(c, acc, m0, mr, v0, nv);
		}
	}
}

/* AVX-512: range_of, 16 floats at a time. */
VNNI_TARGET static bool
vnni_range(const float *x, int64_t n, float *lo, float *hi)
{
	__m512		l = _mm512_setzero_ps(),
				h = _mm512_setzero_ps();
	const __m512 top = _mm512_set1_ps(FLT_MAX);
	__mmask16	bad = 0;

	for (int64_t k = 0; k < n; k += 16)
	{
		__mmask16	m = n - k >= 16 ? 0xffff : (__mmask16) ((1u << (n - k)) - 1);
		__m512		v = _mm512_maskz_loadu_ps(m, x + k);

		l = _mm512_min_ps(l, v);
		h = _mm512_max_ps(h, v);
		bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(v), top, _CMP_NLE_UQ);
	}
	*lo = _mm512_reduce_min_ps(l);
	*hi = _mm512_reduce_max_ps(h);
	return bad == 0 && *hi - *lo <= FLT_MAX;
}

/* code_of for 16 values of which those outside m are 0.0 (whose code is zero). */
VNNI_TARGET static inline __m512i
vnni_codes(const float *x, __mmask16 m, __m512 step, __m512 z)
{
	const __m512 magic = _mm512_set1_ps(12582912.0f);
	__m512		v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x), step);

	v = _mm512_min_ps(_mm512_max_ps(v, _mm512_sub_ps(_mm512_setzero_ps(), z)),
					  _mm512_sub_ps(_mm512_set1_ps(255.0f), z));
	return _mm512_cvttps_epi32(_mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), z));
}

/* Lanes [from, to) of 16, clipped to the vector. */
static inline __mmask16
lanes(int64_t from, int64_t to)
{
	from = from < 0 ? 0 : from;
	to = to > 16 ? 16 : to;
	return to <= from ? 0 : (__mmask16) (((1u << (to - from)) - 1) << from);
}

/*
 * AVX-512: the layout 16 positions at a time, each position's 4 codes
 * (4 channels, or 4 values along x) made one int32 lane.
 */
VNNI_TARGET static void
vnni_lay_out(const PiInt8Layout *l, const float *x, float step, int32_t zero, uint8_t *buf)
{
	__m512		vstep = _mm512_set1_ps(step),
				z = _mm512_set1_ps((float) zero);
	int64_t		sets = l->x4 ? l->cg : (l->cg + 3) / 4;

	memset(buf, zero, l->bytes);
	for (int64_t g = 0; g < l->c / l->cg; g++)
		for (int64_t set = 0; set < sets; set++)
		{
			uint8_t    *base = buf + g * l->group_bytes + set * l->sy * l->sx * l->plane_bytes;

			for (int64_t iy = 0; iy < l->h; iy++)
			{
				uint8_t    *row = row_start(l, base, iy + l->pt);

				if (l->x4)
				{
					const float *xr = x + ((g * l->cg + set) * l->h + iy) * l->w;

					/* lane i of byte j: the value at x p0 + i + j of the padded row */
					for (int64_t p0 = 0; p0 < l->wq; p0 += 16)
					{
						__m512i		v = _mm512_setzero_si512();

						for (int j = 0; j < 4; j++)
						{
							int64_t		ix0 = p0 + j - l->pl;

							v = _mm512_or_si512(v, _mm512_slli_epi32(vnni_codes(xr + ix0, lanes(-ix0, l->w - ix0), vstep, z), 8 * j));
						}
						_mm512_mask_storeu_epi32(row + 4 * p0, lanes(0, l->wq - p0), v);
					}
					continue;
				}
				for (int64_t ix0 = 0; ix0 < l->w; ix0 += 16)
				{
					__mmask16	m = lanes(0, l->w - ix0);
					__m512i		v = _mm512_setzero_si512();
					int32_t		word[16];

					for (int j = 0; j < 4 && 4 * set + j < l->cg; j++)
						v = _mm512_or_si512(v, _mm512_slli_epi32(vnni_codes(x + ((g * l->cg + 4 * set + j) * l->h + iy) * l->w + ix0, m, vstep, z), 8 * j));
					/* channels past the set's last: the code of 0.0 (their weights are zero) */
					for (int j = (int) (l->cg - 4 * set); j < 4; j++)
						v = _mm512_or_si512(v, _mm512_set1_epi32((int32_t) ((uint32_t) zero << (8 * j))));
					if (l->sx == 1)
					{
						_mm512_mask_storeu_epi32(row + 4 * (ix0 + l->pl), m, v);
						continue;
					}
					if (l->sx == 2)
					{
						/* even x to phase 0, odd to phase 1, each compressed onto its run */
						int64_t		px0 = ix0 + l->pl;

						for (int ph = 0; ph < 2; ph++)
						{
							int64_t		first = px0 + ((px0 - ph) & 1);	/* the first x of the phase */
							__mmask16	mp = m & (first > px0 ? 0xaaaa : 0x5555);

							_mm512_mask_storeu_epi32(row + ph * l->plane_bytes + 4 * (first / 2),
													 (__mmask16) ((1u << _mm_popcnt_u32(mp)) - 1),
													 _mm512_maskz_compress_epi32(mp, v));
						}
						continue;
					}
					_mm512_storeu_si512(word, v);
					for (int i = 0; i < 16 && ix0 + i < l->w; i++)
					{
						int64_t		px = ix0 + i + l->pl;

						memcpy(row + (px % l->sx) * l->plane_bytes + 4 * (px / l->sx), &word[i], 4);
					}
				}
			}
		}
}

const PiInt8ConvKernels pi_int8_conv_kernels_vnni = {"vnni", vnni_range, vnni_lay_out, vnni_conv};
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
