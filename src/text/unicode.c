/*
 * unicode.c
 *	  The Unicode properties, normalization forms and case mapping the
 *	  normalizers and pre-tokenizers use, all from ICU's tables.
 */
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "text_internal.h"

/*
 * The Unicode version of the general categories that BERT tokenizers were
 * built against: HuggingFace tokenizers (the reference the models were
 * trained with) classifies control, punctuation and nonspacing marks by
 * Unicode 8.0's tables, so characters assigned later have none of those
 * categories there.  ICU's character age reproduces that.
 */
static const UVersionInfo bert_category_version = {8, 0, 0, 0};

/* The general category mask of cp as of bert_category_version (Cn if newer). */
static uint32_t
bert_category_mask(uint32_t cp)
{
	UVersionInfo age;

	u_charAge((UChar32) cp, age);
	if (memcmp(age, bert_category_version, sizeof(UVersionInfo)) > 0)
		return U_GC_CN_MASK;
	return U_GET_GC_MASK((UChar32) cp);
}

/* Control characters that BertNormalizer's clean_text removes: Cc, Cf, Co, Cs, except tab, LF, CR. */
bool
pi_uni_is_control(uint32_t cp)
{
	if (cp == '\t' || cp == '\n' || cp == '\r')
		return false;
	return (bert_category_mask(cp) &
			(U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK)) != 0;
}

/* The White_Space property. */
bool
pi_uni_is_whitespace(uint32_t cp)
{
	return u_isUWhiteSpace((UChar32) cp);
}

/* BERT punctuation: any ASCII punctuation or symbol, or general category P*. */
bool
pi_uni_is_punctuation(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) ||
			(cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
	return (bert_category_mask(cp) & U_GC_P_MASK) != 0;
}

/*
 * The code points BERT's tokenizer counts as Chinese characters and pads with
 * spaces.  This set is part of the tokenizer's definition, not a Unicode
 * property: it is close to the CJK ideograph blocks, but its Extension E range
 * starts at U+2B920 rather than U+2B820, and every BERT model was trained so.
 */
static const uint32_t bert_chinese_ranges[][2] = {
	{0x4E00, 0x9FFF}, {0x3400, 0x4DBF}, {0x20000, 0x2A6DF}, {0x2A700, 0x2B73F},
	{0x2B740, 0x2B81F}, {0x2B920, 0x2CEAF}, {0xF900, 0xFAFF}, {0x2F800, 0x2FA1F},
};

/* Whether cp is one of BERT's Chinese characters. */
bool
pi_uni_is_cjk_ideograph(uint32_t cp)
{
	for (size_t i = 0; i < sizeof(bert_chinese_ranges) / sizeof(bert_chinese_ranges[0]); i++)
		if (cp >= bert_chinese_ranges[i][0] && cp <= bert_chinese_ranges[i][1])
			return true;
	return false;
}

/* General category Mn. */
bool
pi_uni_is_nonspacing_mark(uint32_t cp)
{
	return (bert_category_mask(cp) & U_GC_MN_MASK) != 0;
}

/* General category L (letters), as the GPT-2 pattern's \p{L}. */
bool
pi_uni_is_letter(uint32_t cp)
{
	return (U_GET_GC_MASK((UChar32) cp) & U_GC_L_MASK) != 0;
}

/* General category N (numbers), as the GPT-2 pattern's \p{N}. */
bool
pi_uni_is_number(uint32_t cp)
{
	return (U_GET_GC_MASK((UChar32) cp) & U_GC_N_MASK) != 0;
}

/* Converts code points to UTF-16 in a malloc'd buffer. */
static PiStatus
to_utf16(const PiCodepoints *buf, UChar **out, int32_t *out_len, PiError *err)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		cap;

	if (buf->count > INT32_MAX / 2 - 1)
		return pi_fail(err, PI_ERR_LIMIT, "text of %d code points is too long", buf->count);
	cap = buf->count * 2 + 1;
	*out = malloc(sizeof(UChar) * (size_t) cap);
	if (*out == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	u_strFromUTF32(*out, cap, out_len, (const UChar32 *) buf->cp, buf->count, &status);
	if (U_FAILURE(status))
	{
		free(*out);
		return pi_fail(err, PI_ERR_CORRUPT, "text cannot be converted to UTF-16: %s",
					   u_errorName(status));
	}
	return PI_OK;
}

/* Replaces buf's contents by their normal form under ICU's normalizer norm (NFD or NFC). */
static PiStatus
normalize_with(const UNormalizer2 *norm, UErrorCode status, const char *form,
			   PiCodepoints *buf, PiError *err)
{
	UChar	   *src;
	UChar	   *dst;
	int32_t		src_len;
	int32_t		dst_len;
	PiStatus	st;

	if (U_FAILURE(status))
		return pi_fail(err, PI_ERR_UNSUPPORTED, "ICU has no %s data: %s", form, u_errorName(status));
	if (buf->count == 0)
		return PI_OK;
	if ((st = to_utf16(buf, &src, &src_len, err)) != PI_OK)
		return st;
	dst_len = unorm2_normalize(norm, src, src_len, NULL, 0, &status);
	if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
	{
		free(src);
		return pi_fail(err, PI_ERR_CORRUPT, "%s failed: %s", form, u_errorName(status));
	}
	dst = malloc(sizeof(UChar) * ((size_t) dst_len + 1));
	if (dst == NULL)
	{
		free(src);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	status = U_ZERO_ERROR;
	unorm2_normalize(norm, src, src_len, dst, dst_len + 1, &status);
	free(src);
	buf->count = 0;
	for (int32_t i = 0; U_SUCCESS(status) && i < dst_len;)
	{
		UChar32		c;

		U16_NEXT(dst, i, dst_len, c);
		if ((st = pi_cp_push(buf, (uint32_t) c, err)) != PI_OK)
		{
			free(dst);
			return st;
		}
	}
	free(dst);
	if (U_FAILURE(status))
		return pi_fail(err, PI_ERR_CORRUPT, "%s failed: %s", form, u_errorName(status));
	return PI_OK;
}

/* Replaces buf's contents by their NFD form. */
PiStatus
pi_uni_nfd(PiCodepoints *buf, PiError *err)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *nfd = unorm2_getNFDInstance(&status);

	return normalize_with(nfd, status, "NFD", buf, err);
}

/* Replaces buf's contents by their NFC form. */
PiStatus
pi_uni_nfc(PiCodepoints *buf, PiError *err)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *nfc = unorm2_getNFCInstance(&status);

	return normalize_with(nfc, status, "NFC", buf, err);
}

/* Appends the full lowercase mapping of one code point, out of context. */
PiStatus
pi_uni_lower_push(uint32_t cp, PiCodepoints *out, PiError *err)
{
	UErrorCode	status = U_ZERO_ERROR;
	UChar		src[2];
	UChar		dst[8];
	int32_t		src_len = 0;
	int32_t		dst_len;
	PiStatus	st;

	U16_APPEND_UNSAFE(src, src_len, (UChar32) cp);
	dst_len = u_strToLower(dst, 8, src, src_len, "", &status);
	if (U_FAILURE(status))
		return pi_fail(err, PI_ERR_CORRUPT, "lowercase of U+%04X failed: %s", cp,
					   u_errorName(status));
	for (int32_t i = 0; i < dst_len;)
	{
		UChar32		c;

		U16_NEXT(dst, i, dst_len, c);
		if ((st = pi_cp_push(out, (uint32_t) c, err)) != PI_OK)
			return st;
	}
	return PI_OK;
}
