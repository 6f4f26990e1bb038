/*
 * test_gpu.c
 *	  The CUDA device engine (pg_infer_cuda.so) against the CPU engine: every
 *	  PyTorch fixture of test/fixtures at its stored batch and tiled 8 and
 *	  128 times (the last in pipelined chunks), each run on the device three
 *	  times (as enqueued, captured as a CUDA graph, replayed) with every
 *	  output value within |gpu - cpu| <= 1e-5 * max(1, |cpu|) (TF32 off);
 *	  models attached from an image; the input transform; Gather's index
 *	  errors; runs of many sizes in one executor (bucketed graphs, padded
 *	  with NaN rows); what PG_INFER_CUDA_FAULT's faults do (a failed
 *	  allocation, a failed capture, an illegal address), each in a process
 *	  of its own; and the shared MNIST CNN through the ONNX importer: 9813
 *	  of 10000 correct on the CPU engine, the GPU's class the CPU's wherever
 *	  the CPU's top-2 gap is above 1e-4 (and within 10 correct of 9813 with
 *	  TF32); the int8 path (Dense, Gemm and MatMul of int8 models and of
 *	  quantize_dynamic layers through cuBLASLt): each one-node case of
 *	  int8_cases.h within one quantization step of the CPU engine's int8
 *	  output, and models/mnist at precision int8 on all 10000 images
 *	  against the CPU engine's int8 run, its device weights at most 0.27x of
 *	  float32's.
 *
 *	  test_gpu FIXTURE_DIR MODEL.onnx IMAGES.idx3.gz LABELS.idx1.gz MLP_DIR
 *
 * MLP_DIR holds models/mnist's model.json and model.safetensors.
 *
 * Needs a CUDA GPU (test/gpu/run-device.sh).  Prints one line per check and
 * a closing "N passed, N failed".  TEST_GPU_NO_FAULTS=1 leaves the faults
 * out (under compute-sanitizer, which would report them).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "int8_cases.h"
#include "pi_blas.h"
#include "pi_cuda.h"
#include "pi_engine.h"
#include "pi_format.h"
#include "pi_onnx.h"
#include "test_check.h"
#include "test_files.h"
#include "test_mnist.h"

#define TOLERANCE 1e-5
#define MNIST_EXPECTED_CORRECT 9813
#define MNIST_BATCH 512
#define MNIST_TIE_GAP 1e-4		/* CPU top-2 logit gap below which the GPU may pick either */

static PiCudaContext *ctx;

/* Whether gpu agrees with cpu; tracks the worst scaled difference. */
static bool
value_matches(float gpu, float cpu, double tolerance, double *worst)
{
	double		diff;

	if (isnan(cpu) || isnan(gpu))
	{
		if (isnan(cpu) && isnan(gpu))
			return true;
		*worst = INFINITY;
		return false;
	}
	if (isinf(cpu) || isinf(gpu))
	{
		if (cpu == gpu)
			return true;
		*worst = INFINITY;
		return false;
	}
	diff = fabs((double) gpu - (double) cpu) / fmax(1.0, fabs((double) cpu));
	if (diff > *worst)
		*worst = diff;
	return diff <= tolerance;
}

/*
 * Writes batch rows of inputs into the device executor's staging, NaN into
 * the rest of it (padding a graph run may compute) and into its outputs.
 */
static void
stage_inputs(PiCudaExecutor *gx, const PiModel *m, float *const *inputs, int64_t batch)
{
	int64_t		max = pi_cuda_executor_max_batch(gx);

	for (int i = 0; i < m->ninputs; i++)
	{
		int64_t		row = pi_value_row_elems(&m->values[m->inputs[i]]);
		float	   *in = pi_cuda_executor_input(gx, i);

		memcpy(in, inputs[i], sizeof(float) * batch * row);
		memset(in + batch * row, 0xff, sizeof(float) * (max - batch) * row);
	}
	for (int o = 0; o < m->noutputs; o++)
		memset((float *) pi_cuda_executor_output(gx, o), 0xff,
			   sizeof(float) * max * pi_value_row_elems(&m->values[m->outputs[o]]));
}

/*
 * Runs batch rows of inputs on the device and compares every output value
 * with the CPU executor ex, which ran the same rows; records one check
 * named by label and pass.  The run's status (err set when it failed).
 */
static PiStatus
device_pass(const char *label, const char *pass, PiCudaExecutor *gx, const PiExecutor *ex,
			const PiModel *m, float *const *inputs, int64_t batch, double tolerance, PiError *err)
{
	double		worst = 0.0;
	bool		ok = true;
	int64_t		values = 0;

	stage_inputs(gx, m, inputs, batch);
	if (pi_cuda_executor_run(gx, batch, err) != PI_OK)
	{
		check(false, "%s: device run (%s): %s", label, pass, err->message);
		return err->status;
	}
	for (int o = 0; o < m->noutputs; o++)
	{
		int64_t		n = batch * pi_value_row_elems(&m->values[m->outputs[o]]);
		const float *cpu = pi_executor_output(ex, o);
		const float *gpu = pi_cuda_executor_output(gx, o);

		for (int64_t k = 0; k < n; k++)
			if (!value_matches(gpu[k], cpu[k], tolerance, &worst))
				ok = false;
		values += n;
	}
	check(ok, "%s: batch %lld, %s, %lld values, worst |gpu-cpu|/max(1,|cpu|) %.2e (limit %.0e)",
		  label, (long long) batch, pass, (long long) values, worst, tolerance);
	return PI_OK;
}

/* Runs batch rows of inputs on the CPU executor ex; false after a failed check. */
static bool
cpu_run(const char *label, PiExecutor *ex, const PiModel *m, float *const *inputs, int64_t batch)
{
	PiError		err = {0};

	for (int i = 0; i < m->ninputs; i++)
		memcpy(pi_executor_input(ex, i), inputs[i],
			   sizeof(float) * batch * pi_value_row_elems(&m->values[m->inputs[i]]));
	if (pi_executor_run(ex, batch, &err) == PI_OK)
		return true;
	check(false, "%s: CPU run: %s", label, err.message);
	return false;
}

/*
 * Runs m over the same batch rows (inputs[i] holds input i's rows) on the
 * CPU engine and three times on the device (as enqueued, captured as a
 * graph, replayed), comparing every output value.
 */
static void
compare_model(const char *label, const PiModel *m, float *const *inputs, int64_t batch,
			  double tolerance)
{
	static const char *const passes[] = {"eager", "graph capture", "graph replay"};
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, batch, &err);
	PiCudaModel *dm = NULL;
	PiCudaExecutor *gx = NULL;

	if (ex == NULL)
	{
		check(false, "%s: CPU executor: %s", label, err.message);
		return;
	}
	if (!cpu_run(label, ex, m, inputs, batch))
		goto done;
	if ((dm = pi_cuda_model_upload(ctx, m, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, batch, &err)) == NULL)
	{
		check(false, "%s: device model or executor: %s", label, err.message);
		goto done;
	}
	for (int pass = 0; pass < 3; pass++)
		if (device_pass(label, passes[pass], gx, ex, m, inputs, batch, tolerance, &err) != PI_OK)
			break;

