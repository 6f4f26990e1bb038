/*
 * bench_engine.c
 *	  Standalone forward-pass throughput of pg_infer's CPU engine on an ONNX
 *	  file, for test/bench/engine_vs_ort.py: imports the model as the server
 *	  does, fills its inputs with pseudo-random values and times whole runs
 *	  of the executor at each batch size, one thread, on the sequential
 *	  OpenBLAS the test programs link.
 *
 *	  bench_engine [--options JSON] [--length N] [--rows INPUT.pb] [--profile]
 *				   MODEL.onnx SECONDS BATCH...
 *
 * --length imports a text model with a symbolic sequence dimension at N
 * tokens (as the server imports each pass's length) and fills every input
 * with 1 (token id 1, attention mask 1, token type 1) instead of
 * pseudo-random values, so the attention is not masked out.
 * --options applies model options as create_model does (for example
 * {"precision": "int8"}).
 * With --rows, input 0 takes the rows of INPUT.pb (a TensorProto [N, F]) in
 * turn, copied in before each run (the copy counts), instead of the same
 * pseudo-random batch: models whose work depends on the values, as a tree
 * ensemble's paths do, are timed on real data; and the first output value
 * of row 0 is printed ("first_output V") for the caller to check.
 * --profile then runs each batch size for another quarter of SECONDS with
 * the executor's per-node timer on (pi_executor_set_profile) and prints the
 * nodes that took time, slowest first: "node NAME OP ms_per_run T share S%
 * shape CxHxW -> CxHxW" (a row of its first input and of its output), with
 * the nodes fused into its epilogue ("+ Relu + Add").
 *
 * Prints one line per batch size: "batch N rows_per_s R runs K", the best
 * of several timed rounds after a warm-up, in rows per second of the
 * thread's CPU time (so that other work on the machine counts less), and
 * first a line with the instruction set and the node counts before and
 * after fusion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_format.h"
#include "pi_onnx.h"
#include "test_files.h"

#define ROUNDS 5

/* Seconds of CPU time of this thread (the machine may be shared: not wall time). */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Copies the next batch of rows (cycling through them) into input 0; NULL rows: nothing. */
static void
feed_rows(PiExecutor *ex, const PiOnnxTensor *rows, int64_t batch, int64_t *at)
{
	int64_t		features;
	float	   *dst;

	if (rows == NULL)
		return;
	features = rows->numel / rows->dims[0];
	dst = pi_executor_input(ex, 0);
	for (int64_t done = 0; done < batch;)
	{
		int64_t		n = rows->dims[0] - *at < batch - done ? rows->dims[0] - *at : batch - done;

		memcpy(dst + done * features, rows->data + *at * features, sizeof(float) * n * features);
		done += n;
		*at = (*at + n) % rows->dims[0];
	}
}

/* Rows per second of runs at this batch, best of ROUNDS rounds of seconds / ROUNDS each. */
static double
measure(PiExecutor *ex, int64_t batch, const PiOnnxTensor *rows, double seconds, long *runs_out)
{
	PiError		err = {0};
	double		best = 0.0;
	long		total = 0;
	int64_t		at = 0;

	for (int r = 0; r < ROUNDS; r++)
	{
		double		start = now(),
					elapsed;
		long		runs = 0;

		do
		{
			feed_rows(ex, rows, batch, &at);
			if (pi_executor_run(ex, batch, &err) != PI_OK)
			{
				fprintf(stderr, "run: %s\n", err.message);
				exit(1);
			}
			runs++;
		} while ((elapsed = now() - start) < seconds / ROUNDS);
		total += runs;
		if (runs * batch / elapsed > best)
			best = runs * batch / elapsed;
	}
	*runs_out = total;
	return best;
}

/* Reads the rows of a TensorProto [N, F] file into t; false (with a message) if it has none. */
static bool
read_rows(const char *path, PiOnnxTensor *t)
{
	size_t		len;
	uint8_t    *pb = (uint8_t *) test_read_file(path, &len);
	PiError		err = {0};

	if (pb == NULL || pi_onnx_tensor_load(pb, len, t, &err) != PI_OK ||
		t->rank < 1 || t->dims[0] < 1 || t->data == NULL)
	{
		fprintf(stderr, "cannot read rows from %s: %s\n", path,
				err.message[0] ? err.message : "no file, or no rows of numbers");
		free(pb);
		return false;
	}
	free(pb);
	return true;
}

/* Each node's kernel time over runs of batch rows for seconds, printed slowest first. */
static void
profile(PiExecutor *ex, const PiModel *model, int64_t batch, const PiOnnxTensor *rows, double seconds)
{
	double	   *node_seconds = calloc(model->nnodes, sizeof(double));
	int		   *by_time = malloc(sizeof(int) * model->nnodes);
	double		total = 0.0;
	long		runs;

	if (node_seconds == NULL || by_time == NULL)
	{
		fprintf(stderr, "profile: out of memory\n");
		exit(1);
	}
	pi_executor_set_profile(ex, node_seconds);
	measure(ex, batch, rows, seconds, &runs);
	pi_executor_set_profile(ex, NULL);
	for (int i = 0; i < model->nnodes; i++)
	{
		int			j = i;

		total += node_seconds[i];
		while (j > 0 && node_seconds[by_time[j - 1]] < node_seconds[i])
		{
			by_time[j] = by_time[j - 1];
			j--;
		}
		by_time[j] = i;
	}
	for (int k = 0; k < model->nnodes && node_seconds[by_time[k]] > 0.0; k++)
	{
		const PiNode *n = &model->nodes[by_time[k]];

		const PiValue *in = &model->values[n->inputs[0]];
		const PiValue *out = &model->values[n->output];

		printf("node %s %s ms_per_run %.4f share %.1f%% shape", n->name, pi_op_name(n->op),
			   1e3 * node_seconds[by_time[k]] / runs, 100.0 * node_seconds[by_time[k]] / total);
		for (int d = 1; d < in->rank; d++)
			printf("%s%lld", d == 1 ? " " : "x", (long long) in->dims[d]);
		printf(" ->");
		for (int d = 1; d < out->rank; d++)
			printf("%s%lld", d == 1 ? " " : "x", (long long) out->dims[d]);
		for (int f = 0; f < model->nnodes; f++)
			if (model->nodes[f].fused_into == by_time[k])
				printf(" + %s", pi_op_name(model->nodes[f].op));
		printf("\n");
	}
	free(by_time);
	free(node_seconds);
}

