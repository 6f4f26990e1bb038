/*
 * kernels_reduce.cu
 *	  The ops that read along an axis, on the device: Softmax, LogSoftmax,
 *	  ArgMax, LayerNormalization, ReduceMean/Sum/Max and TopK.  A warp per
 *	  row where the elements of a slice are consecutive (Softmax over the
 *	  last axis, LayerNormalization), else one thread per slice (per output
 *	  element for the reductions, per input element for TopK), whose
 *	  neighbours then read neighbouring elements; sums in double where the
 *	  CPU kernel's are.
 */
#include "kernels_common.cuh"

/* Splits dims around axis into outer x axis x inner element counts. */
static void
split_axis(const int64_t *dims, int rank, int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int i = 0; i < axis; i++)
		*outer *= dims[i];
	for (int i = axis + 1; i < rank; i++)
		*inner *= dims[i];
	*len = dims[axis];
}

/* Softmax or LogSoftmax of each slice, max-subtracted; may run in place. */
__global__ static void
softmax_kernel(const float *x, float *y, int64_t len, int64_t inner, int64_t n, bool log_out)
{
	PI_GRID_LOOP(s, n)
	{
		int64_t		base = (s / inner) * len * inner + s % inner;
		const float *p = x + base;
		float	   *q = y + base;
		float		max = p[0];
		double		sum = 0.0;

		for (int64_t k = 1; k < len; k++)
			if (p[k * inner] > max)
				max = p[k * inner];
		for (int64_t k = 0; k < len; k++)
			sum += exp((double) (p[k * inner] - max));
		if (log_out)
		{
			float		lse = (float) log(sum);

			for (int64_t k = 0; k < len; k++)
				q[k * inner] = p[k * inner] - max - lse;
		}
		else
			for (int64_t k = 0; k < len; k++)
				q[k * inner] = (float) (exp((double) (p[k * inner] - max)) / sum);
	}
}

/*
 * Softmax or LogSoftmax of rows of len consecutive elements, a warp each;
 * may run in place (each thread writes only the elements it read).
 */
__global__ static void
softmax_rows_kernel(const float *x, float *y, int64_t len, int64_t rows, bool log_out)
{
	int			lane = pi_lane();

	PI_WARP_LOOP(r, rows)
	{
		const float *p = x + r * len;
		float	   *q = y + r * len;
		float		max = p[0];
		double		sum = 0.0;

		for (int64_t k = lane; k < len; k += PI_WARP)
			max = p[k] > max ? p[k] : max;
		max = pi_warp_max(max);
		for (int64_t k = lane; k < len; k += PI_WARP)
			sum += exp((double) (p[k] - max));
		sum = pi_warp_sum(sum);
		if (log_out)
		{
			float		lse = (float) log(sum);

			for (int64_t k = lane; k < len; k += PI_WARP)
				q[k] = p[k] - max - lse;
		}
		else
			for (int64_t k = lane; k < len; k += PI_WARP)
				q[k] = (float) (exp((double) (p[k] - max)) / sum);
	}
}

/* Softmax and LogSoftmax along the node's axis: a warp per row over the last axis. */
PiStatus
pi_gpu_launch_softmax(const PiCudaArgs *a)
{
	int64_t		outer,
				len,
				inner;
	bool		log_out = a->node->op == PI_OP_LOG_SOFTMAX;

	split_axis(a->in_dims[0], a->in_rank[0], a->node->attrs.axis, &outer, &len, &inner);
	if (inner == 1)
		softmax_rows_kernel PI_WARP_LAUNCH(outer, a->stream) (a->in[0], a->out, len, outer, log_out);
	else
		softmax_kernel PI_LAUNCH(outer * inner, a->stream) (a->in[0], a->out, len, inner, outer * inner,
															log_out);
	return pi_gpu_launched(a, "softmax");
}