done:
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	pi_executor_free(ex);
}

/*
 * A text model at a shorter sequence length on the device, uploaded over
 * its version's device weights (what the inference worker does for each
 * length of a symbolic-length text model): it takes fewer device bytes,
 * and runs as the same model does on the CPU; at precision int8 too (its
 * MatMuls over [batch, tokens, hidden] rows in int8, their int8 blocks
 * read from the version's), within 5e-2 of the CPU's int8 run (a hidden
 * value may round to the other side of a code's half step, as the CPU's
 * fused multiply-add and the device's rounding may place it).
 */
static void
test_length_variant(bool int8)
{
	static const char path[] = "test/text/fixtures/bert_tiny/model_dynamic.onnx";
	size_t		len = 0;
	uint8_t    *onnx = (uint8_t *) test_read_file(path, &len);
	PiModel    *version = NULL;
	PiModel    *variant = NULL;
	PiCudaModel *dversion = NULL;
	PiCudaModel *dvariant = NULL;
	PiExecutor *ex = NULL;
	PiCudaExecutor *gx = NULL;
	float	   *inputs[3] = {NULL, NULL, NULL};
	PiError		err = {0};
	const char *options = "{\"precision\": \"int8\"}";
	const char *label = int8 ? "int8 length variant" : "length variant";

	if (onnx == NULL ||
		pi_onnx_load_at_length(onnx, len, NULL, 0, NULL, 32, &version, NULL, &err) != PI_OK ||
		pi_onnx_load_at_length(onnx, len, NULL, 0, NULL, 8, &variant, NULL, &err) != PI_OK ||
		(int8 && (pi_model_apply_options(version, options, strlen(options), &err) != PI_OK ||
				  pi_model_apply_options(variant, options, strlen(options), &err) != PI_OK)) ||
		pi_model_share_weights(variant, version, &err) != PI_OK || variant->ninputs != 3)
	{
		check(false, "%s at 32 and 8%s: %s", path, int8 ? ", int8" : "", err.message);
		goto done;
	}
	if ((dversion = pi_cuda_model_upload(ctx, version, &err)) == NULL ||
		(dvariant = pi_cuda_model_upload_over(ctx, variant, dversion, &err)) == NULL)
	{
		check(false, "%s: upload over its version: %s", label, err.message);
		goto done;
	}
	check(pi_cuda_model_bytes(dvariant) * 4 < pi_cuda_model_bytes(dversion),
		  "%s: %lld device bytes of its own, its version %lld", label,
		  (long long) pi_cuda_model_bytes(dvariant), (long long) pi_cuda_model_bytes(dversion));
	/* two texts: ids, a mask over their tokens, types 0 */
	for (int i = 0; i < 3; i++)
		if ((inputs[i] = calloc(2 * 8, sizeof(float))) == NULL)
			goto done;
	for (int t = 0; t < 5; t++)
	{
		inputs[0][t] = (float) (t * 97 + 2);
		inputs[1][t] = 1.0f;
	}
	inputs[0][8] = 2;
	inputs[0][9] = 3;
	inputs[1][8] = inputs[1][9] = 1.0f;
	if ((ex = pi_executor_new(variant, 2, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dvariant, 2, &err)) == NULL)
	{
		check(false, "%s: executors: %s", label, err.message);
		goto done;
	}
	if (cpu_run(label, ex, variant, inputs, 2))
		(void) device_pass(label, "over its version's weights", gx, ex, variant, inputs,
						   2, int8 ? 5e-2 : 1e-4, &err);
done:
	for (int i = 0; i < 3; i++)
		free(inputs[i]);
	pi_cuda_executor_free(gx);
	pi_executor_free(ex);
	pi_cuda_model_free(dvariant);
	pi_cuda_model_free(dversion);
	pi_model_free(variant);
	pi_model_free(version);
	free(onnx);
}

/* The fixture's inputs repeated copies times as one batch; NULL entries on failure. */
static bool
tile_inputs(const PiModel *m, const PiTensorSet *io, int64_t batch, int copies, float **rows)
{
	for (int i = 0; i < m->ninputs; i++)
	{
		const PiTensor *in = test_fixture_input(io, m, i);
		int64_t		need = batch * pi_value_row_elems(&m->values[m->inputs[i]]);

		if (in == NULL || in->numel != need || (rows[i] = malloc(sizeof(float) * need * copies)) == NULL)
			return false;
		for (int c = 0; c < copies; c++)
			memcpy(rows[i] + c * need, in->data, sizeof(float) * need);
	}
	return true;
}

/* Runs m attached from its image on the device: the worker's path (weights from shared memory). */
static void
compare_from_image(const char *name, const PiModel *m, float *const *inputs, int64_t batch)
{
	PiError		err = {0};
	int64_t		len = pi_model_image_size(m);
	uint8_t    *image = len > 0 ? aligned_alloc(PI_IMAGE_ALIGN, (len + PI_IMAGE_ALIGN - 1) / PI_IMAGE_ALIGN * PI_IMAGE_ALIGN) : NULL;
	PiModel    *attached = NULL;
	char		label[600];

	if (image == NULL || pi_model_image_write(m, image, &err) != PI_OK ||
		(attached = pi_model_image_attach(image, len, &err)) == NULL)
	{
		check(false, "%s: image: %s", name, err.message);
		free(image);
		return;
	}
	snprintf(label, sizeof(label), "%s (from image)", name);
	compare_model(label, attached, inputs, batch, TOLERANCE);
	pi_model_free(attached);
	free(image);
}

/* Runs one fixture: as stored, 8 copies in one batch, and from its image. */
static void
run_case(const char *dir, const char *name)
{
	PiModel    *m = NULL;
	PiTensorSet io = {0};
	PiError		err = {0};
	float	   *rows[16] = {NULL};
	int64_t		batch;

	if (!test_fixture_load(dir, name, &m, &io, &err))
	{
		check(false, "%s: load failed: %s", name, err.message);
		goto done;
	}
	if (test_fixture_input(&io, m, 0) == NULL)
	{
		check(false, "%s: io.safetensors lacks an input", name);
		goto done;
	}
	batch = test_fixture_input(&io, m, 0)->dims[0];
	/* 128 copies: enough rows for chunks on two lanes (src/cuda/run.c) */
	for (int t = 0; t < 3; t++)
	{
		int			copies = (int[]) {1, 8, 128}[t];

		if (!tile_inputs(m, &io, batch, copies, rows))
		{
			check(false, "%s: inputs of the wrong size or out of memory", name);
			goto done;
		}
		compare_model(name, m, rows, batch * copies, TOLERANCE);
		if (copies == 1)
			compare_from_image(name, m, rows, batch);
		for (int i = 0; i < m->ninputs; i++)
		{
			free(rows[i]);
			rows[i] = NULL;
		}
	}

done:
	for (int i = 0; i < 16; i++)
		free(rows[i]);
	pi_model_free(m);
	pi_tensor_set_free(&io);
}

