/*
 * onnx_convert_encode.c
 *	  Lowering of the ai.onnx.ml operators that map values: LabelEncoder
 *	  and CategoryMapper (a Lookup node over sorted keys) and
 *	  ArrayFeatureExtractor (class labels from constant lists, or columns of
 *	  an activation).  String keys are the indexes of the categories in the
 *	  input's list; string values make a list of labels for the output
 *	  (onnx_strings.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

/* One side of a mapping: count strings, or count numbers. */
typedef struct MapSide
{
	int64_t		count;
	const char *const *strings; /* NULL for numbers */
	double	   *numbers;		/* malloc'd */
} MapSide;

/* The keys, values and default of a LabelEncoder or CategoryMapper. */
typedef struct Mapping
{
	MapSide		keys;
	MapSide		values;
	const char *default_string; /* for string values */
	double		default_number; /* for numeric values */
} Mapping;

/* Frees a mapping's numbers. */
static void
mapping_free(Mapping *m)
{
	free(m->keys.numbers);
	free(m->values.numbers);
}

/* Side from a tensor attribute (strings or numbers); false when absent. */
static PiStatus
side_from_tensor(OnnxCv *c, const char *name, MapSide *side, bool *found)
{
	const OnnxAttr *a = onnx_attr(c->n, name);

	*found = (a != NULL && a->t != NULL);
	if (!*found)
		return PI_OK;
	side->count = a->t->numel;
	if (a->t->data_type == ONNX_STRING)
	{
		if (a->t->nstrings != a->t->numel)
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" has %lld strings for %lld elements",
						   onnx_cv_label(c), c->n->op_type, name, (long long) a->t->nstrings,
						   (long long) a->t->numel);
		side->strings = a->t->strings;
		return PI_OK;
	}
	return onnx_tensor_doubles(a->t, c->im->external, c->im->external_len, &side->numbers, c->err);
}

