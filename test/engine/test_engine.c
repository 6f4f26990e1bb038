/*
 * test_engine.c
 *	  Standalone tests of the engine (no server): every PyTorch fixture under
 *	  test/fixtures, and the parsers' rejection of malformed models.
 *
 *	  test_engine FIXTURE_DIR
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
#include "test_check.h"
#include "test_run.h"
#include "test_files.h"


/*
 * Runs the first rows of a fixture's inputs, repeated copies times, as one
 * batch, fused or not; returns the executor (NULL, with a failed check,
 * when it cannot run).
 */
static PiExecutor *
run_rows(const char *name, const PiModel *m, const PiTensorSet *io, int64_t rows, int copies,
		 bool fused)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, rows * copies, &err);

	if (ex == NULL)
	{
		check(false, "%s: executor: %s", name, err.message);
		return NULL;
	}
	pi_executor_set_fusion(ex, fused);
	for (int i = 0; i < m->ninputs; i++)
	{
		const PiTensor *in = test_fixture_input(io, m, i);
		int64_t		row = pi_value_row_elems(&m->values[m->inputs[i]]);

		if (in == NULL || in->numel % row != 0 || in->numel / row < rows)
		{
			check(false, "%s: input %d has the wrong size", name, i);
			pi_executor_free(ex);
			return NULL;
		}
		for (int c = 0; c < copies; c++)
			memcpy(pi_executor_input(ex, i) + c * rows * row, in->data, sizeof(float) * rows * row);
	}
	if (pi_executor_run(ex, rows * copies, &err) != PI_OK)
	{
		check(false, "%s: run: %s", name, err.message);
		pi_executor_free(ex);
		return NULL;
	}
	return ex;
}

/* Worst of |out - b| / max(1, |b|) over n values (infinite for NaN). */
static double
worst_error(const float *out, const float *b, int64_t n)
{
	double		worst = 0.0;

	for (int64_t i = 0; i < n; i++)
	{
		double		diff = fabs((double) out[i] - b[i]) / fmax(1.0, fabs((double) b[i]));

		if (diff > worst || isnan(diff))
			worst = isnan(diff) ? INFINITY : diff;
	}
	return worst;
}

/*
 * Runs the first rows of a fixture's inputs repeated copies times as one
 * batch and compares every copy's output with PyTorch's.
 */
static void
run_tiled(const char *name, const PiModel *m, const PiTensorSet *io,
		  const PiTensor *expected, int64_t rows, int copies)
{
	PiExecutor *ex = run_rows(name, m, io, rows, copies, true);
	int64_t		n = rows * pi_value_row_elems(&m->values[m->outputs[0]]);
	double		worst = 0.0;

	if (ex == NULL)
		return;
	for (int c = 0; c < copies; c++)
		worst = fmax(worst, worst_error(pi_executor_output(ex, 0) + c * n, expected->data, n));
	check(worst <= 1e-4, "%s: batch %lld, %lld values, worst relative error %.2e", name,
		  (long long) (rows * copies), (long long) (n * copies), worst);
	pi_executor_free(ex);
}

/*
 * The fused epilogues against every node run as planned: the same outputs
 * within 1e-5 relative.
 */
static void
run_unfused(const char *name, const PiModel *m, const PiTensorSet *io, int64_t rows)
{
	PiExecutor *fused = run_rows(name, m, io, rows, 1, true);
	PiExecutor *plain = run_rows(name, m, io, rows, 1, false);

	if (fused != NULL && plain != NULL)
	{
		double		worst = 0.0;

		for (int o = 0; o < m->noutputs; o++)
			worst = fmax(worst, worst_error(pi_executor_output(fused, o), pi_executor_output(plain, o),
											rows * pi_value_row_elems(&m->values[m->outputs[o]])));
		check(worst <= 1e-5, "%s: %d nodes fused to %d agree with the unfused graph, worst relative difference %.2e",
			  name, m->norder, m->norder_fused, worst);
	}
	pi_executor_free(fused);
	pi_executor_free(plain);
}

/*
 * Writes m as an image, attaches a model to it and runs that: same results,
 * weights read in place from the image.
 */
static void
run_from_image(const char *name, const PiModel *m, const PiTensorSet *io,
			   const PiTensor *expected, int64_t batch)
{
	PiError		err = {0};
	int64_t		len = pi_model_image_size(m);
	uint8_t    *image = aligned_alloc(PI_IMAGE_ALIGN, (len + PI_IMAGE_ALIGN - 1) / PI_IMAGE_ALIGN * PI_IMAGE_ALIGN);
	PiModel    *attached = NULL;
	char		label[600];
	bool		weights_inside = true;

	if (image == NULL || pi_model_image_write(m, image, &err) != PI_OK ||
		(attached = pi_model_image_attach(image, len, &err)) == NULL)
	{
		check(false, "%s: image: %s", name, err.message);
		free(image);
		return;
	}
	for (int i = 0; i < attached->nvalues; i++)
	{
		const float *d = attached->values[i].data;

		if (d != NULL && ((const uint8_t *) d < image || (const uint8_t *) d >= image + len))
			weights_inside = false;
	}
	check(weights_inside && attached->norder == m->norder,
		  "%s: attached image reads its weights in place", name);
	snprintf(label, sizeof(label), "%s (from image)", name);
	run_tiled(label, attached, io, expected, batch, 1);
	pi_model_free(attached);
	free(image);
}

/* Copies the first rows of the batch's inputs into ex and runs them; false with err set when it fails. */
static bool
run_batch_prefix(PiExecutor *ex, const PiModel *m, const PiTensorSet *io, int64_t rows, PiError *err)
{
	for (int i = 0; i < m->ninputs; i++)
		memcpy(pi_executor_input(ex, i), test_fixture_input(io, m, i)->data,
			   sizeof(float) * rows * pi_value_row_elems(&m->values[m->inputs[i]]));
	return pi_executor_run(ex, rows, err) == PI_OK;
}

/*
 * One executor made for one row, resized to 8 copies of the batch and back
 * to one row (its packed weights kept), and a second that reads its packed
 * weights (pi_executor_new_sharing): PyTorch's outputs at every size.
 */
static void
run_resized(const char *name, const PiModel *m, const PiTensorSet *io,
			const PiTensor *expected, int64_t batch)
{
	PiError		err = {0};
	PiExecutor *ex = pi_executor_new(m, 1, &err);
	PiExecutor *sharer = NULL;
	const int64_t sizes[] = {1, batch * 8, 1};
	int64_t		n = batch * pi_value_row_elems(&m->values[m->outputs[0]]);
	double		worst = 0.0;
	bool		ran = ex != NULL;

	for (int s = 0; s < 3 && ran; s++)
	{
		int64_t		rows = sizes[s] < batch ? sizes[s] : batch;

		ran = pi_executor_resize(ex, sizes[s], &err) == PI_OK &&
			pi_executor_max_batch(ex) == sizes[s] && run_batch_prefix(ex, m, io, rows, &err);
		if (ran)
			worst = fmax(worst, worst_error(pi_executor_output(ex, 0), expected->data,
											rows * pi_value_row_elems(&m->values[m->outputs[0]])));
	}
	ran = ran && (sharer = pi_executor_new_sharing(ex, batch, &err)) != NULL &&
		run_batch_prefix(sharer, m, io, batch, &err);
	if (ran)
		worst = fmax(worst, worst_error(pi_executor_output(sharer, 0), expected->data, n));
	check(ran && worst <= 1e-4, "%s: executor resized 1, %lld, 1 rows, and one sharing its packed weights, "
		  "worst relative error %.2e%s%s", name, (long long) (batch * 8), worst, ran ? "" : ": ",
		  ran ? "" : err.message);
	pi_executor_free(sharer);
	pi_executor_free(ex);
}

