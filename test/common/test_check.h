/*
 * test_check.h
 *	  The checks of the standalone test programs: each prints "ok: ..." or
 *	  "FAIL: ..." and is counted; the program ends with "N passed, N failed".
 */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdbool.h>
#include <stdint.h>

extern int	checks_passed;
extern int	checks_failed;

/* Records one check's outcome and prints it. */
void		check(bool ok, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* Prints "N passed, N failed"; returns the exit status (1 after any failure). */
int			check_summary(void);

/* A deterministic pseudo-random float in [-1, 1) from *state (xorshift32, nonzero): test inputs. */
float		test_frand(uint32_t *state);

#endif
