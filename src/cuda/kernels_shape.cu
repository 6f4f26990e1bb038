/*
 * kernels_shape.cu
 *	  Data movement on the device: Transpose, Slice, Pad, Concat and Gather,
 *	  one thread per output element.  Gather's embedding form records an index
 *	  outside its table in the node's error slot; the run then fails with
 *	  the CPU engine's message (src/cuda/run.c).
 */
#include "kernels_common.cuh"

extern "C"
{
#include "pi_engine.h"
}

/* Output index i of rank dims as an input offset through per-axis strides. */
__device__ static int64_t
strided_offset(int64_t i, int rank, const PiDims &dims, const PiDims &strides)
{
	int64_t		off = 0;

	for (int d = rank - 1; d >= 0; d--)
	{
		off += (i % dims.d[d]) * strides.d[d];
		i /= dims.d[d];
	}
	return off;
}

/* Transpose and Slice: out[i] = x[base + strided_offset(i)]. */
__global__ static void
strided_copy_kernel(const float *x, float *y, int rank, PiDims dims, PiDims strides, int64_t n)
{
	PI_GRID_LOOP(i, n)
		y[i] = x[strided_offset(i, rank, dims, strides)];
}

/* Launches strided_copy over out_dims. */
static PiStatus
strided_copy(const PiCudaArgs *a, const float *x, const PiDims &strides, const char *kernel)
{
	PiDims		dims = {};
	int64_t		n = 1;

	for (int d = 0; d < a->out_rank; d++)
	{
		dims.d[d] = a->out_dims[d];
		n *= a->out_dims[d];
	}
	strided_copy_kernel PI_LAUNCH(n, a->stream) (x, a->out, a->out_rank, dims, strides, n);
	return pi_gpu_launched(a, kernel);
}

/* Transpose: the output walked in order, the input by permuted strides. */
PiStatus
pi_gpu_launch_transpose(const PiCudaArgs *a)
{
	int			r = a->in_rank[0];
	int64_t		in_strides[PI_MAX_RANK];
	int64_t		s = 1;
	PiDims		strides = {};

	for (int i = r - 1; i >= 0; i--)
	{
		in_strides[i] = s;
		s *= a->in_dims[0][i];
	}
	for (int i = 0; i < r; i++)
		strides.d[i] = in_strides[a->node->attrs.perm[i]];
	return strided_copy(a, a->in[0], strides, "transpose");
}

/* Slice: the selected elements, from the first one by step-scaled strides. */
PiStatus
pi_gpu_launch_slice(const PiCudaArgs *a)
{
	int			r = a->in_rank[0];
	int64_t		start[PI_MAX_RANK],
				step[PI_MAX_RANK],
				count[PI_MAX_RANK];
	int64_t		s = 1,
				base = 0;
	PiDims		strides = {};

	if (!pi_slice_bounds(&a->node->attrs, r, a->in_dims[0], start, step, count))
		return pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (Slice) has invalid axes", a->node->name);
	for (int i = r - 1; i >= 0; i--)
	{
		base += start[i] * s;
		strides.d[i] = step[i] * s;
		s *= a->in_dims[0][i];
	}
	return strided_copy(a, a->in[0] + base, strides, "slice");
}

/* Pad's geometry: ranks, sizes, the begin amount of each axis, mode and constant. */
typedef struct PadShape
{
	int			rank;
	int			mode;			/* PiPadMode */
	float		value;
	PiDims		in,
				out,
				begin;
} PadShape;

/* The input position that output position o of an axis reads, or -1 for the constant. */
__device__ static int64_t
pad_source(int64_t o, int64_t begin, int64_t size, int mode)
{
	int64_t		i = o - begin;

	if (i >= 0 && i < size)
		return i;
	if (mode == PI_PAD_EDGE)
		return i < 0 ? 0 : size - 1;
	if (mode == PI_PAD_REFLECT)
		return i < 0 ? -i : 2 * (size - 1) - i;	/* amounts are below size */
	return -1;
}

/* One output element per thread: its source element, or the constant. */
__global__ static void
pad_kernel(PadShape p, const float *x, float *y, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		rest = i,
					off = 0,
					stride = 1;
		bool		constant = false;

		for (int d = p.rank - 1; d >= 0; d--)
		{
			int64_t		o = rest % p.out.d[d];
			int64_t		src = d == 0 ? o : pad_source(o, p.begin.d[d], p.in.d[d], p.mode);

			rest /= p.out.d[d];
			if (src < 0)
				constant = true;
			off += src * stride;
			stride *= p.in.d[d];
		}
		y[i] = constant ? p.value : x[off];
	}
}

