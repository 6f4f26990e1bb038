/*
 * pi_format.h
 *	  Parsers for the native model format: safetensors weights and graph JSON.
 *
 * Both take untrusted bytes: every length, offset and dimension product is
 * checked before use.  Plain C, no PostgreSQL headers.
 */
#ifndef PI_FORMAT_H
#define PI_FORMAT_H

#include "pi_ir.h"

/* One tensor of a safetensors file, widened to float32. */
typedef struct PiTensor
{
	char	   *name;
	int			rank;
	int64_t		dims[PI_MAX_RANK];
	int64_t		numel;
	float	   *data;
	bool		borrowed;		/* data points into the parsed bytes */
} PiTensor;

typedef struct PiTensorSet
{
	PiTensor   *tensors;
	int			count;
} PiTensorSet;

/*
 * The name suffix of an I8 tensor's column maxima (src/format/safetensors.c):
 * tensor "w" of dtype I8 goes with F32 tensor "w:int8_amax".
 */
#define PI_INT8_AMAX_SUFFIX ":int8_amax"

/* Parses a safetensors buffer into float32 tensors. */
PiStatus	pi_safetensors_parse(const uint8_t *bytes, size_t len,
								 PiTensorSet *out, PiError *err);

/*
 * The same, except that F32 tensors at aligned addresses point into bytes
 * (borrowed), which must then stay unchanged while the set or a model built
 * from it exists.
 */
PiStatus	pi_safetensors_parse_in_place(const uint8_t *bytes, size_t len,
										  PiTensorSet *out, PiError *err);

/* Frees what pi_safetensors_parse allocated. */
void		pi_tensor_set_free(PiTensorSet *set);

/* Index of a tensor by name, or -1. */
int			pi_tensor_set_find(const PiTensorSet *set, const char *name);

/*
 * Builds a model from graph JSON text and its weights; takes ownership of the
 * tensors' data (the set is emptied).  The model is finalized on success.
 */
PiStatus	pi_graph_load(const char *json, size_t json_len, PiTensorSet *weights,
						  PiModel **model_out, PiError *err);

/* Convenience: parses both files and loads the model. */
PiStatus	pi_model_load(const char *json, size_t json_len,
						  const uint8_t *weights, size_t weights_len,
						  PiModel **model_out, PiError *err);

/*
 * The same without copying float32 weights: the model points into weights,
 * which must stay unchanged until pi_model_free.
 */
PiStatus	pi_model_load_in_place(const char *json, size_t json_len,
								   const uint8_t *weights, size_t weights_len,
								   PiModel **model_out, PiError *err);

/*
 * Where a stored version's blob divides (src/format/stored.c): an ONNX
 * file ends at *split and its external data follows; for a native graph's
 * safetensors weights *split is blob_len.
 */
PiStatus	pi_model_stored_split(const char *json, size_t json_len, size_t blob_len,
								  size_t *split, PiError *err);

/*
 * Loads a stored version: a native graph JSON with its safetensors weights
 * in first, or an ONNX descriptor JSON with the ONNX file in first and its
 * external data in second (aligned for float32).  The model is finalized on
 * success; its float32 weights point into first and second, which must stay
 * until pi_model_free, and an ONNX file's tensors may have been moved
 * within first to align them (first is scratch afterwards).  A text model
 * with a symbolic sequence dimension is imported at sequence_length, or at
 * the length it was stored at when that is 0.
 */
PiStatus	pi_model_load_stored(const char *json, size_t json_len,
								 uint8_t *first, size_t first_len,
								 const uint8_t *second, size_t second_len,
								 int64_t sequence_length,
								 PiModel **model_out, PiError *err);

/*
 * The safetensors bytes that a stored version of a native model keeps at its
 * precision (src/format/compact.c): model was loaded from graph json and
 * weights with options applied, forms is what pi_model_weight_forms says;
 * *out is malloc'd.
 */
PiStatus	pi_safetensors_reduce(const char *json, size_t json_len, const uint8_t *weights,
								  size_t len, const char *options, size_t options_len,
								  const PiModel *model, const PiWeightForm *forms, uint8_t **out,
								  size_t *out_len, PiError *err);

/* Longest sequence_length a stored text model may have. */
#define PI_MAX_SEQUENCE_LENGTH 65536

/*
 * The sequence length a stored ONNX text model with a symbolic sequence
 * dimension was created at (its longest), or 0 for a model without one.
 */
PiStatus	pi_model_stored_sequence_length(const char *json, size_t json_len,
											int64_t *length, PiError *err);

/* Applies a model's options JSON: input_scale, input_shift and precision (NULL for none). */
PiStatus	pi_model_apply_options(PiModel *model, const char *json, size_t len,
								   PiError *err);

#endif							/* PI_FORMAT_H */