/* The fixture's input rows repeated in turn to make rows rows; NULL entries on failure. */
static bool
cycle_inputs(const PiModel *m, const PiTensorSet *io, int64_t batch, int64_t rows, float **out)
{
	for (int i = 0; i < m->ninputs; i++)
	{
		const PiTensor *in = test_fixture_input(io, m, i);
		int64_t		row = pi_value_row_elems(&m->values[m->inputs[i]]);

		if (in == NULL || in->numel != batch * row || (out[i] = malloc(sizeof(float) * rows * row)) == NULL)
			return false;
		for (int64_t r = 0; r < rows; r++)
			memcpy(out[i] + r * row, in->data + (r % batch) * row, sizeof(float) * row);
	}
	return true;
}

/*
 * One executor of BUCKET_MAX rows, runs of many sizes: each bucket (a power
 * of two) runs eagerly first, then its graph is captured and replayed for
 * every size in it, padded with NaN rows (Gather's index errors there are
 * not reported); every run's outputs against the CPU engine's.
 */
#define BUCKET_MAX 256
static const char *const bucket_fixtures[] = {
	"model_mlp", "model_lenet_bn", "model_resblock", "gather_embedding", "layernorm_last", "topk_largest_2d"
};

static void
test_buckets(const char *dir, const char *name)
{
	static const int64_t sizes[] = {33, 40, 50, 64, 3, 3, 3, 200, 130, 256, 1, 1, 40};
	PiModel    *m = NULL;
	PiTensorSet io = {0};
	PiError		err = {0};
	PiExecutor *ex = NULL;
	PiCudaModel *dm = NULL;
	PiCudaExecutor *gx = NULL;
	float	   *rows[16] = {NULL};
	int64_t		batch;
	char		label[256];

	if (!test_fixture_load(dir, name, &m, &io, &err) || test_fixture_input(&io, m, 0) == NULL)
	{
		check(false, "%s: load failed: %s", name, err.message);
		goto done;
	}
	batch = test_fixture_input(&io, m, 0)->dims[0];
	if (!cycle_inputs(m, &io, batch, BUCKET_MAX, rows) ||
		(ex = pi_executor_new(m, BUCKET_MAX, &err)) == NULL ||
		(dm = pi_cuda_model_upload(ctx, m, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, BUCKET_MAX, &err)) == NULL)
	{
		check(false, "%s: executors of %d rows: %s", name, BUCKET_MAX, err.message);
		goto done;
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
	{
		snprintf(label, sizeof(label), "%s in a %d-row executor (run %zu)", name, BUCKET_MAX, i + 1);
		if (!cpu_run(label, ex, m, rows, sizes[i]) ||
			device_pass(label, "bucketed", gx, ex, m, rows, sizes[i], TOLERANCE, &err) != PI_OK)
			break;
	}

done:
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	pi_executor_free(ex);
	for (int i = 0; i < 16; i++)
		free(rows[i]);
	pi_model_free(m);
	pi_tensor_set_free(&io);
}

/* Runs every case listed in DIR/MANIFEST. */
static void
run_fixtures(const char *dir)
{
	int			cases = test_fixture_each(dir, run_case);

	check(cases >= 40, "fixture manifest %s/MANIFEST lists %d cases (at least 40 expected)", dir, cases);
}

/* A model from graph JSON and a safetensors header over data; NULL on failure. */
static PiModel *
model_from(const char *json, const char *st_header, const float *data, size_t data_bytes)
{
	size_t		h = strlen(st_header);
	uint8_t    *buf = malloc(8 + h + data_bytes);
	PiModel    *m = NULL;
	PiError		err = {0};

	if (buf == NULL)
		return NULL;
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) ((uint64_t) h >> (8 * i));
	memcpy(buf + 8, st_header, h);
	memcpy(buf + 8 + h, data, data_bytes);
	if (pi_model_load(json, strlen(json), buf, 8 + h + data_bytes, &m, &err) != PI_OK)
		check(false, "test model loads: %s", err.message);
	free(buf);
	return m;
}

/* v rounded to bf16 (precision bf16) or half (fp16), back as a float. */
static float
representable(float v, PiPrecision precision)
{
	if (precision == PI_PRECISION_BF16)
	{
		uint32_t	bits = (uint32_t) pi_bf16_bits(v) << 16;

		memcpy(&v, &bits, sizeof(v));
		return v;
	}
	{
		uint16_t	h = pi_fp16_bits(v);
		float		mag = ldexpf((float) ((h & 0x3ff) | ((h & 0x7c00) ? 0x400 : 0)),
								 ((h & 0x7c00) ? ((h >> 10) & 0x1f) : 1) - 25);

		return (h & 0x8000) ? -mag : mag;
	}
}

/*
 * bf16 and fp16 models on the device (16-bit weights through cublasGemmEx,
 * float32 sums): a Dense layer and a MatMul by weights and inputs that
 * the precision represents exactly, so that every product is exact and
 * the GPU agrees with the CPU engine to float32 summation order; the device
 * copy of the weights takes about half the bytes of float32's.
 */
static void
test_reduced_precision(void)
{
	enum
	{
		K = 300, M = 200, ROWS = 37
	};
	static float data[M * K + M];
	static float rows[ROWS * K];
	float	   *inputs[1] = {rows};
	const char *dense = "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,300]}],"
		"\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}";
	const char *dense_st = "{\"w\":{\"dtype\":\"F32\",\"shape\":[200,300],\"data_offsets\":[0,240000]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[200],\"data_offsets\":[240000,240800]}}";
	const char *matmul = "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,300]}],"
		"\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"MatMul\",\"inputs\":[\"x\",\"w\"]}]}";
	const char *matmul_st = "{\"w\":{\"dtype\":\"F32\",\"shape\":[300,200],\"data_offsets\":[0,240000]}}";

	for (int p = 0; p < 2; p++)
	{
		PiPrecision precision = p == 0 ? PI_PRECISION_BF16 : PI_PRECISION_FP16;
		const char *options = p == 0 ? "{\"precision\": \"bf16\"}" : "{\"precision\": \"fp16\"}";
		uint32_t	rng = 12345u + p;

		for (int i = 0; i < M * K + M; i++)
		{
			rng = rng * 1664525u + 1013904223u;
			data[i] = representable((float) ((rng >> 8) / 16777216.0 - 0.5), precision);
		}
		for (int i = 0; i < ROWS * K; i++)
		{
			rng = rng * 1664525u + 1013904223u;
			rows[i] = representable((float) ((rng >> 8) / 16777216.0 * 4.0 - 2.0), precision);
		}
		for (int g = 0; g < 2; g++)
		{
			PiModel    *m = g == 0 ? model_from(dense, dense_st, data, sizeof(float) * (M * K + M)) :
				model_from(matmul, matmul_st, data, sizeof(float) * M * K);
			PiModel    *fp = g == 0 ? model_from(dense, dense_st, data, sizeof(float) * (M * K + M)) :
				model_from(matmul, matmul_st, data, sizeof(float) * M * K);
			PiError		err = {0};
			PiCudaModel *dm = NULL,
					   *dfp = NULL;
			char		label[64];

			snprintf(label, sizeof(label), "%s %s", g == 0 ? "Dense" : "MatMul", pi_precision_name(precision));
			if (m == NULL || fp == NULL || pi_model_apply_options(m, options, strlen(options), &err) != PI_OK)
			{
				check(false, "%s: model: %s", label, err.message);
				pi_model_free(m);
				pi_model_free(fp);
				continue;
			}
			/* exact products: only the order of the float32 sums differs (bf16 rounding would be 4e-3) */
			compare_model(label, m, inputs, ROWS, 1e-4);
			dm = pi_cuda_model_upload(ctx, m, &err);
			dfp = pi_cuda_model_upload(ctx, fp, &err);
			check(dm != NULL && dfp != NULL && pi_cuda_model_bytes(dm) * 10 <= pi_cuda_model_bytes(dfp) * 6,
				  "%s: device weights take %lld bytes, float32 %lld", label,
				  (long long) (dm ? pi_cuda_model_bytes(dm) : -1), (long long) (dfp ? pi_cuda_model_bytes(dfp) : -1));
			pi_cuda_model_free(dm);
			pi_cuda_model_free(dfp);
			pi_model_free(m);
			pi_model_free(fp);
		}
	}
}

