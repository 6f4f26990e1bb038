/*
 * shape.c
 *	  Shape inference: each node's output shape from its inputs' shapes,
 *	  with every check that makes the kernels safe to run.
 */
#include <stdio.h>
#include <string.h>

#include "pi_engine.h"
#include "pi_ir.h"

#define IS_ACT(v) ((v)->kind != PI_VALUE_WEIGHT)

/* Sets the node's output shape from rank/dims (dims[0] ignored: batch). */
static PiStatus
set_output(PiModel *m, PiNode *n, int rank, const int64_t *dims, PiError *err)
{
	PiValue    *out = &m->values[n->output];
	int64_t		numel = 1;

	if (rank < 1 || rank > PI_MAX_RANK)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (%s) would produce rank %d, the limit is %d",
					   n->name, pi_op_name(n->op), rank, PI_MAX_RANK);
	for (int i = 1; i < rank; i++)
	{
		if (dims[i] <= 0)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) would produce an empty dimension %d",
						   n->name, pi_op_name(n->op), i);
		if (!pi_mul_size(numel, dims[i], &numel) || numel > ((int64_t) 1 << 32))
			return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (%s) output has too many elements per row",
						   n->name, pi_op_name(n->op));
	}
	out->rank = rank;
	memcpy(out->dims, dims, sizeof(int64_t) * rank);
	out->dims[0] = -1;
	out->numel = numel;
	out->shape_known = true;
	return PI_OK;
}

/* Normalizes an axis of an activation of this rank; the batch axis is refused. */
static PiStatus
activation_axis(const PiNode *n, int axis, int rank, int *result, PiError *err)
{
	int			a = axis < 0 ? axis + rank : axis;

	if (a < 0 || a >= rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has axis %d, out of range for rank %d",
					   n->name, pi_op_name(n->op), axis, rank);
	if (a == 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) works on axis 0, the batch axis",
					   n->name, pi_op_name(n->op));
	*result = a;
	return PI_OK;
}

/* Requires input i to be an activation (it carries the batch). */
static PiStatus
need_activation(const PiModel *m, const PiNode *n, int i, PiError *err)
{
	if (!IS_ACT(&m->values[n->inputs[i]]))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input %d \"%s\" is a weight, expected an activation",
					   n->name, pi_op_name(n->op), i, m->values[n->inputs[i]].name);
	return PI_OK;
}

/* Requires input i to be a weight of the given rank. */
static PiStatus
need_weight(const PiModel *m, const PiNode *n, int i, int rank, PiError *err)
{
	const PiValue *v = &m->values[n->inputs[i]];
	char		buf[96];

	if (IS_ACT(v))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input %d \"%s\" must be a weight",
					   n->name, pi_op_name(n->op), i, v->name);
	if (v->rank != rank)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) weight \"%s\" has shape %s, expected rank %d",
					   n->name, pi_op_name(n->op), v->name, pi_shape_string(v, buf, sizeof(buf)), rank);
	return PI_OK;
}

/* Requires an optional bias (input i) of shape [count]. */
static PiStatus
check_bias(const PiModel *m, const PiNode *n, int i, int64_t count, PiError *err)
{
	const PiValue *b;
	char		buf[96];
	PiStatus	st;

	if (n->ninputs <= i)
		return PI_OK;
	if ((st = need_weight(m, n, i, 1, err)) != PI_OK)
		return st;
	b = &m->values[n->inputs[i]];
	if (b->dims[0] != count)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) bias \"%s\" has shape %s, expected [%lld]",
					   n->name, pi_op_name(n->op), b->name, pi_shape_string(b, buf, sizeof(buf)),
					   (long long) count);
	return PI_OK;
}

