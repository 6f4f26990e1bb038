/*
 * named_inputs.c
 *	  Rows for models with several inputs, matched by name: from a jsonb
 *	  object whose keys are the inputs (values: JSON arrays of numbers or
 *	  strings, nested arrays flattened, or one number or string for a
 *	  one-value input), or from a record whose columns are named as the
 *	  inputs (values: numeric arrays, or numbers for one-value inputs; text,
 *	  enums or arrays of them for string inputs, src/sql/categories.c).
 *	  NULL is NaN for models that define missing values and no category for
 *	  string inputs, else an error.  Also picks an output by name.  Used per
 *	  row and by BatchPredict.
 */
#include "pg_infer.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/typcache.h"

/*
 * A model's inputs (with their categories) and its outputs' names and
 * class labels, copied: they outlive a loaded version's eviction.
 */
ModelInputs *
model_inputs_describe(const PiModel *model)
{
	ModelInputs *mi = palloc0(sizeof(ModelInputs));

	mi->count = model->ninputs;
	for (int i = 0; i < model->ninputs; i++)
	{
		const PiValue *v = &model->values[model->inputs[i]];

		mi->names[i] = pstrdup(v->name);
		mi->elems[i] = pi_value_row_elems(v);
		mi->strings[i] = categories_copy(model->input_strings[i]);
	}
	mi->missing_as_nan = model->missing_as_nan;
	for (int o = 0; o < model->noutputs; o++)
	{
		mi->output_names[o] = pstrdup(model->values[model->outputs[o]].name);
		mi->labels[o] = categories_copy(model->output_labels[o]);
	}
	return mi;
}

/*
 * One row of the input of a one-input model from the array form: numbers,
 * or text for a string input.
 */
void
features_from_input_array(ArrayType *array, const char *model, const ModelInputs *mi, float *dst)
{
	if (mi->strings[0] != NULL)
		categories_from_datum(PointerGetDatum(array), get_array_type(ARR_ELEMTYPE(array)),
							  mi->strings[0], model, mi->names[0], dst, mi->elems[0]);
	else
		features_from_array(array, model, mi->missing_as_nan, dst, mi->elems[0]);
}

/* What a NULL (SQL or JSON) gives for an element of input i: no category, or NaN; else an error. */
static float
null_feature(const ModelInputs *mi, int i, const char *model)
{
	if (mi->strings[i] != NULL)
		return category_of_null(mi->strings[i], model, mi->names[i]);
	if (!mi->missing_as_nan)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model \"%s\" input column \"%s\" is NULL", model, mi->names[i]),
				 errdetail("NULL is a missing value only for models that define one (an Imputer, or trees that route missing values).")));
	return NAN;
}

/* The names of a model's inputs as a list for messages: "a", "b". */
static char *
input_list(const ModelInputs *mi)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < mi->count; i++)
		appendStringInfo(&buf, "%s\"%s\"", i ? ", " : "", mi->names[i]);
	return buf.data;
}

/* Index among the model's outputs of the one named, or raises. */
int
model_output_index(const PiModel *model, const char *model_name, const char *output)
{
	StringInfoData names;

	for (int o = 0; o < model->noutputs; o++)
		if (strcmp(model->values[model->outputs[o]].name, output) == 0)
			return o;
	initStringInfo(&names);
	for (int o = 0; o < model->noutputs; o++)
		appendStringInfo(&names, "%s\"%s\"", o ? ", " : "", model->values[model->outputs[o]].name);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" has no output \"%s\"", model_name, output),
			 errdetail("Its outputs are %s.", names.data)));
	return -1;
}

/*
 * One JSON value of input i as a float: a number, or for a string input a
 * string's category; null as null_feature says.
 */
static float
json_feature(const JsonbValue *v, const ModelInputs *mi, int i, const char *model, int64 position)
{
	const char *input = mi->names[i];
	double		d;

	if (v->type == jbvNull)
		return null_feature(mi, i, model);
	if (mi->strings[i] != NULL)
	{
		if (v->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model \"%s\" input \"%s\" element " INT64_FORMAT " is not a string",
							model, input, position),
					 errdetail("The input takes strings: a JSON string, or an array of them.")));
		return category_index(mi->strings[i], v->val.string.val, v->val.string.len, model, input);
	}
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("model \"%s\" input \"%s\" element " INT64_FORMAT " is not a number",
						model, input, position),
				 errdetail("Inputs are JSON arrays of numbers, nested arrays allowed.")));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (isinf((float) d))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("model \"%s\" input \"%s\" element " INT64_FORMAT " is out of range for type real",
						model, input, position),
				 errdetail("The value %g is beyond the float32 range of the model's inputs.", d)));
	return (float) d;
}

/*
 * Writes input i from a JSON value: an array (nested arrays flattened), or
 * one scalar for an input of one value.
 */
