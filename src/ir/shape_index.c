/*
 * shape_index.c
 *	  Shape inference of the ops that select or rearrange elements:
 *	  Squeeze, Unsqueeze, Slice, Gather and Expand.  None of them may work
 *	  along the batch axis.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pi_engine.h"
#include "pi_ir.h"
#include "shape_internal.h"

/* A slice bound at least this large takes a whole batch of any size. */
#define WHOLE_BATCH ((int64_t) INT32_MAX)

/* Squeeze: drops the listed size-1 axes, or every size-1 non-batch axis. */
static PiStatus
infer_squeeze(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	bool		drop[PI_MAX_RANK] = {false};
	int64_t		dims[PI_MAX_RANK];
	int			rank = 0;
	char		xs[96];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	for (int i = 0; i < n->attrs.axes_len; i++)
	{
		int			axis;

		if ((st = pi_shape_axis(n, n->attrs.axes[i], x->rank, &axis, err)) != PI_OK)
			return st;
		if (x->dims[axis] != 1)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Squeeze) axis %d of %s is not of size 1",
						   n->name, axis, pi_shape_string(x, xs, sizeof(xs)));
		drop[axis] = true;
	}
	for (int i = 1; i < x->rank && n->attrs.axes_len == 0; i++)
		drop[i] = (x->dims[i] == 1);
	for (int i = 0; i < x->rank; i++)
		if (!drop[i])
			dims[rank++] = x->dims[i];
	return pi_shape_set_output(m, n, rank, dims, err);
}

/* Unsqueeze: inserts size-1 axes at the listed positions of the output. */
static PiStatus
infer_unsqueeze(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int			rank = x->rank + n->attrs.axes_len;
	bool		added[PI_MAX_RANK] = {false};
	int64_t		dims[PI_MAX_RANK];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (n->attrs.axes_len == 0)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Unsqueeze) needs attribute \"axes\"", n->name);
	if (rank > PI_MAX_RANK)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Unsqueeze) would produce rank %d, the limit is %d",
					   n->name, rank, PI_MAX_RANK);
	for (int i = 0; i < n->attrs.axes_len; i++)
	{
		int			axis;

		if ((st = pi_shape_axis(n, n->attrs.axes[i], rank, &axis, err)) != PI_OK)
			return st;
		if (added[axis])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Unsqueeze) names axis %d twice", n->name, axis);
		added[axis] = true;
	}
	for (int i = 0, j = 0; i < rank; i++)
		dims[i] = added[i] ? 1 : x->dims[j++];
	return pi_shape_set_output(m, n, rank, dims, err);
}

/* Whether a Slice of the batch axis takes all of it (any batch size). */
static bool
slice_keeps_batch(int64_t start, int64_t end, int64_t step)
{
	return step == 1 && (start == 0 || start <= -WHOLE_BATCH) && end >= WHOLE_BATCH;
}

/*
 * Clamps one ONNX Slice axis of size dim: the first element and the step
 * (a step longer than the axis is shortened to it: same elements, no
 * overflow); returns the length.
 */
static int64_t
slice_axis(int64_t dim, int64_t start, int64_t end, int64_t *step, int64_t *first)
{
	if (*step > dim)
		*step = dim;
	if (*step < -dim)
		*step = -dim;
	if (start < 0)
		start += dim;
	if (end < 0)
		end += dim;
	if (*step > 0)
	{
		start = start < 0 ? 0 : (start > dim ? dim : start);
		end = end < 0 ? 0 : (end > dim ? dim : end);
		*first = start;
		return end > start ? (end - start + *step - 1) / *step : 0;
	}
	start = start < 0 ? 0 : (start > dim - 1 ? dim - 1 : start);
	end = end < -1 ? -1 : (end > dim - 1 ? dim - 1 : end);
	*first = start;
	return start > end ? (start - end - *step - 1) / -*step : 0;
}

/*
 * Slice's first element, step and length along each axis of an input of
 * these dims (ONNX clamping; the batch axis is taken whole).  Returns false
 * when an axis is named twice or out of range.
 */
