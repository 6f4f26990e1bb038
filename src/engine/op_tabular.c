/*
 * op_tabular.c
 *	  The other kernels of tabular models: PostTransform (a classifier's or
 *	  regressor's scores and class), Lookup (LabelEncoder, CategoryMapper)
 *	  and Normalize (Normalizer).  Their arithmetic is ONNX Runtime's, so
 *	  that models agree with it to the last bit where it can: the logistic
 *	  function of the absolute value, softmax after subtracting the maximum,
 *	  SOFTMAX_ZERO leaving zeros out, and the probit of ONNX's reference
 *	  and ONNX Runtime (Winitzki's approximation of erfinv, a = 0.147).
 */
#include <float.h>
#include <math.h>

#include "pi_engine.h"

/* 1 / (1 + e^-x), from |x| so that it cannot overflow. */
static float
logistic(float x)
{
	float		v = 1.0f / (1.0f + expf(-fabsf(x)));

	return x < 0 ? 1.0f - v : v;
}

/* sqrt(2) erfinv(2p - 1) with erfinv approximated as ONNX does. */
static float
probit(float p)
{
	float		x = 2.0f * p - 1.0f;
	float		sign = x < 0 ? -1.0f : 1.0f;
	float		ln = logf((1.0f - x) * (1.0f + x));
	float		v = 2.0f / (3.14159f * 0.147f) + 0.5f * ln;
	float		v2 = 1.0f / 0.147f * ln;

	return 1.41421356f * sign * sqrtf(-v + sqrtf(v * v - v2));
}

/* Softmax of n scores in place; with skip_zeros, zeros stay zero (SOFTMAX_ZERO). */
static void
softmax_row(float *s, int64_t n, bool skip_zeros)
{
	float		max = -FLT_MAX;
	float		exp_neg_max;
	float		sum = 0.0f;

	for (int64_t i = 0; i < n; i++)
		if (s[i] > max)
			max = s[i];
	exp_neg_max = expf(-max);
	for (int64_t i = 0; i < n; i++)
	{
		if (skip_zeros && !(s[i] > 0.0000001f || s[i] < -0.0000001f))
			s[i] *= exp_neg_max;
		else
		{
			s[i] = expf(s[i] - max);
			sum += s[i];
		}
	}
	for (int64_t i = 0; i < n; i++)
		s[i] /= sum;
}

/* The class of one row's raw scores: the first largest, or one score against a threshold. */
static float
row_class(const float *s, int64_t n, const PiAttrs *at)
{
	int64_t		best = 0;

	if (at->binary != PI_BINARY_NONE)
		return s[0] > at->threshold ? 1.0f : 0.0f;
	for (int64_t i = 1; i < n; i++)
		if (s[i] > s[best])
			best = i;
	return (float) best;
}

/*
 * PostTransform: [N, K] raw scores to [N, C] scores (and the class, in a
 * last column, with label).  Two classes from one score s, with T the
 * logistic function under LOGISTIC, else none: [1 - T(s), T(s)], [T(-s),
 * T(s)] or [T(0), T(s)].  One score alone takes PROBIT only, several take
 * any transform, as ONNX Runtime does.
 */
void
pi_kernel_post_transform(const PiKernelArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	int64_t		k = a->in_dims[0][1];
	int64_t		c = a->out_dims[1];

	for (int64_t r = 0; r < a->batch; r++)
	{
		const float *s = a->in[0] + r * k;
		float	   *o = a->out + r * c;
		float		cls = at->label ? row_class(s, k, at) : 0.0f;

		if (at->binary != PI_BINARY_NONE)
		{
			bool		logistic_of = at->post_transform == PI_POST_LOGISTIC;
			float		v = logistic_of ? logistic(s[0]) : s[0];

			if (at->binary == PI_BINARY_COMPLEMENT)
				o[0] = 1.0f - v;
			else if (at->binary == PI_BINARY_NEGATE)
				o[0] = logistic_of ? logistic(-s[0]) : -s[0];
			else
				o[0] = logistic_of ? 0.5f : 0.0f;
			o[1] = v;
		}
		else
		{
			for (int64_t i = 0; i < k; i++)
				o[i] = s[i];
			if (at->post_transform == PI_POST_PROBIT)
				for (int64_t i = 0; i < k; i++)
					o[i] = probit(o[i]);
			else if (k > 1 && at->post_transform == PI_POST_LOGISTIC)
				for (int64_t i = 0; i < k; i++)
					o[i] = logistic(o[i]);
			else if (k > 1 && (at->post_transform == PI_POST_SOFTMAX ||
							   at->post_transform == PI_POST_SOFTMAX_ZERO))
				softmax_row(o, k, at->post_transform == PI_POST_SOFTMAX_ZERO);
		}
		if (at->label)
			o[c - 1] = cls;
	}
}

/*
 * Lookup: each value of X replaced by the value of its key (keys sorted,
 * a NaN key last matches NaN), or by the default.
 */
void
pi_kernel_lookup(const PiKernelArgs *a)
{
	const float *keys = a->in[1];
	const float *values = a->in[2];
	int64_t		nkeys = a->in_dims[1][0];
	int64_t		numbers = (nkeys > 0 && isnan(keys[nkeys - 1])) ? nkeys - 1 : nkeys;
	int64_t		n = a->batch * a->model->values[a->node->output].numel;

	for (int64_t i = 0; i < n; i++)
	{
		float		x = a->in[0][i];
		float		y = a->node->attrs.default_value;

		if (isnan(x))
		{
			if (numbers < nkeys)
				y = values[numbers];
		}
		else
		{
			int64_t		lo = 0,
						hi = numbers - 1;

			while (lo <= hi)
			{
				int64_t		mid = lo + (hi - lo) / 2;

				if (keys[mid] == x)
				{
					y = values[mid];
					break;
				}
				if (keys[mid] < x)
					lo = mid + 1;
				else
					hi = mid - 1;
			}
		}
		a->out[i] = y;
	}
}

/*
 * Normalize: each row divided by its largest value (MAX), the sum of its
 * magnitudes (L1) or its Euclidean length (L2); a row whose norm is 0 is
 * copied.  L2 is computed as ONNX Runtime does: sign(x) sqrt(x^2 / sum).
 */
void
pi_kernel_normalize(const PiKernelArgs *a)
{
	int64_t		f = a->in_dims[0][1];

	for (int64_t r = 0; r < a->batch; r++)
	{
		const float *x = a->in[0] + r * f;
		float	   *o = a->out + r * f;
		float		norm = a->node->attrs.norm == PI_NORM_MAX ? -FLT_MAX : 0.0f;

		for (int64_t i = 0; i < f; i++)
		{
			if (a->node->attrs.norm == PI_NORM_MAX)
				norm = fmaxf(norm, x[i]);
			else if (a->node->attrs.norm == PI_NORM_L1)
				norm += fabsf(x[i]);
			else
				norm += x[i] * x[i];
		}
		for (int64_t i = 0; i < f; i++)
		{
			if (norm == 0.0f)
				o[i] = x[i];
			else if (a->node->attrs.norm == PI_NORM_L2)
				o[i] = x[i] < 0 ? -sqrtf(x[i] * x[i] / norm) : sqrtf(x[i] * x[i] / norm);
			else
				o[i] = x[i] / norm;
		}
	}
}