static void
input_from_json(const JsonbValue *value, const ModelInputs *mi, int i, const char *model, float *dst)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	int64		expected = mi->elems[i];
	int64		n = 0;

	if (value->type != jbvBinary || !JsonContainerIsArray(value->val.binary.data))
	{
		if (expected != 1 || value->type == jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model \"%s\" input \"%s\" must be a JSON array of %s", model, mi->names[i],
							mi->strings[i] ? "strings" : "numbers")));
		*dst = json_feature(value, mi, i, model, 1);
		return;
	}
	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		float		f;

		if (token != WJB_ELEM)
			continue;
		f = json_feature(&v, mi, i, model, n + 1);
		if (n < expected)
			dst[n] = f;
		n++;
	}
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" input \"%s\" expects " INT64_FORMAT " values, got " INT64_FORMAT,
						model, mi->names[i], expected, n)));
}

/*
 * One row of every input from a jsonb object: each key names an input,
 * every input is given; input i goes to dsts[i].
 */
void
features_from_jsonb(Jsonb *inputs, const char *model, const ModelInputs *mi, float *const *dsts)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;

	if (!JB_ROOT_IS_OBJECT(inputs))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("model \"%s\" inputs must be a JSON object", model),
				 errdetail("Expected an object with the keys %s.", input_list(mi))));
	/* every key names an input */
	it = JsonbIteratorInit(&inputs->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (token != WJB_KEY)
			continue;
		for (int i = 0; i < mi->count && !known; i++)
			known = (strlen(mi->names[i]) == v.val.string.len &&
					 memcmp(mi->names[i], v.val.string.val, v.val.string.len) == 0);
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no input \"%.*s\"", model, v.val.string.len, v.val.string.val),
					 errdetail("Its inputs are %s.", input_list(mi))));
	}
	/* and every input is given */
	for (int i = 0; i < mi->count; i++)
	{
		JsonbValue *value = getKeyJsonValueFromContainer(&inputs->root, mi->names[i],
														 strlen(mi->names[i]), NULL);

		if (value == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model \"%s\" input \"%s\" is missing", model, mi->names[i]),
					 errdetail("Its inputs are %s.", input_list(mi))));
		input_from_json(value, mi, i, model, dsts[i]);
	}
}

/* The column of a record's type named name, or -1. */
static int
column_named(TupleDesc desc, const char *name)
{
	for (int c = 0; c < desc->natts; c++)
		if (!TupleDescAttr(desc, c)->attisdropped && strcmp(NameStr(TupleDescAttr(desc, c)->attname), name) == 0)
			return c;
	return -1;
}

/*
 * Whether a record feeds the inputs by name: a model with several inputs,
 * or a string input, always takes its record so; a one-input model when
 * the record has a column of the input's name (else its numeric columns,
 * in order).
 */
bool
record_names_inputs(HeapTupleHeader rec, const ModelInputs *mi)
{
	TupleDesc	desc;
	bool		named;

	if (mi->count > 1 || mi->strings[0] != NULL)
		return true;
	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));
	named = column_named(desc, mi->names[0]) >= 0;
	ReleaseTupleDesc(desc);
	return named;
}

/*
 * One row of every input from a record whose columns are named as the
 * inputs: a numeric array (any shape, the input's element count), or a
 * number for an input of one value; for a string input, text (or an enum)
 * or an array of them.  Other columns are ignored.
 */
void
features_from_named_record(HeapTupleHeader rec, const char *model, const ModelInputs *mi,
						   float *const *dsts)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));
	HeapTupleData tuple;

	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	for (int i = 0; i < mi->count; i++)
	{
		int			col = column_named(desc, mi->names[i]);
		bool		isnull;
		Datum		d;
		Oid			type;

		if (col < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("model \"%s\" input \"%s\" has no column of that name in the record", model, mi->names[i]),
					 errdetail("A model with several inputs takes a record whose columns are named %s.",
							   input_list(mi))));
		d = heap_getattr(&tuple, col + 1, desc, &isnull);
		type = getBaseType(TupleDescAttr(desc, col)->atttypid);
		if (isnull)
		{
			float		f = null_feature(mi, i, model);

			for (int64 k = 0; k < mi->elems[i]; k++)
				dsts[i][k] = f;
		}
		else if (mi->strings[i] != NULL)
			categories_from_datum(d, TupleDescAttr(desc, col)->atttypid, mi->strings[i], model,
								  mi->names[i], dsts[i], mi->elems[i]);
		else if (type_is_array(type))
			features_from_array(DatumGetArrayTypeP(d), model, mi->missing_as_nan, dsts[i], mi->elems[i]);
		else
			features_from_scalar(d, type, model, mi->names[i], dsts[i], mi->elems[i]);
	}
	ReleaseTupleDesc(desc);
}
