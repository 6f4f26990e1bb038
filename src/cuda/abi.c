/*
 * abi.c
 *	  What pg_infer_cuda.so tells its loader about the build it comes from:
 *	  the ABI version of include/pi_cuda.h and the layout of the pi_ir.h
 *	  structs it reads.  Plain C: also built into the CPU stand-in of the
 *	  library (test/executor/fake_cuda.c).
 */
#include "pi_cuda.h"

/* One entry of PI_CUDA_LAYOUT: its value in this build. */
#define PI_LAYOUT_VALUE(expr) (int64_t) (expr),

/* The PI_CUDA_ABI_VERSION this library was built with. */
int
pi_cuda_abi_version(void)
{
	return PI_CUDA_ABI_VERSION;
}

/*
 * The values of PI_CUDA_LAYOUT in this library's build, in order: the
 * first max of them into values; returns how many there are.
 */
int
pi_cuda_abi_layout(int64_t *values, int max)
{
	static const int64_t layout[] = {PI_CUDA_LAYOUT(PI_LAYOUT_VALUE)};
	int			n = (int) (sizeof(layout) / sizeof(layout[0]));

	for (int i = 0; i < n && i < max; i++)
		values[i] = layout[i];
	return n;
}
