/*
 * onnx_convert.c
 *	  Lowering of ONNX nodes with run-time inputs to IR nodes: the op table
 *	  of the importer.  Each converter reads the node's attributes in the form
 *	  its opset uses (attribute or constant input), sets the IR attributes by
 *	  name (pi_attr_set_*), and emits one or more IR nodes; the last one is
 *	  named after the ONNX output so that model outputs keep their names.
 *	  Multi-output ONNX ops (Split, TopK) become one IR node per output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_import.h"

#define TRY(expr) do { PiStatus st_ = (expr); if (st_ != PI_OK) return st_; } while (0)

/* What every converter gets. */
typedef struct Cv
{
	OnnxImporter *im;
	const OnnxNode *n;
	OnnxEntry **in;
	PiError    *err;
} Cv;

typedef PiStatus (*ConvertFn) (Cv *c);

/* The node's label for messages. */
static const char *
label(const Cv *c)
{
	return onnx_node_label(c->n);
}

/* Whether input i is given. */
static bool
has_input(const Cv *c, int i)
{
	return i < c->n->ninputs && c->in[i] != NULL;
}

/* The model value of input i (a constant becomes a weight). */
static PiStatus
input_value(Cv *c, int i, int *value)
{
	if (!has_input(c, i))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input %d",
					   label(c), c->n->op_type, i);
	if (c->in[i]->npads > 0 && !(i == 0 && strcmp(c->n->op_type, "Conv") == 0))
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) reads \"%s\", the result of a Pad, which is only supported when a Conv reads it",
					   label(c), c->n->op_type, c->in[i]->name);
	return onnx_entry_value(c->im, c->in[i], value, c->err);
}

/* The constant of input i; fails when it is computed at run time. */
static PiStatus
input_const(Cv *c, int i, OnnxConst **out)
{
	if (!has_input(c, i))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input %d",
					   label(c), c->n->op_type, i);
	if (c->in[i]->kind != ENTRY_CONST)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input %d \"%s\" must be a constant, but it is computed at run time",
					   label(c), c->n->op_type, i, c->in[i]->name);
	return onnx_entry_const(c->im, c->in[i], out, c->err);
}

/* Integer values of constant input i, without the batch size. */
static PiStatus
input_ints(Cv *c, int i, const int64_t **values, int *count)
{
	OnnxConst  *k;

	TRY(input_const(c, i, &k));
	if (!k->is_int || k->rank > 1)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) input %d must be a list of integers",
					   label(c), c->n->op_type, i);
	if (onnx_const_has_batch(k))
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input %d depends on the batch size",
					   label(c), c->n->op_type, i);
	*values = k->ints;
	*count = (int) k->numel;
	return PI_OK;
}

/* The static shape of activation input i. */
static const PiValue *
shape_of(const Cv *c, int value)
{
	return &c->im->model->values[value];
}

/* Sets integer attribute name. */
static PiStatus
set_int(Cv *c, PiOp op, PiAttrs *a, const char *name, int64_t v)
{
	return pi_attr_set_ints(op, a, label(c), name, &v, 1, c->err);
}

/* Copies the listed ONNX attributes of the node that are present, by type. */
static PiStatus
copy_attrs(Cv *c, PiOp op, PiAttrs *a, const char *const *names)
{
	for (; *names; names++)
	{
		const OnnxAttr *at = onnx_attr(c->n, *names);

		if (at == NULL)
			continue;
		switch (at->type)
		{
			case ONNX_ATTR_INT:
				TRY(set_int(c, op, a, *names, at->i));
				break;
			case ONNX_ATTR_INTS:
				TRY(pi_attr_set_ints(op, a, label(c), *names, at->ints, at->nints, c->err));
				break;
			case ONNX_ATTR_FLOAT:
				TRY(pi_attr_set_float(op, a, label(c), *names, at->f, c->err));
				break;
			case ONNX_ATTR_STRING:
				TRY(pi_attr_set_string(op, a, label(c), *names, at->s ? at->s : "", c->err));
				break;
			default:
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" has type %d, which is not expected",
							   label(c), c->n->op_type, *names, at->type);
		}
	}
	return PI_OK;
}

/* Emits an IR node for output o of the ONNX node and defines that output. */
static PiStatus
finish_output(Cv *c, int o, PiOp op, const int *inputs, int ninputs, const PiAttrs *a)
{
	int			v;

	TRY(onnx_emit(c->im, c->n->outputs[o], op, inputs, ninputs, a, &v, c->err));
	return onnx_define(c->im, c->n->outputs[o], NULL, v, c->err);
}

/* Emits the node's one IR node over its first ninputs inputs. */
static PiStatus
finish(Cv *c, PiOp op, int ninputs, const PiAttrs *a)
{
	int			inputs[8];

	for (int i = 0; i < ninputs; i++)
		TRY(input_value(c, i, &inputs[i]));
	return finish_output(c, 0, op, inputs, ninputs, a);
}

/* Emits an intermediate IR node with a derived name. */
static PiStatus
emit_step(Cv *c, const char *suffix, PiOp op, const int *inputs, int ninputs,
		  const PiAttrs *a, int *value)
{
	char		name[PI_MAX_NAME];

	onnx_unique_name(c->im, c->n->outputs[0], suffix, name);
	return onnx_emit(c->im, name, op, inputs, ninputs, a, value, c->err);
}

/* Emits a Reshape of value to [batch, dims[1..rank-1]]. */
static PiStatus
emit_reshape(Cv *c, const char *suffix, int value, int rank, const int64_t *dims, int *out)
{
	PiAttrs		a;
	int64_t		shape[PI_MAX_RANK];

	pi_attrs_default(PI_OP_RESHAPE, &a);
	memcpy(shape, dims, sizeof(int64_t) * rank);
	shape[0] = -1;
	TRY(pi_attr_set_ints(PI_OP_RESHAPE, &a, label(c), "shape", shape, rank, c->err));
	if (suffix == NULL)
	{
		TRY(onnx_emit(c->im, c->n->outputs[0], PI_OP_RESHAPE, &value, 1, &a, out, c->err));
		return onnx_define(c->im, c->n->outputs[0], NULL, *out, c->err);
	}
	return emit_step(c, suffix, PI_OP_RESHAPE, &value, 1, &a, out);
}

/*
 * Binary ops before opset 7 with broadcast=1: B's dims line up with A's
 * from "axis" on (default: the trailing ones); PRelu's slope from axis 1.  A constant B gets trailing
 * size-1 dims so that numpy broadcasting means the same.
 */