/* Runs one fixture case and compares with PyTorch's output. */
static void
run_case(const char *dir, const char *name)
{
	PiModel    *m = NULL;
	PiTensorSet io = {0};
	PiError		err = {0};
	const PiTensor *expected;
	int64_t		batch;

	if (!test_fixture_load(dir, name, &m, &io, &err))
	{
		check(false, "%s: load failed: %s", name, err.message);
		goto done;
	}
	expected = &io.tensors[pi_tensor_set_find(&io, "output") >= 0 ? pi_tensor_set_find(&io, "output") : 0];
	if (test_fixture_input(&io, m, 0) == NULL || pi_tensor_set_find(&io, "output") < 0)
	{
		check(false, "%s: io.safetensors lacks input or output", name);
		goto done;
	}
	batch = test_fixture_input(&io, m, 0)->dims[0];
	if (expected->numel != batch * pi_value_row_elems(&m->values[m->outputs[0]]))
	{
		check(false, "%s: output has %lld values, PyTorch's has %lld", name,
			  (long long) (batch * pi_value_row_elems(&m->values[m->outputs[0]])),
			  (long long) expected->numel);
		goto done;
	}
	/* as stored, and 8 copies in one batch (the SGEMM paths of the kernels) */
	run_tiled(name, m, &io, expected, batch, 1);
	run_tiled(name, m, &io, expected, batch, 8);
	/* the first row, and the first 3, of larger batches */
	for (int64_t rows = 1; rows < batch && rows <= 3; rows += 2)
	{
		char		label[600];

		snprintf(label, sizeof(label), "%s (first %lld rows)", name, (long long) rows);
		run_tiled(label, m, &io, expected, rows, 1);
	}
	if (m->norder_fused < m->norder)
		run_unfused(name, m, &io, batch);
	run_from_image(name, m, &io, expected, batch);
	run_resized(name, m, &io, expected, batch);

done:
	pi_model_free(m);
	pi_tensor_set_free(&io);
}

/*
 * A batch that the executor runs in several passes of rows (the LeNet
 * fixture's widest activation makes passes of 55 rows): every row as
 * PyTorch computed it.
 */
static void
test_passes(const char *dir)
{
	PiModel    *m = NULL;
	PiTensorSet io = {0};
	PiError		err = {0};

	if (!test_fixture_load(dir, "model_lenet_bn", &m, &io, &err))
		check(false, "model_lenet_bn loads: %s", err.message);
	else
	{
		const PiTensor *in = test_fixture_input(&io, m, 0);
		int64_t		batch = in->dims[0];

		run_tiled("model_lenet_bn in passes of rows", m, &io,
				  &io.tensors[pi_tensor_set_find(&io, "output")], batch, 200 / (int) batch);
	}
	pi_model_free(m);
	pi_tensor_set_free(&io);
}

/*
 * The per-node timer (pi_executor_set_profile) on a batch of several passes:
 * the same outputs, to the bit, as without it; time for every node that
 * runs, none for the nodes fused into another's epilogue.
 */
static void
test_profile(const char *dir)
{
	PiModel    *m = NULL;
	PiTensorSet io = {0};
	PiError		err = {0};
	PiExecutor *plain = NULL,
			   *timed = NULL;
	double	   *node_seconds = NULL;

	if (!test_fixture_load(dir, "model_lenet_bn", &m, &io, &err))
		check(false, "model_lenet_bn loads: %s", err.message);
	else if ((node_seconds = calloc(m->nnodes, sizeof(double))) == NULL)
		check(false, "profile: out of memory");
	else if ((plain = run_rows("model_lenet_bn unprofiled", m, &io, 1, 200, true)) != NULL &&
			 (timed = pi_executor_new(m, 200, &err)) != NULL)
	{
		int64_t		n = 200 * pi_value_row_elems(&m->values[m->outputs[0]]);
		int			timed_nodes = 0,
					fused_nodes = 0,
					wrong = 0;

		for (int i = 0; i < m->ninputs; i++)
			memcpy(pi_executor_input(timed, i), pi_executor_input(plain, i),
				   sizeof(float) * 200 * pi_value_row_elems(&m->values[m->inputs[i]]));
		pi_executor_set_profile(timed, node_seconds);
		check(pi_executor_run(timed, 200, &err) == PI_OK &&
			  memcmp(pi_executor_output(timed, 0), pi_executor_output(plain, 0), sizeof(float) * n) == 0,
			  "model_lenet_bn profiled: the same %lld output values as unprofiled", (long long) n);
		for (int pos = 0; pos < m->norder; pos++)
		{
			int			node = m->order[pos];
			bool		fused = m->nodes[node].fused_into >= 0;

			timed_nodes += !fused;
			fused_nodes += fused;
			wrong += fused ? node_seconds[node] != 0.0 : !(node_seconds[node] > 0.0);
		}
		check(wrong == 0 && fused_nodes > 0 && timed_nodes == m->norder_fused,
			  "model_lenet_bn profiled: %d nodes timed, %d fused nodes without time of their own, %d wrong",
			  timed_nodes, fused_nodes, wrong);
	}
	else
		check(false, "model_lenet_bn profiled: executor: %s", err.message);
	pi_executor_free(plain);
	pi_executor_free(timed);
	free(node_seconds);
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

/* Builds a safetensors buffer from a header string and data bytes. */
static uint8_t *
make_st(const char *header, const void *data, size_t data_len, size_t *len)
{
	size_t		h = strlen(header);
	uint8_t    *buf = malloc(8 + h + data_len + 1);

	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) ((uint64_t) h >> (8 * i));
	memcpy(buf + 8, header, h);
	if (data_len)
		memcpy(buf + 8 + h, data, data_len);
	*len = 8 + h + data_len;
	return buf;
}

/* Expects a safetensors parse to fail with status and a message fragment. */
static void
expect_st_error(const char *what, const char *header, size_t data_len,
				PiStatus status, const char *fragment)
{
	float		data[64] = {0};
	size_t		len;
	uint8_t    *buf = make_st(header, data, data_len, &len);
	PiTensorSet set;
	PiError		err = {0};
	PiStatus	st = pi_safetensors_parse(buf, len, &set, &err);

	check(st == status && strstr(err.message, fragment) != NULL,
		  "safetensors %s: status %d (want %d), message \"%s\"", what, st, status, err.message);
	if (st == PI_OK)
		pi_tensor_set_free(&set);
	free(buf);
}

/* The safetensors parser's checks. */
static void
test_safetensors(void)
{
	PiTensorSet set;
	PiError		err = {0};
	uint8_t		tiny[4] = {1, 2, 3, 4};
	uint16_t	halves[3] = {0x3c00, 0xc000, 0x0001};	/* 1, -2, smallest subnormal */
	size_t		len;
	uint8_t    *buf;

	check(pi_safetensors_parse(tiny, 4, &set, &err) == PI_ERR_CORRUPT,
		  "safetensors shorter than 8 bytes is rejected");
	{
		uint8_t		big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};

		check(pi_safetensors_parse(big, 16, &set, &err) == PI_ERR_CORRUPT &&
			  strstr(err.message, "past the end") != NULL,
			  "safetensors header length past the end: %s", err.message);
	}
	expect_st_error("not an object", "[1,2]", 0, PI_ERR_CORRUPT, "not a JSON object");
	expect_st_error("bad json", "{\"a\":", 0, PI_ERR_CORRUPT, "not a JSON object");
	expect_st_error("unknown dtype", "{\"a\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
					PI_ERR_DTYPE, "dtype I16");
	expect_st_error("offset out of range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
					PI_ERR_CORRUPT, "outside");
	expect_st_error("reversed offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
					PI_ERR_CORRUPT, "outside");
	expect_st_error("size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
					PI_ERR_CORRUPT, "need 12");
	expect_st_error("overlap",
					"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
					"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
					PI_ERR_CORRUPT, "overlaps");
	expect_st_error("gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
					PI_ERR_CORRUPT, "belong to no tensor");
	expect_st_error("trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
					PI_ERR_CORRUPT, "cover 4");
	expect_st_error("dimension overflow",
					"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4,
					PI_ERR_LIMIT, "overflows");
	expect_st_error("byte size overflow",
					"{\"a\":{\"dtype\":\"F64\",\"shape\":[1125899906842624,4096],\"data_offsets\":[0,4]}}", 4,
					PI_ERR_LIMIT, "overflows");
	expect_st_error("negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
					PI_ERR_CORRUPT, "non-negative");
	expect_st_error("fractional offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 8,
					PI_ERR_CORRUPT, "data_offsets");
	expect_st_error("rank over the limit",
					"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
					PI_ERR_LIMIT, "rank 7");
	expect_st_error("duplicate name",
					"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
					"\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
					PI_ERR_DUPLICATE, "more than once");
	expect_st_error("missing field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0,
					PI_ERR_CORRUPT, "data_offsets");

	buf = make_st("{\"__metadata__\":{\"k\":\"v\"},\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}",
				  halves, 6, &len);
	check(pi_safetensors_parse(buf, len, &set, &err) == PI_OK && set.count == 1 &&
		  set.tensors[0].data[0] == 1.0f && set.tensors[0].data[1] == -2.0f &&
		  set.tensors[0].data[2] == ldexpf(1.0f, -24),
		  "safetensors F16 widens to float32, metadata is skipped");
	pi_tensor_set_free(&set);
	free(buf);
}