/* ArgMax: index of the first maximum of each slice (the first NaN if any), as float32. */
__global__ static void
argmax_kernel(const float *x, float *y, int64_t len, int64_t inner, int64_t n)
{
	PI_GRID_LOOP(s, n)
	{
		const float *p = x + (s / inner) * len * inner + s % inner;
		int64_t		best = 0;

		for (int64_t k = 1; k < len && !isnan(p[best * inner]); k++)
			if (p[k * inner] > p[best * inner] || isnan(p[k * inner]))
				best = k;
		y[s] = (float) best;
	}
}

/* ArgMax along the node's axis. */
PiStatus
pi_gpu_launch_argmax(const PiCudaArgs *a)
{
	int64_t		outer,
				len,
				inner;

	split_axis(a->in_dims[0], a->in_rank[0], a->node->attrs.axis, &outer, &len, &inner);
	argmax_kernel PI_LAUNCH(outer * inner, a->stream) (a->in[0], a->out, len, inner, outer * inner);
	return pi_gpu_launched(a, "argmax");
}

/*
 * y = (x - mean) / sqrt(var + epsilon) * scale + bias per row, a warp each
 * (mean, then the squared deviations, summed in double as on the CPU); may
 * run in place (each thread writes only the elements it read).
 */
__global__ static void
layer_norm_kernel(const float *x, float *y, int64_t rows, int64_t len, const float *scale,
				  const float *bias, float epsilon)
{
	int			lane = pi_lane();

	PI_WARP_LOOP(r, rows)
	{
		const float *p = x + r * len;
		float	   *q = y + r * len;
		double		sum = 0.0,
					sq = 0.0;
		float		mean,
					inv;

		for (int64_t j = lane; j < len; j += PI_WARP)
			sum += p[j];
		mean = (float) (pi_warp_sum(sum) / (double) len);
		for (int64_t j = lane; j < len; j += PI_WARP)
		{
			double		d = (double) (p[j] - mean);

			sq += d * d;
		}
		inv = (float) (1.0 / sqrt(pi_warp_sum(sq) / (double) len + epsilon));
		for (int64_t j = lane; j < len; j += PI_WARP)
			q[j] = bias != NULL ? (p[j] - mean) * inv * scale[j] + bias[j]
				: (p[j] - mean) * inv * scale[j];
	}
}

/* LayerNormalization over the axes from the node's axis on. */
PiStatus
pi_gpu_launch_layer_norm(const PiCudaArgs *a)
{
	int			axis = a->node->attrs.axis;
	int64_t		rows = 1,
				len = 1;

	for (int i = 0; i < axis; i++)
		rows *= a->in_dims[0][i];
	for (int i = axis; i < a->in_rank[0]; i++)
		len *= a->in_dims[0][i];
	layer_norm_kernel PI_WARP_LAUNCH(rows, a->stream) (a->in[0], a->out, rows, len, a->in[1],
													   a->node->ninputs == 3 ? a->in[2] : NULL,
													   a->node->attrs.epsilon);
	return pi_gpu_launched(a, "layer_norm");
}

/* The kept and the reduced axes of a reduction, each with sizes and input strides. */
typedef struct ReduceShape
{
	int			nkept,
				nreduced;
	PiDims		kept_dims,
				kept_strides,
				reduced_dims,
				reduced_strides;
	int64_t		reduce_count;
} ReduceShape;

