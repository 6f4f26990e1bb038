/*
 * test_quantize.c
 *	  Standalone tests of QuantizeLinear and DequantizeLinear on the CPU:
 *	  the quantize, dequantize and epilogue kernels of every instruction set
 *	  this CPU has (generic, avx2, avx512), bit for bit against ONNX's
 *	  definition computed here (x / scale rounded half to even, plus the zero
 *	  point, saturated; NaN stays NaN) on exact ties, their neighbours,
 *	  infinities, NaN, zeros and subnormals; the int8 kernels (portable and
 *	  VNNI) that quantize rows as DynamicQuantizeLinear does and that take
 *	  a DequantizeLinear's codes back, against the same definitions; and
 *	  the fusion of a
 *	  DequantizeLinear into the QuantizeLinear before it (src/ir/fuse.c),
 *	  alone and after a Conv2D or Dense (the int8 convolution's epilogue
 *	  too), against the same model run node by node, at float32 and int8, on
 *	  the path this process chose (PG_INFER_CPU).
 *
 *	  test_quantize
 *
 * Prints one line per check and a closing "N passed, N failed".
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_format.h"
#include "../../src/engine/cpu.h"
#include "../../src/engine/int8.h"
#include "test_check.h"
#include "test_run.h"

#define NVALUES 2600

/* One QuantizeLinear's parameters. */
typedef struct QuantCase
{
	float		scale;
	int			zero_point;
	int			is_signed;
} QuantCase;

/* ONNX QuantizeLinear of v: saturate(round_half_even(v / scale) + zero point); NaN stays NaN. */
static float
reference_code(float v, const QuantCase *q)
{
	float		r = v / q->scale;
	float		lo = q->is_signed ? -128.0f : 0.0f,
				hi = q->is_signed ? 127.0f : 255.0f;

	if (isnan(r))
		return r;
	r = rintf(r) + (float) q->zero_point;	/* the default rounding: half to even */
	return r < lo ? lo : (r > hi ? hi : r);
}

/* Whether two floats are the same bits, or both NaN. */
static bool
same(float a, float b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

/* Inputs: exact ties k + 1/2 steps (and their neighbours), random values, and the special ones. */
static int
fill_inputs(float *x, const QuantCase *q)
{
	static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX,
	1e-40f, -1e-40f, FLT_MIN, 1e30f, -1e30f};
	uint32_t	rng = 12345u;
	int			n = 0;

	for (int k = -300; k < 300; k++)
	{
		float		t = ((float) k + 0.5f) * q->scale;

		x[n++] = t;
		x[n++] = nextafterf(t, INFINITY);
		x[n++] = nextafterf(t, -INFINITY);
	}
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		x[n++] = special[i];
	while (n < NVALUES - 1)		/* an odd count: the vectors' tails run too */
		x[n++] = test_frand(&rng) * 300.0f * q->scale;
	return n;
}

/* The attributes of a QuantizeLinear of q. */
static PiAttrs
quant_attrs(const QuantCase *q, bool dequantized)
{
	PiAttrs		at;

	memset(&at, 0, sizeof(at));
	at.quant_scale = q->scale;
	at.quant_zero_point = q->zero_point;
	at.quant_signed = q->is_signed;
	at.quant_dequantized = dequantized;
	return at;
}