static PiStatus
legacy_broadcast(Cv *c, PiOp op, const PiAttrs *a, bool per_channel)
{
	int			inputs[2];
	OnnxConst  *b;
	const PiValue *av;
	int64_t		axis,
				dims[PI_MAX_RANK];
	float	   *data;

	TRY(input_value(c, 0, &inputs[0]));
	av = shape_of(c, inputs[0]);
	TRY(input_const(c, 1, &b));
	axis = per_channel ? 1 : onnx_attr_int(c->n, "axis", av->rank - b->rank);
	if (axis < 0)
		axis += av->rank;
	if (axis < 1 || axis + b->rank > av->rank)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) broadcasts B at axis %lld of a rank-%d input",
					   label(c), c->n->op_type, (long long) axis, av->rank);
	for (int i = 0; i < av->rank - axis; i++)
		dims[i] = i < b->rank ? b->dims[i] : 1;
	TRY(onnx_const_to_floats(b, c->in[1]->name, &data, c->err));
	TRY(onnx_add_weight(c->im, c->in[1]->name, (int) (av->rank - axis), dims, data, &inputs[1], c->err));
	return finish_output(c, 0, op, inputs, 2, a);
}

/* Div of integers: the quotient truncated toward zero (a Cast to INT64). */
static PiStatus
integer_div(Cv *c)
{
	PiAttrs		a;
	int			inputs[2],
				q;

	TRY(input_value(c, 0, &inputs[0]));
	TRY(input_value(c, 1, &inputs[1]));
	pi_attrs_default(PI_OP_DIV, &a);
	TRY(emit_step(c, "quotient", PI_OP_DIV, inputs, 2, &a, &q));
	pi_attrs_default(PI_OP_CAST, &a);
	TRY(set_int(c, PI_OP_CAST, &a, "to", 7));
	return finish_output(c, 0, PI_OP_CAST, &q, 1, &a);
}

/*
 * Boolean ops over 0/1 values: And as Mul, Or as Max, Not x as 1 - x,
 * LessOrEqual as 1 - Greater, GreaterOrEqual as 1 - Less.
 */
static PiStatus
cv_boolean(Cv *c)
{
	const char *op_type = c->n->op_type;
	PiAttrs		a;
	int			inputs[2],
				v;
	int64_t		one_dims[1] = {1};
	float	   *one;

	if (strcmp(op_type, "And") == 0 || strcmp(op_type, "Or") == 0)
	{
		PiOp		op = op_type[0] == 'A' ? PI_OP_MUL : PI_OP_MAX;

		pi_attrs_default(op, &a);
		return finish(c, op, 2, &a);
	}
	TRY(input_value(c, 0, &inputs[0]));
	v = inputs[0];
	if (strcmp(op_type, "Not") != 0)
	{
		PiOp		cmp = strcmp(op_type, "LessOrEqual") == 0 ? PI_OP_GREATER : PI_OP_LESS;

		TRY(input_value(c, 1, &inputs[1]));
		pi_attrs_default(cmp, &a);
		TRY(emit_step(c, "complement", cmp, inputs, 2, &a, &v));
	}
	if ((one = malloc(sizeof(float))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	*one = 1.0f;
	TRY(onnx_add_weight(c->im, c->n->outputs[0], 1, one_dims, one, &inputs[0], c->err));
	inputs[1] = v;
	pi_attrs_default(PI_OP_SUB, &a);
	return finish_output(c, 0, PI_OP_SUB, inputs, 2, &a);
}

/* Ops whose IR node has the same inputs and no attributes. */
static PiStatus
cv_plain(Cv *c)
{
	static const struct
	{
		const char *onnx;
		PiOp		op;
		int			ninputs;
	}			plain[] = {
		{"Relu", PI_OP_RELU, 1}, {"Sigmoid", PI_OP_SIGMOID, 1}, {"Tanh", PI_OP_TANH, 1},
		{"Exp", PI_OP_EXP, 1}, {"Log", PI_OP_LOG, 1}, {"Sqrt", PI_OP_SQRT, 1},
		{"Neg", PI_OP_NEG, 1}, {"Abs", PI_OP_ABS, 1}, {"Reciprocal", PI_OP_RECIPROCAL, 1},
		{"Erf", PI_OP_ERF, 1}, {"Softplus", PI_OP_SOFTPLUS, 1},
		{"Add", PI_OP_ADD, 2}, {"Sub", PI_OP_SUB, 2}, {"Mul", PI_OP_MUL, 2},
		{"Div", PI_OP_DIV, 2}, {"Pow", PI_OP_POW, 2}, {"PRelu", PI_OP_PRELU, 2},
		{"Equal", PI_OP_EQUAL, 2}, {"Less", PI_OP_LESS, 2}, {"Greater", PI_OP_GREATER, 2},
		{"Where", PI_OP_WHERE, 3}, {"MatMul", PI_OP_MATMUL, 2},
	};
	PiAttrs		a;

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(plain[i].onnx, c->n->op_type) == 0)
		{
			if (c->n->ninputs != plain[i].ninputs)
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has %d inputs, expected %d",
							   label(c), c->n->op_type, c->n->ninputs, plain[i].ninputs);
			pi_attrs_default(plain[i].op, &a);
			if (onnx_attr_int(c->n, "broadcast", 0) != 0)
				return legacy_broadcast(c, plain[i].op, &a, false);
			/* before opset 7, PRelu's slope is per channel (axis 1) */
			if (plain[i].op == PI_OP_DIV && onnx_entry_is_int(c->in[0]) && onnx_entry_is_int(c->in[1]))
				return integer_div(c);
			if (plain[i].op == PI_OP_PRELU && c->im->opset < 7 && has_input(c, 1) &&
				c->in[1]->kind == ENTRY_CONST && c->in[1]->tensor && c->in[1]->tensor->numel > 1)
				return legacy_broadcast(c, plain[i].op, &a, true);
			return finish(c, plain[i].op, plain[i].ninputs, &a);
		}
	return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\": op %s has no converter", label(c), c->n->op_type);
}

