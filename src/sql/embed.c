/*
 * embed.c
 *	  embed(model, input): a text model's vector for a text, per row or a
 *	  batch of rows at a time (BatchPredict).  The texts are tokenized,
 *	  sorted by length, and run in batches each padded to its longest text
 *	  with an attention mask (a model with a symbolic sequence dimension
 *	  runs at that length, else at its fixed one), through the network like
 *	  any model (in the inference worker when it routes there, which loads
 *	  each length's model over the version's weights), and each
 *	  text's token vectors are pooled over its own tokens only, as
 *	  sentence-transformers' pooling and normalize modules do.
 */
#include "pg_infer.h"

#include <math.h>

#include "pi_worker.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"

/* GUCs */
int			pg_infer_embed_batch_tokens = 1024;
int			pg_infer_text_truncation = TEXT_TRUNCATE;

/* A text's ids, and its row in the caller's order. */
typedef struct EmbedRow
{
	int			row;
	PiTokenIds	ids;
} EmbedRow;

/*
 * The sequence length a batch whose longest text has count ids runs at:
 * count (at least 1) rounded up to a step of an eighth of the next power of
 * two (at least 16), so that a model is imported at few lengths; at most
 * longest.
 */
static int64
padded_length(int count, int64 longest)
{
	int64		pow2 = 16;
	int64		step;

	while (pow2 < count)
		pow2 *= 2;
	step = Max(pow2 / 8, 16);
	return Min((Max(count, 1) + step - 1) / step * step, longest);
}

/* Fills row r of the network's inputs [rows][length]: ids padded, mask 1 over the text, types 0. */
static void
fill_inputs(const PiTextLayout *layout, const PiTokenIds *ids, int32 pad_id, float *const *inputs,
			int64 r)
{
	for (int64 t = 0; t < layout->length; t++)
	{
		bool		real = t < ids->count;
		int64		at = r * layout->length + t;

		inputs[layout->ids_input][at] = real ? (float) ids->ids[t] : (float) pad_id;
		if (layout->mask_input >= 0)
			inputs[layout->mask_input][at] = real ? 1.0f : 0.0f;
		if (layout->type_input >= 0)
			inputs[layout->type_input][at] = 0.0f;
	}
}

/* Pools token vectors [length][hidden] over the first count tokens into vec. */
static void
pool(const float *tokens, int64 hidden, int count, const PiTextOptions *opt, float *vec)
{
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

/*
 * Encodes a text into row->ids, cut to max_length ids; under
 * pg_infer.text_truncation = 'error' a longer text raises instead.
 */
static void
encode_text(const TextModel *tm, const char *name, const text *input, int max_length,
			EmbedRow *row)
{
	PiError		err = {0};
	const char *data = VARDATA_ANY(input);
	size_t		len = VARSIZE_ANY_EXHDR(input);

	if (pi_tokenizer_encode(tm->tok, data, len, max_length, &row->ids, &err) != PI_OK)
	{
		pi_token_ids_free(&row->ids);
		pg_infer_report(&err, name);
	}
	if (pg_infer_text_truncation == TEXT_ERROR && row->ids.count == max_length)
	{
		PiTokenIds	whole = {0};
		int			count;

		if (pi_tokenizer_encode(tm->tok, data, len, 0, &whole, &err) != PI_OK)
		{
			pi_token_ids_free(&whole);
			pg_infer_report(&err, name);
		}
		count = whole.count;
		pi_token_ids_free(&whole);
		if (count > max_length)
		{
			pi_token_ids_free(&row->ids);
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("text of %d tokens is longer than model \"%s\" takes, %d tokens",
							count, name, max_length),
					 errdetail("pg_infer.text_truncation is 'error'."),
					 errhint("Set pg_infer.text_truncation to 'truncate' to embed the first %d tokens.",
							 max_length)));
		}
	}
}

/* qsort: rows by their number of ids, then by row (a stable order). */
static int
compare_rows(const void *a, const void *b)
{
	const EmbedRow *x = a;
	const EmbedRow *y = b;

	if (x->ids.count != y->ids.count)
		return x->ids.count < y->ids.count ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row);
}

/*
 * Runs rows[0..n) (sorted by length) through lm as one batch padded to the
 * longest, and pools each into vecs at its own row.  A model with a
 * symbolic sequence dimension runs at the batch's own length (rounded up),
 * in the inference worker or on this backend.
 */
