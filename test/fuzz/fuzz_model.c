/*
 * fuzz_model.c
 *	  Fuzz target for the model-file parsers and the engine: one input is a
 *	  graph JSON, an options JSON and a safetensors weights file, laid out as
 *
 *	    [4 bytes: graph length G, little-endian]
 *	    [4 bytes: options length O, little-endian]
 *	    [G bytes: graph JSON] [O bytes: options JSON] [the rest: safetensors]
 *
 *	  (G and O are clamped to what is there).  A model that loads also gets
 *	  its options, then runs twice over a batch of 2 rows (the outputs must
 *	  agree bit for bit) and once over the first row alone (which must give
 *	  row 0's outputs again, bit for bit, unless BLAS computed them).  Any
 *	  crash, sanitizer report or disagreement is a bug.
 *
 *	  Built with driver.c (gcc, -fsanitize=address,undefined) or alone with
 *	  clang -fsanitize=fuzzer,address,undefined (make fuzz-libfuzzer).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_model.h"
#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_format.h"

/* Work limits: the engine has none of its own, a fuzzer must not hang. */
#define FUZZ_MAX_ROW_FLOATS (4 * 1024 * 1024)	/* planned buffers + scratch */
#define FUZZ_MAX_ROW_FLOPS (64 * 1024 * 1024)	/* estimated work per row */

PiFuzzStats pi_fuzz_stats;

/* Reports a failed check of the target and aborts (the driver saves the input). */
void
pi_fuzz_fail(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "fuzz_model: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

/* Reads a little-endian uint32. */
static uint32_t
read_le32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) |
		((uint32_t) p[3] << 24);
}

/* Splits an input into its three parts; false if it is too short. */
bool
pi_fuzz_split(const uint8_t *data, size_t size, PiFuzzParts *parts)
{
	size_t		rest;

	if (size < 8)
		return false;
	rest = size - 8;
	parts->graph = data + 8;
	parts->graph_len = read_le32(data);
	if (parts->graph_len > rest)
		parts->graph_len = rest;
	rest -= parts->graph_len;
	parts->options = parts->graph + parts->graph_len;
	parts->options_len = read_le32(data + 4);
	if (parts->options_len > rest)
		parts->options_len = rest;
	rest -= parts->options_len;
	parts->weights = parts->options + parts->options_len;
	parts->weights_len = rest;
	return true;
}

/* Saturating a * b for the work estimate. */
static int64_t
sat_mul(int64_t a, int64_t b)
{
	int64_t		r;

	if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
		return INT64_MAX;
	return r;
}

/* Saturating a + b. */
static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t		r;

	if (__builtin_add_overflow(a, b, &r))
		return INT64_MAX;
	return r;
}

/* A rough per-row cost of a node, in multiply-adds. */
static int64_t
node_cost(const PiModel *m, const PiNode *n)
{
	const PiValue *out = &m->values[n->output];
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		per = 1;

	switch (n->op)
	{
		case PI_OP_DENSE:
		case PI_OP_GEMM:
		case PI_OP_MATMUL:
			per = x->rank > 0 ? x->dims[x->rank - 1] : 1;
			break;
		case PI_OP_CONV2D:
			per = sat_mul(sat_mul(x->dims[1] / (n->attrs.group > 0 ? n->attrs.group : 1),
								  n->attrs.kernel[0]), n->attrs.kernel[1]);
			break;
		case PI_OP_CONV_TRANSPOSE:
			/* every input element meets every output channel's kernel */
			return sat_add(sat_mul(sat_mul(x->numel, out->dims[1] / (n->attrs.group > 0 ? n->attrs.group : 1)),
								   sat_mul(n->attrs.kernel[0], n->attrs.kernel[1])), out->numel);
		case PI_OP_MAX_POOL2D:
		case PI_OP_AVERAGE_POOL2D:
			per = sat_mul(n->attrs.kernel[0], n->attrs.kernel[1]);
			break;
		case PI_OP_GLOBAL_AVERAGE_POOL:
			per = x->numel / (x->dims[1] > 0 ? x->dims[1] : 1);
			break;
		case PI_OP_TOPK:
			/* each of k outputs per slice costs len / k heap steps of about 8 */
			per = 8 * (x->dims[n->attrs.axis] / (n->attrs.k > 0 ? n->attrs.k : 1) + 1);
			break;
		case PI_OP_SOFTMAX:
		case PI_OP_LOG_SOFTMAX:
		case PI_OP_ARGMAX:
			per = 4;
			break;
		default:
			break;
	}
	return sat_add(sat_mul(out->numel, per), x->numel);
}

