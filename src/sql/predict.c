/*
 * predict.c
 *	  predict(), predict_class(), predict_label() and predict_batch(): one
 *	  forward pass per call, for an array, a record, or a 2-D array of rows.
 *	  predict and predict_batch return the first output that is not class
 *	  labels (a classifier's probabilities); predict_class and predict_label
 *	  read the first output of class labels where the model has one
 *	  (src/sql/categories.c).
 */
#include "pg_infer.h"

#include <math.h>

#include "pi_worker.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* What a call site remembers between rows (in fn_extra). */
typedef struct PredictCallCache
{
	uint64		generation;		/* model_cache_generation() when resolved */
	char		name[NAMEDATALEN];	/* NUL-terminated model name */
	int			name_len;
	bool		version_given;
	int32		version;
	bool		features_are_record;
	LoadedModel *loaded;
	ModelInputs *inputs;		/* the model's inputs */
	int			record_by_name; /* 1: by column name, 0: in order, -1: not known */
	float	   *input;			/* the features of the last row, input after input */
	int64		input_capacity;
	float	   *output;			/* outputs 0 to the one returned, of the last row */
	int64		output_capacity;
} PredictCallCache;

/*
 * The call site's cache, with the model for this call: kept while the model
 * cache has not been invalidated and the arguments are the same, else looked
 * up again.  Comparing the name's bytes avoids any allocation per row.
 */
static PredictCallCache *
call_model(FunctionCallInfo fcinfo)
{
	PredictCallCache *cc = fcinfo->flinfo->fn_extra;
	text	   *name = PG_GETARG_TEXT_PP(0);
	int			name_len = VARSIZE_ANY_EXHDR(name);
	bool		version_given = (PG_NARGS() == 3);
	int32		version = version_given ? PG_GETARG_INT32(2) : 0;
	uint64		generation = model_cache_generation();

	if (cc != NULL && generation != 0 && cc->generation == generation &&
		cc->version_given == version_given && cc->version == version &&
		cc->name_len == name_len && memcmp(cc->name, VARDATA_ANY(name), name_len) == 0)
		return cc;
	if (cc == NULL)
	{
		Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);

		cc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PredictCallCache));
		cc->features_are_record = (argtype == RECORDOID || type_is_rowtype(argtype));
		fcinfo->flinfo->fn_extra = cc;
	}
	cc->generation = 0;			/* until the lookup below succeeds */
	cc->loaded = model_cache_get(text_to_cstring(name), version_given, version);
	if (cc->loaded->model->ninputs != 1 && !cc->features_are_record)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" has %d inputs, one feature array cannot feed them",
						text_to_cstring(name), cc->loaded->model->ninputs),
				 errhint("Pass a record whose columns are named as the inputs, or a jsonb object.")));
	if (cc->inputs)
		pfree(cc->inputs);
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		cc->inputs = model_inputs_describe(cc->loaded->model);
		cc->record_by_name = -1;
		MemoryContextSwitchTo(old);
	}
	cc->generation = model_cache_generation();
	text_to_cstring_buffer(name, cc->name, NAMEDATALEN);
	cc->name_len = Min(name_len, NAMEDATALEN - 1);
	cc->version_given = version_given;
	cc->version = version;
	return cc;
}

/*
 * Runs one row through the model; returns the values of the output that
 * predict (classes false) or predict_class and predict_label (classes
 * true) read, with its index and element count.
 */
static const float *
run_one_row(FunctionCallInfo fcinfo, bool classes, const LoadedModel **lm_out, int *output,
			int64 *count)
{
	PredictCallCache *cc = call_model(fcinfo);
	LoadedModel *lm = cc->loaded;
	const PiModel *m = lm->model;
	int			out = predict_default_output(m, classes);
	float	   *inputs[PI_MAX_MODEL_IO];
	float	   *outputs[PI_MAX_MODEL_IO];
	int64		total = 0;

	/* not the engine's input buffers: the inference worker may run the row */
	for (int i = 0; i < lm->model->ninputs; i++)
		total += pi_value_row_elems(&lm->model->values[lm->model->inputs[i]]);
	if (cc->input_capacity < total)
	{
		if (cc->input)
			pfree(cc->input);
		cc->input = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(float) * total);
		cc->input_capacity = total;
	}
	inputs[0] = cc->input;
	for (int i = 1; i < lm->model->ninputs; i++)
		inputs[i] = inputs[i - 1] + pi_value_row_elems(&lm->model->values[lm->model->inputs[i - 1]]);
	if (cc->features_are_record)
	{
		HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(1);

		if (cc->record_by_name < 0)
			cc->record_by_name = record_names_inputs(rec, cc->inputs);
		if (cc->record_by_name)
			features_from_named_record(rec, cc->name, cc->inputs, inputs);
		else
			features_from_record(rec, cc->name, m->missing_as_nan, inputs[0], lm->input_elems);
	}
	else
		features_from_input_array(PG_GETARG_ARRAYTYPE_P(1), cc->name, cc->inputs, inputs[0]);
	total = 0;
	for (int o = 0; o <= out; o++)
		total += pi_value_row_elems(&m->values[m->outputs[o]]);
	if (cc->output_capacity < total)
	{
		if (cc->output)
			pfree(cc->output);
		cc->output = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(float) * total);
		cc->output_capacity = total;
	}
	outputs[0] = cc->output;
	for (int o = 1; o <= out; o++)
		outputs[o] = outputs[o - 1] + pi_value_row_elems(&m->values[m->outputs[o - 1]]);
	progress_start(PROGRESS_PREDICT, cc->name, "predicting per row");
	model_forward(lm, cc->name, 1, (const float *const *) inputs, out + 1, outputs);
	progress_rows(1);
	*lm_out = lm;
	*output = out;
	*count = pi_value_row_elems(&m->values[m->outputs[out]]);
	return outputs[out];
}