/*
 * In-place parsing and loading: aligned F32 tensors point into the bytes,
 * others are converted; a batch norm folded into a Dense layer rewrites
 * copies, never the bytes.
 */
static void
test_safetensors_in_place(void)
{
	/* a at 0 (aligned), h (F16) at 8, c at 14 (not aligned for floats) */
	const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[8,14]},"
		"\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[14,18]}}";
	char		padded[512];
	uint8_t		data[18];
	float		a[2] = {1.5f, -2},
				c = 3;
	uint16_t	halves[3] = {0x3c00, 0xc000, 0x3800};	/* 1, -2, 0.5 */
	size_t		len;
	uint8_t    *buf;
	PiTensorSet set;
	PiError		err = {0};
	int			ia,
				ih,
				ic;

	memcpy(data, a, 8);
	memcpy(data + 8, halves, 6);
	memcpy(data + 14, &c, 4);
	/* spaces after the header put the data at a multiple of 4 (the buffer is malloc'd) */
	snprintf(padded, sizeof(padded), "%s%*s", header, (int) ((4 - (8 + strlen(header)) % 4) % 4), "");
	buf = make_st(padded, data, sizeof(data), &len);
	check(pi_safetensors_parse_in_place(buf, len, &set, &err) == PI_OK, "in place: %s", err.message);
	ia = pi_tensor_set_find(&set, "a");
	ih = pi_tensor_set_find(&set, "h");
	ic = pi_tensor_set_find(&set, "c");
	check(ia >= 0 && set.tensors[ia].borrowed && (uint8_t *) set.tensors[ia].data == buf + len - 18 &&
		  set.tensors[ia].data[1] == -2, "in place: aligned F32 is used where it lies");
	check(ih >= 0 && !set.tensors[ih].borrowed && set.tensors[ih].data[2] == 0.5f,
		  "in place: F16 is widened into a copy");
	check(ic >= 0 && !set.tensors[ic].borrowed && set.tensors[ic].data[0] == 3,
		  "in place: unaligned F32 is copied");
	pi_tensor_set_free(&set);
	free(buf);

	{
		/* Dense (w, b) then BatchNormalization: folded into copies of w and b */
		const char *json = "{\"format\":\"pg_infer\",\"version\":1,"
			"\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[-1,2]}],"
			"\"outputs\":[{\"name\":\"bn\"}],\"nodes\":["
			"{\"name\":\"fc\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
			"{\"name\":\"bn\",\"op\":\"BatchNormalization\",\"inputs\":[\"fc\",\"s\",\"t\",\"m\",\"v\"]}]}";
		const char *wheader = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
			"\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
			"\"s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
			"\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
			"\"m\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]},"
			"\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]}}";
		float		weights[7] = {1, 2, 0.5f, 2, 1, 0.5f, 4};
		char		padded[1024];
		uint8_t    *copy;
		PiModel    *m = NULL;

		snprintf(padded, sizeof(padded), "%s%*s", wheader, (int) ((4 - (8 + strlen(wheader)) % 4) % 4), "");
		buf = make_st(padded, weights, sizeof(weights), &len);
		copy = malloc(len);
		memcpy(copy, buf, len);
		check(pi_model_load_in_place(json, strlen(json), buf, len, &m, &err) == PI_OK,
			  "in place with a batch norm: %s", err.message);
		if (m != NULL)
		{
			const PiValue *w = &m->values[pi_model_find_value(m, "w")];

			/* (x.w + b - m) / sqrt(v) * s + t = 2 (x0 + 2 x1) + 0, per 1e-5 epsilon */
			check(!w->data_borrowed && fabsf(w->data[0] - 2 / sqrtf(4 + 1e-5f)) < 1e-6f,
				  "in place with a batch norm: the folded weight is a copy");
		}
		check(memcmp(buf, copy, len) == 0, "in place with a batch norm: the bytes are not written");
		pi_model_free(m);
		free(copy);
		free(buf);
	}
}

/* Expects a graph with 2x3 weight "w" and bias "b" to fail. */
static void
expect_graph_error(const char *what, const char *json, PiStatus status, const char *fragment)
{
	float		data[9] = {1, 2, 3, 4, 5, 6, 0.5f, -0.5f, 0};
	size_t		len;
	uint8_t    *buf = make_st("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
							  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}",
							  data, 32, &len);
	PiModel    *m = NULL;
	PiError		err = {0};
	PiStatus	st = pi_model_load(json, strlen(json), buf, len, &m, &err);

	check(st == status && (status == PI_OK || strstr(err.message, fragment) != NULL),
		  "graph %s: status %d (want %d), message \"%s\"", what, st, status,
		  st == PI_OK ? "" : err.message);
	pi_model_free(m);
	free(buf);
}

/* Expects a graph over the weights of a safetensors header and data to fail. */
static void
expect_model_error_data(const char *what, const char *json, const char *header,
						const float *data, size_t data_len, PiStatus status, const char *fragment)
{
	size_t		len;
	uint8_t    *buf = make_st(header, data, data_len, &len);
	PiModel    *m = NULL;
	PiError		err = {0};
	PiStatus	st = pi_model_load(json, strlen(json), buf, len, &m, &err);

	check(st == status && (status == PI_OK || strstr(err.message, fragment) != NULL),
		  "model %s: status %d (want %d), message \"%s\"", what, st, status,
		  st == PI_OK ? "" : err.message);
	pi_model_free(m);
	free(buf);
}

/* Expects a graph over the weights of a safetensors header (zero data) to fail. */
static void
expect_model_error(const char *what, const char *json, const char *header, size_t data_len,
				   PiStatus status, const char *fragment)
{
	float		data[64] = {0};

	expect_model_error_data(what, json, header, data, data_len, status, fragment);
}

#define GRAPH_HEAD "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[-1,3]}],"

