/*
 * kernels_pool.cu
 *	  MaxPool2D, AveragePool2D and GlobalAveragePool on the device: one
 *	  thread per output element, summing in the CPU kernel's order, and a
 *	  warp per plane for the global pool (summed in double).
 */
#include "kernels_common.cuh"

/* A pool's geometry: planes of in and out, window attributes. */
typedef struct PoolGeometry
{
	int64_t		planes,
				h,
				w,
				oh,
				ow;
	int			kh,
				kw,
				sh,
				sw,
				pt,
				pl,
				pb,
				pr,
				dh,
				dw;
	bool		count_include_pad;
} PoolGeometry;

/* Reads a pool node's geometry ([N,C,L] runs as [N,C,1,L]). */
static PoolGeometry
pool_geometry(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	PoolGeometry g;

	g.planes = a->in_dims[0][0] * a->in_dims[0][1];
	g.h = a->in_rank[0] == 4 ? a->in_dims[0][2] : 1;
	g.w = a->in_dims[0][a->in_rank[0] - 1];
	g.oh = a->out_rank == 4 ? a->out_dims[2] : 1;
	g.ow = a->out_dims[a->out_rank - 1];
	g.kh = at->kernel[0];
	g.kw = at->kernel[1];
	g.sh = at->strides[0];
	g.sw = at->strides[1];
	g.pt = at->pads[0];
	g.pl = at->pads[1];
	g.pb = at->pads[2];
	g.pr = at->pads[3];
	g.dh = at->dilations[0];
	g.dw = at->dilations[1];
	g.count_include_pad = at->count_include_pad != 0;
	return g;
}

/* MaxPool2D: padding never wins (it is -inf); a window with a NaN gives NaN, as on the CPU. */
__global__ static void
max_pool_kernel(PoolGeometry g, const float *x, float *y, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		ox = i % g.ow;
		int64_t		oy = (i / g.ow) % g.oh;
		const float *p = x + (i / (g.ow * g.oh)) * g.h * g.w;
		float		best = -INFINITY;

		for (int ki = 0; ki < g.kh; ki++)
		{
			int64_t		iy = oy * g.sh - g.pt + (int64_t) ki * g.dh;

			if (iy < 0 || iy >= g.h)
				continue;
			for (int kj = 0; kj < g.kw; kj++)
			{
				int64_t		ix = ox * g.sw - g.pl + (int64_t) kj * g.dw;

				if (ix >= 0 && ix < g.w && (p[iy * g.w + ix] > best || isnan(p[iy * g.w + ix])))
					best = p[iy * g.w + ix];
			}
		}
		y[i] = best;
	}
}

/*
 * AveragePool2D: with count_include_pad the divisor counts the padding but
 * not the part of a ceil_mode window beyond it.
 */
__global__ static void
average_pool_kernel(PoolGeometry g, const float *x, float *y, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		ox = i % g.ow;
		int64_t		oy = (i / g.ow) % g.oh;
		const float *p = x + (i / (g.ow * g.oh)) * g.h * g.w;
		int64_t		y0 = oy * g.sh - g.pt,
					x0 = ox * g.sw - g.pl;
		int64_t		y1 = y0 + g.kh,
					x1 = x0 + g.kw;
		int64_t		padded;
		float		sum = 0.0f;

		if (y1 > g.h + g.pb)
			y1 = g.h + g.pb;
		if (x1 > g.w + g.pr)
			x1 = g.w + g.pr;
		padded = (y1 - y0) * (x1 - x0);
		if (y0 < 0)
			y0 = 0;
		if (x0 < 0)
			x0 = 0;
		if (y1 > g.h)
			y1 = g.h;
		if (x1 > g.w)
			x1 = g.w;
		for (int64_t iy = y0; iy < y1; iy++)
			for (int64_t ix = x0; ix < x1; ix++)
				sum += p[iy * g.w + ix];
		y[i] = sum / (float) (g.count_include_pad ? padded : (y1 - y0) * (x1 - x0));
	}
}

/* GlobalAveragePool: the mean of each plane, a warp each, summed in double. */
__global__ static void
global_average_pool_kernel(const float *x, float *y, int64_t planes, int64_t area)
{
	int			lane = pi_lane();

	PI_WARP_LOOP(p, planes)
	{
		const float *v = x + p * area;
		double		sum = 0.0;

		for (int64_t i = lane; i < area; i += PI_WARP)
			sum += v[i];
		sum = pi_warp_sum(sum);
		if (lane == 0)
			y[p] = (float) (sum / (double) area);
	}
}

/* MaxPool2D over the batch. */
PiStatus
pi_gpu_launch_max_pool(const PiCudaArgs *a)
{
	PoolGeometry g = pool_geometry(a);
	int64_t		n = g.planes * g.oh * g.ow;

	max_pool_kernel PI_LAUNCH(n, a->stream) (g, a->in[0], a->out, n);
	return pi_gpu_launched(a, "max_pool");
}

/* AveragePool2D over the batch. */
PiStatus
pi_gpu_launch_average_pool(const PiCudaArgs *a)
{
	PoolGeometry g = pool_geometry(a);
	int64_t		n = g.planes * g.oh * g.ow;

	average_pool_kernel PI_LAUNCH(n, a->stream) (g, a->in[0], a->out, n);
	return pi_gpu_launched(a, "average_pool");
}

/* GlobalAveragePool over the batch. */
PiStatus
pi_gpu_launch_global_average_pool(const PiCudaArgs *a)
{
	PoolGeometry g = pool_geometry(a);

	global_average_pool_kernel PI_WARP_LAUNCH(g.planes, a->stream) (a->in[0], a->out, g.planes,
																	g.h * g.w);
	return pi_gpu_launched(a, "global_average_pool");
}