/* The quantize, dequantize and epilogue kernels of table k against the reference, for q. */
static void
test_kernels(const PiCpuKernels *k, const QuantCase *q)
{
	float	   *x = malloc(sizeof(float) * NVALUES),
			   *res = malloc(sizeof(float) * NVALUES),
			   *t = malloc(sizeof(float) * NVALUES),
			   *y = malloc(sizeof(float) * NVALUES),
			   *v = malloc(sizeof(float) * NVALUES);
	int			n = fill_inputs(x, q);
	PiAttrs		codes = quant_attrs(q, false),
				values = quant_attrs(q, true);
	int			bad_codes = 0,
				bad_values = 0,
				bad_dequant = 0,
				bad_epilogue = 0,
				bad_in_place = 0;
	uint32_t	rng = 777u;

	k->quantize(x, y, n, &codes);
	k->quantize(x, v, n, &values);
	for (int i = 0; i < n; i++)
	{
		float		c = reference_code(x[i], q);

		bad_codes += !same(y[i], c);
		bad_values += !same(v[i], (c - (float) q->zero_point) * q->scale);
	}
	k->dequantize(y, v, n, q->scale, (float) q->zero_point);
	for (int i = 0; i < n; i++)
		bad_dequant += !same(v[i], (y[i] - (float) q->zero_point) * q->scale);
	/* the epilogue: act(t + res) with QuantizeLinear as act, and in place */
	for (int i = 0; i < n; i++)
	{
		res[i] = test_frand(&rng) * q->scale;
		t[i] = x[i] - res[i];
	}
	k->epilogue(y, t, res, n, PI_OP_QUANTIZE, &values);
	for (int i = 0; i < n; i++)
	{
		float		c = reference_code(t[i] + res[i], q);

		bad_epilogue += !same(y[i], (c - (float) q->zero_point) * q->scale);
	}
	memcpy(y, x, sizeof(float) * n);
	k->quantize(y, y, n, &codes);
	for (int i = 0; i < n; i++)
		bad_in_place += !same(y[i], reference_code(x[i], q));
	check(bad_codes == 0 && bad_values == 0 && bad_dequant == 0 && bad_epilogue == 0 &&
		  bad_in_place == 0,
		  "%s kernels, scale %g zero point %d %s: %d values; codes %d wrong, values %d, "
		  "dequantized %d, epilogue %d, in place %d", k->name, q->scale, q->zero_point,
		  q->is_signed ? "int8" : "uint8", n, bad_codes, bad_values, bad_dequant, bad_epilogue,
		  bad_in_place);
	free(x);
	free(res);
	free(t);
	free(y);
	free(v);
}

/* ONNX DynamicQuantizeLinear of n values: the scale, zero point and codes; false when one is not finite. */
static bool
reference_dynamic(const float *x, int64_t n, float *scale, float *zp, uint8_t *codes)
{
	float		lo = 0.0f,
				hi = 0.0f;

	for (int64_t i = 0; i < n; i++)
	{
		if (!isfinite(x[i]))
			return false;
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
	}
	*scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
	*zp = fminf(fmaxf(rintf(-lo / *scale), 0.0f), 255.0f);
	for (int64_t i = 0; i < n; i++)
		codes[i] = (uint8_t) fminf(fmaxf(rintf(x[i] / *scale) + *zp, 0.0f), 255.0f);
	return true;
}

/*
 * Rows of values for the int8 row quantizers: row r of kdim values spread
 * over [-(r % 5), 3] (so zero points vary), the last rows with ties of
 * their DequantizeLinear steps, a NaN, an infinity, all zeros.
 */
static void
fill_rows(float *x, int64_t rows, int64_t kdim, float step)
{
	uint32_t	rng = 31337u;

	for (int64_t r = 0; r < rows; r++)
		for (int64_t k = 0; k < kdim; k++)
		{
			float		t = (test_frand(&rng) + 1.0f) * 0.5f;

			x[r * kdim + k] = r % 4 == 3 ? ((float) (k % 300) - 150.5f) * step :
				-(float) (r % 5) + t * (3.0f + (float) (r % 5));
		}
	x[(rows - 3) * kdim + 5] = NAN;
	x[(rows - 2) * kdim + 7] = -INFINITY;
	memset(x + (rows - 1) * kdim, 0, sizeof(float) * kdim);
}

