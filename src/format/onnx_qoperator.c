/*
 * onnx_qoperator.c
 *	  The QOperator form of quantized ONNX models and onnxruntime's
 *	  quantize_dynamic output, rewritten before import into the nodes of
 *	  the QDQ form that the importer already takes (onnx_quant.c):
 *
 *	  - QLinearConv, QLinearMatMul, com.microsoft QGemm, QLinearAdd,
 *	    QLinearMul and QLinearGlobalAveragePool become DequantizeLinear of
 *	    their inputs (weights and int32 biases fold into float32 constants),
 *	    the float op, and QuantizeLinear of the result;
 *	  - DynamicQuantizeLinear followed by MatMulInteger (or ConvInteger),
 *	    Cast to float and Mul by the product of the two scales becomes a
 *	    MatMul (Conv) of the float input by the dequantized weight, marked
 *	    dynamic_int8: the int8 path quantizes its rows as they come.  A
 *	    DynamicQuantizeLinear that anything else reads stays, and is refused.
 *
 *	  New tensors are named after the node's output with a "#" suffix; the
 *	  new nodes are named after the original node and its op, so errors
 *	  name them ("conv1 (QLinearConv)").
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "onnx_import.h"

/* What the graph does with each tensor name. */
typedef struct Names
{
	int			nslots;
	const char **names;			/* NULL: a free slot */
	int		   *readers;		/* node inputs and graph outputs reading it */
	int		   *reader;			/* the last reading node; -1: a graph output */
	int		   *dropped_reads;	/* readings by nodes the rewrite dropped */
	int		   *producer;		/* the node writing it, or -1 */
	bool	   *initializer;
} Names;

/* The graph being rewritten into a new node list. */
typedef struct Rewrite
{
	OnnxGraph  *g;
	OnnxArena  *arena;
	OnnxNode   *out;
	int			nout;
	int			cap;
	bool	   *dropped;		/* original nodes folded into a rewrite */
	Names		names;
	PiError    *err;
} Rewrite;

/* The slot of name in the table, entered when new. */
static int
name_slot(Names *t, const char *name)
{
	int			i = (int) (pi_name_hash(name) % (uint32_t) t->nslots);

	while (t->names[i] != NULL && strcmp(t->names[i], name) != 0)
		i = (i + 1) % t->nslots;
	if (t->names[i] == NULL)
	{
		t->names[i] = name;
		t->producer[i] = -1;
	}
	return i;
}

/* Enters the graph's names: initializers, producers and readers. */
static PiStatus
enter_graph_names(Rewrite *rw)
{
	const OnnxGraph *g = rw->g;
	Names	   *t = &rw->names;
	int64_t		total = g->noutputs + g->ninitializers;

	for (int i = 0; i < g->nnodes; i++)
		total += g->nodes[i].ninputs + g->nodes[i].noutputs;
	t->nslots = (int) (2 * total + 1);
	t->names = onnx_arena_alloc(rw->arena, t->nslots, sizeof(char *));
	t->readers = onnx_arena_alloc(rw->arena, t->nslots, sizeof(int));
	t->reader = onnx_arena_alloc(rw->arena, t->nslots, sizeof(int));
	t->dropped_reads = onnx_arena_alloc(rw->arena, t->nslots, sizeof(int));
	t->producer = onnx_arena_alloc(rw->arena, t->nslots, sizeof(int));
	t->initializer = onnx_arena_alloc(rw->arena, t->nslots, sizeof(bool));
	if (t->names == NULL || t->readers == NULL || t->reader == NULL || t->dropped_reads == NULL ||
		t->producer == NULL || t->initializer == NULL)
		return pi_fail(rw->err, PI_ERR_NOMEM, "out of memory");
	memset(t->names, 0, sizeof(char *) * t->nslots);
	memset(t->readers, 0, sizeof(int) * t->nslots);
	memset(t->dropped_reads, 0, sizeof(int) * t->nslots);
	memset(t->initializer, 0, sizeof(bool) * t->nslots);
	for (int i = 0; i < g->ninitializers; i++)
		t->initializer[name_slot(t, g->initializers[i].name)] = true;
	for (int i = 0; i < g->nnodes; i++)
	{
		for (int j = 0; j < g->nodes[i].noutputs; j++)
			if (g->nodes[i].outputs[j][0])
				t->producer[name_slot(t, g->nodes[i].outputs[j])] = i;
		for (int j = 0; j < g->nodes[i].ninputs; j++)
			if (g->nodes[i].inputs[j][0])
			{
				int			k = name_slot(t, g->nodes[i].inputs[j]);

				t->readers[k]++;
				t->reader[k] = i;
			}
	}
	for (int i = 0; i < g->noutputs; i++)
	{
		int			k = name_slot(t, g->outputs[i].name);

		t->readers[k]++;
		t->reader[k] = -1;
	}
	return PI_OK;
}

