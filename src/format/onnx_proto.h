/*
 * onnx_proto.h
 *	  Internal interface of the ONNX importer: protobuf wire reading
 *	  (onnx_wire.c), the decoded ModelProto subset as plain C structs
 *	  (onnx_proto.c) and the conversion of TensorProto data to numbers
 *	  (onnx_tensor.c).
 *
 * Decoded strings and arrays live in an arena freed at once; strings are
 * NUL-terminated copies, arrays are sized by what the bytes contain.
 */
#ifndef ONNX_PROTO_H
#define ONNX_PROTO_H

#include "pi_onnx.h"

/* Returns the status of a failed step at once. */
/*
 * Most nodes (and initializers, value infos) a graph may have: decoding
 * takes memory in proportion, and large real models have tens of thousands.
 */
#define ONNX_MAX_NODES 200000

#define TRY(expr) do { PiStatus st_ = (expr); if (st_ != PI_OK) return st_; } while (0)

/* ONNX TensorProto.DataType numbers. */
enum
{
	ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_UINT16 = 4,
	ONNX_INT16 = 5, ONNX_INT32 = 6, ONNX_INT64 = 7, ONNX_STRING = 8,
	ONNX_BOOL = 9, ONNX_FLOAT16 = 10, ONNX_DOUBLE = 11, ONNX_UINT32 = 12,
	ONNX_UINT64 = 13, ONNX_BFLOAT16 = 16
};

/* ONNX AttributeProto.AttributeType numbers. */
enum
{
	ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_STRING = 3,
	ONNX_ATTR_TENSOR = 4, ONNX_ATTR_GRAPH = 5, ONNX_ATTR_FLOATS = 6,
	ONNX_ATTR_INTS = 7, ONNX_ATTR_STRINGS = 8
};

/* Protobuf wire types. */
enum
{
	WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5
};

/* A reader over one message's bytes; start is the file's first byte. */
typedef struct OnnxWire
{
	const uint8_t *start;
	const uint8_t *pos;
	const uint8_t *end;
} OnnxWire;

/* One field: its number, wire type and payload. */
typedef struct OnnxField
{
	uint32_t	number;
	int			wire_type;
	uint64_t	varint;			/* WIRE_VARINT */
	const uint8_t *data;		/* WIRE_LEN, WIRE_FIXED32, WIRE_FIXED64 */
	size_t		len;
	size_t		offset;			/* of the tag, from the file's start */
} OnnxField;

/* Allocations of one decode, freed together. */
typedef struct OnnxArena
{
	struct OnnxArenaBlock *blocks;
} OnnxArena;

/* A repeated numeric field: all its entries' values, as raw 64-bit words. */
typedef struct OnnxNumbers
{
	int64_t		count;
	int64_t		filled;			/* while decoding */
	uint64_t   *values;
} OnnxNumbers;

typedef struct OnnxTensor
{
	const char *name;
	int			data_type;
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS];
	int64_t		numel;
	/* the data: exactly one source is used, in this order of precedence */
	bool		external;		/* data_location EXTERNAL */
	const char *ext_location;
	int64_t		ext_offset;
	int64_t		ext_length;		/* -1: up to the end of the file */
	const uint8_t *raw;			/* raw_data */
	size_t		raw_len;
	bool		has_raw;
	OnnxNumbers float_data;		/* float bits */
	OnnxNumbers int32_data;		/* varints: int32, int16, int8, uint8, bool, float16 bits */
	OnnxNumbers int64_data;
	OnnxNumbers double_data;	/* double bits */
	OnnxNumbers uint64_data;
	int64_t		nstrings;		/* string_data (STRING tensors) */
	const char **strings;
	size_t		offset;			/* of the message, for errors */
} OnnxTensor;

typedef struct OnnxAttr
{
	const char *name;
	int			type;
	float		f;
	int64_t		i;
	const char *s;
	OnnxTensor *t;
	int			nfloats;
	float	   *floats;
	int			nints;
	int64_t    *ints;
	int			nstrings;
	const char **strings;
} OnnxAttr;

