/*
 * kernels_template.h
 *	  The CPU engine's inner loops, written once against the primitives of
 *	  simd.h and built for each instruction set by a file that defines
 *	  PI_SIMD_AVX512 or PI_SIMD_AVX2 (or neither), PI_CPU_TABLE and
 *	  PI_CPU_NAME, then includes this (kernels_avx512.c and friends).  See
 *	  cpu.h for what each loop computes.
 */
#include <stdbool.h>

#include "cpu.h"
#include "simd.h"

/* Loads lanes [l, l + VW) of p, or the m < VW of them there are. */
PI_TARGET static inline vf
load_part(const float *p, int64_t m)
{
	return m >= VW ? vload(p) : vload_n(p, (int) m);
}

/* Stores lanes [0, m) of v at p (all VW when m >= VW). */
PI_TARGET static inline void
store_part(float *p, vf v, int64_t m)
{
	if (m >= VW)
		vstore(p, v);
	else
		vstore_n(p, v, (int) m);
}

/* o's activation of v (Relu, Clip, LeakyRelu or none); NaN stays NaN. */
PI_TARGET static inline vf
tile_act(vf v, const PiTileOut *o)
{
	/* vmax and vmin return their second operand on NaN */
	if (o->act == PI_OP_RELU)
		return vmax(vzero(), v);
	if (o->act == PI_OP_CLIP)
		return vmin(vset1(o->hi), vmax(vset1(o->lo), v));
	if (o->act == PI_OP_LEAKY_RELU)
		return vleaky(v, o->alpha);
	return v;
}

/*
 * One GEMM tile of mr x nv vectors, all constants once inlined into
 * gemm_tile's cases, so that the accumulators stay in registers.  full: the
 * panel has all nv * VW lanes (no masked loads); masked: vector j of row k
 * loads the lanes of bits kmask[2 * k + j].
 */
PI_TARGET static inline __attribute__((always_inline)) void
tile(const int mr, const int nv, const bool full, const bool masked, const float *w,
	 int64_t kdim, const float *b, const int64_t *boff, const uint32_t *kmask, int n,
	 const float *bias, float *t, const PiTileOut *o)
{
	vf			acc[MR_MAX][2];
	int			last = n - (nv - 1) * VW;

#pragma GCC unroll 12
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 2
		for (int j = 0; j < nv; j++)
			acc[i][j] = bias ? vset1(bias[i]) : vzero();
	for (int64_t k = 0; k < kdim; k++)
	{
		const float *bk = b + boff[k];
		vf			bv[2];

#pragma GCC unroll 2
		for (int j = 0; j < nv; j++)
			bv[j] = masked ? vload_bits(bk + j * VW, kmask[2 * k + j]) :
				(full || j < nv - 1) ? vload(bk + j * VW) : vload_n(bk + j * VW, last);
#pragma GCC unroll 12
		for (int i = 0; i < mr; i++)
		{
			vf			wv = vset1(w[k * mr + i]);

#pragma GCC unroll 2
			for (int j = 0; j < nv; j++)
				acc[i][j] = vfma(wv, bv[j], acc[i][j]);
		}
	}
	if (o == NULL)
	{
#pragma GCC unroll 12
		for (int i = 0; i < mr; i++)
#pragma GCC unroll 2
			for (int j = 0; j < nv; j++)
				vstore(t + (i * nv + j) * VW, acc[i][j]);
		return;
	}
#pragma GCC unroll 12
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 2
		for (int j = 0; j < nv; j++)
		{
			vf			v = acc[i][j];
			int			m = j < nv - 1 ? VW : last;
			float	   *y = o->y + i * o->ldy + j * VW;

			if (o->res != NULL)
				v = vadd(v, load_part(o->res + i * o->ldr + j * VW, m));
			store_part(y, tile_act(v, o), m);
		}
}

#define TILE_CASE(r) \
	case r: \
		if (kmask != NULL && nv == 2) \
			tile(r, 2, false, true, w, kdim, b, boff, kmask, n, bias, t, o); \
		else if (kmask != NULL) \
			tile(r, 1, false, true, w, kdim, b, boff, kmask, n, bias, t, o); \
		else if (nv == 2 && full) \
			tile(r, 2, true, false, w, kdim, b, boff, kmask, n, bias, t, o); \
		else if (nv == 2) \
			tile(r, 2, false, false, w, kdim, b, boff, kmask, n, bias, t, o); \
		else if (full) \
			tile(r, 1, true, false, w, kdim, b, boff, kmask, n, bias, t, o); \
		else \
			tile(r, 1, false, false, w, kdim, b, boff, kmask, n, bias, t, o); \
		break

/* A GEMM tile of mr rows (cpu.h). */
PI_TARGET static void
gemm_tile(const float *w, int mr, int64_t kdim, const float *b, const int64_t *boff,
		  const uint32_t *kmask, int nv, int n, const float *bias, float *t, const PiTileOut *o)
{
	bool		full = (n == nv * VW);

	switch (mr)
	{
			TILE_CASE(1);
			TILE_CASE(2);
			TILE_CASE(3);
			TILE_CASE(4);
			TILE_CASE(5);
			TILE_CASE(6);
#if MR_MAX > 6
			TILE_CASE(7);
			TILE_CASE(8);
			TILE_CASE(9);
			TILE_CASE(10);
			TILE_CASE(11);
			TILE_CASE(12);
#endif
		default:
			break;
	}
}

/*
 * d[k * mr + i] = x[i * ldx + k] for rows i < mr and k < kdim (cpu.h): VW
 * rows by VW columns at a time, transposed in registers by log2(VW) rounds
 * of interleaving row j with row j + VW / 2.
 */
