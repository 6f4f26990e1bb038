/*
 * onnx_convert_shape.c
 *	  Lowering of the ONNX ops that move data: Reshape and Flatten (keeping
 *	  the batch), Squeeze, Unsqueeze, Transpose, Concat, Gather and
 *	  ArrayFeatureExtractor, Slice, Split (one Slice per output), Expand, TopK
 *	  (one node per output).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

/*
 * Reshape to a constant target.  Position 0 of the target is the batch
 * (the symbolic batch size from Shape(), 0 = copy, -1, or the exported
 * size); the other positions must give the input's row size.
 */
PiStatus
onnx_cv_reshape_op(OnnxCv *c)
{
	int			x,
				count;
	const int64_t *target;
	const PiValue *xv;
	int64_t		dims[PI_MAX_RANK];
	int64_t		known = 1;
	int			infer = -1;
	OnnxConst  *k;

	TRY(onnx_cv_value(c, 0, &x));
	xv = onnx_cv_shape(c, x);
	if (c->im->opset < 5)
		count = onnx_attr_ints(c->n, "shape", &target);
	else
	{
		TRY(onnx_cv_const(c, 1, &k));
		if (!k->is_int || k->rank != 1)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Reshape) shape must be a list of integers", onnx_cv_label(c));
		target = k->ints;
		count = (int) k->numel;
	}
	if (count < 1 || count > PI_MAX_RANK)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Reshape) target has %d dimensions, expected 1 to %d (the first is the batch)",
					   onnx_cv_label(c), count, PI_MAX_RANK);
	dims[0] = -1;
	for (int i = 1; i < count; i++)
	{
		dims[i] = target[i];
		if (dims[i] == 0 && onnx_attr_int(c->n, "allowzero", 0) == 0 && i < xv->rank)
			dims[i] = xv->dims[i];
		if (dims[i] == -1 && infer < 0)
		{
			infer = i;
			continue;
		}
		if (dims[i] <= 0 || !pi_mul_size(known, dims[i], &known))
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Reshape) target dimension %d is %s",
						   onnx_cv_label(c), i, dims[i] == ONNX_BATCH_DIM ? "the batch size (only dimension 0 may be)" : "not a positive size");
	}
	if (infer >= 0)
	{
		if (xv->numel % known != 0)
			return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (Reshape) cannot reshape %lld values per row with a -1 dimension",
						   onnx_cv_label(c), (long long) xv->numel);
		dims[infer] = xv->numel / known;
		known = xv->numel;
	}
	if (known != xv->numel)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Reshape) changes the batch axis: %lld values per row cannot become %lld",
					   onnx_cv_label(c), (long long) xv->numel, (long long) known);
	return onnx_cv_reshape(c, NULL, x, count, dims, &x);
}

/* Flatten: axis 1 is IR Flatten; other axes only when they keep the batch. */
PiStatus
onnx_cv_flatten(OnnxCv *c)
{
	int			x;
	const PiValue *xv;
	int64_t		axis = onnx_attr_int(c->n, "axis", 1);
	int64_t		before = 1;
	int64_t		dims[2] = {-1, 0};
	PiAttrs		a;

	TRY(onnx_cv_value(c, 0, &x));
	xv = onnx_cv_shape(c, x);
	if (axis < 0)
		axis += xv->rank;
	if (axis == 1)
	{
		pi_attrs_default(PI_OP_FLATTEN, &a);
		return onnx_cv_finish_output(c, 0, PI_OP_FLATTEN, &x, 1, &a);
	}
	for (int i = 1; i < axis && i < xv->rank; i++)
		before *= xv->dims[i];
	if (axis < 1 || axis > xv->rank || before != 1)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Flatten) with axis %lld merges the batch axis with others, which is not supported",
					   onnx_cv_label(c), (long long) onnx_attr_int(c->n, "axis", 1));
	dims[1] = xv->numel;
	return onnx_cv_reshape(c, NULL, x, 2, dims, &x);
}

/* Squeeze, Unsqueeze. */
PiStatus
onnx_cv_squeeze(OnnxCv *c)
{
	PiOp		op = strcmp(c->n->op_type, "Squeeze") == 0 ? PI_OP_SQUEEZE : PI_OP_UNSQUEEZE;
	const int64_t *axes;
	int			count;
	PiAttrs		a;

	TRY(onnx_cv_axes(c, 13, &axes, &count));
	pi_attrs_default(op, &a);
	if (count < 0 && op == PI_OP_SQUEEZE)
	{
		/* all size-1 axes but the batch */
		int			x;
		const PiValue *xv;
		int64_t		ones[PI_MAX_RANK];

		TRY(onnx_cv_value(c, 0, &x));
		xv = onnx_cv_shape(c, x);
		count = 0;
		for (int i = 1; i < xv->rank; i++)
			if (xv->dims[i] == 1)
				ones[count++] = i;
		TRY(pi_attr_set_ints(op, &a, onnx_cv_label(c), "axes", ones, count, c->err));
	}
	else if (count >= 0)
		TRY(pi_attr_set_ints(op, &a, onnx_cv_label(c), "axes", axes, count, c->err));
	return onnx_cv_finish(c, op, 1, &a);
}

