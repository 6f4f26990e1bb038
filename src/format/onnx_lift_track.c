/*
 * onnx_lift_track.c
 *	  Lifted-batch import (onnx_lift.c): where the batch is in each output
 *	  of a lowered node (LiftSpot), and the refusal of every op that would
 *	  combine rows: with batch 1 such an op computes something else than the
 *	  batched graph does (a reduction over the batch axis is the identity at
 *	  batch 1 and a mean over rows at batch B).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lift.h"

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
	int			rank = lift_dims(im, out, dims);
	OnnxEntry  *first = NULL;

	for (int i = 0; i < n->ninputs; i++)
	{
		int			r;

		if (in[i] == NULL || in[i]->kind != ENTRY_ACT)
			continue;
		r = lift_dims(im, in[i], first == NULL ? first_dims : dims);
		if (r != rank)
			return lift_refuse(n, err, "broadcasts activations of different ranks, which would line the rows up with another axis of the batch");
		if (first == NULL)
			first = in[i];
		else if (in[i]->lift_axis != first->lift_axis || in[i]->lift_outer != first->lift_outer ||
				 dims[first->lift_axis] != first_dims[first->lift_axis])
			return lift_refuse(n, err, "combines activations that hold the batch on different axes");
	}
	if (first == NULL)
		return lift_refuse(n, err, "no activation input");
	for (int i = 0; i < n->ninputs; i++)
	{
		bool		spans;

		if (in[i] == NULL || in[i]->kind != ENTRY_CONST)
			continue;
		TRY(const_spans_batch(im, in[i], rank, first->lift_axis, &spans, err));
		if (spans)
			return lift_refuse(n, err, "a constant spans the batch axis");
	}
	lift_set_spot(im, n->outputs[0], lift_spot_of(first));
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
		return lift_refuse(n, err, "no activation input");
	TRY(lift_input_rank(im, in[0], &ra, err));
	TRY(lift_input_rank(im, in[1], &rb, err));
	rout = lift_dims(im, onnx_entry(im, n->outputs[0]), dims);
	if (act_a && act_b)
	{
		int64_t		da[PI_MAX_RANK],
					db[PI_MAX_RANK];

		lift_dims(im, in[0], da);
		lift_dims(im, in[1], db);
		if (ra != rb || in[0]->lift_axis != in[1]->lift_axis || in[0]->lift_outer != in[1]->lift_outer ||
			in[0]->lift_axis >= ra - 2 || da[in[0]->lift_axis] != db[in[0]->lift_axis])
			return lift_refuse(n, err, "multiplies rows with other rows");
		s = lift_spot_of(in[0]);
	}
	else if (act_a)
	{
		bool		spans = false;

		if (in[0]->lift_axis == ra - 1)
			return lift_refuse(n, err, "sums over the batch axis");
		if (in[0]->lift_axis < ra - 2 && rb >= 3)
			TRY(const_spans_batch(im, in[1], ra, in[0]->lift_axis, &spans, err));
		if (spans)
			return lift_refuse(n, err, "a constant spans the batch axis");
		s = lift_spot_of(in[0]);
		if (rb >= 2)
			s.axis += rout - ra;
	}
	else
	{
		bool		spans = false;

		if (rb == 1 || in[1]->lift_axis == rb - 2)
			return lift_refuse(n, err, "sums over the batch axis");
		if (in[1]->lift_axis < rb - 2 && ra >= 3)
			TRY(const_spans_batch(im, in[0], rb, in[1]->lift_axis, &spans, err));
		if (spans)
			return lift_refuse(n, err, "a constant spans the batch axis");
		s = lift_spot_of(in[1]);
		if (ra >= 2 || s.axis == rb - 1)
			s.axis += rout - rb;
	}
	lift_set_spot(im, n->outputs[0], s);
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

		if (!lift_norm_axis(axes[i], rank, &ax))
			return lift_refuse(n, err, "axis out of range");
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
	int			rank = lift_dims(im, in[0], d);
	LiftSpot	s = lift_spot_of(in[0]);
	int			ax = s.axis,
				axis;

	if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0 ||
		strcmp(op, "LayerNormalization") == 0)
	{
		bool		layer_norm = strcmp(op, "LayerNormalization") == 0;
		bool		from = im->opset < 13 || layer_norm;

		if (!lift_norm_axis(onnx_attr_int(n, "axis", im->opset < 13 && !layer_norm ? 1 : -1), rank, &axis))
			return lift_refuse(n, err, "axis out of range");
		if (from ? ax >= axis : ax == axis)
			return lift_refuse(n, err, "normalizes along the batch axis");
	}
	else if (strncmp(op, "Reduce", 6) == 0)
	{
		bool		reduced[PI_MAX_RANK];

		TRY(reduce_axes(im, n, in, rank, reduced, err));
		if (reduced[ax])
			return lift_refuse(n, err, "reduces along the batch axis");
		if (onnx_attr_int(n, "keepdims", 1) == 0)
			for (int i = 0; i < ax; i++)
				s.axis -= reduced[i];
	}
	else if (strcmp(op, "ArgMax") == 0 || strcmp(op, "TopK") == 0)
	{
		if (!lift_norm_axis(onnx_attr_int(n, "axis", op[0] == 'A' ? 0 : -1), rank, &axis))
			return lift_refuse(n, err, "axis out of range");
		if (axis == ax)
			return lift_refuse(n, err, "selects along the batch axis");
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
		int			orank = lift_dims(im, onnx_entry(im, n->outputs[0]), od);
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

			if (!lift_norm_axis(axes[i], op[0] == 'S' ? rank : orank, &a))
				return lift_refuse(n, err, "axis out of range");
			marked[a] = true;
		}
		if (op[0] == 'S')
		{
			for (int i = 0; count < 0 && i < rank; i++)
				marked[i] = d[i] == 1;
			if (marked[ax])
				return lift_refuse(n, err, "squeezes the batch axis");
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
		if (!lift_norm_axis(onnx_attr_int(n, "axis", 0), rank, &axis))
			return lift_refuse(n, err, "axis out of range");
		if (axis == ax)
			return lift_refuse(n, err, "joins or splits along the batch axis");
		for (int i = 1; op[0] == 'C' && i < n->ninputs; i++)
			if (in[i] != NULL && in[i]->kind == ENTRY_ACT &&
				(in[i]->lift_axis != ax || in[i]->lift_outer != s.outer))
				return lift_refuse(n, err, "joins activations that hold the batch on different axes");
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
			if (lift_norm_axis(axes[i], rank, &axis) && axis == ax)
				return lift_refuse(n, err, "slices along the batch axis");
		if (count < 0)
		{
			int64_t		nstarts;

			TRY(lift_slice_count(im, n, in, &nstarts, err));
			if (ax < nstarts)
				return lift_refuse(n, err, "slices along the batch axis");
		}
	}
	for (int o = 0; o < n->noutputs; o++)
		lift_set_spot(im, n->outputs[o], s);
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

	TRY(lift_input_rank(im, in[0], &rdata, err));
	TRY(lift_input_rank(im, in[1], &ridx, err));
	if (!lift_norm_axis(onnx_attr_int(n, "axis", 0), rdata, &axis))
		return lift_refuse(n, err, "axis out of range");
	if (in[0]->kind == ENTRY_ACT && in[1]->kind == ENTRY_ACT)
		return lift_refuse(n, err, "indexes rows by other rows");
	if (in[0]->kind != ENTRY_ACT && in[1]->kind != ENTRY_ACT)
		return lift_refuse(n, err, "no activation input");
	if (in[0]->kind == ENTRY_ACT)
	{
		s = lift_spot_of(in[0]);
		if (s.axis == axis)
			return lift_refuse(n, err, "gathers along the batch axis");
		if (s.axis > axis)
			s.axis += ridx - 1;
	}
	else
	{
		s = lift_spot_of(in[1]);
		s.axis += axis;
	}
	lift_set_spot(im, n->outputs[0], s);
	return PI_OK;
}

/* Gemm: A's batch must be on its rows (M), not on the summed axis. */
static PiStatus
track_gemm(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	LiftSpot	s = lift_spot_of(in[0]);
	int			m_axis = onnx_attr_int(n, "transA", 0) != 0 ? 1 : 0;

	if (s.axis != m_axis)
		return lift_refuse(n, err, "sums over the batch axis");
	if (n->ninputs > 2 && in[2] != NULL)
	{
		bool		spans;

		TRY(const_spans_batch(im, in[2], 2, 0, &spans, err));
		if (spans)
			return lift_refuse(n, err, "C spans the batch axis");
	}
	s.axis = 0;
	lift_set_spot(im, n->outputs[0], s);
	return PI_OK;
}

/*
 * Records where the batch is in node n's outputs, or refuses the node when
 * it would combine rows.  Reshape, Flatten and Expand recorded it while
 * lowering.
 */
PiStatus
lift_track_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	const char *op = n->op_type;

	if (strcmp(op, "Reshape") == 0 || strcmp(op, "Flatten") == 0 || strcmp(op, "Expand") == 0)
		return PI_OK;
	if (strcmp(op, "Gemm") == 0)
		return track_gemm(im, n, in, err);
	if (lift_is_elementwise(op))
		return track_elementwise(im, n, in, err);
	if (strcmp(op, "MatMul") == 0)
		return track_matmul(im, n, in, err);
	if (strcmp(op, "Gather") == 0)
		return track_gather(im, n, in, err);
	return track_axes(im, n, in, err);
}
