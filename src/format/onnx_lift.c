/*
 * onnx_lift.c
 *	  Lifted-batch import: the fallback for graphs that move or merge the
 *	  batch axis, such as attention exported as [L, B*H, D].
 *
 *	  The graph is imported as if its batch size were 1: every ONNX shape is
 *	  static, and every IR activation has one more leading axis, the
 *	  engine's rows: IR dims = [-1] + (ONNX dims with batch 1).  ONNX axis k
 *	  is IR axis k+1, so the engine's batch axis never moves, and one row
 *	  through the model computes the ONNX graph at batch 1.  Graph inputs
 *	  keep their usual IR shape [-1, d1, ...] and are reshaped to
 *	  [-1, 1, d1, ...]; graph outputs are reshaped back.
 *
 *	  A row at batch 1 equals that row of the batched result only when the
 *	  graph keeps rows apart.  So the importer follows where the batch is in
 *	  every activation: the ONNX axis that holds it (lift_axis) and how many
 *	  elements of that axis lie outside it (lift_outer: 8 for [L*B] with
 *	  L = 8, 1 for [B*H]).  An op that would combine rows is refused with a
 *	  batch-axis error: a reduction, softmax, normalization, concatenation,
 *	  split, slice or gather along the batch's axis, a matrix product that
 *	  sums over it, a reshape that cannot keep it in one axis, activations
 *	  holding it on different axes, Shape() of an axis that merges it, a
 *	  graph output that does not have it first.  Ops not handled here are
 *	  refused too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

#define LIFT_MAX_ATTRS 32

/* Where the batch is in an activation (see the file header). */
typedef struct LiftSpot
{
	int			axis;
	int64_t		outer;
} LiftSpot;

/* A copy of a node with its axes moved past the rows axis. */
typedef struct LiftedNode
{
	OnnxNode	node;
	OnnxAttr	attrs[LIFT_MAX_ATTRS];
	int64_t		lists[2][PI_MAX_RANK];	/* storage of rewritten integer lists */
	const char *inputs[8];
	OnnxEntry  *in[8];
	OnnxEntry	axes_entry;		/* a rewritten axes input */
	OnnxConst	axes_const;
	int64_t		axes[PI_MAX_RANK];
} LiftedNode;

/* Ops whose output keeps the batch where their activation inputs have it. */
static const char *const elementwise_ops[] = {
	"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Erf",
	"Softplus", "Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Equal", "Less", "Greater",
	"Where", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Gelu", "Identity", "Dropout", "Sum",
	"Min", "Max", "Mean", "Clip", "Cast", "And", "Or", "Not", "LessOrEqual", "GreaterOrEqual",
	NULL
};

/* The other ops handled in lifted mode. */
static const char *const other_ops[] = {
	"MatMul", "Gemm", "Softmax", "LogSoftmax", "LayerNormalization", "ReduceMean",
	"ReduceSum", "ReduceMax", "ArgMax", "TopK", "Transpose", "Squeeze", "Unsqueeze",
	"Concat", "Split", "Slice", "Gather", "Reshape", "Flatten", "Expand", NULL
};

/* Whether op is in the NULL-terminated list. */
static bool
in_list(const char *const *list, const char *op)
{
	for (; *list; list++)
		if (strcmp(*list, op) == 0)
			return true;
	return false;
}

/* Fails with a batch-axis error for node n. */
static PiStatus
refuse(const OnnxNode *n, PiError *err, const char *why)
{
	return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s), lifted batch: %s",
				   onnx_node_label(n), n->op_type, why);
}

/* The ONNX shape (batch 1) of an activation: its IR dims after the rows. */
static int
onnx_dims(const OnnxImporter *im, const OnnxEntry *e, int64_t *dims)
{
	const PiValue *v = &im->model->values[e->value];

	for (int i = 1; i < v->rank; i++)
		dims[i - 1] = v->dims[i];
	return v->rank - 1;
}

/* Product of dims[from..to-1]. */
static int64_t
product(const int64_t *dims, int from, int to)
{
	int64_t		p = 1;

	for (int i = from; i < to; i++)
		p *= dims[i];
	return p;
}