/* Gather's embedding form on the device: good indices, then the CPU engine's errors. */
static void
test_gather_errors(void)
{
	const char *json = "{\"format\":\"pg_infer\",\"version\":1,"
		"\"inputs\":[{\"name\":\"x\",\"shape\":[-1,2]}],\"outputs\":[\"y\"],"
		"\"nodes\":[{\"name\":\"y\",\"op\":\"Gather\",\"inputs\":[\"w\",\"x\"]}]}";
	float		table[6] = {1, 2, 3, 4, 5, 6};
	PiModel    *m = model_from(json, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
							   table, sizeof(table));
	PiCudaModel *dm = NULL;
	PiCudaExecutor *gx = NULL;
	PiError		err = {0};
	const float *out;

	if (m == NULL)
		return;
	if ((dm = pi_cuda_model_upload(ctx, m, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, 2, &err)) == NULL)
	{
		check(false, "embedding model on the device: %s", err.message);
		goto done;
	}
	memcpy(pi_cuda_executor_input(gx, 0), (float[]) {1, -2, 0, -1}, sizeof(float) * 4);
	check(pi_cuda_executor_run(gx, 2, &err) == PI_OK, "device embedding run with negative indices: %s",
		  err.status == PI_OK ? "ok" : err.message);
	out = pi_cuda_executor_output(gx, 0);
	check(out[0] == 4 && out[2] == 6 && out[3] == 1 && out[5] == 3 && out[6] == 1 && out[9] == 4 && out[11] == 6,
		  "device embedding rows [1,-2,0,-1]: %g %g %g %g", out[0], out[3], out[6], out[9]);
	/* twice each: as enqueued, then from the captured graph */
	for (int pass = 0; pass < 2; pass++)
	{
		memcpy(pi_cuda_executor_input(gx, 0), (float[]) {1, 0, 2, 3}, sizeof(float) * 4);
		check(pi_cuda_executor_run(gx, 2, &err) == PI_ERR_INVALID &&
			  strstr(err.message, "node \"y\" (Gather) index 2 at position 2 of the batch is out of range: expected an integer in [-2, 1]"),
			  "device embedding index past the end fails the run (pass %d): %s", pass, err.message);
		memcpy(pi_cuda_executor_input(gx, 0), (float[]) {0, NAN}, sizeof(float) * 2);
		check(pi_cuda_executor_run(gx, 1, &err) == PI_ERR_INVALID && strstr(err.message, "index nan at position 1"),
			  "device embedding NaN index fails the run (pass %d): %s", pass, err.message);
	}
	memcpy(pi_cuda_executor_input(gx, 0), (float[]) {0, 1, 1, 0}, sizeof(float) * 4);
	check(pi_cuda_executor_run(gx, 2, &err) == PI_OK && pi_cuda_executor_output(gx, 0)[11] == 3,
		  "the device executor runs again after a failed run");
	check(pi_cuda_executor_run(gx, 3, &err) == PI_ERR_LIMIT && strstr(err.message, "takes 1 to 2"),
		  "a batch above the executor's maximum is refused: %s", err.message);
	pi_cuda_executor_free(gx);
	/* 256 rows run in chunks on two lanes: positions count from the batch's start */
	if ((gx = pi_cuda_executor_new(dm, 256, &err)) == NULL)
	{
		check(false, "embedding executor for 256 rows: %s", err.message);
		goto done;
	}
	for (int pass = 0; pass < 2; pass++)
	{
		float	   *in = pi_cuda_executor_input(gx, 0);

		/* rows 150 and 200: chunks 2 and 3 (64 rows each), on different lanes */
		for (int i = 0; i < 512; i++)
			in[i] = (float) (i % 2);
		in[401] = 5;
		in[301] = -7;
		check(pi_cuda_executor_run(gx, 256, &err) == PI_ERR_INVALID &&
			  strstr(err.message, "index -7 at position 301 of the batch"),
			  "device embedding error in a later chunk names its position in the batch (pass %d): %s",
			  pass, err.message);
	}

done:
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	pi_model_free(m);
}

/* The input transform x * scale + shift, global and per feature, on the device. */
static void
test_input_transform(void)
{
	const char *json = "{\"format\":\"pg_infer\",\"version\":1,"
		"\"inputs\":[{\"name\":\"x\",\"shape\":[-1,3]}],\"outputs\":[\"r\"],"
		"\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
		"{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"y\"]}]}";
	float		data[8] = {1, 2, 3, 4, 5, 6, 0.5f, -0.5f};
	const char *header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}";
	float		scale[3] = {0.5f, -2.0f, 0.25f},
				shift[3] = {-1.0f, 3.0f, 0.125f};
	float		rows[12] = {1, 2, 3, -4, 5, 0.5f, 7, -8, 9, 0.1f, 0.2f, 0.3f};
	float	   *inputs[1] = {rows};

	for (int len = 1; len <= 3; len += 2)
	{
		PiModel    *m = model_from(json, header, data, sizeof(data));
		PiError		err = {0};
		char		label[64];

		if (m == NULL)
			return;
		if (pi_model_set_input_transform(m, scale, shift, len, &err) != PI_OK)
			check(false, "input transform of length %d: %s", len, err.message);
		else
		{
			snprintf(label, sizeof(label), "input transform of length %d", len);
			compare_model(label, m, inputs, 4, TOLERANCE);
		}
		pi_model_free(m);
	}
}

/*
 * NaN on the device as on the CPU: Relu, HardSigmoid and Clip keep it, a
 * MaxPool window or a ReduceMax slice with one gives NaN, ArgMax takes the
 * first NaN as the maximum.
 */
