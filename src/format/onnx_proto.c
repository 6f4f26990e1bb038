/*
 * onnx_proto.c
 *	  Decoder of the ModelProto subset the importer needs (field numbers of
 *	  onnx/onnx.proto): ir_version, opset_import, producer, and the graph's
 *	  nodes with their attributes, initializers (TensorProto), inputs,
 *	  outputs and value_info (tensor types and shapes).  Other fields are
 *	  skipped.  Repeated fields are counted in a first pass over a message and
 *	  filled in a second, so every array is sized by the bytes present.
 */
#include <stdio.h>
#include <string.h>

#include "onnx_proto.h"


/* Fails as out of memory. */
static PiStatus
nomem(PiError *err)
{
	return pi_fail(err, PI_ERR_NOMEM, "out of memory while decoding the ONNX model");
}

/* Requires a field's wire type. */
static PiStatus
need_type(const OnnxField *f, int wire_type, const char *what, PiError *err)
{
	if (f->wire_type != wire_type)
		return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu has wire type %d, expected %d",
					   what, f->number, f->offset, f->wire_type, wire_type);
	return PI_OK;
}

/* Copies a length-delimited field as a NUL-terminated string. */
static PiStatus
get_string(OnnxArena *arena, const OnnxField *f, const char *what, const char **out,
		   PiError *err)
{
	char	   *s;

	TRY(need_type(f, WIRE_LEN, what, err));
	if (memchr(f->data, 0, f->len) != NULL)
		return pi_fail(err, PI_ERR_CORRUPT, "%s: string field %u at byte %zu contains a NUL byte",
					   what, f->number, f->offset);
	if ((s = onnx_arena_alloc(arena, (int64_t) f->len + 1, 1)) == NULL)
		return nomem(err);
	memcpy(s, f->data, f->len);
	*out = s;
	return PI_OK;
}

/* Reads a varint field as int64. */
static PiStatus
get_int(const OnnxField *f, const char *what, int64_t *out, PiError *err)
{
	TRY(need_type(f, WIRE_VARINT, what, err));
	*out = (int64_t) f->varint;
	return PI_OK;
}

/* Reads a varint field as an int32 enum or count (protobuf sign-extends). */
static PiStatus
get_int32(const OnnxField *f, const char *what, int *out, PiError *err)
{
	int64_t		v;

	TRY(get_int(f, what, &v, err));
	if (v < INT32_MIN || v > INT32_MAX)
		return pi_fail(err, PI_ERR_CORRUPT, "%s: field %u at byte %zu is %lld, out of the int32 range",
					   what, f->number, f->offset, (long long) v);
	*out = (int) v;
	return PI_OK;
}

/* First pass of a repeated numeric field: counts an entry's values. */
static PiStatus
numbers_count(const OnnxField *f, int wire_type, const char *what, OnnxNumbers *n,
			  PiError *err)
{
	int64_t		c;

	TRY(onnx_packed_count(f, wire_type, what, &c, err));
	n->count += c;				/* bounded by the message's size */
	return PI_OK;
}

/* Allocates the values counted. */
static PiStatus
numbers_alloc(OnnxArena *arena, OnnxNumbers *n, PiError *err)
{
	if (n->count > 0 && (n->values = onnx_arena_alloc(arena, n->count, sizeof(uint64_t))) == NULL)
		return nomem(err);
	return PI_OK;
}

/* Second pass: stores an entry's values. */
static void
numbers_fill(const OnnxField *f, int wire_type, OnnxNumbers *n)
{
	int64_t		c;

	if (onnx_packed_count(f, wire_type, "", &c, NULL) != PI_OK || c == 0 ||
		n->filled + c > n->count)
		return;					/* empty, or (never) not what the first pass saw */
	onnx_packed_read(f, wire_type, n->values + n->filled);
	n->filled += c;
}