/* Normalizes an axis of a rank-r tensor; false when out of range. */
static bool
norm_axis(int64_t axis, int rank, int *out)
{
	if (axis < 0)
		axis += rank;
	if (axis < 0 || axis >= rank)
		return false;
	*out = (int) axis;
	return true;
}

/* The ONNX rank of input i: an activation's, or a constant's. */
static PiStatus
input_rank(OnnxImporter *im, OnnxEntry *e, int *rank, PiError *err)
{
	OnnxConst  *c;
	int64_t		dims[PI_MAX_RANK];

	if (e->kind == ENTRY_ACT)
	{
		*rank = onnx_dims(im, e, dims);
		return PI_OK;
	}
	TRY(onnx_entry_const(im, e, &c, err));
	*rank = c->rank;
	return PI_OK;
}

/* Records the batch's place in output name (when it is an activation). */
static void
set_spot(OnnxImporter *im, const char *name, LiftSpot s)
{
	OnnxEntry  *e = name[0] ? onnx_entry(im, name) : NULL;

	if (e != NULL && e->kind == ENTRY_ACT)
	{
		e->lift_axis = s.axis;
		e->lift_outer = s.outer;
	}
}

/* The batch's place in an activation. */
static LiftSpot
spot_of(const OnnxEntry *e)
{
	LiftSpot	s = {e->lift_axis, e->lift_outer};

	return s;
}

/* Whether name is one of the graph's outputs. */
bool
onnx_lift_is_output(const OnnxImporter *im, const char *name)
{
	for (int i = 0; i < im->graph->noutputs; i++)
		if (strcmp(im->graph->outputs[i].name, name) == 0)
			return true;
	return false;
}

/* Emits a Reshape of value to IR dims under name; exact: the name as given. */
static PiStatus
emit_reshape(OnnxImporter *im, const char *name, bool exact, int value, int rank,
			 const int64_t *dims, int *out, PiError *err)
{
	PiAttrs		a;

	pi_attrs_default(PI_OP_RESHAPE, &a);
	TRY(pi_attr_set_ints(PI_OP_RESHAPE, &a, name, "shape", dims, rank, err));
	if (exact)
		return onnx_emit_exact(im, name, PI_OP_RESHAPE, &value, 1, &a, out, err);
	return onnx_emit(im, name, PI_OP_RESHAPE, &value, 1, &a, out, err);
}

/* A graph input [-1, d1, ...] becomes [-1, 1, d1, ...]; its batch is ONNX axis 0. */
PiStatus
onnx_lift_input(OnnxImporter *im, OnnxEntry *e, PiError *err)
{
	const PiValue *v = &im->model->values[e->value];
	int64_t		dims[PI_MAX_RANK];
	char		name[PI_MAX_NAME];

	if (v->rank + 1 > PI_MAX_RANK)
		return pi_fail(err, PI_ERR_LIMIT, "graph input \"%s\" has rank %d, the lifted batch needs rank %d, the limit is %d",
					   e->name, v->rank, v->rank + 1, PI_MAX_RANK);
	dims[0] = -1;
	dims[1] = 1;
	memcpy(dims + 2, v->dims + 1, sizeof(int64_t) * (v->rank - 1));
	onnx_unique_name(im, e->name, "lifted", name);
	TRY(emit_reshape(im, name, true, e->value, v->rank + 1, dims, &e->value, err));
	e->lift_axis = 0;
	e->lift_outer = 1;
	return PI_OK;
}

/*
 * A graph output: reshaped from [-1, 1, d1, ...] to [-1, d1, ...] under its
 * own name; it must hold the batch alone in ONNX axis 0.
 */
PiStatus
onnx_lift_output(OnnxImporter *im, OnnxEntry *e, const char *name, PiError *err)
{
	int64_t		dims[PI_MAX_RANK + 1];
	int			rank = onnx_dims(im, e, dims + 1);

	if (rank < 1 || e->lift_axis != 0 || dims[1] != 1)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "graph output \"%s\", lifted batch: the batch is not alone in its first axis",
					   name);
	dims[1] = -1;
	return emit_reshape(im, name, true, e->value, rank, dims + 1, &e->value, err);
}

