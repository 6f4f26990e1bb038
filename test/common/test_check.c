/*
 * test_check.c
 *	  Counted, printed checks for the standalone test programs, and their
 *	  pseudo-random inputs.
 */
#include "test_check.h"

#include <stdarg.h>
#include <stdio.h>

int			checks_passed;
int			checks_failed;

/* Records one check's outcome and prints it. */
void
check(bool ok, const char *fmt,...)
{
	va_list		ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		checks_passed++;
	else
		checks_failed++;
}

/* Prints "N passed, N failed"; returns the exit status (1 after any failure). */
int
check_summary(void)
{
	printf("%d passed, %d failed\n", checks_passed, checks_failed);
	return checks_failed == 0 ? 0 : 1;
}

/* A deterministic pseudo-random float in [-1, 1) from *state (xorshift32, nonzero): test inputs. */
float
test_frand(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return (float) (*state / 4294967296.0 * 2.0 - 1.0);
}
