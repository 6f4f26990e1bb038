/*
 * fuzz_onnx.c
 *	  Fuzz target for the ONNX importer (pi_onnx_load, and in place from a
 *	  writable copy, pi_onnx_load_in_place) and the TensorProto decoder
 *	  (pi_onnx_tensor_load).  One input is
 *
 *	    [4 bytes: external data length E, little-endian]
 *	    [E bytes: the external data file] [the rest: the ONNX model]
 *
 *	  (E is clamped to what is there).  A model that loads runs twice over a
 *	  batch of 2 rows, whose outputs must agree bit for bit, when its work is
 *	  within the limits below.  Any crash, sanitizer report or disagreement
 *	  is a bug.
 *
 *	  Built with driver_onnx.c (gcc, -fsanitize=address,undefined) or alone
 *	  with clang -fsanitize=fuzzer,address,undefined (make fuzz-libfuzzer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_onnx.h"
#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_onnx.h"

/* Work limits: the engine has none of its own, a fuzzer must not hang. */
#define FUZZ_MAX_ROW_FLOATS (1024 * 1024)	/* planned buffers + scratch */
#define FUZZ_MAX_ROW_WORK (32 * 1024 * 1024)	/* estimated work per row */

PiOnnxFuzzStats pi_onnx_fuzz_stats;

/* Reports a failed check of the target and aborts (the driver saves the input). */
static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_onnx: %s\n", what);
	abort();
}

/* Multiplies, saturating at INT64_MAX. */
static int64_t
sat_mul(int64_t a, int64_t b)
{
	int64_t		r;

	return pi_mul_size(a, b, &r) ? r : INT64_MAX;
}

/*
 * Whether running the model stays within the limits: planned floats per
 * row, and a bound on the work per row (each node: its output size times
 * the largest weight it reads, an over-estimate for every kernel).
 */
static bool
within_limits(const PiModel *m)
{
	int64_t		floats = m->scratch_row_elems;
	int64_t		work = 0;

	for (int b = 0; b < m->nbuffers; b++)
		floats += m->buffer_row_elems[b];
	if (floats > FUZZ_MAX_ROW_FLOATS)
		return false;
	for (int pos = 0; pos < m->norder; pos++)
	{
		const PiNode *n = &m->nodes[m->order[pos]];
		int64_t		widest = 1;

		for (int j = 0; j < n->ninputs; j++)
		{
			const PiValue *v = &m->values[n->inputs[j]];

			if (v->numel > widest)
				widest = v->numel;
		}
		work = sat_mul(m->values[n->output].numel + 1, widest);
		if (work > FUZZ_MAX_ROW_WORK)
			return false;
	}
	return true;
}

/* Runs the model over 2 rows of fixed inputs; the outputs, or NULL. */
static float *
run_twice_checked(const PiModel *m)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, 2, &err);
	float	   *first = NULL;
	size_t		count = 0;

	if (ex == NULL)
		return NULL;
	for (int k = 0; k < m->noutputs; k++)
		count += (size_t) pi_value_row_elems(&m->values[m->outputs[k]]) * 2;
	first = malloc(sizeof(float) * (count + 1));
	for (int round = 0; round < 2 && first != NULL; round++)
	{
		size_t		at = 0;

		for (int i = 0; i < m->ninputs; i++)
		{
			float	   *in = pi_executor_input(ex, i);
			int64_t		n = pi_value_row_elems(&m->values[m->inputs[i]]) * 2;

			for (int64_t j = 0; j < n; j++)
				in[j] = (float) ((j * 37 + i * 11) % 17) / 4.0f - 2.0f;
		}
		if (pi_executor_run(ex, 2, &err) != PI_OK)
			break;				/* e.g. a Gather index out of range: an error, not a bug */
		for (int k = 0; k < m->noutputs; k++)
		{
			size_t		n = (size_t) pi_value_row_elems(&m->values[m->outputs[k]]) * 2;
			const float *out = pi_executor_output(ex, k);

			if (round == 0)
				memcpy(first + at, out, sizeof(float) * n);
			else if (memcmp(first + at, out, sizeof(float) * n) != 0)
				fuzz_fail("two runs of the same batch disagree");
			at += n;
		}
	}
	pi_executor_free(ex);
	return first;
}

/*
 * Imports the model again in place from a writable copy, as the server
 * does: the import must succeed exactly when pi_onnx_load did, its model
 * (whose weights point into the copy) runs, and undoing the import's moves
 * must give the file back byte for byte.
 */
static void
check_in_place(const uint8_t *onnx, size_t len, const uint8_t *external, size_t external_len,
			   bool loaded)
{
	uint8_t    *copy = malloc(len > 0 ? len : 1);
	PiOnnxMoves moves = {0};
	PiModel    *m = NULL;
	PiError		err = {0};
	PiStatus	st;

	if (copy == NULL)
		fuzz_fail("out of memory");
	memcpy(copy, onnx, len);
	st = pi_onnx_load_in_place(copy, len, external, external_len, &moves, &m, NULL, &err);
	if ((st == PI_OK) != loaded)
		fuzz_fail("an in-place import and a copying one disagree");
	if (m != NULL && within_limits(m))
		free(run_twice_checked(m));
	pi_model_free(m);
	pi_onnx_moves_undo(copy, &moves);
	if (memcmp(copy, onnx, len) != 0)
		fuzz_fail("undoing an in-place import's moves did not restore the file");
	free(copy);
}

/* The fuzz target (libFuzzer's entry point). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t	ext_len;
	PiModel    *m = NULL;
	PiOnnxInfo	info;
	PiError		err = {0};
	PiOnnxTensor tensor;

	if (pi_blas.sgemm == NULL)
	{
		pi_blas.sgemm = cblas_sgemm;
		pi_blas.sgemv = cblas_sgemv;
	}
	pi_onnx_fuzz_stats.inputs++;
	if (size < 4)
		return 0;
	ext_len = (uint32_t) data[0] | ((uint32_t) data[1] << 8) | ((uint32_t) data[2] << 16) |
		((uint32_t) data[3] << 24);
	if (ext_len > size - 4)
		ext_len = (uint32_t) (size - 4);
	if (pi_onnx_tensor_load(data + 4 + ext_len, size - 4 - ext_len, &tensor, &err) == PI_OK)
		pi_onnx_tensor_free(&tensor);
	if (pi_onnx_load(data + 4 + ext_len, size - 4 - ext_len, ext_len ? data + 4 : NULL, ext_len,
					 &m, &info, &err) != PI_OK)
	{
		if (m != NULL)
			fuzz_fail("a failed load returned a model");
		if (err.message[0] == '\0' || err.status == PI_OK)
			fuzz_fail("a failed load left no error message");
		check_in_place(data + 4 + ext_len, size - 4 - ext_len, ext_len ? data + 4 : NULL, ext_len, false);
		return 0;
	}
	check_in_place(data + 4 + ext_len, size - 4 - ext_len, ext_len ? data + 4 : NULL, ext_len, true);
	pi_onnx_fuzz_stats.accepted++;
	if (!m->finalized || m->ninputs < 1 || m->noutputs < 1)
		fuzz_fail("a loaded model is not finalized or has no inputs/outputs");
	if (within_limits(m))
	{
		free(run_twice_checked(m));
		pi_onnx_fuzz_stats.executed++;
	}
	pi_model_free(m);
	return 0;
}