/*
 * Shape() of an activation: static dims, the batch axis as the symbolic
 * batch size (ONNX_BATCH_DIM) when it holds the batch alone; an axis that
 * merges the batch with others has no size known at import.
 */
PiStatus
onnx_lift_shape(OnnxImporter *im, const OnnxNode *n, const OnnxEntry *x, OnnxConst **out,
				PiError *err)
{
	int64_t		dims[PI_MAX_RANK];
	int64_t		rank = onnx_dims(im, x, dims);
	int64_t		start = onnx_attr_int(n, "start", 0);
	int64_t		end = onnx_attr_int(n, "end", rank);
	int64_t		len;

	start = start < 0 ? start + rank : start;
	end = end < 0 ? end + rank : end;
	start = start < 0 ? 0 : start > rank ? rank : start;
	end = end < 0 ? 0 : end > rank ? rank : end;
	len = end > start ? end - start : 0;
	if (x->lift_axis >= start && x->lift_axis < end && dims[x->lift_axis] != 1)
		return refuse(n, err, "the size of an axis that merges the batch with others depends on the batch size");
	TRY(onnx_const_new(1, &len, true, ONNX_INT64, n->outputs[0], out, err));
	for (int64_t i = 0; i < len; i++)
		(*out)->ints[i] = (start + i == x->lift_axis) ? ONNX_BATCH_DIM : dims[start + i];
	return PI_OK;
}

/* Sets (or adds) integer attribute name of the copy. */
static PiStatus
set_int_attr(LiftedNode *l, const char *name, int64_t value, PiError *err)
{
	OnnxAttr   *a = (OnnxAttr *) onnx_attr(&l->node, name);

	if (a == NULL)
	{
		if (l->node.nattrs == LIFT_MAX_ATTRS)
			return refuse(&l->node, err, "too many attributes");
		a = &l->attrs[l->node.nattrs++];
		memset(a, 0, sizeof(*a));
		a->name = name;
	}
	a->type = ONNX_ATTR_INT;
	a->i = value;
	return PI_OK;
}

