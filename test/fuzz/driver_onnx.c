/*
 * driver_onnx.c
 *	  A standalone driver for the ONNX fuzz target, for builds without
 *	  libFuzzer (gcc -fsanitize=address,undefined):
 *
 *	    fuzz_onnx CORPUS_DIR [ITERATIONS [SEED]]
 *	    fuzz_onnx FILE...
 *
 *	  The first form runs every corpus file as is (files named valid-* must
 *	  load), then ITERATIONS deterministic mutations of them.  Most mutations
 *	  are structure-aware: the model is parsed into a tree of protobuf fields
 *	  (a length-delimited payload that parses as a message becomes a
 *	  subtree), one to three fields are changed (interesting varints and
 *	  floats, deleted, duplicated, swapped with a sibling, strings replaced
 *	  by op and attribute names), and the tree is written back with correct
 *	  lengths; the rest are byte-level (flips, cuts, splices).  Mutants that
 *	  load join the pool.  The second form runs the given files once.
 *
 *	  A crash or sanitizer report ends the process; the input is first saved
 *	  as fuzz_onnx-crash-<hash> (prefix: $FUZZ_ARTIFACT_PREFIX).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver_common.h"
#include "fuzz_common.h"
#include "fuzz_onnx.h"

#define FUZZ_MAX_INPUT (256 * 1024)
#define POOL_EXTRA 256
#define POOL_MAX_INPUT (32 * 1024)
#define MAX_DEPTH 8

/* One protobuf field; a message payload has children instead of bytes. */
typedef struct Field
{
	uint32_t	number;
	int			wire_type;
	uint64_t	value;			/* varint, fixed32, fixed64 */
	uint8_t    *bytes;			/* length-delimited, not a message */
	size_t		len;
	struct Field *kids;
	int			nkids;
	bool		is_msg;
} Field;

static Buf *pool;
static int	npool;
static int	nseeds;

static const char *const strings[] = {
	"", "x", "y", "Relu", "Conv", "Gemm", "Reshape", "Shape", "Gather", "Concat",
	"Unsqueeze", "Slice", "Split", "Softmax", "TopK", "Constant", "Cast", "Expand",
	"ConstantOfShape", "Range", "BatchNormalization", "MaxPool", "Flatten", "LSTM",
	"ai.onnx.ml", "ai.onnx", "axis", "axes", "perm", "pads", "strides", "kernel_shape",
	"value", "to", "k", "split", "location", "offset", "length", "weights.bin",
	"SAME_UPPER", "VALID", "tanh", "18446744073709551615", "-1", "99999999999"
};

static const uint64_t varints[] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 18, 20, 21, 22, 255,
	(1 << 24) + 1, 0x7fffffff, 0x80000000, 0xffffffff, (uint64_t) 1 << 40,
	(uint64_t) 1 << 62, 0x7fffffffffffffffull, 0x8000000000000000ull,
	0xffffffffffffffffull, 0xfffffffffffffffeull
};

static const uint32_t floats[] = {
	0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000,
	0x7fc00000, 0x7f7fffff, 0x00000001, 0x3a83126f
};

/* Appends a varint. */
static void
buf_varint(Buf *b, uint64_t v)
{
	do
	{
		uint8_t		byte = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));

		buf_append(b, &byte, 1);
		v >>= 7;
	} while (v != 0);
}