/* Whether running the model stays within the fuzzer's work limits. */
static bool
within_limits(const PiModel *m)
{
	int64_t		floats = m->scratch_row_elems;
	int64_t		flops = 0;

	for (int b = 0; b < m->nbuffers; b++)
		floats = sat_add(floats, m->buffer_row_elems[b]);
	for (int i = 0; i < m->norder; i++)
		flops = sat_add(flops, node_cost(m, &m->nodes[m->order[i]]));
	return floats <= FUZZ_MAX_ROW_FLOATS && flops <= FUZZ_MAX_ROW_FLOPS;
}

/* Writes deterministic input rows derived from seed (some special values). */
static void
fill_inputs(PiExecutor *ex, const PiModel *m, int64_t batch, uint64_t seed)
{
	static const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e30f, -1e30f,
		1e-40f, 65504.0f, 3.0e38f};

	for (int i = 0; i < m->ninputs; i++)
	{
		float	   *x = pi_executor_input(ex, i);
		int64_t		count = batch * pi_value_row_elems(&m->values[m->inputs[i]]);
		uint64_t	s = seed + 0x9e3779b97f4a7c15ull * (uint64_t) (i + 1);

		for (int64_t k = 0; k < count; k++)
		{
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			if ((s >> 56) < 6)
				x[k] = specials[(s >> 8) % (sizeof(specials) / sizeof(specials[0]))];
			else
				x[k] = (float) ((int64_t) ((s >> 11) % 16001) - 8000) / 1000.0f;
		}
	}
}

/* Copies the outputs of the last run (batch rows each) into one array. */
static float *
collect_outputs(const PiExecutor *ex, const PiModel *m, int64_t batch, size_t *count)
{
	size_t		total = 0,
				at = 0;
	float	   *all;

	for (int o = 0; o < m->noutputs; o++)
		total += (size_t) (batch * pi_value_row_elems(&m->values[m->outputs[o]]));
	all = malloc(sizeof(float) * (total > 0 ? total : 1));
	if (all == NULL)
		return NULL;
	for (int o = 0; o < m->noutputs; o++)
	{
		size_t		n = (size_t) (batch * pi_value_row_elems(&m->values[m->outputs[o]]));

		memcpy(all + at, pi_executor_output(ex, o), sizeof(float) * n);
		at += n;
	}
	*count = total;
	return all;
}

/*
 * Whether the model runs a BLAS kernel: those may sum in another order for
 * another batch size; every other kernel computes a row the same way.
 */
static bool
uses_blas(const PiModel *m)
{
	for (int i = 0; i < m->norder; i++)
	{
		PiOp		op = m->nodes[m->order[i]].op;

		if (op == PI_OP_DENSE || op == PI_OP_GEMM || op == PI_OP_MATMUL || op == PI_OP_CONV2D ||
			op == PI_OP_CONV_TRANSPOSE)
			return true;
	}
	return false;
}

/*
 * Runs a loaded model: batch 2 twice (bitwise equal), then its first row
 * alone (bitwise equal to row 0 where no BLAS kernel runs).
 */