/* Transpose (perm default: reversed, which moves the batch). */
PiStatus
onnx_cv_transpose(OnnxCv *c)
{
	static const char *const names[] = {"perm", NULL};
	PiAttrs		a;
	const int64_t *perm;

	if (onnx_attr_ints(c->n, "perm", &perm) < 0)
	{
		int			x;
		int64_t		rev[PI_MAX_RANK];
		int			rank;

		TRY(onnx_cv_value(c, 0, &x));
		rank = onnx_cv_shape(c, x)->rank;
		for (int i = 0; i < rank; i++)
			rev[i] = rank - 1 - i;
		pi_attrs_default(PI_OP_TRANSPOSE, &a);
		TRY(pi_attr_set_ints(PI_OP_TRANSPOSE, &a, onnx_cv_label(c), "perm", rev, rank, c->err));
		return onnx_cv_finish(c, PI_OP_TRANSPOSE, 1, &a);
	}
	return onnx_cv_one_input(c, PI_OP_TRANSPOSE, names);
}

/* Concat. */
PiStatus
onnx_cv_concat(OnnxCv *c)
{
	PiAttrs		a;

	if (c->n->ninputs < 1 || c->n->ninputs > 8)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Concat) has %d inputs, expected 1 to 8",
					   onnx_cv_label(c), c->n->ninputs);
	pi_attrs_default(PI_OP_CONCAT, &a);
	TRY(onnx_cv_set_int(c, PI_OP_CONCAT, &a, "axis", onnx_attr_int(c->n, "axis", 0)));
	return onnx_cv_finish(c, PI_OP_CONCAT, c->n->ninputs, &a);
}

/*
 * Gather.  A scalar constant index on an activation removes the axis: it
 * becomes Slice [i, i+1) and Squeeze, as weights are never rank 0.
 */
PiStatus
onnx_cv_gather(OnnxCv *c)
{
	PiAttrs		a;
	int64_t		axis = onnx_attr_int(c->n, "axis", 0);

	if (onnx_cv_has_input(c, 1) && c->in[1]->kind == ENTRY_CONST && c->in[0] != NULL &&
		c->in[0]->kind == ENTRY_ACT)
	{
		OnnxConst  *idx;
		int			x,
					mid;
		const PiValue *xv;
		int64_t		i,
					end;

		TRY(onnx_cv_const(c, 1, &idx));
		TRY(onnx_cv_value(c, 0, &x));
		xv = onnx_cv_shape(c, x);
		if (idx->rank == 0 && idx->is_int)
		{
			int64_t		ax = axis < 0 ? axis + xv->rank : axis;

			if (ax <= 0 || ax >= xv->rank)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gather) axis %lld is the batch axis or out of range",
							   onnx_cv_label(c), (long long) axis);
			i = idx->ints[0] < 0 ? idx->ints[0] + xv->dims[ax] : idx->ints[0];
			if (i < 0 || i >= xv->dims[ax])
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Gather) index %lld is out of range for size %lld",
							   onnx_cv_label(c), (long long) idx->ints[0], (long long) xv->dims[ax]);
			end = i + 1;
			pi_attrs_default(PI_OP_SLICE, &a);
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "starts", &i, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "ends", &end, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "axes", &ax, 1, c->err));
			TRY(onnx_cv_step(c, "slice", PI_OP_SLICE, &x, 1, &a, &mid));
			pi_attrs_default(PI_OP_SQUEEZE, &a);
			TRY(pi_attr_set_ints(PI_OP_SQUEEZE, &a, onnx_cv_label(c), "axes", &ax, 1, c->err));
			return onnx_cv_finish_output(c, 0, PI_OP_SQUEEZE, &mid, 1, &a);
		}
	}
	pi_attrs_default(PI_OP_GATHER, &a);
	TRY(onnx_cv_set_int(c, PI_OP_GATHER, &a, "axis", axis));
	return onnx_cv_finish(c, PI_OP_GATHER, 2, &a);
}

/* Slice: attributes before opset 10, else constant inputs. */
PiStatus
onnx_cv_slice(OnnxCv *c)
{
	static const char *const lists[] = {"starts", "ends", "axes", "steps"};
	PiAttrs		a;

	pi_attrs_default(PI_OP_SLICE, &a);
	for (int i = 0; i < 4; i++)
	{
		const int64_t *v;
		int			count;

		if (c->im->opset < 10)
			count = onnx_attr_ints(c->n, lists[i], &v);
		else if (onnx_cv_has_input(c, i + 1))
			TRY(onnx_cv_ints(c, i + 1, &v, &count));
		else
			count = -1;
		if (count >= 0)
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), lists[i], v, count, c->err));
	}
	return onnx_cv_finish(c, PI_OP_SLICE, 1, &a);
}

