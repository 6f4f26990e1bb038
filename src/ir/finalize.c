/*
 * finalize.c
 *	  Turns a built graph into an executable one: resolves names, rejects
 *	  dangling references, unused weights and cycles, orders the nodes,
 *	  infers shapes, folds batch norms, plans the activation buffers and
 *	  fuses epilogues (fuse.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_engine.h"
#include "pi_ir.h"

/* Rejects placeholders no node claimed and weights no node uses. */
static PiStatus
check_references(PiModel *m, PiError *err)
{
	for (int i = 0; i < m->nnodes; i++)
	{
		PiNode	   *n = &m->nodes[i];

		for (int j = 0; j < n->ninputs; j++)
		{
			PiValue    *v = &m->values[n->inputs[j]];

			if (v->producer == -2)
				return pi_fail(err, PI_ERR_UNDEFINED,
							   "node \"%s\" input \"%s\" is not a graph input, a node or a weight",
							   n->name, v->name);
			if (n->inputs[j] == n->output)
				return pi_fail(err, PI_ERR_CYCLE, "node \"%s\" uses its own output", n->name);
			v->use_count++;
		}
	}
	for (int i = 0; i < m->nvalues; i++)
	{
		PiValue    *v = &m->values[i];

		if (v->kind == PI_VALUE_WEIGHT && v->use_count == 0)
			return pi_fail(err, PI_ERR_UNUSED, "weight \"%s\" is not used by any node", v->name);
	}
	return PI_OK;
}

/* Marks the nodes that outputs depend on (iteratively, no recursion). */
static PiStatus
mark_live(PiModel *m, PiError *err)
{
	int		   *stack = malloc(sizeof(int) * (m->nnodes + 1));
	int			top = 0;

	if (stack == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int i = 0; i < m->noutputs; i++)
	{
		int			p = m->values[m->outputs[i]].producer;

		if (!m->nodes[p].live)
		{
			m->nodes[p].live = true;
			stack[top++] = p;
		}
	}
	while (top > 0)
	{
		PiNode	   *n = &m->nodes[stack[--top]];

		for (int j = 0; j < n->ninputs; j++)
		{
			int			p = m->values[n->inputs[j]].producer;

			if (p >= 0 && !m->nodes[p].live)
			{
				m->nodes[p].live = true;
				stack[top++] = p;
			}
		}
	}
	free(stack);
	return PI_OK;
}

/* The execution order: each node after the nodes that make its inputs. */
static PiStatus
topological_order(PiModel *m, PiError *err)
{
	int		   *from,
			   *to;
	int			total = 0,
				nedges = 0,
				stuck,
				ordered = -1;

	for (int i = 0; i < m->nnodes; i++)
		total += m->nodes[i].ninputs;
	from = malloc(sizeof(int) * (total + 1));
	to = malloc(sizeof(int) * (total + 1));
	m->order = malloc(sizeof(int) * (m->nnodes + 1));
	if (from != NULL && to != NULL && m->order != NULL)
	{
		for (int i = 0; i < m->nnodes; i++)
			for (int j = 0; j < m->nodes[i].ninputs; j++)
			{
				const PiValue *v = &m->values[m->nodes[i].inputs[j]];

				if (v->kind == PI_VALUE_NODE)
				{
					from[nedges] = v->producer;
					to[nedges++] = i;
				}
			}
		ordered = pi_topological_order(m->nnodes, from, to, nedges, m->order, &stuck);
	}
	free(from);
	free(to);
	if (ordered < 0)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	m->norder = ordered;
	if (ordered < m->nnodes)
		return pi_fail(err, PI_ERR_CYCLE, "the graph has a cycle through node \"%s\"",
					   m->nodes[stuck].name);
	return PI_OK;
}

/*
 * Folds a BatchNormalization into the Conv2D/Dense/Gemm that feeds only it:
 * the producer's weight rows and bias absorb the per-channel affine map and
 * the batch norm becomes an Identity.  Weights shared with other nodes are
 * left alone.
 */
