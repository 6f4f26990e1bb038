/*
 * compact.c
 *	  The weights a stored version of a reduced-precision native model
 *	  keeps: its safetensors rewritten with the matrices that the
 *	  precision's path reads (pi_model_weight_forms) in that precision's
 *	  width, the rest as float32.  int8: I8 codes per output column (a
 *	  Conv's per output channel) with their column maxima
 *	  (src/format/safetensors.c), which load back to weights that the int8
 *	  path quantizes to the very same codes and scales: the model is loaded
 *	  back from the rewritten file and compared (pi_int8_weights_agree), and
 *	  a weight that would not come back so (one a batch norm folds into,
 *	  say) is kept as float32; bf16 and fp16: BF16 and F16, rounded to
 *	  nearest even.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_format.h"

/* One tensor of the rewritten file. */
typedef struct CompactTensor
{
	const char *name;			/* NULL for an int8 tensor's column maxima */
	const PiTensor *source;
	const char *dtype;			/* "F32", "BF16", "F16" or "I8" */
	int			rank;
	int64_t		dims[PI_MAX_RANK];
	int64_t		bytes;
	uint8_t    *data;			/* malloc'd */
} CompactTensor;

/*
 * Quantizes t to int8 codes and column maxima; false (kept float32) when a
 * column is not finite or the codes would not load back to the same ones.
 */
static bool
quantize_int8(const PiTensor *t, PiWeightForm form, CompactTensor *codes, CompactTensor *amax)
{
	int8_t	   *q = malloc(t->numel + 1);
	float	   *top = malloc(sizeof(float) * (t->dims[0] + t->dims[t->rank - 1] + 1));
	int64_t		mdim = 0;

	if (q == NULL || top == NULL ||
		!pi_int8_quantize_weight(t->data, form, t->rank, t->dims, t->numel, q, top, &mdim, amax->dims))
	{
		free(q);
		free(top);
		return false;
	}
	codes->dtype = "I8";
	codes->bytes = t->numel;
	codes->data = (uint8_t *) q;
	amax->name = NULL;
	amax->source = t;
	amax->dtype = "F32";
	amax->rank = t->rank;
	amax->bytes = (int64_t) sizeof(float) * mdim;
	amax->data = (uint8_t *) top;
	return true;
}

/* t in 16 bits per element: bf16, or IEEE half (refused where it overflows). */
static PiStatus
narrow_16(const PiTensor *t, PiPrecision precision, CompactTensor *c, PiError *err)
{
	uint8_t    *out = malloc(2 * t->numel + 1);

	if (out == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < t->numel; i++)
	{
		uint16_t	h = precision == PI_PRECISION_BF16 ? pi_bf16_bits(t->data[i]) : pi_fp16_bits(t->data[i]);

		if (precision == PI_PRECISION_FP16 && isfinite(t->data[i]) && (h & 0x7c00u) == 0x7c00u)
		{
			free(out);
			return pi_fail(err, PI_ERR_INVALID,
						   "weight \"%s\" has %g at element %lld, beyond the range of float16 (65504)",
						   t->name, (double) t->data[i], (long long) i);
		}
		out[2 * i] = (uint8_t) (h & 0xff);
		out[2 * i + 1] = (uint8_t) (h >> 8);
	}
	c->dtype = precision == PI_PRECISION_BF16 ? "BF16" : "F16";
	c->bytes = 2 * t->numel;
	c->data = out;
	return PI_OK;
}

