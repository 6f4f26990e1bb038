/*
 * onnx_import.c
 *	  pi_onnx_load: imports a decoded ONNX model into a PiModel.
 *
 *	  Design: the ONNX nodes are visited in a topological order computed here
 *	  (files need not list them sorted).  Every ONNX tensor name maps to an
 *	  entry that is either a constant (initializer, Constant node, or the
 *	  folded result of a node whose inputs are all constants) or an
 *	  activation of the model.  A node with only constant inputs is folded
 *	  (onnx_fold.c); any other node is lowered to IR nodes (onnx_convert.c),
 *	  and each IR node's shape is inferred by the IR's own shape inference
 *	  (pi_infer_node) the moment it is added.  So the static shape of every
 *	  activation is known when a later node asks for it (Shape, Flatten,
 *	  Split, old-opset Softmax) and it is the shape the engine will really
 *	  use, not a value_info claim that could disagree; value_info is not
 *	  trusted.  Shape() of an activation folds to a constant whose first
 *	  element is the symbolic batch size (ONNX_BATCH_DIM), which is how the
 *	  dynamic-batch Reshape pattern of PyTorch exports becomes [batch, ...].
 *	  Constants become weights only where an IR node consumes them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_import.h"
#include "pi_format.h"

#define MIN_OPSET 6
#define MAX_OPSET 21
#define MIN_IR_VERSION 3
#define MAX_IR_VERSION 10

/* The entry of a name, or NULL. */
OnnxEntry *
onnx_entry(const OnnxImporter *im, const char *name)
{
	uint32_t	j;

	if (im->nslots == 0)
		return NULL;
	j = pi_name_hash(name) & (im->nslots - 1);
	while (im->slots[j] >= 0)
	{
		if (strcmp(im->entries[im->slots[j]].name, name) == 0)
			return &im->entries[im->slots[j]];
		j = (j + 1) & (im->nslots - 1);
	}
	return NULL;
}

/* Adds an entry for a name not seen before; NULL when out of memory. */
static OnnxEntry *
add_entry(OnnxImporter *im, const char *name)
{
	OnnxEntry  *e;
	uint32_t	j;

	if ((im->nentries + 1) * 2 > im->nslots)
	{
		int			nslots = im->nslots ? im->nslots * 2 : 256;
		int		   *slots = malloc(sizeof(int) * nslots);

		if (slots == NULL)
			return NULL;
		memset(slots, 0xff, sizeof(int) * nslots);
		for (int i = 0; i < im->nentries; i++)
		{
			j = pi_name_hash(im->entries[i].name) & (nslots - 1);
			while (slots[j] >= 0)
				j = (j + 1) & (nslots - 1);
			slots[j] = i;
		}
		free(im->slots);
		im->slots = slots;
		im->nslots = nslots;
	}
	if (im->nentries == im->entries_cap)
	{
		int			cap = im->entries_cap ? im->entries_cap * 2 : 128;
		OnnxEntry  *entries = realloc(im->entries, sizeof(OnnxEntry) * cap);

		if (entries == NULL)
			return NULL;
		im->entries = entries;
		im->entries_cap = cap;
	}
	e = &im->entries[im->nentries];
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->producer = -1;
	e->value = -1;
	j = pi_name_hash(name) & (im->nslots - 1);
	while (im->slots[j] >= 0)
		j = (j + 1) & (im->nslots - 1);
	im->slots[j] = im->nentries++;
	return e;
}

/* The constant of an entry, converting an initializer on first use. */
PiStatus
onnx_entry_const(OnnxImporter *im, OnnxEntry *e, OnnxConst **out, PiError *err)
{
	if (e->c == NULL && e->tensor != NULL)
	{
		PiStatus	st = e->maxima != NULL ?
			onnx_const_from_int8(e->tensor, e->maxima, im->external, im->external_len, &e->c, err) :
			onnx_const_from_tensor(e->tensor, im->external, im->external_len, &e->c, err);

		if (st != PI_OK)
			return st;
	}
	*out = e->c;
	return PI_OK;
}

/* Adds a weight with a fresh name derived from base; takes ownership of data. */
PiStatus
onnx_add_weight(OnnxImporter *im, const char *base, int rank, const int64_t *dims,
				float *data, int *value, PiError *err)
{
	char		name[PI_MAX_NAME];

	if (pi_model_find_value(im->model, base) < 0 && onnx_entry(im, base) == NULL)
		snprintf(name, sizeof(name), "%s", base);
	else
		onnx_unique_name(im, base, "weight", name);
	*value = pi_model_add_value(im->model, name, PI_VALUE_WEIGHT, rank, dims, data, err);
	return *value < 0 ? err->status : PI_OK;
}

/*
 * The model value of an entry: an activation's, or the constant added as a
 * weight (under the entry's name; a scalar becomes shape [1]).
 */
