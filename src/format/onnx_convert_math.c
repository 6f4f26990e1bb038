/*
 * onnx_convert_math.c
 *	  Lowering of elementwise, matrix, normalizing and reducing ONNX ops:
 *	  activations, arithmetic and comparisons (with their opset-6 broadcast
 *	  and integer forms), boolean ops, variadic chains, Clip, Cast,
 *	  Softmax/LogSoftmax (with the pre-13 flattening), Gemm, reductions, ArgMax.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

/*
 * Binary ops before opset 7 with broadcast=1: B's dims line up with A's
 * from "axis" on (default: the trailing ones); PRelu's slope from axis 1.  A constant B gets trailing
 * size-1 dims so that numpy broadcasting means the same.
 */
static PiStatus
legacy_broadcast(OnnxCv *c, PiOp op, const PiAttrs *a, bool per_channel)
{
	int			inputs[2];
	OnnxConst  *b;
	const PiValue *av;
	int64_t		axis,
				dims[PI_MAX_RANK];
	float	   *data;

	TRY(onnx_cv_value(c, 0, &inputs[0]));
	av = onnx_cv_shape(c, inputs[0]);
	TRY(onnx_cv_const(c, 1, &b));
	axis = per_channel ? 1 : onnx_attr_int(c->n, "axis", av->rank - b->rank);
	if (axis < 0)
		axis += av->rank;
	if (axis < 1 || axis + b->rank > av->rank)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) broadcasts B at axis %lld of a rank-%d input",
					   onnx_cv_label(c), c->n->op_type, (long long) axis, av->rank);
	for (int i = 0; i < av->rank - axis; i++)
		dims[i] = i < b->rank ? b->dims[i] : 1;
	TRY(onnx_const_to_floats(b, c->in[1]->name, &data, c->err));
	TRY(onnx_add_weight(c->im, c->in[1]->name, (int) (av->rank - axis), dims, data, &inputs[1], c->err));
	return onnx_cv_finish_output(c, 0, op, inputs, 2, a);
}

/* Div of integers: the quotient truncated toward zero (a Cast to INT64). */
static PiStatus
integer_div(OnnxCv *c)
{
	PiAttrs		a;
	int			inputs[2],
				q;

	TRY(onnx_cv_value(c, 0, &inputs[0]));
	TRY(onnx_cv_value(c, 1, &inputs[1]));
	pi_attrs_default(PI_OP_DIV, &a);
	TRY(onnx_cv_step(c, "quotient", PI_OP_DIV, inputs, 2, &a, &q));
	pi_attrs_default(PI_OP_CAST, &a);
	TRY(onnx_cv_set_int(c, PI_OP_CAST, &a, "to", 7));
	return onnx_cv_finish_output(c, 0, PI_OP_CAST, &q, 1, &a);
}

/*
 * Boolean ops over 0/1 values: And as Mul, Or as Max, Not x as 1 - x,
 * LessOrEqual as 1 - Greater, GreaterOrEqual as 1 - Less.
 */
PiStatus
onnx_cv_boolean(OnnxCv *c)
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
		return onnx_cv_finish(c, op, 2, &a);
	}
	TRY(onnx_cv_value(c, 0, &inputs[0]));
	v = inputs[0];
	if (strcmp(op_type, "Not") != 0)
	{
		PiOp		cmp = strcmp(op_type, "LessOrEqual") == 0 ? PI_OP_GREATER : PI_OP_LESS;

		TRY(onnx_cv_value(c, 1, &inputs[1]));
		pi_attrs_default(cmp, &a);
		TRY(onnx_cv_step(c, "complement", cmp, inputs, 2, &a, &v));
	}
	if ((one = malloc(sizeof(float))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	*one = 1.0f;
	TRY(onnx_add_weight(c->im, c->n->outputs[0], 1, one_dims, one, &inputs[0], c->err));
	inputs[1] = v;
	pi_attrs_default(PI_OP_SUB, &a);
	return onnx_cv_finish_output(c, 0, PI_OP_SUB, inputs, 2, &a);
}

/* Ops whose IR node has the same inputs and no attributes. */
PiStatus
onnx_cv_plain(OnnxCv *c)
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
							   onnx_cv_label(c), c->n->op_type, c->n->ninputs, plain[i].ninputs);
			pi_attrs_default(plain[i].op, &a);
			if (onnx_attr_int(c->n, "broadcast", 0) != 0)
				return legacy_broadcast(c, plain[i].op, &a, false);
			/* before opset 7, PRelu's slope is per channel (axis 1) */
			if (plain[i].op == PI_OP_DIV && onnx_entry_is_int(c->in[0]) && onnx_entry_is_int(c->in[1]))
				return integer_div(c);
			if (plain[i].op == PI_OP_PRELU && c->im->opset < 7 && onnx_cv_has_input(c, 1) &&
				c->in[1]->kind == ENTRY_CONST && c->in[1]->tensor && c->in[1]->tensor->numel > 1)
				return legacy_broadcast(c, plain[i].op, &a, true);
			return onnx_cv_finish(c, plain[i].op, plain[i].ninputs, &a);
		}
	return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\": op %s has no converter", onnx_cv_label(c), c->n->op_type);
}