/* Reads the external_data entries (StringStringEntryProto: key 1, value 2). */
static PiStatus
decode_external_entry(const OnnxWire *parent, OnnxArena *arena, const OnnxField *entry,
					  OnnxTensor *t, PiError *err)
{
	OnnxWire	w;
	OnnxField	f;
	const char *key = "";
	const char *value = "";

	TRY(need_type(entry, WIRE_LEN, "TensorProto.external_data", err));
	onnx_wire_init(&w, parent->start, entry->data, entry->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, "TensorProto.external_data", err));
		if (f.number == 1)
			TRY(get_string(arena, &f, "TensorProto.external_data", &key, err));
		else if (f.number == 2)
			TRY(get_string(arena, &f, "TensorProto.external_data", &value, err));
	}
	if (strcmp(key, "location") == 0)
		t->ext_location = value;
	else if (strcmp(key, "offset") == 0 || strcmp(key, "length") == 0)
	{
		int64_t		v = 0;
		const char *p = value;

		if (*p == '\0')
			return pi_fail(err, PI_ERR_INVALID, "tensor external_data \"%s\" is empty", key);
		for (; *p; p++)
		{
			if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
				return pi_fail(err, PI_ERR_INVALID, "tensor external_data \"%s\" is \"%.40s\", expected a non-negative integer",
							   key, value);
			v = v * 10 + (*p - '0');
		}
		if (key[0] == 'o')
			t->ext_offset = v;
		else
			t->ext_length = v;
	}
	return PI_OK;
}

/* Decodes a TensorProto; start is the file's first byte (for offsets). */
PiStatus
onnx_tensor_decode(const uint8_t *start, const uint8_t *data, size_t len,
				   OnnxArena *arena, OnnxTensor *t, PiError *err)
{
	static const char what[] = "TensorProto";
	OnnxWire	w;
	OnnxField	f;
	OnnxNumbers dims = {0};
	int			location = 0;

	memset(t, 0, sizeof(*t));
	t->name = "";
	t->ext_length = -1;
	t->offset = (size_t) (data - start);
	/* pass 1: scalars, strings, counts */
	onnx_wire_init(&w, start, data, len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		switch (f.number)
		{
			case 1:
				TRY(numbers_count(&f, WIRE_VARINT, what, &dims, err));
				break;
			case 2:
				TRY(get_int32(&f, what, &t->data_type, err));
				break;
			case 3:
				return pi_fail(err, PI_ERR_UNSUPPORTED, "TensorProto at byte %zu is segmented, which is not supported",
							   t->offset);
			case 4:
				TRY(numbers_count(&f, WIRE_FIXED32, what, &t->float_data, err));
				break;
			case 5:
				TRY(numbers_count(&f, WIRE_VARINT, what, &t->int32_data, err));
				break;
			case 6:
				TRY(need_type(&f, WIRE_LEN, what, err));
				t->nstrings++;
				break;
			case 7:
				TRY(numbers_count(&f, WIRE_VARINT, what, &t->int64_data, err));
				break;
			case 8:
				TRY(get_string(arena, &f, what, &t->name, err));
				break;
			case 9:
				TRY(need_type(&f, WIRE_LEN, what, err));
				t->raw = f.data;
				t->raw_len = f.len;
				t->has_raw = true;
				break;
			case 10:
				TRY(numbers_count(&f, WIRE_FIXED64, what, &t->double_data, err));
				break;
			case 11:
				TRY(numbers_count(&f, WIRE_VARINT, what, &t->uint64_data, err));
				break;
			case 13:
				TRY(decode_external_entry(&w, arena, &f, t, err));
				break;
			case 14:
				TRY(get_int32(&f, what, &location, err));
				break;
		}
	}
	if (dims.count > PI_ONNX_MAX_DIMS)
		return pi_fail(err, PI_ERR_LIMIT, "tensor \"%s\" has %lld dimensions, the limit is %d",
					   t->name, (long long) dims.count, PI_ONNX_MAX_DIMS);
	if (location != 0 && location != 1)
		return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has data_location %d, expected 0 or 1",
					   t->name, location);
	t->external = (location == 1);
	if (t->external && t->ext_location == NULL)
		return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has external data without a \"location\"",
					   t->name);
	TRY(numbers_alloc(arena, &t->float_data, err));
	TRY(numbers_alloc(arena, &t->int32_data, err));
	TRY(numbers_alloc(arena, &t->int64_data, err));
	TRY(numbers_alloc(arena, &t->double_data, err));
	TRY(numbers_alloc(arena, &t->uint64_data, err));
	if (t->nstrings > 0 &&
		(t->strings = onnx_arena_alloc(arena, t->nstrings, sizeof(char *))) == NULL)
		return nomem(err);
	{
		uint64_t	dimv[PI_ONNX_MAX_DIMS];
		int64_t		nstrings = 0;

		dims.values = dimv;
		/* pass 2: the repeated numbers */
		onnx_wire_init(&w, start, data, len);
		while (onnx_wire_more(&w))
		{
			TRY(onnx_wire_next(&w, &f, what, err));
			if (f.number == 1)
				numbers_fill(&f, WIRE_VARINT, &dims);
			else if (f.number == 4)
				numbers_fill(&f, WIRE_FIXED32, &t->float_data);
			else if (f.number == 5)
				numbers_fill(&f, WIRE_VARINT, &t->int32_data);
			else if (f.number == 7)
				numbers_fill(&f, WIRE_VARINT, &t->int64_data);
			else if (f.number == 10)
				numbers_fill(&f, WIRE_FIXED64, &t->double_data);
			else if (f.number == 11)
				numbers_fill(&f, WIRE_VARINT, &t->uint64_data);
			else if (f.number == 6)
				TRY(get_string(arena, &f, what, &t->strings[nstrings++], err));
		}
		t->rank = (int) dims.count;
		t->numel = 1;
		for (int i = 0; i < t->rank; i++)
		{
			t->dims[i] = (int64_t) dimv[i];
			if (t->dims[i] < 0)
				return pi_fail(err, PI_ERR_INVALID, "tensor \"%s\" has dimension %d of size %lld",
							   t->name, i, (long long) t->dims[i]);
			if (!pi_mul_size(t->numel, t->dims[i], &t->numel) || t->numel > ((int64_t) 1 << 40))
				return pi_fail(err, PI_ERR_LIMIT, "tensor \"%s\" has too many elements (dimensions overflow)",
							   t->name);
		}
	}
	return PI_OK;
}