PiStatus
onnx_entry_value(OnnxImporter *im, OnnxEntry *e, int *value, PiError *err)
{
	if (e->value < 0 && e->kind == ENTRY_CONST)
	{
		OnnxConst  *c;
		float	   *data;
		int64_t		one = 1;
		int			rank;
		const int64_t *dims;
		PiStatus	st;

		if ((st = onnx_entry_const(im, e, &c, err)) != PI_OK)
			return st;
		if (c->rank > PI_MAX_RANK)
			return pi_fail(err, PI_ERR_LIMIT, "constant \"%s\" has rank %d, the limit is %d",
						   e->name, c->rank, PI_MAX_RANK);
		if (pi_model_find_value(im->model, e->name) >= 0)
			return pi_fail(err, PI_ERR_DUPLICATE, "name \"%s\" is defined more than once", e->name);
		rank = c->rank > 0 ? c->rank : 1;
		dims = c->rank > 0 ? c->dims : &one;
		if (c->is_int)
		{
			if ((st = onnx_const_to_floats(c, e->name, &data, err)) != PI_OK)
				return st;
			e->value = pi_model_add_value(im->model, e->name, PI_VALUE_WEIGHT, rank, dims, data, err);
		}
		else if (c->borrowed)
			e->value = pi_model_add_borrowed_weight(im->model, e->name, rank, dims, c->floats, err);
		else
		{
			/* the model takes the floats over; the constant still reads them */
			c->borrowed = true;
			e->value = pi_model_add_value(im->model, e->name, PI_VALUE_WEIGHT, rank, dims, c->floats, err);
		}
		if (e->value < 0)
			return err->status;
	}
	*value = e->value;
	return PI_OK;
}

/* Defines a node output: a constant (c) or an activation (value). */
PiStatus
onnx_define(OnnxImporter *im, const char *name, OnnxConst *c, int value, PiError *err)
{
	OnnxEntry  *e = onnx_entry(im, name);

	if (e == NULL || e->kind != ENTRY_UNSET)
	{
		onnx_const_free(c);
		return pi_fail(err, PI_ERR_DUPLICATE, "ONNX tensor \"%s\" is defined more than once", name);
	}
	e->kind = c ? ENTRY_CONST : ENTRY_ACT;
	e->c = c;
	e->value = value;
	return PI_OK;
}

/* A name "base/suffix" (or with a counter) used by no ONNX tensor or model value. */
void
onnx_unique_name(const OnnxImporter *im, const char *base, const char *suffix, char *buf)
{
	snprintf(buf, PI_MAX_NAME, "%.200s/%s", base, suffix);
	for (int i = 1; onnx_entry(im, buf) != NULL || pi_model_find_value(im->model, buf) >= 0; i++)
		snprintf(buf, PI_MAX_NAME, "%.200s/%s_%d", base, suffix, i);
}

/*
 * Adds an IR node named name over model values and infers its shape.  In
 * lifted mode a graph output's name is left for onnx_lift_output's Reshape.
 */
PiStatus
onnx_emit(OnnxImporter *im, const char *name, PiOp op, const int *inputs, int ninputs,
		  const PiAttrs *attrs, int *value, PiError *err)
{
	char		lifted_name[PI_MAX_NAME];

	if (im->lifted && onnx_lift_is_output(im, name))
	{
		onnx_unique_name(im, name, "lifted", lifted_name);
		name = lifted_name;
	}
	return onnx_emit_exact(im, name, op, inputs, ninputs, attrs, value, err);
}

/* Adds an IR node under exactly the name given and infers its shape. */
PiStatus
onnx_emit_exact(OnnxImporter *im, const char *name, PiOp op, const int *inputs, int ninputs,
				const PiAttrs *attrs, int *value, PiError *err)
{
	const char *names[8];
	int			node;
	PiStatus	st;

	if (ninputs > 8)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" has %d inputs, the limit is 8", name, ninputs);
	for (int i = 0; i < ninputs; i++)
		names[i] = im->model->values[inputs[i]].name;
	node = pi_model_add_node(im->model, name, op, names, ninputs, attrs, err);
	if (node < 0)
		return err->status;
	if ((st = pi_infer_node(im->model, &im->model->nodes[node], err)) != PI_OK)
		return st;
	*value = im->model->nodes[node].output;
	return PI_OK;
}

/* Whether a node is in the default domain. */
static bool
default_domain(const char *domain)
{
	return domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
}

/*
 * Whether the importer knows the node's op: the default domain's ops it
 * converts or folds, and ai.onnx.ml's it converts.
 */
static bool
onnx_node_supported(const OnnxNode *n)
{
	if (onnx_domain_is_ml(n->domain))
		return onnx_convert_supported(n->domain, n->op_type);
	return default_domain(n->domain) &&
		(onnx_convert_supported(n->domain, n->op_type) || onnx_fold_supported(n->op_type) ||
		 strcmp(n->op_type, "Constant") == 0);
}

/* Appends to buf (bounded), marking a cut with "...". */
static void
append(char *buf, size_t size, const char *text)
{
	size_t		used = strlen(buf);

	if (used + strlen(text) + 4 < size)
		strcat(buf, text);
	else if (used + 4 < size && strcmp(buf + used - 3, "...") != 0)
		strcat(buf, "...");
}