/* t as float32, as given. */
static PiStatus
keep_f32(const PiTensor *t, CompactTensor *c, PiError *err)
{
	c->dtype = "F32";
	c->bytes = (int64_t) sizeof(float) * t->numel;
	c->data = malloc(c->bytes + 1);
	if (c->data == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	memcpy(c->data, t->data, c->bytes);
	return PI_OK;
}

/*
 * The form of tensor t in model: reduced only for a weight the model reads
 * in that shape; for bf16 and fp16 only one the model reads as t holds it
 * (at int8 the model loaded back is checked instead).
 */
static PiWeightForm
tensor_form(const PiTensor *t, const PiModel *model, const PiWeightForm *forms)
{
	int			v = pi_model_find_value(model, t->name);
	int64_t		kdim,
				mdim;
	bool		trans;

	if (v < 0 || forms[v] == PI_WEIGHT_KEEP || model->values[v].numel != t->numel ||
		model->values[v].rank != t->rank ||
		memcmp(model->values[v].dims, t->dims, sizeof(int64_t) * t->rank) != 0 ||
		!pi_weight_form_matrix(forms[v], t->rank, t->dims, t->numel, &kdim, &mdim, &trans))
		return PI_WEIGHT_KEEP;
	if (model->precision != PI_PRECISION_INT8 &&
		(t->rank != 2 || memcmp(model->values[v].data, t->data, sizeof(float) * t->numel) != 0))
		return PI_WEIGHT_KEEP;
	return forms[v];
}

/* Whether the file already has a tensor by the name of name's column maxima. */
static bool
amax_name_taken(const PiTensorSet *set, const char *name)
{
	char		amax_name[PI_MAX_NAME + sizeof(PI_INT8_AMAX_SUFFIX)];

	snprintf(amax_name, sizeof(amax_name), "%s" PI_INT8_AMAX_SUFFIX, name);
	return pi_tensor_set_find(set, amax_name) >= 0;
}

/* Adds a header entry for c at *offset; false when out of memory. */
static bool
add_entry(cJSON *root, const CompactTensor *c, const char *name, uint64_t *offset)
{
	cJSON	   *entry = cJSON_AddObjectToObject(root, name);
	cJSON	   *shape = entry ? cJSON_AddArrayToObject(entry, "shape") : NULL;
	cJSON	   *offsets = entry ? cJSON_AddArrayToObject(entry, "data_offsets") : NULL;

	if (shape == NULL || offsets == NULL || !cJSON_AddStringToObject(entry, "dtype", c->dtype))
		return false;
	for (int d = 0; d < c->rank; d++)
		if (!cJSON_AddItemToArray(shape, cJSON_CreateNumber((double) c->dims[d])))
			return false;
	if (!cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double) *offset)) ||
		!cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double) (*offset + c->bytes))))
		return false;
	*offset += c->bytes;
	return true;
}

/*
 * Writes the file: the header (padded with spaces so that the data starts
 * 8-byte aligned), then the tensors widest element first, so that float32
 * ones stay aligned for loading in place.
 */
