/*
 * onnx_fuse_bias.c
 *	  A Conv without a bias followed by an Add of one constant per output
 *	  channel made one Conv2D with that bias.  quantize_dynamic writes its
 *	  ConvIntegers so (ConvInteger, Cast, Mul by the scales, then Add of
 *	  the bias reshaped to [1, M, 1, 1]); as one node, the engine adds the
 *	  bias in the convolution's epilogue and folds the activation after it
 *	  there too.  Only an Add that alone reads the Conv's output, of a
 *	  weight that nothing else reads, is taken; the Conv then feeds nothing
 *	  and finalize drops it.
 */
#include <stdlib.h>

#include "onnx_import.h"

/*
 * Whether weight b adds one value per channel to a convolution's output of
 * rank out_rank and that many channels, as ONNX broadcasts it: its axis
 * under the output's axis 1 holds the channels, every other axis 1.
 */
static bool
channel_bias(const PiValue *b, int out_rank, int64_t channels)
{
	int			axis = b->rank - (out_rank - 1);

	if (b->kind != PI_VALUE_WEIGHT || b->data == NULL || b->numel != channels ||
		b->rank < out_rank - 1 || b->rank > out_rank)
		return false;
	for (int i = 0; i < b->rank; i++)
		if (b->dims[i] != (i == axis ? channels : 1))
			return false;
	return true;
}

/*
 * The Conv2D without a bias whose output input k of Add node n is, with a
 * channel bias as its other input; -1 when there is none.
 */
static int
conv_before(const PiModel *m, const PiNode *n, int k)
{
	const PiValue *x = &m->values[n->inputs[k]];
	const PiNode *conv;
	const PiValue *w;

	if (x->kind != PI_VALUE_NODE || x->producer < 0)
		return -1;
	conv = &m->nodes[x->producer];
	if (conv->op != PI_OP_CONV2D || conv->ninputs != 2)
		return -1;
	w = &m->values[conv->inputs[1]];
	if (w->kind != PI_VALUE_WEIGHT || w->rank < 3 ||
		!channel_bias(&m->values[n->inputs[1 - k]], w->rank, w->dims[0]) ||
		!onnx_used_exactly(m, n->inputs[k], 1) || !onnx_used_exactly(m, n->inputs[1 - k], 1))
		return -1;
	return x->producer;
}

/* Makes each Conv2D without a bias and the Add of its channel bias after it one Conv2D. */
PiStatus
onnx_fuse_conv_biases(PiModel *m, PiError *err)
{
	for (int i = 0; i < m->nnodes; i++)
	{
		PiNode	   *n = &m->nodes[i];
		int			k = 0,
					c = -1,
					bias;
		int		   *inputs;
		PiValue    *b;

		if (n->op != PI_OP_ADD || n->ninputs != 2 || n->inputs[0] == n->inputs[1])
			continue;
		if ((c = conv_before(m, n, 0)) < 0 && (c = conv_before(m, n, k = 1)) < 0)
			continue;
		bias = n->inputs[1 - k];
		if ((inputs = realloc(n->inputs, sizeof(int) * 3)) == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		n->inputs = inputs;
		n->inputs[0] = m->nodes[c].inputs[0];
		n->inputs[1] = m->nodes[c].inputs[1];
		n->inputs[2] = bias;
		n->ninputs = 3;
		n->op = PI_OP_CONV2D;
		n->attrs = m->nodes[c].attrs;
		/* the bias, read by nothing else, takes the Conv2D's shape: [M] */
		b = &m->values[bias];
		b->dims[0] = b->numel;
		b->rank = 1;
	}
	return PI_OK;
}
