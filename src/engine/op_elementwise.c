/*
 * op_elementwise.c
 *	  The elementwise ops of several inputs with NumPy broadcasting:
 *	  arithmetic, Pow, PRelu, comparisons (0/1 as float32), Min, Max, Where;
 *	  and Expand, the broadcast of one input to a shape.
 */
#include <math.h>

#include "cpu.h"

/* Runs one output row: out[i] from in[k][i * step[k]], i < count. */
typedef void (*PiRowFunc) (PiOp op, const float *const *in, const int64_t *step,
						   float *out, int64_t count);

/*
 * Calls row for every output row, inputs broadcast.  A row is the last axis
 * and every axis before it along which each input goes on as it does in a
 * row (contiguous, or broadcast throughout): a same-shape or scalar
 * operation is one row.
 */
static void
broadcast_walk(const PiKernelArgs *a, int ninputs, PiRowFunc row)
{
	int			r = a->out_rank;
	int64_t		strides[3][PI_MAX_RANK] = {{0}},
				step[3],
				idx[PI_MAX_RANK] = {0};
	const float *p[3];
	int64_t		inner = a->out_dims[r - 1];
	int64_t		outer = 1;
	int			axes = r - 1;	/* the outer axes that the odometer walks */

	for (int k = 0; k < ninputs; k++)
	{
		pi_broadcast_strides(a->in_dims[k], a->in_rank[k], r, strides[k]);
		step[k] = strides[k][r - 1];
		p[k] = a->in[k];
	}
	while (axes > 0)
	{
		bool		merges = true;

		for (int k = 0; k < ninputs; k++)
			merges = merges && strides[k][axes - 1] == step[k] * inner;
		if (!merges)
			break;
		inner *= a->out_dims[--axes];
	}
	for (int i = 0; i < axes; i++)
		outer *= a->out_dims[i];
	for (int64_t o = 0; o < outer; o++)
	{
		row(a->node->op, p, step, a->out + o * inner, inner);
		/* odometer over the outer axes */
		for (int d = axes - 1; d >= 0; d--)
		{
			for (int k = 0; k < ninputs; k++)
				p[k] += strides[k][d];
			if (++idx[d] < a->out_dims[d])
				break;
			for (int k = 0; k < ninputs; k++)
				p[k] -= strides[k][d] * a->out_dims[d];
			idx[d] = 0;
		}
	}
}

/* One row of a two-input op. */
static void
binary_row(PiOp op, const float *const *in, const int64_t *step, float *out, int64_t count)
{
	const float *x = in[0],
			   *y = in[1];
	int64_t		sx = step[0],
				sy = step[1];

	if ((op == PI_OP_ADD || op == PI_OP_SUB || op == PI_OP_MUL || op == PI_OP_DIV) &&
		sx <= 1 && sy <= 1)
	{
		pi_cpu()->arith(op, x, sx, y, sy, out, count);
		return;
	}
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
		case PI_OP_DIV:
			for (int64_t i = 0; i < count; i++)
				out[i] = x[i * sx] / y[i * sy];
			break;
		case PI_OP_POW:
			/* x^2 (LayerNorm's variance as exporters spell it) is x * x, as in PyTorch */
			if (sy == 0 && y[0] == 2.0f)
				for (int64_t i = 0; i < count; i++)
					out[i] = x[i * sx] * x[i * sx];
			else
				for (int64_t i = 0; i < count; i++)
					out[i] = powf(x[i * sx], y[i * sy]);
			break;
		case PI_OP_PRELU:
			for (int64_t i = 0; i < count; i++)
				out[i] = x[i * sx] < 0.0f ? y[i * sy] * x[i * sx] : x[i * sx];
			break;
		case PI_OP_EQUAL:
			for (int64_t i = 0; i < count; i++)
				out[i] = (x[i * sx] == y[i * sy]) ? 1.0f : 0.0f;
			break;
		case PI_OP_LESS:
			for (int64_t i = 0; i < count; i++)
				out[i] = (x[i * sx] < y[i * sy]) ? 1.0f : 0.0f;
			break;
		case PI_OP_GREATER:
			for (int64_t i = 0; i < count; i++)
				out[i] = (x[i * sx] > y[i * sy]) ? 1.0f : 0.0f;
			break;
		case PI_OP_MIN:
			/* a NaN in either input gives NaN, as in PyTorch's minimum */
			for (int64_t i = 0; i < count; i++)
			{
				float		u = x[i * sx],
							v = y[i * sy];

				out[i] = (u < v || isnan(u)) ? u : v;
			}
			break;
		case PI_OP_MAX:
			for (int64_t i = 0; i < count; i++)
			{
				float		u = x[i * sx],
							v = y[i * sy];

				out[i] = (u > v || isnan(u)) ? u : v;
			}
			break;
		default:
			break;
	}
}

/* One row of Where: condition (non-zero is true), x, y. */
static void
where_row(PiOp op, const float *const *in, const int64_t *step, float *out, int64_t count)
{
	for (int64_t i = 0; i < count; i++)
		out[i] = in[0][i * step[0]] != 0.0f ? in[1][i * step[1]] : in[2][i * step[2]];
}

/* One row of Expand: a broadcast copy. */
static void
copy_row(PiOp op, const float *const *in, const int64_t *step, float *out, int64_t count)
{
	for (int64_t i = 0; i < count; i++)
		out[i] = in[0][i * step[0]];
}

/* The two-input elementwise ops. */
void
pi_kernel_binary(const PiKernelArgs *a)
{
	broadcast_walk(a, 2, binary_row);
}

/* Where(condition, x, y). */
void
pi_kernel_where(const PiKernelArgs *a)
{
	broadcast_walk(a, 3, where_row);
}

/* Expand: the input broadcast to the output's shape. */
void
pi_kernel_expand(const PiKernelArgs *a)
{
	broadcast_walk(a, 1, copy_row);
}
