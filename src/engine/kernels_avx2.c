/*
 * kernels_avx2.c
 *	  The CPU engine's inner loops for AVX2 with FMA.
 *	  Built on x86-64 only; cpu.c runs it only where the CPU has it.
 */
#if defined(__x86_64__)
#define PI_SIMD_AVX2
#define PI_CPU_TABLE pi_cpu_kernels_avx2
#define PI_CPU_NAME "avx2"

#include "kernels_template.h"
#endif
