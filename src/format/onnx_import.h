/*
 * onnx_import.h
 *	  Internal interface between the ONNX importer's files: constant tensors
 *	  known at import (onnx_const.c), node attribute lookup (onnx_attrs.c) and
 *	  constant folding (onnx_fold.c).
 */
#ifndef ONNX_IMPORT_H
#define ONNX_IMPORT_H

#include "onnx_proto.h"

/*
 * The batch size in an int64 shape tensor computed at import: Shape() of an
 * activation yields it as element 0.  Copies (Gather, Slice, Concat, Cast,
 * Unsqueeze...) keep it; arithmetic on it fails; a Reshape target holding it
 * at position 0 keeps the batch there.
 */
#define ONNX_BATCH_DIM (INT64_MIN + 1)

/* Folded constants larger than this many elements are refused. */
#define ONNX_FOLD_MAX_ELEMS ((int64_t) 1 << 26)

/*
 * All constants of one import together (initializers as float32 or int64,
 * and every folded result) take at most ONNX_CONST_BASE_BYTES plus
 * ONNX_CONST_PER_FILE_BYTE times the size of the file and its external
 * data: a small file cannot make the importer build gigabytes.
 */
#define ONNX_CONST_BASE_BYTES ((int64_t) 64 * 1024 * 1024)
#define ONNX_CONST_PER_FILE_BYTE 16

/*
 * A tensor whose value is known at import: an initializer, a Constant node
 * or a folded result.  Integer types (shapes, axes, indices, booleans) are
 * held exactly as int64, all others as float32.
 */
typedef struct OnnxConst
{
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		numel;
	int			data_type;		/* ONNX data type it stands for */
	bool		is_int;
	int64_t    *ints;			/* numel values when is_int */
	float	   *floats;			/* numel values otherwise */
	bool		borrowed;		/* floats lie in the file, or belong to the
								 * model: not freed with the constant */
} OnnxConst;

/* What an ONNX tensor name stands for while importing. */
typedef enum OnnxEntryKind
{
	ENTRY_UNSET,				/* a node output not produced yet */
	ENTRY_CONST,				/* known at import */
	ENTRY_ACT					/* an activation: a value of the model */
} OnnxEntryKind;

typedef struct OnnxEntry
{
	const char *name;
	OnnxEntryKind kind;
	int			producer;		/* index of the ONNX node producing it, or -1 */
	const OnnxTensor *tensor;	/* an initializer, converted on first use */
	const OnnxTensor *maxima;	/* a stored int8 tensor's column maxima, or NULL */
	OnnxConst  *c;				/* the constant, once converted */
	int			value;			/* model value: the activation, or the constant as a weight; -1 */
	bool		is_int;			/* holds integers or booleans (as float32 when an activation) */
	int			npads;			/* > 0: a zero Pad of the activation, left for a Conv to absorb */
	int64_t		pads[4];		/* spatial begins, then ends (as Conv's "pads") */
	int			lift_axis;		/* lifted mode: the ONNX axis that holds the batch */
	int64_t		lift_outer;		/* lifted mode: that axis's size outside the batch */
	PiStrings  *strings;		/* values are indexes into this list (onnx_strings.c) */
	bool		strings_ints;	/* the list holds int64 labels, in decimal */
} OnnxEntry;

/* State of one import. */
typedef struct OnnxImporter
{
	const OnnxGraph *graph;
	const uint8_t *external;
	size_t		external_len;
	int			opset;
	int			ml_opset;		/* of domain ai.onnx.ml; 0 when not imported */
	bool		lifted;			/* lifted-batch mode (onnx_lift.c) */
	bool		stored_int8;	/* int8 initializers with maxima are weights (pi_onnx.h) */
	int64_t		sequence_length;	/* what symbolic non-batch input dims
									 * become; 0: they are refused */
	bool		sequence_bound; /* an input had such a dim */
	PiModel    *model;
	OnnxEntry  *entries;
	int			nentries;
	int			entries_cap;
	int		   *slots;			/* open addressing over entries, -1 when empty */
	int			nslots;
	PiStrings **lists;			/* lists of labels the import made (onnx_strings.c) */
	int			nlists;
	int			lists_cap;
} OnnxImporter;

/* onnx_import.c */
OnnxEntry  *onnx_entry(const OnnxImporter *im, const char *name);
PiStatus	onnx_entry_const(OnnxImporter *im, OnnxEntry *e, OnnxConst **out, PiError *err);
PiStatus	onnx_entry_value(OnnxImporter *im, OnnxEntry *e, int *value, PiError *err);
PiStatus	onnx_define(OnnxImporter *im, const char *name, OnnxConst *c, int value,
						PiError *err);
