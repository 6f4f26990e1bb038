/*
 * op_gather.c
 *	  Gather: rows of a weight table picked by an activation's indices
 *	  (embeddings), or slices of an activation picked by constant indices.
 *	  Indices are float32 integers; negative ones count from the end.
 */
#include <math.h>
#include <string.h>

#include "pi_engine.h"

/*
 * Embedding form: data is a weight [V, ...], the indices an activation.
 * An index that is not an integer in [-V, V) fails the run, before any
 * read of data.
 */
static void
gather_by_activation(const PiKernelArgs *a)
{
	int64_t		v = a->in_dims[0][0];
	int64_t		inner = 1,
				count = 1;

	for (int i = 1; i < a->in_rank[0]; i++)
		inner *= a->in_dims[0][i];
	for (int i = 0; i < a->in_rank[1]; i++)
		count *= a->in_dims[1][i];
	for (int64_t i = 0; i < count; i++)
	{
		float		f = a->in[1][i];
		int64_t		row;

		if (!(f == floorf(f)) || f < -(float) v || f >= (float) v)
		{
			pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (Gather) index %g at position %lld of the batch is out of range: expected an integer in [%lld, %lld]",
					a->node->name, f, (long long) (a->row0 * (count / a->batch) + i), (long long) -v,
					(long long) v - 1);
			return;
		}
		row = (int64_t) f;
		if (row < 0)
			row += v;
		memcpy(a->out + i * inner, a->in[0] + row * inner, sizeof(float) * inner);
	}
}

/* Constant form: data is an activation, the indices a weight checked at load. */
static void
gather_by_constant(const PiKernelArgs *a)
{
	int			axis = a->node->attrs.axis;
	int64_t		outer = 1,
				inner = 1,
				count = 1;
	int64_t		len = a->in_dims[0][axis];
	float	   *y = a->out;

	for (int i = 0; i < axis; i++)
		outer *= a->in_dims[0][i];
	for (int i = axis + 1; i < a->in_rank[0]; i++)
		inner *= a->in_dims[0][i];
	for (int i = 0; i < a->in_rank[1]; i++)
		count *= a->in_dims[1][i];
	for (int64_t o = 0; o < outer; o++)
		for (int64_t j = 0; j < count; j++)
		{
			int64_t		k = (int64_t) a->in[1][j];

			if (k < 0)
				k += len;
			memcpy(y, a->in[0] + (o * len + k) * inner, sizeof(float) * inner);
			y += inner;
		}
}

/* Gather in either of its two forms. */
void
pi_kernel_gather(const PiKernelArgs *a)
{
	if (a->model->values[a->node->inputs[0]].kind == PI_VALUE_WEIGHT)
		gather_by_activation(a);
	else
		gather_by_constant(a);
}