/* Reads a varint; false when malformed. */
static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < 10 && *p < end; i++)
	{
		uint8_t		b = *(*p)++;

		*v |= (uint64_t) (b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/* Frees a field list. */
static void
free_fields(Field *f, int n)
{
	for (int i = 0; i < n; i++)
	{
		free(f[i].bytes);
		free_fields(f[i].kids, f[i].nkids);
	}
	free(f);
}

/* Parses a message into fields; false (nothing allocated) when malformed. */
static bool
parse(const uint8_t *p, size_t len, int depth, Field **out, int *nout)
{
	const uint8_t *end = p + len;
	Field	   *fields = NULL;
	int			n = 0;

	while (p < end)
	{
		Field		f;
		uint64_t	tag;

		memset(&f, 0, sizeof(f));
		if (!read_varint(&p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
			goto bad;
		f.number = (uint32_t) (tag >> 3);
		f.wire_type = (int) (tag & 7);
		if (f.wire_type == 0)
		{
			if (!read_varint(&p, end, &f.value))
				goto bad;
		}
		else if (f.wire_type == 1 || f.wire_type == 5)
		{
			size_t		size = f.wire_type == 1 ? 8 : 4;

			if ((size_t) (end - p) < size)
				goto bad;
			for (size_t i = 0; i < size; i++)
				f.value |= (uint64_t) p[i] << (8 * i);
			p += size;
		}
		else if (f.wire_type == 2)
		{
			uint64_t	l;

			if (!read_varint(&p, end, &l) || l > (uint64_t) (end - p))
				goto bad;
			if (depth < MAX_DEPTH && l > 0 && parse(p, (size_t) l, depth + 1, &f.kids, &f.nkids))
				f.is_msg = true;
			else
			{
				f.bytes = malloc(l + 1);
				memcpy(f.bytes, p, (size_t) l);
				f.len = (size_t) l;
			}
			p += l;
		}
		else
			goto bad;
		fields = realloc(fields, sizeof(Field) * (n + 1));
		fields[n++] = f;
	}
	*out = fields;
	*nout = n;
	return true;
bad:
	free_fields(fields, n);
	return false;
}

/* Writes fields back, with lengths recomputed. */
static void
serialize(const Field *f, int n, Buf *out)
{
	for (int i = 0; i < n; i++)
	{
		buf_varint(out, ((uint64_t) f[i].number << 3) | (uint64_t) f[i].wire_type);
		if (f[i].wire_type == 0)
			buf_varint(out, f[i].value);
		else if (f[i].wire_type == 1 || f[i].wire_type == 5)
		{
			uint8_t		b[8];
			size_t		size = f[i].wire_type == 1 ? 8 : 4;

			for (size_t k = 0; k < size; k++)
				b[k] = (uint8_t) (f[i].value >> (8 * k));
			buf_append(out, b, size);
		}
		else if (f[i].is_msg)
		{
			Buf			sub = {0};

			serialize(f[i].kids, f[i].nkids, &sub);
			buf_varint(out, sub.len);
			buf_append(out, sub.p, sub.len);
			free(sub.p);
		}
		else
		{
			buf_varint(out, f[i].len);
			buf_append(out, f[i].bytes, f[i].len);
		}
	}
}

/* Deep copy of one field. */
static Field
copy_field(const Field *f)
{
	Field		c = *f;

	if (f->bytes)
	{
		c.bytes = malloc(f->len + 1);
		memcpy(c.bytes, f->bytes, f->len);
	}
	if (f->is_msg)
	{
		c.kids = malloc(sizeof(Field) * (f->nkids + 1));
		for (int i = 0; i < f->nkids; i++)
			c.kids[i] = copy_field(&f->kids[i]);
	}
	return c;
}

/* The list and index of the k-th field in pre-order; false when past the end. */
static bool
pick(Field **list, int *nlist, int *k, Field ***where, int **wherecount, int *index)
{
	for (int i = 0; i < *nlist; i++)
	{
		if ((*k)-- == 0)
		{
			*where = list;
			*wherecount = nlist;
			*index = i;
			return true;
		}
		if ((*list)[i].is_msg && pick(&(*list)[i].kids, &(*list)[i].nkids, k, where, wherecount, index))
			return true;
	}
	return false;
}

/* Counts fields in a tree. */
static int
count_fields(const Field *f, int n)
{
	int			c = n;

	for (int i = 0; i < n; i++)
		c += count_fields(f[i].kids, f[i].nkids);
	return c;
}

/* One structure-aware change of the tree. */
static void
mutate_tree(Field **root, int *nroot)
{
	int			total = count_fields(*root, *nroot);
	int			k = (int) fuzz_below((size_t) total);
	Field	  **list;
	int		   *count;
	int			i;
	Field	   *f;

	if (total == 0 || !pick(root, nroot, &k, &list, &count, &i))
		return;
	f = &(*list)[i];
	switch (fuzz_below(6))
	{
		case 0:					/* new value */
			if (f->wire_type == 0)
				f->value = fuzz_below(4) ? varints[fuzz_below(sizeof(varints) / sizeof(varints[0]))] : f->value + fuzz_below(3) - 1;
			else if (f->wire_type == 5)
				f->value = floats[fuzz_below(sizeof(floats) / sizeof(floats[0]))];
			else if (!f->is_msg)
			{
				const char *s = strings[fuzz_below(sizeof(strings) / sizeof(strings[0]))];

				free(f->bytes);
				f->len = strlen(s);
				f->bytes = malloc(f->len + 1);
				memcpy(f->bytes, s, f->len);
			}
			break;
		case 1:					/* delete */
			free(f->bytes);
			free_fields(f->kids, f->nkids);
			memmove(f, f + 1, sizeof(Field) * (*count - i - 1));
			(*count)--;
			break;
		case 2:					/* duplicate */
			{
				Field		c = copy_field(f);

				*list = realloc(*list, sizeof(Field) * (*count + 1));
				memmove(&(*list)[i + 1], &(*list)[i], sizeof(Field) * (*count - i));
				(*list)[i] = c;
				(*count)++;
			}
			break;
		case 3:					/* swap with a sibling */
			{
				int			j = (int) fuzz_below((size_t) *count);
				Field		t = (*list)[i];

				(*list)[i] = (*list)[j];
				(*list)[j] = t;
			}
			break;
		case 4:					/* another field number */
			f->number = fuzz_below(2) ? f->number + 1 : (uint32_t) (1 + fuzz_below(21));
			break;
		default:				/* truncate a payload */
			if (!f->is_msg && f->wire_type == 2 && f->len > 0)
				f->len = fuzz_below(f->len);
			else if (f->is_msg && f->nkids > 0)
			{
				free(f->kids[f->nkids - 1].bytes);
				free_fields(f->kids[f->nkids - 1].kids, f->kids[f->nkids - 1].nkids);
				f->nkids--;
			}
			break;
	}
}

/* One byte-level change. */
static void
mutate_bytes(Buf *b)
{
	size_t		pos = fuzz_below(b->len + 1);

	switch (fuzz_below(4))
	{
		case 0:
			if (b->len > 0)
				b->p[fuzz_below(b->len)] ^= (uint8_t) (1u << fuzz_below(8));
			break;
		case 1:
			if (b->len > 0)
				b->p[fuzz_below(b->len)] = (uint8_t[]) {0, 0xff, 0x7f, 0x80, 1}[fuzz_below(5)];
			break;
		case 2:
			if (pos < b->len)
			{
				size_t		cut = 1 + fuzz_below(b->len - pos < 16 ? b->len - pos : 16);

				memmove(b->p + pos, b->p + pos + cut, b->len - pos - cut);
				b->len -= cut;
			}
			break;
		default:				/* splice a piece of another pool entry */
			{
				const Buf  *o = &pool[fuzz_below((size_t) npool)];
				size_t		from = fuzz_below(o->len + 1),
							n = fuzz_below(o->len - from + 1);
				Buf			out = {0};

				if (n > 64)
					n = 64;
				buf_append(&out, b->p, pos);
				buf_append(&out, o->p + from, n);
				buf_append(&out, b->p + pos, b->len - pos);
				free(b->p);
				*b = out;
			}
			break;
	}
}

/* A mutant of input src (the 4-byte external length prefix kept aside). */
static Buf
mutate(const Buf *src)
{
	Buf			out = {0};
	size_t		ext = 0;
	Field	   *root;
	int			nroot;

	if (src->len >= 4)
	{
		ext = (size_t) src->p[0] | ((size_t) src->p[1] << 8) | ((size_t) src->p[2] << 16) |
			((size_t) src->p[3] << 24);
		if (ext > src->len - 4)
			ext = src->len - 4;
	}
	buf_append(&out, src->p, src->len >= 4 ? 4 + ext : src->len);
	if (src->len >= 4 && fuzz_below(10) < 8 && parse(src->p + 4 + ext, src->len - 4 - ext, 0, &root, &nroot))
	{
		int			rounds = 1 + (int) fuzz_below(3);

		for (int r = 0; r < rounds; r++)
			mutate_tree(&root, &nroot);
		serialize(root, nroot, &out);
		free_fields(root, nroot);
	}
	else
	{
		buf_append(&out, src->p + out.len, src->len - out.len);
		mutate_bytes(&out);
	}
	if (out.len > FUZZ_MAX_INPUT)
		out.len = FUZZ_MAX_INPUT;
	return out;
}

int
main(int argc, char **argv)
{
	char	  **names;
	int			n = 0;
	long		iterations = 0;
	int			failures = 0;

	guard_install("fuzz_onnx");
	if (argc < 2)
	{
		fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS [SEED]] | %s FILE...\n", argv[0], argv[0]);
		return 2;
	}
	if ((names = list_dir_sorted(argv[1], &n)) == NULL)
	{
		for (int i = 1; i < argc; i++)
		{
			Buf			b;

			if (!buf_read_file(argv[i], &b))
				return 2;
			guard_run(b.p, b.len, -1);
			free(b.p);
		}
		printf("ran %d inputs\n", argc - 1);
		return 0;
	}
	iterations = argc > 2 ? atol(argv[2]) : 0;
	fuzz_rng_seed(argc > 3 ? strtoull(argv[3], NULL, 10) : 0x9e3779b97f4a7c15ull);
	pool = calloc((size_t) n + POOL_EXTRA, sizeof(Buf));
	for (int i = 0; i < n; i++)
	{
		char		path[1024];
		long		accepted = pi_onnx_fuzz_stats.accepted;

		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
		if (!buf_read_file(path, &pool[npool]))
			continue;
		guard_run(pool[npool].p, pool[npool].len, -1);
		if (strncmp(names[i], "valid-", 6) == 0 && pi_onnx_fuzz_stats.accepted == accepted)
		{
			fprintf(stderr, "FAIL: corpus file %s should load\n", names[i]);
			failures++;
		}
		npool++;
		free(names[i]);
	}
	free(names);
	nseeds = npool;
	if (npool == 0)
	{
		fprintf(stderr, "fuzz_onnx: empty corpus\n");
		return 2;
	}
	for (long i = 0; i < iterations; i++)
	{
		Buf			mutant = mutate(&pool[fuzz_below((size_t) npool)]);
		long		accepted = pi_onnx_fuzz_stats.accepted;

		guard_run(mutant.p, mutant.len, i);
		if (pi_onnx_fuzz_stats.accepted > accepted && mutant.len <= POOL_MAX_INPUT &&
			npool < nseeds + POOL_EXTRA)
			pool[npool++] = mutant;
		else
			free(mutant.p);
	}
	printf("fuzz_onnx: %ld inputs, %ld loaded, %ld executed; %d seeds, pool %d\n",
		   pi_onnx_fuzz_stats.inputs, pi_onnx_fuzz_stats.accepted, pi_onnx_fuzz_stats.executed,
		   nseeds, npool);
	for (int i = 0; i < npool; i++)
		free(pool[i].p);
	free(pool);
	return failures > 0;
}
