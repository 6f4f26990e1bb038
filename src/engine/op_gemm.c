/*
 * op_gemm.c
 *	  Dense, Gemm and MatMul on BLAS: one SGEMM per batch (SGEMV per row for
 *	  small batches); the bias is the SGEMM's initial output, a fused
 *	  residual and activation follow over the output.
 */
#include <string.h>

#include "cpu.h"
#include "pi_blas.h"

/*
 * Below this many rows one SGEMV per row beats one SGEMM: OpenBLAS's SGEMM
 * has a fixed cost per call (measured for a 784x512 layer: 207 us for one
 * row against 33 us for SGEMV; equal near 8 rows).
 */
#define GEMV_ROWS 8

/* Dense and Gemm: out[N,M] = alpha * X[N,K] W + beta * bias. */
void
pi_kernel_gemm(const PiKernelArgs *a)
{
	const PiNode *n = a->node;
	int64_t		rows = a->batch;
	int64_t		k = a->in_dims[0][1];
	int64_t		mdim = a->out_dims[1];
	bool		w_is_mk = (n->op == PI_OP_DENSE) || n->attrs.trans_b;
	float		alpha = (n->op == PI_OP_GEMM) ? n->attrs.alpha : 1.0f;
	float		beta = (n->op == PI_OP_GEMM) ? n->attrs.beta : 1.0f;
	float		acc = 0.0f;

	if (n->ninputs == 3)
	{
		for (int64_t r = 0; r < rows; r++)
			memcpy(a->out + r * mdim, a->in[2], sizeof(float) * mdim);
		acc = beta;
	}
	if (rows < GEMV_ROWS)
	{
		for (int64_t r = 0; r < rows; r++)
			pi_blas.sgemv(CblasRowMajor, w_is_mk ? CblasNoTrans : CblasTrans,
						  w_is_mk ? mdim : k, w_is_mk ? k : mdim,
						  alpha, a->in[1], w_is_mk ? k : mdim, a->in[0] + r * k, 1,
						  acc, a->out + r * mdim, 1);
	}
	else
		pi_blas.sgemm(CblasRowMajor, CblasNoTrans, w_is_mk ? CblasTrans : CblasNoTrans,
					  rows, mdim, k, alpha, a->in[0], k, a->in[1], w_is_mk ? k : mdim,
					  acc, a->out, mdim);
	if (a->epi != NULL)
		pi_epilogue_apply(a, a->out, 0, rows * mdim);
}

/*
 * MatMul: an activation times a weight [K,M] or [K] is one SGEMM over all
 * rows (starting from a fused bias); otherwise one SGEMM per matrix of the
 * broadcast stack dimensions.
 */
void
pi_kernel_matmul(const PiKernelArgs *a)
{
	int			ar = a->in_rank[0],
				br = a->in_rank[1];
	const int64_t *ad = a->in_dims[0],
			   *bd = a->in_dims[1];
	int64_t		k = ad[ar - 1];
	int64_t		rows = ar > 1 ? ad[ar - 2] : 1;
	int64_t		cols = br > 1 ? bd[br - 1] : 1;
	int			as = ar > 2 ? ar - 2 : 0,
				bs = br > 2 ? br - 2 : 0;
	int			lead = as > bs ? as : bs;
	int64_t		sa[PI_MAX_RANK],
				sb[PI_MAX_RANK],
				idx[PI_MAX_RANK] = {0};
	int64_t		mats = 1;
	const float *pa = a->in[0],
			   *pb = a->in[1];
	float	   *y = a->out;

	if (a->model->values[a->node->inputs[1]].kind == PI_VALUE_WEIGHT &&
		a->model->values[a->node->inputs[0]].kind != PI_VALUE_WEIGHT && br <= 2)
	{
		int64_t		all_rows = 1;

		for (int i = 0; i < ar - 1; i++)
			all_rows *= ad[i];
		if (a->epi != NULL && a->epi->bias >= 0)
			for (int64_t r = 0; r < all_rows; r++)
				memcpy(a->out + r * cols, a->model->values[a->epi->bias].data, sizeof(float) * cols);
		pi_blas.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, all_rows, cols, k,
					  1.0f, a->in[0], k, a->in[1], cols,
					  (a->epi != NULL && a->epi->bias >= 0) ? 1.0f : 0.0f, a->out, cols);
		if (a->epi != NULL)
			pi_epilogue_apply(a, a->out, 0, all_rows * cols);
		return;
	}
	pi_broadcast_strides(ad, as, lead, sa);
	pi_broadcast_strides(bd, bs, lead, sb);
	for (int i = 0; i < lead; i++)
		mats *= a->out_dims[i];
	for (int64_t mat = 0; mat < mats; mat++)
	{
		pi_blas.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, k,
					  1.0f, pa, k, pb, cols, 0.0f, y, cols);
		y += rows * cols;
		for (int d = lead - 1; d >= 0; d--)
		{
			pa += sa[d] * rows * k;
			pb += sb[d] * k * cols;
			if (++idx[d] < a->out_dims[d])
				break;
			pa -= sa[d] * rows * k * a->out_dims[d];
			pb -= sb[d] * k * cols * a->out_dims[d];
			idx[d] = 0;
		}
	}
	if (a->epi != NULL)
		pi_epilogue_apply(a, a->out, 0, mats * rows * cols);
}
