/*
 * weight_forms.c
 *	  Which weights a stored version of a reduced-precision model keeps at
 *	  that precision: the matrices of Dense, Gemm and MatMul by a constant
 *	  weight that only such nodes read, as the precision's path takes them
 *	  (for int8, one the int8 path quantizes exactly as stored: no Gemm
 *	  alpha, at most PI_INT8_MAX_K rows), and for int8 the weights of the
 *	  convolutions that run int8, per output channel.  A node whose weight
 *	  the int8 path quantizes with one scale for the tensor (over a
 *	  DequantizeLinear, a quantize_dynamic layer) keeps it as given, as
 *	  does everything else.
 */
#include <stdlib.h>

#include "cpu.h"
#include "int8.h"

/* Whether the node's input 0 is a DequantizeLinear's output or it is a quantize_dynamic layer. */
static bool
whole_scale_node(const PiModel *m, const PiNode *n)
{
	int			p = m->values[n->inputs[0]].producer;

	return n->attrs.dynamic_int8 || (p >= 0 && m->nodes[p].op == PI_OP_DEQUANTIZE);
}

/* The form a node's use of its weight asks for, or PI_WEIGHT_KEEP. */
static PiWeightForm
use_form(const PiModel *m, const PiNode *n, int input)
{
	int64_t		kdim,
				mdim;
	bool		trans;

	if (input != 1)
		return PI_WEIGHT_KEEP;
	if (n->op == PI_OP_CONV2D)
		return m->precision == PI_PRECISION_INT8 && pi_conv_int8_applies(m, n) &&
			!whole_scale_node(m, n) && m->values[n->inputs[1]].rank >= 3 ?
			PI_WEIGHT_COLUMNS_FIRST : PI_WEIGHT_KEEP;
	if (!pi_gemm_weight_matrix(m, n, &kdim, &mdim, &trans) || m->values[n->inputs[1]].rank != 2)
		return PI_WEIGHT_KEEP;
	if (m->precision == PI_PRECISION_INT8 &&
		((n->op == PI_OP_GEMM && n->attrs.alpha != 1.0f) || !pi_gemm_int8_applies(m, n) ||
		 whole_scale_node(m, n)))
		return PI_WEIGHT_KEEP;
	return trans ? PI_WEIGHT_COLUMNS_FIRST : PI_WEIGHT_COLUMNS_LAST;
}

/* How a stored version of the model keeps each value's weight (pi_engine.h). */
PiWeightForm *
pi_model_weight_forms(const PiModel *m)
{
	PiWeightForm *forms = calloc(m->nvalues + 1, sizeof(PiWeightForm));
	bool	   *mixed = calloc(m->nvalues + 1, sizeof(bool));

	if (forms == NULL || mixed == NULL)
	{
		free(forms);
		free(mixed);
		return NULL;
	}
	if (m->precision != PI_PRECISION_FP32)
	{
		for (int i = 0; i < m->nnodes; i++)
			for (int k = 0; k < m->nodes[i].ninputs; k++)
			{
				int			v = m->nodes[i].inputs[k];
				PiWeightForm form = use_form(m, &m->nodes[i], k);

				/* every use must ask for the same form */
				if (form == PI_WEIGHT_KEEP || (forms[v] != PI_WEIGHT_KEEP && forms[v] != form))
					mixed[v] = true;
				forms[v] = form;
			}
		for (int v = 0; v < m->nvalues; v++)
			if (mixed[v] || m->values[v].kind != PI_VALUE_WEIGHT || m->values[v].data == NULL)
				forms[v] = PI_WEIGHT_KEEP;
	}
	free(mixed);
	return forms;
}
