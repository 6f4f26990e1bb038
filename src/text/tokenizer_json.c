/*
 * tokenizer_json.c
 *	  Reads a HuggingFace tokenizer.json into a PiTokenizer.  Only what the
 *	  encoder reproduces exactly is accepted: a WordPiece model with
 *	  BertPreTokenizer, or a BPE model (bpe_json.c) with ByteLevel; a
 *	  normalizer of BertNormalizer, NFC and Lowercase steps (or none);
 *	  TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel or a
 *	  Sequence of them (or none); and added tokens matched verbatim in the
 *	  raw text.  Anything else is refused with a message that names it.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* Reads an integer in [lo, hi] from a JSON number. */
PiStatus
pi_json_int(const cJSON *item, const char *what, int64_t lo, int64_t hi, int64_t *value,
		 PiError *err)
{
	double		v;

	*value = 0;
	if (!cJSON_IsNumber(item))
		return pi_fail(err, PI_ERR_INVALID, "%s must be an integer", what);
	v = item->valuedouble;
	if (!isfinite(v) || v != floor(v) || v < (double) lo || v > (double) hi)
		return pi_fail(err, PI_ERR_INVALID, "%s is %g, expected an integer from %lld to %lld",
					   what, v, (long long) lo, (long long) hi);
	*value = (int64_t) v;
	return PI_OK;
}

