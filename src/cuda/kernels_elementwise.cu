/*
 * kernels_elementwise.cu
 *	  Elementwise device kernels: the unary ops (activations, math, Clip,
 *	  Cast), the broadcasting ops of two or three inputs (arithmetic, Pow,
 *	  PRelu, comparisons, Min, Max, Where, Expand), the input transform,
 *	  BatchNormalization and the per-channel fill of biases.  Each follows
 *	  the CPU kernel's formula operation by operation (built without FMA
 *	  contraction, as the CPU engine is), so results agree to rounding of
 *	  the math functions.
 */
#include "kernels_common.cuh"

/* The attributes a unary op reads. */
typedef struct UnaryParams
{
	PiOp		op;
	float		alpha,
				beta,
				gamma,
				clip_min,
				clip_max;
	bool		gelu_tanh;
	int			cast_to;
} UnaryParams;

/* x rounded to the nearest float16 value (ties to even), as float32. */
__device__ static float
round_to_half(float x)
{
	float		ax = fabsf(x);
	int			e;

	if (!isfinite(x))
		return x;
	if (ax >= 65520.0f)
		return copysignf(INFINITY, x);
	if (ax < ldexpf(1.0f, -14))
		return ldexpf(rintf(ldexpf(x, 24)), -24);
	frexpf(ax, &e);
	return ldexpf(rintf(ldexpf(x, 11 - e)), e - 11);
}

/* x converted to an integer type of range [lo, hi] (toward zero, saturated; NaN is 0). */
__device__ static float
to_integer(float x, float lo, float hi)
{
	if (isnan(x))
		return 0.0f;
	x = truncf(x);
	return x < lo ? lo : (x > hi ? hi : x);
}

/* Cast of one value to what the ONNX type number to can hold. */
__device__ static float
cast_value(int to, float x)
{
	switch (to)
	{
		case 9:					/* BOOL */
			return x != 0.0f ? 1.0f : 0.0f;
		case 10:				/* FLOAT16 */
			return round_to_half(x);
		case 2:					/* UINT8 */
			return to_integer(x, 0.0f, 255.0f);
		case 3:					/* INT8 */
			return to_integer(x, -128.0f, 127.0f);
		case 5:					/* INT16 */
			return to_integer(x, -32768.0f, 32767.0f);
		case 6:					/* INT32 */
			return to_integer(x, -2147483648.0f, 2147483648.0f);
		case 7:					/* INT64 */
			return to_integer(x, -9223372036854775808.0f, 9223372036854775808.0f);
		default:				/* FLOAT, DOUBLE: float32 already */
			return x;
	}
}

/* One unary op on one value. */
__device__ static float
unary_value(const UnaryParams &p, float x)
{
	switch (p.op)
	{
		case PI_OP_RELU:
			return x < 0.0f ? 0.0f : x;	/* NaN stays NaN, as on the CPU */
		case PI_OP_LEAKY_RELU:
			return x >= 0.0f ? x : p.alpha * x;
		case PI_OP_SIGMOID:
			return 1.0f / (1.0f + expf(-x));
		case PI_OP_TANH:
			return tanhf(x);
		case PI_OP_GELU:
			if (p.gelu_tanh)
				return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
			return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
		case PI_OP_EXP:
			return expf(x);
		case PI_OP_LOG:
			return logf(x);
		case PI_OP_SQRT:
			return sqrtf(x);
		case PI_OP_NEG:
			return -x;
		case PI_OP_ABS:
			return fabsf(x);
		case PI_OP_RECIPROCAL:
			return 1.0f / x;
		case PI_OP_ERF:
			return erff(x);
		case PI_OP_SOFTPLUS:
			return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
		case PI_OP_HARD_SIGMOID:
			{
				/* NaN stays NaN (fmaxf/fminf would drop it) */
				float		v = p.alpha * x + p.beta;

				return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
			}
		case PI_OP_ELU:
			return x > 0.0f ? x : p.alpha * expm1f(x);
		case PI_OP_SELU:
			return p.gamma * (x > 0.0f ? x : p.alpha * expm1f(x));
		case PI_OP_CLIP:
			{
				/* NaN stays NaN; min > max gives max */
				float		v = x < p.clip_min ? p.clip_min : x;

				return v > p.clip_max ? p.clip_max : v;
			}
		case PI_OP_CAST:
			return cast_value(p.cast_to, x);
		default:
			return x;
	}
}

/* y = op(x) elementwise. */
__global__ static void
unary_kernel(UnaryParams p, const float *x, float *y, int64_t n)
{
	PI_GRID_LOOP(i, n)
		y[i] = unary_value(p, x[i]);
}

/* The unary ops over every element of the batch (may run in place). */
PiStatus
pi_gpu_launch_unary(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	UnaryParams p = {a->node->op, at->alpha, at->beta, at->gamma, at->clip_min, at->clip_max,
	at->gelu_tanh, at->cast_to};
	int64_t		n = a->batch * a->model->values[a->node->output].numel;

	unary_kernel PI_LAUNCH(n, a->stream) (p, a->in[0], a->out, n);
	return pi_gpu_launched(a, "unary");
}

/* Output dims and each input's element strides (0 = broadcast) of a broadcasting op. */
typedef struct BroadcastShape
{
	int			rank;
	PiDims		out;
	PiDims		stride[3];
} BroadcastShape;