/*
 * Rejects the model if any node's op is not supported, listing every such op
 * type once, with the names of its nodes.
 */
static PiStatus
check_ops(const OnnxGraph *g, PiError *err)
{
	char		list[480] = "";
	int			unsupported = 0;

	for (int i = 0; i < g->nnodes; i++)
	{
		const OnnxNode *n = &g->nodes[i];
		bool		seen = false;
		int			count = 0;
		char		item[320];

		if (onnx_node_supported(n))
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(g->nodes[j].op_type, n->op_type) == 0 &&
				strcmp(g->nodes[j].domain, n->domain) == 0;
		if (seen)
			continue;
		for (int j = i; j < g->nnodes; j++)
			count += strcmp(g->nodes[j].op_type, n->op_type) == 0 &&
				strcmp(g->nodes[j].domain, n->domain) == 0;
		snprintf(item, sizeof(item), "%s%s%s%s (node%s ", unsupported ? ", " : "",
				 default_domain(n->domain) ? "" : n->domain, default_domain(n->domain) ? "" : ".",
				 n->op_type, count > 1 ? "s" : "");
		append(list, sizeof(list), item);
		for (int j = i, k = 0; j < g->nnodes; j++)
			if (strcmp(g->nodes[j].op_type, n->op_type) == 0 &&
				strcmp(g->nodes[j].domain, n->domain) == 0)
			{
				snprintf(item, sizeof(item), "%s\"%.200s\"", k++ ? ", " : "", onnx_node_label(&g->nodes[j]));
				append(list, sizeof(list), item);
			}
		append(list, sizeof(list), ")");
		unsupported++;
	}
	if (unsupported > 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "unsupported ONNX operators: %s", list);
	return PI_OK;
}

/* Lowest and highest opset of ai.onnx.ml. */
#define MIN_ML_OPSET 1
#define MAX_ML_OPSET 5

/*
 * Checks the IR version and finds the opsets of the default domain and of
 * ai.onnx.ml.  A graph of ai.onnx.ml nodes only may import no default
 * domain (XGBoost's converter writes none).
 */
static PiStatus
check_versions(const OnnxModelProto *proto, int *opset, int *ml_opset, PiError *err)
{
	int64_t		version = -1;
	int64_t		ml_version = 0;
	bool		default_nodes = false;

	if (proto->ir_version < MIN_IR_VERSION || proto->ir_version > MAX_IR_VERSION)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "ONNX IR version %lld is not supported, expected %d to %d",
					   (long long) proto->ir_version, MIN_IR_VERSION, MAX_IR_VERSION);
	for (int i = 0; i < proto->nopsets; i++)
	{
		if (default_domain(proto->opsets[i].domain))
			version = proto->opsets[i].version;
		else if (onnx_domain_is_ml(proto->opsets[i].domain))
			ml_version = proto->opsets[i].version;
	}
	for (int i = 0; i < proto->graph.nnodes; i++)
		default_nodes |= default_domain(proto->graph.nodes[i].domain);
	if (version < 0 && !default_nodes && ml_version > 0)
		version = MAX_OPSET;
	if (version < MIN_OPSET || version > MAX_OPSET)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "ONNX opset %lld of the default domain is not supported, expected %d to %d",
					   (long long) version, MIN_OPSET, MAX_OPSET);
	if (ml_version != 0 && (ml_version < MIN_ML_OPSET || ml_version > MAX_ML_OPSET))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "ONNX opset %lld of domain ai.onnx.ml is not supported, expected %d to %d",
					   (long long) ml_version, MIN_ML_OPSET, MAX_ML_OPSET);
	*opset = (int) version;
	*ml_opset = (int) ml_version;
	return PI_OK;
}

/*
 * In a stored int8 file (pi_onnx.h), pairs each initializer of column
 * maxima with its INT8 codes, which then import as float32.
 */
static PiStatus
pair_stored_int8(OnnxImporter *im, PiError *err)
{
	const OnnxGraph *g = im->graph;
	size_t		suffix = strlen(PI_INT8_AMAX_SUFFIX);

	for (int i = 0; i < g->ninitializers && im->stored_int8; i++)
	{
		const OnnxTensor *a = &g->initializers[i];
		size_t		len = strlen(a->name);
		char		name[PI_MAX_NAME];
		OnnxEntry  *e;

		if (len <= suffix || strcmp(a->name + len - suffix, PI_INT8_AMAX_SUFFIX) != 0)
			continue;
		if (len - suffix >= sizeof(name))
			return pi_fail(err, PI_ERR_LIMIT, "initializer name \"%s\" is too long", a->name);
		memcpy(name, a->name, len - suffix);
		name[len - suffix] = '\0';
		e = onnx_entry(im, name);
		if (e == NULL || e->tensor == NULL || e->maxima != NULL || e->tensor->data_type != ONNX_INT8)
			return pi_fail(err, PI_ERR_CORRUPT,
						   "stored int8 column maxima \"%s\" have no INT8 initializer \"%s\"", a->name, name);
		e->maxima = a;
	}
	return PI_OK;
}

