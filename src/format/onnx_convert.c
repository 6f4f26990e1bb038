/*
 * onnx_convert.c
 *	  Lowering of ONNX nodes with run-time inputs to IR nodes: the op table
 *	  of the importer and the helpers its converters share
 *	  (onnx_convert_math.c, onnx_convert_window.c, onnx_convert_shape.c).
 *	  Each converter reads the node's attributes in the form its opset uses
 *	  (attribute or constant input), sets the IR attributes by name
 *	  (pi_attr_set_*), and emits one or more IR nodes; the last one is named
 *	  after the ONNX output so that model outputs keep their names.
 *	  Multi-output ONNX ops (Split, TopK) become one IR node per output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

typedef PiStatus (*ConvertFn) (OnnxCv *c);

/* The node's label for messages. */
const char *
onnx_cv_label(const OnnxCv *c)
{
	return onnx_node_label(c->n);
}

/* Whether input i is given. */
bool
onnx_cv_has_input(const OnnxCv *c, int i)
{
	return i < c->n->ninputs && c->in[i] != NULL;
}

/*
 * Turns a zero Pad left for a Conv to absorb into a Pad node, because
 * something else reads it; later readers (Convs too) read the padded value.
 */
static PiStatus
materialize_pad(OnnxCv *c, OnnxEntry *e)
{
	const PiValue *x = onnx_cv_shape(c, e->value);
	int			spatial = x->rank - 2;
	int64_t		pads[2 * PI_MAX_RANK] = {0};
	char		name[PI_MAX_NAME];
	PiAttrs		a;

	for (int i = 0; i < spatial; i++)
	{
		pads[2 + i] = e->pads[i];
		pads[x->rank + 2 + i] = e->pads[spatial + i];
	}
	pi_attrs_default(PI_OP_PAD, &a);
	TRY(pi_attr_set_ints(PI_OP_PAD, &a, e->name, "pads", pads, 2 * x->rank, c->err));
	onnx_unique_name(c->im, e->name, "pad", name);
	TRY(onnx_emit(c->im, name, PI_OP_PAD, &e->value, 1, &a, &e->value, c->err));
	e->npads = 0;
	return PI_OK;
}

/* The model value of input i (a constant becomes a weight). */
PiStatus
onnx_cv_value(OnnxCv *c, int i, int *value)
{
	if (!onnx_cv_has_input(c, i))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input %d",
					   onnx_cv_label(c), c->n->op_type, i);
	if (c->in[i]->npads > 0 && !(i == 0 && strcmp(c->n->op_type, "Conv") == 0))
		TRY(materialize_pad(c, c->in[i]));
	return onnx_entry_value(c->im, c->in[i], value, c->err);
}

/* The constant of input i; fails when it is computed at run time. */
PiStatus
onnx_cv_const(OnnxCv *c, int i, OnnxConst **out)
{
	if (!onnx_cv_has_input(c, i))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input %d",
					   onnx_cv_label(c), c->n->op_type, i);
	if (c->in[i]->kind != ENTRY_CONST)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input %d \"%s\" must be a constant, but it is computed at run time",
					   onnx_cv_label(c), c->n->op_type, i, c->in[i]->name);
	return onnx_entry_const(c->im, c->in[i], out, c->err);
}

/* Integer values of constant input i, without the batch size. */
PiStatus
onnx_cv_ints(OnnxCv *c, int i, const int64_t **values, int *count)
{
	OnnxConst  *k;

	TRY(onnx_cv_const(c, i, &k));
	if (!k->is_int || k->rank > 1)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) input %d must be a list of integers",
					   onnx_cv_label(c), c->n->op_type, i);
	if (onnx_const_has_batch(k))
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) input %d depends on the batch size",
					   onnx_cv_label(c), c->n->op_type, i);
	*values = k->ints;
	*count = (int) k->numel;
	return PI_OK;
}

/* The static shape of activation input i. */
const PiValue *
onnx_cv_shape(const OnnxCv *c, int value)
{
	return &c->im->model->values[value];
}

/* Sets integer attribute name. */
PiStatus
onnx_cv_set_int(OnnxCv *c, PiOp op, PiAttrs *a, const char *name, int64_t v)
{
	return pi_attr_set_ints(op, a, onnx_cv_label(c), name, &v, 1, c->err);
}

/* Copies the listed ONNX attributes of the node that are present, by type. */
PiStatus
onnx_cv_copy_attrs(OnnxCv *c, PiOp op, PiAttrs *a, const char *const *names)
{
	for (; *names; names++)
	{
		const OnnxAttr *at = onnx_attr(c->n, *names);

		if (at == NULL)
			continue;
		switch (at->type)
		{
			case ONNX_ATTR_INT:
				TRY(onnx_cv_set_int(c, op, a, *names, at->i));
				break;
			case ONNX_ATTR_INTS:
				TRY(pi_attr_set_ints(op, a, onnx_cv_label(c), *names, at->ints, at->nints, c->err));
				break;
			case ONNX_ATTR_FLOAT:
				TRY(pi_attr_set_float(op, a, onnx_cv_label(c), *names, at->f, c->err));
				break;
			case ONNX_ATTR_STRING:
				TRY(pi_attr_set_string(op, a, onnx_cv_label(c), *names, at->s ? at->s : "", c->err));
				break;
			default:
				return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" has type %d, which is not expected",
							   onnx_cv_label(c), c->n->op_type, *names, at->type);
		}
	}
	return PI_OK;
}