/* The graph loader's checks. */
static void
test_graph(void)
{
	expect_graph_error("valid", GRAPH_HEAD "\"outputs\":[{\"name\":\"y\",\"shape\":[-1,2]}],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_OK, "");
	expect_graph_error("unknown op", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
					   "{\"name\":\"z\",\"op\":\"Frobnicate\",\"inputs\":[\"y\"]},"
					   "{\"name\":\"q\",\"op\":\"Wobble\",\"inputs\":[\"y\"]}]}",
					   PI_ERR_UNSUPPORTED, "2 nodes with an unknown op: node \"z\" (Frobnicate), node \"q\" (Wobble)");
	expect_graph_error("unused weight", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\"]}]}",
					   PI_ERR_UNUSED, "weight \"b\" is not used");
	expect_graph_error("dangling input", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
					   "{\"name\":\"z\",\"op\":\"Add\",\"inputs\":[\"y\",\"ghost\"]}]}",
					   PI_ERR_UNDEFINED, "input \"ghost\"");
	expect_graph_error("missing weight", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"bias\"]},"
					   "{\"name\":\"u\",\"op\":\"Add\",\"inputs\":[\"y\",\"b\"]}]}",
					   PI_ERR_UNDEFINED, "\"bias\"");
	expect_graph_error("duplicate node", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
					   "{\"name\":\"y\",\"op\":\"Relu\",\"inputs\":[\"x\"]}]}",
					   PI_ERR_DUPLICATE, "\"y\" is defined more than once");
	expect_graph_error("duplicate key at the top", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_INVALID, "has the key \"nodes\" twice");
	expect_graph_error("duplicate key in a node", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"op\":\"Relu\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_INVALID, "has the key \"op\" twice");
	expect_graph_error("node named like a weight", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
					   "{\"name\":\"w\",\"op\":\"Relu\",\"inputs\":[\"y\"]}]}",
					   PI_ERR_DUPLICATE, "\"w\" is defined more than once");
	expect_graph_error("cycle", GRAPH_HEAD "\"outputs\":[\"c\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
					   "{\"name\":\"a\",\"op\":\"Add\",\"inputs\":[\"y\",\"c\"]},"
					   "{\"name\":\"c\",\"op\":\"Relu\",\"inputs\":[\"a\"]}]}",
					   PI_ERR_CYCLE, "cycle");
	expect_graph_error("shape mismatch", "{\"format\":\"pg_infer\",\"version\":1,"
					   "\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[-1,4]}],\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_SHAPE, "node \"y\" (Dense) input \"x\" has shape [-1,4] but weight \"w\" has shape [2,3]");
	expect_graph_error("declared output shape", GRAPH_HEAD "\"outputs\":[{\"name\":\"y\",\"shape\":[-1,5]}],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_SHAPE, "output \"y\"");
	expect_graph_error("input dtype", "{\"format\":\"pg_infer\",\"version\":1,"
					   "\"inputs\":[{\"name\":\"x\",\"dtype\":\"int64\",\"shape\":[-1,3]}],\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_DTYPE, "dtype \"int64\"");
	expect_graph_error("batch first", "{\"format\":\"pg_infer\",\"version\":1,"
					   "\"inputs\":[{\"name\":\"x\",\"dtype\":\"float32\",\"shape\":[2,3]}],\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_SHAPE, "must start with -1");
	expect_graph_error("unknown attribute", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"],\"attrs\":{\"transB\":1}}]}",
					   PI_ERR_INVALID, "unknown attribute \"transB\"");
	expect_graph_error("arity", GRAPH_HEAD "\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\"]}]}",
					   PI_ERR_INVALID, "has 1 inputs, expected 2 to 3");
	expect_graph_error("batch axis softmax", GRAPH_HEAD "\"outputs\":[\"s\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
					   "{\"name\":\"s\",\"op\":\"Softmax\",\"inputs\":[\"y\"],\"attrs\":{\"axis\":0}}]}",
					   PI_ERR_UNSUPPORTED, "batch axis");
	expect_graph_error("output is a weight", GRAPH_HEAD "\"outputs\":[\"w\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_INVALID, "not the name of a node");
	expect_graph_error("wrong format", "{\"format\":\"onnx\",\"version\":1}", PI_ERR_INVALID, "\"format\"");
	expect_graph_error("not json", "{nodes", PI_ERR_CORRUPT, "not a JSON object");
	expect_graph_error("unknown key", GRAPH_HEAD "\"outputs\":[\"y\"],\"extra\":1,"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_ERR_INVALID, "unknown key \"extra\"");
	expect_graph_error("out-of-order nodes", GRAPH_HEAD "\"outputs\":[\"r\"],"
					   "\"nodes\":[{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"y\"]},"
					   "{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]}]}",
					   PI_OK, "");
	/* empty weights: broadcast past their data, or overflowing checks (fuzzer) */
	expect_model_error("empty weight broadcast", "{\"format\":\"pg_infer\",\"version\":1,"
					   "\"inputs\":[{\"name\":\"x\",\"shape\":[-1,1,5]}],\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Add\",\"inputs\":[\"x\",\"e\"]}]}",
					   "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]}}", 0,
					   PI_ERR_SHAPE, "node \"y\" (Add) weight \"e\" of shape [0,5] is empty");
	expect_model_error("empty conv weight", "{\"format\":\"pg_infer\",\"version\":1,"
					   "\"inputs\":[{\"name\":\"x\",\"shape\":[-1,1000000,1,1]}],\"outputs\":[\"y\"],"
					   "\"nodes\":[{\"name\":\"y\",\"op\":\"Conv2D\",\"inputs\":[\"x\",\"e\"],"
					   "\"attrs\":{\"group\":1000000}}]}",
					   "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740992,1,1],\"data_offsets\":[0,0]}}", 0,
					   PI_ERR_SHAPE, "node \"y\" (Conv2D) weight \"e\"");
}

#define X3_HEAD(shape) "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":" shape "}],\"outputs\":[\"y\"],\"nodes\":["
#define NO_WEIGHTS "{}"
#define W23 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}"

/* One node "y" over input x of a shape, no weights: expect a load failure. */
static void
expect_op_error(const char *what, const char *shape, const char *node, PiStatus status,
				const char *fragment)
{
	char		json[2048];

	snprintf(json, sizeof(json), "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":%s}],"
			 "\"outputs\":[\"y\"],\"nodes\":[%s]}", shape, node);
	expect_model_error(what, json, NO_WEIGHTS, 0, status, fragment);
}

/* The loader's and shape inference's checks of op set 2's attributes and inputs. */
static void
test_op_set2_rejections(void)
{
	expect_op_error("Exp unknown attribute", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Exp\",\"inputs\":[\"x\"],\"attrs\":{\"axis\":1}}",
					PI_ERR_INVALID, "node \"y\" (Exp) has unknown attribute \"axis\"");
	expect_op_error("Pad pads of the wrong count", "[-1,3,4]",
					"{\"name\":\"y\",\"op\":\"Pad\",\"inputs\":[\"x\"],\"attrs\":{\"pads\":[0,1,0,1]}}",
					PI_ERR_INVALID, "has 4 pads, expected 6");
	expect_op_error("Pad along the batch", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Pad\",\"inputs\":[\"x\"],\"attrs\":{\"pads\":[1,0,0,0]}}",
					PI_ERR_UNSUPPORTED, "pads axis 0");
	expect_op_error("Pad cropping everything", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Pad\",\"inputs\":[\"x\"],\"attrs\":{\"pads\":[0,-2,0,-1]}}",
					PI_ERR_SHAPE, "leaves axis 1 of size 3 with 0 elements");
	expect_op_error("Pad reflecting past the edge", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Pad\",\"inputs\":[\"x\"],\"attrs\":{\"pads\":[0,3,0,0],\"mode\":\"reflect\"}}",
					PI_ERR_INVALID, "expected less than the size after cropping");
	expect_op_error("Pad wrap mode", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Pad\",\"inputs\":[\"x\"],\"attrs\":{\"pads\":[0,1,0,1],\"mode\":\"wrap\"}}",
					PI_ERR_UNSUPPORTED, "must be \"constant\", \"reflect\" or \"edge\", found \"wrap\"");
	expect_op_error("Slice empty starts", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Slice\",\"inputs\":[\"x\"],\"attrs\":{\"starts\":[],\"ends\":[]}}",
					PI_ERR_INVALID, "attribute \"starts\" must have 1 to 6 values, found 0");
	expect_op_error("Slice too many axes", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Slice\",\"inputs\":[\"x\"],\"attrs\":{\"starts\":[1,1,1,1,1,1,1],\"ends\":[2]}}",
					PI_ERR_INVALID, "found 7");
	expect_op_error("Slice starts and ends of different lengths", "[-1,3,4]",
					"{\"name\":\"y\",\"op\":\"Slice\",\"inputs\":[\"x\"],\"attrs\":{\"starts\":[1,1],\"ends\":[2],\"axes\":[1,2]}}",
					PI_ERR_INVALID, "same length (found 2 and 1)");
	expect_op_error("Slice step 0", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Slice\",\"inputs\":[\"x\"],\"attrs\":{\"starts\":[0],\"ends\":[2],\"axes\":[1],\"steps\":[0]}}",
					PI_ERR_INVALID, "\"steps\" element 0 is 0");
	expect_op_error("Slice along the batch", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Slice\",\"inputs\":[\"x\"],\"attrs\":{\"starts\":[1],\"ends\":[2]}}",
					PI_ERR_UNSUPPORTED, "along the batch axis is not supported");
	expect_op_error("Slice axis out of range", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Slice\",\"inputs\":[\"x\"],\"attrs\":{\"starts\":[0],\"ends\":[2],\"axes\":[2]}}",
					PI_ERR_INVALID, "axis 2, out of range for rank 2");
	expect_op_error("Slice that selects nothing", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Slice\",\"inputs\":[\"x\"],\"attrs\":{\"starts\":[2],\"ends\":[1],\"axes\":[1]}}",
					PI_ERR_SHAPE, "empty dimension 1");
	expect_op_error("Conv2D pads of 3", "[-1,1,4,4]",
					"{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],\"attrs\":{\"kernel_shape\":[2,2],\"pads\":[1,1,1]}}",
					PI_ERR_INVALID, "2 or 4 (not 3)");
	expect_op_error("1-D pool with 4 pads", "[-1,1,8]",
					"{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],\"attrs\":{\"kernel_shape\":[2],\"pads\":[1,1,1,1]}}",
					PI_ERR_INVALID, "\"pads\" has 4 values, expected 2 for 1 spatial axes");
	expect_op_error("1-D pool with a 2-D kernel", "[-1,1,8]",
					"{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],\"attrs\":{\"kernel_shape\":[2,2]}}",
					PI_ERR_INVALID, "\"kernel_shape\" has 2 values, the input has 1 spatial axes");
	expect_op_error("auto_pad unknown", "[-1,1,4,4]",
					"{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],\"attrs\":{\"kernel_shape\":[2,2],\"auto_pad\":\"SAME\"}}",
					PI_ERR_INVALID, "\"auto_pad\" must be");
	expect_op_error("auto_pad with pads", "[-1,1,4,4]",
					"{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],\"attrs\":{\"kernel_shape\":[2,2],\"pads\":[0,0,1,1],\"auto_pad\":\"SAME_UPPER\"}}",
					PI_ERR_INVALID, "both \"pads\" and \"auto_pad\"");
	expect_op_error("Cast to string", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Cast\",\"inputs\":[\"x\"],\"attrs\":{\"to\":8}}",
					PI_ERR_UNSUPPORTED, "data type 8");
	expect_op_error("Cast without to", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Cast\",\"inputs\":[\"x\"]}",
					PI_ERR_INVALID, "needs attribute \"to\"");
	expect_op_error("Clip min not a number", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Clip\",\"inputs\":[\"x\"],\"attrs\":{\"min\":\"a\"}}",
					PI_ERR_INVALID, "attribute \"min\" must be a number");
	expect_op_error("axes not a list", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"ReduceSum\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":1}}",
					PI_ERR_INVALID, "\"axes\" must be a list of integers");
	expect_op_error("axis out of the attribute range", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"LayerNormalization\",\"inputs\":[\"x\",\"x\"],\"attrs\":{\"axis\":9}}",
					PI_ERR_INVALID, "\"axis\" element 0 is 9, expected -6 to 5");
	expect_op_error("ReduceMean over the batch", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"ReduceMean\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[0,1]}}",
					PI_ERR_UNSUPPORTED, "along the batch axis is not supported");
	expect_op_error("ReduceMax axis out of range", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"ReduceMax\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[2]}}",
					PI_ERR_INVALID, "axis 2, out of range for rank 2");
	expect_op_error("ReduceSum axis twice", "[-1,3,4]",
					"{\"name\":\"y\",\"op\":\"ReduceSum\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[1,-2]}}",
					PI_ERR_INVALID, "names axis 1 twice");
	expect_op_error("Squeeze the batch", "[-1,1]",
					"{\"name\":\"y\",\"op\":\"Squeeze\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[0]}}",
					PI_ERR_UNSUPPORTED, "batch axis");
	expect_op_error("Squeeze a size-3 axis", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Squeeze\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[1]}}",
					PI_ERR_SHAPE, "axis 1 of [-1,3] is not of size 1");
	expect_op_error("Unsqueeze in front of the batch", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Unsqueeze\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[0]}}",
					PI_ERR_UNSUPPORTED, "batch axis");
	expect_op_error("Unsqueeze past the rank limit", "[-1,2,2,2,2]",
					"{\"name\":\"y\",\"op\":\"Unsqueeze\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[1,2]}}",
					PI_ERR_LIMIT, "rank 7");
	expect_op_error("Expand the batch to 2", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Expand\",\"inputs\":[\"x\"],\"attrs\":{\"shape\":[2,3]}}",
					PI_ERR_UNSUPPORTED, "batch axis");
	expect_op_error("Expand with a longer shape", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Expand\",\"inputs\":[\"x\"],\"attrs\":{\"shape\":[1,1,3]}}",
					PI_ERR_UNSUPPORTED, "along the batch axis is not supported");
	expect_op_error("Expand that does not broadcast", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Expand\",\"inputs\":[\"x\"],\"attrs\":{\"shape\":[-1,4]}}",
					PI_ERR_SHAPE, "cannot broadcast");
	expect_op_error("TopK k over the axis", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"TopK\",\"inputs\":[\"x\"],\"attrs\":{\"k\":4}}",
					PI_ERR_SHAPE, "k 4, expected 1 to 3");
	expect_op_error("TopK along the batch", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"TopK\",\"inputs\":[\"x\"],\"attrs\":{\"k\":1,\"axis\":0}}",
					PI_ERR_UNSUPPORTED, "batch axis");
	expect_op_error("Gather of two activations", "[-1,3]",
					"{\"name\":\"y\",\"op\":\"Gather\",\"inputs\":[\"x\",\"x\"],\"attrs\":{\"axis\":1}}",
					PI_ERR_UNSUPPORTED, "two activations");
	expect_op_error("Where of different activation ranks", "[-1,3]",
					"{\"name\":\"u\",\"op\":\"Unsqueeze\",\"inputs\":[\"x\"],\"attrs\":{\"axes\":[1]}},"
					"{\"name\":\"y\",\"op\":\"Where\",\"inputs\":[\"x\",\"u\",\"x\"]}",
					PI_ERR_SHAPE, "different ranks");
	expect_op_error("MatMul of two rank-2 activations", "[-1,3]",
					"{\"name\":\"t\",\"op\":\"Identity\",\"inputs\":[\"x\"]},"
					"{\"name\":\"y\",\"op\":\"MatMul\",\"inputs\":[\"x\",\"t\"]}",
					PI_ERR_SHAPE, "cannot multiply");
	expect_op_error("batched MatMul of x by its transpose loads", "[-1,2,3]",
					"{\"name\":\"t\",\"op\":\"Transpose\",\"inputs\":[\"x\"],\"attrs\":{\"perm\":[0,2,1]}},"
					"{\"name\":\"y\",\"op\":\"MatMul\",\"inputs\":[\"x\",\"t\"]}",
					PI_OK, "");
	expect_op_error("MaxPool2D has no output_padding", "[-1,1,4,4]",
					"{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],\"attrs\":{\"kernel_shape\":[2,2],\"output_padding\":[1,1]}}",
					PI_ERR_INVALID, "unknown attribute \"output_padding\"");

	/* with weights */
	expect_model_error("Gemm transA", X3_HEAD("[-1,3]")
					   "{\"name\":\"y\",\"op\":\"Gemm\",\"inputs\":[\"x\",\"w\"],\"attrs\":{\"transA\":1,\"transB\":1}}]}",
					   W23, 24, PI_ERR_UNSUPPORTED, "along the batch axis is not supported");
	expect_model_error("MatMul weight by rank-2 activation", X3_HEAD("[-1,3]")
					   "{\"name\":\"y\",\"op\":\"MatMul\",\"inputs\":[\"w\",\"x\"]}]}",
					   W23, 24, PI_ERR_SHAPE, "cannot multiply [2,3] by [-1,3]");
	expect_model_error("embedding Gather along axis 1", X3_HEAD("[-1,3]")
					   "{\"name\":\"y\",\"op\":\"Gather\",\"inputs\":[\"w\",\"x\"],\"attrs\":{\"axis\":1}}]}",
					   W23, 24, PI_ERR_UNSUPPORTED, "only axis 0 is supported");
	expect_model_error("Gather along the batch", X3_HEAD("[-1,3]")
					   "{\"name\":\"y\",\"op\":\"Gather\",\"inputs\":[\"x\",\"w\"],\"attrs\":{\"axis\":0}}]}",
					   W23, 24, PI_ERR_UNSUPPORTED, "along the batch axis is not supported");
	{
		float		idx[6] = {0, 1, 2, -3, 2, 3};

		expect_model_error_data("Gather constant index out of range", X3_HEAD("[-1,3]")
								"{\"name\":\"y\",\"op\":\"Gather\",\"inputs\":[\"x\",\"w\"],\"attrs\":{\"axis\":1}}]}",
								W23, idx, 24, PI_ERR_INVALID, "index 3 at position 5 of \"w\" is not an integer in [-3, 2]");
		idx[5] = 0.5f;
		expect_model_error_data("Gather constant index not an integer", X3_HEAD("[-1,3]")
								"{\"name\":\"y\",\"op\":\"Gather\",\"inputs\":[\"x\",\"w\"],\"attrs\":{\"axis\":1}}]}",
								W23, idx, 24, PI_ERR_INVALID, "index 0.5 at position 5");
	}
	expect_model_error("LayerNormalization scale of the wrong shape", X3_HEAD("[-1,3,2]")
					   "{\"name\":\"y\",\"op\":\"LayerNormalization\",\"inputs\":[\"x\",\"w\"]}]}",
					   W23, 24, PI_ERR_SHAPE, "must be a weight of the shape of [-1,3,2] from axis 2");
	expect_model_error("PRelu slope wider than X", X3_HEAD("[-1,1,3]")
					   "{\"name\":\"y\",\"op\":\"PRelu\",\"inputs\":[\"x\",\"w\"]}]}",
					   W23, 24, PI_ERR_SHAPE, "does not broadcast to X");
	expect_model_error("ConvTranspose output_padding not below the stride", X3_HEAD("[-1,2,4,4]")
					   "{\"name\":\"y\",\"op\":\"ConvTranspose\",\"inputs\":[\"x\",\"w\"],\"attrs\":{\"output_padding\":[1,1]}}]}",
					   "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1,2,2],\"data_offsets\":[0,32]}}", 32,
					   PI_ERR_INVALID, "output_padding 1 must be smaller");
}