PI_TARGET static void
pack_rows(float *d, const float *x, int64_t ldx, int mr, int64_t kdim)
{
	for (int g = 0; g < mr; g += VW)
	{
		int			rows = mr - g < VW ? mr - g : VW;

		for (int64_t k0 = 0; k0 < kdim; k0 += VW)
		{
			int64_t		n = kdim - k0 < VW ? kdim - k0 : VW;
			vf			t[VW],
						u[VW];

#pragma GCC unroll 16
			for (int i = 0; i < VW; i++)
				t[i] = i < rows ? load_part(x + (g + i) * ldx + k0, n) : vzero();
#pragma GCC unroll 4
			for (int round = 1; round < VW; round *= 2)
			{
#pragma GCC unroll 8
				for (int j = 0; j < VW / 2; j++)
					vinterleave(t[j], t[j + VW / 2], &u[2 * j], &u[2 * j + 1]);
#pragma GCC unroll 16
				for (int i = 0; i < VW; i++)
					t[i] = u[i];
			}
			for (int64_t k = 0; k < n; k++)
				store_part(d + (k0 + k) * mr + g, t[k], rows);
		}
	}
}

/* Copies n floats from src + off[k] to row k of col at lane, for every k (cpu.h). */
PI_TARGET static void
gather_rows(float *col, int64_t ldc, int lane, const float *src, const int64_t *off,
			int64_t kdim, int n)
{
	for (int64_t k = 0; k < kdim; k++)
	{
		const float *s = src + off[k];
		float	   *d = col + k * ldc + lane;

		for (int l = 0; l < n; l += VW)
			store_part(d + l, load_part(s + l, n - l), n - l);
	}
}

/* A QuantizeLinear's parameters as vectors (quantize_vector), read once before a loop. */
typedef struct QuantVectors
{
	vf			scale,
				lo,				/* the type's bounds less the zero point */
				hi,
				zp;
	bool		dequantized;
} QuantVectors;

/* The vectors of at's QuantizeLinear. */
PI_TARGET static inline QuantVectors
quant_vectors(const PiAttrs *at)
{
	float		zp = (float) at->quant_zero_point;
	QuantVectors q;

	q.scale = vset1(at->quant_scale);
	q.lo = vset1((at->quant_signed ? -128.0f : 0.0f) - zp);
	q.hi = vset1((at->quant_signed ? 127.0f : 255.0f) - zp);
	q.zp = vset1(zp);
	q.dequantized = at->quant_dequantized != 0;
	return q;
}

/*
 * QuantizeLinear of v (cpu.h's quantize): the division, the clamp (NaN
 * kept: vmax and vmin return their second operand on NaN), rounding half
 * to even by adding and taking off 1.5 * 2^23 (|v| < 2^22 after the clamp)
 * as pi_round_code does, then the code, or the value it stands for:
 * (r + zp - zp) * scale is r * scale, the codes being small integers.
 */
PI_TARGET static inline vf
quantize_vector(vf v, const QuantVectors q)
{
	const vf	magic = vset1(12582912.0f);

	v = vmin(q.hi, vmax(q.lo, v / q.scale));
	v = (v + magic) - magic;
	return q.dequantized ? v * q.scale : v + q.zp;
}

/* y = act(t + res) over n floats (cpu.h); QuantizeLinear in the same pass. */
PI_TARGET static void
epilogue(float *y, const float *t, const float *res, int64_t n, PiOp act, const PiAttrs *at)
{
	vf			lo = vset1(act == PI_OP_CLIP ? at->clip_min : 0.0f);
	vf			hi = vset1(act == PI_OP_CLIP ? at->clip_max : 0.0f);
	float		alpha = act == PI_OP_LEAKY_RELU ? at->alpha : 0.0f;
	QuantVectors qv = {0};

	if (act == PI_OP_QUANTIZE)
		qv = quant_vectors(at);
	for (int64_t l = 0; l < n; l += VW)
	{
		vf			v = load_part(t + l, n - l);

		if (res != NULL)
			v = vadd(v, load_part(res + l, n - l));
		/* vmax and vmin return their second operand on NaN: NaN stays NaN */
		if (act == PI_OP_RELU)
			v = vmax(vzero(), v);
		else if (act == PI_OP_CLIP)
			v = vmin(hi, vmax(lo, v));
		else if (act == PI_OP_LEAKY_RELU)
			v = vleaky(v, alpha);
		else if (act == PI_OP_QUANTIZE)
			v = quantize_vector(v, qv);
		store_part(y + l, v, n - l);
	}
	if (act != PI_OP_IDENTITY && act != PI_OP_RELU && act != PI_OP_CLIP &&
		act != PI_OP_LEAKY_RELU && act != PI_OP_QUANTIZE)
		pi_unary_apply(act, at, y, y, n);
}

/*
 * Loads inputs [0, m) (all VW when m >= VW) of a row read every xstep
 * floats (1 or 2), reading nothing past the last of them.
 */
PI_TARGET static inline vf
load_step(const float *p, int64_t m, int xstep)
{
	int64_t		need;

	if (xstep == 1)
		return load_part(p, m);
	need = 2 * (m < VW ? m : VW) - 1;
	return veven(load_part(p, need), vload_n(p + VW, need > VW ? (int) (need - VW) : 0));
}

/*
 * Fills a plane of rows x pitch: dst[r][q] = x[y0 + r * sy][x0 + q * sx]
 * of the h x w plane x where that is inside it, else pad (cpu.h).
 */
PI_TARGET static void
fill_plane(float *dst, int64_t rows, int64_t pitch, const float *x, int64_t h, int64_t w,
		   int64_t y0, int64_t x0, int sy, int sx, float pad)
{
	/* columns q with 0 <= x0 + q * sx < w */
	int64_t		lo = x0 < 0 ? (-x0 + sx - 1) / sx : 0;
	int64_t		hi = w - x0 > 0 ? (w - x0 + sx - 1) / sx : 0;
	vf			vpad = vset1(pad);

	hi = hi > pitch ? pitch : hi;
	lo = lo > hi ? hi : lo;
	for (int64_t r = 0; r < rows; r++, dst += pitch)
	{
		int64_t		iy = y0 + r * sy;
		const float *src = x + iy * w + x0 + lo * sx;
		int64_t		q = 0;

		if (iy < 0 || iy >= h)
		{
			for (; q < pitch; q += VW)
				store_part(dst + q, vpad, pitch - q);
			continue;
		}
		for (; q < lo; q++)
			dst[q] = pad;
		if (sx <= 2)
			for (; q < hi; q += VW)
				store_part(dst + q, load_step(src + (q - lo) * sx, hi - q, sx), hi - q);
		else
			for (; q < hi; q++)
				dst[q] = src[(q - lo) * sx];
		for (q = hi; q < pitch; q++)
			dst[q] = pad;
	}
}

