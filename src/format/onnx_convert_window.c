/*
 * onnx_convert_window.c
 *	  Lowering of the window and normalization ONNX ops: Conv (with a
 *	  preceding zero Pad absorbed), ConvTranspose, MaxPool, AveragePool,
 *	  global pools, BatchNormalization, LayerNormalization, Pad.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

/* The spatial rank of a window op's input (rank 3: 1-D, rank 4: 2-D). */
static PiStatus
window_rank(OnnxCv *c, int x, int *spatial)
{
	int			rank = onnx_cv_shape(c, x)->rank;

	if (rank != 3 && rank != 4)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has a rank-%d input; only 1-D and 2-D windows (rank 3 or 4) are supported",
					   onnx_cv_label(c), c->n->op_type, rank);
	*spatial = rank - 2;
	return PI_OK;
}

/* Conv (1-D and 2-D) -> Conv2D. */
PiStatus
onnx_cv_conv(OnnxCv *c)
{
	static const char *const names[] = {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", NULL};
	PiAttrs		a;
	int			x,
				spatial = 0;

	TRY(onnx_cv_value(c, 0, &x));
	TRY(window_rank(c, x, &spatial));
	pi_attrs_default(PI_OP_CONV2D, &a);
	TRY(onnx_cv_copy_attrs(c, PI_OP_CONV2D, &a, names));
	if (c->in[0]->npads > 0)
	{
		/* a zero Pad before: added to the convolution's own padding */
		int64_t		pads[4];

		if (a.auto_pad != 0 || c->in[0]->npads != 2 * spatial)
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Conv) after a Pad cannot also use auto_pad",
						   onnx_cv_label(c));
		for (int i = 0; i < 2 * spatial; i++)
			pads[i] = c->in[0]->pads[i] + (a.pads_len ? a.pads[i] : 0);
		TRY(pi_attr_set_ints(PI_OP_CONV2D, &a, onnx_cv_label(c), "pads", pads, 2 * spatial, c->err));
	}
	return onnx_cv_finish(c, PI_OP_CONV2D, onnx_cv_has_input(c, 2) ? 3 : 2, &a);
}

/* ConvTranspose; output_shape is resolved into pads. */
PiStatus
onnx_cv_conv_transpose(OnnxCv *c)
{
	static const char *const names[] = {"kernel_shape", "strides", "dilations", "group", "output_padding", NULL};
	const int64_t *out_shape;
	int			nout = onnx_attr_ints(c->n, "output_shape", &out_shape);
	PiAttrs		a;
	int			x,
				spatial = 0;

	TRY(onnx_cv_value(c, 0, &x));
	TRY(window_rank(c, x, &spatial));
	pi_attrs_default(PI_OP_CONV_TRANSPOSE, &a);
	TRY(onnx_cv_copy_attrs(c, PI_OP_CONV_TRANSPOSE, &a, names));
	if (nout < 0)
	{
		static const char *const pad_names[] = {"pads", "auto_pad", NULL};

		TRY(onnx_cv_copy_attrs(c, PI_OP_CONV_TRANSPOSE, &a, pad_names));
	}
	else
	{
		const PiValue *xv = onnx_cv_shape(c, x);
		OnnxConst  *w;
		const char *auto_pad = onnx_attr_string(c->n, "auto_pad", "NOTSET");
		int64_t		pads[4],
					opads[2];
		bool		grow = false;

		TRY(onnx_cv_const(c, 1, &w));
		if (nout != spatial && nout != spatial + 2)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (ConvTranspose) output_shape has %d values",
						   onnx_cv_label(c), nout);
		for (int i = 0; i < spatial; i++)
		{
			int64_t		in = xv->dims[2 + i];
			int64_t		stride = a.strides_len ? a.strides[i] : 1;
			int64_t		dil = a.dilations_len ? a.dilations[i] : 1;
			int64_t		k = w->rank == spatial + 2 ? w->dims[2 + i] : 1;
			int64_t		opad = a.output_padding_len ? a.output_padding[i] : 0;
			int64_t		target = out_shape[nout - spatial + i];
			int64_t		total = stride * (in - 1) + opad + ((k - 1) * dil + 1) - target;

			/* half of the total (rounded down) at one end, as ONNX specifies */
			int64_t		half = (total >= 0) ? total / 2 : -((-total + 1) / 2);
			bool		upper = strcmp(auto_pad, "SAME_UPPER") == 0;

			pads[i] = upper ? half : total - half;
			pads[spatial + i] = upper ? total - half : half;
			/* a negative end: the output grows there, as output padding */
			if (pads[spatial + i] < 0)
			{
				opads[i] = opad - pads[spatial + i];
				pads[spatial + i] = 0;
				grow = true;
			}
			else
				opads[i] = opad;
			if (pads[i] < 0)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (ConvTranspose) output_shape needs negative padding at the start",
							   onnx_cv_label(c));
		}
		if (grow)
			TRY(pi_attr_set_ints(PI_OP_CONV_TRANSPOSE, &a, onnx_cv_label(c), "output_padding", opads, spatial, c->err));
		TRY(pi_attr_set_ints(PI_OP_CONV_TRANSPOSE, &a, onnx_cv_label(c), "pads", pads, 2 * spatial, c->err));
	}
	return onnx_cv_finish(c, PI_OP_CONV_TRANSPOSE, onnx_cv_has_input(c, 2) ? 3 : 2, &a);
}

