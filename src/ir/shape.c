/*
 * shape.c
 *	  Shape inference: each node's output shape from its inputs' shapes,
 *	  with every check that makes the kernels safe to run.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pi_engine.h"
#include "pi_ir.h"
#include "shape_internal.h"

/* Sets the node's output shape from rank/dims (dims[0] ignored: batch). */
PiStatus
pi_shape_set_output(PiModel *m, PiNode *n, int rank, const int64_t *dims, PiError *err)
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
PiStatus
pi_shape_axis(const PiNode *n, int axis, int rank, int *result, PiError *err)
{
	int			a = axis < 0 ? axis + rank : axis;

	if (a < 0 || a >= rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has axis %d, out of range for rank %d",
					   n->name, pi_op_name(n->op), axis, rank);
	if (a == 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) works on axis 0: an operation along the batch axis is not supported",
					   n->name, pi_op_name(n->op));
	*result = a;
	return PI_OK;
}

/* Requires input i to be an activation (it carries the batch). */
PiStatus
pi_shape_need_activation(const PiModel *m, const PiNode *n, int i, PiError *err)
{
	if (!IS_ACT(&m->values[n->inputs[i]]))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input %d \"%s\" is a weight, expected an activation",
					   n->name, pi_op_name(n->op), i, m->values[n->inputs[i]].name);
	return PI_OK;
}

/* Requires input i to be a weight of the given rank. */
PiStatus
pi_shape_need_weight(const PiModel *m, const PiNode *n, int i, int rank, PiError *err)
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
PiStatus
pi_shape_check_bias(const PiModel *m, const PiNode *n, int i, int64_t count, PiError *err)
{
	const PiValue *b;
	char		buf[96];
	PiStatus	st;

	if (n->ninputs <= i)
		return PI_OK;
	if ((st = pi_shape_need_weight(m, n, i, 1, err)) != PI_OK)
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

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK ||
		(st = pi_shape_need_weight(m, n, 1, 2, err)) != PI_OK)
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
	if ((st = pi_shape_check_bias(m, n, 2, mdim, err)) != PI_OK)
		return st;
	dims[0] = -1;
	dims[1] = mdim;
	return pi_shape_set_output(m, n, 2, dims, err);
}

/*
 * MatMul with NumPy semantics.  An activation times a weight [K,M] or [K]
 * is one GEMM over all rows; otherwise the leading (stack) dimensions
 * broadcast, and the activation's batch must stay in front: an activation
 * needs rank 3 or more there, and a weight's dimensions that line up with
 * the batch must be 1.
 */