bool
pi_slice_bounds(const PiAttrs *a, int rank, const int64_t *dims,
				int64_t *start, int64_t *step, int64_t *count)
{
	bool		seen[PI_MAX_RANK] = {false};

	for (int i = 0; i < rank; i++)
	{
		start[i] = 0;
		step[i] = 1;
		count[i] = dims[i];
	}
	for (int i = 0; i < a->starts_len; i++)
	{
		int			axis = a->axes_len ? a->axes[i] : i;
		int64_t		st = a->steps_len ? a->steps[i] : 1;

		if (axis < 0)
			axis += rank;
		if (axis < 0 || axis >= rank || seen[axis] || st == 0)
			return false;
		seen[axis] = true;
		if (axis == 0)
			continue;
		step[axis] = st;
		count[axis] = slice_axis(dims[axis], a->starts[i], a->ends[i], &step[axis], &start[axis]);
	}
	return true;
}

/* Slice: starts/ends/axes/steps as in ONNX; the batch axis only whole. */
static PiStatus
infer_slice(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	const PiAttrs *a = &n->attrs;
	int64_t		start[PI_MAX_RANK],
				step[PI_MAX_RANK],
				dims[PI_MAX_RANK];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (a->starts_len == 0 || a->ends_len != a->starts_len ||
		(a->axes_len != 0 && a->axes_len != a->starts_len) ||
		(a->steps_len != 0 && a->steps_len != a->starts_len))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) needs \"starts\" and \"ends\" of the same length (found %d and %d), and \"axes\" and \"steps\" of that length when given",
					   n->name, a->starts_len, a->ends_len);
	for (int i = 0; i < a->starts_len; i++)
	{
		int			axis = a->axes_len ? a->axes[i] : i;

		if (axis < -x->rank || axis >= x->rank)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) has axis %d, out of range for rank %d",
						   n->name, axis, x->rank);
		if ((axis == 0 || axis == -x->rank) &&
			!slice_keeps_batch(a->starts[i], a->ends[i], a->steps_len ? a->steps[i] : 1))
			return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Slice) slices axis 0: slicing along the batch axis is not supported",
						   n->name);
	}
	memcpy(dims, x->dims, sizeof(int64_t) * x->rank);
	if (!pi_slice_bounds(a, x->rank, x->dims, start, step, dims))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) names an axis twice", n->name);
	dims[0] = -1;
	return pi_shape_set_output(m, n, x->rank, dims, err);
}

/* Checks that every element of a constant index tensor is an integer in [-len, len). */
static PiStatus
check_constant_indices(const PiNode *n, const PiValue *idx, int64_t len, PiError *err)
{
	for (int64_t i = 0; i < idx->numel; i++)
	{
		float		v = idx->data[i];

		if (!(v == floorf(v)) || v < -(float) len || v >= (float) len)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Gather) index %g at position %lld of \"%s\" is not an integer in [%lld, %lld]",
						   n->name, v, (long long) i, idx->name, (long long) -len, (long long) len - 1);
	}
	return PI_OK;
}

/*
 * Gather: a weight table indexed by an activation along axis 0 (embedding:
 * [V,D] by [N,...] to [N,...,D]), or an activation indexed by constant
 * indices along a non-batch axis.
 */
static PiStatus
infer_gather(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *data = &m->values[n->inputs[0]];
	const PiValue *idx = &m->values[n->inputs[1]];
	int64_t		dims[PI_MAX_RANK];
	int			rank = data->rank - 1 + idx->rank;
	int			axis = n->attrs.axis < 0 ? n->attrs.axis + data->rank : n->attrs.axis;
	int			r = 0;
	PiStatus	st;

	if (axis < 0 || axis >= data->rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Gather) has axis %d, out of range for rank %d",
					   n->name, n->attrs.axis, data->rank);
	if (IS_ACT(data) == IS_ACT(idx))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gather) needs one weight and one activation, found %s",
					   n->name, IS_ACT(data) ? "two activations" : "two weights");
	if (IS_ACT(idx) && axis != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gather) indexes weight \"%s\" along axis %d: the indices' batch axis must end up first, only axis 0 is supported",
					   n->name, data->name, axis);
	if (IS_ACT(data) && axis == 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Gather) gathers along axis 0 of \"%s\": gathering along the batch axis is not supported",
					   n->name, data->name);
	if (rank > PI_MAX_RANK)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Gather) would produce rank %d, the limit is %d",
					   n->name, rank, PI_MAX_RANK);
	if (data->dims[axis] > (1 << 24))
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Gather) axis %d has %lld entries, float32 indices are exact up to 2^24",
					   n->name, axis, (long long) data->dims[axis]);
	if (!IS_ACT(idx) && (st = check_constant_indices(n, idx, data->dims[axis], err)) != PI_OK)
		return st;
	n->attrs.axis = axis;
	for (int i = 0; i < axis; i++)
		dims[r++] = data->dims[i];
	for (int i = 0; i < idx->rank; i++)
		dims[r++] = idx->dims[i];
	for (int i = axis + 1; i < data->rank; i++)
		dims[r++] = data->dims[i];
	if (rank == 0)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Gather) would produce a scalar", n->name);
	return pi_shape_set_output(m, n, rank, dims, err);
}

