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
 *	  holding it on different axes, constants of a size other than 1 on it,
 *	  Shape() of an axis that merges it, a graph output that does not have
 *	  it first.  Ops not handled here are refused too.
 *
 *	  This file: the op set, graph inputs and outputs, Shape(), the driver
 *	  and the helpers the other two share; onnx_lift_lower.c emits the IR
 *	  nodes, onnx_lift_track.c follows the batch and refuses what combines
 *	  rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lift.h"

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

/* Whether op keeps the batch where its activation inputs have it. */
bool
lift_is_elementwise(const char *op_type)
{
	return in_list(elementwise_ops, op_type);
}

/* Fails with a batch-axis error for node n. */
PiStatus
lift_refuse(const OnnxNode *n, PiError *err, const char *why)
{
	return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s), lifted batch: %s",
				   onnx_node_label(n), n->op_type, why);
}

/* The ONNX shape (batch 1) of an activation: its IR dims after the rows. */
int
lift_dims(const OnnxImporter *im, const OnnxEntry *e, int64_t *dims)
{
	const PiValue *v = &im->model->values[e->value];

	for (int i = 1; i < v->rank; i++)
		dims[i - 1] = v->dims[i];
	return v->rank - 1;
}

/* Product of dims[from..to-1]. */
int64_t
lift_product(const int64_t *dims, int from, int to)
{
	int64_t		p = 1;

	for (int i = from; i < to; i++)
		p *= dims[i];
	return p;
}

/* Normalizes an axis of a rank-r tensor; false when out of range. */
bool
lift_norm_axis(int64_t axis, int rank, int *out)
{
	if (axis < 0)
		axis += rank;
	if (axis < 0 || axis >= rank)
		return false;
	*out = (int) axis;
	return true;
}

/* The ONNX rank of input i: an activation's, or a constant's. */
PiStatus
lift_input_rank(OnnxImporter *im, OnnxEntry *e, int *rank, PiError *err)
{
	OnnxConst  *c;
	int64_t		dims[PI_MAX_RANK];

	if (e->kind == ENTRY_ACT)
	{
		*rank = lift_dims(im, e, dims);
		return PI_OK;
	}
	TRY(onnx_entry_const(im, e, &c, err));
	*rank = c->rank;
	return PI_OK;
}

/* Records the batch's place in output name (when it is an activation). */
void
lift_set_spot(OnnxImporter *im, const char *name, LiftSpot s)
{
	OnnxEntry  *e = name[0] ? onnx_entry(im, name) : NULL;

	if (e != NULL && e->kind == ENTRY_ACT)
	{
		e->lift_axis = s.axis;
		e->lift_outer = s.outer;
	}
}

/* The batch's place in an activation. */
LiftSpot
lift_spot_of(const OnnxEntry *e)
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
PiStatus
lift_emit_reshape(OnnxImporter *im, const char *name, bool exact, int value, int rank,
			 const int64_t *dims, int *out, PiError *err)
{
	PiAttrs		a;

	pi_attrs_default(PI_OP_RESHAPE, &a);
	TRY(pi_attr_set_ints(PI_OP_RESHAPE, &a, name, "shape", dims, rank, err));
	if (exact)
		return onnx_emit_exact(im, name, PI_OP_RESHAPE, &value, 1, &a, out, err);
	return onnx_emit(im, name, PI_OP_RESHAPE, &value, 1, &a, out, err);
}

/* Number of starts of a Slice (to default its axes). */
PiStatus
lift_slice_count(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, int64_t *count, PiError *err)
{
	const int64_t *v;
	OnnxConst  *k;

	if (im->opset < 10)
	{
		*count = onnx_attr_ints(n, "starts", &v);
		return PI_OK;
	}
	if (n->ninputs < 2 || in[1] == NULL || in[1]->kind != ENTRY_CONST)
		return lift_refuse(n, err, "starts computed at run time");
	TRY(onnx_entry_const(im, in[1], &k, err));
	*count = k->numel;
	return PI_OK;
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
	TRY(lift_emit_reshape(im, name, true, e->value, v->rank + 1, dims, &e->value, err));
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
	int			rank = lift_dims(im, e, dims + 1);

	if (rank < 1 || e->lift_axis != 0 || dims[1] != 1)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "graph output \"%s\", lifted batch: the batch is not alone in its first axis",
					   name);
	dims[1] = -1;
	return lift_emit_reshape(im, name, true, e->value, rank, dims + 1, &e->value, err);
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
	int64_t		rank = lift_dims(im, x, dims);
	int64_t		start = onnx_attr_int(n, "start", 0);
	int64_t		end = onnx_attr_int(n, "end", rank);
	int64_t		len;

	start = start < 0 ? start + rank : start;
	end = end < 0 ? end + rank : end;
	start = start < 0 ? 0 : start > rank ? rank : start;
	end = end < 0 ? 0 : end > rank ? rank : end;
	len = end > start ? end - start : 0;
	if (x->lift_axis >= start && x->lift_axis < end && dims[x->lift_axis] != 1)
		return lift_refuse(n, err, "the size of an axis that merges the batch with others depends on the batch size");
	TRY(onnx_const_new(1, &len, true, ONNX_INT64, n->outputs[0], out, err));
	for (int64_t i = 0; i < len; i++)
		(*out)->ints[i] = (start + i == x->lift_axis) ? ONNX_BATCH_DIM : dims[start + i];
	return PI_OK;
}

/* Lowers node n in lifted mode (see the file header). */
PiStatus
onnx_lift_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	const char *op = n->op_type;

	if (!in_list(elementwise_ops, op) && !in_list(other_ops, op))
		return lift_refuse(n, err, "this op is not supported with a lifted batch");
	for (int i = 0; i < n->ninputs; i++)
		if (in[i] != NULL && in[i]->kind == ENTRY_ACT && in[i]->npads > 0)
			return lift_refuse(n, err, "reads a Pad");
	if (!in_list(elementwise_ops, op) && strcmp(op, "MatMul") != 0 && strcmp(op, "Gather") != 0 &&
		(n->ninputs < 1 || in[0] == NULL || in[0]->kind != ENTRY_ACT))
		return lift_refuse(n, err, "its data input is not an activation");
	TRY(lift_lower_node(im, n, in, err));
	return lift_track_node(im, n, in, err);
}
