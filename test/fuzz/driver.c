/*
 * driver.c
 *	  A standalone driver for the model-file fuzz target, for builds without
 *	  libFuzzer (gcc -fsanitize=address,undefined):
 *
 *	    fuzz_model CORPUS_DIR [ITERATIONS [SEED]]
 *	    fuzz_model FILE...
 *
 *	  The first form runs every file of the corpus as is (files named valid-*
 *	  must load as models), then ITERATIONS deterministic mutations of them:
 *	  byte flips, inserts, deletes, splices, interesting values, tweaks of the
 *	  length fields, JSON token edits and structure-aware edits of the graph,
 *	  options and safetensors header (parsed with cJSON, rebuilt with
 *	  consistent offsets).  Mutants whose model loads join the pool that later
 *	  mutations start from.  The second form runs the given files once (to
 *	  reproduce a crash).
 *
 *	  A crash or sanitizer report ends the process; the input is first saved
 *	  as fuzz_model-crash-<hash> (prefix: $FUZZ_ARTIFACT_PREFIX).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "driver_common.h"
#include "fuzz_common.h"
#include "fuzz_model.h"

#define FUZZ_MAX_INPUT (256 * 1024)	/* mutants are cut to this size */
#define POOL_EXTRA 512			/* accepted mutants kept for further mutation */
#define POOL_MAX_INPUT (32 * 1024)	/* ... if not larger than this */

/* One input of the pool. */
typedef struct Entry
{
	uint8_t    *data;
	size_t		len;
} Entry;

static Entry *pool;
static int	npool;
static int	nseeds;

static const char *const op_names[] = {
	"Dense", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu",
	"Sigmoid", "Tanh", "Gelu", "Softmax", "LogSoftmax", "Reshape", "Flatten",
	"Transpose", "Concat", "Conv2D", "MaxPool2D", "AveragePool2D",
	"GlobalAveragePool", "BatchNormalization", "Identity", "Dropout", "ArgMax",
	"Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Erf", "Softplus", "HardSigmoid",
	"Elu", "Selu", "Clip", "Cast", "Pow", "PRelu", "Equal", "Less", "Greater", "Min",
	"Max", "Where", "LayerNormalization", "ReduceMean", "ReduceSum", "ReduceMax",
	"Squeeze", "Unsqueeze", "Slice", "Gather", "Expand", "TopK", "ConvTranspose", "Pad"
};

static const char *const attr_names[] = {
	"axis", "keepdims", "transB", "alpha", "beta", "epsilon", "approximate",
	"shape", "perm", "kernel_shape", "strides", "pads", "dilations", "group",
	"ceil_mode", "count_include_pad", "ratio", "transA", "gamma", "min", "max", "to",
	"auto_pad", "output_padding", "axes", "starts", "ends", "steps", "k", "largest",
	"sorted", "output_index", "mode", "value"
};

static const char *const words[] = {
	"pg_infer", "float32", "F32", "F16", "BF16", "F64", "I8", "__metadata__",
	"dtype", "shape", "data_offsets", "name", "op", "inputs", "outputs", "nodes",
	"attrs", "format", "version", "metadata", "input_scale", "input_shift", "precision", "int8",
	"none", "tanh", "constant", "reflect", "edge", "", "x", "y"
};

static const char *const numbers[] = {
	"0", "1", "-1", "2", "3", "4", "5", "6", "7", "8", "-2", "-6", "-7", "16",
	"255", "256", "4096", "4097", "1000000", "1000001", "2147483647",
	"2147483648", "-2147483649", "4294967296", "9007199254740992",
	"9007199254740993", "1e15", "1e300", "-1e300", "1e-300", "0.5", "-0.5",
	"1.5", "1e999", "-0", "1e5", "0.0001", "3.4e38", "-3.4e38", "1e39"
};

/* Replaces len bytes at pos by rlen bytes of repl. */
static void
buf_replace(Buf *b, size_t pos, size_t len, const void *repl, size_t rlen)
{
	if (pos > b->len)
		pos = b->len;
	if (len > b->len - pos)
		len = b->len - pos;
	buf_reserve(b, rlen);
	memmove(b->p + pos + rlen, b->p + pos + len, b->len - pos - len);
	if (rlen > 0)
		memcpy(b->p + pos, repl, rlen);
	b->len = b->len - len + rlen;
}

/* Sets a buffer's contents. */
static void
buf_set(Buf *b, const void *data, size_t len)
{
	b->len = 0;
	buf_append(b, data, len);
}

/* Writes a little-endian integer of n bytes. */
static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/* Reads a little-endian integer of n bytes. */
static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t	v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The three parts of an input as separate buffers. */
typedef struct Parts
{
	Buf			graph;
	Buf			options;
	Buf			weights;
} Parts;

/* Splits an input into owned buffers (an input under 8 bytes is all graph). */
static void
parts_from(const uint8_t *data, size_t len, Parts *out)
{
	PiFuzzParts p;

	memset(out, 0, sizeof(*out));
	if (!pi_fuzz_split(data, len, &p))
	{
		buf_set(&out->graph, data, len);
		return;
	}
	buf_set(&out->graph, p.graph, p.graph_len);
	buf_set(&out->options, p.options, p.options_len);
	buf_set(&out->weights, p.weights, p.weights_len);
}

/* Joins parts into an input with exact length fields. */
static void
parts_join(const Parts *parts, Buf *out)
{
	uint8_t		head[8];

	put_le(head, parts->graph.len, 4);
	put_le(head + 4, parts->options.len, 4);
	out->len = 0;
	buf_append(out, head, 8);
	buf_append(out, parts->graph.p, parts->graph.len);
	buf_append(out, parts->options.p, parts->options.len);
	buf_append(out, parts->weights.p, parts->weights.len);
}

/* Frees the parts' buffers. */
static void
parts_free(Parts *parts)
{
	free(parts->graph.p);
	free(parts->options.p);
	free(parts->weights.p);
}

/* A random pool entry: a seed half of the time, else any entry. */
static const Entry *
pick_entry(void)
{
	return &pool[fuzz_below(fuzz_rnd() & 1 ? nseeds : npool)];
}

/* Adds an input to the pool (a copy). */
static void
pool_add(const uint8_t *data, size_t len)
{
	Entry	   *e;

	if (npool >= nseeds + POOL_EXTRA)
	{
		/* full: replace a random mutant, never a seed */
		e = &pool[nseeds + fuzz_below(POOL_EXTRA)];
		free(e->data);
	}
	else
		e = &pool[npool++];
	e->data = malloc(len > 0 ? len : 1);
	if (e->data == NULL)
		exit(2);
	if (len > 0)
		memcpy(e->data, data, len);
	e->len = len;
}