/* Split into Slice nodes along a non-batch axis. */
PiStatus
onnx_cv_split(OnnxCv *c)
{
	int			x,
				axis_n;
	const PiValue *xv;
	int64_t		axis = onnx_attr_int(c->n, "axis", 0);
	const int64_t *split = NULL;
	int			nsplit = -1;
	int64_t		sizes[64];
	int64_t		start = 0,
				size;
	int			nout = c->n->noutputs;

	TRY(onnx_cv_value(c, 0, &x));
	xv = onnx_cv_shape(c, x);
	axis_n = (int) (axis < 0 ? axis + xv->rank : axis);
	if (axis_n < 0 || axis_n >= xv->rank)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Split) has axis %lld, out of range", onnx_cv_label(c), (long long) axis);
	if (axis_n == 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Split) along the batch axis is not supported", onnx_cv_label(c));
	if (nout > 64)
		return pi_fail(c->err, PI_ERR_LIMIT, "node \"%s\" (Split) has %d outputs, the limit is 64", onnx_cv_label(c), nout);
	size = xv->dims[axis_n];
	if (c->im->opset < 13)
		nsplit = onnx_attr_ints(c->n, "split", &split);
	else if (onnx_cv_has_input(c, 1))
		TRY(onnx_cv_ints(c, 1, &split, &nsplit));
	if (nsplit >= 0)
	{
		int64_t		total = 0;

		if (nsplit != nout)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Split) has %d sizes for %d outputs", onnx_cv_label(c), nsplit, nout);
		for (int i = 0; i < nout; i++)
		{
			if (split[i] < 0 || split[i] > size)
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Split) size %d is %lld", onnx_cv_label(c), i, (long long) split[i]);
			sizes[i] = split[i];
			total += split[i];
		}
		if (total != size)
			return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (Split) sizes add up to %lld, the axis has %lld",
						   onnx_cv_label(c), (long long) total, (long long) size);
	}
	else
	{
		/* equal parts (opset 18: num_outputs, the last one smaller) */
		int64_t		part = (size + nout - 1) / nout;

		if (c->im->opset < 18 && size % nout != 0)
			return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (Split) cannot split %lld into %d equal parts",
						   onnx_cv_label(c), (long long) size, nout);
		for (int i = 0; i < nout; i++)
			sizes[i] = (i < nout - 1) ? part : size - part * (nout - 1);
	}
	for (int i = 0; i < nout; i++)
	{
		PiAttrs		a;
		int64_t		end = start + sizes[i];
		int64_t		ax = axis_n;

		if (c->n->outputs[i][0] != '\0')
		{
			pi_attrs_default(PI_OP_SLICE, &a);
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "starts", &start, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "ends", &end, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "axes", &ax, 1, c->err));
			TRY(onnx_cv_finish_output(c, i, PI_OP_SLICE, &x, 1, &a));
		}
		start = end;
	}
	return PI_OK;
}

/* Expand to a constant shape (its batch entry may be symbolic). */
PiStatus
onnx_cv_expand(OnnxCv *c)
{
	OnnxConst  *k;
	int64_t		shape[PI_MAX_RANK];
	PiAttrs		a;

	TRY(onnx_cv_const(c, 1, &k));
	if (!k->is_int || k->rank != 1 || k->numel < 1 || k->numel > PI_MAX_RANK)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Expand) shape must be a list of 1 to %d integers",
					   onnx_cv_label(c), PI_MAX_RANK);
	for (int i = 0; i < k->numel; i++)
		shape[i] = (k->ints[i] == ONNX_BATCH_DIM) ? -1 : k->ints[i];
	pi_attrs_default(PI_OP_EXPAND, &a);
	TRY(pi_attr_set_ints(PI_OP_EXPAND, &a, onnx_cv_label(c), "shape", shape, (int) k->numel, c->err));
	return onnx_cv_finish(c, PI_OP_EXPAND, 1, &a);
}

/* TopK: one IR node per output (values, indices). */
PiStatus
onnx_cv_topk(OnnxCv *c)
{
	int			x;
	int64_t		k;

	TRY(onnx_cv_value(c, 0, &x));
	if (c->im->opset < 10)
		k = onnx_attr_int(c->n, "k", -1);
	else
	{
		OnnxConst  *kc;

		TRY(onnx_cv_const(c, 1, &kc));
		if (!kc->is_int || kc->numel != 1)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (TopK) K must be one integer", onnx_cv_label(c));
		k = kc->ints[0];
	}
	for (int o = 0; o < c->n->noutputs && o < 2; o++)
	{
		PiAttrs		a;

		if (c->n->outputs[o][0] == '\0')
			continue;
		pi_attrs_default(PI_OP_TOPK, &a);
		TRY(onnx_cv_set_int(c, PI_OP_TOPK, &a, "k", k));
		TRY(onnx_cv_set_int(c, PI_OP_TOPK, &a, "axis", onnx_attr_int(c->n, "axis", -1)));
		TRY(onnx_cv_set_int(c, PI_OP_TOPK, &a, "largest", onnx_attr_int(c->n, "largest", 1)));
		TRY(onnx_cv_set_int(c, PI_OP_TOPK, &a, "sorted", onnx_attr_int(c->n, "sorted", 1)));
		TRY(onnx_cv_set_int(c, PI_OP_TOPK, &a, "output_index", o));
		TRY(onnx_cv_finish_output(c, o, PI_OP_TOPK, &x, 1, &a));
	}
	return PI_OK;
}

