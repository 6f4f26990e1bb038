/*
 * cpu.h
 *	  The vectorized inner loops of the CPU engine, one table per instruction
 *	  set (kernels_avx512.c, kernels_avx2.c, kernels_generic.c, all built
 *	  from kernels_template.h), and the choice among them at run time
 *	  (cpu.c).  Internal to src/engine.
 *
 * The loops work on "panels": runs of up to 2 vectors of output pixels.  A
 * GEMM tile multiplies mr rows of a weight matrix by a panel of its right
 * operand, whose row k starts at b + boff[k]; this one form covers an
 * unfolded (im2col) panel, a row of a padded input read in place, and the
 * channel planes of a pointwise convolution.
 */
#ifndef PI_CPU_H
#define PI_CPU_H

#include "pi_engine.h"

/* The widest panel (floats) of any instruction set. */
#define PI_CPU_MAX_PANEL 32

/*
 * Where a GEMM tile writes its rows itself, through the epilogue: row i
 * to y + i * ldy, adding res + i * ldr first when res is set, then act
 * (PI_OP_IDENTITY, PI_OP_RELU, PI_OP_CLIP over [lo, hi] or
 * PI_OP_LEAKY_RELU by alpha).
 */
typedef struct PiTileOut
{
	float	   *y;
	const float *res;
	int64_t		ldy;
	int64_t		ldr;			/* res's row stride (0: one row for all) */
	PiOp		act;
	float		lo,
				hi,
				alpha;
} PiTileOut;

/*
 * A run of a Winograd panel's tiles along one tile row, and where its
 * outputs go: lanes [lane, lane + count) of the panel give the first cols
 * outputs (at most 2 count) of rows rows (1 or 2) starting at offset out of
 * each output channel's plane, rows ldy apart.
 */
typedef struct PiWinoRun
{
	int			lane;
	int			count;
	int			rows;
	int			cols;
	int64_t		out;
} PiWinoRun;