static void
test_nan_semantics(void)
{
	static const char *const nodes[][2] = {
		{"Relu", "{\"name\":\"y\",\"op\":\"Relu\",\"inputs\":[\"x\"]}"},
		{"HardSigmoid", "{\"name\":\"y\",\"op\":\"HardSigmoid\",\"inputs\":[\"x\"]}"},
		{"Clip", "{\"name\":\"y\",\"op\":\"Clip\",\"inputs\":[\"x\"],\"attrs\":{\"min\":-1,\"max\":1}}"},
		{"MaxPool2D", "{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],\"attrs\":{\"kernel_shape\":[2,2],\"strides\":[2,2]}}"},
		{"ReduceMax", "{\"name\":\"y\",\"op\":\"ReduceMax\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[3],\"keepdims\":0}}"},
		{"ArgMax", "{\"name\":\"y\",\"op\":\"ArgMax\",\"inputs\":[\"x\"],\"attrs\":{\"axis\":3,\"keepdims\":0}}"},
	};
	float		rows[4 * 16];
	float	   *inputs[1] = {rows};
	float		no_weights = 0;

	/* four rows of a 1x4x4 map, NaN at a different place in each (row 3 none) */
	for (int i = 0; i < 4 * 16; i++)
		rows[i] = (float) ((i * 7) % 11) - 5.0f;
	rows[0] = NAN;
	rows[16 + 5] = NAN;
	rows[32 + 15] = NAN;
	for (size_t n = 0; n < sizeof(nodes) / sizeof(nodes[0]); n++)
	{
		char		json[512],
					label[64];
		PiModel    *m;

		snprintf(json, sizeof(json), "{\"format\":\"pg_infer\",\"version\":1,"
				 "\"inputs\":[{\"name\":\"x\",\"shape\":[-1,1,4,4]}],\"outputs\":[\"y\"],\"nodes\":[%s]}",
				 nodes[n][1]);
		if ((m = model_from(json, "{}", &no_weights, 0)) == NULL)
			continue;
		snprintf(label, sizeof(label), "NaN through %s", nodes[n][0]);
		compare_model(label, m, inputs, 4, TOLERANCE);
		pi_model_free(m);
	}
}

/*
 * The row kernels (a warp per row) on rows longer than a warp and not a
 * multiple of it, and shorter: Softmax, LogSoftmax and LayerNormalization
 * over 1,000 and 5 elements, GlobalAveragePool over 7x7 and 1x1 planes.
 */
static void
test_row_kernels(void)
{
	static const int lens[] = {1000, 5};
	enum
	{
		ROWS = 6, MAXLEN = 1000
	};
	float	   *rows = malloc(sizeof(float) * ROWS * MAXLEN);
	float	   *weights = malloc(sizeof(float) * 2 * MAXLEN);
	float	   *inputs[1] = {rows};

	if (rows == NULL || weights == NULL)
	{
		check(false, "row kernel buffers");
		free(rows);
		free(weights);
		return;
	}
	for (int i = 0; i < ROWS * MAXLEN; i++)
		rows[i] = sinf(0.37f * (float) i) * 4.0f + (float) (i % 7);
	for (int i = 0; i < 2 * MAXLEN; i++)
		weights[i] = 0.5f + cosf((float) i);
	for (int l = 0; l < 2; l++)
	{
		const char *ops[] = {"Softmax", "LogSoftmax", "LayerNormalization"};

		for (int o = 0; o < 3; o++)
		{
			char		json[512],
						header[256],
						label[96];
			bool		norm = o == 2;
			PiModel    *m;

			snprintf(json, sizeof(json), "{\"format\":\"pg_infer\",\"version\":1,"
					 "\"inputs\":[{\"name\":\"x\",\"shape\":[-1,%d]}],\"outputs\":[\"y\"],"
					 "\"nodes\":[{\"name\":\"y\",\"op\":\"%s\",\"inputs\":[\"x\"%s]}]}",
					 lens[l], ops[o], norm ? ",\"s\",\"b\"" : "");
			snprintf(header, sizeof(header), "{\"s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[0,%d]},"
					 "\"b\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%d,%d]}}",
					 lens[l], 4 * lens[l], lens[l], 4 * lens[l], 8 * lens[l]);
			if ((m = model_from(json, norm ? header : "{}", weights, norm ? 8 * lens[l] : 0)) == NULL)
				continue;
			snprintf(label, sizeof(label), "%s over rows of %d", ops[o], lens[l]);
			compare_model(label, m, inputs, ROWS, TOLERANCE);
			pi_model_free(m);
		}
	}
	for (int side = 7; side >= 1; side -= 6)
	{
		char		json[512],
					label[96];
		PiModel    *m;

		snprintf(json, sizeof(json), "{\"format\":\"pg_infer\",\"version\":1,"
				 "\"inputs\":[{\"name\":\"x\",\"shape\":[-1,3,%d,%d]}],\"outputs\":[\"y\"],"
				 "\"nodes\":[{\"name\":\"y\",\"op\":\"GlobalAveragePool\",\"inputs\":[\"x\"]}]}",
				 side, side);
		if ((m = model_from(json, "{}", weights, 0)) == NULL)
			continue;
		snprintf(label, sizeof(label), "GlobalAveragePool over %dx%d planes", side, side);
		compare_model(label, m, inputs, ROWS, TOLERANCE);
		pi_model_free(m);
	}
	free(rows);
	free(weights);
}

/* Top class of a row of 10 logits (the first on ties) and its lead over the second best. */
static int
top_class(const float *logits, double *gap)
{
	int			best = 0;
	double		second = -INFINITY;

	for (int k = 1; k < 10; k++)
		if (logits[k] > logits[best])
			best = k;
	for (int k = 0; k < 10; k++)
		if (k != best && logits[k] > second)
			second = logits[k];
	*gap = (double) logits[best] - second;
	return best;
}

/* What classifying the MNIST test set on both engines gave. */
typedef struct MnistResult
{
	int			cpu_correct;
	int			gpu_correct;
	int			decided;		/* images whose CPU top-2 gap is above MNIST_TIE_GAP */
	int			disagreed;		/* ... where the GPU's class differs from the CPU's */
	double		worst;			/* scaled logit difference */
	bool		close;			/* every logit within the tolerance */
	int			rows_close;		/* images with all logits within the tolerance */
} MnistResult;

/* Classifies the MNIST test set on the device and the CPU engine, in batches. */
static bool
classify_mnist(PiCudaExecutor *gx, PiExecutor *ex, const TestMnist *mnist, double tolerance,
			   double tie_gap, MnistResult *res)
{
	PiError		err = {0};

	memset(res, 0, sizeof(*res));
	res->close = true;
	for (uint32_t start = 0; start < mnist->count; start += MNIST_BATCH)
	{
		int64_t		batch = (mnist->count - start < MNIST_BATCH) ? mnist->count - start : MNIST_BATCH;
		float	   *gin = pi_cuda_executor_input(gx, 0);
		float	   *cin = pi_executor_input(ex, 0);
		const float *gout,
				   *cout;

		for (int64_t i = 0; i < batch * 784; i++)
			gin[i] = cin[i] = mnist->images[(size_t) start * 784 + i] / 255.0f;
		if (pi_cuda_executor_run(gx, batch, &err) != PI_OK || pi_executor_run(ex, batch, &err) != PI_OK)
		{
			check(false, "MNIST run at image %u: %s", start, err.message);
			return false;
		}
		gout = pi_cuda_executor_output(gx, 0);
		cout = pi_executor_output(ex, 0);
		for (int64_t r = 0; r < batch; r++)
		{
			double		gap,
						gpu_gap;
			int			cpu_class = top_class(cout + r * 10, &gap);
			int			gpu_class = top_class(gout + r * 10, &gpu_gap);

			bool		row_close = true;

			for (int k = 0; k < 10; k++)
				if (!value_matches(gout[r * 10 + k], cout[r * 10 + k], tolerance, &res->worst))
					row_close = false;
			res->close &= row_close;
			res->rows_close += row_close;
			res->cpu_correct += cpu_class == mnist->labels[start + r];
			res->gpu_correct += gpu_class == mnist->labels[start + r];
			if (gap > tie_gap)
			{
				res->decided++;
				res->disagreed += gpu_class != cpu_class;
			}
		}
	}
	return true;
}

