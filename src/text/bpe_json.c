/*
 * bpe_json.c
 *	  Reads the parts of a tokenizer.json that are a BPE tokenizer's: the
 *	  model (vocab, merges as "a b" strings or [a, b] pairs, unk_token,
 *	  continuing_subword_prefix, end_of_word_suffix, fuse_unk, byte_fallback,
 *	  ignore_merges; dropout must be null) and the ByteLevel pre-tokenizer.
 */
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* Copies an optional string member (null or missing: empty) into dst[size]. */
static PiStatus
read_affix(const cJSON *model, const char *name, char *dst, size_t size, size_t *len,
		   PiError *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(model, name);

	dst[0] = '\0';
	*len = 0;
	if (item == NULL || cJSON_IsNull(item))
		return PI_OK;
	if (!cJSON_IsString(item))
		return pi_fail(err, PI_ERR_INVALID, "model.%s must be a string or null", name);
	if (strlen(item->valuestring) >= size)
		return pi_fail(err, PI_ERR_LIMIT, "model.%s is longer than %zu bytes", name, size - 1);
	strcpy(dst, item->valuestring);
	*len = strlen(dst);
	return PI_OK;
}

/* The two tokens of merge entry: "a b" (one space) or ["a", "b"]; NULLs if malformed. */
static void
merge_parts(const cJSON *entry, char *buf, size_t size, const char **a, const char **b)
{
	*a = *b = NULL;
	if (cJSON_IsString(entry))
	{
		const char *space = strchr(entry->valuestring, ' ');

		if (space == NULL || strchr(space + 1, ' ') != NULL ||
			strlen(entry->valuestring) >= size)
			return;
		strcpy(buf, entry->valuestring);
		buf[space - entry->valuestring] = '\0';
		*a = buf;
		*b = buf + (space - entry->valuestring) + 1;
	}
	else if (cJSON_IsArray(entry) && cJSON_GetArraySize(entry) == 2 &&
			 cJSON_IsString(cJSON_GetArrayItem(entry, 0)) &&
			 cJSON_IsString(cJSON_GetArrayItem(entry, 1)))
	{
		*a = cJSON_GetArrayItem(entry, 0)->valuestring;
		*b = cJSON_GetArrayItem(entry, 1)->valuestring;
	}
}

/* The id of a merge's token, or a failure naming the merge. */
static PiStatus
merge_token_id(const PiTokenizer *tok, int rank, const char *token, size_t len, int32_t *id,
			   PiError *err)
{
	if ((*id = pi_vocab_find(&tok->vocab, token, len)) < 0)
		return pi_fail(err, PI_ERR_UNDEFINED, "model.merges entry %d refers to \"%.*s\", which is not in the vocabulary",
					   rank, (int) (len > 40 ? 40 : len), token);
	return PI_OK;
}

/* Reads one merge: both tokens and their concatenation (b less the prefix) are in the vocabulary. */
static PiStatus
read_merge(PiTokenizer *tok, const cJSON *entry, int rank, PiError *err)
{
	char		buf[2 * PI_TEXT_MAX_TOKEN_BYTES + 2];
	char		joined[2 * PI_TEXT_MAX_TOKEN_BYTES];
	const char *a;
	const char *b;
	size_t		a_len;
	size_t		b_len;
	int32_t		a_id;
	int32_t		b_id;
	int32_t		id;
	PiStatus	st;

	merge_parts(entry, buf, sizeof(buf), &a, &b);
	if (a == NULL)
		return pi_fail(err, PI_ERR_INVALID, "model.merges entry %d must be \"a b\" or [\"a\", \"b\"]", rank);
	a_len = strlen(a);
	b_len = strlen(b);
	if ((st = merge_token_id(tok, rank, a, a_len, &a_id, err)) != PI_OK ||
		(st = merge_token_id(tok, rank, b, b_len, &b_id, err)) != PI_OK)
		return st;
	if (b_len < tok->prefix_len || (b_len > tok->prefix_len &&
									 ((unsigned char) b[tok->prefix_len] & 0xC0) == 0x80))
		return pi_fail(err, PI_ERR_INVALID, "model.merges entry %d: \"%.40s\" is shorter than the continuing_subword_prefix",
					   rank, b);
	memcpy(joined, a, a_len);
	memcpy(joined + a_len, b + tok->prefix_len, b_len - tok->prefix_len);
	if ((st = merge_token_id(tok, rank, joined, a_len + b_len - tok->prefix_len, &id, err)) != PI_OK)
		return st;
	pi_merges_set(&tok->merges, a_id, b_id, (uint32_t) rank, id);
	return PI_OK;
}

