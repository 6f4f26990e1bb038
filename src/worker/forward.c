/*
 * forward.c
 *	  One forward pass of a loaded model over rows, wherever it runs: in the
 *	  inference worker when worker_routes() says so, else (or for the rows
 *	  the worker handed back) on this backend's CPU engine.  Every predict
 *	  path calls this.
 */
#include "pi_worker.h"

/*
 * Runs rows rows through lm: inputs[i] holds rows rows of input i;
 * outputs[o] receives rows rows of output o, for o < noutputs.  On this
 * backend's engine, in chunks of as many rows as pg_infer.work_mem allows.
 */
void
model_forward(LoadedModel *lm, const char *name, int64 rows,
			  const float *const *inputs, int noutputs, float *const *outputs)
{
	const PiModel *model = lm->model;
	int64		done = 0;
	int64		chunk;
	PiError		err = {0};

	if (worker_routes(lm, name))
		done = worker_forward(lm, name, rows, inputs, noutputs, outputs);
	if (done == rows)
		return;
	chunk = Min(rows - done, executors_rows_per_pass(lm, name));
	for (int64 first = done; first < rows; first += chunk)
	{
		int64		n = Min(chunk, rows - first);
		PiExecutor *ex = executors_get(lm, name, n);

		for (int i = 0; i < model->ninputs; i++)
		{
			int64		row_elems = pi_value_row_elems(&model->values[model->inputs[i]]);

			memcpy(pi_executor_input(ex, i), inputs[i] + first * row_elems, sizeof(float) * n * row_elems);
		}
		if (pi_executor_run(ex, n, &err) != PI_OK)
			pg_infer_report(&err, name);
		for (int o = 0; o < noutputs; o++)
		{
			int64		row_elems = pi_value_row_elems(&model->values[model->outputs[o]]);

			memcpy(outputs[o] + first * row_elems, pi_executor_output(ex, o),
				   sizeof(float) * n * row_elems);
		}
	}
}