/*
 * Splits channels planes of h x w by stride-2 phase (cpu.h): x[ch][iy][ix]
 * goes to row iy / 2, column ix / 2 of phase plane (iy % 2) * 2 + ix % 2 of
 * channel ch, each phase plane rows x pitch.
 */
PI_TARGET static void
split_phases(float *dst, int64_t rows, int64_t pitch, const float *x, int64_t h, int64_t w,
			 int64_t channels)
{
	int64_t		phase = rows * pitch;

	/*
	 * Rows of one vector, even in number, to phase rows of half a vector
	 * (the phase planes contiguous): 4 rows at a time, 2 rows of each phase
	 * in one full vector.  Else row by row.
	 */
	if (w == VW && h % 2 == 0 && pitch == VW / 2 && rows == h / 2)
	{
		for (int64_t ch = 0; ch < channels; ch++, x += h * w, dst += 4 * phase)
			for (int64_t iy = 0; iy < h; iy += 4)
			{
				vf			a = vload(x + iy * w),
							b = vload(x + (iy + 1) * w),
							c = iy + 2 < h ? vload(x + (iy + 2) * w) : vzero(),
							d = iy + 2 < h ? vload(x + (iy + 3) * w) : vzero();
				float	   *o = dst + (iy / 2) * pitch;
				int			m = iy + 2 < h ? VW : VW / 2;

				store_part(o, veven(a, c), m);
				store_part(o + phase, vodd(a, c), m);
				store_part(o + 2 * phase, veven(b, d), m);
				store_part(o + 3 * phase, vodd(b, d), m);
			}
		return;
	}
	/*
	 * Rows of half a vector, even in number: 8 rows at a time, 4 rows of
	 * each phase as one full vector (the even and odd lanes of pairs of
	 * vectors are, by quarters, alternately of even and odd rows).
	 */
	if (2 * w == VW && h % 2 == 0 && pitch == VW / 4 && rows == h / 2)
	{
		for (int64_t ch = 0; ch < channels; ch++, x += h * w, dst += 4 * phase)
			for (int64_t iy = 0; iy < h; iy += 8)
			{
				vf			a = vload(x + iy * w),
							b = iy + 4 <= h ? vload(x + (iy + 2) * w) : vload_n(x + (iy + 2) * w, (int) ((h - iy - 2) * w)),
							c = iy + 6 <= h ? vload(x + (iy + 4) * w) : vload_n(x + (iy + 4) * w, (int) (iy + 4 < h ? (h - iy - 4) * w : 0)),
							d = iy + 8 <= h ? vload(x + (iy + 6) * w) : vload_n(x + (iy + 6) * w, (int) (iy + 6 < h ? (h - iy - 6) * w : 0)),
							e1 = veven(a, b),
							e2 = veven(c, d),
							o1 = vodd(a, b),
							o2 = vodd(c, d);
				float	   *o = dst + (iy / 2) * pitch;
				int64_t		m = (h - iy) / 2 * pitch;

				store_part(o, veven4(e1, e2), m);
				store_part(o + phase, veven4(o1, o2), m);
				store_part(o + 2 * phase, vodd4(e1, e2), m);
				store_part(o + 3 * phase, vodd4(o1, o2), m);
			}
		return;
	}
	for (int64_t ch = 0; ch < channels; ch++)
		for (int64_t iy = 0; iy < h; iy++)
		{
			const float *s = x + (ch * h + iy) * w;
			float	   *d = dst + (ch * 4 + (iy & 1) * 2) * phase + (iy >> 1) * pitch;

			/* 2 vectors of the row at a time: their even and their odd lanes */
			for (int64_t q = 0; q < w; q += 2 * VW)
			{
				vf			lo = load_part(s + q, w - q),
							hi = vload_n(s + q + VW, w - q > 2 * VW ? VW : (w - q > VW ? (int) (w - q - VW) : 0));

				store_part(d + q / 2, veven(lo, hi), (w - q + 1) / 2);
				store_part(d + phase + q / 2, vodd(lo, hi), (w - q) / 2);
			}
		}
}

/*
 * Loads the floats of row [col0, col0 + VW) that lie in [0, w), the other
 * lanes 0 (nothing outside the row is read).
 */
PI_TARGET static inline vf
load_in_row(const float *row, int64_t col0, int64_t w)
{
	int64_t		lo = col0 < 0 ? -col0 : 0,
				hi = w - col0 < VW ? w - col0 : VW;

	if (lo >= hi)
		return vzero();
	if (lo == 0 && hi == VW)
		return vload(row + col0);
	return vload_bits(row + col0, (uint32_t) (((1ull << (hi - lo)) - 1) << lo));
}

/*
 * Splits channels planes of h x w for Winograd F(2x2, 3x3) (cpu.h): the
 * plane padded by top rows and left columns (zeros elsewhere) to 2 ty + 2
 * rows of 2 tx + 2, then split into 8 planes of ty + 1 rows of tx per
 * channel, plane (r % 2) * 4 + c holding padded row 2 y + r % 2, column 2 x
 * + c at [y][x].  Each pair of vectors of a padded row is loaded from the
 * input directly (masked where it leaves the row) and split into its even
 * and odd lanes.
 */
