/*
 * kernels_common.cuh
 *	  What the kernel files share: the grid-stride loop and a dims record
 *	  passed to kernels by value.
 */
#ifndef PI_KERNELS_COMMON_CUH
#define PI_KERNELS_COMMON_CUH

#include "cuda_internal.h"

/* Every index of [0, n) once, over the whole grid. */
#define PI_GRID_LOOP(i, n) \
	for (int64_t i = blockIdx.x * (int64_t) blockDim.x + threadIdx.x; i < (n); \
		 i += (int64_t) blockDim.x * gridDim.x)

/* Up to PI_MAX_RANK sizes or strides, by value. */
typedef struct PiDims
{
	int64_t		d[PI_MAX_RANK];
} PiDims;

/* Launch geometry of a grid-stride kernel over n elements. */
#define PI_LAUNCH(n, stream) <<<pi_gpu_blocks(n), PI_CUDA_THREADS, 0, (stream)>>>

/*
 * Row kernels give each row (slice, plane) a warp: its 32 threads read the
 * row's consecutive elements together (coalesced), and fold their partial
 * results with shuffles.  PI_CUDA_THREADS is a multiple of the warp size,
 * so every warp of the grid is whole and all its threads agree on i.
 */
#define PI_WARP 32

/* Every index of [0, n) once per warp of the grid. */
#define PI_WARP_LOOP(i, n) \
	for (int64_t i = (blockIdx.x * (int64_t) blockDim.x + threadIdx.x) / PI_WARP; i < (n); \
		 i += (int64_t) blockDim.x * gridDim.x / PI_WARP)

/* Launch geometry of a row kernel over n rows (a warp each). */
#define PI_WARP_LAUNCH(n, stream) PI_LAUNCH((n) * PI_WARP, stream)

/* This thread's place in its warp. */
__device__ static inline int
pi_lane(void)
{
	return threadIdx.x % PI_WARP;
}

/* The sum of v over the warp, in every thread. */
__device__ static inline double
pi_warp_sum(double v)
{
	for (int offset = PI_WARP / 2; offset > 0; offset /= 2)
		v += __shfl_xor_sync(0xffffffffu, v, offset);
	return v;
}

/* The largest v over the warp (NaN never wins), in every thread. */
__device__ static inline float
pi_warp_max(float v)
{
	for (int offset = PI_WARP / 2; offset > 0; offset /= 2)
	{
		float		w = __shfl_xor_sync(0xffffffffu, v, offset);

		v = w > v ? w : v;
	}
	return v;
}

#endif							/* PI_KERNELS_COMMON_CUH */
