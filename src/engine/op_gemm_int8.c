/*
 * op_gemm_int8.c
 *	  Dense, Gemm and MatMul by a constant weight in a model of precision
 *	  int8 (int8.h): the executor quantizes and packs the weight once, per
 *	  output column; each call quantizes blocks of input rows, each row with
 *	  its own scale (so a row's result does not depend on the rows batched
 *	  with it), multiplies them in int32 and writes float32 outputs with the
 *	  bias, then the fused residual and activation as the float path does.
 *	  In a QDQ model, an input that a DequantizeLinear produces holds exact
 *	  codes: they are the operand as they are (with their zero point), and
 *	  the weight's codes come back exactly where the file quantized it
 *	  symmetrically per output channel.  A layer of a quantize_dynamic file
 *	  quantizes each row as ONNX's DynamicQuantizeLinear does a tensor.
 */
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "int8.h"

/* Input rows quantized per block (bounds the scratch). */
#define QUANT_ROWS 256

/* K rounded up to a group of 4. */
static int64_t
padded_k(int64_t kdim)
{
	return (kdim + 3) / 4 * 4;
}

/* Panels of PI_INT8_PANEL columns for mdim columns. */
static int64_t
panels(int64_t mdim)
{
	return (mdim + PI_INT8_PANEL - 1) / PI_INT8_PANEL;
}

/*
 * The DequantizeLinear node that produces the node's input 0, or NULL: the
 * input then holds exact codes, (c - zero_point) * scale (a QDQ model).
 */
static const PiNode *
dequantized_input(const PiModel *model, const PiNode *node)
{
	int			p = model->values[node->inputs[0]].producer;

	return (p >= 0 && model->nodes[p].op == PI_OP_DEQUANTIZE) ? &model->nodes[p] : NULL;
}

/*
 * Whether a node runs on the int8 path: a Dense, Gemm or MatMul by a
 * weight, in an int8 model, marked dynamic_int8 (a quantize_dynamic file)
 * or over the output of a DequantizeLinear.
 */
bool
pi_gemm_int8_applies(const PiModel *model, const PiNode *node)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	return pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans) && kdim <= PI_INT8_MAX_K &&
		(model->precision == PI_PRECISION_INT8 || node->attrs.dynamic_int8 ||
		 dequantized_input(model, node) != NULL);
}

/* Floats (4 bytes each) that the node's packed int8 weight takes. */
int64_t
pi_gemm_int8_packed_floats(const PiModel *model, const PiNode *node)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	if (!pi_gemm_int8_applies(model, node))
		return 0;
	pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans);
	/* the int8 panels, then scale and corr per padded column, then the bias */
	return panels(mdim) * PI_INT8_PANEL * padded_k(kdim) / 4 + 2 * panels(mdim) * PI_INT8_PANEL + mdim;
}

/* The arrays within a packed int8 weight of kdim x mdim. */
static PiInt8Weights
packed_weights(const void *packed, int64_t kdim, int64_t mdim)
{
	PiInt8Weights w;
	int64_t		cols = panels(mdim) * PI_INT8_PANEL;

	w.kp = padded_k(kdim);
	w.mdim = mdim;
	w.q = packed;
	w.scale = (const float *) (w.q + cols * w.kp);
	w.corr = (const int32_t *) (w.scale + cols);
	w.bias = (const float *) (w.corr + cols);
	return w;
}

/*
 * The one scale s = max |alpha w| / 127 of a weight whose every element
 * is an integer multiple of it (a weight quantized per tensor, symmetric,
 * then dequantized), or 0 when there is none; its codes are then the
 * file's exactly, where per-column scales would quantize them again.
 */
float
pi_int8_whole_scale(const float *w, int64_t n, float alpha)
{
	float		amax = 0.0f;

	for (int64_t i = 0; i < n; i++)
	{
		if (!isfinite(w[i]))
			return 0.0f;
		amax = fmaxf(amax, fabsf(alpha * w[i]));
	}
	if (amax == 0.0f)
		return 0.0f;
	for (int64_t i = 0; i < n; i++)
	{
		float		v = alpha * w[i] * (127.0f / amax);

		if (fabsf(v - nearbyintf(v)) > 1e-3f)
			return 0.0f;
	}
	return amax / 127.0f;
}

/*
 * Quantizes and packs the node's weight (and Gemm's scaled bias) into dst:
 * per output column, or with the weight's one scale in a quantized ONNX
 * model where it has one (pi_int8_whole_scale).
 */
