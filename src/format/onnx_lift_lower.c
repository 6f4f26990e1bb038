/*
 * onnx_lift_lower.c
 *	  Lifted-batch import (onnx_lift.c): the IR nodes of an ONNX node.  ONNX
 *	  axis k is IR axis k+1, so the usual converters run over a copy of the
 *	  node whose axis attributes and constant axes inputs are moved past the
 *	  rows axis.  Reshape and Flatten (a Reshape to [-1] + target, the batch
 *	  found in the target), Gemm (MatMul and Add) and Expand are lowered here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lift.h"

#define LIFT_MAX_ATTRS 32

/* A copy of a node with its axes moved past the rows axis. */
typedef struct LiftedNode
{
	OnnxNode	node;
	OnnxAttr	attrs[LIFT_MAX_ATTRS];
	int64_t		list[PI_MAX_RANK];	/* a rewritten integer-list attribute */
	const char *inputs[8];
	OnnxEntry  *in[8];
	OnnxEntry	axes_entry;		/* a rewritten axes input */
	OnnxConst	axes_const;
	int64_t		axes[PI_MAX_RANK];
} LiftedNode;

/* The copy's attribute name, added (zeroed) when it has none; NULL with err set when full. */
static OnnxAttr *
attr_slot(LiftedNode *l, const char *name, PiError *err)
{
	OnnxAttr   *a = (OnnxAttr *) onnx_attr(&l->node, name);

	if (a == NULL)
	{
		if (l->node.nattrs == LIFT_MAX_ATTRS)
		{
			lift_refuse(&l->node, err, "too many attributes");
			return NULL;
		}
		a = &l->attrs[l->node.nattrs++];
		memset(a, 0, sizeof(*a));
		a->name = name;
	}
	return a;
}

/* Sets (or adds) integer attribute name of the copy. */
static PiStatus
set_int_attr(LiftedNode *l, const char *name, int64_t value, PiError *err)
{
	OnnxAttr   *a = attr_slot(l, name, err);

	if (a == NULL)
		return err->status;
	a->type = ONNX_ATTR_INT;
	a->i = value;
	return PI_OK;
}

/* Sets (or adds) integer-list attribute name of the copy to l->list[0..count-1]. */
static PiStatus
set_ints_attr(LiftedNode *l, const char *name, int count, PiError *err)
{
	OnnxAttr   *a = attr_slot(l, name, err);

	if (a == NULL)
		return err->status;
	a->type = ONNX_ATTR_INTS;
	a->ints = l->list;
	a->nints = count;
	return PI_OK;
}

/*
 * ONNX axis k is IR axis k+1; negative axes count from the end in both.
 * Axes past any rank stay as they are, for the IR to refuse.
 */
static int64_t
lift_axis(int64_t axis)
{
	return (axis >= 0 && axis < PI_MAX_RANK) ? axis + 1 : axis;
}

/* Moves integer attribute name (default dflt) past the rows axis. */
static PiStatus
shift_axis_attr(LiftedNode *l, const char *name, int64_t dflt, PiError *err)
{
	return set_int_attr(l, name, lift_axis(onnx_attr_int(&l->node, name, dflt)), err);
}

/* Moves the integer-list attribute name past the rows axis, when present. */
static PiStatus
shift_axes_attr(LiftedNode *l, const char *name, PiError *err)
{
	const int64_t *v;
	int			count = onnx_attr_ints(&l->node, name, &v);

	if (count < 0)
		return PI_OK;
	if (count > PI_MAX_RANK)
		return lift_refuse(&l->node, err, "more axes than the rank limit");
	for (int i = 0; i < count; i++)
		l->list[i] = lift_axis(v[i]);
	return set_ints_attr(l, name, count, err);
}

/*
 * Replaces input i of the copy (an axes list; when absent, count axes
 * 0..count-1) by a constant of the axes past the rows axis.
 */
