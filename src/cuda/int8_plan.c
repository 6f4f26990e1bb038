/*
 * int8_plan.c
 *	  Which nodes the device runs in int8 and their weights as uploaded
 *	  (int8_plan.h).  The decision and the quantized weights are the CPU
 *	  engine's own (src/engine/int8.h: pi_gemm_int8_applies and the packing),
 *	  so that both engines quantize alike; the packed panels are unpacked
 *	  into the column-major codes cuBLASLt reads.
 */
#include <stdlib.h>
#include <string.h>

#include "int8_plan.h"
#include "../engine/cpu.h"
#include "../engine/int8.h"

/* n rounded up to a multiple of PI_GPU_INT8_ALIGN. */
static int64_t
padded(int64_t n)
{
	return (n + PI_GPU_INT8_ALIGN - 1) / PI_GPU_INT8_ALIGN * PI_GPU_INT8_ALIGN;
}

/* Whether the node's input 0 is a DequantizeLinear's output (its rows are codes: CPU only). */
static bool
reads_codes(const PiModel *model, const PiNode *node)
{
	int			p = model->values[node->inputs[0]].producer;

	return p >= 0 && model->nodes[p].op == PI_OP_DEQUANTIZE;
}

/* The node's int8 geometry; rows PI_GPU_INT8_NONE where the float32 path runs it. */
PiGpuInt8Shape
pi_gpu_int8_shape(const PiModel *model, const PiNode *node)
{
	PiGpuInt8Shape s;
	bool		trans;

	memset(&s, 0, sizeof(s));
	if ((node->op != PI_OP_DENSE && node->op != PI_OP_GEMM && node->op != PI_OP_MATMUL) ||
		!pi_gemm_int8_applies(model, node) || reads_codes(model, node) ||
		!pi_gemm_weight_matrix(model, node, &s.kdim, &s.mdim, &trans))
	{
		memset(&s, 0, sizeof(s));
		return s;
	}
	s.kp = padded(s.kdim);
	s.mp = padded(s.mdim);
	s.rows = node->attrs.dynamic_int8 ? PI_GPU_INT8_DYNAMIC : PI_GPU_INT8_SYMMETRIC;
	return s;
}

/* Bytes of the node's device weight block: codes, then scale, column sums and bias. */
int64_t
pi_gpu_int8_weight_bytes(const PiGpuInt8Shape *s)
{
	return s->mp * s->kp + s->mp * (int64_t) (2 * sizeof(float) + sizeof(int32_t));
}

/* The arrays of a weight block at block. */
PiGpuInt8Weights
pi_gpu_int8_weights_at(const void *block, const PiGpuInt8Shape *s)
{
	PiGpuInt8Weights w;

	w.codes = block;
	w.scale = (const float *) (w.codes + s->mp * s->kp);
	w.colsum = (const int32_t *) (w.scale + s->mp);
	w.bias = (const float *) (w.colsum + s->mp);
	return w;
}

/*
 * Fills a host block with the node's weights as the CPU engine's int8
 * path quantizes them: its packing (int8.h: panels of PI_INT8_PANEL
 * columns, groups of 4 rows k of 4 bytes per column; then ws, the
 * corrections 128 * colsum and the bias), unpacked column by column.
 */
bool
pi_gpu_int8_fill_weights(const PiModel *model, const PiNode *node, const PiGpuInt8Shape *s,
						 void *block)
{
	int64_t		floats = pi_gemm_int8_packed_floats(model, node);
	int64_t		kq = (s->kdim + 3) / 4 * 4;	/* the packing's padded K */
	int64_t		cols = (s->mdim + PI_INT8_PANEL - 1) / PI_INT8_PANEL * PI_INT8_PANEL;
	float	   *packed = malloc(sizeof(float) * (floats > 0 ? floats : 1));
	const int8_t *pq;
	const float *pscale;
	const int32_t *pcorr;
	const float *pbias;
	PiGpuInt8Weights w = pi_gpu_int8_weights_at(block, s);

	if (packed == NULL)
		return false;
	pi_gemm_int8_pack(model, node, packed);
	pq = (const int8_t *) packed;
	pscale = (const float *) (pq + cols * kq);
	pcorr = (const int32_t *) (pscale + cols);
	pbias = (const float *) (pcorr + cols);
	memset(block, 0, pi_gpu_int8_weight_bytes(s));
	for (int64_t j = 0; j < s->mdim; j++)
	{
		int64_t		p = j / PI_INT8_PANEL,
					c = j % PI_INT8_PANEL;
		int8_t	   *col = (int8_t *) w.codes + j * s->kp;

		for (int64_t k = 0; k < s->kdim; k++)
			col[k] = pq[(p * kq / 4 + k / 4) * PI_INT8_PANEL * 4 + c * 4 + k % 4];
		((float *) w.scale)[j] = pscale[j];
		((int32_t *) w.colsum)[j] = pcorr[j] / 128;
		((float *) w.bias)[j] = pbias[j];
	}
	free(packed);
	return true;
}

/* Activation rows of the product per row of the batch (MatMul: its leading axes). */
int64_t
pi_gpu_int8_rows_per_item(const PiModel *model, const PiNode *node, const PiGpuInt8Shape *s)
{
	return s->kdim > 0 ? pi_value_row_elems(&model->values[node->inputs[0]]) / s->kdim : 0;
}

/* Scratch bytes per activation row: kp codes, mp int32 sums, a scale and a zero point. */
int64_t
pi_gpu_int8_row_bytes(const PiGpuInt8Shape *s)
{
	return s->kp + s->mp * (int64_t) sizeof(int32_t) + (int64_t) (sizeof(float) + sizeof(int32_t));
}

/* Per value: whether every live node that reads it is an int8 node reading it as its weight or bias. */
bool *
pi_gpu_int8_only_weights(const PiModel *model)
{
	bool	   *only = calloc(model->nvalues + 1, sizeof(bool));
	bool	   *other = calloc(model->nvalues + 1, sizeof(bool));

	if (only == NULL || other == NULL)
	{
		free(only);
		free(other);
		return NULL;
	}
	for (int pos = 0; pos < model->norder; pos++)
	{
		const PiNode *n = &model->nodes[model->order[pos]];
		bool		int8 = pi_gpu_int8_shape(model, n).rows != PI_GPU_INT8_NONE;

		for (int i = 0; i < n->ninputs; i++)
		{
			/* the weight, and Dense's and Gemm's bias (scaled by beta), are in the block */
			if (int8 && i >= 1)
				only[n->inputs[i]] = true;
			else
				other[n->inputs[i]] = true;
		}
	}
	for (int v = 0; v < model->nvalues; v++)
		only[v] = only[v] && !other[v] && !model->values[v].is_output;
	free(other);
	return only;
}
