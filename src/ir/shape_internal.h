/*
 * shape_internal.h
 *	  What the shape inference files (src/ir/shape*.c) share: the checks on
 *	  a node's inputs and the per-family entry points.
 */
#ifndef SHAPE_INTERNAL_H
#define SHAPE_INTERNAL_H

#include "pi_ir.h"

#define IS_ACT(v) ((v)->kind != PI_VALUE_WEIGHT)

/* Sets the node's output shape from rank/dims (dims[0] ignored: batch). */
PiStatus	pi_shape_set_output(PiModel *m, PiNode *n, int rank, const int64_t *dims, PiError *err);

/* Normalizes an axis of an activation of this rank; the batch axis is refused. */
PiStatus	pi_shape_axis(const PiNode *n, int axis, int rank, int *result, PiError *err);

/* Requires input i to be an activation (it carries the batch). */
PiStatus	pi_shape_need_activation(const PiModel *m, const PiNode *n, int i, PiError *err);

/* Requires input i to be a weight of the given rank. */
PiStatus	pi_shape_need_weight(const PiModel *m, const PiNode *n, int i, int rank, PiError *err);

/* Requires an optional bias (input i) of shape [count]. */
PiStatus	pi_shape_check_bias(const PiModel *m, const PiNode *n, int i, int64_t count, PiError *err);

/* Conv2D, ConvTranspose, MaxPool2D, AveragePool2D, GlobalAveragePool (shape_window.c). */
PiStatus	pi_infer_window(PiModel *m, PiNode *n, PiError *err);

/* ReduceMean/Sum/Max, LayerNormalization, TopK (shape_reduce.c). */
PiStatus	pi_infer_reduce(PiModel *m, PiNode *n, PiError *err);

/* Squeeze, Unsqueeze, Slice, Gather, Expand (shape_index.c). */
PiStatus	pi_infer_index(PiModel *m, PiNode *n, PiError *err);

/* TreeEnsemble, PostTransform, Lookup, Normalize (shape_tabular.c). */
PiStatus	pi_infer_tabular(PiModel *m, PiNode *n, PiError *err);

#endif							/* SHAPE_INTERNAL_H */
