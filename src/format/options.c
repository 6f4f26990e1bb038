/*
 * options.c
 *	  Model options (the JSON object given to create_model): the input
 *	  preprocessing x * input_scale + input_shift, global or per feature,
 *	  and the precision of the layers with a constant weight.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pi_format.h"
#include "pi_text.h"

/* Reads a number or a list of numbers; *values is malloc'd. */
static PiStatus
read_numbers(const cJSON *item, float **values, int64_t *len, PiError *err)
{
	const cJSON *v;
	int64_t		n = 0;

	if (cJSON_IsNumber(item))
	{
		*values = malloc(sizeof(float));
		if (*values == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		**values = (float) item->valuedouble;
		*len = 1;
		return isfinite(**values) ? PI_OK
			: pi_fail(err, PI_ERR_INVALID, "option \"%s\" is not a finite number", item->string);
	}
	if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) == 0)
		return pi_fail(err, PI_ERR_INVALID, "option \"%s\" must be a number or a non-empty list of numbers",
					   item->string);
	*values = malloc(sizeof(float) * cJSON_GetArraySize(item));
	if (*values == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	cJSON_ArrayForEach(v, item)
	{
		if (!cJSON_IsNumber(v) || !isfinite((float) v->valuedouble))
			return pi_fail(err, PI_ERR_INVALID, "option \"%s\" element %lld is not a finite number",
						   item->string, (long long) n);
		(*values)[n++] = (float) v->valuedouble;
	}
	*len = n;
	return PI_OK;
}

/* Spreads a 1-element list to len elements (in place, realloc'd). */
static PiStatus
widen(float **values, int64_t from, int64_t len, PiError *err)
{
	float	   *wide;

	if (from == len)
		return PI_OK;
	wide = malloc(sizeof(float) * len);
	if (wide == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < len; i++)
		wide[i] = (*values)[0];
	free(*values);
	*values = wide;
	return PI_OK;
}

/* Reads the "precision" option: "fp32" (the default), "int8", "bf16" or "fp16". */
static PiStatus
read_precision(const cJSON *item, PiPrecision *precision, PiError *err)
{
	if (!cJSON_IsString(item))
		return pi_fail(err, PI_ERR_INVALID,
					   "option \"precision\" must be a string, \"fp32\", \"int8\", \"bf16\" or \"fp16\"");
	for (int p = PI_PRECISION_FP32; p <= PI_PRECISION_LAST; p++)
		if (strcmp(item->valuestring, pi_precision_name((PiPrecision) p)) == 0)
		{
			*precision = (PiPrecision) p;
			return PI_OK;
		}
	return pi_fail(err, PI_ERR_INVALID,
				   "unknown precision \"%.64s\", expected \"fp32\", \"int8\", \"bf16\" or \"fp16\"",
				   item->valuestring);
}

/* Applies a model's options JSON (NULL or "{}" for none). */
PiStatus
pi_model_apply_options(PiModel *model, const char *json, size_t len, PiError *err)
{
	cJSON	   *root;
	const cJSON *item;
	float	   *scale = NULL,
			   *shift = NULL;
	int64_t		nscale = 0,
				nshift = 0;
	PiPrecision precision = PI_PRECISION_FP32;
	bool		seen_precision = false;
	PiStatus	st = PI_OK;

	if (json == NULL || len == 0)
		return PI_OK;
	root = cJSON_ParseWithLength(json, len);
	if (root == NULL || !cJSON_IsObject(root))
	{
		cJSON_Delete(root);
		return pi_fail(err, PI_ERR_INVALID, "options must be a JSON object");
	}
	cJSON_ArrayForEach(item, root)
	{
		if (strcmp(item->string, "input_scale") == 0 && scale == NULL)
			st = read_numbers(item, &scale, &nscale, err);
		else if (strcmp(item->string, "input_shift") == 0 && shift == NULL)
			st = read_numbers(item, &shift, &nshift, err);
		else if (strcmp(item->string, "precision") == 0 && !seen_precision)
		{
			st = read_precision(item, &precision, err);
			seen_precision = true;
		}
		else if (pi_text_option_key(item->string))
			continue;			/* a text model's (pi_text.h) */
		else
			st = pi_fail(err, PI_ERR_INVALID, "unknown option \"%s\", expected \"input_scale\", \"input_shift\", \"precision\" or a text model's \"max_seq_length\", \"pooling\" or \"normalize\"",
						 item->string);
		if (st != PI_OK)
			goto done;
	}
	model->precision = precision;
	if (scale == NULL && shift == NULL)
		goto done;
	{
		int64_t		n = nscale > nshift ? nscale : nshift;

		if ((nscale > 1 && nshift > 1 && nscale != nshift))
		{
			st = pi_fail(err, PI_ERR_SHAPE, "input_scale has %lld values and input_shift %lld, expected the same count",
						 (long long) nscale, (long long) nshift);
			goto done;
		}
		if (scale == NULL)
		{
			float		one = 1.0f;

			if ((scale = malloc(sizeof(float))) == NULL)
				goto nomem;
			*scale = one;
			nscale = 1;
		}
		if (shift == NULL)
		{
			if ((shift = calloc(1, sizeof(float))) == NULL)
				goto nomem;
			nshift = 1;
		}
		if ((st = widen(&scale, nscale, n, err)) != PI_OK ||
			(st = widen(&shift, nshift, n, err)) != PI_OK)
			goto done;
		st = pi_model_set_input_transform(model, scale, shift, n, err);
	}
	goto done;
nomem:
	st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
done:
	free(scale);
	free(shift);
	cJSON_Delete(root);
	return st;
}