/*
 * Loads and runs every file of dir; the files sorted by name become the
 * seeds.  Returns the number of failures (valid-* seeds that did not load).
 */
static int
load_corpus(const char *dir)
{
	int			n = 0,
				bad = 0;
	char	  **names = list_dir_sorted(dir, &n);

	if (names == NULL)
	{
		fprintf(stderr, "fuzz_model: cannot open corpus directory %s\n", dir);
		return 1;
	}
	pool = calloc(n + POOL_EXTRA + 1, sizeof(Entry));
	for (int i = 0; i < n; i++)
	{
		char		path[4096];
		struct stat sb;
		Buf			file;
		long		accepted;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (!buf_read_file(path, &file))
		{
			fprintf(stderr, "fuzz_model: cannot read %s\n", path);
			bad++;
			continue;
		}
		accepted = pi_fuzz_stats.accepted;
		guard_run(file.p, file.len, -1);
		if (strncmp(names[i], "valid-", 6) == 0 && pi_fuzz_stats.accepted == accepted)
		{
			fprintf(stderr, "fuzz_model: seed %s does not load as a model\n", names[i]);
			bad++;
		}
		pool[npool].data = file.p;
		pool[npool].len = file.len;
		npool++;
	}
	nseeds = npool;
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (nseeds == 0)
	{
		fprintf(stderr, "fuzz_model: corpus directory %s has no files\n", dir);
		bad++;
	}
	return bad;
}

/* ---- byte-level mutations ---- */

/* Flips one bit. */
static void
mut_flip_bit(Buf *b)
{
	if (b->len > 0)
		b->p[fuzz_below(b->len)] ^= (uint8_t) (1u << fuzz_below(8));
}

/* Sets one byte to an interesting or random value. */
static void
mut_set_byte(Buf *b)
{
	static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, '0', '9', '-',
	'"', '[', ']', '{', '}', ',', ':', '.', 'e', '\\', ' '};

	if (b->len == 0)
		return;
	b->p[fuzz_below(b->len)] = fuzz_rnd() & 1 ? vals[fuzz_below(sizeof(vals))] : (uint8_t) fuzz_rnd();
}

/* Inserts random or repeated bytes. */
static void
mut_insert(Buf *b)
{
	uint8_t		tmp[64];
	size_t		n = 1 + fuzz_below(fuzz_rnd() & 1 ? 4 : sizeof(tmp));
	uint8_t		fill = (uint8_t) fuzz_rnd();

	for (size_t i = 0; i < n; i++)
		tmp[i] = (fuzz_rnd() & 3) ? fill : (uint8_t) fuzz_rnd();
	buf_replace(b, fuzz_below(b->len + 1), 0, tmp, n);
}

/* Deletes a chunk. */
static void
mut_delete(Buf *b)
{
	size_t		pos,
				n;

	if (b->len == 0)
		return;
	pos = fuzz_below(b->len);
	n = 1 + fuzz_below(fuzz_rnd() & 1 ? 4 : 256);
	buf_replace(b, pos, n, NULL, 0);
}

/* Copies a chunk of the buffer elsewhere in it. */
static void
mut_duplicate(Buf *b)
{
	size_t		from,
				n;
	uint8_t    *tmp;

	if (b->len == 0)
		return;
	from = fuzz_below(b->len);
	n = 1 + fuzz_below(b->len - from < 512 ? b->len - from : 512);
	tmp = malloc(n);
	memcpy(tmp, b->p + from, n);
	buf_replace(b, fuzz_below(b->len + 1), fuzz_rnd() & 1 ? 0 : n, tmp, n);
	free(tmp);
}

/* Writes an interesting 1-, 2-, 4- or 8-byte integer somewhere. */
static void
mut_interesting_int(Buf *b)
{
	static const uint64_t vals[] = {0, 1, 2, 4, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff,
		0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
		0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
	0xffffffffffffffffull};
	int			n = 1 << fuzz_below(4);
	uint64_t	v = vals[fuzz_below(sizeof(vals) / sizeof(vals[0]))];

	if (b->len < (size_t) n)
		return;
	if (fuzz_rnd() & 1)
		v = get_le(b->p + fuzz_below(b->len - n + 1), n) + (fuzz_below(33) - 16);
	put_le(b->p + fuzz_below(b->len - n + 1), v, n);
}

/* Crossover: a chunk of another pool entry replaces a chunk of this one. */
static void
mut_splice(Buf *b)
{
	const Entry *o = pick_entry();
	size_t		from,
				n,
				pos;

	if (o->len == 0)
		return;
	from = fuzz_below(o->len);
	n = 1 + fuzz_below(o->len - from);
	pos = fuzz_below(b->len + 1);
	buf_replace(b, pos, fuzz_below(n + 1), o->data + from, n);
}

/* ---- JSON text mutations ---- */

/* Finds the spans of number or string tokens of JSON text; returns count. */
static int
json_tokens(const Buf *b, bool strings, size_t *starts, size_t *ends, int max)
{
	int			n = 0;
	bool		in_string = false;
	size_t		start = 0;

	for (size_t i = 0; i < b->len && n < max; i++)
	{
		uint8_t		c = b->p[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
			{
				in_string = false;
				if (strings)
				{
					starts[n] = start + 1;
					ends[n++] = i;
				}
			}
			continue;
		}
		if (c == '"')
		{
			in_string = true;
			start = i;
		}
		else if (!strings && (c == '-' || (c >= '0' && c <= '9')))
		{
			size_t		j = i;

			while (j < b->len && strchr("0123456789+-.eE", b->p[j]) != NULL && b->p[j] != '\0')
				j++;
			starts[n] = i;
			ends[n++] = j;
			i = j - 1;
		}
	}
	return n;
}

/* Replaces a number token with an interesting number or a nudged one. */
static void
mut_json_number(Buf *b)
{
	size_t		starts[512],
				ends[512];
	int			n = json_tokens(b, false, starts, ends, 512);
	int			k;
	char		tmp[48];

	if (n == 0)
		return;
	k = (int) fuzz_below(n);
	if (fuzz_rnd() % 3 == 0 && ends[k] - starts[k] < 30)
	{
		char		old[32];
		double		v;

		memcpy(old, b->p + starts[k], ends[k] - starts[k]);
		old[ends[k] - starts[k]] = '\0';
		v = strtod(old, NULL);
		switch (fuzz_below(4))
		{
			case 0:
				v += 1;
				break;
			case 1:
				v -= 1;
				break;
			case 2:
				v *= 2;
				break;
			default:
				v = -v;
				break;
		}
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	}
	else
		snprintf(tmp, sizeof(tmp), "%s", numbers[fuzz_below(sizeof(numbers) / sizeof(numbers[0]))]);
	buf_replace(b, starts[k], ends[k] - starts[k], tmp, strlen(tmp));
}

