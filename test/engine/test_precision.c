/*
 * test_precision.c
 *	  Standalone tests of the reduced precisions (pi_ir.h PiPrecision) on
 *	  the kernels this process chose (PG_INFER_CPU picks the path): the bf16
 *	  and half roundings against the CPU's own conversions, the int8
 *	  weights a stored version keeps (src/format/compact.c) giving results
 *	  bit-identical to quantizing float32 weights, bf16 and fp16 storage,
 *	  refused and damaged files, the bf16 GEMM against a reference in
 *	  double (or, without AVX512-BF16, the float32 path), and the MNIST
 *	  accuracy of models/mnist at bf16 and at stored int8; convolutions'
 *	  weights stored at int8 per output channel (test/fixtures CNNs), and
 *	  ONNX files stored at int8 (the shared LeNet, with its MNIST accuracy,
 *	  and the ResNet-style CNN of test/bench), quantized ONNX files
 *	  (test/onnx/quant) kept as given at int8.
 *
 *	  test_precision MNIST_MODEL_DIR IMAGES.idx3.gz LABELS.idx1.gz FIXTURES LENET.onnx RESNET.onnx
 *
 * Prints one line per check and a closing "N passed, N failed".
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_format.h"
#include "pi_onnx.h"
#include "test_check.h"
#include "test_files.h"
#include "test_mnist.h"

/* models/mnist's float32 accuracy on the 10,000 test images (models/mnist/reference.json). */
#define MNIST_FP32_CORRECT 9391

/* The shared LeNet's count at int8, its images scaled by 1/255 (README: 9,812 through SQL). */
#define LENET_INT8_CORRECT 9812

/* bf16 may be this many images (0.1 points) away from it. */
#define MNIST_BF16_SLACK 10

static uint32_t rng_state = 88172645u;

/* Applies an options JSON to a model; false with a failed check when refused. */
static bool
apply(PiModel *m, const char *options)
{
	PiError		err = {0};

	if (pi_model_apply_options(m, options, strlen(options), &err) == PI_OK)
		return true;
	check(false, "options %s applied: %s", options, err.message);
	return false;
}

/* A safetensors file of F32 tensors (names, rank-2 shapes, data); malloc'd. */
static uint8_t *
f32_file(int count, const char *const *names, const int64_t (*shapes)[2], const float *const *data,
		 size_t *len)
{
	char		header[4096];
	int			at = 0;
	uint64_t	offset = 0,
				hlen;
	uint8_t    *out;

	at += snprintf(header + at, sizeof(header) - at, "{");
	for (int i = 0; i < count; i++)
	{
		uint64_t	bytes = 4 * (uint64_t) shapes[i][0] * shapes[i][1];

		at += snprintf(header + at, sizeof(header) - at,
					   "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}",
					   i ? "," : "", names[i], (long long) shapes[i][0], (long long) shapes[i][1],
					   (unsigned long long) offset, (unsigned long long) (offset + bytes));
		offset += bytes;
	}
	at += snprintf(header + at, sizeof(header) - at, "}");
	hlen = (uint64_t) at;
	*len = 8 + hlen + offset;
	out = malloc(*len);
	for (int b = 0; b < 8; b++)
		out[b] = (uint8_t) (hlen >> (8 * b));
	memcpy(out + 8, header, hlen);
	offset = 8 + hlen;
	for (int i = 0; i < count; i++)
	{
		size_t		bytes = 4 * (size_t) shapes[i][0] * shapes[i][1];

		memcpy(out + offset, data[i], bytes);
		offset += bytes;
	}
	return out;
}

/* Loads a model from graph JSON and safetensors bytes (copied to aligned memory); NULL with a failed check. */
static PiModel *
load(const char *json, const uint8_t *bytes, size_t len, const char *options, const char *what)
{
	PiModel    *m = NULL;
	PiError		err = {0};

	if (pi_model_load(json, strlen(json), bytes, len, &m, &err) != PI_OK)
	{
		check(false, "%s loads: %s", what, err.message);
		return NULL;
	}
	if (!apply(m, options))
	{
		pi_model_free(m);
		return NULL;
	}
	return m;
}

/* The stored form of a model's weights at its precision (malloc'd), or NULL with a failed check. */
static uint8_t *
reduce(const char *json, const char *options, const PiModel *m, const uint8_t *bytes, size_t len,
	   size_t *out_len, PiStatus *status)
{
	PiWeightForm *forms = pi_model_weight_forms(m);
	uint8_t    *out = NULL;
	PiError		err = {0};

	*status = pi_safetensors_reduce(json, strlen(json), bytes, len, options, strlen(options), m, forms,
									&out, out_len, &err);
	free(forms);
	return out;
}

/* Runs rows of x through a one-input model into y (malloc'd); NULL with a failed check. */
static float *
run(const PiModel *m, const float *x, int64_t rows)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, rows, &err);
	int64_t		out = pi_value_row_elems(&m->values[m->outputs[0]]);
	float	   *y = malloc(sizeof(float) * rows * out);

	if (ex == NULL)
	{
		check(false, "executor: %s", err.message);
		free(y);
		return NULL;
	}
	memcpy(pi_executor_input(ex, 0), x, sizeof(float) * rows * pi_value_row_elems(&m->values[m->inputs[0]]));
	if (pi_executor_run(ex, rows, &err) != PI_OK)
	{
		check(false, "run: %s", err.message);
		free(y);
		y = NULL;
	}
	else
		memcpy(y, pi_executor_output(ex, 0), sizeof(float) * rows * out);
	pi_executor_free(ex);
	return y;
}

#if defined(__x86_64__)
#include <immintrin.h>

