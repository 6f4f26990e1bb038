/*
 * utf8.c
 *	  Code point buffers and strict UTF-8 decoding and encoding.
 */
#include <stdlib.h>

#include "text_internal.h"

/* Most code points one buffer may hold (a text datum is under 1 GB). */
#define PI_CP_MAX (1 << 30)

/* Appends one code point, growing the buffer by doubling. */
PiStatus
pi_cp_push(PiCodepoints *buf, uint32_t cp, PiError *err)
{
	if (buf->count == buf->capacity)
	{
		int			capacity = buf->capacity == 0 ? 64 : buf->capacity * 2;
		uint32_t   *grown;

		if (buf->capacity >= PI_CP_MAX)
			return pi_fail(err, PI_ERR_LIMIT, "text has more than %d code points", PI_CP_MAX);
		grown = realloc(buf->cp, sizeof(uint32_t) * (size_t) capacity);
		if (grown == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		buf->cp = grown;
		buf->capacity = capacity;
	}
	buf->cp[buf->count++] = cp;
	return PI_OK;
}

/* Frees a code point buffer and empties it. */
void
pi_cp_free(PiCodepoints *buf)
{
	free(buf->cp);
	buf->cp = NULL;
	buf->count = buf->capacity = 0;
}

/* Length of the sequence a lead byte starts, and its payload bits; 0 if not a lead. */
static int
lead_length(unsigned char b, uint32_t *bits)
{
	if (b < 0x80)
	{
		*bits = b;
		return 1;
	}
	if (b >= 0xC2 && b <= 0xDF)
	{
		*bits = b & 0x1F;
		return 2;
	}
	if (b >= 0xE0 && b <= 0xEF)
	{
		*bits = b & 0x0F;
		return 3;
	}
	if (b >= 0xF0 && b <= 0xF4)
	{
		*bits = b & 0x07;
		return 4;
	}
	return 0;
}

/* Decodes strict UTF-8 into code points (appended to out). */
PiStatus
pi_utf8_decode(const char *text, size_t len, PiCodepoints *out, PiError *err)
{
	static const uint32_t min_value[5] = {0, 0, 0x80, 0x800, 0x10000};
	const unsigned char *s = (const unsigned char *) text;
	size_t		i = 0;

	while (i < len)
	{
		uint32_t	cp;
		int			n = lead_length(s[i], &cp);
		PiStatus	st;

		if (n == 0 || len - i < (size_t) n)
			return pi_fail(err, PI_ERR_CORRUPT, "invalid UTF-8 at byte %zu", i);
		for (int k = 1; k < n; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return pi_fail(err, PI_ERR_CORRUPT, "invalid UTF-8 at byte %zu", i);
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min_value[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return pi_fail(err, PI_ERR_CORRUPT, "invalid UTF-8 at byte %zu", i);
		if ((st = pi_cp_push(out, cp, err)) != PI_OK)
			return st;
		i += n;
	}
	return PI_OK;
}

/* Writes one code point (at most U+10FFFF) as UTF-8; returns the byte count. */
int
pi_utf8_encode(uint32_t cp, char *dst)
{
	unsigned char *d = (unsigned char *) dst;

	if (cp < 0x80)
	{
		d[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		d[0] = 0xC0 | (cp >> 6);
		d[1] = 0x80 | (cp & 0x3F);
		return 2;
	}
	if (cp < 0x10000)
	{
		d[0] = 0xE0 | (cp >> 12);
		d[1] = 0x80 | ((cp >> 6) & 0x3F);
		d[2] = 0x80 | (cp & 0x3F);
		return 3;
	}
	d[0] = 0xF0 | (cp >> 18);
	d[1] = 0x80 | ((cp >> 12) & 0x3F);
	d[2] = 0x80 | ((cp >> 6) & 0x3F);
	d[3] = 0x80 | (cp & 0x3F);
	return 4;
}
