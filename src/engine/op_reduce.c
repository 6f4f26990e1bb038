/*
 * op_reduce.c
 *	  ReduceMean, ReduceSum and ReduceMax over a set of non-batch axes.
 */
#include <math.h>

#include "pi_engine.h"

/* Folds one value into an accumulator of the op. */
static inline float
fold(PiOp op, float acc, float v)
{
	if (op == PI_OP_REDUCE_MAX)
		return (v > acc || isnan(v)) ? v : acc;
	return acc + v;
}

/*
 * Walks the input row by row (all axes but the last); each row folds into
 * the output at the offset of its kept axes: a scalar when the last axis is
 * reduced, else elementwise into a contiguous output row.
 */
void
pi_kernel_reduce(const PiKernelArgs *a)
{
	PiOp		op = a->node->op;
	int			r = a->in_rank[0];
	const int64_t *dims = a->in_dims[0];
	bool		reduced[PI_MAX_RANK] = {false};
	int64_t		ostride[PI_MAX_RANK],
				idx[PI_MAX_RANK] = {0};
	int64_t		out_count = 1,
				reduce_count = 1,
				rows = 1,
				s = 1,
				off = 0;
	int64_t		len = dims[r - 1];
	const float *x = a->in[0];
	float		init = (op == PI_OP_REDUCE_MAX) ? -INFINITY : 0.0f;

	for (int i = 0; i < a->node->attrs.axes_len; i++)
		reduced[a->node->attrs.axes[i]] = true;
	for (int i = r - 1; i >= 0; i--)
	{
		ostride[i] = reduced[i] ? 0 : s;
		if (reduced[i])
			reduce_count *= dims[i];
		else
			s *= dims[i];
	}
	out_count = s;
	for (int i = 0; i < r - 1; i++)
		rows *= dims[i];
	for (int64_t i = 0; i < out_count; i++)
		a->out[i] = init;
	for (int64_t row = 0; row < rows; row++, x += len)
	{
		float	   *y = a->out + off;

		if (reduced[r - 1])
		{
			float		acc;

			if (op == PI_OP_REDUCE_MAX)
			{
				acc = -INFINITY;
				for (int64_t j = 0; j < len; j++)
					acc = fold(op, acc, x[j]);
			}
			else
			{
				double		sum = 0.0;

				for (int64_t j = 0; j < len; j++)
					sum += x[j];
				acc = (float) sum;
			}
			y[0] = fold(op, y[0], acc);
		}
		else
			for (int64_t j = 0; j < len; j++)
				y[j] = fold(op, y[j], x[j]);
		/* odometer over the outer axes */
		for (int d = r - 2; d >= 0; d--)
		{
			off += ostride[d];
			if (++idx[d] < dims[d])
				break;
			off -= ostride[d] * dims[d];
			idx[d] = 0;
		}
	}
	if (op == PI_OP_REDUCE_MEAN)
		for (int64_t i = 0; i < out_count; i++)
			a->out[i] /= (float) reduce_count;
}