/* The int8 row quantizers of table k against the reference, on rows of kdim values. */
static void
test_int8_rows(const PiInt8Kernels *k, int64_t kdim)
{
	int64_t		rows = 23,
				kp = (kdim + 3) / 4 * 4;
	float		step = 0.0078125f;
	float	   *x = malloc(sizeof(float) * rows * kdim),
				xs[23];
	uint8_t    *u = malloc(rows * kp),
			   *want = malloc(kdim);
	int32_t		zp[23];
	int			bad_dynamic = 0,
				bad_codes = 0;

	fill_rows(x, rows, kdim, step);
	k->quantize_asymmetric(x, rows, kdim, kp, u, xs, zp);
	for (int64_t r = 0; r < rows; r++)
	{
		float		scale,
					z;

		if (!reference_dynamic(x + r * kdim, kdim, &scale, &z, want))
			bad_dynamic += !isnan(xs[r]);
		else
			bad_dynamic += !same(xs[r], scale) || zp[r] != (int32_t) z ||
				memcmp(u + r * kp, want, kdim) != 0;
		for (int64_t j = kdim; j < kp; j++)
			bad_dynamic += u[r * kp + j] != 0;
	}
	/* a DequantizeLinear's output: int8 codes, zero point -3 (offset 125) */
	k->codes(x, rows, kdim, kp, step, 125, u, xs);
	for (int64_t r = 0; r < rows; r++)
	{
		bool		finite = true;

		for (int64_t j = 0; j < kdim; j++)
		{
			float		v = x[r * kdim + j];
			float		c = isnan(v) ? 0.0f : fminf(fmaxf(rintf(v / step) + 125.0f, 0.0f), 255.0f);

			finite &= isfinite(v) != 0;
			bad_codes += u[r * kp + j] != (uint8_t) c;
		}
		bad_codes += finite ? !same(xs[r], step) : !isnan(xs[r]);
	}
	check(bad_dynamic == 0 && bad_codes == 0,
		  "%s int8 kernels, %lld rows of %lld: DynamicQuantizeLinear rows %d wrong, codes %d wrong",
		  k->name, (long long) rows, (long long) kdim, bad_dynamic, bad_codes);
	free(x);
	free(u);
	free(want);
}

/* A weight tensor of n pseudo-random values in [-scale, scale). */
static PiTensor
weight(const char *name, int rank, const int64_t *dims, float scale, uint32_t *rng)
{
	PiTensor	w = {strdup(name), rank, {0}, 1, NULL, false};

	for (int i = 0; i < rank; i++)
	{
		w.dims[i] = dims[i];
		w.numel *= dims[i];
	}
	w.data = malloc(sizeof(float) * w.numel);
	for (int64_t i = 0; i < w.numel; i++)
		w.data[i] = test_frand(rng) * scale;
	return w;
}

/*
 * Conv2D -> QuantizeLinear -> DequantizeLinear -> MaxPool2D -> QuantizeLinear
 * -> DequantizeLinear -> Flatten -> Dense -> QuantizeLinear ->
 * DequantizeLinear (the graph output), with the options given.
 */
static PiModel *
qdq_model(const char *options)
{
	static const char *json =
		"{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,3,10,10]}],"
		"\"outputs\":[\"y\"],\"nodes\":["
		"{\"name\":\"conv\",\"op\":\"Conv2D\",\"inputs\":[\"x\",\"w\",\"b\"],\"attrs\":{\"pads\":[1,1,1,1]}},"
		"{\"name\":\"q1\",\"op\":\"QuantizeLinear\",\"inputs\":[\"conv\"],"
		"\"attrs\":{\"scale\":0.03125,\"zero_point\":128,\"signed\":0}},"
		"{\"name\":\"d1\",\"op\":\"DequantizeLinear\",\"inputs\":[\"q1\"],"
		"\"attrs\":{\"scale\":0.03125,\"zero_point\":128,\"signed\":0}},"
		"{\"name\":\"pool\",\"op\":\"MaxPool2D\",\"inputs\":[\"d1\"],"
		"\"attrs\":{\"kernel_shape\":[2,2],\"strides\":[2,2]}},"
		"{\"name\":\"q2\",\"op\":\"QuantizeLinear\",\"inputs\":[\"pool\"],"
		"\"attrs\":{\"scale\":0.0371,\"zero_point\":-5,\"signed\":1}},"
		"{\"name\":\"d2\",\"op\":\"DequantizeLinear\",\"inputs\":[\"q2\"],"
		"\"attrs\":{\"scale\":0.0371,\"zero_point\":-5,\"signed\":1}},"
		"{\"name\":\"flat\",\"op\":\"Flatten\",\"inputs\":[\"d2\"]},"
		"{\"name\":\"fc\",\"op\":\"Dense\",\"inputs\":[\"flat\",\"v\",\"c\"]},"
		"{\"name\":\"q3\",\"op\":\"QuantizeLinear\",\"inputs\":[\"fc\"],"
		"\"attrs\":{\"scale\":0.1,\"zero_point\":3,\"signed\":0}},"
		"{\"name\":\"y\",\"op\":\"DequantizeLinear\",\"inputs\":[\"q3\"],"
		"\"attrs\":{\"scale\":0.1,\"zero_point\":3,\"signed\":0}}]}";
	static const int64_t wd[] = {8, 3, 3, 3},
				bd[] = {8},
				vd[] = {7, 200},
				cd[] = {7};
	uint32_t	rng = 99u;
	PiTensorSet set = {calloc(4, sizeof(PiTensor)), 4};
	PiModel    *m = NULL;
	PiError		err = {0};

	set.tensors[0] = weight("w", 4, wd, 0.5f, &rng);
	set.tensors[1] = weight("b", 1, bd, 0.2f, &rng);
	set.tensors[2] = weight("v", 2, vd, 0.3f, &rng);
	set.tensors[3] = weight("c", 1, cd, 0.2f, &rng);
	if (pi_graph_load(json, strlen(json), &set, &m, &err) != PI_OK ||
		pi_model_apply_options(m, options, strlen(options), &err) != PI_OK)
	{
		check(false, "QDQ model loads with %s: %s", options, err.message);
		pi_model_free(m);
		return NULL;
	}
	return m;
}

