/*
 * shape_window.c
 *	  Shape inference of the window ops: Conv2D, ConvTranspose, the pools,
 *	  over [N,C,H,W] or (1-D) [N,C,L], with their attributes resolved into
 *	  the 2-D form the kernels read.
 */
#include <stdio.h>
#include <string.h>

#include "pi_engine.h"
#include "pi_ir.h"
#include "shape_internal.h"

/* Output spatial size of a window op along one axis; -1 if empty. */
int64_t
pi_window_out_size(int64_t in, int kernel, int stride, int pad_begin,
				   int pad_end, int dilation, int ceil_mode)
{
	int64_t		span = (int64_t) dilation * (kernel - 1) + 1;
	int64_t		avail = in + pad_begin + pad_end - span;
	int64_t		out;

	if (avail < 0)
		return -1;
	out = (ceil_mode ? (avail + stride - 1) / stride : avail / stride) + 1;
	/* a last window that would start inside the end padding is dropped */
	if (ceil_mode && (out - 1) * stride >= in + pad_begin)
		out--;
	return out;
}

/*
 * Brings the window attributes as given (1 or 2 spatial axes, pads as 2 or 4
 * values) into the 2-D form the kernels read; a 1-D window gets height 1.
 */
static PiStatus
resolve_window(PiNode *n, int spatial, PiError *err)
{
	PiAttrs    *a = &n->attrs;
	struct
	{
		const char *name;
		int			len;
	}			lists[] = {{"kernel_shape", a->kernel_len}, {"strides", a->strides_len},
	{"dilations", a->dilations_len}, {"output_padding", a->output_padding_len}};

	if (a->spatial_rank != 0)
		return PI_OK;
	for (int i = 0; i < 4; i++)
		if (lists[i].len != 0 && lists[i].len != spatial)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" has %d values, the input has %d spatial axes",
						   n->name, pi_op_name(n->op), lists[i].name, lists[i].len, spatial);
	if (a->pads_len != 0 && a->pads_len != 2 * spatial && !(spatial == 2 && a->pads_len == 2))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"pads\" has %d values, expected %d for %d spatial axes",
					   n->name, pi_op_name(n->op), a->pads_len, 2 * spatial, spatial);
	if (a->pads_len != 0 && a->auto_pad != PI_AUTO_PAD_NOTSET)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has both \"pads\" and \"auto_pad\"",
					   n->name, pi_op_name(n->op));
	if (spatial == 2 && a->pads_len == 2)
	{
		a->pads[2] = a->pads[0];
		a->pads[3] = a->pads[1];
	}
	if (spatial == 1)
	{
		/* [N, C, L] runs as [N, C, 1, L] */
		a->kernel[1] = a->kernel_len ? a->kernel[0] : 0;
		a->kernel[0] = 1;
		a->strides[1] = a->strides_len ? a->strides[0] : a->strides[1];
		a->strides[0] = 1;
		a->dilations[1] = a->dilations[0];
		a->dilations[0] = 1;
		a->output_padding[1] = a->output_padding[0];
		a->output_padding[0] = 0;
		a->pads[3] = a->pads[1];
		a->pads[1] = a->pads[0];
		a->pads[0] = a->pads[2] = 0;
	}
	a->spatial_rank = spatial;
	return PI_OK;
}

/* Checks window attributes (kernel, strides, pads, dilations) of a 2-D op. */
static PiStatus
check_window(const PiNode *n, const int *kernel, PiError *err)
{
	const PiAttrs *a = &n->attrs;

	for (int i = 0; i < 2; i++)
	{
		if (kernel[i] <= 0 || a->strides[i] <= 0 || a->dilations[i] <= 0 ||
			kernel[i] > 4096 || a->strides[i] > 4096 || a->dilations[i] > 4096)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) needs kernel, strides and dilations between 1 and 4096",
						   n->name, pi_op_name(n->op));
	}
	for (int i = 0; i < 4; i++)
		if (a->pads[i] < 0 || a->pads[i] > 4096)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has pad %d, expected 0 to 4096",
						   n->name, pi_op_name(n->op), a->pads[i]);
	return PI_OK;
}

/* Height and width of a window op's input: [N,C,H,W], or [N,C,L] as H = 1. */
static void
spatial_dims(const PiValue *x, int64_t *hw)
{
	hw[0] = x->rank == 4 ? x->dims[2] : 1;
	hw[1] = x->dims[x->rank - 1];
}

