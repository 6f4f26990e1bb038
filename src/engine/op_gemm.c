/*
 * op_gemm.c
 *	  Dense, Gemm and MatMul.  An activation times a weight runs on the GEMM
 *	  tiles of cpu.h: the executor packs the weight once, transposed into
 *	  panels of 2 vectors of output columns ([K][panel] each, alpha folded
 *	  in, Gemm's bias scaled by beta after them); each call packs blocks of
 *	  input rows column by column, and the tiles write each output once with
 *	  the bias and the fused activation.  Everything else (a product of two
 *	  activations, a fused residual) runs on BLAS: one SGEMM per batch (SGEMV
 *	  per row for small batches), the epilogue after it.
 */
#include <string.h>

#include "cpu.h"
#include "pi_blas.h"

/* Input rows packed per pass of the tiles (bounds the scratch). */
#define PACK_ROWS 256

/* Weights above this many floats stay as stored, for BLAS. */
#define PACK_MAX_FLOATS (16 * 1024 * 1024)

/*
 * Below this many rows one SGEMV per row beats one SGEMM: OpenBLAS's SGEMM
 * has a fixed cost per call (measured for a 784x512 layer: 207 us for one
 * row against 33 us for SGEMV; equal near 8 rows).
 */
#define GEMV_ROWS 8

/*
 * The weight of a Dense, Gemm or MatMul node that the tiles can take, as a
 * [kdim, mdim] matrix (trans: stored [mdim, kdim]); false when there is
 * none (two activations, or a MatMul weight of rank over 2).
 */
static bool
weight_matrix(const PiModel *m, const PiNode *n, int64_t *kdim, int64_t *mdim, bool *trans)
{
	const PiValue *w = &m->values[n->inputs[1]];

	if (w->kind != PI_VALUE_WEIGHT || m->values[n->inputs[0]].kind == PI_VALUE_WEIGHT ||
		w->numel > PACK_MAX_FLOATS)
		return false;
	switch (n->op)
	{
		case PI_OP_DENSE:
		case PI_OP_GEMM:
			*trans = n->op == PI_OP_DENSE || n->attrs.trans_b;
			*kdim = *trans ? w->dims[1] : w->dims[0];
			*mdim = *trans ? w->dims[0] : w->dims[1];
			return true;
		case PI_OP_MATMUL:
			if (w->rank > 2)
				return false;
			*trans = false;
			*kdim = w->dims[0];
			*mdim = w->rank == 2 ? w->dims[1] : 1;
			return true;
		default:
			return false;
	}
}

/* The weight of a Dense, Gemm or MatMul node as a [kdim, mdim] matrix, as the tiles take it (cpu.h). */
bool
pi_gemm_weight_matrix(const PiModel *model, const PiNode *node, int64_t *kdim, int64_t *mdim, bool *trans)
{
	return weight_matrix(model, node, kdim, mdim, trans);
}

/* The rows of a Dense, Gemm or MatMul by a constant weight and the bias to add (cpu.h). */
int64_t
pi_gemm_rows_and_bias(const PiKernelArgs *a, const float *packed_bias, const float **bias)
{
	int64_t		rows = 1;

	if (a->node->op != PI_OP_MATMUL)
	{
		*bias = a->node->ninputs == 3 ? packed_bias : NULL;
		return a->batch;
	}
	for (int i = 0; i < a->in_rank[0] - 1; i++)
		rows *= a->in_dims[0][i];
	*bias = (a->epi != NULL && a->epi->bias >= 0) ? a->model->values[a->epi->bias].data : NULL;
	return rows;
}

/* Floats of a Dense, Gemm or MatMul weight packed in panels for the GEMM tiles (0: not packed). */
int64_t
pi_gemm_packed_floats(const PiModel *model, const PiNode *node)
{
	int			panel = 2 * pi_cpu()->vw;
	int64_t		kdim,
				mdim;
	bool		trans;

	if (!weight_matrix(model, node, &kdim, &mdim, &trans))
		return 0;
	return (mdim + panel - 1) / panel * panel * kdim + mdim;
}

