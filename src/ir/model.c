/*
 * model.c
 *	  Building a PiModel: values, nodes, the name map, errors.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_ir.h"

/* Open-addressing map from a name to a value index. */
typedef struct PiNameMap
{
	int		   *slots;			/* value index, or -1 when empty */
	int			cap;			/* power of two */
	int			count;
} PiNameMap;

/* Inserts index under its value's name; the map grows at half load. */
static bool
name_map_insert(PiModel *model, int index)
{
	PiNameMap  *map = model->names;

	if ((map->count + 1) * 2 > map->cap)
	{
		int			newcap = map->cap ? map->cap * 2 : 64;
		int		   *slots = malloc(sizeof(int) * newcap);

		if (slots == NULL)
			return false;
		memset(slots, 0xff, sizeof(int) * newcap);
		for (int i = 0; i < map->cap; i++)
		{
			int			v = map->slots[i];
			uint32_t	j;

			if (v < 0)
				continue;
			j = pi_name_hash(model->values[v].name) & (newcap - 1);
			while (slots[j] >= 0)
				j = (j + 1) & (newcap - 1);
			slots[j] = v;
		}
		free(map->slots);
		map->slots = slots;
		map->cap = newcap;
	}
	{
		uint32_t	j = pi_name_hash(model->values[index].name) & (map->cap - 1);

		while (map->slots[j] >= 0)
			j = (j + 1) & (map->cap - 1);
		map->slots[j] = index;
		map->count++;
	}
	return true;
}

/* Installed by the host program (see pi_ir.h). */
bool		(*pi_interrupt_pending_hook) (void) = NULL;