/* Emits a one-input node of op: its defaults, then the listed ONNX attributes. */
PiStatus
onnx_cv_one_input(OnnxCv *c, PiOp op, const char *const *names)
{
	PiAttrs		a;

	pi_attrs_default(op, &a);
	TRY(onnx_cv_copy_attrs(c, op, &a, names));
	return onnx_cv_finish(c, op, 1, &a);
}

/*
 * Emits an IR node for output o of the ONNX node and defines that output;
 * a layer of a quantize_dynamic file (onnx_qoperator.c) is marked so.
 */
PiStatus
onnx_cv_finish_output(OnnxCv *c, int o, PiOp op, const int *inputs, int ninputs, const PiAttrs *a)
{
	PiAttrs		marked;
	int			v;

	if (c->n->dynamic_int8)
	{
		marked = *a;
		TRY(onnx_cv_set_int(c, op, &marked, "dynamic_int8", 1));
		a = &marked;
	}
	TRY(onnx_emit(c->im, c->n->outputs[o], op, inputs, ninputs, a, &v, c->err));
	return onnx_define(c->im, c->n->outputs[o], NULL, v, c->err);
}

/* Emits the node's one IR node over its first ninputs inputs. */
PiStatus
onnx_cv_finish(OnnxCv *c, PiOp op, int ninputs, const PiAttrs *a)
{
	int			inputs[8];

	for (int i = 0; i < ninputs; i++)
		TRY(onnx_cv_value(c, i, &inputs[i]));
	return onnx_cv_finish_output(c, 0, op, inputs, ninputs, a);
}

/* Emits an intermediate IR node with a derived name. */
PiStatus
onnx_cv_step(OnnxCv *c, const char *suffix, PiOp op, const int *inputs, int ninputs,
		  const PiAttrs *a, int *value)
{
	char		name[PI_MAX_NAME];

	onnx_unique_name(c->im, c->n->outputs[0], suffix, name);
	return onnx_emit(c->im, name, op, inputs, ninputs, a, value, c->err);
}

/* Emits a Reshape of value to [batch, dims[1..rank-1]]. */
PiStatus
onnx_cv_reshape(OnnxCv *c, const char *suffix, int value, int rank, const int64_t *dims, int *out)
{
	PiAttrs		a;
	int64_t		shape[PI_MAX_RANK];

	pi_attrs_default(PI_OP_RESHAPE, &a);
	memcpy(shape, dims, sizeof(int64_t) * rank);
	shape[0] = -1;
	TRY(pi_attr_set_ints(PI_OP_RESHAPE, &a, onnx_cv_label(c), "shape", shape, rank, c->err));
	if (suffix == NULL)
	{
		TRY(onnx_emit(c->im, c->n->outputs[0], PI_OP_RESHAPE, &value, 1, &a, out, c->err));
		return onnx_define(c->im, c->n->outputs[0], NULL, *out, c->err);
	}
	return onnx_cv_step(c, suffix, PI_OP_RESHAPE, &value, 1, &a, out);
}

/* Reads an axes list: attribute before opset `since`, else constant input 1. */
PiStatus
onnx_cv_axes(OnnxCv *c, int since, const int64_t **axes, int *count)
{
	if (c->im->opset < since)
	{
		*count = onnx_attr_ints(c->n, "axes", axes);
		return PI_OK;
	}
	if (!onnx_cv_has_input(c, 1))
	{
		*count = -1;
		*axes = NULL;
		return PI_OK;
	}
	return onnx_cv_ints(c, 1, axes, count);
}

typedef struct ConvertEntry
{
	const char *op;
	ConvertFn	fn;
} ConvertEntry;