/* Unary ops with float parameters named as in ONNX. */
static PiStatus
cv_param_unary(Cv *c)
{
	static const char *const names[] = {"alpha", "beta", "gamma", NULL};
	const char *op_type = c->n->op_type;
	PiOp		op = strcmp(op_type, "LeakyRelu") == 0 ? PI_OP_LEAKY_RELU :
		strcmp(op_type, "Elu") == 0 ? PI_OP_ELU :
		strcmp(op_type, "Selu") == 0 ? PI_OP_SELU : PI_OP_HARD_SIGMOID;
	PiAttrs		a;

	pi_attrs_default(op, &a);
	TRY(copy_attrs(c, op, &a, names));
	return finish(c, op, 1, &a);
}

/* Gelu (opset 20): approximate "none" or "tanh". */
static PiStatus
cv_gelu(Cv *c)
{
	static const char *const names[] = {"approximate", NULL};
	PiAttrs		a;

	pi_attrs_default(PI_OP_GELU, &a);
	TRY(copy_attrs(c, PI_OP_GELU, &a, names));
	return finish(c, PI_OP_GELU, 1, &a);
}

/* Identity, Dropout in inference: the output aliases the input. */
static PiStatus
cv_identity(Cv *c)
{
	int			v;

	if (strcmp(c->n->op_type, "Dropout") == 0)
	{
		OnnxConst  *training;

		if (c->n->noutputs > 1 && c->n->outputs[1][0] != '\0')
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Dropout) output mask is not supported", label(c));

		if (c->im->opset < 7 && onnx_attr_int(c->n, "is_test", 0) == 0)
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Dropout) is in training mode", label(c));
		if (has_input(c, 2))
		{
			TRY(input_const(c, 2, &training));
			if (training->numel != 1 || onnx_const_get(training, 0) != 0)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Dropout) is in training mode",
							   label(c));
		}
	}
	TRY(input_value(c, 0, &v));
	return onnx_define(c->im, c->n->outputs[0], NULL, v, c->err);
}

/* Variadic Sum/Min/Max/Mean as a chain of binary IR nodes. */
static PiStatus
cv_variadic(Cv *c)
{
	const char *op_type = c->n->op_type;
	PiOp		op = strcmp(op_type, "Min") == 0 ? PI_OP_MIN :
		strcmp(op_type, "Max") == 0 ? PI_OP_MAX : PI_OP_ADD;
	bool		mean = strcmp(op_type, "Mean") == 0;
	PiAttrs		a;
	int			acc;

	if (c->n->ninputs < 1)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has no inputs", label(c), op_type);
	pi_attrs_default(op, &a);
	TRY(input_value(c, 0, &acc));
	if (c->n->ninputs == 1 || (c->n->ninputs == 2 && !mean))
	{
		if (c->n->ninputs == 1)
		{
			pi_attrs_default(PI_OP_IDENTITY, &a);
			return finish_output(c, 0, PI_OP_IDENTITY, &acc, 1, &a);
		}
		return finish(c, op, 2, &a);
	}
	for (int i = 1; i < c->n->ninputs; i++)
	{
		int			pair[2] = {acc, 0};

		TRY(input_value(c, i, &pair[1]));
		if (i == c->n->ninputs - 1 && !mean)
			return finish_output(c, 0, op, pair, 2, &a);
		TRY(emit_step(c, "acc", op, pair, 2, &a, &acc));
	}
	{
		/* Mean: the sum times 1/n */
		int64_t		one = 1;
		float	   *scale = malloc(sizeof(float));
		int			pair[2] = {acc, 0};

		if (scale == NULL)
			return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
		*scale = 1.0f / (float) c->n->ninputs;
		TRY(onnx_add_weight(c->im, c->n->outputs[0], 1, &one, scale, &pair[1], c->err));
		pi_attrs_default(PI_OP_MUL, &a);
		return finish_output(c, 0, PI_OP_MUL, pair, 2, &a);
	}
}

/* Clip: bounds as attributes (before opset 11) or constant inputs. */
static PiStatus
cv_clip(Cv *c)
{
	PiAttrs		a;

	pi_attrs_default(PI_OP_CLIP, &a);
	if (c->im->opset < 11)
	{
		const OnnxAttr *lo = onnx_attr(c->n, "min");
		const OnnxAttr *hi = onnx_attr(c->n, "max");

		if (lo)
			TRY(pi_attr_set_float(PI_OP_CLIP, &a, label(c), "min", lo->f, c->err));
		if (hi)
			TRY(pi_attr_set_float(PI_OP_CLIP, &a, label(c), "max", hi->f, c->err));
	}
	else
	{
		for (int i = 1; i <= 2; i++)
		{
			OnnxConst  *b;

			if (!has_input(c, i))
				continue;
			TRY(input_const(c, i, &b));
			if (b->numel != 1)
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Clip) bound must be a scalar", label(c));
			TRY(pi_attr_set_float(PI_OP_CLIP, &a, label(c), i == 1 ? "min" : "max",
								  (float) onnx_const_get(b, 0), c->err));
		}
	}
	return finish(c, PI_OP_CLIP, 1, &a);
}

/* Cast. */
static PiStatus
cv_cast(Cv *c)
{
	PiAttrs		a;

	pi_attrs_default(PI_OP_CAST, &a);
	TRY(set_int(c, PI_OP_CAST, &a, "to", onnx_attr_int(c->n, "to", 0)));
	return finish(c, PI_OP_CAST, 1, &a);
}

/*
 * Softmax, LogSoftmax.  From opset 13 they work on one axis (default -1).
 * Before, they flatten [d0..d(axis-1)] x [d(axis)..] (default axis 1):
 * rewritten as Reshape to [batch, P, Q], the op on the last axis, and
 * Reshape back, unless axis is already the last one.
 */
static PiStatus
cv_softmax(Cv *c)
{
	PiOp		op = strcmp(c->n->op_type, "Softmax") == 0 ? PI_OP_SOFTMAX : PI_OP_LOG_SOFTMAX;
	PiAttrs		a;
	int			x;
	const PiValue *xv;
	int64_t		axis;
	int64_t		flat[3] = {-1, 1, 1};
	int			mid,
				soft;

	TRY(input_value(c, 0, &x));
	xv = shape_of(c, x);
	pi_attrs_default(op, &a);
	axis = onnx_attr_int(c->n, "axis", c->im->opset >= 13 ? -1 : 1);
	if (c->im->opset >= 13)
	{
		TRY(set_int(c, op, &a, "axis", axis));
		return finish(c, op, 1, &a);
	}
	if (axis < 0)
		axis += xv->rank;
	if (axis == 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) with axis 0 works along the batch axis, which is not supported",
					   label(c), c->n->op_type);
	if (axis < 0 || axis >= xv->rank)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has axis %lld, out of range for rank %d",
					   label(c), c->n->op_type, (long long) onnx_attr_int(c->n, "axis", 1), xv->rank);
	TRY(set_int(c, op, &a, "axis", -1));
	if (axis == xv->rank - 1)
		return finish_output(c, 0, op, &x, 1, &a);
	for (int i = 1; i < xv->rank; i++)
		flat[i < axis ? 1 : 2] *= xv->dims[i];
	{
		int64_t		back[PI_MAX_RANK];

		memcpy(back, xv->dims, sizeof(int64_t) * xv->rank);
		TRY(emit_reshape(c, "flat", x, 3, flat, &mid));
		TRY(emit_step(c, "op", op, &mid, 1, &a, &soft));
		return emit_reshape(c, NULL, soft, xv->rank, back, &mid);
	}
}