static PiStatus
shift_axes_input(OnnxImporter *im, LiftedNode *l, int i, int64_t count, PiError *err)
{
	const int64_t *v = NULL;

	if (l->node.ninputs > 8 || i >= 8)
		return lift_refuse(&l->node, err, "too many inputs");
	if (i < l->node.ninputs && l->in[i] != NULL)
	{
		OnnxConst  *k;

		if (l->in[i]->kind != ENTRY_CONST)
			return lift_refuse(&l->node, err, "axes computed at run time");
		TRY(onnx_entry_const(im, l->in[i], &k, err));
		if (!k->is_int || k->rank > 1 || onnx_const_has_batch(k))
			return lift_refuse(&l->node, err, "axes must be a list of integers");
		v = k->ints;
		count = k->numel;
	}
	else if (count < 0)
		return PI_OK;
	if (count > PI_MAX_RANK)
		return lift_refuse(&l->node, err, "more axes than the rank limit");
	for (int64_t j = 0; j < count; j++)
		l->axes[j] = lift_axis(v ? v[j] : j);
	memset(&l->axes_const, 0, sizeof(l->axes_const));
	l->axes_const.rank = 1;
	l->axes_const.dims[0] = count;
	l->axes_const.numel = count;
	l->axes_const.data_type = ONNX_INT64;
	l->axes_const.is_int = true;
	l->axes_const.ints = l->axes;
	memset(&l->axes_entry, 0, sizeof(l->axes_entry));
	l->axes_entry.name = i < l->node.ninputs && l->in[i] ? l->in[i]->name : "axes";
	l->axes_entry.kind = ENTRY_CONST;
	l->axes_entry.c = &l->axes_const;
	l->axes_entry.producer = -1;
	l->axes_entry.value = -1;
	while (l->node.ninputs <= i)
	{
		l->inputs[l->node.ninputs] = "";
		l->in[l->node.ninputs++] = NULL;
	}
	l->in[i] = &l->axes_entry;
	return PI_OK;
}

/* Copies node n with its axis attributes and axes inputs past the rows axis. */
static PiStatus
lift_node_axes(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, LiftedNode *l, PiError *err)
{
	const char *op = n->op_type;

	if (n->nattrs > LIFT_MAX_ATTRS - 1)
		return lift_refuse(n, err, "too many attributes");
	l->node = *n;
	if (n->nattrs > 0)
		memcpy(l->attrs, n->attrs, sizeof(OnnxAttr) * n->nattrs);
	l->node.attrs = l->attrs;
	if (n->ninputs <= 8)
	{
		for (int i = 0; i < n->ninputs; i++)
		{
			l->inputs[i] = n->inputs[i];
			l->in[i] = in[i];
		}
		l->node.inputs = l->inputs;
	}
	if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0)
		return shift_axis_attr(l, "axis", im->opset >= 13 ? -1 : 1, err);
	if (strcmp(op, "Gather") == 0 && in[0] != NULL && in[0]->kind == ENTRY_CONST)
		return PI_OK;			/* the axis of a constant table: not lifted */
	if (strcmp(op, "Concat") == 0 || strcmp(op, "Gather") == 0 || strcmp(op, "Split") == 0 ||
		strcmp(op, "ArgMax") == 0)
		return shift_axis_attr(l, "axis", 0, err);
	if (strcmp(op, "LayerNormalization") == 0 || strcmp(op, "TopK") == 0)
		return shift_axis_attr(l, "axis", -1, err);
	if (strcmp(op, "Transpose") == 0)
	{
		const int64_t *perm;
		int64_t		dims[PI_MAX_RANK];
		int			rank = lift_dims(im, in[0], dims);
		int			count = onnx_attr_ints(n, "perm", &perm);

		if (count >= 0 && count != rank)
			return lift_refuse(n, err, "perm does not match the rank");
		if (rank + 1 > PI_MAX_RANK)
			return lift_refuse(n, err, "rank over the limit");
		l->list[0] = 0;
		for (int i = 0; i < rank; i++)
			l->list[i + 1] = lift_axis(count >= 0 ? perm[i] : rank - 1 - i);
		return set_ints_attr(l, "perm", rank + 1, err);
	}
	if (strncmp(op, "Reduce", 6) == 0)
	{
		int			since = strcmp(op, "ReduceSum") == 0 ? 13 : 18;

		return im->opset < since ? shift_axes_attr(l, "axes", err) : shift_axes_input(im, l, 1, -1, err);
	}
	if (strcmp(op, "Squeeze") == 0 || strcmp(op, "Unsqueeze") == 0)
		return im->opset < 13 ? shift_axes_attr(l, "axes", err) : shift_axes_input(im, l, 1, -1, err);
	if (strcmp(op, "Slice") == 0)
	{
		int64_t		count;
		const int64_t *v;

		TRY(lift_slice_count(im, n, in, &count, err));
		if (im->opset >= 10)
			return shift_axes_input(im, l, 3, count, err);
		if (onnx_attr_ints(n, "axes", &v) < 0)
		{
			if (count < 0 || count > PI_MAX_RANK)
				return lift_refuse(n, err, "starts missing or too many");
			for (int64_t j = 0; j < count; j++)
				l->list[j] = j + 1;
			return set_ints_attr(l, "axes", (int) count, err);
		}
		return shift_axes_attr(l, "axes", err);
	}
	return PI_OK;
}

