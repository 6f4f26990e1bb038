/*
 * onnx_fold.c
 *	  Constant folding at import: evaluates an ONNX node whose inputs are all
 *	  known (initializers, Constant nodes, earlier folds).  Integer tensors
 *	  (shapes, axes, indices, booleans) are computed exactly in int64, others
 *	  in float32, with numpy broadcasting.  The symbolic batch size
 *	  (ONNX_BATCH_DIM) passes through copies and is refused by arithmetic.
 *	  The set of foldable ops is what shape subgraphs of exporters use.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_import.h"


typedef PiStatus (*FoldFn) (const OnnxNode *n, int opset, OnnxConst *const *in,
							OnnxConst **out, PiError *err);

/* Requires input i to be present. */
static PiStatus
need_input(const OnnxNode *n, OnnxConst *const *in, int i, PiError *err)
{
	if (i >= n->ninputs || in[i] == NULL)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input %d",
					   onnx_node_label(n), n->op_type, i);
	return PI_OK;
}

/* Requires input i to be an integer tensor without the batch size. */
static PiStatus
need_ints(const OnnxNode *n, OnnxConst *const *in, int i, PiError *err)
{
	TRY(need_input(n, in, i, err));
	if (!in[i]->is_int)
		return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) input %d must be an integer tensor",
					   onnx_node_label(n), n->op_type, i);
	if (onnx_const_has_batch(in[i]))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) computes with the batch size, which is only known at run time",
					   onnx_node_label(n), n->op_type);
	return PI_OK;
}

/* Normalizes an axis for a rank. */
static PiStatus
norm_axis(const OnnxNode *n, int64_t axis, int rank, int *out, PiError *err)
{
	if (axis < -rank || axis >= rank || rank == 0)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has axis %lld, out of range for rank %d",
					   onnx_node_label(n), n->op_type, (long long) axis, rank);
	*out = (int) (axis < 0 ? axis + rank : axis);
	return PI_OK;
}

/* A new constant like the input's type with this shape. */
static PiStatus
new_like(const OnnxNode *n, const OnnxConst *like, int rank, const int64_t *dims,
		 OnnxConst **out, PiError *err)
{
	return onnx_const_new(rank, dims, like->is_int, like->data_type,
						  n->noutputs > 0 ? n->outputs[0] : onnx_node_label(n), out, err);
}

/* Copies element src of a into element dst of b (same type). */
static inline void
copy_elem(const OnnxConst *a, int64_t src, OnnxConst *b, int64_t dst)
{
	if (a->is_int)
		b->ints[dst] = a->ints[src];
	else
		b->floats[dst] = a->floats[src];
}

/* Identity and Dropout (inference): the input itself. */
static PiStatus
fold_identity(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	TRY(need_input(n, in, 0, err));
	TRY(new_like(n, in[0], in[0]->rank, in[0]->dims, out, err));
	for (int64_t i = 0; i < in[0]->numel; i++)
		copy_elem(in[0], i, *out, i);
	return PI_OK;
}

/* Reshape (opset 5+: shape input; 0 copies unless allowzero, -1 infers), Flatten. */
static PiStatus
reshape_to(const OnnxNode *n, const OnnxConst *x, int rank, const int64_t *target,
		   bool allowzero, OnnxConst **out, PiError *err)
{
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		known = 1;
	int			infer = -1;

	if (rank > PI_ONNX_MAX_DIMS)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (%s) target has rank %d", onnx_node_label(n),
					   n->op_type, rank);
	for (int i = 0; i < rank; i++)
	{
		dims[i] = target[i];
		if (dims[i] == 0 && !allowzero)
		{
			if (i >= x->rank)
				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) copies dimension %d, which the input lacks",
							   onnx_node_label(n), n->op_type, i);
			dims[i] = x->dims[i];
		}
		if (dims[i] == -1 && infer < 0)
		{
			infer = i;
			continue;
		}
		if (dims[i] < 0 || !pi_mul_size(known, dims[i], &known))
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) has target dimension %lld",
						   onnx_node_label(n), n->op_type, (long long) target[i]);
	}
	if (infer >= 0)
	{
		if (known == 0 || x->numel % known != 0)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) cannot infer a dimension for %lld elements",
						   onnx_node_label(n), n->op_type, (long long) x->numel);
		dims[infer] = x->numel / known;
		known = x->numel;
	}
	if (known != x->numel)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (%s) cannot reshape %lld elements to %lld",
					   onnx_node_label(n), n->op_type, (long long) x->numel, (long long) known);
	TRY(new_like(n, x, rank, dims, out, err));
	for (int64_t i = 0; i < x->numel; i++)
		copy_elem(x, i, *out, i);
	return PI_OK;
}