/* Gemm: C becomes a bias of shape [M] when it broadcasts as one. */
static PiStatus
cv_gemm(Cv *c)
{
	static const char *const names[] = {"transA", "transB", "alpha", "beta", NULL};
	PiAttrs		a;
	int			inputs[3];
	int			ninputs = 2;

	pi_attrs_default(PI_OP_GEMM, &a);
	TRY(copy_attrs(c, PI_OP_GEMM, &a, names));
	TRY(input_value(c, 0, &inputs[0]));
	TRY(input_value(c, 1, &inputs[1]));
	if (has_input(c, 2))
	{
		const PiValue *w = shape_of(c, inputs[1]);
		int64_t		m = (w->rank == 2) ? w->dims[a.trans_b ? 0 : 1] : -1;
		OnnxConst  *bias;

		if (c->in[2]->kind == ENTRY_CONST)
		{
			TRY(input_const(c, 2, &bias));
			if (bias->rank != 1 || bias->numel != m)
			{
				/* a scalar or [1, M] bias: expanded to [M] */
				float	   *data;

				if (m < 1 || !(bias->numel == 1 || (bias->numel == m && bias->dims[bias->rank - 1] == m)))
					return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gemm) input C must broadcast as a bias of shape [%lld]",
								   label(c), (long long) m);
				if ((data = malloc(sizeof(float) * m)) == NULL)
					return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
				for (int64_t i = 0; i < m; i++)
					data[i] = (float) onnx_const_get(bias, bias->numel == 1 ? 0 : i);
				TRY(onnx_add_weight(c->im, c->in[2]->name, 1, &m, data, &inputs[2], c->err));
				return finish_output(c, 0, PI_OP_GEMM, inputs, 3, &a);
			}
		}
		TRY(input_value(c, 2, &inputs[2]));
		ninputs = 3;
	}
	return finish_output(c, 0, PI_OP_GEMM, inputs, ninputs, &a);
}

/* The spatial rank of a window op's input (rank 3: 1-D, rank 4: 2-D). */
static PiStatus
window_rank(Cv *c, int x, int *spatial)
{
	int			rank = shape_of(c, x)->rank;

	if (rank != 3 && rank != 4)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has a rank-%d input; only 1-D and 2-D windows (rank 3 or 4) are supported",
					   label(c), c->n->op_type, rank);
	*spatial = rank - 2;
	return PI_OK;
}

/* Conv (1-D and 2-D) -> Conv2D. */
static PiStatus
cv_conv(Cv *c)
{
	static const char *const names[] = {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", NULL};
	PiAttrs		a;
	int			x,
				spatial = 0;

	TRY(input_value(c, 0, &x));
	TRY(window_rank(c, x, &spatial));
	pi_attrs_default(PI_OP_CONV2D, &a);
	TRY(copy_attrs(c, PI_OP_CONV2D, &a, names));
	if (c->in[0]->npads > 0)
	{
		/* a zero Pad before: added to the convolution's own padding */
		int64_t		pads[4];

		if (a.auto_pad != 0 || c->in[0]->npads != 2 * spatial)
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Conv) after a Pad cannot also use auto_pad",
						   label(c));
		for (int i = 0; i < 2 * spatial; i++)
			pads[i] = c->in[0]->pads[i] + (a.pads_len ? a.pads[i] : 0);
		TRY(pi_attr_set_ints(PI_OP_CONV2D, &a, label(c), "pads", pads, 2 * spatial, c->err));
	}
	return finish(c, PI_OP_CONV2D, has_input(c, 2) ? 3 : 2, &a);
}

/* ConvTranspose; output_shape is resolved into pads. */
static PiStatus
cv_conv_transpose(Cv *c)
{
	static const char *const names[] = {"kernel_shape", "strides", "dilations", "group", "output_padding", NULL};
	const int64_t *out_shape;
	int			nout = onnx_attr_ints(c->n, "output_shape", &out_shape);
	PiAttrs		a;
	int			x,
				spatial = 0;

	TRY(input_value(c, 0, &x));
	TRY(window_rank(c, x, &spatial));
	pi_attrs_default(PI_OP_CONV_TRANSPOSE, &a);
	TRY(copy_attrs(c, PI_OP_CONV_TRANSPOSE, &a, names));
	if (nout < 0)
	{
		static const char *const pad_names[] = {"pads", "auto_pad", NULL};

		TRY(copy_attrs(c, PI_OP_CONV_TRANSPOSE, &a, pad_names));
	}
	else
	{
		const PiValue *xv = shape_of(c, x);
		OnnxConst  *w;
		const char *auto_pad = onnx_attr_string(c->n, "auto_pad", "NOTSET");
		int64_t		pads[4];

		TRY(input_const(c, 1, &w));
		if (nout != spatial && nout != spatial + 2)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (ConvTranspose) output_shape has %d values",
						   label(c), nout);
		for (int i = 0; i < spatial; i++)
		{
			int64_t		in = xv->dims[2 + i];
			int64_t		stride = a.strides_len ? a.strides[i] : 1;
			int64_t		dil = a.dilations_len ? a.dilations[i] : 1;
			int64_t		k = w->rank == spatial + 2 ? w->dims[2 + i] : 1;
			int64_t		opad = a.output_padding_len ? a.output_padding[i] : 0;
			int64_t		target = out_shape[nout - spatial + i];
			int64_t		total = stride * (in - 1) + opad + ((k - 1) * dil + 1) - target;

			if (total < 0)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (ConvTranspose) output_shape needs negative padding",
							   label(c));
			if (strcmp(auto_pad, "SAME_UPPER") == 0)
			{
				pads[i] = total / 2;
				pads[spatial + i] = total - total / 2;
			}
			else
			{
				pads[i] = total - total / 2;
				pads[spatial + i] = total / 2;
			}
		}
		TRY(pi_attr_set_ints(PI_OP_CONV_TRANSPOSE, &a, label(c), "pads", pads, 2 * spatial, c->err));
	}
	return finish(c, PI_OP_CONV_TRANSPOSE, has_input(c, 2) ? 3 : 2, &a);
}