/* Decodes a TensorShapeProto into vi (dim: dim_value 1, dim_param 2). */
static PiStatus
decode_shape(const OnnxWire *parent, const OnnxField *shape, OnnxValueInfo *vi, PiError *err)
{
	static const char what[] = "TensorShapeProto";
	OnnxWire	w;
	OnnxField	f;

	TRY(need_type(shape, WIRE_LEN, what, err));
	vi->has_shape = true;
	onnx_wire_init(&w, parent->start, shape->data, shape->len);
	while (onnx_wire_more(&w))
	{
		OnnxWire	dw;
		OnnxField	df;
		int64_t		dim = -1;

		TRY(onnx_wire_next(&w, &f, what, err));
		if (f.number != 1)
			continue;
		TRY(need_type(&f, WIRE_LEN, what, err));
		if (vi->rank == PI_ONNX_MAX_DIMS)
			return pi_fail(err, PI_ERR_LIMIT, "value \"%s\" has more than %d dimensions",
						   vi->name, PI_ONNX_MAX_DIMS);
		onnx_wire_init(&dw, parent->start, f.data, f.len);
		while (onnx_wire_more(&dw))
		{
			TRY(onnx_wire_next(&dw, &df, "TensorShapeProto.Dimension", err));
			if (df.number == 1)
			{
				TRY(get_int(&df, "TensorShapeProto.Dimension", &dim, err));
				if (dim < 0)
					return pi_fail(err, PI_ERR_INVALID, "value \"%s\" has dimension %d of size %lld",
								   vi->name, vi->rank, (long long) dim);
			}
			else if (df.number == 2)
				dim = -1;
		}
		vi->dims[vi->rank++] = dim;
	}
	return PI_OK;
}

/* Decodes a ValueInfoProto: name 1, type 2 (TypeProto.tensor_type 1). */
static PiStatus
decode_value_info(const OnnxWire *parent, OnnxArena *arena, const OnnxField *msg,
				  OnnxValueInfo *vi, PiError *err)
{
	static const char what[] = "ValueInfoProto";
	OnnxWire	w;
	OnnxField	f;
	const uint8_t *type = NULL;
	size_t		type_len = 0;

	TRY(need_type(msg, WIRE_LEN, what, err));
	vi->name = "";
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		if (f.number == 1)
			TRY(get_string(arena, &f, what, &vi->name, err));
		else if (f.number == 2)
		{
			TRY(need_type(&f, WIRE_LEN, what, err));
			type = f.data;
			type_len = f.len;
		}
	}
	if (type == NULL)
		return PI_OK;
	onnx_wire_init(&w, parent->start, type, type_len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, "TypeProto", err));
		if (f.number == 1)
		{
			OnnxWire	tw;
			OnnxField	tf;

			TRY(need_type(&f, WIRE_LEN, "TypeProto", err));
			onnx_wire_init(&tw, parent->start, f.data, f.len);
			while (onnx_wire_more(&tw))
			{
				TRY(onnx_wire_next(&tw, &tf, "TypeProto.Tensor", err));
				if (tf.number == 1)
					TRY(get_int32(&tf, "TypeProto.Tensor", &vi->elem_type, err));
				else if (tf.number == 2)
				{
					vi->rank = 0;
					TRY(decode_shape(&w, &tf, vi, err));
				}
			}
		}
	}
	return PI_OK;
}