/* One two-input op on one pair, as the CPU kernel computes it. */
__device__ static float
binary_value(PiOp op, float u, float v)
{
	switch (op)
	{
		case PI_OP_ADD:
			return u + v;
		case PI_OP_SUB:
			return u - v;
		case PI_OP_MUL:
			return u * v;
		case PI_OP_DIV:
			return u / v;
		case PI_OP_POW:
			return powf(u, v);
		case PI_OP_PRELU:
			return u < 0.0f ? v * u : u;
		case PI_OP_EQUAL:
			return u == v ? 1.0f : 0.0f;
		case PI_OP_LESS:
			return u < v ? 1.0f : 0.0f;
		case PI_OP_GREATER:
			return u > v ? 1.0f : 0.0f;
		case PI_OP_MIN:
			return (u < v || isnan(u)) ? u : v;
		case PI_OP_MAX:
			return (u > v || isnan(u)) ? u : v;
		default:
			return u;
	}
}

/* One output element per thread: its inputs' offsets from its coordinates and their strides. */
__global__ static void
broadcast_kernel(PiOp op, BroadcastShape s, const float *x0, const float *x1,
				 const float *x2, float *y, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		rest = i,
					o0 = 0,
					o1 = 0,
					o2 = 0;

		for (int d = s.rank - 1; d >= 0; d--)
		{
			int64_t		c = rest % s.out.d[d];

			rest /= s.out.d[d];
			o0 += c * s.stride[0].d[d];
			o1 += c * s.stride[1].d[d];
			o2 += c * s.stride[2].d[d];
		}
		if (op == PI_OP_WHERE)
			y[i] = x0[o0] != 0.0f ? x1[o1] : x2[o2];
		else if (op == PI_OP_EXPAND)
			y[i] = x0[o0];
		else
			y[i] = binary_value(op, x0[o0], x1[o1]);
	}
}

/* The broadcasting ops: two inputs, Where (three) and Expand (one). */
PiStatus
pi_gpu_launch_broadcast(const PiCudaArgs *a, int ninputs)
{
	BroadcastShape s = {};
	int64_t		n = 1;

	s.rank = a->out_rank;
	for (int d = 0; d < a->out_rank; d++)
	{
		s.out.d[d] = a->out_dims[d];
		n *= a->out_dims[d];
	}
	for (int k = 0; k < ninputs; k++)
		pi_broadcast_strides(a->in_dims[k], a->in_rank[k], a->out_rank, s.stride[k].d);
	broadcast_kernel PI_LAUNCH(n, a->stream) (a->node->op, s, a->in[0],
											  ninputs > 1 ? a->in[1] : a->in[0],
											  ninputs > 2 ? a->in[2] : a->in[0], a->out, n);
	return pi_gpu_launched(a, "broadcast");
}

/* x = x * scale + shift in place, per feature or with one global pair. */
__global__ static void
input_transform_kernel(float *x, int64_t n, int64_t row, const float *scale,
					   const float *shift, bool global)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		j = global ? 0 : i % row;

		x[i] = x[i] * scale[j] + shift[j];
	}
}

/* The model's input preprocessing x * scale + shift on input 0, in place. */
PiStatus
pi_gpu_launch_input_transform(float *x, int64_t batch, int64_t row, const float *scale,
							   const float *shift, int64_t len, cudaStream_t stream, PiError *err)
{
	int64_t		n = batch * row;

	input_transform_kernel PI_LAUNCH(n, stream) (x, n, row, scale, shift, len == 1);
	return pi_gpu_check(cudaGetLastError(), err, "launching the input transform");
}

/* The CPU kernel's per-channel affine map, one element per thread. */
__global__ static void
batch_norm_kernel(const float *x, float *y, int64_t n, int64_t channels, int64_t inner,
				  const float *scale, const float *bias, const float *mean,
				  const float *var, float epsilon)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		c = (i / inner) % channels;
		float		s = scale[c] / sqrtf(var[c] + epsilon);
		float		t = bias[c] - mean[c] * s;

		y[i] = x[i] * s + t;
	}
}

/* y = (x - mean) * scale / sqrt(var + epsilon) + bias, channel axis 1. */
PiStatus
pi_gpu_launch_batch_norm(const PiCudaArgs *a)
{
	int64_t		channels = a->in_dims[0][1];
	int64_t		inner = 1;
	int64_t		n;

	for (int i = 2; i < a->in_rank[0]; i++)
		inner *= a->in_dims[0][i];
	n = a->batch * channels * inner;
	batch_norm_kernel PI_LAUNCH(n, a->stream) (a->in[0], a->out, n, channels, inner,
											   a->in[1], a->in[2], a->in[3], a->in[4],
											   a->node->attrs.epsilon);
	return pi_gpu_launched(a, "batch_norm");
}

/* y[i] = values[(i / inner) % channels]. */
__global__ static void
channel_fill_kernel(float *y, int64_t n, int64_t channels, int64_t inner, const float *values)
{
	PI_GRID_LOOP(i, n)
		y[i] = values[(i / inner) % channels];
}

/* y[i] = values[(i / inner) % channels]: biases laid over rows or planes. */
PiStatus
pi_gpu_launch_channel_fill(const PiCudaArgs *a, float *y, int64_t count, int64_t channels,
							int64_t inner, const float *values)
{
	channel_fill_kernel PI_LAUNCH(count, a->stream) (y, count, channels, inner, values);
	return pi_gpu_launched(a, "channel_fill");
}
