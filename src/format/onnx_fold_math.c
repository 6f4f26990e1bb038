/*
 * onnx_fold_math.c
 *	  Constant folding of arithmetic at import: Cast, elementwise binary ops
 *	  with numpy broadcasting (exact int64 for integers, float32 otherwise),
 *	  comparisons and boolean ops, Where, Expand, ConstantOfShape, Range and
 *	  unary ops.  The symbolic batch size is refused by arithmetic.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_fold.h"

/* Converts one value for Cast; false when it does not fit the target. */
static bool
cast_value(double v, int to, int64_t *iv, float *fv)
{
	switch (to)
	{
		case ONNX_BOOL:
			*iv = (v != 0);
			return true;
		case ONNX_INT64:
		case ONNX_INT32:
		case ONNX_INT16:
		case ONNX_INT8:
		case ONNX_UINT8:
			if (!isfinite(v) || fabs(v) >= 9.2e18)
				return false;
			*iv = (int64_t) v;	/* truncates toward zero */
			if (to == ONNX_INT32)
				*iv = (int32_t) (uint32_t) (uint64_t) *iv;
			else if (to == ONNX_INT16)
				*iv = (int16_t) (uint16_t) (uint64_t) *iv;
			else if (to == ONNX_INT8)
				*iv = (int8_t) (uint8_t) (uint64_t) *iv;
			else if (to == ONNX_UINT8)
				*iv = (uint8_t) (uint64_t) *iv;
			return true;
		default:				/* FLOAT, DOUBLE */
			*fv = (float) v;
			return true;
	}
}

/* Cast (to: FLOAT, DOUBLE and the integer types; not to 16-bit floats). */
PiStatus
onnx_fold_cast(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int64_t		to = onnx_attr_int(n, "to", 0);
	bool		to_int = onnx_dtype_is_integer((int) to);

	TRY(onnx_fold_need_input(n, in, 0, err));
	if (!to_int && to != ONNX_FLOAT && to != ONNX_DOUBLE)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Cast) of a constant to %s is not supported",
					   onnx_node_label(n), onnx_dtype_name((int) to));
	TRY(onnx_const_new(in[0]->rank, in[0]->dims, to_int, (int) to, n->outputs[0], out, err));
	for (int64_t i = 0; i < in[0]->numel; i++)
	{
		int64_t		iv = 0;
		float		fv = 0;

		if (in[0]->is_int && in[0]->ints[i] == ONNX_BATCH_DIM && to == ONNX_INT64)
			iv = ONNX_BATCH_DIM;
		else if (in[0]->is_int && in[0]->ints[i] == ONNX_BATCH_DIM)
			return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Cast) converts the batch size, which is only known at run time",
						   onnx_node_label(n));
		else if (in[0]->is_int && to == ONNX_INT64)
			iv = in[0]->ints[i];
		else if (in[0]->is_int && to == ONNX_BOOL)
			iv = (in[0]->ints[i] != 0);
		else if (!cast_value(onnx_const_get(in[0], i), (int) to, &iv, &fv))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Cast) value %g does not fit %s",
						   onnx_node_label(n), onnx_const_get(in[0], i), onnx_dtype_name((int) to));
		if (to_int)
			(*out)->ints[i] = iv;
		else
			(*out)->floats[i] = fv;
	}
	return PI_OK;
}

/* The numpy broadcast of the inputs' shapes. */
static PiStatus
broadcast_shape(const OnnxNode *n, OnnxConst *const *in, int count, int *rank,
				int64_t *dims, PiError *err)
{
	*rank = 0;
	for (int k = 0; k < count; k++)
		if (in[k]->rank > *rank)
			*rank = in[k]->rank;
	for (int i = 0; i < *rank; i++)
		dims[i] = 1;
	for (int k = 0; k < count; k++)
		for (int i = 0; i < in[k]->rank; i++)
		{
			int64_t    *d = &dims[*rank - in[k]->rank + i];
			int64_t		v = in[k]->dims[i];

			if (*d == 1)
				*d = v;
			else if (v != 1 && v != *d)
				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) inputs do not broadcast",
							   onnx_node_label(n), n->op_type);
		}
	return PI_OK;
}