/* Reshape. */
static PiStatus
fold_reshape(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	TRY(need_input(n, in, 0, err));
	if (opset < 5)
	{
		const int64_t *shape;
		int			len = onnx_attr_ints(n, "shape", &shape);

		return reshape_to(n, in[0], len < 0 ? 0 : len, shape, false, out, err);
	}
	TRY(need_ints(n, in, 1, err));
	return reshape_to(n, in[0], (int) in[1]->numel, in[1]->ints,
					  onnx_attr_int(n, "allowzero", 0) != 0, out, err);
}

/* Flatten to 2-D at axis. */
static PiStatus
fold_flatten(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int64_t		axis = onnx_attr_int(n, "axis", 1);
	int64_t		dims[2] = {1, 1};

	TRY(need_input(n, in, 0, err));
	if (axis < 0)
		axis += in[0]->rank;
	if (axis < 0 || axis > in[0]->rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Flatten) has axis out of range", onnx_node_label(n));
	for (int i = 0; i < in[0]->rank; i++)
		dims[i < axis ? 0 : 1] *= in[0]->dims[i];
	return reshape_to(n, in[0], 2, dims, true, out, err);
}

/* Shape (start/end since opset 15) of a constant. */
static PiStatus
fold_shape(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int64_t		rank,
				start,
				end,
				len;

	TRY(need_input(n, in, 0, err));
	rank = in[0]->rank;
	start = onnx_attr_int(n, "start", 0);
	end = onnx_attr_int(n, "end", rank);
	start = start < 0 ? start + rank : start;
	end = end < 0 ? end + rank : end;
	start = start < 0 ? 0 : start > rank ? rank : start;
	end = end < 0 ? 0 : end > rank ? rank : end;
	len = end > start ? end - start : 0;
	TRY(onnx_const_new(1, &len, true, ONNX_INT64, n->outputs[0], out, err));
	for (int64_t i = 0; i < len; i++)
		(*out)->ints[i] = in[0]->dims[start + i];
	return PI_OK;
}

/* Size: the element count. */
static PiStatus
fold_size(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	TRY(need_input(n, in, 0, err));
	TRY(onnx_const_new(0, NULL, true, ONNX_INT64, n->outputs[0], out, err));
	(*out)->ints[0] = in[0]->numel;
	return PI_OK;
}

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
static PiStatus
fold_cast(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int64_t		to = onnx_attr_int(n, "to", 0);
	bool		to_int = onnx_dtype_is_integer((int) to);

	TRY(need_input(n, in, 0, err));
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

/* Reads the axes of Squeeze/Unsqueeze (attribute before opset 13, else input 1). */
static PiStatus
get_axes(const OnnxNode *n, int opset, OnnxConst *const *in, const int64_t **axes,
		 int *count, PiError *err)
{
	if (opset < 13)
	{
		*count = onnx_attr_ints(n, "axes", axes);
		return PI_OK;
	}
	if (n->ninputs < 2 || in[1] == NULL)
	{
		*count = -1;
		*axes = NULL;
		return PI_OK;
	}
	TRY(need_ints(n, in, 1, err));
	*axes = in[1]->ints;
	*count = (int) in[1]->numel;
	return PI_OK;
}

/* Unsqueeze: inserts size-1 axes (numbered in the output). */
static PiStatus
fold_unsqueeze(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const int64_t *axes;
	int			count;
	int			rank;
	bool		is_new[PI_ONNX_MAX_DIMS] = {false};
	int64_t		dims[PI_ONNX_MAX_DIMS];

	TRY(need_input(n, in, 0, err));
	TRY(get_axes(n, opset, in, &axes, &count, err));
	if (count < 1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Unsqueeze) needs axes", onnx_node_label(n));
	rank = in[0]->rank + count;
	if (rank > PI_ONNX_MAX_DIMS)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Unsqueeze) would produce rank %d",
					   onnx_node_label(n), rank);
	for (int i = 0; i < count; i++)
	{
		int			a = 0;

		TRY(norm_axis(n, axes[i], rank, &a, err));
		if (is_new[a])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Unsqueeze) names axis %d twice",
						   onnx_node_label(n), a);
		is_new[a] = true;
	}
	for (int i = 0, j = 0; i < rank; i++)
		dims[i] = is_new[i] ? 1 : in[0]->dims[j++];
	return reshape_to(n, in[0], rank, dims, true, out, err);
}

