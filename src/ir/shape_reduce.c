/*
 * shape_reduce.c
 *	  Shape inference of the ops that work along axes of an activation:
 *	  ReduceMean/Sum/Max, LayerNormalization and TopK.
 */
#include <stdio.h>
#include <string.h>

#include "pi_ir.h"
#include "shape_internal.h"

/*
 * Normalizes the "axes" of a reduction over x in place: none means every
 * non-batch axis; the batch axis and repeats are refused.
 */
static PiStatus
reduce_axes(const PiValue *x, PiNode *n, bool *reduced, PiError *err)
{
	PiAttrs    *a = &n->attrs;
	PiStatus	st;

	memset(reduced, 0, sizeof(bool) * PI_MAX_RANK);
	if (a->axes_len == 0)
	{
		for (int i = 1; i < x->rank; i++)
			a->axes[a->axes_len++] = i;
	}
	for (int i = 0; i < a->axes_len; i++)
	{
		int			axis;

		if ((st = pi_shape_axis(n, a->axes[i], x->rank, &axis, err)) != PI_OK)
			return st;
		if (reduced[axis])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) names axis %d twice in \"axes\"",
						   n->name, pi_op_name(n->op), axis);
		reduced[axis] = true;
		a->axes[i] = axis;
	}
	return PI_OK;
}

/* ReduceMean/Sum/Max over some non-batch axes, kept as 1 or dropped. */
static PiStatus
infer_reduce_axes(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	bool		reduced[PI_MAX_RANK];
	int64_t		dims[PI_MAX_RANK];
	int			rank = 0;
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK ||
		(st = reduce_axes(x, n, reduced, err)) != PI_OK)
		return st;
	for (int i = 0; i < x->rank; i++)
	{
		if (!reduced[i])
			dims[rank++] = x->dims[i];
		else if (n->attrs.keepdims)
			dims[rank++] = 1;
	}
	return pi_shape_set_output(m, n, rank, dims, err);
}

/* Requires LayerNormalization's weight i to have the shape of x's trailing axes from axis. */
static PiStatus
check_norm_weight(const PiModel *m, const PiNode *n, int i, const PiValue *x,
				  int axis, PiError *err)
{
	const PiValue *w = &m->values[n->inputs[i]];
	int64_t		len = 1;
	char		xs[96],
				ws[96];
	bool		ok = !IS_ACT(w) && w->rank <= x->rank - axis;

	for (int d = axis; d < x->rank; d++)
		len *= x->dims[d];
	for (int d = 0; ok && d < w->rank; d++)
		ok = (w->dims[w->rank - 1 - d] == x->dims[x->rank - 1 - d]);
	if (!ok || w->numel != len)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (LayerNormalization) input %d \"%s\" %s must be a weight of the shape of %s from axis %d",
					   n->name, i, w->name, pi_shape_string(w, ws, sizeof(ws)),
					   pi_shape_string(x, xs, sizeof(xs)), axis);
	return PI_OK;
}

/* LayerNormalization: X normalized over axes axis..rank-1; Scale and B of their shape. */
static PiStatus
infer_layer_norm(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int			axis = 0;
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK ||
		(st = pi_shape_axis(n, n->attrs.axis, x->rank, &axis, err)) != PI_OK)
		return st;
	n->attrs.axis = axis;
	for (int i = 1; i < n->ninputs; i++)
		if ((st = check_norm_weight(m, n, i, x, axis, err)) != PI_OK)
			return st;
	if (!(n->attrs.epsilon >= 0.0f))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (LayerNormalization) epsilon must not be negative",
					   n->name);
	return pi_shape_set_output(m, n, x->rank, x->dims, err);
}

/* TopK: the k largest (or smallest) along a non-batch axis; values or indices. */
static PiStatus
infer_topk(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[PI_MAX_RANK];
	int			axis = 0;
	char		xs[96];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK ||
		(st = pi_shape_axis(n, n->attrs.axis, x->rank, &axis, err)) != PI_OK)
		return st;
	n->attrs.axis = axis;
	if (n->attrs.k < 1 || n->attrs.k > x->dims[axis])
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (TopK) has k %lld, expected 1 to %lld for input %s along axis %d",
					   n->name, (long long) n->attrs.k, (long long) x->dims[axis],
					   pi_shape_string(x, xs, sizeof(xs)), axis);
	if (x->dims[axis] > (1 << 24))
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (TopK) axis %d has %lld elements, indices are exact up to 2^24",
					   n->name, axis, (long long) x->dims[axis]);
	memcpy(dims, x->dims, sizeof(int64_t) * x->rank);
	dims[axis] = n->attrs.k;
	return pi_shape_set_output(m, n, x->rank, dims, err);
}

/* Infers ReduceMean/Sum/Max, LayerNormalization or TopK. */
PiStatus
pi_infer_reduce(PiModel *m, PiNode *n, PiError *err)
{
	switch (n->op)
	{
		case PI_OP_LAYER_NORM:
			return infer_layer_norm(m, n, err);
		case PI_OP_TOPK:
			return infer_topk(m, n, err);
		default:
			return infer_reduce_axes(m, n, err);
	}
}