static PiStatus
infer_matmul(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *a = &m->values[n->inputs[0]];
	const PiValue *b = &m->values[n->inputs[1]];
	int64_t		ad[PI_MAX_RANK + 1],
				bd[PI_MAX_RANK + 1],
				dims[PI_MAX_RANK + 1];
	int			ar = a->rank,
				br = b->rank,
				lead,
				rank = 0;
	char		as[96],
				bs[96];

	if (!IS_ACT(a) && !IS_ACT(b))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (MatMul) has two weight inputs, expected at least one activation",
					   n->name);
	if (ar < 1 || br < 1)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (MatMul) cannot multiply %s by %s: scalars are not matrices",
					   n->name, pi_shape_string(a, as, sizeof(as)), pi_shape_string(b, bs, sizeof(bs)));
	/* 1-D operands: [K] is a row of A or a column of B */
	memcpy(ad + (ar == 1), a->dims, sizeof(int64_t) * ar);
	memcpy(bd, b->dims, sizeof(int64_t) * br);
	if (ar == 1)
	{
		ad[0] = 1;
		ar = 2;
	}
	if (br == 1)
	{
		bd[1] = 1;
		br = 2;
	}
	if (ad[ar - 1] != bd[br - 2] ||
		(IS_ACT(a) && a->rank < 2) || (IS_ACT(a) && IS_ACT(b) && a->rank != b->rank))
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (MatMul) cannot multiply %s by %s",
					   n->name, pi_shape_string(a, as, sizeof(as)), pi_shape_string(b, bs, sizeof(bs)));
	if (IS_ACT(a) && !IS_ACT(b) && b->rank <= 2)
	{
		/* rows of A (the batch among them) times one matrix */
		memcpy(dims, a->dims, sizeof(int64_t) * a->rank);
		rank = a->rank;
		if (b->rank == 2)
			dims[rank - 1] = b->dims[1];
		else
			rank--;
		if (rank < 1)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (MatMul) would produce a scalar", n->name);
		return pi_shape_set_output(m, n, rank, dims, err);
	}
	lead = (ar > br ? ar : br) - 2;
	for (int i = 0; i < lead; i++)
	{
		int			ia = i - (lead - (ar - 2));
		int			ib = i - (lead - (br - 2));
		int64_t		da = ia >= 0 ? ad[ia] : 1;
		int64_t		db = ib >= 0 ? bd[ib] : 1;

		if (i == 0)
		{
			/* the batch: an activation's axis 0, a weight's 1 */
			if ((IS_ACT(a) && (ia != 0 || a->rank < 3)) || (IS_ACT(b) && (ib != 0 || b->rank < 3)) ||
				(!IS_ACT(a) && da != 1) || (!IS_ACT(b) && db != 1))
				return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (MatMul) %s by %s would multiply along the batch axis, which is not supported",
							   n->name, pi_shape_string(a, as, sizeof(as)), pi_shape_string(b, bs, sizeof(bs)));
			dims[rank++] = -1;
			continue;
		}
		if (da != db && da != 1 && db != 1)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (MatMul) cannot broadcast %s with %s",
						   n->name, pi_shape_string(a, as, sizeof(as)), pi_shape_string(b, bs, sizeof(bs)));
		dims[rank++] = da > db ? da : db;
	}
	if (lead == 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (MatMul) %s by %s would multiply along the batch axis, which is not supported",
					   n->name, pi_shape_string(a, as, sizeof(as)), pi_shape_string(b, bs, sizeof(bs)));
	if (a->rank > 1)
		dims[rank++] = ad[ar - 2];
	if (b->rank > 1)
		dims[rank++] = bd[br - 1];
	return pi_shape_set_output(m, n, rank, dims, err);
}

/* Strides of dims right-aligned to out_rank dimensions, 0 where broadcast (pi_ir.h). */
void
pi_broadcast_strides(const int64_t *dims, int rank, int out_rank, int64_t *strides)
{
	int64_t		s = 1;

	for (int i = out_rank - 1; i >= 0; i--)
	{
		int			d = i - (out_rank - rank);

		if (d < 0 || dims[d] == 1)
			strides[i] = 0;
		else
		{
			strides[i] = s;
			s *= dims[d];
		}
	}
}

/*
 * The elementwise ops of 2 or 3 inputs: NumPy broadcasting.  A weight's
 * dimensions that line up with the batch must be 1; activations must have
 * the same rank.  PRelu's slope broadcasts to X, not X to the slope.
 */
