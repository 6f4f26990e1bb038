/*
 * op_softmax.c
 *	  Softmax, LogSoftmax and ArgMax along one axis.
 */
#include <math.h>

#include "cpu.h"

/* Splits dims around axis into outer x axis x inner element counts. */
static void
split_axis(const int64_t *dims, int rank, int axis, int64_t *outer,
		   int64_t *len, int64_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int i = 0; i < axis; i++)
		*outer *= dims[i];
	for (int i = axis + 1; i < rank; i++)
		*inner *= dims[i];
	*len = dims[axis];
}

/*
 * Softmax and LogSoftmax, max-subtracted, each exponential taken once (in
 * float; summed in double, or in float vectors along a contiguous axis);
 * may run in place.
 */
void
pi_kernel_softmax(const PiKernelArgs *a)
{
	int64_t		outer,
				len,
				inner;
	bool		log_out = (a->node->op == PI_OP_LOG_SOFTMAX);

	split_axis(a->in_dims[0], a->in_rank[0], a->node->attrs.axis, &outer, &len, &inner);
	if (inner == 1)
	{
		pi_cpu()->softmax_rows(a->out, a->in[0], outer, len, log_out);
		return;
	}
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			const float *x = a->in[0] + o * len * inner + i;
			float	   *y = a->out + o * len * inner + i;
			float		max = x[0];
			double		sum = 0.0;

			for (int64_t k = 1; k < len; k++)
				if (x[k * inner] > max)
					max = x[k * inner];
			if (log_out)
			{
				float		lse;

				for (int64_t k = 0; k < len; k++)
					sum += expf(x[k * inner] - max);
				lse = (float) log(sum);
				for (int64_t k = 0; k < len; k++)
					y[k * inner] = x[k * inner] - max - lse;
			}
			else
			{
				float		scale;

				for (int64_t k = 0; k < len; k++)
				{
					y[k * inner] = expf(x[k * inner] - max);
					sum += y[k * inner];
				}
				scale = (float) (1.0 / sum);
				for (int64_t k = 0; k < len; k++)
					y[k * inner] *= scale;
			}
		}
}

/*
 * ArgMax: index of the first maximum, as float32; NaN counts as larger than
 * any number (the first NaN wins), as in PyTorch and TopK.
 */
void
pi_kernel_argmax(const PiKernelArgs *a)
{
	int64_t		outer,
				len,
				inner;

	split_axis(a->in_dims[0], a->in_rank[0], a->node->attrs.axis, &outer, &len, &inner);
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			const float *x = a->in[0] + o * len * inner + i;
			int64_t		best = 0;

			for (int64_t k = 1; k < len && !isnan(x[best * inner]); k++)
				if (x[k * inner] > x[best * inner] || isnan(x[k * inner]))
					best = k;
			a->out[o * inner + i] = (float) best;
		}
}
