/*
 * abi.c
 *	  What pg_infer_cuda.so tells its loader about the build it comes from:
 *	  the ABI version of include/pi_cuda.h.  Plain C: also built into the
 *	  CPU stand-in of the library (test/executor/fake_cuda.c).
 */
#include "pi_cuda.h"

/* The PI_CUDA_ABI_VERSION this library was built with. */
int
pi_cuda_abi_version(void)
{
	return PI_CUDA_ABI_VERSION;
}
