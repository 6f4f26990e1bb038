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
#include <stdbool.h>
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

/*
 * The sizes an ONNX descriptor records, checked against the blob's length;
 * *is_onnx is false for a native graph.
 */
static PiStatus
descriptor_sizes(const char *json, size_t json_len, size_t blob_len, bool *is_onnx,
				 size_t *onnx_bytes, size_t *external_bytes, PiError *err)
{
	cJSON	   *root = cJSON_ParseWithLength(json, json_len);
	const cJSON *format = root ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
	PiStatus	st = PI_OK;

	*is_onnx = cJSON_IsString(format) && strcmp(format->valuestring, "onnx") == 0;
	*onnx_bytes = blob_len;
	*external_bytes = 0;
	if (*is_onnx)
	{
		st = descriptor_size(root, "onnx_bytes", onnx_bytes, err);
		if (st == PI_OK)
			st = descriptor_size(root, "external_data_bytes", external_bytes, err);
		if (st == PI_OK && (*onnx_bytes > blob_len || *external_bytes != blob_len - *onnx_bytes))
			st = pi_fail(err, PI_ERR_CORRUPT,
						 "stored ONNX model has %zu bytes, its descriptor says %zu + %zu",
						 blob_len, *onnx_bytes, *external_bytes);
	}
	cJSON_Delete(root);
	return st;
}

/*
 * Where a stored version's blob of blob_len bytes divides: an ONNX file
 * ends at *split and its external data follows; for other versions *split
 * is blob_len.  A caller reading the blob into memory puts the second part
 * at an address aligned for float32, as pi_model_load_stored expects.
 */
PiStatus
pi_model_stored_split(const char *json, size_t json_len, size_t blob_len, size_t *split,
					  PiError *err)
{
	bool		is_onnx;
	size_t		external_bytes;

	return descriptor_sizes(json, json_len, blob_len, &is_onnx, split, &external_bytes, err);
}

/*
 * The sequence length an ONNX text model with a symbolic sequence dimension
 * was stored at (its longest), in *length; 0 for every other model.
 */
PiStatus
pi_model_stored_sequence_length(const char *json, size_t json_len, int64_t *length,
								PiError *err)
{
	cJSON	   *root = cJSON_ParseWithLength(json, json_len);
	size_t		value = 0;
	PiStatus	st = PI_OK;

	if (root != NULL && cJSON_GetObjectItemCaseSensitive(root, "sequence_length") != NULL)
		st = descriptor_size(root, "sequence_length", &value, err);
	if (st == PI_OK && value > PI_MAX_SEQUENCE_LENGTH)
		st = pi_fail(err, PI_ERR_CORRUPT, "stored ONNX model's sequence_length %zu is over %d",
					 value, PI_MAX_SEQUENCE_LENGTH);
	cJSON_Delete(root);
	*length = (int64_t) value;
	return st;
}

/*
 * Loads a stored version, native or ONNX, whose blob is first (up to the
 * split) followed by second; the model's float32 weights point into both,
 * and an ONNX file's tensors may be moved within first to align them.
 */
PiStatus
pi_model_load_stored(const char *json, size_t json_len, uint8_t *first, size_t first_len,
					 const uint8_t *second, size_t second_len, int64_t sequence_length,
					 PiModel **model_out, PiError *err)
{
	bool		is_onnx;
	size_t		onnx_bytes,
				external_bytes;
	PiOnnxMoves moves = {0};
	PiStatus	st;

	*model_out = NULL;
	st = descriptor_sizes(json, json_len, first_len + second_len, &is_onnx, &onnx_bytes,
						  &external_bytes, err);
	if (st == PI_OK && sequence_length == 0)
		st = pi_model_stored_sequence_length(json, json_len, &sequence_length, err);
	if (st == PI_OK && onnx_bytes != first_len)
		st = pi_fail(err, PI_ERR_CORRUPT, "stored model divided at %zu bytes, its descriptor says %zu",
					 first_len, onnx_bytes);
	if (st != PI_OK)
		return st;
	if (!is_onnx)
		return pi_model_load_in_place(json, json_len, first, first_len, model_out, err);
	st = pi_onnx_load_at_length(first, first_len, second_len ? second : NULL, second_len, &moves,
								sequence_length, model_out, NULL, err);
	pi_onnx_moves_free(&moves);
	return st;
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
		!cJSON_AddStringToObject(root, "producer", producer) ||
		(info->sequence_length > 0 &&
		 !cJSON_AddNumberToObject(root, "sequence_length", (double) info->sequence_length)))
	{
		cJSON_Delete(root);
		return NULL;
	}
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}