typedef struct OnnxNode
{
	const char *name;
	const char *op_type;
	const char *domain;
	int			ninputs;
	const char **inputs;		/* "" for an omitted optional input */
	int			noutputs;
	const char **outputs;
	int			nattrs;
	OnnxAttr   *attrs;
	bool		dynamic_int8;	/* set by onnx_rewrite_quantized: a quantize_dynamic layer */
} OnnxNode;

/* A ValueInfoProto: a tensor type with an optional shape. */
typedef struct OnnxValueInfo
{
	const char *name;
	int			elem_type;		/* 0 when not a tensor type */
	bool		has_shape;
	int			rank;
	int64_t		dims[PI_ONNX_MAX_DIMS]; /* -1: dim_param or unknown */
} OnnxValueInfo;

typedef struct OnnxGraph
{
	int			nnodes;
	OnnxNode   *nodes;
	int			ninitializers;
	OnnxTensor *initializers;
	int			ninputs;
	OnnxValueInfo *inputs;
	int			noutputs;
	OnnxValueInfo *outputs;
	int			nvalue_infos;
	OnnxValueInfo *value_infos;
} OnnxGraph;

typedef struct OnnxOpset
{
	const char *domain;
	int64_t		version;
} OnnxOpset;

typedef struct OnnxModelProto
{
	int64_t		ir_version;
	const char *producer_name;
	const char *producer_version;
	int			nopsets;
	OnnxOpset  *opsets;
	bool		has_graph;
	OnnxGraph	graph;
	bool		stored_int8;	/* metadata PI_ONNX_STORED_WEIGHTS_KEY is "int8" */
	OnnxArena	arena;
} OnnxModelProto;

/* onnx_wire.c */
void		onnx_wire_init(OnnxWire *w, const uint8_t *start, const uint8_t *data, size_t len);
bool		onnx_wire_more(const OnnxWire *w);
PiStatus	onnx_wire_next(OnnxWire *w, OnnxField *f, const char *what, PiError *err);
PiStatus	onnx_packed_count(const OnnxField *f, int wire_type, const char *what,
							  int64_t *count, PiError *err);
void		onnx_packed_read(const OnnxField *f, int wire_type, uint64_t *values);
float		onnx_bits_float(uint32_t bits);
uint32_t	onnx_le32(const uint8_t *p);
uint64_t	onnx_le64(const uint8_t *p);
void	   *onnx_arena_alloc(OnnxArena *arena, int64_t count, size_t size);
void		onnx_arena_free(OnnxArena *arena);

/* onnx_proto.c */
PiStatus	onnx_model_decode(const uint8_t *bytes, size_t len, OnnxModelProto *model,
							  PiError *err);
void		onnx_model_free(OnnxModelProto *model);
PiStatus	onnx_tensor_decode(const uint8_t *start, const uint8_t *data, size_t len,
							   OnnxArena *arena, OnnxTensor *t, PiError *err);

/* onnx_external.c */
PiStatus	onnx_external_location(const OnnxModelProto *model, char *out, size_t out_len,
								   PiError *err);

/* onnx_tensor.c */
bool		onnx_dtype_is_integer(int data_type);
const char *onnx_dtype_name(int data_type);
PiStatus	onnx_tensor_floats(const OnnxTensor *t, const uint8_t *external,
							   size_t external_len, float **out, PiError *err);
PiStatus	onnx_tensor_ints(const OnnxTensor *t, const uint8_t *external,
							 size_t external_len, int64_t **out, PiError *err);
PiStatus	onnx_tensor_float_view(const OnnxTensor *t, const uint8_t *external,
								   size_t external_len, const float **out, PiError *err);
PiStatus	onnx_tensor_doubles(const OnnxTensor *t, const uint8_t *external,
								size_t external_len, double **out, PiError *err);

/* onnx_align.c */
PiStatus	onnx_align_tensors(uint8_t *file, OnnxModelProto *model, PiOnnxMoves *moves,
							   PiError *err);

#endif							/* ONNX_PROTO_H */
