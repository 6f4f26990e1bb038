/*
 * onnx_fold.c
 *	  Constant folding at import: evaluates an ONNX node whose inputs are all
 *	  known (initializers, Constant nodes, earlier folds).  Integer tensors
 *	  (shapes, axes, indices, booleans) are computed exactly in int64, others
 *	  in float32, with numpy broadcasting.  The symbolic batch size
 *	  (ONNX_BATCH_DIM) passes through copies and is refused by arithmetic.
 *	  The set of foldable ops is what shape subgraphs of exporters use.
 *	  This file has the op table, the shared checks and the folders of ops
 *	  that move data; onnx_fold_math.c has the arithmetic ones.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_fold.h"


typedef PiStatus (*FoldFn) (const OnnxNode *n, int opset, OnnxConst *const *in,
							OnnxConst **out, PiError *err);


/* Requires input i to be present. */
PiStatus
onnx_fold_need_input(const OnnxNode *n, OnnxConst *const *in, int i, PiError *err)
{
	if (i >= n->ninputs || in[i] == NULL)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input %d",
					   onnx_node_label(n), n->op_type, i);
	return PI_OK;
}

/* Requires input i to be an integer tensor without the batch size. */
PiStatus
onnx_fold_need_ints(const OnnxNode *n, OnnxConst *const *in, int i, PiError *err)
{
	TRY(onnx_fold_need_input(n, in, i, err));
	if (!in[i]->is_int)
		return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) input %d must be an integer tensor",
					   onnx_node_label(n), n->op_type, i);
	if (onnx_const_has_batch(in[i]))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) computes with the batch size, which is only known at run time",
					   onnx_node_label(n), n->op_type);
	return PI_OK;
}

/* Normalizes an axis for a rank. */
PiStatus
onnx_fold_axis(const OnnxNode *n, int64_t axis, int rank, int *out, PiError *err)
{
	if (axis < -rank || axis >= rank || rank == 0)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has axis %lld, out of range for rank %d",
					   onnx_node_label(n), n->op_type, (long long) axis, rank);
	*out = (int) (axis < 0 ? axis + rank : axis);
	return PI_OK;
}

/* A new constant like the input's type with this shape. */
PiStatus
onnx_fold_new_like(const OnnxNode *n, const OnnxConst *like, int rank, const int64_t *dims,
		 OnnxConst **out, PiError *err)
{
	return onnx_const_new(rank, dims, like->is_int, like->data_type,
						  n->noutputs > 0 ? n->outputs[0] : onnx_node_label(n), out, err);
}

/* Identity and Dropout (inference): the input itself. */
PiStatus
onnx_fold_identity(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(onnx_fold_new_like(n, in[0], in[0]->rank, in[0]->dims, out, err));
	for (int64_t i = 0; i < in[0]->numel; i++)
		onnx_fold_copy(in[0], i, *out, i);
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
	TRY(onnx_fold_new_like(n, x, rank, dims, out, err));
	for (int64_t i = 0; i < x->numel; i++)
		onnx_fold_copy(x, i, *out, i);
	return PI_OK;
}

/* Reshape. */
PiStatus
onnx_fold_reshape(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	TRY(onnx_fold_need_input(n, in, 0, err));
	if (opset < 5)
	{
		const int64_t *shape;
		int			len = onnx_attr_ints(n, "shape", &shape);

		return reshape_to(n, in[0], len < 0 ? 0 : len, shape, false, out, err);
	}
	TRY(onnx_fold_need_ints(n, in, 1, err));
	return reshape_to(n, in[0], (int) in[1]->numel, in[1]->ints,
					  onnx_attr_int(n, "allowzero", 0) != 0, out, err);
}

/* Flatten to 2-D at axis. */
PiStatus
onnx_fold_flatten(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int64_t		axis = onnx_attr_int(n, "axis", 1);
	int64_t		dims[2] = {1, 1};

	TRY(onnx_fold_need_input(n, in, 0, err));
	if (axis < 0)
		axis += in[0]->rank;
	if (axis < 0 || axis > in[0]->rank)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Flatten) has axis out of range", onnx_node_label(n));
	for (int i = 0; i < in[0]->rank; i++)
		dims[i < axis ? 0 : 1] *= in[0]->dims[i];
	return reshape_to(n, in[0], 2, dims, true, out, err);
}

