/*
 * kernels_gemm.cu
 *	  The pointer arrays of a batched MatMul over broadcast stack dimensions,
 *	  computed on the device so that a captured graph replays them; and the
 *	  rounding of activations to bf16 or half for a GEMM by 16-bit weights.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels_common.cuh"

/* out[i] = x[i] rounded to bf16 (to nearest even). */
__global__ static void
to_bf16_kernel(const float *x, int64_t count, __nv_bfloat16 *out)
{
	PI_GRID_LOOP(i, count)
		out[i] = __float2bfloat16_rn(x[i]);
}

/* out[i] = x[i] rounded to half (to nearest even). */
__global__ static void
to_half_kernel(const float *x, int64_t count, __half *out)
{
	PI_GRID_LOOP(i, count)
		out[i] = __float2half_rn(x[i]);
}

/* Rounds count floats of x to 16 bits of type into out. */
PiStatus
pi_gpu_launch_to_half(const PiCudaArgs *a, const float *x, int64_t count, void *out,
					  cudaDataType_t type)
{
	if (type == CUDA_R_16BF)
		to_bf16_kernel PI_LAUNCH(count, a->stream) (x, count, (__nv_bfloat16 *) out);
	else
		to_half_kernel PI_LAUNCH(count, a->stream) (x, count, (__half *) out);
	return pi_gpu_launched(a, type == CUDA_R_16BF ? "to_bf16" : "to_half");
}

/* The addresses of matrix mat of A, B and C, from its stack coordinates. */
__global__ static void
matmul_ptrs_kernel(const float *A, const float *B, float *C, PiDims sa, PiDims sb,
				   PiDims out, int lead, int64_t mats, int64_t rows, int64_t cols,
				   int64_t k, const void **ptrs)
{
	PI_GRID_LOOP(mat, mats)
	{
		int64_t		rest = mat,
					oa = 0,
					ob = 0;

		for (int d = lead - 1; d >= 0; d--)
		{
			int64_t		c = rest % out.d[d];

			rest /= out.d[d];
			oa += c * sa.d[d];
			ob += c * sb.d[d];
		}
		ptrs[mat] = A + oa * rows * k;
		ptrs[mats + mat] = B + ob * k * cols;
		ptrs[2 * mats + mat] = C + mat * rows * cols;
	}
}

/* Fills a->gemm_ptrs with mats A, then B, then C matrix addresses. */
PiStatus
pi_gpu_launch_matmul_ptrs(const PiCudaArgs *a, const int64_t *sa, const int64_t *sb,
						   int lead, int64_t mats, int64_t rows, int64_t cols, int64_t k)
{
	PiDims		da = {},
				db = {},
				out = {};

	for (int d = 0; d < lead; d++)
	{
		da.d[d] = sa[d];
		db.d[d] = sb[d];
		out.d[d] = a->out_dims[d];
	}
	matmul_ptrs_kernel PI_LAUNCH(mats, a->stream) (a->in[0], a->in[1], a->out, da, db, out, lead,
												   mats, rows, cols, k, a->gemm_ptrs);
	return pi_gpu_launched(a, "matmul_ptrs");
}
