/*
 * kernels_generic.c
 *	  The CPU engine's inner loops for any CPU: GCC's portable vector
 *	  extensions, built for the baseline instruction set.
 */
#define PI_CPU_TABLE pi_cpu_kernels_generic
#define PI_CPU_NAME "generic"

#include "kernels_template.h"