/* Enters every name: initializers, graph inputs, node outputs. */
static PiStatus
enter_names(OnnxImporter *im, PiError *err)
{
	const OnnxGraph *g = im->graph;

	for (int i = 0; i < g->ninitializers; i++)
	{
		OnnxEntry  *e;

		if (onnx_entry(im, g->initializers[i].name) != NULL)
			return pi_fail(err, PI_ERR_DUPLICATE, "initializer \"%s\" is defined more than once",
						   g->initializers[i].name);
		if ((e = add_entry(im, g->initializers[i].name)) == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		e->kind = ENTRY_CONST;
		e->tensor = &g->initializers[i];
	}
	TRY(pair_stored_int8(im, err));
	for (int i = 0; i < g->nnodes; i++)
	{
		const OnnxNode *n = &g->nodes[i];

		for (int j = 0; j < n->noutputs; j++)
		{
			OnnxEntry  *e;

			if (n->outputs[j][0] == '\0')
				continue;		/* an optional output not produced */
			if (onnx_entry(im, n->outputs[j]) != NULL)
				return pi_fail(err, PI_ERR_DUPLICATE, "ONNX tensor \"%s\" is defined more than once (node \"%s\")",
							   n->outputs[j], onnx_node_label(n));
			if ((e = add_entry(im, n->outputs[j])) == NULL)
				return pi_fail(err, PI_ERR_NOMEM, "out of memory");
			e->producer = i;
		}
	}
	return PI_OK;
}

/* Adds the graph inputs that are not initializers as model inputs. */
static PiStatus
add_inputs(OnnxImporter *im, PiError *err)
{
	const OnnxGraph *g = im->graph;

	for (int i = 0; i < g->ninputs; i++)
	{
		const OnnxValueInfo *vi = &g->inputs[i];
		OnnxEntry  *e = onnx_entry(im, vi->name);
		int64_t		dims[PI_MAX_RANK];
		int			v;

		if (e != NULL && e->tensor != NULL)
			continue;			/* an initializer: a constant */
		if (e != NULL)
			return pi_fail(err, PI_ERR_DUPLICATE, "graph input \"%s\" is also a node output", vi->name);
		if (vi->elem_type != ONNX_FLOAT && vi->elem_type != ONNX_STRING &&
			!onnx_dtype_is_integer(vi->elem_type))
			return pi_fail(err, PI_ERR_DTYPE, "graph input \"%s\" has data type %s, only FLOAT, STRING and integer or BOOL inputs (given as float32 values) are supported",
						   vi->name, onnx_dtype_name(vi->elem_type));
		if (vi->has_shape && vi->rank == 0)
			return pi_fail(err, PI_ERR_SHAPE, "graph input \"%s\" is a scalar; graph inputs need a first dimension, the batch",
						   vi->name);
		if (!vi->has_shape || vi->rank > PI_MAX_RANK)
			return pi_fail(err, PI_ERR_SHAPE, "graph input \"%s\" needs a shape of rank 1 to %d",
						   vi->name, PI_MAX_RANK);
		dims[0] = -1;
		for (int d = 1; d < vi->rank; d++)
		{
			if (vi->dims[d] < 0 && im->sequence_length > 0)
			{
				dims[d] = im->sequence_length;
				im->sequence_bound = true;
				continue;
			}
			if (vi->dims[d] <= 0)
				return pi_fail(err, PI_ERR_SHAPE, "graph input \"%s\" dimension %d is %s, only the first (batch) dimension may be symbolic or empty (a text model's sequence dimension may be symbolic)",
							   vi->name, d, vi->dims[d] < 0 ? "symbolic" : "0");
			dims[d] = vi->dims[d];
		}
		if (im->model->ninputs == 16)
			return pi_fail(err, PI_ERR_LIMIT, "the graph has more than 16 inputs");
		if ((e = add_entry(im, vi->name)) == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		v = pi_model_add_value(im->model, vi->name, PI_VALUE_INPUT, vi->rank, dims, NULL, err);
		if (v < 0)
			return err->status;
		e->kind = ENTRY_ACT;
		e->value = v;
		e->is_int = onnx_dtype_is_integer(vi->elem_type);
		if (vi->elem_type == ONNX_STRING)
			TRY(onnx_strings_input(im, e, im->model->ninputs, err));
		im->model->inputs[im->model->ninputs++] = v;
		if (im->lifted)
			TRY(onnx_lift_input(im, e, err));
	}
	return PI_OK;
}

/* Orders the nodes so that every node comes after its inputs' producers. */
static PiStatus
order_nodes(OnnxImporter *im, int *order, PiError *err)
{
	const OnnxGraph *g = im->graph;
	int			total = 0,
				nedges = 0,
				stuck,
				ordered;
	int		   *from,
			   *to;

	for (int i = 0; i < g->nnodes; i++)
		total += g->nodes[i].ninputs;
	from = malloc(sizeof(int) * (total + 1));
	to = malloc(sizeof(int) * (total + 1));
	if (from == NULL || to == NULL)
	{
		free(from);
		free(to);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	/* an edge producer -> consumer for each input that a node makes */
	for (int i = 0; i < g->nnodes; i++)
		for (int j = 0; j < g->nodes[i].ninputs; j++)
		{
			const char *in = g->nodes[i].inputs[j];
			OnnxEntry  *e;

			if (in[0] == '\0')
				continue;
			if ((e = onnx_entry(im, in)) == NULL)
			{
				free(from);
				free(to);
				return pi_fail(err, PI_ERR_UNDEFINED, "node \"%s\" (%s) input \"%s\" is not a graph input, an initializer or a node output",
							   onnx_node_label(&g->nodes[i]), g->nodes[i].op_type, in);
			}
			if (e->producer >= 0)
			{
				from[nedges] = e->producer;
				to[nedges++] = i;
			}
		}
	ordered = pi_topological_order(g->nnodes, from, to, nedges, order, &stuck);
	free(from);
	free(to);
	if (ordered < 0)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	if (ordered < g->nnodes)
		return pi_fail(err, PI_ERR_CYCLE, "the ONNX graph has a cycle through node \"%s\"",
					   onnx_node_label(&g->nodes[stuck]));
	return PI_OK;
}

/* The constant of a Constant node's attribute. */
static PiStatus
constant_node(OnnxImporter *im, const OnnxNode *n, OnnxConst **out, PiError *err)
{
	const OnnxAttr *a;

	if (n->nattrs != 1)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Constant) needs exactly one attribute",
					   onnx_node_label(n));
	a = &n->attrs[0];
	if (strcmp(a->name, "value") == 0 && a->t != NULL)
		return onnx_const_from_tensor(a->t, im->external, im->external_len, out, err);
	if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0)
	{
		bool		is_int = a->name[6] == 'i';
		PiStatus	st = onnx_const_new(0, NULL, is_int, is_int ? ONNX_INT64 : ONNX_FLOAT,
										n->outputs[0], out, err);

		if (st == PI_OK && is_int)
			(*out)->ints[0] = a->i;
		else if (st == PI_OK)
			(*out)->floats[0] = a->f;
		return st;
	}
	if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0)
	{
		bool		is_int = a->name[6] == 'i';
		int64_t		len = is_int ? a->nints : a->nfloats;
		PiStatus	st = onnx_const_new(1, &len, is_int, is_int ? ONNX_INT64 : ONNX_FLOAT,
										n->outputs[0], out, err);

		for (int64_t i = 0; st == PI_OK && i < len; i++)
		{
			if (is_int)
				(*out)->ints[i] = a->ints[i];
			else
				(*out)->floats[i] = a->floats[i];
		}
		return st;
	}
	return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Constant) attribute \"%s\" is not supported",
				   onnx_node_label(n), a->name);
}

