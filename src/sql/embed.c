/*
 * embed.c
 *	  embed(model, input): a text model's vector for a text.  The text is
 *	  tokenized, padded to the network's sequence length with an attention
 *	  mask, run through the network like any model (in the inference worker
 *	  when it routes there), and its token vectors pooled over the text's
 *	  tokens only, as sentence-transformers' pooling and normalize modules do.
 */
#include "pg_infer.h"

#include <math.h>

#include "pi_worker.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

/* Fills the network's input rows: ids padded, mask 1 over the text, types 0. */
static void
fill_inputs(const PiTextLayout *layout, const PiTokenIds *ids, int32 pad_id, float *const *inputs)
{
	for (int64 t = 0; t < layout->length; t++)
	{
		bool		real = t < ids->count;

		inputs[layout->ids_input][t] = real ? (float) ids->ids[t] : (float) pad_id;
		if (layout->mask_input >= 0)
			inputs[layout->mask_input][t] = real ? 1.0f : 0.0f;
		if (layout->type_input >= 0)
			inputs[layout->type_input][t] = 0.0f;
	}
}

/* Pools token vectors [length][hidden] over the first count tokens into vec. */
static void
pool(const float *tokens, const PiTextLayout *layout, int count, const PiTextOptions *opt,
	 float *vec)
{
	int64		hidden = layout->hidden;
	double		norm = 0;

	for (int64 h = 0; h < hidden; h++)
	{
		double		sum = 0;

		if (opt->pooling == PI_POOL_CLS)
			sum = tokens[h];
		else
		{
			for (int t = 0; t < count; t++)
				sum += tokens[t * hidden + h];
			/* no tokens (a template without specials, an empty text): zeros */
			sum = count > 0 ? sum / count : 0;
		}
		vec[h] = (float) sum;
		norm += sum * sum;
	}
	if (opt->normalize)
	{
		norm = Max(sqrt(norm), 1e-12);
		for (int64 h = 0; h < hidden; h++)
			vec[h] = (float) (vec[h] / norm);
	}
}

PG_FUNCTION_INFO_V1(pg_infer_embed);

/* embed(model text, input text) returns real[] */
Datum
pg_infer_embed(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *input = PG_GETARG_TEXT_PP(1);
	LoadedModel *lm;
	const TextModel *tm;
	PiTextLayout layout;
	PiTokenIds	ids = {0};
	PiError		err = {0};
	int			max_length;
	float	   *inputs[PI_MAX_MODEL_IO];
	float	   *tokens;
	float	   *vec;
	int			dims[1];

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("embed needs a UTF8 database, this one is %s", GetDatabaseEncodingName())));
	lm = model_cache_get(name, false, 0);
	tm = tokenizer_cache_for_version(name, lm->model_id, lm->version, lm->uid);
	if (pi_text_layout(lm->model, &layout, &err) != PI_OK)
		pg_infer_report(&err, name);
	max_length = (int) layout.length;
	if (tm->options.max_length > 0 && tm->options.max_length < max_length)
		max_length = tm->options.max_length;
	if (pi_tokenizer_encode(tm->tok, VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input), max_length,
							&ids, &err) != PI_OK)
	{
		pi_token_ids_free(&ids);
		pg_infer_report(&err, name);
	}
	/* not the engine's buffers: the inference worker may run the row */
	inputs[0] = palloc(sizeof(float) * layout.length * lm->model->ninputs);
	for (int i = 1; i < lm->model->ninputs; i++)
		inputs[i] = inputs[i - 1] + layout.length;
	fill_inputs(&layout, &ids, Max(pi_tokenizer_pad_id(tm->tok), 0), inputs);
	tokens = palloc(sizeof(float) * pi_value_row_elems(&lm->model->values[lm->model->outputs[0]]));
	progress_start(PROGRESS_PREDICT, name, "embedding per row");
	model_forward(lm, name, 1, (const float *const *) inputs, 1, &tokens);
	progress_rows(1);
	vec = palloc(sizeof(float) * layout.hidden);
	pool(tokens, &layout, ids.count, &tm->options, vec);
	pi_token_ids_free(&ids);
	dims[0] = (int) layout.hidden;
	PG_RETURN_ARRAYTYPE_P(predict_result_array(vec, 1, dims));
}
