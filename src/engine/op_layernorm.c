/*
 * op_layernorm.c
 *	  LayerNormalization: each row normalized over its trailing axes, then
 *	  scaled and shifted elementwise.
 */
#include "cpu.h"

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
		pi_cpu()->layer_norm_row(a->out + r * len, a->in[0] + r * len, len, scale, bias,
								 a->node->attrs.epsilon);
}
