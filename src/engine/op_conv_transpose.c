/*
 * op_conv_transpose.c
 *	  ConvTranspose (2-D, or 1-D as height 1): per sample and group one
 *	  SGEMM W^T X into columns, then col2im adds them into the output.
 */
#include <string.h>

#include "pi_blas.h"
#include "pi_engine.h"

/* Scratch floats a ConvTranspose node needs per sample (0 for other ops). */
int64_t
pi_conv_transpose_scratch_elems(const PiModel *model, const PiNode *node)
{
	const PiValue *x;

	if (node->op != PI_OP_CONV_TRANSPOSE)
		return 0;
	x = &model->values[node->inputs[0]];
	/* Mg * kH * kW rows of H * W columns */
	return (model->values[node->output].dims[1] / node->attrs.group) *
		node->attrs.kernel[0] * node->attrs.kernel[1] * (x->numel / x->dims[1]);
}

/* Adds columns [m][ki][kj][h*w] into the output planes [m][oh*ow]. */
static void
col2im(const float *col, int64_t channels, int64_t h, int64_t w, const PiAttrs *at,
	   int64_t oh, int64_t ow, float *y)
{
	for (int64_t m = 0; m < channels; m++)
		for (int ki = 0; ki < at->kernel[0]; ki++)
			for (int kj = 0; kj < at->kernel[1]; kj++)
			{
				for (int64_t iy = 0; iy < h; iy++)
				{
					int64_t		oy = iy * at->strides[0] - at->pads[0] + (int64_t) ki * at->dilations[0];
					const float *src = col + iy * w;
					float	   *dst;

					if (oy < 0 || oy >= oh)
						continue;
					dst = y + (m * oh + oy) * ow;
					for (int64_t ix = 0; ix < w; ix++)
					{
						int64_t		ox = ix * at->strides[1] - at->pads[1] + (int64_t) kj * at->dilations[1];

						if (ox >= 0 && ox < ow)
							dst[ox] += src[ix];
					}
				}
				col += h * w;
			}
}

/* ConvTranspose over the batch. */
void
pi_kernel_conv_transpose(const PiKernelArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	PiConvGeometry geo = pi_conv_geometry(a->node, a->in_dims[0], a->in_rank[0],
										  a->out_dims, a->out_rank);
	int64_t		rows = geo.mg * geo.taps;

	for (int64_t n = 0; n < a->batch; n++)
	{
		const float *xn = a->in[0] + n * geo.c * geo.h * geo.w;
		float	   *yn = a->out + n * geo.m * geo.oh * geo.ow;

		for (int64_t o = 0; o < geo.m; o++)
		{
			float		b = a->node->ninputs == 3 ? a->in[2][o] : 0.0f;

			for (int64_t p = 0; p < geo.oh * geo.ow; p++)
				yn[o * geo.oh * geo.ow + p] = b;
		}
		for (int64_t g = 0; g < geo.groups; g++)
		{
			/* W's group rows [Cg, Mg*kH*kW], transposed, times X's group [Cg, H*W] */
			pi_blas.sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, geo.h * geo.w, geo.cg,
						  1.0f, a->in[1] + g * geo.cg * rows, rows,
						  xn + g * geo.cg * geo.h * geo.w, geo.h * geo.w,
						  0.0f, a->scratch, geo.h * geo.w);
			col2im(a->scratch, geo.mg, geo.h, geo.w, at, geo.oh, geo.ow,
				   yn + g * geo.mg * geo.oh * geo.ow);
		}
	}
}