/* Pad: grows (or crops) every non-batch axis. */
PiStatus
pi_gpu_launch_pad(const PiCudaArgs *a)
{
	const PiAttrs *at = &a->node->attrs;
	PadShape	p = {};
	int64_t		n = 1;

	p.rank = a->in_rank[0];
	p.mode = at->pad_mode;
	p.value = at->pad_value;
	for (int d = 0; d < p.rank; d++)
	{
		p.in.d[d] = a->in_dims[0][d];
		p.out.d[d] = a->out_dims[d];
		p.begin.d[d] = at->pad_amounts[d];
		n *= a->out_dims[d];
	}
	pad_kernel PI_LAUNCH(n, a->stream) (p, a->in[0], a->out, n);
	return pi_gpu_launched(a, "pad");
}

/* Up to 8 Concat inputs with their extent along the axis. */
typedef struct ConcatInputs
{
	const float *data[8];
	int64_t		len[8];
	int			count;
} ConcatInputs;

/* One output element per thread: the input that holds its position along the axis. */
__global__ static void
concat_kernel(ConcatInputs in, float *y, int64_t total_len, int64_t inner, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		e = i % inner;
		int64_t		k = (i / inner) % total_len;
		int64_t		o = i / (inner * total_len);
		int			j = 0;

		while (j < in.count - 1 && k >= in.len[j])
			k -= in.len[j++];
		y[i] = in.data[j][(o * in.len[j] + k) * inner + e];
	}
}

/* Concat along a non-batch axis. */
PiStatus
pi_gpu_launch_concat(const PiCudaArgs *a)
{
	int			axis = a->node->attrs.axis;
	int64_t		outer = 1,
				inner = 1,
				n;
	ConcatInputs in = {};

	for (int i = 0; i < axis; i++)
		outer *= a->out_dims[i];
	for (int i = axis + 1; i < a->out_rank; i++)
		inner *= a->out_dims[i];
	in.count = a->node->ninputs;
	for (int j = 0; j < in.count; j++)
	{
		in.data[j] = a->in[j];
		in.len[j] = a->in_dims[j][axis];
	}
	n = outer * a->out_dims[axis] * inner;
	concat_kernel PI_LAUNCH(n, a->stream) (in, a->out, a->out_dims[axis], inner, n);
	return pi_gpu_launched(a, "concat");
}

/*
 * Embedding form: rows of the weight table x [v, inner] picked by the
 * activation idx; a bad index writes 0 and records its position in the
 * batch (base + its position in this chunk) with its value.
 */
__global__ static void
gather_rows_kernel(const float *x, int64_t v, int64_t inner, const float *idx, float *y,
				   int64_t n, int64_t base, unsigned long long *error)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		pos = i / inner;
		float		f = idx[pos];

		if (!(f == floorf(f)) || f < -(float) v || f >= (float) v)
		{
			atomicMin(error, ((unsigned long long) (base + pos) << 32) | __float_as_uint(f));
			y[i] = 0.0f;
		}
		else
		{
			int64_t		row = (int64_t) f;

			if (row < 0)
				row += v;
			y[i] = x[row * inner + i % inner];
		}
	}
}

/* Constant form: slices of the activation x along axis picked by the weight idx. */
__global__ static void
gather_slices_kernel(const float *x, int64_t len, int64_t inner, const float *idx,
					 int64_t count, float *y, int64_t n)
{
	PI_GRID_LOOP(i, n)
	{
		int64_t		e = i % inner;
		int64_t		j = (i / inner) % count;
		int64_t		o = i / (inner * count);
		int64_t		k = (int64_t) idx[j];

		if (k < 0)
			k += len;
		y[i] = x[(o * len + k) * inner + e];
	}
}

/* Gather in either of its two forms. */
PiStatus
pi_gpu_launch_gather(const PiCudaArgs *a)
{
	int64_t		inner = 1,
				count = 1,
				outer = 1;
	int			axis = a->node->attrs.axis;

	for (int i = 0; i < a->in_rank[1]; i++)
		count *= a->in_dims[1][i];
	if (a->model->values[a->node->inputs[0]].kind == PI_VALUE_WEIGHT)
	{
		for (int i = 1; i < a->in_rank[0]; i++)
			inner *= a->in_dims[0][i];
		/* count / batch indices per row: the chunk's first position in the batch */
		gather_rows_kernel PI_LAUNCH(count * inner, a->stream) (a->in[0], a->in_dims[0][0], inner,
																a->in[1], a->out, count * inner,
																a->row0 * (count / a->batch),
																a->index_error);
		return pi_gpu_launched(a, "gather_rows");
	}
	for (int i = 0; i < axis; i++)
		outer *= a->in_dims[0][i];
	for (int i = axis + 1; i < a->in_rank[0]; i++)
		inner *= a->in_dims[0][i];
	gather_slices_kernel PI_LAUNCH(outer * count * inner, a->stream) (a->in[0], a->in_dims[0][axis],
																	  inner, a->in[1], count, a->out,
																	  outer * count * inner);
	return pi_gpu_launched(a, "gather_slices");
}