/*
 * Reshape (and Flatten) in lifted mode: the ONNX target o (batch 1), the
 * place of the batch in it found from where it is in the input.  In the
 * row-major order the batch sits after P elements (the input's axes before
 * it times its outer part); output axis j can hold it when the axes before
 * j multiply to a divisor of P whose cofactor divides o[j].  Where several
 * axes could (axes of size 1), the target must say which: the one element
 * that is the symbolic batch size, else the one -1 or 0 (copy) of the
 * batch axis.
 */
static PiStatus
lift_reshape_to(OnnxImporter *im, const OnnxNode *n, OnnxEntry *x, const int64_t *target,
				int count, int marked, PiError *err)
{
	int64_t		d[PI_MAX_RANK];
	int64_t		o[PI_MAX_RANK + 1];
	int			rank = lift_dims(im, x, d);
	int64_t		p = lift_product(d, 0, x->lift_axis) * x->lift_outer;
	int64_t		known = 1,
				prefix = 1;
	int			infer = -1,
				candidates = 0,
				j = -1,
				v;
	bool		allowzero = onnx_attr_int(n, "allowzero", 0) != 0;

	if (count < 1 || count + 1 > PI_MAX_RANK)
		return lift_refuse(n, err, "target rank over the limit");
	o[0] = -1;
	for (int i = 0; i < count; i++)
	{
		int64_t		t = target[i];

		if (t == ONNX_BATCH_DIM)
			t = 1;
		else if (t == 0 && !allowzero)
		{
			if (i >= rank)
				return lift_refuse(n, err, "copies a dimension the input does not have");
			t = d[i];
		}
		if (t == -1 && infer < 0)
		{
			infer = i;
			continue;
		}
		if (t <= 0 || !pi_mul_size(known, t, &known))
			return lift_refuse(n, err, "target dimension is not a positive size");
		o[i + 1] = t;
	}
	if (infer >= 0)
	{
		int64_t		numel = lift_product(d, 0, rank);

		if (numel % known != 0)
			return lift_refuse(n, err, "the -1 dimension does not divide the size");
		o[infer + 1] = numel / known;
	}
	for (int i = 0; i < count; i++)
	{
		if (p % prefix == 0 && o[i + 1] % (p / prefix) == 0 && (marked < 0 || marked == i))
		{
			candidates++;
			j = i;
		}
		prefix *= o[i + 1];
	}
	if (candidates != 1)
		return lift_refuse(n, err, candidates ? "the target does not say which axis holds the batch" :
					  "the target splits the batch axis");
	o[0] = -1;
	TRY(lift_emit_reshape(im, n->outputs[0], false, x->value, count + 1, o, &v, err));
	TRY(onnx_define(im, n->outputs[0], NULL, v, err));
	{
		LiftSpot	s = {j, p / lift_product(o + 1, 0, j)};

		lift_set_spot(im, n->outputs[0], s);
	}
	return PI_OK;
}