PI_TARGET static void
wino_split(float *dst, int64_t ty, int64_t tx, const float *x, int64_t h, int64_t w,
		   int64_t top, int64_t left, int64_t channels)
{
	int64_t		plane = (ty + 1) * tx;

	for (int64_t ch = 0; ch < channels; ch++, x += h * w, dst += 8 * plane)
		for (int64_t pr = 0; pr < 2 * ty + 2; pr++)
		{
			int64_t		iy = pr - top;
			float	   *d = dst + (pr & 1) * 4 * plane + (pr >> 1) * tx;

			if (iy < 0 || iy >= h)
			{
				for (int c = 0; c < 4; c++)
					for (int64_t q = 0; q < tx; q += VW)
						store_part(d + c * plane + q, vzero(), tx - q);
				continue;
			}
			/* padded column 2 q + cc is input column 2 q + cc - left */
			for (int cc = 0; cc < 4; cc += 2)
				for (int64_t q = 0; q < tx; q += VW)
				{
					int64_t		col = 2 * q + cc - left;
					vf			a = load_in_row(x + iy * w, col, w),
								b = load_in_row(x + iy * w, col + VW, w);

					store_part(d + cc * plane + q, veven(a, b), tx - q);
					store_part(d + (cc + 1) * plane + q, vodd(a, b), tx - q);
				}
		}
}

/* One vector of tiles of wino_input for one channel: m of them (m <= VW). */
PI_TARGET static inline __attribute__((always_inline)) void
wino_input_vector(float *v, int64_t vstride, const float *src, int64_t pitch, int64_t phase,
				  const int m)
{
	vf			d[4][4],
				t[4];

	for (int r = 0; r < 4; r++)
		for (int c = 0; c < 4; c++)
			d[r][c] = load_part(src + ((r & 1) * 4 + c) * phase + (r >> 1) * pitch, m);
	for (int c = 0; c < 4; c++)
	{
		vf			a0 = d[0][c],
					a1 = d[1][c],
					a2 = d[2][c],
					a3 = d[3][c];

		d[0][c] = a0 - a2;
		d[1][c] = a1 + a2;
		d[2][c] = a2 - a1;
		d[3][c] = a1 - a3;
	}
	for (int r = 0; r < 4; r++)
	{
		t[0] = d[r][0] - d[r][2];
		t[1] = d[r][1] + d[r][2];
		t[2] = d[r][2] - d[r][1];
		t[3] = d[r][1] - d[r][3];
		for (int c = 0; c < 4; c++)
			store_part(v + (4 * r + c) * vstride, t[c], m);
	}
}

/*
 * Winograd F(2x2, 3x3) input transform of n consecutive tiles, for
 * channels channels, from each channel's padded input split into 8 planes
 * (phase floats apart; rows pitch floats apart, one tile per float):
 * column c of row r of tile l's 4x4 patch of channel ch is at src + ch *
 * src_ch + ((r % 2) * 4 + c) * phase + (r / 2) * pitch + l.  V = B^T d B
 * goes to v[ch * v_ch + xi * vstride + l], xi = 4 * row + column (cpu.h).
 * Full vectors take no masks.
 */
PI_TARGET static void
wino_input(float *v, int64_t vstride, int64_t v_ch, const float *src, int64_t pitch,
		   int64_t phase, int64_t src_ch, int64_t channels, int n)
{
	for (int64_t ch = 0; ch < channels; ch++, src += src_ch, v += v_ch)
		for (int l = 0; l < n; l += VW)
		{
			if (n - l >= VW)
				wino_input_vector(v + l, vstride, src + l, pitch, phase, VW);
			else
				wino_input_vector(v + l, vstride, src + l, pitch, phase, n - l);
		}
}

/*
 * Writes positions [p0, p0 + cnt) of the 2 VW interleaved outputs out[0],
 * out[1] of one output row to y + at (position p0 there), adding res + at
 * first when res is set, through o's activation: a masked store per vector
 * at a base shifted so that each lane lands on its own output.
 */
PI_TARGET static inline void
wino_store(float *y, const float *res, int64_t at, const vf *out, int p0, int cnt,
		   const PiTileOut *o)
{
	for (int h = 0; h < 2; h++)
	{
		int			lo = p0 > h * VW ? p0 : h * VW,
					hi = p0 + cnt < (h + 1) * VW ? p0 + cnt : (h + 1) * VW;
		int64_t		base = at + h * VW - p0;
		vf			v = out[h];
		uint32_t	bits;

		if (lo >= hi)
			continue;
		if (hi - lo == VW)
		{
			if (res != NULL)
				v = vadd(v, vload(res + base));
			vstore(y + base, tile_act(v, o));
			continue;
		}
		bits = (uint32_t) (((1ull << (hi - lo)) - 1) << (lo - h * VW));
		if (res != NULL)
			v = vadd(v, vload_bits(res + base, bits));
		vstore_bits(y + base, tile_act(v, o), bits);
	}
}

/*
 * Winograd F(2x2, 3x3) output transform of a panel of n tiles, for
 * channels output channels (cpu.h): Y = A^T M A of the products at mt[ch *
 * m_ch + xi * mstride + l], plus bias[ch] (bias may be NULL), computed a
 * vector of tiles at a time whatever tile rows its lanes span, then each
 * run's outputs through o's residual and activation to its rows.
 */