int
main(int argc, char **argv)
{
	size_t		len;
	uint8_t    *bytes;
	PiModel    *model;
	PiOnnxInfo	info;
	PiError		err = {0};
	double		seconds;
	unsigned	seed = 12345;
	PiOnnxTensor rows_tensor;
	const PiOnnxTensor *rows = NULL;
	const char *options = "{}";
	int64_t		length = 0;
	bool		profiled = false;

	while (argc > 1 && strncmp(argv[1], "--", 2) == 0)
	{
		const char *flag = argv[1];
		const char *value = argc > 2 ? argv[2] : NULL;

		if (strcmp(flag, "--profile") == 0)
		{
			profiled = true;
			argv++;
			argc--;
			continue;
		}
		if (value == NULL)
			break;
		if (strcmp(flag, "--options") == 0)
			options = value;
		else if (strcmp(flag, "--length") == 0)
			length = atoll(value);
		else if (strcmp(flag, "--rows") == 0)
		{
			if (!read_rows(value, &rows_tensor))
				return 1;
			rows = &rows_tensor;
		}
		else
			break;
		argv += 2;
		argc -= 2;
	}
	if (argc < 4 || strncmp(argv[1], "--", 2) == 0)
	{
		fprintf(stderr, "usage: bench_engine [--options JSON] [--length N] [--rows INPUT.pb] [--profile] "
				"MODEL.onnx SECONDS BATCH...\n");
		return 2;
	}
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	if ((bytes = (uint8_t *) test_read_file(argv[1], &len)) == NULL ||
		pi_onnx_load_at_length(bytes, len, NULL, 0, NULL, length, &model, &info, &err) != PI_OK ||
		pi_model_own_weights(model, &err) != PI_OK)
	{
		fprintf(stderr, "cannot import %s: %s\n", argv[1], err.message);
		return 1;
	}
	if (pi_model_apply_options(model, options, strlen(options), &err) != PI_OK)
	{
		fprintf(stderr, "options %s: %s\n", options, err.message);
		return 1;
	}
	if (rows != NULL && rows->numel / rows->dims[0] != pi_value_row_elems(&model->values[model->inputs[0]]))
	{
		fprintf(stderr, "the rows have %lld values each, the model's input 0 takes %lld\n",
				(long long) (rows->numel / rows->dims[0]),
				(long long) pi_value_row_elems(&model->values[model->inputs[0]]));
		return 1;
	}
	seconds = atof(argv[2]);
	printf("cpu %s nodes %d fused %d precision %s (int8 kernels %s)\n", pi_engine_cpu_name(), model->norder,
		   model->norder_fused, pi_precision_name(model->precision), pi_engine_int8_name());
	for (int i = 3; i < argc; i++)
	{
		int64_t		batch = atoll(argv[i]);
		PiExecutor *ex = pi_executor_new(model, batch, &err);
		long		runs;
		double		rate;

		if (ex == NULL)
		{
			fprintf(stderr, "executor: %s\n", err.message);
			return 1;
		}
		for (int in = 0; in < model->ninputs; in++)
		{
			float	   *x = pi_executor_input(ex, in);
			int64_t		n = batch * pi_value_row_elems(&model->values[model->inputs[in]]);

			for (int64_t j = 0; j < n; j++)
			{
				seed = seed * 1103515245u + 12345u;
				x[j] = length > 0 ? 1.0f : (float) ((seed >> 8) & 0xffff) / 65536.0f;
			}
		}
		measure(ex, batch, rows, seconds / 4, &runs);	/* warm-up */
		rate = measure(ex, batch, rows, seconds, &runs);
		printf("batch %lld rows_per_s %.1f runs %ld\n", (long long) batch, rate, runs);
		if (profiled)
			profile(ex, model, batch, rows, seconds / 4);
		if (rows != NULL && i == argc - 1)
		{
			memcpy(pi_executor_input(ex, 0), rows->data, sizeof(float) * (rows->numel / rows->dims[0]));
			if (pi_executor_run(ex, 1, &err) != PI_OK)
			{
				fprintf(stderr, "run: %s\n", err.message);
				return 1;
			}
			printf("first_output %.9g\n", pi_executor_output(ex, pi_model_scores_output(model))[0]);
		}
		fflush(stdout);
		pi_executor_free(ex);
	}
	pi_model_free(model);
	free(bytes);
	if (rows != NULL)
		pi_onnx_tensor_free(&rows_tensor);
	return 0;
}