/* The one node that reads name, or -1 when none or several do (or a graph output). */
static int
sole_reader(Rewrite *rw, const char *name)
{
	int			k = name_slot(&rw->names, name);

	return rw->names.readers[k] == 1 ? rw->names.reader[k] : -1;
}

/* The index of the node that produces name, or -1. */
static int
producer_of(Rewrite *rw, const char *name)
{
	return rw->names.producer[name_slot(&rw->names, name)];
}

/* Whether name is an initializer. */
static bool
is_initializer(Rewrite *rw, const char *name)
{
	return rw->names.initializer[name_slot(&rw->names, name)];
}

/* Marks node i dropped, counting its readings. */
static void
drop_node(Rewrite *rw, int i)
{
	const OnnxNode *n = &rw->g->nodes[i];

	rw->dropped[i] = true;
	for (int j = 0; j < n->ninputs; j++)
		if (n->inputs[j][0])
			rw->names.dropped_reads[name_slot(&rw->names, n->inputs[j])]++;
}

/* base followed by suffix, in the arena; NULL when out of memory. */
static const char *
derived_name(Rewrite *rw, const char *base, const char *suffix)
{
	size_t		len = strlen(base) + strlen(suffix) + 1;
	char	   *s = onnx_arena_alloc(rw->arena, (int64_t) len, 1);

	if (s != NULL)
		snprintf(s, len, "%s%s", base, suffix);
	return s;
}

/* The name of a node the rewrite of from makes: from's label and op ("conv1 (QLinearConv)"). */
static const char *
node_name(Rewrite *rw, const OnnxNode *from)
{
	const char *label = onnx_node_label(from);
	size_t		len = strlen(label) + strlen(from->op_type) + 4;
	char	   *s = onnx_arena_alloc(rw->arena, (int64_t) len, 1);

	if (s != NULL)
		snprintf(s, len, "%s (%s)", label, from->op_type);
	return s;
}

/* Input i of node n, or "" when it is not given. */
static const char *
input_of(const OnnxNode *n, int i)
{
	return i < n->ninputs ? n->inputs[i] : "";
}

/*
 * Appends a node of op_type over inputs, writing output, named as from,
 * with from's attributes of the listed names (NULL: none) and, when axis
 * is not INT64_MIN, an attribute "axis".
 */