static PiStatus
infer_broadcast(PiModel *m, PiNode *n, PiError *err)
{
	int			rank = 0;
	int64_t		dims[PI_MAX_RANK];
	int			act_rank = -1;
	char		as[96],
				bs[96];

	for (int k = 0; k < n->ninputs; k++)
	{
		const PiValue *v = &m->values[n->inputs[k]];

		if (v->rank > rank)
			rank = v->rank;
		if (IS_ACT(v))
		{
			if (act_rank >= 0 && v->rank != act_rank)
				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) activation inputs %s and %s have different ranks",
							   n->name, pi_op_name(n->op), v->name,
							   m->values[n->inputs[0]].name);
			act_rank = v->rank;
		}
	}
	if (act_rank < 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has only weight inputs, expected at least one activation",
					   n->name, pi_op_name(n->op));
	for (int i = 0; i < rank; i++)
		dims[i] = 1;
	dims[0] = -1;
	for (int k = 0; k < n->ninputs; k++)
	{
		const PiValue *v = &m->values[n->inputs[k]];

		for (int i = 0; i < rank; i++)
		{
			int			iv = i - (rank - v->rank);
			int64_t		d = iv >= 0 ? v->dims[iv] : 1;

			if (i == 0)
			{
				/* the batch axis: an activation's -1, a weight's 1 */
				if ((IS_ACT(v) && iv != 0) || (!IS_ACT(v) && d != 1))
					return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) input %s cannot broadcast along the batch axis of the output (rank %d)",
								   n->name, pi_op_name(n->op), pi_shape_string(v, as, sizeof(as)), rank);
				continue;
			}
			if (d != dims[i] && d != 1 && dims[i] != 1)
			{
				const PiValue *v0 = &m->values[n->inputs[0]];

				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) cannot broadcast %s with %s",
							   n->name, pi_op_name(n->op), pi_shape_string(v0, as, sizeof(as)),
							   pi_shape_string(v, bs, sizeof(bs)));
			}
			if (d != 1)
				dims[i] = d;
		}
	}
	if (n->op == PI_OP_PRELU)
	{
		const PiValue *x = &m->values[n->inputs[0]];

		if (!IS_ACT(x) || x->rank != rank || memcmp(x->dims + 1, dims + 1, sizeof(int64_t) * (rank - 1)) != 0)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (PRelu) slope %s does not broadcast to X %s",
						   n->name, pi_shape_string(&m->values[n->inputs[1]], bs, sizeof(bs)),
						   pi_shape_string(x, as, sizeof(as)));
	}
	return pi_shape_set_output(m, n, rank, dims, err);
}

/* QuantizeLinear and DequantizeLinear: a finite positive scale, a zero point its type holds. */
static PiStatus
check_quant_attrs(const PiNode *n, PiError *err)
{
	const PiAttrs *a = &n->attrs;
	int			lo = a->quant_signed ? -128 : 0;
	int			hi = a->quant_signed ? 127 : 255;

	if (!(isfinite(a->quant_scale) && a->quant_scale > 0.0f))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has scale %g, expected a finite positive number",
					   n->name, pi_op_name(n->op), (double) a->quant_scale);
	if (a->quant_zero_point < lo || a->quant_zero_point > hi)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has zero point %d, outside [%d, %d] of its %s codes",
					   n->name, pi_op_name(n->op), a->quant_zero_point, lo, hi,
					   a->quant_signed ? "int8" : "uint8");
	return PI_OK;
}

/* Ops whose output has the input's shape. */
static PiStatus
infer_same(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	PiStatus	st;
	int			axis = 0;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (n->op == PI_OP_CAST && n->attrs.cast_to == 0)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Cast) needs attribute \"to\"", n->name);
	if (n->op == PI_OP_SOFTMAX || n->op == PI_OP_LOG_SOFTMAX)
	{
		if ((st = pi_shape_axis(n, n->attrs.axis, x->rank, &axis, err)) != PI_OK)
			return st;
		n->attrs.axis = axis;
	}
	return pi_shape_set_output(m, n, x->rank, x->dims, err);
}

/* Reshape: a full target shape whose first element is -1 (the batch). */
static PiStatus
infer_reshape(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		numel = 1;
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
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
	return pi_shape_set_output(m, n, n->attrs.shape_len, n->attrs.shape, err);
}

/* Flatten with axis 1: [N, everything else]. */
static PiStatus
infer_flatten(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[2] = {-1, x->numel};
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (n->attrs.axis != 1)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Flatten) has axis %d, only axis 1 keeps the batch",
					   n->name, n->attrs.axis);
	return pi_shape_set_output(m, n, 2, dims, err);
}

/* Transpose: a permutation that keeps the batch axis first. */
static PiStatus
infer_transpose(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[PI_MAX_RANK];
	bool		seen[PI_MAX_RANK] = {false};
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
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
	return pi_shape_set_output(m, n, x->rank, dims, err);
}