/*
 * The shared MNIST CNN imported from ONNX: 9813 of 10000 on the CPU engine;
 * on the device (TF32 off) the CPU's class wherever the CPU's two best
 * logits are more than MNIST_TIE_GAP apart (a near tie may flip on either
 * side of a rounding difference), and logits within the tolerance.
 */
static void
test_mnist(const char *model_path, const char *images_path, const char *labels_path)
{
	size_t		model_len;
	uint8_t    *model_bytes = (uint8_t *) test_read_file(model_path, &model_len);
	TestMnist	mnist = {0};
	char		why[512];
	PiModel    *model = NULL;
	PiError		err = {0};
	PiCudaModel *dm = NULL;
	PiCudaExecutor *gx = NULL;
	PiExecutor *ex = NULL;
	MnistResult res;

	if (model_bytes == NULL)
	{
		check(false, "MNIST model readable (%s)", model_path);
		goto done;
	}
	if (!test_mnist_load(images_path, labels_path, &mnist, why, sizeof(why)))
	{
		check(false, "MNIST idx files: %s", why);
		goto done;
	}
	if (pi_onnx_load(model_bytes, model_len, NULL, 0, &model, NULL, &err) != PI_OK ||
		(ex = pi_executor_new(model, MNIST_BATCH, &err)) == NULL ||
		(dm = pi_cuda_model_upload(ctx, model, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, MNIST_BATCH, &err)) == NULL)
	{
		check(false, "MNIST CNN import and device executor: %s", err.message);
		goto done;
	}
	if (!classify_mnist(gx, ex, &mnist, TOLERANCE, MNIST_TIE_GAP, &res))
		goto done;
	check(res.cpu_correct == MNIST_EXPECTED_CORRECT, "MNIST CNN on the CPU engine: %d of %u correct, expected %d",
		  res.cpu_correct, mnist.count, MNIST_EXPECTED_CORRECT);
	check(res.disagreed == 0, "MNIST CNN on the device: the CPU's class for all %d images whose top-2 gap is above %.0e (%d differ); %d of %u correct (%.2f%%)",
		  res.decided, MNIST_TIE_GAP, res.disagreed, res.gpu_correct, mnist.count, 100.0 * res.gpu_correct / mnist.count);
	check(res.close, "MNIST CNN logits on the device against the CPU engine: worst %.2e (limit %.0e)",
		  res.worst, TOLERANCE);
	/* TF32 trades precision (10-bit mantissas) for speed: it runs and keeps the accuracy */
	pi_cuda_set_tf32(ctx, true);
	if (classify_mnist(gx, ex, &mnist, TOLERANCE, MNIST_TIE_GAP, &res))
		check(abs(res.gpu_correct - MNIST_EXPECTED_CORRECT) <= 10,
			  "MNIST CNN with TF32: %d of %u correct (within 10 of %d), %d of %d decided images of another class than on the CPU, worst logit difference from FP32 on the CPU %.2e",
			  res.gpu_correct, mnist.count, MNIST_EXPECTED_CORRECT, res.disagreed, res.decided, res.worst);
	pi_cuda_set_tf32(ctx, false);

done:
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	pi_executor_free(ex);
	pi_model_free(model);
	free(model_bytes);
	test_mnist_free(&mnist);
}

/*
 * Whether a device output of an int8 case agrees with the CPU engine's:
 * both NaN, or within one quantization step (step) of the output plus a
 * float32 rounding; a float32 case within 1e-4 (long sums).
 */
static bool
int8_value_matches(const TestInt8Case *c, float gpu, float cpu, double step, double *worst)
{
	double		d;

	if (c->expect == 0)
		return value_matches(gpu, cpu, 1e-4, worst);
	if (isnan(cpu) || isnan(gpu))
		return isnan(cpu) && isnan(gpu);
	d = fabs((double) gpu - (double) cpu);
	if (d / step > *worst)
		*worst = d / step;
	return d <= step + 1e-6 * fmax(1.0, fabs((double) cpu));
}

/*
 * One int8 case on the device at copies times its rows in one batch
 * (8 copies: chunks on two lanes), as enqueued, captured and replayed,
 * against the CPU engine.
 */
static void
int8_case_run(const TestInt8Case *c, const PiModel *m, const float *x, int copies)
{
	static const char *const passes[] = {"eager", "graph capture", "graph replay"};
	int64_t		batch = (int64_t) TEST_INT8_BATCH * copies;
	int64_t		per = c->lead * c->kdim,
				cols = test_int8_columns(c);
	float	   *rows = malloc(sizeof(float) * batch * per);
	double	   *steps = malloc(sizeof(double) * TEST_INT8_BATCH * c->lead * cols);
	float	   *inputs[1] = {rows};
	PiError		err = {0};
	PiExecutor *ex = NULL;
	PiCudaModel *dm = NULL;
	PiCudaExecutor *gx = NULL;

	if (rows == NULL || steps == NULL)
	{
		check(false, "%s: out of memory", c->label);
		goto done;
	}
	for (int k = 0; k < copies; k++)
		memcpy(rows + k * TEST_INT8_BATCH * per, x, sizeof(float) * TEST_INT8_BATCH * per);
	for (int64_t r = 0; r < TEST_INT8_BATCH * c->lead; r++)
		for (int64_t j = 0; j < cols; j++)
			steps[r * cols + j] = test_int8_step(c, m, x + r * c->kdim, j);
	if ((ex = pi_executor_new(m, batch, &err)) == NULL || !cpu_run(c->label, ex, m, inputs, batch) ||
		(dm = pi_cuda_model_upload(ctx, m, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, batch, &err)) == NULL)
	{
		check(false, "%s: executors: %s", c->label, err.message);
		goto done;
	}
	for (int pass = 0; pass < 3; pass++)
	{
		const float *cpu = pi_executor_output(ex, 0);
		const float *gpu;
		int64_t		n = batch * c->lead * cols,
					same = 0,
					bad = 0;
		double		worst = 0.0;

		stage_inputs(gx, m, inputs, batch);
		if (pi_cuda_executor_run(gx, batch, &err) != PI_OK)
		{
			check(false, "%s: device run (%s): %s", c->label, passes[pass], err.message);
			break;
		}
		gpu = pi_cuda_executor_output(gx, 0);
		for (int64_t i = 0; i < n; i++)
		{
			same += gpu[i] == cpu[i] || (isnan(gpu[i]) && isnan(cpu[i]));
			bad += !int8_value_matches(c, gpu[i], cpu[i], steps[i % (TEST_INT8_BATCH * c->lead * cols)], &worst);
		}
		check(bad == 0, "%s: batch %lld, %s: %lld of %lld outputs off the CPU engine's (%lld identical), worst %.3g %s",
			  c->label, (long long) batch, passes[pass], (long long) bad, (long long) n, (long long) same,
			  worst, c->expect == 0 ? "scaled (limit 1e-4, float32)" : "quantization steps (limit 1)");
	}

done:
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	pi_executor_free(ex);
	free(rows);
	free(steps);
}

