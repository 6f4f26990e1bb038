/*
 * text_options.c
 *	  A text model's options: max_seq_length, the length its encodings are
 *	  truncated to (sentence-transformers' max_seq_length, not the
 *	  truncation of tokenizer.json), and the pooling of its token vectors
 *	  (sentence-transformers' pooling and normalize modules).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "text_internal.h"

/* Reads the three options from an object; absent ones take their defaults. */
static PiStatus
read_options(const cJSON *root, PiTextOptions *out, PiError *err)
{
	const cJSON *length = cJSON_GetObjectItemCaseSensitive(root, "max_seq_length");
	const cJSON *pooling = cJSON_GetObjectItemCaseSensitive(root, "pooling");
	const cJSON *normalize = cJSON_GetObjectItemCaseSensitive(root, "normalize");

	out->given = length != NULL || pooling != NULL || normalize != NULL;

	if (length != NULL)
	{
		double		v = cJSON_IsNumber(length) ? length->valuedouble : NAN;

		if (!(v >= 1 && v <= PI_TEXT_MAX_SEQ_LENGTH && v == floor(v)))
			return pi_fail(err, PI_ERR_INVALID, "option \"max_seq_length\" must be an integer from 1 to %d",
						   PI_TEXT_MAX_SEQ_LENGTH);
		out->max_length = (int) v;
	}
	if (pooling != NULL)
	{
		if (cJSON_IsString(pooling) && strcmp(pooling->valuestring, "mean") == 0)
			out->pooling = PI_POOL_MEAN;
		else if (cJSON_IsString(pooling) && strcmp(pooling->valuestring, "cls") == 0)
			out->pooling = PI_POOL_CLS;
		else
			return pi_fail(err, PI_ERR_INVALID, "option \"pooling\" must be \"mean\" or \"cls\"");
	}
	if (normalize != NULL)
	{
		if (!cJSON_IsBool(normalize))
			return pi_fail(err, PI_ERR_INVALID, "option \"normalize\" must be true or false");
		out->normalize = cJSON_IsTrue(normalize);
	}
	return PI_OK;
}

/* Reads a text model's options from the options JSON. */
PiStatus
pi_text_options_parse(const char *options_json, size_t len, PiTextOptions *out, PiError *err)
{
	cJSON	   *root = cJSON_ParseWithLength(options_json, len);
	PiStatus	st;

	memset(out, 0, sizeof(*out));
	out->pooling = PI_POOL_MEAN;
	if (root == NULL || !cJSON_IsObject(root))
	{
		cJSON_Delete(root);
		return pi_fail(err, PI_ERR_INVALID, "options must be a JSON object");
	}
	st = read_options(root, out, err);
	cJSON_Delete(root);
	return st;
}