PI_TARGET static void
wino_output(float *y, int64_t y_ch, int64_t ldy, const PiWinoRun *run, int nrun,
			const float *mt, int64_t mstride, int64_t m_ch, int64_t channels, int n,
			const float *bias, const PiTileOut *o)
{
	for (int64_t ch = 0; ch < channels; ch++, mt += m_ch, y += y_ch)
	{
		const float *res = o->res ? o->res + ch * y_ch : NULL;
		vf			b = vset1(bias ? bias[ch] : 0.0f);

		for (int l = 0; l < n; l += VW)
		{
			int			m = n - l < VW ? n - l : VW;
			vf			s[2][4],
						out[2][2];

			for (int c = 0; c < 4; c++)
			{
				vf			m0 = load_part(mt + c * mstride + l, m),
							m1 = load_part(mt + (4 + c) * mstride + l, m),
							m2 = load_part(mt + (8 + c) * mstride + l, m),
							m3 = load_part(mt + (12 + c) * mstride + l, m);

				s[0][c] = m0 + m1 + m2;
				s[1][c] = m1 - m2 - m3;
			}
			for (int r = 0; r < 2; r++)
				vinterleave(s[r][0] + s[r][1] + s[r][2] + b, s[r][1] - s[r][2] - s[r][3] + b,
							&out[r][0], &out[r][1]);
			for (int i = 0; i < nrun; i++)
			{
				int			a = run[i].lane > l ? run[i].lane : l,
							e = run[i].lane + run[i].count < l + m ? run[i].lane + run[i].count : l + m,
							c0 = 2 * (a - run[i].lane),
							cnt = 2 * (e - a) < run[i].cols - c0 ? 2 * (e - a) : run[i].cols - c0;

				for (int r = 0; r < run[i].rows && cnt > 0; r++)
					wino_store(y, res, run[i].out + r * ldy + c0, out[r], 2 * (a - l), cnt, o);
			}
		}
	}
}

/* One output row of a depthwise convolution, 4 vectors at a time (depthwise_rows). */
PI_TARGET static void
depthwise_row(float *y, const float *src, const int64_t *off, const float *w, int taps,
			  float bias, int64_t n, int xstep, const uint32_t *masks, const PiTileOut *o)
{
	int64_t		l = 0;

	if (masks != NULL)
	{
		/* 4 vectors at a time: independent sums hide the multiply-add latency */
		for (; l + 4 * VW <= n; l += 4 * VW, masks += 4 * taps)
		{
			vf			a0 = vset1(bias),
						a1 = a0,
						a2 = a0,
						a3 = a0;

			for (int t = 0; t < taps; t++)
			{
				const float *s = src + off[t] + l;
				vf			wt = vset1(w[t]);

				a0 = vfma(wt, vload_bits(s, masks[t]), a0);
				a1 = vfma(wt, vload_bits(s + VW, masks[taps + t]), a1);
				a2 = vfma(wt, vload_bits(s + 2 * VW, masks[2 * taps + t]), a2);
				a3 = vfma(wt, vload_bits(s + 3 * VW, masks[3 * taps + t]), a3);
			}
			vstore(y + l, tile_act(a0, o));
			vstore(y + l + VW, tile_act(a1, o));
			vstore(y + l + 2 * VW, tile_act(a2, o));
			vstore(y + l + 3 * VW, tile_act(a3, o));
		}
		for (; l < n; l += VW, masks += taps)
		{
			vf			acc = vset1(bias);

			for (int t = 0; t < taps; t++)
				acc = vfma(vset1(w[t]), vload_bits(src + off[t] + l, masks[t]), acc);
			store_part(y + l, tile_act(acc, o), n - l);
		}
		return;
	}
	for (; l + 4 * VW <= n; l += 4 * VW)
	{
		vf			a0 = vset1(bias),
					a1 = a0,
					a2 = a0,
					a3 = a0;

		for (int t = 0; t < taps; t++)
		{
			const float *s = src + off[t] + l * xstep;
			vf			wt = vset1(w[t]);

			a0 = vfma(wt, load_step(s, VW, xstep), a0);
			a1 = vfma(wt, load_step(s + VW * xstep, VW, xstep), a1);
			a2 = vfma(wt, load_step(s + 2 * VW * xstep, VW, xstep), a2);
			a3 = vfma(wt, load_step(s + 3 * VW * xstep, VW, xstep), a3);
		}
		vstore(y + l, tile_act(a0, o));
		vstore(y + l + VW, tile_act(a1, o));
		vstore(y + l + 2 * VW, tile_act(a2, o));
		vstore(y + l + 3 * VW, tile_act(a3, o));
	}
	for (; l < n; l += VW)
	{
		vf			acc = vset1(bias);

		for (int t = 0; t < taps; t++)
			acc = vfma(vset1(w[t]), load_step(src + off[t] + l * xstep, n - l, xstep), acc);
		store_part(y + l, tile_act(acc, o), n - l);
	}
}

/*
 * Masked planes of one vector, 4 channels at a time (independent sums hide
 * the multiply-add latency).
 */
PI_TARGET static void
depthwise_small(float *y, int64_t y_ch, const float *src, int64_t src_ch, int64_t channels,
				const int64_t *off, const float *w, const float *bias, int taps, int64_t n,
				const uint32_t *masks, const PiTileOut *o)
{
	int64_t		ch = 0;

	for (; ch + 4 <= channels; ch += 4)
	{
		vf			acc[4];

		for (int c = 0; c < 4; c++)
			acc[c] = vset1(bias ? bias[ch + c] : 0.0f);
		for (int t = 0; t < taps; t++)
			for (int c = 0; c < 4; c++)
				acc[c] = vfma(vset1(w[(ch + c) * taps + t]),
							  vload_bits(src + (ch + c) * src_ch + off[t], masks[t]), acc[c]);
		for (int c = 0; c < 4; c++)
			store_part(y + (ch + c) * y_ch, tile_act(acc[c], o), n);
	}
	for (; ch < channels; ch++)
		depthwise_row(y + ch * y_ch, src + ch * src_ch, off, w + ch * taps, taps,
					  bias ? bias[ch] : 0.0f, n, 1, masks, o);
}

/*
 * Depthwise rows of several channels (cpu.h): y + ch * y_ch from src + ch *
 * src_ch with weights w + ch * taps and bias[ch].
 */
