/*
 * kernels_int8.cu
 *	  The kernels around the int8 GEMM of Dense, Gemm and MatMul (int8_plan.h):
 *	  activation rows quantized a warp per row, the dequantizing epilogue,
 *	  and an int8 GEMM of our own (4-byte dot products, __dp4a) for where
 *	  cuBLASLt offers no algorithm.  The arithmetic is int8_math.h's.
 */
#include "int8_math.h"
#include "kernels_common.cuh"

/* The largest of v over the warp, in every thread. */
__device__ static inline uint32_t
warp_max_bits(uint32_t v)
{
	for (int offset = PI_WARP / 2; offset > 0; offset /= 2)
	{
		uint32_t	w = __shfl_xor_sync(0xffffffffu, v, offset);

		v = w > v ? w : v;
	}
	return v;
}

/*
 * Quantizes rows of x (kdim floats each) to codes (kp bytes each, zero
 * past kdim), a warp per row, with the row's scale in xs and zero point in
 * zp; each thread writes 4 codes at a time.
 */
__global__ static void
quantize_rows_kernel(const float *x, int64_t rows, int64_t kdim, int64_t kp, bool dynamic,
					 int8_t *codes, float *xs, int32_t *zp)
{
	PI_WARP_LOOP(r, rows)
	{
		const float *row = x + r * kdim;
		char4	   *out = (char4 *) (codes + r * kp);
		uint32_t	a = 0,
					b = 0;
		PiGpuInt8Row q;

		for (int64_t k = pi_lane(); k < kdim; k += PI_WARP)
		{
			uint32_t	av = dynamic ? pi_gpu_int8_pos_bits(row[k]) : pi_gpu_int8_abs_bits(row[k]);
			uint32_t	bv = dynamic ? pi_gpu_int8_neg_bits(row[k]) : 0;

			a = av > a ? av : a;
			b = bv > b ? bv : b;
		}
		a = warp_max_bits(a);
		b = warp_max_bits(b);
		q = dynamic ? pi_gpu_int8_dynamic_row(a, b) : pi_gpu_int8_symmetric_row(a);
		for (int64_t g = pi_lane(); g < kp / 4; g += PI_WARP)
		{
			int8_t		c[4];

			for (int i = 0; i < 4; i++)
				c[i] = 4 * g + i < kdim ? pi_gpu_int8_code(&q, dynamic, row[4 * g + i]) : 0;
			out[g] = make_char4(c[0], c[1], c[2], c[3]);
		}
		if (pi_lane() == 0)
		{
			xs[r] = q.xs;
			zp[r] = q.zp;
		}
	}
}

/* Quantizes rows of x into the scratch's codes, row scales and zero points. */
PiStatus
pi_gpu_launch_int8_quantize(const PiCudaArgs *a, const float *x, int64_t rows,
							const PiGpuInt8Shape *s, int8_t *codes, float *xs, int32_t *zp)
{
	quantize_rows_kernel PI_WARP_LAUNCH(rows, a->stream) (x, rows, s->kdim, s->kp,
														  s->rows == PI_GPU_INT8_DYNAMIC,
														  codes, xs, zp);
	return pi_gpu_launched(a, "int8_quantize_rows");
}

/* y[r][j] for j < mdim from the int32 sums (rows of mp), as int8_math.h's output. */
__global__ static void
int8_output_kernel(const int32_t *sums, int64_t rows, int64_t mdim, int64_t mp, const float *xs,
				   const int32_t *zp, PiGpuInt8Weights w, float *y)
{
	PI_GRID_LOOP(i, rows * mdim)
	{
		int64_t		r = i / mdim,
					j = i % mdim;

		y[i] = pi_gpu_int8_output(sums[r * mp + j], zp[r], w.colsum[j], xs[r], w.scale[j], w.bias[j]);
	}
}

/* Writes the node's float outputs from the int32 sums. */
PiStatus
pi_gpu_launch_int8_output(const PiCudaArgs *a, const int32_t *sums, int64_t rows,
						  const PiGpuInt8Shape *s, const float *xs, const int32_t *zp, float *y)
{
	PiGpuInt8Weights w = pi_gpu_int8_weights_at(a->int8_weights, s);

	int8_output_kernel PI_LAUNCH(rows * s->mdim, a->stream) (sums, rows, s->mdim, s->mp, xs, zp, w, y);
	return pi_gpu_launched(a, "int8_output");
}

/*
 * sums[r][j] = sum_k codes[r][k] * wcodes[j][k] for j < mp, 4 bytes at a
 * time (rows of kp bytes, a multiple of 4 and 4-byte aligned).
 */
__global__ static void
int8_gemm_kernel(const int8_t *codes, int64_t rows, const int8_t *wcodes, int64_t kp, int64_t mp,
				 int32_t *sums)
{
	PI_GRID_LOOP(i, rows * mp)
	{
		const int  *x = (const int *) (codes + (i / mp) * kp);
		const int  *w = (const int *) (wcodes + (i % mp) * kp);
		int			acc = 0;

		for (int64_t g = 0; g < kp / 4; g++)
			acc = __dp4a(x[g], w[g], acc);
		sums[i] = acc;
	}
}

/* The int32 sums with our own kernel (where cuBLASLt has no algorithm). */
PiStatus
pi_gpu_launch_int8_gemm(const PiCudaArgs *a, const int8_t *codes, int64_t rows,
						const PiGpuInt8Shape *s, int32_t *sums)
{
	PiGpuInt8Weights w = pi_gpu_int8_weights_at(a->int8_weights, s);

	int8_gemm_kernel PI_LAUNCH(rows * s->mp, a->stream) (codes, rows, w.codes, s->kp, s->mp, sums);
	return pi_gpu_launched(a, "int8_gemm");
}
