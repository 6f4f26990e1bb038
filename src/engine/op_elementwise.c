/*
 * op_elementwise.c
 *	  Add/Sub/Mul/Div with NumPy broadcasting, and the unary activations.
 */
#include <math.h>

#include "pi_engine.h"

/* out[i] = x[i*sx] op y[i*sy] for i < count. */
static void
binary_run(PiOp op, const float *x, int64_t sx, const float *y, int64_t sy,
		   float *out, int64_t count)
{
	switch (op)
	{
		case PI_OP_ADD:
			for (int64_t i = 0; i < count; i++)
				out[i] = x[i * sx] + y[i * sy];
			break;
		case PI_OP_SUB:
			for (int64_t i = 0; i < count; i++)
				out[i] = x[i * sx] - y[i * sy];
			break;
		case PI_OP_MUL:
			for (int64_t i = 0; i < count; i++)
				out[i] = x[i * sx] * y[i * sy];
			break;
		default:
			for (int64_t i = 0; i < count; i++)
				out[i] = x[i * sx] / y[i * sy];
			break;
	}
}

/* Element strides of an input right-aligned to the output's rank (0 = broadcast). */
static void
broadcast_strides(const int64_t *dims, int rank, int out_rank, int64_t *strides)
{
	int64_t		s = 1;

	for (int i = out_rank - 1; i >= 0; i--)
	{
		int			d = i - (out_rank - rank);

		if (d < 0 || dims[d] == 1)
			strides[i] = 0;
		else
		{
			strides[i] = s;
			s *= dims[d];
		}
	}
}

/* Add/Sub/Mul/Div: loops over all but the last axis, the last one inline. */
void
pi_kernel_binary(const PiKernelArgs *a)
{
	int			r = a->out_rank;
	int64_t		sa[PI_MAX_RANK],
				sb[PI_MAX_RANK],
				idx[PI_MAX_RANK] = {0};
	int64_t		inner = a->out_dims[r - 1];
	int64_t		outer = 1;
	const float *pa = a->in[0];
	const float *pb = a->in[1];

	broadcast_strides(a->in_dims[0], a->in_rank[0], r, sa);
	broadcast_strides(a->in_dims[1], a->in_rank[1], r, sb);
	for (int i = 0; i < r - 1; i++)
		outer *= a->out_dims[i];
	for (int64_t o = 0; o < outer; o++)
	{
		binary_run(a->node->op, pa, sa[r - 1], pb, sb[r - 1], a->out + o * inner, inner);
		/* odometer over the outer axes */
		for (int d = r - 2; d >= 0; d--)
		{
			pa += sa[d];
			pb += sb[d];
			if (++idx[d] < a->out_dims[d])
				break;
			pa -= sa[d] * a->out_dims[d];
			pb -= sb[d] * a->out_dims[d];
			idx[d] = 0;
		}
	}
}

/* Relu, LeakyRelu, Sigmoid, Tanh, Gelu over every element (may run in place). */
void
pi_kernel_unary(const PiKernelArgs *a)
{
	const float *x = a->in[0];
	float	   *y = a->out;
	int64_t		count = a->batch * a->model->values[a->node->output].numel;
	float		alpha = a->node->attrs.alpha;

	switch (a->node->op)
	{
		case PI_OP_RELU:
			for (int64_t i = 0; i < count; i++)
				y[i] = x[i] > 0.0f ? x[i] : 0.0f;
			break;
		case PI_OP_LEAKY_RELU:
			for (int64_t i = 0; i < count; i++)
				y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
			break;
		case PI_OP_SIGMOID:
			for (int64_t i = 0; i < count; i++)
				y[i] = 1.0f / (1.0f + expf(-x[i]));
			break;
		case PI_OP_TANH:
			for (int64_t i = 0; i < count; i++)
				y[i] = tanhf(x[i]);
			break;
		case PI_OP_GELU:
			if (a->node->attrs.gelu_tanh)
				for (int64_t i = 0; i < count; i++)
				{
					float		v = x[i];

					y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
				}
			else
				for (int64_t i = 0; i < count; i++)
					y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
			break;
		default:
			break;
	}
}