/* A real[] of the given dimensions holding values. */
ArrayType *
predict_result_array(const float *values, int ndim, int *dims)
{
	int64		n = 1;
	Size		size;
	ArrayType  *result;
	int			lbs[2] = {1, 1};

	for (int i = 0; i < ndim; i++)
		n *= dims[i];
	size = ARR_OVERHEAD_NONULLS(ndim) + sizeof(float) * n;
	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("prediction of " INT64_FORMAT " values exceeds the maximum array size", n)));
	result = palloc(size);
	SET_VARSIZE(result, size);
	result->ndim = ndim;
	result->dataoffset = 0;
	result->elemtype = FLOAT4OID;
	memcpy(ARR_DIMS(result), dims, sizeof(int) * ndim);
	memcpy(ARR_LBOUND(result), lbs, sizeof(int) * ndim);
	memcpy(ARR_DATA_PTR(result), values, sizeof(float) * n);
	return result;
}

/*
 * predict_class's result: the index of the largest value (the first on
 * ties) in *cls, or false when a value is NaN (the scores say nothing, and
 * predict_class returns NULL).
 */
bool
predict_result_class(const float *values, int64 n, int32 *cls)
{
	int64		best = 0;

	for (int64 i = 0; i < n; i++)
	{
		if (isnan(values[i]))
			return false;
		if (values[i] > values[best])
			best = i;
	}
	*cls = (int32) best;
	return true;
}

PG_FUNCTION_INFO_V1(pg_infer_predict);

/* predict(model, features [, version]): the scores output as real[]. */
Datum
pg_infer_predict(PG_FUNCTION_ARGS)
{
	const LoadedModel *lm;
	int			o;
	int64		count;
	const float *out = run_one_row(fcinfo, false, &lm, &o, &count);
	int			dims[1] = {(int) count};

	PG_RETURN_ARRAYTYPE_P(predict_result_array(out, 1, dims));
}

PG_FUNCTION_INFO_V1(pg_infer_predict_class);

/* predict_class(model, features [, version]): the class index. */
Datum
pg_infer_predict_class(PG_FUNCTION_ARGS)
{
	const LoadedModel *lm;
	int			o;
	int64		count;
	const float *out = run_one_row(fcinfo, true, &lm, &o, &count);
	int32		cls;

	if (!predict_class_of(((PredictCallCache *) fcinfo->flinfo->fn_extra)->inputs, o, out, count, &cls))
		PG_RETURN_NULL();
	PG_RETURN_INT32(cls);
}

PG_FUNCTION_INFO_V1(pg_infer_predict_label);

/* predict_label(model, features [, version]): the class label as text. */
Datum
pg_infer_predict_label(PG_FUNCTION_ARGS)
{
	const LoadedModel *lm;
	int			o;
	int64		count;
	const float *out = run_one_row(fcinfo, true, &lm, &o, &count);
	PredictCallCache *cc = fcinfo->flinfo->fn_extra;
	text	   *label = predict_label_of(cc->inputs, o, out, count, cc->name);

	if (label == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(label);
}

#define BATCH_CHUNK_ROWS 1024

PG_FUNCTION_INFO_V1(pg_infer_predict_batch);

/*
 * predict_batch(model, features[rows][...] [, version]): one forward pass per
 * chunk of up to 1024 rows; returns real[rows][outputs] of the output
 * predict returns (the outputs before it go to a scratch buffer).
 */
Datum
pg_infer_predict_batch(PG_FUNCTION_ARGS)
{
	PredictCallCache *cc = call_model(fcinfo);
	const char *name = cc->name;
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);
	LoadedModel *lm = cc->loaded;
	const PiModel *m = lm->model;
	int			result = predict_default_output(m, false);
	float	   *rows_in;
	float	   *outputs[PI_MAX_MODEL_IO];
	int64		elems[PI_MAX_MODEL_IO];
	int64		rows;
	int			dims[2];

	if (cc->inputs->strings[0] != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" takes strings, which predict_batch does not", name),
				 errhint("Use predict over the rows of a table, which batches them.")));
	rows = features_rows_from_array(array, name, m->missing_as_nan, &rows_in, lm->input_elems);
	if (rows == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(FLOAT4OID));
	for (int o = 0; o <= result; o++)
	{
		elems[o] = pi_value_row_elems(&m->values[m->outputs[o]]);
		outputs[o] = palloc_extended(sizeof(float) * Min(rows, BATCH_CHUNK_ROWS) * elems[o],
									 MCXT_ALLOC_HUGE);
	}
	outputs[result] = palloc_extended(sizeof(float) * rows * elems[result], MCXT_ALLOC_HUGE);
	progress_start(PROGRESS_PREDICT, name, "predicting arrays of rows");
	for (int64 start = 0; start < rows; start += BATCH_CHUNK_ROWS)
	{
		int64		n = Min(BATCH_CHUNK_ROWS, rows - start);
		const float *in = rows_in + start * lm->input_elems;
		float	   *chunk[PI_MAX_MODEL_IO];

		memcpy(chunk, outputs, sizeof(float *) * result);
		chunk[result] = outputs[result] + start * elems[result];
		model_forward(lm, name, n, &in, result + 1, chunk);
		progress_rows(n);
		CHECK_FOR_INTERRUPTS();
	}
	dims[0] = (int) rows;
	dims[1] = (int) elems[result];
	PG_RETURN_ARRAYTYPE_P(predict_result_array(outputs[result], 2, dims));
}