/* Decodes an AttributeProto (name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, strings 9, type 20). */
static PiStatus
decode_attr(const OnnxWire *parent, OnnxArena *arena, const OnnxField *msg,
			OnnxAttr *a, PiError *err)
{
	static const char what[] = "AttributeProto";
	OnnxWire	w;
	OnnxField	f;
	OnnxNumbers floats = {0};
	OnnxNumbers ints = {0};
	int			nstrings = 0;

	TRY(need_type(msg, WIRE_LEN, what, err));
	a->name = "";
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		switch (f.number)
		{
			case 1:
				TRY(get_string(arena, &f, what, &a->name, err));
				break;
			case 2:
				TRY(need_type(&f, WIRE_FIXED32, what, err));
				a->f = onnx_bits_float(onnx_le32(f.data));
				break;
			case 3:
				TRY(get_int(&f, what, &a->i, err));
				break;
			case 4:
				TRY(need_type(&f, WIRE_LEN, what, err));
				/* strings may hold bytes; names and modes are checked by users */
				if ((a->s = onnx_arena_alloc(arena, (int64_t) f.len + 1, 1)) == NULL)
					return nomem(err);
				memcpy((char *) a->s, f.data, f.len);
				break;
			case 5:
				TRY(need_type(&f, WIRE_LEN, what, err));
				if ((a->t = onnx_arena_alloc(arena, 1, sizeof(OnnxTensor))) == NULL)
					return nomem(err);
				TRY(onnx_tensor_decode(parent->start, f.data, f.len, arena, a->t, err));
				break;
			case 7:
				TRY(numbers_count(&f, WIRE_FIXED32, what, &floats, err));
				break;
			case 8:
				TRY(numbers_count(&f, WIRE_VARINT, what, &ints, err));
				break;
			case 9:
				TRY(need_type(&f, WIRE_LEN, what, err));
				nstrings++;
				break;
			case 20:
				TRY(get_int32(&f, what, &a->type, err));
				break;
		}
	}
	TRY(numbers_alloc(arena, &floats, err));
	TRY(numbers_alloc(arena, &ints, err));
	a->nfloats = (int) floats.count;
	a->nints = (int) ints.count;
	a->nstrings = nstrings;
	if ((a->floats = onnx_arena_alloc(arena, floats.count, sizeof(float))) == NULL ||
		(a->ints = onnx_arena_alloc(arena, ints.count, sizeof(int64_t))) == NULL ||
		(a->strings = onnx_arena_alloc(arena, nstrings, sizeof(char *))) == NULL)
		return nomem(err);
	nstrings = 0;
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		if (f.number == 7)
			numbers_fill(&f, WIRE_FIXED32, &floats);
		else if (f.number == 8)
			numbers_fill(&f, WIRE_VARINT, &ints);
		else if (f.number == 9)
			TRY(get_string(arena, &f, what, &a->strings[nstrings++], err));
	}
	for (int i = 0; i < a->nfloats; i++)
		a->floats[i] = onnx_bits_float((uint32_t) floats.values[i]);
	for (int i = 0; i < a->nints; i++)
		a->ints[i] = (int64_t) ints.values[i];
	return PI_OK;
}