/* Replaces auto_pad by the pads it means for this input. */
static void
resolve_auto_pad(PiNode *n, const int64_t *hw, const int *kernel)
{
	PiAttrs    *a = &n->attrs;

	for (int i = 0; i < 2 && a->auto_pad != PI_AUTO_PAD_NOTSET; i++)
	{
		int64_t		out = (hw[i] + a->strides[i] - 1) / a->strides[i];
		int64_t		total = (out - 1) * a->strides[i] + (int64_t) (kernel[i] - 1) * a->dilations[i] + 1 - hw[i];
		int64_t		begin;

		if (a->auto_pad == PI_AUTO_PAD_VALID || total < 0)
			total = 0;
		if (total > 2 * 4096 + 2)
			total = 2 * 4096 + 2;	/* too large either way: check_window rejects it */
		begin = (a->auto_pad == PI_AUTO_PAD_SAME_LOWER) ? total - total / 2 : total / 2;
		a->pads[i] = (int) begin;
		a->pads[2 + i] = (int) (total - begin);
	}
	a->auto_pad = PI_AUTO_PAD_NOTSET;
}

/* Output dims [N, channels, oh, ow] (or [N, channels, ow]) of a window op over x. */
static PiStatus
window_output(PiModel *m, PiNode *n, const PiValue *x, const int *kernel,
			  int64_t channels, PiError *err)
{
	const PiAttrs *a = &n->attrs;
	int64_t		dims[4] = {-1, channels, 0, 0};
	int64_t		hw[2];
	int			ceil_mode = (n->op == PI_OP_CONV2D) ? 0 : a->ceil_mode;
	PiStatus	st;

	if ((st = check_window(n, kernel, err)) != PI_OK)
		return st;
	spatial_dims(x, hw);
	resolve_auto_pad(n, hw, kernel);
	for (int i = 0; i < 2; i++)
	{
		dims[2 + i] = pi_window_out_size(hw[i], kernel[i], a->strides[i],
										 a->pads[i], a->pads[2 + i], a->dilations[i], ceil_mode);
		if (dims[2 + i] <= 0)
		{
			char		xs[96];

			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) window %dx%d does not fit input %s",
						   n->name, pi_op_name(n->op), kernel[0], kernel[1],
						   pi_shape_string(x, xs, sizeof(xs)));
		}
	}
	if (x->rank == 3)
	{
		dims[2] = dims[3];
		return pi_shape_set_output(m, n, 3, dims, err);
	}
	return pi_shape_set_output(m, n, 4, dims, err);
}

/* Requires an [N,C,H,W] or [N,C,L] activation at input 0; resolves the window attributes. */
static PiStatus
need_nchw(const PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (x->rank != 4 && x->rank != 3)
	{
		char		xs[96];

		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) input \"%s\" has shape %s, expected [-1,C,H,W] or [-1,C,L]",
					   n->name, pi_op_name(n->op), x->name, pi_shape_string(x, xs, sizeof(xs)));
	}
	return resolve_window(n, x->rank - 2, err);
}

/* Conv2D: X [N,C,H,W], W [M,C/group,kH,kW], bias [M]; or 1-D over [N,C,L]. */
static PiStatus
infer_conv2d(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	const PiValue *w = &m->values[n->inputs[1]];
	int			g = n->attrs.group;
	int			kernel[2];
	char		xs[96],
				ws[96];
	PiStatus	st;

	if ((st = need_nchw(m, n, err)) != PI_OK ||
		(st = pi_shape_need_weight(m, n, 1, x->rank, err)) != PI_OK)
		return st;
	if (g <= 0 || x->dims[1] % g != 0 || w->dims[0] % g != 0 || w->dims[1] * g != x->dims[1])
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Conv2D) input %s, weight \"%s\" %s and group %d do not fit, expected weight [M,C/group,kH,kW]",
					   n->name, pi_shape_string(x, xs, sizeof(xs)), w->name,
					   pi_shape_string(w, ws, sizeof(ws)), g);
	if (w->dims[2] > 4096 || w->dims[w->rank - 1] > 4096)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Conv2D) kernel is larger than 4096", n->name);
	kernel[0] = w->rank == 4 ? (int) w->dims[2] : 1;
	kernel[1] = (int) w->dims[w->rank - 1];
	if (n->attrs.kernel_len != 0 &&
		(n->attrs.kernel[0] != kernel[0] || n->attrs.kernel[1] != kernel[1]))
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Conv2D) attribute \"kernel_shape\" does not match weight \"%s\" %s",
					   n->name, w->name, pi_shape_string(w, ws, sizeof(ws)));
	n->attrs.kernel[0] = kernel[0];
	n->attrs.kernel[1] = kernel[1];
	if ((st = pi_shape_check_bias(m, n, 2, w->dims[0], err)) != PI_OK)
		return st;
	return window_output(m, n, x, kernel, w->dims[0], err);
}

/* MaxPool2D and AveragePool2D. */
static PiStatus
infer_pool(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	PiStatus	st;

	if ((st = need_nchw(m, n, err)) != PI_OK)
		return st;
	if (n->attrs.kernel[0] <= 0 || n->attrs.kernel[1] <= 0)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) needs attribute \"kernel_shape\" of positive sizes",
					   n->name, pi_op_name(n->op));
	for (int i = 0; i < 2; i++)
		if (n->attrs.strides[i] == 0)
			n->attrs.strides[i] = n->attrs.kernel[i];
	if (n->attrs.auto_pad != PI_AUTO_PAD_NOTSET)
	{
		int64_t		hw[2];

		spatial_dims(x, hw);
		resolve_auto_pad(n, hw, n->attrs.kernel);
	}
	for (int i = 0; i < 2; i++)
		if (n->attrs.pads[i] * 2 > n->attrs.kernel[i] || n->attrs.pads[i + 2] * 2 > n->attrs.kernel[i])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) pads must be at most half the kernel",
						   n->name, pi_op_name(n->op));
	return window_output(m, n, x, n->attrs.kernel, x->dims[1], err);
}

