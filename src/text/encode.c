/*
 * encode.c
 *	  Text to ids: split the raw text at added tokens ("[MASK]"), normalize
 *	  and WordPiece-encode the parts between them, truncate, and put the
 *	  template's special tokens around the result.
 */
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* The longest added token that starts at text[at], or NULL. */
static const PiAddedToken *
added_token_at(const PiTokenizer *tok, const char *text, size_t len, size_t at)
{
	const PiAddedToken *best = NULL;

	for (int i = 0; i < tok->nadded; i++)
	{
		const PiAddedToken *a = &tok->added[i];

		if (a->len <= len - at && memcmp(text + at, a->content, a->len) == 0 &&
			(best == NULL || a->len > best->len))
			best = a;
	}
	return best;
}

/* Normalizes and encodes text[0..len-1], which holds no added token. */
static PiStatus
encode_plain(const PiTokenizer *tok, const char *text, size_t len, PiTokenIds *out,
			 PiError *err)
{
	PiCodepoints raw = {0};
	PiCodepoints normalized = {0};
	PiStatus	st;

	if ((st = pi_utf8_decode(text, len, &raw, err)) == PI_OK &&
		(st = pi_bert_normalize(tok, &raw, &normalized, err)) == PI_OK)
		st = pi_wordpiece_encode(tok, &normalized, out, err);
	pi_cp_free(&raw);
	pi_cp_free(&normalized);
	return st;
}

/* Encodes the text between the template's special tokens. */
static PiStatus
encode_text(const PiTokenizer *tok, const char *text, size_t len, PiTokenIds *out,
			PiError *err)
{
	size_t		plain_start = 0;
	size_t		at = 0;
	PiStatus	st;

	while (at < len)
	{
		const PiAddedToken *a = added_token_at(tok, text, len, at);

		if (a == NULL)
		{
			at++;
			continue;
		}
		if ((st = encode_plain(tok, text + plain_start, at - plain_start, out, err)) != PI_OK ||
			(st = pi_token_ids_push(out, a->id, err)) != PI_OK)
			return st;
		at += a->len;
		plain_start = at;
	}
	return encode_plain(tok, text + plain_start, len - plain_start, out, err);
}

/* Encodes text: specials, the text's ids (truncated to fit max_length), specials. */
PiStatus
pi_tokenizer_encode(const PiTokenizer *tok, const char *text, size_t len, int max_length,
					PiTokenIds *out, PiError *err)
{
	int			nspecial = tok->nbefore + tok->nafter;
	PiStatus	st = PI_OK;

	if (max_length > 0 && max_length < nspecial)
		return pi_fail(err, PI_ERR_INVALID,
					   "max length %d leaves no room for the %d special tokens of the template",
					   max_length, nspecial);
	out->count = 0;
	for (int i = 0; i < tok->nbefore && st == PI_OK; i++)
		st = pi_token_ids_push(out, tok->before[i], err);
	if (st == PI_OK)
		st = encode_text(tok, text, len, out, err);
	if (st == PI_OK && max_length > 0 && out->count > max_length - tok->nafter)
		out->count = max_length - tok->nafter;
	for (int i = 0; i < tok->nafter && st == PI_OK; i++)
		st = pi_token_ids_push(out, tok->after[i], err);
	return st;
}

/* Frees the ids of an encoding. */
void
pi_token_ids_free(PiTokenIds *ids)
{
	free(ids->ids);
	memset(ids, 0, sizeof(*ids));
}