/* Replaces a string token's contents with another string of the text or a known word. */
static void
mut_json_string(Buf *b)
{
	size_t		starts[512],
				ends[512];
	int			n = json_tokens(b, true, starts, ends, 512);
	int			k;

	if (n == 0)
		return;
	k = (int) fuzz_below(n);
	switch (fuzz_below(4))
	{
		case 0:
			{
				const char *w = op_names[fuzz_below(sizeof(op_names) / sizeof(op_names[0]))];

				buf_replace(b, starts[k], ends[k] - starts[k], w, strlen(w));
				break;
			}
		case 1:
			{
				const char *w = fuzz_rnd() & 1 ? attr_names[fuzz_below(sizeof(attr_names) / sizeof(attr_names[0]))]
					: words[fuzz_below(sizeof(words) / sizeof(words[0]))];

				buf_replace(b, starts[k], ends[k] - starts[k], w, strlen(w));
				break;
			}
		default:
			{
				int			j = (int) fuzz_below(n);
				size_t		len = ends[j] - starts[j];
				char	   *tmp = malloc(len + 1);

				memcpy(tmp, b->p + starts[j], len);
				buf_replace(b, starts[k], ends[k] - starts[k], tmp, len);
				free(tmp);
				break;
			}
	}
}

/* Inserts a JSON fragment at a random place. */
static void
mut_json_fragment(Buf *b)
{
	static const char *const frags[] = {
		"{}", "[]", "null", "true", "false", ",", "[", "]", "{", "}", ":",
		",\"x\":1", ",{\"name\":\"z\",\"op\":\"Relu\",\"inputs\":[\"x\"]}",
		"\"\\u0000\"", "\"\\ud800\"", "[[[[[[[[[[", "-1,", "0,", "1,"
	};
	const char *f = frags[fuzz_below(sizeof(frags) / sizeof(frags[0]))];

	buf_replace(b, fuzz_below(b->len + 1), fuzz_rnd() & 1 ? 0 : fuzz_below(8), f, strlen(f));
}

/* ---- structure-aware mutations (cJSON) ---- */

/* Parses JSON text; NULL if it is not JSON. */
static cJSON *
parse_json(const Buf *b)
{
	return cJSON_ParseWithLength((const char *) b->p, b->len);
}

/* Prints JSON into a buffer and frees it. */
static void
print_json(cJSON *root, Buf *b)
{
	char	   *s = cJSON_PrintUnformatted(root);

	if (s != NULL)
	{
		buf_set(b, s, strlen(s));
		cJSON_free(s);
	}
	cJSON_Delete(root);
}

/* Inserts an item into an array at which (appends past the end). */
static void
json_insert(cJSON *array, int which, cJSON *item)
{
	if (which >= cJSON_GetArraySize(array))
	{
		if (!cJSON_AddItemToArray(array, item))
			cJSON_Delete(item);
	}
	else if (!cJSON_InsertItemInArray(array, which, item))
		cJSON_Delete(item);
}

/* Sets key of an object to item (replacing or adding). */
static void
json_set(cJSON *object, const char *key, cJSON *item)
{
	if (!cJSON_ReplaceItemInObjectCaseSensitive(object, key, item) &&
		!cJSON_AddItemToObject(object, key, item))
		cJSON_Delete(item);
}

/* A small dimension: usually 1 to 8, sometimes an edge case. */
static int64_t
small_dim(void)
{
	static const int64_t edge[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 64, 4096, 4097, -1, 100000};

	if (fuzz_rnd() % 4 == 0)
		return edge[fuzz_below(sizeof(edge) / sizeof(edge[0]))];
	return 1 + (int64_t) fuzz_below(8);
}

/* A random item of an array or object (NULL if empty). */
static cJSON *
random_child(const cJSON *item)
{
	int			n = cJSON_GetArraySize(item);

	return n > 0 ? cJSON_GetArrayItem(item, (int) fuzz_below(n)) : NULL;
}

/* A random list of small integers (or an interesting scalar). */
static cJSON *
random_int_list(int maxlen)
{
	static const double vals[] = {-7, -2, -1, 0, 1, 2, 3, 4, 5, 6, 4096, 4097, 1e6, 2147483648.0};
	cJSON	   *list = cJSON_CreateArray();
	int			n = (int) fuzz_below(maxlen + 1);

	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(list, cJSON_CreateNumber(fuzz_rnd() & 1 ? vals[fuzz_below(sizeof(vals) / sizeof(vals[0]))]
													  : (double) fuzz_below(6)));
	return list;
}

