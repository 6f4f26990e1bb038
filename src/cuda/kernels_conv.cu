/*
 * kernels_conv.cu
 *	  The data movement around the convolution GEMMs: im2col for Conv2D and
 *	  col2im for ConvTranspose, over a chunk of samples and one group.
 */
#include "kernels_common.cuh"

/* A window op's geometry, as the kernels read it. */
typedef struct ConvGeometry
{
	int64_t		c,
				h,
				w,
				m,
				oh,
				ow,
				cg,
				mg;
	int			kh,
				kw,
				sh,
				sw,
				pt,
				pl,
				dh,
				dw;
} ConvGeometry;

/* Reads the geometry of a Conv2D or ConvTranspose node ([N,C,L] as [N,C,1,L]). */
static ConvGeometry
conv_geometry(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	bool		one_d = (a->in_rank[0] == 3);
	ConvGeometry g;

	g.c = a->in_dims[0][1];
	g.h = one_d ? 1 : a->in_dims[0][2];
	g.w = a->in_dims[0][a->in_rank[0] - 1];
	g.m = a->out_dims[1];
	g.oh = one_d ? 1 : a->out_dims[2];
	g.ow = a->out_dims[a->out_rank - 1];
	g.cg = g.c / at->group;
	g.mg = g.m / at->group;
	g.kh = at->kernel[0];
	g.kw = at->kernel[1];
	g.sh = at->strides[0];
	g.sw = at->strides[1];
	g.pt = at->pads[0];
	g.pl = at->pads[1];
	g.dh = at->dilations[0];
	g.dw = at->dilations[1];
	return g;
}

/* col[s][cc][ki][kj][oy][ox] = the input under that window tap, or 0 in the padding. */
__global__ static void
im2col_kernel(ConvGeometry g, const float *x, int64_t group, float *col, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		e = i;
		int64_t		ox = e % g.ow;
		int64_t		oy,
					kj,
					ki,
					cc,
					iy,
					ix;

		e /= g.ow;
		oy = e % g.oh;
		e /= g.oh;
		kj = e % g.kw;
		e /= g.kw;
		ki = e % g.kh;
		e /= g.kh;
		cc = e % g.cg;
		e /= g.cg;				/* the sample */
		iy = oy * g.sh - g.pt + ki * g.dh;
		ix = ox * g.sw - g.pl + kj * g.dw;
		col[i] = (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
			? x[((e * g.c + group * g.cg + cc) * g.h + iy) * g.w + ix] : 0.0f;
	}
}

/* Unfolds group's kernel windows of samples samples from x into the scratch. */
PiStatus
pi_gpu_launch_im2col(const PiCudaArgs *a, const float *x, int64_t samples, int64_t group)
{
	ConvGeometry g = conv_geometry(a);
	int64_t		n = samples * g.cg * g.kh * g.kw * g.oh * g.ow;

	im2col_kernel PI_LAUNCH(n, a->stream) (g, x, group, a->scratch, n);
	return pi_gpu_launched(a, "im2col");
}

/*
 * Each output element of the group adds the columns that land on it, in
 * the CPU kernel's order (kernel row, then column) onto what y holds.
 */
__global__ static void
col2im_kernel(ConvGeometry g, const float *col, int64_t group, float *y, int64_t n)
{
	int64_t		rows = g.mg * g.kh * g.kw;

	PI_GRID_LOOP(i, n)
	{
		int64_t		e = i;
		int64_t		ox = e % g.ow;
		int64_t		oy,
					mm,
					s;
		float	   *dst;
		float		acc;

		e /= g.ow;
		oy = e % g.oh;
		e /= g.oh;
		mm = e % g.mg;
		s = e / g.mg;
		dst = y + ((s * g.m + group * g.mg + mm) * g.oh + oy) * g.ow + ox;
		acc = *dst;
		for (int ki = 0; ki < g.kh; ki++)
		{
			int64_t		ty = oy + g.pt - (int64_t) ki * g.dh;
			int64_t		iy = ty / g.sh;

			if (ty < 0 || ty % g.sh != 0 || iy >= g.h)
				continue;
			for (int kj = 0; kj < g.kw; kj++)
			{
				int64_t		tx = ox + g.pl - (int64_t) kj * g.dw;
				int64_t		ix = tx / g.sw;

				if (tx < 0 || tx % g.sw != 0 || ix >= g.w)
					continue;
				acc += col[(s * rows + (mm * g.kh + ki) * g.kw + kj) * g.h * g.w + iy * g.w + ix];
			}
		}
		*dst = acc;
	}
}

/* Adds group's columns in the scratch into the output planes of samples samples at y. */
PiStatus
pi_gpu_launch_col2im(const PiCudaArgs *a, float *y, int64_t samples, int64_t group)
{
	ConvGeometry g = conv_geometry(a);
	int64_t		n = samples * g.mg * g.oh * g.ow;

	col2im_kernel PI_LAUNCH(n, a->stream) (g, a->scratch, group, y, n);
	return pi_gpu_launched(a, "col2im");
}