/* Squeeze: removes the given size-1 axes, or all of them. */
static PiStatus
fold_squeeze(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const int64_t *axes;
	int			count;
	bool		drop[PI_ONNX_MAX_DIMS] = {false};
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int			rank = 0;

	TRY(need_input(n, in, 0, err));
	TRY(get_axes(n, opset, in, &axes, &count, err));
	for (int i = 0; i < in[0]->rank; i++)
		drop[i] = (count < 0 && in[0]->dims[i] == 1);
	for (int i = 0; i < count; i++)
	{
		int			a = 0;

		TRY(norm_axis(n, axes[i], in[0]->rank, &a, err));
		if (in[0]->dims[a] != 1)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Squeeze) axis %d has size %lld, expected 1",
						   onnx_node_label(n), a, (long long) in[0]->dims[a]);
		drop[a] = true;
	}
	for (int i = 0; i < in[0]->rank; i++)
		if (!drop[i])
			dims[rank++] = in[0]->dims[i];
	return reshape_to(n, in[0], rank, dims, true, out, err);
}

/* Concat along axis. */
static PiStatus
fold_concat(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int			axis = 0;
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		outer = 1,
				offset = 0;

	TRY(need_input(n, in, 0, err));
	TRY(norm_axis(n, onnx_attr_int(n, "axis", 0), in[0]->rank, &axis, err));
	memcpy(dims, in[0]->dims, sizeof(dims));
	dims[axis] = 0;
	for (int k = 0; k < n->ninputs; k++)
	{
		TRY(need_input(n, in, k, err));
		if (in[k]->rank != in[0]->rank || in[k]->is_int != in[0]->is_int)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Concat) input %d has another rank or type",
						   onnx_node_label(n), k);
		for (int i = 0; i < in[0]->rank; i++)
			if (i != axis && in[k]->dims[i] != in[0]->dims[i])
				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Concat) input %d differs in dimension %d",
							   onnx_node_label(n), k, i);
		dims[axis] += in[k]->dims[axis];
	}
	TRY(new_like(n, in[0], in[0]->rank, dims, out, err));
	for (int i = 0; i < axis; i++)
		outer *= dims[i];
	for (int k = 0; k < n->ninputs; k++)
	{
		int64_t		chunk = outer > 0 ? in[k]->numel / outer : 0;
		int64_t		row = outer > 0 ? (*out)->numel / outer : 0;

		for (int64_t o = 0; o < outer; o++)
			for (int64_t j = 0; j < chunk; j++)
				copy_elem(in[k], o * chunk + j, *out, o * row + offset + j);
		offset += chunk;
	}
	return PI_OK;
}

/* Gather along axis with (possibly negative) indices. */
static PiStatus
fold_gather(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const OnnxConst *x,
			   *idx;
	int			axis = 0,
				rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		outer = 1,
				inner = 1;

	TRY(need_input(n, in, 0, err));
	TRY(need_ints(n, in, 1, err));
	x = in[0];
	idx = in[1];
	TRY(norm_axis(n, onnx_attr_int(n, "axis", 0), x->rank, &axis, err));
	rank = x->rank - 1 + idx->rank;
	if (rank > PI_ONNX_MAX_DIMS)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (Gather) would produce rank %d", onnx_node_label(n), rank);
	for (int i = 0; i < axis; i++)
		outer *= x->dims[i];
	for (int i = axis + 1; i < x->rank; i++)
		inner *= x->dims[i];
	memcpy(dims, x->dims, sizeof(int64_t) * axis);
	memcpy(dims + axis, idx->dims, sizeof(int64_t) * idx->rank);
	memcpy(dims + axis + idx->rank, x->dims + axis + 1, sizeof(int64_t) * (x->rank - axis - 1));
	TRY(new_like(n, x, rank, dims, out, err));
	for (int64_t k = 0; k < idx->numel; k++)
	{
		int64_t		j = idx->ints[k] < 0 ? idx->ints[k] + x->dims[axis] : idx->ints[k];

		if (j < 0 || j >= x->dims[axis])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Gather) index %lld is out of range for size %lld",
						   onnx_node_label(n), (long long) idx->ints[k], (long long) x->dims[axis]);
		for (int64_t o = 0; o < outer; o++)
			for (int64_t i = 0; i < inner; i++)
				copy_elem(x, (o * x->dims[axis] + j) * inner + i, *out,
						  (o * idx->numel + k) * inner + i);
	}
	return PI_OK;
}

