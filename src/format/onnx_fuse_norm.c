/*
 * onnx_fuse_norm.c
 *	  LayerNorm and GELU spelled out in elementwise ops, as PyTorch exports
 *	  them below opset 17 and 20, made one node each.  LayerNorm:
 *
 *	      mean = ReduceMean(x, last axis)   d = Sub(x, mean)
 *	      var = ReduceMean(Pow(d, 2), last axis)
 *	      y = Add(Mul(Div(d, Sqrt(Add(var, eps))), scale), bias)
 *
 *	  The last Add becomes LayerNormalization(x, scale, bias) with that eps.
 *	  GELU, y = Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5), becomes
 *	  Gelu(x), which the CPU engine can then fold into the MatMul before it.
 *	  The other nodes of a chain then feed no output and finalize drops them.
 *	  Only exact chains are matched: every intermediate used only by the
 *	  chain, LayerNorm's scale and bias weights of x's last dimension, and
 *	  scalar weights of the constants.
 */
#include <stdlib.h>

#include "onnx_import.h"

/* The node of op that produces value v, or NULL. */
static const PiNode *
producer(const PiModel *m, int v, PiOp op)
{
	const PiValue *value = &m->values[v];

	if (value->kind != PI_VALUE_NODE || value->producer < 0 ||
		m->nodes[value->producer].op != op)
		return NULL;
	return &m->nodes[value->producer];
}

/* Whether value v is a weight of one element; its value in *out. */
static bool
scalar_weight(const PiModel *m, int v, float *out)
{
	const PiValue *value = &m->values[v];

	if (value->kind != PI_VALUE_WEIGHT || value->numel != 1)
		return false;
	*out = value->data[0];
	return true;
}

/* Whether value v is a weight [width]. */
static bool
vector_weight(const PiModel *m, int v, int64_t width)
{
	const PiValue *value = &m->values[v];

	return value->kind == PI_VALUE_WEIGHT && value->rank == 1 && value->dims[0] == width;
}

/* Whether node n is ReduceMean over its input's last axis, keeping it. */
static bool
mean_of_last_axis(const PiModel *m, const PiNode *n)
{
	return n->ninputs == 1 && n->attrs.keepdims && n->attrs.axes_len == 1 &&
		(n->attrs.axes[0] == -1 || n->attrs.axes[0] == m->values[n->inputs[0]].rank - 1);
}

/* Whether value v is used by uses node inputs and is no graph output. */
bool
onnx_used_exactly(const PiModel *m, int v, int uses)
{
	int			count = 0;

	for (int i = 0; i < m->noutputs; i++)
		if (m->outputs[i] == v)
			return false;
	for (int i = 0; i < m->nnodes; i++)
		for (int j = 0; j < m->nodes[i].ninputs; j++)
			count += (m->nodes[i].inputs[j] == v);
	return count == uses;
}

/*
 * Of a two-input node, the input that the match function accepts (in
 * either order) in *first, the other in *second; false when neither does.
 */
static bool
either_order(const PiNode *n, bool (*match) (const PiModel *, int, const void *),
			 const PiModel *m, const void *arg, int *first, int *second)
{
	for (int k = 0; k < 2 && n->ninputs == 2; k++)
		if (match(m, n->inputs[k], arg))
		{
			*first = n->inputs[k];
			*second = n->inputs[1 - k];
			return true;
		}
	return false;
}

/* either_order's match: value v is a weight [*(int64_t *) width]. */
static bool
match_vector(const PiModel *m, int v, const void *width)
{
	return vector_weight(m, v, *(const int64_t *) width);
}

/* either_order's match: value v is a scalar weight. */
static bool
match_scalar(const PiModel *m, int v, const void *unused)
{
	float		ignored;

	return scalar_weight(m, v, &ignored);
}

/*
 * Whether the chain ends at node `last` (an Add); its input x, scale, bias
 * and eps in the out arguments.
 */
