/*
 * pi_ir.h
 *	  The graph IR of pg_infer: values (graph inputs, weights, node outputs),
 *	  nodes, error reporting, and the passes that turn a parsed graph into an
 *	  executable one (topological order, shape inference, folding, memory plan).
 *
 * Plain C without PostgreSQL headers: the server and the standalone tests
 * share it.  Nothing here is shared between threads or processes; a PiModel
 * is immutable once pi_model_finalize() has returned PI_OK.
 */
#ifndef PI_IR_H
#define PI_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PI_MAX_RANK 6
#define PI_MAX_NAME 256
#define PI_MAX_MODEL_IO 16		/* graph inputs, and graph outputs, of a model */

/* Outcome of an engine call; the SQL layer maps each to an SQLSTATE. */
typedef enum PiStatus
{
	PI_OK = 0,
	PI_ERR_NOMEM,				/* allocation failed */
	PI_ERR_CORRUPT,				/* bytes that are not a well-formed file */
	PI_ERR_INVALID,				/* well-formed, but not a valid model definition */
	PI_ERR_UNSUPPORTED,			/* unknown op, or a feature outside the op set */
	PI_ERR_UNDEFINED,			/* a name that refers to nothing */
	PI_ERR_DUPLICATE,			/* a name defined twice */
	PI_ERR_UNUSED,				/* a weight that no node uses */
	PI_ERR_CYCLE,				/* the graph is not acyclic */
	PI_ERR_SHAPE,				/* shapes that do not fit together */
	PI_ERR_DTYPE,				/* an unsupported or mismatched dtype */
	PI_ERR_LIMIT,				/* a size that overflows or exceeds a limit */
	PI_ERR_DEVICE,				/* a GPU, driver or CUDA library failure */
	PI_ERR_DEVICE_LOST,			/* a GPU fault that leaves the device unusable
								 * until the process using it restarts */
	PI_ERR_INTERRUPTED			/* the host asked to stop (pi_interrupted) */
} PiStatus;

/* Status plus a message that names the node or tensor involved. */
typedef struct PiError
{
	PiStatus	status;
	char		message[512];
} PiError;

/* Records a failure in err (which may be NULL) and returns status. */
/*
 * Work that holds allocations (the ONNX importer) polls this between steps
 * and stops with PI_ERR_INTERRUPTED when it says so; the host (the server)
 * installs a function that tells whether a cancel is pending.  NULL: never.
 */
extern bool (*pi_interrupt_pending_hook) (void);

static inline bool
pi_interrupted(void)
{
	return pi_interrupt_pending_hook != NULL && pi_interrupt_pending_hook();
}

/* FNV-1a hash of a name, for the hash tables of names in the IR and the importers. */
static inline uint32_t
pi_name_hash(const char *name)
{
	uint32_t	h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t) *name) * 16777619u;
	return h;
}