static PiStatus
fold_batch_norm(PiModel *m, PiNode *bn, PiError *err)
{
	PiValue    *x = &m->values[bn->inputs[0]];
	PiNode	   *p;
	PiValue    *w;
	const float *scale = m->values[bn->inputs[1]].data;
	const float *shift = m->values[bn->inputs[2]].data;
	const float *mean = m->values[bn->inputs[3]].data;
	const float *var = m->values[bn->inputs[4]].data;
	int64_t		channels = x->dims[1];
	float	   *bias;
	bool		w_rows_are_channels;
	int			producer;

	if (x->kind != PI_VALUE_NODE || x->use_count != 1 || x->is_output)
		return PI_OK;
	producer = x->producer;
	p = &m->nodes[producer];
	if (p->op != PI_OP_CONV2D && p->op != PI_OP_DENSE && p->op != PI_OP_GEMM)
		return PI_OK;
	w = &m->values[p->inputs[1]];
	if (w->use_count != 1 || (p->ninputs == 3 && m->values[p->inputs[2]].use_count != 1))
		return PI_OK;
	w_rows_are_channels = !(p->op == PI_OP_GEMM && !p->attrs.trans_b);
	/* the weights are rewritten: not in the bytes they were loaded from */
	if (pi_value_own_data(w, err) != PI_OK ||
		(p->ninputs == 3 && pi_value_own_data(&m->values[p->inputs[2]], err) != PI_OK))
		return err->status;

	bias = calloc(channels, sizeof(float));
	if (bias == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t c = 0; c < channels; c++)
	{
		/* BN(alpha * (W x) + beta * b) = (alpha * s) W x + s * (beta * b - mean) + shift */
		float		s = scale[c] / sqrtf(var[c] + bn->attrs.epsilon);
		float		alpha = (p->op == PI_OP_GEMM) ? p->attrs.alpha : 1.0f;
		float		beta = (p->op == PI_OP_GEMM) ? p->attrs.beta : 1.0f;
		float		b = (p->ninputs == 3) ? m->values[p->inputs[2]].data[c] : 0.0f;

		bias[c] = (beta * b - mean[c]) * s + shift[c];
		if (w_rows_are_channels)
		{
			int64_t		row = w->numel / channels;

			for (int64_t k = 0; k < row; k++)
				w->data[c * row + k] *= alpha * s;
		}
		else
		{
			for (int64_t k = 0; k < w->dims[0]; k++)
				w->data[k * channels + c] *= alpha * s;
		}
	}
	if (p->op == PI_OP_GEMM)
		p->attrs.alpha = p->attrs.beta = 1.0f;
	if (p->ninputs == 3)
	{
		memcpy(m->values[p->inputs[2]].data, bias, sizeof(float) * channels);
		free(bias);
	}
	else
	{
		char		name[PI_MAX_NAME + 16];
		int64_t		dims[1] = {channels};
		int			b;

		/* a bias the producer did not have: a new weight, named after the node */
		snprintf(name, sizeof(name), "%s/folded_bias", p->name);
		while (pi_model_find_value(m, name) >= 0)
			strcat(name, "_");
		b = pi_model_add_value(m, name, PI_VALUE_WEIGHT, 1, dims, bias, err);
		if (b < 0)
			return err->status;
		m->values[b].use_count = 1;
		p = &m->nodes[producer];	/* values may have moved, nodes have not */
		{
			int		   *inputs = realloc(p->inputs, sizeof(int) * 3);

			if (inputs == NULL)
				return pi_fail(err, PI_ERR_NOMEM, "out of memory");
			p->inputs = inputs;
			p->inputs[2] = b;
			p->ninputs = 3;
		}
	}
	bn->op = PI_OP_IDENTITY;
	bn->ninputs = 1;
	return PI_OK;
}

