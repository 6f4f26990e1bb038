/*
 * conv.c
 *	  Conv2D (1-D as height 1) as im2col + one strided-batched SGEMM per
 *	  group over a chunk of samples (1x1 stride-1 unpadded convolutions skip
 *	  im2col), and ConvTranspose as SGEMM into columns + col2im, on the
 *	  device.  Chunks are as many samples as the executor's scratch holds.
 */
#include "cuda_internal.h"

/* Whether the conv reads its input directly as the GEMM's right operand. */
static bool
conv_is_pointwise(const PiAttrs *at)
{
	return at->kernel[0] == 1 && at->kernel[1] == 1 &&
		at->strides[0] == 1 && at->strides[1] == 1 &&
		at->pads[0] == 0 && at->pads[1] == 0 && at->pads[2] == 0 && at->pads[3] == 0;
}

/* Conv2D over the batch. */
PiStatus
pi_gpu_conv2d(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	bool		one_d = (a->in_rank[0] == 3);	/* [N,C,L] runs as [N,C,1,L] */
	int64_t		c = a->in_dims[0][1],
				h = one_d ? 1 : a->in_dims[0][2],
				w = a->in_dims[0][a->in_rank[0] - 1];
	int64_t		m = a->out_dims[1],
				oh = one_d ? 1 : a->out_dims[2],
				ow = a->out_dims[a->out_rank - 1];
	int64_t		groups = at->group;
	int64_t		cg = c / groups,
				mg = m / groups;
	int64_t		kdim = cg * at->kernel[0] * at->kernel[1];
	int64_t		plane = oh * ow;
	bool		pointwise = conv_is_pointwise(at);
	int64_t		chunk = pointwise ? a->batch : a->scratch_samples;
	float		beta = 0.0f;
	PiStatus	st;

	if (chunk < 1)
		return pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (Conv2D) has no im2col scratch", a->node->name);
	if (a->node->ninputs == 3)
	{
		if ((st = pi_gpu_launch_channel_fill(a, a->out, a->batch * m * plane, m, plane,
											  a->in[2])) != PI_OK)
			return st;
		beta = 1.0f;
	}
	for (int64_t s0 = 0; s0 < a->batch; s0 += chunk)
	{
		int64_t		samples = a->batch - s0 < chunk ? a->batch - s0 : chunk;
		const float *x = a->in[0] + s0 * c * h * w;

		for (int64_t g = 0; g < groups; g++)
		{
			const float *col = x + g * cg * h * w;
			int64_t		col_stride = c * h * w;

			if (!pointwise)
			{
				if ((st = pi_gpu_launch_im2col(a, x, samples, g)) != PI_OK)
					return st;
				col = a->scratch;
				col_stride = kdim * plane;
			}
			if ((st = pi_gpu_gemm(a, false, false, mg, plane, kdim, 1.0f,
								   a->in[1] + g * mg * kdim, kdim, 0,
								   col, plane, col_stride, beta,
								   a->out + s0 * m * plane + g * mg * plane, plane, m * plane,
								   samples)) != PI_OK)
				return st;
		}
	}
	return PI_OK;
}

/* ConvTranspose over the batch. */
PiStatus
pi_gpu_conv_transpose(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	bool		one_d = (a->in_rank[0] == 3);
	int64_t		c = a->in_dims[0][1],
				h = one_d ? 1 : a->in_dims[0][2],
				w = a->in_dims[0][a->in_rank[0] - 1];
	int64_t		m = a->out_dims[1],
				oh = one_d ? 1 : a->out_dims[2],
				ow = a->out_dims[a->out_rank - 1];
	int64_t		groups = at->group;
	int64_t		cg = c / groups,
				mg = m / groups;
	int64_t		rows = mg * at->kernel[0] * at->kernel[1];
	int64_t		chunk = a->scratch_samples;
	PiStatus	st;

	if (chunk < 1)
		return pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (ConvTranspose) has no col2im scratch", a->node->name);
	if (a->node->ninputs == 3)
		st = pi_gpu_launch_channel_fill(a, a->out, a->batch * m * oh * ow, m, oh * ow, a->in[2]);
	else
		st = pi_gpu_check(cudaMemsetAsync(a->out, 0, a->batch * m * oh * ow * sizeof(float),
										   a->stream), a->err, "clearing a ConvTranspose output");
	if (st != PI_OK)
		return st;
	for (int64_t s0 = 0; s0 < a->batch; s0 += chunk)
	{
		int64_t		samples = a->batch - s0 < chunk ? a->batch - s0 : chunk;

		for (int64_t g = 0; g < groups; g++)
		{
			/* W's group rows [Cg, Mg*kH*kW], transposed, times X's group [Cg, H*W] */
			if ((st = pi_gpu_gemm(a, true, false, rows, h * w, cg, 1.0f,
								   a->in[1] + g * cg * rows, rows, 0,
								   a->in[0] + s0 * c * h * w + g * cg * h * w, h * w, c * h * w,
								   0.0f, a->scratch, h * w, rows * h * w, samples)) != PI_OK ||
				(st = pi_gpu_launch_col2im(a, a->out + s0 * m * oh * ow, samples, g)) != PI_OK)
				return st;
		}
	}
	return PI_OK;
}
