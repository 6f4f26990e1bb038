/*
 * pi_onnx.h
 *	  ONNX import: decodes an ONNX ModelProto (protobuf) and converts its
 *	  graph into a finalized PiModel, folding constant subgraphs at import.
 *
 * The bytes are untrusted: every varint, length, count and element count is
 * checked against the bytes present.  Plain C, no PostgreSQL headers.
 * docs/onnx.md lists what is supported.
 */
#ifndef PI_ONNX_H
#define PI_ONNX_H

#include "pi_ir.h"

#define PI_ONNX_MAX_DIMS 8

/* What the server shows about an imported model. */
typedef struct PiOnnxInfo
{
	int64_t		ir_version;
	int64_t		opset;			/* version of the default domain "" / "ai.onnx" */
	char		producer_name[64];
	char		producer_version[64];
	/* the file's data type of each model input, as numpy names them ("int64") */
	char		input_dtypes[PI_MAX_MODEL_IO][16];
	/* the length the symbolic sequence dimensions took; 0: the file has none */
	int64_t		sequence_length;
} PiOnnxInfo;

/*
 * The metadata_props key of an ONNX file that a stored int8 version keeps
 * (src/format/onnx_compact.c): value "int8".  Such a file's INT8
 * initializer X with a FLOAT initializer X + PI_INT8_AMAX_SUFFIX of its
 * column maxima (shapes as in pi_int8_maxima_form) imports as the float32
 * weight they stand for (pi_int8_dequantize_matrix); any other value of
 * the key is refused.
 */
#define PI_ONNX_STORED_WEIGHTS_KEY "pg_infer.stored_weights"

/*
 * The ONNX file that a stored version of an int8 model keeps
 * (src/format/onnx_compact.c): model was imported from onnx (and external,
 * at sequence_length) with options applied, forms is what
 * pi_model_weight_forms says; *out is malloc'd, or NULL when the file is
 * kept as given (no weight to reduce, another precision).
 */
PiStatus	pi_onnx_reduce(const uint8_t *onnx, size_t len, const uint8_t *external,
						   size_t external_len, int64_t sequence_length, const char *options,
						   size_t options_len, const PiModel *model, const PiWeightForm *forms,
						   uint8_t **out, size_t *out_len, PiError *err);

/*
 * Imports an ONNX model.  external holds the one external data file that
 * tensors with data_location EXTERNAL refer to (NULL/0 when there is none;
 * every external tensor must name the same location).  On success *out is a
 * finalized model and info (may be NULL) describes it.  A graph refused for
 * moving or merging the batch axis is imported again in lifted-batch mode
 * (docs/onnx.md); its model has the same input and output shapes.
 */
PiStatus	pi_onnx_load(const uint8_t *onnx, size_t len,
						 const uint8_t *external, size_t external_len,
						 PiModel **out, PiOnnxInfo *info, PiError *err);

/*
 * FLOAT tensors that an in-place import moved within the file to align
 * them (src/format/onnx_align.c).
 */
typedef struct PiOnnxMoves
{
	struct PiOnnxMove *items;
	int			count;
	int			cap;
} PiOnnxMoves;

/*
 * The same without copying float32 weights: the model points into onnx and
 * external, which must stay unchanged until pi_model_free.  With moves
 * (zeroed by the caller), onnx must be writable: tensors whose raw_data is
 * not aligned for float32 are moved a few bytes within it instead of being
 * copied, and recorded there; afterwards (the model freed)
 * pi_onnx_moves_undo restores the file, or pi_onnx_moves_free forgets the
 * record.  On failure the file is as it was.  Without moves (NULL), onnx
 * is not written and such tensors are copied.
 */
PiStatus	pi_onnx_load_in_place(const uint8_t *onnx, size_t len,
								  const uint8_t *external, size_t external_len,
								  PiOnnxMoves *moves, PiModel **out, PiOnnxInfo *info,
								  PiError *err);

/*
 * The same for a text model whose graph inputs have a symbolic sequence
 * dimension (any dimension after the batch that the file leaves symbolic,
 * e.g. [batch, sequence]): the import sets them all to sequence_length,
 * so every shape, Shape() and Reshape folds to that length (the server
 * imports a model once per length it runs).  sequence_length 0 refuses
 * such dimensions, as pi_onnx_load_in_place does; info->sequence_length
 * says whether the file had any.
 */
PiStatus	pi_onnx_load_at_length(const uint8_t *onnx, size_t len,
								   const uint8_t *external, size_t external_len,
								   PiOnnxMoves *moves, int64_t sequence_length,
								   PiModel **out, PiOnnxInfo *info, PiError *err);

/* Restores the bytes an in-place import moved in onnx, and frees the record. */
void		pi_onnx_moves_undo(uint8_t *onnx, PiOnnxMoves *moves);

/* Frees the record of an in-place import's moves, leaving the file as it is. */
void		pi_onnx_moves_free(PiOnnxMoves *moves);

/* One ONNX TensorProto file (as in ONNX's test data), widened to float32. */
typedef struct PiOnnxTensor
{
	char		name[PI_MAX_NAME];
	int			data_type;		/* ONNX TensorProto.DataType number */
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		numel;
	float	   *data;			/* numel floats (integers exact up to 2^24) */
	char	  **strings;		/* STRING tensors: numel strings (data is NULL) */
} PiOnnxTensor;

/* Decodes a serialized TensorProto with its data in the message itself (numbers or strings). */
PiStatus	pi_onnx_tensor_load(const uint8_t *bytes, size_t len,
								PiOnnxTensor *out, PiError *err);

/* Frees what pi_onnx_tensor_load allocated. */
void		pi_onnx_tensor_free(PiOnnxTensor *tensor);

/*
 * The descriptor JSON stored for an imported ONNX file of onnx_bytes
 * followed by external_bytes of external data (malloc'd; NULL when out of
 * memory).  See pi_model_load_stored.
 */
char	   *pi_onnx_descriptor(const PiOnnxInfo *info, size_t onnx_bytes,
							   size_t external_bytes);

/*
 * The file name of the external data the model's tensors refer to, in out;
 * empty when all data is inside the model.  Fails when tensors name two files.
 */
PiStatus	pi_onnx_external_location(const uint8_t *onnx, size_t len,
									  char *out, size_t out_len, PiError *err);

#endif							/* PI_ONNX_H */
