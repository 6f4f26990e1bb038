/*
 * test_onnx_reject.c
 *	  Tests of the ONNX importer on models built here byte by byte: what it
 *	  must reject (truncated files, bad varints, lengths past the end, dims
 *	  that overflow, external data out of range, unsupported ops listed with
 *	  their node names, non-default domains, bad versions) with the status
 *	  and message expected, and what it must accept and compute (unsorted
 *	  nodes, the PyTorch dynamic-batch Reshape pattern, initializers that are
 *	  graph inputs, external data, old-opset Softmax, Split, float16 weights),
 *	  imports that use the file's weights in place, and small files that
 *	  would make it build gigabytes; with directory arguments, the
 *	  malformed models they hold (test/onnx/ml-malformed: tree ensembles,
 *	  test/onnx/quant-malformed: quantization parameters).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_onnx.h"
#include "test_files.h"

/* A growable byte buffer holding one protobuf message. */
typedef struct Buf
{
	uint8_t    *p;
	size_t		len;
	size_t		cap;
} Buf;

static int	failures;
static int	checks;

/* Appends bytes. */
static void
put(Buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap)
	{
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Appends a varint. */
static void
put_varint(Buf *b, uint64_t v)
{
	do
	{
		uint8_t		byte = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));

		put(b, &byte, 1);
		v >>= 7;
	} while (v != 0);
}

/* Appends a varint field. */
static void
put_int(Buf *b, int field, int64_t v)
{
	put_varint(b, (uint64_t) field << 3);
	put_varint(b, (uint64_t) v);
}

/* Appends a length-delimited field. */
static void
put_bytes(Buf *b, int field, const void *data, size_t len)
{
	put_varint(b, ((uint64_t) field << 3) | 2);
	put_varint(b, len);
	put(b, data, len);
}

/* Appends a string field. */
static void
put_str(Buf *b, int field, const char *s)
{
	put_bytes(b, field, s, strlen(s));
}

/* Appends a nested message and frees it. */
static void
put_msg(Buf *b, int field, Buf *m)
{
	put_bytes(b, field, m->p, m->len);
	free(m->p);
	memset(m, 0, sizeof(*m));
}

/* A float32 TensorProto (raw_data) of the given dims. */
static Buf
tensor_f(const char *name, int rank, const int64_t *dims, const float *data)
{
	Buf			t = {0};
	int64_t		n = 1;

	for (int i = 0; i < rank; i++)
	{
		put_int(&t, 1, dims[i]);
		n *= dims[i];
	}
	put_int(&t, 2, 1);
	put_str(&t, 8, name);
	put_bytes(&t, 9, data, sizeof(float) * n);
	return t;
}

/* An INT64 TensorProto (int64_data, packed). */
static Buf
tensor_i64(const char *name, int rank, const int64_t *dims, const int64_t *data)
{
	Buf			t = {0},
				packed = {0};
	int64_t		n = 1;

	for (int i = 0; i < rank; i++)
	{
		put_int(&t, 1, dims[i]);
		n *= dims[i];
	}
	put_int(&t, 2, 7);
	for (int64_t i = 0; i < n; i++)
		put_varint(&packed, (uint64_t) data[i]);
	put_msg(&t, 7, &packed);
	put_str(&t, 8, name);
	return t;
}

/* A float ValueInfoProto; dims of -1 are symbolic ("batch"). */
static Buf
value_info(const char *name, int rank, const int64_t *dims)
{
	Buf			vi = {0},
				type = {0},
				tensor = {0},
				shape = {0};

	for (int i = 0; i < rank; i++)
	{
		Buf			dim = {0};

		if (dims[i] < 0)
			put_str(&dim, 2, "batch");
		else
			put_int(&dim, 1, dims[i]);
		put_msg(&shape, 1, &dim);
	}
	put_int(&tensor, 1, 1);
	put_msg(&tensor, 2, &shape);
	put_msg(&type, 1, &tensor);
	put_str(&vi, 1, name);
	put_msg(&vi, 2, &type);
	return vi;
}

/* An integer AttributeProto. */
static Buf
attr_i(const char *name, int64_t v)
{
	Buf			a = {0};

	put_str(&a, 1, name);
	put_int(&a, 3, v);
	put_int(&a, 20, 2);
	return a;
}

/* An integer-list AttributeProto. */
static Buf
attr_ints(const char *name, int n, const int64_t *v)
{
	Buf			a = {0};

	put_str(&a, 1, name);
	for (int i = 0; i < n; i++)
		put_int(&a, 8, v[i]);
	put_int(&a, 20, 7);
	return a;
}

/* A NodeProto; inputs and outputs are NULL-terminated lists. */
static Buf
node(const char *op, const char *name, const char *const *in, const char *const *out,
	 const char *domain, Buf *attrs, int nattrs)
{
	Buf			n = {0};

	for (; *in; in++)
		put_str(&n, 1, *in);
	for (; *out; out++)
		put_str(&n, 2, *out);
	put_str(&n, 3, name);
	put_str(&n, 4, op);
	for (int i = 0; i < nattrs; i++)
		put_msg(&n, 5, &attrs[i]);
	if (domain)
		put_str(&n, 7, domain);
	return n;
}

/* A ModelProto around a graph (consumed). */
static Buf
model(int64_t ir, int64_t opset, Buf *graph)
{
	Buf			m = {0},
				os = {0};

	put_int(&m, 1, ir);
	put_str(&m, 2, "test_onnx_reject");
	put_str(&m, 3, "1");
	put_msg(&m, 7, graph);
	put_str(&os, 1, "");
	put_int(&os, 2, opset);
	put_msg(&m, 8, &os);
	return m;
}