/* Decodes a NodeProto (input 1, output 2, name 3, op_type 4, attribute 5, domain 7). */
static PiStatus
decode_node(const OnnxWire *parent, OnnxArena *arena, const OnnxField *msg,
			OnnxNode *n, PiError *err)
{
	static const char what[] = "NodeProto";
	OnnxWire	w;
	OnnxField	f;

	TRY(need_type(msg, WIRE_LEN, what, err));
	n->name = n->op_type = n->domain = "";
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		if (f.number == 1)
			n->ninputs++;
		else if (f.number == 2)
			n->noutputs++;
		else if (f.number == 5)
			n->nattrs++;
	}
	if ((n->inputs = onnx_arena_alloc(arena, n->ninputs, sizeof(char *))) == NULL ||
		(n->outputs = onnx_arena_alloc(arena, n->noutputs, sizeof(char *))) == NULL ||
		(n->attrs = onnx_arena_alloc(arena, n->nattrs, sizeof(OnnxAttr))) == NULL)
		return nomem(err);
	n->ninputs = n->noutputs = n->nattrs = 0;
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		switch (f.number)
		{
			case 1:
				TRY(get_string(arena, &f, what, &n->inputs[n->ninputs++], err));
				break;
			case 2:
				TRY(get_string(arena, &f, what, &n->outputs[n->noutputs++], err));
				break;
			case 3:
				TRY(get_string(arena, &f, what, &n->name, err));
				break;
			case 4:
				TRY(get_string(arena, &f, what, &n->op_type, err));
				break;
			case 5:
				TRY(decode_attr(&w, arena, &f, &n->attrs[n->nattrs++], err));
				break;
			case 7:
				TRY(get_string(arena, &f, what, &n->domain, err));
				break;
		}
	}
	return PI_OK;
}

/* Decodes a GraphProto (node 1, initializer 5, input 11, output 12, value_info 13). */
static PiStatus
decode_graph(const OnnxWire *parent, OnnxArena *arena, const OnnxField *msg,
			 OnnxGraph *g, PiError *err)
{
	static const char what[] = "GraphProto";
	OnnxWire	w;
	OnnxField	f;

	TRY(need_type(msg, WIRE_LEN, what, err));
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		switch (f.number)
		{
			case 1:
				g->nnodes++;
				break;
			case 5:
				g->ninitializers++;
				break;
			case 11:
				g->ninputs++;
				break;
			case 12:
				g->noutputs++;
				break;
			case 13:
				g->nvalue_infos++;
				break;
			case 15:
				return pi_fail(err, PI_ERR_UNSUPPORTED, "the graph has sparse initializers, which are not supported");
		}
	}
	if (g->nnodes > ONNX_MAX_NODES || g->ninitializers > ONNX_MAX_NODES ||
		g->nvalue_infos > ONNX_MAX_NODES)
		return pi_fail(err, PI_ERR_LIMIT, "the graph has %d nodes, %d initializers and %d value infos; "
					   "the limit is %d of each", g->nnodes, g->ninitializers, g->nvalue_infos, ONNX_MAX_NODES);
	if ((g->nodes = onnx_arena_alloc(arena, g->nnodes, sizeof(OnnxNode))) == NULL ||
		(g->initializers = onnx_arena_alloc(arena, g->ninitializers, sizeof(OnnxTensor))) == NULL ||
		(g->inputs = onnx_arena_alloc(arena, g->ninputs, sizeof(OnnxValueInfo))) == NULL ||
		(g->outputs = onnx_arena_alloc(arena, g->noutputs, sizeof(OnnxValueInfo))) == NULL ||
		(g->value_infos = onnx_arena_alloc(arena, g->nvalue_infos, sizeof(OnnxValueInfo))) == NULL)
		return nomem(err);
	g->nnodes = g->ninitializers = g->ninputs = g->noutputs = g->nvalue_infos = 0;
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		switch (f.number)
		{
			case 1:
				TRY(decode_node(&w, arena, &f, &g->nodes[g->nnodes++], err));
				break;
			case 5:
				TRY(need_type(&f, WIRE_LEN, what, err));
				TRY(onnx_tensor_decode(w.start, f.data, f.len, arena,
									   &g->initializers[g->ninitializers++], err));
				break;
			case 11:
				TRY(decode_value_info(&w, arena, &f, &g->inputs[g->ninputs++], err));
				break;
			case 12:
				TRY(decode_value_info(&w, arena, &f, &g->outputs[g->noutputs++], err));
				break;
			case 13:
				TRY(decode_value_info(&w, arena, &f, &g->value_infos[g->nvalue_infos++], err));
				break;
		}
	}
	return PI_OK;
}