/* A random attribute value of the kind its name takes (or any kind). */
static cJSON *
random_attr_value(const char *name)
{
	static const double scalars[] = {-7, -6, -2, -1, 0, 1, 2, 3, 5, 6, 1e-9, 0.5, 1e6, 1e38, 1e39, -1e39};

	if (fuzz_rnd() % 8 == 0)
		return fuzz_rnd() & 1 ? cJSON_CreateString(words[fuzz_below(sizeof(words) / sizeof(words[0]))])
			: cJSON_CreateBool(fuzz_rnd() & 1);
	if (strcmp(name, "approximate") == 0)
		return cJSON_CreateString(fuzz_rnd() & 1 ? "tanh" : "none");
	if (strcmp(name, "auto_pad") == 0)
	{
		static const char *const modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "SAME"};

		return cJSON_CreateString(modes[fuzz_below(5)]);
	}
	if (strcmp(name, "axes") == 0 || strcmp(name, "starts") == 0 || strcmp(name, "ends") == 0 ||
		strcmp(name, "steps") == 0 || strcmp(name, "output_padding") == 0)
	{
		static const double bounds[] = {-9223372036854775808.0, 9223372036854775807.0, -1e19, 1e19};
		int			n = (int) fuzz_below(5);
		cJSON	   *list;

		if (fuzz_rnd() % 3 == 0)
			return random_int_list(n);
		list = cJSON_CreateArray();
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(list, cJSON_CreateNumber(fuzz_rnd() % 5 ? (double) fuzz_below(7) - 3
														  : bounds[fuzz_below(4)]));
		return list;
	}
	if (strcmp(name, "shape") == 0)
	{
		cJSON	   *list = cJSON_CreateArray();
		int			n = 1 + (int) fuzz_below(6);

		cJSON_AddItemToArray(list, cJSON_CreateNumber(fuzz_rnd() % 8 ? -1 : (double) small_dim()));
		for (int i = 1; i < n; i++)
			cJSON_AddItemToArray(list, cJSON_CreateNumber((double) small_dim()));
		return list;
	}
	if (strcmp(name, "perm") == 0 || strcmp(name, "kernel_shape") == 0 ||
		strcmp(name, "strides") == 0 || strcmp(name, "pads") == 0 ||
		strcmp(name, "dilations") == 0)
	{
		int			want = strcmp(name, "perm") == 0 ? 6 : strcmp(name, "pads") == 0 ? 4 : 2;
		cJSON	   *list = cJSON_CreateArray();
		int			n = fuzz_rnd() % 4 ? want : (int) fuzz_below(7);

		if (strcmp(name, "perm") == 0)
		{
			int			p[6] = {0, 1, 2, 3, 4, 5};

			n = 1 + (int) fuzz_below(6);
			for (int i = n - 1; i > 0; i--)
			{
				int			j = (int) fuzz_below(i + 1),
							t = p[i];

				if (j == 0 && fuzz_rnd() % 4)
					continue;	/* mostly keep the batch first */
				p[i] = p[j];
				p[j] = t;
			}
			for (int i = 0; i < n; i++)
				cJSON_AddItemToArray(list, cJSON_CreateNumber(p[i]));
			return list;
		}
		cJSON_Delete(list);
		if (fuzz_rnd() % 3 == 0)
			return random_int_list(n);
		list = cJSON_CreateArray();
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(list, cJSON_CreateNumber((double) (strcmp(name, "pads") == 0
																	 ? fuzz_below(3) : 1 + fuzz_below(4))));
		return list;
	}
	return cJSON_CreateNumber(scalars[fuzz_below(sizeof(scalars) / sizeof(scalars[0]))]);
}

/* Names of the values a graph can refer to: its inputs, nodes and the weights' tensors. */
static int
value_names(const cJSON *graph, const cJSON *st, const char **names, int max)
{
	const cJSON *item;
	int			n = 0;

	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(graph, "inputs"))
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");

		if (cJSON_IsString(name) && n < max)
			names[n++] = name->valuestring;
	}
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(graph, "nodes"))
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");

		if (cJSON_IsString(name) && n < max)
			names[n++] = name->valuestring;
	}
	if (st != NULL)
		cJSON_ArrayForEach(item, st)
			if (item->string != NULL && strcmp(item->string, "__metadata__") != 0 && n < max)
			names[n++] = item->string;
	return n;
}

/* The JSON header of a safetensors buffer, parsed; NULL if there is none. */
static cJSON *
st_header(const Buf *w)
{
	uint64_t	h;

	if (w->len < 8)
		return NULL;
	h = get_le(w->p, 8);
	if (h > w->len - 8)
		return NULL;
	return cJSON_ParseWithLength((const char *) w->p + 8, h);
}

/* Bytes per element of a safetensors dtype name (4 if unknown). */
static int
st_esize(const char *dtype)
{
	if (strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0)
		return 2;
	if (strcmp(dtype, "F64") == 0)
		return 8;
	return 4;
}

/*
 * Rewrites a safetensors buffer from a (mutated) header: each tensor's bytes
 * are its old bytes where the old offsets still fit, else generated ones;
 * offsets are recomputed so that the tensors tile the data.  Entries that
 * are not well-formed tensors are kept as they are.
 */
static void
st_rebuild(Buf *w, cJSON *header)
{
	Buf			data = {0};
	Buf			out = {0};
	const uint8_t *old = NULL;
	size_t		old_len = 0;
	cJSON	   *t;
	uint8_t		head[8];
	char	   *text;

	if (w->len >= 8 && get_le(w->p, 8) <= w->len - 8)
	{
		old = w->p + 8 + get_le(w->p, 8);
		old_len = w->len - 8 - get_le(w->p, 8);
	}
	cJSON_ArrayForEach(t, header)
	{
		cJSON	   *dtype = cJSON_GetObjectItemCaseSensitive(t, "dtype");
		cJSON	   *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
		cJSON	   *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
		const cJSON *d;
		double		numel = 1;
		size_t		bytes,
					begin = data.len,
					ob = 0,
					oe = 0;

		if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
			cJSON_GetArraySize(offs) != 2)
			continue;
		cJSON_ArrayForEach(d, shape)
			numel *= cJSON_IsNumber(d) && d->valuedouble >= 0 ? d->valuedouble : 1;
		if (numel * st_esize(dtype->valuestring) > 1 << 20)
			continue;
		bytes = (size_t) numel * st_esize(dtype->valuestring);
		if (cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)))
		{
			double		b0 = cJSON_GetArrayItem(offs, 0)->valuedouble;
			double		b1 = cJSON_GetArrayItem(offs, 1)->valuedouble;

			if (b0 >= 0 && b1 >= b0 && b1 <= (double) old_len)
			{
				ob = (size_t) b0;
				oe = (size_t) b1;
			}
		}
		for (size_t i = 0; i < bytes;)
		{
			if (ob + i < oe && fuzz_rnd() % 64)
			{
				size_t		n = oe - ob - i < bytes - i ? oe - ob - i : bytes - i;

				buf_append(&data, old + ob + i, n);
				i += n;
			}
			else
			{
				/* a float32-ish pattern, or random bytes */
				float		f = (float) ((int) fuzz_below(2001) - 1000) / 250.0f;
				uint8_t		fb[4];

				memcpy(fb, &f, 4);
				for (int k = 0; k < 4 && i < bytes; k++, i++)
				{
					uint8_t		c = fuzz_rnd() % 16 ? fb[k] : (uint8_t) fuzz_rnd();

					buf_append(&data, &c, 1);
				}
			}
		}
		cJSON_ReplaceItemInArray(offs, 0, cJSON_CreateNumber((double) begin));
		cJSON_ReplaceItemInArray(offs, 1, cJSON_CreateNumber((double) data.len));
	}
	text = cJSON_PrintUnformatted(header);
	cJSON_Delete(header);
	if (text == NULL)
	{
		free(data.p);
		return;
	}
	put_le(head, strlen(text), 8);
	buf_append(&out, head, 8);
	buf_append(&out, text, strlen(text));
	buf_append(&out, data.p, data.len);
	cJSON_free(text);
	free(data.p);
	free(w->p);
	*w = out;
}

