/*
 * op_unary.c
 *	  The elementwise ops of one input: activations, math functions, Clip
 *	  and Cast.  Every one may run in place.
 */
#include <math.h>

#include "cpu.h"

/* x rounded to the nearest float16 value (ties to even), as float32. */
static float
round_to_half(float x)
{
	float		ax = fabsf(x);
	int			e;

	if (!isfinite(x))
		return x;
	if (ax >= 65520.0f)			/* halfway past the largest half, 65504 */
		return copysignf(INFINITY, x);
	if (ax < ldexpf(1.0f, -14))	/* subnormal halves: multiples of 2^-24 */
		return ldexpf(nearbyintf(ldexpf(x, 24)), -24);
	frexpf(ax, &e);				/* ax = f * 2^e, f in [0.5, 1): 11 bits from 2^(e-1) */
	return ldexpf(nearbyintf(ldexpf(x, 11 - e)), e - 11);
}

/* x converted to an integer type of range [lo, hi] (toward zero, saturated; NaN is 0). */
static float
to_integer(float x, float lo, float hi)
{
	if (isnan(x))
		return 0.0f;
	x = truncf(x);
	return x < lo ? lo : (x > hi ? hi : x);
}

/* Cast: float32 values rounded to what the target type can hold. */
static void
cast_run(int to, const float *x, float *y, int64_t count)
{
	switch (to)
	{
		case 9:					/* BOOL */
			for (int64_t i = 0; i < count; i++)
				y[i] = (x[i] != 0.0f) ? 1.0f : 0.0f;
			break;
		case 10:				/* FLOAT16 */
			for (int64_t i = 0; i < count; i++)
				y[i] = round_to_half(x[i]);
			break;
		case 2:					/* UINT8 */
			for (int64_t i = 0; i < count; i++)
				y[i] = to_integer(x[i], 0.0f, 255.0f);
			break;
		case 3:					/* INT8 */
			for (int64_t i = 0; i < count; i++)
				y[i] = to_integer(x[i], -128.0f, 127.0f);
			break;
		case 5:					/* INT16 */
			for (int64_t i = 0; i < count; i++)
				y[i] = to_integer(x[i], -32768.0f, 32767.0f);
			break;
		case 6:					/* INT32 */
			for (int64_t i = 0; i < count; i++)
				y[i] = to_integer(x[i], -2147483648.0f, 2147483648.0f);
			break;
		case 7:					/* INT64 */
			for (int64_t i = 0; i < count; i++)
				y[i] = to_integer(x[i], -9223372036854775808.0f, 9223372036854775808.0f);
			break;
		default:				/* FLOAT, DOUBLE: float32 already */
			for (int64_t i = 0; i < count; i++)
				y[i] = x[i];
			break;
	}
}

/*
 * Applies a unary elementwise op to count floats (y may be x).  NaN stays
 * NaN through the activations, as in PyTorch.  Sigmoid, Gelu, Erf and Exp
 * run in the vector kernels.
 */
void
pi_unary_apply(PiOp op, const PiAttrs *at, const float *x, float *y, int64_t count)
{
	float		alpha = at->alpha;

	if (pi_cpu()->unary(op, at, x, y, count))
		return;
	switch (op)
	{
		case PI_OP_RELU:
			for (int64_t i = 0; i < count; i++)
				y[i] = x[i] < 0.0f ? 0.0f : x[i];
			break;
		case PI_OP_LEAKY_RELU:
			for (int64_t i = 0; i < count; i++)
				y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
			break;
		case PI_OP_SIGMOID:
			for (int64_t i = 0; i < count; i++)
				y[i] = 1.0f / (1.0f + expf(-x[i]));
			break;
		case PI_OP_TANH:
			for (int64_t i = 0; i < count; i++)
				y[i] = tanhf(x[i]);
			break;
		case PI_OP_GELU:
			if (at->gelu_tanh)
				for (int64_t i = 0; i < count; i++)
				{
					float		v = x[i];

					y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
				}
			else
				for (int64_t i = 0; i < count; i++)
					y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
			break;
		case PI_OP_EXP:
			for (int64_t i = 0; i < count; i++)
				y[i] = expf(x[i]);
			break;
		case PI_OP_LOG:
			for (int64_t i = 0; i < count; i++)
				y[i] = logf(x[i]);
			break;
		case PI_OP_SQRT:
			for (int64_t i = 0; i < count; i++)
				y[i] = sqrtf(x[i]);
			break;
		case PI_OP_NEG:
			for (int64_t i = 0; i < count; i++)
				y[i] = -x[i];
			break;
		case PI_OP_ABS:
			for (int64_t i = 0; i < count; i++)
				y[i] = fabsf(x[i]);
			break;
		case PI_OP_RECIPROCAL:
			for (int64_t i = 0; i < count; i++)
				y[i] = 1.0f / x[i];
			break;
		case PI_OP_ERF:
			for (int64_t i = 0; i < count; i++)
				y[i] = erff(x[i]);
			break;
		case PI_OP_SOFTPLUS:
			/* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|) */
			for (int64_t i = 0; i < count; i++)
				y[i] = fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
			break;
		case PI_OP_HARD_SIGMOID:
			for (int64_t i = 0; i < count; i++)
			{
				float		v = alpha * x[i] + at->beta;

				y[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
			}
			break;
		case PI_OP_ELU:
			for (int64_t i = 0; i < count; i++)
				y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
			break;
		case PI_OP_SELU:
			for (int64_t i = 0; i < count; i++)
				y[i] = at->gamma * (x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]));
			break;
		case PI_OP_CLIP:
			/* NaN stays NaN; min > max gives max, as in PyTorch's clamp */
			for (int64_t i = 0; i < count; i++)
			{
				float		v = x[i] < at->clip_min ? at->clip_min : x[i];

				y[i] = v > at->clip_max ? at->clip_max : v;
			}
			break;
		case PI_OP_CAST:
			cast_run(at->cast_to, x, y, count);
			break;
		case PI_OP_QUANTIZE:
			/* saturating before rounding gives the same codes: the bounds are integers */
			pi_cpu()->quantize(x, y, count, at);
			break;
		case PI_OP_DEQUANTIZE:
			pi_cpu()->dequantize(x, y, count, at->quant_scale, (float) at->quant_zero_point);
			break;
		default:
			break;
	}
}

/*
 * The unary ops over every element of the batch (may run in place); a
 * QuantizeLinear with its DequantizeLinear folded in (fuse.c) runs its
 * epilogue's activation, itself writing the values its codes stand for.
 */
void
pi_kernel_unary(const PiKernelArgs *a)
{
	pi_unary_apply(a->epi != NULL ? a->epi->act : a->node->op,
				   a->epi != NULL ? &a->epi->act_attrs : &a->node->attrs, a->in[0], a->out,
				   a->batch * a->model->values[a->node->output].numel);
}