/* Sets (or adds) integer-list attribute name of the copy to list k of l. */
static PiStatus
set_ints_attr(LiftedNode *l, const char *name, int k, int count, PiError *err)
{
	OnnxAttr   *a = (OnnxAttr *) onnx_attr(&l->node, name);

	if (a == NULL)
	{
		if (l->node.nattrs == LIFT_MAX_ATTRS)
			return refuse(&l->node, err, "too many attributes");
		a = &l->attrs[l->node.nattrs++];
		memset(a, 0, sizeof(*a));
		a->name = name;
	}
	a->type = ONNX_ATTR_INTS;
	a->ints = l->lists[k];
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
		return refuse(&l->node, err, "more axes than the rank limit");
	for (int i = 0; i < count; i++)
		l->lists[0][i] = lift_axis(v[i]);
	return set_ints_attr(l, name, 0, count, err);
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
		return refuse(&l->node, err, "too many inputs");
	if (i < l->node.ninputs && l->in[i] != NULL)
	{
		OnnxConst  *k;

		if (l->in[i]->kind != ENTRY_CONST)
			return refuse(&l->node, err, "axes computed at run time");
		TRY(onnx_entry_const(im, l->in[i], &k, err));
		if (!k->is_int || k->rank > 1 || onnx_const_has_batch(k))
			return refuse(&l->node, err, "axes must be a list of integers");
		v = k->ints;
		count = k->numel;
	}
	else if (count < 0)
		return PI_OK;
	if (count > PI_MAX_RANK)
		return refuse(&l->node, err, "more axes than the rank limit");
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

/* Number of starts of a Slice (to default its axes). */
static PiStatus
slice_count(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, int64_t *count, PiError *err)
{
	const int64_t *v;
	OnnxConst  *k;

	if (im->opset < 10)
	{
		*count = onnx_attr_ints(n, "starts", &v);
		return PI_OK;
	}
	if (n->ninputs < 2 || in[1] == NULL || in[1]->kind != ENTRY_CONST)
		return refuse(n, err, "starts computed at run time");
	TRY(onnx_entry_const(im, in[1], &k, err));
	*count = k->numel;
	return PI_OK;
}

/* Copies node n with its axis attributes and axes inputs past the rows axis. */
static PiStatus
lift_node_axes(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, LiftedNode *l, PiError *err)
{
	const char *op = n->op_type;

	if (n->nattrs > LIFT_MAX_ATTRS - 1)
		return refuse(n, err, "too many attributes");
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
	if (strcmp(op, "Concat") == 0 || strcmp(op, "Gather") == 0 || strcmp(op, "Split") == 0 ||
		strcmp(op, "ArgMax") == 0)
		return shift_axis_attr(l, "axis", 0, err);
	if (strcmp(op, "LayerNormalization") == 0 || strcmp(op, "TopK") == 0)
		return shift_axis_attr(l, "axis", -1, err);
	if (strcmp(op, "Transpose") == 0)
	{
		const int64_t *perm;
		int64_t		dims[PI_MAX_RANK];
		int			rank = onnx_dims(im, in[0], dims);
		int			count = onnx_attr_ints(n, "perm", &perm);

		if (count >= 0 && count != rank)
			return refuse(n, err, "perm does not match the rank");
		if (rank + 1 > PI_MAX_RANK)
			return refuse(n, err, "rank over the limit");
		l->lists[0][0] = 0;
		for (int i = 0; i < rank; i++)
			l->lists[0][i + 1] = lift_axis(count >= 0 ? perm[i] : rank - 1 - i);
		return set_ints_attr(l, "perm", 0, rank + 1, err);
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

		TRY(slice_count(im, n, in, &count, err));
		if (im->opset >= 10)
			return shift_axes_input(im, l, 3, count, err);
		if (onnx_attr_ints(n, "axes", &v) < 0)
		{
			if (count < 0 || count > PI_MAX_RANK)
				return refuse(n, err, "starts missing or too many");
			for (int64_t j = 0; j < count; j++)
				l->lists[0][j] = j + 1;
			return set_ints_attr(l, "axes", 0, (int) count, err);
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
	int			rank = onnx_dims(im, x, d);
	int64_t		p = product(d, 0, x->lift_axis) * x->lift_outer;
	int64_t		known = 1,
				prefix = 1;
	int			infer = -1,
				candidates = 0,
				j = -1,
				v;
	bool		allowzero = onnx_attr_int(n, "allowzero", 0) != 0;

	if (count < 1 || count + 1 > PI_MAX_RANK)
		return refuse(n, err, "target rank over the limit");
	o[0] = -1;
	for (int i = 0; i < count; i++)
	{
		int64_t		t = target[i];

		if (t == ONNX_BATCH_DIM)
			t = 1;
		else if (t == 0 && !allowzero)
		{
			if (i >= rank)
				return refuse(n, err, "copies a dimension the input does not have");
			t = d[i];
		}
		if (t == -1 && infer < 0)
		{
			infer = i;
			continue;
		}
		if (t <= 0 || !pi_mul_size(known, t, &known))
			return refuse(n, err, "target dimension is not a positive size");
		o[i + 1] = t;
	}
	if (infer >= 0)
	{
		int64_t		numel = product(d, 0, rank);

		if (numel % known != 0)
			return refuse(n, err, "the -1 dimension does not divide the size");
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
		return refuse(n, err, candidates ? "the target does not say which axis holds the batch" :
					  "the target splits the batch axis");
	o[0] = -1;
	TRY(emit_reshape(im, n->outputs[0], false, x->value, count + 1, o, &v, err));
	TRY(onnx_define(im, n->outputs[0], NULL, v, err));
	{
		LiftSpot	s = {j, p / product(o + 1, 0, j)};

		set_spot(im, n->outputs[0], s);
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
		return refuse(n, err, "target computed at run time");
	TRY(onnx_entry_const(im, in[1], &k, err));
	if (!k->is_int || k->rank != 1 || k->numel > PI_MAX_RANK)
		return refuse(n, err, "target must be a list of integers");
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
		return refuse(n, err, "the target names the batch size twice");
	if (nbatch == 0)
	{
		if (nother != 1)
			return refuse(n, err, "the target does not say which axis holds the batch");
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
	int			rank = onnx_dims(im, in[0], d);
	int64_t		axis = onnx_attr_int(n, "axis", 1);

	if (axis < 0)
		axis += rank;
	if (axis < 0 || axis > rank)
		return refuse(n, err, "axis out of range");
	target[0] = product(d, 0, (int) axis);
	target[1] = product(d, (int) axis, rank);
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
		return refuse(n, err, "Gemm needs an activation A and constants B and C");
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
		return refuse(n, err, "B must be a matrix");
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
			return refuse(n, err, "C has rank over 2");
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

/* Expand to a constant shape of the input's rank; the batch axis keeps its size. */
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
		return refuse(n, err, "Expand of a constant by a run-time shape");
	rank = onnx_dims(im, in[0], d);
	TRY(onnx_cv_const(&c, 1, &k));
	if (!k->is_int || k->rank != 1 || k->numel != rank)
		return refuse(n, err, "Expand to another rank");
	shape[0] = -1;
	for (int i = 0; i < rank; i++)
	{
		int64_t		t = k->ints[i] == ONNX_BATCH_DIM ? 1 : k->ints[i];

		if (i == in[0]->lift_axis && t != 1 && t != d[i])
			return refuse(n, err, "expands along the batch axis");
		shape[i + 1] = t;
	}
	pi_attrs_default(PI_OP_EXPAND, &a);
	TRY(pi_attr_set_ints(PI_OP_EXPAND, &a, onnx_cv_label(&c), "shape", shape, rank + 1, err));
	TRY(onnx_cv_finish(&c, PI_OP_EXPAND, 1, &a));
	set_spot(im, n->outputs[0], spot_of(in[0]));
	return PI_OK;
}

/*
 * Whether constant e (of rank r, broadcast against rank `rank`, aligned at
 * the end) has a size other than 1 on axis ax: it would pair with the rows
 * of a batch of one size only.
 */
static PiStatus
const_spans_batch(OnnxImporter *im, OnnxEntry *e, int rank, int ax, bool *spans, PiError *err)
{
	OnnxConst  *c;
	int			pos;

	TRY(onnx_entry_const(im, e, &c, err));
	pos = ax - (rank - c->rank);
	*spans = pos >= 0 && pos < c->rank && c->dims[pos] != 1;
	return PI_OK;
}

/*
 * Elementwise ops: every activation input has the output's rank and the
 * batch in the same place with the same size there; constants have size 1
 * on the batch axis (each row meets the same values).
 */
static PiStatus
track_elementwise(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	OnnxEntry  *out = onnx_entry(im, n->outputs[0]);
	int64_t		dims[PI_MAX_RANK],
				first_dims[PI_MAX_RANK];
	int			rank = onnx_dims(im, out, dims);
	OnnxEntry  *first = NULL;

	for (int i = 0; i < n->ninputs; i++)
	{
		int			r;

		if (in[i] == NULL || in[i]->kind != ENTRY_ACT)
			continue;
		r = onnx_dims(im, in[i], first == NULL ? first_dims : dims);
		if (r != rank)
			return refuse(n, err, "broadcasts activations of different ranks, which would line the rows up with another axis of the batch");
		if (first == NULL)
			first = in[i];
		else if (in[i]->lift_axis != first->lift_axis || in[i]->lift_outer != first->lift_outer ||
				 dims[first->lift_axis] != first_dims[first->lift_axis])
			return refuse(n, err, "combines activations that hold the batch on different axes");
	}
	if (first == NULL)
		return refuse(n, err, "no activation input");
	for (int i = 0; i < n->ninputs; i++)
	{
		bool		spans;

		if (in[i] == NULL || in[i]->kind != ENTRY_CONST)
			continue;
		TRY(const_spans_batch(im, in[i], rank, first->lift_axis, &spans, err));
		if (spans)
			return refuse(n, err, "a constant spans the batch axis");
	}
	set_spot(im, n->outputs[0], spot_of(first));
	return PI_OK;
}

/* MatMul: the batch may not be on the summed axis, nor in both operands differently. */
static PiStatus
track_matmul(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	int			ra,
				rb,
				rout;
	int64_t		dims[PI_MAX_RANK];
	bool		act_a = in[0]->kind == ENTRY_ACT,
				act_b = in[1]->kind == ENTRY_ACT;
	LiftSpot	s;

	if (!act_a && !act_b)
		return refuse(n, err, "no activation input");
	TRY(input_rank(im, in[0], &ra, err));
	TRY(input_rank(im, in[1], &rb, err));
	rout = onnx_dims(im, onnx_entry(im, n->outputs[0]), dims);
	if (act_a && act_b)
	{
		int64_t		da[PI_MAX_RANK],
					db[PI_MAX_RANK];

		onnx_dims(im, in[0], da);
		onnx_dims(im, in[1], db);
		if (ra != rb || in[0]->lift_axis != in[1]->lift_axis || in[0]->lift_outer != in[1]->lift_outer ||
			in[0]->lift_axis >= ra - 2 || da[in[0]->lift_axis] != db[in[0]->lift_axis])
			return refuse(n, err, "multiplies rows with other rows");
		s = spot_of(in[0]);
	}
	else if (act_a)
	{
		bool		spans = false;

		if (in[0]->lift_axis == ra - 1)
			return refuse(n, err, "sums over the batch axis");
		if (in[0]->lift_axis < ra - 2 && rb >= 3)
			TRY(const_spans_batch(im, in[1], ra, in[0]->lift_axis, &spans, err));
		if (spans)
			return refuse(n, err, "a constant spans the batch axis");
		s = spot_of(in[0]);
		if (rb >= 2)
			s.axis += rout - ra;
	}
	else
	{
		bool		spans = false;

		if (rb == 1 || in[1]->lift_axis == rb - 2)
			return refuse(n, err, "sums over the batch axis");
		if (in[1]->lift_axis < rb - 2 && ra >= 3)
			TRY(const_spans_batch(im, in[0], rb, in[1]->lift_axis, &spans, err));
		if (spans)
			return refuse(n, err, "a constant spans the batch axis");
		s = spot_of(in[1]);
		if (ra >= 2 || s.axis == rb - 1)
			s.axis += rout - rb;
	}
	set_spot(im, n->outputs[0], s);
	return PI_OK;
}

/* The normalized axes list of a Reduce node (all axes when none); count -1 for all. */
static PiStatus
reduce_axes(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, int rank, bool *reduced,
			PiError *err)
{
	const int64_t *axes = NULL;
	int			count = -1;
	int			since = strcmp(n->op_type, "ReduceSum") == 0 ? 13 : 18;

	if (im->opset < since)
		count = onnx_attr_ints(n, "axes", &axes);
	else if (n->ninputs > 1 && in[1] != NULL)
	{
		OnnxConst  *k;

		TRY(onnx_entry_const(im, in[1], &k, err));
		axes = k->ints;
		count = (int) k->numel;
	}
	for (int i = 0; i < rank; i++)
		reduced[i] = count <= 0 && onnx_attr_int(n, "noop_with_empty_axes", 0) == 0;
	for (int i = 0; i < count; i++)
	{
		int			ax;

		if (!norm_axis(axes[i], rank, &ax))
			return refuse(n, err, "axis out of range");
		reduced[ax] = true;
	}
	return PI_OK;
}

/* Ops over axes of one activation input: where the batch goes, or a refusal. */
static PiStatus
track_axes(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	const char *op = n->op_type;
	int64_t		d[PI_MAX_RANK];
	int			rank = onnx_dims(im, in[0], d);
	LiftSpot	s = spot_of(in[0]);
	int			ax = s.axis,
				axis;

	if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0 ||
		strcmp(op, "LayerNormalization") == 0)
	{
		bool		layer_norm = strcmp(op, "LayerNormalization") == 0;
		bool		from = im->opset < 13 || layer_norm;

		if (!norm_axis(onnx_attr_int(n, "axis", im->opset < 13 && !layer_norm ? 1 : -1), rank, &axis))
			return refuse(n, err, "axis out of range");
		if (from ? ax >= axis : ax == axis)
			return refuse(n, err, "normalizes along the batch axis");
	}
	else if (strncmp(op, "Reduce", 6) == 0)
	{
		bool		reduced[PI_MAX_RANK];

		TRY(reduce_axes(im, n, in, rank, reduced, err));
		if (reduced[ax])
			return refuse(n, err, "reduces along the batch axis");
		if (onnx_attr_int(n, "keepdims", 1) == 0)
			for (int i = 0; i < ax; i++)
				s.axis -= reduced[i];
	}
	else if (strcmp(op, "ArgMax") == 0 || strcmp(op, "TopK") == 0)
	{
		if (!norm_axis(onnx_attr_int(n, "axis", op[0] == 'A' ? 0 : -1), rank, &axis))
			return refuse(n, err, "axis out of range");
		if (axis == ax)
			return refuse(n, err, "selects along the batch axis");
		if (op[0] == 'A' && onnx_attr_int(n, "keepdims", 1) == 0 && axis < ax)
			s.axis--;
	}
	else if (strcmp(op, "Transpose") == 0)
	{
		const int64_t *perm;
		int			count = onnx_attr_ints(n, "perm", &perm);

		for (int i = 0; i < rank; i++)
			if ((count >= 0 ? perm[i] : rank - 1 - i) == ax)
				s.axis = i;
	}
	else if (strcmp(op, "Squeeze") == 0 || strcmp(op, "Unsqueeze") == 0)
	{
		int64_t		od[PI_MAX_RANK];
		int			orank = onnx_dims(im, onnx_entry(im, n->outputs[0]), od);
		bool		marked[PI_MAX_RANK] = {false};
		const int64_t *axes = NULL;
		int			count = -1;

		if (im->opset < 13)
			count = onnx_attr_ints(n, "axes", &axes);
		else if (n->ninputs > 1 && in[1] != NULL)
		{
			OnnxConst  *k;

			TRY(onnx_entry_const(im, in[1], &k, err));
			axes = k->ints;
			count = (int) k->numel;
		}
		for (int i = 0; i < count; i++)
		{
			int			a;

			if (!norm_axis(axes[i], op[0] == 'S' ? rank : orank, &a))
				return refuse(n, err, "axis out of range");
			marked[a] = true;
		}
		if (op[0] == 'S')
		{
			for (int i = 0; count < 0 && i < rank; i++)
				marked[i] = d[i] == 1;
			if (marked[ax])
				return refuse(n, err, "squeezes the batch axis");
			for (int i = 0; i < ax; i++)
				s.axis -= marked[i];
		}
		else
			for (int i = 0, k = 0; i < orank; i++)
				if (!marked[i] && k++ == ax)
					s.axis = i;
	}
	else if (strcmp(op, "Concat") == 0 || strcmp(op, "Split") == 0)
	{
		if (!norm_axis(onnx_attr_int(n, "axis", 0), rank, &axis))
			return refuse(n, err, "axis out of range");
		if (axis == ax)
			return refuse(n, err, "joins or splits along the batch axis");
		for (int i = 1; op[0] == 'C' && i < n->ninputs; i++)
			if (in[i] != NULL && in[i]->kind == ENTRY_ACT &&
				(in[i]->lift_axis != ax || in[i]->lift_outer != s.outer))
				return refuse(n, err, "joins activations that hold the batch on different axes");
	}
	else if (strcmp(op, "Slice") == 0)
	{
		const int64_t *axes = NULL;
		int			count;
		OnnxConst  *k;

		if (im->opset < 10)
			count = onnx_attr_ints(n, "axes", &axes);
		else if (n->ninputs > 3 && in[3] != NULL)
		{
			TRY(onnx_entry_const(im, in[3], &k, err));
			axes = k->ints;
			count = (int) k->numel;
		}
		else
			count = -1;
		for (int i = 0; count >= 0 && i < count; i++)
			if (norm_axis(axes[i], rank, &axis) && axis == ax)
				return refuse(n, err, "slices along the batch axis");
		if (count < 0)
		{
			int64_t		nstarts;

			TRY(slice_count(im, n, in, &nstarts, err));
			if (ax < nstarts)
				return refuse(n, err, "slices along the batch axis");
		}
	}
	for (int o = 0; o < n->noutputs; o++)
		set_spot(im, n->outputs[o], s);
	return PI_OK;
}

/* Gather: along another axis than the batch's, or an embedding of run-time indices. */
static PiStatus
track_gather(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	int			rdata,
				ridx,
				axis;
	LiftSpot	s;

	TRY(input_rank(im, in[0], &rdata, err));
	TRY(input_rank(im, in[1], &ridx, err));
	if (!norm_axis(onnx_attr_int(n, "axis", 0), rdata, &axis))
		return refuse(n, err, "axis out of range");
	if (in[0]->kind == ENTRY_ACT && in[1]->kind == ENTRY_ACT)
		return refuse(n, err, "indexes rows by other rows");
	if (in[0]->kind != ENTRY_ACT && in[1]->kind != ENTRY_ACT)
		return refuse(n, err, "no activation input");
	if (in[0]->kind == ENTRY_ACT)
	{
		s = spot_of(in[0]);
		if (s.axis == axis)
			return refuse(n, err, "gathers along the batch axis");
		if (s.axis > axis)
			s.axis += ridx - 1;
	}
	else
	{
		s = spot_of(in[1]);
		s.axis += axis;
	}
	set_spot(im, n->outputs[0], s);
	return PI_OK;
}

/* Gemm: A's batch must be on its rows (M), not on the summed axis. */
static PiStatus
track_gemm(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	LiftSpot	s = spot_of(in[0]);
	int			m_axis = onnx_attr_int(n, "transA", 0) != 0 ? 1 : 0;

	if (s.axis != m_axis)
		return refuse(n, err, "sums over the batch axis");
	if (n->ninputs > 2 && in[2] != NULL)
	{
		bool		spans;

		TRY(const_spans_batch(im, in[2], 2, 0, &spans, err));
		if (spans)
			return refuse(n, err, "C spans the batch axis");
	}
	s.axis = 0;
	set_spot(im, n->outputs[0], s);
	return PI_OK;
}

/* Lowers node n in lifted mode (see the file header). */
PiStatus
onnx_lift_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	const char *op = n->op_type;
	LiftedNode	l;

	if (!in_list(elementwise_ops, op) && !in_list(other_ops, op))
		return refuse(n, err, "this op is not supported with a lifted batch");
	for (int i = 0; i < n->ninputs; i++)
		if (in[i] != NULL && in[i]->kind == ENTRY_ACT && in[i]->npads > 0)
			return refuse(n, err, "reads a Pad");
	if (!in_list(elementwise_ops, op) && strcmp(op, "MatMul") != 0 && strcmp(op, "Gather") != 0 &&
		(n->ninputs < 1 || in[0] == NULL || in[0]->kind != ENTRY_ACT))
		return refuse(n, err, "its data input is not an activation");
	if (strcmp(op, "Reshape") == 0)
		return lift_reshape(im, n, in, err);
	if (strcmp(op, "Flatten") == 0)
		return lift_flatten(im, n, in, err);
	if (strcmp(op, "Expand") == 0)
		return lift_expand(im, n, in, err);
	if (strcmp(op, "Gemm") == 0)
	{
		TRY(lift_gemm(im, n, in, err));
		return track_gemm(im, n, in, err);
	}
	TRY(lift_node_axes(im, n, in, &l, err));
	TRY(onnx_convert_node(im, &l.node, n->ninputs <= 8 ? l.in : in, err));
	if (in_list(elementwise_ops, op))
		return track_elementwise(im, n, in, err);
	if (strcmp(op, "MatMul") == 0)
		return track_matmul(im, n, in, err);
	if (strcmp(op, "Gather") == 0)
		return track_gather(im, n, in, err);
	return track_axes(im, n, in, err);
}