/* Creates a tensor entry of a dtype and a shape (offsets fixed by st_rebuild). */
static cJSON *
st_new_tensor(const char *dtype, const int64_t *dims, int rank)
{
	cJSON	   *t = cJSON_CreateObject();
	cJSON	   *shape = cJSON_CreateArray();
	cJSON	   *offs = cJSON_CreateArray();

	cJSON_AddStringToObject(t, "dtype", dtype);
	for (int i = 0; i < rank; i++)
		cJSON_AddItemToArray(shape, cJSON_CreateNumber((double) dims[i]));
	cJSON_AddItemToObject(t, "shape", shape);
	cJSON_AddItemToArray(offs, cJSON_CreateNumber(0));
	cJSON_AddItemToArray(offs, cJSON_CreateNumber(0));
	cJSON_AddItemToObject(t, "data_offsets", offs);
	return t;
}

/* Mutates one tensor of the weights (shape, dtype, name, presence) consistently. */
static void
mut_st_struct(Parts *parts)
{
	static const char *const dtypes[] = {"F32", "F16", "BF16", "F64"};
	cJSON	   *h = st_header(&parts->weights);
	cJSON	   *t,
			   *shape;
	int			n;

	if (h == NULL)
		return;
	n = cJSON_GetArraySize(h);
	t = random_child(h);
	if (t == NULL || t->string == NULL || strcmp(t->string, "__metadata__") == 0)
	{
		st_rebuild(&parts->weights, h);
		return;
	}
	shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
	switch (fuzz_below(8))
	{
		case 0:					/* one dimension changed */
		case 1:
			if (cJSON_IsArray(shape) && cJSON_GetArraySize(shape) > 0)
				cJSON_ReplaceItemInArray(shape, (int) fuzz_below(cJSON_GetArraySize(shape)),
										 cJSON_CreateNumber((double) small_dim()));
			break;
		case 2:					/* a dimension added or removed */
			if (cJSON_IsArray(shape))
			{
				if (fuzz_rnd() & 1 && cJSON_GetArraySize(shape) > 0)
					cJSON_DeleteItemFromArray(shape, (int) fuzz_below(cJSON_GetArraySize(shape)));
				else
					json_insert(shape, (int) fuzz_below(cJSON_GetArraySize(shape) + 1),
											cJSON_CreateNumber((double) small_dim()));
			}
			break;
		case 3:					/* another dtype */
			json_set(t, "dtype",
												   cJSON_CreateString(dtypes[fuzz_below(4)]));
			break;
		case 4:					/* removed */
			if (n > 1)
				cJSON_DeleteItemFromObjectCaseSensitive(h, t->string);
			break;
		case 5:					/* renamed */
			{
				char		name[64];

				snprintf(name, sizeof(name), "%s", words[fuzz_below(sizeof(words) / sizeof(words[0]))]);
				if (cJSON_GetObjectItemCaseSensitive(h, name) == NULL)
				{
					cJSON	   *copy = cJSON_Duplicate(t, true);

					cJSON_DeleteItemFromObjectCaseSensitive(h, t->string);
					cJSON_AddItemToObject(h, name, copy);
				}
				break;
			}
		case 6:					/* metadata */
			{
				cJSON	   *md = cJSON_CreateObject();

				cJSON_AddStringToObject(md, "format", "pt");
				if (fuzz_rnd() & 1)
					cJSON_AddNumberToObject(md, "n", 1);
				cJSON_DeleteItemFromObjectCaseSensitive(h, "__metadata__");
				cJSON_AddItemToObject(h, "__metadata__", md);
				break;
			}
		default:				/* the shape reversed */
			if (cJSON_IsArray(shape))
			{
				int			r = cJSON_GetArraySize(shape);
				cJSON	   *rev = cJSON_CreateArray();

				for (int i = r - 1; i >= 0; i--)
					cJSON_AddItemToArray(rev, cJSON_Duplicate(cJSON_GetArrayItem(shape, i), true));
				json_set(t, "shape", rev);
			}
			break;
	}
	st_rebuild(&parts->weights, h);
}