/*
 * The int8 path on the device: each case of int8_cases.h (int8 models'
 * Dense, Gemm with alpha, beta and transB, MatMul over 3-D rows and by a
 * vector, quantize_dynamic layers; rows of zeros, a NaN, an infinity, one
 * sign) within one quantization step of the CPU engine's int8 output
 * (the device computes the CPU's int32 sums: only the float epilogue's
 * rounding may differ), and the cases the CPU runs in float32 in float32.
 */
static void
test_int8_layers(void)
{
	for (int ci = 0; ci < test_int8_ncases; ci++)
	{
		const TestInt8Case *c = &test_int8_cases[ci];
		PiModel    *m = test_int8_model(c);
		float	   *x = test_int8_rows(c, 777u + ci);

		if (m != NULL && x != NULL)
		{
			int8_case_run(c, m, x, 1);
			int8_case_run(c, m, x, 8);
		}
		free(x);
		pi_model_free(m);
	}
}

/* models/mnist (MLP_DIR) loaded, at precision int8 when int8; NULL after a failed check. */
static PiModel *
load_mlp(const char *dir, bool int8)
{
	char		path[4096];
	size_t		json_len,
				st_len;
	char	   *json;
	uint8_t    *st;
	PiModel    *m = NULL;
	PiError		err = {0};
	const char *options = "{\"precision\": \"int8\"}";

	snprintf(path, sizeof(path), "%s/model.json", dir);
	json = test_read_file(path, &json_len);
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	st = (uint8_t *) test_read_file(path, &st_len);
	if (json == NULL || st == NULL ||
		pi_model_load(json, json_len, st, st_len, &m, &err) != PI_OK ||
		(int8 && pi_model_apply_options(m, options, strlen(options), &err) != PI_OK))
	{
		check(false, "models/mnist from %s%s: %s", dir, int8 ? " at int8" : "",
			  json == NULL || st == NULL ? "files not readable" : err.message);
		pi_model_free(m);
		m = NULL;
	}
	free(json);
	free(st);
	return m;
}

/*
 * models/mnist at precision int8 on the device against the CPU engine's
 * int8 run, on all 10000 MNIST test images: its two Dense layers in int8
 * (cuBLASLt), so that at least 99.9% of the images get all 10 logits
 * within 1e-5 of the CPU's (a float32 GEMM would not: its logits differ
 * from int8's by the quantization; an image may differ where a hidden
 * value rounds to the other side of a code's half step, as the CPU's
 * fused multiply-add and the device's rounding may place it), the CPU's
 * class but for at most 10 images (not near ties), as many correct within
 * 3; the device weights at most 0.27x of the float32 model's; and the
 * same from the model's image (the worker's path).
 */
static void
test_mnist_int8(const char *dir, const char *images_path, const char *labels_path)
{
	TestMnist	mnist = {0};
	char		why[512];
	PiModel    *m = load_mlp(dir, true);
	PiModel    *fp = load_mlp(dir, false);
	PiModel    *attached = NULL;
	PiError		err = {0};
	PiCudaModel *dm = NULL,
			   *dfp = NULL;
	uint8_t    *image = NULL;

	if (m == NULL || fp == NULL)
		goto done;
	if (!test_mnist_load(images_path, labels_path, &mnist, why, sizeof(why)))
	{
		check(false, "MNIST idx files: %s", why);
		goto done;
	}
	if ((dm = pi_cuda_model_upload(ctx, m, &err)) == NULL || (dfp = pi_cuda_model_upload(ctx, fp, &err)) == NULL)
	{
		check(false, "models/mnist on the device: %s", err.message);
		goto done;
	}
	check(pi_cuda_model_bytes(dm) * 100 <= pi_cuda_model_bytes(dfp) * 27,
		  "models/mnist at int8: device weights %lld bytes, %.3fx float32's %lld (limit 0.27x)",
		  (long long) pi_cuda_model_bytes(dm), (double) pi_cuda_model_bytes(dm) / pi_cuda_model_bytes(dfp),
		  (long long) pi_cuda_model_bytes(dfp));
	{
		int64_t		len = pi_model_image_size(m);

		image = len > 0 ? aligned_alloc(PI_IMAGE_ALIGN, (len + PI_IMAGE_ALIGN - 1) / PI_IMAGE_ALIGN * PI_IMAGE_ALIGN) : NULL;
		if (image == NULL || pi_model_image_write(m, image, &err) != PI_OK ||
			(attached = pi_model_image_attach(image, len, &err)) == NULL)
			check(false, "models/mnist at int8: image: %s", err.message);
	}
	for (int from_image = 0; from_image < 2; from_image++)
	{
		const PiModel *model = from_image ? attached : m;
		const char *how = from_image ? " (from its image)" : "";
		PiCudaModel *d = NULL;
		PiCudaExecutor *gx = NULL;
		PiExecutor *ex = NULL;
		MnistResult res;

		if (model == NULL)
			continue;
		if ((d = pi_cuda_model_upload(ctx, model, &err)) == NULL ||
			(gx = pi_cuda_executor_new(d, MNIST_BATCH, &err)) == NULL ||
			(ex = pi_executor_new(model, MNIST_BATCH, &err)) == NULL)
			check(false, "models/mnist at int8%s: executors: %s", how, err.message);
		else if (classify_mnist(gx, ex, &mnist, 1e-5, MNIST_TIE_GAP, &res))
		{
			check(res.rows_close * 1000 >= (int) mnist.count * 999,
				  "models/mnist at int8 on the device%s: %d of %u images with all 10 logits within 1e-5 of the CPU engine's int8 run (at least 99.9%%; worst %.2e)",
				  how, res.rows_close, mnist.count, res.worst);
			check(res.disagreed <= 10 && abs(res.gpu_correct - res.cpu_correct) <= 3,
				  "models/mnist at int8 on the device%s: the CPU's class for %d of the %d images whose top-2 gap is above %.0e (at most 10 differ); %d correct (%.2f%%), the CPU engine %d",
				  how, res.decided - res.disagreed, res.decided, MNIST_TIE_GAP, res.gpu_correct,
				  100.0 * res.gpu_correct / mnist.count, res.cpu_correct);
		}
		pi_executor_free(ex);
		pi_cuda_executor_free(gx);
		pi_cuda_model_free(d);
	}

done:
	pi_cuda_model_free(dm);
	pi_cuda_model_free(dfp);
	pi_model_free(attached);
	free(image);
	pi_model_free(m);
	pi_model_free(fp);
	test_mnist_free(&mnist);
}

