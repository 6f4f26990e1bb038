/*
 * onnx_quant.c
 *	  QuantizeLinear and DequantizeLinear, the ops of quantized ONNX models
 *	  in QDQ form: their quantization parameters, checked; their folding
 *	  over constants (a weight stored as int8 or uint8 codes becomes the
 *	  float32 weight (q - zero_point) * scale, exactly); and their lowering
 *	  over activations to the IR ops of the same names, which hold the
 *	  codes in float32 values.  Scales per tensor or per axis (weights);
 *	  activations take one scale and zero point.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "onnx_fold.h"
#include "onnx_lower.h"

/* The checked quantization parameters of one node. */
typedef struct QuantParams
{
	const OnnxConst *scale;
	const OnnxConst *zero_point;	/* NULL: zero */
	int			axis;			/* the quantized axis; -1 per tensor */
	int			code_type;		/* ONNX data type of the codes */
	int64_t		lo;				/* range of the codes */
	int64_t		hi;
} QuantParams;

/* The range of codes of an ONNX integer type; false for types that hold no codes. */
static bool
code_range(int data_type, int64_t *lo, int64_t *hi)
{
	switch (data_type)
	{
		case ONNX_INT8:
			*lo = -128, *hi = 127;
			return true;
		case ONNX_UINT8:
			*lo = 0, *hi = 255;
			return true;
		case ONNX_INT32:
			*lo = INT32_MIN, *hi = INT32_MAX;
			return true;
		default:
			return false;
	}
}

/* Whether a constant holds one value (a scalar or a one-element list). */
static bool
is_single(const OnnxConst *k)
{
	return k->rank == 0 || (k->rank == 1 && k->numel == 1);
}

/*
 * Checks the scale and zero point of node n over an input of rank dims:
 * finite positive scales; zero points of the codes' type, in its range,
 * shaped as the scales; one scale, or one per element of the axis.
 * code_type is the codes' type when the node's input says it (0: the
 * zero point's, uint8 without one).
 */
static PiStatus
quant_params(const OnnxNode *n, const OnnxConst *scale, const OnnxConst *zp, int rank,
			 const int64_t *dims, int code_type, QuantParams *p, PiError *err)
{
	const char *label = onnx_node_label(n);

	p->scale = scale;
	p->zero_point = zp;
	p->axis = -1;
	if (onnx_attr_int(n, "block_size", 0) != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) uses blocked quantization, which is not supported",
					   label, n->op_type);
	if (scale->is_int)
		return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) scale must be a float tensor, found integers",
					   label, n->op_type);
	if (scale->rank > 1)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) scale has rank %d; only a scalar or a list (per axis) is supported",
					   label, n->op_type, scale->rank);
	if (zp != NULL)
	{
		if (!zp->is_int)
			return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) zero point must be an integer tensor",
						   label, n->op_type);
		if (zp->numel != scale->numel || (zp->rank != scale->rank && !is_single(scale)))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has %lld scales but %lld zero points of another shape",
						   label, n->op_type, (long long) scale->numel, (long long) zp->numel);
		if (code_type != 0 && zp->data_type != code_type)
			return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) zero point is of ONNX type %d, but its input of type %d",
						   label, n->op_type, zp->data_type, code_type);
		code_type = zp->data_type;
	}
	if (code_type == 0)
		code_type = ONNX_UINT8;
	p->code_type = code_type;
	if (!code_range(code_type, &p->lo, &p->hi) ||
		(code_type == ONNX_INT32 && strcmp(n->op_type, "DequantizeLinear") != 0))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) quantizes to ONNX type %d; int8 and uint8 (int32 dequantized) are supported",
					   label, n->op_type, code_type);
	if (!is_single(scale))
	{
		int64_t		axis = onnx_attr_int(n, "axis", 1);

		if (axis < -rank || axis >= rank)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has axis %lld, out of range for an input of rank %d",
						   label, n->op_type, (long long) axis, rank);
		p->axis = (int) (axis < 0 ? axis + rank : axis);
		if (dims[p->axis] != scale->numel)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has %lld scales for %lld elements along axis %d",
						   label, n->op_type, (long long) scale->numel, (long long) dims[p->axis], p->axis);
	}
	for (int64_t i = 0; i < scale->numel; i++)
		if (!(isfinite(scale->floats[i]) && scale->floats[i] > 0.0f))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has scale %g, expected a finite positive number",
						   label, n->op_type, (double) scale->floats[i]);
	for (int64_t i = 0; zp != NULL && i < zp->numel; i++)
		if (zp->ints[i] < p->lo || zp->ints[i] > p->hi)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has zero point %lld, outside [%lld, %lld] of its type",
						   label, n->op_type, (long long) zp->ints[i], (long long) p->lo, (long long) p->hi);
	return PI_OK;
}