/* Shape of an activation: its static dims, the batch symbolic. */
static PiStatus
shape_of_activation(OnnxImporter *im, const OnnxNode *n, const PiValue *v,
					OnnxConst **out, PiError *err)
{
	int64_t		rank = v->rank;
	int64_t		start = onnx_attr_int(n, "start", 0);
	int64_t		end = onnx_attr_int(n, "end", rank);
	int64_t		len;
	PiStatus	st;

	start = start < 0 ? start + rank : start;
	end = end < 0 ? end + rank : end;
	start = start < 0 ? 0 : start > rank ? rank : start;
	end = end < 0 ? 0 : end > rank ? rank : end;
	len = end > start ? end - start : 0;
	if ((st = onnx_const_new(1, &len, true, ONNX_INT64, n->outputs[0], out, err)) != PI_OK)
		return st;
	for (int64_t i = 0; i < len; i++)
		(*out)->ints[i] = (start + i == 0) ? ONNX_BATCH_DIM : v->dims[start + i];
	return PI_OK;
}

/* Whether an entry holds integers: an integer constant or activation. */
bool
onnx_entry_is_int(const OnnxEntry *e)
{
	if (e->kind == ENTRY_CONST)
		return e->c ? e->c->is_int :
			(e->tensor && e->maxima == NULL && onnx_dtype_is_integer(e->tensor->data_type));
	return e->is_int;
}

/*
 * Records which outputs of a lowered node hold integers (float32 values of
 * an integer type): results of Cast to an integer type, of comparisons, of
 * ArgMax and TopK's indices, and of ops that keep their data inputs' type
 * when those inputs are integers.  Integer Div uses it to truncate.
 */