/* Dense and Gemm: X [N,K] times W ([M,K] or [K,M]) plus bias [M]. */
static PiStatus
infer_gemm(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	const PiValue *w = &m->values[n->inputs[1]];
	bool		w_is_mk = (n->op == PI_OP_DENSE) || n->attrs.trans_b;
	int64_t		k,
				mdim,
				dims[2];
	char		xs[96],
				ws[96];
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK ||
		(st = need_weight(m, n, 1, 2, err)) != PI_OK)
		return st;
	/* A is the activation [N,K]: transposed, its batch axis would be contracted */
	if (n->attrs.trans_a)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gemm) has transA=1: multiplying along the batch axis is not supported",
					   n->name);
	if (x->rank != 2)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) input \"%s\" has shape %s, expected [-1,K]",
					   n->name, pi_op_name(n->op), x->name, pi_shape_string(x, xs, sizeof(xs)));
	k = w_is_mk ? w->dims[1] : w->dims[0];
	mdim = w_is_mk ? w->dims[0] : w->dims[1];
	if (k != x->dims[1])
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) input \"%s\" has shape %s but weight \"%s\" has shape %s, expected %s",
					   n->name, pi_op_name(n->op), x->name, pi_shape_string(x, xs, sizeof(xs)),
					   w->name, pi_shape_string(w, ws, sizeof(ws)),
					   w_is_mk ? "[M,K]" : "[K,M]");
	if ((st = check_bias(m, n, 2, mdim, err)) != PI_OK)
		return st;
	dims[0] = -1;
	dims[1] = mdim;
	return set_output(m, n, 2, dims, err);
}

/* MatMul: A [N,...,K] by a weight [K,M], or two activations of equal rank. */
static PiStatus
infer_matmul(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *a = &m->values[n->inputs[0]];
	const PiValue *b = &m->values[n->inputs[1]];
	int64_t		dims[PI_MAX_RANK];
	char		as[96],
				bs[96];
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (a->rank < 2)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (MatMul) input \"%s\" needs rank 2 or more",
					   n->name, a->name);
	memcpy(dims, a->dims, sizeof(int64_t) * a->rank);
	if (!IS_ACT(b))
	{
		if (b->rank != 2 || b->dims[0] != a->dims[a->rank - 1])
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (MatMul) cannot multiply %s by weight \"%s\" of shape %s",
						   n->name, pi_shape_string(a, as, sizeof(as)), b->name,
						   pi_shape_string(b, bs, sizeof(bs)));
		dims[a->rank - 1] = b->dims[1];
		return set_output(m, n, a->rank, dims, err);
	}
	if (b->rank != a->rank || a->rank < 3 ||
		b->dims[b->rank - 2] != a->dims[a->rank - 1] ||
		memcmp(a->dims + 1, b->dims + 1, sizeof(int64_t) * (a->rank - 3)) != 0)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (MatMul) cannot multiply %s by %s",
					   n->name, pi_shape_string(a, as, sizeof(as)), pi_shape_string(b, bs, sizeof(bs)));
	dims[a->rank - 1] = b->dims[b->rank - 1];
	return set_output(m, n, a->rank, dims, err);
}

/*
 * Add/Sub/Mul/Div: NumPy broadcasting.  A weight's dimensions that line up
 * with the batch must be 1; two activations must have the same rank.
 */
static PiStatus
infer_binary(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *a = &m->values[n->inputs[0]];
	const PiValue *b = &m->values[n->inputs[1]];
	int			rank = a->rank > b->rank ? a->rank : b->rank;
	int64_t		dims[PI_MAX_RANK];
	char		as[96],
				bs[96];

	if (!IS_ACT(a) && !IS_ACT(b))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has two weight inputs, expected at least one activation",
					   n->name, pi_op_name(n->op));
	if (IS_ACT(a) && IS_ACT(b) && a->rank != b->rank)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) inputs %s and %s have different ranks",
					   n->name, pi_op_name(n->op), pi_shape_string(a, as, sizeof(as)),
					   pi_shape_string(b, bs, sizeof(bs)));
	for (int i = 0; i < rank; i++)
	{
		int			ia = i - (rank - a->rank);
		int			ib = i - (rank - b->rank);
		int64_t		da = ia >= 0 ? a->dims[ia] : 1;
		int64_t		db = ib >= 0 ? b->dims[ib] : 1;

		if (i == 0)
		{
			/* the batch axis: an activation's -1, a weight's 1 */
			if ((IS_ACT(a) && ia != 0) || (IS_ACT(b) && ib != 0) ||
				(!IS_ACT(a) && da != 1) || (!IS_ACT(b) && db != 1))
				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) cannot broadcast %s with %s along the batch axis",
							   n->name, pi_op_name(n->op), pi_shape_string(a, as, sizeof(as)),
							   pi_shape_string(b, bs, sizeof(bs)));
			dims[0] = -1;
			continue;
		}
		if (da != db && da != 1 && db != 1)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) cannot broadcast %s with %s",
						   n->name, pi_op_name(n->op), pi_shape_string(a, as, sizeof(as)),
						   pi_shape_string(b, bs, sizeof(bs)));
		dims[i] = da > db ? da : db;
	}
	return set_output(m, n, rank, dims, err);
}

