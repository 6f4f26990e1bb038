/*
 * test_run.h
 *	  Running rows through a model in the engine's own test programs.
 */
#ifndef TEST_RUN_H
#define TEST_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "pi_engine.h"

/*
 * Runs rows of x through a one-input model, with fusion on or off, into y
 * (output 0's rows); false, with a failed check, when it cannot.
 */
bool		test_run_rows(const PiModel *m, const float *x, int64_t rows, bool fused, float *y);

#endif							/* TEST_RUN_H */