static PiStatus
add_node(Rewrite *rw, const OnnxNode *from, const char *op_type, int ninputs,
		 const char *const *inputs, const char *output, const char *const *copy, int64_t axis,
		 OnnxNode **made)
{
	OnnxNode   *n;
	int			nattrs = 0;

	if (rw->nout >= rw->cap)
		return pi_fail(rw->err, PI_ERR_LIMIT, "the rewrite of quantized nodes needs more than %d nodes", rw->cap);
	n = &rw->out[rw->nout++];
	memset(n, 0, sizeof(*n));
	n->name = node_name(rw, from);
	n->op_type = op_type;
	n->domain = "";
	n->ninputs = ninputs;
	n->noutputs = 1;
	n->inputs = onnx_arena_alloc(rw->arena, ninputs, sizeof(char *));
	n->outputs = onnx_arena_alloc(rw->arena, 1, sizeof(char *));
	n->attrs = onnx_arena_alloc(rw->arena, from->nattrs + 1, sizeof(OnnxAttr));
	if (n->name == NULL || n->inputs == NULL || n->outputs == NULL || n->attrs == NULL || output == NULL)
		return pi_fail(rw->err, PI_ERR_NOMEM, "out of memory");
	for (int i = 0; i < ninputs; i++)
	{
		if (inputs[i] == NULL)
			return pi_fail(rw->err, PI_ERR_NOMEM, "out of memory");
		n->inputs[i] = inputs[i];
	}
	n->outputs[0] = output;
	for (int i = 0; copy != NULL && i < from->nattrs; i++)
		for (int k = 0; copy[k]; k++)
			if (strcmp(from->attrs[i].name, copy[k]) == 0)
				n->attrs[nattrs++] = from->attrs[i];
	if (axis != INT64_MIN)
	{
		memset(&n->attrs[nattrs], 0, sizeof(OnnxAttr));
		n->attrs[nattrs].name = "axis";
		n->attrs[nattrs].type = ONNX_ATTR_INT;
		n->attrs[nattrs++].i = axis;
	}
	n->nattrs = nattrs;
	if (made != NULL)
		*made = n;
	return PI_OK;
}

/* Appends DequantizeLinear(codes, scale, zero_point) along axis, writing output. */
static PiStatus
add_dequantize(Rewrite *rw, const OnnxNode *from, const char *codes, const char *scale,
			   const char *zero_point, int64_t axis, const char *output)
{
	const char *in[3] = {codes, scale, zero_point};

	return add_node(rw, from, "DequantizeLinear", zero_point[0] ? 3 : 2, in, output, NULL, axis, NULL);
}

/* Appends QuantizeLinear(x, scale, zero_point) writing output. */
static PiStatus
add_quantize(Rewrite *rw, const OnnxNode *from, const char *x, const char *scale,
			 const char *zero_point, const char *output)
{
	const char *in[3] = {x, scale, zero_point};

	return add_node(rw, from, "QuantizeLinear", zero_point[0] ? 3 : 2, in, output, NULL, INT64_MIN, NULL);
}

/* Fails unless node n has between lo and hi inputs, each of the first `needed` given. */
static PiStatus
check_inputs(Rewrite *rw, const OnnxNode *n, int lo, int hi, int needed)
{
	if (n->ninputs < lo || n->ninputs > hi)
		return pi_fail(rw->err, PI_ERR_INVALID, "node \"%s\" (%s) has %d inputs, expected %d to %d",
					   onnx_node_label(n), n->op_type, n->ninputs, lo, hi);
	for (int i = 0; i < needed; i++)
		if (n->inputs[i][0] == '\0')
			return pi_fail(rw->err, PI_ERR_INVALID, "node \"%s\" (%s) is missing input %d",
						   onnx_node_label(n), n->op_type, i);
	if (n->noutputs < 1 || n->outputs[0][0] == '\0')
		return pi_fail(rw->err, PI_ERR_INVALID, "node \"%s\" (%s) has no output",
					   onnx_node_label(n), n->op_type);
	return PI_OK;
}

/* Fails unless input i of node n is an initializer (a quantized weight or bias). */
static PiStatus
need_initializer(Rewrite *rw, const OnnxNode *n, int i, const char *what)
{
	if (!is_initializer(rw, n->inputs[i]))
		return pi_fail(rw->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) %s \"%s\" must be an initializer",
					   onnx_node_label(n), n->op_type, what, n->inputs[i]);
	return PI_OK;
}