/* Clamps a Slice bound as ONNX specifies. */
static int64_t
slice_bound(int64_t v, int64_t size, bool is_start, int64_t step)
{
	if (v < 0)
		v = (v < -size) ? -1 : v + size;	/* no overflow near INT64_MIN */
	if (step > 0)
		return v < 0 ? 0 : v > size ? size : v;
	/* negative steps: starts clamp to [0, size-1], ends to [-1, size-1] */
	if (v < 0)
		return is_start ? 0 : -1;
	return v > size - 1 ? size - 1 : v;
}

/* Slice (attributes before opset 10, else inputs starts, ends, axes, steps). */
static PiStatus
fold_slice(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const OnnxConst *x;
	const int64_t *starts,
			   *ends,
			   *axes = NULL,
			   *steps = NULL;
	int			count,
				naxes = -1,
				nsteps = -1;
	int64_t		begin[PI_ONNX_MAX_DIMS],
				step[PI_ONNX_MAX_DIMS],
				dims[PI_ONNX_MAX_DIMS];

	TRY(need_input(n, in, 0, err));
	x = in[0];
	if (opset < 10)
	{
		count = onnx_attr_ints(n, "starts", &starts);
		if (onnx_attr_ints(n, "ends", &ends) != count || count < 0)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) needs starts and ends of one length",
						   onnx_node_label(n));
		naxes = onnx_attr_ints(n, "axes", &axes);
	}
	else
	{
		TRY(need_ints(n, in, 1, err));
		TRY(need_ints(n, in, 2, err));
		starts = in[1]->ints;
		ends = in[2]->ints;
		count = (int) in[1]->numel;
		if (in[2]->numel != count)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) needs starts and ends of one length",
						   onnx_node_label(n));
		if (n->ninputs > 3 && in[3] != NULL)
		{
			TRY(need_ints(n, in, 3, err));
			axes = in[3]->ints;
			naxes = (int) in[3]->numel;
		}
		if (n->ninputs > 4 && in[4] != NULL)
		{
			TRY(need_ints(n, in, 4, err));
			steps = in[4]->ints;
			nsteps = (int) in[4]->numel;
		}
	}
	if ((naxes >= 0 && naxes != count) || (nsteps >= 0 && nsteps != count) || count > x->rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) has lists of different lengths",
					   onnx_node_label(n));
	for (int i = 0; i < x->rank; i++)
	{
		begin[i] = 0;
		step[i] = 1;
		dims[i] = x->dims[i];
	}
	for (int k = 0; k < count; k++)
	{
		int			a = 0;
		int64_t		s = steps ? steps[k] : 1,
					b,
					e;

		TRY(norm_axis(n, axes ? axes[k] : k, x->rank, &a, err));
		if (s == 0)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) has step 0", onnx_node_label(n));
		b = slice_bound(starts[k], x->dims[a], true, s);
		e = slice_bound(ends[k], x->dims[a], false, s);
		begin[a] = b;
		step[a] = s;
		if (s > 0)
			dims[a] = e > b ? (e - b + s - 1) / s : 0;
		else
			dims[a] = b > e ? (b - e + (-s) - 1) / (-s) : 0;
	}
	TRY(new_like(n, x, x->rank, dims, out, err));
	for (int64_t o = 0; o < (*out)->numel; o++)
	{
		int64_t		rem = o,
					src = 0,
					stride = 1;

		for (int i = x->rank - 1; i >= 0; i--)
		{
			int64_t		c = rem % dims[i];

			rem /= dims[i];
			src += (begin[i] + c * step[i]) * stride;
			stride *= x->dims[i];
		}
		copy_elem(x, src, *out, o);
	}
	return PI_OK;
}