/* The CPU's own half rounding (F16C), or -1 where it has none. */
__attribute__((target("f16c"))) static int
cpu_half(float v)
{
	return _cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* The CPU's own bf16 rounding (AVX512-BF16). */
__attribute__((target("avx512f,avx512bf16"))) static int
cpu_bf16(float v)
{
	__m256bh	b = _mm512_cvtneps_pbh(_mm512_set1_ps(v));
	uint16_t	out[16];

	memcpy(out, &b, sizeof(out));
	return out[0];
}
#endif

/*
 * pi_fp16_bits and pi_bf16_bits round as the CPU does, over 200,000
 * values of every magnitude (and bf16 ties to even, checked by hand).
 */
static void
test_roundings(void)
{
	int			half_bad = 0,
				bf16_bad = 0,
				tried = 0;
	bool		has_f16c = false,
				has_bf16 = false;

	check(pi_bf16_bits(1.0f) == 0x3f80 && pi_bf16_bits(1.00390625f) == 0x3f80 &&
		  pi_bf16_bits(1.01171875f) == 0x3f82 && pi_bf16_bits(-2.0f) == 0xc000 &&
		  pi_bf16_bits(-1e-40f) == 0x8000,
		  "bf16 rounds to nearest, ties to even, subnormals to zero");
	check(pi_fp16_bits(1.0f) == 0x3c00 && pi_fp16_bits(65504.0f) == 0x7bff &&
		  pi_fp16_bits(65520.0f) == 0x7c00 && pi_fp16_bits(5.9604645e-8f) == 0x0001 &&
		  pi_fp16_bits(2.9802322e-8f) == 0x0000,
		  "half rounds to nearest even, overflows to infinity, keeps subnormals");
#if defined(__x86_64__)
	__builtin_cpu_init();
	has_f16c = __builtin_cpu_supports("f16c");
	has_bf16 = __builtin_cpu_supports("avx512bf16");
	for (int i = 0; i < 200000; i++)
	{
		uint32_t	bits;
		float		v;

		/* random bits: every exponent, both signs (NaNs left out) */
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 17;
		rng_state ^= rng_state << 5;
		bits = rng_state;
		memcpy(&v, &bits, sizeof(v));
		if (isnan(v))
			continue;
		tried++;
		if (has_f16c && pi_fp16_bits(v) != cpu_half(v))
			half_bad++;
		if (has_bf16 && pi_bf16_bits(v) != cpu_bf16(v))
			bf16_bad++;
	}
#endif
	if (has_f16c)
		check(half_bad == 0, "half rounding equals F16C's on %d values (%d differ)", tried, half_bad);
	else
		printf("note: no F16C on this CPU, half rounding checked by hand only\n");
	if (has_bf16)
		check(bf16_bad == 0, "bf16 rounding equals AVX512-BF16's on %d values (%d differ)", tried, bf16_bad);
	else
		printf("note: no AVX512-BF16 on this CPU, bf16 rounding checked by hand only\n");
}

/*
 * Quantizing, dequantizing and quantizing again gives the same codes and
 * column maxima, both ways round, for columns of every scale (1e-30 to
 * 1e30) and a zero column.
 */
static void
test_int8_round_trip(void)
{
	enum
	{
		K = 37, M = 29
	};
	static float w[K * M],
				back[K * M],
				amax[M],
				amax2[M];
	static int8_t q[K * M],
				q2[K * M];
	int			bad = 0;

	for (int trans = 0; trans < 2; trans++)
		for (int round = 0; round < 50; round++)
		{
			for (int j = 0; j < M; j++)
			{
				float		scale = j == 3 ? 0.0f : powf(10.0f, (float) ((j + round) % 61 - 30));

				for (int k = 0; k < K; k++)
					w[trans ? j * K + k : k * M + j] = test_frand(&rng_state) * scale;
			}
			if (!pi_int8_quantize_matrix(w, K, M, trans, q, amax))
			{
				bad++;
				continue;
			}
			pi_int8_dequantize_matrix(q, amax, K, M, trans, back);
			if (!pi_int8_quantize_matrix(back, K, M, trans, q2, amax2) ||
				memcmp(q, q2, sizeof(q)) != 0 || memcmp(amax, amax2, sizeof(amax)) != 0)
				bad++;
		}
	check(bad == 0, "int8 codes and column maxima survive dequantizing (100 matrices, %d differ)", bad);
	w[5] = INFINITY;
	check(!pi_int8_quantize_matrix(w, K, M, false, q, amax), "a column with an infinity is not quantized");
}

/* A graph of x [-1, K] -> op(x, "w"[, "b"]) -> relu -> Dense by "w2"; op Dense, Gemm or MatMul. */
static void
graph_json(char *json, size_t size, int64_t kdim, const char *op)
{
	bool		dense = strcmp(op, "Dense") == 0;

	snprintf(json, size,
			 "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,%lld]}],"
			 "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"h\",\"op\":\"%s\",\"inputs\":[\"x\",\"w\"%s]},"
			 "{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"h\"]},"
			 "{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"r\",\"w2\",\"b2\"]}]}",
			 (long long) kdim, op, dense || strcmp(op, "Gemm") == 0 ? ",\"b\"" : "");
}

/*
 * A model stored at int8 (codes and column maxima) runs bit-identically to
 * the same model quantized from float32 weights, with a quarter of the
 * weight bytes; bf16 and fp16 versions take half and load their weights
 * rounded; fp16 refuses a weight past its range.
 */
static void
test_storage(const char *op, int64_t kdim, int64_t mdim)
{
	enum
	{
		ROWS = 23, OUT = 10
	};
	bool		dense = strcmp(op, "Dense") == 0;
	const char *names[] = {"w", "w2", "b", "b2"};
	int64_t		shapes[4][2] = {{dense ? mdim : kdim, dense ? kdim : mdim}, {OUT, mdim}, {1, mdim}, {1, OUT}};
	float	   *w = malloc(sizeof(float) * kdim * mdim),
			   *w2 = malloc(sizeof(float) * OUT * mdim),
			   *b = malloc(sizeof(float) * mdim),
			   *b2 = malloc(sizeof(float) * OUT),
			   *x = malloc(sizeof(float) * ROWS * kdim);
	const float *data[] = {w, w2, b, b2};
	char		json[2048];
	size_t		len;
	uint8_t    *file;
	int			ntensors = dense || strcmp(op, "Gemm") == 0 ? 4 : 2;
	static const char *const precisions[] = {"int8", "bf16", "fp16"};

	for (int64_t i = 0; i < kdim * mdim; i++)
		w[i] = test_frand(&rng_state) * (1.0f + (float) (i % 7));
	for (int64_t i = 0; i < OUT * mdim; i++)
		w2[i] = test_frand(&rng_state) * 0.3f;
	for (int64_t i = 0; i < mdim; i++)
		b[i] = test_frand(&rng_state);
	for (int64_t i = 0; i < OUT; i++)
		b2[i] = test_frand(&rng_state);
	for (int64_t i = 0; i < ROWS * kdim; i++)
		x[i] = test_frand(&rng_state) * 4.0f;
	graph_json(json, sizeof(json), kdim, op);
	/* MatMul has no bias: its file has w and w2 only, b2 rides on the Dense */
	if (ntensors == 2)
	{
		names[1] = "w2";
		shapes[1][0] = OUT;
		snprintf(json, sizeof(json),
				 "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,%lld]}],"
				 "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"h\",\"op\":\"MatMul\",\"inputs\":[\"x\",\"w\"]},"
				 "{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"h\"]},"
				 "{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"r\",\"w2\"]}]}", (long long) kdim);
	}
	/* b and b2 are rank 1 in the graph: give them rank 1 in the file */
	file = f32_file(ntensors, names, (const int64_t (*)[2]) shapes, data, &len);
	if (ntensors == 4)
	{
		/* rewrite "shape":[1,N] of b and b2 as [N] (same length: pad with spaces after) */
		char	   *h = (char *) file + 8;
		char		from[64],
					to[64];

		for (int t = 2; t < 4; t++)
		{
			char	   *at;

			snprintf(from, sizeof(from), "\"%s\":{\"dtype\":\"F32\",\"shape\":[1,%lld]", names[t], (long long) shapes[t][1]);
			snprintf(to, sizeof(to), "\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld]  ", names[t], (long long) shapes[t][1]);
			at = strstr(h, from);
			if (at != NULL)
				memcpy(at, to, strlen(to));
		}
	}

	for (size_t p = 0; p < sizeof(precisions) / sizeof(precisions[0]); p++)
	{
		char		options[64];
		PiModel    *from_float,
				   *stored = NULL;
		uint8_t    *reduced;
		size_t		reduced_len = 0;
		PiStatus	st;
		float	   *y1 = NULL,
				   *y2 = NULL;
		double		ratio;

		snprintf(options, sizeof(options), "{\"precision\": \"%s\"}", precisions[p]);
		from_float = load(json, file, len, options, op);
		if (from_float == NULL)
			continue;
		reduced = reduce(json, options, from_float, file, len, &reduced_len, &st);
		check(st == PI_OK, "%s %lldx%lld: weights reduced to %s", op, (long long) kdim, (long long) mdim,
			  precisions[p]);
		if (reduced != NULL)
			stored = load(json, reduced, reduced_len, options, op);
		ratio = (double) reduced_len / (double) len;
		if (stored != NULL)
		{
			y1 = run(from_float, x, ROWS);
			y2 = run(stored, x, ROWS);
		}
		if (strcmp(precisions[p], "int8") == 0)
			check(y1 != NULL && y2 != NULL && memcmp(y1, y2, sizeof(float) * ROWS * OUT) == 0 &&
				  (int64_t) reduced_len <= (kdim + 4) * mdim + (OUT + 4) * mdim + 8 * OUT + 1024,
				  "%s %lldx%lld stored at int8: results bit-identical to quantizing float32, %zu of %zu bytes (%.3f: codes, column maxima, float32 biases)",
				  op, (long long) kdim, (long long) mdim, reduced_len, len, ratio);
		else
		{
			const float *sw = stored ? stored->values[pi_model_find_value(stored, "w")].data : NULL;
			int			bad = 0;

			for (int64_t i = 0; sw != NULL && i < kdim * mdim; i++)
			{
				float		want;
				uint32_t	bits;
				uint16_t	h16 = strcmp(precisions[p], "bf16") == 0 ? pi_bf16_bits(w[i]) : pi_fp16_bits(w[i]);

				if (strcmp(precisions[p], "bf16") == 0)
				{
					bits = (uint32_t) h16 << 16;
					memcpy(&want, &bits, sizeof(want));
				}
				else
					want = (float) ldexp((double) ((h16 & 0x3ff) | ((h16 & 0x7c00) ? 0x400 : 0)),
										 ((h16 & 0x7c00) ? ((h16 >> 10) & 0x1f) : 1) - 25) *
						((h16 & 0x8000) ? -1.0f : 1.0f);
				bad += sw[i] != want;
			}
			check(sw != NULL && bad == 0 && y2 != NULL && ratio <= 0.5 + 512.0 / len,
				  "%s %lldx%lld stored at %s: weights load rounded (%d differ), %zu of %zu bytes (%.3f)",
				  op, (long long) kdim, (long long) mdim, precisions[p], bad, reduced_len, len, ratio);
			/* the same model, float32: a bf16 or fp16 model runs close to it */
			if (y2 != NULL)
			{
				PiModel    *fp32 = load(json, file, len, "{}", op);
				float	   *y0 = fp32 ? run(fp32, x, ROWS) : NULL;
				double		worst = 0.0,
							top = 0.0;

				for (int64_t i = 0; y0 != NULL && i < ROWS * OUT; i++)
				{
					worst = fmax(worst, fabs((double) y2[i] - y0[i]));
					top = fmax(top, fabs(y0[i]));
				}
				worst /= top;
				check(y0 != NULL && worst < 0.02, "%s %lldx%lld at %s within %.4f of float32 (of the largest output, allowed 0.02)",
					  op, (long long) kdim, (long long) mdim, precisions[p], worst);
				free(y0);
				pi_model_free(fp32);
			}
		}
		free(y1);
		free(y2);
		free(reduced);
		pi_model_free(stored);
		pi_model_free(from_float);
	}
	free(file);
	free(w);
	free(w2);
	free(b);
	free(b2);
	free(x);
}

/* fp16 refuses a weight past its range; nothing else is refused for it. */
static void
test_fp16_range(void)
{
	float		w[4] = {1.0f, -2.0f, 70000.0f, 0.5f};
	float		w2[2] = {1.0f, 1.0f};
	const char *names[] = {"w", "w2"};
	const int64_t shapes[2][2] = {{2, 2}, {1, 2}};
	const float *data[] = {w, w2};
	const char *json = "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,2]}],"
		"\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"h\",\"op\":\"MatMul\",\"inputs\":[\"x\",\"w\"]},"
		"{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"h\",\"w2\"]}]}";
	size_t		len,
				out_len;
	uint8_t    *file = f32_file(2, names, shapes, data, &len);
	const char *options = "{\"precision\": \"fp16\"}";
	PiModel    *m = load(json, file, len, options, "fp16 range");
	PiStatus	st = PI_OK;
	uint8_t    *out = m ? reduce(json, options, m, file, len, &out_len, &st) : NULL;

	check(m != NULL && out == NULL && st == PI_ERR_INVALID, "fp16 refuses a weight of 70000 (status %d)", st);
	free(out);
	pi_model_free(m);
	free(file);
}

/* A safetensors file from a header and data bytes; malloc'd. */
static uint8_t *
raw_file(const char *header, const void *data, size_t data_len, size_t *len)
{
	size_t		hlen = strlen(header);
	uint8_t    *out = malloc(8 + hlen + data_len);

	for (int b = 0; b < 8; b++)
		out[b] = (uint8_t) ((uint64_t) hlen >> (8 * b));
	memcpy(out + 8, header, hlen);
	memcpy(out + 8 + hlen, data, data_len);
	*len = 8 + hlen + data_len;
	return out;
}

/* Damaged int8 tensors are refused: no column maxima, wrong shape or dtype, bad maxima, code -128. */
static void
test_damaged_int8(void)
{
	struct
	{
		const char *header;
		float		amax;
		int8_t		code;
		const char *what;
	}			cases[] = {
		{"{\"w\":{\"dtype\":\"I8\",\"shape\":[2,2],\"data_offsets\":[4,8]},"
			"\"v\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", 1.0f, 1, "no column maxima"},
		{"{\"w\":{\"dtype\":\"I8\",\"shape\":[2,2],\"data_offsets\":[4,8]},"
			"\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", 1.0f, 1, "maxima of shape [1, 1] for [2, 2]"},
		{"{\"w\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[4,8]},"
			"\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", 1.0f, 1, "codes of rank 1"},
		{"{\"w\":{\"dtype\":\"I8\",\"shape\":[4,1],\"data_offsets\":[4,8]},"
			"\"w:int8_amax\":{\"dtype\":\"I8\",\"shape\":[1,4],\"data_offsets\":[0,4]}}", 1.0f, 1, "maxima of dtype I8"},
		{"{\"w\":{\"dtype\":\"I8\",\"shape\":[4,1],\"data_offsets\":[4,8]},"
			"\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", -1.0f, 1, "a negative maximum"},
		{"{\"w\":{\"dtype\":\"I8\",\"shape\":[4,1],\"data_offsets\":[4,8]},"
			"\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", NAN, 1, "a NaN maximum"},
		{"{\"w\":{\"dtype\":\"I8\",\"shape\":[4,1],\"data_offsets\":[4,8]},"
			"\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", 1.0f, -128, "code -128"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		uint8_t		data[8];
		size_t		len;
		uint8_t    *file;
		PiTensorSet set;
		PiError		err = {0};
		PiStatus	st;

		memcpy(data, &cases[i].amax, 4);
		memset(data + 4, 5, 4);
		data[6] = (uint8_t) cases[i].code;
		file = raw_file(cases[i].header, data, sizeof(data), &len);
		st = pi_safetensors_parse(file, len, &set, &err);
		check(st == PI_ERR_CORRUPT, "I8 tensor with %s refused: %s", cases[i].what, err.message);
		if (st == PI_OK)
			pi_tensor_set_free(&set);
		free(file);
	}
	{
		/* and a good one loads: codes 5, 127, -127 of maximum 2 along the first axis */
		float		amax[2] = {2.0f, 0.0f};
		uint8_t		data[12];
		size_t		len;
		uint8_t    *file;
		PiTensorSet set;
		PiError		err = {0};

		memcpy(data, amax, 8);
		data[8] = 5;
		data[9] = 127;
		data[10] = 0;
		data[11] = 0;
		file = raw_file("{\"w\":{\"dtype\":\"I8\",\"shape\":[2,2],\"data_offsets\":[8,12]},"
						"\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]}}",
						data, sizeof(data), &len);
		check(pi_safetensors_parse(file, len, &set, &err) == PI_OK && set.count == 1 &&
			  set.tensors[0].data[0] == 5 * (2.0f / 127.0f) && set.tensors[0].data[1] == 2.0f &&
			  set.tensors[0].data[2] == 0.0f, "I8 tensor with its column maxima loads dequantized (%s)",
			  err.message);
		pi_tensor_set_free(&set);
		free(file);
	}
}

/* How many tensors of a safetensors file's header have dtype I8 (-1: no header). */
static int
i8_tensors(const uint8_t *bytes, size_t len)
{
	uint64_t	hlen = 0;
	cJSON	   *root,
			   *item;
	int			count = 0;

	for (int b = 7; b >= 0 && len >= 8; b--)
		hlen = (hlen << 8) | bytes[b];
	if (len < 8 || hlen > len - 8 ||
		(root = cJSON_ParseWithLength((const char *) bytes + 8, hlen)) == NULL)
		return -1;
	cJSON_ArrayForEach(item, root)
	{
		const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");

		count += cJSON_IsString(dtype) && strcmp(dtype->valuestring, "I8") == 0;
	}
	cJSON_Delete(root);
	return count;
}

/*
 * A native CNN of test/fixtures stored at int8 runs bit-identically to the
 * same model quantized from its float32 file, its convolutions' weights
 * stored as codes per output channel (want_i8 of them with Dense weights,
 * a depthwise one none), in at most max_ratio of the bytes.
 */
static void
test_conv_storage(const char *fixtures, const char *name, int want_i8, double max_ratio)
{
	enum
	{
		ROWS = 5
	};
	const char *options = "{\"precision\": \"int8\"}";
	char		path[1024];
	size_t		json_len,
				len,
				reduced_len = 0;
	char	   *json,
			   *file;
	PiModel    *from_float = NULL,
			   *stored = NULL;
	uint8_t    *reduced = NULL;
	PiStatus	st = PI_ERR_INVALID;
	float	   *x = NULL,
			   *y1 = NULL,
			   *y2 = NULL;
	int64_t		in = 0,
				out = 0;

	snprintf(path, sizeof(path), "%s/%s/model.json", fixtures, name);
	json = test_read_file(path, &json_len);
	snprintf(path, sizeof(path), "%s/%s/model.safetensors", fixtures, name);
	file = test_read_file(path, &len);
	if (json != NULL && file != NULL)
		from_float = load(json, (const uint8_t *) file, len, options, name);
	if (from_float != NULL)
		reduced = reduce(json, options, from_float, (const uint8_t *) file, len, &reduced_len, &st);
	if (reduced != NULL)
		stored = load(json, reduced, reduced_len, options, name);
	if (stored != NULL)
	{
		in = pi_value_row_elems(&from_float->values[from_float->inputs[0]]);
		out = pi_value_row_elems(&from_float->values[from_float->outputs[0]]);
		x = malloc(sizeof(float) * ROWS * in);
		for (int64_t i = 0; i < ROWS * in; i++)
			x[i] = test_frand(&rng_state) * 3.0f;
		y1 = run(from_float, x, ROWS);
		y2 = run(stored, x, ROWS);
	}
	check(st == PI_OK && y1 != NULL && y2 != NULL && memcmp(y1, y2, sizeof(float) * ROWS * out) == 0 &&
		  i8_tensors(reduced, reduced_len) == want_i8 && reduced_len <= max_ratio * len,
		  "%s stored at int8: results bit-identical to quantizing float32, %d I8 tensors (want %d), "
		  "%zu of %zu bytes (%.3f, allowed %.2f)", name, reduced ? i8_tensors(reduced, reduced_len) : -1,
		  want_i8, reduced_len, len, (double) reduced_len / len, max_ratio);
	free(x);
	free(y1);
	free(y2);
	free(reduced);
	pi_model_free(stored);
	pi_model_free(from_float);
	free(json);
	free(file);
}

/*
 * Damaged rank-4 int8 tensors are refused: maxima along a middle axis, of
 * another rank, too few; and good ones of rank 4 load per output channel.
 */
static void
test_damaged_conv_int8(void)
{
	static const struct
	{
		const char *amax_shape;
		int			amax_count;
		const char *what;
	}			cases[] = {
		{"[1,2,1,1]", 2, "maxima along the second axis"},
		{"[2,1]", 2, "maxima of rank 2 for codes of rank 4"},
		{"[1,1,1,1]", 1, "one maximum for 2 channels"},
		{"[2,1,1,2]", 4, "maxima [2, 1, 1, 2]"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		header[512];
		uint8_t		data[16 + 8] = {0};
		size_t		len;
		uint8_t    *file;
		PiTensorSet set;
		PiError		err = {0};
		PiStatus	st;

		snprintf(header, sizeof(header),
				 "{\"w\":{\"dtype\":\"I8\",\"shape\":[2,1,2,2],\"data_offsets\":[%d,%d]},"
				 "\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[0,%d]}}",
				 4 * cases[i].amax_count, 4 * cases[i].amax_count + 8, cases[i].amax_shape,
				 4 * cases[i].amax_count);
		file = raw_file(header, data, 4 * cases[i].amax_count + 8, &len);
		st = pi_safetensors_parse(file, len, &set, &err);
		check(st == PI_ERR_CORRUPT, "rank-4 I8 tensor with %s refused: %s", cases[i].what, err.message);
		if (st == PI_OK)
			pi_tensor_set_free(&set);
		free(file);
	}
	{
		/* channel 0 of maximum 2: codes 127, -127, 5, 0; channel 1 of maximum 0 */
		float		amax[2] = {2.0f, 0.0f};
		uint8_t		data[16] = {0};
		size_t		len;
		uint8_t    *file;
		PiTensorSet set;
		PiError		err = {0};
		bool		ok;

		memcpy(data, amax, 8);
		data[8] = 127;
		data[9] = (uint8_t) -127;
		data[10] = 5;
		data[12] = 9;
		file = raw_file("{\"w\":{\"dtype\":\"I8\",\"shape\":[2,1,2,2],\"data_offsets\":[8,16]},"
						"\"w:int8_amax\":{\"dtype\":\"F32\",\"shape\":[2,1,1,1],\"data_offsets\":[0,8]}}",
						data, sizeof(data), &len);
		ok = pi_safetensors_parse(file, len, &set, &err) == PI_OK;
		check(ok && set.count == 1 && set.tensors[0].rank == 4 && set.tensors[0].data[0] == 2.0f &&
			  set.tensors[0].data[1] == -2.0f && set.tensors[0].data[2] == 5 * (2.0f / 127.0f) &&
			  set.tensors[0].data[4] == 0.0f, "rank-4 I8 tensor loads dequantized per output channel (%s)",
			  err.message);
		if (ok)
			pi_tensor_set_free(&set);
		free(file);
	}
}

/* Imports an ONNX file with options applied; NULL with a failed check. */
static PiModel *
load_onnx(const uint8_t *bytes, size_t len, const char *options, const char *what)
{
	PiModel    *m = NULL;
	PiError		err = {0};

	if (pi_onnx_load(bytes, len, NULL, 0, &m, NULL, &err) != PI_OK)
	{
		check(false, "%s imports: %s", what, err.message);
		return NULL;
	}
	if (!apply(m, options))
	{
		pi_model_free(m);
		return NULL;
	}
	return m;
}

/*
 * An ONNX file stored at int8 (pi_onnx_reduce; options, with "precision":
 * "int8") runs bit-identically to the file as given at int8, in at most
 * max_ratio of its bytes; at float32 it is kept as given.  With mnist, both classify the same count of its test
 * images, correct of them (-1: not checked).
 */
static void
test_onnx_storage(const char *path, const char *options, const TestMnist *mnist, int correct,
				  double max_ratio)
{
	enum
	{
		ROWS = 7
	};
	size_t		len,
				reduced_len = 0;
	char	   *file = test_read_file(path, &len);
	PiModel    *given = file ? load_onnx((const uint8_t *) file, len, options, path) : NULL;
	PiModel    *fp32 = file ? load_onnx((const uint8_t *) file, len, "{}", path) : NULL;
	PiWeightForm *forms = given ? pi_model_weight_forms(given) : NULL;
	uint8_t    *reduced = NULL,
			   *unreduced = NULL;
	size_t		unreduced_len = 0;
	PiModel    *stored = NULL;
	PiError		err = {0};
	PiStatus	st = PI_ERR_INVALID;
	float	   *x = NULL,
			   *y1 = NULL,
			   *y2 = NULL;
	int64_t		in = 0,
				out = 0;
	int			count_given = -1,
				count_stored = -2;

	if (forms != NULL)
		st = pi_onnx_reduce((const uint8_t *) file, len, NULL, 0, 0, options, strlen(options), given, forms,
							&reduced, &reduced_len, &err);
	check(st == PI_OK && reduced != NULL, "%s reduced to int8: %s", path, err.message);
	if (reduced != NULL)
		stored = load_onnx(reduced, reduced_len, options, "the stored form");
	if (stored != NULL)
	{
		in = pi_value_row_elems(&given->values[given->inputs[0]]);
		out = pi_value_row_elems(&given->values[given->outputs[0]]);
		x = malloc(sizeof(float) * ROWS * in);
		for (int64_t i = 0; i < ROWS * in; i++)
			x[i] = test_frand(&rng_state) * 2.0f;
		y1 = run(given, x, ROWS);
		y2 = run(stored, x, ROWS);
		if (mnist != NULL)
		{
			count_given = test_mnist_correct(given, mnist, 256);
			count_stored = test_mnist_correct(stored, mnist, 256);
		}
	}
	check(y1 != NULL && y2 != NULL && memcmp(y1, y2, sizeof(float) * ROWS * out) == 0 &&
		  reduced_len <= max_ratio * len,
		  "%s stored at int8: results bit-identical to the file as given, %zu of %zu bytes (%.3f, allowed %.2f)",
		  path, reduced_len, len, (double) reduced_len / len, max_ratio);
	if (mnist != NULL)
		check(count_given == count_stored && count_stored == correct,
			  "%s stored at int8: %d of 10000 correct, %d from the file as given (want %d)", path,
			  count_stored, count_given, correct);
	/* a float32 model keeps its file as given */
	{
		PiWeightForm *f32_forms = fp32 ? pi_model_weight_forms(fp32) : NULL;

		st = f32_forms ? pi_onnx_reduce((const uint8_t *) file, len, NULL, 0, 0, "{}", 2, fp32, f32_forms,
										&unreduced, &unreduced_len, &err) : PI_ERR_NOMEM;
		check(st == PI_OK && unreduced == NULL, "%s at float32 is kept as given", path);
		free(f32_forms);
	}
	free(x);
	free(y1);
	free(y2);
	free(reduced);
	free(unreduced);
	free(forms);
	pi_model_free(stored);
	pi_model_free(given);
	pi_model_free(fp32);
	free(file);
}

/*
 * Quantized ONNX files (test/onnx/quant) at precision int8: what the int8
 * path reads is already int8 codes (a DequantizeLinear's, a
 * quantize_dynamic layer's, a QOperator's), so a version keeps each file
 * as given, or stores one that runs bit-identically.
 */
static void
test_quantized_onnx_kept(const char *quant_dir)
{
	static const char *const names[] = {"lenet_qdq_channel", "lenet_qdq_tensor_s8", "lenet_dynamic",
	"lenet_qoperator", "resnet_qdq_channel", "mlp_dynamic"};
	const char *options = "{\"precision\": \"int8\"}";

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	{
		char		path[2048];
		size_t		len,
					reduced_len = 0;
		char	   *file;
		PiModel    *given = NULL,
				   *stored = NULL;
		PiWeightForm *forms = NULL;
		uint8_t    *reduced = NULL;
		PiError		err = {0};
		PiStatus	st = PI_ERR_INVALID;
		bool		same = false;

		snprintf(path, sizeof(path), "%s/%s/model.onnx", quant_dir, names[i]);
		file = test_read_file(path, &len);
		if (file != NULL)
			given = load_onnx((const uint8_t *) file, len, options, path);
		if (given != NULL && (forms = pi_model_weight_forms(given)) != NULL)
			st = pi_onnx_reduce((const uint8_t *) file, len, NULL, 0, 0, options, strlen(options), given,
								forms, &reduced, &reduced_len, &err);
		if (st == PI_OK)
		{
			stored = reduced ? load_onnx(reduced, reduced_len, options, path) : NULL;
			same = reduced == NULL || (stored != NULL && pi_int8_weights_agree(given, stored, forms) == PI_INT8_AGREE);
		}
		check(st == PI_OK && same, "%s at int8: %s (%zu of %zu bytes) %s", names[i],
			  reduced ? "stored reduced" : "kept as given", reduced ? reduced_len : len, len, err.message);
		free(reduced);
		free(forms);
		pi_model_free(stored);
		pi_model_free(given);
		free(file);
	}
}

/*
 * The bf16 path of Dense layers: on AVX512-BF16, within float32 rounding
 * of sum bf16(x) bf16(w) computed in double; without, bit-identical to
 * the float32 path.
 */
static void
test_bf16_layer(int64_t rows, int64_t kdim, int64_t mdim)
{
	float	   *w = malloc(sizeof(float) * kdim * mdim),
			   *b = malloc(sizeof(float) * mdim),
			   *x = malloc(sizeof(float) * rows * kdim);
	char		json[1024],
				header[512];
	uint8_t    *body = malloc(4 * (kdim * mdim + mdim));
	size_t		len;
	uint8_t    *file;
	PiModel    *bf,
			   *fp;
	float	   *y = NULL,
			   *y0 = NULL;
	int			bad = 0;

	for (int64_t i = 0; i < kdim * mdim; i++)
		w[i] = test_frand(&rng_state);
	for (int64_t i = 0; i < mdim; i++)
		b[i] = test_frand(&rng_state);
	for (int64_t i = 0; i < rows * kdim; i++)
		x[i] = test_frand(&rng_state) * 3.0f;
	snprintf(json, sizeof(json),
			 "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,%lld]}],"
			 "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"Gemm\",\"inputs\":[\"x\",\"w\",\"b\"],"
			 "\"attrs\":{\"transB\":1}}]}", (long long) kdim);
	snprintf(header, sizeof(header),
			 "{\"w\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[0,%lld]},"
			 "\"b\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%lld,%lld]}}",
			 (long long) mdim, (long long) kdim, (long long) (4 * kdim * mdim),
			 (long long) mdim, (long long) (4 * kdim * mdim), (long long) (4 * kdim * mdim + 4 * mdim));
	memcpy(body, w, 4 * kdim * mdim);
	memcpy(body + 4 * kdim * mdim, b, 4 * mdim);
	file = raw_file(header, body, 4 * (kdim * mdim + mdim), &len);
	free(body);
	bf = load(json, file, len, "{\"precision\": \"bf16\"}", "bf16 Gemm");
	fp = load(json, file, len, "{}", "float32 Gemm");
	if (bf != NULL && fp != NULL)
	{
		y = run(bf, x, rows);
		y0 = run(fp, x, rows);
	}
	if (y != NULL && y0 != NULL && strcmp(pi_engine_bf16_name(), "avx512bf16") == 0)
	{
		for (int64_t r = 0; r < rows; r++)
			for (int64_t j = 0; j < mdim; j++)
			{
				double		ref = b[j],
							mag = fabs(b[j]);

				for (int64_t k = 0; k < kdim; k++)
				{
					uint32_t	xb = (uint32_t) pi_bf16_bits(x[r * kdim + k]) << 16,
								wb = (uint32_t) pi_bf16_bits(w[j * kdim + k]) << 16;
					float		xf,
								wf;

					memcpy(&xf, &xb, 4);
					memcpy(&wf, &wb, 4);
					ref += (double) xf * wf;
					mag += fabs((double) xf * wf);
				}
				if (fabs(y[r * mdim + j] - ref) > (kdim + 2) * 1.2e-7 * mag)
					bad++;
			}
		check(bad == 0, "bf16 Gemm %lld x %lld -> %lld (avx512bf16) within float32 rounding of the bf16 products (%d differ)",
			  (long long) rows, (long long) kdim, (long long) mdim, bad);
	}
	else if (y != NULL && y0 != NULL)
		check(memcmp(y, y0, sizeof(float) * rows * mdim) == 0,
			  "bf16 Gemm %lld x %lld -> %lld without BF16 kernels runs the float32 path",
			  (long long) rows, (long long) kdim, (long long) mdim);
	else
		check(false, "bf16 Gemm %lld x %lld -> %lld ran", (long long) rows, (long long) kdim, (long long) mdim);
	free(y);
	free(y0);
	pi_model_free(bf);
	pi_model_free(fp);
	free(file);
	free(w);
	free(b);
	free(x);
}

/*
 * models/mnist at bf16 stored (weights rounded at creation) classifies the
 * 10,000 test images within 0.1 points of float32, batched and one row at
 * a time alike; stored int8 weights take at most 0.27 of the bytes.
 */
static void
test_mnist(const char *model_dir, const char *images, const char *labels)
{
	char		path[1024],
				why[512];
	size_t		json_len,
				st_len;
	char	   *json,
			   *st;
	TestMnist	mnist;
	static const char *const opts[] = {
		"{\"input_scale\": 0.00392156862745098, \"precision\": \"bf16\"}",
		"{\"input_scale\": 0.00392156862745098, \"precision\": \"fp16\"}",
		"{\"input_scale\": 0.00392156862745098, \"precision\": \"int8\"}"
	};

	snprintf(path, sizeof(path), "%s/model.json", model_dir);
	json = test_read_file(path, &json_len);
	snprintf(path, sizeof(path), "%s/model.safetensors", model_dir);
	st = test_read_file(path, &st_len);
	if (json == NULL || st == NULL || !test_mnist_load(images, labels, &mnist, why, sizeof(why)))
	{
		check(false, "models/mnist and the MNIST test set read (%s)", json && st ? why : "model files");
		free(json);
		free(st);
		return;
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
	{
		PiModel    *m = load(json, (const uint8_t *) st, st_len, opts[i], "models/mnist");
		PiModel    *stored = NULL;
		uint8_t    *reduced = NULL;
		size_t		reduced_len = 0;
		PiStatus	status;
		int			batched = -1,
					single = -2;

		if (m != NULL)
			reduced = reduce(json, opts[i], m, (const uint8_t *) st, st_len, &reduced_len, &status);
		if (reduced != NULL)
			stored = load(json, reduced, reduced_len, opts[i], "models/mnist stored");
		if (stored != NULL)
		{
			batched = test_mnist_correct(stored, &mnist, 256);
			single = test_mnist_correct(stored, &mnist, 1);
		}
		if (strstr(opts[i], "int8"))
			check(stored != NULL && reduced_len <= 0.27 * st_len && batched == test_mnist_correct(m, &mnist, 256),
				  "models/mnist stored at int8: %zu of %zu bytes (%.3f), %d of 10000 correct as from float32",
				  reduced_len, st_len, (double) reduced_len / st_len, batched);
		else
			check(stored != NULL && abs(batched - MNIST_FP32_CORRECT) <= MNIST_BF16_SLACK && single == batched &&
				  reduced_len <= 0.51 * st_len,
				  "models/mnist stored at %s (%s): %d of 10000 correct in batches of 256, %d one row at a time "
				  "(float32 %d, allowed +-%d), %zu of %zu bytes", strstr(opts[i], "bf16") ? "bf16" : "fp16",
				  pi_engine_bf16_name(), batched, single, MNIST_FP32_CORRECT, MNIST_BF16_SLACK, reduced_len, st_len);
		free(reduced);
		pi_model_free(stored);
		pi_model_free(m);
	}
	test_mnist_free(&mnist);
	free(json);
	free(st);
}

int
main(int argc, char **argv)
{
	static const int64_t layers[][3] = {
		/* rows, K, M: tiles of every height (1-6), odd K, panels of every width */
		{1, 1, 1}, {3, 3, 5}, {7, 4, 16}, {13, 5, 17}, {6, 784, 64}, {5, 33, 65}, {2, 256, 10},
		{300, 784, 130}, {11, 131, 200}
	};

	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	printf("CPU kernels: %s, bf16 kernels: %s\n", pi_engine_cpu_name(), pi_engine_bf16_name());
	if (argc != 7)
	{
		fprintf(stderr, "usage: %s MNIST_MODEL_DIR IMAGES.gz LABELS.gz FIXTURES LENET.onnx RESNET.onnx\n",
				argv[0]);
		return 2;
	}
	test_roundings();
	test_int8_round_trip();
	test_storage("Dense", 37, 70);
	test_storage("Gemm", 64, 33);
	test_storage("MatMul", 50, 20);
	test_fp16_range();
	test_damaged_int8();
	test_damaged_conv_int8();
	test_conv_storage(argv[4], "model_lenet_bn", 5, 0.27);
	test_conv_storage(argv[4], "model_resblock", 2, 0.5);
	test_conv_storage(argv[4], "conv_group2", 1, 1.0);
	test_conv_storage(argv[4], "k_conv3x3_s1", 1, 1.0);
	test_conv_storage(argv[4], "conv_depthwise", 0, 1.2);
	for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++)
		test_bf16_layer(layers[i][0], layers[i][1], layers[i][2]);
	test_mnist(argv[1], argv[2], argv[3]);
	{
		TestMnist	mnist;
		char		why[512] = "";
		bool		have = test_mnist_load(argv[2], argv[3], &mnist, why, sizeof(why));

		check(have, "the MNIST test set read (%s)", why);
		test_onnx_storage(argv[5], "{\"input_scale\": 0.00392156862745098, \"precision\": \"int8\"}",
						  have ? &mnist : NULL, LENET_INT8_CORRECT, 0.27);
		if (have)
			test_mnist_free(&mnist);
	}
	test_onnx_storage(argv[6], "{\"precision\": \"int8\"}", NULL, -1, 0.27);
	{
		char		quant[1024];

		/* beside FIXTURES (test/fixtures): test/onnx/quant */
		snprintf(quant, sizeof(quant), "%s/../onnx/quant", argv[4]);
		test_quantized_onnx_kept(quant);
	}
	return check_summary();
}