/* Side from the first present list attribute among strings, ints, floats names. */
static PiStatus
side_from_lists(OnnxCv *c, const char *strings, const char *ints, const char *floats, MapSide *side)
{
	const OnnxAttr *s = strings ? onnx_attr(c->n, strings) : NULL;
	const OnnxAttr *i = ints ? onnx_attr(c->n, ints) : NULL;
	const OnnxAttr *f = floats ? onnx_attr(c->n, floats) : NULL;

	if (s != NULL)
	{
		side->count = s->nstrings;
		side->strings = s->strings;
		return PI_OK;
	}
	side->count = i ? i->nints : f ? f->nfloats : 0;
	if ((side->numbers = malloc(sizeof(double) * (side->count + 1))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t k = 0; k < side->count; k++)
		side->numbers[k] = i ? (double) i->ints[k] : (double) f->floats[k];
	return PI_OK;
}

/* Positions 0..count-1 as a numeric side. */
static PiStatus
side_positions(OnnxCv *c, int64_t count, MapSide *side)
{
	side->count = count;
	if ((side->numbers = malloc(sizeof(double) * (count + 1))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t k = 0; k < count; k++)
		side->numbers[k] = (double) k;
	return PI_OK;
}

/*
 * The mapping of a LabelEncoder: opset 1's classes_strings (strings to
 * their positions, or positions to strings, by the input's type), opset
 * 2's keys_* and values_* lists, or opset 4's tensors.
 */
static PiStatus
label_encoder_mapping(OnnxCv *c, bool string_input, Mapping *m)
{
	const OnnxAttr *def;
	bool		found;

	if (c->im->ml_opset < 2)
	{
		const OnnxAttr *classes = onnx_attr(c->n, "classes_strings");
		MapSide		names = {classes ? classes->nstrings : 0, classes ? classes->strings : NULL, NULL};

		if (string_input)
		{
			m->keys = names;
			TRY(side_positions(c, names.count, &m->values));
		}
		else
		{
			TRY(side_positions(c, names.count, &m->keys));
			m->values = names;
		}
		m->default_string = onnx_attr_string(c->n, "default_string", "_Unused");
		m->default_number = (double) onnx_attr_int(c->n, "default_int64", -1);
		return PI_OK;
	}
	TRY(side_from_tensor(c, "keys_tensor", &m->keys, &found));
	if (!found)
		TRY(side_from_lists(c, "keys_strings", "keys_int64s", "keys_floats", &m->keys));
	TRY(side_from_tensor(c, "values_tensor", &m->values, &found));
	if (!found)
		TRY(side_from_lists(c, "values_strings", "values_int64s", "values_floats", &m->values));
	m->default_string = onnx_attr_string(c->n, "default_string", "_Unused");
	m->default_number = onnx_attr(c->n, "default_int64") ? (double) onnx_attr_int(c->n, "default_int64", -1) :
		onnx_attr(c->n, "default_float") ? (double) onnx_attr_float(c->n, "default_float", 0.0f) :
		m->values.strings == NULL && onnx_attr(c->n, "values_int64s") ? -1.0 : -0.0;
	def = onnx_attr(c->n, "default_tensor");
	if (def != NULL && def->t != NULL)
	{
		MapSide		d = {0};

		TRY(side_from_tensor(c, "default_tensor", &d, &found));
		if (d.count != 1)
		{
			free(d.numbers);
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (LabelEncoder) default_tensor must hold one value",
						   onnx_cv_label(c));
		}
		if (d.strings)
			m->default_string = d.strings[0];
		else
			m->default_number = d.numbers[0];
		free(d.numbers);
	}
	return PI_OK;
}

/* The mapping of a CategoryMapper: cats_strings <-> cats_int64s, by the input's type. */
static PiStatus
category_mapper_mapping(OnnxCv *c, bool string_input, Mapping *m)
{
	MapSide		strings = {0},
				ints = {0};

	TRY(side_from_lists(c, "cats_strings", NULL, NULL, &strings));
	TRY(side_from_lists(c, NULL, "cats_int64s", NULL, &ints));
	m->keys = string_input ? strings : ints;
	m->values = string_input ? ints : strings;
	m->default_string = onnx_attr_string(c->n, "default_string", "_Unused");
	m->default_number = (double) onnx_attr_int(c->n, "default_int64", -1);
	return PI_OK;
}

/* A key and its value, for sorting. */
typedef struct KeyValue
{
	float		key;
	float		value;
} KeyValue;

/* qsort comparator: by key, NaN last. */
static int
compare_keys(const void *a, const void *b)
{
	float		x = ((const KeyValue *) a)->key,
				y = ((const KeyValue *) b)->key;

	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	return (x > y) - (x < y);
}

/* A number as a float32 key or value; int64 beyond 2^24 is refused. */
static PiStatus
exact_float(OnnxCv *c, double v, float *out)
{
	if (v == floor(v) && fabs(v) > 16777216.0)
		return pi_fail(c->err, PI_ERR_DTYPE, "node \"%s\" (%s) maps %.0f, beyond the float32-exact range of 2^24",
					   onnx_cv_label(c), c->n->op_type, v);
	*out = (float) v;
	return PI_OK;
}

/*
 * Emits the Lookup of a mapping over input 0 as output 0: keys as floats
 * (string keys as category indexes of the input's list), values as floats
 * or, for strings, as indexes into a new list of labels for the output.
 */
static PiStatus
emit_lookup(OnnxCv *c, const Mapping *m, KeyValue *pairs)
{
	PiStrings  *list = c->in[0]->strings;
	PiStrings  *labels = NULL;
	int64_t		n = 0;
	float		dflt = 0.0f;
	float	   *keys,
			   *values;
	int			inputs[3];
	int			out;
	PiAttrs		a;
	PiStatus	st = PI_OK;

	if (m->values.strings != NULL)
	{
		int			index;

		if ((labels = onnx_strings_new(c->im)) == NULL)
			return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
		for (int64_t k = 0; k < m->values.count; k++)
			if (pi_strings_add(labels, m->values.strings[k]) < 0)
				return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
		if ((index = pi_strings_add(labels, m->default_string)) < 0 || !pi_strings_seal(labels))
			return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
		dflt = (float) index;
	}
	else
		TRY(exact_float(c, m->default_number, &dflt));
	for (int64_t k = 0; k < m->keys.count; k++)
	{
		int			index;

		if (list != NULL)
			TRY(onnx_strings_index(list, m->keys.strings[k], &index, c->err));
		else
			TRY(exact_float(c, m->keys.numbers[k], &pairs[n].key));
		if (list != NULL && index == -2)
			continue;			/* a label the input never holds */
		if (list != NULL)
			pairs[n].key = (float) index;
		if (labels != NULL)
			pairs[n].value = (float) pi_strings_find(labels, m->values.strings[k],
													 strlen(m->values.strings[k]));
		else
			TRY(exact_float(c, m->values.numbers[k], &pairs[n].value));
		n++;
	}
	if (n == 0)
	{
		/* no key the input can hold: every row gets the default */
		pairs[0].key = -2.0f;
		pairs[0].value = dflt;
		n = 1;
	}
	qsort(pairs, n, sizeof(KeyValue), compare_keys);
	for (int64_t k = 1; k < n; k++)
		if (pairs[k].key == pairs[k - 1].key || (isnan(pairs[k].key) && isnan(pairs[k - 1].key)))
			return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) lists a key twice",
						   onnx_cv_label(c), c->n->op_type);
	keys = malloc(sizeof(float) * n);
	values = malloc(sizeof(float) * n);
	if (keys == NULL || values == NULL)
		st = pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t k = 0; st == PI_OK && k < n; k++)
	{
		keys[k] = pairs[k].key;
		values[k] = pairs[k].value;
	}
	if (st == PI_OK)
		st = onnx_cv_weight(c, "keys", keys, 1, &n, &inputs[1]);
	if (st == PI_OK)
		st = onnx_cv_weight(c, "values", values, 1, &n, &inputs[2]);
	free(keys);
	free(values);
	if (st != PI_OK)
		return st;
	TRY(onnx_cv_value(c, 0, &inputs[0]));
	pi_attrs_default(PI_OP_LOOKUP, &a);
	TRY(pi_attr_set_float(PI_OP_LOOKUP, &a, onnx_cv_label(c), "default", dflt, c->err));
	if (labels == NULL)
		return onnx_cv_finish_output(c, 0, PI_OP_LOOKUP, inputs, 3, &a);
	TRY(onnx_emit(c->im, c->n->outputs[0], PI_OP_LOOKUP, inputs, 3, &a, &out, c->err));
	return onnx_strings_define(c, 0, out, labels, false);
}

