/*
 * ops.c
 *	  The op set's table: names, input counts, accepted attributes, defaults.
 */
#include <math.h>
#include <string.h>

#include "pi_ir.h"

typedef struct PiOpInfo
{
	const char *name;
	int			min_inputs;
	int			max_inputs;
	const char *attrs[10];		/* accepted attribute names, NULL-terminated */
} PiOpInfo;

static const PiOpInfo op_table[PI_OP_COUNT] = {
	[PI_OP_DENSE] = {"Dense", 2, 3, {"dynamic_int8", NULL}},
	[PI_OP_GEMM] = {"Gemm", 2, 3, {"transA", "transB", "alpha", "beta", "dynamic_int8", NULL}},
	[PI_OP_MATMUL] = {"MatMul", 2, 2, {"dynamic_int8", NULL}},
	[PI_OP_ADD] = {"Add", 2, 2, {NULL}},
	[PI_OP_SUB] = {"Sub", 2, 2, {NULL}},
	[PI_OP_MUL] = {"Mul", 2, 2, {NULL}},
	[PI_OP_DIV] = {"Div", 2, 2, {NULL}},
	[PI_OP_RELU] = {"Relu", 1, 1, {NULL}},
	[PI_OP_LEAKY_RELU] = {"LeakyRelu", 1, 1, {"alpha", NULL}},
	[PI_OP_SIGMOID] = {"Sigmoid", 1, 1, {NULL}},
	[PI_OP_TANH] = {"Tanh", 1, 1, {NULL}},
	[PI_OP_GELU] = {"Gelu", 1, 1, {"approximate", NULL}},
	[PI_OP_SOFTMAX] = {"Softmax", 1, 1, {"axis", NULL}},
	[PI_OP_LOG_SOFTMAX] = {"LogSoftmax", 1, 1, {"axis", NULL}},
	[PI_OP_RESHAPE] = {"Reshape", 1, 1, {"shape", NULL}},
	[PI_OP_FLATTEN] = {"Flatten", 1, 1, {"axis", NULL}},
	[PI_OP_TRANSPOSE] = {"Transpose", 1, 1, {"perm", NULL}},
	[PI_OP_CONCAT] = {"Concat", 1, 8, {"axis", NULL}},
	[PI_OP_CONV2D] = {"Conv2D", 2, 3, {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", "dynamic_int8", NULL}},
	[PI_OP_MAX_POOL2D] = {"MaxPool2D", 1, 1, {"kernel_shape", "strides", "pads", "dilations", "ceil_mode", "auto_pad", NULL}},
	[PI_OP_AVERAGE_POOL2D] = {"AveragePool2D", 1, 1, {"kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad", "auto_pad", NULL}},
	[PI_OP_GLOBAL_AVERAGE_POOL] = {"GlobalAveragePool", 1, 1, {NULL}},
	[PI_OP_BATCH_NORM] = {"BatchNormalization", 5, 5, {"epsilon", NULL}},
	[PI_OP_IDENTITY] = {"Identity", 1, 1, {NULL}},
	[PI_OP_DROPOUT] = {"Dropout", 1, 1, {"ratio", NULL}},
	[PI_OP_ARGMAX] = {"ArgMax", 1, 1, {"axis", "keepdims", NULL}},
	[PI_OP_EXP] = {"Exp", 1, 1, {NULL}},
	[PI_OP_LOG] = {"Log", 1, 1, {NULL}},
	[PI_OP_SQRT] = {"Sqrt", 1, 1, {NULL}},
	[PI_OP_NEG] = {"Neg", 1, 1, {NULL}},
	[PI_OP_ABS] = {"Abs", 1, 1, {NULL}},
	[PI_OP_RECIPROCAL] = {"Reciprocal", 1, 1, {NULL}},
	[PI_OP_ERF] = {"Erf", 1, 1, {NULL}},
	[PI_OP_SOFTPLUS] = {"Softplus", 1, 1, {NULL}},
	[PI_OP_HARD_SIGMOID] = {"HardSigmoid", 1, 1, {"alpha", "beta", NULL}},
	[PI_OP_ELU] = {"Elu", 1, 1, {"alpha", NULL}},
	[PI_OP_SELU] = {"Selu", 1, 1, {"alpha", "gamma", NULL}},
	[PI_OP_CLIP] = {"Clip", 1, 1, {"min", "max", NULL}},
	[PI_OP_CAST] = {"Cast", 1, 1, {"to", NULL}},
	[PI_OP_POW] = {"Pow", 2, 2, {NULL}},
	[PI_OP_PRELU] = {"PRelu", 2, 2, {NULL}},
	[PI_OP_EQUAL] = {"Equal", 2, 2, {NULL}},
	[PI_OP_LESS] = {"Less", 2, 2, {NULL}},
	[PI_OP_GREATER] = {"Greater", 2, 2, {NULL}},
	[PI_OP_MIN] = {"Min", 2, 2, {NULL}},
	[PI_OP_MAX] = {"Max", 2, 2, {NULL}},
	[PI_OP_WHERE] = {"Where", 3, 3, {NULL}},
	[PI_OP_LAYER_NORM] = {"LayerNormalization", 2, 3, {"axis", "epsilon", NULL}},
	[PI_OP_REDUCE_MEAN] = {"ReduceMean", 1, 1, {"axes", "keepdims", NULL}},
	[PI_OP_REDUCE_SUM] = {"ReduceSum", 1, 1, {"axes", "keepdims", NULL}},
	[PI_OP_REDUCE_MAX] = {"ReduceMax", 1, 1, {"axes", "keepdims", NULL}},
	[PI_OP_SQUEEZE] = {"Squeeze", 1, 1, {"axes", NULL}},
	[PI_OP_UNSQUEEZE] = {"Unsqueeze", 1, 1, {"axes", NULL}},
	[PI_OP_SLICE] = {"Slice", 1, 1, {"starts", "ends", "axes", "steps", NULL}},
	[PI_OP_GATHER] = {"Gather", 2, 2, {"axis", NULL}},
	[PI_OP_EXPAND] = {"Expand", 1, 1, {"shape", NULL}},
	[PI_OP_TOPK] = {"TopK", 1, 1, {"k", "axis", "largest", "sorted", "output_index", NULL}},
	[PI_OP_CONV_TRANSPOSE] = {"ConvTranspose", 2, 3, {"kernel_shape", "strides", "pads", "dilations", "group", "output_padding", "auto_pad", NULL}},
	[PI_OP_PAD] = {"Pad", 1, 1, {"pads", "mode", "value", NULL}},
	[PI_OP_TREE_ENSEMBLE] = {"TreeEnsemble", 6, 7, {"aggregate_function", NULL}},
	[PI_OP_POST_TRANSFORM] = {"PostTransform", 1, 1, {"post_transform", "binary", "label", "threshold", NULL}},
	[PI_OP_LOOKUP] = {"Lookup", 3, 3, {"default", NULL}},
	[PI_OP_NORMALIZE] = {"Normalize", 1, 1, {"norm", NULL}},
	[PI_OP_QUANTIZE] = {"QuantizeLinear", 1, 1, {"scale", "zero_point", "signed", NULL}},
	[PI_OP_DEQUANTIZE] = {"DequantizeLinear", 1, 1, {"scale", "zero_point", "signed", NULL}},
};

/* Op lookup by its name in the format; false if unknown. */
bool
pi_op_from_name(const char *name, PiOp *op)
{
	for (int i = 0; i < PI_OP_COUNT; i++)
	{
		if (strcmp(op_table[i].name, name) == 0)
		{
			*op = (PiOp) i;
			return true;
		}
	}
	return false;
}

/* The op's name in the format. */
const char *
pi_op_name(PiOp op)
{
	return op_table[op].name;
}

/* Whether the op accepts an attribute of this name. */
bool
pi_op_accepts_attr(PiOp op, const char *attr)
{
	for (int i = 0; op_table[op].attrs[i] != NULL; i++)
		if (strcmp(op_table[op].attrs[i], attr) == 0)
			return true;
	return false;
}

/* Checks an op's input count. */
PiStatus
pi_op_check_arity(PiOp op, const char *node, int ninputs, PiError *err)
{
	const PiOpInfo *info = &op_table[op];

	if (ninputs < info->min_inputs || ninputs > info->max_inputs)
	{
		if (info->min_inputs == info->max_inputs)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has %d inputs, expected %d",
						   node, info->name, ninputs, info->min_inputs);
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has %d inputs, expected %d to %d",
					   node, info->name, ninputs, info->min_inputs, info->max_inputs);
	}
	return PI_OK;
}