/* One output element per thread: the fold of every reduced element under it. */
__global__ static void
reduce_kernel(PiOp op, ReduceShape s, const float *x, float *y, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		base = 0,
					rest = i;
		double		sum = 0.0;
		float		best = -INFINITY;

		for (int d = s.nkept - 1; d >= 0; d--)
		{
			base += (rest % s.kept_dims.d[d]) * s.kept_strides.d[d];
			rest /= s.kept_dims.d[d];
		}
		for (int64_t r = 0; r < s.reduce_count; r++)
		{
			int64_t		off = base;
			float		v;

			rest = r;
			for (int d = s.nreduced - 1; d >= 0; d--)
			{
				off += (rest % s.reduced_dims.d[d]) * s.reduced_strides.d[d];
				rest /= s.reduced_dims.d[d];
			}
			v = x[off];
			if (op == PI_OP_REDUCE_MAX)
				best = (v > best || isnan(v)) ? v : best;
			else
				sum += v;
		}
		if (op == PI_OP_REDUCE_MAX)
			y[i] = best;
		else if (op == PI_OP_REDUCE_MEAN)
			y[i] = (float) sum / (float) s.reduce_count;
		else
			y[i] = (float) sum;
	}
}

/* ReduceMean, ReduceSum and ReduceMax over the node's axes. */
PiStatus
pi_gpu_launch_reduce(const PiCudaArgs *a)
{
	int			r = a->in_rank[0];
	bool		reduced[PI_MAX_RANK] = {false};
	ReduceShape s = {};
	int64_t		stride = 1,
				n = 1;

	for (int i = 0; i < a->node->attrs.axes_len; i++)
		reduced[a->node->attrs.axes[i]] = true;
	s.reduce_count = 1;
	/* axes in order: count them first, then fill from the last axis */
	for (int i = 0; i < r; i++)
	{
		if (reduced[i])
			s.nreduced++;
		else
			s.nkept++;
	}
	for (int i = r - 1, k = s.nkept, q = s.nreduced; i >= 0; i--)
	{
		if (reduced[i])
		{
			q--;
			s.reduced_dims.d[q] = a->in_dims[0][i];
			s.reduced_strides.d[q] = stride;
			s.reduce_count *= a->in_dims[0][i];
		}
		else
		{
			k--;
			s.kept_dims.d[k] = a->in_dims[0][i];
			s.kept_strides.d[k] = stride;
			n *= a->in_dims[0][i];
		}
		stride *= a->in_dims[0][i];
	}
	reduce_kernel PI_LAUNCH(n, a->stream) (a->node->op, s, a->in[0], a->out, n);
	return pi_gpu_launched(a, "reduce");
}

/* Whether (v, i) ranks before (w, j): larger (or smaller) value, then lower index; NaN largest. */
__device__ static bool
ranks_before(float v, int64_t i, float w, int64_t j, bool largest)
{
	if (v == w || (isnan(v) && isnan(w)))
		return i < j;
	if (isnan(v))
		return largest;
	if (isnan(w))
		return !largest;
	return largest ? v > w : v < w;
}

/*
 * One thread per input element: its rank in its slice (how many elements
 * rank before it); the k best write themselves at their rank, best first.
 */
__global__ static void
topk_kernel(const float *x, float *y, int64_t len, int64_t inner, int64_t k, bool largest,
			bool indices, int64_t n)
{
	PI_GRID_LOOP(t, n)
	{
		int64_t		i = t % inner;
		int64_t		j = (t / inner) % len;
		int64_t		o = t / (inner * len);
		const float *p = x + o * len * inner + i;
		float		v = p[j * inner];
		int64_t		rank = 0;

		for (int64_t q = 0; q < len && rank < k; q++)
			if (ranks_before(p[q * inner], q, v, j, largest))
				rank++;
		if (rank < k)
			y[(o * k + rank) * inner + i] = indices ? (float) j : v;
	}
}

/* TopK: values (output_index 0) or their indices as float32 (1). */
PiStatus
pi_gpu_launch_topk(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	int64_t		outer,
				len,
				inner;

	split_axis(a->in_dims[0], a->in_rank[0], at->axis, &outer, &len, &inner);
	topk_kernel PI_LAUNCH(outer * len * inner, a->stream) (a->in[0], a->out, len, inner, at->k,
														   at->largest != 0, at->output_index != 0,
														   outer * len * inner);
	return pi_gpu_launched(a, "topk");
}
