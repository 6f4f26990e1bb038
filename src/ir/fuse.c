/*
 * fuse.c
 *	  The fusion pass: folds what follows a Conv2D, Dense, Gemm or MatMul
 *	  into that node's epilogue (PiEpilogue, pi_ir.h), so that the CPU
 *	  engine writes each activation once instead of rereading it per op:
 *		host [-> Identity]* [-> Add(bias weight | residual)] [-> Identity]*
 *			[-> unary activation [-> DequantizeLinear after a QuantizeLinear]]
 * and a DequantizeLinear into the QuantizeLinear before it (fold_dequantize).
 *
 * The pass runs after the buffer plan and keeps it: a fused node writes the
 * buffer of the last folded value, which the plan gave an in-place Identity
 * or activation anyway, or a graph output alone; only a folded Add moves a
 * write earlier, from the
 * Add's position to the host's, so the planner gives that Add's output its
 * buffer at the host already (pi_fuse_early_values), and the pass checks
 * that no other value uses it between the two positions.  Engines that do
 * not fuse run every node on the same plan.
 */
#include <stdlib.h>
#include <string.h>

#include "pi_ir.h"

/* Where each activation value lives in the plan: positions of its producer and last consumer. */
typedef struct Lifetimes
{
	int		   *def;			/* producer's position; -1 for graph inputs */
	int		   *last;			/* last consumer's position; norder for outputs */
	int		   *consumer;		/* the one live node reading it, or -1 (none or several) */
	int		   *pos;			/* position of each node, -1 when it does not run */
	bool	   *planned;		/* the value has a buffer */
} Lifetimes;

/* Whether an op's epilogue can take what follows it. */
static bool
is_host(const PiNode *n)
{
	switch (n->op)
	{
		case PI_OP_CONV2D:
		case PI_OP_DENSE:
		case PI_OP_GEMM:
		case PI_OP_MATMUL:
			return true;
		default:
			return false;
	}
}

/* Whether a value has the dims of another (the batch included, as -1). */
static bool
same_shape(const PiValue *a, const PiValue *b)
{
	return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * a->rank) == 0;
}

/* Whether weight b is a bias along the last axis of MatMul host h's output v. */
static bool
is_last_axis_bias(const PiModel *m, const PiNode *h, const PiValue *v, const PiValue *b)
{
	if (h->op != PI_OP_MATMUL || b->kind != PI_VALUE_WEIGHT ||
		m->values[h->inputs[1]].kind != PI_VALUE_WEIGHT ||
		m->values[h->inputs[0]].kind == PI_VALUE_WEIGHT ||
		m->values[h->inputs[1]].rank > 2 || b->rank < 1 || b->rank > v->rank ||
		b->dims[b->rank - 1] != v->dims[v->rank - 1] || b->numel != v->dims[v->rank - 1])
		return false;
	return true;
}

/* Whether DequantizeLinear d reads codes of QuantizeLinear attributes q: same scale, zero point, type. */
static bool
same_quantization(const PiAttrs *q, const PiNode *d)
{
	return d->op == PI_OP_DEQUANTIZE && d->attrs.quant_scale == q->quant_scale &&
		d->attrs.quant_zero_point == q->quant_zero_point &&
		d->attrs.quant_signed == q->quant_signed;
}

/*
 * Whether writing value v's buffer from position p instead of q is safe:
 * no other value with that buffer is live anywhere in [p, q].
 */
static bool
buffer_free_between(const PiModel *m, const Lifetimes *lt, int v, int p, int q)
{
	for (int u = 0; u < m->nvalues; u++)
		if (u != v && lt->planned[u] && m->values[u].buffer == m->values[v].buffer &&
			lt->def[u] <= q && lt->last[u] >= p)
			return false;
	return true;
}

/* What one host's epilogue takes: the folded nodes, and the epilogue. */
typedef struct FuseChain
{
	int			folded[8];
	int			nfolded;
	int			add_output;		/* the folded Add's output, or -1 */
	PiEpilogue	e;
} FuseChain;

/*
 * Follows host h at position p and collects what its epilogue can take.
 * planned: also check the buffer plan (in-place Identity and activation; a
 * folded Add's buffer free from p on), which is not made yet otherwise.
 */