/* Ops whose output has the input's shape. */
static PiStatus
infer_same(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	PiStatus	st;
	int			axis = 0;

	if ((st = need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (n->op == PI_OP_SOFTMAX || n->op == PI_OP_LOG_SOFTMAX)
	{
		if ((st = activation_axis(n, n->attrs.axis, x->rank, &axis, err)) != PI_OK)
			return st;
		n->attrs.axis = axis;
	}
	return set_output(m, n, x->rank, x->dims, err);
}

/* Reshape: a full target shape whose first element is -1 (the batch). */
static PiStatus
infer_reshape(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		numel = 1;
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (n->attrs.shape_len < 1 || n->attrs.shape[0] != -1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Reshape) needs attribute \"shape\" whose first element is -1 (the batch)",
					   n->name);
	for (int i = 1; i < n->attrs.shape_len; i++)
	{
		if (n->attrs.shape[i] <= 0)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Reshape) shape element %d is %lld, expected a positive size",
						   n->name, i, (long long) n->attrs.shape[i]);
		if (!pi_mul_size(numel, n->attrs.shape[i], &numel))
			return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Reshape) shape overflows", n->name);
	}
	if (numel != x->numel)
	{
		char		xs[96];

		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Reshape) cannot reshape %s (%lld values per row) to %lld values per row",
					   n->name, pi_shape_string(x, xs, sizeof(xs)), (long long) x->numel, (long long) numel);
	}
	return set_output(m, n, n->attrs.shape_len, n->attrs.shape, err);
}

/* Flatten with axis 1: [N, everything else]. */
static PiStatus
infer_flatten(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[2] = {-1, x->numel};
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (n->attrs.axis != 1)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Flatten) has axis %d, only axis 1 keeps the batch",
					   n->name, n->attrs.axis);
	return set_output(m, n, 2, dims, err);
}

/* Transpose: a permutation that keeps the batch axis first. */
static PiStatus
infer_transpose(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[PI_MAX_RANK];
	bool		seen[PI_MAX_RANK] = {false};
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (n->attrs.perm_len == 0)
	{
		n->attrs.perm_len = x->rank;
		n->attrs.perm[0] = 0;
		for (int i = 1; i < x->rank; i++)
			n->attrs.perm[i] = x->rank - i;
	}
	if (n->attrs.perm_len != x->rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Transpose) perm has %d elements, the input has rank %d",
					   n->name, n->attrs.perm_len, x->rank);
	for (int i = 0; i < x->rank; i++)
	{
		int			p = n->attrs.perm[i];

		if (p < 0 || p >= x->rank || seen[p])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Transpose) perm is not a permutation of 0..%d",
						   n->name, x->rank - 1);
		seen[p] = true;
		dims[i] = x->dims[p];
	}
	if (n->attrs.perm[0] != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Transpose) moves the batch axis, perm[0] must be 0",
					   n->name);
	return set_output(m, n, x->rank, dims, err);
}

/* Concat: activations equal in all dimensions but the axis. */
static PiStatus
infer_concat(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x0 = &m->values[n->inputs[0]];
	int64_t		dims[PI_MAX_RANK];
	int			axis = 0;
	PiStatus	st;

	if ((st = activation_axis(n, n->attrs.axis, x0->rank, &axis, err)) != PI_OK)
		return st;
	n->attrs.axis = axis;
	memcpy(dims, x0->dims, sizeof(dims));
	dims[axis] = 0;
	for (int i = 0; i < n->ninputs; i++)
	{
		const PiValue *x = &m->values[n->inputs[i]];
		char		s0[96],
					si[96];

		if ((st = need_activation(m, n, i, err)) != PI_OK)
			return st;
		if (x->rank != x0->rank)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Concat) input \"%s\" has rank %d, expected %d",
						   n->name, x->name, x->rank, x0->rank);
		for (int d = 1; d < x->rank; d++)
			if (d != axis && x->dims[d] != x0->dims[d])
				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Concat) inputs %s and %s differ outside axis %d",
							   n->name, pi_shape_string(x0, s0, sizeof(s0)),
							   pi_shape_string(x, si, sizeof(si)), axis);
		dims[axis] += x->dims[axis];
	}
	return set_output(m, n, x0->rank, dims, err);
}

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
		return set_output(m, n, 3, dims, err);
	}
	return set_output(m, n, 4, dims, err);
}

