/*
 * test_int8.c
 *	  Standalone tests of models of precision int8 (src/engine/int8.h) on
 *	  the int8 kernels this process chose (PG_INFER_CPU picks the path):
 *	  Dense layers against the quantization scheme computed here and
 *	  against float32 within the quantization's error bound, the PyTorch
 *	  fixtures of Dense, Gemm and MatMul, and the MNIST accuracy of
 *	  models/mnist.
 *
 *	  test_int8 FIXTURE_DIR MNIST_MODEL_DIR IMAGES.idx3.gz LABELS.idx1.gz
 *
 * Prints one line per check and a closing "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_format.h"
#include "test_check.h"
#include "test_run.h"
#include "test_files.h"
#include "test_mnist.h"

/* models/mnist's float32 accuracy on the 10,000 test images (models/mnist/reference.json). */
#define MNIST_FP32_CORRECT 9391

/* The int8 accuracy may be this many images (0.3 points) below or above it. */
#define MNIST_INT8_SLACK 30

static const char *INT8 = "{\"precision\": \"int8\"}";

static uint32_t rng_state = 2463534242u;

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

/*
 * A model of one Dense layer y = act(x w^T + b): w [mdim, kdim], b (mdim
 * floats, or NULL), act "" or an activation op; precision int8.
 */
static PiModel *
dense_model(int64_t kdim, int64_t mdim, const float *w, const float *b, const char *act)
{
	char		json[1024];
	PiTensorSet set = {calloc(2, sizeof(PiTensor)), b != NULL ? 2 : 1};
	PiModel    *m = NULL;
	PiError		err = {0};

	set.tensors[0] = (PiTensor) {strdup("w"), 2, {mdim, kdim}, mdim * kdim,
		memcpy(malloc(sizeof(float) * mdim * kdim), w, sizeof(float) * mdim * kdim), false};
	if (b != NULL)
		set.tensors[1] = (PiTensor) {strdup("b"), 1, {mdim}, mdim,
			memcpy(malloc(sizeof(float) * mdim), b, sizeof(float) * mdim), false};
	snprintf(json, sizeof(json),
			 "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,%lld]}],"
			 "\"outputs\":[\"%s\"],\"nodes\":[{\"name\":\"d\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\"%s]}%s%s%s]}",
			 (long long) kdim, act[0] ? "y" : "d", b != NULL ? ",\"b\"" : "",
			 act[0] ? ",{\"name\":\"y\",\"op\":\"" : "", act, act[0] ? "\",\"inputs\":[\"d\"]}" : "");
	if (pi_graph_load(json, strlen(json), &set, &m, &err) != PI_OK)
	{
		check(false, "Dense %lld -> %lld loads: %s", (long long) kdim, (long long) mdim, err.message);
		return NULL;
	}
	if (!apply(m, INT8))
	{
		pi_model_free(m);
		return NULL;
	}
	return m;
}

/* The symmetric 8-bit code of v with inverse scale inv, rounded half away from zero as int8.h says. */
static int32_t
code(float v, float inv)
{
	float		s = fminf(fmaxf(v * inv, -127.0f), 127.0f);

	return (int32_t) (s + (s < 0.0f ? -0.5f : 0.5f));
}

/* The scale of n values a step apart (max |v| / 127) and its inverse (0 for all zeros). */
static float
scale_of(const float *v, int64_t n, int64_t step, float *inv)
{
	float		amax = 0.0f;

	for (int64_t i = 0; i < n; i++)
		amax = fmaxf(amax, fabsf(v[i * step]));
	*inv = amax > 0.0f ? 127.0f / amax : 0.0f;
	return amax / 127.0f;
}

/*
 * One Dense layer of rows x kdim -> mdim, with or without bias and Relu:
 * the engine's int8 outputs equal the scheme of int8.h computed here
 * (exact int32 sums; 1e-6 of the terms' magnitude for the float epilogue),
 * are within the quantization's error bound of the exact product (each
 * operand is off by at most half its step: |x w - x' w'| <= |w| xs / 2 +
 * (|x| + xs / 2) ws / 2 per term), and a row's outputs do not depend on
 * the rows run with it.
 */
