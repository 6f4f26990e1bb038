/*
 * byte_level.c
 *	  The ByteLevel pre-tokenizer of GPT-2 and RoBERTa: an optional space
 *	  before the text, the split of GPT-2's pattern
 *
 *	    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 *	  (implemented here as the regular expression matches it: the first
 *	  alternative that matches at a position wins, each run as long as it
 *	  goes), and each piece's UTF-8 bytes mapped to printable characters.
 */
#include <stdlib.h>

#include "text_internal.h"

/* What the pattern tells apart: \s, \p{L}, \p{N} and the rest. */
typedef enum CharClass
{
	CLASS_SPACE,
	CLASS_LETTER,
	CLASS_NUMBER,
	CLASS_OTHER
} CharClass;

/* The pattern's class of one code point. */
static CharClass
char_class(uint32_t cp)
{
	if (pi_uni_is_whitespace(cp))
		return CLASS_SPACE;
	if (pi_uni_is_letter(cp))
		return CLASS_LETTER;
	if (pi_uni_is_number(cp))
		return CLASS_NUMBER;
	return CLASS_OTHER;
}

/* Whether GPT-2's table maps byte b to the character of the same number. */
static bool
byte_is_printable(int b)
{
	return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

/* The character GPT-2's table maps byte b to: itself, or 256 + its rank among the others. */
static uint32_t
byte_char(unsigned char b)
{
	uint32_t	rank = 0;

	if (byte_is_printable(b))
		return b;
	for (int c = 0; c < b; c++)
		if (!byte_is_printable(c))
			rank++;
	return 256 + rank;
}

/* Length of the run of class cls that starts at cp[i]. */
static int
run_length(const uint32_t *cp, int n, int i, CharClass cls)
{
	int			j = i;

	while (j < n && char_class(cp[j]) == cls)
		j++;
	return j - i;
}

/* Length of the contraction ('s 't 're 've 'm 'll 'd) at cp[i], or 0. */
static int
contraction_length(const uint32_t *cp, int n, int i)
{
	uint32_t	a = i + 1 < n ? cp[i + 1] : 0;
	uint32_t	b = i + 2 < n ? cp[i + 2] : 0;

	if (cp[i] != '\'')
		return 0;
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return 3;
	return 0;
}

/* Length of the pattern's match at cp[i] (never 0: every character matches). */
static int
match_length(const uint32_t *cp, int n, int i)
{
	int			len = contraction_length(cp, n, i);
	CharClass	cls = char_class(cp[i]);
	int			spaces;

	if (len > 0)
		return len;
	/* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": one space may lead the run */
	if (cp[i] == ' ' && i + 1 < n && char_class(cp[i + 1]) != CLASS_SPACE)
		return 1 + run_length(cp, n, i + 1, char_class(cp[i + 1]));
	if (cls != CLASS_SPACE)
		return run_length(cp, n, i, cls);
	/* "\s+(?!\S)": all of the run at the end, else all but its last; else "\s+" */
	spaces = run_length(cp, n, i, CLASS_SPACE);
	if (i + spaces == n || spaces == 1)
		return spaces;
	return spaces - 1;
}

/* Calls fn on one piece, its UTF-8 bytes mapped to characters (word is scratch). */
static PiStatus
emit_piece(const uint32_t *cp, int n, PiCodepoints *word, PiWordFn fn, void *arg,
		   PiError *err)
{
	PiStatus	st = PI_OK;

	word->count = 0;
	for (int i = 0; i < n && st == PI_OK; i++)
	{
		unsigned char utf8[4];
		int			len = pi_utf8_encode(cp[i], (char *) utf8);

		for (int k = 0; k < len && st == PI_OK; k++)
			st = pi_cp_push(word, byte_char(utf8[k]), err);
	}
	return st == PI_OK ? fn(word->cp, word->count, arg, err) : st;
}

/* Splits text (after the prefix space, if any) and emits each piece. */
static PiStatus
split_text(const PiTokenizer *tok, const PiCodepoints *text, PiCodepoints *word,
		   PiWordFn fn, void *arg, PiError *err)
{
	PiStatus	st = PI_OK;

	if (!tok->use_regex)
		return text->count > 0 ? emit_piece(text->cp, text->count, word, fn, arg, err) : PI_OK;
	for (int i = 0; i < text->count && st == PI_OK;)
	{
		int			len = match_length(text->cp, text->count, i);

		st = emit_piece(text->cp + i, len, word, fn, arg, err);
		i += len;
	}
	return st;
}

/* ByteLevel: the prefix space, the split, and the byte mapping of each piece. */
PiStatus
pi_byte_level_pre_tokenize(const PiTokenizer *tok, const PiCodepoints *text, PiWordFn fn,
						   void *arg, PiError *err)
{
	PiCodepoints prefixed = {0};
	PiCodepoints word = {0};
	PiStatus	st = PI_OK;

	if (tok->add_prefix_space && text->count > 0 && text->cp[0] != ' ')
	{
		st = pi_cp_push(&prefixed, ' ', err);
		for (int i = 0; i < text->count && st == PI_OK; i++)
			st = pi_cp_push(&prefixed, text->cp[i], err);
	}
	if (st == PI_OK)
		st = split_text(tok, prefixed.count > 0 ? &prefixed : text, &word, fn, arg, err);
	pi_cp_free(&prefixed);
	pi_cp_free(&word);
	return st;
}

/* The tokenizer's pre-tokenizer: BertPreTokenizer for WordPiece, ByteLevel for BPE. */
PiStatus
pi_text_pre_tokenize(const PiTokenizer *tok, const PiCodepoints *text, PiWordFn fn,
					 void *arg, PiError *err)
{
	if (tok->model == PI_TEXT_BPE)
		return pi_byte_level_pre_tokenize(tok, text, fn, arg, err);
	return pi_bert_pre_tokenize(text, fn, arg, err);
}