/* Shape (start/end since opset 15) of a constant. */
PiStatus
onnx_fold_shape(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int64_t		rank,
				start,
				end,
				len;

	TRY(onnx_fold_need_input(n, in, 0, err));
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
PiStatus
onnx_fold_size(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(onnx_const_new(0, NULL, true, ONNX_INT64, n->outputs[0], out, err));
	(*out)->ints[0] = in[0]->numel;
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
	TRY(onnx_fold_need_ints(n, in, 1, err));
	*axes = in[1]->ints;
	*count = (int) in[1]->numel;
	return PI_OK;
}

/* Unsqueeze: inserts size-1 axes (numbered in the output). */
PiStatus
onnx_fold_unsqueeze(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const int64_t *axes;
	int			count;
	int			rank;
	bool		is_new[PI_ONNX_MAX_DIMS] = {false};
	int64_t		dims[PI_ONNX_MAX_DIMS];

	TRY(onnx_fold_need_input(n, in, 0, err));
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

		TRY(onnx_fold_axis(n, axes[i], rank, &a, err));
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
PiStatus
onnx_fold_squeeze(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const int64_t *axes;
	int			count;
	bool		drop[PI_ONNX_MAX_DIMS] = {false};
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int			rank = 0;

	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(get_axes(n, opset, in, &axes, &count, err));
	for (int i = 0; i < in[0]->rank; i++)
		drop[i] = (count < 0 && in[0]->dims[i] == 1);
	for (int i = 0; i < count; i++)
	{
		int			a = 0;

		TRY(onnx_fold_axis(n, axes[i], in[0]->rank, &a, err));
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
PiStatus
onnx_fold_concat(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	int			axis = 0;
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		outer = 1,
				offset = 0;

	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(onnx_fold_axis(n, onnx_attr_int(n, "axis", 0), in[0]->rank, &axis, err));
	memcpy(dims, in[0]->dims, sizeof(dims));
	dims[axis] = 0;
	for (int k = 0; k < n->ninputs; k++)
	{
		TRY(onnx_fold_need_input(n, in, k, err));
		if (in[k]->rank != in[0]->rank || in[k]->is_int != in[0]->is_int)
			return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Concat) input %d has another rank or type",
						   onnx_node_label(n), k);
		for (int i = 0; i < in[0]->rank; i++)
			if (i != axis && in[k]->dims[i] != in[0]->dims[i])
				return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Concat) input %d differs in dimension %d",
							   onnx_node_label(n), k, i);
		dims[axis] += in[k]->dims[axis];
	}
	TRY(onnx_fold_new_like(n, in[0], in[0]->rank, dims, out, err));
	for (int i = 0; i < axis; i++)
		outer *= dims[i];
	for (int k = 0; k < n->ninputs; k++)
	{
		int64_t		chunk = outer > 0 ? in[k]->numel / outer : 0;
		int64_t		row = outer > 0 ? (*out)->numel / outer : 0;

		for (int64_t o = 0; o < outer; o++)
			for (int64_t j = 0; j < chunk; j++)
				onnx_fold_copy(in[k], o * chunk + j, *out, o * row + offset + j);
		offset += chunk;
	}
	return PI_OK;
}

/* Gather along axis with (possibly negative) indices. */
PiStatus
onnx_fold_gather(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const OnnxConst *x,
			   *idx;
	int			axis = 0,
				rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		outer = 1,
				inner = 1;

	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(onnx_fold_need_ints(n, in, 1, err));
	x = in[0];
	idx = in[1];
	TRY(onnx_fold_axis(n, onnx_attr_int(n, "axis", 0), x->rank, &axis, err));
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
	TRY(onnx_fold_new_like(n, x, rank, dims, out, err));
	for (int64_t k = 0; k < idx->numel; k++)
	{
		int64_t		j = idx->ints[k] < 0 ? idx->ints[k] + x->dims[axis] : idx->ints[k];

		if (j < 0 || j >= x->dims[axis])
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Gather) index %lld is out of range for size %lld",
						   onnx_node_label(n), (long long) idx->ints[k], (long long) x->dims[axis]);
		for (int64_t o = 0; o < outer; o++)
			for (int64_t i = 0; i < inner; i++)
				onnx_fold_copy(x, (o * x->dims[axis] + j) * inner + i, *out,
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
PiStatus
onnx_fold_slice(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
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

	TRY(onnx_fold_need_input(n, in, 0, err));
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
		TRY(onnx_fold_need_ints(n, in, 1, err));
		TRY(onnx_fold_need_ints(n, in, 2, err));
		starts = in[1]->ints;
		ends = in[2]->ints;
		count = (int) in[1]->numel;
		if (in[2]->numel != count)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Slice) needs starts and ends of one length",
						   onnx_node_label(n));
		if (n->ninputs > 3 && in[3] != NULL)
		{
			TRY(onnx_fold_need_ints(n, in, 3, err));
			axes = in[3]->ints;
			naxes = (int) in[3]->numel;
		}
		if (n->ninputs > 4 && in[4] != NULL)
		{
			TRY(onnx_fold_need_ints(n, in, 4, err));
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

		TRY(onnx_fold_axis(n, axes ? axes[k] : k, x->rank, &a, err));
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
	TRY(onnx_fold_new_like(n, x, x->rank, dims, out, err));
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
		onnx_fold_copy(x, src, *out, o);
	}
	return PI_OK;
}

