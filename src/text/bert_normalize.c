/*
 * bert_normalize.c
 *	  BertNormalizer: removes control characters and maps whitespace to a
 *	  space, pads CJK ideographs with spaces, strips accents (NFD, then drop
 *	  nonspacing marks) and lowercases, in that order.
 */
#include "text_internal.h"

/* Drops the nonspacing marks of an NFD text, in place. */
static void
drop_nonspacing_marks(PiCodepoints *buf)
{
	int			kept = 0;

	for (int i = 0; i < buf->count; i++)
		if (!pi_uni_is_nonspacing_mark(buf->cp[i]))
			buf->cp[kept++] = buf->cp[i];
	buf->count = kept;
}

/* Normalizes in into out (which must start empty). */
PiStatus
pi_bert_normalize(const PiTokenizer *tok, const PiCodepoints *in, PiCodepoints *out,
				  PiError *err)
{
	PiStatus	st = PI_OK;

	for (int i = 0; i < in->count && st == PI_OK; i++)
	{
		uint32_t	cp = in->cp[i];

		if (tok->clean_text)
		{
			if (cp == 0 || cp == 0xFFFD || pi_uni_is_control(cp))
				continue;
			if (pi_uni_is_whitespace(cp))
				cp = ' ';
		}
		if (tok->handle_chinese_chars && pi_uni_is_cjk_ideograph(cp))
		{
			if ((st = pi_cp_push(out, ' ', err)) == PI_OK &&
				(st = pi_cp_push(out, cp, err)) == PI_OK)
				st = pi_cp_push(out, ' ', err);
		}
		else
			st = pi_cp_push(out, cp, err);
	}
	if (st == PI_OK && tok->strip_accents)
	{
		st = pi_uni_nfd(out, err);
		drop_nonspacing_marks(out);
	}
	if (st == PI_OK && tok->lowercase)
		st = pi_uni_lower_all(out, err);
	return st;
}