void
pi_gemm_int8_pack(const PiModel *model, const PiNode *node, void *dst)
{
	const float *w = model->values[node->inputs[1]].data;
	float		alpha = node->op == PI_OP_GEMM ? node->attrs.alpha : 1.0f;
	float		beta = node->op == PI_OP_GEMM ? node->attrs.beta : 1.0f;
	int64_t		kdim = 0,
				mdim = 0;
	bool		trans = false;
	PiInt8Weights pw;
	int8_t	   *q;
	float	   *scale;
	int32_t    *corr;
	float	   *bias;
	float		whole;

	pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans);
	pw = packed_weights(dst, kdim, mdim);
	q = (int8_t *) pw.q;
	scale = (float *) pw.scale;
	corr = (int32_t *) pw.corr;
	bias = (float *) pw.bias;
	memset(q, 0, panels(mdim) * PI_INT8_PANEL * pw.kp);
	memset(scale, 0, 2 * sizeof(float) * panels(mdim) * PI_INT8_PANEL);
	whole = dequantized_input(model, node) != NULL || node->attrs.dynamic_int8 ?
		pi_int8_whole_scale(w, kdim * mdim, alpha) : 0.0f;
	for (int64_t j = 0; j < mdim; j++)
	{
		int64_t		p = j / PI_INT8_PANEL,
					c = j % PI_INT8_PANEL;
		float		amax = 0.0f,
					inv;
		int32_t		sum = 0;
		bool		finite = true;

		for (int64_t k = 0; k < kdim; k++)
		{
			float		v = alpha * (trans ? w[j * kdim + k] : w[k * mdim + j]);

			amax = fmaxf(amax, fabsf(v));
			finite &= isfinite(v) != 0;
		}
		if (whole > 0.0f)
			amax = whole * 127.0f;
		/* a column with a NaN or an infinity gives NaN, as a row does */
		scale[j] = finite ? amax / 127.0f : NAN;
		inv = finite && amax > 0.0f ? 127.0f / amax : 0.0f;
		for (int64_t k = 0; k < kdim; k++)
		{
			float		v = alpha * (trans ? w[j * kdim + k] : w[k * mdim + j]) * inv;
			int32_t		r = pi_int8_code(v);

			q[(p * pw.kp / 4 + k / 4) * PI_INT8_PANEL * 4 + c * 4 + k % 4] = (int8_t) r;
			sum += r;
		}
		corr[j] = 128 * sum;
		bias[j] = (node->op != PI_OP_MATMUL && node->ninputs == 3) ?
			beta * model->values[node->inputs[2]].data[j] : 0.0f;
	}
}

/*
 * Scratch bytes the int8 path of the node needs (row scales, quantized
 * rows, the corrections for the zero point of dequantized inputs, and the
 * rows' zero points in a quantize_dynamic layer).
 */
int64_t
pi_gemm_int8_scratch_bytes(const PiModel *model, const PiNode *node)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	if (!pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans))
		return 0;
	return QUANT_ROWS * (int64_t) (sizeof(float) + sizeof(int32_t)) +
		panels(mdim) * PI_INT8_PANEL * (int64_t) sizeof(int32_t) + QUANT_ROWS * padded_k(kdim);
}

/*
 * See int8.h.  The largest positive value and the largest magnitude of a
 * negative one are found by their bits, as unsigned integers (which order
 * them as the floats; so the loop vectorizes); a NaN or an infinity is
 * the largest of all.
 */
bool
pi_int8_dynamic_params(const float *x, int64_t n, float *scale, float *zero_point)
{
	uint32_t	pos = 0,
				neg = 0;

	for (int64_t k = 0; k < n; k++)
	{
		uint32_t	b,
					p,
					q;

		memcpy(&b, &x[k], sizeof(b));
		p = b & ((b >> 31) - 1u);	/* the bits of a positive value, else 0 */
		q = (b & 0x7fffffffu) & (0u - (b >> 31));	/* |x| of a negative one, else 0 */
		pos = p > pos ? p : pos;
		neg = q > neg ? q : neg;
	}
	return pi_int8_dynamic_range(pos, neg, scale, zero_point);
}

