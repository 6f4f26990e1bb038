/*
 * test_int8_conv.c
 *	  Standalone tests of the int8 convolution (src/engine/op_conv_int8.c)
 *	  on the int8 kernels this process chose (PG_INFER_CPU picks the path):
 *	  Conv2D layers of many shapes (pointwise, 3x3 stride 1 and 2, 5x5,
 *	  grouped, padded, dilated, 1-D, with Relu and a residual; and marked
 *	  dynamic_int8 as a ConvInteger, depthwise too, with weights of one
 *	  scale) at batches of 1, 3 and 17, against the quantization scheme
 *	  computed here (per image u8 inputs as DynamicQuantizeLinear makes
 *	  them, per channel symmetric weights) and against
 *	  float32 within the quantization's error bound; each image alone gives
 *	  the bits it gives in a batch; an image that is not finite gives NaN
 *	  and leaves the others alone.
 *
 *	  test_int8_conv
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

static uint32_t rng_state = 2463534242u;

/* One convolution layer to test. */
typedef struct ConvCase
{
	int			c,
				h,				/* 0: a 1-D convolution over [N, C, W] */
				w,
				m,
				kh,
				kw,
				group,
				sy,
				sx,
				dil;
	int			pads[4];		/* top, left, bottom, right */
	bool		bias;
	bool		relu;
	bool		residual;		/* y = Relu(conv(x) + x): m == c, same size */
	bool		dynamic;		/* a float32 model's Conv2D marked dynamic_int8 (ConvInteger), weights codes of one scale */
} ConvCase;

/* Output size of one axis. */
static int
out_size(int in, int k, int s, int d, int p0, int p1)
{
	return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

/* The model of one case at precision int8, or marked dynamic_int8 (weights w [m, c / group, kh, kw], bias b). */
static PiModel *
conv_model(const ConvCase *t, const float *w, const float *b)
{
	char		json[2048],
				attrs[512],
				shape[64];
	int			cg = t->c / t->group;
	int64_t		wn = (int64_t) t->m * cg * t->kh * t->kw;
	PiTensorSet set = {calloc(2, sizeof(PiTensor)), t->bias ? 2 : 1};
	PiModel    *m = NULL;
	PiError		err = {0};
	const char *opts = "{\"precision\": \"int8\"}";

	if (t->h > 0)
	{
		set.tensors[0] = (PiTensor) {strdup("w"), 4, {t->m, cg, t->kh, t->kw}, wn,
			memcpy(malloc(sizeof(float) * wn), w, sizeof(float) * wn), false};
		snprintf(shape, sizeof(shape), "[-1,%d,%d,%d]", t->c, t->h, t->w);
		snprintf(attrs, sizeof(attrs), "{\"group\":%d,\"strides\":[%d,%d],\"dilations\":[%d,%d],"
				 "\"pads\":[%d,%d,%d,%d],\"dynamic_int8\":%d}", t->group, t->sy, t->sx, t->dil, t->dil,
				 t->pads[0], t->pads[1], t->pads[2], t->pads[3], t->dynamic);
	}
	else
	{
		set.tensors[0] = (PiTensor) {strdup("w"), 3, {t->m, cg, t->kw}, wn,
			memcpy(malloc(sizeof(float) * wn), w, sizeof(float) * wn), false};
		snprintf(shape, sizeof(shape), "[-1,%d,%d]", t->c, t->w);
		snprintf(attrs, sizeof(attrs), "{\"group\":%d,\"strides\":[%d],\"dilations\":[%d],"
				 "\"pads\":[%d,%d],\"dynamic_int8\":%d}", t->group, t->sx, t->dil, t->pads[1], t->pads[3],
				 t->dynamic);
	}
	if (t->bias)
		set.tensors[1] = (PiTensor) {strdup("b"), 1, {t->m}, t->m,
			memcpy(malloc(sizeof(float) * t->m), b, sizeof(float) * t->m), false};
	snprintf(json, sizeof(json),
			 "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":%s}],"
			 "\"outputs\":[\"%s\"],\"nodes\":[{\"name\":\"conv\",\"op\":\"Conv2D\",\"inputs\":[\"x\",\"w\"%s],"
			 "\"attrs\":%s}%s%s]}",
			 shape, t->residual ? "y" : t->relu ? "r" : "conv", t->bias ? ",\"b\"" : "", attrs,
			 t->residual ? ",{\"name\":\"sum\",\"op\":\"Add\",\"inputs\":[\"conv\",\"x\"]}" : "",
			 t->residual ? ",{\"name\":\"y\",\"op\":\"Relu\",\"inputs\":[\"sum\"]}" :
			 t->relu ? ",{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"conv\"]}" : "");
	if (pi_graph_load(json, strlen(json), &set, &m, &err) != PI_OK ||
		(!t->dynamic && pi_model_apply_options(m, opts, strlen(opts), &err) != PI_OK))
	{
		check(false, "conv model loads at int8: %s", err.message);
		pi_model_free(m);
		return NULL;
	}
	return m;
}