/* Reads model.merges in rank order; a later merge of the same pair replaces an earlier one. */
static PiStatus
read_merges(PiTokenizer *tok, const cJSON *merges, PiError *err)
{
	const cJSON *entry;
	int			rank = 0;
	PiStatus	st;

	if (merges == NULL || cJSON_IsNull(merges))
		return pi_merges_init(&tok->merges, 0, err);
	if (!cJSON_IsArray(merges))
		return pi_fail(err, PI_ERR_INVALID, "model.merges must be a list");
	if ((st = pi_merges_init(&tok->merges, cJSON_GetArraySize(merges), err)) != PI_OK)
		return st;
	cJSON_ArrayForEach(entry, merges)
	{
		if ((st = read_merge(tok, entry, rank++, err)) != PI_OK)
			return st;
	}
	return PI_OK;
}

/* Checks model.dropout is null (or 0): dropout makes encodings random. */
static PiStatus
check_dropout(const cJSON *dropout, PiError *err)
{
	if (dropout == NULL || cJSON_IsNull(dropout) ||
		(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
		return PI_OK;
	return pi_fail(err, PI_ERR_UNSUPPORTED, "model.dropout must be null: BPE dropout makes the ids random");
}

/* Reads a BPE model into tok. */
PiStatus
pi_bpe_read_model(PiTokenizer *tok, const cJSON *model, PiError *err)
{
	const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
	PiStatus	st;

	tok->model = PI_TEXT_BPE;
	tok->unk_id = -1;
	if ((st = check_dropout(cJSON_GetObjectItemCaseSensitive(model, "dropout"), err)) != PI_OK ||
		(st = read_affix(model, "continuing_subword_prefix", tok->prefix, sizeof(tok->prefix),
						 &tok->prefix_len, err)) != PI_OK ||
		(st = read_affix(model, "end_of_word_suffix", tok->suffix, sizeof(tok->suffix),
						 &tok->suffix_len, err)) != PI_OK ||
		(st = pi_json_bool(model, "model", "fuse_unk", false, &tok->fuse_unk, err)) != PI_OK ||
		(st = pi_json_bool(model, "model", "byte_fallback", false, &tok->byte_fallback, err)) != PI_OK ||
		(st = pi_json_bool(model, "model", "ignore_merges", false, &tok->ignore_merges, err)) != PI_OK ||
		(st = read_merges(tok, cJSON_GetObjectItemCaseSensitive(model, "merges"), err)) != PI_OK)
		return st;
	if (unk != NULL && !cJSON_IsNull(unk) &&
		(!cJSON_IsString(unk) ||
		 (tok->unk_id = pi_vocab_find(&tok->vocab, unk->valuestring, strlen(unk->valuestring))) < 0))
		return pi_fail(err, PI_ERR_UNDEFINED, "model.unk_token \"%.40s\" is not in the vocabulary",
					   cJSON_IsString(unk) ? unk->valuestring : "(not a string)");
	return PI_OK;
}

/* Reads a ByteLevel pre-tokenizer (trim_offsets changes offsets only, not ids). */
PiStatus
pi_byte_level_read(PiTokenizer *tok, const cJSON *pre, PiError *err)
{
	const char *type = pi_json_string(pre, "type");
	bool		trim_offsets;
	PiStatus	st;

	if (type == NULL || strcmp(type, "ByteLevel") != 0)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "pre_tokenizer type \"%s\" is not supported for a BPE model, expected \"ByteLevel\"",
					   type ? type : "(missing)");
	if ((st = pi_json_bool(pre, "pre_tokenizer", "add_prefix_space", true,
						   &tok->add_prefix_space, err)) != PI_OK ||
		(st = pi_json_bool(pre, "pre_tokenizer", "trim_offsets", true, &trim_offsets, err)) != PI_OK)
		return st;
	return pi_json_bool(pre, "pre_tokenizer", "use_regex", true, &tok->use_regex, err);
}
