/*
 * int8.h
 *	  The int8 path of Dense, Gemm and MatMul with a constant weight, for
 *	  models of precision int8 (op_gemm_int8.c), and its inner loops, one
 *	  table per instruction set (int8_kernels.c).  Internal to src/engine.
 *
 * A weight [K, M] is quantized symmetrically per output column j:
 * q[k][j] = round(w[k][j] / ws[j]) in [-127, 127], ws[j] = max_k |w[k][j]| /
 * 127.  Each input row r is quantized the same way with its own scale xs[r]
 * and stored offset by 128 as unsigned bytes (u = q + 128), the operand
 * form of the u8 x s8 dot-product instructions; a per-column correction
 * corr[j] = 128 * sum_k q[k][j] takes the offset back out:
 *
 *	 y[r][j] = (sum_k u[r][k] * q[k][j] - corr[j]) * xs[r] * ws[j] + bias[j]
 *
 * The sum is exact in int32 (K * 255 * 127 stays below 2^31 for K under
 * 66,000, which pi_gemm_int8_applies requires).
 *
 * Packed weights (bytes): panels of PI_INT8_PANEL columns; in a panel,
 * groups of 4 rows k (K padded with zero rows to kp, a multiple of 4); in
 * a group, for each column its 4 bytes q[4g..4g+3][j].  Then ws and corr,
 * npanels * PI_INT8_PANEL of each (zero past M), then Gemm's bias scaled
 * by beta (M floats; zeros without one).
 */
#ifndef PI_INT8_H
#define PI_INT8_H

#include "pi_engine.h"

/* Columns per panel: 4 vectors of 16 int32 lanes. */
#define PI_INT8_PANEL 64

/* Most rows K of a quantized weight (int32 sums cannot overflow below it). */
#define PI_INT8_MAX_K 65536

/* A quantized weight as packed, and the arrays within it. */
typedef struct PiInt8Weights
{
	const int8_t *q;			/* the panels */
	const float *scale;			/* ws[j] */
	const int32_t *corr;		/* 128 * sum_k q[k][j] */
	const float *bias;			/* M floats */
	int64_t		kp;				/* K rounded up to 4 */
	int64_t		mdim;
} PiInt8Weights;

typedef struct PiInt8Kernels
{
	const char *name;			/* "vnni" or "generic" */

	/*
	 * Quantizes rows of x (kdim floats each) to u (kp bytes each: q + 128,
	 * the padding 128) with scales xs.  A row with a NaN or an infinity
	 * gets a NaN scale, so that all its outputs are NaN (as a float
	 * product would make them, or infinite: NaN says the row was not
	 * finite).
	 */
	void		(*quantize) (const float *x, int64_t rows, int64_t kdim, int64_t kp, uint8_t *u,
							 float *xs);

	/*
	 * Quantizes rows of x (kdim floats each) to u (kp bytes each, the
	 * padding 0) as ONNX's DynamicQuantizeLinear quantizes a tensor, each
	 * row alone: uint8 codes round(x / xs) + zp (half to even, saturated),
	 * xs and zp from pi_int8_dynamic_range.  A row with a NaN or an
	 * infinity gets a NaN scale and zero point 0.
	 */
	void		(*quantize_asymmetric) (const float *x, int64_t rows, int64_t kdim, int64_t kp,
										uint8_t *u, float *xs, int32_t *zp);

	/*
	 * The u8 operand of rows of x holding exact codes, x = (c - zp) *
	 * scale (a DequantizeLinear's output): u = round(x / scale) + offset
	 * (offset: zp for uint8 codes, zp + 128 for int8 ones), saturated to
	 * [0, 255], the padding 0 (the weight's padding rows are zero).  xs is
	 * the scale, NaN for a row with a NaN or an infinity.
	 */
	void		(*codes) (const float *x, int64_t rows, int64_t kdim, int64_t kp, float scale,
						  int32_t offset, uint8_t *u, float *xs);

	/*
	 * y[r * ldy + j] for rows r < rows and columns j < w->mdim, by the
	 * formula above, from u (rows of w->kp bytes) and row scales xs; bias
	 * (M floats) may be NULL; quant, when not NULL, a QuantizeLinear of
	 * each output (pi_quantize_value).
	 */
	void		(*gemm) (const uint8_t *u, int64_t rows, const float *xs, const PiInt8Weights *w,
						 const float *bias, const PiAttrs *quant, float *y, int64_t ldy);
} PiInt8Kernels;

