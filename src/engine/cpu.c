/*
 * cpu.c
 *	  Chooses the CPU engine's inner loops at run time: AVX-512, AVX2 or the
 *	  portable ones, by what the CPU (and the OS, which must save the wider
 *	  registers) supports.  PG_INFER_CPU=generic|avx2|avx512 asks for one
 *	  (the tests run every path so); a request the CPU cannot honour falls
 *	  back to the best path it has, so no instruction it lacks ever runs.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static const PiCpuKernels *chosen;

/* Whether this CPU runs the kernels of an instruction set. */
static bool
cpu_has(const PiCpuKernels *k)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (k == &pi_cpu_kernels_avx512)
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
			__builtin_cpu_supports("fma");
	if (k == &pi_cpu_kernels_avx2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	return k == &pi_cpu_kernels_generic;
}

/* The kernels for this CPU, or the ones PG_INFER_CPU names (cpu.h). */
const PiCpuKernels *
pi_cpu(void)
{
	const PiCpuKernels *best[] = {
#if defined(__x86_64__)
		&pi_cpu_kernels_avx512, &pi_cpu_kernels_avx2,
#endif
		&pi_cpu_kernels_generic
	};
	int			n = sizeof(best) / sizeof(best[0]);
	const char *want;
	int			first = 0;

	if (chosen != NULL)
		return chosen;
	want = getenv("PG_INFER_CPU");
	for (int i = 0; want != NULL && i < n; i++)
		if (strcmp(want, best[i]->name) == 0)
			first = i;
	for (int i = first; i < n && chosen == NULL; i++)
		if (cpu_has(best[i]))
			chosen = best[i];
	return chosen;
}