static void
walk_chain(const PiModel *m, const Lifetimes *lt, int h, int p, bool planned, FuseChain *fc)
{
	const PiNode *host = &m->nodes[h];
	int			cur = host->output;

	memset(fc, 0, sizeof(*fc));
	fc->add_output = -1;
	fc->e.bias = fc->e.residual = -1;
	fc->e.act = PI_OP_IDENTITY;
	while (fc->nfolded < 8)
	{
		const PiValue *v = &m->values[cur];
		const PiNode *c;
		const PiValue *out;
		bool		in_place;

		if (v->is_output || v->use_count != 1 || lt->consumer[cur] < 0)
			break;
		c = &m->nodes[lt->consumer[cur]];
		out = &m->values[c->output];
		/* a graph output's buffer is its own: the host may write it at once */
		in_place = !planned || out->buffer == v->buffer || out->is_output;
		if ((c->op == PI_OP_IDENTITY || c->op == PI_OP_DROPOUT) && in_place)
			;
		else if (c->op == PI_OP_ADD && fc->e.act == PI_OP_IDENTITY && fc->add_output < 0 &&
				 c->inputs[0] != c->inputs[1])
		{
			int			other = c->inputs[c->inputs[0] == cur ? 1 : 0];
			const PiValue *ov = &m->values[other];

			if (planned && !buffer_free_between(m, lt, c->output, p, lt->pos[lt->consumer[cur]]))
				break;
			if (is_last_axis_bias(m, host, v, ov))
				fc->e.bias = other;
			else if (ov->kind != PI_VALUE_WEIGHT && same_shape(ov, v) && same_shape(out, v) &&
					 lt->def[other] < p)
				fc->e.residual = other;
			else
				break;
			fc->add_output = c->output;
		}
		else if (fc->e.act == PI_OP_QUANTIZE && !fc->e.act_attrs.quant_dequantized &&
				 same_quantization(&fc->e.act_attrs, c) && in_place)
			fc->e.act_attrs.quant_dequantized = 1;
		else if (pi_op_is_unary_elementwise(c->op) && c->op != PI_OP_CAST &&
				 fc->e.act == PI_OP_IDENTITY && in_place)
		{
			fc->e.act = c->op;
			fc->e.act_attrs = c->attrs;
		}
		else
			break;
		fc->folded[fc->nfolded++] = lt->consumer[cur];
		cur = c->output;
	}
	fc->e.output = fc->nfolded > 0 ? cur : -1;
}

/* Fills the lifetimes of the planned values; false when out of memory. */
static bool
lifetimes(const PiModel *m, Lifetimes *lt)
{
	lt->def = malloc(sizeof(int) * (m->nvalues + 1));
	lt->last = malloc(sizeof(int) * (m->nvalues + 1));
	lt->consumer = malloc(sizeof(int) * (m->nvalues + 1));
	lt->pos = malloc(sizeof(int) * (m->nnodes + 1));
	lt->planned = calloc(m->nvalues + 1, sizeof(bool));
	if (lt->def == NULL || lt->last == NULL || lt->consumer == NULL || lt->pos == NULL ||
		lt->planned == NULL)
		return false;
	for (int i = 0; i < m->nnodes; i++)
		lt->pos[i] = -1;
	for (int v = 0; v < m->nvalues; v++)
	{
		lt->def[v] = -1;
		lt->last[v] = m->values[v].is_output ? m->norder : -1;
		lt->consumer[v] = -1;
	}
	for (int i = 0; i < m->ninputs; i++)
		lt->planned[m->inputs[i]] = true;
	for (int pos = 0; pos < m->norder; pos++)
	{
		const PiNode *n = &m->nodes[m->order[pos]];

		lt->pos[m->order[pos]] = pos;
		lt->def[n->output] = pos;
		lt->planned[n->output] = true;
		for (int j = 0; j < n->ninputs; j++)
		{
			int			v = n->inputs[j];

			if (lt->last[v] < pos)
				lt->last[v] = pos;
			/* a second reader, or the same node reading it twice: no single consumer */
			lt->consumer[v] = lt->consumer[v] == -1 ? m->order[pos] : -2;
		}
	}
	return true;
}

