/*
 * tabular_engine.c
 *	  The engine alone on a tabular model, for test/bench/tabular.py:
 *
 *	    tabular_engine MODEL.onnx INPUT.pb BATCH REPEATS
 *
 *	  Imports the model, runs the rows of INPUT.pb (a TensorProto [N, F])
 *	  through it in forward passes of BATCH rows, REPEATS times over, and
 *	  prints the best pass over all rows in rows per second of the thread's
 *	  CPU time, then the first
 *	  output of the first row (a check against the caller's numbers).  One
 *	  thread, as the engine runs in a backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_onnx.h"
#include "test_files.h"

/* Seconds of CPU time of this thread (the machine may be shared: not wall time). */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	size_t		len,
				input_len;
	uint8_t    *onnx,
			   *input_bytes;
	PiModel    *model = NULL;
	PiExecutor *ex;
	PiOnnxTensor x;
	PiError		err = {0};
	int64_t		batch,
				rows,
				features;
	int			repeats;
	double		best = 1e30;

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s MODEL.onnx INPUT.pb BATCH REPEATS\n", argv[0]);
		return 2;
	}
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	batch = atoll(argv[3]);
	repeats = atoi(argv[4]);
	onnx = (uint8_t *) test_read_file(argv[1], &len);
	input_bytes = (uint8_t *) test_read_file(argv[2], &input_len);
	if (onnx == NULL || input_bytes == NULL ||
		pi_onnx_load(onnx, len, NULL, 0, &model, NULL, &err) != PI_OK ||
		pi_onnx_tensor_load(input_bytes, input_len, &x, &err) != PI_OK ||
		(ex = pi_executor_new(model, batch, &err)) == NULL)
	{
		fprintf(stderr, "%s\n", err.message[0] ? err.message : "cannot read the files");
		return 1;
	}
	rows = x.dims[0];
	features = x.numel / rows;
	for (int r = 0; r < repeats; r++)
	{
		double		start = now();

		for (int64_t at = 0; at < rows; at += batch)
		{
			int64_t		n = rows - at < batch ? rows - at : batch;

			memcpy(pi_executor_input(ex, 0), x.data + at * features, sizeof(float) * n * features);
			if (pi_executor_run(ex, n, &err) != PI_OK)
			{
				fprintf(stderr, "%s\n", err.message);
				return 1;
			}
		}
		if (now() - start < best)
			best = now() - start;
	}
	memcpy(pi_executor_input(ex, 0), x.data, sizeof(float) * features);
	pi_executor_run(ex, 1, &err);
	printf("%.0f %.9g\n", rows / best, pi_executor_output(ex, pi_model_scores_output(model))[0]);
	pi_executor_free(ex);
	pi_model_free(model);
	pi_onnx_tensor_free(&x);
	free(onnx);
	free(input_bytes);
	return 0;
}