/*
 * The float op's bias from an int32 bias quantized with the product of the
 * input's and the weight's scales (and zero point 0): a Mul of the scales,
 * which folds, and a DequantizeLinear along the bias's one axis.
 */
static PiStatus
add_bias(Rewrite *rw, const OnnxNode *n, const char *bias, const char *x_scale,
		 const char *w_scale, const char **out)
{
	const char *scales[2] = {x_scale, w_scale};
	const char *product = derived_name(rw, n->outputs[0], "#bias_scale");

	*out = derived_name(rw, n->outputs[0], "#bias");
	TRY(add_node(rw, n, "Mul", 2, scales, product, NULL, INT64_MIN, NULL));
	return add_dequantize(rw, n, bias, product, "", -1, *out);
}

/*
 * QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B): DequantizeLinear of x and
 * of w (per output channel, axis 0), Conv with the dequantized bias,
 * QuantizeLinear of the result.
 */
static PiStatus
rewrite_qlinear_conv(Rewrite *rw, const OnnxNode *n)
{
	static const char *const conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape",
	"pads", "strides", NULL};
	const char *in[3];
	const char *y;
	int			ninputs = 2;

	TRY(check_inputs(rw, n, 8, 9, 8));
	y = derived_name(rw, n->outputs[0], "#float");
	TRY(need_initializer(rw, n, 3, "weight"));
	in[0] = derived_name(rw, n->outputs[0], "#x");
	in[1] = derived_name(rw, n->outputs[0], "#w");
	TRY(add_dequantize(rw, n, n->inputs[0], n->inputs[1], n->inputs[2], INT64_MIN, in[0]));
	TRY(add_dequantize(rw, n, n->inputs[3], n->inputs[4], n->inputs[5], 0, in[1]));
	if (input_of(n, 8)[0])
	{
		TRY(need_initializer(rw, n, 8, "bias"));
		TRY(add_bias(rw, n, n->inputs[8], n->inputs[1], n->inputs[4], &in[2]));
		ninputs = 3;
	}
	TRY(add_node(rw, n, "Conv", ninputs, in, y, conv_attrs, INT64_MIN, NULL));
	return add_quantize(rw, n, y, n->inputs[6], n->inputs[7], n->outputs[0]);
}

/*
 * com.microsoft QGemm(a, as, az, b, bs, bz, C, ys, yz): Gemm of the
 * dequantized operands (b per output column), quantized again when ys is
 * given; C is int32 at scale alpha * as * bs, taken only with alpha 1.
 */
static PiStatus
rewrite_qgemm(Rewrite *rw, const OnnxNode *n)
{
	static const char *const gemm_attrs[] = {"transA", "transB", "alpha", NULL};
	bool		quantized = input_of(n, 7)[0] != '\0';
	const char *in[3];
	const char *y;
	int			ninputs = 2;

	TRY(check_inputs(rw, n, 6, 9, 6));
	y = quantized ? derived_name(rw, n->outputs[0], "#float") : n->outputs[0];
	TRY(need_initializer(rw, n, 3, "weight"));
	in[0] = derived_name(rw, n->outputs[0], "#a");
	in[1] = derived_name(rw, n->outputs[0], "#b");
	TRY(add_dequantize(rw, n, n->inputs[0], n->inputs[1], n->inputs[2], INT64_MIN, in[0]));
	TRY(add_dequantize(rw, n, n->inputs[3], n->inputs[4], n->inputs[5],
					   onnx_attr_int(n, "transB", 0) ? 0 : 1, in[1]));
	if (input_of(n, 6)[0])
	{
		if (onnx_attr_float(n, "alpha", 1.0f) != 1.0f)
			return pi_fail(rw->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has alpha %g and a bias; only alpha 1 is supported with one",
						   onnx_node_label(n), n->op_type, (double) onnx_attr_float(n, "alpha", 1.0f));
		TRY(need_initializer(rw, n, 6, "bias"));
		TRY(add_bias(rw, n, n->inputs[6], n->inputs[1], n->inputs[4], &in[2]));
		ninputs = 3;
	}
	TRY(add_node(rw, n, "Gemm", ninputs, in, y, gemm_attrs, INT64_MIN, NULL));
	return quantized ? add_quantize(rw, n, y, n->inputs[7], input_of(n, 8), n->outputs[0]) : PI_OK;
}

