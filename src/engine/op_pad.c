/*
 * op_pad.c
 *	  Pad: grows (or crops) every non-batch axis, filling with a constant,
 *	  the mirror image (reflect) or the edge element.
 */
#include "pi_engine.h"

/* The input position that output position o of an axis reads, or -1 for the constant. */
static int64_t
source_index(int64_t o, int64_t begin, int64_t size, int mode)
{
	int64_t		i = o - begin;

	if (i >= 0 && i < size)
		return i;
	switch (mode)
	{
		case PI_PAD_EDGE:
			return i < 0 ? 0 : size - 1;
		case PI_PAD_REFLECT:
			/* amounts are below size (shape inference), so one reflection suffices */
			return i < 0 ? -i : 2 * (size - 1) - i;
		default:
			return -1;
	}
}

/*
 * Writes every output element from its source element, the axes walked
 * with a counter; the last axis in the inner loop.
 */
void
pi_kernel_pad(const PiKernelArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	int			r = a->in_rank[0];
	const int64_t *in = a->in_dims[0];
	const int64_t *out = a->out_dims;
	int64_t		istride[PI_MAX_RANK],
				idx[PI_MAX_RANK] = {0};
	int64_t		s = 1,
				outer = 1;
	const float *x = a->in[0];
	float	   *y = a->out;

	for (int i = r - 1; i >= 0; i--)
	{
		istride[i] = s;
		s *= in[i];
	}
	for (int i = 0; i < r - 1; i++)
		outer *= out[i];
	for (int64_t row = 0; row < outer; row++)
	{
		int64_t		base = 0;
		bool		constant = false;
		int64_t		last = r - 1;

		for (int d = 0; d < r - 1; d++)
		{
			int64_t		src = d == 0 ? idx[0] : source_index(idx[d], at->pad_amounts[d], in[d], at->pad_mode);

			if (src < 0)
				constant = true;
			else
				base += src * istride[d];
		}
		for (int64_t j = 0; j < out[last]; j++)
		{
			int64_t		src = constant ? -1 : source_index(j, at->pad_amounts[last], in[last], at->pad_mode);

			y[j] = src < 0 ? at->pad_value : x[base + src * istride[last]];
		}
		y += out[last];
		for (int d = r - 2; d >= 0; d--)
		{
			if (++idx[d] < out[d])
				break;
			idx[d] = 0;
		}
	}
}