/* Records a failure in err (which may be NULL) and returns status. */
PiStatus
pi_fail(PiError *err, PiStatus status, const char *fmt,...)
{
	if (err != NULL)
	{
		va_list		ap;

		err->status = status;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return status;
}

/* Allocates an empty model; NULL when out of memory. */
PiModel *
pi_model_new(void)
{
	PiModel    *model = calloc(1, sizeof(PiModel));

	if (model == NULL)
		return NULL;
	model->names = calloc(1, sizeof(PiNameMap));
	if (model->names == NULL)
	{
		free(model);
		return NULL;
	}
	return model;
}

/* Frees a model and everything it owns; NULL is allowed. */
void
pi_model_free(PiModel *model)
{
	if (model == NULL)
		return;
	for (int i = 0; i < model->nvalues; i++)
	{
		free(model->values[i].name);
		if (!model->weights_borrowed && !model->values[i].data_borrowed)
			free(model->values[i].data);
	}
	for (int i = 0; i < model->nnodes; i++)
	{
		free(model->nodes[i].name);
		free(model->nodes[i].inputs);
	}
	free(model->values);
	free(model->nodes);
	free(model->order);
	free(model->buffer_row_elems);
	free(model->input_scale);
	free(model->input_shift);
	for (int i = 0; i < PI_MAX_MODEL_IO; i++)
	{
		pi_strings_free(model->input_strings[i]);
		pi_strings_free(model->output_labels[i]);
	}
	if (model->names)
		free(model->names->slots);
	free(model->names);
	free(model);
}

/* Indexes every value's name (for a model built without add_value). */
bool
pi_model_index_names(PiModel *model)
{
	for (int i = 0; i < model->nvalues; i++)
		if (!name_map_insert(model, i))
			return false;
	return true;
}

/* Index of the value with this name, or -1. */
int
pi_model_find_value(const PiModel *model, const char *name)
{
	const PiNameMap *map = model->names;
	uint32_t	j;

	if (map->cap == 0)
		return -1;
	j = pi_name_hash(name) & (map->cap - 1);
	while (map->slots[j] >= 0)
	{
		if (strcmp(model->values[map->slots[j]].name, name) == 0)
			return map->slots[j];
		j = (j + 1) & (map->cap - 1);
	}
	return -1;
}

/* Checks a name's length and uniqueness. */
static PiStatus
check_new_name(const PiModel *model, const char *name, PiError *err)
{
	size_t		len = strlen(name);

	if (len == 0)
		return pi_fail(err, PI_ERR_INVALID, "empty tensor or node name");
	if (len >= PI_MAX_NAME)
		return pi_fail(err, PI_ERR_LIMIT, "name \"%.40s...\" is %zu bytes long, the limit is %d",
					   name, len, PI_MAX_NAME - 1);
	if (pi_model_find_value(model, name) >= 0)
		return pi_fail(err, PI_ERR_DUPLICATE, "name \"%s\" is defined more than once", name);
	return PI_OK;
}

/*
 * Adds a value with data (owned, or borrowed); returns the index, or -1 with
 * data left to the caller.
 */
static int
add_value(PiModel *model, const char *name, PiValueKind kind, int rank, const int64_t *dims,
		  float *data, bool borrowed, PiError *err)
{
	PiValue    *v;
	int64_t		numel = 1;

	if (check_new_name(model, name, err) != PI_OK)
		return -1;
	if (rank < 0 || rank > PI_MAX_RANK)
	{
		pi_fail(err, PI_ERR_LIMIT, "tensor \"%s\" has rank %d, the limit is %d",
				name, rank, PI_MAX_RANK);
		return -1;
	}
	for (int i = (kind == PI_VALUE_WEIGHT ? 0 : 1); i < rank; i++)
	{
		if (dims[i] <= 0 && !(kind == PI_VALUE_WEIGHT && dims[i] == 0))
		{
			pi_fail(err, PI_ERR_SHAPE, "tensor \"%s\" has dimension %d of size %lld, expected a positive size",
					name, i, (long long) dims[i]);
			return -1;
		}
		if (!pi_mul_size(numel, dims[i], &numel) || numel > ((int64_t) 1 << 40))
		{
			pi_fail(err, PI_ERR_LIMIT, "tensor \"%s\" has too many elements", name);
			return -1;
		}
	}
	if (model->nvalues == model->values_cap)
	{
		int			cap = model->values_cap ? model->values_cap * 2 : 32;
		PiValue    *values = realloc(model->values, sizeof(PiValue) * cap);

		if (values == NULL)
		{
			pi_fail(err, PI_ERR_NOMEM, "out of memory");
			return -1;
		}
		model->values = values;
		model->values_cap = cap;
	}
	v = &model->values[model->nvalues];
	memset(v, 0, sizeof(*v));
	v->name = strdup(name);
	if (v->name == NULL)
	{
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return -1;
	}
	v->kind = kind;
	v->rank = rank;
	if (rank > 0)
		memcpy(v->dims, dims, sizeof(int64_t) * rank);
	if (kind != PI_VALUE_WEIGHT && rank > 0)
		v->dims[0] = -1;
	v->numel = numel;
	v->producer = -1;
	v->buffer = -1;
	v->shape_known = (kind != PI_VALUE_NODE);
	model->nvalues++;
	if (!name_map_insert(model, model->nvalues - 1))
	{
		free(v->name);
		model->nvalues--;
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return -1;
	}
	v->data = data;
	v->data_borrowed = borrowed;
	return model->nvalues - 1;
}

/* Adds a value; takes ownership of data.  Returns the index or -1. */
int
pi_model_add_value(PiModel *model, const char *name, PiValueKind kind,
				   int rank, const int64_t *dims, float *data, PiError *err)
{
	int			v = add_value(model, name, kind, rank, dims, data, false, err);

	if (v < 0)
		free(data);
	return v;
}

/*
 * Adds a weight whose data stays where it is (borrowed): the caller keeps
 * it unchanged until pi_model_free.  Returns the index or -1.
 */
int
pi_model_add_borrowed_weight(PiModel *model, const char *name, int rank, const int64_t *dims,
							 const float *data, PiError *err)
{
	return add_value(model, name, PI_VALUE_WEIGHT, rank, dims, (float *) data, true, err);
}

/* Gives a weight data of its own, copying what it borrowed (before writing it). */
PiStatus
pi_value_own_data(PiValue *value, PiError *err)
{
	float	   *copy;

	if (!value->data_borrowed)
		return PI_OK;
	copy = malloc(sizeof(float) * (value->numel > 0 ? value->numel : 1));
	if (copy == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory for weight \"%s\"", value->name);
	memcpy(copy, value->data, sizeof(float) * value->numel);
	value->data = copy;
	value->data_borrowed = false;
	return PI_OK;
}

/* Gives every weight data of its own: the bytes the model borrowed may then go. */
PiStatus
pi_model_own_weights(PiModel *model, PiError *err)
{
	for (int i = 0; i < model->nvalues; i++)
	{
		PiStatus	st = pi_value_own_data(&model->values[i], err);

		if (st != PI_OK)
			return st;
	}
	return PI_OK;
}

/*
 * Whether weights a and b have the same shape and values (b's data may be
 * absent: an image keeps none for weights that only dropped nodes read).
 */
static bool
same_weight(const PiValue *a, const PiValue *b)
{
	if (b->kind != PI_VALUE_WEIGHT || a->rank != b->rank || a->numel != b->numel ||
		(a->numel > 0 && (a->data == NULL || b->data == NULL)))
		return false;
	for (int d = 0; d < a->rank; d++)
		if (a->dims[d] != b->dims[d])
			return false;
	return a->numel == 0 || memcmp(a->data, b->data, sizeof(float) * a->numel) == 0;
}

/*
 * Points model's weights that base has too (same name, shape and values)
 * at base's data, and gives the others data of their own: the bytes model
 * borrowed may then go, while base must outlive it.
 */
PiStatus
pi_model_share_weights(PiModel *model, const PiModel *base, PiError *err)
{
	for (int i = 0; i < model->nvalues; i++)
	{
		PiValue    *v = &model->values[i];
		int			j;
		PiStatus	st;

		if (v->kind != PI_VALUE_WEIGHT)
			continue;
		j = pi_model_find_value(base, v->name);
		if (j >= 0 && same_weight(v, &base->values[j]))
		{
			if (!v->data_borrowed)
				free(v->data);
			v->data = base->values[j].data;
			v->data_borrowed = true;
		}
		else if ((st = pi_value_own_data(v, err)) != PI_OK)
			return st;
	}
	model->weights_base = base;
	return PI_OK;
}

/*
 * Adds a node whose output value has the node's name; returns its index or -1.
 * Nodes may come in any order: an input naming a node not yet added becomes a
 * placeholder value (producer -2) that the node claims when it is added;
 * pi_model_finalize reports placeholders never claimed.
 */
int
pi_model_add_node(PiModel *model, const char *name, PiOp op,
				  const char *const *input_names, int ninputs,
				  const PiAttrs *attrs, PiError *err)
{
	PiNode	   *n;
	int			out;

	if (pi_op_check_arity(op, name, ninputs, err) != PI_OK)
		return -1;
	/* an earlier node may have named this one already (forward reference) */
	out = pi_model_find_value(model, name);
	if (out < 0 || model->values[out].producer != -2)
		out = pi_model_add_value(model, name, PI_VALUE_NODE, 0, NULL, NULL, err);
	if (out < 0)
		return -1;
	if (model->nnodes == model->nodes_cap)
	{
		int			cap = model->nodes_cap ? model->nodes_cap * 2 : 32;
		PiNode	   *nodes = realloc(model->nodes, sizeof(PiNode) * cap);

		if (nodes == NULL)
		{
			pi_fail(err, PI_ERR_NOMEM, "out of memory");
			return -1;
		}
		model->nodes = nodes;
		model->nodes_cap = cap;
	}
	n = &model->nodes[model->nnodes];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	n->inputs = malloc(sizeof(int) * (ninputs > 0 ? ninputs : 1));
	if (n->name == NULL || n->inputs == NULL)
	{
		free(n->name);
		free(n->inputs);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return -1;
	}
	n->op = op;
	n->ninputs = ninputs;
	n->output = out;
	n->attrs = *attrs;
	n->fused_into = -1;			/* the fusion pass decides at finalize */
	n->epilogue.output = -1;
	model->values[out].producer = model->nnodes;
	model->nnodes++;

	/* Inputs are looked up now when defined, else stay -1 until finalize. */
	for (int i = 0; i < ninputs; i++)
		n->inputs[i] = -1;
	for (int i = 0; i < ninputs; i++)
	{
		int			v = pi_model_find_value(model, input_names[i]);

		if (v < 0)
		{
			/* a placeholder, claimed when the node of that name is added */
			v = pi_model_add_value(model, input_names[i], PI_VALUE_NODE, 0, NULL, NULL, err);
			if (v < 0)
				return -1;
			model->values[v].producer = -2;	/* unresolved forward reference */
		}
		n->inputs[i] = v;
	}
	return model->nnodes - 1;
}

/* Elements per row of an activation value. */
int64_t
pi_value_row_elems(const PiValue *value)
{
	int64_t		n = 1;

	for (int i = (value->kind == PI_VALUE_WEIGHT ? 0 : 1); i < value->rank; i++)
		n *= value->dims[i];
	return n;
}

/* Formats a shape as "[-1,3,28,28]" into buf. */
const char *
pi_shape_string(const PiValue *value, char *buf, size_t len)
{
	size_t		used = 0;

	used += snprintf(buf + used, len - used, "[");
	for (int i = 0; i < value->rank && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%lld", i ? "," : "",
						 (long long) value->dims[i]);
	if (used < len)
		snprintf(buf + used, len - used, "]");
	return buf;
}

/* Sets input preprocessing x * scale + shift (len 1 or the input row size). */
PiStatus
pi_model_set_input_transform(PiModel *model, const float *scale,
							 const float *shift, int64_t len, PiError *err)
{
	int64_t		row;

	if (model->ninputs != 1)
		return pi_fail(err, PI_ERR_INVALID,
					   "input preprocessing needs a model with one input, this one has %d",
					   model->ninputs);
	row = pi_value_row_elems(&model->values[model->inputs[0]]);
	if (len != 1 && len != row)
		return pi_fail(err, PI_ERR_SHAPE,
					   "input preprocessing has %lld values, expected 1 or %lld (the input's size)",
					   (long long) len, (long long) row);
	{
		float	   *new_scale = malloc(sizeof(float) * len);
		float	   *new_shift = malloc(sizeof(float) * len);

		if (new_scale == NULL || new_shift == NULL)
		{
			free(new_scale);
			free(new_shift);
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		}
		memcpy(new_scale, scale, sizeof(float) * len);
		memcpy(new_shift, shift, sizeof(float) * len);
		free(model->input_scale);
		free(model->input_shift);
		model->input_scale = new_scale;
		model->input_shift = new_shift;
	}
	model->input_transform_len = len;
	return PI_OK;
}

/* Marks the weights that live nodes read (malloc'd, one flag per value); NULL when out of memory. */
bool *
pi_model_weights_in_use(const PiModel *m)
{
	bool	   *used = calloc(m->nvalues > 0 ? m->nvalues : 1, sizeof(bool));

	if (used == NULL)
		return NULL;
	for (int pos = 0; pos < m->norder; pos++)
	{
		const PiNode *n = &m->nodes[m->order[pos]];

		for (int i = 0; i < n->ninputs; i++)
			if (m->values[n->inputs[i]].kind == PI_VALUE_WEIGHT)
				used[n->inputs[i]] = true;
	}
	return used;
}