/* What PG_INFER_CUDA_FAULT does to four runs of the MLP fixture (run 2 is the one it names). */
typedef struct FaultCase
{
	const char *spec;
	PiStatus	expect[4];		/* status of runs 1 to 4 */
	const char *message;		/* in run 2's error */
	const char *what;
} FaultCase;

static const FaultCase fault_cases[] = {
	{"cudaErrorMemoryAllocation@2", {PI_OK, PI_ERR_NOMEM, PI_OK, PI_OK}, "cudaErrorMemoryAllocation",
	"a failed allocation leaves no error behind: the next run captures its graph, the one after replays it"},
	{"cudaErrorStreamCaptureUnsupported@2", {PI_OK, PI_OK, PI_OK, PI_OK}, "",
	"a graph capture that fails: that run and the later ones go on without a graph"},
	{"cudaErrorIllegalAddress@2", {PI_OK, PI_ERR_DEVICE_LOST, PI_ERR_DEVICE_LOST, PI_ERR_DEVICE_LOST},
		"cudaErrorIllegalAddress",
	"an illegal address loses the device: that run and every later call fail with PI_ERR_DEVICE_LOST"}
};

/* One fault case in this (forked) process; its exit status. */
static int
fault_child(const char *dir, const FaultCase *fc)
{
	static const char *const passes[] = {"run 1", "run 2", "run 3", "run 4"};
	PiModel    *m = NULL;
	PiTensorSet io = {0};
	PiError		err = {0};
	PiExecutor *ex = NULL;
	PiCudaModel *dm = NULL;
	PiCudaExecutor *gx = NULL;
	float	   *rows[16] = {NULL};
	char		label[256];
	int64_t		batch = 0;

	checks_passed = checks_failed = 0;		/* this process's checks only */
	setenv("PG_INFER_CUDA_FAULT", fc->spec, 1);
	snprintf(label, sizeof(label), "PG_INFER_CUDA_FAULT=%s", fc->spec);
	if ((ctx = pi_cuda_context_new(0, &err)) == NULL ||
		!test_fixture_load(dir, "model_mlp", &m, &io, &err) ||
		(batch = test_fixture_input(&io, m, 0)->dims[0]) < 1 ||
		!cycle_inputs(m, &io, batch, batch, rows) ||
		(ex = pi_executor_new(m, batch, &err)) == NULL || !cpu_run(label, ex, m, rows, batch) ||
		(dm = pi_cuda_model_upload(ctx, m, &err)) == NULL ||
		(gx = pi_cuda_executor_new(dm, batch, &err)) == NULL)
		check(false, "%s: device and model_mlp: %s", label, err.message);
	for (int r = 0; gx != NULL && r < 4; r++)
	{
		PiStatus	st;

		memset(&err, 0, sizeof(err));
		if (fc->expect[r] == PI_OK)
		{
			device_pass(label, passes[r], gx, ex, m, rows, batch, TOLERANCE, &err);
			continue;
		}
		stage_inputs(gx, m, rows, batch);
		st = pi_cuda_executor_run(gx, batch, &err);
		check(st == fc->expect[r] && (r != 1 || strstr(err.message, fc->message) != NULL),
			  "%s: %s fails with status %d (expected %d): %s", label, passes[r], st, fc->expect[r], err.message);
	}
	if (gx != NULL && fc->expect[3] == PI_ERR_DEVICE_LOST)
	{
		PiCudaExecutor *again = pi_cuda_executor_new(dm, 1, &err);

		check(again == NULL && err.status == PI_ERR_DEVICE_LOST,
			  "%s: a new executor after it fails with PI_ERR_DEVICE_LOST: %s", label, err.message);
		pi_cuda_executor_free(again);
	}
	pi_cuda_executor_free(gx);
	pi_cuda_model_free(dm);
	pi_executor_free(ex);
	for (int i = 0; i < 16; i++)
		free(rows[i]);
	pi_model_free(m);
	pi_tensor_set_free(&io);
	return checks_failed == 0 ? 0 : 1;
}

/* Each fault case in a process of its own, forked before this one touches CUDA. */
static void
test_faults(const char *dir)
{
	for (size_t i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]); i++)
	{
		int			status = 0;
		pid_t		pid;

		fflush(stdout);
		if ((pid = fork()) == 0)
			exit(fault_child(dir, &fault_cases[i]));
		check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "%s (PG_INFER_CUDA_FAULT=%s, in a process of its own)", fault_cases[i].what, fault_cases[i].spec);
	}
}

int
main(int argc, char **argv)
{
	PiError		err = {0};
	PiCudaDeviceInfo info;
	int			devices = 0;

	if (argc != 6)
	{
		fprintf(stderr, "usage: %s FIXTURE_DIR MODEL.onnx IMAGES.gz LABELS.gz MLP_DIR\n", argv[0]);
		return 2;
	}
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	/* first: the children must start before this process touches CUDA */
	if (getenv("TEST_GPU_NO_FAULTS") == NULL)
		test_faults(argv[1]);
	check(pi_cuda_abi_version() == PI_CUDA_ABI_VERSION, "pg_infer_cuda.so ABI version %d, header %d",
		  pi_cuda_abi_version(), PI_CUDA_ABI_VERSION);
	if (pi_cuda_device_count(&devices, &err) != PI_OK || devices < 1)
	{
		check(false, "a CUDA device is present: %d found%s%s", devices,
			  err.status != PI_OK ? ": " : "", err.status != PI_OK ? err.message : "");
		check_summary();
		return 1;
	}
	check(pi_cuda_context_new(devices, &err) == NULL && err.status == PI_ERR_DEVICE,
		  "a device number past the last is refused: %s", err.message);
	if ((ctx = pi_cuda_context_new(0, &err)) == NULL || pi_cuda_device_info(ctx, &info, &err) != PI_OK)
	{
		check(false, "CUDA device 0 opens: %s", err.message);
		check_summary();
		return 1;
	}
	printf("device 0: %s, compute capability %d.%d, %.1f of %.1f GiB free\n", info.name,
		   info.compute_major, info.compute_minor, info.free_bytes / 1073741824.0,
		   info.total_bytes / 1073741824.0);
	check(!pi_cuda_tf32(ctx), "TF32 is off by default");
	test_gather_errors();
	test_input_transform();
	test_nan_semantics();
	test_row_kernels();
	test_reduced_precision();
	test_int8_layers();
	test_length_variant(false);
	test_length_variant(true);
	run_fixtures(argv[1]);
	for (size_t i = 0; i < sizeof(bucket_fixtures) / sizeof(bucket_fixtures[0]); i++)
		test_buckets(argv[1], bucket_fixtures[i]);
	test_mnist(argv[2], argv[3], argv[4]);
	test_mnist_int8(argv[5], argv[3], argv[4]);
	pi_cuda_context_free(ctx);
	return check_summary();
}