/* MaxPool, AveragePool -> MaxPool2D, AveragePool2D (strides default 1). */
static PiStatus
cv_pool(Cv *c)
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
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (MaxPool) output Indices is not supported", label(c));
	if (!is_max && onnx_attr_ints(c->n, "dilations", &v) > 0)
		for (int i = 0; i < onnx_attr_ints(c->n, "dilations", &v); i++)
			if (v[i] != 1)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (AveragePool) with dilations is not supported",
							   label(c));
	TRY(input_value(c, 0, &x));
	TRY(window_rank(c, x, &spatial));
	pi_attrs_default(op, &a);
	TRY(pi_attr_set_ints(op, &a, label(c), "strides", ones, spatial, c->err));
	TRY(copy_attrs(c, op, &a, is_max ? max_names : avg_names));
	return finish(c, op, 1, &a);
}

/* GlobalAveragePool (2-D) or GlobalMaxPool/1-D: a reduction over the spatial axes. */
static PiStatus
cv_global_pool(Cv *c)
{
	bool		is_max = strcmp(c->n->op_type, "GlobalMaxPool") == 0;
	PiOp		op = is_max ? PI_OP_REDUCE_MAX : PI_OP_REDUCE_MEAN;
	PiAttrs		a;
	int			x,
				rank;
	int64_t		axes[PI_MAX_RANK];

	TRY(input_value(c, 0, &x));
	rank = shape_of(c, x)->rank;
	if (!is_max && rank == 4)
	{
		pi_attrs_default(PI_OP_GLOBAL_AVERAGE_POOL, &a);
		return finish_output(c, 0, PI_OP_GLOBAL_AVERAGE_POOL, &x, 1, &a);
	}
	if (rank < 3)
		return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (%s) needs an input of rank 3 or more",
					   label(c), c->n->op_type);
	for (int i = 2; i < rank; i++)
		axes[i - 2] = i;
	pi_attrs_default(op, &a);
	TRY(pi_attr_set_ints(op, &a, label(c), "axes", axes, rank - 2, c->err));
	TRY(set_int(c, op, &a, "keepdims", 1));
	return finish_output(c, 0, op, &x, 1, &a);
}

/* BatchNormalization in inference mode. */
static PiStatus
cv_batch_norm(Cv *c)
{
	PiAttrs		a;

	if (onnx_attr_int(c->n, "training_mode", 0) != 0 ||
		(c->n->noutputs > 1 && c->n->outputs[1][0] != '\0'))
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (BatchNormalization) is in training mode (it updates running statistics)",
					   label(c));
	if (onnx_attr_int(c->n, "spatial", 1) != 1)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (BatchNormalization) with spatial=0 is not supported",
					   label(c));
	for (int i = 1; i < 5; i++)
	{
		OnnxConst  *k;

		TRY(input_const(c, i, &k));
	}
	pi_attrs_default(PI_OP_BATCH_NORM, &a);
	TRY(pi_attr_set_float(PI_OP_BATCH_NORM, &a, label(c), "epsilon",
						  onnx_attr_float(c->n, "epsilon", 1e-5f), c->err));
	return finish(c, PI_OP_BATCH_NORM, 5, &a);
}

/* LayerNormalization (first output only). */
static PiStatus
cv_layer_norm(Cv *c)
{
	static const char *const names[] = {"axis", "epsilon", NULL};
	PiAttrs		a;

	for (int o = 1; o < c->n->noutputs; o++)
		if (c->n->outputs[o][0] != '\0')
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (LayerNormalization) outputs Mean and InvStdDev are not supported",
						   label(c));
	pi_attrs_default(PI_OP_LAYER_NORM, &a);
	TRY(copy_attrs(c, PI_OP_LAYER_NORM, &a, names));
	return finish(c, PI_OP_LAYER_NORM, has_input(c, 2) ? 3 : 2, &a);
}

/*
 * Reshape to a constant target.  Position 0 of the target is the batch
 * (the symbolic batch size from Shape(), 0 = copy, -1, or the exported
 * size); the other positions must give the input's row size.
 */
static PiStatus
cv_reshape(Cv *c)
{
	int			x,
				count;
	const int64_t *target;
	const PiValue *xv;
	int64_t		dims[PI_MAX_RANK];
	int64_t		known = 1;
	int			infer = -1;
	OnnxConst  *k;

	TRY(input_value(c, 0, &x));
	xv = shape_of(c, x);
	if (c->im->opset < 5)
		count = onnx_attr_ints(c->n, "shape", &target);
	else
	{
		TRY(input_const(c, 1, &k));
		if (!k->is_int || k->rank != 1)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Reshape) shape must be a list of integers", label(c));
		target = k->ints;
		count = (int) k->numel;
	}
	if (count < 1 || count > PI_MAX_RANK)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Reshape) target has %d dimensions, expected 1 to %d (the first is the batch)",
					   label(c), count, PI_MAX_RANK);
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
						   label(c), i, dims[i] == ONNX_BATCH_DIM ? "the batch size (only dimension 0 may be)" : "not a positive size");
	}
	if (infer >= 0)
	{
		if (xv->numel % known != 0)
			return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (Reshape) cannot reshape %lld values per row with a -1 dimension",
						   label(c), (long long) xv->numel);
		dims[infer] = xv->numel / known;
		known = xv->numel;
	}
	if (known != xv->numel)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Reshape) changes the batch axis: %lld values per row cannot become %lld",
					   label(c), (long long) xv->numel, (long long) known);
	return emit_reshape(c, NULL, x, count, dims, &x);
}