/* GlobalAveragePool: [N,C,H,W] to [N,C,1,1], [N,C,L] to [N,C,1]. */
static PiStatus
infer_global_pool(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[4] = {-1, x->dims[1], 1, 1};
	PiStatus	st;

	if ((st = need_nchw(m, n, err)) != PI_OK)
		return st;
	return pi_shape_set_output(m, n, x->rank, dims, err);
}

/*
 * ConvTranspose: X [N,C,H,W], W [C,M/group,kH,kW], bias [M]; out =
 * stride * (in - 1) + output_padding + dilated kernel - pads.
 */
static PiStatus
infer_conv_transpose(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	const PiValue *w = &m->values[n->inputs[1]];
	PiAttrs    *a = &n->attrs;
	int			g = a->group;
	int64_t		dims[4] = {-1, 0, 0, 0};
	int64_t		hw[2];
	char		xs[96],
				ws[96];
	PiStatus	st;

	if ((st = need_nchw(m, n, err)) != PI_OK ||
		(st = pi_shape_need_weight(m, n, 1, x->rank, err)) != PI_OK)
		return st;
	if (g <= 0 || x->dims[1] % g != 0 || w->dims[0] != x->dims[1])
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (ConvTranspose) input %s, weight \"%s\" %s and group %d do not fit, expected weight [C,M/group,kH,kW]",
					   n->name, pi_shape_string(x, xs, sizeof(xs)), w->name,
					   pi_shape_string(w, ws, sizeof(ws)), g);
	if (w->dims[2] > 4096 || w->dims[w->rank - 1] > 4096 || w->dims[1] > 1000000)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (ConvTranspose) weight \"%s\" is too large", n->name, w->name);
	if (a->kernel_len != 0 &&
		(a->kernel[0] != (w->rank == 4 ? w->dims[2] : 1) || a->kernel[1] != w->dims[w->rank - 1]))
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (ConvTranspose) attribute \"kernel_shape\" does not match weight \"%s\" %s",
					   n->name, w->name, pi_shape_string(w, ws, sizeof(ws)));
	a->kernel[0] = w->rank == 4 ? (int) w->dims[2] : 1;
	a->kernel[1] = (int) w->dims[w->rank - 1];
	dims[1] = w->dims[1] * g;
	if ((st = check_window(n, a->kernel, err)) != PI_OK ||
		(st = pi_shape_check_bias(m, n, 2, dims[1], err)) != PI_OK)
		return st;
	spatial_dims(x, hw);
	for (int i = 0; i < 2; i++)
	{
		int64_t		span = (int64_t) (a->kernel[i] - 1) * a->dilations[i] + 1;
		int64_t		full = (hw[i] - 1) * a->strides[i] + a->output_padding[i] + span;

		if (a->output_padding[i] >= a->strides[i] && a->output_padding[i] >= a->dilations[i])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (ConvTranspose) output_padding %d must be smaller than the stride or the dilation",
						   n->name, a->output_padding[i]);
		if (a->auto_pad == PI_AUTO_PAD_SAME_UPPER || a->auto_pad == PI_AUTO_PAD_SAME_LOWER)
		{
			int64_t		total = full - hw[i] * a->strides[i];

			if (total < 0)
				total = 0;
			a->pads[i] = (int) (a->auto_pad == PI_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2);
			a->pads[2 + i] = (int) (total - a->pads[i]);
		}
		dims[2 + i] = full - a->pads[i] - a->pads[2 + i];
		if (dims[2 + i] <= 0)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (ConvTranspose) pads leave no output for input %s",
						   n->name, pi_shape_string(x, xs, sizeof(xs)));
	}
	a->auto_pad = PI_AUTO_PAD_NOTSET;
	if (x->rank == 3)
	{
		dims[2] = dims[3];
		return pi_shape_set_output(m, n, 3, dims, err);
	}
	return pi_shape_set_output(m, n, 4, dims, err);
}

/* Infers a window op's output shape. */
PiStatus
pi_infer_window(PiModel *m, PiNode *n, PiError *err)
{
	switch (n->op)
	{
		case PI_OP_CONV2D:
			return infer_conv2d(m, n, err);
		case PI_OP_CONV_TRANSPOSE:
			return infer_conv_transpose(m, n, err);
		case PI_OP_GLOBAL_AVERAGE_POOL:
			return infer_global_pool(m, n, err);
		default:
			return infer_pool(m, n, err);
	}
}