/*
 * QLinearMatMul(a, as, az, b, bs, bz, ys, yz), and com.microsoft's
 * QLinearAdd and QLinearMul (a, as, az, b, bs, bz, ys, yz): the float op
 * of the dequantized operands (b of QLinearMatMul per column when its
 * scale is a list), quantized again.
 */
static PiStatus
rewrite_qlinear_binary(Rewrite *rw, const OnnxNode *n, const char *float_op)
{
	const char *in[2];
	const char *y;
	bool		matmul = strcmp(float_op, "MatMul") == 0;

	TRY(check_inputs(rw, n, 7, 8, 7));
	y = derived_name(rw, n->outputs[0], "#float");
	if (matmul)
		TRY(need_initializer(rw, n, 3, "weight"));
	in[0] = derived_name(rw, n->outputs[0], "#a");
	in[1] = derived_name(rw, n->outputs[0], "#b");
	TRY(add_dequantize(rw, n, n->inputs[0], n->inputs[1], n->inputs[2], INT64_MIN, in[0]));
	TRY(add_dequantize(rw, n, n->inputs[3], n->inputs[4], n->inputs[5], matmul ? -1 : INT64_MIN, in[1]));
	TRY(add_node(rw, n, float_op, 2, in, y, NULL, INT64_MIN, NULL));
	return add_quantize(rw, n, y, n->inputs[6], input_of(n, 7), n->outputs[0]);
}

/* com.microsoft QLinearGlobalAveragePool(x, xs, xz, ys, yz), channels first. */
static PiStatus
rewrite_qlinear_global_pool(Rewrite *rw, const OnnxNode *n)
{
	const char *x,
			   *y;

	TRY(check_inputs(rw, n, 4, 5, 4));
	x = derived_name(rw, n->outputs[0], "#x");
	y = derived_name(rw, n->outputs[0], "#float");
	if (onnx_attr_int(n, "channels_last", 0) != 0)
		return pi_fail(rw->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) pools channels-last data, which is not supported",
					   onnx_node_label(n), n->op_type);
	TRY(add_dequantize(rw, n, n->inputs[0], n->inputs[1], n->inputs[2], INT64_MIN, x));
	TRY(add_node(rw, n, "GlobalAveragePool", 1, &x, y, NULL, INT64_MIN, NULL));
	return add_quantize(rw, n, y, n->inputs[3], input_of(n, 4), n->outputs[0]);
}

/* Whether node i is op_type in the default domain (or com.microsoft when ms). */
static bool
node_is(const Rewrite *rw, int i, const char *op_type, bool ms)
{
	const OnnxNode *n;

	if (i < 0)
		return false;
	n = &rw->g->nodes[i];
	return strcmp(n->op_type, op_type) == 0 &&
		(ms ? strcmp(n->domain, "com.microsoft") == 0 :
		 (n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0));
}

/*
 * MatMulInteger or ConvInteger node m of a quantize_dynamic file:
 * DynamicQuantizeLinear d gives its input codes and zero point, its
 * integer result goes only to a Cast to float, and that only to a Mul by
 * Mul(d's scale, the weight's scale).  Becomes MatMul (Conv) of d's float
 * input by the dequantized weight, marked dynamic_int8, writing the outer
 * Mul's output; m, the Cast and the Mul are dropped.  Returns false
 * (nothing written) when the nodes are not in that pattern.
 */
