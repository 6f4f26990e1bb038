/*
 * onnx_fold.h
 *	  Internal interface of the constant folding files (onnx_fold.c,
 *	  onnx_fold_math.c): the checks they share and the folders the op table
 *	  of onnx_fold.c names.  Each folder evaluates one node over constant
 *	  inputs (in[i] NULL when omitted) into *out.
 */
#ifndef ONNX_FOLD_H
#define ONNX_FOLD_H

#include "onnx_import.h"

/* Copies element src of a into element dst of b (same type). */
static inline void
onnx_fold_copy(const OnnxConst *a, int64_t src, OnnxConst *b, int64_t dst)
{
	if (a->is_int)
		b->ints[dst] = a->ints[src];
	else
		b->floats[dst] = a->floats[src];
}

/* onnx_fold.c: shared checks */
PiStatus	onnx_fold_need_input(const OnnxNode *n, OnnxConst *const *in, int i, PiError *err);
PiStatus	onnx_fold_need_ints(const OnnxNode *n, OnnxConst *const *in, int i, PiError *err);
PiStatus	onnx_fold_axis(const OnnxNode *n, int64_t axis, int rank, int *out, PiError *err);
PiStatus	onnx_fold_new_like(const OnnxNode *n, const OnnxConst *like, int rank,
							   const int64_t *dims, OnnxConst **out, PiError *err);

#define ONNX_FOLDER(name) \
	PiStatus name(const OnnxNode *n, int opset, OnnxConst *const *in, OnnxConst **out, PiError *err)

/* onnx_fold.c: ops that move data */
ONNX_FOLDER(onnx_fold_identity);
ONNX_FOLDER(onnx_fold_reshape);
ONNX_FOLDER(onnx_fold_flatten);
ONNX_FOLDER(onnx_fold_shape);
ONNX_FOLDER(onnx_fold_size);
ONNX_FOLDER(onnx_fold_unsqueeze);
ONNX_FOLDER(onnx_fold_squeeze);
ONNX_FOLDER(onnx_fold_concat);
ONNX_FOLDER(onnx_fold_gather);
ONNX_FOLDER(onnx_fold_slice);
ONNX_FOLDER(onnx_fold_transpose);

/* onnx_fold_math.c: arithmetic */
ONNX_FOLDER(onnx_fold_cast);
ONNX_FOLDER(onnx_fold_binary);
ONNX_FOLDER(onnx_fold_where);
ONNX_FOLDER(onnx_fold_expand);
ONNX_FOLDER(onnx_fold_constant_of_shape);
ONNX_FOLDER(onnx_fold_range);
ONNX_FOLDER(onnx_fold_unary);

/* onnx_quant.c: codes of quantized models */
ONNX_FOLDER(onnx_fold_quantize);
ONNX_FOLDER(onnx_fold_dequantize);

#endif							/* ONNX_FOLD_H */
