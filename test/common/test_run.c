/*
 * test_run.c
 *	  Running rows through a model in the engine's own test programs.
 */
#include <string.h>

#include "test_check.h"
#include "test_run.h"

/* Runs rows of x through a one-input model, fused or not, into y; false with a failed check when it cannot. */
bool
test_run_rows(const PiModel *m, const float *x, int64_t rows, bool fused, float *y)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, rows, &err);
	bool		ok;

	if (ex == NULL)
	{
		check(false, "executor: %s", err.message);
		return false;
	}
	pi_executor_set_fusion(ex, fused);
	memcpy(pi_executor_input(ex, 0), x, sizeof(float) * rows * pi_value_row_elems(&m->values[m->inputs[0]]));
	ok = pi_executor_run(ex, rows, &err) == PI_OK;
	if (ok)
		memcpy(y, pi_executor_output(ex, 0), sizeof(float) * rows * pi_value_row_elems(&m->values[m->outputs[0]]));
	else
		check(false, "run: %s", err.message);
	pi_executor_free(ex);
	return ok;
}