/* Mutates the graph JSON structurally: inputs, nodes, attributes, wiring, outputs. */
static void
mut_graph_struct(Parts *parts)
{
	cJSON	   *g = parse_json(&parts->graph);
	cJSON	   *st = st_header(&parts->weights);
	cJSON	   *nodes,
			   *node,
			   *inputs;
	const char *names[256];
	int			nnames;

	if (g == NULL || !cJSON_IsObject(g))
	{
		cJSON_Delete(g);
		cJSON_Delete(st);
		return;
	}
	nnames = value_names(g, st, names, 256);
	nodes = cJSON_GetObjectItemCaseSensitive(g, "nodes");
	node = cJSON_IsArray(nodes) ? random_child(nodes) : NULL;
	inputs = node ? cJSON_GetObjectItemCaseSensitive(node, "inputs") : NULL;
	switch (fuzz_below(12))
	{
		case 0:					/* a graph input's dimension */
			{
				cJSON	   *in = random_child(cJSON_GetObjectItemCaseSensitive(g, "inputs"));
				cJSON	   *shape = in ? cJSON_GetObjectItemCaseSensitive(in, "shape") : NULL;

				if (cJSON_IsArray(shape) && cJSON_GetArraySize(shape) > 0)
				{
					int			r = cJSON_GetArraySize(shape);

					if (fuzz_rnd() % 4 == 0)
					{
						if (fuzz_rnd() & 1 && r > 1)
							cJSON_DeleteItemFromArray(shape, r - 1);
						else
							cJSON_AddItemToArray(shape, cJSON_CreateNumber((double) small_dim()));
					}
					else
						cJSON_ReplaceItemInArray(shape, (int) fuzz_below(r),
												 cJSON_CreateNumber((double) small_dim()));
				}
				break;
			}
		case 1:					/* a node's op */
			if (node)
				json_set(node, "op",
													   cJSON_CreateString(op_names[fuzz_below(sizeof(op_names) / sizeof(op_names[0]))]));
			break;
		case 2:					/* an attribute set */
		case 3:
			if (node)
			{
				const char *a = attr_names[fuzz_below(sizeof(attr_names) / sizeof(attr_names[0]))];
				cJSON	   *attrs = cJSON_GetObjectItemCaseSensitive(node, "attrs");

				if (!cJSON_IsObject(attrs))
				{
					cJSON_DeleteItemFromObjectCaseSensitive(node, "attrs");
					attrs = cJSON_AddObjectToObject(node, "attrs");
				}
				char		key[64];

				/* mostly an attribute the node has already */
				if (cJSON_GetArraySize(attrs) > 0 && fuzz_rnd() % 3)
					a = random_child(attrs)->string;
				snprintf(key, sizeof(key), "%s", a);
				cJSON_DeleteItemFromObjectCaseSensitive(attrs, key);
				cJSON_AddItemToObject(attrs, key, random_attr_value(key));
			}
			break;
		case 4:					/* an attribute removed */
			if (node)
			{
				cJSON	   *attrs = cJSON_GetObjectItemCaseSensitive(node, "attrs");
				cJSON	   *a = attrs ? random_child(attrs) : NULL;

				if (a && a->string)
					cJSON_DeleteItemFromObjectCaseSensitive(attrs, a->string);
			}
			break;
		case 5:					/* an input rewired */
			if (cJSON_IsArray(inputs) && cJSON_GetArraySize(inputs) > 0 && nnames > 0)
				cJSON_ReplaceItemInArray(inputs, (int) fuzz_below(cJSON_GetArraySize(inputs)),
										 cJSON_CreateString(names[fuzz_below(nnames)]));
			break;
		case 6:					/* an input added or removed */
			if (cJSON_IsArray(inputs))
			{
				if (fuzz_rnd() & 1 && cJSON_GetArraySize(inputs) > 0)
					cJSON_DeleteItemFromArray(inputs, (int) fuzz_below(cJSON_GetArraySize(inputs)));
				else if (nnames > 0)
					cJSON_AddItemToArray(inputs, cJSON_CreateString(names[fuzz_below(nnames)]));
			}
			break;
		case 7:					/* a new node on an existing value, made an output */
		case 8:
			if (cJSON_IsArray(nodes) && nnames > 0)
			{
				cJSON	   *nn = cJSON_CreateObject();
				cJSON	   *ins = cJSON_CreateArray();
				const char *op = op_names[fuzz_below(sizeof(op_names) / sizeof(op_names[0]))];
				char		name[32];
				int			k = 1 + (int) fuzz_below(3);
				cJSON	   *outs = cJSON_GetObjectItemCaseSensitive(g, "outputs");

				snprintf(name, sizeof(name), "fz%u", (unsigned) fuzz_below(1000));
				cJSON_AddStringToObject(nn, "name", name);
				cJSON_AddStringToObject(nn, "op", op);
				/* first input: a node or graph input, so usually an activation */
				cJSON_AddItemToArray(ins, cJSON_CreateString(names[fuzz_below(nnames)]));
				for (int i = 1; i < k; i++)
					cJSON_AddItemToArray(ins, cJSON_CreateString(names[fuzz_below(nnames)]));
				cJSON_AddItemToObject(nn, "inputs", ins);
				if (fuzz_rnd() & 1)
				{
					cJSON	   *attrs = cJSON_AddObjectToObject(nn, "attrs");
					const char *a = attr_names[fuzz_below(sizeof(attr_names) / sizeof(attr_names[0]))];

					cJSON_AddItemToObject(attrs, a, random_attr_value(a));
				}
				cJSON_AddItemToArray(nodes, nn);
				if (cJSON_IsArray(outs))
				{
					if (fuzz_rnd() & 1 && cJSON_GetArraySize(outs) > 0)
						cJSON_ReplaceItemInArray(outs, (int) fuzz_below(cJSON_GetArraySize(outs)),
												 cJSON_CreateString(name));
					else
						cJSON_AddItemToArray(outs, cJSON_CreateString(name));
				}
			}
			break;
		case 9:					/* a node removed */
			if (cJSON_IsArray(nodes) && cJSON_GetArraySize(nodes) > 1)
				cJSON_DeleteItemFromArray(nodes, (int) fuzz_below(cJSON_GetArraySize(nodes)));
			break;
		case 10:				/* the outputs changed */
			{
				cJSON	   *outs = cJSON_GetObjectItemCaseSensitive(g, "outputs");

				if (cJSON_IsArray(outs) && nnames > 0)
				{
					if (fuzz_rnd() & 1 || cJSON_GetArraySize(outs) == 0)
						cJSON_AddItemToArray(outs, cJSON_CreateString(names[fuzz_below(nnames)]));
					else
						cJSON_ReplaceItemInArray(outs, (int) fuzz_below(cJSON_GetArraySize(outs)),
												 cJSON_CreateString(names[fuzz_below(nnames)]));
				}
				break;
			}
		default:				/* nodes in another order */
			if (cJSON_IsArray(nodes) && cJSON_GetArraySize(nodes) > 1)
			{
				cJSON	   *first = cJSON_DetachItemFromArray(nodes, (int) fuzz_below(cJSON_GetArraySize(nodes)));

				json_insert(nodes, (int) fuzz_below(cJSON_GetArraySize(nodes) + 1), first);
			}
			break;
	}
	cJSON_Delete(st);
	print_json(g, &parts->graph);
}

/*
 * Adds a node that uses a new weight of a random small shape (rank 0 to 4,
 * zero sizes included): the shape checks of ops that take weights.
 */
