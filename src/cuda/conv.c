/*
 * conv.c
 *	  Conv2D (1-D as height 1) as im2col + one strided-batched SGEMM per
 *	  group over a chunk of samples (1x1 stride-1 unpadded convolutions skip
 *	  im2col), and ConvTranspose as SGEMM into columns + col2im, on the
 *	  device.  Chunks are as many samples as the executor's scratch holds.
 */
#include "cuda_internal.h"
#include "pi_engine.h"

/* Conv2D over the batch. */
PiStatus
pi_gpu_conv2d(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	PiConvGeometry geo = pi_conv_geometry(a->node, a->in_dims[0], a->in_rank[0],
										  a->out_dims, a->out_rank);
	int64_t		kdim = geo.cg * geo.taps;
	int64_t		plane = geo.oh * geo.ow;
	bool		pointwise = pi_conv_is_pointwise(at);
	int64_t		chunk = pointwise ? a->batch : a->scratch_samples;
	float		beta = 0.0f;
	PiStatus	st;

	if (chunk < 1)
		return pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (Conv2D) has no im2col scratch", a->node->name);
	if (a->node->ninputs == 3)
	{
		if ((st = pi_gpu_launch_channel_fill(a, a->out, a->batch * geo.m * plane, geo.m, plane,
											  a->in[2])) != PI_OK)
			return st;
		beta = 1.0f;
	}
	for (int64_t s0 = 0; s0 < a->batch; s0 += chunk)
	{
		int64_t		samples = a->batch - s0 < chunk ? a->batch - s0 : chunk;
		const float *x = a->in[0] + s0 * geo.c * geo.h * geo.w;

		for (int64_t g = 0; g < geo.groups; g++)
		{
			const float *col = x + g * geo.cg * geo.h * geo.w;
			int64_t		col_stride = geo.c * geo.h * geo.w;

			if (!pointwise)
			{
				if ((st = pi_gpu_launch_im2col(a, x, samples, g)) != PI_OK)
					return st;
				col = a->scratch;
				col_stride = kdim * plane;
			}
			if ((st = pi_gpu_gemm(a, false, false, geo.mg, plane, kdim, 1.0f,
								   a->in[1] + g * geo.mg * kdim, kdim, 0,
								   col, plane, col_stride, beta,
								   a->out + (s0 * geo.m + g * geo.mg) * plane, plane,
								   geo.m * plane, samples)) != PI_OK)
				return st;
		}
	}
	return PI_OK;
}

/* ConvTranspose over the batch. */
PiStatus
pi_gpu_conv_transpose(const PiCudaArgs *a)
{
	PiConvGeometry geo = pi_conv_geometry(a->node, a->in_dims[0], a->in_rank[0],
										  a->out_dims, a->out_rank);
	int64_t		rows = geo.mg * geo.taps;
	int64_t		in_plane = geo.h * geo.w,
				out_plane = geo.oh * geo.ow;
	int64_t		chunk = a->scratch_samples;
	PiStatus	st;

	if (chunk < 1)
		return pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (ConvTranspose) has no col2im scratch", a->node->name);
	if (a->node->ninputs == 3)
		st = pi_gpu_launch_channel_fill(a, a->out, a->batch * geo.m * out_plane, geo.m, out_plane,
										a->in[2]);
	else
		st = pi_gpu_check(cudaMemsetAsync(a->out, 0, a->batch * geo.m * out_plane * sizeof(float),
										   a->stream), a->err, "clearing a ConvTranspose output");
	if (st != PI_OK)
		return st;
	for (int64_t s0 = 0; s0 < a->batch; s0 += chunk)
	{
		int64_t		samples = a->batch - s0 < chunk ? a->batch - s0 : chunk;

		for (int64_t g = 0; g < geo.groups; g++)
		{
			/* W's group rows [Cg, Mg*kH*kW], transposed, times X's group [Cg, H*W] */
			if ((st = pi_gpu_gemm(a, true, false, rows, in_plane, geo.cg, 1.0f,
								   a->in[1] + g * geo.cg * rows, rows, 0,
								   a->in[0] + (s0 * geo.c + g * geo.cg) * in_plane, in_plane,
								   geo.c * in_plane,
								   0.0f, a->scratch, in_plane, rows * in_plane, samples)) != PI_OK ||
				(st = pi_gpu_launch_col2im(a, a->out + s0 * geo.m * out_plane, samples, g)) != PI_OK)
				return st;
		}
	}
	return PI_OK;
}