/* Transpose by perm (default: reversed axes). */
PiStatus
onnx_fold_transpose(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)
{
	const OnnxConst *x;
	const int64_t *perm;
	int			len = onnx_attr_ints(n, "perm", &perm);
	int64_t		p[PI_ONNX_MAX_DIMS],
				dims[PI_ONNX_MAX_DIMS],
				stride[PI_ONNX_MAX_DIMS];
	bool		seen[PI_ONNX_MAX_DIMS] = {false};

	TRY(onnx_fold_need_input(n, in, 0, err));
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
	TRY(onnx_fold_new_like(n, x, x->rank, dims, out, err));
	for (int64_t o = 0; o < (*out)->numel; o++)
	{
		int64_t		rem = o,
					src = 0;

		for (int i = x->rank - 1; i >= 0; i--)
		{
			src += (rem % dims[i]) * stride[p[i]];
			rem /= dims[i];
		}
		onnx_fold_copy(x, src, *out, o);
	}
	return PI_OK;
}

typedef struct FoldEntry
{
	const char *op;
	FoldFn		fn;
} FoldEntry;

static const FoldEntry folders[] = {
	{"Identity", onnx_fold_identity}, {"Dropout", onnx_fold_identity},
	{"QuantizeLinear", onnx_fold_quantize}, {"DequantizeLinear", onnx_fold_dequantize},
	{"Reshape", onnx_fold_reshape}, {"Flatten", onnx_fold_flatten},
	{"Shape", onnx_fold_shape}, {"Size", onnx_fold_size}, {"Cast", onnx_fold_cast},
	{"Unsqueeze", onnx_fold_unsqueeze}, {"Squeeze", onnx_fold_squeeze},
	{"Concat", onnx_fold_concat}, {"Gather", onnx_fold_gather}, {"Slice", onnx_fold_slice},
	{"Transpose", onnx_fold_transpose}, {"Where", onnx_fold_where}, {"Expand", onnx_fold_expand},
	{"ConstantOfShape", onnx_fold_constant_of_shape}, {"Range", onnx_fold_range},
	{"Add", onnx_fold_binary}, {"Sub", onnx_fold_binary}, {"Mul", onnx_fold_binary},
	{"Div", onnx_fold_binary}, {"Mod", onnx_fold_binary}, {"Pow", onnx_fold_binary},
	{"Min", onnx_fold_binary}, {"Max", onnx_fold_binary}, {"Sum", onnx_fold_binary},
	{"Equal", onnx_fold_binary}, {"Less", onnx_fold_binary}, {"Greater", onnx_fold_binary},
	{"LessOrEqual", onnx_fold_binary}, {"GreaterOrEqual", onnx_fold_binary},
	{"And", onnx_fold_binary}, {"Or", onnx_fold_binary},
	{"Neg", onnx_fold_unary}, {"Abs", onnx_fold_unary}, {"Sqrt", onnx_fold_unary},
	{"Reciprocal", onnx_fold_unary}, {"Floor", onnx_fold_unary}, {"Ceil", onnx_fold_unary},
	{"Exp", onnx_fold_unary}, {"Log", onnx_fold_unary}, {"Relu", onnx_fold_unary}, {"Not", onnx_fold_unary},
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