/*
 * v rounded half to even, for |v| < 2^22 (codes, after saturation): in
 * the default rounding mode, adding and taking off 1.5 * 2^23 leaves the
 * rounded value, in arithmetic that vectorizes (nearbyintf may not); NaN
 * stays NaN.
 */
static inline float
pi_round_code(float v)
{
	return (v + 12582912.0f) - 12582912.0f;
}

/*
 * QuantizeLinear of v as at says, as the CPU kernels' quantize computes it
 * (cpu.h): round(clamp(v / scale)) plus the zero point, or with
 * quant_dequantized the value that code stands for.
 */
static inline float
pi_quantize_value(float v, const PiAttrs *at)
{
	float		zp = (float) at->quant_zero_point;
	float		lo = (at->quant_signed ? -128.0f : 0.0f) - zp,
				hi = (at->quant_signed ? 127.0f : 255.0f) - zp;

	/* NaN stays NaN: it compares false */
	v = v / at->quant_scale;
	v = v < lo ? lo : v;
	v = pi_round_code(v > hi ? hi : v);
	return at->quant_dequantized ? v * at->quant_scale : v + zp;
}

/*
 * The scale and zero point ONNX's DynamicQuantizeLinear gives n values
 * (here: one row): over [min(0, min x), max(0, max x)], scale (max - min)
 * / 255 (1 when that is 0), zero point round(-min / scale); false when a
 * value is not finite.
 */
bool		pi_int8_dynamic_params(const float *x, int64_t n, float *scale, float *zero_point);

/*
 * The same from the bits of the largest positive value (pos, 0 for none)
 * and of the largest magnitude of a negative one (neg), as unsigned
 * integers (which order finite floats as their values): what
 * pi_int8_dynamic_params finds, for the vector kernels that find them too.
 */
bool		pi_int8_dynamic_range(uint32_t pos, uint32_t neg, float *scale, float *zero_point);

/*
 * The scale and zero point of DynamicQuantizeLinear over [lo, hi] (lo <= 0
 * <= hi, both finite): scale (hi - lo) / 255, 1 when that is 0; zero
 * point round(-lo / scale), saturated to [0, 255].
 */
static inline void
pi_int8_dynamic_step(float lo, float hi, float *scale, float *zero_point)
{
	float		z;

	*scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
	z = -lo / *scale;
	*zero_point = pi_round_code(z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z);
}

/* The uint8 code of v at that scale and zero point: round(v / scale) + zero point in [0, 255]. */
static inline float
pi_int8_dynamic_code(float v, float scale, float zero_point)
{
	float		c = pi_round_code(v / scale) + zero_point;

	c = c >= 0.0f ? c : 0.0f;
	return c <= 255.0f ? c : 255.0f;
}

extern const PiInt8Kernels pi_int8_kernels_vnni;
extern const PiInt8Kernels pi_int8_kernels_generic;

/*
 * The int8 kernels for this CPU: the VNNI ones where the float kernels are
 * the AVX-512 ones (cpu.c, PG_INFER_CPU) and the CPU has AVX512-VNNI and
 * AVX512BW, the portable ones otherwise.
 */
const PiInt8Kernels *pi_int8_kernels(void);

/* Whether a node runs on the int8 path: a Dense, Gemm or MatMul by a weight, in an int8 model, marked dynamic_int8 or over a DequantizeLinear. */
bool		pi_gemm_int8_applies(const PiModel *model, const PiNode *node);

/* Floats (4 bytes each) that the node's packed int8 weight takes. */
int64_t		pi_gemm_int8_packed_floats(const PiModel *model, const PiNode *node);

/* Quantizes and packs the node's weight (and Gemm's scaled bias) into dst. */
void		pi_gemm_int8_pack(const PiModel *model, const PiNode *node, void *dst);

/* Scratch bytes the int8 path of the node needs (quantized rows and their scales). */
int64_t		pi_gemm_int8_scratch_bytes(const PiModel *model, const PiNode *node);

/* Runs a Dense, Gemm or MatMul on the int8 path (a->packed from pi_gemm_int8_pack). */
void		pi_kernel_gemm_int8(const PiKernelArgs *a);

