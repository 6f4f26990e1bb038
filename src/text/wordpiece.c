/*
 * wordpiece.c
 *	  BertPreTokenizer (split on whitespace, isolate punctuation) and the
 *	  WordPiece model: greedy longest match from the start of each word,
 *	  pieces after the first carrying the continuing-subword prefix; a word
 *	  with a part that matches nothing, or longer than the limit, is [UNK].
 */
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* Appends one id to an encoding, growing it by doubling. */
PiStatus
pi_token_ids_push(PiTokenIds *out, int32_t id, PiError *err)
{
	if (out->count == out->capacity)
	{
		int			capacity = out->capacity == 0 ? 64 : out->capacity * 2;
		int32_t    *grown;

		if (out->capacity >= (1 << 28))
			return pi_fail(err, PI_ERR_LIMIT, "text has more than %d tokens", 1 << 28);
		grown = realloc(out->ids, sizeof(int32_t) * (size_t) capacity);
		if (grown == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		out->ids = grown;
		out->capacity = capacity;
	}
	out->ids[out->count++] = id;
	return PI_OK;
}

/* Appends the WordPiece ids of one word (code points word[0..n-1]). */
static PiStatus
encode_word(const PiTokenizer *tok, const uint32_t *word, int n, PiTokenIds *out,
			PiError *err)
{
	/* the prefix, then the word's bytes; offsets[i]: byte where char i starts */
	char		bytes[16 + PI_TEXT_MAX_WORD_CHARS * 4];
	int			offsets[PI_TEXT_MAX_WORD_CHARS + 1];
	char	   *text = bytes + tok->prefix_len;
	int			mark = out->count;
	int			start = 0;
	PiStatus	st;

	if (n > tok->max_input_chars_per_word)
		return pi_token_ids_push(out, tok->unk_id, err);
	offsets[0] = 0;
	for (int i = 0; i < n; i++)
		offsets[i + 1] = offsets[i] + pi_utf8_encode(word[i], text + offsets[i]);
	while (start < n)
	{
		int32_t		id = -1;
		int			end;

		for (end = n; end > start; end--)
		{
			const char *piece = text + offsets[start];
			size_t		piece_len = (size_t) (offsets[end] - offsets[start]);

			if (start > 0)
			{
				piece -= tok->prefix_len;
				memcpy((char *) piece, tok->prefix, tok->prefix_len);
				piece_len += tok->prefix_len;
			}
			if ((id = pi_vocab_find(&tok->vocab, piece, piece_len)) >= 0)
				break;
		}
		if (id < 0)
		{
			out->count = mark;
			return pi_token_ids_push(out, tok->unk_id, err);
		}
		if ((st = pi_token_ids_push(out, id, err)) != PI_OK)
			return st;
		start = end;
	}
	return PI_OK;
}

/* Calls fn on each word: runs split at whitespace, each punctuation character alone. */
PiStatus
pi_bert_pre_tokenize(const PiCodepoints *text, PiWordFn fn, void *arg, PiError *err)
{
	int			word_start = 0;
	PiStatus	st = PI_OK;

	for (int i = 0; i <= text->count && st == PI_OK; i++)
	{
		bool		at_end = i == text->count;
		bool		space = !at_end && pi_uni_is_whitespace(text->cp[i]);
		bool		punct = !at_end && !space && pi_uni_is_punctuation(text->cp[i]);

		if (!(at_end || space || punct))
			continue;
		if (i > word_start)
			st = fn(text->cp + word_start, i - word_start, arg, err);
		if (st == PI_OK && punct)
			st = fn(text->cp + i, 1, arg, err);
		word_start = i + 1;
	}
	return st;
}

/* Where encode_word_cb puts the ids of a word. */
typedef struct WordTarget
{
	const PiTokenizer *tok;
	PiTokenIds *out;
} WordTarget;

/* The pre-tokenizer's callback: encodes one word into a WordTarget. */
static PiStatus
encode_word_cb(const uint32_t *word, int n, void *arg, PiError *err)
{
	WordTarget *target = arg;

	return encode_word(target->tok, word, n, target->out, err);
}

/* Splits text into words and appends the WordPiece ids of each. */
PiStatus
pi_wordpiece_encode(const PiTokenizer *tok, const PiCodepoints *text, PiTokenIds *out,
					PiError *err)
{
	WordTarget	target = {tok, out};

	return pi_bert_pre_tokenize(text, encode_word_cb, &target, err);
}