static void
mut_new_weight_node(Parts *parts)
{
	static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "MatMul", "Dense", "Gemm",
	"Conv2D", "BatchNormalization"};
	cJSON	   *g = parse_json(&parts->graph);
	cJSON	   *st = st_header(&parts->weights);
	cJSON	   *nodes,
			   *nn,
			   *ins,
			   *outs;
	const char *names[256];
	int			nnames;
	char		name[32],
				wname[48];
	int64_t		dims[4];
	int			rank = (int) fuzz_below(5);
	const char *op = ops[fuzz_below(sizeof(ops) / sizeof(ops[0]))];
	int			nweights;

	if (g == NULL || st == NULL || !cJSON_IsObject(g) || !cJSON_IsObject(st))
	{
		cJSON_Delete(g);
		cJSON_Delete(st);
		return;
	}
	nodes = cJSON_GetObjectItemCaseSensitive(g, "nodes");
	nnames = value_names(g, NULL, names, 256);	/* activations only */
	if (!cJSON_IsArray(nodes) || nnames == 0)
	{
		cJSON_Delete(g);
		cJSON_Delete(st);
		return;
	}
	snprintf(name, sizeof(name), "fz%u", (unsigned) fuzz_below(1000));
	nn = cJSON_CreateObject();
	ins = cJSON_CreateArray();
	cJSON_AddStringToObject(nn, "name", name);
	cJSON_AddStringToObject(nn, "op", op);
	cJSON_AddItemToArray(ins, cJSON_CreateString(names[fuzz_below(nnames)]));
	nweights = strcmp(op, "BatchNormalization") == 0 ? 4 :
		(strcmp(op, "Dense") == 0 || strcmp(op, "Gemm") == 0 || strcmp(op, "Conv2D") == 0)
		? 1 + (int) fuzz_below(2) : 1;
	for (int w = 0; w < nweights; w++)
	{
		int			r = (w == 0) ? rank : (fuzz_rnd() % 4 ? 1 : rank);

		for (int i = 0; i < r; i++)
			dims[i] = fuzz_rnd() % 6 ? 1 + (int64_t) fuzz_below(6) : (int64_t) fuzz_below(3);
		if (w > 0 && r == 1)
			dims[0] = fuzz_rnd() & 1 ? dims[0] : 1 + (int64_t) fuzz_below(16);
		snprintf(wname, sizeof(wname), "%s.w%d", name, w);
		cJSON_AddItemToObject(st, wname, st_new_tensor(fuzz_rnd() % 8 ? "F32" : "F16", dims, r));
		cJSON_AddItemToArray(ins, cJSON_CreateString(wname));
	}
	if (fuzz_rnd() & 1 && strcmp(op, "MatMul") != 0 && strncmp(op, "Conv", 4) != 0)
	{
		/* the weight first, the activation second */
		cJSON	   *first = cJSON_DetachItemFromArray(ins, 0);

		cJSON_AddItemToArray(ins, first);
	}
	cJSON_AddItemToObject(nn, "inputs", ins);
	if (strcmp(op, "Conv2D") == 0 && fuzz_rnd() & 1)
	{
		cJSON	   *attrs = cJSON_AddObjectToObject(nn, "attrs");

		cJSON_AddItemToObject(attrs, "group", random_attr_value("group"));
		if (fuzz_rnd() & 1)
			cJSON_AddItemToObject(attrs, "pads", random_attr_value("pads"));
	}
	cJSON_AddItemToArray(nodes, nn);
	outs = cJSON_GetObjectItemCaseSensitive(g, "outputs");
	if (cJSON_IsArray(outs))
		cJSON_AddItemToArray(outs, cJSON_CreateString(name));
	st_rebuild(&parts->weights, st);
	print_json(g, &parts->graph);
}

/* Appends text. */
static void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/* Replaces the options with input_scale/input_shift of a random form and a precision. */
static void
mut_options(Parts *parts)
{
	cJSON	   *g = parse_json(&parts->graph);
	int64_t		row = 1;
	const cJSON *in,
			   *shape,
			   *d;
	Buf		   *o = &parts->options;
	bool		first = true;

	/* the row size of the first graph input, as the per-feature length */
	in = g ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "inputs"), 0) : NULL;
	shape = in ? cJSON_GetObjectItemCaseSensitive(in, "shape") : NULL;
	cJSON_ArrayForEach(d, shape)
		if (cJSON_IsNumber(d) && d->valuedouble > 0 && d->valuedouble < 4096 && row < 4096)
		row *= (int64_t) d->valuedouble;
	cJSON_Delete(g);
	if (row > 2048)
		row = 2048;
	o->len = 0;
	buf_puts(o, "{");
	for (int k = 0; k < 2; k++)
	{
		int64_t		n;
		char		num[32];

		if (fuzz_rnd() % 3 == 0)
			continue;
		buf_puts(o, first ? "" : ",");
		buf_puts(o, k == 0 ? "\"input_scale\":" : "\"input_shift\":");
		first = false;
		switch (fuzz_below(6))
		{
			case 0:
				snprintf(num, sizeof(num), "%g", (double) ((int) fuzz_below(9) - 4) / 2.0);
				buf_puts(o, num);
				continue;
			case 1:
				n = 1;
				break;
			case 2:
				n = row + (int64_t) fuzz_below(3) - 1;
				break;
			case 3:
				n = (int64_t) fuzz_below(5);
				break;
			default:
				n = row;
				break;
		}
		buf_puts(o, "[");
		for (int64_t i = 0; i < n; i++)
		{
			if (fuzz_rnd() % 64)
				snprintf(num, sizeof(num), "%s%g", i ? "," : "", (double) ((int) fuzz_below(17) - 8) / 4.0);
			else
				snprintf(num, sizeof(num), "%s1e39", i ? "," : "");
			buf_puts(o, num);
		}
		buf_puts(o, "]");
	}
	/* a precision: int8 (the int8 kernels run), fp32, or one that is refused */
	if (fuzz_rnd() % 2 == 0)
	{
		static const char *const precisions[] = {"\"int8\"", "\"int8\"", "\"fp32\"", "\"bf16\"", "8"};

		buf_puts(o, first ? "\"precision\":" : ",\"precision\":");
		buf_puts(o, precisions[fuzz_below(5)]);
		first = false;
	}
	if (fuzz_rnd() % 16 == 0)
		buf_puts(o, first ? "\"unknown\":1" : ",\"unknown\":1");
	buf_puts(o, "}");
}

/* ---- layout mutations ---- */

/* Tweaks the graph or options length field (joined inputs only). */
static void
mut_length_field(Buf *b)
{
	uint64_t	v;
	int			at = (fuzz_rnd() & 1) ? 0 : 4;

	if (b->len < 8)
		return;
	v = get_le(b->p + at, 4);
	switch (fuzz_below(4))
	{
		case 0:
			v += fuzz_below(9) - 4;
			break;
		case 1:
			v = 0;
			break;
		case 2:
			v = 0xffffffffu;
			break;
		default:
			v = fuzz_below(b->len);
			break;
	}
	put_le(b->p + at, v, 4);
}