static void
mark_integer_outputs(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in)
{
	static const char *const keep_type[] = {
		"Add", "Sub", "Mul", "Div", "Min", "Max", "Sum", "Neg", "Abs", "Relu", "Identity",
		"Dropout", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Slice", "Split", "Concat",
		"Transpose", "Expand", "Clip", "MaxPool", "ReduceMax", "ReduceSum", "TopK", "Where", NULL
	};
	static const char *const integer_result[] = {
		"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Not",
		"ArgMax", NULL
	};
	bool		is_int = false;
	int			first = 0,
				last = n->ninputs;

	if (strcmp(n->op_type, "Cast") == 0)
		is_int = onnx_dtype_is_integer((int) onnx_attr_int(n, "to", 1));
	else if (strcmp(n->op_type, "ArrayFeatureExtractor") == 0)
		is_int = in[0] != NULL && onnx_entry_is_int(in[0]);
	else
	{
		for (int i = 0; integer_result[i]; i++)
			is_int |= strcmp(n->op_type, integer_result[i]) == 0;
		for (int i = 0; !is_int && keep_type[i]; i++)
			if (strcmp(n->op_type, keep_type[i]) == 0)
			{
				/* data inputs: Where's x and y, the first input of single-data ops */
				if (strcmp(n->op_type, "Where") == 0)
					first = 1;
				else if (strcmp(n->op_type, "Add") != 0 && strcmp(n->op_type, "Sub") != 0 &&
						 strcmp(n->op_type, "Mul") != 0 && strcmp(n->op_type, "Div") != 0 &&
						 strcmp(n->op_type, "Min") != 0 && strcmp(n->op_type, "Max") != 0 &&
						 strcmp(n->op_type, "Sum") != 0 && strcmp(n->op_type, "Concat") != 0)
					last = 1;
				is_int = last > first;
				for (int j = first; j < last; j++)
					is_int &= in[j] != NULL && onnx_entry_is_int(in[j]);
			}
	}
	for (int o = 0; o < n->noutputs; o++)
	{
		OnnxEntry  *e = n->outputs[o][0] ? onnx_entry(im, n->outputs[o]) : NULL;

		if (e != NULL && e->kind == ENTRY_ACT)
			e->is_int = is_int || (strcmp(n->op_type, "TopK") == 0 && o == 1);
	}
}

/* Whether an entry is a constant tensor of strings (kept as its tensor). */
static bool
is_string_const(const OnnxEntry *e)
{
	return e->kind == ENTRY_CONST && e->c == NULL && e->tensor != NULL &&
		e->tensor->data_type == ONNX_STRING;
}

/* Imports one node: folds it, or lowers it to IR nodes. */
static PiStatus
import_node(OnnxImporter *im, const OnnxNode *n, PiError *err)
{
	OnnxEntry  *in[64];
	OnnxConst  *consts[64];
	OnnxEntry	copies[8];
	bool		all_const = true;
	OnnxConst  *result = NULL;
	PiStatus	st;

	if (n->ninputs > 64)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (%s) has %d inputs, the limit is 64",
					   onnx_node_label(n), n->op_type, n->ninputs);
	if (n->noutputs < 1 || n->outputs[0][0] == '\0')
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has no output", onnx_node_label(n), n->op_type);
	for (int i = 0; i < n->ninputs; i++)
	{
		in[i] = n->inputs[i][0] ? onnx_entry(im, n->inputs[i]) : NULL;
		consts[i] = NULL;
		if (in[i] != NULL && in[i]->kind == ENTRY_UNSET)
			return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input \"%s\" is an output of node \"%s\" that the importer does not produce",
						   onnx_node_label(n), n->op_type, n->inputs[i],
						   onnx_node_label(&im->graph->nodes[in[i]->producer]));
		if (in[i] != NULL && (in[i]->kind == ENTRY_ACT || is_string_const(in[i])))
			all_const = false;	/* constant strings are read by the ops that take them */
		else if (in[i] != NULL && (st = onnx_entry_const(im, in[i], &consts[i], err)) != PI_OK)
			return st;
	}
	if (strcmp(n->op_type, "Constant") == 0 && n->nattrs == 1 && n->attrs[0].t != NULL &&
		n->attrs[0].t->data_type == ONNX_STRING)
	{
		/* strings: the entry keeps the tensor for the ops that read it */
		TRY(onnx_define(im, n->outputs[0], NULL, -1, err));
		onnx_entry(im, n->outputs[0])->kind = ENTRY_CONST;
		onnx_entry(im, n->outputs[0])->tensor = n->attrs[0].t;
		return PI_OK;
	}
	if (strcmp(n->op_type, "Constant") == 0)
		st = constant_node(im, n, &result, err);
	else if (strcmp(n->op_type, "Shape") == 0 && n->ninputs == 1 && in[0] != NULL && !all_const)
		st = im->lifted ? onnx_lift_shape(im, n, in[0], &result, err) :
			shape_of_activation(im, n, &im->model->values[in[0]->value], &result, err);
	else if (all_const && n->ninputs > 0 && onnx_fold_supported(n->op_type))
		st = onnx_fold_node(n, im->opset, consts, &result, err);
	else
	{
		if (!im->lifted)
			TRY(onnx_strings_prepare(im, n, in, copies, 8, err));
		st = im->lifted ? onnx_lift_node(im, n, in, err) : onnx_convert_node(im, n, in, err);
		if (st == PI_OK)
		{
			mark_integer_outputs(im, n, in);
			onnx_strings_propagate(im, n, in);
		}
		return st;
	}
	if (st != PI_OK)
	{
		onnx_const_free(result);	/* a fold may fail after allocating */
		return st;
	}
	return onnx_define(im, n->outputs[0], result, -1, err);
}