/* Packs a Dense, Gemm or MatMul weight (and Gemm's scaled bias) into dst. */
void
pi_gemm_pack(const PiModel *model, const PiNode *node, float *dst)
{
	int			panel = 2 * pi_cpu()->vw;
	const float *w = model->values[node->inputs[1]].data;
	float		alpha = node->op == PI_OP_GEMM ? node->attrs.alpha : 1.0f;
	float		beta = node->op == PI_OP_GEMM ? node->attrs.beta : 1.0f;
	int64_t		kdim = 0,
				mdim = 0,
				npan;
	bool		trans = false;

	weight_matrix(model, node, &kdim, &mdim, &trans);
	npan = (mdim + panel - 1) / panel;
	for (int64_t p = 0; p < npan; p++)
		for (int64_t k = 0; k < kdim; k++)
			for (int l = 0; l < panel; l++)
			{
				int64_t		j = p * panel + l;

				*dst++ = j >= mdim ? 0.0f : alpha * (trans ? w[j * kdim + k] : w[k * mdim + j]);
			}
	for (int64_t j = 0; j < mdim; j++)
		dst[j] = (node->op != PI_OP_MATMUL && node->ninputs == 3) ?
			beta * model->values[node->inputs[2]].data[j] : 0.0f;
}

/* Scratch bytes a Dense, Gemm or MatMul needs on the CPU for up to max_batch rows. */
int64_t
pi_gemm_cpu_scratch_bytes(const PiModel *model, const PiNode *node, int64_t max_batch)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	if (!weight_matrix(model, node, &kdim, &mdim, &trans))
		return 0;
	return (pi_line_up(PACK_ROWS * kdim) + 2 * kdim) * (int64_t) sizeof(float);
}

/*
 * y[rows, mdim] = x[rows, kdim] times the packed weight, plus bias (mdim
 * floats, or NULL), through the fused activation: GEMM tiles per panel of
 * output columns and block of packed input rows.
 */
static void
tiles_gemm(const PiKernelArgs *a, const float *x, int64_t rows, int64_t kdim, int64_t mdim,
		   const float *bias, float *y)
{
	const PiCpuKernels *k = pi_cpu();
	int			panel = 2 * k->vw;
	int64_t		npan = (mdim + panel - 1) / panel;
	float	   *xp = a->scratch;
	int64_t    *boff = (int64_t *) (a->scratch + pi_line_up(PACK_ROWS * kdim));
	PiOp		act = a->epi ? a->epi->act : PI_OP_IDENTITY;
	PiTileOut	o;

	memset(&o, 0, sizeof(o));
	o.ldy = mdim;
	o.act = pi_tile_act(act) ? act : PI_OP_IDENTITY;
	o.lo = act == PI_OP_CLIP ? a->epi->act_attrs.clip_min : 0.0f;
	o.hi = act == PI_OP_CLIP ? a->epi->act_attrs.clip_max : 0.0f;
	o.alpha = act == PI_OP_LEAKY_RELU ? a->epi->act_attrs.alpha : 0.0f;
	for (int64_t i = 0; i < kdim; i++)
		boff[i] = i * panel;
	for (int64_t r0 = 0; r0 < rows; r0 += PACK_ROWS)
	{
		int64_t		count = rows - r0 < PACK_ROWS ? rows - r0 : PACK_ROWS;
		int64_t		nb = pi_row_blocks(count, k->mr_max);

		for (int64_t b = 0; b < nb; b++)
		{
			int64_t		m0;
			int			mr;

			pi_row_block(count, nb, b, &m0, &mr);
			k->pack_rows(xp + m0 * kdim, x + (r0 + m0) * kdim, kdim, mr, kdim);
		}
		for (int64_t p = 0; p < npan; p++)
		{
			int			n = (int) (mdim - p * panel < panel ? mdim - p * panel : panel);

			pi_check_interrupts();
			o.res = bias ? bias + p * panel : NULL;
			for (int64_t b = 0; b < nb; b++)
			{
				int64_t		m0;
				int			mr;

				pi_row_block(count, nb, b, &m0, &mr);
				o.y = y + (r0 + m0) * mdim + p * panel;
				k->gemm_tile(xp + m0 * kdim, mr, kdim, a->packed + p * kdim * panel, boff, NULL,
							 n > k->vw ? 2 : 1, n, NULL, NULL, &o);
			}
		}
		if (!pi_tile_act(act))
			pi_epilogue_apply(a, y, r0 * mdim, count * mdim);
	}
}

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

	if (a->packed != NULL && a->residual == NULL)
	{
		int64_t		npan = (mdim + 2 * pi_cpu()->vw - 1) / (2 * pi_cpu()->vw);

		tiles_gemm(a, a->in[0], rows, k, mdim,
				   n->ninputs == 3 ? a->packed + npan * 2 * pi_cpu()->vw * k : NULL, a->out);
		return;
	}
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
		if (a->packed != NULL && a->residual == NULL)
		{
			tiles_gemm(a, a->in[0], all_rows, k, cols,
					   (a->epi != NULL && a->epi->bias >= 0) ? a->model->values[a->epi->bias].data : NULL,
					   a->out);
			return;
		}
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
