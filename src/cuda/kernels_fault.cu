/*
 * kernels_fault.cu
 *	  The fault PG_INFER_CUDA_FAULT=cudaErrorIllegalAddress causes for real
 *	  (src/cuda/cuda_faults.h): a store through an address no allocation
 *	  holds, which leaves the context with a sticky error.
 */
#include "cuda_internal.h"

/* Stores through p. */
__global__ static void
illegal_store_kernel(volatile int *p)
{
	*p = 1;
}

/* A kernel that stores through an invalid address (PG_INFER_CUDA_FAULT). */
void
pi_gpu_launch_illegal_store(cudaStream_t stream)
{
	illegal_store_kernel<<<1, 1, 0, stream>>>((volatile int *) 8);
}