PiStatus	pi_fail(PiError *err, PiStatus status, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Operators of op set 1. */
typedef enum PiOp
{
	PI_OP_DENSE,
	PI_OP_GEMM,
	PI_OP_MATMUL,
	PI_OP_ADD,
	PI_OP_SUB,
	PI_OP_MUL,
	PI_OP_DIV,
	PI_OP_RELU,
	PI_OP_LEAKY_RELU,
	PI_OP_SIGMOID,
	PI_OP_TANH,
	PI_OP_GELU,
	PI_OP_SOFTMAX,
	PI_OP_LOG_SOFTMAX,
	PI_OP_RESHAPE,
	PI_OP_FLATTEN,
	PI_OP_TRANSPOSE,
	PI_OP_CONCAT,
	PI_OP_CONV2D,
	PI_OP_MAX_POOL2D,
	PI_OP_AVERAGE_POOL2D,
	PI_OP_GLOBAL_AVERAGE_POOL,
	PI_OP_BATCH_NORM,
	PI_OP_IDENTITY,
	PI_OP_DROPOUT,
	PI_OP_ARGMAX,
	/* op set 2: the ops the ONNX importer needs */
	PI_OP_EXP,
	PI_OP_LOG,
	PI_OP_SQRT,
	PI_OP_NEG,
	PI_OP_ABS,
	PI_OP_RECIPROCAL,
	PI_OP_ERF,
	PI_OP_SOFTPLUS,
	PI_OP_HARD_SIGMOID,
	PI_OP_ELU,
	PI_OP_SELU,
	PI_OP_CLIP,
	PI_OP_CAST,
	PI_OP_POW,
	PI_OP_PRELU,
	PI_OP_EQUAL,
	PI_OP_LESS,
	PI_OP_GREATER,
	PI_OP_MIN,
	PI_OP_MAX,
	PI_OP_WHERE,
	PI_OP_LAYER_NORM,
	PI_OP_REDUCE_MEAN,
	PI_OP_REDUCE_SUM,
	PI_OP_REDUCE_MAX,
	PI_OP_SQUEEZE,
	PI_OP_UNSQUEEZE,
	PI_OP_SLICE,
	PI_OP_GATHER,
	PI_OP_EXPAND,
	PI_OP_TOPK,
	PI_OP_CONV_TRANSPOSE,
	PI_OP_PAD,
	/* op set 3: tabular models (ai.onnx.ml) */
	PI_OP_TREE_ENSEMBLE,
	PI_OP_POST_TRANSFORM,
	PI_OP_LOOKUP,
	PI_OP_NORMALIZE,
	/* quantized ONNX models: QDQ activations, as integer codes held in floats */
	PI_OP_QUANTIZE,
	PI_OP_DEQUANTIZE,
	PI_OP_COUNT
} PiOp;

typedef enum PiValueKind
{
	PI_VALUE_INPUT,				/* a graph input: batch-major activation */
	PI_VALUE_WEIGHT,			/* a constant from the weights file */
	PI_VALUE_NODE				/* the output of a node: batch-major activation */
} PiValueKind;

/*
 * A tensor of the graph.  Activations (inputs and node outputs) have the
 * batch as dims[0], stored as -1; weights have concrete dims and own data.
 */
typedef struct PiValue
{
	char	   *name;
	PiValueKind kind;
	int			rank;
	int64_t		dims[PI_MAX_RANK];
	int64_t		numel;			/* weights: all elements; activations: per row */
	float	   *data;			/* weights only */
	int			producer;		/* node index for PI_VALUE_NODE, else -1 */
	int			use_count;		/* number of node inputs naming this value */
	int			last_use;		/* plan: position of the last consumer */
	int			buffer;			/* plan: activation buffer slot */
	bool		is_output;
	bool		shape_known;
	bool		data_borrowed;	/* weights: data lies in bytes the model's
								 * builder keeps (a file), neither written
								 * nor freed by the model */
} PiValue;

/* auto_pad of the window ops (Conv2D, pools, ConvTranspose). */
typedef enum PiAutoPad
{
	PI_AUTO_PAD_NOTSET,
	PI_AUTO_PAD_SAME_UPPER,
	PI_AUTO_PAD_SAME_LOWER,
	PI_AUTO_PAD_VALID
} PiAutoPad;

/* How Pad fills the new elements. */
typedef enum PiPadMode
{
	PI_PAD_CONSTANT,			/* pad_value */
	PI_PAD_REFLECT,				/* mirrored, the edge element not repeated */
	PI_PAD_EDGE					/* the edge element repeated */
} PiPadMode;

/* Longest integer-list attribute. */
#define PI_MAX_ATTR_INTS 8

/*
 * Attributes of a node; each op reads the fields it documents.  A plain
 * struct without pointers: it is copied by value (shared-memory cache).
 * The window attributes hold what the file gave (the *_len fields count the
 * values); shape inference turns them into the 2-D form the kernels read:
 * kernel/strides/dilations [h, w], pads [top, left, bottom, right], with
 * h = 1 for 1-D ops over [N, C, L].
 */
typedef struct PiAttrs
{
	int			axis;
	int			keepdims;
	int			trans_a;
	int			trans_b;
	float		alpha;
	float		beta;
	float		gamma;
	float		epsilon;
	float		clip_min;		/* -INFINITY when absent */
	float		clip_max;		/* INFINITY when absent */
	bool		gelu_tanh;
	int			shape_len;
	int64_t		shape[PI_MAX_RANK];
	int			perm_len;
	int			perm[PI_MAX_RANK];
	int			kernel_len;
	int			kernel[2];
	int			strides_len;
	int			strides[2];
	int			pads_len;
	int			pads[4];		/* top, left, bottom, right */
	int			dilations_len;
	int			dilations[2];
	int			output_padding_len;
	int			output_padding[2];
	int			auto_pad;		/* PiAutoPad */
	int			spatial_rank;	/* 0 until shape inference resolved the above */
	int			group;
	int			ceil_mode;
	int			count_include_pad;
	int			cast_to;		/* ONNX TensorProto data type number */
	int			axes_len;
	int			axes[PI_MAX_RANK];
	int			starts_len;
	int64_t		starts[PI_MAX_RANK];
	int			ends_len;
	int64_t		ends[PI_MAX_RANK];
	int			pad_amounts_len;	/* Pad's "pads": begins of every axis, then ends */
	int			pad_amounts[2 * PI_MAX_RANK];
	int			pad_mode;		/* PiPadMode */
	float		pad_value;		/* PI_PAD_CONSTANT's value */
	int			steps_len;
	int64_t		steps[PI_MAX_RANK];
	int64_t		k;
	int			largest;
	int			sorted;
	int			output_index;	/* TopK: 0 values, 1 indices */
	/* op set 3 (tabular models) */
	int			aggregate;		/* TreeEnsemble: PiAggregate */
	int			tree_kinds;		/* TreeEnsemble: PI_TREE_* bits, set by shape inference */
	int			post_transform; /* PostTransform: PiPostTransform */
	int			binary;			/* PostTransform: PiBinaryScores */
	int			label;			/* PostTransform: 1 appends the class index */
	float		threshold;		/* PostTransform: a one-score class wins above it */
	int			norm;			/* Normalize: PiNorm */
	float		default_value;	/* Lookup: the value of a key not listed */
	/* QuantizeLinear, DequantizeLinear: one scale and zero point per tensor */
	float		quant_scale;	/* finite, positive */
	int			quant_zero_point;	/* within the codes' type */
	int			quant_signed;	/* 1: codes are int8, 0: uint8 */
	/*
	 * QuantizeLinear as an epilogue's activation (src/ir/fuse.c): 1 where
	 * the DequantizeLinear of its codes, of the same parameters, is folded
	 * too; it then writes the values the codes stand for, (code - zero
	 * point) * scale.  Never set on a node's own attributes.
	 */
	int			quant_dequantized;
	/*
	 * Dense, Gemm, MatMul, Conv2D: 1 where the file quantized the layer with
	 * activations quantized at run time (ONNX quantize_dynamic): it runs on
	 * the int8 path whatever the model's precision, rows quantized as they come
	 */
	int			dynamic_int8;
} PiAttrs;

/* How TreeEnsemble combines the trees' leaf weights (ONNX's aggregate_function). */
typedef enum PiAggregate
{
	PI_AGGREGATE_SUM,
	PI_AGGREGATE_AVERAGE,
	PI_AGGREGATE_MIN,
	PI_AGGREGATE_MAX
} PiAggregate;

/* PostTransform's function of the scores (ONNX's post_transform). */
typedef enum PiPostTransform
{
	PI_POST_NONE,
	PI_POST_LOGISTIC,
	PI_POST_SOFTMAX,
	PI_POST_SOFTMAX_ZERO,
	PI_POST_PROBIT
} PiPostTransform;

/*
 * How PostTransform turns one score s into two classes' scores, T being
 * the logistic function under LOGISTIC, else the identity (the forms of
 * ONNX Runtime's binary classifiers).
 */
typedef enum PiBinaryScores
{
	PI_BINARY_NONE,				/* every class has its score */
	PI_BINARY_COMPLEMENT,		/* [1 - T(s), T(s)] */
	PI_BINARY_NEGATE,			/* [T(-s), T(s)] */
	PI_BINARY_SECOND			/* [T(0), T(s)]: s is class 1's, class 0 has none */
} PiBinaryScores;

/* Normalize's norm (ONNX Normalizer). */
typedef enum PiNorm
{
	PI_NORM_MAX,
	PI_NORM_L1,
	PI_NORM_L2
} PiNorm;

/*
 * TreeEnsemble's tables (docs/format.md, op set 3) are weights whose rows
 * are these records: 32-bit fields, the integers stored as their bit
 * patterns in the float32 weight (a table of n rows of a 16-byte record is
 * a weight [n, 4]).  nodes: what a step of the walk reads; info: the
 * node's kind and payload (a leaf's weights, a member node's set); trees:
 * each tree's root and depth; leaves: target and weight.
 */
typedef struct PiTreeNode
{
	int32_t		feature;		/* feature index, | PI_TREE_NAN_TRUE */
	float		threshold;
	int32_t		yes;			/* node row when the condition holds */
	int32_t		no;
} PiTreeNode;

typedef struct PiTreeInfo
{
	int32_t		kind;			/* PiTreeKind */
	int32_t		start;			/* payload: first row of leaves or sets */
	int32_t		count;
	int32_t		unused;
} PiTreeInfo;

typedef struct PiTreeRoot
{
	int32_t		root;			/* node row */
	int32_t		depth;			/* steps from the root to its deepest leaf, at least */
} PiTreeRoot;

typedef struct PiTreeLeaf
{
	int32_t		target;
	float		weight;
} PiTreeLeaf;

/* TreeEnsemble node kinds. */
typedef enum PiTreeKind
{
	PI_TREE_LEQ,				/* x <= threshold */
	PI_TREE_EQ,					/* x == threshold */
	PI_TREE_MEMBER,				/* x is one of the node's set */
	PI_TREE_LEAF				/* both children itself */
} PiTreeKind;

/* In PiTreeNode.feature: NaN goes to the yes child (else to the no child). */
#define PI_TREE_NAN_TRUE	(1 << 30)
#define PI_TREE_FEATURE_MASK (PI_TREE_NAN_TRUE - 1)

/* tree_kinds bits: which kinds an ensemble has, and NaN routed to yes children. */
#define PI_TREE_HAS_EQ		(1 << PI_TREE_EQ)
#define PI_TREE_HAS_MEMBER	(1 << PI_TREE_MEMBER)
#define PI_TREE_HAS_NAN_TRUE (1 << 8)

/* The value type of an attribute, by its name. */
typedef enum PiAttrType
{
	PI_ATTR_UNKNOWN,			/* no op has an attribute of this name */
	PI_ATTR_INT,				/* an integer: set with pi_attr_set_ints, count 1 */
	PI_ATTR_INTS,				/* a list of integers */
	PI_ATTR_FLOAT,
	PI_ATTR_STRING
} PiAttrType;

/*
 * What the fusion pass (src/ir/fuse.c) folded into a Conv2D, Dense, Gemm or
 * MatMul node for the CPU engine: a bias along the last axis (MatMul), an
 * activation of the same shape added to the result (a residual), then a
 * unary activation, and a DequantizeLinear after a QuantizeLinear one
 * (PiAttrs.quant_dequantized); or into a QuantizeLinear node, the
 * DequantizeLinear of its codes (act: the node's own QuantizeLinear, with
 * quant_dequantized).  The node then writes `output`, the last folded
 * node's value, and the folded nodes do not run.  The plan's buffers are valid for
 * both forms: engines that do not fuse (CUDA) run every node and ignore this.
 */
typedef struct PiEpilogue
{
	int			output;			/* value written; -1 when nothing is folded */
	int			bias;			/* weight added along the last axis, or -1 */
	int			residual;		/* activation added elementwise, or -1 */
	PiOp		act;			/* PI_OP_IDENTITY, or a unary elementwise op */
	PiAttrs		act_attrs;		/* the activation's attributes */
} PiEpilogue;

typedef struct PiNode
{
	char	   *name;
	PiOp		op;
	int			ninputs;
	int		   *inputs;			/* value indexes */
	int			output;			/* value index */
	PiAttrs		attrs;
	bool		live;			/* contributes to a graph output */
	int			fused_into;		/* node whose epilogue runs this one, or -1 */
	PiEpilogue	epilogue;
	bool		int8_codes;		/* Conv2D: its weight is int8 codes times one
								 * scale per output channel or per tensor, as
								 * pi_int8_codes_exact says (finalize) */
} PiNode;

/*
 * A list of strings (src/ir/strings.c): the categories a string input takes,
 * or the class labels of an output.  A string input's rows hold, as float32,
 * each category's index in its list (-1 for one not listed); a label
 * output's rows hold the class index, and the list says its label.
 */
typedef struct PiStrings
{
	int			count;
	char	  **items;			/* count NUL-terminated strings, each once */
	int32_t    *sorted;			/* indexes of items in strcmp order (lookup) */
	int			cap;
	int32_t    *slots;			/* while building: hash of items, -1 empty */
	int			nslots;
	bool		strict;			/* inputs: a category not listed is an error */
} PiStrings;

/* A whole model: values, nodes in topological order, and its plan. */
/*
 * The arithmetic of a model's Dense, Gemm and MatMul layers with a constant
 * weight (the "precision" option): float32; int8 weights quantized per
 * output column with activations quantized per row (src/engine/op_gemm_int8.c);
 * bf16 weights with bf16 dot products where the CPU has them
 * (src/engine/op_gemm_bf16.c), float32 where not; fp16 weights, stored only
 * (float32 arithmetic).  A stored version keeps those weights in the
 * precision's own width (src/format/compact.c).
 */
typedef enum PiPrecision
{
	PI_PRECISION_FP32 = 0,
	PI_PRECISION_INT8,
	PI_PRECISION_BF16,
	PI_PRECISION_FP16
} PiPrecision;

#define PI_PRECISION_LAST PI_PRECISION_FP16

/* The name of a precision as the option spells it ("fp32", "int8", "bf16", "fp16"). */
const char *pi_precision_name(PiPrecision precision);

/*
 * The 8-bit code of v, rounded half away from zero and clamped to [-127,
 * 127] (NaN to -127, as the vector max and min take it, never converted).
 */
static inline int32_t
pi_int8_code(float v)
{
	v = v >= -127.0f ? v : -127.0f;
	v = v <= 127.0f ? v : 127.0f;
	return (int32_t) (v + (v < 0.0f ? -0.5f : 0.5f));
}

/*
 * Quantizes a [kdim, mdim] weight (trans: stored [mdim, kdim]) per column j
 * as the int8 path packs it (src/engine/int8.h): amax[j] = max_k |w|,
 * q = pi_int8_code(w * 127 / amax[j]), q laid out as w.  False when a
 * column is not finite (the int8 path gives it NaN scales instead).
 */
bool		pi_int8_quantize_matrix(const float *w, int64_t kdim, int64_t mdim, bool trans,
									int8_t *q, float *amax);

/*
 * Whether the m rows of kdim weights are exactly what the int8 path makes
 * of them: per row (or, failing that, per tensor), each weight divided by
 * max |w| / 127 within 1e-3 of an integer (a weight a quantized file
 * stored as symmetric int8 codes); false for a weight that is not finite.
 */
bool		pi_int8_codes_exact(const float *w, int64_t m, int64_t kdim);

/*
 * The weight whose quantization is q and amax again (q and amax as
 * pi_int8_quantize_matrix made them): +-amax[j] where q is +-127, else
 * q * (amax[j] / 127), so that quantizing it gives back q and amax exactly.
 */
void		pi_int8_dequantize_matrix(const int8_t *q, const float *amax, int64_t kdim,
									  int64_t mdim, bool trans, float *w);

/*
 * How a stored version keeps a weight (src/format/compact.c,
 * onnx_compact.c): as given (float32), or at the model's reduced precision
 * as the [kdim, mdim] matrix of a Dense, Gemm or MatMul, its output
 * columns along the last axis (rank 2) or (transposed) along the first;
 * a Conv's weight [M, C/group, kh, kw] is one of the latter, M output
 * channels of kdim = C/group * kh * kw each (int8 only).
 */
typedef enum PiWeightForm
{
	PI_WEIGHT_KEEP = 0,
	PI_WEIGHT_COLUMNS_LAST,
	PI_WEIGHT_COLUMNS_FIRST
} PiWeightForm;

/*
 * The [kdim, mdim] matrix that a weight of that shape holds in form, and
 * whether it is transposed; false when the shape has no such reading.
 */
bool		pi_weight_form_matrix(PiWeightForm form, int rank, const int64_t *dims, int64_t numel,
								  int64_t *kdim, int64_t *mdim, bool *trans);

/*
 * The form of stored int8 codes of that shape by their column maxima's
 * shape: columns along the last axis (codes [K, M], maxima [1, M]) or
 * along the first (codes [M, ...] of rank 2 or more, maxima [M, 1, ...] of
 * the same rank); PI_WEIGHT_KEEP for neither.
 */
PiWeightForm pi_int8_maxima_form(int rank, const int64_t *dims, int amax_rank,
								 const int64_t *amax_dims);

/*
 * Quantizes a weight of that shape, read in form, to int8 codes q (numel)
 * and column maxima amax (*mdim of them, shape amax_dims of the same
 * rank, as pi_int8_maxima_form reads them back); false (kept float32) when
 * the shape has no reading in form, a column is not finite, the codes
 * would not load back to the same ones, or memory runs out.
 */
bool		pi_int8_quantize_weight(const float *w, PiWeightForm form, int rank, const int64_t *dims,
									int64_t numel, int8_t *q, float *amax, int64_t *mdim,
									int64_t *amax_dims);

/* bf16 bits of v, rounded to nearest even as AVX512-BF16 does (subnormals to zero, NaN stays NaN). */
uint16_t	pi_bf16_bits(float v);

/* IEEE half bits of v, rounded to nearest even (overflow to infinity). */
uint16_t	pi_fp16_bits(float v);

typedef struct PiModel
{
	PiValue    *values;
	int			nvalues;
	int			values_cap;
	PiNode	   *nodes;
	int			nnodes;
	int			nodes_cap;
	int		   *order;			/* live nodes in execution order */
	int			norder;
	int			inputs[PI_MAX_MODEL_IO];
	int			ninputs;
	int			outputs[PI_MAX_MODEL_IO];
	int			noutputs;
	struct PiNameMap *names;
	/* memory plan */
	int			nbuffers;
	int64_t    *buffer_row_elems;
	int64_t		scratch_row_elems;	/* per-row scratch (im2col) */
	int			norder_fused;	/* nodes the CPU engine runs once fused (of norder) */
	/* preprocessing of input 0: x * scale + shift, per feature or global */
	float	   *input_scale;
	float	   *input_shift;
	int64_t		input_transform_len;	/* 1 (global) or input row size */
	/* strings: categories of string inputs, labels of outputs (NULL: numbers) */
	PiStrings  *input_strings[PI_MAX_MODEL_IO];
	PiStrings  *output_labels[PI_MAX_MODEL_IO];
	bool		missing_as_nan; /* the model defines missing values (NaN) */
	int64_t		parameter_count;
	PiPrecision precision;
	bool		finalized;
	bool		weights_borrowed;	/* weight data belongs to an image */
	/* the model whose weights it shares (pi_model_share_weights), or NULL */
	const struct PiModel *weights_base;
} PiModel;

/* Allocates an empty model; NULL when out of memory. */
PiModel    *pi_model_new(void);

/* Frees a model and everything it owns; NULL is allowed. */
void		pi_model_free(PiModel *model);

/* Adds a value; takes ownership of data.  Returns the index or -1. */
int			pi_model_add_value(PiModel *model, const char *name, PiValueKind kind,
							   int rank, const int64_t *dims, float *data,
							   PiError *err);

/*
 * Adds a weight whose data stays where it is (borrowed): the caller keeps
 * it unchanged until pi_model_free.  Returns the index or -1.
 */
int			pi_model_add_borrowed_weight(PiModel *model, const char *name, int rank,
										 const int64_t *dims, const float *data,
										 PiError *err);

/* Gives a weight data of its own, copying what it borrowed (before writing it). */
PiStatus	pi_value_own_data(PiValue *value, PiError *err);

/* Gives every weight data of its own: the bytes the model borrowed may then go. */
PiStatus	pi_model_own_weights(PiModel *model, PiError *err);

/*
 * Points model's weights that base has too (same name, shape and values)
 * at base's data and gives the others data of their own; base must outlive
 * model.  (The same network imported at another sequence length.)  The
 * model's image then leaves those weights out (pi_model_image_attach_over).
 */
PiStatus	pi_model_share_weights(PiModel *model, const PiModel *base, PiError *err);

/* Adds a node whose output value has the node's name; returns its index or -1. */
int			pi_model_add_node(PiModel *model, const char *name, PiOp op,
							  const char *const *input_names, int ninputs,
							  const PiAttrs *attrs, PiError *err);

/* Index of the value with this name, or -1. */
int			pi_model_find_value(const PiModel *model, const char *name);

/* What pi_int8_weights_agree found. */
typedef enum PiInt8Agreement
{
	PI_INT8_AGREE,				/* every weight as the int8 path needs it */
	PI_INT8_DEMOTED,			/* reduced weights that differ: their forms now PI_WEIGHT_KEEP */
	PI_INT8_DIFFERENT,			/* another weight differs, or the models do */
	PI_INT8_NOMEM
} PiInt8Agreement;

/*
 * Whether loaded, a model loaded back from its reduced stored form, has
 * the weights of given (the same model from the file as given, forms its
 * pi_model_weight_forms): each reduced one (form not PI_WEIGHT_KEEP)
 * quantizing to the very same codes and column maxima, every other one
 * the same bits.  A reduced weight that does not gets PI_WEIGHT_KEEP in
 * forms (PI_INT8_DEMOTED).
 */
PiInt8Agreement pi_int8_weights_agree(const PiModel *given, const PiModel *loaded,
									  PiWeightForm *forms);

/*
 * Validates and prepares a model whose values and nodes have been added:
 * every name resolves, every weight is used, no cycles, shapes infer,
 * batch norms fold, buffers are planned, epilogues fuse.
 */
PiStatus	pi_model_finalize(PiModel *model, PiError *err);

/*
 * Orders nnodes nodes after the sources of their edges from[e] -> to[e];
 * returns how many were ordered (fewer: a cycle through *stuck), -1 when out
 * of memory.
 */
int			pi_topological_order(int nnodes, const int *from, const int *to, int nedges,
								 int *order, int *stuck);

/*
 * Folds biases, residual Adds and activations into the epilogues of the
 * Conv2D, Dense, Gemm and MatMul nodes before them where the buffer plan
 * allows it, and a DequantizeLinear into the QuantizeLinear before it of
 * the same parameters (src/ir/fuse.c); sets norder_fused.  Part of
 * finalizing.
 */
void		pi_model_fuse(PiModel *model);

/*
 * For the buffer planner, before fusing: early[pos] (norder entries) is the
 * output value of the Add that fusion will fold into the node at pos, or -1.
 */
void		pi_fuse_early_values(const PiModel *model, int *early);

/* Sets input preprocessing x * scale + shift (len 1 or the input row size). */
PiStatus	pi_model_set_input_transform(PiModel *model, const float *scale,
										 const float *shift, int64_t len,
										 PiError *err);

/* Indexes every value's name (for a model built without add_value). */
bool		pi_model_index_names(PiModel *model);

/* Alignment of a model image and of the weights inside it. */
#define PI_IMAGE_ALIGN 64

/* Bytes an image of the finalized model takes; -1 when out of memory. */
int64_t		pi_model_image_size(const PiModel *model);

/*
 * Writes the image of a finalized model into dst (pi_model_image_size bytes,
 * aligned to PI_IMAGE_ALIGN): one position-independent block (src/ir/image.c).
 */
PiStatus	pi_model_image_write(const PiModel *model, uint8_t *dst, PiError *err);

/*
 * A model that runs from an image without copying its weights; the image
 * must stay mapped and unchanged while the model exists.
 */
PiModel    *pi_model_image_attach(const uint8_t *image, int64_t len, PiError *err);

/*
 * The same for the image of a model that shares weights with base
 * (pi_model_share_weights): those weights, left out of the image, are
 * base's (same name and shape), so base must outlive the model.  With base
 * NULL it is pi_model_image_attach, which refuses such an image.
 */
PiModel    *pi_model_image_attach_over(const uint8_t *image, int64_t len, const PiModel *base,
									   PiError *err);

/*
 * Marks the weights that live nodes read (the only ones an image keeps or
 * a device holds): malloc'd, one flag per value; NULL when out of memory.
 */
bool	   *pi_model_weights_in_use(const PiModel *m);

/* An empty list of strings; NULL when out of memory. */
PiStrings  *pi_strings_new(void);

/* Frees a list of strings; NULL is allowed. */
void		pi_strings_free(PiStrings *s);

/* A copy of a list (NULL for NULL, or when out of memory: *ok false). */
PiStrings  *pi_strings_copy(const PiStrings *s, bool *ok);

/* The index of str in the list, added at the end if absent; -1 when out of memory. */
int			pi_strings_add(PiStrings *s, const char *str);

/* The index of str (len bytes, not NUL-terminated) in a sorted list, or -1. */
int			pi_strings_find(const PiStrings *s, const char *str, size_t len);

/* Sorts the lookup index of a list that is complete; false when out of memory. */
bool		pi_strings_seal(PiStrings *s);

/* The first output that is not a class label (output 0 when every one is). */
int			pi_model_scores_output(const PiModel *m);

/* The first output that holds class labels, or -1. */
int			pi_model_label_output(const PiModel *m);

/* Bytes the strings of a model take in its image (src/ir/strings.c). */
int64_t		pi_strings_image_size(const PiModel *m);

/* Writes the strings of a model at dst (pi_strings_image_size bytes). */
void		pi_strings_image_write(const PiModel *m, uint8_t *dst);

/* Reads a model's strings from an image's section; false when damaged. */
bool		pi_strings_image_read(PiModel *m, const uint8_t *src, int64_t len);

/* Elements per row of an activation value. */
int64_t		pi_value_row_elems(const PiValue *value);

/* Infers one node's output shape from its inputs' (src/ir/shape.c). */
PiStatus	pi_infer_node(PiModel *model, PiNode *node, PiError *err);

/*
 * Strides, in elements (or in matrices, for a stack of matrices), of dims
 * [rank] read as right-aligned to out_rank dimensions: 0 along an axis where
 * it is broadcast (missing or of size 1).
 */
void		pi_broadcast_strides(const int64_t *dims, int rank, int out_rank, int64_t *strides);

/* Op lookup by its name in the format; false if unknown. */
bool		pi_op_from_name(const char *name, PiOp *op);

/* The op's name in the format. */
const char *pi_op_name(PiOp op);

/* Whether an op maps each element on its own (one input, same shape out). */
bool		pi_op_is_unary_elementwise(PiOp op);

/* Whether an op combines two inputs element by element, with broadcasting. */
bool		pi_op_is_binary_elementwise(PiOp op);

/* Whether an op runs on the CPU engine only (op set 3 and the quantize ops: no GPU kernel). */
bool		pi_op_cpu_only(PiOp op);

/* The first live node of a finalized model whose op runs on the CPU only, or -1. */
int			pi_model_cpu_only_node(const PiModel *m);

/* Default attributes of an op. */
void		pi_attrs_default(PiOp op, PiAttrs *attrs);

/* Whether the op accepts an attribute of this name. */
bool		pi_op_accepts_attr(PiOp op, const char *attr);

/* The value type of the attribute of this name (src/ir/attrs.c). */
PiAttrType	pi_attr_type(const char *name);

/* Sets an integer or integer-list attribute of op by its name; checks count and range. */
PiStatus	pi_attr_set_ints(PiOp op, PiAttrs *attrs, const char *node, const char *name,
							 const int64_t *values, int count, PiError *err);

/* Sets a float attribute of op by its name. */
PiStatus	pi_attr_set_float(PiOp op, PiAttrs *attrs, const char *node, const char *name,
							  float value, PiError *err);

/* Sets a string attribute of op by its name (Gelu approximate, auto_pad). */
PiStatus	pi_attr_set_string(PiOp op, PiAttrs *attrs, const char *node, const char *name,
							   const char *value, PiError *err);

/* Checks an op's input count. */
PiStatus	pi_op_check_arity(PiOp op, const char *node, int ninputs, PiError *err);

/* Formats a shape as "[-1,3,28,28]" into buf. */
const char *pi_shape_string(const PiValue *value, char *buf, size_t len);

/* Multiplies two non-negative sizes; false on overflow. */
static inline bool
pi_mul_size(int64_t a, int64_t b, int64_t *result)
{
	return !__builtin_mul_overflow(a, b, result);
}

#endif							/* PI_IR_H */