/*
 * The int8 convolution (op_conv_int8.c): per image, the input is quantized
 * asymmetrically to u8 codes as ONNX's DynamicQuantizeLinear quantizes a
 * tensor (pi_int8_dynamic_step: step xs over [min(x, 0), max(x, 0)],
 * "zero" the code of 0.0; in a QDQ model, the codes of the
 * DequantizeLinear that produces it) and laid out padded with zero and
 * split by stride phase,
 * so that each group of 4 bytes of a position holds 4 input channels of a
 * set, or a channel's 4 values along x from the position on ("x4", for
 * few channels): the 4 bytes of k-group g of output position q are at
 * off[g] + 4 q, and 16 positions are one 64-byte vector.  Weights are
 * quantized symmetrically per output channel; the output is
 *
 *	 y[m][q] = (sum_k u[k][q] * w[m][k] - zero * wsum[m]) * xs * ws[m] + bias[m]
 *
 * with positions q laid out over the phase plane's width: those past the
 * output's width are computed and dropped.
 */
typedef struct PiInt8Layout
{
	int64_t		c,				/* the image */
				h,
				w;
	int64_t		cg;				/* channels per group */
	int64_t		pt,				/* pads before, top and left */
				pl;
	int64_t		sy,				/* strides: phases of sy x sx planes */
				sx;
	int64_t		wq;				/* width of a phase plane, in positions */
	int64_t		plane_bytes;	/* one phase plane of one set */
	int64_t		group_bytes;
	int64_t		bytes;			/* all groups and the slack after them */
	bool		x4;				/* sets of one channel, 4 values along x */
} PiInt8Layout;

typedef struct PiInt8Conv
{
	const uint8_t *src;			/* the group's laid-out input */
	const int64_t *off;			/* byte offset of each k-group at position 0 */
	int64_t		kgroups;
	const int8_t *q;			/* mdim rows of 4 * kgroups codes */
	const float *scale;			/* ws[m] */
	const int32_t *wsum;		/* sum of row m's codes */
	const float *bias;			/* mdim floats, or NULL */
	int32_t		zero;			/* the input's code of 0.0 */
	float		xs;				/* the input's scale (NaN: not finite) */
	int64_t		mdim;
	int64_t		npos;			/* positions computed */
	const uint16_t *vmask;		/* per 16 positions: bits of those that are outputs */
	const int64_t *vout;		/* per 16 positions: output index of the first of them */
	float	   *y;				/* output channel m at y + m * ldy */
	int64_t		ldy;
	const PiAttrs *quant;		/* a QuantizeLinear of each output (pi_quantize_value), or NULL */
} PiInt8Conv;

typedef struct PiInt8ConvKernels
{
	const char *name;			/* "vnni" or "generic" */

	/* min(x, 0) and max(x, 0) of n floats; false when one is a NaN or an infinity. */
	bool		(*range) (const float *x, int64_t n, float *lo, float *hi);

	/*
	 * Lays out an image x as l says, each value's code
	 * round(clamp(x / step, -zero, 255 - zero)) + zero (a true division,
	 * half to even, as DynamicQuantizeLinear and QuantizeLinear round).
	 */
	void		(*lay_out) (const PiInt8Layout *l, const float *x, float step, int32_t zero,
							uint8_t *buf);

	/* Every output of one group of a convolution of one image, as above. */
	void		(*conv) (const PiInt8Conv *c);
} PiInt8ConvKernels;

extern const PiInt8ConvKernels pi_int8_conv_kernels_vnni;
extern const PiInt8ConvKernels pi_int8_conv_kernels_generic;

/* The int8 convolution kernels for this CPU: VNNI where pi_int8_kernels() is. */
const PiInt8ConvKernels *pi_int8_conv_kernels(void);

/*
 * Whether a Conv2D runs on the int8 path: constant weights, in an int8
 * model (not depthwise) or over a DequantizeLinear (not depthwise), or
 * marked dynamic_int8.
 */
bool		pi_conv_int8_applies(const PiModel *model, const PiNode *node);

/* Floats (4 bytes each) that the node's packed int8 convolution weights take. */
int64_t		pi_conv_int8_packed_floats(const PiModel *model, const PiNode *node);

/* Quantizes and packs the node's convolution weights and bias into dst. */
void		pi_conv_int8_pack(const PiModel *model, const PiNode *node, void *dst);

/* Scratch bytes the node's int8 convolution needs (one image at a time). */
int64_t		pi_conv_int8_scratch_bytes(const PiModel *model, const PiNode *node);

/* Runs a Conv2D on the int8 path (a->packed from pi_conv_int8_pack). */
void		pi_kernel_conv_int8(const PiKernelArgs *a);

/*
 * The one scale s = max |alpha w| / 127 of a weight whose every element is
 * an integer multiple of it (quantized per tensor, symmetric), or 0.
 */
float		pi_int8_whole_scale(const float *w, int64_t n, float alpha);

#endif							/* PI_INT8_H */