/* LabelEncoder and CategoryMapper: a Lookup of each element's value. */
PiStatus
onnx_cv_label_encoder(OnnxCv *c)
{
	bool		string_input = c->in[0] != NULL && c->in[0]->strings != NULL;
	Mapping		m;
	KeyValue   *pairs;
	PiStatus	st;

	memset(&m, 0, sizeof(m));
	if (string_input && c->in[0]->strings_ints)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) maps class labels, which is not supported",
					   onnx_cv_label(c), c->n->op_type);
	st = strcmp(c->n->op_type, "CategoryMapper") == 0 ? category_mapper_mapping(c, string_input, &m) :
		label_encoder_mapping(c, string_input, &m);
	if (st == PI_OK && (m.keys.count != m.values.count || m.keys.count == 0))
		st = pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has %lld keys and %lld values",
					 onnx_cv_label(c), c->n->op_type, (long long) m.keys.count, (long long) m.values.count);
	if (st == PI_OK && (m.keys.strings != NULL) != string_input)
		st = pi_fail(c->err, PI_ERR_DTYPE, "node \"%s\" (%s) has %s keys, but its input holds %s",
					 onnx_cv_label(c), c->n->op_type, m.keys.strings ? "string" : "numeric",
					 string_input ? "strings" : "numbers");
	if (st == PI_OK)
	{
		if ((pairs = malloc(sizeof(KeyValue) * (m.keys.count + 1))) == NULL)
			st = pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
		else
		{
			st = emit_lookup(c, &m, pairs);
			free(pairs);
		}
	}
	mapping_free(&m);
	return st;
}

/*
 * ArrayFeatureExtractor.  Over a 1-D constant of class labels (strings
 * or integers) with computed indexes, as scikit-learn classifiers end:
 * the indexes themselves, with the labels as their list.  Over other
 * constant numbers: a Gather of them.  Over an activation with constant
 * indexes: a Gather of those columns of its last axis.
 */
PiStatus
onnx_cv_array_feature_extractor(OnnxCv *c)
{
	OnnxEntry  *data = c->in[0];
	const OnnxTensor *t = data ? data->tensor : NULL;
	OnnxConst  *k;
	int			index;
	PiAttrs		a;

	if (data == NULL || !onnx_cv_has_input(c, 1))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (ArrayFeatureExtractor) needs two inputs", onnx_cv_label(c));
	if (data->kind == ENTRY_ACT)
	{
		const int64_t *indices;
		int			count;
		int64_t		axis = onnx_cv_shape(c, data->value)->rank - 1;

		TRY(onnx_cv_ints(c, 1, &indices, &count));
		pi_attrs_default(PI_OP_GATHER, &a);
		TRY(onnx_cv_set_int(c, PI_OP_GATHER, &a, "axis", axis));
		return onnx_cv_finish(c, PI_OP_GATHER, 2, &a);
	}
	TRY(onnx_cv_value(c, 1, &index));
	if (t != NULL && t->data_type == ONNX_STRING)
	{
		PiStrings  *labels;

		if (t->rank != 1 || t->nstrings != t->numel)
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (ArrayFeatureExtractor) takes strings from a 1-D constant only",
						   onnx_cv_label(c));
		TRY(onnx_strings_labels(c->im, onnx_cv_label(c), t->strings, NULL, (int) t->numel, &labels, c->err));
		return onnx_strings_define(c, 0, index, labels, false);
	}
	TRY(onnx_cv_const(c, 0, &k));
	if (k->rank != 1)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (ArrayFeatureExtractor) is supported on 1-D constants only",
					   onnx_cv_label(c));
	if (k->is_int)
	{
		PiStrings  *labels;

		TRY(onnx_strings_labels(c->im, onnx_cv_label(c), NULL, k->ints, (int) k->numel, &labels, c->err));
		return onnx_strings_define(c, 0, index, labels, true);
	}
	pi_attrs_default(PI_OP_GATHER, &a);
	TRY(onnx_cv_set_int(c, PI_OP_GATHER, &a, "axis", 0));
	return onnx_cv_finish(c, PI_OP_GATHER, 2, &a);
}