typedef struct PiCpuKernels
{
	const char *name;			/* "avx512", "avx2" or "generic" */
	int			vw;				/* floats per vector; a panel is 1 or 2 vectors */
	int			mr_max;			/* most rows of a GEMM tile */

	/*
	 * t[i * nv * vw + l] = bias[i] + sum over k < kdim of w[k * mr + i] *
	 * b[boff[k] + l], for rows i < mr and lanes l < n (n <= nv * vw; lanes
	 * past n are neither read nor meaningful); bias may be NULL.  w is the
	 * tile's rows of the weights packed column by column.  With kmask, the
	 * lanes of vector j of row k whose bit in kmask[2 * k + j] is clear
	 * count as 0 and are not read.  With out, the tile writes its n lanes
	 * of each row there instead of to t.
	 */
	void		(*gemm_tile) (const float *w, int mr, int64_t kdim,
							  const float *b, const int64_t *boff, const uint32_t *kmask,
							  int nv, int n, const float *bias, float *t, const PiTileOut *out);

	/* d[k * mr + i] = x[i * ldx + k] for i < mr, k < kdim: rows packed column by column */
	void		(*pack_rows) (float *d, const float *x, int64_t ldx, int mr, int64_t kdim);

	/* col[k * ldc + lane + l] = src[off[k] + l] for k < kdim, l < n */
	void		(*gather_rows) (float *col, int64_t ldc, int lane, const float *src,
								const int64_t *off, int64_t kdim, int n);

	/*
	 * A plane of rows x pitch floats from the h x w plane x: dst[r][q] =
	 * x[y0 + r * sy][x0 + q * sx] where inside x, else pad.
	 */
	void		(*fill_plane) (float *dst, int64_t rows, int64_t pitch, const float *x, int64_t h,
							   int64_t w, int64_t y0, int64_t x0, int sy, int sx, float pad);

	/*
	 * The stride-2 phases of channels planes of h x w: x[ch][iy][ix] to
	 * dst[((ch * 4 + (iy % 2) * 2 + ix % 2) * rows + iy / 2) * pitch + ix / 2]
	 * (rows >= ceil(h / 2), pitch >= ceil(w / 2)); the rest of dst is not
	 * written.
	 */
	void		(*split_phases) (float *dst, int64_t rows, int64_t pitch, const float *x, int64_t h,
								 int64_t w, int64_t channels);

	/*
	 * y[l] = act(t[l] + res[l]) for l < n (res may be NULL, t may be y):
	 * Relu, LeakyRelu, Clip and QuantizeLinear in vectors, other unary ops
	 * by pi_unary_apply; PI_OP_IDENTITY for none.
	 */
	void		(*epilogue) (float *y, const float *t, const float *res, int64_t n,
							 PiOp act, const PiAttrs *at);

	/*
	 * Winograd F(2x2, 3x3), for several channels (the channel strides are
	 * *_ch): the input transform of n consecutive tiles from a channel's
	 * padded input split into 8 planes, phase floats apart (column c of row
	 * r of tile l's 4x4 patch at src + ((r % 2) * 4 + c) * phase + (r / 2) *
	 * pitch + l), V = B^T d B to v[xi * vstride + l]; the output transform
	 * of a panel of n tiles, mt[xi * mstride + l], plus the channel's bias
	 * (bias may be NULL), through o's residual and activation (o->y and
	 * o->ldr unused; the residual at the outputs' offsets from o->res), to
	 * each of the nrun runs' outputs in y + ch * y_ch.
	 */
	/*
	 * The 8 planes of each channel that wino_input reads: channels planes
	 * of h x w padded by top rows and left columns to 2 ty + 2 rows of 2 tx
	 * + 2 floats (zeros past the input), plane (r % 2) * 4 + c ((ty + 1) x
	 * tx floats, 8 per channel) holding padded row 2 y + r % 2, column 2 x +
	 * c at [y][x].
	 */
	void		(*wino_split) (float *dst, int64_t ty, int64_t tx, const float *x, int64_t h,
							   int64_t w, int64_t top, int64_t left, int64_t channels);
	void		(*wino_input) (float *v, int64_t vstride, int64_t v_ch, const float *src,
							   int64_t pitch, int64_t phase, int64_t src_ch, int64_t channels,
							   int n);
	void		(*wino_output) (float *y, int64_t y_ch, int64_t ldy, const PiWinoRun *run,
								int nrun, const float *mt, int64_t mstride, int64_t m_ch,
								int64_t channels, int n, const float *bias, const PiTileOut *o);

	/*
	 * The row kernels of window ops read input l of tap t at src + off[t] +
	 * l * xstep, xstep 1 or 2.
	 */
	/*
	 * For channels ch < channels: y[ch * y_ch + l] = act(bias[ch] + sum
	 * over taps of w[ch * taps + t] * input(t, l)), l < n, input from src +
	 * ch * src_ch, bias NULL for none, act o's (o->y and o->res unused);
	 * with masks (xstep 1), input(t, l) is 0 where bit l % vw of
	 * masks[(l / vw) * taps + t] is clear.
	 */
	void		(*depthwise_rows) (float *y, int64_t y_ch, const float *src, int64_t src_ch,
								   int64_t channels, const int64_t *off, const float *w,
								   const float *bias, int taps, int64_t n, int xstep,
								   const uint32_t *masks, const PiTileOut *o);

	/*
	 * 3x3 depthwise convolutions with pads of 1 by lane shifts, for planes
	 * of n floats (a multiple of vw) in rows of width floats (width
	 * dividing vw): channel ch's output y + ch * y_ch from its input src +
	 * ch * src_ch, one plane of the output's shape (phases false: stride 1)
	 * or its 4 stride-2 phase planes of that shape, n floats apart (phases
	 * true); weights w + ch * 9 (row by row), bias[ch] (bias NULL for
	 * none), act o's.  The taps are the input vectors shifted by rows and
	 * columns in registers (zeros shifted in at the plane's edges), or
	 * loaded where the row above or below begins inside the plane.
	 */
	void		(*depthwise3x3) (float *y, int64_t y_ch, const float *src, int64_t src_ch,
								 int64_t channels, const float *w, const float *bias, int64_t n,
								 int64_t width, bool phases, const PiTileOut *o);

	/* y[l] = max over taps of input(t, l) (NaN if any is NaN), l < n */
	void		(*max_pool_row) (float *y, const float *src, const int64_t *off, int taps,
								 int64_t n, int xstep);

	/* y[l] = rdiv[l] * sum over taps of input(t, l), l < n */
	void		(*avg_pool_row) (float *y, const float *src, const int64_t *off, int taps,
								 const float *rdiv, int64_t n, int xstep);

	/* sum of x[0..n) */
	float		(*sum) (const float *x, int64_t n);

	/*
	 * y = op(x) over n floats (y may be x) for Sigmoid, Gelu (erf form),
	 * Erf and Exp, within a few ulp; false, touching nothing, for others.
	 */
	bool		(*unary) (PiOp op, const PiAttrs *at, const float *x, float *y, int64_t n);

	/*
	 * QuantizeLinear of n values as at says (y may be x): the codes, as
	 * floats, clamp(x / scale) to the type's range rounded half to even,
	 * or with at->quant_dequantized the values they stand for, (code - zero
	 * point) * scale.  NaN stays NaN.  The same bits on every instruction
	 * set (a true division, no reciprocal).  epilogue takes it as act too.
	 */
	void		(*quantize) (const float *x, float *y, int64_t n, const PiAttrs *at);

	/* DequantizeLinear of n codes: y = (x - zp) * scale (y may be x) */
	void		(*dequantize) (const float *x, float *y, int64_t n, float scale, float zp);

	/* out[i] = x[i * sx] op y[i * sy], i < n, for Add, Sub, Mul, Div; sx, sy 0 or 1 */
	void		(*arith) (PiOp op, const float *x, int64_t sx, const float *y, int64_t sy,
						  float *out, int64_t n);

	/* LayerNormalization of one row of len floats (bias may be NULL; y may be x) */
	void		(*layer_norm_row) (float *y, const float *x, int64_t len, const float *scale,
								   const float *bias, float eps);

	/* Softmax or LogSoftmax of rows contiguous rows of len floats (y may be x) */
	void		(*softmax_rows) (float *y, const float *x, int64_t rows, int64_t len, bool log_out);
} PiCpuKernels;

