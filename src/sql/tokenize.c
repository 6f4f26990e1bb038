/*
 * tokenize.c
 *	  tokenize(model, input): the token ids a text model's tokenizer makes
 *	  of a text, special tokens included, truncated to max_seq_length.
 */
#include "pg_infer.h"

#include "pi_text.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

/* What a call site remembers between rows (in fn_extra). */
typedef struct TokenizeCallCache
{
	uint64		generation;		/* model_cache_generation() when resolved */
	char		name[NAMEDATALEN];
	uint64		uid;			/* the active version's */
} TokenizeCallCache;

/*
 * The tokenizer for this call: the one the call site resolved while the
 * catalog has not changed and the name is the same, else looked up again.
 */
static const TextModel *
call_tokenizer(FunctionCallInfo fcinfo, const char *name)
{
	TokenizeCallCache *cc = fcinfo->flinfo->fn_extra;
	uint64		generation = model_cache_generation();
	const TextModel *text;

	if (cc != NULL && generation != 0 && cc->generation == generation &&
		strcmp(cc->name, name) == 0 && (text = tokenizer_cache_find(cc->uid)) != NULL)
		return text;
	if (cc == NULL)
		fcinfo->flinfo->fn_extra = cc =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TokenizeCallCache));
	cc->generation = 0;			/* until the lookup below succeeds */
	text = tokenizer_cache_get(name);
	strlcpy(cc->name, name, NAMEDATALEN);
	cc->uid = text->uid;
	cc->generation = generation;
	return text;
}

PG_FUNCTION_INFO_V1(pg_infer_tokenize);

/* tokenize(model text, input text) returns integer[] */
Datum
pg_infer_tokenize(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *input = PG_GETARG_TEXT_PP(1);
	const TextModel *text;
	PiTokenIds	ids = {0};
	PiError		err = {0};
	Datum	   *elems;

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tokenize needs a UTF8 database, this one is %s", GetDatabaseEncodingName())));
	text = call_tokenizer(fcinfo, name);
	if (pi_tokenizer_encode(text->tok, VARDATA_ANY(input), VARSIZE_ANY_EXHDR(input),
							text->options.max_length, &ids, &err) != PI_OK)
	{
		pi_token_ids_free(&ids);
		pg_infer_report(&err, name);
	}
	elems = palloc(sizeof(Datum) * (ids.count > 0 ? ids.count : 1));
	for (int i = 0; i < ids.count; i++)
		elems[i] = Int32GetDatum(ids.ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, ids.count, INT4OID, sizeof(int32), true,
										  TYPALIGN_INT));
}
