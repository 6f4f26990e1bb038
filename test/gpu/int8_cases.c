/*
 * int8_cases.c
 *	  The one-node int8 test models of int8_cases.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "int8_cases.h"
#include "pi_format.h"
#include "test_check.h"

/* expect: 0 float32, 1 symmetric rows, 2 dynamic rows (PiGpuInt8Rows) */
const TestInt8Case test_int8_cases[] = {
	{"Dense 300x10 int8", "Dense", 300, 10, 1, true, NULL, true, 1},
	{"Gemm 64x33 alpha beta transB int8", "Gemm", 64, 33, 1, true,
	"{\"alpha\": 0.5, \"beta\": 2.0, \"transB\": 1}", true, 1},
	{"Gemm 17x8 no bias int8", "Gemm", 17, 8, 1, false, NULL, true, 1},
	{"MatMul [3,40]x[40,24] int8", "MatMul", 40, 24, 3, false, NULL, true, 1},
	{"MatMul 50x[50] int8", "MatMul", 50, 0, 1, false, NULL, true, 1},
	{"Dense 128x64 dynamic_int8", "Dense", 128, 64, 1, true, "{\"dynamic_int8\": 1}", false, 2},
	{"MatMul 37x5 dynamic_int8", "MatMul", 37, 5, 1, false, "{\"dynamic_int8\": 1}", false, 2},
	{"Dense 30x6 float32", "Dense", 30, 6, 1, true, NULL, false, 0},
	{"Dense 65540x1 int8, K above the int8 path's", "Dense", 65540, 1, 1, false, NULL, true, 0},
};
const int	test_int8_ncases = sizeof(test_int8_cases) / sizeof(test_int8_cases[0]);

/* Output columns of the case (1 for a rank-1 MatMul weight). */
int64_t
test_int8_columns(const TestInt8Case *c)
{
	return c->mdim > 0 ? c->mdim : 1;
}

/* Whether the case's weight is stored [M, K] (Dense, Gemm with transB). */
static bool
weight_is_mk(const TestInt8Case *c)
{
	return strcmp(c->op, "Dense") == 0 || (c->attrs != NULL && strstr(c->attrs, "\"transB\": 1") != NULL);
}

/* A uniform float in [lo, hi) from the generator state. */
static float
uniform(uint32_t *rng, float lo, float hi)
{
	*rng = *rng * 1664525u + 1013904223u;
	return lo + (hi - lo) * (float) ((*rng >> 8) / 16777216.0);
}

/* The case's model, finalized (with its precision); NULL after a failed check. */
PiModel *
test_int8_model(const TestInt8Case *c)
{
	int64_t		m = test_int8_columns(c);
	int64_t		wn = c->kdim * m;
	int64_t		n = wn + (c->bias ? m : 0);
	char		json[1024],
				header[512],
				wshape[64],
				in_shape[64];
	float	   *data = malloc(sizeof(float) * n);
	uint8_t    *buf = NULL;
	size_t		h;
	uint32_t	rng = 977u * (uint32_t) c->kdim + (uint32_t) m;
	PiModel    *model = NULL;
	PiError		err = {0};
	const char *int8 = "{\"precision\": \"int8\"}";

	if (data == NULL)
		return NULL;
	for (int64_t i = 0; i < n; i++)
		data[i] = uniform(&rng, -0.5f, 0.5f);
	if (c->mdim == 0)
		snprintf(wshape, sizeof(wshape), "[%lld]", (long long) c->kdim);
	else if (weight_is_mk(c))
		snprintf(wshape, sizeof(wshape), "[%lld,%lld]", (long long) m, (long long) c->kdim);
	else
		snprintf(wshape, sizeof(wshape), "[%lld,%lld]", (long long) c->kdim, (long long) m);
	if (c->lead > 1)
		snprintf(in_shape, sizeof(in_shape), "[-1,%lld,%lld]", (long long) c->lead, (long long) c->kdim);
	else
		snprintf(in_shape, sizeof(in_shape), "[-1,%lld]", (long long) c->kdim);
	snprintf(json, sizeof(json),
			 "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":%s}],"
			 "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"%s\",\"inputs\":[\"x\",\"w\"%s]%s%s}]}",
			 in_shape, c->op, c->bias ? ",\"b\"" : "", c->attrs ? ",\"attrs\":" : "", c->attrs ? c->attrs : "");
	if (c->bias)
		snprintf(header, sizeof(header),
				 "{\"w\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[0,%lld]},"
				 "\"b\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%lld,%lld]}}",
				 wshape, (long long) (4 * wn), (long long) m, (long long) (4 * wn), (long long) (4 * n));
	else
		snprintf(header, sizeof(header), "{\"w\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[0,%lld]}}",
				 wshape, (long long) (4 * wn));
	h = strlen(header);
	if ((buf = malloc(8 + h + 4 * n)) != NULL)
	{
		for (int i = 0; i < 8; i++)
			buf[i] = (uint8_t) ((uint64_t) h >> (8 * i));
		memcpy(buf + 8, header, h);
		memcpy(buf + 8 + h, data, 4 * n);
		if (pi_model_load(json, strlen(json), buf, 8 + h + 4 * n, &model, &err) != PI_OK ||
			(c->int8_model && pi_model_apply_options(model, int8, strlen(int8), &err) != PI_OK))
		{
			check(false, "%s: model loads: %s", c->label, err.message);
			pi_model_free(model);
			model = NULL;
		}
	}
	free(buf);
	free(data);
	return model;
}

/*
 * TEST_INT8_BATCH rows of the case's input: row 0 zeros, row 1 with a
 * NaN, row 2 with an infinity, row 3 all positive, row 4 all negative,
 * the rest uniform in [-2, 2) (a MatMul's batch row holds lead rows).
 */
float *
test_int8_rows(const TestInt8Case *c, uint32_t seed)
{
	int64_t		per = c->lead * c->kdim;
	float	   *x = malloc(sizeof(float) * TEST_INT8_BATCH * per);
	uint32_t	rng = seed;

	if (x == NULL)
		return NULL;
	for (int64_t r = 0; r < TEST_INT8_BATCH; r++)
		for (int64_t k = 0; k < per; k++)
		{
			float		v = uniform(&rng, -2.0f, 2.0f);

			x[r * per + k] = r == 0 ? 0.0f : r == 3 ? fabsf(v) : r == 4 ? -fabsf(v) : v;
		}
	x[1 * per + c->kdim / 2] = NAN;
	x[2 * per + per - 1] = INFINITY;
	return x;
}

/* One quantization step of output j of activation row x (see int8_cases.h). */
double
test_int8_step(const TestInt8Case *c, const PiModel *m, const float *x, int64_t j)
{
	const PiNode *node = &m->nodes[m->order[0]];
	const float *w = m->values[node->inputs[1]].data;
	int64_t		cols = test_int8_columns(c);
	double		alpha = strcmp(c->op, "Gemm") == 0 ? fabs(node->attrs.alpha) : 1.0;
	double		wmax = 0.0,
				hi = 0.0,
				lo = 0.0,
				amax = 0.0;

	for (int64_t k = 0; k < c->kdim; k++)
	{
		double		v = weight_is_mk(c) ? w[j * c->kdim + k] : w[k * cols + j];

		if (!isfinite(x[k]))
			return NAN;
		wmax = fmax(wmax, fabs(v));
		hi = fmax(hi, x[k]);
		lo = fmin(lo, x[k]);
		amax = fmax(amax, fabs(x[k]));
	}
	return (c->expect == 2 ? (hi - lo) / 255.0 : amax / 127.0) * alpha * wmax / 127.0;
}
