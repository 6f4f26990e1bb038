/*
 * op_gemm_bf16.c
 *	  Dense, Gemm and MatMul by a constant weight in a model of precision
 *	  bf16 (bf16.h): the executor rounds and packs the weight once; each
 *	  call rounds blocks of input rows to bf16, multiplies them with float32
 *	  sums and adds the bias, then the fused residual and activation as the
 *	  float path does.
 */
#include <string.h>

#include "bf16.h"
#include "cpu.h"

/* Input rows rounded per block (bounds the scratch). */
#define ROUND_ROWS 256

/* K rounded up to a pair. */
static int64_t
padded_k(int64_t kdim)
{
	return (kdim + 1) / 2 * 2;
}

/* Panels of PI_BF16_PANEL columns for mdim columns. */
static int64_t
panels(int64_t mdim)
{
	return (mdim + PI_BF16_PANEL - 1) / PI_BF16_PANEL;
}

/* Whether a node runs on the bf16 path. */
bool
pi_gemm_bf16_applies(const PiModel *model, const PiNode *node)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	return model->precision == PI_PRECISION_BF16 && pi_bf16_available() &&
		pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans);
}

/* Floats (4 bytes each) that the node's packed bf16 weight takes. */
int64_t
pi_gemm_bf16_packed_floats(const PiModel *model, const PiNode *node)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	if (!pi_gemm_bf16_applies(model, node))
		return 0;
	pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans);
	/* two bf16 a float: the panels, then the bias */
	return panels(mdim) * PI_BF16_PANEL * padded_k(kdim) / 2 + mdim;
}

/* The arrays within a packed bf16 weight of kdim x mdim. */
static PiBf16Weights
packed_weights(const void *packed, int64_t kdim, int64_t mdim)
{
	PiBf16Weights w;

	w.kp = padded_k(kdim);
	w.mdim = mdim;
	w.w = packed;
	w.bias = (const float *) (w.w + panels(mdim) * PI_BF16_PANEL * w.kp);
	return w;
}

/* Rounds and packs the node's weight (and Gemm's scaled bias) into dst. */
void
pi_gemm_bf16_pack(const PiModel *model, const PiNode *node, void *dst)
{
	const float *w = model->values[node->inputs[1]].data;
	float		alpha = node->op == PI_OP_GEMM ? node->attrs.alpha : 1.0f;
	float		beta = node->op == PI_OP_GEMM ? node->attrs.beta : 1.0f;
	int64_t		kdim = 0,
				mdim = 0;
	bool		trans = false;
	PiBf16Weights pw;
	uint16_t   *out;
	float	   *bias;

	pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans);
	pw = packed_weights(dst, kdim, mdim);
	out = (uint16_t *) pw.w;
	bias = (float *) pw.bias;
	memset(out, 0, sizeof(uint16_t) * panels(mdim) * PI_BF16_PANEL * pw.kp);
	for (int64_t j = 0; j < mdim; j++)
	{
		int64_t		p = j / PI_BF16_PANEL,
					c = j % PI_BF16_PANEL;

		for (int64_t k = 0; k < kdim; k++)
			out[(p * pw.kp / 2 + k / 2) * PI_BF16_PANEL * 2 + c * 2 + k % 2] =
				pi_bf16_bits(alpha * (trans ? w[j * kdim + k] : w[k * mdim + j]));
		bias[j] = (node->op != PI_OP_MATMUL && node->ninputs == 3) ?
			beta * model->values[node->inputs[2]].data[j] : 0.0f;
	}
}

/* Scratch bytes the bf16 path of the node needs (rounded rows). */
int64_t
pi_gemm_bf16_scratch_bytes(const PiModel *model, const PiNode *node)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	if (!pi_gemm_weight_matrix(model, node, &kdim, &mdim, &trans))
		return 0;
	return ROUND_ROWS * padded_k(kdim) * (int64_t) sizeof(uint16_t);
}

/* y[rows, mdim] = x[rows, kdim] times the packed weight plus bias, then the fused epilogue. */
static void
run_bf16(const PiKernelArgs *a, const float *x, int64_t rows, int64_t kdim, int64_t mdim,
		 const float *bias, float *y)
{
	PiBf16Weights w = packed_weights(a->packed, kdim, mdim);
	uint16_t   *xb = (uint16_t *) a->scratch;

	for (int64_t r0 = 0; r0 < rows; r0 += ROUND_ROWS)
	{
		int64_t		count = rows - r0 < ROUND_ROWS ? rows - r0 : ROUND_ROWS;

		pi_check_interrupts();
		pi_bf16_round_rows(x + r0 * kdim, count, kdim, w.kp, xb);
		pi_bf16_gemm(xb, count, &w, bias, y + r0 * mdim, mdim);
		if (a->epi != NULL)
			pi_epilogue_apply(a, y, r0 * mdim, count * mdim);
	}
}

/* Runs a Dense, Gemm or MatMul on the bf16 path (a->packed from pi_gemm_bf16_pack). */
void
pi_kernel_gemm_bf16(const PiKernelArgs *a)
{
	int64_t		kdim,
				mdim,
				rows;
	bool		trans;
	const float *bias;

	pi_gemm_weight_matrix(a->model, a->node, &kdim, &mdim, &trans);
	rows = pi_gemm_rows_and_bias(a, packed_weights(a->packed, kdim, mdim).bias, &bias);
	run_bf16(a, a->in[0], rows, kdim, mdim, bias, a->out);
}
