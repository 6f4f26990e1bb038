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

#endif							/* PI_KERNELS_COMMON_CUH */