/* Transpose by perm (default: reversed axes). */
static PiStatus
fold_transpose(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const OnnxConst *x;
	const int64_t *perm;
	int			len = onnx_attr_ints(n, "perm", &perm);
	int64_t		p[PI_ONNX_MAX_DIMS],
				dims[PI_ONNX_MAX_DIMS],
				stride[PI_ONNX_MAX_DIMS];
	bool		seen[PI_ONNX_MAX_DIMS] = {false};

	TRY(need_input(n, in, 0, err));
	x = in[0];
	if (len >= 0 && len != x->rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Transpose) perm has %d entries for rank %d",
					   onnx_node_label(n), len, x->rank);
	for (int i = 0; i < x->rank; i++)
	{
		p[i] = len >= 0 ? perm[i] : x->rank - 1 - i;
		if (p[i] < 0 || p[i] >= x->rank || seen[p[i]])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Transpose) perm is not a permutation",
						   onnx_node_label(n));
		seen[p[i]] = true;
		dims[i] = x->dims[p[i]];
	}
	stride[x->rank > 0 ? x->rank - 1 : 0] = 1;
	for (int i = x->rank - 2; i >= 0; i--)
		stride[i] = stride[i + 1] * x->dims[i + 1];
	TRY(new_like(n, x, x->rank, dims, out, err));
	for (int64_t o = 0; o < (*out)->numel; o++)
	{
		int64_t		rem = o,
					src = 0;

		for (int i = x->rank - 1; i >= 0; i--)
		{
			src += (rem % dims[i]) * stride[p[i]];
			rem /= dims[i];
		}
		copy_elem(x, src, *out, o);
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
static PiStatus
fold_binary(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const char *op = strcmp(n->op_type, "Sum") == 0 ? "Add" : n->op_type;
	OnnxConst  *acc = NULL;

	if (n->ninputs < 1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has no inputs", onnx_node_label(n), n->op_type);
	for (int k = 0; k < n->ninputs; k++)
	{
		TRY(need_input(n, in, k, err));
		if (onnx_const_has_batch(in[k]))
			return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) computes with the batch size, which is only known at run time",
						   onnx_node_label(n), n->op_type);
	}
	if (n->ninputs == 1)
		return fold_identity(n, opset, in, out, err);
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
static PiStatus
fold_where(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];

	TRY(need_ints(n, in, 0, err));
	TRY(need_input(n, in, 1, err));
	TRY(need_input(n, in, 2, err));
	if (in[1]->is_int != in[2]->is_int)
		return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (Where) mixes integer and float inputs", onnx_node_label(n));
	TRY(broadcast_shape(n, in, 3, &rank, dims, err));
	TRY(new_like(n, in[1], rank, dims, out, err));
	for (int64_t o = 0; o < (*out)->numel; o++)
	{
		bool		c = in[0]->ints[broadcast_source(in[0], rank, dims, o)] != 0;
		const OnnxConst *src = c ? in[1] : in[2];

		copy_elem(src, broadcast_source(src, rank, dims, o), *out, o);
	}
	return PI_OK;
}

/* Expand: broadcasts the input to a shape. */
static PiStatus
fold_expand(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	OnnxConst	shape_only;
	OnnxConst  *pair[2];
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];

	TRY(need_input(n, in, 0, err));
	TRY(need_ints(n, in, 1, err));
	if (in[1]->numel > PI_ONNX_MAX_DIMS || in[1]->rank != 1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Expand) shape must be a list of at most %d sizes",
					   onnx_node_label(n), PI_ONNX_MAX_DIMS);
	memset(&shape_only, 0, sizeof(shape_only));
	shape_only.rank = (int) in[1]->numel;
	memcpy(shape_only.dims, in[1]->ints, sizeof(int64_t) * shape_only.rank);
	pair[0] = in[0];
	pair[1] = &shape_only;
	TRY(broadcast_shape(n, pair, 2, &rank, dims, err));
	TRY(new_like(n, in[0], rank, dims, out, err));
	for (int64_t o = 0; o < (*out)->numel; o++)
		copy_elem(in[0], broadcast_source(in[0], rank, dims, o), *out, o);
	return PI_OK;
}