/* Flatten: axis 1 is IR Flatten; other axes only when they keep the batch. */
static PiStatus
cv_flatten(Cv *c)
{
	int			x;
	const PiValue *xv;
	int64_t		axis = onnx_attr_int(c->n, "axis", 1);
	int64_t		before = 1;
	int64_t		dims[2] = {-1, 0};
	PiAttrs		a;

	TRY(input_value(c, 0, &x));
	xv = shape_of(c, x);
	if (axis < 0)
		axis += xv->rank;
	if (axis == 1)
	{
		pi_attrs_default(PI_OP_FLATTEN, &a);
		return finish_output(c, 0, PI_OP_FLATTEN, &x, 1, &a);
	}
	for (int i = 1; i < axis && i < xv->rank; i++)
		before *= xv->dims[i];
	if (axis < 1 || axis > xv->rank || before != 1)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Flatten) with axis %lld merges the batch axis with others, which is not supported",
					   label(c), (long long) onnx_attr_int(c->n, "axis", 1));
	dims[1] = xv->numel;
	return emit_reshape(c, NULL, x, 2, dims, &x);
}

/* Reads an axes list: attribute before opset `since`, else constant input 1. */
static PiStatus
axes_arg(Cv *c, int since, const int64_t **axes, int *count)
{
	if (c->im->opset < since)
	{
		*count = onnx_attr_ints(c->n, "axes", axes);
		return PI_OK;
	}
	if (!has_input(c, 1))
	{
		*count = -1;
		*axes = NULL;
		return PI_OK;
	}
	return input_ints(c, 1, axes, count);
}

/* Squeeze, Unsqueeze. */
static PiStatus
cv_squeeze(Cv *c)
{
	PiOp		op = strcmp(c->n->op_type, "Squeeze") == 0 ? PI_OP_SQUEEZE : PI_OP_UNSQUEEZE;
	const int64_t *axes;
	int			count;
	PiAttrs		a;

	TRY(axes_arg(c, 13, &axes, &count));
	pi_attrs_default(op, &a);
	if (count < 0 && op == PI_OP_SQUEEZE)
	{
		/* all size-1 axes but the batch */
		int			x;
		const PiValue *xv;
		int64_t		ones[PI_MAX_RANK];

		TRY(input_value(c, 0, &x));
		xv = shape_of(c, x);
		count = 0;
		for (int i = 1; i < xv->rank; i++)
			if (xv->dims[i] == 1)
				ones[count++] = i;
		TRY(pi_attr_set_ints(op, &a, label(c), "axes", ones, count, c->err));
	}
	else if (count >= 0)
		TRY(pi_attr_set_ints(op, &a, label(c), "axes", axes, count, c->err));
	return finish(c, op, 1, &a);
}

/* Transpose (perm default: reversed, which moves the batch). */
static PiStatus
cv_transpose(Cv *c)
{
	static const char *const names[] = {"perm", NULL};
	PiAttrs		a;
	const int64_t *perm;

	if (onnx_attr_ints(c->n, "perm", &perm) < 0)
	{
		int			x;
		int64_t		rev[PI_MAX_RANK];
		int			rank;

		TRY(input_value(c, 0, &x));
		rank = shape_of(c, x)->rank;
		for (int i = 0; i < rank; i++)
			rev[i] = rank - 1 - i;
		pi_attrs_default(PI_OP_TRANSPOSE, &a);
		TRY(pi_attr_set_ints(PI_OP_TRANSPOSE, &a, label(c), "perm", rev, rank, c->err));
		return finish(c, PI_OP_TRANSPOSE, 1, &a);
	}
	pi_attrs_default(PI_OP_TRANSPOSE, &a);
	TRY(copy_attrs(c, PI_OP_TRANSPOSE, &a, names));
	return finish(c, PI_OP_TRANSPOSE, 1, &a);
}

/* Concat. */
static PiStatus
cv_concat(Cv *c)
{
	PiAttrs		a;

	if (c->n->ninputs < 1 || c->n->ninputs > 8)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Concat) has %d inputs, expected 1 to 8",
					   label(c), c->n->ninputs);
	pi_attrs_default(PI_OP_CONCAT, &a);
	TRY(set_int(c, PI_OP_CONCAT, &a, "axis", onnx_attr_int(c->n, "axis", 0)));
	return finish(c, PI_OP_CONCAT, c->n->ninputs, &a);
}

/*
 * Gather.  A scalar constant index on an activation removes the axis: it
 * becomes Slice [i, i+1) and Squeeze, as weights are never rank 0.
 */
static PiStatus
cv_gather(Cv *c)
{
	PiAttrs		a;
	int64_t		axis = onnx_attr_int(c->n, "axis", 0);

	if (has_input(c, 1) && c->in[1]->kind == ENTRY_CONST && c->in[0] != NULL &&
		c->in[0]->kind == ENTRY_ACT)
	{
		OnnxConst  *idx;
		int			x,
					mid;
		const PiValue *xv;
		int64_t		i,
					end;

		TRY(input_const(c, 1, &idx));
		TRY(input_value(c, 0, &x));
		xv = shape_of(c, x);
		if (idx->rank == 0 && idx->is_int)
		{
			int64_t		ax = axis < 0 ? axis + xv->rank : axis;

			if (ax <= 0 || ax >= xv->rank)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gather) axis %lld is the batch axis or out of range",
							   label(c), (long long) axis);
			i = idx->ints[0] < 0 ? idx->ints[0] + xv->dims[ax] : idx->ints[0];
			if (i < 0 || i >= xv->dims[ax])
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Gather) index %lld is out of range for size %lld",
							   label(c), (long long) idx->ints[0], (long long) xv->dims[ax]);
			end = i + 1;
			pi_attrs_default(PI_OP_SLICE, &a);
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, label(c), "starts", &i, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, label(c), "ends", &end, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, label(c), "axes", &ax, 1, c->err));
			TRY(emit_step(c, "slice", PI_OP_SLICE, &x, 1, &a, &mid));
			pi_attrs_default(PI_OP_SQUEEZE, &a);
			TRY(pi_attr_set_ints(PI_OP_SQUEEZE, &a, label(c), "axes", &ax, 1, c->err));
			return finish_output(c, 0, PI_OP_SQUEEZE, &mid, 1, &a);
		}
	}
	pi_attrs_default(PI_OP_GATHER, &a);
	TRY(set_int(c, PI_OP_GATHER, &a, "axis", axis));
	return finish(c, PI_OP_GATHER, 2, &a);
}

/* Slice: attributes before opset 10, else constant inputs. */
static PiStatus
cv_slice(Cv *c)
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
		else if (has_input(c, i + 1))
			TRY(input_ints(c, i + 1, &v, &count));
		else
			count = -1;
		if (count >= 0)
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, label(c), lists[i], v, count, c->err));
	}
	return finish(c, PI_OP_SLICE, 1, &a);
}