static const ConvertEntry converters[] = {
	{"Relu", onnx_cv_plain}, {"Sigmoid", onnx_cv_plain}, {"Tanh", onnx_cv_plain}, {"Exp", onnx_cv_plain},
	{"Log", onnx_cv_plain}, {"Sqrt", onnx_cv_plain}, {"Neg", onnx_cv_plain}, {"Abs", onnx_cv_plain},
	{"Reciprocal", onnx_cv_plain}, {"Erf", onnx_cv_plain}, {"Softplus", onnx_cv_plain},
	{"Add", onnx_cv_plain}, {"Sub", onnx_cv_plain}, {"Mul", onnx_cv_plain}, {"Div", onnx_cv_plain},
	{"Pow", onnx_cv_plain}, {"PRelu", onnx_cv_plain}, {"Equal", onnx_cv_plain}, {"Less", onnx_cv_plain},
	{"Greater", onnx_cv_plain}, {"Where", onnx_cv_plain}, {"MatMul", onnx_cv_plain},
	{"LeakyRelu", onnx_cv_param_unary}, {"Elu", onnx_cv_param_unary}, {"Selu", onnx_cv_param_unary},
	{"HardSigmoid", onnx_cv_param_unary}, {"Gelu", onnx_cv_gelu},
	{"Identity", onnx_cv_identity}, {"Dropout", onnx_cv_identity},
	{"Sum", onnx_cv_variadic}, {"Min", onnx_cv_variadic}, {"Max", onnx_cv_variadic}, {"Mean", onnx_cv_variadic},
	{"Clip", onnx_cv_clip}, {"Cast", onnx_cv_cast},
	{"Softmax", onnx_cv_softmax}, {"LogSoftmax", onnx_cv_softmax},
	{"Gemm", onnx_cv_gemm}, {"Conv", onnx_cv_conv}, {"ConvTranspose", onnx_cv_conv_transpose},
	{"MaxPool", onnx_cv_pool}, {"AveragePool", onnx_cv_pool},
	{"GlobalAveragePool", onnx_cv_global_pool}, {"GlobalMaxPool", onnx_cv_global_pool},
	{"BatchNormalization", onnx_cv_batch_norm}, {"LayerNormalization", onnx_cv_layer_norm},
	{"Reshape", onnx_cv_reshape_op}, {"Flatten", onnx_cv_flatten},
	{"Squeeze", onnx_cv_squeeze}, {"Unsqueeze", onnx_cv_squeeze}, {"Transpose", onnx_cv_transpose},
	{"Concat", onnx_cv_concat}, {"Gather", onnx_cv_gather}, {"Slice", onnx_cv_slice}, {"Split", onnx_cv_split},
	{"Expand", onnx_cv_expand}, {"TopK", onnx_cv_topk}, {"Pad", onnx_cv_pad},
	{"ReduceMean", onnx_cv_reduce}, {"ReduceSum", onnx_cv_reduce}, {"ReduceMax", onnx_cv_reduce},
	{"ArgMax", onnx_cv_argmax},
	{"QuantizeLinear", onnx_cv_quantize}, {"DequantizeLinear", onnx_cv_quantize},
	{"And", onnx_cv_boolean}, {"Or", onnx_cv_boolean}, {"Not", onnx_cv_boolean},
	{"LessOrEqual", onnx_cv_boolean}, {"GreaterOrEqual", onnx_cv_boolean},
};

/* Domain ai.onnx.ml (onnx_convert_ml.c, onnx_convert_encode.c, onnx_convert_tree.c). */
static const ConvertEntry ml_converters[] = {
	{"TreeEnsembleClassifier", onnx_cv_tree_ensemble}, {"TreeEnsembleRegressor", onnx_cv_tree_ensemble},
	{"TreeEnsemble", onnx_cv_tree_ensemble5},
	{"LinearClassifier", onnx_cv_linear_classifier}, {"LinearRegressor", onnx_cv_linear_regressor},
	{"Scaler", onnx_cv_scaler}, {"Normalizer", onnx_cv_normalizer}, {"Binarizer", onnx_cv_binarizer},
	{"Imputer", onnx_cv_imputer}, {"FeatureVectorizer", onnx_cv_feature_vectorizer},
	{"OneHotEncoder", onnx_cv_one_hot_encoder}, {"LabelEncoder", onnx_cv_label_encoder},
	{"CategoryMapper", onnx_cv_label_encoder}, {"ZipMap", onnx_cv_zipmap},
	{"ArrayFeatureExtractor", onnx_cv_array_feature_extractor},
};

/* Whether a domain is ai.onnx.ml. */
bool
onnx_domain_is_ml(const char *domain)
{
	return strcmp(domain, "ai.onnx.ml") == 0;
}

/* The converter of an op of a domain ("" or "ai.onnx": the default one), or NULL. */
static ConvertFn
find_converter(const char *domain, const char *op_type)
{
	const ConvertEntry *table = onnx_domain_is_ml(domain) ? ml_converters : converters;
	size_t		n = onnx_domain_is_ml(domain) ? sizeof(ml_converters) / sizeof(ml_converters[0]) :
		sizeof(converters) / sizeof(converters[0]);

	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i].op, op_type) == 0)
			return table[i].fn;
	return NULL;
}

/* Whether nodes of this op can be lowered to IR nodes. */
bool
onnx_convert_supported(const char *domain, const char *op_type)
{
	return find_converter(domain, op_type) != NULL;
}

/* Lowers node n, whose inputs are in[] (NULL: omitted), to IR nodes. */
PiStatus
onnx_convert_node(OnnxImporter *im, const OnnxNode *n, OnnxEntry **in, PiError *err)
{
	ConvertFn	fn = find_converter(n->domain, n->op_type);
	OnnxCv			c = {im, n, in, err};

	if (fn == NULL)
		return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) is only supported on constants, but an input is computed at run time",
					   onnx_cv_label(&c), n->op_type);
	/* every ai.onnx.ml op reads its input 0, which its converter takes as given */
	if (onnx_domain_is_ml(n->domain) && !onnx_cv_has_input(&c, 0))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input 0",
					   onnx_cv_label(&c), n->op_type);
	return fn(&c);
}
