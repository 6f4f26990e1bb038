/*
 * graph_json.c
 *	  Loader for the native graph JSON (docs/format.md): inputs, outputs,
 *	  nodes and their attributes, checked field by field, into a PiModel.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_format.h"

#define MAX_NODES 100000

/* Reads a list of integers of a length in [minlen, maxlen]. */
static PiStatus
attr_list(const cJSON *v, const char *node, int minlen, int maxlen,
		  int64_t lo, int64_t *out, int *len, PiError *err)
{
	const cJSON *item;
	int			n = 0;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < minlen || cJSON_GetArraySize(v) > maxlen)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" attribute \"%s\" must be a list of %d to %d integers",
					   node, v->string, minlen, maxlen);
	cJSON_ArrayForEach(item, v)
	{
		double		d = cJSON_IsNumber(item) ? item->valuedouble : NAN;

		if (d != floor(d) || d < (double) lo || d > 1e15)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" attribute \"%s\" element %d is not an integer of at least %lld",
						   node, v->string, n, (long long) lo);
		out[n++] = (int64_t) d;
	}
	*len = n;
	return PI_OK;
}

/* Converts a JSON number or boolean to an integer; false if it is neither. */
static bool
json_integer(const cJSON *v, int64_t *out)
{
	double		d;

	if (cJSON_IsBool(v))
	{
		*out = cJSON_IsTrue(v) ? 1 : 0;
		return true;
	}
	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d))
		return false;
	/* beyond int64 (JSON writes INT64_MAX as 9223372036854775807): saturate */
	if (d >= 9223372036854775807.0)
		*out = INT64_MAX;
	else if (d <= -9223372036854775808.0)
		*out = INT64_MIN;
	else
		*out = (int64_t) d;
	return true;
}

/* Converts one JSON attribute and sets it through the IR's setters. */
static PiStatus
parse_attr(const cJSON *v, const char *node, PiOp op, PiAttrs *a, PiError *err)
{
	const char *key = v->string;
	int64_t		ints[PI_MAX_ATTR_INTS];
	int			n = 0;
	const cJSON *item;

	switch (pi_attr_type(key))
	{
		case PI_ATTR_INT:
			if (!json_integer(v, &ints[0]))
				break;
			return pi_attr_set_ints(op, a, node, key, ints, 1, err);
		case PI_ATTR_INTS:
			if (!cJSON_IsArray(v))
				break;
			if (cJSON_GetArraySize(v) > PI_MAX_ATTR_INTS)
				return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" has %d values, at most %d are allowed",
							   node, pi_op_name(op), key, cJSON_GetArraySize(v), PI_MAX_ATTR_INTS);
			cJSON_ArrayForEach(item, v)
			{
				if (!json_integer(item, &ints[n]))
					return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" element %d is not an integer",
								   node, pi_op_name(op), key, n);
				n++;
			}
			return pi_attr_set_ints(op, a, node, key, ints, n, err);
		case PI_ATTR_FLOAT:
			if (!cJSON_IsNumber(v))
				break;
			return pi_attr_set_float(op, a, node, key, (float) v->valuedouble, err);
		case PI_ATTR_STRING:
			if (!cJSON_IsString(v))
				break;
			return pi_attr_set_string(op, a, node, key, v->valuestring, err);
		case PI_ATTR_UNKNOWN:
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has unknown attribute \"%s\"",
						   node, pi_op_name(op), key);
	}
	if (!pi_op_accepts_attr(op, key))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has unknown attribute \"%s\"",
					   node, pi_op_name(op), key);
	return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" must be %s",
				   node, pi_op_name(op), key,
				   pi_attr_type(key) == PI_ATTR_INT ? "an integer" :
				   pi_attr_type(key) == PI_ATTR_INTS ? "a list of integers" :
				   pi_attr_type(key) == PI_ATTR_FLOAT ? "a number" : "a string");
}

