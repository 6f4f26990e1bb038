/*
 * onnx_compact.c
 *	  The ONNX file that a stored version of an int8 model keeps: the file
 *	  as given, except that each FLOAT initializer the int8 path reads
 *	  (pi_model_weight_forms: Gemm, MatMul and Conv weights) becomes an
 *	  INT8 initializer of its codes per output column or channel with a
 *	  FLOAT initializer NAME + PI_INT8_AMAX_SUFFIX of its column maxima, and
 *	  metadata_props says so (PI_ONNX_STORED_WEIGHTS_KEY), so that the
 *	  importer takes them back as float32 weights that the int8 path
 *	  quantizes to the very same codes and scales.  Every other field keeps
 *	  its bytes.  The model imported back from the rewritten file is
 *	  compared with the given one (pi_int8_weights_agree); a weight that
 *	  does not come back so stays FLOAT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_proto.h"
#include "pi_format.h"

/* Bytes being written; failed once memory ran out. */
typedef struct Bytes
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	bool		failed;
} Bytes;

/* Appends n bytes. */
static void
put(Bytes *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap)
	{
		size_t		cap = (b->len + n) * 2 + 64;
		uint8_t    *data = realloc(b->data, cap);

		if (data == NULL)
		{
			b->failed = true;
			return;
		}
		b->data = data;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Appends a protobuf varint. */
static void
put_varint(Bytes *b, uint64_t v)
{
	uint8_t		buf[10];
	int			n = 0;

	do
	{
		buf[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	put(b, buf, n);
}

/* Appends a varint field. */
static void
put_varint_field(Bytes *b, uint32_t number, uint64_t v)
{
	put_varint(b, ((uint64_t) number << 3) | WIRE_VARINT);
	put_varint(b, v);
}

/* Appends a length-delimited field. */
static void
put_len_field(Bytes *b, uint32_t number, const void *p, size_t n)
{
	put_varint(b, ((uint64_t) number << 3) | WIRE_LEN);
	put_varint(b, n);
	put(b, p, n);
}

/* Appends a GraphProto initializer (field 5): a TensorProto with dims, data_type, name and raw_data. */
static void
put_initializer(Bytes *b, const char *name, int data_type, int rank, const int64_t *dims,
				const void *raw, size_t raw_len)
{
	Bytes		t = {0};

	for (int d = 0; d < rank; d++)
		put_varint_field(&t, 1, (uint64_t) dims[d]);
	put_varint_field(&t, 2, (uint64_t) data_type);
	put_len_field(&t, 8, name, strlen(name));
	put_len_field(&t, 9, raw, raw_len);
	if (t.failed)
		b->failed = true;
	else
		put_len_field(b, 5, t.data, t.len);
	free(t.data);
}

/* Whether the graph has an initializer of that name. */
static bool
has_initializer(const OnnxGraph *g, const char *name)
{
	for (int i = 0; i < g->ninitializers; i++)
		if (strcmp(g->initializers[i].name, name) == 0)
			return true;
	return false;
}

/*
 * The form in which initializer t is stored, by the model's use of the
 * weight of its name: PI_WEIGHT_KEEP unless it is an inline FLOAT tensor of
 * the shape the model reads, whose maxima's name is free.
 */
static PiWeightForm
initializer_form(const OnnxGraph *g, const OnnxTensor *t, const PiModel *model,
				 const PiWeightForm *forms)
{
	int			v = pi_model_find_value(model, t->name);
	char		amax_name[PI_MAX_NAME + sizeof(PI_INT8_AMAX_SUFFIX)];

	if (v < 0 || forms[v] == PI_WEIGHT_KEEP || t->data_type != ONNX_FLOAT || t->external ||
		t->numel == 0 || model->values[v].rank != t->rank || model->values[v].numel != t->numel ||
		memcmp(model->values[v].dims, t->dims, sizeof(int64_t) * t->rank) != 0)
		return PI_WEIGHT_KEEP;
	snprintf(amax_name, sizeof(amax_name), "%s" PI_INT8_AMAX_SUFFIX, t->name);
	return has_initializer(g, amax_name) ? PI_WEIGHT_KEEP : forms[v];
}

/*
 * Appends initializer t reduced (codes, then maxima) where form allows and
 * it quantizes back to the same codes; else its bytes as given (field).
 */
static PiStatus
put_tensor(Bytes *b, const OnnxTensor *t, PiWeightForm form, const uint8_t *field,
		   size_t field_len, int *reduced, PiError *err)
{
	float	   *w = NULL;
	int8_t	   *q = NULL;
	float	   *amax = NULL;
	int64_t		mdim = 0;
	int64_t		amax_dims[PI_ONNX_MAX_DIMS];
	char		amax_name[PI_MAX_NAME + sizeof(PI_INT8_AMAX_SUFFIX)];
	PiStatus	st;

	if (form == PI_WEIGHT_KEEP || t->rank < 2 || t->rank > PI_MAX_RANK)
	{
		put(b, field, field_len);
		return PI_OK;
	}
	if ((st = onnx_tensor_floats(t, NULL, 0, &w, err)) != PI_OK)
		return st;
	q = malloc(t->numel + 1);
	amax = malloc(sizeof(float) * (t->dims[0] + t->dims[t->rank - 1] + 1));
	if (q == NULL || amax == NULL)
		st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
	else if (pi_int8_quantize_weight(w, form, t->rank, t->dims, t->numel, q, amax, &mdim, amax_dims))
	{
		snprintf(amax_name, sizeof(amax_name), "%s" PI_INT8_AMAX_SUFFIX, t->name);
		put_initializer(b, t->name, ONNX_INT8, t->rank, t->dims, q, (size_t) t->numel);
		put_initializer(b, amax_name, ONNX_FLOAT, t->rank, amax_dims, amax, sizeof(float) * mdim);
		(*reduced)++;
	}
	else
		put(b, field, field_len);
	free(w);
	free(q);
	free(amax);
	return st;
}

/* The GraphProto of msg with its initializers stored as forms say. */
static PiStatus
rewrite_graph(const uint8_t *start, const OnnxField *msg, const OnnxGraph *g,
			  const PiModel *model, const PiWeightForm *forms, Bytes *out, int *reduced,
			  PiError *err)
{
	OnnxWire	w;
	OnnxField	f;
	int			k = 0;

	onnx_wire_init(&w, start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		const uint8_t *from = w.pos;

		TRY(onnx_wire_next(&w, &f, "GraphProto", err));
		/* the decoded initializer of these bytes (a second graph field's are not) */
		if (f.number == 5 && k < g->ninitializers && g->initializers[k].offset == (size_t) (f.data - start))
		{
			const OnnxTensor *t = &g->initializers[k++];

			TRY(put_tensor(out, t, initializer_form(g, t, model, forms), from,
						   (size_t) (w.pos - from), reduced, err));
		}
		else
			put(out, from, (size_t) (w.pos - from));
	}
	return PI_OK;
}

/* The file with the initializers that forms reduces stored at int8 (*out malloc'd, NULL when none is). */
static PiStatus
rewrite(const uint8_t *onnx, size_t len, const OnnxModelProto *proto, const PiModel *model,
		const PiWeightForm *forms, uint8_t **out, size_t *out_len, PiError *err)
{
	Bytes		b = {0};
	Bytes		graph = {0};
	OnnxWire	w;
	OnnxField	f;
	int			reduced = 0;
	PiStatus	st = PI_OK;

	*out = NULL;
	onnx_wire_init(&w, onnx, onnx, len);
	while (st == PI_OK && onnx_wire_more(&w))
	{
		const uint8_t *from = w.pos;

		if ((st = onnx_wire_next(&w, &f, "ModelProto", err)) != PI_OK)
			break;
		if (f.number == 7 && f.wire_type == WIRE_LEN && graph.len == 0 && !graph.failed)
		{
			if ((st = rewrite_graph(onnx, &f, &proto->graph, model, forms, &graph, &reduced, err)) == PI_OK)
				put_len_field(&b, 7, graph.data, graph.len);
		}
		else
			put(&b, from, (size_t) (w.pos - from));
	}
	if (st == PI_OK && reduced > 0)
	{
		Bytes		entry = {0};

		put_len_field(&entry, 1, PI_ONNX_STORED_WEIGHTS_KEY, strlen(PI_ONNX_STORED_WEIGHTS_KEY));
		put_len_field(&entry, 2, "int8", 4);
		put_len_field(&b, 14, entry.data, entry.len);
		b.failed |= entry.failed;
		free(entry.data);
	}
	if (st == PI_OK && (b.failed || graph.failed))
		st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
	free(graph.data);
	if (st != PI_OK || reduced == 0)
		free(b.data);
	else
	{
		*out = b.data;
		*out_len = b.len;
	}
	return st;
}

/*
 * The ONNX file that a stored version of model keeps at int8 (see the top
 * of this file); *out malloc'd, or NULL when the file is kept as given.
 */
PiStatus
pi_onnx_reduce(const uint8_t *onnx, size_t len, const uint8_t *external, size_t external_len,
			   int64_t sequence_length, const char *options, size_t options_len,
			   const PiModel *model, const PiWeightForm *forms, uint8_t **out, size_t *out_len,
			   PiError *err)
{
	OnnxModelProto proto;
	PiWeightForm *tried;
	PiInt8Agreement agreement = PI_INT8_DEMOTED;
	PiStatus	st;

	*out = NULL;
	if (model->precision != PI_PRECISION_INT8)
		return PI_OK;
	if ((st = onnx_model_decode(onnx, len, &proto, err)) != PI_OK)
		return st;
	if (proto.stored_int8)
	{
		/* a file stored so already is kept as it is */
		onnx_model_free(&proto);
		return PI_OK;
	}
	if ((tried = malloc(sizeof(PiWeightForm) * (model->nvalues + 1))) == NULL)
	{
		onnx_model_free(&proto);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	memcpy(tried, forms, sizeof(PiWeightForm) * model->nvalues);
	/* each round keeps at least one more weight as FLOAT, or ends */
	while (st == PI_OK && agreement == PI_INT8_DEMOTED)
	{
		PiModel    *loaded = NULL;

		free(*out);
		if ((st = rewrite(onnx, len, &proto, model, tried, out, out_len, err)) != PI_OK || *out == NULL)
			break;
		if ((st = pi_onnx_load_at_length(*out, *out_len, external, external_len, NULL, sequence_length,
										 &loaded, NULL, err)) == PI_OK &&
			(st = pi_model_apply_options(loaded, options, options_len, err)) == PI_OK)
			agreement = pi_int8_weights_agree(model, loaded, tried);
		pi_model_free(loaded);
		if (st == PI_OK && agreement == PI_INT8_NOMEM)
			st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
		else if (st == PI_OK && agreement == PI_INT8_DIFFERENT)
		{
			/* not what the int8 path expects: the file as given */
			free(*out);
			*out = NULL;
		}
	}
	free(tried);
	onnx_model_free(&proto);
	if (st != PI_OK)
	{
		free(*out);
		*out = NULL;
	}
	return st;
}