/* Makes the graph outputs model outputs (an Identity where a name was aliased). */
static PiStatus
add_outputs(OnnxImporter *im, PiError *err)
{
	const OnnxGraph *g = im->graph;

	if (g->noutputs < 1 || g->noutputs > 16)
		return pi_fail(err, PI_ERR_LIMIT, "the graph has %d outputs, expected 1 to 16", g->noutputs);
	for (int i = 0; i < g->noutputs; i++)
	{
		const char *name = g->outputs[i].name;
		OnnxEntry  *e = onnx_entry(im, name);
		int			v;
		PiStatus	st;

		if (e == NULL || e->kind == ENTRY_UNSET)
			return pi_fail(err, PI_ERR_UNDEFINED, "graph output \"%s\" is not produced by any node", name);
		if (e->kind == ENTRY_CONST)
			return pi_fail(err, PI_ERR_UNSUPPORTED, "graph output \"%s\" is a constant: it does not depend on any graph input",
						   name);
		if (e->npads > 0)
			return pi_fail(err, PI_ERR_UNSUPPORTED, "graph output \"%s\" is the result of a Pad, which is only supported when a Conv reads it",
						   name);
		if (im->lifted)
			TRY(onnx_lift_output(im, e, name, err));
		v = e->value;
		if (strcmp(im->model->values[v].name, name) != 0 || im->model->values[v].kind != PI_VALUE_NODE)
		{
			PiAttrs		a;

			pi_attrs_default(PI_OP_IDENTITY, &a);
			if ((st = onnx_emit(im, name, PI_OP_IDENTITY, &v, 1, &a, &v, err)) != PI_OK)
				return st;
			e->value = v;
		}
		for (int j = 0; j < im->model->noutputs; j++)
			if (im->model->outputs[j] == v)
				return pi_fail(err, PI_ERR_DUPLICATE, "graph output \"%s\" is listed twice", name);
		im->model->outputs[im->model->noutputs++] = v;
	}
	return PI_OK;
}