/* Records a check. */
static void
check(bool ok, const char *fmt,...)
{
	va_list		ap;

	checks++;
	if (ok)
		return;
	failures++;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Loads bytes; expects status st and, when given, a message fragment. */
static void
expect(const char *what, const Buf *b, const uint8_t *ext, size_t ext_len, PiStatus st,
	   const char *fragment)
{
	PiModel    *m = NULL;
	PiError		err = {0};
	PiStatus	got = pi_onnx_load(b->p, b->len, ext, ext_len, &m, NULL, &err);

	check(got == st && (fragment == NULL || strstr(err.message, fragment) != NULL),
		  "%s: status %d \"%s\", expected status %d with \"%s\"", what, got, err.message, st,
		  fragment ? fragment : "");
	if (got == st && st != PI_OK)
		printf("ok: %s: %s\n", what, err.message);
	pi_model_free(m);
}

/* Runs one batch of an imported model and compares with want (within 1e-5 relative). */
static void
check_run(const char *what, const PiModel *m, int64_t batch, const float *in, const float *want,
		  int64_t nout)
{
	PiError		err = {0};
	PiExecutor *ex;
	double		worst = 0;

	ex = pi_executor_new(m, batch, &err);
	check(ex != NULL, "%s: executor: %s", what, err.message);
	if (ex != NULL)
	{
		memcpy(pi_executor_input(ex, 0), in, sizeof(float) * pi_value_row_elems(&m->values[m->inputs[0]]) * batch);
		check(pi_executor_run(ex, batch, &err) == PI_OK, "%s: run: %s", what, err.message);
		check(pi_value_row_elems(&m->values[m->outputs[0]]) * batch == nout, "%s: output size", what);
		for (int64_t i = 0; i < nout; i++)
		{
			double		d = fabs(pi_executor_output(ex, 0)[i] - want[i]) / fmax(1.0, fabs(want[i]));

			worst = fmax(worst, d);
		}
		check(worst <= 1e-5, "%s: worst relative error %g", what, worst);
		printf("ok: %s: %lld values, worst relative error %.2g\n", what, (long long) nout, worst);
	}
	pi_executor_free(ex);
}

/* Imports, runs one batch and compares with want (within 1e-5 relative). */
static void
expect_run(const char *what, const Buf *b, const uint8_t *ext, size_t ext_len,
		   int64_t batch, const float *in, const float *want, int64_t nout)
{
	PiModel    *m = NULL;
	PiError		err = {0};

	if (pi_onnx_load(b->p, b->len, ext, ext_len, &m, NULL, &err) != PI_OK)
	{
		check(false, "%s: import failed: %s", what, err.message);
		return;
	}
	check_run(what, m, batch, in, want, nout);
	pi_model_free(m);
}

/* A model y = Relu(x @ W^T + b) with x [batch, 3]; W [2, 3] (Gemm transB). */
static Buf
gemm_model(bool external, int64_t ext_offset)
{
	static const float w[6] = {1, -2, 3, 0.5f, 0.25f, -1};
	static const float bias[2] = {0.5f, -0.5f};
	int64_t		wdims[2] = {2, 3},
				bdims[1] = {2},
				xdims[2] = {-1, 3},
				ydims[2] = {-1, 2};
	Buf			g = {0},
				t = {0},
				n,
				vi,
				a[1];

	n = node("Relu", "relu", (const char *[]) {"h", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	put_msg(&g, 1, &n);			/* listed before its producer */
	a[0] = attr_i("transB", 1);
	n = node("Gemm", "fc", (const char *[]) {"x", "W", "b", NULL}, (const char *[]) {"h", NULL}, NULL, a, 1);
	put_msg(&g, 1, &n);
	put_str(&g, 2, "g");
	if (external)
	{
		Buf			e = {0},
					kv = {0};
		char		off[32];

		put_int(&t, 1, 2);
		put_int(&t, 1, 3);
		put_int(&t, 2, 1);
		put_str(&t, 8, "W");
		put_str(&kv, 1, "location");
		put_str(&kv, 2, "weights.bin");
		put_msg(&t, 13, &kv);
		snprintf(off, sizeof(off), "%lld", (long long) ext_offset);
		put_str(&e, 1, "offset");
		put_str(&e, 2, off);
		put_msg(&t, 13, &e);
		put_int(&t, 14, 1);
	}
	else
		t = tensor_f("W", 2, wdims, w);
	put_msg(&g, 5, &t);
	t = tensor_f("b", 1, bdims, bias);
	put_msg(&g, 5, &t);
	vi = value_info("x", 2, xdims);
	put_msg(&g, 11, &vi);
	vi = value_info("b", 1, bdims);		/* an input that is an initializer: a constant */
	put_msg(&g, 11, &vi);
	vi = value_info("y", 2, ydims);
	put_msg(&g, 12, &vi);
	return model(7, 13, &g);
}

/* Expected output of gemm_model for x. */
static void
gemm_reference(const float *x, int64_t batch, float *y)
{
	static const float w[6] = {1, -2, 3, 0.5f, 0.25f, -1};
	static const float bias[2] = {0.5f, -0.5f};

	for (int64_t r = 0; r < batch; r++)
		for (int o = 0; o < 2; o++)
		{
			float		s = bias[o];

			for (int k = 0; k < 3; k++)
				s += x[r * 3 + k] * w[o * 3 + k];
			y[r * 2 + o] = s > 0 ? s : 0;
		}
}

/* Malformed bytes. */
static void
test_corrupt(void)
{
	Buf			good = gemm_model(false, 0);
	Buf			b = {0};
	int			ok_prefixes = 0;

	/* every strict prefix fails cleanly (a prefix can be a complete message) */
	for (size_t len = 0; len < good.len; len++)
	{
		PiModel    *m = NULL;
		PiError		err = {0};
		Buf			prefix = {good.p, len, len};

		if (pi_onnx_load(prefix.p, prefix.len, NULL, 0, &m, NULL, &err) == PI_OK)
			ok_prefixes++;
		pi_model_free(m);
	}
	check(ok_prefixes == 0, "%d truncated prefixes of the model loaded", ok_prefixes);
	printf("ok: all %zu truncated prefixes rejected\n", good.len);
	b.len = 0;
	put(&b, good.p, good.len - 3);
	expect("truncated in the graph", &b, NULL, 0, PI_ERR_CORRUPT, "only");
	expect("empty file", &(Buf) {(uint8_t *) "", 0, 0}, NULL, 0, PI_ERR_CORRUPT, "empty");

	/* an 11-byte varint and one with bits beyond 64 */
	b.len = 0;
	put(&b, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
	expect("overlong varint", &b, NULL, 0, PI_ERR_CORRUPT, "overlong varint");
	b.len = 0;
	put(&b, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11);
	expect("varint beyond 64 bits", &b, NULL, 0, PI_ERR_CORRUPT, "overlong varint");
	b.len = 0;
	put(&b, "\x08\xff\xff", 3);
	expect("truncated varint", &b, NULL, 0, PI_ERR_CORRUPT, "truncated");

	/* a length past the end, and a huge length */
	b.len = 0;
	put(&b, "\x3a\x10\x0a\x00", 4);
	expect("length past the end", &b, NULL, 0, PI_ERR_CORRUPT, "only 2 bytes are left");
	b.len = 0;
	put(&b, "\x3a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
	expect("length near 2^63", &b, NULL, 0, PI_ERR_CORRUPT, "bytes are left");

	/* groups and field number 0 */
	b.len = 0;
	put(&b, "\x0b\x0c", 2);
	expect("group wire type", &b, NULL, 0, PI_ERR_CORRUPT, "wire type 3");
	b.len = 0;
	put(&b, "\x00\x01", 2);
	expect("field number 0", &b, NULL, 0, PI_ERR_CORRUPT, "field number 0");
	b.len = 0;
	put(&b, good.p, good.len);
	put(&b, "\x3a\x03\x0a\x01\xff", 5);
	expect("graph field with a bad node inside", &b, NULL, 0, PI_ERR_CORRUPT, "NodeProto");
	free(b.p);
	free(good.p);
}

/* A graph around one initializer feeding Add(x, W). */
static Buf
add_model(Buf *init, int rank, const int64_t *xdims)
{
	Buf			g = {0},
				n,
				vi;

	n = node("Add", "add", (const char *[]) {"x", "W", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	put_msg(&g, 1, &n);
	put_msg(&g, 5, init);
	vi = value_info("x", rank, xdims);
	put_msg(&g, 11, &vi);
	vi = value_info("y", rank, xdims);
	put_msg(&g, 12, &vi);
	return model(8, 13, &g);
}

/* Tensors whose sizes or data do not add up. */
static void
test_tensors(void)
{
	int64_t		xdims[2] = {-1, 3};
	Buf			t = {0},
				m;

	/* dims whose product overflows int64 */
	put_int(&t, 1, (int64_t) 1 << 40);
	put_int(&t, 1, (int64_t) 1 << 40);
	put_int(&t, 2, 1);
	put_str(&t, 8, "W");
	m = add_model(&t, 2, xdims);
	expect("dims overflow", &m, NULL, 0, PI_ERR_LIMIT, "dimensions overflow");
	free(m.p);

	/* a negative dim */
	memset(&t, 0, sizeof(t));
	put_int(&t, 1, -3);
	put_int(&t, 2, 1);
	put_str(&t, 8, "W");
	m = add_model(&t, 2, xdims);
	expect("negative dim", &m, NULL, 0, PI_ERR_INVALID, "dimension 0 of size -3");
	free(m.p);

	/* raw_data of the wrong size */
	memset(&t, 0, sizeof(t));
	put_int(&t, 1, 3);
	put_int(&t, 2, 1);
	put_str(&t, 8, "W");
	put_bytes(&t, 9, "\0\0\0\0\0\0\0\0", 8);
	m = add_model(&t, 2, xdims);
	expect("raw_data size", &m, NULL, 0, PI_ERR_INVALID, "8 bytes of raw_data, expected 12");
	free(m.p);

	/* float_data with too few values */
	memset(&t, 0, sizeof(t));
	put_int(&t, 1, 3);
	put_int(&t, 2, 1);
	put_str(&t, 8, "W");
	put_bytes(&t, 4, "\0\0\x80\x3f", 4);
	m = add_model(&t, 2, xdims);
	expect("float_data count", &m, NULL, 0, PI_ERR_INVALID, "has 1 values, expected 3");
	free(m.p);

	/* packed floats not a multiple of 4 bytes */
	memset(&t, 0, sizeof(t));
	put_int(&t, 1, 3);
	put_int(&t, 2, 1);
	put_str(&t, 8, "W");
	put_bytes(&t, 4, "\0\0\x80", 3);
	m = add_model(&t, 2, xdims);
	expect("packed float length", &m, NULL, 0, PI_ERR_CORRUPT, "not a multiple of 4");
	free(m.p);

	/* an unsupported data type, and a string tensor */
	memset(&t, 0, sizeof(t));
	put_int(&t, 1, 3);
	put_int(&t, 2, 14);
	put_str(&t, 8, "W");
	m = add_model(&t, 2, xdims);
	expect("complex64 weight", &m, NULL, 0, PI_ERR_DTYPE, "COMPLEX64");
	free(m.p);

	/* int64 weight beyond 2^24 as a float32 weight */
	{
		int64_t		dims[1] = {3};
		int64_t		vals[3] = {1, 2, ((int64_t) 1 << 40) + 1};

		t = tensor_i64("W", 1, dims, vals);
		m = add_model(&t, 2, xdims);
		expect("int64 weight beyond 2^24", &m, NULL, 0, PI_ERR_DTYPE, "beyond the float32-exact range");
		free(m.p);
	}

	/* float16 weight: widened exactly (1, -2, 0.5) */
	{
		uint8_t		half[6] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38};
		float		x[6] = {1, 2, 3, 4, 5, 6};
		float		want[6] = {2, 0, 3.5f, 5, 3, 6.5f};

		memset(&t, 0, sizeof(t));
		put_int(&t, 1, 3);
		put_int(&t, 2, 10);
		put_str(&t, 8, "W");
		put_bytes(&t, 9, half, 6);
		m = add_model(&t, 2, xdims);
		expect_run("float16 weight", &m, NULL, 0, 2, x, want, 6);
		free(m.p);
	}
}

/* External data: in range works, out of range is refused. */
static void
test_external(void)
{
	static const float w[6] = {1, -2, 3, 0.5f, 0.25f, -1};
	uint8_t		file[64 + 24];
	float		x[9] = {1, 2, 3, -1, 0.5f, 2, 0, 0, 1};
	float		want[6];
	Buf			m;

	memset(file, 0xee, sizeof(file));
	memcpy(file + 64, w, sizeof(w));
	gemm_reference(x, 3, want);
	m = gemm_model(true, 64);
	expect_run("external data at offset 64", &m, file, sizeof(file), 3, x, want, 6);
	expect("external data cut short", &m, file, sizeof(file) - 1, PI_ERR_INVALID, "past the end");
	expect("external data not given", &m, NULL, 0, PI_ERR_INVALID, "no external data was given");
	free(m.p);
	m = gemm_model(true, (int64_t) 1 << 62);
	expect("external offset 2^62", &m, file, sizeof(file), PI_ERR_INVALID, "past the end");
	free(m.p);

	/* two initializers in two different external files */
	{
		int64_t		xdims[2] = {-1, 3};
		Buf			g = {0},
					nd,
					vi;

		nd = node("Add", "add", (const char *[]) {"x", "A", NULL}, (const char *[]) {"h", NULL}, NULL, NULL, 0);
		put_msg(&g, 1, &nd);
		nd = node("Mul", "mul", (const char *[]) {"h", "B", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
		put_msg(&g, 1, &nd);
		for (int k = 0; k < 2; k++)
		{
			Buf			t = {0},
						kv = {0};

			put_int(&t, 1, 3);
			put_int(&t, 2, 1);
			put_str(&t, 8, k ? "B" : "A");
			put_str(&kv, 1, "location");
			put_str(&kv, 2, k ? "b.bin" : "a.bin");
			put_msg(&t, 13, &kv);
			put_int(&t, 14, 1);
			put_msg(&g, 5, &t);
		}
		vi = value_info("x", 2, xdims);
		put_msg(&g, 11, &vi);
		vi = value_info("y", 2, xdims);
		put_msg(&g, 12, &vi);
		m = model(8, 13, &g);
		expect("two external files", &m, file, sizeof(file), PI_ERR_UNSUPPORTED, "two external data files");
		free(m.p);
	}
}

/* The weight named name of an imported model, or NULL. */
static const PiValue *
weight_named(const PiModel *m, const char *name)
{
	int			i = pi_model_find_value(m, name);

	return i >= 0 && m->values[i].kind == PI_VALUE_WEIGHT ? &m->values[i] : NULL;
}

/* Whether p points into the len bytes at start. */
static bool
points_into(const void *p, const uint8_t *start, size_t len)
{
	return (const uint8_t *) p >= start && (const uint8_t *) p < start + len;
}

/* gemm_model followed by a BatchNormalization over its 2 channels, which folds into the Gemm. */
static Buf
gemm_bn_model(void)
{
	static const float w[6] = {1, -2, 3, 0.5f, 0.25f, -1};
	static const float params[4][2] = {{2, 0.5f}, {1, -1}, {0.25f, 0}, {4, 1}};	/* scale, B, mean, var */
	static const char *const names[4] = {"scale", "B", "mean", "var"};
	int64_t		wdims[2] = {2, 3},
				cdims[1] = {2},
				xdims[2] = {-1, 3},
				ydims[2] = {-1, 2};
	Buf			g = {0},
				t,
				n,
				vi,
				a[1];

	a[0] = attr_i("transB", 1);
	n = node("Gemm", "fc", (const char *[]) {"x", "W", NULL}, (const char *[]) {"h", NULL}, NULL, a, 1);
	put_msg(&g, 1, &n);
	n = node("BatchNormalization", "bn", (const char *[]) {"h", "scale", "B", "mean", "var", NULL},
			 (const char *[]) {"y", NULL}, NULL, NULL, 0);
	put_msg(&g, 1, &n);
	t = tensor_f("W", 2, wdims, w);
	put_msg(&g, 5, &t);
	for (int i = 0; i < 4; i++)
	{
		t = tensor_f(names[i], 1, cdims, params[i]);
		put_msg(&g, 5, &t);
	}
	vi = value_info("x", 2, xdims);
	put_msg(&g, 11, &vi);
	vi = value_info("y", 2, ydims);
	put_msg(&g, 12, &vi);
	return model(7, 13, &g);
}

/*
 * In-place imports: float32 weights used where they lie in the file or
 * the external data, unaligned raw_data moved within a writable file and
 * put back byte for byte, a read-only file never written (a folded batch
 * norm rewrites copies), and pi_onnx_load's weights its own.
 */
static void
test_in_place(void)
{
	float		x[6] = {1, 2, 3, -1, 0.5f, 2};
	float		want[4],
				want_bn[4];
	Buf			gemm = gemm_model(false, 0);
	Buf			bn = gemm_bn_model();
	uint8_t    *mem = malloc(gemm.len + bn.len + 8);
	PiModel    *m = NULL;
	PiError		err = {0};
	const PiValue *w;

	gemm_reference(x, 2, want);
	for (int i = 0; i < 4; i++)
	{
		static const float scale[2] = {2, 0.5f},
					shift[2] = {1, -1},
					mean[2] = {0.25f, 0},
					var[2] = {4, 1};
		static const float wt[6] = {1, -2, 3, 0.5f, 0.25f, -1};
		int			r = i / 2,
					c = i % 2;
		float		h = 0;

		for (int k = 0; k < 3; k++)
			h += x[r * 3 + k] * wt[c * 3 + k];
		want_bn[i] = (h - mean[c]) / sqrtf(var[c] + 1e-5f) * scale[c] + shift[c];
	}
	/* the file at each alignment: its W is moved, or not, and put back */
	for (int start = 0; start < 4; start++)
	{
		uint8_t    *file = mem + start;
		PiOnnxMoves moves = {0};

		memcpy(file, gemm.p, gemm.len);
		check(pi_onnx_load_in_place(file, gemm.len, NULL, 0, &moves, &m, NULL, &err) == PI_OK,
			  "in place at +%d: %s", start, err.message);
		w = m ? weight_named(m, "W") : NULL;
		check(w != NULL && w->data_borrowed && points_into(w->data, file, gemm.len) &&
			  (uintptr_t) w->data % sizeof(float) == 0, "in place at +%d: W is used where it lies, aligned", start);
		if (m != NULL)
			check_run("in place", m, 2, x, want, 4);
		pi_model_free(m);
		pi_onnx_moves_undo(file, &moves);
		check(memcmp(file, gemm.p, gemm.len) == 0, "in place at +%d: the file is restored", start);

		memcpy(file, bn.p, bn.len);
		check(pi_onnx_load_in_place(file, bn.len, NULL, 0, NULL, &m, NULL, &err) == PI_OK,
			  "read-only at +%d: %s", start, err.message);
		if (m != NULL)
			check_run("read-only, a batch norm folded into copies", m, 2, x, want_bn, 4);
		pi_model_free(m);
		check(memcmp(file, bn.p, bn.len) == 0, "read-only at +%d: the file is not written", start);
	}
	/* external data: used in place at an aligned offset, copied at another */
	{
		static const float wext[6] = {1, -2, 3, 0.5f, 0.25f, -1};
		uint8_t		ext[72];

		for (int offset = 64; offset <= 66; offset += 2)
		{
			Buf			em = gemm_model(true, offset);

			memcpy(ext + offset, wext, sizeof(wext));
			check(pi_onnx_load_in_place(em.p, em.len, ext, offset + sizeof(wext), NULL, &m, NULL, &err) == PI_OK,
				  "external at %d: %s", offset, err.message);
			w = m ? weight_named(m, "W") : NULL;
			check(w != NULL && w->data_borrowed == (offset == 64) &&
				  points_into(w->data, ext, sizeof(ext)) == (offset == 64),
				  "external at %d: W %s", offset, offset == 64 ? "used in place" : "copied");
			if (m != NULL)
				check_run("external data in place", m, 2, x, want, 4);
			pi_model_free(m);
			free(em.p);
		}
	}
	/* pi_onnx_load: weights of the model's own */
	check(pi_onnx_load(gemm.p, gemm.len, NULL, 0, &m, NULL, &err) == PI_OK, "load: %s", err.message);
	w = m ? weight_named(m, "W") : NULL;
	check(w != NULL && !w->data_borrowed && !points_into(w->data, gemm.p, gemm.len), "load: W is a copy");
	pi_model_free(m);
	printf("ok: in-place imports\n");
	free(mem);
	free(gemm.p);
	free(bn.p);
}

/* A graph of the given nodes over input x [batch, 3], output y. */
static Buf
nodes_model(Buf *nodes, int nnodes, int64_t ir, int64_t opset)
{
	int64_t		xdims[2] = {-1, 3};
	Buf			g = {0},
				vi;

	for (int i = 0; i < nnodes; i++)
		put_msg(&g, 1, &nodes[i]);
	vi = value_info("x", 2, xdims);
	put_msg(&g, 11, &vi);
	vi = value_info("y", 2, xdims);
	put_msg(&g, 12, &vi);
	return model(ir, opset, &g);
}

/* Unsupported ops, domains and versions. */
static void
test_unsupported(void)
{
	Buf			n[5],
				m;

	n[0] = node("LSTM", "lstm_1", (const char *[]) {"x", NULL}, (const char *[]) {"a", NULL}, NULL, NULL, 0);
	n[1] = node("Loop", "a", (const char *[]) {"a", NULL}, (const char *[]) {"b", NULL}, NULL, NULL, 0);
	n[2] = node("Relu", "r", (const char *[]) {"b", NULL}, (const char *[]) {"c", NULL}, NULL, NULL, 0);
	n[3] = node("Loop", "b", (const char *[]) {"c", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	m = nodes_model(n, 4, 8, 13);
	expect("unsupported ops", &m, NULL, 0, PI_ERR_UNSUPPORTED,
		   "unsupported ONNX operators: LSTM (node \"lstm_1\"), Loop (nodes \"a\", \"b\")");
	free(m.p);

	n[0] = node("DictVectorizer", "dv", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL},
				"ai.onnx.ml", NULL, 0);
	m = nodes_model(n, 1, 8, 13);
	expect("non-default domain", &m, NULL, 0, PI_ERR_UNSUPPORTED,
		   "unsupported ONNX operators: ai.onnx.ml.DictVectorizer (node \"dv\")");
	free(m.p);

	n[0] = node("Relu", "custom", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL},
				"com.example", NULL, 0);
	m = nodes_model(n, 1, 8, 13);
	expect("default op name in another domain", &m, NULL, 0, PI_ERR_UNSUPPORTED, "com.example.Relu (node \"custom\")");
	free(m.p);

	n[0] = node("Relu", "r", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	m = nodes_model(n, 1, 2, 13);
	expect("IR version 2", &m, NULL, 0, PI_ERR_UNSUPPORTED, "IR version 2");
	free(m.p);
	n[0] = node("Relu", "r", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	m = nodes_model(n, 1, 8, 22);
	expect("opset 22", &m, NULL, 0, PI_ERR_UNSUPPORTED, "opset 22");
	free(m.p);

	/* a cycle, an undefined input, a tensor defined twice */
	n[0] = node("Relu", "r1", (const char *[]) {"z", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	n[1] = node("Relu", "r2", (const char *[]) {"y", NULL}, (const char *[]) {"z", NULL}, NULL, NULL, 0);
	m = nodes_model(n, 2, 8, 13);
	expect("cycle", &m, NULL, 0, PI_ERR_CYCLE, "cycle");
	free(m.p);
	n[0] = node("Relu", "r1", (const char *[]) {"nowhere", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	m = nodes_model(n, 1, 8, 13);
	expect("undefined input", &m, NULL, 0, PI_ERR_UNDEFINED, "\"nowhere\"");
	free(m.p);
	n[0] = node("Relu", "r1", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	n[1] = node("Relu", "r2", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	m = nodes_model(n, 2, 8, 13);
	expect("tensor defined twice", &m, NULL, 0, PI_ERR_DUPLICATE, "\"y\" is defined more than once");
	free(m.p);

	/* a Pad along the batch axis; a zero Pad read by a Relu is a Pad node */
	{
		int64_t		batch_pads[4] = {1, 0, 0, 0};
		int64_t		pads[4] = {0, 1, 0, 1};
		const float in[6] = {-1, 2, 3, 4, -5, 6};
		const float want[10] = {0, 0, 2, 3, 0, 0, 4, 0, 6, 0};

		n[0] = node("Pad", "pad", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL,
					(Buf[]) {attr_ints("pads", 4, batch_pads)}, 1);
		m = nodes_model(n, 1, 6, 10);
		expect("Pad of the batch axis", &m, NULL, 0, PI_ERR_UNSUPPORTED, "batch axis");
		free(m.p);
		n[0] = node("Pad", "pad", (const char *[]) {"x", NULL}, (const char *[]) {"p", NULL}, NULL,
					(Buf[]) {attr_ints("pads", 4, pads)}, 1);
		n[1] = node("Relu", "relu", (const char *[]) {"p", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
		m = nodes_model(n, 2, 6, 10);
		expect_run("Pad before Relu", &m, NULL, 0, 2, in, want, 10);
		free(m.p);
	}

	/* ReduceMean without axes reduces the batch too */
	n[0] = node("ReduceMean", "mean", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
	m = nodes_model(n, 1, 8, 13);
	expect("reduce over all axes", &m, NULL, 0, PI_ERR_UNSUPPORTED, "batch axis");
	free(m.p);
}

/* Models that must import and compute the right numbers. */
static void
test_accepted(void)
{
	float		x[9] = {1, 2, 3, -1, 0.5f, 2, 0, 0, 1};
	float		want[9];
	Buf			m,
				n[8],
				a[2];

	/* nodes out of order, an initializer listed as a graph input */
	m = gemm_model(false, 0);
	gemm_reference(x, 3, want);
	expect_run("unsorted nodes, initializer as input", &m, NULL, 0, 3, x, want, 6);
	free(m.p);

	/*
	 * PyTorch 2.x dynamic batch: y = Reshape(Relu(x), Concat(Unsqueeze(
	 * Gather(Shape(x), 0)), [3])), nodes listed backwards.
	 */
	{
		int64_t		one[1] = {1},
					three[1] = {3},
					zero_dims[1] = {1};
		int64_t		idx0[1] = {0};
		Buf			c1 = tensor_i64("k3", 1, one, three);
		Buf			c0 = tensor_i64("i0", 0, zero_dims, idx0);
		Buf			axes = tensor_i64("ax", 1, one, idx0);

		memset(a, 0, sizeof(a));
		put_str(&a[0], 1, "value");
		put_msg(&a[0], 5, &c1);
		put_int(&a[0], 20, 4);
		n[0] = node("Reshape", "reshape", (const char *[]) {"r", "target", NULL}, (const char *[]) {"y", NULL}, NULL, NULL, 0);
		n[1] = node("Concat", "concat", (const char *[]) {"b1", "k", NULL}, (const char *[]) {"target", NULL}, NULL,
					(Buf[]) {attr_i("axis", 0)}, 1);
		n[2] = node("Constant", "const", (const char *[]) {NULL}, (const char *[]) {"k", NULL}, NULL, a, 1);
		n[3] = node("Unsqueeze", "unsq", (const char *[]) {"b", "ax", NULL}, (const char *[]) {"b1", NULL}, NULL, NULL, 0);
		memset(&a[1], 0, sizeof(a[1]));
		put_str(&a[1], 1, "value");
		put_msg(&a[1], 5, &c0);
		put_int(&a[1], 20, 4);
		n[4] = node("Constant", "zero", (const char *[]) {NULL}, (const char *[]) {"i0", NULL}, NULL, &a[1], 1);
		n[5] = node("Gather", "gather", (const char *[]) {"s", "i0", NULL}, (const char *[]) {"b", NULL}, NULL,
					(Buf[]) {attr_i("axis", 0)}, 1);
		n[6] = node("Shape", "shape", (const char *[]) {"x", NULL}, (const char *[]) {"s", NULL}, NULL, NULL, 0);
		n[7] = node("Relu", "relu", (const char *[]) {"x", NULL}, (const char *[]) {"r", NULL}, NULL, NULL, 0);
		{
			int64_t		xdims[2] = {-1, 3};
			Buf			g = {0},
						vi;

			for (int i = 0; i < 8; i++)
				put_msg(&g, 1, &n[i]);
			put_msg(&g, 5, &axes);
			vi = value_info("x", 2, xdims);
			put_msg(&g, 11, &vi);
			vi = value_info("y", 2, xdims);
			put_msg(&g, 12, &vi);
			m = model(8, 13, &g);
		}
		for (int i = 0; i < 9; i++)
			want[i] = x[i] > 0 ? x[i] : 0;
		expect_run("Shape-Gather-Unsqueeze-Concat-Reshape batch pattern", &m, NULL, 0, 3, x, want, 9);
		free(m.p);
	}

	/* Softmax at opset 11 with axis 1 over [batch, 3]: the whole row */
	n[0] = node("Softmax", "sm", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL,
				(Buf[]) {attr_i("axis", 1)}, 1);
	m = nodes_model(n, 1, 6, 11);
	for (int r = 0; r < 3; r++)
	{
		double		s = 0;

		for (int k = 0; k < 3; k++)
			s += exp(x[r * 3 + k]);
		for (int k = 0; k < 3; k++)
			want[r * 3 + k] = (float) (exp(x[r * 3 + k]) / s);
	}
	expect_run("Softmax opset 11", &m, NULL, 0, 3, x, want, 9);
	free(m.p);

	/* Softmax at opset 11 with axis 1 over [batch, 3, 3]: flattened rows of 9 */
	{
		int64_t		xdims[3] = {-1, 3, 3};
		float		x3[18];
		float		want3[18];
		Buf			g = {0},
					vi;

		n[0] = node("Softmax", "sm", (const char *[]) {"x", NULL}, (const char *[]) {"y", NULL}, NULL,
					(Buf[]) {attr_i("axis", 1)}, 1);
		put_msg(&g, 1, &n[0]);
		vi = value_info("x", 3, xdims);
		put_msg(&g, 11, &vi);
		vi = value_info("y", 3, xdims);
		put_msg(&g, 12, &vi);
		m = model(6, 11, &g);
		for (int i = 0; i < 18; i++)
			x3[i] = (float) ((i * 7) % 5) - 1.5f;
		for (int r = 0; r < 2; r++)
		{
			double		s = 0;

			for (int k = 0; k < 9; k++)
				s += exp(x3[r * 9 + k]);
			for (int k = 0; k < 9; k++)
				want3[r * 9 + k] = (float) (exp(x3[r * 9 + k]) / s);
		}
		expect_run("Softmax opset 11 axis 1 of rank 3 (Reshape around)", &m, NULL, 0, 2, x3, want3, 18);
		free(m.p);
	}

	/* Split (opset 11, attribute sizes 1 and 2) then Concat back in reverse */
	{
		int64_t		sizes[2] = {1, 2};

		n[0] = node("Split", "split", (const char *[]) {"x", NULL}, (const char *[]) {"p", "q", NULL}, NULL,
					(Buf[]) {attr_i("axis", 1), attr_ints("split", 2, sizes)}, 2);
		n[1] = node("Concat", "cat", (const char *[]) {"q", "p", NULL}, (const char *[]) {"y", NULL}, NULL,
					(Buf[]) {attr_i("axis", 1)}, 1);
		m = nodes_model(n, 2, 6, 11);
		for (int r = 0; r < 3; r++)
		{
			want[r * 3 + 0] = x[r * 3 + 1];
			want[r * 3 + 1] = x[r * 3 + 2];
			want[r * 3 + 2] = x[r * 3 + 0];
		}
		expect_run("Split into Slice nodes", &m, NULL, 0, 3, x, want, 9);
		free(m.p);
	}
}

/*
 * Lifted batch: a graph over x [batch, 3] that transposes it to [3, batch]
 * (which the normal import refuses), applies the given nodes reading "t"
 * and writing "s", and transposes back to y.
 */
static Buf
transposed_model(Buf *middle, int nmiddle)
{
	int64_t		perm[2] = {1, 0};
	Buf			n[4];

	n[0] = node("Transpose", "t", (const char *[]) {"x", NULL}, (const char *[]) {"t", NULL}, NULL,
				(Buf[]) {attr_ints("perm", 2, perm)}, 1);
	for (int i = 0; i < nmiddle; i++)
		n[1 + i] = middle[i];
	n[1 + nmiddle] = node("Transpose", "back", (const char *[]) {"s", NULL}, (const char *[]) {"y", NULL}, NULL,
						  (Buf[]) {attr_ints("perm", 2, perm)}, 1);
	return nodes_model(n, nmiddle + 2, 8, 13);
}

/*
 * Lifted batch: with a Softmax over axis 0 of the transposed input (the
 * features) the graph imports and computes each row's softmax; ops that
 * combine rows (a Softmax over axis 1, the batch; subtracting the mean
 * over the batch) or pair them with a constant's slices are still refused.
 */
static void
test_lifted(void)
{
	float		x[9] = {1, 2, 3, -1, 0.5f, 2, 0, 0, 1};
	float		want[9];
	int64_t		batch_axis[1] = {1};
	Buf			mid[2],
				m;

	mid[0] = node("Softmax", "sm", (const char *[]) {"t", NULL}, (const char *[]) {"s", NULL}, NULL,
				  (Buf[]) {attr_i("axis", 0)}, 1);
	m = transposed_model(mid, 1);
	for (int r = 0; r < 3; r++)
	{
		double		sum = 0;

		for (int k = 0; k < 3; k++)
			sum += exp(x[r * 3 + k]);
		for (int k = 0; k < 3; k++)
			want[r * 3 + k] = (float) (exp(x[r * 3 + k]) / sum);
	}
	expect_run("lifted batch: Softmax over the features of the transposed input", &m, NULL, 0, 3, x, want, 9);
	free(m.p);

	mid[0] = node("Softmax", "sm", (const char *[]) {"t", NULL}, (const char *[]) {"s", NULL}, NULL,
				  (Buf[]) {attr_i("axis", 1)}, 1);
	m = transposed_model(mid, 1);
	expect("lifted batch: Softmax over the transposed batch axis", &m, NULL, 0, PI_ERR_UNSUPPORTED,
		   "with a lifted batch: node \"sm\" (Softmax), lifted batch: normalizes along the batch axis");
	free(m.p);

	mid[0] = node("ReduceMean", "mean", (const char *[]) {"t", NULL}, (const char *[]) {"mu", NULL}, NULL,
				  (Buf[]) {attr_ints("axes", 1, batch_axis)}, 1);
	mid[1] = node("Sub", "center", (const char *[]) {"t", "mu", NULL}, (const char *[]) {"s", NULL}, NULL, NULL, 0);
	m = transposed_model(mid, 2);
	expect("lifted batch: subtracting the mean over the batch", &m, NULL, 0, PI_ERR_UNSUPPORTED,
		   "with a lifted batch: node \"mean\" (ReduceMean), lifted batch: reduces along the batch axis");
	free(m.p);

	/* a constant [3, 3] added to [3, batch]: it fits a batch of 3 only */
	{
		int64_t		dims[2] = {3, 3};
		float		values[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
		Buf			c = tensor_f("c", 2, dims, values);
		Buf			value = {0};

		put_str(&value, 1, "value");
		put_msg(&value, 5, &c);
		put_int(&value, 20, 4);
		mid[0] = node("Constant", "const", (const char *[]) {NULL}, (const char *[]) {"c", NULL}, NULL, &value, 1);
		mid[1] = node("Add", "add", (const char *[]) {"t", "c", NULL}, (const char *[]) {"s", NULL}, NULL, NULL, 0);
		m = transposed_model(mid, 2);
		expect("lifted batch: a constant spanning the batch axis", &m, NULL, 0, PI_ERR_UNSUPPORTED,
			   "with a lifted batch: node \"add\" (Add), lifted batch: a constant spans the batch axis");
		free(m.p);
	}
}

/*
 * Small files that would make the importer build gigabytes: many empty
 * nodes, and a chain of folded constants.  Each is refused quickly with a
 * limit that scales with the file.
 */
static void
test_amplification(void)
{
	Buf			graph = {0};
	Buf			m;
	int64_t		shape_dims[1] = {2};
	int64_t		shape[2] = {2048, 2048};
	int64_t		x_dims[2] = {-1, 4};
	char		prev[16] = "c0";

	/* 250,000 empty NodeProtos: two bytes each in the file */
	for (int i = 0; i < 250000; i++)
		put_bytes(&graph, 1, "", 0);
	m = model(8, 17, &graph);
	expect("a quarter million empty nodes", &m, NULL, 0, PI_ERR_LIMIT, "the limit is 200000 of each");
	free(m.p);

	/* ConstantOfShape [2048, 2048] (16 MB), then Adds doubling it: 64 MB goes at the fourth */
	memset(&graph, 0, sizeof(graph));
	{
		Buf			t = tensor_i64("shape", 1, shape_dims, shape);
		Buf			vi = value_info("x", 2, x_dims);
		Buf			out = value_info("y", 2, x_dims);
		const char *const cos_in[] = {"shape", NULL};
		const char *const cos_out[] = {"c0", NULL};
		Buf			n = node("ConstantOfShape", "fill", cos_in, cos_out, NULL, NULL, 0);

		put_msg(&graph, 5, &t);
		put_msg(&graph, 1, &n);
		for (int i = 1; i <= 8; i++)
		{
			char		name[16];
			const char *add_in[] = {prev, prev, NULL};
			const char *add_out[] = {name, NULL};
			Buf			a;

			snprintf(name, sizeof(name), "c%d", i);
			a = node("Add", name, add_in, add_out, NULL, NULL, 0);
			put_msg(&graph, 1, &a);
			strcpy(prev, name);
		}
		{
			const char *const id_in[] = {"x", NULL};
			const char *const id_out[] = {"y", NULL};
			Buf			id = node("Identity", "y", id_in, id_out, NULL, NULL, 0);

			put_msg(&graph, 1, &id);
		}
		put_str(&graph, 2, "amplify");
		put_msg(&graph, 11, &vi);
		put_msg(&graph, 12, &out);
	}
	m = model(8, 17, &graph);
	expect("a chain of folded 16 MB constants", &m, NULL, 0, PI_ERR_LIMIT, "the limit for this file");
	free(m.p);
}

/* A host that asks to stop after a number of polls. */
static int	polls_until_interrupt;

/* pi_interrupt_pending_hook of test_interrupted. */
static bool
interrupt_after_polls(void)
{
	return --polls_until_interrupt < 0;
}

/* The importer stops between nodes when the host asks, and frees what it held. */
static void
test_interrupted(void)
{
	Buf			m = gemm_model(false, 0);

	pi_interrupt_pending_hook = interrupt_after_polls;
	polls_until_interrupt = 0;
	expect("an import interrupted at its first node", &m, NULL, 0, PI_ERR_INTERRUPTED, "interrupted");
	polls_until_interrupt = 1;
	expect("an import interrupted at its second node", &m, NULL, 0, PI_ERR_INTERRUPTED, "interrupted");
	pi_interrupt_pending_hook = NULL;
	expect("the same file, not interrupted", &m, NULL, 0, PI_OK, NULL);
	free(m.p);
}

/*
 * A stored int8 file of dir (test/onnx/stored-malformed/good_conv.onnx,
 * where there is one) imports, its Conv weight's codes dequantized per
 * output channel: code -127 of maximum 0.5 is -0.5, code 66 of maximum 1
 * is 66 / 127.
 */
static void
test_stored_good(const char *dir)
{
	char		path[4096];
	size_t		len;
	char	   *bytes;
	PiModel    *m = NULL;
	PiError		err = {0};
	int			w;

	snprintf(path, sizeof(path), "%s/good_conv.onnx", dir);
	if ((bytes = test_read_file(path, &len)) == NULL)
		return;
	check(pi_onnx_load((const uint8_t *) bytes, len, NULL, 0, &m, NULL, &err) == PI_OK,
		  "%s imports: %s", path, err.message);
	w = m ? pi_model_find_value(m, "w") : -1;
	check(w >= 0 && m->values[w].data[0] == -0.5f && m->values[w].data[19] == 66 * (1.0f / 127.0f),
		  "%s: stored int8 Conv weight dequantized per output channel (%g, %g)", path,
		  w >= 0 ? m->values[w].data[0] : NAN, w >= 0 ? m->values[w].data[19] : NAN);
	pi_model_free(m);
	free(bytes);
}

/*
 * The malformed models of dir (test/onnx/make_ml_malformed.py: tree
 * ensembles; make_quant_malformed.py: quantization parameters): each file
 * of its EXPECTED list is refused as invalid (as a type mismatch where the
 * line ends in a tab and "dtype", as corrupt where it ends in "corrupt"),
 * with its fragment.
 */
static void
test_malformed_files(const char *dir)
{
	char		path[4096];
	size_t		len;
	char	   *list;
	int			files = 0;

	snprintf(path, sizeof(path), "%s/EXPECTED", dir);
	list = test_read_file(path, &len);
	check(list != NULL, "%s cannot be read", path);
	for (char *line = list ? strtok(list, "\n") : NULL; line; line = strtok(NULL, "\n"))
	{
		char	   *tab = strchr(line, '\t');
		char	   *kind;
		char	   *bytes;
		Buf			b;

		check(tab != NULL, "%s: line \"%s\" has no tab", path, line);
		if (tab == NULL)
			continue;
		*tab = '\0';
		snprintf(path, sizeof(path), "%s/%s.onnx", dir, line);
		bytes = test_read_file(path, &len);
		check(bytes != NULL, "%s cannot be read", path);
		if (bytes == NULL)
			continue;
		kind = strchr(tab + 1, '\t');
		if (kind != NULL)
			*kind++ = '\0';
		b = (Buf) {(uint8_t *) bytes, len, len};
		expect(line, &b, NULL, 0,
			   kind == NULL ? PI_ERR_INVALID : strcmp(kind, "dtype") == 0 ? PI_ERR_DTYPE : PI_ERR_CORRUPT,
			   tab + 1);
		free(bytes);
		files++;
	}
	check(files >= 10, "%s lists %d malformed models, expected at least 10", dir, files);
	free(list);
	test_stored_good(dir);
}

/*
 * The text fixture's token vectors [length][32] of one row of ids, padded
 * with a zero mask, by an executor of its own or made over base (then
 * *borrowed: the packed bytes it read from base).
 */
static bool
run_text_over(PiModel *m, const PiExecutor *base, int64_t length, const int *ids, int count,
			  float *out, int64_t *borrowed)
{
	PiError		err = {0};
	PiExecutor *ex = base ? pi_executor_new_over(m, 1, base, &err) : pi_executor_new(m, 1, &err);
	bool		ok;

	if (ex == NULL)
		return false;
	if (borrowed != NULL)
		*borrowed = pi_executor_borrowed_bytes(ex);
	for (int64_t t = 0; t < length; t++)
	{
		pi_executor_input(ex, 0)[t] = t < count ? (float) ids[t] : 0.0f;
		pi_executor_input(ex, 1)[t] = t < count ? 1.0f : 0.0f;
		pi_executor_input(ex, 2)[t] = 0.0f;
	}
	ok = pi_executor_run(ex, 1, &err) == PI_OK;
	if (ok)
		memcpy(out, pi_executor_output(ex, 0), sizeof(float) * length * 32);
	pi_executor_free(ex);
	return ok;
}

/* The text fixture's token vectors by an executor of its own (run_text_over). */
static bool
run_text(PiModel *m, int64_t length, const int *ids, int count, float *out)
{
	return run_text_over(m, NULL, length, ids, count, out, NULL);
}

/*
 * A text model with a symbolic sequence dimension (the BERT fixture of
 * test/text, exported with [batch, sequence] inputs): refused without a
 * length, imported at any given one, its token vectors those of the fixed
 * export for the text's tokens; a variant shares the weights that do not
 * depend on the length; the stored descriptor keeps the length.
 */
static void
test_sequence_length(const char *dir)
{
	static const int ids[5] = {2, 43, 434, 1290, 3};
	char		path[1024];
	size_t		len,
				fixed_len;
	uint8_t    *onnx,
			   *fixed_onnx;
	PiModel    *m = NULL,
			   *at32 = NULL,
			   *fixed = NULL;
	PiOnnxInfo	info;
	PiError		err = {0};
	float		want[32 * 32],
				got[32 * 32];
	char	   *descriptor;
	int64_t		stored = -1;

	snprintf(path, sizeof(path), "%s/model_dynamic.onnx", dir);
	onnx = (uint8_t *) test_read_file(path, &len);
	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	fixed_onnx = (uint8_t *) test_read_file(path, &fixed_len);
	if (onnx == NULL || fixed_onnx == NULL)
	{
		check(false, "sequence length: cannot read %s", dir);
		return;
	}
	check(pi_onnx_load(onnx, len, NULL, 0, &m, NULL, &err) == PI_ERR_SHAPE &&
		  strstr(err.message, "dimension 1 is symbolic") != NULL,
		  "symbolic sequence without a length: %s", err.message);
	check(pi_onnx_load_at_length(fixed_onnx, fixed_len, NULL, 0, NULL, 16, &fixed, &info, &err) == PI_OK &&
		  info.sequence_length == 0 && fixed->values[fixed->inputs[0]].dims[1] == 32,
		  "a fixed export ignores the length: %s", err.message);
	check(pi_onnx_load_at_length(onnx, len, NULL, 0, NULL, 32, &at32, &info, &err) == PI_OK &&
		  info.sequence_length == 32, "import at 32: %s", err.message);
	if (at32 != NULL)
	{
		int			norms = 0,
					gelus = 0,
					others = 0;

		/*
		 * the export spells LayerNorm (embeddings' and two per layer) and
		 * GELU (one per layer) out (opset 14)
		 */
		for (int p = 0; p < at32->norder; p++)
		{
			PiOp		op = at32->nodes[at32->order[p]].op;

			norms += op == PI_OP_LAYER_NORM;
			gelus += op == PI_OP_GELU;
			others += op == PI_OP_POW || op == PI_OP_ERF || op == PI_OP_SQRT;
		}
		check(norms == 5 && gelus == 2 && others == 0,
			  "LayerNorms and GELUs fused: %d LayerNormalization, %d Gelu, %d Pow, Erf or Sqrt run",
			  norms, gelus, others);
	}
	check(fixed != NULL && at32 != NULL && run_text(fixed, 32, ids, 5, want) &&
		  run_text(at32, 32, ids, 5, got) && memcmp(want, got, sizeof(float) * 5 * 32) == 0,
		  "at 32: the fixed export's vectors");
	for (int64_t length = 5; length <= 16; length += 11)
	{
		int			shared = 0,
					own = 0;
		float		worst = 0;

		m = NULL;
		check(pi_onnx_load_at_length(onnx, len, NULL, 0, NULL, length, &m, &info, &err) == PI_OK &&
			  info.sequence_length == length && m->values[m->inputs[1]].dims[1] == length &&
			  m->values[m->outputs[0]].dims[1] == length && m->values[m->outputs[0]].dims[2] == 32,
			  "import at %lld: %s", (long long) length, err.message);
		if (m == NULL || at32 == NULL)
			continue;
		if (length == 5)
		{
			/* an image (the shared cache's) keeps no data for weights only dropped nodes read */
			int64_t		size = pi_model_image_size(at32);
			uint8_t    *image = aligned_alloc(64, (size_t) (size + 63) / 64 * 64);
			PiModel    *attached = NULL;
			PiModel    *variant = NULL;

			check(image != NULL && pi_model_image_write(at32, image, &err) == PI_OK &&
				  (attached = pi_model_image_attach(image, size, &err)) != NULL &&
				  pi_onnx_load_at_length(onnx, len, NULL, 0, NULL, 8, &variant, NULL, &err) == PI_OK &&
				  pi_model_share_weights(variant, attached, &err) == PI_OK &&
				  run_text(variant, 8, ids, 5, got) &&
				  fabsf(got[0] - want[0]) <= 1e-5f && fabsf(got[5 * 32 - 1] - want[5 * 32 - 1]) <= 1e-5f,
				  "a variant sharing an image's weights: %s", err.message);
			if (variant != NULL && attached != NULL)
			{
				/* the variant's own image leaves the shared weights to its base */
				int64_t		vsize = pi_model_image_size(variant);
				int64_t		whole;
				int64_t		shared_bytes = 0;
				uint8_t    *vimage = aligned_alloc(64, (size_t) (vsize + 63) / 64 * 64);
				PiModel    *over = NULL;
				PiModel    *alone = NULL;
				PiModel    *other = pi_model_image_attach(image, size, &err);
				float		again[32 * 32];

				for (int i = 0; i < variant->nvalues; i++)
				{
					int			j = pi_model_find_value(attached, variant->values[i].name);

					if (variant->values[i].kind == PI_VALUE_WEIGHT && j >= 0 &&
						variant->values[i].data == attached->values[j].data)
					{
						shared_bytes += (int64_t) sizeof(float) * variant->values[i].numel;
						/* a base whose weight of that name has another shape */
						if (other != NULL && other->values[j].rank > 0)
							other->values[j].dims[other->values[j].rank - 1] += 1;
					}
				}
				variant->weights_base = NULL;
				whole = pi_model_image_size(variant);
				variant->weights_base = attached;
				check(vimage != NULL && pi_model_image_write(variant, vimage, &err) == PI_OK &&
					  shared_bytes > 0 && vsize + shared_bytes <= whole,
					  "variant image of %lld bytes, %lld with the %lld bytes of weights it shares",
					  (long long) vsize, (long long) whole, (long long) shared_bytes);
				check((over = pi_model_image_attach_over(vimage, vsize, attached, &err)) != NULL &&
					  run_text(over, 8, ids, 5, again) && memcmp(again, got, sizeof(float) * 5 * 32) == 0,
					  "a variant attached over its base runs as the variant: %s", err.message);
				alone = pi_model_image_attach(vimage, vsize, &err);
				check(alone == NULL && err.status == PI_ERR_INVALID &&
					  strstr(err.message, "from a base model, and none was given") != NULL,
					  "a variant image without its base refused: %s", err.message);
				pi_model_free(alone);
				alone = other ? pi_model_image_attach_over(vimage, vsize, other, &err) : NULL;
				check(other != NULL && alone == NULL && err.status == PI_ERR_INVALID &&
					  strstr(err.message, "which has no weight of that name and shape") != NULL,
					  "a variant image over a base of other shapes refused: %s", err.message);
				pi_model_free(alone);
				pi_model_free(other);
				pi_model_free(over);
				free(vimage);
			}
			pi_model_free(variant);
			pi_model_free(attached);
			free(image);
		}
		check(pi_model_share_weights(m, at32, &err) == PI_OK, "share weights: %s", err.message);
		for (int i = 0; i < m->nvalues; i++)
			if (m->values[i].kind == PI_VALUE_WEIGHT)
			{
				int			j = pi_model_find_value(at32, m->values[i].name);

				if (j >= 0 && m->values[i].data == at32->values[j].data)
					shared++;
				else
					own++;
			}
		check(shared > 10 && own >= 1, "at %lld: %d weights shared, %d its own",
			  (long long) length, shared, own);
		check(run_text(m, length, ids, 5, got), "run at %lld", (long long) length);
		for (int k = 0; k < 5 * 32; k++)
			worst = fmaxf(worst, fabsf(got[k] - want[k]));
		check(worst <= 1e-5f, "at %lld: token vectors differ by %g from the padded run",
			  (long long) length, worst);
		/* an executor over the version's reads its packed weights, with the same vectors */
		{
			PiExecutor *base = pi_executor_new(at32, 1, &err);
			int64_t		borrowed = 0,
						packed = 0;
			float		over_got[32 * 32];

			check(base != NULL && run_text_over(m, base, length, ids, 5, over_got, &borrowed) &&
				  memcmp(over_got, got, sizeof(float) * 5 * 32) == 0 &&
				  pi_executor_packed_bytes(m, &packed) && borrowed > 0 && borrowed <= packed,
				  "at %lld: an executor over the version's reads %lld of %lld packed bytes from it, same vectors",
				  (long long) length, (long long) borrowed, (long long) packed);
			pi_executor_free(base);
		}
		pi_model_free(m);
	}
	info.sequence_length = 32;
	descriptor = pi_onnx_descriptor(&info, len, 0);
	check(descriptor != NULL &&
		  pi_model_stored_sequence_length(descriptor, strlen(descriptor), &stored, &err) == PI_OK &&
		  stored == 32, "descriptor keeps sequence_length: %lld", (long long) stored);
	free(descriptor);
	descriptor = "{\"format\": \"onnx\", \"sequence_length\": -3}";
	check(pi_model_stored_sequence_length(descriptor, strlen(descriptor), &stored, &err) == PI_ERR_CORRUPT,
		  "negative sequence_length refused");
	descriptor = "{\"format\": \"onnx\", \"sequence_length\": 1e9}";
	check(pi_model_stored_sequence_length(descriptor, strlen(descriptor), &stored, &err) == PI_ERR_CORRUPT &&
		  strstr(err.message, "over 65536") != NULL, "huge sequence_length refused: %s", err.message);
	pi_model_free(at32);
	pi_model_free(fixed);
	free(onnx);
	free(fixed_onnx);
}

int
main(int argc, char **argv)
{
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	test_corrupt();
	test_tensors();
	test_external();
	test_in_place();
	test_unsupported();
	test_accepted();
	test_lifted();
	test_amplification();
	test_interrupted();
	test_sequence_length("test/text/fixtures/bert_tiny");
	for (int i = 1; i < argc; i++)
		test_malformed_files(argv[i]);
	printf("%d checks, %d failed\n", checks, failures);
	return failures > 0;
}