/* The index into the scales of element i of a tensor of these dims. */
static int64_t
channel_of(const QuantParams *p, int rank, const int64_t *dims, int64_t i)
{
	int64_t		inner = 1;

	if (p->axis < 0)
		return 0;
	for (int d = p->axis + 1; d < rank; d++)
		inner *= dims[d];
	return (i / inner) % dims[p->axis];
}

/* DequantizeLinear of constant codes: (q - zero_point) * scale in float32. */
ONNX_FOLDER(onnx_fold_dequantize)
{
	QuantParams p;
	const OnnxConst *x;

	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(onnx_fold_need_input(n, in, 1, err));
	x = in[0];
	if (!x->is_int)
		return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) input 0 must hold integer codes",
					   onnx_node_label(n), n->op_type);
	TRY(quant_params(n, in[1], n->ninputs > 2 ? in[2] : NULL, x->rank, x->dims, x->data_type, &p, err));
	TRY(onnx_const_new(x->rank, x->dims, false, ONNX_FLOAT, n->outputs[0], out, err));
	for (int64_t i = 0; i < x->numel; i++)
	{
		int64_t		c = channel_of(&p, x->rank, x->dims, i);
		int64_t		zp = p.zero_point ? p.zero_point->ints[c] : 0;

		if (x->ints[i] < p.lo || x->ints[i] > p.hi)
		{
			onnx_const_free(*out);
			*out = NULL;
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) input 0 holds %lld, outside [%lld, %lld] of its type",
						   onnx_node_label(n), n->op_type, (long long) x->ints[i], (long long) p.lo,
						   (long long) p.hi);
		}
		(*out)->floats[i] = (float) (x->ints[i] - zp) * p.scale->floats[c];
	}
	return PI_OK;
}

/* QuantizeLinear of constants: x / scale rounded half to even, plus zero point, saturated. */
ONNX_FOLDER(onnx_fold_quantize)
{
	QuantParams p;
	const OnnxConst *x;

	TRY(onnx_fold_need_input(n, in, 0, err));
	TRY(onnx_fold_need_input(n, in, 1, err));
	x = in[0];
	if (x->is_int)
		return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) input 0 must be a float tensor",
					   onnx_node_label(n), n->op_type);
	TRY(quant_params(n, in[1], n->ninputs > 2 ? in[2] : NULL, x->rank, x->dims, 0, &p, err));
	TRY(onnx_const_new(x->rank, x->dims, true, p.code_type, n->outputs[0], out, err));
	for (int64_t i = 0; i < x->numel; i++)
	{
		int64_t		c = channel_of(&p, x->rank, x->dims, i);
		float		v = nearbyintf(x->floats[i] / p.scale->floats[c]) +
			(float) (p.zero_point ? p.zero_point->ints[c] : 0);

		/* NaN saturates to the low end, as a vector max would take it */
		(*out)->ints[i] = !(v >= (float) p.lo) ? p.lo : v > (float) p.hi ? p.hi : (int64_t) v;
	}
	return PI_OK;
}

/* QuantizeLinear and DequantizeLinear of an activation: the IR op of that name. */
PiStatus
onnx_cv_quantize(OnnxCv *c)
{
	bool		quantize = strcmp(c->n->op_type, "QuantizeLinear") == 0;
	PiOp		op = quantize ? PI_OP_QUANTIZE : PI_OP_DEQUANTIZE;
	OnnxConst  *scale,
			   *zp = NULL;
	const PiValue *x;
	QuantParams p;
	PiAttrs		a;
	int			value;

	TRY(onnx_cv_value(c, 0, &value));
	TRY(onnx_cv_const(c, 1, &scale));
	if (onnx_cv_has_input(c, 2))
		TRY(onnx_cv_const(c, 2, &zp));
	x = onnx_cv_shape(c, value);
	TRY(quant_params(c->n, scale, zp, x->rank, x->dims, 0, &p, c->err));
	if (p.axis >= 0)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) quantizes an activation per axis; only one scale per activation is supported",
					   onnx_cv_label(c), c->n->op_type);
	if (p.code_type == ONNX_INT32)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) dequantizes int32 codes computed at run time, which is not supported",
					   onnx_cv_label(c), c->n->op_type);
	pi_attrs_default(op, &a);
	TRY(pi_attr_set_float(op, &a, onnx_cv_label(c), "scale", scale->floats[0], c->err));
	TRY(onnx_cv_set_int(c, op, &a, "zero_point", zp ? zp->ints[0] : 0));
	TRY(onnx_cv_set_int(c, op, &a, "signed", p.code_type == ONNX_INT8));
	return onnx_cv_finish_output(c, 0, op, &value, 1, &a);
}
