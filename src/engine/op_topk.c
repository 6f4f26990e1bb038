/*
 * op_topk.c
 *	  TopK along one non-batch axis: a heap of the k best of each slice,
 *	  then sorted best first.  Ties go to the lower index; NaN counts as
 *	  larger than any number (as in PyTorch).
 */
#include <math.h>

#include "pi_engine.h"

/* Whether (v, i) ranks before (w, j): larger (or smaller) value, then lower index. */
static inline bool
ranks_before(float v, float i, float w, float j, bool largest)
{
	if (v == w || (isnan(v) && isnan(w)))
		return i < j;
	if (isnan(v))
		return largest;
	if (isnan(w))
		return !largest;
	return largest ? v > w : v < w;
}

/* Restores the heap (worst at the root) below position p. */
static void
sift_down(float *val, float *idx, int64_t size, int64_t p, bool largest)
{
	for (;;)
	{
		int64_t		c = 2 * p + 1,
					worst = p;
		float		t;

		if (c < size && ranks_before(val[worst], idx[worst], val[c], idx[c], largest))
			worst = c;
		if (c + 1 < size && ranks_before(val[worst], idx[worst], val[c + 1], idx[c + 1], largest))
			worst = c + 1;
		if (worst == p)
			return;
		t = val[p];
		val[p] = val[worst];
		val[worst] = t;
		t = idx[p];
		idx[p] = idx[worst];
		idx[worst] = t;
		p = worst;
	}
}

/* TopK: values (output_index 0) or their indices as float32 (1). */
void
pi_kernel_topk(const PiKernelArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	int64_t		k = at->k;
	int64_t		outer = 1,
				inner = 1,
				len = a->in_dims[0][at->axis];
	float	   *val = a->scratch,
			   *idx = a->scratch + k;
	bool		largest = at->largest != 0;

	for (int i = 0; i < at->axis; i++)
		outer *= a->in_dims[0][i];
	for (int i = at->axis + 1; i < a->in_rank[0]; i++)
		inner *= a->in_dims[0][i];
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
		{
			const float *x = a->in[0] + o * len * inner + i;
			float	   *y = a->out + o * k * inner + i;

			for (int64_t j = 0; j < k; j++)
			{
				val[j] = x[j * inner];
				idx[j] = (float) j;
			}
			for (int64_t p = k / 2 - 1; p >= 0; p--)
				sift_down(val, idx, k, p, largest);
			for (int64_t j = k; j < len; j++)
				if (ranks_before(x[j * inner], (float) j, val[0], idx[0], largest))
				{
					val[0] = x[j * inner];
					idx[0] = (float) j;
					sift_down(val, idx, k, 0, largest);
				}
			/* pop the worst to the back: best first */
			for (int64_t n = k - 1; n >= 0; n--)
			{
				y[n * inner] = at->output_index ? idx[0] : val[0];
				val[0] = val[n];
				idx[0] = idx[n];
				sift_down(val, idx, n, 0, largest);
			}
		}
}