/* The string member name of obj, or NULL when it is missing or not a string. */
const char *
pi_json_string(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Reads a boolean member; missing means dflt. */
PiStatus
pi_json_bool(const cJSON *obj, const char *section, const char *name, bool dflt, bool *value,
		 PiError *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (item == NULL)
		*value = dflt;
	else if (cJSON_IsBool(item))
		*value = cJSON_IsTrue(item);
	else
		return pi_fail(err, PI_ERR_INVALID, "%s.%s must be true or false", section, name);
	return PI_OK;
}

/* Reads model.vocab: token -> id, each token and each id once. */
static PiStatus
read_vocab(PiTokenizer *tok, const cJSON *vocab, PiError *err)
{
	const cJSON *entry;
	uint8_t    *seen;
	PiStatus	st = PI_OK;

	if (!cJSON_IsObject(vocab) || cJSON_GetArraySize(vocab) == 0)
		return pi_fail(err, PI_ERR_INVALID, "model.vocab must be a non-empty object of token: id");
	if ((st = pi_vocab_init(&tok->vocab, cJSON_GetArraySize(vocab), err)) != PI_OK)
		return st;
	if ((seen = calloc(PI_TEXT_MAX_VOCAB / 8, 1)) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	cJSON_ArrayForEach(entry, vocab)
	{
		int64_t		value;

		if ((st = pi_json_int(entry, "a model.vocab id", 0, PI_TEXT_MAX_VOCAB - 1, &value, err)) != PI_OK ||
			(st = pi_vocab_add(&tok->vocab, entry->string, strlen(entry->string),
							   (int32_t) value, err)) != PI_OK)
			break;
		if (seen[value / 8] & (1 << (value % 8)))
		{
			st = pi_fail(err, PI_ERR_DUPLICATE, "model.vocab id %lld is given to two tokens (one is \"%.40s\")",
						 (long long) value, entry->string);
			break;
		}
		seen[value / 8] |= (uint8_t) (1 << (value % 8));
		if (value >= tok->vocab_size)
			tok->vocab_size = (int) value + 1;
	}
	free(seen);
	return st;
}

/* Reads a WordPiece model's unk_token, prefix and word limit. */
static PiStatus
read_wordpiece(PiTokenizer *tok, const cJSON *model, PiError *err)
{
	const cJSON *limit = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
	const char *unk = pi_json_string(model, "unk_token");
	const char *prefix = pi_json_string(model, "continuing_subword_prefix");
	int64_t		value;
	PiStatus	st;

	tok->model = PI_TEXT_WORDPIECE;
	if (unk == NULL || (tok->unk_id = pi_vocab_find(&tok->vocab, unk, strlen(unk))) < 0)
		return pi_fail(err, PI_ERR_UNDEFINED, "model.unk_token \"%s\" is not in the vocabulary",
					   unk ? unk : "(missing)");
	if (prefix == NULL)
		prefix = "##";
	if (strlen(prefix) >= sizeof(tok->prefix))
		return pi_fail(err, PI_ERR_LIMIT, "model.continuing_subword_prefix is longer than %zu bytes",
					   sizeof(tok->prefix) - 1);
	strcpy(tok->prefix, prefix);
	tok->prefix_len = strlen(prefix);
	tok->max_input_chars_per_word = 100;
	if (limit != NULL)
	{
		if ((st = pi_json_int(limit, "model.max_input_chars_per_word", 1, PI_TEXT_MAX_WORD_CHARS,
							  &value, err)) != PI_OK)
			return st;
		tok->max_input_chars_per_word = (int) value;
	}
	return PI_OK;
}

/* Reads model: its vocabulary, then the rest of a WordPiece or a BPE model. */
static PiStatus
read_model(PiTokenizer *tok, const cJSON *model, PiError *err)
{
	const char *type = pi_json_string(model, "type");
	bool		wordpiece = type != NULL && strcmp(type, "WordPiece") == 0;
	PiStatus	st;

	if (!wordpiece && (type == NULL || strcmp(type, "BPE") != 0))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "tokenizer model type \"%s\" is not supported, expected \"WordPiece\" or \"BPE\"",
					   type ? type : "(missing)");
	if ((st = read_vocab(tok, cJSON_GetObjectItemCaseSensitive(model, "vocab"), err)) != PI_OK)
		return st;
	return wordpiece ? read_wordpiece(tok, model, err) : pi_bpe_read_model(tok, model, err);
}

/* Reads BertNormalizer's four options. */
static PiStatus
read_bert_normalizer(PiTokenizer *tok, const cJSON *norm, PiError *err)
{
	const cJSON *strip;
	PiStatus	st;

	if ((st = pi_json_bool(norm, "normalizer", "clean_text", true, &tok->clean_text, err)) != PI_OK ||
		(st = pi_json_bool(norm, "normalizer", "handle_chinese_chars", true,
						   &tok->handle_chinese_chars, err)) != PI_OK ||
		(st = pi_json_bool(norm, "normalizer", "lowercase", true, &tok->lowercase, err)) != PI_OK)
		return st;
	strip = cJSON_GetObjectItemCaseSensitive(norm, "strip_accents");
	if (strip == NULL || cJSON_IsNull(strip))
		tok->strip_accents = tok->lowercase;
	else
		return pi_json_bool(norm, "normalizer", "strip_accents", false, &tok->strip_accents, err);
	return PI_OK;
}

/* Appends one normalizer step: BertNormalizer (once), NFC or Lowercase. */
static PiStatus
read_norm_step(PiTokenizer *tok, const cJSON *norm, PiError *err)
{
	const char *type = pi_json_string(norm, "type");
	PiNormStep	step;

	if (type != NULL && strcmp(type, "BertNormalizer") == 0)
		step = PI_NORM_BERT;
	else if (type != NULL && strcmp(type, "NFC") == 0)
		step = PI_NORM_NFC;
	else if (type != NULL && strcmp(type, "Lowercase") == 0)
		step = PI_NORM_LOWERCASE;
	else
		return pi_fail(err, PI_ERR_UNSUPPORTED, "normalizer type \"%s\" is not supported, expected \"BertNormalizer\", \"NFC\", \"Lowercase\" or a \"Sequence\" of them",
					   type ? type : "(missing)");
	if (tok->nnorm == PI_TEXT_MAX_NORM_STEPS)
		return pi_fail(err, PI_ERR_LIMIT, "normalizer has more than %d steps", PI_TEXT_MAX_NORM_STEPS);
	for (int i = 0; i < tok->nnorm && step == PI_NORM_BERT; i++)
		if (tok->norm[i] == PI_NORM_BERT)
			return pi_fail(err, PI_ERR_UNSUPPORTED, "normalizer has BertNormalizer twice");
	tok->norm[tok->nnorm++] = step;
	return step == PI_NORM_BERT ? read_bert_normalizer(tok, norm, err) : PI_OK;
}

/* Reads normalizer: null, one step, or a Sequence of steps. */
static PiStatus
read_normalizer(PiTokenizer *tok, const cJSON *norm, PiError *err)
{
	const char *type;
	const cJSON *steps;
	const cJSON *step;
	PiStatus	st;

	if (norm == NULL || cJSON_IsNull(norm))
		return PI_OK;
	type = pi_json_string(norm, "type");
	if (type == NULL || strcmp(type, "Sequence") != 0)
		return read_norm_step(tok, norm, err);
	steps = cJSON_GetObjectItemCaseSensitive(norm, "normalizers");
	if (!cJSON_IsArray(steps))
		return pi_fail(err, PI_ERR_INVALID, "normalizer Sequence needs a list \"normalizers\"");
	cJSON_ArrayForEach(step, steps)
	{
		if ((st = read_norm_step(tok, step, err)) != PI_OK)
			return st;
	}
	return PI_OK;
}

/* Reads pre_tokenizer: BertPreTokenizer for WordPiece, ByteLevel for BPE. */
static PiStatus
read_pre_tokenizer(PiTokenizer *tok, const cJSON *pre, PiError *err)
{
	const char *type = pre ? pi_json_string(pre, "type") : NULL;

	if (tok->model == PI_TEXT_BPE)
		return pi_byte_level_read(tok, pre, err);
	if (type == NULL || strcmp(type, "BertPreTokenizer") != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "pre_tokenizer type \"%s\" is not supported for a WordPiece model, expected \"BertPreTokenizer\"",
					   type ? type : "(missing)");
	return PI_OK;
}

/* Appends a special token's id to one side of the template. */
static PiStatus
add_special(int32_t *side, int *n, int64_t id, const PiTokenizer *tok, PiError *err)
{
	if (id >= tok->vocab_size)
		return pi_fail(err, PI_ERR_UNDEFINED, "post_processor special token id %lld is outside the vocabulary of %d",
					   (long long) id, tok->vocab_size);
	if (*n == PI_TEXT_MAX_SPECIALS)
		return pi_fail(err, PI_ERR_LIMIT, "post_processor has more than %d special tokens on one side",
					   PI_TEXT_MAX_SPECIALS);
	side[(*n)++] = (int32_t) id;
	return PI_OK;
}

/* Reads one SpecialToken of TemplateProcessing's single template. */
static PiStatus
read_template_special(PiTokenizer *tok, const cJSON *special, const cJSON *table,
					  bool after, PiError *err)
{
	const char *name = pi_json_string(special, "id");
	const cJSON *entry = name ? cJSON_GetObjectItemCaseSensitive(table, name) : NULL;
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(entry, "ids");
	const cJSON *id;
	int64_t		value;
	PiStatus	st;

	if (!cJSON_IsArray(ids))
		return pi_fail(err, PI_ERR_UNDEFINED, "post_processor special token \"%s\" has no ids in special_tokens",
					   name ? name : "(missing)");
	cJSON_ArrayForEach(id, ids)
	{
		if ((st = pi_json_int(id, "a post_processor special token id", 0, PI_TEXT_MAX_VOCAB - 1,
						   &value, err)) != PI_OK ||
			(st = after ? add_special(tok->after, &tok->nafter, value, tok, err)
			 : add_special(tok->before, &tok->nbefore, value, tok, err)) != PI_OK)
			return st;
	}
	return PI_OK;
}

/* Reads TemplateProcessing's single template: specials, $A, specials. */
static PiStatus
read_template(PiTokenizer *tok, const cJSON *post, PiError *err)
{
	const cJSON *single = cJSON_GetObjectItemCaseSensitive(post, "single");
	const cJSON *table = cJSON_GetObjectItemCaseSensitive(post, "special_tokens");
	const cJSON *piece;
	bool		seen_sequence = false;
	PiStatus	st;

	if (!cJSON_IsArray(single) || !cJSON_IsObject(table))
		return pi_fail(err, PI_ERR_INVALID, "post_processor TemplateProcessing needs \"single\" and \"special_tokens\"");
	cJSON_ArrayForEach(piece, single)
	{
		const cJSON *special = cJSON_GetObjectItemCaseSensitive(piece, "SpecialToken");
		const cJSON *sequence = cJSON_GetObjectItemCaseSensitive(piece, "Sequence");
		const cJSON *type_id = cJSON_GetObjectItemCaseSensitive(special ? special : sequence, "type_id");

		if ((special == NULL) == (sequence == NULL))
			return pi_fail(err, PI_ERR_INVALID, "post_processor template pieces must be SpecialToken or Sequence");
		if (type_id != NULL && !(cJSON_IsNumber(type_id) && type_id->valuedouble == 0))
			return pi_fail(err, PI_ERR_UNSUPPORTED, "post_processor template type_id other than 0 is not supported");
		if (sequence != NULL)
		{
			const char *name = pi_json_string(sequence, "id");

			if (seen_sequence || name == NULL || strcmp(name, "A") != 0)
				return pi_fail(err, PI_ERR_INVALID, "post_processor single template must hold the sequence $A once");
			seen_sequence = true;
		}
		else if ((st = read_template_special(tok, special, table, seen_sequence, err)) != PI_OK)
			return st;
	}
	if (!seen_sequence)
		return pi_fail(err, PI_ERR_INVALID, "post_processor single template must hold the sequence $A once");
	return PI_OK;
}

/* Reads BertProcessing's or RobertaProcessing's ["[CLS]", id] and ["[SEP]", id]. */
static PiStatus
read_bert_processing(PiTokenizer *tok, const cJSON *post, PiError *err)
{
	const cJSON *cls = cJSON_GetObjectItemCaseSensitive(post, "cls");
	const cJSON *sep = cJSON_GetObjectItemCaseSensitive(post, "sep");
	int64_t		cls_id;
	int64_t		sep_id;
	PiStatus	st;

	if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2)
		return pi_fail(err, PI_ERR_INVALID, "post_processor %s needs \"cls\" and \"sep\" as [token, id]",
					   pi_json_string(post, "type"));
	if ((st = pi_json_int(cJSON_GetArrayItem(cls, 1), "post_processor.cls id", 0,
					   PI_TEXT_MAX_VOCAB - 1, &cls_id, err)) != PI_OK ||
		(st = pi_json_int(cJSON_GetArrayItem(sep, 1), "post_processor.sep id", 0,
					   PI_TEXT_MAX_VOCAB - 1, &sep_id, err)) != PI_OK ||
		(st = add_special(tok->before, &tok->nbefore, cls_id, tok, err)) != PI_OK)
		return st;
	return add_special(tok->after, &tok->nafter, sep_id, tok, err);
}