/* Reshape to a constant target. */
static PiStatus
lift_reshape(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	OnnxConst  *k;
	int			marked = -1,
				nbatch = 0,
				ncopies = 0,
				nother = 0,
				other = -1;
	bool		allowzero = onnx_attr_int(n, "allowzero", 0) != 0;

	if (n->ninputs < 2 || in[1] == NULL || in[1]->kind != ENTRY_CONST)
		return lift_refuse(n, err, "target computed at run time");
	TRY(onnx_entry_const(im, in[1], &k, err));
	if (!k->is_int || k->rank != 1 || k->numel > PI_MAX_RANK)
		return lift_refuse(n, err, "target must be a list of integers");
	for (int i = 0; i < k->numel; i++)
	{
		if (k->ints[i] == ONNX_BATCH_DIM)
		{
			nbatch++;
			marked = i;
		}
		else if (k->ints[i] == -1 || (k->ints[i] == 0 && !allowzero && i == in[0]->lift_axis))
		{
			ncopies += k->ints[i] == 0;
			nother++;
			other = i;
		}
	}
	if (nbatch + ncopies > 1)
		return lift_refuse(n, err, "the target names the batch size twice");
	if (nbatch == 0)
	{
		if (nother != 1)
			return lift_refuse(n, err, "the target does not say which axis holds the batch");
		marked = other;
	}
	return lift_reshape_to(im, n, in[0], k->ints, (int) k->numel, marked, err);
}

/* Flatten: a Reshape to [d0*...*d(axis-1), d(axis)*...]. */
static PiStatus
lift_flatten(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	int64_t		d[PI_MAX_RANK];
	int64_t		target[2];
	int			rank = lift_dims(im, in[0], d);
	int64_t		axis = onnx_attr_int(n, "axis", 1);

	if (axis < 0)
		axis += rank;
	if (axis < 0 || axis > rank)
		return lift_refuse(n, err, "axis out of range");
	target[0] = lift_product(d, 0, (int) axis);
	target[1] = lift_product(d, (int) axis, rank);
	return lift_reshape_to(im, n, in[0], target, 2, in[0]->lift_axis < axis ? 0 : 1, err);
}

/*
 * Gemm as MatMul and Add: A (transposed first when transA) times the
 * constant alpha*B (transposed when transB), plus the constant beta*C.
 */