/* MaxPool, AveragePool -> MaxPool2D, AveragePool2D (strides default 1). */
PiStatus
onnx_cv_pool(OnnxCv *c)
{
	static const char *const max_names[] = {"kernel_shape", "strides", "pads", "dilations", "ceil_mode", "auto_pad", NULL};
	static const char *const avg_names[] = {"kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad", "auto_pad", NULL};
	bool		is_max = strcmp(c->n->op_type, "MaxPool") == 0;
	PiOp		op = is_max ? PI_OP_MAX_POOL2D : PI_OP_AVERAGE_POOL2D;
	PiAttrs		a;
	int			x,
				spatial = 0;
	const int64_t *v;
	int64_t		ones[2] = {1, 1};

	if (c->n->noutputs > 1 && c->n->outputs[1][0] != '\0')
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (MaxPool) output Indices is not supported", onnx_cv_label(c));
	if (!is_max && onnx_attr_ints(c->n, "dilations", &v) > 0)
		for (int i = 0; i < onnx_attr_ints(c->n, "dilations", &v); i++)
			if (v[i] != 1)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (AveragePool) with dilations is not supported",
							   onnx_cv_label(c));
	TRY(onnx_cv_value(c, 0, &x));
	TRY(window_rank(c, x, &spatial));
	pi_attrs_default(op, &a);
	TRY(pi_attr_set_ints(op, &a, onnx_cv_label(c), "strides", ones, spatial, c->err));
	TRY(onnx_cv_copy_attrs(c, op, &a, is_max ? max_names : avg_names));
	return onnx_cv_finish(c, op, 1, &a);
}

/* GlobalAveragePool (2-D) or GlobalMaxPool/1-D: a reduction over the spatial axes. */
PiStatus
onnx_cv_global_pool(OnnxCv *c)
{
	bool		is_max = strcmp(c->n->op_type, "GlobalMaxPool") == 0;
	PiOp		op = is_max ? PI_OP_REDUCE_MAX : PI_OP_REDUCE_MEAN;
	PiAttrs		a;
	int			x,
				rank;
	int64_t		axes[PI_MAX_RANK];

	TRY(onnx_cv_value(c, 0, &x));
	rank = onnx_cv_shape(c, x)->rank;
	if (!is_max && rank == 4)
	{
		pi_attrs_default(PI_OP_GLOBAL_AVERAGE_POOL, &a);
		return onnx_cv_finish_output(c, 0, PI_OP_GLOBAL_AVERAGE_POOL, &x, 1, &a);
	}
	if (rank < 3)
		return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (%s) needs an input of rank 3 or more",
					   onnx_cv_label(c), c->n->op_type);
	for (int i = 2; i < rank; i++)
		axes[i - 2] = i;
	pi_attrs_default(op, &a);
	TRY(pi_attr_set_ints(op, &a, onnx_cv_label(c), "axes", axes, rank - 2, c->err));
	TRY(onnx_cv_set_int(c, op, &a, "keepdims", 1));
	return onnx_cv_finish_output(c, 0, op, &x, 1, &a);
}