/* Unary ops with float parameters named as in ONNX. */
PiStatus
onnx_cv_param_unary(OnnxCv *c)
{
	static const char *const names[] = {"alpha", "beta", "gamma", NULL};
	const char *op_type = c->n->op_type;
	PiOp		op = strcmp(op_type, "LeakyRelu") == 0 ? PI_OP_LEAKY_RELU :
		strcmp(op_type, "Elu") == 0 ? PI_OP_ELU :
		strcmp(op_type, "Selu") == 0 ? PI_OP_SELU : PI_OP_HARD_SIGMOID;

	return onnx_cv_one_input(c, op, names);
}

/* Gelu (opset 20): approximate "none" or "tanh". */
PiStatus
onnx_cv_gelu(OnnxCv *c)
{
	static const char *const names[] = {"approximate", NULL};

	return onnx_cv_one_input(c, PI_OP_GELU, names);
}

/* Identity, Dropout in inference: the output aliases the input. */
PiStatus
onnx_cv_identity(OnnxCv *c)
{
	int			v;

	if (strcmp(c->n->op_type, "Dropout") == 0)
	{
		OnnxConst  *training;

		if (c->n->noutputs > 1 && c->n->outputs[1][0] != '\0')
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Dropout) output mask is not supported", onnx_cv_label(c));

		if (c->im->opset < 7 && onnx_attr_int(c->n, "is_test", 0) == 0)
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Dropout) is in training mode", onnx_cv_label(c));
		if (onnx_cv_has_input(c, 2))
		{
			TRY(onnx_cv_const(c, 2, &training));
			if (training->numel != 1 || onnx_const_get(training, 0) != 0)
				return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Dropout) is in training mode",
							   onnx_cv_label(c));
		}
	}
	TRY(onnx_cv_value(c, 0, &v));
	return onnx_define(c->im, c->n->outputs[0], NULL, v, c->err);
}

/* Variadic Sum/Min/Max/Mean as a chain of binary IR nodes. */
PiStatus
onnx_cv_variadic(OnnxCv *c)
{
	const char *op_type = c->n->op_type;
	PiOp		op = strcmp(op_type, "Min") == 0 ? PI_OP_MIN :
		strcmp(op_type, "Max") == 0 ? PI_OP_MAX : PI_OP_ADD;
	bool		mean = strcmp(op_type, "Mean") == 0;
	PiAttrs		a;
	int			acc;

	if (c->n->ninputs < 1)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has no inputs", onnx_cv_label(c), op_type);
	pi_attrs_default(op, &a);
	TRY(onnx_cv_value(c, 0, &acc));
	if (c->n->ninputs == 1 || (c->n->ninputs == 2 && !mean))
	{
		if (c->n->ninputs == 1)
		{
			pi_attrs_default(PI_OP_IDENTITY, &a);
			return onnx_cv_finish_output(c, 0, PI_OP_IDENTITY, &acc, 1, &a);
		}
		return onnx_cv_finish(c, op, 2, &a);
	}
	for (int i = 1; i < c->n->ninputs; i++)
	{
		int			pair[2] = {acc, 0};

		TRY(onnx_cv_value(c, i, &pair[1]));
		if (i == c->n->ninputs - 1 && !mean)
			return onnx_cv_finish_output(c, 0, op, pair, 2, &a);
		TRY(onnx_cv_step(c, "acc", op, pair, 2, &a, &acc));
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
		return onnx_cv_finish_output(c, 0, PI_OP_MUL, pair, 2, &a);
	}
}