/* Whether an op may write its output over its first input. */
static bool
op_runs_in_place(PiOp op)
{
	if (pi_op_is_unary_elementwise(op))
		return true;
	switch (op)
	{
		case PI_OP_RESHAPE:
		case PI_OP_FLATTEN:
		case PI_OP_IDENTITY:
		case PI_OP_DROPOUT:
		case PI_OP_SOFTMAX:
		case PI_OP_LOG_SOFTMAX:
		case PI_OP_BATCH_NORM:
		case PI_OP_SQUEEZE:
		case PI_OP_UNSQUEEZE:
		case PI_OP_LAYER_NORM:
			return true;
		default:
			return false;
	}
}

/*
 * A free buffer for numel floats per row: the smallest free one that fits,
 * or else the largest free one, grown (or a new one).
 */
static int
take_buffer(PiModel *m, const bool *busy, int64_t numel)
{
	int			best = -1;

	for (int b = 0; b < m->nbuffers; b++)
	{
		if (busy[b])
			continue;
		if (best < 0 ||
			(m->buffer_row_elems[b] >= numel &&
			 (m->buffer_row_elems[best] < numel ||
			  m->buffer_row_elems[b] < m->buffer_row_elems[best])) ||
			(m->buffer_row_elems[best] < numel &&
			 m->buffer_row_elems[b] > m->buffer_row_elems[best]))
			best = b;
	}
	if (best < 0)
		best = m->nbuffers++;
	if (m->buffer_row_elems[best] < numel)
		m->buffer_row_elems[best] = numel;
	return best;
}

/*
 * Assigns activation buffers: graph inputs and outputs have buffers of
 * their own, which nothing else uses (an engine may run the graph in
 * passes of rows, each pass reusing the other buffers from their start); a
 * node output's buffer is free again after its last consumer; ops that can
 * run in place reuse their input's buffer when the input dies there;
 * otherwise take_buffer picks one.  The output of an Add
 * that fusion will fold into a node before it (fuse.c) gets its buffer at
 * that node already, so that the node can write it there.
 */
static PiStatus
plan_buffers(PiModel *m, PiError *err)
{
	int			cap = m->norder + m->ninputs + 1;
	bool	   *busy = calloc(cap, sizeof(bool));
	bool	   *assigned = calloc(m->nvalues + 1, sizeof(bool));
	int		   *early = malloc(sizeof(int) * (m->norder + 1));

	m->buffer_row_elems = calloc(cap, sizeof(int64_t));
	if (busy == NULL || assigned == NULL || early == NULL || m->buffer_row_elems == NULL)
	{
		free(busy);
		free(assigned);
		free(early);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < m->nvalues; i++)
	{
		m->values[i].last_use = -1;
		if (m->values[i].is_output)
			m->values[i].last_use = m->norder;
	}
	for (int pos = 0; pos < m->norder; pos++)
	{
		PiNode	   *n = &m->nodes[m->order[pos]];

		for (int j = 0; j < n->ninputs; j++)
		{
			PiValue    *v = &m->values[n->inputs[j]];

			if (v->last_use < m->norder)
				v->last_use = pos;
		}
	}
	pi_fuse_early_values(m, early);
	/* graph inputs get the first buffers, never shared with each other */
	for (int i = 0; i < m->ninputs; i++)
	{
		PiValue    *v = &m->values[m->inputs[i]];

		v->buffer = m->nbuffers++;
		m->buffer_row_elems[v->buffer] = v->numel;
		busy[v->buffer] = true;
	}
	for (int pos = 0; pos < m->norder; pos++)
	{
		PiNode	   *n = &m->nodes[m->order[pos]];
		PiValue    *out = &m->values[n->output];
		PiValue    *in0 = &m->values[n->inputs[0]];

		if (assigned[n->output])
			;
		else if (out->is_output)
		{
			/* a buffer of its own, as the graph inputs have */
			out->buffer = m->nbuffers++;
			m->buffer_row_elems[out->buffer] = out->numel;
		}
		else if (op_runs_in_place(n->op) && in0->kind == PI_VALUE_NODE &&
				 in0->last_use == pos && in0->numel == out->numel)
		{
			out->buffer = in0->buffer;
			in0->last_use = -1;	/* handed over: not freed below */
		}
		else
			out->buffer = take_buffer(m, busy, out->numel);
		busy[out->buffer] = true;
		if (early[pos] >= 0)
		{
			PiValue    *v = &m->values[early[pos]];

			if (v->is_output)
			{
				v->buffer = m->nbuffers++;
				m->buffer_row_elems[v->buffer] = v->numel;
			}
			else
				v->buffer = take_buffer(m, busy, v->numel);
			busy[v->buffer] = true;
			assigned[early[pos]] = true;
		}
		for (int j = 0; j < n->ninputs; j++)
		{
			PiValue    *v = &m->values[n->inputs[j]];

			if (v->kind == PI_VALUE_NODE && v->last_use == pos)
			{
				busy[v->buffer] = false;
				v->last_use = -1;
			}
		}
		{
			int64_t		scratch = pi_node_scratch_elems(m, n);

			if (scratch > m->scratch_row_elems)
				m->scratch_row_elems = scratch;
		}
	}
	free(busy);
	free(assigned);
	free(early);
	return PI_OK;
}