/* Whether an op runs on the CPU engine only (op set 3 and the quantize ops: no GPU kernel). */
bool
pi_op_cpu_only(PiOp op)
{
	return op >= PI_OP_TREE_ENSEMBLE && op < PI_OP_COUNT;
}

/* The first live node of a finalized model whose op runs on the CPU only, or -1. */
int
pi_model_cpu_only_node(const PiModel *m)
{
	for (int pos = 0; pos < m->norder; pos++)
		if (pi_op_cpu_only(m->nodes[m->order[pos]].op))
			return m->order[pos];
	return -1;
}

/* Default attributes of an op. */
void
pi_attrs_default(PiOp op, PiAttrs *a)
{
	memset(a, 0, sizeof(*a));
	a->axis = (op == PI_OP_FLATTEN) ? 1 : (op == PI_OP_GATHER) ? 0 : -1;
	a->keepdims = 1;
	a->alpha = 1.0f;
	a->beta = 1.0f;
	a->gamma = 1.0f;
	if (op == PI_OP_LEAKY_RELU)
		a->alpha = 0.01f;
	else if (op == PI_OP_HARD_SIGMOID)
	{
		a->alpha = 0.2f;
		a->beta = 0.5f;
	}
	else if (op == PI_OP_SELU)
	{
		a->alpha = 1.67326319217681884765625f;
		a->gamma = 1.05070102214813232421875f;
	}
	a->epsilon = 1e-5f;
	a->clip_min = -INFINITY;
	a->clip_max = INFINITY;
	a->strides[0] = a->strides[1] = 0;	/* 0: "same as the kernel" for pools, 1 for conv */
	a->dilations[0] = a->dilations[1] = 1;
	a->group = 1;
	if (op == PI_OP_CONV2D || op == PI_OP_CONV_TRANSPOSE)
		a->strides[0] = a->strides[1] = 1;
	a->largest = 1;
	a->sorted = 1;
	a->quant_scale = 1.0f;
}

