/*
 * tokenizers.c
 *	  The session's parsed tokenizers of text models, by version uid (never
 *	  reused, so an entry is never stale): parsed once per session and
 *	  version, the few most recently used kept.
 */
#include "pg_infer.h"

#include "pi_text.h"

#define MAX_CACHED_TOKENIZERS 8

typedef struct CachedTokenizer
{
	TextModel	text;			/* text.tok NULL: an empty slot */
	uint64		last_use;
} CachedTokenizer;

static CachedTokenizer cached[MAX_CACHED_TOKENIZERS];
static uint64 use_clock;

/* The cached tokenizer of the version with this uid, or NULL. */
const TextModel *
tokenizer_cache_find(uint64 uid)
{
	for (int i = 0; i < MAX_CACHED_TOKENIZERS; i++)
		if (cached[i].text.tok != NULL && cached[i].text.uid == uid)
		{
			cached[i].last_use = ++use_clock;
			return &cached[i].text;
		}
	return NULL;
}

/* An empty slot, or the least recently used one emptied. */
static CachedTokenizer *
free_slot(void)
{
	CachedTokenizer *slot = &cached[0];

	for (int i = 0; i < MAX_CACHED_TOKENIZERS; i++)
	{
		if (cached[i].text.tok == NULL)
			return &cached[i];
		if (cached[i].last_use < slot->last_use)
			slot = &cached[i];
	}
	pi_tokenizer_free(slot->text.tok);
	slot->text.tok = NULL;
	return slot;
}

/* Parses a stored version's tokenizer and options into slot. */
static void
parse_into(CachedTokenizer *slot, const char *name, uint64 uid, const char *tokenizer_json,
		   const char *options_json)
{
	PiTokenizer *tok;
	PiError		err = {0};
	PiTextOptions options;

	if (pi_text_options_parse(options_json, strlen(options_json), &options, &err) != PI_OK)
		pg_infer_report(&err, name);
	if (pi_tokenizer_parse(tokenizer_json, strlen(tokenizer_json), &tok, &err) != PI_OK)
		ereport(ERROR,
				(errcode(pg_infer_status_errcode(err.status)),
				 errmsg("model \"%s\": stored tokenizer: %s", name, err.message)));
	slot->text.uid = uid;
	slot->text.tok = tok;
	slot->text.options = options;
	slot->last_use = ++use_clock;
}

/*
 * The tokenizer of a version of name (with this uid).  Raises if the version
 * does not exist or has no tokenizer.
 */
const TextModel *
tokenizer_cache_for_version(const char *name, int32 model_id, int32 version, uint64 uid)
{
	const TextModel *found;
	char	   *tokenizer_json;
	char	   *options_json;

	if ((found = tokenizer_cache_find(uid)) != NULL)
		return found;
	if (!catalog_lookup_tokenizer(model_id, version, &tokenizer_json, &options_json))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
	if (tokenizer_json == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" has no tokenizer", name),
				 errdetail("Version %d of the model was created without one.", version),
				 errhint("create_model(name, onnx => ..., tokenizer => ...) stores a text model with its tokenizer.json.")));
	parse_into(free_slot(), name, uid, tokenizer_json, options_json);
	pfree(tokenizer_json);
	pfree(options_json);
	return tokenizer_cache_find(uid);
}

/*
 * The tokenizer of name's active version.  Raises if the model does not
 * exist, has no active version, or its active version has no tokenizer.
 */
const TextModel *
tokenizer_cache_get(const char *name)
{
	int32		model_id,
				version;
	uint64		uid;

	if (strlen(name) >= NAMEDATALEN || !catalog_lookup_model(name, &model_id, &version))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	if (version == 0 || !catalog_version_uid(model_id, version, &uid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no active version", name)));
	return tokenizer_cache_for_version(name, model_id, version, uid);
}