/* Reads post_processor: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, a Sequence of them, or none. */
static PiStatus
read_post_processor(PiTokenizer *tok, const cJSON *post, PiError *err)
{
	const char *type;
	const cJSON *list;
	const cJSON *item;
	PiStatus	st;

	if (post == NULL || cJSON_IsNull(post))
		return PI_OK;
	type = pi_json_string(post, "type");
	if (tok->nbefore + tok->nafter > 0 && type != NULL && strcmp(type, "ByteLevel") != 0 &&
		strcmp(type, "Sequence") != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "post_processor Sequence with more than one processor that adds special tokens is not supported");
	if (type != NULL && strcmp(type, "TemplateProcessing") == 0)
		return read_template(tok, post, err);
	if (type != NULL && (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0))
		return read_bert_processing(tok, post, err);
	if (type != NULL && strcmp(type, "ByteLevel") == 0)
		return PI_OK;			/* it changes offsets only */
	if (type == NULL || strcmp(type, "Sequence") != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "post_processor type \"%s\" is not supported, expected \"TemplateProcessing\", \"BertProcessing\", \"RobertaProcessing\", \"ByteLevel\" or a \"Sequence\" of them",
					   type ? type : "(missing)");
	list = cJSON_GetObjectItemCaseSensitive(post, "processors");
	if (!cJSON_IsArray(list))
		return pi_fail(err, PI_ERR_INVALID, "post_processor Sequence needs a list \"processors\"");
	cJSON_ArrayForEach(item, list)
	{
		if ((st = read_post_processor(tok, item, err)) != PI_OK)
			return st;
	}
	return PI_OK;
}

