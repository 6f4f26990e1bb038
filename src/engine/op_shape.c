/*
 * op_shape.c
 *	  Data movement: Reshape/Flatten/Identity/Dropout (copies unless planned
 *	  in place), Transpose and Concat.
 */
#include <string.h>

#include "pi_engine.h"

/* Copies the input unless the plan already put the output in its buffer. */
void
pi_kernel_copy(const PiKernelArgs *a)
{
	if (a->out != a->in[0])
		memcpy(a->out, a->in[0],
			   sizeof(float) * a->batch * a->model->values[a->node->output].numel);
}

/*
 * Transpose: walks the output in order, a run along its last axis at a
 * time, the input by permuted strides.
 */
void
pi_kernel_transpose(const PiKernelArgs *a)
{
	int			r = a->in_rank[0];
	int64_t		in_strides[PI_MAX_RANK],
				strides[PI_MAX_RANK] = {0},
				idx[PI_MAX_RANK] = {0};
	int64_t		runs = 1,
				s = 1,
				len = a->out_dims[r - 1],
				step;
	const float *x = a->in[0];
	float	   *y = a->out;

	for (int i = r - 1; i >= 0; i--)
	{
		in_strides[i] = s;
		s *= a->in_dims[0][i];
	}
	for (int i = 0; i < r; i++)
	{
		strides[i] = in_strides[a->node->attrs.perm[i]];
		runs *= i < r - 1 ? a->out_dims[i] : 1;
	}
	step = strides[r - 1];
	for (int64_t o = 0; o < runs; o++, y += len)
	{
		if (step == 1)
			memcpy(y, x, sizeof(float) * len);
		else
			for (int64_t i = 0; i < len; i++)
				y[i] = x[i * step];
		for (int d = r - 2; d >= 0; d--)
		{
			x += strides[d];
			if (++idx[d] < a->out_dims[d])
				break;
			x -= strides[d] * a->out_dims[d];
			idx[d] = 0;
		}
	}
}

/* Concat along a non-batch axis: interleaves contiguous blocks of each input. */
void
pi_kernel_concat(const PiKernelArgs *a)
{
	int			axis = a->node->attrs.axis;
	int64_t		outer = 1,
				inner = 1;
	float	   *out = a->out;

	for (int i = 0; i < axis; i++)
		outer *= a->out_dims[i];
	for (int i = axis + 1; i < a->out_rank; i++)
		inner *= a->out_dims[i];
	for (int64_t o = 0; o < outer; o++)
		for (int j = 0; j < a->node->ninputs; j++)
		{
			int64_t		block = a->in_dims[j][axis] * inner;

			memcpy(out, a->in[j] + o * block, sizeof(float) * block);
			out += block;
		}
}