/*
 * The QDQ model fused (each DequantizeLinear folded into the QuantizeLinear
 * or the Conv2D or Dense before it) against node by node: the same bits,
 * a NaN image included.
 */
static void
test_fusion(const char *options)
{
	PiModel    *m = qdq_model(options);
	int64_t		rows = 9;
	float	   *x = malloc(sizeof(float) * rows * 300),
			   *fused = malloc(sizeof(float) * rows * 7),
			   *plain = malloc(sizeof(float) * rows * 7);
	uint32_t	rng = 4242u;
	int			differ = 0,
				nan_rows = 0;

	if (m == NULL)
		return;
	for (int64_t i = 0; i < rows * 300; i++)
		x[i] = test_frand(&rng) * 2.0f;
	x[4 * 300 + 17] = NAN;
	/*
	 * 10 nodes: q1 and d1 fold into the Conv2D (as its activation), d2 into
	 * q2, q3 and y into the Dense
	 */
	check(m->norder == 10 && m->norder_fused == 5,
		  "%s: the DequantizeLinear nodes fold (%d nodes, %d after fusion, expected 10 and 5)",
		  options, m->norder, m->norder_fused);
	if (test_run_rows(m, x, rows, true, fused) && test_run_rows(m, x, rows, false, plain))
	{
		for (int64_t i = 0; i < rows * 7; i++)
			differ += !same(fused[i], plain[i]);
		for (int j = 0; j < 7; j++)
			nan_rows += isnan(fused[4 * 7 + j]) != 0;
		check(differ == 0, "%s, %s kernels: fused and node by node give the same bits (%d of %lld differ)",
			  options, pi_engine_cpu_name(), differ, (long long) rows * 7);
		check(nan_rows == 7 && !isnan(fused[3 * 7]) && !isnan(fused[5 * 7]),
			  "%s: the image with a NaN gives NaN outputs, the others numbers", options);
	}
	pi_model_free(m);
	free(x);
	free(fused);
	free(plain);
}

int
main(void)
{
	static const QuantCase cases[] = {
		{0.0078125f, 0, 0},		/* a power of two: exact ties */
		{0.0078125f, -3, 1},
		{0.1f, 128, 0},
		{1.0f / 3.0f, 37, 0},
		{2.5f, 0, 1},
		{1e-30f, 10, 1},
		{3e37f, 255, 0},
	};

	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	printf("CPU kernels: %s, int8 kernels: %s\n", pi_engine_cpu_name(), pi_engine_int8_name());
	__builtin_cpu_init();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		test_kernels(&pi_cpu_kernels_generic, &cases[i]);
#if defined(__x86_64__)
		if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
			test_kernels(&pi_cpu_kernels_avx2, &cases[i]);
		if (__builtin_cpu_supports("avx512f"))
			test_kernels(&pi_cpu_kernels_avx512, &cases[i]);
#endif
	}
	for (int64_t kdim = 1; kdim <= 803; kdim += 401)
	{
		test_int8_rows(&pi_int8_kernels_generic, kdim + 30);
#if defined(__x86_64__)
		if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw"))
			test_int8_rows(&pi_int8_kernels_vnni, kdim + 30);
#endif
	}
	test_fusion("{}");
	test_fusion("{\"precision\": \"int8\"}");
	return check_summary();
}