/* Reads a string field of an object. */
static const char *
get_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Adds the graph inputs. */
static PiStatus
load_inputs(PiModel *m, const cJSON *inputs, PiError *err)
{
	const cJSON *in;

	if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) < 1 || cJSON_GetArraySize(inputs) > 16)
		return pi_fail(err, PI_ERR_INVALID, "graph \"inputs\" must be a list of 1 to 16 inputs");
	cJSON_ArrayForEach(in, inputs)
	{
		const char *name = get_string(in, "name");
		const char *dtype = get_string(in, "dtype");
		const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape");
		int64_t		dims[PI_MAX_RANK];
		int			rank,
					v;
		PiStatus	st;

		if (name == NULL || shape == NULL)
			return pi_fail(err, PI_ERR_INVALID, "each graph input needs a \"name\" and a \"shape\"");
		if (dtype != NULL && strcmp(dtype, "float32") != 0)
			return pi_fail(err, PI_ERR_DTYPE, "graph input \"%s\" has dtype \"%s\", expected \"float32\"",
						   name, dtype);
		if ((st = attr_list(shape, name, 1, PI_MAX_RANK, -1, dims, &rank, err)) != PI_OK)
			return st;
		if (dims[0] != -1)
			return pi_fail(err, PI_ERR_SHAPE, "graph input \"%s\" shape must start with -1 (the batch), found %lld",
						   name, (long long) dims[0]);
		v = pi_model_add_value(m, name, PI_VALUE_INPUT, rank, dims, NULL, err);
		if (v < 0)
			return err->status;
		m->inputs[m->ninputs++] = v;
	}
	return PI_OK;
}

/* Adds every tensor of the weights file as a weight value. */
static PiStatus
load_weights(PiModel *m, PiTensorSet *weights, PiError *err)
{
	for (int i = 0; i < weights->count; i++)
	{
		PiTensor   *t = &weights->tensors[i];
		int			v = t->borrowed ?
			pi_model_add_borrowed_weight(m, t->name, t->rank, t->dims, t->data, err) :
			pi_model_add_value(m, t->name, PI_VALUE_WEIGHT, t->rank, t->dims, t->data, err);

		t->data = NULL;			/* the model's now, or freed on failure */
		if (v < 0)
			return err->status;
	}
	return PI_OK;
}

/* Rejects unknown ops, naming every one of them. */
static PiStatus
check_ops(const cJSON *nodes, PiError *err)
{
	const cJSON *node;
	char		list[400] = "";
	int			unknown = 0;

	cJSON_ArrayForEach(node, nodes)
	{
		const char *op = get_string(node, "op");
		const char *name = get_string(node, "name");
		PiOp		dummy;

		if (op == NULL || name == NULL)
			return pi_fail(err, PI_ERR_INVALID, "each node needs a \"name\" and an \"op\"");
		if (!pi_op_from_name(op, &dummy))
		{
			size_t		used = strlen(list);

			if (used < sizeof(list) - 1)
				snprintf(list + used, sizeof(list) - used, "%snode \"%s\" (%s)",
						 unknown ? ", " : "", name, op);
			unknown++;
		}
	}
	if (unknown > 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "%d node%s with an unknown op: %s",
					   unknown, unknown > 1 ? "s" : "", list);
	return PI_OK;
}

/* Adds one node. */
static PiStatus
load_node(PiModel *m, const cJSON *node, PiError *err)
{
	const char *name = get_string(node, "name");
	const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(node, "inputs");
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(node, "attrs");
	const char *input_names[8];
	const cJSON *item;
	PiAttrs		a;
	PiOp		op;
	int			n = 0;
	PiStatus	st;

	pi_op_from_name(get_string(node, "op"), &op);
	if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) > 8)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" needs \"inputs\", a list of at most 8 names", name);
	cJSON_ArrayForEach(item, inputs)
	{
		if (!cJSON_IsString(item))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" input %d is not a string", name, n);
		input_names[n++] = item->valuestring;
	}
	pi_attrs_default(op, &a);
	if (attrs != NULL)
	{
		if (!cJSON_IsObject(attrs))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" \"attrs\" is not an object", name);
		cJSON_ArrayForEach(item, attrs)
			if ((st = parse_attr(item, name, op, &a, err)) != PI_OK)
			return st;
	}
	if (pi_model_add_node(m, name, op, input_names, n, &a, err) < 0)
		return err->status;
	return PI_OK;
}