/* ConstantOfShape: a tensor of one value (attribute "value", default float 0). */
static PiStatus
fold_constant_of_shape(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const OnnxAttr *value = onnx_attr(n, "value");
	OnnxConst  *v = NULL;

	TRY(need_ints(n, in, 0, err));
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
				copy_elem(v, 0, *out, i);
		}
		onnx_const_free(v);
		return st;
	}
}

/* Range(start, limit, delta). */
static PiStatus
fold_range(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	double		start,
				limit,
				delta,
				count;
	int64_t		len;

	for (int i = 0; i < 3; i++)
	{
		TRY(need_input(n, in, i, err));
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
	TRY(new_like(n, in[0], 1, &len, out, err));
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
static PiStatus
fold_unary(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	bool		exact = strcmp(n->op_type, "Neg") == 0 || strcmp(n->op_type, "Abs") == 0 ||
		strcmp(n->op_type, "Not") == 0 || strcmp(n->op_type, "Relu") == 0;

	TRY(need_input(n, in, 0, err));
	if (in[0]->is_int && (!exact || onnx_const_has_batch(in[0])))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) of an integer constant is not supported",
					   onnx_node_label(n), n->op_type);
	TRY(new_like(n, in[0], in[0]->rank, in[0]->dims, out, err));
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

typedef struct FoldEntry
{
	const char *op;
	FoldFn		fn;
} FoldEntry;

static const FoldEntry folders[] = {
	{"Identity", fold_identity}, {"Dropout", fold_identity},
	{"Reshape", fold_reshape}, {"Flatten", fold_flatten},
	{"Shape", fold_shape}, {"Size", fold_size}, {"Cast", fold_cast},
	{"Unsqueeze", fold_unsqueeze}, {"Squeeze", fold_squeeze},
	{"Concat", fold_concat}, {"Gather", fold_gather}, {"Slice", fold_slice},
	{"Transpose", fold_transpose}, {"Where", fold_where}, {"Expand", fold_expand},
	{"ConstantOfShape", fold_constant_of_shape}, {"Range", fold_range},
	{"Add", fold_binary}, {"Sub", fold_binary}, {"Mul", fold_binary},
	{"Div", fold_binary}, {"Mod", fold_binary}, {"Pow", fold_binary},
	{"Min", fold_binary}, {"Max", fold_binary}, {"Sum", fold_binary},
	{"Equal", fold_binary}, {"Less", fold_binary}, {"Greater", fold_binary},
	{"LessOrEqual", fold_binary}, {"GreaterOrEqual", fold_binary},
	{"And", fold_binary}, {"Or", fold_binary},
	{"Neg", fold_unary}, {"Abs", fold_unary}, {"Sqrt", fold_unary},
	{"Reciprocal", fold_unary}, {"Floor", fold_unary}, {"Ceil", fold_unary},
	{"Exp", fold_unary}, {"Log", fold_unary}, {"Relu", fold_unary}, {"Not", fold_unary},
};

/* The folder of an op, or NULL. */
static FoldFn
find_folder(const char *op_type)
{
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++)
		if (strcmp(folders[i].op, op_type) == 0)
			return folders[i].fn;
	return NULL;
}

/* Whether nodes of this op are folded when all their inputs are constants. */
bool
onnx_fold_supported(const char *op_type)
{
	return find_folder(op_type) != NULL;
}

/*
 * Evaluates node n (default domain, the model's opset) over constant inputs
 * (in[i] NULL for an omitted optional input).  Sets outputs[0]; the only
 * multi-output op folded is Dropout, whose mask output is not produced.
 */
PiStatus
onnx_fold_node(const OnnxNode *n, int opset, OnnxConst *const *in,
			   OnnxConst **outputs, PiError *err)
{
	FoldFn		fn = find_folder(n->op_type);

	outputs[0] = NULL;
	if (fn == NULL)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has only constant inputs, and %s is not folded at import",
					   onnx_node_label(n), n->op_type, n->op_type);
	if (n->noutputs < 1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has no outputs", onnx_node_label(n), n->op_type);
	return fn(n, opset, in, outputs, err);
}
