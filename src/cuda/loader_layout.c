/*
 * loader_layout.c
 *	  Checks that pg_infer_cuda.so was built with the same pi_ir.h as the
 *	  program that loads it: the PI_CUDA_LAYOUT values (sizeof and offsetof
 *	  of the structs the library reads, op and status numbering) it reports
 *	  against this build's (include/pi_cuda_loader.h).
 */
#include <stdio.h>

#include "pi_cuda.h"
#include "pi_cuda_loader.h"

/* One entry of PI_CUDA_LAYOUT: its text and its value in this build. */
typedef struct LayoutEntry
{
	const char *what;
	int64_t		value;
} LayoutEntry;

#define PI_LAYOUT_ENTRY(expr) {#expr, (int64_t) (expr)},

static const LayoutEntry layout[] = {PI_CUDA_LAYOUT(PI_LAYOUT_ENTRY)};

#define LAYOUT_COUNT ((int) (sizeof(layout) / sizeof(layout[0])))

/*
 * Compares the PI_CUDA_LAYOUT values that library reports through its
 * pi_cuda_abi_layout (passed as layout_fn) with this build's; PI_ERR_DEVICE
 * naming the first one that differs.
 */
PiStatus
pi_cuda_loader_check_layout(int (*layout_fn) (int64_t *values, int max),
							const char *library, PiError *err)
{
	int64_t		values[LAYOUT_COUNT];
	int			n = layout_fn(values, LAYOUT_COUNT);

	if (n != LAYOUT_COUNT)
		return pi_fail(err, PI_ERR_DEVICE, "%s reports %d layout values, this build has %d: it was built from another pi_ir.h",
					   library, n, LAYOUT_COUNT);
	for (int i = 0; i < LAYOUT_COUNT; i++)
		if (values[i] != layout[i].value)
			return pi_fail(err, PI_ERR_DEVICE, "%s was built from another pi_ir.h: %s is %lld there, %lld here",
						   library, layout[i].what, (long long) values[i], (long long) layout[i].value);
	return PI_OK;
}