/* Decodes an OperatorSetIdProto (domain 1, version 2). */
static PiStatus
decode_opset(const OnnxWire *parent, OnnxArena *arena, const OnnxField *msg,
			 OnnxOpset *o, PiError *err)
{
	OnnxWire	w;
	OnnxField	f;

	TRY(need_type(msg, WIRE_LEN, "OperatorSetIdProto", err));
	o->domain = "";
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, "OperatorSetIdProto", err));
		if (f.number == 1)
			TRY(get_string(arena, &f, "OperatorSetIdProto", &o->domain, err));
		else if (f.number == 2)
			TRY(get_int(&f, "OperatorSetIdProto", &o->version, err));
	}
	return PI_OK;
}

/*
 * Decodes a StringStringEntryProto of metadata_props (key 1, value 2):
 * notes PI_ONNX_STORED_WEIGHTS_KEY, refuses it with another value.
 */
static PiStatus
decode_metadata(const OnnxWire *parent, OnnxArena *arena, const OnnxField *msg,
				OnnxModelProto *m, PiError *err)
{
	static const char what[] = "StringStringEntryProto";
	OnnxWire	w;
	OnnxField	f;
	const char *key = "",
			   *value = "";

	TRY(need_type(msg, WIRE_LEN, what, err));
	onnx_wire_init(&w, parent->start, msg->data, msg->len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		if (f.number == 1)
			TRY(get_string(arena, &f, what, &key, err));
		else if (f.number == 2)
			TRY(get_string(arena, &f, what, &value, err));
	}
	if (strcmp(key, PI_ONNX_STORED_WEIGHTS_KEY) != 0)
		return PI_OK;
	if (strcmp(value, "int8") != 0)
		return pi_fail(err, PI_ERR_CORRUPT, "ONNX metadata \"%s\" is \"%s\", expected \"int8\"",
					   PI_ONNX_STORED_WEIGHTS_KEY, value);
	m->stored_int8 = true;
	return PI_OK;
}

/* Decodes the body of a ModelProto into m (whose arena owns the results). */
static PiStatus
decode_model(const uint8_t *bytes, size_t len, OnnxModelProto *m, PiError *err)
{
	static const char what[] = "ModelProto";
	OnnxWire	w;
	OnnxField	f;
	OnnxField	graph = {0};

	onnx_wire_init(&w, bytes, bytes, len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		if (f.number == 8)
			m->nopsets++;
	}
	if ((m->opsets = onnx_arena_alloc(&m->arena, m->nopsets, sizeof(OnnxOpset))) == NULL)
		return nomem(err);
	m->nopsets = 0;
	onnx_wire_init(&w, bytes, bytes, len);
	while (onnx_wire_more(&w))
	{
		TRY(onnx_wire_next(&w, &f, what, err));
		switch (f.number)
		{
			case 1:
				TRY(get_int(&f, what, &m->ir_version, err));
				break;
			case 2:
				TRY(get_string(&m->arena, &f, what, &m->producer_name, err));
				break;
			case 3:
				TRY(get_string(&m->arena, &f, what, &m->producer_version, err));
				break;
			case 7:
				TRY(need_type(&f, WIRE_LEN, what, err));
				graph = f;
				m->has_graph = true;
				break;
			case 8:
				TRY(decode_opset(&w, &m->arena, &f, &m->opsets[m->nopsets++], err));
				break;
			case 14:
				TRY(decode_metadata(&w, &m->arena, &f, m, err));
				break;
		}
	}
	if (!m->has_graph)
		return pi_fail(err, PI_ERR_INVALID, "the ONNX model has no graph (ModelProto field 7)");
	return decode_graph(&w, &m->arena, &graph, &m->graph, err);
}

/* Decodes an ONNX ModelProto; on failure everything is freed already. */
PiStatus
onnx_model_decode(const uint8_t *bytes, size_t len, OnnxModelProto *m, PiError *err)
{
	PiStatus	st;

	memset(m, 0, sizeof(*m));
	m->producer_name = m->producer_version = "";
	if (len == 0)
		return pi_fail(err, PI_ERR_CORRUPT, "the ONNX model is empty");
	st = decode_model(bytes, len, m, err);
	if (st != PI_OK)
		onnx_model_free(m);
	return st;
}

/* Frees a decoded model. */
void
onnx_model_free(OnnxModelProto *m)
{
	onnx_arena_free(&m->arena);
}
