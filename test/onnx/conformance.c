/*
 * conformance.c
 *	  Runs ONNX backend test directories (model.onnx plus
 *	  test_data_set_N/input_N.pb and output_N.pb, the layout of ONNX's own
 *	  test data and of test/onnx/models) through pi_onnx_load and the engine,
 *	  and checks the outcome of every test against an expectation file.
 *
 *	    conformance [--write] [--tolerance T] EXPECTED ROOT...
 *
 *	  A test is named ROOTNAME/DIR (ROOTNAME: the root's last component).
 *	  Inputs are fed in graph input order, dimension 0 of each input tensor
 *	  being the batch (strings as their categories' indexes, as the SQL
 *	  layer feeds them); outputs must match within |a-b| <= T*max(1,|b|),
 *	  T = 1e-4 unless given (NaN equals NaN; integer outputs exactly; an
 *	  output of class labels by its labels).  A test that does not pass
 *	  as it is runs again with its inputs after the first bound as constants
 *	  (appended to the graph as initializers): ONNX's node tests feed weights
 *	  (Conv W, Gemm B, BatchNormalization statistics) as graph inputs, while
 *	  the engine takes them as weights of the model; such a test passes as
 *	  "pass-bound".  EXPECTED lists every test as "NAME pass", "NAME
 *	  pass-bound" or "NAME skip REASON".  The run fails when a "pass" test
 *	  does not pass, a "skip" test passes (the list must stay honest), or a
 *	  test is missing from the list or listed but absent.  With --write, the
 *	  list is (re)written from this run's outcomes instead; the reasons are
 *	  categories derived from the error, and the per-test messages are
 *	  printed.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pi_blas.h"
#include "pi_engine.h"
#include "pi_onnx.h"
#include "onnx_proto.h"
#include "test_files.h"

#define MAX_TESTS 4096

/* Largest |a-b| / max(1,|b|) of a float output that passes. */
static double tolerance = 1e-4;

typedef struct Outcome
{
	char		name[512];
	bool		pass;
	bool		bound;			/* passed with inputs 1.. bound as constants */
	char		reason[128];	/* category, when not passed */
	char		detail[600];
	double		worst;			/* worst relative error of a passing test */
} Outcome;

typedef struct Expected
{
	char		name[512];
	char		verdict[160];	/* "pass" or "skip REASON" */
	bool		seen;
} Expected;

/* Whether path exists. */
static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Sorted names of a directory's entries starting with prefix. */
static int
list_dir(const char *dir, const char *prefix, char ***names)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0,
				cap = 64;

	*names = malloc(sizeof(char *) * cap);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
	{
		if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (n == cap)
			*names = realloc(*names, sizeof(char *) * (cap *= 2));
		(*names)[n++] = strdup(e->d_name);
	}
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp((*names)[j - 1], (*names)[j]) > 0; j--)
		{
			char	   *t = (*names)[j];

			(*names)[j] = (*names)[j - 1];
			(*names)[j - 1] = t;
		}
	return n;
}