/* Frees the lifetimes' arrays. */
static void
lifetimes_free(Lifetimes *lt)
{
	free(lt->def);
	free(lt->last);
	free(lt->consumer);
	free(lt->pos);
	free(lt->planned);
}

/*
 * For the buffer plan: early[pos] is the output of the Add that fusion will
 * fold into the node at pos, or -1; that value needs its buffer from pos
 * on.  Out of memory, none.
 */
void
pi_fuse_early_values(const PiModel *m, int *early)
{
	Lifetimes	lt = {0};

	for (int pos = 0; pos < m->norder; pos++)
		early[pos] = -1;
	if (lifetimes(m, &lt))
		for (int pos = 0; pos < m->norder; pos++)
		{
			FuseChain	fc;

			if (!is_host(&m->nodes[m->order[pos]]))
				continue;
			walk_chain(m, &lt, m->order[pos], pos, false, &fc);
			early[pos] = fc.add_output;
		}
	lifetimes_free(&lt);
}

/*
 * Folds into QuantizeLinear q the DequantizeLinear that is its value's one
 * reader, where both have the same parameters and the DequantizeLinear
 * writes in place (or a graph output): q's epilogue activation is then
 * itself with quant_dequantized, and it writes the values its codes stand
 * for in one pass.  False when it does not apply.
 */
static bool
fold_dequantize(PiModel *m, const Lifetimes *lt, int q)
{
	PiNode	   *qn = &m->nodes[q];
	const PiValue *v = &m->values[qn->output];
	PiNode	   *dq;
	const PiValue *out;

	if (qn->op != PI_OP_QUANTIZE || v->is_output || v->use_count != 1 ||
		lt->consumer[qn->output] < 0)
		return false;
	dq = &m->nodes[lt->consumer[qn->output]];
	out = &m->values[dq->output];
	if (!same_quantization(&qn->attrs, dq) || dq->fused_into >= 0 ||
		(out->buffer != v->buffer && !out->is_output))
		return false;
	qn->epilogue.output = dq->output;
	qn->epilogue.bias = qn->epilogue.residual = -1;
	qn->epilogue.act = PI_OP_QUANTIZE;
	qn->epilogue.act_attrs = qn->attrs;
	qn->epilogue.act_attrs.quant_dequantized = 1;
	dq->fused_into = q;
	return true;
}

/*
 * Folds biases, residual Adds and activations into the epilogues of the
 * Conv2D, Dense, Gemm and MatMul nodes before them where the buffer plan
 * allows it, and DequantizeLinear into the QuantizeLinear before it of the
 * same parameters (fold_dequantize); sets norder_fused.  Out of memory,
 * nothing is fused.  A folded Add's output is written from the host's
 * position on: its lifetime grows so, for the checks of later hosts.
 */
void
pi_model_fuse(PiModel *m)
{
	Lifetimes	lt = {0};

	m->norder_fused = m->norder;
	for (int i = 0; i < m->nnodes; i++)
	{
		m->nodes[i].fused_into = -1;
		memset(&m->nodes[i].epilogue, 0, sizeof(PiEpilogue));
		m->nodes[i].epilogue.output = -1;
	}
	if (lifetimes(m, &lt))
		for (int pos = 0; pos < m->norder; pos++)
		{
			int			h = m->order[pos];
			FuseChain	fc;

			if (m->nodes[h].fused_into >= 0)
				continue;
			if (fold_dequantize(m, &lt, h))
			{
				m->norder_fused--;
				continue;
			}
			if (!is_host(&m->nodes[h]))
				continue;
			walk_chain(m, &lt, h, pos, true, &fc);
			if (fc.nfolded == 0)
				continue;
			m->nodes[h].epilogue = fc.e;
			for (int i = 0; i < fc.nfolded; i++)
				m->nodes[fc.folded[i]].fused_into = h;
			if (fc.add_output >= 0)
				lt.def[fc.add_output] = pos;
			m->norder_fused -= fc.nfolded;
		}
	lifetimes_free(&lt);
}