static void
test_layer(int64_t rows, int64_t kdim, int64_t mdim, bool bias, bool relu)
{
	float	   *w = malloc(sizeof(float) * mdim * kdim),
			   *b = malloc(sizeof(float) * mdim),
			   *x = malloc(sizeof(float) * rows * kdim),
			   *y = malloc(sizeof(float) * rows * mdim),
			   *one = malloc(sizeof(float) * mdim);
	double		worst_scheme = 0.0,
				worst_bound = 0.0;
	bool		alone_same = true;
	PiModel    *m;

	for (int64_t i = 0; i < mdim * kdim; i++)
		w[i] = test_frand(&rng_state) * (1.0f + (float) (i % 7));
	for (int64_t j = 0; j < mdim; j++)
		b[j] = test_frand(&rng_state);
	for (int64_t i = 0; i < rows * kdim; i++)
		x[i] = test_frand(&rng_state) * (float) (1 + i % 3);
	if (rows > 1)
		for (int64_t k = 0; k < kdim; k++)
			x[kdim + k] = 0.0f;			/* a row of zeros: outputs are the bias */
	m = dense_model(kdim, mdim, w, bias ? b : NULL, relu ? "Relu" : "");
	if (m == NULL || !test_run_rows(m, x, rows, true, y))
		goto done;
	for (int64_t r = 0; r < rows; r++)
	{
		float		xinv,
					xs = scale_of(x + r * kdim, kdim, 1, &xinv);

		for (int64_t j = 0; j < mdim; j++)
		{
			float		winv,
						ws = scale_of(w + j * kdim, kdim, 1, &winv);
			int64_t		dot = 0,
						mag = 0;
			double		exact = bias ? b[j] : 0.0,
						bound = 0.0,
						want,
						got = y[r * mdim + j];

			for (int64_t k = 0; k < kdim; k++)
			{
				int32_t		xq = code(x[r * kdim + k], xinv),
							wq = code(w[j * kdim + k], winv);

				dot += (int64_t) xq * wq;
				mag += llabs((int64_t) xq * wq);
				exact += (double) x[r * kdim + k] * w[j * kdim + k];
				bound += fabs(w[j * kdim + k]) * xs / 2 + (fabs(x[r * kdim + k]) + xs / 2) * ws / 2;
			}
			want = (double) dot * (double) (xs * ws) + (bias ? b[j] : 0.0);
			if (relu)
			{
				want = fmax(want, 0.0);
				exact = fmax(exact, 0.0);
			}
			worst_scheme = fmax(worst_scheme, fabs(got - want) /
								((double) mag * xs * ws + fabs(b[j]) + 1e-30));
			/* the bound, and float rounding of the terms' magnitude */
			worst_bound = fmax(worst_bound, fabs(got - exact) /
							   (bound + 1e-6 * ((double) mag * xs * ws + fabs(b[j])) + 1e-30));
		}
	}
	check(worst_scheme <= 1e-6,
		  "Dense %lld -> %lld, %lld rows%s%s: the int8 scheme, worst difference %.2e of the terms' magnitude",
		  (long long) kdim, (long long) mdim, (long long) rows, bias ? ", bias" : "", relu ? ", Relu" : "",
		  worst_scheme);
	check(worst_bound <= 1.0,
		  "Dense %lld -> %lld, %lld rows: within the quantization bound of float (worst %.2f of it)",
		  (long long) kdim, (long long) mdim, (long long) rows, worst_bound);
	for (int64_t r = 0; r < rows && r < 8; r++)
		if (test_run_rows(m, x + r * kdim, 1, true, one))
			alone_same &= memcmp(one, y + r * mdim, sizeof(float) * mdim) == 0;
	check(alone_same, "Dense %lld -> %lld: each row alone gives the same bits as in the batch of %lld",
		  (long long) kdim, (long long) mdim, (long long) rows);
done:
	pi_model_free(m);
	free(w);
	free(b);
	free(x);
	free(y);
	free(one);
}

