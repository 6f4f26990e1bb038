/*
 * encode.c
 *	  Text to ids: split the raw text at added tokens ("[MASK]", "<s>"):
 *	  first the tokens matched in the raw text, then within the parts left
 *	  those matched in the normalized text; normalize and encode (WordPiece
 *	  or BPE) the parts between them, truncate, and put the template's
 *	  special tokens around the result.
 */
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* The longest added token of one pass (normalized or not) that starts at text[at], or NULL. */
static const PiAddedToken *
added_token_at(const PiTokenizer *tok, const char *text, size_t len, size_t at,
			   bool normalized)
{
	const PiAddedToken *best = NULL;

	for (int i = 0; i < tok->nadded; i++)
	{
		const PiAddedToken *a = &tok->added[i];

		if (a->normalized == normalized && a->len <= len - at && memcmp(text + at, a->content, a->len) == 0 &&
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
		(st = pi_text_normalize(tok, &raw, &normalized, err)) == PI_OK)
		st = tok->model == PI_TEXT_BPE ? pi_bpe_encode(tok, &normalized, out, err)
			: pi_wordpiece_encode(tok, &normalized, out, err);
	pi_cp_free(&raw);
	pi_cp_free(&normalized);
	return st;
}

/* Where the whitespace (Unicode White_Space) that ends text[lo..at-1] starts. */
static size_t
whitespace_before(const char *text, size_t lo, size_t at)
{
	while (at > lo)
	{
		size_t		start = at - 1;
		PiCodepoints cp = {0};
		bool		space;

		while (start > lo && ((unsigned char) text[start] & 0xC0) == 0x80 && at - start < 4)
			start--;
		space = pi_utf8_decode(text + start, at - start, &cp, NULL) == PI_OK &&
			cp.count == 1 && pi_uni_is_whitespace(cp.cp[0]);
		pi_cp_free(&cp);
		if (!space)
			break;
		at = start;
	}
	return at;
}

/* Where the whitespace that starts text[at..len-1] ends. */
static size_t
whitespace_after(const char *text, size_t len, size_t at)
{
	while (at < len)
	{
		size_t		end = at + 1;
		PiCodepoints cp = {0};
		bool		space;

		while (end < len && ((unsigned char) text[end] & 0xC0) == 0x80 && end - at < 4)
			end++;
		space = pi_utf8_decode(text + at, end - at, &cp, NULL) == PI_OK &&
			cp.count == 1 && pi_uni_is_whitespace(cp.cp[0]);
		pi_cp_free(&cp);
		if (!space)
			break;
		at = end;
	}
	return at;
}

/* Encodes a part left by the added tokens of the raw pass: the normalized pass, then the model. */
static PiStatus encode_part(const PiTokenizer *tok, const char *text, size_t len,
							bool normalized, PiTokenIds *out, PiError *err);

/* Encodes the text between added tokens: the next pass on it, or the model after the last. */
static PiStatus
encode_between(const PiTokenizer *tok, const char *text, size_t len, bool normalized,
			   PiTokenIds *out, PiError *err)
{
	if (len == 0)
		return PI_OK;
	if (!normalized)
		return encode_part(tok, text, len, true, out, err);
	return encode_plain(tok, text, len, out, err);
}

/* Splits text at the added tokens of one pass and encodes the pieces in order. */
static PiStatus
encode_part(const PiTokenizer *tok, const char *text, size_t len, bool normalized,
			PiTokenIds *out, PiError *err)
{
	size_t		plain_start = 0;
	size_t		at = 0;
	PiStatus	st;

	while (at < len)
	{
		const PiAddedToken *a = added_token_at(tok, text, len, at, normalized);
		size_t		start = at;

		if (a == NULL)
		{
			at++;
			continue;
		}
		at += a->len;
		if (a->lstrip)
			start = whitespace_before(text, plain_start, start);
		if (a->rstrip)
			at = whitespace_after(text, len, at);
		if ((st = encode_between(tok, text + plain_start, start - plain_start, normalized,
								 out, err)) != PI_OK ||
			(st = pi_token_ids_push(out, a->id, err)) != PI_OK)
			return st;
		plain_start = at;
	}
	return encode_between(tok, text + plain_start, len - plain_start, normalized, out, err);
}

/* Encodes the text between the template's special tokens. */
static PiStatus
encode_text(const PiTokenizer *tok, const char *text, size_t len, PiTokenIds *out,
			PiError *err)
{
	if (len == 0)
		return encode_plain(tok, text, len, out, err);
	return encode_part(tok, text, len, false, out, err);
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
