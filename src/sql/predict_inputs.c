/*
 * predict_inputs.c
 *	  predict(model, inputs jsonb [, output, version]): one row for a model
 *	  with several named inputs (integer ids for embeddings among them), and
 *	  any of its outputs by name.
 */
#include "pg_infer.h"

#include "pi_worker.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* Writes the numbers of a JSON array (nested arrays flattened) into dst. */
static void
input_from_json(JsonbContainer *array, const char *model, const char *input,
				float *dst, int64 expected)
{
	JsonbIterator *it = JsonbIteratorInit(array);
	JsonbValue	v;
	JsonbIteratorToken token;
	int64		n = 0;

	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		double		d;

		if (token != WJB_ELEM)
			continue;
		if (v.type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model \"%s\" input \"%s\" element " INT64_FORMAT " is not a number",
							model, input, n + 1),
					 errdetail("Inputs are JSON arrays of numbers, nested arrays allowed.")));
		d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
		if (isinf((float) d))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("model \"%s\" input \"%s\" element " INT64_FORMAT " is out of range for type real",
							model, input, n + 1),
					 errdetail("The value %g is beyond the float32 range of the model's inputs.", d)));
		if (n < expected)
			dst[n] = (float) d;
		n++;
	}
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" input \"%s\" expects " INT64_FORMAT " values, got " INT64_FORMAT,
						model, input, expected, n)));
}

/* The names of a model's inputs as a list for messages: "a", "b". */
static char *
input_names(const PiModel *model)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < model->ninputs; i++)
		appendStringInfo(&buf, "%s\"%s\"", i ? ", " : "", model->values[model->inputs[i]].name);
	return buf.data;
}

/* Index among the model's outputs of the one named, or raises. */
static int
output_index(const PiModel *model, const char *model_name, const char *output)
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

PG_FUNCTION_INFO_V1(pg_infer_predict_inputs);

/*
 * predict(model, inputs jsonb, output text DEFAULT NULL, version int DEFAULT
 * NULL): inputs maps every input name to a JSON array of numbers; returns
 * the named output (the first by default) as real[].
 */
Datum
pg_infer_predict_inputs(PG_FUNCTION_ARGS)
{
	char	   *name;
	Jsonb	   *inputs;
	LoadedModel *lm;
	const PiModel *model;
	const float *rows_in[PI_MAX_MODEL_IO];
	float	   *rows_out[PI_MAX_MODEL_IO];
	int			out;
	int			dims[1];
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	inputs = PG_GETARG_JSONB_P(1);
	lm = model_cache_get(name, !PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3));
	model = lm->model;
	out = PG_ARGISNULL(2) ? 0 : output_index(model, name, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	if (!JB_ROOT_IS_OBJECT(inputs))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("model \"%s\" inputs must be a JSON object", name),
				 errdetail("Expected an object with the keys %s.", input_names(model))));
	/* every key names an input */
	it = JsonbIteratorInit(&inputs->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (token != WJB_KEY)
			continue;
		for (int i = 0; i < model->ninputs && !known; i++)
		{
			const char *input = model->values[model->inputs[i]].name;

			known = (strlen(input) == v.val.string.len &&
					 memcmp(input, v.val.string.val, v.val.string.len) == 0);
		}
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no input \"%.*s\"", name, v.val.string.len, v.val.string.val),
					 errdetail("Its inputs are %s.", input_names(model))));
	}
	/* and every input is given */
	for (int i = 0; i < model->ninputs; i++)
	{
		const PiValue *input = &model->values[model->inputs[i]];
		JsonbValue *value = getKeyJsonValueFromContainer(&inputs->root, input->name,
														 strlen(input->name), NULL);

		if (value == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model \"%s\" input \"%s\" is missing", name, input->name),
					 errdetail("Its inputs are %s.", input_names(model))));
		if (value->type != jbvBinary || !JsonContainerIsArray(value->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("model \"%s\" input \"%s\" must be a JSON array of numbers", name, input->name)));
		/* not the engine's input buffers: the inference worker may run the row */
		rows_in[i] = palloc(sizeof(float) * pi_value_row_elems(input));
		input_from_json(value->val.binary.data, name, input->name, (float *) rows_in[i],
						pi_value_row_elems(input));
	}
	for (int o = 0; o <= out; o++)
		rows_out[o] = palloc(sizeof(float) * pi_value_row_elems(&model->values[model->outputs[o]]));
	model_forward(lm, name, 1, rows_in, out + 1, rows_out);
	dims[0] = (int) pi_value_row_elems(&model->values[model->outputs[out]]);
	PG_RETURN_ARRAYTYPE_P(predict_result_array(rows_out[out], 1, dims));
}
