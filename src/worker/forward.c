/*
 * forward.c
 *	  One forward pass of a loaded model over rows, wherever it runs: in the
 *	  inference worker when worker_routes() says so, else on this backend's
 *	  CPU engine.  Every predict path calls this.
 */
#include "pi_worker.h"

/*
 * Runs rows rows through lm: inputs[i] holds rows rows of input i;
 * outputs[o] receives rows rows of output o, for o < noutputs.
 */
void
model_forward(LoadedModel *lm, const char *name, int64 rows,
			  const float *const *inputs, int noutputs, float *const *outputs)
{
	const PiModel *model = lm->model;
	PiExecutor *ex;
	PiError		err = {0};

	if (worker_routes(lm, name))
	{
		worker_forward(lm, name, rows, inputs, noutputs, outputs);
		return;
	}
	ex = rows == 1 ? lm->row_executor : model_cache_executor(lm, rows);
	for (int i = 0; i < model->ninputs; i++)
	{
		float	   *dst = pi_executor_input(ex, i);

		if (dst != inputs[i])
			memcpy(dst, inputs[i], sizeof(float) * rows * pi_value_row_elems(&model->values[model->inputs[i]]));
	}
	if (pi_executor_run(ex, rows, &err) != PI_OK)
		pg_infer_report(&err, name);
	for (int o = 0; o < noutputs; o++)
		memcpy(outputs[o], pi_executor_output(ex, o),
			   sizeof(float) * rows * pi_value_row_elems(&model->values[model->outputs[o]]));
}