/* The symmetric 8-bit code of v with inverse scale inv, rounded half away from zero as int8.h says. */
static int32_t
weight_code(float v, float inv)
{
	float		s = fminf(fmaxf(v * inv, -127.0f), 127.0f);

	return (int32_t) (s + (s < 0.0f ? -0.5f : 0.5f));
}

/*
 * An image's u8 quantization as int8.h says, ONNX's DynamicQuantizeLinear:
 * step over [min(x, 0), max(x, 0)] / 255 (1 when that is 0), zero
 * round(-min / step); codes x / step rounded half to even, plus zero,
 * saturated.
 */
static float
image_codes(const float *x, int64_t n, int32_t *u, int32_t *zero)
{
	float		lo = 0.0f,
				hi = 0.0f,
				step,
				z;

	for (int64_t i = 0; i < n; i++)
	{
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
	}
	step = hi == lo ? 1.0f : (hi - lo) / 255.0f;
	z = nearbyintf(fminf(fmaxf(-lo / step, 0.0f), 255.0f));
	for (int64_t i = 0; i < n; i++)
		u[i] = (int32_t) fminf(fmaxf(nearbyintf(x[i] / step) + z, 0.0f), 255.0f);
	*zero = (int32_t) z;
	return step;
}

/*
 * One case at one batch: the int8 outputs equal the scheme computed here
 * (exact int32 sums; 1e-6 of the terms' magnitude for the float epilogue),
 * are within the quantization's error bound of the float convolution
 * (each input off by at most half its step, each weight by half its
 * channel's: |x w - x' w'| <= |w| xs / 2 + (|x| + xs / 2) ws / 2 per term),
 * and each image alone gives the same bits.
 */