/* Requires an [N,C,H,W] or [N,C,L] activation at input 0; resolves the window attributes. */
static PiStatus
need_nchw(const PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK)
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
		(st = need_weight(m, n, 1, x->rank, err)) != PI_OK)
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
	if ((st = check_bias(m, n, 2, w->dims[0], err)) != PI_OK)
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
	return set_output(m, n, x->rank, dims, err);
}

/* BatchNormalization: X [N,C,...] and four weights of shape [C]. */
static PiStatus
infer_batch_norm(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (x->rank < 2)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (BatchNormalization) input \"%s\" needs a channel axis",
					   n->name, x->name);
	for (int i = 1; i < 5; i++)
		if ((st = check_bias(m, n, i, x->dims[1], err)) != PI_OK)
			return st;
	if (!(n->attrs.epsilon >= 0.0f))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (BatchNormalization) epsilon must not be negative",
					   n->name);
	return set_output(m, n, x->rank, x->dims, err);
}

/* ArgMax along a non-batch axis. */
static PiStatus
infer_argmax(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[PI_MAX_RANK];
	int			rank = 0,
				axis = 0;
	PiStatus	st;

	if ((st = need_activation(m, n, 0, err)) != PI_OK ||
		(st = activation_axis(n, n->attrs.axis, x->rank, &axis, err)) != PI_OK)
		return st;
	n->attrs.axis = axis;
	for (int i = 0; i < x->rank; i++)
	{
		if (i != axis)
			dims[rank++] = x->dims[i];
		else if (n->attrs.keepdims)
			dims[rank++] = 1;
	}
	return set_output(m, n, rank, dims, err);
}

/* Infers the output shape of one node whose inputs' shapes are known. */
PiStatus
pi_infer_node(PiModel *m, PiNode *n, PiError *err)
{
	/*
	 * An empty weight (a dimension of size 0) fits no op: the checks below
	 * would broadcast it or multiply its other, unbounded, dimensions.
	 */
	for (int i = 0; i < n->ninputs; i++)
	{
		const PiValue *v = &m->values[n->inputs[i]];
		char		buf[96];

		if (v->kind == PI_VALUE_WEIGHT && v->numel == 0)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) weight \"%s\" of shape %s is empty",
						   n->name, pi_op_name(n->op), v->name, pi_shape_string(v, buf, sizeof(buf)));
	}
	switch (n->op)
	{
		case PI_OP_DENSE:
		case PI_OP_GEMM:
			return infer_gemm(m, n, err);
		case PI_OP_MATMUL:
			return infer_matmul(m, n, err);
		case PI_OP_ADD:
		case PI_OP_SUB:
		case PI_OP_MUL:
		case PI_OP_DIV:
			return infer_binary(m, n, err);
		case PI_OP_RELU:
		case PI_OP_LEAKY_RELU:
		case PI_OP_SIGMOID:
		case PI_OP_TANH:
		case PI_OP_GELU:
		case PI_OP_SOFTMAX:
		case PI_OP_LOG_SOFTMAX:
		case PI_OP_IDENTITY:
		case PI_OP_DROPOUT:
			return infer_same(m, n, err);
		case PI_OP_RESHAPE:
			return infer_reshape(m, n, err);
		case PI_OP_FLATTEN:
			return infer_flatten(m, n, err);
		case PI_OP_TRANSPOSE:
			return infer_transpose(m, n, err);
		case PI_OP_CONCAT:
			return infer_concat(m, n, err);
		case PI_OP_CONV2D:
			return infer_conv2d(m, n, err);
		case PI_OP_MAX_POOL2D:
		case PI_OP_AVERAGE_POOL2D:
			return infer_pool(m, n, err);
		case PI_OP_GLOBAL_AVERAGE_POOL:
			return infer_global_pool(m, n, err);
		case PI_OP_BATCH_NORM:
			return infer_batch_norm(m, n, err);
		case PI_OP_ARGMAX:
			return infer_argmax(m, n, err);
		default:
			break;
	}
	if (n->op < PI_OP_COUNT)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s): op %s is not implemented yet",
					   n->name, pi_op_name(n->op), pi_op_name(n->op));
	return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" has an unknown op", n->name);
}
