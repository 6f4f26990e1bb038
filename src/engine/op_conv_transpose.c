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

	for (int64_t n = 0; n < a->batch; n++)
	{
		const float *xn = a->in[0] + n * c * h * w;
		float	   *yn = a->out + n * m * oh * ow;

		for (int64_t o = 0; o < m; o++)
		{
			float		b = a->node->ninputs == 3 ? a->in[2][o] : 0.0f;

			for (int64_t p = 0; p < oh * ow; p++)
				yn[o * oh * ow + p] = b;
		}
		for (int64_t g = 0; g < groups; g++)
		{
			/* W's group rows [Cg, Mg*kH*kW], transposed, times X's group [Cg, H*W] */
			pi_blas.sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, h * w, cg,
						  1.0f, a->in[1] + g * cg * rows, rows, xn + g * cg * h * w, h * w,
						  0.0f, a->scratch, h * w);
			col2im(a->scratch, mg, h, w, at, oh, ow, yn + g * mg * oh * ow);
		}
	}
}
