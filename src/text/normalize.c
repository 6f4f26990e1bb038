/*
 * normalize.c
 *	  The normalizer: none, one step, or a Sequence of steps run in order
 *	  (BertNormalizer, NFC, Lowercase).
 */
#include "text_internal.h"

/* Lowercases every code point of buf (whose mapping may be longer). */
PiStatus
pi_uni_lower_all(PiCodepoints *buf, PiError *err)
{
	PiCodepoints lower = {0};
	PiStatus	st = PI_OK;

	for (int i = 0; i < buf->count && st == PI_OK; i++)
		st = pi_uni_lower_push(buf->cp[i], &lower, err);
	if (st != PI_OK)
	{
		pi_cp_free(&lower);
		return st;
	}
	pi_cp_free(buf);
	*buf = lower;
	return PI_OK;
}

/* Copies in's code points to the end of out. */
static PiStatus
copy_codepoints(const PiCodepoints *in, PiCodepoints *out, PiError *err)
{
	PiStatus	st = PI_OK;

	for (int i = 0; i < in->count && st == PI_OK; i++)
		st = pi_cp_push(out, in->cp[i], err);
	return st;
}

/* Runs one normalizer step on buf, in place. */
static PiStatus
run_step(const PiTokenizer *tok, PiNormStep step, PiCodepoints *buf, PiError *err)
{
	PiCodepoints bert = {0};
	PiStatus	st;

	switch (step)
	{
		case PI_NORM_NFC:
			return pi_uni_nfc(buf, err);
		case PI_NORM_LOWERCASE:
			return pi_uni_lower_all(buf, err);
		case PI_NORM_BERT:
			break;
	}
	if ((st = pi_bert_normalize(tok, buf, &bert, err)) != PI_OK)
	{
		pi_cp_free(&bert);
		return st;
	}
	pi_cp_free(buf);
	*buf = bert;
	return PI_OK;
}

/* Runs the normalizer's steps on in, into out (which must start empty). */
PiStatus
pi_text_normalize(const PiTokenizer *tok, const PiCodepoints *in, PiCodepoints *out,
				  PiError *err)
{
	PiStatus	st = copy_codepoints(in, out, err);

	for (int i = 0; i < tok->nnorm && st == PI_OK; i++)
		st = run_step(tok, tok->norm[i], out, err);
	return st;
}