/* Index into c of output element o of a broadcast shape. */
static int64_t
broadcast_source(const OnnxConst *c, int rank, const int64_t *dims, int64_t o)
{
	int64_t		src = 0,
				stride = 1;

	for (int i = rank - 1; i >= 0; i--)
	{
		int64_t		coord = o % dims[i];
		int			ci = i - (rank - c->rank);

		o /= dims[i];
		if (ci < 0)
			break;
		if (c->dims[ci] != 1)
			src += coord * stride;
		stride *= c->dims[ci];
	}
	return src;
}

/* Integer result of a binary op; false when undefined (division by zero). */
static bool
int_binary(const char *op, int64_t a, int64_t b, int64_t *r)
{
	if (strcmp(op, "Add") == 0)
		return !__builtin_add_overflow(a, b, r);
	if (strcmp(op, "Sub") == 0)
		return !__builtin_sub_overflow(a, b, r);
	if (strcmp(op, "Mul") == 0)
		return !__builtin_mul_overflow(a, b, r);
	if (strcmp(op, "Div") == 0)
	{
		if (b == 0 || (a == INT64_MIN && b == -1))
			return false;
		*r = a / b;
		return true;
	}
	if (strcmp(op, "Mod") == 0)
	{
		if (b == 0 || (a == INT64_MIN && b == -1))
			return false;
		*r = a % b;
		if (*r != 0 && ((*r < 0) != (b < 0)))
			*r += b;			/* fmod 0: the sign of the divisor */
		return true;
	}
	if (strcmp(op, "Min") == 0)
		*r = a < b ? a : b;
	else if (strcmp(op, "Max") == 0)
		*r = a > b ? a : b;
	else if (strcmp(op, "Equal") == 0)
		*r = (a == b);
	else if (strcmp(op, "Less") == 0)
		*r = (a < b);
	else if (strcmp(op, "Greater") == 0)
		*r = (a > b);
	else if (strcmp(op, "LessOrEqual") == 0)
		*r = (a <= b);
	else if (strcmp(op, "GreaterOrEqual") == 0)
		*r = (a >= b);
	else if (strcmp(op, "And") == 0)
		*r = (a != 0 && b != 0);
	else if (strcmp(op, "Or") == 0)
		*r = (a != 0 || b != 0);
	else
		return false;
	return true;
}

/* Float result of a binary op (comparisons give 0/1). */
static double
float_binary(const char *op, float a, float b)
{
	if (strcmp(op, "Add") == 0)
		return a + b;
	if (strcmp(op, "Sub") == 0)
		return a - b;
	if (strcmp(op, "Mul") == 0)
		return a * b;
	if (strcmp(op, "Div") == 0)
		return a / b;
	if (strcmp(op, "Pow") == 0)
		return powf(a, b);
	if (strcmp(op, "Min") == 0)
		return (isnan(a) || isnan(b)) ? NAN : fminf(a, b);
	if (strcmp(op, "Max") == 0)
		return (isnan(a) || isnan(b)) ? NAN : fmaxf(a, b);
	if (strcmp(op, "Equal") == 0)
		return a == b;
	if (strcmp(op, "Less") == 0)
		return a < b;
	if (strcmp(op, "Greater") == 0)
		return a > b;
	if (strcmp(op, "LessOrEqual") == 0)
		return a <= b;
	if (strcmp(op, "GreaterOrEqual") == 0)
		return a >= b;
	return NAN;
}

/* Whether an op's result is boolean. */
static bool
is_comparison(const char *op)
{
	return strcmp(op, "Equal") == 0 || strcmp(op, "Less") == 0 ||
		strcmp(op, "Greater") == 0 || strcmp(op, "LessOrEqual") == 0 ||
		strcmp(op, "GreaterOrEqual") == 0 || strcmp(op, "And") == 0 ||
		strcmp(op, "Or") == 0;
}