static void
test_case(const ConvCase *t, int batch)
{
	int			h = t->h > 0 ? t->h : 1;
	int			kh = t->h > 0 ? t->kh : 1;
	int			cg = t->c / t->group,
				mg = t->m / t->group;
	int			oh = t->h > 0 ? out_size(h, kh, t->sy, t->dil, t->pads[0], t->pads[2]) : 1;
	int			ow = out_size(t->w, t->kw, t->sx, t->dil, t->pads[1], t->pads[3]);
	int64_t		kdim = (int64_t) cg * kh * t->kw;
	int64_t		in_n = (int64_t) t->c * h * t->w,
				out_n = (int64_t) t->m * oh * ow;
	float	   *w = malloc(sizeof(float) * t->m * kdim),
			   *b = malloc(sizeof(float) * t->m),
			   *ws = malloc(sizeof(float) * t->m),
			   *x = malloc(sizeof(float) * batch * in_n),
			   *y = malloc(sizeof(float) * batch * out_n),
			   *one = malloc(sizeof(float) * out_n);
	int32_t    *wq = malloc(sizeof(int32_t) * t->m * kdim),
			   *u = malloc(sizeof(int32_t) * in_n);
	double		worst_scheme = 0.0,
				worst_bound = 0.0;
	bool		alone_same = true;
	char		name[160];
	PiModel    *model;
	ConvCase	tc = *t;

	tc.kh = kh;
	snprintf(name, sizeof(name), "Conv %dx%dx%d -> %d, kernel %dx%d, group %d, stride %dx%d, dilation %d, "
			 "pads %d,%d,%d,%d%s%s%s%s, batch %d", t->c, h, t->w, t->m, kh, t->kw, t->group, t->sy,
			 t->sx, t->dil, t->pads[0], t->pads[1], t->pads[2], t->pads[3], t->bias ? ", bias" : "",
			 t->relu ? ", Relu" : "", t->residual ? ", residual" : "",
			 t->dynamic ? ", dynamic_int8" : "", batch);
	for (int64_t i = 0; i < t->m * kdim; i++)
		w[i] = test_frand(&rng_state) * (1.0f + (float) (i % 5));
	if (t->dynamic)
	{
		/* a quantize_dynamic weight: the codes of one scale for the whole tensor */
		float		whole = 0.0f;

		for (int64_t i = 0; i < t->m * kdim; i++)
			whole = fmaxf(whole, fabsf(w[i]));
		for (int64_t i = 0; i < t->m * kdim; i++)
			w[i] = (float) weight_code(w[i], 127.0f / whole) * (whole / 127.0f);
	}
	for (int j = 0; j < t->m; j++)
	{
		float		amax = 0.0f,
					inv;

		b[j] = test_frand(&rng_state);
		for (int64_t k = 0; k < kdim; k++)
			amax = fmaxf(amax, fabsf(w[j * kdim + k]));
		if (t->dynamic)
			for (int64_t i = 0; i < t->m * kdim; i++)
				amax = fmaxf(amax, fabsf(w[i]));
		ws[j] = amax / 127.0f;
		inv = amax > 0.0f ? 127.0f / amax : 0.0f;
		for (int64_t k = 0; k < kdim; k++)
			wq[j * kdim + k] = weight_code(w[j * kdim + k], inv);
	}
	for (int64_t i = 0; i < batch * in_n; i++)
	{
		/* images of mixed signs, nonnegative ones (after a Relu), and one of zeros */
		int64_t		s = i / in_n;

		x[i] = test_frand(&rng_state) * (float) (1 + i % 3);
		x[i] = s % 3 == 1 ? fabsf(x[i]) : s % 3 == 2 && s == 2 ? 0.0f : x[i];
	}
	model = conv_model(&tc, w, b);
	if (model == NULL || !test_run_rows(model, x, batch, true, y))
		goto done;
	for (int s = 0; s < batch; s++)
	{
		const float *xs_img = x + s * in_n;
		int32_t		zero;
		float		xs = image_codes(xs_img, in_n, u, &zero);

		for (int m = 0; m < t->m; m++)
		{
			int			g = m / mg;

			for (int oy = 0; oy < oh; oy++)
				for (int ox = 0; ox < ow; ox++)
				{
					int64_t		dot = 0,
								mag = 0;
					double		exact = t->bias ? b[m] : 0.0,
								bound = 0.0,
								want,
								got = y[s * out_n + ((int64_t) m * oh + oy) * ow + ox];

					for (int ci = 0; ci < cg; ci++)
						for (int ki = 0; ki < kh; ki++)
							for (int kj = 0; kj < t->kw; kj++)
							{
								int			iy = oy * t->sy + ki * t->dil - t->pads[0],
											ix = ox * t->sx + kj * t->dil - t->pads[1];
								int64_t		at = ((int64_t) (g * cg + ci) * h + iy) * t->w + ix;
								int64_t		k = ((int64_t) ci * kh + ki) * t->kw + kj;
								int64_t		term;

								if (iy < 0 || iy >= h || ix < 0 || ix >= t->w)
									continue;
								term = (int64_t) (u[at] - zero) * wq[m * kdim + k];
								dot += term;
								mag += llabs(term);
								exact += (double) xs_img[at] * w[m * kdim + k];
								bound += fabs(w[m * kdim + k]) * xs / 2 +
									(fabs(xs_img[at]) + xs / 2) * ws[m] / 2;
							}
					want = (double) dot * (double) (xs * ws[m]) + (t->bias ? b[m] : 0.0);
					if (t->residual)
					{
						double		r = xs_img[((int64_t) m * h + oy) * t->w + ox];

						want = fmax(want + r, 0.0);
						exact = fmax(exact + r, 0.0);
					}
					else if (t->relu)
					{
						want = fmax(want, 0.0);
						exact = fmax(exact, 0.0);
					}
					worst_scheme = fmax(worst_scheme, fabs(got - want) /
										((double) mag * xs * ws[m] + fabs(b[m]) + 1e-6 * fabs(want) + 1e-30));
					worst_bound = fmax(worst_bound, fabs(got - exact) /
									   (bound + 1e-6 * ((double) mag * xs * ws[m] + fabs(b[m]) + fabs(exact)) + 1e-30));
				}
		}
	}
	check(worst_scheme <= 1e-6 && worst_bound <= 1.0,
		  "%s: the int8 scheme (worst %.2e of the terms' magnitude), within the quantization bound of "
		  "float (worst %.2f of it)", name, worst_scheme, worst_bound);
	for (int s = 0; s < batch && s < 4; s++)
		if (test_run_rows(model, x + s * in_n, 1, true, one))
			alone_same &= memcmp(one, y + s * out_n, sizeof(float) * out_n) == 0;
	check(alone_same, "%s: each image alone gives the bits it gives in the batch", name);
done:
	pi_model_free(model);
	free(w);
	free(b);
	free(ws);
	free(x);
	free(y);
	free(one);
	free(wq);
	free(u);
}