/* The attribute setters as an importer calls them. */
static void
test_attr_setters(void)
{
	PiAttrs		a;
	PiError		err = {0};
	int64_t		v[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	pi_attrs_default(PI_OP_SLICE, &a);
	check(pi_attr_set_ints(PI_OP_SLICE, &a, "s", "starts", v, 3, &err) == PI_OK &&
		  a.starts_len == 3 && a.starts[2] == 3, "setter: Slice starts of 3");
	check(pi_attr_set_ints(PI_OP_SLICE, &a, "s", "ends", v, 7, &err) == PI_ERR_INVALID &&
		  strstr(err.message, "node \"s\" (Slice) attribute \"ends\" must have 1 to 6 values, found 7"),
		  "setter: too many ends: %s", err.message);
	check(pi_attr_set_ints(PI_OP_SLICE, &a, "s", "axis", v, 1, &err) == PI_ERR_INVALID &&
		  strstr(err.message, "node \"s\" (Slice) has unknown attribute \"axis\""),
		  "setter: unknown attribute: %s", err.message);
	pi_attrs_default(PI_OP_GEMM, &a);
	check(pi_attr_set_ints(PI_OP_GEMM, &a, "g", "transB", v, 2, &err) == PI_ERR_INVALID &&
		  strstr(err.message, "must be one integer, found 2"), "setter: scalar with 2 values: %s", err.message);
	check(pi_attr_set_ints(PI_OP_GEMM, &a, "g", "transA", v + 1, 1, &err) == PI_ERR_INVALID &&
		  strstr(err.message, "element 0 is 2, expected 0 to 1"), "setter: flag of 2: %s", err.message);
	check(pi_attr_set_float(PI_OP_GEMM, &a, "g", "transA", 1.0f, &err) == PI_ERR_INVALID &&
		  strstr(err.message, "must be an integer, found a float"), "setter: float for an integer: %s", err.message);
	check(pi_attr_set_float(PI_OP_GEMM, &a, "g", "alpha", INFINITY, &err) == PI_ERR_INVALID,
		  "setter: infinite alpha rejected");
	check(pi_attr_set_float(PI_OP_GEMM, &a, "g", "alpha", 0.25f, &err) == PI_OK && a.alpha == 0.25f,
		  "setter: alpha");
	pi_attrs_default(PI_OP_CONV2D, &a);
	check(pi_attr_set_string(PI_OP_CONV2D, &a, "c", "auto_pad", "SAME_LOWER", &err) == PI_OK &&
		  a.auto_pad == PI_AUTO_PAD_SAME_LOWER, "setter: auto_pad");
	check(pi_attr_set_string(PI_OP_CONV2D, &a, "c", "group", "2", &err) == PI_ERR_INVALID &&
		  strstr(err.message, "must be an integer, found a string"), "setter: string for an integer: %s", err.message);
	check(pi_attr_type("axes") == PI_ATTR_INTS && pi_attr_type("k") == PI_ATTR_INT &&
		  pi_attr_type("min") == PI_ATTR_FLOAT && pi_attr_type("auto_pad") == PI_ATTR_STRING &&
		  pi_attr_type("nonsense") == PI_ATTR_UNKNOWN, "attribute types by name");
}

/* Gather's embedding form fails the run on an index out of range, without reading it. */
static void
test_gather_runtime(void)
{
	const char *json = X3_HEAD("[-1,2]")
		"{\"name\":\"y\",\"op\":\"Gather\",\"inputs\":[\"w\",\"x\"]}]}";
	float		data[6] = {1, 2, 3, 4, 5, 6};
	size_t		len;
	uint8_t    *buf = make_st(W23, data, 24, &len);
	PiModel    *m = NULL;
	PiExecutor *ex;
	PiError		err = {0};
	const float *out;

	if (pi_model_load(json, strlen(json), buf, len, &m, &err) != PI_OK)
	{
		check(false, "embedding model loads: %s", err.message);
		free(buf);
		return;
	}
	ex = pi_executor_new(m, 2, &err);
	memcpy(pi_executor_input(ex, 0), (float[]) {1, -2, 0, -1}, sizeof(float) * 4);
	check(pi_executor_run(ex, 2, &err) == PI_OK, "embedding run with negative indices");
	out = pi_executor_output(ex, 0);
	check(out[0] == 4 && out[2] == 6 && out[3] == 1 && out[5] == 3 && out[6] == 1 && out[9] == 4 && out[11] == 6,
		  "embedding rows [1,-2,0,-1]: %g %g %g %g", out[0], out[3], out[6], out[9]);
	memcpy(pi_executor_input(ex, 0), (float[]) {1, 0, 2, 0}, sizeof(float) * 4);
	check(pi_executor_run(ex, 2, &err) == PI_ERR_INVALID &&
		  strstr(err.message, "node \"y\" (Gather) index 2 at position 2 of the batch is out of range: expected an integer in [-2, 1]"),
		  "embedding index past the end fails the run: %s", err.message);
	memcpy(pi_executor_input(ex, 0), (float[]) {-3, 0, 0, 0}, sizeof(float) * 4);
	check(pi_executor_run(ex, 1, &err) == PI_ERR_INVALID && strstr(err.message, "index -3 at position 0"),
		  "embedding index before the start fails the run: %s", err.message);
	memcpy(pi_executor_input(ex, 0), (float[]) {0, NAN, 0, 0}, sizeof(float) * 4);
	check(pi_executor_run(ex, 1, &err) == PI_ERR_INVALID && strstr(err.message, "index nan"),
		  "embedding NaN index fails the run: %s", err.message);
	memcpy(pi_executor_input(ex, 0), (float[]) {0, 1, 1, 0}, sizeof(float) * 4);
	check(pi_executor_run(ex, 2, &err) == PI_OK && pi_executor_output(ex, 0)[11] == 3,
		  "the executor runs again after a failed run");
	pi_executor_free(ex);
	pi_model_free(m);
	free(buf);
}

/* Loads a graph over the weights of a safetensors header and data; NULL with a failed check if it does not. */
static PiModel *
load_model(const char *what, const char *json, const char *header, const float *data,
		   size_t data_len)
{
	size_t		len;
	uint8_t    *buf = make_st(header, data, data_len, &len);
	PiModel    *m = NULL;
	PiError		err = {0};

	if (pi_model_load(json, strlen(json), buf, len, &m, &err) != PI_OK)
		check(false, "%s loads: %s", what, err.message);
	free(buf);
	return m;
}

/*
 * NaN goes through Relu, HardSigmoid, Clip and MaxPool as in PyTorch (a
 * window or element with NaN gives NaN), fused into a convolution's
 * epilogue or not, and ArgMax takes the first NaN as the maximum.
 */
static void
test_nan(void)
{
	const char *ones = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,3,3],\"data_offsets\":[0,36]}}";
	float		w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	float		x[16],
				y[16];
	PiModel    *m;

	m = load_model("Relu", "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,4]}],"
				   "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"Relu\",\"inputs\":[\"x\"]}]}",
				   "{}", NULL, 0);
	if (m != NULL && test_run_rows(m, (float[]) {NAN, -1, 2, -NAN}, 1, true, y))
		check(isnan(y[0]) && y[1] == 0.0f && y[2] == 2.0f && isnan(y[3]),
			  "Relu keeps NaN: %g %g %g %g", y[0], y[1], y[2], y[3]);
	pi_model_free(m);

	m = load_model("HardSigmoid", "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,4]}],"
				   "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"HardSigmoid\",\"inputs\":[\"x\"]}]}",
				   "{}", NULL, 0);
	if (m != NULL && test_run_rows(m, (float[]) {NAN, -10, 0, 10}, 1, true, y))
		check(isnan(y[0]) && y[1] == 0.0f && y[2] == 0.5f && y[3] == 1.0f,
			  "HardSigmoid keeps NaN: %g %g %g %g", y[0], y[1], y[2], y[3]);
	pi_model_free(m);

	m = load_model("ArgMax", "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,4]}],"
				   "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"ArgMax\",\"inputs\":[\"x\"],"
				   "\"attrs\":{\"axis\":1,\"keepdims\":0}}]}", "{}", NULL, 0);
	if (m != NULL && test_run_rows(m, (float[]) {1, NAN, 3, NAN, NAN, 5, 6, 7, 1, 3, 2, 3}, 3, true, y))
		check(y[0] == 1.0f && y[1] == 0.0f && y[2] == 1.0f,
			  "ArgMax takes the first NaN, else the first maximum: %g %g %g", y[0], y[1], y[2]);
	pi_model_free(m);

	for (int i = 0; i < 16; i++)
		x[i] = (float) (i % 5) - 2.0f;
	x[5] = NAN;
	m = load_model("MaxPool2D", "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,1,4,4]}],"
				   "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"MaxPool2D\",\"inputs\":[\"x\"],"
				   "\"attrs\":{\"kernel_shape\":[2,2],\"strides\":[2,2]}}]}", "{}", NULL, 0);
	if (m != NULL && test_run_rows(m, x, 1, true, y))
		check(isnan(y[0]) && !isnan(y[1]) && !isnan(y[2]) && !isnan(y[3]),
			  "MaxPool2D: the window with NaN gives NaN, the others not: %g %g %g %g", y[0], y[1], y[2], y[3]);
	pi_model_free(m);

	/* x[5] reaches the outputs of rows 0-2, columns 0-2 of the convolution */
	for (int act = 0; act < 2; act++)
	{
		char		json[1024];

		snprintf(json, sizeof(json), "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,1,4,4]}],"
				 "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"c\",\"op\":\"Conv2D\",\"inputs\":[\"x\",\"w\"],"
				 "\"attrs\":{\"pads\":[1,1,1,1]}},{\"name\":\"y\",\"op\":\"%s\",\"inputs\":[\"c\"]%s}]}",
				 act == 0 ? "Relu" : "Clip", act == 0 ? "" : ",\"attrs\":{\"min\":0,\"max\":6}");
		m = load_model("Conv2D and an activation", json, ones, w, sizeof(w));
		for (int fused = 0; m != NULL && fused < 2; fused++)
		{
			int			nans = 0;

			if (!test_run_rows(m, x, 1, fused, y))
				continue;
			for (int i = 0; i < 16; i++)
				nans += isnan(y[i]) == ((i / 4) <= 2 && (i % 4) <= 2);
			check(m->norder_fused == 1 && nans == 16,
				  "Conv2D + %s (%s): NaN exactly where the window holds one", act == 0 ? "Relu" : "Clip",
				  fused ? "fused" : "unfused");
		}
		pi_model_free(m);
	}
}