static PiStatus
lift_gemm(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	OnnxCv		c = {im, n, in, err};
	OnnxConst  *b;
	float	   *w;
	int64_t		wdims[2];
	float		alpha = onnx_attr_float(n, "alpha", 1.0f);
	bool		trans_b = onnx_attr_int(n, "transB", 0) != 0;
	bool		has_c = onnx_cv_has_input(&c, 2);
	int			x,
				weight,
				v;
	PiAttrs		a;

	if (in[0] == NULL || in[0]->kind != ENTRY_ACT || !onnx_cv_has_input(&c, 1) ||
		in[1]->kind != ENTRY_CONST || (has_c && in[2]->kind != ENTRY_CONST))
		return lift_refuse(n, err, "Gemm needs an activation A and constants B and C");
	TRY(onnx_cv_value(&c, 0, &x));
	if (onnx_attr_int(n, "transA", 0) != 0)
	{
		int64_t		perm[3] = {0, 2, 1};

		pi_attrs_default(PI_OP_TRANSPOSE, &a);
		TRY(pi_attr_set_ints(PI_OP_TRANSPOSE, &a, onnx_cv_label(&c), "perm", perm, 3, err));
		TRY(onnx_cv_step(&c, "a", PI_OP_TRANSPOSE, &x, 1, &a, &x));
	}
	TRY(onnx_cv_const(&c, 1, &b));
	if (b->rank != 2)
		return lift_refuse(n, err, "B must be a matrix");
	wdims[0] = b->dims[trans_b ? 1 : 0];
	wdims[1] = b->dims[trans_b ? 0 : 1];
	if ((w = malloc(sizeof(float) * (size_t) (wdims[0] * wdims[1] + 1))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < wdims[0]; i++)
		for (int64_t j = 0; j < wdims[1]; j++)
			w[i * wdims[1] + j] = alpha * (float) onnx_const_get(b, trans_b ? j * wdims[0] + i : i * wdims[1] + j);
	TRY(onnx_add_weight(im, in[1]->name, 2, wdims, w, &weight, err));
	{
		int			inputs[2] = {x, weight};

		pi_attrs_default(PI_OP_MATMUL, &a);
		if (!has_c)
			return onnx_cv_finish_output(&c, 0, PI_OP_MATMUL, inputs, 2, &a);
		TRY(onnx_cv_step(&c, "matmul", PI_OP_MATMUL, inputs, 2, &a, &v));
	}
	{
		OnnxConst  *bias;
		float		beta = onnx_attr_float(n, "beta", 1.0f);
		float	   *data;
		int			inputs[2];
		int64_t		one = 1;

		TRY(onnx_cv_const(&c, 2, &bias));
		if (bias->rank > 2)
			return lift_refuse(n, err, "C has rank over 2");
		TRY(onnx_const_to_floats(bias, in[2]->name, &data, err));
		for (int64_t i = 0; i < bias->numel; i++)
			data[i] *= beta;
		TRY(onnx_add_weight(im, in[2]->name, bias->rank ? bias->rank : 1,
							bias->rank ? bias->dims : &one, data, &inputs[1], err));
		inputs[0] = v;
		pi_attrs_default(PI_OP_ADD, &a);
		return onnx_cv_finish_output(&c, 0, PI_OP_ADD, inputs, 2, &a);
	}
}

/*
 * Expand to a constant shape of the input's rank; the batch axis keeps its
 * size, and no other axis grows to the batch size.
 */
static PiStatus
lift_expand(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	OnnxCv		c = {im, n, in, err};
	OnnxConst  *k;
	int64_t		d[PI_MAX_RANK];
	int64_t		shape[PI_MAX_RANK];
	int			rank;
	PiAttrs		a;

	if (in[0] == NULL || in[0]->kind != ENTRY_ACT)
		return lift_refuse(n, err, "Expand of a constant by a run-time shape");
	rank = lift_dims(im, in[0], d);
	TRY(onnx_cv_const(&c, 1, &k));
	if (!k->is_int || k->rank != 1 || k->numel != rank)
		return lift_refuse(n, err, "Expand to another rank");
	shape[0] = -1;
	for (int i = 0; i < rank; i++)
	{
		int64_t		t = k->ints[i] == ONNX_BATCH_DIM ? 1 : k->ints[i];

		if (i == in[0]->lift_axis ? (t != 1 && t != d[i]) : k->ints[i] == ONNX_BATCH_DIM)
			return lift_refuse(n, err, "expands along the batch axis");
		shape[i + 1] = t;
	}
	pi_attrs_default(PI_OP_EXPAND, &a);
	TRY(pi_attr_set_ints(PI_OP_EXPAND, &a, onnx_cv_label(&c), "shape", shape, rank + 1, err));
	TRY(onnx_cv_finish(&c, PI_OP_EXPAND, 1, &a));
	lift_set_spot(im, n->outputs[0], lift_spot_of(in[0]));
	return PI_OK;
}

/*
 * Emits the IR nodes of node n: Reshape, Flatten, Expand (which also record
 * where the batch goes) and Gemm here, the other ops by their usual
 * converters over a copy with the axes moved.
 */
PiStatus
lift_lower_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	const char *op = n->op_type;
	LiftedNode	l;

	if (strcmp(op, "Reshape") == 0)
		return lift_reshape(im, n, in, err);
	if (strcmp(op, "Flatten") == 0)
		return lift_flatten(im, n, in, err);
	if (strcmp(op, "Expand") == 0)
		return lift_expand(im, n, in, err);
	if (strcmp(op, "Gemm") == 0)
		return lift_gemm(im, n, in, err);
	TRY(lift_node_axes(im, n, in, &l, err));
	return onnx_convert_node(im, &l.node, n->ninputs <= 8 ? l.in : in, err);
}