/* Concat: activations equal in all dimensions but the axis. */
static PiStatus
infer_concat(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x0 = &m->values[n->inputs[0]];
	int64_t		dims[PI_MAX_RANK];
	int			axis = 0;
	PiStatus	st;

	if ((st = pi_shape_axis(n, n->attrs.axis, x0->rank, &axis, err)) != PI_OK)
		return st;
	n->attrs.axis = axis;
	memcpy(dims, x0->dims, sizeof(dims));
	dims[axis] = 0;
	for (int i = 0; i < n->ninputs; i++)
	{
		const PiValue *x = &m->values[n->inputs[i]];
		char		s0[96],
					si[96];

		if ((st = pi_shape_need_activation(m, n, i, err)) != PI_OK)
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
	return pi_shape_set_output(m, n, x0->rank, dims, err);
}

/* BatchNormalization: X [N,C,...] and four weights of shape [C]. */
static PiStatus
infer_batch_norm(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (x->rank < 2)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (BatchNormalization) input \"%s\" needs a channel axis",
					   n->name, x->name);
	for (int i = 1; i < 5; i++)
		if ((st = pi_shape_check_bias(m, n, i, x->dims[1], err)) != PI_OK)
			return st;
	if (!(n->attrs.epsilon >= 0.0f))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (BatchNormalization) epsilon must not be negative",
					   n->name);
	return pi_shape_set_output(m, n, x->rank, x->dims, err);
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

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK ||
		(st = pi_shape_axis(n, n->attrs.axis, x->rank, &axis, err)) != PI_OK)
		return st;
	n->attrs.axis = axis;
	for (int i = 0; i < x->rank; i++)
	{
		if (i != axis)
			dims[rank++] = x->dims[i];
		else if (n->attrs.keepdims)
			dims[rank++] = 1;
	}
	return pi_shape_set_output(m, n, rank, dims, err);
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
	if (n->op == PI_OP_QUANTIZE || n->op == PI_OP_DEQUANTIZE)
	{
		PiStatus	st = check_quant_attrs(n, err);

		if (st != PI_OK)
			return st;
	}
	if (pi_op_is_unary_elementwise(n->op))
		return infer_same(m, n, err);
	if (pi_op_is_binary_elementwise(n->op))
		return infer_broadcast(m, n, err);
	switch (n->op)
	{
		case PI_OP_DENSE:
		case PI_OP_GEMM:
			return infer_gemm(m, n, err);
		case PI_OP_MATMUL:
			return infer_matmul(m, n, err);
		case PI_OP_WHERE:
			return infer_broadcast(m, n, err);
		case PI_OP_SOFTMAX:
		case PI_OP_LOG_SOFTMAX:
		case PI_OP_IDENTITY:
		case PI_OP_DROPOUT:
			return infer_same(m, n, err);
		case PI_OP_REDUCE_MEAN:
		case PI_OP_REDUCE_SUM:
		case PI_OP_REDUCE_MAX:
		case PI_OP_LAYER_NORM:
		case PI_OP_TOPK:
			return pi_infer_reduce(m, n, err);
		case PI_OP_SQUEEZE:
		case PI_OP_UNSQUEEZE:
		case PI_OP_SLICE:
		case PI_OP_GATHER:
		case PI_OP_PAD:
		case PI_OP_EXPAND:
			return pi_infer_index(m, n, err);
		case PI_OP_RESHAPE:
			return infer_reshape(m, n, err);
		case PI_OP_FLATTEN:
			return infer_flatten(m, n, err);
		case PI_OP_TRANSPOSE:
			return infer_transpose(m, n, err);
		case PI_OP_CONCAT:
			return infer_concat(m, n, err);
		case PI_OP_CONV2D:
		case PI_OP_MAX_POOL2D:
		case PI_OP_AVERAGE_POOL2D:
		case PI_OP_GLOBAL_AVERAGE_POOL:
		case PI_OP_CONV_TRANSPOSE:
			return pi_infer_window(m, n, err);
		case PI_OP_BATCH_NORM:
			return infer_batch_norm(m, n, err);
		case PI_OP_ARGMAX:
			return infer_argmax(m, n, err);
		case PI_OP_TREE_ENSEMBLE:
		case PI_OP_POST_TRANSFORM:
		case PI_OP_LOOKUP:
		case PI_OP_NORMALIZE:
			return pi_infer_tabular(m, n, err);
		default:
			/* PI_OP_COUNT; unary and binary elementwise ops are handled above */
			break;
	}
	return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" has an unknown op", n->name);
}