/* See int8.h: pi_int8_dynamic_step over [min(0, x), max(0, x)]. */
bool
pi_int8_dynamic_range(uint32_t pos, uint32_t neg, float *scale, float *zero_point)
{
	float		lo,
				hi;

	memcpy(&hi, &pos, sizeof(hi));
	memcpy(&lo, &neg, sizeof(lo));
	pi_int8_dynamic_step(-lo, hi, scale, zero_point);
	return pos < 0x7f800000u && neg < 0x7f800000u;
}

/*
 * The int8 product of rows quantized by quantize_asymmetric: each run of rows
 * with one zero point in one call, its correction zero point * column sum.
 */
static void
gemm_by_zero_point(const PiInt8Kernels *k, const uint8_t *u, int64_t rows, const float *xs,
				   const int32_t *zp, const PiInt8Weights *packed, int32_t *corr, int64_t mdim,
				   const float *bias, const PiAttrs *quant, float *y)
{
	PiInt8Weights w = *packed;

	w.corr = corr;
	for (int64_t r = 0, end; r < rows; r = end)
	{
		for (end = r + 1; end < rows && zp[end] == zp[r]; end++)
			;
		for (int64_t j = 0; j < panels(mdim) * PI_INT8_PANEL; j++)
			corr[j] = packed->corr[j] / 128 * zp[r];
		k->gemm(u + r * w.kp, end - r, xs + r, &w, bias, quant, y + r * mdim, mdim);
	}
}

/* y[rows, mdim] = x[rows, kdim] times the packed weight plus bias, then the fused epilogue. */
static void
run_int8(const PiKernelArgs *a, const float *x, int64_t rows, int64_t kdim, int64_t mdim,
		 const float *bias, float *y)
{
	const PiInt8Kernels *k = pi_int8_kernels();
	PiInt8Weights w = packed_weights(a->packed, kdim, mdim);
	const PiNode *dq = dequantized_input(a->model, a->node);
	float	   *xs = a->scratch;
	int32_t    *zp = (int32_t *) (xs + QUANT_ROWS);
	int32_t    *corr = zp + QUANT_ROWS;
	uint8_t    *u = (uint8_t *) (corr + panels(mdim) * PI_INT8_PANEL);

	/* a QuantizeLinear after it (with no residual before) runs in the kernels' epilogue */
	const PiAttrs *quant = a->epi != NULL && a->epi->act == PI_OP_QUANTIZE &&
		a->residual == NULL ? &a->epi->act_attrs : NULL;

	if (dq != NULL)
	{
		/* the operand is c (+ 128): take out its zero point, not 128 */
		int32_t		offset = dq->attrs.quant_zero_point + (dq->attrs.quant_signed ? 128 : 0);

		for (int64_t j = 0; j < panels(mdim) * PI_INT8_PANEL; j++)
			corr[j] = w.corr[j] / 128 * offset;
		w.corr = corr;
	}
	for (int64_t r0 = 0; r0 < rows; r0 += QUANT_ROWS)
	{
		int64_t		count = rows - r0 < QUANT_ROWS ? rows - r0 : QUANT_ROWS;

		pi_check_interrupts();
		if (dq == NULL && a->node->attrs.dynamic_int8)
		{
			k->quantize_asymmetric(x + r0 * kdim, count, kdim, w.kp, u, xs, zp);
			gemm_by_zero_point(k, u, count, xs, zp, &w, corr, mdim, bias, quant, y + r0 * mdim);
		}
		else
		{
			if (dq != NULL)
				k->codes(x + r0 * kdim, count, kdim, w.kp, dq->attrs.quant_scale,
						 dq->attrs.quant_zero_point + (dq->attrs.quant_signed ? 128 : 0), u, xs);
			else
				k->quantize(x + r0 * kdim, count, kdim, w.kp, u, xs);
			k->gemm(u, count, xs, &w, bias, quant, y + r0 * mdim, mdim);
		}
		if (a->epi != NULL && quant == NULL)
			pi_epilogue_apply(a, y, r0 * mdim, count * mdim);
	}
}

/* Runs a Dense, Gemm or MatMul on the int8 path (a->packed from pi_gemm_int8_pack). */
void
pi_kernel_gemm_int8(const PiKernelArgs *a)
{
	int64_t		kdim,
				mdim,
				rows;
	bool		trans;
	const float *bias;

	pi_gemm_weight_matrix(a->model, a->node, &kdim, &mdim, &trans);
	rows = pi_gemm_rows_and_bias(a, packed_weights(a->packed, kdim, mdim).bias, &bias);
	run_int8(a, a->in[0], rows, kdim, mdim, bias, a->out);
}