/* BatchNormalization in inference mode. */
PiStatus
onnx_cv_batch_norm(OnnxCv *c)
{
	PiAttrs		a;

	if (onnx_attr_int(c->n, "training_mode", 0) != 0 ||
		(c->n->noutputs > 1 && c->n->outputs[1][0] != '\0'))
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (BatchNormalization) is in training mode (it updates running statistics)",
					   onnx_cv_label(c));
	if (onnx_attr_int(c->n, "spatial", 1) != 1)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (BatchNormalization) with spatial=0 is not supported",
					   onnx_cv_label(c));
	for (int i = 1; i < 5; i++)
	{
		OnnxConst  *k;

		TRY(onnx_cv_const(c, i, &k));
	}
	pi_attrs_default(PI_OP_BATCH_NORM, &a);
	TRY(pi_attr_set_float(PI_OP_BATCH_NORM, &a, onnx_cv_label(c), "epsilon",
						  onnx_attr_float(c->n, "epsilon", 1e-5f), c->err));
	return onnx_cv_finish(c, PI_OP_BATCH_NORM, 5, &a);
}

/*
 * The optional outputs of LayerNormalization, from IR ops over the same
 * axes: Mean = ReduceMean(x), InvStdDev = 1 / sqrt(ReduceMean((x - Mean)^2)
 * + epsilon), both keeping the reduced axes as 1.
 */
static PiStatus
layer_norm_statistics(OnnxCv *c, int x, int axis, float epsilon)
{
	const PiValue *xv = onnx_cv_shape(c, x);
	int64_t		axes[PI_MAX_RANK];
	int64_t		one = 1;
	int			naxes = 0,
				mean,
				v[2],
				t;
	PiAttrs		a;
	float	   *eps;
	bool		want_mean = c->n->noutputs > 1 && c->n->outputs[1][0] != '\0';
	bool		want_inv = c->n->noutputs > 2 && c->n->outputs[2][0] != '\0';

	for (int i = axis; i < xv->rank; i++)
		axes[naxes++] = i;
	pi_attrs_default(PI_OP_REDUCE_MEAN, &a);
	TRY(pi_attr_set_ints(PI_OP_REDUCE_MEAN, &a, onnx_cv_label(c), "axes", axes, naxes, c->err));
	if (want_mean)
	{
		TRY(onnx_cv_finish_output(c, 1, PI_OP_REDUCE_MEAN, &x, 1, &a));
		mean = onnx_entry(c->im, c->n->outputs[1])->value;
	}
	else
		TRY(onnx_cv_step(c, "mean", PI_OP_REDUCE_MEAN, &x, 1, &a, &mean));
	if (!want_inv)
		return PI_OK;
	v[0] = x;
	v[1] = mean;
	pi_attrs_default(PI_OP_SUB, &a);
	TRY(onnx_cv_step(c, "centered", PI_OP_SUB, v, 2, &a, &t));
	v[0] = v[1] = t;
	pi_attrs_default(PI_OP_MUL, &a);
	TRY(onnx_cv_step(c, "squared", PI_OP_MUL, v, 2, &a, &t));
	pi_attrs_default(PI_OP_REDUCE_MEAN, &a);
	TRY(pi_attr_set_ints(PI_OP_REDUCE_MEAN, &a, onnx_cv_label(c), "axes", axes, naxes, c->err));
	TRY(onnx_cv_step(c, "variance", PI_OP_REDUCE_MEAN, &t, 1, &a, &v[0]));
	if ((eps = malloc(sizeof(float))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	*eps = epsilon;
	TRY(onnx_add_weight(c->im, c->n->outputs[2], 1, &one, eps, &v[1], c->err));
	pi_attrs_default(PI_OP_ADD, &a);
	TRY(onnx_cv_step(c, "variance_eps", PI_OP_ADD, v, 2, &a, &t));
	pi_attrs_default(PI_OP_SQRT, &a);
	TRY(onnx_cv_step(c, "stddev", PI_OP_SQRT, &t, 1, &a, &t));
	pi_attrs_default(PI_OP_RECIPROCAL, &a);
	return onnx_cv_finish_output(c, 2, PI_OP_RECIPROCAL, &t, 1, &a);
}

/* LayerNormalization, with its optional Mean and InvStdDev outputs. */
PiStatus
onnx_cv_layer_norm(OnnxCv *c)
{
	static const char *const names[] = {"axis", "epsilon", NULL};
	PiAttrs		a;
	int			x;
	int64_t		axis = onnx_attr_int(c->n, "axis", -1);

	pi_attrs_default(PI_OP_LAYER_NORM, &a);
	TRY(onnx_cv_copy_attrs(c, PI_OP_LAYER_NORM, &a, names));
	TRY(onnx_cv_finish(c, PI_OP_LAYER_NORM, onnx_cv_has_input(c, 2) ? 3 : 2, &a));
	if (c->n->noutputs < 2)
		return PI_OK;
	TRY(onnx_cv_value(c, 0, &x));
	if (axis < 0)
		axis += onnx_cv_shape(c, x)->rank;
	return layer_norm_statistics(c, x, (int) axis, a.epsilon);
}

/* A Pad node: pads of every axis (axes given by opset 18's input, else all). */
static PiStatus
emit_pad(OnnxCv *c, int x, const int64_t *pads, int npads, const char *mode, float value)
{
	const PiValue *xv = onnx_cv_shape(c, x);
	int64_t		full[2 * PI_MAX_RANK] = {0};
	PiAttrs		a;

	if (onnx_cv_has_input(c, 3))
	{
		const int64_t *axes;
		int			naxes;

		TRY(onnx_cv_ints(c, 3, &axes, &naxes));
		if (npads != 2 * naxes)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Pad) has %d pads for %d axes, expected %d",
						   onnx_cv_label(c), npads, naxes, 2 * naxes);
		for (int i = 0; i < naxes; i++)
		{
			int64_t		axis = axes[i] < 0 ? axes[i] + xv->rank : axes[i];

			if (axis < 0 || axis >= xv->rank)
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Pad) axis %lld is out of range for rank %d",
							   onnx_cv_label(c), (long long) axes[i], xv->rank);
			full[axis] = pads[i];
			full[xv->rank + axis] = pads[naxes + i];
		}
	}
	else
	{
		if (npads != 2 * xv->rank)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Pad) has %d pads, expected %d for rank %d",
						   onnx_cv_label(c), npads, 2 * xv->rank, xv->rank);
		memcpy(full, pads, sizeof(int64_t) * npads);
	}
	pi_attrs_default(PI_OP_PAD, &a);
	TRY(pi_attr_set_ints(PI_OP_PAD, &a, onnx_cv_label(c), "pads", full, 2 * xv->rank, c->err));
	TRY(pi_attr_set_string(PI_OP_PAD, &a, onnx_cv_label(c), "mode", mode, c->err));
	TRY(pi_attr_set_float(PI_OP_PAD, &a, onnx_cv_label(c), "value", value, c->err));
	return onnx_cv_finish_output(c, 0, PI_OP_PAD, &x, 1, &a);
}