/* Resolves the outputs' names; their declared shapes are checked later. */
static PiStatus
load_outputs(PiModel *m, const cJSON *outputs, PiError *err)
{
	const cJSON *out;

	if (!cJSON_IsArray(outputs) || cJSON_GetArraySize(outputs) < 1 || cJSON_GetArraySize(outputs) > 16)
		return pi_fail(err, PI_ERR_INVALID, "graph \"outputs\" must be a list of 1 to 16 outputs");
	cJSON_ArrayForEach(out, outputs)
	{
		const char *name = cJSON_IsString(out) ? out->valuestring : get_string(out, "name");
		const char *dtype = cJSON_IsObject(out) ? get_string(out, "dtype") : NULL;
		int			v;

		if (name == NULL)
			return pi_fail(err, PI_ERR_INVALID, "each graph output needs a \"name\"");
		if (dtype != NULL && strcmp(dtype, "float32") != 0)
			return pi_fail(err, PI_ERR_DTYPE, "graph output \"%s\" has dtype \"%s\", expected \"float32\"",
						   name, dtype);
		v = pi_model_find_value(m, name);
		if (v < 0)
			return pi_fail(err, PI_ERR_UNDEFINED, "output \"%s\" is not the name of a node", name);
		for (int i = 0; i < m->noutputs; i++)
			if (m->outputs[i] == v)
				return pi_fail(err, PI_ERR_DUPLICATE, "output \"%s\" is listed twice", name);
		m->outputs[m->noutputs++] = v;
	}
	return PI_OK;
}

/* Compares declared output shapes with the inferred ones. */
static PiStatus
check_output_shapes(PiModel *m, const cJSON *outputs, PiError *err)
{
	const cJSON *out;
	int			i = 0;

	cJSON_ArrayForEach(out, outputs)
	{
		const cJSON *shape = cJSON_IsObject(out) ? cJSON_GetObjectItemCaseSensitive(out, "shape") : NULL;
		const PiValue *v = &m->values[m->outputs[i++]];
		int64_t		dims[PI_MAX_RANK];
		int			rank;
		PiStatus	st;
		char		buf[96];

		if (shape == NULL)
			continue;
		if ((st = attr_list(shape, v->name, 1, PI_MAX_RANK, -1, dims, &rank, err)) != PI_OK)
			return st;
		dims[0] = -1;
		if (rank != v->rank || memcmp(dims + 1, v->dims + 1, sizeof(int64_t) * (rank - 1)) != 0)
			return pi_fail(err, PI_ERR_SHAPE, "output \"%s\" is declared with another shape than the inferred %s",
						   v->name, pi_shape_string(v, buf, sizeof(buf)));
	}
	return PI_OK;
}

/* qsort comparison of two object members by key. */
static int
compare_keys(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *) a)->string, (*(const cJSON *const *) b)->string);
}

/*
 * A key that appears twice in one object of the tree, or NULL.  cJSON keeps
 * every member and its lookups find the first, whereas PostgreSQL's jsonb,
 * which the catalog stores, keeps the last: such a graph would be validated
 * as one model and run as another.
 */
static const char *
duplicate_key(const cJSON *item)
{
	const cJSON *child;
	const char *dup = NULL;
	int			n = 0;

	cJSON_ArrayForEach(child, item)
	{
		if ((dup = duplicate_key(child)) != NULL)
			return dup;
		n++;
	}
	if (cJSON_IsObject(item) && n > 1)
	{
		const cJSON **members = malloc(sizeof(*members) * n);
		int			i = 0;

		if (members == NULL)
			return NULL;		/* the parse allocated more than this */
		cJSON_ArrayForEach(child, item)
			members[i++] = child;
		qsort(members, n, sizeof(*members), compare_keys);
		for (i = 1; i < n && dup == NULL; i++)
			if (strcmp(members[i - 1]->string, members[i]->string) == 0)
				dup = members[i]->string;
		free(members);
	}
	return dup;
}