/* A one-node graph of op over [-1, n] (attrs: JSON members after "attrs":, or ""). */
static PiModel *
one_op_model(const char *op, int n, const char *attrs)
{
	char		json[512];

	snprintf(json, sizeof(json), "{\"format\":\"pg_infer\",\"version\":1,\"inputs\":[{\"name\":\"x\",\"shape\":[-1,%d]}],"
			 "\"outputs\":[\"y\"],\"nodes\":[{\"name\":\"y\",\"op\":\"%s\",\"inputs\":[\"x\"]%s%s%s}]}",
			 n, op, attrs[0] ? ",\"attrs\":{" : "", attrs, attrs[0] ? "}" : "");
	return load_model(op, json, "{}", NULL, 0);
}

/* The reference of a unary op in double precision. */
static double
unary_reference(const char *op, double x)
{
	if (strcmp(op, "Exp") == 0)
		return exp(x);
	if (strcmp(op, "Erf") == 0)
		return erf(x);
	if (strcmp(op, "Sigmoid") == 0)
		return 1.0 / (1.0 + exp(-x));
	return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

/*
 * The vector forms of Exp, Erf, Sigmoid, Gelu and Softmax agree with libm
 * over their whole range, the limits, infinities and NaN included, in rows
 * of more than one vector and of less (each CPU path of check-engine).
 */
static void
test_vector_math(void)
{
	static const float vals[] = {
		NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-3f, -1e-3f, 0.5f, -0.5f, 1.0f, -2.5f, 3.9f,
		-3.9f, 4.5f, -4.5f, 10.0f, -10.0f, 20.0f, -20.0f, 80.0f, 88.5f, 88.8f, 89.5f, -87.0f,
		-95.0f, -103.0f, -104.5f, -110.0f, 1e30f, -1e30f, 0.25f
	};
	const int	n = sizeof(vals) / sizeof(vals[0]);
	const char *ops[] = {"Exp", "Erf", "Sigmoid", "Gelu"};
	float		y[64];

	for (int i = 0; i < 4; i++)
	{
		PiModel    *m = one_op_model(ops[i], n, "");
		double		worst = 0.0;
		bool		nan_ok = false;

		if (m == NULL || !test_run_rows(m, vals, 1, true, y))
		{
			check(false, "%s over special values runs", ops[i]);
			pi_model_free(m);
			continue;
		}
		for (int j = 0; j < n; j++)
		{
			double		ref = unary_reference(ops[i], vals[j]);
			/* Exp: relative (absolute among denormals); the others: 1e-6 max(1, |ref|) */
			double		tol = strcmp(ops[i], "Exp") == 0 ? 1e-6 * fabs(ref) + 1e-40 : 1e-6 * fmax(1.0, fabs(ref));

			if (isnan(vals[j]))
				nan_ok = isnan(y[j]);
			else if (fabs(ref) > FLT_MAX)
				worst = fmax(worst, isinf(y[j]) && (y[j] > 0) == (ref > 0) ? 0.0 : INFINITY);
			else
				worst = fmax(worst, fabs(y[j] - ref) / tol);
		}
		check(nan_ok && worst <= 1.0, "%s: NaN stays NaN, %d values within tolerance of libm (worst error %.2f of it)",
			  ops[i], n - 1, worst);
		pi_model_free(m);
	}

	/* Softmax rows: one short (less than a vector), one long, with -inf, large values and NaN */
	for (int len = 5; len <= 37; len += 32)
	{
		PiModel    *m = one_op_model("Softmax", len, "\"axis\":1");
		float		x[3 * 37];
		double		worst = 0.0;
		bool		nan_row = true;

		for (int r = 0; r < 3; r++)
			for (int j = 0; j < len; j++)
				x[r * len + j] = r == 0 ? (float) (j % 7) - 3.0f :
					r == 1 ? (j == 0 ? -INFINITY : 1000.0f - (float) j) : (j == 1 ? NAN : 0.0f);
		if (m == NULL || !test_run_rows(m, x, 3, true, y))
		{
			check(false, "Softmax over rows of %d runs", len);
			pi_model_free(m);
			continue;
		}
		for (int r = 0; r < 2; r++)
		{
			double		max = -INFINITY,
						total = 0.0;

			for (int j = 0; j < len; j++)
				max = fmax(max, x[r * len + j]);
			for (int j = 0; j < len; j++)
				total += exp(x[r * len + j] - max);
			for (int j = 0; j < len; j++)
				worst = fmax(worst, fabs(y[r * len + j] - exp(x[r * len + j] - max) / total));
		}
		for (int j = 0; j < len; j++)
			nan_row = nan_row && isnan(y[2 * len + j]);
		check(worst <= 1e-6 && nan_row, "Softmax over rows of %d: within %.2e of libm, a NaN makes its row NaN",
			  len, worst);
		pi_model_free(m);
	}
}

/* Input preprocessing and buffer reuse on a hand-checked model. */
static void
test_preprocessing(void)
{
	const char *json = GRAPH_HEAD "\"outputs\":[\"r\"],"
		"\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
		"{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"y\"]}]}";
	float		data[8] = {1, 2, 3, 4, 5, 6, 0.5f, -0.5f};
	size_t		len;
	uint8_t    *buf = make_st("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
							  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}",
							  data, 32, &len);
	PiModel    *m = NULL;
	PiExecutor *ex;
	PiError		err = {0};
	float		scale = 0.5f,
				shift = -1.0f;
	const float *out;

	if (pi_model_load(json, strlen(json), buf, len, &m, &err) != PI_OK)
	{
		check(false, "preprocessing model loads: %s", err.message);
		free(buf);
		return;
	}
	check(pi_model_set_input_transform(m, &scale, &shift, 1, &err) == PI_OK, "global scale and shift accepted");
	check(pi_model_set_input_transform(m, data, data, 2, &err) == PI_ERR_SHAPE,
		  "preprocessing of the wrong length rejected: %s", err.message);
	pi_model_set_input_transform(m, &scale, &shift, 1, &err);
	ex = pi_executor_new(m, 2, &err);
	/* rows (2,4,6) -> (0,1,2) and (-2,-2,-2) -> (-2,-2,-2) after x*0.5-1 */
	memcpy(pi_executor_input(ex, 0), (float[]) {2, 4, 6, -2, -2, -2}, sizeof(float) * 6);
	pi_executor_run(ex, 2, &err);
	out = pi_executor_output(ex, 0);
	check(out[0] == 8.5f && out[1] == 16.5f && out[2] == 0.0f && out[3] == 0.0f,
		  "dense+relu with preprocessing: %g %g %g %g", out[0], out[1], out[2], out[3]);
	check(pi_executor_run(ex, 3, &err) == PI_ERR_LIMIT, "batch over the executor's size rejected");
	check(m->nbuffers == 3, "graph input and output have buffers of their own: %d buffers for 3 activations",
		  m->nbuffers);
	check(m->parameter_count == 8, "parameter count %lld", (long long) m->parameter_count);
	pi_executor_free(ex);
	pi_model_free(m);
	free(buf);
}

