/*
 * op_norm.c
 *	  BatchNormalization at inference, for the batch norms that could not be
 *	  folded into the op before them: a per-channel affine map.
 */
#include <math.h>

#include "pi_engine.h"

/* y = (x - mean) * scale / sqrt(var + epsilon) + bias, channel axis 1. */
void
pi_kernel_batch_norm(const PiKernelArgs *a)
{
	int64_t		channels = a->in_dims[0][1];
	int64_t		inner = 1;
	const float *scale = a->in[1],
			   *bias = a->in[2],
			   *mean = a->in[3],
			   *var = a->in[4];

	for (int i = 2; i < a->in_rank[0]; i++)
		inner *= a->in_dims[0][i];
	for (int64_t n = 0; n < a->batch; n++)
		for (int64_t c = 0; c < channels; c++)
		{
			float		s = scale[c] / sqrtf(var[c] + a->node->attrs.epsilon);
			float		t = bias[c] - mean[c] * s;
			const float *x = a->in[0] + (n * channels + c) * inner;
			float	   *y = a->out + (n * channels + c) * inner;

			for (int64_t i = 0; i < inner; i++)
				y[i] = x[i] * s + t;
		}
}