/*
 * Marks the Conv2D nodes whose weights are exactly int8 codes times scales
 * (PiNode.int8_codes): in a quantized model, those run int8 with the file's
 * codes; the others stay float32, exact.
 */
static void
mark_int8_codes(PiModel *m)
{
	for (int pos = 0; pos < m->norder; pos++)
	{
		PiNode	   *n = &m->nodes[m->order[pos]];
		const PiValue *w;

		if (n->op != PI_OP_CONV2D)
			continue;
		w = &m->values[n->inputs[1]];
		n->int8_codes = w->data != NULL && w->dims[0] > 0 &&
			pi_int8_codes_exact(w->data, w->dims[0], w->numel / w->dims[0]);
	}
}

/*
 * Validates and prepares a model whose values and nodes have been added:
 * every name resolves, every weight is used, no cycles, shapes infer,
 * batch norms fold, buffers are planned, epilogues fuse.
 */
PiStatus
pi_model_finalize(PiModel *m, PiError *err)
{
	PiStatus	st;

	if (m->ninputs == 0)
		return pi_fail(err, PI_ERR_INVALID, "the graph has no inputs");
	if (m->noutputs == 0)
		return pi_fail(err, PI_ERR_INVALID, "the graph has no outputs");
	if ((st = check_references(m, err)) != PI_OK)
		return st;
	for (int i = 0; i < m->noutputs; i++)
	{
		PiValue    *v = &m->values[m->outputs[i]];

		if (v->producer < 0)
			return pi_fail(err, v->producer == -2 ? PI_ERR_UNDEFINED : PI_ERR_INVALID,
						   "output \"%s\" is not the name of a node", v->name);
		v->is_output = true;
	}
	if ((st = mark_live(m, err)) != PI_OK ||
		(st = topological_order(m, err)) != PI_OK)
		return st;
	for (int pos = 0; pos < m->norder; pos++)
	{
		PiNode	   *n = &m->nodes[m->order[pos]];

		if ((st = pi_infer_node(m, n, err)) != PI_OK)
			return st;
	}
	/* every node is checked; only those that outputs depend on run */
	{
		int			live = 0;

		for (int pos = 0; pos < m->norder; pos++)
			if (m->nodes[m->order[pos]].live)
				m->order[live++] = m->order[pos];
		m->norder = live;
	}
	for (int i = 0; i < m->nvalues; i++)
		if (m->values[i].kind == PI_VALUE_WEIGHT)
			m->parameter_count += m->values[i].numel;
	for (int pos = 0; pos < m->norder; pos++)
	{
		PiNode	   *n = &m->nodes[m->order[pos]];

		if (n->op == PI_OP_BATCH_NORM && (st = fold_batch_norm(m, n, err)) != PI_OK)
			return st;
	}
	mark_int8_codes(m);
	if ((st = plan_buffers(m, err)) != PI_OK)
		return st;
	pi_model_fuse(m);
	m->finalized = true;
	return PI_OK;
}