/* Clip: bounds as attributes (before opset 11) or constant inputs. */
PiStatus
onnx_cv_clip(OnnxCv *c)
{
	PiAttrs		a;

	pi_attrs_default(PI_OP_CLIP, &a);
	if (c->im->opset < 11)
	{
		const OnnxAttr *lo = onnx_attr(c->n, "min");
		const OnnxAttr *hi = onnx_attr(c->n, "max");

		if (lo)
			TRY(pi_attr_set_float(PI_OP_CLIP, &a, onnx_cv_label(c), "min", lo->f, c->err));
		if (hi)
			TRY(pi_attr_set_float(PI_OP_CLIP, &a, onnx_cv_label(c), "max", hi->f, c->err));
	}
	else
	{
		for (int i = 1; i <= 2; i++)
		{
			OnnxConst  *b;

			if (!onnx_cv_has_input(c, i))
				continue;
			TRY(onnx_cv_const(c, i, &b));
			if (b->numel != 1)
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Clip) bound must be a scalar", onnx_cv_label(c));
			TRY(pi_attr_set_float(PI_OP_CLIP, &a, onnx_cv_label(c), i == 1 ? "min" : "max",
								  (float) onnx_const_get(b, 0), c->err));
		}
	}
	return onnx_cv_finish(c, PI_OP_CLIP, 1, &a);
}

/* Cast. */
PiStatus
onnx_cv_cast(OnnxCv *c)
{
	PiAttrs		a;

	pi_attrs_default(PI_OP_CAST, &a);
	TRY(onnx_cv_set_int(c, PI_OP_CAST, &a, "to", onnx_attr_int(c->n, "to", 0)));
	return onnx_cv_finish(c, PI_OP_CAST, 1, &a);
}

/*
 * Softmax, LogSoftmax.  From opset 13 they work on one axis (default -1).
 * Before, they flatten [d0..d(axis-1)] x [d(axis)..] (default axis 1):
 * rewritten as Reshape to [batch, P, Q], the op on the last axis, and
 * Reshape back, unless axis is already the last one.
 */
PiStatus
onnx_cv_softmax(OnnxCv *c)
{
	PiOp		op = strcmp(c->n->op_type, "Softmax") == 0 ? PI_OP_SOFTMAX : PI_OP_LOG_SOFTMAX;
	PiAttrs		a;
	int			x;
	const PiValue *xv;
	int64_t		axis;
	int64_t		flat[3] = {-1, 1, 1};
	int			mid,
				soft;

	TRY(onnx_cv_value(c, 0, &x));
	xv = onnx_cv_shape(c, x);
	pi_attrs_default(op, &a);
	axis = onnx_attr_int(c->n, "axis", c->im->opset >= 13 ? -1 : 1);
	if (c->im->opset >= 13)
	{
		TRY(onnx_cv_set_int(c, op, &a, "axis", axis));
		return onnx_cv_finish(c, op, 1, &a);
	}
	if (axis < 0)
		axis += xv->rank;
	if (axis == 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) with axis 0 works along the batch axis, which is not supported",
					   onnx_cv_label(c), c->n->op_type);
	if (axis < 0 || axis >= xv->rank)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has axis %lld, out of range for rank %d",
					   onnx_cv_label(c), c->n->op_type, (long long) onnx_attr_int(c->n, "axis", 1), xv->rank);
	TRY(onnx_cv_set_int(c, op, &a, "axis", -1));
	if (axis == xv->rank - 1)
		return onnx_cv_finish_output(c, 0, op, &x, 1, &a);
	for (int i = 1; i < xv->rank; i++)
		flat[i < axis ? 1 : 2] *= xv->dims[i];
	{
		int64_t		back[PI_MAX_RANK];

		memcpy(back, xv->dims, sizeof(int64_t) * xv->rank);
		TRY(onnx_cv_reshape(c, "flat", x, 3, flat, &mid));
		TRY(onnx_cv_step(c, "op", op, &mid, 1, &a, &soft));
		return onnx_cv_reshape(c, NULL, soft, xv->rank, back, &mid);
	}
}

