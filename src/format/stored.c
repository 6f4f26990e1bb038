/*
 * stored.c
 *	  A stored model version as the catalog keeps it: a graph JSON and one
 *	  blob.  For a native model the JSON is the graph and the blob its
 *	  safetensors weights; for an imported ONNX model the JSON describes the
 *	  file ({"format": "onnx", "onnx_bytes": ..., "external_data_bytes": ...})
 *	  and the blob is the ONNX file followed by its external data, kept as
 *	  the user gave them and imported again at load.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_format.h"
#include "pi_onnx.h"

/* Reads a non-negative integer member of a descriptor. */
static PiStatus
descriptor_size(const cJSON *root, const char *key, size_t *out, PiError *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
		v->valuedouble != floor(v->valuedouble))
		return pi_fail(err, PI_ERR_CORRUPT, "stored ONNX model lacks a valid \"%s\"", key);
	*out = (size_t) v->valuedouble;
	return PI_OK;
}

/* Loads a stored version: native graph and weights, or an ONNX file. */
PiStatus
pi_model_load_stored(const char *json, size_t json_len, const uint8_t *blob, size_t blob_len,
					 PiModel **model_out, PiError *err)
{
	cJSON	   *root = cJSON_ParseWithLength(json, json_len);
	const cJSON *format = root ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
	size_t		onnx_bytes = 0,
				external_bytes = 0;
	PiStatus	st;

	if (!cJSON_IsString(format) || strcmp(format->valuestring, "onnx") != 0)
	{
		cJSON_Delete(root);
		return pi_model_load(json, json_len, blob, blob_len, model_out, err);
	}
	st = descriptor_size(root, "onnx_bytes", &onnx_bytes, err);
	if (st == PI_OK)
		st = descriptor_size(root, "external_data_bytes", &external_bytes, err);
	cJSON_Delete(root);
	if (st != PI_OK)
		return st;
	if (onnx_bytes > blob_len || external_bytes != blob_len - onnx_bytes)
		return pi_fail(err, PI_ERR_CORRUPT,
					   "stored ONNX model has %zu bytes, its descriptor says %zu + %zu",
					   blob_len, onnx_bytes, external_bytes);
	return pi_onnx_load(blob, onnx_bytes, external_bytes ? blob + onnx_bytes : NULL,
						external_bytes, model_out, NULL, err);
}

/* The descriptor JSON of an imported ONNX file (malloc'd), or NULL. */
char *
pi_onnx_descriptor(const PiOnnxInfo *info, size_t onnx_bytes, size_t external_bytes)
{
	cJSON	   *root = cJSON_CreateObject();
	char		producer[sizeof(info->producer_name) + sizeof(info->producer_version) + 2];
	char	   *text;

	if (root == NULL)
		return NULL;
	snprintf(producer, sizeof(producer), "%s%s%s", info->producer_name,
			 info->producer_version[0] ? " " : "", info->producer_version);
	if (!cJSON_AddStringToObject(root, "format", "onnx") ||
		!cJSON_AddNumberToObject(root, "onnx_bytes", (double) onnx_bytes) ||
		!cJSON_AddNumberToObject(root, "external_data_bytes", (double) external_bytes) ||
		!cJSON_AddNumberToObject(root, "ir_version", (double) info->ir_version) ||
		!cJSON_AddNumberToObject(root, "opset", (double) info->opset) ||
		!cJSON_AddStringToObject(root, "producer", producer))
	{
		cJSON_Delete(root);
		return NULL;
	}
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}
