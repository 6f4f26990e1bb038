/*
 * onnx_lift.h
 *	  Internal interface of the lifted-batch import (onnx_lift.c,
 *	  onnx_lift_lower.c, onnx_lift_track.c): where the batch is in an
 *	  activation, the helpers the files share, lowering and tracking.
 */
#ifndef ONNX_LIFT_H
#define ONNX_LIFT_H

#include "onnx_lower.h"

/*
 * Where the batch is in an activation: the ONNX axis that holds it, and
 * how many elements of that axis lie outside it (8 for [L*B] with L = 8,
 * 1 for [B*H]).  Kept in OnnxEntry.lift_axis and lift_outer.
 */
typedef struct LiftSpot
{
	int			axis;
	int64_t		outer;
} LiftSpot;

/* onnx_lift.c: shared helpers */
bool		lift_is_elementwise(const char *op_type);
PiStatus	lift_refuse(const OnnxNode *n, PiError *err, const char *why);
int			lift_dims(const OnnxImporter *im, const OnnxEntry *e, int64_t *dims);
int64_t		lift_product(const int64_t *dims, int from, int to);
bool		lift_norm_axis(int64_t axis, int rank, int *out);
PiStatus	lift_input_rank(OnnxImporter *im, OnnxEntry *e, int *rank, PiError *err);
void		lift_set_spot(OnnxImporter *im, const char *name, LiftSpot s);
LiftSpot	lift_spot_of(const OnnxEntry *e);
PiStatus	lift_emit_reshape(OnnxImporter *im, const char *name, bool exact, int value, int rank,
							  const int64_t *dims, int *out, PiError *err);
PiStatus	lift_slice_count(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, int64_t *count,
							 PiError *err);

/* onnx_lift_lower.c */
PiStatus	lift_lower_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err);

/* onnx_lift_track.c */
PiStatus	lift_track_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err);

#endif							/* ONNX_LIFT_H */