/*
 * Reads added_tokens: each matched verbatim in the raw text, taking the
 * whitespace before it (lstrip) or after it (rstrip) when asked.  A
 * "normalized" token is matched in the normalized text, which is the raw
 * text only when there is no normalizer; with one it is refused.
 */
static PiStatus
read_added_tokens(PiTokenizer *tok, const cJSON *list, PiError *err)
{
	const cJSON *item;
	PiStatus	st;

	if (list == NULL || cJSON_IsNull(list))
		return PI_OK;
	if (!cJSON_IsArray(list))
		return pi_fail(err, PI_ERR_INVALID, "added_tokens must be a list");
	tok->added = calloc((size_t) cJSON_GetArraySize(list) + 1, sizeof(PiAddedToken));
	if (tok->added == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	cJSON_ArrayForEach(item, list)
	{
		const char *content = pi_json_string(item, "content");
		PiAddedToken *a = &tok->added[tok->nadded];
		PiCodepoints check = {0};
		int64_t		id;
		bool		single_word = false;

		if (content == NULL || content[0] == '\0')
			return pi_fail(err, PI_ERR_INVALID, "added_tokens entry %d has no content", tok->nadded);
		if ((st = pi_json_bool(item, "added_tokens", "single_word", false, &single_word, err)) != PI_OK ||
			(st = pi_json_bool(item, "added_tokens", "lstrip", false, &a->lstrip, err)) != PI_OK ||
			(st = pi_json_bool(item, "added_tokens", "rstrip", false, &a->rstrip, err)) != PI_OK ||
			(st = pi_json_bool(item, "added_tokens", "normalized", false, &a->normalized, err)) != PI_OK)
			return st;
		if (single_word || (a->normalized && tok->nnorm > 0))
			return pi_fail(err, PI_ERR_UNSUPPORTED, "added token \"%.40s\" sets %s, which is not supported%s",
						   content, single_word ? "single_word" : "normalized",
						   single_word ? "" : " with a normalizer");
		if ((st = pi_json_int(cJSON_GetObjectItemCaseSensitive(item, "id"), "an added_tokens id", 0,
						   PI_TEXT_MAX_VOCAB - 1, &id, err)) != PI_OK)
			return st;
		st = pi_utf8_decode(content, strlen(content), &check, err);
		pi_cp_free(&check);
		if (st != PI_OK)
			return st;
		a->len = strlen(content);
		a->id = (int32_t) id;
		if ((a->content = strdup(content)) == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		tok->nadded++;
		if (id >= tok->vocab_size)
			tok->vocab_size = (int) id + 1;
	}
	return PI_OK;
}

/* The padding id: padding.pad_id when given, else "[PAD]" or "<pad>" in the vocabulary. */
static PiStatus
read_pad_id(PiTokenizer *tok, const cJSON *padding, PiError *err)
{
	const cJSON *pad_id = cJSON_GetObjectItemCaseSensitive(padding, "pad_id");
	int64_t		value;
	PiStatus	st;

	tok->pad_id = pi_vocab_find(&tok->vocab, "[PAD]", 5);
	if (tok->pad_id < 0)
		tok->pad_id = pi_vocab_find(&tok->vocab, "<pad>", 5);
	if (pad_id == NULL)
		return PI_OK;
	if ((st = pi_json_int(pad_id, "padding.pad_id", 0, tok->vocab_size - 1, &value, err)) != PI_OK)
		return st;
	tok->pad_id = (int32_t) value;
	return PI_OK;
}

/* Parses tokenizer.json text into a tokenizer. */
PiStatus
pi_tokenizer_parse(const char *json, size_t len, PiTokenizer **out, PiError *err)
{
	cJSON	   *root;
	PiTokenizer *tok;
	PiStatus	st;

	*out = NULL;
	root = cJSON_ParseWithLength(json, len);
	if (root == NULL)
		return pi_fail(err, PI_ERR_CORRUPT, "tokenizer is not valid JSON");
	if (!cJSON_IsObject(root))
	{
		cJSON_Delete(root);
		return pi_fail(err, PI_ERR_INVALID, "tokenizer must be a JSON object");
	}
	tok = calloc(1, sizeof(PiTokenizer));
	if (tok == NULL)
	{
		cJSON_Delete(root);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	if ((st = read_model(tok, cJSON_GetObjectItemCaseSensitive(root, "model"), err)) == PI_OK &&
		(st = read_normalizer(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err)) == PI_OK &&
		(st = read_pre_tokenizer(tok, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err)) == PI_OK &&
		(st = read_added_tokens(tok, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err)) == PI_OK &&
		(st = read_post_processor(tok, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err)) == PI_OK)
		st = read_pad_id(tok, cJSON_GetObjectItemCaseSensitive(root, "padding"), err);
	cJSON_Delete(root);
	if (st != PI_OK)
	{
		pi_tokenizer_free(tok);
		return st;
	}
	*out = tok;
	return PI_OK;
}

/* Frees a tokenizer and everything it holds. */
void
pi_tokenizer_free(PiTokenizer *tok)
{
	if (tok == NULL)
		return;
	pi_vocab_free(&tok->vocab);
	pi_merges_free(&tok->merges);
	for (int i = 0; i < tok->nadded; i++)
		free(tok->added[i].content);
	free(tok->added);
	free(tok);
}

/* Number of ids the vocabulary and added tokens span. */
int
pi_tokenizer_vocab_size(const PiTokenizer *tok)
{
	return tok->vocab_size;
}

/* The padding id, or -1. */
int
pi_tokenizer_pad_id(const PiTokenizer *tok)
{
	return tok->pad_id;
}

/* Number of special tokens around every text. */
int
pi_tokenizer_special_count(const PiTokenizer *tok)
{
	return tok->nbefore + tok->nafter;
}