/*
 * Builds a model from graph JSON text and its weights; takes ownership of the
 * tensors' data (the set is emptied).  The model is finalized on success.
 */
PiStatus
pi_graph_load(const char *json, size_t json_len, PiTensorSet *weights,
			  PiModel **model_out, PiError *err)
{
	cJSON	   *root = cJSON_ParseWithLength(json, json_len);
	const cJSON *item;
	const cJSON *nodes;
	const char *dup;
	PiModel    *m = NULL;
	PiStatus	st;

	*model_out = NULL;
	if (root == NULL || !cJSON_IsObject(root))
	{
		st = pi_fail(err, PI_ERR_CORRUPT, "graph is not a JSON object");
		goto done;
	}
	if ((dup = duplicate_key(root)) != NULL)
	{
		st = pi_fail(err, PI_ERR_INVALID, "graph has the key \"%s\" twice in one object", dup);
		goto done;
	}
	cJSON_ArrayForEach(item, root)
	{
		static const char *const keys[] = {"format", "version", "inputs", "outputs", "nodes", "metadata"};
		bool		known = false;

		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			known |= (strcmp(item->string, keys[k]) == 0);
		if (!known)
		{
			st = pi_fail(err, PI_ERR_INVALID, "graph has unknown key \"%s\"", item->string);
			goto done;
		}
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "format");
	if (!cJSON_IsString(item) || strcmp(item->valuestring, "pg_infer") != 0)
	{
		st = pi_fail(err, PI_ERR_INVALID, "graph \"format\" must be \"pg_infer\"");
		goto done;
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(item) || item->valuedouble != 1.0)
	{
		st = pi_fail(err, PI_ERR_UNSUPPORTED, "graph \"version\" must be 1");
		goto done;
	}
	nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
	if (!cJSON_IsArray(nodes) || cJSON_GetArraySize(nodes) < 1 || cJSON_GetArraySize(nodes) > MAX_NODES)
	{
		st = pi_fail(err, PI_ERR_INVALID, "graph \"nodes\" must be a list of 1 to %d nodes", MAX_NODES);
		goto done;
	}
	if ((m = pi_model_new()) == NULL)
	{
		st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((st = check_ops(nodes, err)) != PI_OK ||
		(st = load_inputs(m, cJSON_GetObjectItemCaseSensitive(root, "inputs"), err)) != PI_OK ||
		(st = load_weights(m, weights, err)) != PI_OK)
		goto done;
	cJSON_ArrayForEach(item, nodes)
		if ((st = load_node(m, item, err)) != PI_OK)
		goto done;
	if ((st = load_outputs(m, cJSON_GetObjectItemCaseSensitive(root, "outputs"), err)) != PI_OK ||
		(st = pi_model_finalize(m, err)) != PI_OK ||
		(st = check_output_shapes(m, cJSON_GetObjectItemCaseSensitive(root, "outputs"), err)) != PI_OK)
		goto done;
	*model_out = m;
	m = NULL;

done:
	pi_model_free(m);
	pi_tensor_set_free(weights);
	cJSON_Delete(root);
	return st;
}

/* Convenience: parses both files and loads the model. */
PiStatus
pi_model_load(const char *json, size_t json_len, const uint8_t *weights,
			  size_t weights_len, PiModel **model_out, PiError *err)
{
	PiTensorSet set;
	PiStatus	st = pi_safetensors_parse(weights, weights_len, &set, err);

	*model_out = NULL;
	if (st != PI_OK)
		return st;
	return pi_graph_load(json, json_len, &set, model_out, err);
}

/* The same, the model's float32 weights pointing into weights where they can. */
PiStatus
pi_model_load_in_place(const char *json, size_t json_len, const uint8_t *weights,
					   size_t weights_len, PiModel **model_out, PiError *err)
{
	PiTensorSet set;
	PiStatus	st = pi_safetensors_parse_in_place(weights, weights_len, &set, err);

	*model_out = NULL;
	if (st != PI_OK)
		return st;
	return pi_graph_load(json, json_len, &set, model_out, err);
}