/* Elementwise binary ops with broadcasting; variadic Min/Max/Sum fold pairwise. */
PiStatus
onnx_fold_binary(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const char *op = strcmp(n->op_type, "Sum") == 0 ? "Add" : n->op_type;
	OnnxConst  *acc = NULL;

	if (n->ninputs < 1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has no inputs", onnx_node_label(n), n->op_type);
	for (int k = 0; k < n->ninputs; k++)
	{
		TRY(onnx_fold_need_input(n, in, k, err));
		if (onnx_const_has_batch(in[k]))
			return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) computes with the batch size, which is only known at run time",
						   onnx_node_label(n), n->op_type);
	}
	if (n->ninputs == 1)
		return onnx_fold_identity(n, opset, in, out, err);
	for (int k = 1; k < n->ninputs; k++)
	{
		OnnxConst  *pair[2] = {k == 1 ? in[0] : acc, in[k]};
		OnnxConst  *r = NULL;
		int			rank;
		int64_t		dims[PI_ONNX_MAX_DIMS];
		bool		cmp = is_comparison(op);
		bool		ints = pair[0]->is_int && pair[1]->is_int;
		PiStatus	st;

		if (pair[0]->is_int != pair[1]->is_int)
			st = pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) mixes integer and float inputs",
						 onnx_node_label(n), n->op_type);
		else if ((st = broadcast_shape(n, pair, 2, &rank, dims, err)) == PI_OK)
			st = onnx_const_new(rank, dims, ints || cmp, cmp ? ONNX_BOOL : pair[0]->data_type,
								n->outputs[0], &r, err);
		for (int64_t o = 0; st == PI_OK && o < r->numel; o++)
		{
			int64_t		ia = broadcast_source(pair[0], rank, dims, o);
			int64_t		ib = broadcast_source(pair[1], rank, dims, o);

			if (ints)
			{
				if (!int_binary(op, pair[0]->ints[ia], pair[1]->ints[ib], &r->ints[o]))
					st = pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) overflows or divides by zero on integers",
								 onnx_node_label(n), n->op_type);
			}
			else if (cmp)
				r->ints[o] = (int64_t) float_binary(op, pair[0]->floats[ia], pair[1]->floats[ib]);
			else
				r->floats[o] = (float) float_binary(op, pair[0]->floats[ia], pair[1]->floats[ib]);
		}
		onnx_const_free(acc);
		acc = r;
		if (st != PI_OK)
		{
			onnx_const_free(acc);
			return st;
		}
	}
	*out = acc;
	return PI_OK;
}

/* Where(condition, x, y) with broadcasting. */
PiStatus
onnx_fold_where(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];

	TRY(onnx_fold_need_ints(n, in, 0, err));
	TRY(onnx_fold_need_input(n, in, 1, err));
	TRY(onnx_fold_need_input(n, in, 2, err));
	if (in[1]->is_int != in[2]->is_int)
		return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (Where) mixes integer and float inputs", onnx_node_label(n));
	TRY(broadcast_shape(n, in, 3, &rank, dims, err));
	TRY(onnx_fold_new_like(n, in[1], rank, dims, out, err));
	for (int64_t o = 0; o < (*out)->numel; o++)
	{
		bool		c = in[0]->ints[broadcast_source(in[0], rank, dims, o)] != 0;
		const OnnxConst *src = c ? in[1] : in[2];

		onnx_fold_copy(src, broadcast_source(src, rank, dims, o), *out, o);
	}
	return PI_OK;
}

/* Expand: broadcasts the input to a shape. */
PiStatus
onnx_fold_expand(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	OnnxConst	shape_only;
	OnnxConst  *pair[2];
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];

	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(onnx_fold_need_ints(n, in, 1, err));
	if (in[1]->numel > PI_ONNX_MAX_DIMS || in[1]->rank != 1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Expand) shape must be a list of at most %d sizes",
					   onnx_node_label(n), PI_ONNX_MAX_DIMS);
	memset(&shape_only, 0, sizeof(shape_only));
	shape_only.rank = (int) in[1]->numel;
	memcpy(shape_only.dims, in[1]->ints, sizeof(int64_t) * shape_only.rank);
	pair[0] = in[0];
	pair[1] = &shape_only;
	TRY(broadcast_shape(n, pair, 2, &rank, dims, err));
	TRY(onnx_fold_new_like(n, in[0], rank, dims, out, err));
	for (int64_t o = 0; o < (*out)->numel; o++)
		onnx_fold_copy(in[0], broadcast_source(in[0], rank, dims, o), *out, o);
	return PI_OK;
}