/* Expand: X broadcast to "shape" (ONNX rules); the batch stays first. */
static PiStatus
infer_expand(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	const PiAttrs *a = &n->attrs;
	int			rank = x->rank > a->shape_len ? x->rank : a->shape_len;
	int64_t		dims[PI_MAX_RANK];
	char		xs[96];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (a->shape_len == 0)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Expand) needs attribute \"shape\"", n->name);
	if (a->shape_len > x->rank)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Expand) shape has %d dimensions, more than input %s: expanding along the batch axis is not supported",
					   n->name, a->shape_len, pi_shape_string(x, xs, sizeof(xs)));
	for (int i = 0; i < rank; i++)
	{
		int			is = i - (rank - a->shape_len);
		int64_t		s = is >= 0 ? a->shape[is] : 1;
		int64_t		d = x->dims[i];

		if (i == 0)
		{
			if (s != 1 && s != -1)
				return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Expand) shape element 0 is %lld: the batch axis takes -1 or 1",
							   n->name, (long long) s);
			dims[0] = -1;
			continue;
		}
		if (s < 1 || (s != d && s != 1 && d != 1))
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Expand) cannot broadcast %s to shape element %d = %lld",
						   n->name, pi_shape_string(x, xs, sizeof(xs)), is, (long long) s);
		dims[i] = d == 1 ? s : d;
	}
	return pi_shape_set_output(m, n, rank, dims, err);
}

/*
 * Pad: begins and ends for every axis (negative ones crop); the batch axis
 * is not padded, reflect needs amounts below the axis's size.
 */
static PiStatus
infer_pad(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	const PiAttrs *a = &n->attrs;
	int64_t		dims[PI_MAX_RANK];
	PiStatus	st;

	if ((st = pi_shape_need_activation(m, n, 0, err)) != PI_OK)
		return st;
	if (a->pad_amounts_len != 2 * x->rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Pad) has %d pads, expected %d (a begin and an end for each of %d axes)",
					   n->name, a->pad_amounts_len, 2 * x->rank, x->rank);
	if (a->pad_amounts[0] != 0 || a->pad_amounts[x->rank] != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Pad) pads axis 0: an operation along the batch axis is not supported",
					   n->name);
	dims[0] = -1;
	for (int i = 1; i < x->rank; i++)
	{
		int64_t		begin = a->pad_amounts[i],
					end = a->pad_amounts[x->rank + i];

		dims[i] = x->dims[i] + begin + end;
		if (dims[i] <= 0)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Pad) leaves axis %d of size %lld with %lld elements",
						   n->name, i, (long long) x->dims[i], (long long) dims[i]);
		/* one reflection, within what cropping the other end leaves */
		if (a->pad_mode == PI_PAD_REFLECT &&
			(begin >= x->dims[i] + (end < 0 ? end : 0) || end >= x->dims[i] + (begin < 0 ? begin : 0)))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Pad) reflects axis %d of size %lld by %lld and %lld, expected less than the size after cropping",
						   n->name, i, (long long) x->dims[i], (long long) begin, (long long) end);
	}
	return pi_shape_set_output(m, n, x->rank, dims, err);
}

/* Infers Squeeze, Unsqueeze, Slice, Gather, Pad or Expand. */
PiStatus
pi_infer_index(PiModel *m, PiNode *n, PiError *err)
{
	switch (n->op)
	{
		case PI_OP_SQUEEZE:
			return infer_squeeze(m, n, err);
		case PI_OP_UNSQUEEZE:
			return infer_unsqueeze(m, n, err);
		case PI_OP_SLICE:
			return infer_slice(m, n, err);
		case PI_OP_GATHER:
			return infer_gather(m, n, err);
		case PI_OP_PAD:
			return infer_pad(m, n, err);
		default:
			return infer_expand(m, n, err);
	}
}