static void
exercise(PiModel *m, const uint8_t *data, size_t size)
{
	PiError		err = {0};
	PiExecutor *ex;
	uint64_t	seed = 14695981039346656037ull;
	float	   *first = NULL,
			   *second = NULL;
	size_t		n1 = 0,
				n2 = 0;

	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 1099511628211ull;
	if (!within_limits(m))
	{
		pi_fuzz_stats.skipped++;
		return;
	}
	ex = pi_executor_new(m, 2, &err);
	if (ex == NULL)
		return;
	if (pi_executor_max_batch(ex) != 2)
		pi_fuzz_fail("executor max batch is not 2");
	fill_inputs(ex, m, 2, seed);
	if (pi_executor_run(ex, 2, &err) != PI_OK)
	{
		PiError		again = {0};

		/* the one run-time failure: a Gather index out of range, every time */
		if (err.status != PI_ERR_INVALID || strstr(err.message, "(Gather) index") == NULL)
			pi_fuzz_fail("run of batch 2 failed: %s", err.message);
		fill_inputs(ex, m, 2, seed);
		if (pi_executor_run(ex, 2, &again) != err.status || strcmp(again.message, err.message) != 0)
			pi_fuzz_fail("a failed run failed differently the second time: %s", again.message);
		pi_fuzz_stats.executed++;
		pi_executor_free(ex);
		return;
	}
	first = collect_outputs(ex, m, 2, &n1);
	fill_inputs(ex, m, 2, seed);
	if (pi_executor_run(ex, 2, &err) != PI_OK)
		pi_fuzz_fail("second run of batch 2 failed: %s", err.message);
	second = collect_outputs(ex, m, 2, &n2);
	if (first != NULL && second != NULL &&
		(n1 != n2 || memcmp(first, second, sizeof(float) * n1) != 0))
		pi_fuzz_fail("two runs over the same rows gave different outputs");
	/* the first row alone: the same values as row 0 of the batch of 2 */
	fill_inputs(ex, m, 1, seed);
	if (pi_executor_run(ex, 1, &err) != PI_OK)
		pi_fuzz_fail("run of batch 1 failed: %s", err.message);
	free(first);
	first = collect_outputs(ex, m, 1, &n1);
	if (first != NULL && second != NULL && !uses_blas(m))
	{
		size_t		at1 = 0,
					at2 = 0;

		for (int o = 0; o < m->noutputs; o++)
		{
			size_t		row = (size_t) pi_value_row_elems(&m->values[m->outputs[o]]);

			if (memcmp(first + at1, second + at2, sizeof(float) * row) != 0)
				pi_fuzz_fail("output \"%s\" of a row differs between batches of 1 and 2",
							 m->values[m->outputs[o]].name);
			at1 += row;
			at2 += 2 * row;
		}
	}
	if (pi_executor_run(ex, 3, &err) != PI_ERR_LIMIT)
		pi_fuzz_fail("batch 3 accepted by an executor for 2 rows");
	pi_fuzz_stats.executed++;
	free(first);
	free(second);
	pi_executor_free(ex);
}

/* The fuzz target: load, apply options, run, free. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PiFuzzParts p;
	PiModel    *m = NULL;
	PiError		err = {0};
	PiStatus	st;

	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	pi_fuzz_stats.inputs++;
	if (!pi_fuzz_split(data, size, &p))
		return 0;
	st = pi_model_load((const char *) p.graph, p.graph_len, p.weights, p.weights_len, &m, &err);
	if (st != PI_OK)
	{
		if (m != NULL)
			pi_fuzz_fail("failed load (status %d) returned a model", st);
		if (err.status != st || memchr(err.message, '\0', sizeof(err.message)) == NULL ||
			err.message[0] == '\0')
			pi_fuzz_fail("failed load (status %d) left no error message", st);
		return 0;
	}
	if (m == NULL || !m->finalized)
		pi_fuzz_fail("load succeeded without a finalized model");
	pi_fuzz_stats.accepted++;
	if (p.options_len > 0)
	{
		/* twice when they apply: the second replaces the first */
		err.status = PI_OK;
		err.message[0] = '\0';
		st = pi_model_apply_options(m, (const char *) p.options, p.options_len, &err);
		if (st == PI_OK)
		{
			pi_fuzz_stats.options++;
			st = pi_model_apply_options(m, (const char *) p.options, p.options_len, &err);
			if (st != PI_OK)
				pi_fuzz_fail("options applied once but not twice: %s", err.message);
		}
		else if (err.status != st || err.message[0] == '\0')
			pi_fuzz_fail("failed options (status %d) left no error message", st);
	}
	exercise(m, data, size);
	pi_model_free(m);
	return 0;
}
