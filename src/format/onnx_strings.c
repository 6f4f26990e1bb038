/*
 * onnx_strings.c
 *	  Strings in an imported graph.  The engine computes on float32 only,
 *	  so a tensor of strings is carried as the indexes of its strings in a
 *	  list (PiStrings, src/ir/strings.c) that the importer tracks beside the
 *	  tensor's entry:
 *
 *	  - a STRING graph input gets a list of the categories the operators
 *	    reading it know (OneHotEncoder's cats_strings, LabelEncoder's
 *	    keys...), built as they are converted; the SQL layer turns each text
 *	    into its index (-1 for a category no operator knows);
 *	  - a classifier's label output, LabelEncoder's string values and
 *	    ArrayFeatureExtractor over constant class labels produce class
 *	    indexes with the list of labels, int64 labels written in decimal.
 *
 *	  Ops that only move elements (Identity, Reshape, Gather, Concat...)
 *	  carry the list along; the string operators read it.  Any other op
 *	  given int64 labels gets their values (a Gather of the numbers); given
 *	  category strings, it is refused.  A graph output with a list keeps it:
 *	  its rows are class indexes and the list says their labels.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

/* A list owned by the import (freed at its end); NULL when out of memory. */
PiStrings *
onnx_strings_new(OnnxImporter *im)
{
	PiStrings  *s;

	if (im->nlists == im->lists_cap)
	{
		int			cap = im->lists_cap ? im->lists_cap * 2 : 8;
		PiStrings **lists = realloc(im->lists, sizeof(PiStrings *) * cap);

		if (lists == NULL)
			return NULL;
		im->lists = lists;
		im->lists_cap = cap;
	}
	if ((s = pi_strings_new()) == NULL)
		return NULL;
	im->lists[im->nlists++] = s;
	return s;
}

/* Frees the lists the import made. */
void
onnx_strings_free(OnnxImporter *im)
{
	for (int i = 0; i < im->nlists; i++)
		pi_strings_free(im->lists[i]);
	free(im->lists);
}

/*
 * The index of category str in s: a complete (sealed) list says where it
 * is, or -2 (an index no row holds); a string input's list grows.
 */
PiStatus
onnx_strings_index(PiStrings *s, const char *str, int *index, PiError *err)
{
	if (s->sorted != NULL)
	{
		*index = pi_strings_find(s, str, strlen(str));
		if (*index < 0)
			*index = -2;
		return PI_OK;
	}
	if ((*index = pi_strings_add(s, str)) < 0)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	return PI_OK;
}

/*
 * A sealed list of labels: count strings, or count int64 values written
 * in decimal when strings is NULL.  Repeated labels are refused.
 */
PiStatus
onnx_strings_labels(OnnxImporter *im, const char *what, const char *const *strings,
					const int64_t *ints, int count, PiStrings **out, PiError *err)
{
	PiStrings  *s = onnx_strings_new(im);

	if (s == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int i = 0; i < count; i++)
	{
		char		number[32];
		const char *label = strings ? strings[i] : number;

		if (strings == NULL)
			snprintf(number, sizeof(number), "%" PRId64, ints[i]);
		if (pi_strings_add(s, label) < 0)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		if (s->count != i + 1)
			return pi_fail(err, PI_ERR_INVALID, "%s lists the label \"%.64s\" twice", what, label);
	}
	if (!pi_strings_seal(s))
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	*out = s;
	return PI_OK;
}