static bool
match_layer_norm(const PiModel *m, const PiNode *last, int *x, int *scale, int *bias,
				 float *eps)
{
	const PiNode *mul, *div, *sqrt_node, *add_eps, *var, *pow, *sub, *mean;
	int			y, normed, eps_value, var_value;
	int64_t		width;
	float		two;

	/* the width comes from the bias; the scale and x must agree */
	for (int k = 0; k < 2; k++)
	{
		if (last->ninputs != 2)
			return false;
		*bias = last->inputs[k];
		y = last->inputs[1 - k];
		if (m->values[*bias].kind == PI_VALUE_WEIGHT && m->values[*bias].rank == 1 &&
			(mul = producer(m, y, PI_OP_MUL)) != NULL)
			break;
		mul = NULL;
	}
	if (mul == NULL)
		return false;
	width = m->values[*bias].dims[0];
	if (!either_order(mul, match_vector, m, &width, scale, &normed) ||
		(div = producer(m, normed, PI_OP_DIV)) == NULL ||
		(sqrt_node = producer(m, div->inputs[1], PI_OP_SQRT)) == NULL ||
		(add_eps = producer(m, sqrt_node->inputs[0], PI_OP_ADD)) == NULL ||
		!either_order(add_eps, match_scalar, m, NULL, &eps_value, &var_value) ||
		(var = producer(m, var_value, PI_OP_REDUCE_MEAN)) == NULL || !mean_of_last_axis(m, var) ||
		(pow = producer(m, var->inputs[0], PI_OP_POW)) == NULL ||
		!scalar_weight(m, pow->inputs[1], &two) || two != 2.0f ||
		pow->inputs[0] != div->inputs[0] ||
		(sub = producer(m, div->inputs[0], PI_OP_SUB)) == NULL ||
		(mean = producer(m, sub->inputs[1], PI_OP_REDUCE_MEAN)) == NULL ||
		!mean_of_last_axis(m, mean) || mean->inputs[0] != sub->inputs[0])
		return false;
	*x = sub->inputs[0];
	if (m->values[*x].rank < 2 || m->values[*x].dims[m->values[*x].rank - 1] != width ||
		m->values[*x].kind == PI_VALUE_WEIGHT || !scalar_weight(m, eps_value, eps))
		return false;
	return onnx_used_exactly(m, sub->inputs[1], 1) && onnx_used_exactly(m, div->inputs[0], 2) &&
		onnx_used_exactly(m, var->inputs[0], 1) && onnx_used_exactly(m, var_value, 1) &&
		onnx_used_exactly(m, sqrt_node->inputs[0], 1) && onnx_used_exactly(m, div->inputs[1], 1) &&
		onnx_used_exactly(m, normed, 1) && onnx_used_exactly(m, y, 1) && *eps >= 0.0f;
}

/* Whether value v is a scalar weight equal to want (within tolerance). */
static bool
scalar_is(const PiModel *m, int v, double want, double tolerance)
{
	float		value;

	return scalar_weight(m, v, &value) && value >= want - tolerance && value <= want + tolerance;
}

/* Whether value v is Add(Erf(Div(x, sqrt 2)), 1), each step used once. */
static bool
erf_plus_one(const PiModel *m, int v, int x)
{
	const PiNode *add = producer(m, v, PI_OP_ADD);
	const PiNode *erf = NULL;
	const PiNode *div;

	if (add == NULL || add->ninputs != 2)
		return false;
	for (int k = 0; k < 2 && erf == NULL; k++)
		if (scalar_is(m, add->inputs[k], 1.0, 0.0))
			erf = producer(m, add->inputs[1 - k], PI_OP_ERF);
	return erf != NULL && (div = producer(m, erf->inputs[0], PI_OP_DIV)) != NULL &&
		div->inputs[0] == x && scalar_is(m, div->inputs[1], 1.4142135623730951, 1e-6) &&
		onnx_used_exactly(m, div->output, 1) && onnx_used_exactly(m, erf->output, 1) &&
		onnx_used_exactly(m, add->output, 1);
}

/*
 * Whether the GELU chain ends at node `last` (a Mul): its input in *x, its
 * 0.5 weight in *half and its inner Mul node in *inner.
 */
static bool
match_gelu(const PiModel *m, const PiNode *last, int *x, int *half, int *inner)
{
	const PiNode *mul = NULL;

	for (int k = 0; k < 2 && mul == NULL && last->ninputs == 2; k++)
		if (scalar_is(m, last->inputs[k], 0.5, 0.0))
		{
			*half = last->inputs[k];
			mul = producer(m, last->inputs[1 - k], PI_OP_MUL);
		}
	if (mul == NULL || mul->ninputs != 2 || !onnx_used_exactly(m, mul->output, 1))
		return false;
	*inner = m->values[mul->output].producer;
	for (int k = 0; k < 2; k++)
	{
		*x = mul->inputs[1 - k];
		if (m->values[*x].kind != PI_VALUE_WEIGHT && erf_plus_one(m, mul->inputs[k], *x))
			return true;
	}
	return false;
}

/* Makes every spelled-out LayerNorm and GELU of m one node. */
PiStatus
onnx_fuse_layer_norms(PiModel *m, PiError *err)
{
	for (int i = 0; i < m->nnodes; i++)
	{
		PiNode	   *n = &m->nodes[i];
		int			x,
					scale,
					bias,
					half,
					inner;
		float		eps;
		int		   *inputs;

		if (n->op == PI_OP_MUL && match_gelu(m, n, &x, &half, &inner))
		{
			/* the inner Mul, dropped, reads the 0.5 instead: every weight stays read */
			m->nodes[inner].inputs[0] = x;
			m->nodes[inner].inputs[1] = half;
			n->inputs[0] = x;
			n->ninputs = 1;
			n->op = PI_OP_GELU;
			pi_attrs_default(PI_OP_GELU, &n->attrs);
			continue;
		}
		if (n->op != PI_OP_ADD || !match_layer_norm(m, n, &x, &scale, &bias, &eps))
			continue;
		if ((inputs = realloc(n->inputs, sizeof(int) * 3)) == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		n->inputs = inputs;
		n->inputs[0] = x;
		n->inputs[1] = scale;
		n->inputs[2] = bias;
		n->ninputs = 3;
		n->op = PI_OP_LAYER_NORM;
		pi_attrs_default(PI_OP_LAYER_NORM, &n->attrs);
		n->attrs.axis = m->values[x].rank - 1;
		n->attrs.epsilon = eps;
	}
	return PI_OK;
}
