/*
 * predict_inputs.c
 *	  predict(model, inputs jsonb [, output, version]), and predict_class and
 *	  predict_label of the same: one row for a model with several named
 *	  inputs (integer ids for embeddings, strings among them), and any of its
 *	  outputs by name.  BatchPredict runs the same calls a batch at a time.
 */
#include "pg_infer.h"

#include "pi_worker.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

/*
 * Runs one row given as a jsonb object of inputs; returns the values of
 * the output named, else of the one predict (classes false) or
 * predict_class and predict_label (classes true) read, with the model,
 * the output's index and its element count.
 */
static float *
run_named_inputs(FunctionCallInfo fcinfo, bool classes, ModelInputs **inputs_out, int *output,
				 int64 *count)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	LoadedModel *lm = model_cache_get(name, !PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3));
	const PiModel *model = lm->model;
	int			out = PG_ARGISNULL(2) ? predict_default_output(model, classes) :
		model_output_index(model, name, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	ModelInputs *mi = model_inputs_describe(model);
	float	   *rows_in[PI_MAX_MODEL_IO];
	float	   *rows_out[PI_MAX_MODEL_IO];

	/* not the engine's input buffers: the inference worker may run the row */
	for (int i = 0; i < model->ninputs; i++)
		rows_in[i] = palloc(sizeof(float) * Max(mi->elems[i], 1));
	features_from_jsonb(PG_GETARG_JSONB_P(1), name, mi, rows_in);
	for (int o = 0; o <= out; o++)
		rows_out[o] = palloc(sizeof(float) * pi_value_row_elems(&model->values[model->outputs[o]]));
	progress_start(PROGRESS_PREDICT, name, "predicting per row");
	model_forward(lm, name, 1, (const float *const *) rows_in, out + 1, rows_out);
	progress_rows(1);
	*count = pi_value_row_elems(&model->values[model->outputs[out]]);
	*inputs_out = mi;
	*output = out;
	return rows_out[out];
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
	ModelInputs *mi;
	int			out;
	int64		count;
	float	   *values;
	int			dims[1];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	values = run_named_inputs(fcinfo, false, &mi, &out, &count);
	dims[0] = (int) count;
	PG_RETURN_ARRAYTYPE_P(predict_result_array(values, 1, dims));
}

PG_FUNCTION_INFO_V1(pg_infer_predict_class_inputs);

/* predict_class(model, inputs jsonb, output, version): the class of that output. */
Datum
pg_infer_predict_class_inputs(PG_FUNCTION_ARGS)
{
	ModelInputs *mi;
	int			out;
	int64		count;
	float	   *values;
	int32		cls;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	values = run_named_inputs(fcinfo, true, &mi, &out, &count);
	if (!predict_class_of(mi, out, values, count, &cls))
		PG_RETURN_NULL();
	PG_RETURN_INT32(cls);
}

PG_FUNCTION_INFO_V1(pg_infer_predict_label_inputs);

/* predict_label(model, inputs jsonb, output, version): the class label of that output. */
Datum
pg_infer_predict_label_inputs(PG_FUNCTION_ARGS)
{
	ModelInputs *mi;
	int			out;
	int64		count;
	float	   *values;
	text	   *label;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	values = run_named_inputs(fcinfo, true, &mi, &out, &count);
	label = predict_label_of(mi, out, values, count, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (label == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(label);
}