/*
 * Images keep the input transform and refuse damage: a wrong length, a
 * wrong magic number, an offset outside the image, a misaligned block.
 */
static void
test_image(void)
{
	const char *json = GRAPH_HEAD "\"outputs\":[\"r\"],"
		"\"nodes\":[{\"name\":\"y\",\"op\":\"Dense\",\"inputs\":[\"x\",\"w\",\"b\"]},"
		"{\"name\":\"r\",\"op\":\"Relu\",\"inputs\":[\"y\"]}]}";
	float		data[8] = {1, 2, 3, 4, 5, 6, 0.5f, -0.5f};
	float		scale = 0.5f,
				shift = -1.0f;
	size_t		len;
	uint8_t    *buf = make_st("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
							  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}",
							  data, 32, &len);
	PiModel    *m = NULL,
			   *a;
	PiExecutor *ex;
	PiError		err = {0};
	int64_t		image_len;
	uint8_t    *image;
	const float *out;

	if (pi_model_load(json, strlen(json), buf, len, &m, &err) != PI_OK ||
		pi_model_set_input_transform(m, &scale, &shift, 1, &err) != PI_OK)
	{
		check(false, "image model loads: %s", err.message);
		free(buf);
		return;
	}
	image_len = pi_model_image_size(m);
	image = aligned_alloc(PI_IMAGE_ALIGN, image_len + PI_IMAGE_ALIGN);
	check(image_len % PI_IMAGE_ALIGN == 0 && pi_model_image_write(m, image, &err) == PI_OK,
		  "image of %lld bytes written", (long long) image_len);
	a = pi_model_image_attach(image, image_len, &err);
	check(a != NULL && a->input_transform_len == 1 && a->parameter_count == 8 &&
		  pi_model_find_value(a, "w") >= 0, "image attaches with transform, parameters and names");
	if (a != NULL)
	{
		ex = pi_executor_new(a, 2, &err);
		memcpy(pi_executor_input(ex, 0), (float[]) {2, 4, 6, -2, -2, -2}, sizeof(float) * 6);
		pi_executor_run(ex, 2, &err);
		out = pi_executor_output(ex, 0);
		check(out[0] == 8.5f && out[1] == 16.5f && out[2] == 0.0f && out[3] == 0.0f,
			  "attached model runs with preprocessing: %g %g %g %g", out[0], out[1], out[2], out[3]);
		pi_executor_free(ex);
		pi_model_free(a);
	}
	check(pi_model_image_attach(image, image_len - PI_IMAGE_ALIGN, &err) == NULL &&
		  err.status == PI_ERR_CORRUPT, "truncated image rejected: %s", err.message);
	memmove(image + PI_IMAGE_ALIGN, image, image_len);
	check(pi_model_image_attach(image + 1, image_len, &err) == NULL,
		  "misaligned image rejected");
	image[PI_IMAGE_ALIGN] ^= 0xff;
	check(pi_model_image_attach(image + PI_IMAGE_ALIGN, image_len, &err) == NULL,
		  "image with a wrong magic number rejected");
	image[PI_IMAGE_ALIGN] ^= 0xff;
	/* single-byte corruptions either fail as damage or attach within bounds */
	{
		int			rejected = 0,
					wrong_status = 0;

		for (int64_t i = 8; i < image_len && i < 4096; i++)
		{
			uint8_t		save = image[PI_IMAGE_ALIGN + i];

			image[PI_IMAGE_ALIGN + i] = 0xff;
			err.status = PI_OK;
			a = pi_model_image_attach(image + PI_IMAGE_ALIGN, image_len, &err);
			if (a == NULL)
			{
				rejected++;
				wrong_status += (err.status != PI_ERR_CORRUPT);
			}
			pi_model_free(a);
			image[PI_IMAGE_ALIGN + i] = save;
		}
		check(rejected > 0 && wrong_status == 0,
			  "corrupted images: %d rejected as damaged, %d with another status", rejected, wrong_status);
	}
	pi_model_free(m);
	free(image);
	free(buf);
}

int
main(int argc, char **argv)
{
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	printf("CPU kernels: %s\n", pi_engine_cpu_name());
	test_safetensors();
	test_safetensors_in_place();
	test_graph();
	test_op_set2_rejections();
	test_attr_setters();
	test_gather_runtime();
	test_nan();
	test_vector_math();
	test_preprocessing();
	test_image();
	if (argc > 1)
	{
		run_fixtures(argv[1]);
		test_passes(argv[1]);
		test_profile(argv[1]);
	}
	else
		check(false, "fixture directory given on the command line");
	return check_summary();
}