/* ConstantOfShape: a tensor of one value (attribute "value", default float 0). */
PiStatus
onnx_fold_constant_of_shape(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const OnnxAttr *value = onnx_attr(n, "value");
	OnnxConst  *v = NULL;

	TRY(onnx_fold_need_ints(n, in, 0, err));
	if (in[0]->rank != 1 || in[0]->numel > PI_ONNX_MAX_DIMS)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (ConstantOfShape) input must be a list of at most %d sizes",
					   onnx_node_label(n), PI_ONNX_MAX_DIMS);
	if (value != NULL && value->t != NULL)
	{
		TRY(onnx_const_from_tensor(value->t, NULL, 0, &v, err));
		if (v->numel != 1)
		{
			onnx_const_free(v);
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (ConstantOfShape) value must have one element",
						   onnx_node_label(n));
		}
	}
	{
		PiStatus	st = onnx_const_new((int) in[0]->numel, in[0]->ints, v ? v->is_int : false,
										v ? v->data_type : ONNX_FLOAT, n->outputs[0], out, err);

		for (int64_t i = 0; st == PI_OK && i < (*out)->numel; i++)
		{
			if (v == NULL)
				(*out)->floats[i] = 0.0f;
			else
				onnx_fold_copy(v, 0, *out, i);
		}
		onnx_const_free(v);
		return st;
	}
}

/* Range(start, limit, delta). */
PiStatus
onnx_fold_range(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	double		start,
				limit,
				delta,
				count;
	int64_t		len;

	for (int i = 0; i < 3; i++)
	{
		TRY(onnx_fold_need_input(n, in, i, err));
		if (in[i]->numel != 1 || onnx_const_has_batch(in[i]))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Range) inputs must be known scalars",
						   onnx_node_label(n));
	}
	start = onnx_const_get(in[0], 0);
	limit = onnx_const_get(in[1], 0);
	delta = onnx_const_get(in[2], 0);
	if (delta == 0)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Range) has delta 0", onnx_node_label(n));
	count = ceil((limit - start) / delta);
	if (!(count < (double) ONNX_FOLD_MAX_ELEMS))
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Range) is too long", onnx_node_label(n));
	len = count > 0 ? (int64_t) count : 0;
	TRY(onnx_fold_new_like(n, in[0], 1, &len, out, err));
	for (int64_t i = 0; i < len; i++)
	{
		if (in[0]->is_int)
			(*out)->ints[i] = in[0]->ints[0] + i * in[2]->ints[0];
		else
			(*out)->floats[i] = (float) (start + i * delta);
	}
	return PI_OK;
}

/* Float value of a unary op. */
static double
unary_value(const char *op, double x)
{
	if (strcmp(op, "Neg") == 0)
		return -x;
	if (strcmp(op, "Abs") == 0)
		return fabs(x);
	if (strcmp(op, "Sqrt") == 0)
		return sqrt(x);
	if (strcmp(op, "Reciprocal") == 0)
		return 1.0 / x;
	if (strcmp(op, "Floor") == 0)
		return floor(x);
	if (strcmp(op, "Ceil") == 0)
		return ceil(x);
	if (strcmp(op, "Exp") == 0)
		return exp(x);
	if (strcmp(op, "Log") == 0)
		return log(x);
	if (strcmp(op, "Relu") == 0)
		return x > 0 ? x : 0;
	return (x == 0);			/* Not */
}

/* Unary elementwise ops (Neg/Abs/Not exact on integers). */
PiStatus
onnx_fold_unary(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	bool		exact = strcmp(n->op_type, "Neg") == 0 || strcmp(n->op_type, "Abs") == 0 ||
		strcmp(n->op_type, "Not") == 0 || strcmp(n->op_type, "Relu") == 0;

	TRY(onnx_fold_need_input(n, in, 0, err));
	if (in[0]->is_int && (!exact || onnx_const_has_batch(in[0])))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) of an integer constant is not supported",
					   onnx_node_label(n), n->op_type);
	TRY(onnx_fold_new_like(n, in[0], in[0]->rank, in[0]->dims, out, err));
	for (int64_t i = 0; i < in[0]->numel; i++)
	{
		if (in[0]->is_int)
		{
			int64_t		v = in[0]->ints[i];

			(*out)->ints[i] = strcmp(n->op_type, "Not") == 0 ? (v == 0) :
				(v == INT64_MIN) ? v : (int64_t) unary_value(n->op_type, (double) v);
		}
		else
			(*out)->floats[i] = (float) unary_value(n->op_type, in[0]->floats[i]);
	}
	return PI_OK;
}