/* A row with a NaN or an infinity gives NaN outputs, the other rows untouched; so does a weight column. */
static void
test_not_finite(void)
{
	float		w[12],
				x[12] = {1, 2, 3, 4, 1, NAN, 3, 4, 1, 2, INFINITY, 4},
				y[9],
				y0[3];
	PiModel    *m;

	for (int i = 0; i < 12; i++)
		w[i] = test_frand(&rng_state);
	m = dense_model(4, 3, w, (float[]) {1, 2, 3}, "");
	if (m != NULL && test_run_rows(m, x, 3, true, y) && test_run_rows(m, x, 1, true, y0))
		check(memcmp(y, y0, sizeof(y0)) == 0 && isnan(y[3]) && isnan(y[4]) && isnan(y[5]) &&
			  isnan(y[6]) && isnan(y[7]) && isnan(y[8]),
			  "rows with NaN and infinity give NaN: %g %g %g / %g %g %g", y[3], y[4], y[5], y[6], y[7], y[8]);
	pi_model_free(m);
	/* a weight column with an infinity gives NaN in that column only */
	w[4] = INFINITY;
	m = dense_model(4, 3, w, NULL, "");
	if (m != NULL && test_run_rows(m, x, 1, true, y))
		check(!isnan(y[0]) && isnan(y[1]) && !isnan(y[2]),
			  "a weight column with an infinity gives NaN there: %g %g %g", y[0], y[1], y[2]);
	pi_model_free(m);
}

/* The precision option: fp32 and int8 accepted, anything else refused; images keep it. */
static void
test_options(void)
{
	static const char *bad[] = {
		"{\"precision\": \"bf17\"}", "{\"precision\": \"INT8\"}", "{\"precision\": 8}",
		"{\"precision\": null}", "{\"precision\": \"int8\", \"precision\": \"int8\"}",
		"{\"precision\": \"int8\", \"scale\": 2}"
	};
	float		w[6] = {1, 2, 3, 4, 5, 6};
	PiModel    *m = dense_model(3, 2, w, NULL, "");
	PiError		err = {0};

	if (m == NULL)
		return;
	check(m->precision == PI_PRECISION_INT8, "precision int8 applied");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		PiStatus	st = pi_model_apply_options(m, bad[i], strlen(bad[i]), &err);

		check(st == PI_ERR_INVALID, "options %s refused: %s", bad[i], err.message);
	}
	check(apply(m, "{\"precision\": \"fp32\"}") && m->precision == PI_PRECISION_FP32, "precision fp32 applied");
	check(apply(m, "{}") && m->precision == PI_PRECISION_FP32, "precision fp32 by default");
	apply(m, INT8);
	{
		int64_t		len = pi_model_image_size(m);
		uint8_t    *image = aligned_alloc(PI_IMAGE_ALIGN, (len + PI_IMAGE_ALIGN - 1) / PI_IMAGE_ALIGN * PI_IMAGE_ALIGN);
		PiModel    *attached = NULL;

		if (pi_model_image_write(m, image, &err) == PI_OK)
			attached = pi_model_image_attach(image, len, &err);
		check(attached != NULL && attached->precision == PI_PRECISION_INT8,
			  "a model image keeps precision int8");
		pi_model_free(attached);
		free(image);
	}
	pi_model_free(m);
}

/*
 * PyTorch's fixtures of Dense, Gemm (alpha, beta, both layouts) and MatMul
 * by a weight (fused bias and activation, 3-d and 4-d activations, a
 * vector weight) at int8: within 3% of the output's range of PyTorch's
 * float32 outputs (two quantization steps of 1/127 of the operands'
 * ranges per layer, for up to two layers: 4/127), fused as unfused.
 */
