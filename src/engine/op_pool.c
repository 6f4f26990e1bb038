/*
 * op_pool.c
 *	  MaxPool2D, AveragePool2D and GlobalAveragePool over NCHW activations.
 */
#include <math.h>

#include "pi_engine.h"

/* Geometry shared by the pool kernels: planes of in and out. */
typedef struct PoolShape
{
	int64_t		planes;			/* batch x channels */
	int64_t		h,
				w,
				oh,
				ow;
} PoolShape;

/* Reads the pool geometry from the kernel arguments. */
static PoolShape
pool_shape(const PiKernelArgs *a)
{
	PoolShape	s;

	/* [N,C,L] runs as [N,C,1,L] */
	s.planes = a->in_dims[0][0] * a->in_dims[0][1];
	s.h = a->in_rank[0] == 4 ? a->in_dims[0][2] : 1;
	s.w = a->in_dims[0][a->in_rank[0] - 1];
	s.oh = a->out_rank == 4 ? a->out_dims[2] : 1;
	s.ow = a->out_dims[a->out_rank - 1];
	return s;
}

/* MaxPool2D: padding never wins (it is -inf). */
void
pi_kernel_max_pool2d(const PiKernelArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	PoolShape	s = pool_shape(a);

	for (int64_t p = 0; p < s.planes; p++)
	{
		const float *x = a->in[0] + p * s.h * s.w;
		float	   *y = a->out + p * s.oh * s.ow;

		for (int64_t oy = 0; oy < s.oh; oy++)
			for (int64_t ox = 0; ox < s.ow; ox++)
			{
				float		best = -INFINITY;

				for (int ki = 0; ki < at->kernel[0]; ki++)
				{
					int64_t		iy = oy * at->strides[0] - at->pads[0] + (int64_t) ki * at->dilations[0];

					if (iy < 0 || iy >= s.h)
						continue;
					for (int kj = 0; kj < at->kernel[1]; kj++)
					{
						int64_t		ix = ox * at->strides[1] - at->pads[1] + (int64_t) kj * at->dilations[1];

						if (ix >= 0 && ix < s.w && x[iy * s.w + ix] > best)
							best = x[iy * s.w + ix];
					}
				}
				y[oy * s.ow + ox] = best;
			}
	}
}

/*
 * AveragePool2D: with count_include_pad the divisor counts the padding but
 * not the part of a ceil_mode window beyond it.
 */
void
pi_kernel_average_pool2d(const PiKernelArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	PoolShape	s = pool_shape(a);

	for (int64_t p = 0; p < s.planes; p++)
	{
		const float *x = a->in[0] + p * s.h * s.w;
		float	   *y = a->out + p * s.oh * s.ow;

		for (int64_t oy = 0; oy < s.oh; oy++)
			for (int64_t ox = 0; ox < s.ow; ox++)
			{
				int64_t		y0 = oy * at->strides[0] - at->pads[0];
				int64_t		x0 = ox * at->strides[1] - at->pads[1];
				int64_t		y1 = y0 + at->kernel[0],
							x1 = x0 + at->kernel[1];
				int64_t		padded;
				float		sum = 0.0f;

				if (y1 > s.h + at->pads[2])
					y1 = s.h + at->pads[2];
				if (x1 > s.w + at->pads[3])
					x1 = s.w + at->pads[3];
				padded = (y1 - y0) * (x1 - x0);
				if (y0 < 0)
					y0 = 0;
				if (x0 < 0)
					x0 = 0;
				if (y1 > s.h)
					y1 = s.h;
				if (x1 > s.w)
					x1 = s.w;
				for (int64_t iy = y0; iy < y1; iy++)
					for (int64_t ix = x0; ix < x1; ix++)
						sum += x[iy * s.w + ix];
				y[oy * s.ow + ox] = sum / (float) (at->count_include_pad ? padded
												   : (y1 - y0) * (x1 - x0));
			}
	}
}

/* GlobalAveragePool: the mean of each plane. */
void
pi_kernel_global_average_pool(const PiKernelArgs *a)
{
	PoolShape	s = pool_shape(a);
	int64_t		area = s.h * s.w;

	for (int64_t p = 0; p < s.planes; p++)
	{
		const float *x = a->in[0] + p * area;
		double		sum = 0.0;

		for (int64_t i = 0; i < area; i++)
			sum += x[i];
		a->out[p] = (float) (sum / (double) area);
	}
}