/* Split into Slice nodes along a non-batch axis. */
static PiStatus
cv_split(Cv *c)
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

	TRY(input_value(c, 0, &x));
	xv = shape_of(c, x);
	axis_n = (int) (axis < 0 ? axis + xv->rank : axis);
	if (axis_n < 0 || axis_n >= xv->rank)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Split) has axis %lld, out of range", label(c), (long long) axis);
	if (axis_n == 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Split) along the batch axis is not supported", label(c));
	if (nout > 64)
		return pi_fail(c->err, PI_ERR_LIMIT, "node \"%s\" (Split) has %d outputs, the limit is 64", label(c), nout);
	size = xv->dims[axis_n];
	if (c->im->opset < 13)
		nsplit = onnx_attr_ints(c->n, "split", &split);
	else if (has_input(c, 1))
		TRY(input_ints(c, 1, &split, &nsplit));
	if (nsplit >= 0)
	{
		int64_t		total = 0;

		if (nsplit != nout)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Split) has %d sizes for %d outputs", label(c), nsplit, nout);
		for (int i = 0; i < nout; i++)
		{
			if (split[i] < 0 || split[i] > size)
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Split) size %d is %lld", label(c), i, (long long) split[i]);
			sizes[i] = split[i];
			total += split[i];
		}
		if (total != size)
			return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (Split) sizes add up to %lld, the axis has %lld",
						   label(c), (long long) total, (long long) size);
	}
	else
	{
		/* equal parts (opset 18: num_outputs, the last one smaller) */
		int64_t		part = (size + nout - 1) / nout;

		if (c->im->opset < 18 && size % nout != 0)
			return pi_fail(c->err, PI_ERR_SHAPE, "node \"%s\" (Split) cannot split %lld into %d equal parts",
						   label(c), (long long) size, nout);
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
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, label(c), "starts", &start, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, label(c), "ends", &end, 1, c->err));
			TRY(pi_attr_set_ints(PI_OP_SLICE, &a, label(c), "axes", &ax, 1, c->err));
			TRY(finish_output(c, i, PI_OP_SLICE, &x, 1, &a));
		}
		start = end;
	}
	return PI_OK;
}

/*
 * Pad of an activation: only zero padding ("constant" mode, value 0) of the
 * spatial axes of a rank-3 or rank-4 input, which the Conv reading it adds
 * to its own padding (the output is recorded as the input plus pending
 * pads; any other reader is refused).
 */
static PiStatus
cv_pad(Cv *c)
{
	const int64_t *pads;
	int			npads,
				x,
				rank;
	float		value = 0;
	OnnxEntry  *out;

	if (strcmp(onnx_attr_string(c->n, "mode", "constant"), "constant") != 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Pad) mode \"%s\" is not supported",
					   label(c), onnx_attr_string(c->n, "mode", "constant"));
	if (c->im->opset < 11)
	{
		npads = onnx_attr_ints(c->n, "pads", &pads);
		value = onnx_attr_float(c->n, "value", 0);
	}
	else
	{
		TRY(input_ints(c, 1, &pads, &npads));
		if (has_input(c, 2))
		{
			OnnxConst  *v;

			TRY(input_const(c, 2, &v));
			value = v->numel == 1 ? (float) onnx_const_get(v, 0) : 1;
		}
		if (has_input(c, 3))
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Pad) with axes is not supported", label(c));
	}
	if (!has_input(c, 0) || c->in[0]->kind != ENTRY_ACT || c->in[0]->npads > 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Pad) is only supported on a run-time value that is not padded already",
					   label(c));
	TRY(input_value(c, 0, &x));
	rank = shape_of(c, x)->rank;
	if (value != 0 || (rank != 3 && rank != 4) || npads != 2 * rank)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Pad) is only supported as zero padding of the spatial axes before a Conv",
					   label(c));
	for (int i = 0; i < npads; i++)
		if (pads[i] < 0 || pads[i] > 1000000 || ((i % rank) < 2 && pads[i] != 0))
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Pad) is only supported as zero padding of the spatial axes before a Conv",
						   label(c));
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

/* Expand to a constant shape (its batch entry may be symbolic). */
static PiStatus
cv_expand(Cv *c)
{
	OnnxConst  *k;
	int64_t		shape[PI_MAX_RANK];
	PiAttrs		a;

	TRY(input_const(c, 1, &k));
	if (!k->is_int || k->rank != 1 || k->numel < 1 || k->numel > PI_MAX_RANK)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Expand) shape must be a list of 1 to %d integers",
					   label(c), PI_MAX_RANK);
	for (int i = 0; i < k->numel; i++)
		shape[i] = (k->ints[i] == ONNX_BATCH_DIM) ? -1 : k->ints[i];
	pi_attrs_default(PI_OP_EXPAND, &a);
	TRY(pi_attr_set_ints(PI_OP_EXPAND, &a, label(c), "shape", shape, (int) k->numel, c->err));
	return finish(c, PI_OP_EXPAND, 1, &a);
}

/* TopK: one IR node per output (values, indices). */
static PiStatus
cv_topk(Cv *c)
{
	int			x;
	int64_t		k;

	TRY(input_value(c, 0, &x));
	if (c->im->opset < 10)
		k = onnx_attr_int(c->n, "k", -1);
	else
	{
		OnnxConst  *kc;

		TRY(input_const(c, 1, &kc));
		if (!kc->is_int || kc->numel != 1)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (TopK) K must be one integer", label(c));
		k = kc->ints[0];
	}
	for (int o = 0; o < c->n->noutputs && o < 2; o++)
	{
		PiAttrs		a;

		if (c->n->outputs[o][0] == '\0')
			continue;
		pi_attrs_default(PI_OP_TOPK, &a);
		TRY(set_int(c, PI_OP_TOPK, &a, "k", k));
		TRY(set_int(c, PI_OP_TOPK, &a, "axis", onnx_attr_int(c->n, "axis", -1)));
		TRY(set_int(c, PI_OP_TOPK, &a, "largest", onnx_attr_int(c->n, "largest", 1)));
		TRY(set_int(c, PI_OP_TOPK, &a, "sorted", onnx_attr_int(c->n, "sorted", 1)));
		TRY(set_int(c, PI_OP_TOPK, &a, "output_index", o));
		TRY(finish_output(c, o, PI_OP_TOPK, &x, 1, &a));
	}
	return PI_OK;
}

