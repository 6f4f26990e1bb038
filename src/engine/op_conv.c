/*
 * op_conv.c
 *	  Conv2D as im2col + SGEMM per sample and group; 1x1 stride-1 unpadded
 *	  convolutions skip im2col.
 */
#include <string.h>

#include "pi_blas.h"
#include "pi_engine.h"

/* Whether a Conv2D reads its input directly as the GEMM's right operand (1x1, stride 1, no pads). */
bool
pi_conv_is_pointwise(const PiAttrs *at)
{
	return at->kernel[0] == 1 && at->kernel[1] == 1 &&
		at->strides[0] == 1 && at->strides[1] == 1 &&
		at->pads[0] == 0 && at->pads[1] == 0 && at->pads[2] == 0 && at->pads[3] == 0;
}

/* Per-row scratch floats a Conv2D node needs (0 for other ops). */
int64_t
pi_conv2d_scratch_row_elems(const PiModel *model, const PiNode *node)
{
	const PiValue *x,
			   *out;

	if (node->op != PI_OP_CONV2D || pi_conv_is_pointwise(&node->attrs))
		return 0;
	x = &model->values[node->inputs[0]];
	out = &model->values[node->output];
	return (x->dims[1] / node->attrs.group) * node->attrs.kernel[0] * node->attrs.kernel[1] *
		(out->numel / out->dims[1]);
}

/* The geometry of a Conv2D or ConvTranspose node with these input and output dims. */
PiConvGeometry
pi_conv_geometry(const PiNode *node, const int64_t *in_dims, int in_rank,
				 const int64_t *out_dims, int out_rank)
{
	bool		one_d = (in_rank == 3);	/* [N,C,L] runs as [N,C,1,L] */
	PiConvGeometry geo;

	geo.c = in_dims[1];
	geo.h = one_d ? 1 : in_dims[2];
	geo.w = in_dims[in_rank - 1];
	geo.m = out_dims[1];
	geo.oh = one_d ? 1 : out_dims[2];
	geo.ow = out_dims[out_rank - 1];
	geo.groups = node->attrs.group;
	geo.cg = geo.c / geo.groups;
	geo.mg = geo.m / geo.groups;
	geo.taps = (int64_t) node->attrs.kernel[0] * node->attrs.kernel[1];
	return geo;
}

/* Unfolds the kernel windows of channels [c0, c0+channels) into col. */
static void
im2col(const float *x, int64_t channels, int64_t h, int64_t w,
	   const PiAttrs *at, int64_t oh, int64_t ow, float *col)
{
	for (int64_t c = 0; c < channels; c++)
		for (int ki = 0; ki < at->kernel[0]; ki++)
			for (int kj = 0; kj < at->kernel[1]; kj++)
			{
				for (int64_t oy = 0; oy < oh; oy++)
				{
					int64_t		iy = oy * at->strides[0] - at->pads[0] + (int64_t) ki * at->dilations[0];
					float	   *dst = col + oy * ow;

					if (iy < 0 || iy >= h)
					{
						memset(dst, 0, sizeof(float) * ow);
						continue;
					}
					for (int64_t ox = 0; ox < ow; ox++)
					{
						int64_t		ix = ox * at->strides[1] - at->pads[1] + (int64_t) kj * at->dilations[1];

						dst[ox] = (ix >= 0 && ix < w) ? x[(c * h + iy) * w + ix] : 0.0f;
					}
				}
				col += oh * ow;
			}
}

/* Conv2D over the batch; a 1-D convolution is one of height 1. */
void
pi_kernel_conv2d(const PiKernelArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	PiConvGeometry geo = pi_conv_geometry(a->node, a->in_dims[0], a->in_rank[0],
										  a->out_dims, a->out_rank);
	int64_t		kdim = geo.cg * geo.taps;
	int64_t		plane = geo.oh * geo.ow;
	bool		pointwise = pi_conv_is_pointwise(at);

	for (int64_t n = 0; n < a->batch; n++)
	{
		const float *xn = a->in[0] + n * geo.c * geo.h * geo.w;
		float	   *yn = a->out + n * geo.m * plane;
		float		beta = 0.0f;

		if (a->node->ninputs == 3)
		{
			for (int64_t o = 0; o < geo.m; o++)
			{
				float		b = a->in[2][o];

				for (int64_t p = 0; p < plane; p++)
					yn[o * plane + p] = b;
			}
			beta = 1.0f;
		}
		for (int64_t g = 0; g < geo.groups; g++)
		{
			const float *col;

			if (pointwise)
				col = xn + g * geo.cg * geo.h * geo.w;
			else
			{
				im2col(xn + g * geo.cg * geo.h * geo.w, geo.cg, geo.h, geo.w, at, geo.oh, geo.ow,
					   a->scratch);
				col = a->scratch;
			}
			pi_blas.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, geo.mg, plane, kdim,
						1.0f, a->in[1] + g * geo.mg * kdim, kdim, col, plane,
						beta, yn + g * geo.mg * plane, plane);
		}
	}
}