/* Whether an op combines two inputs element by element, with broadcasting. */
bool
pi_op_is_binary_elementwise(PiOp op)
{
	switch (op)
	{
		case PI_OP_ADD:
		case PI_OP_SUB:
		case PI_OP_MUL:
		case PI_OP_DIV:
		case PI_OP_POW:
		case PI_OP_PRELU:
		case PI_OP_EQUAL:
		case PI_OP_LESS:
		case PI_OP_GREATER:
		case PI_OP_MIN:
		case PI_OP_MAX:
			return true;
		default:
			return false;
	}
}

/* Whether an op maps each element on its own (one input, same shape out). */
bool
pi_op_is_unary_elementwise(PiOp op)
{
	switch (op)
	{
		case PI_OP_RELU:
		case PI_OP_LEAKY_RELU:
		case PI_OP_SIGMOID:
		case PI_OP_TANH:
		case PI_OP_GELU:
		case PI_OP_EXP:
		case PI_OP_LOG:
		case PI_OP_SQRT:
		case PI_OP_NEG:
		case PI_OP_ABS:
		case PI_OP_RECIPROCAL:
		case PI_OP_ERF:
		case PI_OP_SOFTPLUS:
		case PI_OP_HARD_SIGMOID:
		case PI_OP_ELU:
		case PI_OP_SELU:
		case PI_OP_CLIP:
		case PI_OP_CAST:
		case PI_OP_QUANTIZE:
		case PI_OP_DEQUANTIZE:
			return true;
		default:
			return false;
	}
}