/* Tweaks the safetensors header length or a data_offsets number. */
static void
mut_st_length(Parts *parts)
{
	Buf		   *w = &parts->weights;
	uint64_t	v;

	if (w->len < 8)
		return;
	if (fuzz_rnd() & 1)
	{
		v = get_le(w->p, 8);
		switch (fuzz_below(5))
		{
			case 0:
				v += fuzz_below(17) - 8;
				break;
			case 1:
				v = w->len - 8;
				break;
			case 2:
				v = 0xffffffffffffffffull - fuzz_below(16);
				break;
			case 3:
				v = (uint64_t) 1 << (fuzz_below(64));
				break;
			default:
				v = 0;
				break;
		}
		put_le(w->p, v, 8);
		return;
	}
	{
		/* a number in the header: usually a data offset, nudged */
		uint64_t	h = get_le(w->p, 8);
		Buf			header = {0};
		Buf			rest = {0};
		uint8_t		head[8];

		if (h > w->len - 8)
			return;
		buf_set(&header, w->p + 8, h);
		buf_set(&rest, w->p + 8 + h, w->len - 8 - h);
		mut_json_number(&header);
		put_le(head, header.len, 8);
		w->len = 0;
		buf_append(w, head, 8);
		buf_append(w, header.p, header.len);
		buf_append(w, rest.p, rest.len);
		free(header.p);
		free(rest.p);
	}
}

/* Replaces one part with the same part of another pool entry. */
static void
mut_swap_part(Parts *parts)
{
	const Entry *o = pick_entry();
	Parts		other;

	parts_from(o->data, o->len, &other);
	switch (fuzz_below(3))
	{
		case 0:
			buf_set(&parts->graph, other.graph.p, other.graph.len);
			break;
		case 1:
			buf_set(&parts->options, other.options.p, other.options.len);
			break;
		default:
			buf_set(&parts->weights, other.weights.p, other.weights.len);
			break;
	}
	parts_free(&other);
}

/* Applies a byte or text mutation to one part, or to the whole input. */
static void
mutate_bytes(Buf *b)
{
	switch (fuzz_below(10))
	{
		case 0:
			mut_flip_bit(b);
			break;
		case 1:
			mut_set_byte(b);
			break;
		case 2:
			mut_insert(b);
			break;
		case 3:
			mut_delete(b);
			break;
		case 4:
			mut_duplicate(b);
			break;
		case 5:
			mut_interesting_int(b);
			break;
		case 6:
			mut_splice(b);
			break;
		case 7:
			mut_json_number(b);
			break;
		case 8:
			mut_json_string(b);
			break;
		default:
			mut_json_fragment(b);
			break;
	}
}

/* One mutant of a random pool entry: 1 to 4 stacked mutations. */
static void
make_mutant(Buf *out)
{
	const Entry *e = pick_entry();
	Parts		parts;
	int			steps = 1 + (int) fuzz_below(4);
	int			joined_steps = 0;

	parts_from(e->data, e->len, &parts);
	for (int s = 0; s < steps; s++)
	{
		switch (fuzz_below(16))
		{
			case 0:
			case 1:
				mut_graph_struct(&parts);
				break;
			case 2:
			case 3:
				mut_st_struct(&parts);
				break;
			case 4:
				mut_new_weight_node(&parts);
				break;
			case 5:
				mut_options(&parts);
				break;
			case 6:
				mut_st_length(&parts);
				break;
			case 7:
				mut_swap_part(&parts);
				break;
			case 8:
			case 9:
				mutate_bytes(&parts.graph);
				break;
			case 10:
				mutate_bytes(&parts.weights);
				break;
			case 11:
				mutate_bytes(&parts.options);
				break;
			default:
				/* on the joined input, after the parts are joined */
				joined_steps++;
				break;
		}
	}
	parts_join(&parts, out);
	parts_free(&parts);
	/* the layout and length fields too */
	for (int s = 0; s < joined_steps; s++)
	{
		if (fuzz_rnd() & 1)
			mut_length_field(out);
		else
			mutate_bytes(out);
	}
	if (out->len > FUZZ_MAX_INPUT)
		out->len = FUZZ_MAX_INPUT;
}

/* Whether a path names a directory. */
static bool
is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int
main(int argc, char **argv)
{
	long		iterations = 20000;
	uint64_t	seed;
	int			bad = 0;
	struct timespec t0,
				t1;
	Buf			mutant = {0};
	time_t		last_report;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS [SEED]]\n       %s FILE...\n",
				argv[0], argv[0]);
		return 2;
	}
	guard_install("fuzz_model");
	clock_gettime(CLOCK_MONOTONIC, &t0);

	if (!is_dir(argv[1]))
	{
		/* reproduce: run each file once */
		for (int i = 1; i < argc; i++)
		{
			Buf			file;

			if (!buf_read_file(argv[i], &file))
			{
				fprintf(stderr, "fuzz_model: cannot read %s\n", argv[i]);
				bad++;
				continue;
			}
			guard_run(file.p, file.len, -1);
			free(file.p);
		}
		printf("fuzz_model: %ld inputs, %ld accepted models, %ld run, 0 crashes\n",
			   pi_fuzz_stats.inputs, pi_fuzz_stats.accepted, pi_fuzz_stats.executed);
		printf("%d passed, %d failed\n", bad == 0, bad != 0);
		return bad != 0;
	}
	if (argc > 2)
		iterations = strtol(argv[2], NULL, 10);
	seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	seed = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	fuzz_rng_seed(seed == 0 ? 1 : seed);

	bad = load_corpus(argv[1]);
	last_report = t0.tv_sec;
	if (nseeds > 0)
		for (long i = 0; i < iterations; i++)
		{
			long		accepted = pi_fuzz_stats.accepted;

			if ((i & 4095) == 4095)
			{
				/* progress on stderr, every 10 seconds or so of a long run */
				clock_gettime(CLOCK_MONOTONIC, &t1);
				if (t1.tv_sec - last_report >= 10)
				{
					last_report = t1.tv_sec;
					fprintf(stderr, "fuzz_model: %ld of %ld mutations, %ld accepted models, %ld s\n",
							i + 1, iterations, pi_fuzz_stats.accepted, (long) (t1.tv_sec - t0.tv_sec));
				}
			}

			make_mutant(&mutant);
			guard_run(mutant.p, mutant.len, i);
			if (pi_fuzz_stats.accepted > accepted && mutant.len <= POOL_MAX_INPUT)
				pool_add(mutant.p, mutant.len);
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("fuzz_model: %ld inputs, %ld accepted models (%ld with options), %ld run, "
		   "%ld over the work limits, 0 crashes (%d seeds, %.1f s)\n",
		   pi_fuzz_stats.inputs, pi_fuzz_stats.accepted, pi_fuzz_stats.options,
		   pi_fuzz_stats.executed, pi_fuzz_stats.skipped, nseeds,
		   (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("%d passed, %d failed\n", bad == 0, bad != 0);
	free(mutant.p);
	for (int i = 0; i < npool; i++)
		free(pool[i].data);
	free(pool);
	return bad != 0;
}