static PiStatus
rewrite_dynamic(Rewrite *rw, int m, bool *done)
{
	static const char *const conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape",
	"pads", "strides", NULL};
	const OnnxNode *n = &rw->g->nodes[m];
	bool		conv = strcmp(n->op_type, "ConvInteger") == 0;
	int			d,
				cast,
				mul,
				scales;
	const OnnxNode *s;
	const char *w_scale;
	const char *in[2];
	OnnxNode   *made;

	*done = false;
	TRY(check_inputs(rw, n, 2, 4, 2));
	d = producer_of(rw, n->inputs[0]);
	if (!node_is(rw, d, "DynamicQuantizeLinear", false) || rw->g->nodes[d].noutputs != 3 ||
		rw->g->nodes[d].ninputs != 1 || rw->g->nodes[d].inputs[0][0] == '\0' ||
		strcmp(rw->g->nodes[d].outputs[0], n->inputs[0]) != 0 ||
		strcmp(rw->g->nodes[d].outputs[2], input_of(n, 2)) != 0 ||
		!is_initializer(rw, n->inputs[1]))
		return PI_OK;
	if (n->noutputs < 1)
		return PI_OK;
	cast = sole_reader(rw, n->outputs[0]);
	if (!node_is(rw, cast, "Cast", false) || rw->g->nodes[cast].noutputs < 1 ||
		onnx_attr_int(&rw->g->nodes[cast], "to", 0) != ONNX_FLOAT)
		return PI_OK;
	mul = sole_reader(rw, rw->g->nodes[cast].outputs[0]);
	if (!node_is(rw, mul, "Mul", false) || rw->g->nodes[mul].ninputs != 2)
		return PI_OK;
	scales = producer_of(rw, rw->g->nodes[mul].inputs[strcmp(rw->g->nodes[mul].inputs[0],
															  rw->g->nodes[cast].outputs[0]) == 0]);
	if (!node_is(rw, scales, "Mul", false) || rw->g->nodes[scales].ninputs != 2)
		return PI_OK;
	s = &rw->g->nodes[scales];
	if (strcmp(s->inputs[0], rw->g->nodes[d].outputs[1]) == 0)
		w_scale = s->inputs[1];
	else if (strcmp(s->inputs[1], rw->g->nodes[d].outputs[1]) == 0)
		w_scale = s->inputs[0];
	else
		return PI_OK;
	if (!is_initializer(rw, w_scale))
		return PI_OK;
	in[0] = rw->g->nodes[d].inputs[0];
	in[1] = derived_name(rw, n->outputs[0], "#w");
	TRY(add_dequantize(rw, n, n->inputs[1], w_scale, input_of(n, 3), conv ? 0 : -1, in[1]));
	TRY(add_node(rw, n, conv ? "Conv" : "MatMul", 2, in, rw->g->nodes[mul].outputs[0],
				 conv ? conv_attrs : NULL, INT64_MIN, &made));
	made->dynamic_int8 = true;
	drop_node(rw, cast);
	drop_node(rw, mul);
	*done = true;
	return PI_OK;
}

/*
 * Drops node i (a DynamicQuantizeLinear or a Mul of scales) when every
 * reading of its outputs is by a dropped node.
 */
static void
drop_if_unread(Rewrite *rw, int i)
{
	const OnnxNode *n = &rw->g->nodes[i];

	for (int o = 0; o < n->noutputs; o++)
	{
		int			k;

		if (n->outputs[o][0] == '\0')
			continue;
		k = name_slot(&rw->names, n->outputs[o]);
		if (rw->names.readers[k] != rw->names.dropped_reads[k])
			return;
	}
	drop_node(rw, i);
}

/* New nodes that the rewrite of node n takes, at most. */
static int
rewrite_size(const OnnxNode *n)
{
	static const char *const ops[] = {"QLinearConv", "QGemm", "QLinearMatMul", "QLinearAdd",
	"QLinearMul", "QLinearGlobalAveragePool", "MatMulInteger", "ConvInteger", NULL};

	for (int k = 0; ops[k]; k++)
		if (strcmp(n->op_type, ops[k]) == 0)
			return 6;
	return 0;
}

