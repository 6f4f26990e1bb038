/*
 * kernels_avx512.c
 *	  The CPU engine's inner loops for AVX-512 (AVX512F with AVX2 and FMA).
 *	  Built on x86-64 only; cpu.c runs it only where the CPU has it.
 */
#if defined(__x86_64__)
#define PI_SIMD_AVX512
#define PI_CPU_TABLE pi_cpu_kernels_avx512
#define PI_CPU_NAME "avx512"

#include "kernels_template.h"
#endif