PI_TARGET static void
depthwise_rows(float *y, int64_t y_ch, const float *src, int64_t src_ch, int64_t channels,
			   const int64_t *off, const float *w, const float *bias, int taps, int64_t n,
			   int xstep, const uint32_t *masks, const PiTileOut *o)
{
	if (masks != NULL && n <= VW)
	{
		depthwise_small(y, y_ch, src, src_ch, channels, off, w, bias, taps, n, masks, o);
		return;
	}
	for (int64_t ch = 0; ch < channels; ch++)
		depthwise_row(y + ch * y_ch, src + ch * src_ch, off, w + ch * taps, taps,
					  bias ? bias[ch] : 0.0f, n, xstep, masks, o);
}

/* The column shifts of depthwise3x3: lane i of r moved to i + 1 (left neighbour) or i - 1, columns leaving the row 0. */
PI_TARGET static inline vf
shift_right(vf r, uint32_t keep)
{
	return vkeep_bits(vconcat(vzero(), r, VW - 1), keep);
}

PI_TARGET static inline vf
shift_left(vf r, uint32_t keep)
{
	return vkeep_bits(vconcat(r, vzero(), 1), keep);
}

/*
 * Vector v of a plane of nvec vectors in rows of width lanes, moved down
 * a row (each lane takes the lane of the row above it, zeros above the
 * plane) or up a row; whole: rows of one vector.
 */
PI_TARGET static inline __attribute__((always_inline)) vf
row_above(const float *p, int64_t v, int width, const bool whole)
{
	vf			prev = v > 0 ? vload(p + (v - 1) * VW) : vzero();

	if (v > 0)					/* a load where the row above begins */
		return vload(p + v * VW - width);
	return whole ? prev : vconcat(prev, vload(p + v * VW), VW - width);
}

PI_TARGET static inline __attribute__((always_inline)) vf
row_below(const float *p, int64_t v, int64_t nvec, int width, const bool whole)
{
	vf			next = v + 1 < nvec ? vload(p + (v + 1) * VW) : vzero();

	if (v + 1 < nvec)
		return vload(p + v * VW + width);
	return whole ? next : vconcat(vload(p + v * VW), next, width);
}

/*
 * depthwise3x3's stride-1 planes of rows of one vector: each input row
 * loaded and shifted by a column each way once, its three forms carried
 * from one output row to the next (the shifts cost as much as the
 * multiply-adds).
 */
PI_TARGET static inline __attribute__((always_inline)) void
depthwise3x3_whole(float *y, int64_t y_ch, const float *src, int64_t src_ch, int64_t channels,
				   const float *w, const float *bias, int64_t nvec, const bool clamp, vf lo,
				   vf hi, const PiTileOut *o)
{
	for (int64_t ch = 0; ch < channels; ch++, src += src_ch, y += y_ch, w += 9)
	{
		vf			k[9],
					b = vset1(bias ? bias[ch] : 0.0f),
					c = vload(src),
					up[3] = {vzero(), vzero(), vzero()},
					mid[3] = {vconcat(vzero(), c, VW - 1), c, vconcat(c, vzero(), 1)};

		for (int t = 0; t < 9; t++)
			k[t] = vset1(w[t]);
		for (int64_t v = 0; v < nvec; v++)
		{
			vf			nx = v + 1 < nvec ? vload(src + (v + 1) * VW) : vzero(),
						down[3] = {vconcat(vzero(), nx, VW - 1), nx, vconcat(nx, vzero(), 1)},
						a0 = vfma(k[0], up[0], b),
						a1 = vmul(k[3], mid[0]),
						a2 = vmul(k[6], down[0]);

			a0 = vfma(k[1], up[1], a0);
			a1 = vfma(k[4], mid[1], a1);
			a2 = vfma(k[7], down[1], a2);
			a0 = vfma(k[2], up[2], a0);
			a1 = vfma(k[5], mid[2], a1);
			a2 = vfma(k[8], down[2], a2);
			a0 = vadd(vadd(a0, a1), a2);
			vstore(y + v * VW, clamp ? vmin(hi, vmax(lo, a0)) : tile_act(a0, o));
			for (int i = 0; i < 3; i++)
			{
				up[i] = mid[i];
				mid[i] = down[i];
			}
		}
	}
}

/*
 * depthwise3x3 (cpu.h), with phases and rows of one vector (whole) known at
 * compile time.  A Relu or Clip (or none) is a clamp to [lo, hi], held in
 * registers: vmax and vmin return their second operand on NaN.
 */