/*
 * ReduceMean/Sum/Max: axes as an attribute, or an input from opset 18
 * (ReduceSum: 13).  No axes means all axes, batch included, which is refused
 * unless noop_with_empty_axes makes it the identity.
 */
static PiStatus
cv_reduce(Cv *c)
{
	const char *op_type = c->n->op_type;
	PiOp		op = strcmp(op_type, "ReduceMean") == 0 ? PI_OP_REDUCE_MEAN :
		strcmp(op_type, "ReduceSum") == 0 ? PI_OP_REDUCE_SUM : PI_OP_REDUCE_MAX;
	const int64_t *axes;
	int			count;
	PiAttrs		a;

	TRY(axes_arg(c, op == PI_OP_REDUCE_SUM ? 13 : 18, &axes, &count));
	if (count <= 0)
	{
		if (onnx_attr_int(c->n, "noop_with_empty_axes", 0) != 0)
			return cv_identity(c);
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) without axes reduces along the batch axis, which is not supported",
					   label(c), op_type);
	}
	pi_attrs_default(op, &a);
	TRY(pi_attr_set_ints(op, &a, label(c), "axes", axes, count, c->err));
	TRY(set_int(c, op, &a, "keepdims", onnx_attr_int(c->n, "keepdims", 1)));
	return finish(c, op, 1, &a);
}

/* ArgMax. */
static PiStatus
cv_argmax(Cv *c)
{
	PiAttrs		a;

	if (onnx_attr_int(c->n, "select_last_index", 0) != 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (ArgMax) with select_last_index is not supported", label(c));
	pi_attrs_default(PI_OP_ARGMAX, &a);
	TRY(set_int(c, PI_OP_ARGMAX, &a, "axis", onnx_attr_int(c->n, "axis", 0)));
	TRY(set_int(c, PI_OP_ARGMAX, &a, "keepdims", onnx_attr_int(c->n, "keepdims", 1)));
	return finish(c, PI_OP_ARGMAX, 1, &a);
}

/*
 * ArrayFeatureExtractor (ai.onnx.ml) of a 1-D constant (class labels) at
 * run-time indices: a Gather of the labels, [batch, k] for indices
 * [batch, k] (ONNX's [1, batch*k] in the same order; exporters reshape it).
 */
static PiStatus
cv_array_feature_extractor(Cv *c)
{
	OnnxConst  *labels;
	PiAttrs		a;

	TRY(input_const(c, 0, &labels));
	if (labels->rank != 1)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (ArrayFeatureExtractor) is supported on 1-D constants only",
					   label(c));
	pi_attrs_default(PI_OP_GATHER, &a);
	TRY(set_int(c, PI_OP_GATHER, &a, "axis", 0));
	return finish(c, PI_OP_GATHER, 2, &a);
}

typedef struct ConvertEntry
{
	const char *op;
	ConvertFn	fn;
} ConvertEntry;

static const ConvertEntry converters[] = {
	{"Relu", cv_plain}, {"Sigmoid", cv_plain}, {"Tanh", cv_plain}, {"Exp", cv_plain},
	{"Log", cv_plain}, {"Sqrt", cv_plain}, {"Neg", cv_plain}, {"Abs", cv_plain},
	{"Reciprocal", cv_plain}, {"Erf", cv_plain}, {"Softplus", cv_plain},
	{"Add", cv_plain}, {"Sub", cv_plain}, {"Mul", cv_plain}, {"Div", cv_plain},
	{"Pow", cv_plain}, {"PRelu", cv_plain}, {"Equal", cv_plain}, {"Less", cv_plain},
	{"Greater", cv_plain}, {"Where", cv_plain}, {"MatMul", cv_plain},
	{"LeakyRelu", cv_param_unary}, {"Elu", cv_param_unary}, {"Selu", cv_param_unary},
	{"HardSigmoid", cv_param_unary}, {"Gelu", cv_gelu},
	{"Identity", cv_identity}, {"Dropout", cv_identity},
	{"Sum", cv_variadic}, {"Min", cv_variadic}, {"Max", cv_variadic}, {"Mean", cv_variadic},
	{"Clip", cv_clip}, {"Cast", cv_cast},
	{"Softmax", cv_softmax}, {"LogSoftmax", cv_softmax},
	{"Gemm", cv_gemm}, {"Conv", cv_conv}, {"ConvTranspose", cv_conv_transpose},
	{"MaxPool", cv_pool}, {"AveragePool", cv_pool},
	{"GlobalAveragePool", cv_global_pool}, {"GlobalMaxPool", cv_global_pool},
	{"BatchNormalization", cv_batch_norm}, {"LayerNormalization", cv_layer_norm},
	{"Reshape", cv_reshape}, {"Flatten", cv_flatten},
	{"Squeeze", cv_squeeze}, {"Unsqueeze", cv_squeeze}, {"Transpose", cv_transpose},
	{"Concat", cv_concat}, {"Gather", cv_gather}, {"Slice", cv_slice}, {"Split", cv_split},
	{"Expand", cv_expand}, {"TopK", cv_topk}, {"Pad", cv_pad},
	{"ReduceMean", cv_reduce}, {"ReduceSum", cv_reduce}, {"ReduceMax", cv_reduce},
	{"ArgMax", cv_argmax}, {"ArrayFeatureExtractor", cv_array_feature_extractor},
	{"And", cv_boolean}, {"Or", cv_boolean}, {"Not", cv_boolean},
	{"LessOrEqual", cv_boolean}, {"GreaterOrEqual", cv_boolean},
};

/* The converter of an op, or NULL. */
static ConvertFn
find_converter(const char *op_type)
{
	for (size_t i = 0; i < sizeof(converters) / sizeof(converters[0]); i++)
		if (strcmp(converters[i].op, op_type) == 0)
			return converters[i].fn;
	return NULL;
}

/* Whether nodes of this op can be lowered to IR nodes. */
bool
onnx_convert_supported(const char *op_type)
{
	return find_converter(op_type) != NULL;
}

/* Lowers node n, whose inputs are in[] (NULL: omitted), to IR nodes. */
PiStatus
onnx_convert_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	ConvertFn	fn = find_converter(n->op_type);
	Cv			c = {im, n, in, err};

	if (fn == NULL)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) is only supported on constants, but an input is computed at run time",
					   label(&c), n->op_type);
	return fn(&c);
}