/* Converts the decoded model's graph into im->model. */
static PiStatus
import_graph(OnnxImporter *im, PiError *err)
{
	const OnnxGraph *g = im->graph;
	int		   *order;
	PiStatus	st;

	if ((st = enter_names(im, err)) != PI_OK ||
		(st = add_inputs(im, err)) != PI_OK)
		return st;
	if (im->model->ninputs == 0)
		return pi_fail(err, PI_ERR_INVALID, "the graph has no inputs that are not initializers");
	if ((order = malloc(sizeof(int) * (g->nnodes + 1))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	st = order_nodes(im, order, err);
	for (int i = 0; st == PI_OK && i < g->nnodes; i++)
	{
		const OnnxNode *n = &g->nodes[order[i]];

		if (pi_interrupted())
		{
			st = pi_fail(err, PI_ERR_INTERRUPTED, "the import was interrupted");
			break;
		}
		st = import_node(im, n, err);
		if (st != PI_OK && strstr(err->message, onnx_node_label(n)) == NULL)
		{
			char		msg[sizeof(err->message)];

			snprintf(msg, sizeof(msg), "node \"%.100s\" (%.40s): %.300s", onnx_node_label(n), n->op_type, err->message);
			memcpy(err->message, msg, sizeof(msg));
		}
	}
	free(order);
	if (st == PI_OK)
		st = add_outputs(im, err);
	if (st == PI_OK)
		st = onnx_strings_finish(im, err);
	return st;
}

/*
 * Imports the decoded model's graph into a finalized model, in normal or
 * lifted-batch mode.
 */
static PiStatus
import_model(const OnnxModelProto *proto, int opset, int ml_opset, const uint8_t *external,
			 size_t external_len, bool lifted, int64_t *sequence_length, PiModel **out,
			 PiError *err)
{
	OnnxImporter im;
	PiStatus	st;

	memset(&im, 0, sizeof(im));
	im.graph = &proto->graph;
	im.opset = opset;
	im.ml_opset = ml_opset;
	im.external = external;
	im.external_len = external_len;
	im.lifted = lifted;
	im.stored_int8 = proto->stored_int8;
	im.sequence_length = *sequence_length;
	if ((im.model = pi_model_new()) == NULL)
		st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
	else if ((st = import_graph(&im, err)) == PI_OK &&
			 (st = onnx_fuse_layer_norms(im.model, err)) == PI_OK &&
			 (st = onnx_fuse_conv_biases(im.model, err)) == PI_OK &&
			 (st = pi_model_finalize(im.model, err)) == PI_OK)
	{
		*out = im.model;
		im.model = NULL;
		if (!im.sequence_bound)
			*sequence_length = 0;
	}
	for (int i = 0; i < im.nentries; i++)
		onnx_const_free(im.entries[i].c);
	free(im.entries);
	free(im.slots);
	onnx_strings_free(&im);
	pi_model_free(im.model);
	return st;
}

/*
 * Whether a failed normal import is worth a lifted-batch import: the graph
 * was refused for working along the batch axis, and its opset has no legacy
 * broadcast forms (opset 7 and later).
 */
static bool
batch_refusal(const PiError *err, int opset)
{
	return opset >= 7 && (err->status == PI_ERR_UNSUPPORTED || err->status == PI_ERR_SHAPE) &&
		strstr(err->message, "batch") != NULL;
}

/* The data type of each of model's inputs as the file declares it, lower case ("int64", "float32"). */
static void
describe_input_dtypes(const OnnxGraph *g, const PiModel *model, PiOnnxInfo *info)
{
	for (int i = 0; i < model->ninputs && i < PI_MAX_MODEL_IO; i++)
	{
		const char *name = model->values[model->inputs[i]].name;
		const char *dtype = "float32";

		for (int k = 0; k < g->ninputs; k++)
			if (strcmp(g->inputs[k].name, name) == 0 && g->inputs[k].elem_type != ONNX_FLOAT)
				dtype = onnx_dtype_name(g->inputs[k].elem_type);
		snprintf(info->input_dtypes[i], sizeof(info->input_dtypes[i]), "%s", dtype);
		for (char *c = info->input_dtypes[i]; *c; c++)
			*c = (char) tolower((unsigned char) *c);
	}
}

/*
 * Imports an ONNX model, its float32 weights where they lie in onnx and
 * external (see pi_onnx.h), its symbolic sequence dimensions set to
 * sequence_length.  A graph refused for a batch-axis reason is imported
 * again in lifted-batch mode (onnx_lift.c); when that fails too, the error
 * is the first refusal followed by the lifted one (when it differs).
 */
PiStatus
pi_onnx_load_at_length(const uint8_t *onnx, size_t len, const uint8_t *external,
					   size_t external_len, PiOnnxMoves *moves, int64_t sequence_length,
					   PiModel **out, PiOnnxInfo *info, PiError *err)
{
	int64_t		bound = sequence_length;

	OnnxModelProto proto;
	char		location[1024];
	int			opset = 0;
	int			ml_opset = 0;
	PiStatus	st;

	*out = NULL;
	if ((st = onnx_model_decode(onnx, len, &proto, err)) != PI_OK)
		return st;
	if ((st = onnx_rewrite_quantized(&proto, err)) != PI_OK ||
		(st = check_ops(&proto.graph, err)) != PI_OK ||
		(st = check_versions(&proto, &opset, &ml_opset, err)) != PI_OK ||
		(st = onnx_external_location(&proto, location, sizeof(location), err)) != PI_OK ||
		(moves != NULL && (st = onnx_align_tensors((uint8_t *) onnx, &proto, moves, err)) != PI_OK))
		goto done;
	onnx_const_budget_start((int64_t) len + (int64_t) external_len);
	st = import_model(&proto, opset, ml_opset, external, external_len, false, &bound, out, err);
	if (st != PI_OK && batch_refusal(err, opset))
	{
		PiError		lifted_err;

		memset(&lifted_err, 0, sizeof(lifted_err));
		onnx_const_budget_start((int64_t) len + (int64_t) external_len);
		bound = sequence_length;
		if (import_model(&proto, opset, ml_opset, external, external_len, true, &bound, out,
						 &lifted_err) == PI_OK)
		{
			memset(err, 0, sizeof(*err));
			st = PI_OK;
		}
		else if (strcmp(lifted_err.message, err->message) != 0)
		{
			size_t		used = strlen(err->message);

			snprintf(err->message + used, sizeof(err->message) - used, "; with a lifted batch: %s",
					 lifted_err.message);
		}
	}
	if (st == PI_OK && info != NULL)
	{
		memset(info, 0, sizeof(*info));
		info->ir_version = proto.ir_version;
		info->opset = opset;
		info->sequence_length = bound;
		snprintf(info->producer_name, sizeof(info->producer_name), "%s", proto.producer_name);
		describe_input_dtypes(&proto.graph, *out, info);
		snprintf(info->producer_version, sizeof(info->producer_version), "%s", proto.producer_version);
	}

done:
	onnx_model_free(&proto);
	if (st != PI_OK && moves != NULL)
		pi_onnx_moves_undo((uint8_t *) onnx, moves);
	return st;
}

/* Imports an ONNX model without symbolic sequence dimensions (see pi_onnx.h). */
PiStatus
pi_onnx_load_in_place(const uint8_t *onnx, size_t len, const uint8_t *external,
					  size_t external_len, PiOnnxMoves *moves, PiModel **out,
					  PiOnnxInfo *info, PiError *err)
{
	return pi_onnx_load_at_length(onnx, len, external, external_len, moves, 0, out, info, err);
}

/* Imports an ONNX model whose weights are its own (see pi_onnx.h). */
PiStatus
pi_onnx_load(const uint8_t *onnx, size_t len, const uint8_t *external, size_t external_len,
			 PiModel **out, PiOnnxInfo *info, PiError *err)
{
	PiStatus	st = pi_onnx_load_in_place(onnx, len, external, external_len, NULL, out, info, err);

	if (st == PI_OK && (st = pi_model_own_weights(*out, err)) != PI_OK)
	{
		pi_model_free(*out);
		*out = NULL;
	}
	return st;
}