PI_TARGET static inline __attribute__((always_inline)) void
depthwise3x3_body(float *y, int64_t y_ch, const float *src, int64_t src_ch, int64_t channels,
				  const float *w, const float *bias, int64_t n, int width, const bool phases,
				  const bool whole, const PiTileOut *o)
{
	int64_t		nvec = n / VW;
	bool		clamp = o->act != PI_OP_LEAKY_RELU;
	vf			lo = vset1(o->act == PI_OP_CLIP ? o->lo : (o->act == PI_OP_RELU ? 0.0f : -INFINITY)),
				hi = vset1(o->act == PI_OP_CLIP ? o->hi : INFINITY);
	uint32_t	not_first = 0,	/* lanes of a column other than the row's first */
				not_last = 0;

	if (whole && !phases)
	{
		depthwise3x3_whole(y, y_ch, src, src_ch, channels, w, bias, nvec, clamp, lo, hi, o);
		return;
	}
	for (int l = 0; l < VW; l++)
	{
		not_first |= (uint32_t) (l % width != 0) << l;
		not_last |= (uint32_t) (l % width != width - 1) << l;
	}
	for (int64_t ch = 0; ch < channels; ch++, src += src_ch, y += y_ch, w += 9)
	{
		vf			k[9],
					b = vset1(bias ? bias[ch] : 0.0f);

		for (int t = 0; t < 9; t++)
			k[t] = vset1(w[t]);
		for (int64_t v = 0; v < nvec; v++)
		{
			vf			a0,
						a1,
						a2;

			if (phases)
			{
				/*
				 * Input row 2 oy + dy, column 2 ox + dx of phase plane (dy &
				 * 1) * 2 + (dx & 1): dy = -1 is the row above in the odd
				 * rows' planes, dx = -1 the column left in the odd columns'.
				 */
				const float *p00 = src,
						   *p01 = src + n,
						   *p10 = src + 2 * n,
						   *p11 = src + 3 * n;
				vf			up10 = row_above(p10, v, width, whole),
							up11 = row_above(p11, v, width, whole),
							mid11 = vload(p11 + v * VW);

				a0 = vfma(k[0], shift_right(up11, not_first), b);
				a0 = vfma(k[1], up10, a0);
				a0 = vfma(k[2], up11, a0);
				a1 = vmul(k[3], shift_right(vload(p01 + v * VW), not_first));
				a1 = vfma(k[4], vload(p00 + v * VW), a1);
				a1 = vfma(k[5], vload(p01 + v * VW), a1);
				a2 = vmul(k[6], shift_right(mid11, not_first));
				a2 = vfma(k[7], vload(p10 + v * VW), a2);
				a2 = vfma(k[8], mid11, a2);
			}
			else
			{
				vf			rows[3] = {row_above(src, v, width, whole), vload(src + v * VW),
									   row_below(src, v, nvec, width, whole)};
				vf			acc[3];

				for (int r = 0; r < 3; r++)
				{
					acc[r] = vmul(k[3 * r + 1], rows[r]);
					acc[r] = vfma(k[3 * r], shift_right(rows[r], not_first), acc[r]);
					acc[r] = vfma(k[3 * r + 2], shift_left(rows[r], not_last), acc[r]);
				}
				a0 = vadd(acc[0], b);
				a1 = acc[1];
				a2 = acc[2];
			}
			a0 = vadd(vadd(a0, a1), a2);
			vstore(y + v * VW, clamp ? vmin(hi, vmax(lo, a0)) : tile_act(a0, o));
		}
	}
}

/* depthwise3x3 (cpu.h). */
PI_TARGET static void
depthwise3x3(float *y, int64_t y_ch, const float *src, int64_t src_ch, int64_t channels,
			 const float *w, const float *bias, int64_t n, int64_t width, bool phases,
			 const PiTileOut *o)
{
	if (phases && width == VW)
		depthwise3x3_body(y, y_ch, src, src_ch, channels, w, bias, n, VW, true, true, o);
	else if (phases)
		depthwise3x3_body(y, y_ch, src, src_ch, channels, w, bias, n, (int) width, true, false, o);
	else if (width == VW)
		depthwise3x3_body(y, y_ch, src, src_ch, channels, w, bias, n, VW, false, true, o);
	else
		depthwise3x3_body(y, y_ch, src, src_ch, channels, w, bias, n, (int) width, false, false, o);
}

/* One output row of a max pool; NaN propagates (cpu.h). */
PI_TARGET static void
max_pool_row(float *y, const float *src, const int64_t *off, int taps, int64_t n, int xstep)
{
	for (int64_t l = 0; l < n; l += VW)
	{
		const float *s = src + l * xstep;
		vf			acc = load_step(s + off[0], n - l, xstep);

		for (int t = 1; t < taps; t++)
			acc = vmax_nan(acc, load_step(s + off[t], n - l, xstep));
		store_part(y + l, acc, n - l);
	}
}

/* One output row of an average pool (cpu.h). */
PI_TARGET static void
avg_pool_row(float *y, const float *src, const int64_t *off, int taps, const float *rdiv,
			 int64_t n, int xstep)
{
	for (int64_t l = 0; l < n; l += VW)
	{
		const float *s = src + l * xstep;
		vf			acc = load_step(s + off[0], n - l, xstep);

		for (int t = 1; t < taps; t++)
			acc = vadd(acc, load_step(s + off[t], n - l, xstep));
		store_part(y + l, vmul(acc, load_part(rdiv + l, n - l)), n - l);
	}
}

/* Sigmoid, Gelu (erf form), Erf and Exp over n floats; false for other ops (cpu.h). */
PI_TARGET static bool
unary(PiOp op, const PiAttrs *at, const float *x, float *y, int64_t n)
{
	if (op != PI_OP_SIGMOID && op != PI_OP_ERF && op != PI_OP_EXP &&
		(op != PI_OP_GELU || at->gelu_tanh))
		return false;
	for (int64_t l = 0; l < n; l += VW)
	{
		vf			v = load_part(x + l, n - l);

		if (op == PI_OP_SIGMOID)
			v = vset1(1.0f) / (vset1(1.0f) + vexp(vzero() - v));
		else if (op == PI_OP_GELU)
			v = vset1(0.5f) * v * (vset1(1.0f) + verf(v * vset1(0.7071067811865476f)));
		else if (op == PI_OP_ERF)
			v = verf(v);
		else
			v = vexp(v);
		store_part(y + l, v, n - l);
	}
	return true;
}

/* QuantizeLinear of n floats (cpu.h), by quantize_vector. */
PI_TARGET static void
quantize(const float *x, float *y, int64_t n, const PiAttrs *at)
{
	QuantVectors qv = quant_vectors(at);

	for (int64_t l = 0; l < n; l += VW)
		store_part(y + l, quantize_vector(load_part(x + l, n - l), qv), n - l);
}

/* DequantizeLinear of n codes: (x - zp) * scale (cpu.h). */
PI_TARGET static void
dequantize(const float *x, float *y, int64_t n, float scale, float zp)
{
	vf			vs = vset1(scale),
				vzp = vset1(zp);

	for (int64_t l = 0; l < n; l += VW)
		store_part(y + l, (load_part(x + l, n - l) - vzp) * vs, n - l);
}

/*
 * out[i] = x[i * sx] op y[i * sy] for Add, Sub, Mul and Div, strides 0 or
 * 1, i < n (cpu.h).
 */
