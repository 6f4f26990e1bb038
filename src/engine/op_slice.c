/*
 * op_slice.c
 *	  Slice: strided windows of an activation (the batch axis whole).
 */
#include "pi_engine.h"

/* Copies the selected elements, the last axis in an inner strided loop. */
void
pi_kernel_slice(const PiKernelArgs *a)
{
	int			r = a->in_rank[0];
	int64_t		start[PI_MAX_RANK],
				step[PI_MAX_RANK],
				count[PI_MAX_RANK],
				istride[PI_MAX_RANK],
				idx[PI_MAX_RANK] = {0};
	int64_t		rows = 1,
				s = 1;
	const float *x = a->in[0];
	float	   *y = a->out;

	pi_slice_bounds(&a->node->attrs, r, a->in_dims[0], start, step, count);
	for (int i = r - 1; i >= 0; i--)
	{
		istride[i] = s;
		s *= a->in_dims[0][i];
		x += start[i] * istride[i];
	}
	for (int i = 0; i < r - 1; i++)
		rows *= count[i];
	for (int64_t row = 0; row < rows; row++)
	{
		int64_t		inner = count[r - 1],
					st = step[r - 1];

		if (st == 1)
			for (int64_t j = 0; j < inner; j++)
				y[j] = x[j];
		else
			for (int64_t j = 0; j < inner; j++)
				y[j] = x[j * st];
		y += inner;
		for (int d = r - 2; d >= 0; d--)
		{
			x += step[d] * istride[d];
			if (++idx[d] < count[d])
				break;
			x -= step[d] * istride[d] * count[d];
			idx[d] = 0;
		}
	}
}