extern const PiCpuKernels pi_cpu_kernels_avx512;
extern const PiCpuKernels pi_cpu_kernels_avx2;
extern const PiCpuKernels pi_cpu_kernels_generic;

/*
 * The kernels for this CPU: the best instruction set it has, or the one
 * PG_INFER_CPU names (generic, avx2, avx512) when the CPU has that one.
 * Chosen on the first call.
 */
const PiCpuKernels *pi_cpu(void);

/* Whether an epilogue activation is one a GEMM tile applies itself. */
static inline bool
pi_tile_act(PiOp act)
{
	return act == PI_OP_IDENTITY || act == PI_OP_RELU || act == PI_OP_CLIP ||
		act == PI_OP_LEAKY_RELU;
}

/* Block b of the nb blocks of at most mr_max rows that rows rows split into. */
static inline void
pi_row_block(int64_t rows, int64_t nb, int64_t b, int64_t *r0, int *mr)
{
	int64_t		base = rows / nb,
				extra = rows % nb;

	*r0 = b * base + (b < extra ? b : extra);
	*mr = (int) (base + (b < extra ? 1 : 0));
}

/* Blocks of at most mr_max rows for rows rows. */
static inline int64_t
pi_row_blocks(int64_t rows, int mr_max)
{
	return (rows + mr_max - 1) / mr_max;
}

/* Rounds a float count up to a cache line. */
static inline int64_t
pi_line_up(int64_t floats)
{
	return (floats + 15) / 16 * 16;
}

/*
 * The weight of a Dense, Gemm or MatMul node as a [kdim, mdim] matrix
 * (trans: stored [mdim, kdim]); false when the tiles cannot take it (two
 * activations, a MatMul weight of rank over 2, a very large weight).
 */
bool		pi_gemm_weight_matrix(const PiModel *model, const PiNode *node, int64_t *kdim,
								  int64_t *mdim, bool *trans);

/*
 * The rows that a Dense, Gemm or MatMul by a constant weight multiplies
 * (MatMul: every leading axis of its activation), and the bias to add with
 * them: packed_bias (the packed form's, Gemm's scaled by beta) for Dense and
 * Gemm with one, the fused epilogue's for MatMul, else NULL.
 */
int64_t		pi_gemm_rows_and_bias(const PiKernelArgs *a, const float *packed_bias,
								  const float **bias);

/* Scratch bytes a Dense, Gemm or MatMul needs on the CPU for up to max_batch rows (op_gemm.c). */
int64_t		pi_gemm_cpu_scratch_bytes(const PiModel *model, const PiNode *node, int64_t max_batch);

/* Floats of a Dense, Gemm or MatMul weight packed in panels for the GEMM tiles (0: not packed). */
int64_t		pi_gemm_packed_floats(const PiModel *model, const PiNode *node);

/* Packs a Dense, Gemm or MatMul weight (and Gemm's scaled bias) into dst. */
void		pi_gemm_pack(const PiModel *model, const PiNode *node, float *dst);

/* Scratch bytes a Conv2D needs on the CPU for up to max_batch rows (op_conv.c). */
int64_t		pi_conv2d_cpu_scratch_bytes(const PiModel *model, const PiNode *node, int64_t max_batch);

/* Floats of a Conv2D's weights packed for the GEMM tiles (0: read as stored). */
int64_t		pi_conv2d_packed_floats(const PiModel *model, const PiNode *node);

/* Packs a Conv2D's weights for the GEMM tiles into dst. */
void		pi_conv2d_pack(const PiModel *model, const PiNode *node, float *dst);

/* Whether a Conv2D runs by Winograd F(2x2, 3x3) (conv_winograd.c). */
bool		pi_winograd_fits(const PiAttrs *at, const PiConvGeometry *geo);

/* Scratch floats of a Winograd convolution for kernels of vw floats per vector. */
int64_t		pi_winograd_scratch_floats(const PiConvGeometry *geo, int vw);

/* Transforms and packs the weights [M, C, 3, 3] of a Winograd convolution: 16 * M * C floats. */
void		pi_winograd_pack(const float *w, int64_t m, int64_t c, int mr_max, float *dst);

/* Runs a Conv2D by Winograd F(2x2, 3x3) over the batch. */
void		pi_winograd_run(const PiKernelArgs *a, const PiConvGeometry *geo);

/* Scratch bytes a MaxPool2D or AveragePool2D needs on the CPU (op_pool.c). */
int64_t		pi_pool_cpu_scratch_bytes(const PiModel *model, const PiNode *node, int64_t max_batch);

/* Applies a unary elementwise op to count floats (src/engine/op_unary.c; y may be x). */
void		pi_unary_apply(PiOp op, const PiAttrs *at, const float *x, float *y, int64_t count);

/* Applies the kernel's fused epilogue (residual, activation) to n outputs at offset. */
void		pi_epilogue_apply(const PiKernelArgs *a, float *y, int64_t offset, int64_t n);

#endif							/* PI_CPU_H */