PI_TARGET static void
arith(PiOp op, const float *x, int64_t sx, const float *y, int64_t sy, float *out, int64_t n)
{
	vf			xs = vset1(x[0]),
				ys = vset1(y[0]);

	for (int64_t l = 0; l < n; l += VW)
	{
		vf			u = sx ? load_part(x + l, n - l) : xs,
					v = sy ? load_part(y + l, n - l) : ys;

		if (op == PI_OP_ADD)
			u = u + v;
		else if (op == PI_OP_SUB)
			u = u - v;
		else if (op == PI_OP_MUL)
			u = u * v;
		else
			u = u / v;
		store_part(out + l, u, n - l);
	}
}

/* The sum of n floats, in 4 vector accumulators (cpu.h). */
PI_TARGET static float
sum(const float *x, int64_t n)
{
	vf			a0 = vzero(),
				a1 = vzero(),
				a2 = vzero(),
				a3 = vzero();
	int64_t		l = 0;

	for (; l + 4 * VW <= n; l += 4 * VW)
	{
		a0 = vadd(a0, vload(x + l));
		a1 = vadd(a1, vload(x + l + VW));
		a2 = vadd(a2, vload(x + l + 2 * VW));
		a3 = vadd(a3, vload(x + l + 3 * VW));
	}
	for (; l < n; l += VW)
		a0 = vadd(a0, load_part(x + l, n - l));
	return vsum(vadd(vadd(a0, a1), vadd(a2, a3)));
}

/* y = (x - mean) / sqrt(var + eps) * scale + bias over one row of len floats (cpu.h). */
PI_TARGET static void
layer_norm_row(float *y, const float *x, int64_t len, const float *scale, const float *bias,
			   float eps)
{
	float		mean = sum(x, len) / (float) len;
	vf			vm = vset1(mean),
				sq = vzero(),
				inv;

	for (int64_t l = 0; l < len; l += VW)
	{
		vf			d = load_part(x + l, len - l) - vm;

		/* lanes past len count 0 */
		d = len - l < VW ? vkeep_n(d, (int) (len - l)) : d;
		sq = vfma(d, d, sq);
	}
	inv = vset1(1.0f / sqrtf(vsum(sq) / (float) len + eps));
	for (int64_t l = 0; l < len; l += VW)
	{
		vf			v = (load_part(x + l, len - l) - vm) * inv * load_part(scale + l, len - l);

		if (bias != NULL)
			v = v + load_part(bias + l, len - l);
		store_part(y + l, v, len - l);
	}
}

/*
 * Softmax (or LogSoftmax) of rows of at most one vector, 4 at a time
 * (independent chains hide the latency of each row's reductions).
 */
PI_TARGET static void
softmax_short(float *y, const float *x, int64_t rows, int len, bool log_out)
{
	for (int64_t r = 0; r < rows; r += 4)
	{
		int			nr = rows - r < 4 ? (int) (rows - r) : 4;
		vf			v[4],
					e[4];
		float		max[4],
					total[4];

#pragma GCC unroll 4
		for (int i = 0; i < 4; i++)
		{
			/* past the last row, the last row again (not stored) */
			int64_t		row = r + (i < nr ? i : nr - 1);

			/* lanes past len are -inf: their exponentials are 0 */
			v[i] = vload_fill(x + row * len, len, -INFINITY);
			max[i] = vhmax(v[i]);
			e[i] = vexp(v[i] - vset1(max[i]));
			total[i] = vsum(e[i]);
		}
#pragma GCC unroll 4
		for (int i = 0; i < 4; i++)
			if (i < nr)
				store_part(y + (r + i) * len,
						   log_out ? (v[i] - vset1(max[i])) - vset1(logf(total[i])) :
						   e[i] * vset1(1.0f / total[i]), len);
	}
}

/*
 * Softmax (or LogSoftmax) of rows contiguous rows of len floats each,
 * max-subtracted; a NaN anywhere makes its whole row NaN through the sum,
 * whatever the maximum took of it (cpu.h).
 */
PI_TARGET static void
softmax_rows(float *y, const float *x, int64_t rows, int64_t len, bool log_out)
{
	if (len <= VW)
	{
		softmax_short(y, x, rows, (int) len, log_out);
		return;
	}
	for (int64_t r = 0; r < rows; r++, x += len, y += len)
	{
		vf			mx = vset1(-INFINITY),
					acc = vzero();
		float		max,
					total;

		for (int64_t l = 0; l < len; l += VW)
			mx = vmax(mx, len - l < VW ? vload_fill(x + l, (int) (len - l), -INFINITY) : vload(x + l));
		max = vhmax(mx);
		for (int64_t l = 0; l < len; l += VW)
		{
			vf			e = vexp(vload_fill(x + l, (int) (len - l < VW ? len - l : VW), -INFINITY) -
								 vset1(max));

			if (!log_out)
				store_part(y + l, e, len - l);
			acc = acc + e;
		}
		total = vsum(acc);
		for (int64_t l = 0; l < len; l += VW)
		{
			vf			v = load_part(log_out ? x + l : y + l, len - l);

			v = log_out ? (v - vset1(max)) - vset1(logf(total)) : v * vset1(1.0f / total);
			store_part(y + l, v, len - l);
		}
	}
}

const PiCpuKernels PI_CPU_TABLE = {
	.name = PI_CPU_NAME,
	.vw = VW,
	.mr_max = MR_MAX,
	.gemm_tile = gemm_tile,
	.gather_rows = gather_rows,
	.pack_rows = pack_rows,
	.fill_plane = fill_plane,
	.split_phases = split_phases,
	.wino_split = wino_split,
	.wino_input = wino_input,
	.wino_output = wino_output,
	.epilogue = epilogue,
	.depthwise_rows = depthwise_rows,
	.depthwise3x3 = depthwise3x3,
	.max_pool_row = max_pool_row,
	.avg_pool_row = avg_pool_row,
	.sum = sum,
	.unary = unary,
	.quantize = quantize,
	.dequantize = dequantize,
	.arith = arith,
	.layer_norm_row = layer_norm_row,
	.softmax_rows = softmax_rows,
};
