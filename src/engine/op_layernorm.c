/*
 * op_layernorm.c
 *	  LayerNormalization: each row normalized over its trailing axes, then
 *	  scaled and shifted elementwise.
 */
#include <math.h>

#include "pi_engine.h"

/* y = (x - mean) / sqrt(var + epsilon) * scale + bias, per row; may run in place. */
void
pi_kernel_layer_norm(const PiKernelArgs *a)
{
	int			axis = a->node->attrs.axis;
	int64_t		rows = 1,
				len = 1;
	const float *scale = a->in[1];
	const float *bias = a->node->ninputs == 3 ? a->in[2] : NULL;

	for (int i = 0; i < axis; i++)
		rows *= a->in_dims[0][i];
	for (int i = axis; i < a->in_rank[0]; i++)
		len *= a->in_dims[0][i];
	for (int64_t r = 0; r < rows; r++)
	{
		const float *x = a->in[0] + r * len;
		float	   *y = a->out + r * len;
		double		sum = 0.0,
					sq = 0.0;
		float		mean,
					inv;

		for (int64_t j = 0; j < len; j++)
			sum += x[j];
		mean = (float) (sum / (double) len);
		for (int64_t j = 0; j < len; j++)
			sq += (double) (x[j] - mean) * (x[j] - mean);
		inv = (float) (1.0 / sqrt(sq / (double) len + a->node->attrs.epsilon));
		if (bias != NULL)
			for (int64_t j = 0; j < len; j++)
				y[j] = (x[j] - mean) * inv * scale[j] + bias[j];
		else
			for (int64_t j = 0; j < len; j++)
				y[j] = (x[j] - mean) * inv * scale[j];
	}
}