static PiStatus
write_file(CompactTensor *ts, int count, PiPrecision precision, uint8_t **out, size_t *out_len,
		   PiError *err)
{
	static const char *const widths[] = {"F32", "BF16", "F16", "I8"};
	cJSON	   *root = cJSON_CreateObject();
	cJSON	   *meta = root ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
	uint64_t	offset = 0;
	char	   *header = NULL;
	size_t		hlen,
				padded;
	bool		ok = meta != NULL && cJSON_AddStringToObject(meta, "precision", pi_precision_name(precision));

	for (int w = 0; w < 4 && ok; w++)
		for (int i = 0; i < count && ok; i++)
			if (strcmp(ts[i].dtype, widths[w]) == 0)
			{
				char		amax_name[PI_MAX_NAME + sizeof(PI_INT8_AMAX_SUFFIX)];

				if (ts[i].name == NULL)
					snprintf(amax_name, sizeof(amax_name), "%s" PI_INT8_AMAX_SUFFIX, ts[i].source->name);
				ok = add_entry(root, &ts[i], ts[i].name ? ts[i].name : amax_name, &offset);
			}
	if (ok)
		header = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (header == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	hlen = strlen(header);
	padded = (hlen + 8 + 7) / 8 * 8 - 8;
	*out_len = 8 + padded + offset;
	*out = malloc(*out_len);
	if (*out == NULL)
	{
		free(header);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	for (int b = 0; b < 8; b++)
		(*out)[b] = (uint8_t) ((uint64_t) padded >> (8 * b));
	memcpy(*out + 8, header, hlen);
	memset(*out + 8 + hlen, ' ', padded - hlen);
	free(header);
	offset = 8 + padded;
	for (int w = 0; w < 4; w++)
		for (int i = 0; i < count; i++)
			if (strcmp(ts[i].dtype, widths[w]) == 0)
			{
				memcpy(*out + offset, ts[i].data, ts[i].bytes);
				offset += ts[i].bytes;
			}
	return PI_OK;
}

/*
 * The file of model's weights (from weights) with the tensors that forms
 * reduces at its precision: *out malloc'd.
 */
static PiStatus
reduce_once(const uint8_t *weights, size_t len, const PiModel *model, const PiWeightForm *forms,
			uint8_t **out, size_t *out_len, PiError *err)
{
	PiTensorSet set;
	CompactTensor *ts;
	int			count = 0;
	PiStatus	st;

	*out = NULL;
	if ((st = pi_safetensors_parse(weights, len, &set, err)) != PI_OK)
		return st;
	ts = calloc(2 * set.count + 1, sizeof(CompactTensor));
	if (ts == NULL)
	{
		pi_tensor_set_free(&set);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < set.count && st == PI_OK; i++)
	{
		const PiTensor *t = &set.tensors[i];
		PiWeightForm form = tensor_form(t, model, forms);
		CompactTensor *c = &ts[count++];

		c->name = t->name;
		c->source = t;
		c->rank = t->rank;
		memcpy(c->dims, t->dims, sizeof(c->dims));
		if (form != PI_WEIGHT_KEEP && model->precision == PI_PRECISION_INT8 &&
			!amax_name_taken(&set, t->name) && quantize_int8(t, form, c, &ts[count]))
			count++;
		else if (form != PI_WEIGHT_KEEP &&
				 (model->precision == PI_PRECISION_BF16 || model->precision == PI_PRECISION_FP16))
			st = narrow_16(t, model->precision, c, err);
		else
			st = keep_f32(t, c, err);
	}
	if (st == PI_OK)
		st = write_file(ts, count, model->precision, out, out_len, err);
	for (int i = 0; i < count; i++)
		free(ts[i].data);
	free(ts);
	pi_tensor_set_free(&set);
	return st;
}

/*
 * The safetensors bytes that a stored version of model (loaded from graph
 * json and weights, options applied) keeps: *out malloc'd.  Tensors the
 * model does not read as a reduced matrix stay float32; at int8, the model
 * loaded back from them must have weights that quantize as its own do,
 * else the ones that do not stay float32 too.
 */
PiStatus
pi_safetensors_reduce(const char *json, size_t json_len, const uint8_t *weights, size_t len,
					  const char *options, size_t options_len, const PiModel *model,
					  const PiWeightForm *forms, uint8_t **out, size_t *out_len, PiError *err)
{
	PiWeightForm *tried = malloc(sizeof(PiWeightForm) * (model->nvalues + 1));
	PiInt8Agreement agreement = PI_INT8_DEMOTED;
	bool		all_float = false;
	PiStatus	st = PI_OK;

	*out = NULL;
	if (tried == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	memcpy(tried, forms, sizeof(PiWeightForm) * model->nvalues);
	/* each round keeps at least one more weight as float32, or ends */
	while (st == PI_OK && agreement == PI_INT8_DEMOTED)
	{
		PiModel    *loaded = NULL;

		free(*out);
		*out = NULL;
		st = reduce_once(weights, len, model, tried, out, out_len, err);
		if (st != PI_OK || model->precision != PI_PRECISION_INT8)
			break;
		if ((st = pi_model_load(json, json_len, *out, *out_len, &loaded, err)) == PI_OK &&
			(st = pi_model_apply_options(loaded, options, options_len, err)) == PI_OK)
			agreement = pi_int8_weights_agree(model, loaded, tried);
		pi_model_free(loaded);
		if (st == PI_OK && agreement == PI_INT8_NOMEM)
			st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
		else if (st == PI_OK && agreement == PI_INT8_DIFFERENT && !all_float)
		{
			/* not what the int8 path expects: every weight as float32 */
			memset(tried, 0, sizeof(PiWeightForm) * model->nvalues);
			all_float = true;
			agreement = PI_INT8_DEMOTED;
		}
	}
	free(tried);
	if (st != PI_OK)
	{
		free(*out);
		*out = NULL;
	}
	return st;
}
