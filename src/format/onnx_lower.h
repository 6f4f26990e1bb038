/*
 * onnx_lower.h
 *	  Internal interface of the ONNX lowering files (onnx_convert*.c): the
 *	  state a converter gets, the helpers they share, and the converters the
 *	  op table of onnx_convert.c names.
 */
#ifndef ONNX_LOWER_H
#define ONNX_LOWER_H

#include "onnx_import.h"

/* What every converter gets: the importer, the node and its input entries. */
typedef struct OnnxCv
{
	OnnxImporter *im;
	const OnnxNode *n;
	OnnxEntry **in;				/* NULL for an omitted optional input */
	PiError    *err;
} OnnxCv;

/* onnx_convert.c: helpers */
const char *onnx_cv_label(const OnnxCv *c);
bool		onnx_cv_has_input(const OnnxCv *c, int i);
PiStatus	onnx_cv_value(OnnxCv *c, int i, int *value);
PiStatus	onnx_cv_const(OnnxCv *c, int i, OnnxConst **out);
PiStatus	onnx_cv_ints(OnnxCv *c, int i, const int64_t **values, int *count);
const PiValue *onnx_cv_shape(const OnnxCv *c, int value);
PiStatus	onnx_cv_set_int(OnnxCv *c, PiOp op, PiAttrs *a, const char *name, int64_t v);
PiStatus	onnx_cv_copy_attrs(OnnxCv *c, PiOp op, PiAttrs *a, const char *const *names);
PiStatus	onnx_cv_one_input(OnnxCv *c, PiOp op, const char *const *names);
PiStatus	onnx_cv_finish_output(OnnxCv *c, int o, PiOp op, const int *inputs, int ninputs,
								  const PiAttrs *a);
PiStatus	onnx_cv_finish(OnnxCv *c, PiOp op, int ninputs, const PiAttrs *a);
PiStatus	onnx_cv_step(OnnxCv *c, const char *suffix, PiOp op, const int *inputs, int ninputs,
						 const PiAttrs *a, int *value);
PiStatus	onnx_cv_reshape(OnnxCv *c, const char *suffix, int value, int rank,
							const int64_t *dims, int *out);
PiStatus	onnx_cv_axes(OnnxCv *c, int since, const int64_t **axes, int *count);

/* onnx_convert_math.c */
PiStatus	onnx_cv_plain(OnnxCv *c);
PiStatus	onnx_cv_boolean(OnnxCv *c);
PiStatus	onnx_cv_param_unary(OnnxCv *c);
PiStatus	onnx_cv_gelu(OnnxCv *c);
PiStatus	onnx_cv_identity(OnnxCv *c);
PiStatus	onnx_cv_variadic(OnnxCv *c);
PiStatus	onnx_cv_clip(OnnxCv *c);
PiStatus	onnx_cv_cast(OnnxCv *c);
PiStatus	onnx_cv_softmax(OnnxCv *c);
PiStatus	onnx_cv_gemm(OnnxCv *c);
PiStatus	onnx_cv_reduce(OnnxCv *c);
PiStatus	onnx_cv_argmax(OnnxCv *c);

/* onnx_quant.c */
PiStatus	onnx_cv_quantize(OnnxCv *c);

/* onnx_convert_window.c */
PiStatus	onnx_cv_conv(OnnxCv *c);
PiStatus	onnx_cv_conv_transpose(OnnxCv *c);
PiStatus	onnx_cv_pool(OnnxCv *c);
PiStatus	onnx_cv_global_pool(OnnxCv *c);
PiStatus	onnx_cv_batch_norm(OnnxCv *c);
PiStatus	onnx_cv_layer_norm(OnnxCv *c);
PiStatus	onnx_cv_pad(OnnxCv *c);

/* onnx_convert_shape.c */
PiStatus	onnx_cv_reshape_op(OnnxCv *c);
PiStatus	onnx_cv_flatten(OnnxCv *c);
PiStatus	onnx_cv_squeeze(OnnxCv *c);
PiStatus	onnx_cv_transpose(OnnxCv *c);
PiStatus	onnx_cv_concat(OnnxCv *c);
PiStatus	onnx_cv_gather(OnnxCv *c);
PiStatus	onnx_cv_slice(OnnxCv *c);
PiStatus	onnx_cv_split(OnnxCv *c);
PiStatus	onnx_cv_expand(OnnxCv *c);
PiStatus	onnx_cv_topk(OnnxCv *c);

/* onnx_convert_ml.c */
PiStatus	onnx_cv_weight(OnnxCv *c, const char *suffix, const float *values, int rank,
						   const int64_t *dims, int *value);
PiStatus	onnx_cv_rows(OnnxCv *c, int *value, int64_t *features);
PiStatus	onnx_cv_classifier_outputs(OnnxCv *c, int raw, PiAttrs *post, PiStrings *labels,
									   bool ints);
PiStatus	onnx_cv_post_transform(OnnxCv *c, const char *transform, PiAttrs *a);
PiStatus	onnx_cv_class_labels(OnnxCv *c, const char *ints_name, PiStrings **labels, bool *ints);
PiStatus	onnx_cv_linear_classifier(OnnxCv *c);
PiStatus	onnx_cv_linear_regressor(OnnxCv *c);
PiStatus	onnx_cv_scaler(OnnxCv *c);
PiStatus	onnx_cv_normalizer(OnnxCv *c);
PiStatus	onnx_cv_binarizer(OnnxCv *c);
PiStatus	onnx_cv_imputer(OnnxCv *c);
PiStatus	onnx_cv_feature_vectorizer(OnnxCv *c);
PiStatus	onnx_cv_zipmap(OnnxCv *c);
PiStatus	onnx_cv_one_hot_encoder(OnnxCv *c);

/* onnx_convert_encode.c */
PiStatus	onnx_cv_label_encoder(OnnxCv *c);
PiStatus	onnx_cv_array_feature_extractor(OnnxCv *c);

/* onnx_convert_tree.c */
PiStatus	onnx_cv_tree_ensemble(OnnxCv *c);
PiStatus	onnx_cv_tree_ensemble5(OnnxCv *c);

/* onnx_strings.c */
PiStatus	onnx_strings_define(OnnxCv *c, int o, int value, PiStrings *labels, bool ints);

#endif							/* ONNX_LOWER_H */