/* Gemm: C becomes a bias of shape [M] when it broadcasts as one. */
PiStatus
onnx_cv_gemm(OnnxCv *c)
{
	static const char *const names[] = {"transA", "transB", "alpha", "beta", NULL};
	PiAttrs		a;
	int			inputs[3];
	int			ninputs = 2;

	pi_attrs_default(PI_OP_GEMM, &a);
	TRY(onnx_cv_copy_attrs(c, PI_OP_GEMM, &a, names));
	TRY(onnx_cv_value(c, 0, &inputs[0]));
	TRY(onnx_cv_value(c, 1, &inputs[1]));
	if (onnx_cv_has_input(c, 2))
	{
		const PiValue *w = onnx_cv_shape(c, inputs[1]);
		int64_t		m = (w->rank == 2) ? w->dims[a.trans_b ? 0 : 1] : -1;
		OnnxConst  *bias;

		if (c->in[2]->kind == ENTRY_CONST)
		{
			TRY(onnx_cv_const(c, 2, &bias));
			if (bias->rank != 1 || bias->numel != m)
			{
				/* a scalar or [1, M] bias: expanded to [M] */
				float	   *data;

				if (m < 1 || !(bias->numel == 1 || (bias->numel == m && bias->dims[bias->rank - 1] == m)))
					return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gemm) input C must broadcast as a bias of shape [%lld]",
								   onnx_cv_label(c), (long long) m);
				if ((data = malloc(sizeof(float) * m)) == NULL)
					return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
				for (int64_t i = 0; i < m; i++)
					data[i] = (float) onnx_const_get(bias, bias->numel == 1 ? 0 : i);
				TRY(onnx_add_weight(c->im, c->in[2]->name, 1, &m, data, &inputs[2], c->err));
				return onnx_cv_finish_output(c, 0, PI_OP_GEMM, inputs, 3, &a);
			}
		}
		TRY(onnx_cv_value(c, 2, &inputs[2]));
		ninputs = 3;
	}
	return onnx_cv_finish_output(c, 0, PI_OP_GEMM, inputs, ninputs, &a);
}

/*
 * ReduceMean/Sum/Max: axes as an attribute, or an input from opset 18
 * (ReduceSum: 13).  No axes means all axes, batch included, which is refused
 * unless noop_with_empty_axes makes it the identity.
 */
PiStatus
onnx_cv_reduce(OnnxCv *c)
{
	const char *op_type = c->n->op_type;
	PiOp		op = strcmp(op_type, "ReduceMean") == 0 ? PI_OP_REDUCE_MEAN :
		strcmp(op_type, "ReduceSum") == 0 ? PI_OP_REDUCE_SUM : PI_OP_REDUCE_MAX;
	const int64_t *axes;
	int			count;
	PiAttrs		a;

	TRY(onnx_cv_axes(c, op == PI_OP_REDUCE_SUM ? 13 : 18, &axes, &count));
	if (count <= 0)
	{
		if (onnx_attr_int(c->n, "noop_with_empty_axes", 0) != 0)
			return onnx_cv_identity(c);
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) without axes reduces along the batch axis, which is not supported",
					   onnx_cv_label(c), op_type);
	}
	pi_attrs_default(op, &a);
	TRY(pi_attr_set_ints(op, &a, onnx_cv_label(c), "axes", axes, count, c->err));
	TRY(onnx_cv_set_int(c, op, &a, "keepdims", onnx_attr_int(c->n, "keepdims", 1)));
	return onnx_cv_finish(c, op, 1, &a);
}

/* ArgMax. */
PiStatus
onnx_cv_argmax(OnnxCv *c)
{
	PiAttrs		a;

	if (onnx_attr_int(c->n, "select_last_index", 0) != 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (ArgMax) with select_last_index is not supported", onnx_cv_label(c));
	pi_attrs_default(PI_OP_ARGMAX, &a);
	TRY(onnx_cv_set_int(c, PI_OP_ARGMAX, &a, "axis", onnx_attr_int(c->n, "axis", 0)));
	TRY(onnx_cv_set_int(c, PI_OP_ARGMAX, &a, "keepdims", onnx_attr_int(c->n, "keepdims", 1)));
	return onnx_cv_finish(c, PI_OP_ARGMAX, 1, &a);
}