/* Gives a STRING graph input (entry e, model input i) its list of categories. */
PiStatus
onnx_strings_input(OnnxImporter *im, OnnxEntry *e, int input, PiError *err)
{
	if ((im->model->input_strings[input] = pi_strings_new()) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	e->strings = im->model->input_strings[input];
	e->strings_ints = false;
	return PI_OK;
}

/* Defines output o of the node as value, holding indexes into labels. */
PiStatus
onnx_strings_define(OnnxCv *c, int o, int value, PiStrings *labels, bool ints)
{
	OnnxEntry  *e;

	TRY(onnx_define(c->im, c->n->outputs[o], NULL, value, c->err));
	e = onnx_entry(c->im, c->n->outputs[o]);
	e->strings = labels;
	e->strings_ints = ints;
	e->is_int = true;
	return PI_OK;
}

/*
 * Whether op n only moves the elements of e, its input 0 (any input of
 * Concat), and so carries e's list: Cast too, to STRING, or int64 labels
 * to INT64.
 */
static bool
moves_elements(const OnnxNode *n, const OnnxEntry *e)
{
	static const char *const ops[] = {
		"Identity", "Dropout", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Slice",
		"Transpose", "Expand", "Concat", "Gather", "ArrayFeatureExtractor", NULL
	};

	if (strcmp(n->op_type, "Cast") == 0)
		return onnx_attr_int(n, "to", 0) == ONNX_STRING ||
			(onnx_attr_int(n, "to", 0) == ONNX_INT64 && e->strings_ints);
	for (int i = 0; ops[i]; i++)
		if (strcmp(n->op_type, ops[i]) == 0)
			return true;
	return false;
}

/* Ops that read strings at input 0 themselves. */
static bool
reads_strings(const OnnxNode *n)
{
	return strcmp(n->domain, "ai.onnx.ml") == 0 &&
		(strcmp(n->op_type, "OneHotEncoder") == 0 || strcmp(n->op_type, "LabelEncoder") == 0 ||
		 strcmp(n->op_type, "CategoryMapper") == 0);
}

/* Replaces e's class indexes by the int64 labels they stand for, in copy. */
static PiStatus
materialize(OnnxImporter *im, const OnnxNode *n, OnnxEntry *e, OnnxEntry *copy, PiError *err)
{
	int64_t		count = e->strings->count;
	float	   *values = malloc(sizeof(float) * (count + 1));
	char		name[PI_MAX_NAME];
	int			inputs[2];
	PiAttrs		a;

	if (values == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < count; i++)
	{
		long long	v = strtoll(e->strings->items[i], NULL, 10);

		if (v > 16777216 || v < -16777216)
		{
			free(values);
			return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) reads the class label %lld as a number, beyond the float32-exact range of 2^24",
						   onnx_node_label(n), n->op_type, v);
		}
		values[i] = (float) v;
	}
	onnx_unique_name(im, e->name, "labels", name);
	TRY(onnx_add_weight(im, name, 1, &count, values, &inputs[0], err));
	inputs[1] = e->value;
	pi_attrs_default(PI_OP_GATHER, &a);
	onnx_unique_name(im, e->name, "label_values", name);
	*copy = *e;
	copy->strings = NULL;
	copy->is_int = true;
	return onnx_emit(im, name, PI_OP_GATHER, inputs, 2, &a, &copy->value, err);
}

/*
 * Before node n is lowered: checks the lists of its inputs.  An op that
 * moves elements takes one list (Concat: the same on all inputs), the
 * string operators read theirs; any other op gets int64 labels' values
 * (in copies[i], which in[i] then points to) and refuses other strings.
 */
PiStatus
onnx_strings_prepare(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in,
					 OnnxEntry *copies, int ncopies, PiError *err)
{
	for (int i = 0; i < n->ninputs; i++)
	{
		OnnxEntry  *e = in[i];

		if (e == NULL || e->strings == NULL)
			continue;
		if (moves_elements(n, e) && (i == 0 || strcmp(n->op_type, "Concat") == 0))
		{
			if (strcmp(n->op_type, "Concat") == 0 && (in[0] == NULL || in[0]->strings != e->strings))
				return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (Concat) joins tensors of different strings or of strings and numbers",
							   onnx_node_label(n));
			continue;
		}
		if (reads_strings(n) && i == 0)
			continue;
		if (!e->strings_ints)
			return pi_fail(err, PI_ERR_DTYPE, "node \"%s\" (%s) input \"%s\" holds strings, which it does not take",
						   onnx_node_label(n), n->op_type, e->name);
		if (i >= ncopies)
			return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (%s) reads class labels as numbers at input %d, the limit is %d",
						   onnx_node_label(n), n->op_type, i, ncopies);
		TRY(materialize(im, n, e, &copies[i], err));
		in[i] = &copies[i];
	}
	return PI_OK;
}

/* After node n is lowered: outputs of ops that move elements keep input 0's list. */
void
onnx_strings_propagate(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in)
{
	OnnxEntry  *out;

	if (n->ninputs == 0 || in[0] == NULL || in[0]->strings == NULL || !moves_elements(n, in[0]))
		return;
	for (int o = 0; o < n->noutputs; o++)
		if (n->outputs[o][0] != '\0' && (out = onnx_entry(im, n->outputs[o])) != NULL &&
			out->kind == ENTRY_ACT && out->strings == NULL)
		{
			out->strings = in[0]->strings;
			out->strings_ints = in[0]->strings_ints;
		}
}

/*
 * Once every node is lowered: seals the inputs' lists of categories and
 * gives every output that holds labels (or categories) its own copy.
 */
PiStatus
onnx_strings_finish(OnnxImporter *im, PiError *err)
{
	PiModel    *m = im->model;
	bool		ok = true;

	for (int i = 0; i < m->ninputs; i++)
		if (m->input_strings[i] != NULL && !pi_strings_seal(m->input_strings[i]))
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int o = 0; o < im->graph->noutputs; o++)
	{
		OnnxEntry  *e = onnx_entry(im, im->graph->outputs[o].name);

		if (e != NULL && e->strings != NULL &&
			(m->output_labels[o] = pi_strings_copy(e->strings, &ok)) == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	return ok ? PI_OK : pi_fail(err, PI_ERR_NOMEM, "out of memory");
}