/* Frees a list_dir result. */
static void
free_list(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The category of an import or run error, for the expectation file. */
static const char *
error_category(const PiError *err)
{
	const char *m = err->message;

	if (strstr(m, "preview.training") != NULL || strstr(m, "training") != NULL)
		return "training-mode op";
	if (strstr(m, "unsupported ONNX operators") != NULL)
		return "op not in the claimed set";
	if (strstr(m, "is only supported on constants") != NULL)
		return "op only folded on constants, not run";
	if (strstr(m, "ONNX opset") != NULL)
		return "opset outside 6 to 21";
	if (strstr(m, "is a scalar") != NULL)
		return "scalar graph input (no batch dimension)";
	if (strstr(m, "is a constant: it does not depend") != NULL || strstr(m, "has no inputs that are not") != NULL)
		return "output does not depend on a graph input";
	if (err->status == PI_ERR_DTYPE || strstr(m, "data type") != NULL)
		return "non-float32 data type";
	if (strstr(m, "batch") != NULL)
		return "operates along the batch axis";
	if (strstr(m, "different ranks") != NULL)
		return "inputs of different ranks (each input is batch-major)";
	if (strstr(m, "must be a constant") != NULL || strstr(m, "must be a weight") != NULL)
		return "weight given as a graph input";
	if (strstr(m, "only 1-D and 2-D windows") != NULL)
		return "3-D window op";
	if (strstr(m, "not implemented yet") != NULL)
		return "IR op without a kernel yet";
	if (strstr(m, "output") != NULL && strstr(m, "not supported") != NULL)
		return "optional output not supported";
	if (err->status == PI_ERR_LIMIT)
		return "beyond the engine's limits";
	if (err->status == PI_ERR_UNSUPPORTED)
		return "attribute or form not supported";
	if (err->status == PI_ERR_SHAPE)
		return "shape not supported";
	return "rejected as invalid";
}

/* Sets a non-passing outcome. */
static void
fail_outcome(Outcome *o, const char *reason, const char *detail)
{
	o->pass = false;
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
	snprintf(o->detail, sizeof(o->detail), "%.590s", detail);
}

/* Loads input or output file i of a data set; false when absent. */
static bool
load_tensor(const char *set, const char *kind, int i, PiOnnxTensor *t, Outcome *o)
{
	char		path[1400];
	size_t		len;
	uint8_t    *bytes;
	PiError		err = {0};
	PiStatus	st;

	snprintf(path, sizeof(path), "%s/%s_%d.pb", set, kind, i);
	if ((bytes = (uint8_t *) test_read_file(path, &len)) == NULL)
		return false;
	st = pi_onnx_tensor_load(bytes, len, t, &err);
	free(bytes);
	if (st != PI_OK)
	{
		fail_outcome(o, error_category(&err), err.message);
		return false;
	}
	return true;
}

/*
 * Writes input i of a test into dst: numbers as they are; strings, for a
 * string input, as their categories' indexes (-1 for one not listed,
 * refused when the input is strict), as the SQL layer does.
 */
static bool
feed_input(const PiModel *model, int i, const PiOnnxTensor *t, float *dst, Outcome *o)
{
	const PiStrings *list = model->input_strings[i];
	char		msg[600];

	if ((list != NULL) != (t->strings != NULL))
	{
		snprintf(msg, sizeof(msg), "input %d holds %s, the model takes %s", i,
				 t->strings ? "strings" : "numbers", list ? "strings" : "numbers");
		fail_outcome(o, "test data type differs from the model", msg);
		return false;
	}
	if (list == NULL)
	{
		memcpy(dst, t->data, sizeof(float) * t->numel);
		return true;
	}
	for (int64_t k = 0; k < t->numel; k++)
	{
		int			index = pi_strings_find(list, t->strings[k], strlen(t->strings[k]));

		if (index < 0 && list->strict)
		{
			snprintf(msg, sizeof(msg), "input %d element %lld is the unknown category \"%.64s\"",
					 i, (long long) k, t->strings[k]);
			fail_outcome(o, "run-time error", msg);
			return false;
		}
		dst[k] = (float) index;
	}
	return true;
}

/*
 * Compares output k, class indexes with labels, to the expected labels:
 * strings, or numbers (int64 labels are written in decimal).
 */
static bool
compare_labels(const PiStrings *labels, const float *got, const PiOnnxTensor *want, int k,
			   Outcome *o)
{
	char		msg[600];

	for (int64_t i = 0; i < want->numel; i++)
	{
		int64_t		index = (int64_t) got[i];
		const char *label = (index >= 0 && index < labels->count) ? labels->items[index] : "";
		bool		same = want->strings ? strcmp(label, want->strings[i]) == 0 :
			(label[0] != '\0' && strtod(label, NULL) == want->data[i]);

		if (!same)
		{
			if (want->strings)
				snprintf(msg, sizeof(msg), "output %d element %lld is the label \"%.64s\", expected \"%.64s\"",
						 k, (long long) i, label, want->strings[i]);
			else
				snprintf(msg, sizeof(msg), "output %d element %lld is the label \"%.64s\", expected %.9g",
						 k, (long long) i, label, want->data[i]);
			fail_outcome(o, "wrong result", msg);
			return false;
		}
	}
	return true;
}

/* Runs one data set; returns false (with o set) when it does not pass. */
static bool
run_data_set(const PiModel *model, const char *set, int feed, Outcome *o)
{
	PiOnnxTensor inputs[16];
	int			ninputs = 0;
	int64_t		batch = -1;
	PiExecutor *ex = NULL;
	PiError		err = {0};
	bool		ok = false;
	char		msg[600];

	o->pass = false;
	for (; ninputs < feed && load_tensor(set, "input", ninputs, &inputs[ninputs], o); ninputs++)
		;
	if (o->reason[0] != '\0')
		goto done;
	if (ninputs != model->ninputs)
	{
		snprintf(msg, sizeof(msg), "%d input files for %d model inputs (the others are constants)",
				 ninputs, model->ninputs);
		fail_outcome(o, "test feeds an input the importer holds constant", msg);
		goto done;
	}
	for (int i = 0; i < ninputs; i++)
	{
		const PiValue *v = &model->values[model->inputs[i]];

		if (inputs[i].rank != v->rank || (v->rank > 1 &&
										  memcmp(inputs[i].dims + 1, v->dims + 1, sizeof(int64_t) * (v->rank - 1)) != 0))
		{
			snprintf(msg, sizeof(msg), "input %d has another shape than the model declares", i);
			fail_outcome(o, "test data shape differs from the model", msg);
			goto done;
		}
		if (batch >= 0 && inputs[i].dims[0] != batch)
		{
			fail_outcome(o, "inputs of different batch sizes", "the inputs' first dimensions differ");
			goto done;
		}
		batch = inputs[i].dims[0];
	}
	if (batch < 1)
	{
		fail_outcome(o, "empty batch", "an input has 0 rows");
		goto done;
	}
	if ((ex = pi_executor_new(model, batch, &err)) == NULL)
	{
		fail_outcome(o, error_category(&err), err.message);
		goto done;
	}
	for (int i = 0; i < ninputs; i++)
		if (!feed_input(model, i, &inputs[i], pi_executor_input(ex, i), o))
			goto done;
	if (pi_executor_run(ex, batch, &err) != PI_OK)
	{
		fail_outcome(o, "run-time error", err.message);
		goto done;
	}
	for (int k = 0; k < model->noutputs; k++)
	{
		PiOnnxTensor want;
		const PiValue *v = &model->values[model->outputs[k]];
		const float *got = pi_executor_output(ex, k);
		bool		exact;
		bool		shape_ok;

		if (!load_tensor(set, "output", k, &want, o))
		{
			if (o->reason[0] == '\0')
				fail_outcome(o, "test data incomplete", "an output file is missing");
			goto done;
		}
		if (model->output_labels[k] != NULL)
		{
			bool		same = compare_labels(model->output_labels[k], got, &want, k, o);

			pi_onnx_tensor_free(&want);
			if (!same)
				goto done;
			continue;
		}
		exact = want.data_type != 1 && want.data_type != 10 && want.data_type != 11 && want.data_type != 16;
		shape_ok = want.rank == v->rank && want.rank >= 1 && want.dims[0] == batch &&
			(v->rank < 2 || memcmp(want.dims + 1, v->dims + 1, sizeof(int64_t) * (v->rank - 1)) == 0);
		if (!shape_ok)
		{
			char		buf[96];

			snprintf(msg, sizeof(msg), "output %d has shape %s per the model, the expected output differs",
					 k, pi_shape_string(v, buf, sizeof(buf)));
			fail_outcome(o, "wrong output shape", msg);
			pi_onnx_tensor_free(&want);
			goto done;
		}
		for (int64_t i = 0; i < want.numel; i++)
		{
			double		a = got[i],
						b = want.data[i];
			double		diff = fabs(a - b);
			bool		same = (isnan(a) && isnan(b)) || (exact ? a == b : diff <= tolerance * fmax(1.0, fabs(b)));

			if (isinf(a) && isinf(b) && a == b)
			{
				same = true;
				diff = 0;
			}
			if (!same)
			{
				snprintf(msg, sizeof(msg), "output %d element %lld is %.9g, expected %.9g", k,
						 (long long) i, a, b);
				fail_outcome(o, "wrong result", msg);
				pi_onnx_tensor_free(&want);
				goto done;
			}
			if (diff / fmax(1.0, fabs(b)) > o->worst)
				o->worst = diff / fmax(1.0, fabs(b));
		}
		pi_onnx_tensor_free(&want);
	}
	ok = true;
done:
	for (int i = 0; i < ninputs; i++)
		pi_onnx_tensor_free(&inputs[i]);
	pi_executor_free(ex);
	return ok;
}

/* Appends a protobuf varint. */
static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t		n = 0;

	do
	{
		p[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return n;
}

/*
 * The model with graph inputs 1.. replaced by the data set's input files as
 * initializers (each TensorProto gets the input's name appended: the last
 * name wins).  NULL when the model cannot be decoded or a file is missing.
 */
static uint8_t *
bind_inputs(const uint8_t *model, size_t len, const char *set, size_t *out_len)
{
	OnnxModelProto proto;
	PiError		err = {0};
	OnnxWire	w;
	OnnxField	f;
	uint8_t    *extra = NULL,
			   *out = NULL;
	size_t		extra_len = 0,
				used = 0;
	int			k = 0;

	if (onnx_model_decode(model, len, &proto, &err) != PI_OK)
		return NULL;
	for (int i = 0; i < proto.graph.ninputs; i++)
	{
		const char *name = proto.graph.inputs[i].name;
		bool		is_init = false;
		char		path[1400];
		size_t		tlen;
		uint8_t    *t;
		size_t		nlen = strlen(name);

		for (int j = 0; j < proto.graph.ninitializers; j++)
			is_init |= strcmp(proto.graph.initializers[j].name, name) == 0;
		if (is_init)
			continue;
		if (k++ == 0)
			continue;			/* input 0 stays the input */
		snprintf(path, sizeof(path), "%s/input_%d.pb", set, k - 1);
		if ((t = (uint8_t *) test_read_file(path, &tlen)) == NULL)
			goto fail;
		extra = realloc(extra, extra_len + tlen + nlen + 40);
		extra[extra_len++] = (5 << 3) | 2;	/* GraphProto.initializer */
		extra_len += put_varint(extra + extra_len, tlen + 1 + (nlen > 127 ? 2 : 1) + nlen);
		memcpy(extra + extra_len, t, tlen);
		extra_len += tlen;
		extra[extra_len++] = (8 << 3) | 2;	/* TensorProto.name */
		extra_len += put_varint(extra + extra_len, nlen);
		memcpy(extra + extra_len, name, nlen);
		extra_len += nlen;
		free(t);
	}
	if (k < 2 || extra == NULL)
		goto fail;
	out = malloc(len + extra_len + 16);
	onnx_wire_init(&w, model, model, len);
	while (onnx_wire_more(&w))
	{
		const uint8_t *start = w.pos;

		if (onnx_wire_next(&w, &f, "ModelProto", &err) != PI_OK)
			goto fail;
		if (f.number != 7)
		{
			memcpy(out + used, start, (size_t) (w.pos - start));
			used += (size_t) (w.pos - start);
			continue;
		}
		out[used++] = (7 << 3) | 2;
		used += put_varint(out + used, f.len + extra_len);
		memcpy(out + used, f.data, f.len);
		used += f.len;
		memcpy(out + used, extra, extra_len);
		used += extra_len;
	}
	free(extra);
	onnx_model_free(&proto);
	*out_len = used;
	return out;
fail:
	free(extra);
	free(out);
	onnx_model_free(&proto);
	return NULL;
}

/* Imports model bytes and runs data sets (all, or only the named one). */
static void
run_model(const uint8_t *bytes, size_t len, const char *dir, const char *only_set,
		  int feed, Outcome *o)
{
	char		path[1200];
	PiModel    *model = NULL;
	PiModel    *attached = NULL;
	uint8_t    *image = NULL;
	int64_t		image_len;
	PiError		err = {0};
	char	  **sets;
	int			nsets;

	if (pi_onnx_load(bytes, len, NULL, 0, &model, NULL, &err) != PI_OK)
	{
		fail_outcome(o, error_category(&err), err.message);
		return;
	}
	/* every test runs from the model's image too, as the shared cache keeps it */
	image_len = pi_model_image_size(model);
	if (image_len < 0 || (image = aligned_alloc(PI_IMAGE_ALIGN, image_len)) == NULL ||
		pi_model_image_write(model, image, &err) != PI_OK ||
		(attached = pi_model_image_attach(image, image_len, &err)) == NULL)
	{
		fail_outcome(o, "model image failed", err.message);
		free(image);
		pi_model_free(model);
		return;
	}
	nsets = list_dir(dir, "test_data_set_", &sets);
	o->pass = nsets > 0;
	if (nsets == 0)
		fail_outcome(o, "test data incomplete", "no test_data_set_* directory");
	for (int i = 0; i < nsets && o->pass; i++)
	{
		if (only_set != NULL && strcmp(sets[i], only_set) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, sets[i]);
		o->pass = run_data_set(model, path, feed, o) && run_data_set(attached, path, feed, o);
	}
	free_list(sets, nsets);
	pi_model_free(attached);
	free(image);
	pi_model_free(model);
}

/* Runs one test directory: as it is, else with inputs 1.. bound. */
static void
run_test(const char *dir, Outcome *o)
{
	char		path[1200];
	size_t		len;
	uint8_t    *bytes;
	char	  **sets;
	int			nsets;
	Outcome		bound;

	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	if ((bytes = (uint8_t *) test_read_file(path, &len)) == NULL)
	{
		fail_outcome(o, "cannot read model.onnx", path);
		return;
	}
	run_model(bytes, len, dir, NULL, 16, o);
	if (o->pass)
	{
		free(bytes);
		return;
	}
	/* again with inputs 1.. as constants, one model per data set */
	memset(&bound, 0, sizeof(bound));
	nsets = list_dir(dir, "test_data_set_", &sets);
	bound.pass = nsets > 0;
	for (int i = 0; i < nsets && bound.pass; i++)
	{
		size_t		blen;
		uint8_t    *b;

		snprintf(path, sizeof(path), "%s/%s", dir, sets[i]);
		if ((b = bind_inputs(bytes, len, path, &blen)) == NULL)
			bound.pass = false;
		else
			run_model(b, blen, dir, sets[i], 1, &bound);
		free(b);
	}
	free_list(sets, nsets);
	free(bytes);
	if (bound.pass)
	{
		o->pass = o->bound = true;
		o->worst = bound.worst;
	}
	else if (strcmp(bound.reason, "wrong result") == 0)
	{
		/* a wrong number is never hidden */
		memcpy(bound.name, o->name, sizeof(bound.name));
		*o = bound;
	}
}

/* Reads the expectation file. */
static int
read_expected(const char *path, Expected *exp)
{
	FILE	   *f = fopen(path, "r");
	char		line[800];
	int			n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL && n < MAX_TESTS)
	{
		char	   *sp;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0' || (sp = strchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		snprintf(exp[n].name, sizeof(exp[n].name), "%.500s", line);
		snprintf(exp[n].verdict, sizeof(exp[n].verdict), "%s", sp + 1);
		exp[n].seen = false;
		n++;
	}
	fclose(f);
	return n;
}

int
main(int argc, char **argv)
{
	static Outcome outcomes[MAX_TESTS];
	static Expected expected[MAX_TESTS];
	int			ntests = 0,
				nexpected = 0,
				failures = 0,
				passed = 0;
	bool		write = false;
	int			argi = 1;
	const char *exp_path;
	double		worst = 0;

	if (argi < argc && strcmp(argv[argi], "--write") == 0)
	{
		write = true;
		argi++;
	}
	if (argi + 1 < argc && strcmp(argv[argi], "--tolerance") == 0)
	{
		tolerance = strtod(argv[argi + 1], NULL);
		argi += 2;
	}
	if (argc - argi < 2)
	{
		fprintf(stderr, "usage: %s [--write] [--tolerance T] EXPECTED ROOT...\n", argv[0]);
		return 2;
	}
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	exp_path = argv[argi++];
	if (!write && (nexpected = read_expected(exp_path, expected)) < 0)
	{
		fprintf(stderr, "cannot read %s\n", exp_path);
		return 2;
	}
	for (int r = argi; r < argc; r++)
	{
		const char *root = argv[r];
		const char *rootname = strrchr(root, '/') ? strrchr(root, '/') + 1 : root;
		char	  **dirs;
		int			ndirs = list_dir(root, "", &dirs);

		if (ndirs == 0)
		{
			fprintf(stderr, "FAIL: no tests under %s\n", root);
			failures++;
		}
		for (int i = 0; i < ndirs && ntests < MAX_TESTS; i++)
		{
			Outcome    *o = &outcomes[ntests];
			char		dir[1100];
			char		model_path[1200];

			snprintf(dir, sizeof(dir), "%s/%s", root, dirs[i]);
			snprintf(model_path, sizeof(model_path), "%s/model.onnx", dir);
			if (!exists(model_path))
				continue;		/* e.g. data/real: download links only */
			memset(o, 0, sizeof(*o));
			snprintf(o->name, sizeof(o->name), "%s/%s", rootname, dirs[i]);
			run_test(dir, o);
			ntests++;
		}
		free_list(dirs, ndirs);
	}

	if (write)
	{
		FILE	   *f = fopen(exp_path, "w");

		if (f == NULL)
			return 2;
		fprintf(f, "# ONNX conformance expectations, one test per line: NAME pass | NAME pass-bound | NAME skip REASON\n"
				"# Written by test/onnx/conformance --write; checked by make check-onnx.\n");
		for (int i = 0; i < ntests; i++)
		{
			fprintf(f, "%s %s%s\n", outcomes[i].name,
					outcomes[i].pass ? (outcomes[i].bound ? "pass-bound" : "pass") : "skip ",
					outcomes[i].pass ? "" : outcomes[i].reason);
			if (!outcomes[i].pass)
				printf("%s: %s: %s\n", outcomes[i].name, outcomes[i].reason, outcomes[i].detail);
		}
		fclose(f);
	}
	for (int i = 0; i < ntests; i++)
	{
		Outcome    *o = &outcomes[i];
		Expected   *e = NULL;

		if (o->pass)
		{
			passed++;
			if (o->worst > worst)
				worst = o->worst;
		}
		if (write)
			continue;
		for (int j = 0; j < nexpected && e == NULL; j++)
			if (strcmp(expected[j].name, o->name) == 0)
				e = &expected[j];
		if (e == NULL)
		{
			printf("FAIL: %s is not in %s (outcome: %s%s)\n", o->name, exp_path,
				   o->pass ? "pass" : "skip ", o->pass ? "" : o->reason);
			failures++;
			continue;
		}
		e->seen = true;
		if (strncmp(e->verdict, "pass", 4) == 0 && !o->pass)
		{
			printf("FAIL: %s should pass: %s: %s\n", o->name, o->reason, o->detail);
			failures++;
		}
		else if (o->pass && strcmp(e->verdict, o->bound ? "pass-bound" : "pass") != 0)
		{
			printf("FAIL: %s is listed as \"%s\" but passes%s: update %s\n", o->name, e->verdict,
				   o->bound ? " with bound inputs" : "", exp_path);
			failures++;
		}
	}
	for (int j = 0; j < nexpected; j++)
	{
		bool		under_roots = false;

		for (int r = argi; r < argc; r++)
		{
			const char *rootname = strrchr(argv[r], '/') ? strrchr(argv[r], '/') + 1 : argv[r];
			size_t		len = strlen(rootname);

			under_roots |= strncmp(expected[j].name, rootname, len) == 0 && expected[j].name[len] == '/';
		}
		if (under_roots && !expected[j].seen)
		{
			printf("FAIL: %s is listed in %s but was not found\n", expected[j].name, exp_path);
			failures++;
		}
	}

	/* counts: passed, and skipped by reason */
	{
		int			bound = 0;

		for (int i = 0; i < ntests; i++)
			bound += outcomes[i].pass && outcomes[i].bound;
		printf("ONNX conformance: %d tests, %d passed (%d as is, %d with inputs 1.. bound as constants; worst relative error %.3g), %d skipped\n",
			   ntests, passed, passed - bound, bound, worst, ntests - passed);
	}
	for (int i = 0; i < ntests; i++)
	{
		int			count = 0;
		bool		first = true;

		if (outcomes[i].pass)
			continue;
		for (int j = 0; j < i && first; j++)
			first = outcomes[j].pass || strcmp(outcomes[j].reason, outcomes[i].reason) != 0;
		if (!first)
			continue;
		for (int j = i; j < ntests; j++)
			count += !outcomes[j].pass && strcmp(outcomes[j].reason, outcomes[i].reason) == 0;
		printf("  skipped, %s: %d\n", outcomes[i].reason, count);
	}
	if (failures > 0)
	{
		printf("%d failure%s\n", failures, failures > 1 ? "s" : "");
		return 1;
	}
	return 0;
}