/*
 * Pad of an activation.  Zero padding of the spatial axes of a rank-3 or
 * rank-4 input is left pending, for a Conv reading it to add to its own
 * padding (another reader turns it into a Pad node); any other Pad is a Pad
 * node.
 */
PiStatus
onnx_cv_pad(OnnxCv *c)
{
	const int64_t *pads;
	int			npads,
				x,
				rank;
	float		value = 0;
	const char *mode = onnx_attr_string(c->n, "mode", "constant");
	bool		absorbable;
	OnnxEntry  *out;

	if (c->im->opset < 11)
	{
		npads = onnx_attr_ints(c->n, "pads", &pads);
		value = onnx_attr_float(c->n, "value", 0);
	}
	else
	{
		TRY(onnx_cv_ints(c, 1, &pads, &npads));
		if (onnx_cv_has_input(c, 2))
		{
			OnnxConst  *v;

			TRY(onnx_cv_const(c, 2, &v));
			if (v->numel != 1)
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Pad) constant_value has %lld values, expected 1",
							   onnx_cv_label(c), (long long) v->numel);
			value = (float) onnx_const_get(v, 0);
		}
	}
	if (!onnx_cv_has_input(c, 0) || c->in[0]->kind != ENTRY_ACT)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Pad) is only supported on a run-time value",
					   onnx_cv_label(c));
	TRY(onnx_cv_value(c, 0, &x));
	rank = onnx_cv_shape(c, x)->rank;
	absorbable = strcmp(mode, "constant") == 0 && value == 0 && (rank == 3 || rank == 4) &&
		npads == 2 * rank && !onnx_cv_has_input(c, 3) && c->in[0]->npads == 0;
	for (int i = 0; absorbable && i < npads; i++)
		if (pads[i] < 0 || pads[i] > 1000000 || ((i % rank) < 2 && pads[i] != 0))
			absorbable = false;
	if (!absorbable)
		return emit_pad(c, x, pads, npads, mode, value);
	TRY(onnx_define(c->im, c->n->outputs[0], NULL, x, c->err));
	out = onnx_entry(c->im, c->n->outputs[0]);
	out->npads = 2 * (rank - 2);
	for (int i = 0; i < rank - 2; i++)
	{
		out->pads[i] = pads[2 + i];
		out->pads[rank - 2 + i] = pads[rank + 2 + i];
	}
	return PI_OK;
}