static void
embed_batch(LoadedModel *lm, const char *name, const TextModel *tm, const EmbedRow *rows,
			int n, int64 hidden, float *vecs, EmbedStats *stats)
{
	PiTextLayout layout;
	PiError		err = {0};
	LoadedModel *run = lm;
	float	   *inputs[PI_MAX_MODEL_IO];
	float	   *tokens;
	int32		pad_id = Max(pi_tokenizer_pad_id(tm->tok), 0);

	if (lm->sequence_length > 0)
		run = model_cache_at_length(lm, name, padded_length(rows[n - 1].ids.count,
															lm->sequence_length));
	if (pi_text_layout(run->model, &layout, &err) != PI_OK)
		pg_infer_report(&err, name);
	/* not the engine's buffers: the inference worker may run the rows */
	inputs[0] = palloc_extended(sizeof(float) * n * layout.length * run->model->ninputs,
								MCXT_ALLOC_HUGE);
	for (int i = 1; i < run->model->ninputs; i++)
		inputs[i] = inputs[i - 1] + n * layout.length;
	for (int r = 0; r < n; r++)
		fill_inputs(&layout, &rows[r].ids, pad_id, inputs, r);
	tokens = palloc_extended(sizeof(float) * n * layout.length * hidden, MCXT_ALLOC_HUGE);
	model_forward(run, name, n, (const float *const *) inputs, 1, &tokens);
	stats->passes++;
	stats->padded_tokens += n * layout.length;
	for (int r = 0; r < n; r++)
		stats->tokens += rows[r].ids.count;
	for (int r = 0; r < n; r++)
		pool(tokens + r * layout.length * hidden, hidden, rows[r].ids.count, &tm->options,
			 vecs + (int64) rows[r].row * hidden);
	pfree(tokens);
	pfree(inputs[0]);
}

/*
 * The vectors of n texts (a NULL text is skipped, its vector untouched) into
 * vecs [n][hidden] (embed_hidden).  Texts are sorted by length and run in
 * batches of at most pg_infer.embed_batch_tokens padded tokens, each padded
 * to its own longest text (at a symbolic length, texts of one padded length
 * per batch); a text's vector does not depend on the others.
 * stats adds up the passes and tokens.
 */
void
embed_texts(LoadedModel *lm, const char *name, text *const *texts, int n, float *vecs,
			EmbedStats *stats)
{
	const TextModel *tm = tokenizer_cache_for_version(name, lm->model_id, lm->version, lm->uid);
	PiTextLayout layout;
	PiError		err = {0};
	EmbedRow   *rows = palloc0(sizeof(EmbedRow) * Max(n, 1));
	int			count = 0;
	int			max_length;

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("embed needs a UTF8 database, this one is %s", GetDatabaseEncodingName())));
	if (pi_text_layout(lm->model, &layout, &err) != PI_OK)
		pg_infer_report(&err, name);
	max_length = (int) layout.length;
	if (tm->options.max_length > 0 && tm->options.max_length < max_length)
		max_length = tm->options.max_length;
	PG_TRY();
	{
		for (int i = 0; i < n; i++)
			if (texts[i] != NULL)
			{
				rows[count].row = i;
				encode_text(tm, name, texts[i], max_length, &rows[count++]);
			}
		qsort(rows, count, sizeof(EmbedRow), compare_rows);
		for (int first = 0; first < count;)
		{
			int			last = first + 1;
			int64		length = padded_length(rows[first].ids.count, layout.length);

			/*
			 * rows are sorted: the pass pads to its last row's length; at a
			 * symbolic length it takes the rows of its first row's padded
			 * length only (a row costs its length, whatever the pass's rows)
			 */
			while (last < count &&
				   (lm->sequence_length <= 0 ||
					padded_length(rows[last].ids.count, layout.length) == length) &&
				   (int64) (last - first + 1) * padded_length(rows[last].ids.count, layout.length) <=
				   pg_infer_embed_batch_tokens)
				last++;
			embed_batch(lm, name, tm, rows + first, last - first, layout.hidden, vecs, stats);
			first = last;
		}
	}
	PG_FINALLY();
	{
		for (int i = 0; i < n; i++)
			pi_token_ids_free(&rows[i].ids);
	}
	PG_END_TRY();
	pfree(rows);
}

/* Width of a text model's vectors; raises when lm is not a text model. */
int64
embed_hidden(LoadedModel *lm, const char *name)
{
	PiTextLayout layout;
	PiError		err = {0};

	if (pi_text_layout(lm->model, &layout, &err) != PI_OK)
		pg_infer_report(&err, name);
	return layout.hidden;
}

PG_FUNCTION_INFO_V1(pg_infer_embed);

/* embed(model text, input text) returns real[] */
Datum
pg_infer_embed(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *input = PG_GETARG_TEXT_PP(1);
	LoadedModel *lm = model_cache_get(name, false, 0);
	int64		hidden = embed_hidden(lm, name);
	float	   *vec = palloc(sizeof(float) * hidden);
	int			dims[1];
	EmbedStats	stats = {0};

	progress_start(PROGRESS_PREDICT, name, "embedding per row");
	embed_texts(lm, name, &input, 1, vec, &stats);
	progress_rows(1);
	dims[0] = (int) hidden;
	PG_RETURN_ARRAYTYPE_P(predict_result_array(vec, 1, dims));
}

/* Defines the GUCs of text models; called from _PG_init. */
void
embed_init(void)
{
	static const struct config_enum_entry truncation_options[] = {
		{"truncate", TEXT_TRUNCATE, false},
		{"error", TEXT_ERROR, false},
		{NULL, 0, false}
	};

	DefineCustomIntVariable("pg_infer.embed_batch_tokens",
							"Most tokens (rows times their padded length) of one forward pass of embed().",
							"Activation memory grows with rows times the square of the length.",
							&pg_infer_embed_batch_tokens, 1024, 16, 1 << 20, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("pg_infer.text_truncation",
							 "What embed() does with a text longer than its model's max_seq_length.",
							 "truncate keeps its first tokens; error raises SQLSTATE 22001.",
							 &pg_infer_text_truncation, TEXT_TRUNCATE, truncation_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}