/* Rewrites node i when it is a QOperator node; false when it is not one. */
static PiStatus
rewrite_node(Rewrite *rw, int i, bool *done)
{
	*done = true;
	if (node_is(rw, i, "QLinearConv", false))
		return rewrite_qlinear_conv(rw, &rw->g->nodes[i]);
	if (node_is(rw, i, "QLinearMatMul", false))
		return rewrite_qlinear_binary(rw, &rw->g->nodes[i], "MatMul");
	if (node_is(rw, i, "QGemm", true))
		return rewrite_qgemm(rw, &rw->g->nodes[i]);
	if (node_is(rw, i, "QLinearAdd", true))
		return rewrite_qlinear_binary(rw, &rw->g->nodes[i], "Add");
	if (node_is(rw, i, "QLinearMul", true))
		return rewrite_qlinear_binary(rw, &rw->g->nodes[i], "Mul");
	if (node_is(rw, i, "QLinearGlobalAveragePool", true))
		return rewrite_qlinear_global_pool(rw, &rw->g->nodes[i]);
	if (node_is(rw, i, "MatMulInteger", false) || node_is(rw, i, "ConvInteger", false))
		return rewrite_dynamic(rw, i, done);
	*done = false;
	return PI_OK;
}

/*
 * Rewrites the QOperator and quantize_dynamic nodes of a decoded model
 * into QDQ-form nodes (see the file's comment); a graph without them is
 * left as it is.  The new node list lives in the model's arena.
 */
PiStatus
onnx_rewrite_quantized(OnnxModelProto *proto, PiError *err)
{
	OnnxGraph  *g = &proto->graph;
	Rewrite		rw;
	int64_t		extra = 0;

	for (int i = 0; i < g->nnodes; i++)
		extra += rewrite_size(&g->nodes[i]);
	if (extra == 0)
		return PI_OK;
	memset(&rw, 0, sizeof(rw));
	rw.g = g;
	rw.arena = &proto->arena;
	rw.err = err;
	rw.cap = (int) (g->nnodes + extra);
	rw.out = onnx_arena_alloc(rw.arena, rw.cap, sizeof(OnnxNode));
	rw.dropped = onnx_arena_alloc(rw.arena, g->nnodes, sizeof(bool));
	if (rw.out == NULL || rw.dropped == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	memset(rw.dropped, 0, sizeof(bool) * g->nnodes);
	TRY(enter_graph_names(&rw));
	for (int i = 0; i < g->nnodes; i++)
	{
		bool		done;

		if (pi_interrupted())
			return pi_fail(err, PI_ERR_INTERRUPTED, "the import was interrupted");
		TRY(rewrite_node(&rw, i, &done));
		if (done)
			drop_node(&rw, i);
	}
	/* the scales' Muls first: a DynamicQuantizeLinear's scale feeds them */
	for (int i = 0; i < g->nnodes; i++)
		if (!rw.dropped[i] && node_is(&rw, i, "Mul", false))
			drop_if_unread(&rw, i);
	for (int i = 0; i < g->nnodes; i++)
		if (!rw.dropped[i] && node_is(&rw, i, "DynamicQuantizeLinear", false))
			drop_if_unread(&rw, i);
	for (int i = 0; i < g->nnodes; i++)
		if (!rw.dropped[i])
		{
			if (rw.nout >= rw.cap)
				return pi_fail(err, PI_ERR_LIMIT, "the rewrite of quantized nodes needs more than %d nodes", rw.cap);
			rw.out[rw.nout++] = g->nodes[i];
		}
	g->nodes = rw.out;
	g->nnodes = rw.nout;
	return PI_OK;
}
