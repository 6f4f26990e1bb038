/*
 * categories.c
 *	  Strings at the edges of a model (docs/onnx.md, "Strings").  The engine
 *	  computes on float32 only: a string input's row holds the index of each
 *	  text in the input's list of categories (-1 for a text no operator of
 *	  the model knows), and an output with class labels holds class indexes
 *	  that the output's list turns into labels.  Here: texts from SQL values
 *	  (text, varchar, char, name, enums, and arrays of them) become those
 *	  indexes, and class indexes become predict_class's integers and
 *	  predict_label's text.
 */
#include "pg_infer.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* A palloc'd copy of a sealed list, enough for pi_strings_find; NULL for NULL. */
PiStrings *
categories_copy(const PiStrings *s)
{
	PiStrings  *c;

	if (s == NULL)
		return NULL;
	c = palloc0(sizeof(PiStrings));
	c->count = s->count;
	c->strict = s->strict;
	c->items = palloc(sizeof(char *) * (s->count + 1));
	c->sorted = palloc(sizeof(int32) * (s->count + 1));
	for (int i = 0; i < s->count; i++)
		c->items[i] = pstrdup(s->items[i]);
	memcpy(c->sorted, s->sorted, sizeof(int32) * s->count);
	return c;
}

/*
 * The index of a text (len bytes) in an input's categories; -1 when the
 * model knows no such category, which is an error where the model says so
 * (a OneHotEncoder with handle_unknown='error'), naming the column.
 */
float
category_index(const PiStrings *list, const char *text, int len, const char *model,
			   const char *input)
{
	int			index = pi_strings_find(list, text, len);

	if (index < 0 && list->strict)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" input column \"%s\" has the category \"%.*s\", which the model does not know",
						model, input, Min(len, 64), text),
				 errdetail("The model refuses categories it was not trained on (an encoder with handle_unknown='error'); it knows %d.",
						   list->count)));
	return (float) index;
}

/* Whether values of this type can feed a string input (as their text). */
static bool
type_is_text(Oid type)
{
	return type == TEXTOID || type == VARCHAROID || type == BPCHAROID || type == NAMEOID ||
		type_is_enum(type);
}

/* The index of one datum of a text-like base type. */
static float
datum_category(Datum d, Oid type, const PiStrings *list, const char *model, const char *input)
{
	char	   *s;
	float		index;
	Oid			output;
	bool		varlena;

	if (type == TEXTOID || type == VARCHAROID)
	{
		text	   *t = DatumGetTextPP(d);

		return category_index(list, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), model, input);
	}
	if (type == BPCHAROID)
	{
		text	   *t = DatumGetTextPP(d);
		int			len = bpchartruelen((char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

		return category_index(list, VARDATA_ANY(t), len, model, input);
	}
	if (type == NAMEOID)
		return category_index(list, NameStr(*DatumGetName(d)), strlen(NameStr(*DatumGetName(d))), model, input);
	getTypeOutputInfo(type, &output, &varlena);
	s = OidOutputFunctionCall(output, d);
	index = category_index(list, s, strlen(s), model, input);
	pfree(s);
	return index;
}

/*
 * The value of a NULL in a string input: no category (-1), which an input
 * that refuses unknown categories refuses too.
 */
float
category_of_null(const PiStrings *list, const char *model, const char *input)
{
	if (list->strict)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model \"%s\" input column \"%s\" is NULL", model, input),
				 errdetail("The model refuses categories it was not trained on (an encoder with handle_unknown='error'), and NULL is none.")));
	return -1.0f;
}

/*
 * One row of a string input from a datum: a text-like value for an input
 * of one element, or an array of them (NULL elements are no category).
 */
void
categories_from_datum(Datum value, Oid type, const PiStrings *list, const char *model,
					  const char *input, float *dst, int64 expected)
{
	Oid			base = getBaseType(type);

	if (type_is_array(base))
	{
		ArrayType  *array = DatumGetArrayTypeP(value);
		Oid			elem = getBaseType(ARR_ELEMTYPE(array));
		Datum	   *values;
		bool	   *nulls;
		int			count;
		int16		typlen;
		bool		typbyval;
		char		typalign;

		if (!type_is_text(elem))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model \"%s\" input column \"%s\" is of type %s, the input takes strings",
							model, input, format_type_be(type)),
					 errhint("Pass text, varchar, an enum, or an array of them.")));
		get_typlenbyvalalign(ARR_ELEMTYPE(array), &typlen, &typbyval, &typalign);
		deconstruct_array(array, ARR_ELEMTYPE(array), typlen, typbyval, typalign, &values, &nulls, &count);
		if (count != expected)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("model \"%s\" input \"%s\" expects " INT64_FORMAT " values, got %d",
							model, input, expected, count)));
		for (int i = 0; i < count; i++)
			dst[i] = nulls[i] ? category_of_null(list, model, input) :
				datum_category(values[i], elem, list, model, input);
		return;
	}
	if (!type_is_text(base))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("model \"%s\" input column \"%s\" is of type %s, the input takes strings",
						model, input, format_type_be(type)),
				 errhint("Pass text, varchar, an enum, or an array of them.")));
	if (expected != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" input \"%s\" expects " INT64_FORMAT " values, got one string",
						model, input, expected)));
	*dst = datum_category(value, base, list, model, input);
}

/*
 * The output predict_class and predict_label read: the first output with
 * class labels, else (and for predict) the first that is not labels.
 */
int
predict_default_output(const PiModel *model, bool classes)
{
	if (classes && pi_model_label_output(model) >= 0)
		return pi_model_label_output(model);
	return pi_model_scores_output(model);
}

/*
 * predict_class's result from one row of output o: the class index an
 * output of labels holds, else the index of the largest value (the first
 * on ties); false (NULL) when there is none (NaN, or a category the model
 * does not know passed through).
 */
bool
predict_class_of(const ModelInputs *mi, int o, const float *values, int64 n, int32 *cls)
{
	const PiStrings *labels = mi->labels[o];

	if (labels == NULL)
		return predict_result_class(values, n, cls);
	if (isnan(values[0]) || values[0] < 0 || values[0] >= labels->count)
		return false;
	*cls = (int32) values[0];
	return true;
}

/*
 * predict_label's result from one row of output o: the label of its class
 * (NULL when there is none); a model whose output has no labels is an
 * error.
 */
text *
predict_label_of(const ModelInputs *mi, int o, const float *values, int64 n, const char *name)
{
	const PiStrings *labels = mi->labels[o];
	int32		cls;

	if (labels == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" output \"%s\" has no class labels", name, mi->output_names[o]),
				 errhint("predict_class gives the index of the largest value; predict_label is for classifiers whose outputs name their classes (ai.onnx.ml, scikit-learn).")));
	if (!predict_class_of(mi, o, values, n, &cls))
		return NULL;
	return cstring_to_text(labels->items[cls]);
}