/* An image with a NaN or an infinity gives NaN outputs; the other images are untouched. */
static void
test_not_finite(void)
{
	ConvCase	t = {4, 6, 6, 8, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, true, false, false, false};
	int64_t		in_n = 4 * 6 * 6,
				out_n = 8 * 6 * 6;
	float		w[8 * 4 * 9],
				b[8],
				x[3 * 4 * 6 * 6],
				y[3 * 8 * 6 * 6],
				clean[8 * 6 * 6];
	PiModel    *m;
	bool		nan_all = true;

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		w[i] = test_frand(&rng_state);
	for (int i = 0; i < 8; i++)
		b[i] = test_frand(&rng_state);
	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		x[i] = test_frand(&rng_state);
	x[in_n + 7] = NAN;
	x[2 * in_n + 11] = INFINITY;
	if ((m = conv_model(&t, w, b)) == NULL)
		return;
	if (test_run_rows(m, x, 3, true, y) && test_run_rows(m, x, 1, true, clean))
	{
		for (int64_t i = out_n; i < 3 * out_n; i++)
			nan_all &= isnan(y[i]) != 0;
		check(nan_all && memcmp(clean, y, sizeof(clean)) == 0,
			  "images with a NaN and with an infinity give NaN outputs, the image before them its own");
	}
	pi_model_free(m);
}

int
main(void)
{
	static const ConvCase cases[] = {
		/* c, h, w, m, kh, kw, group, sy, sx, dilation, pads, bias, relu, residual, dynamic */
		{16, 7, 9, 10, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, true, false, false, false},	/* pointwise */
		{8, 10, 12, 12, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, true, true, false, false},	/* 3x3, stride 1 */
		{5, 11, 9, 7, 3, 3, 1, 2, 2, 1, {1, 1, 1, 1}, false, false, false, false},	/* 3x3, stride 2 */
		{1, 12, 14, 6, 5, 5, 1, 1, 1, 1, {2, 2, 2, 2}, true, true, false, false},	/* 5x5, one channel */
		{6, 14, 14, 16, 5, 5, 1, 1, 1, 1, {0, 0, 0, 0}, true, true, false, false},	/* 5x5 */
		{8, 9, 7, 6, 3, 3, 2, 1, 1, 1, {1, 1, 1, 1}, true, false, false, false},	/* grouped */
		{12, 6, 6, 9, 3, 3, 3, 2, 2, 1, {1, 0, 1, 2}, true, false, false, false},	/* grouped, stride 2 */
		{3, 9, 10, 4, 3, 3, 1, 2, 1, 1, {0, 1, 2, 1}, true, false, false, false},	/* asymmetric */
		{4, 10, 10, 5, 3, 3, 1, 1, 1, 2, {2, 2, 2, 2}, true, false, false, false},	/* dilated */
		{8, 8, 8, 16, 1, 1, 1, 2, 2, 1, {0, 0, 0, 0}, false, false, false, false},	/* pointwise, stride 2 */
		{2, 6, 11, 9, 3, 7, 1, 1, 1, 1, {1, 3, 1, 3}, true, false, false, false},	/* taps along x */
		{8, 8, 8, 8, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, true, true, true, false},	/* residual */
		{33, 5, 5, 70, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, true, false, false, false},	/* channel blocks */
		{4, 0, 20, 6, 1, 3, 2, 1, 1, 1, {0, 1, 0, 1}, true, false, false, false},	/* 1-D, grouped */
		{3, 0, 17, 5, 1, 5, 1, 1, 2, 1, {0, 2, 0, 2}, false, false, false, false},	/* 1-D, stride 2 */
		{6, 10, 10, 12, 3, 3, 1, 2, 2, 1, {1, 1, 1, 1}, true, true, false, true},	/* ConvInteger */
		{8, 9, 9, 8, 3, 3, 8, 1, 1, 1, {1, 1, 1, 1}, true, false, false, true},	/* ConvInteger, depthwise */
		{1, 12, 12, 6, 5, 5, 1, 1, 1, 1, {0, 0, 0, 0}, false, true, false, true},	/* ConvInteger, LeNet's first */
	};
	static const int batches[] = {1, 3, 17};

	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	printf("CPU kernels: %s, int8 kernels: %s\n", pi_engine_cpu_name(), pi_engine_int8_name());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t j = 0; j < sizeof(batches) / sizeof(batches[0]); j++)
			test_case(&cases[i], batches[j]);
	test_not_finite();
	return check_summary();
}