static void
run_fixture(const char *dir, const char *name)
{
	PiModel    *m = NULL;
	PiTensorSet io = {0};
	PiError		err = {0};
	const PiTensor *in,
			   *want;
	float	   *y = NULL,
			   *plain = NULL;
	double		range = 0.0,
				worst = 0.0,
				unfused = 0.0;
	int64_t		rows,
				n;

	if (!test_fixture_load(dir, name, &m, &io, &err))
	{
		check(false, "%s loads: %s", name, err.message);
		goto done;
	}
	in = test_fixture_input(&io, m, 0);
	want = &io.tensors[pi_tensor_set_find(&io, "output")];
	rows = in->dims[0];
	n = want->numel;
	if (!apply(m, INT8) || (y = malloc(sizeof(float) * n)) == NULL ||
		(plain = malloc(sizeof(float) * n)) == NULL ||
		!test_run_rows(m, in->data, rows, true, y) || !test_run_rows(m, in->data, rows, false, plain))
		goto done;
	for (int64_t i = 0; i < n; i++)
		range = fmax(range, fabs(want->data[i]));
	for (int64_t i = 0; i < n; i++)
	{
		worst = fmax(worst, fabs(y[i] - want->data[i]) / range);
		unfused = fmax(unfused, fabs(y[i] - plain[i]) / range);
	}
	check(worst <= 4.0 / 127 && unfused <= 1e-5,
		  "%s at int8 (%s): worst error %.4f of the output range (bound %.4f), fused and unfused %.1e apart",
		  name, pi_engine_int8_name(), worst, 4.0 / 127, unfused);
done:
	free(y);
	free(plain);
	pi_model_free(m);
	pi_tensor_set_free(&io);
}

/* The fixtures whose Dense, Gemm or MatMul have a constant weight. */
static void
test_fixtures(const char *dir)
{
	static const char *names[] = {
		"dense_b3", "dense_nobias_b1", "dense_bn_fold", "gemm_transb0", "gemm_transb1",
		"gemm_transb0_alpha_beta", "gemm_transb1_alpha_beta", "gemm_transb1_nobias_alpha",
		"gemm_bn_fold", "matmul_weight_2d", "matmul_weight_1d_right", "k_fused_dense_relu",
		"k_fused_matmul_bias_gelu", "model_mlp", "model_mlp_b1"
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		run_fixture(dir, names[i]);
}

/*
 * models/mnist (784-128-10, inputs x / 255) classifies the 10,000 test
 * images at int8 within 0.3 points of its float32 accuracy, batched and
 * one row at a time alike.
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
	PiModel    *m = NULL;
	PiError		err = {0};
	TestMnist	mnist;
	int			fp32,
				batched,
				single;

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
	if (pi_model_load(json, json_len, (const uint8_t *) st, st_len, &m, &err) != PI_OK)
		check(false, "models/mnist loads: %s", err.message);
	else if (apply(m, "{\"input_scale\": 0.00392156862745098}"))
	{
		fp32 = test_mnist_correct(m, &mnist, 256);
		apply(m, "{\"input_scale\": 0.00392156862745098, \"precision\": \"int8\"}");
		batched = test_mnist_correct(m, &mnist, 256);
		single = test_mnist_correct(m, &mnist, 1);
		check(fp32 == MNIST_FP32_CORRECT, "models/mnist at float32: %d of 10000 correct", fp32);
		check(abs(batched - MNIST_FP32_CORRECT) <= MNIST_INT8_SLACK && single == batched,
			  "models/mnist at int8 (%s): %d of 10000 correct in batches of 256, %d one row at a time "
			  "(float32 %d, allowed %d to %d)", pi_engine_int8_name(), batched, single, MNIST_FP32_CORRECT,
			  MNIST_FP32_CORRECT - MNIST_INT8_SLACK, MNIST_FP32_CORRECT + MNIST_INT8_SLACK);
	}
	pi_model_free(m);
	test_mnist_free(&mnist);
	free(json);
	free(st);
}

int
main(int argc, char **argv)
{
	static const int64_t shapes[][3] = {
		/* rows, K, M: tiles of every height (1-6) and panels of every width */
		{1, 1, 1}, {3, 3, 5}, {7, 4, 16}, {13, 5, 17}, {6, 784, 64}, {5, 33, 65}, {2, 256, 10},
		{300, 784, 130}, {11, 130, 200}
	};

	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	printf("CPU kernels: %s, int8 kernels: %s\n", pi_engine_cpu_name(), pi_engine_int8_name());
	if (argc != 5)
	{
		fprintf(stderr, "usage: %s FIXTURE_DIR MNIST_MODEL_DIR IMAGES.gz LABELS.gz\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		test_layer(shapes[i][0], shapes[i][1], shapes[i][2], i % 3 != 1, i % 2 == 1);
	test_not_finite();
	test_options();
	test_fixtures(argv[1]);
	test_mnist(argv[2], argv[3], argv[4]);
	return check_summary();
}