void		onnx_unique_name(const OnnxImporter *im, const char *base, const char *suffix,
							 char *buf);
PiStatus	onnx_add_weight(OnnxImporter *im, const char *base, int rank, const int64_t *dims,
							float *data, int *value, PiError *err);
bool		onnx_entry_is_int(const OnnxEntry *e);
PiStatus	onnx_emit(OnnxImporter *im, const char *name, PiOp op, const int *inputs,
					  int ninputs, const PiAttrs *attrs, int *value, PiError *err);
PiStatus	onnx_emit_exact(OnnxImporter *im, const char *name, PiOp op, const int *inputs,
							int ninputs, const PiAttrs *attrs, int *value, PiError *err);

/* onnx_qoperator.c */
PiStatus	onnx_rewrite_quantized(OnnxModelProto *proto, PiError *err);

/* onnx_fuse_norm.c */
PiStatus	onnx_fuse_layer_norms(PiModel *m, PiError *err);
bool		onnx_used_exactly(const PiModel *m, int v, int uses);

/* onnx_fuse_bias.c */
PiStatus	onnx_fuse_conv_biases(PiModel *m, PiError *err);

/* onnx_lift.c */
PiStatus	onnx_lift_input(OnnxImporter *im, OnnxEntry *e, PiError *err);
PiStatus	onnx_lift_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err);
PiStatus	onnx_lift_shape(OnnxImporter *im, const OnnxNode *n, const OnnxEntry *x,
							OnnxConst **out, PiError *err);
PiStatus	onnx_lift_output(OnnxImporter *im, OnnxEntry *e, const char *name, PiError *err);
bool		onnx_lift_is_output(const OnnxImporter *im, const char *name);

/* onnx_strings.c */
PiStrings  *onnx_strings_new(OnnxImporter *im);
void		onnx_strings_free(OnnxImporter *im);
PiStatus	onnx_strings_index(PiStrings *s, const char *str, int *index, PiError *err);
PiStatus	onnx_strings_labels(OnnxImporter *im, const char *what, const char *const *strings,
								const int64_t *ints, int count, PiStrings **out, PiError *err);
PiStatus	onnx_strings_input(OnnxImporter *im, OnnxEntry *e, int input, PiError *err);
PiStatus	onnx_strings_prepare(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in,
								 OnnxEntry *copies, int ncopies, PiError *err);
void		onnx_strings_propagate(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in);
PiStatus	onnx_strings_finish(OnnxImporter *im, PiError *err);

/* onnx_convert.c */
bool		onnx_convert_supported(const char *domain, const char *op_type);
PiStatus	onnx_convert_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in,
							  PiError *err);
bool		onnx_domain_is_ml(const char *domain);

/* onnx_const.c */
void		onnx_const_budget_start(int64_t file_bytes);
PiStatus	onnx_const_new(int rank, const int64_t *dims, bool is_int, int data_type,
						   const char *what, OnnxConst **out, PiError *err);
void		onnx_const_free(OnnxConst *c);
PiStatus	onnx_const_from_int8(const OnnxTensor *codes, const OnnxTensor *maxima,
								 const uint8_t *external, size_t external_len, OnnxConst **out,
								 PiError *err);
PiStatus	onnx_const_from_tensor(const OnnxTensor *t, const uint8_t *external,
								   size_t external_len, OnnxConst **out, PiError *err);
double		onnx_const_get(const OnnxConst *c, int64_t i);
bool		onnx_const_has_batch(const OnnxConst *c);
PiStatus	onnx_const_to_floats(const OnnxConst *c, const char *what, float **out,
								 PiError *err);

/* onnx_attrs.c */
const OnnxAttr *onnx_attr(const OnnxNode *n, const char *name);
int64_t		onnx_attr_int(const OnnxNode *n, const char *name, int64_t dflt);
float		onnx_attr_float(const OnnxNode *n, const char *name, float dflt);
const char *onnx_attr_string(const OnnxNode *n, const char *name, const char *dflt);
int			onnx_attr_ints(const OnnxNode *n, const char *name, const int64_t **values);
const char *onnx_node_label(const OnnxNode *n);

/* onnx_fold.c */
bool		onnx_fold_supported(const char *op_type);
PiStatus	onnx_fold_node(const OnnxNode *n, int opset, OnnxConst *const *inputs,
						   OnnxConst **outputs, PiError *err);

#endif							/* ONNX_IMPORT_H */
