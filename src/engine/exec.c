/*
 * exec.c
 *	  The executor: planned buffers for a batch size, and the loop that runs
 *	  each node's kernel in topological order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bf16.h"
#include "cpu.h"
#include "int8.h"
#include "pi_blas.h"
#include "pi_engine.h"

/* Installed by the host program (see pi_blas.h and pi_engine.h). */
PiBlas		pi_blas;
void		(*pi_interrupt_hook) (void) = NULL;

struct PiExecutor
{
	const PiModel *model;
	int64_t		max_batch;
	float	  **buffers;
	float	   *scratch;
	float	  **packed;			/* per node: its weights packed for the kernel, or NULL */
	bool		shares_packed;	/* packed belongs to another executor (pi_executor_new_sharing) */
	bool	   *borrowed;		/* per node: packed[i] is another executor's
								 * (pi_executor_new_over), or NULL: none is */
	int64_t		borrowed_bytes;
	bool		fused;			/* run the epilogues fusion folded */
	int64_t		pass_rows;		/* rows that go through the whole graph at a time */
	double	   *node_seconds;	/* per node: CPU seconds its kernel took, summed
								 * over runs (pi_executor_set_profile), or NULL */
};

/*
 * A run goes through the graph in passes of rows whose widest activation
 * takes about this much, so that each node's output is still in cache when
 * the next one reads it (no op works along the batch axis), but of at least
 * PASS_MIN_ROWS rows, which the GEMMs need.  Buffers other than the graph
 * inputs' and outputs' hold one pass.
 */
#define PASS_BYTES (1024 * 1024)
#define PASS_MIN_ROWS 16

/* Scratch bytes a node's CPU kernel needs for up to max_batch rows. */
static int64_t
node_scratch_bytes(const PiModel *m, const PiNode *n, int64_t max_batch)
{
	switch (n->op)
	{
		case PI_OP_CONV2D:
			return pi_conv2d_cpu_scratch_bytes(m, n, max_batch);
		case PI_OP_MAX_POOL2D:
		case PI_OP_AVERAGE_POOL2D:
			return pi_pool_cpu_scratch_bytes(m, n, max_batch);
		case PI_OP_DENSE:
		case PI_OP_GEMM:
		case PI_OP_MATMUL:
			if (pi_gemm_int8_applies(m, n))
				return pi_gemm_int8_scratch_bytes(m, n);
			if (pi_gemm_bf16_applies(m, n))
				return pi_gemm_bf16_scratch_bytes(m, n);
			return pi_gemm_cpu_scratch_bytes(m, n, max_batch);
		default:
			return (int64_t) sizeof(float) * pi_node_scratch_elems(m, n);
	}
}

/* Floats of a node's weights packed for its CPU kernel (0: read as stored). */
static int64_t
node_packed_floats(const PiModel *m, const PiNode *n)
{
	switch (n->op)
	{
		case PI_OP_CONV2D:
			return pi_conv2d_packed_floats(m, n);
		case PI_OP_DENSE:
		case PI_OP_GEMM:
		case PI_OP_MATMUL:
			if (pi_gemm_int8_applies(m, n))
				return pi_gemm_int8_packed_floats(m, n);
			if (pi_gemm_bf16_applies(m, n))
				return pi_gemm_bf16_packed_floats(m, n);
			return pi_gemm_packed_floats(m, n);
		default:
			return 0;
	}
}

/* Whether value v of m and value bv of bm are the same weight (the same data, dtype and shape). */
static bool
same_weight(const PiModel *m, int v, const PiModel *bm, int bv)
{
	const PiValue *a = &m->values[v];
	const PiValue *b = &bm->values[bv];

	return a->kind == PI_VALUE_WEIGHT && b->kind == PI_VALUE_WEIGHT && a->data != NULL &&
		a->data == b->data && a->rank == b->rank &&
		memcmp(a->dims, b->dims, sizeof(a->dims[0]) * a->rank) == 0;
}

/*
 * Whether node i of m packs exactly as node i of base's model did: a Dense,
 * Gemm or MatMul of the same weights (the same data, as a model whose
 * weights are shared with another's has), attributes and precision path.
 */
static bool
packs_as(const PiModel *m, int i, const PiExecutor *base)
{
	const PiModel *bm = base->model;
	const PiNode *n = &m->nodes[i];
	const PiNode *bn;

	if (i >= bm->nnodes || base->packed == NULL || base->packed[i] == NULL)
		return false;
	bn = &bm->nodes[i];
	if (n->op != bn->op || n->ninputs != bn->ninputs || n->ninputs < 2 ||
		(n->op != PI_OP_DENSE && n->op != PI_OP_GEMM && n->op != PI_OP_MATMUL) ||
		m->precision != bm->precision ||
		pi_gemm_int8_applies(m, n) != pi_gemm_int8_applies(bm, bn) ||
		pi_gemm_bf16_applies(m, n) != pi_gemm_bf16_applies(bm, bn) ||
		node_packed_floats(m, n) != node_packed_floats(bm, bn) ||
		!same_weight(m, n->inputs[1], bm, bn->inputs[1]) ||
		(n->ninputs == 3 && !same_weight(m, n->inputs[2], bm, bn->inputs[2])))
		return false;
	return n->attrs.alpha == bn->attrs.alpha && n->attrs.beta == bn->attrs.beta &&
		n->attrs.trans_b == bn->attrs.trans_b;
}

/*
 * Packs the weights of the nodes whose kernels read them packed, reading
 * base's packed forms where they are the same (base may be NULL); false
 * when out of memory.
 */
static bool
pack_weights(PiExecutor *ex, const PiExecutor *base)
{
	const PiModel *m = ex->model;

	if ((ex->packed = calloc(m->nnodes + 1, sizeof(float *))) == NULL ||
		(base != NULL && (ex->borrowed = calloc(m->nnodes + 1, sizeof(bool))) == NULL))
		return false;
	for (int pos = 0; pos < m->norder; pos++)
	{
		const PiNode *n = &m->nodes[m->order[pos]];
		int64_t		packed = node_packed_floats(m, n);
		float	   *to;

		if (packed == 0)
			continue;
		if (base != NULL && packs_as(m, m->order[pos], base))
		{
			ex->packed[m->order[pos]] = base->packed[m->order[pos]];
			ex->borrowed[m->order[pos]] = true;
			ex->borrowed_bytes += (int64_t) sizeof(float) * packed;
			continue;
		}
		if ((to = ex->packed[m->order[pos]] = malloc(sizeof(float) * packed)) == NULL)
			return false;
		if (n->op == PI_OP_CONV2D)
			pi_conv2d_pack(m, n, to);
		else if (pi_gemm_int8_applies(m, n))
			pi_gemm_int8_pack(m, n, to);
		else if (pi_gemm_bf16_applies(m, n))
			pi_gemm_bf16_pack(m, n, to);
		else
			pi_gemm_pack(m, n, to);
	}
	return true;
}

/* Rows per pass for a model run up to max_batch rows at a time. */
static int64_t
pass_rows(const PiModel *m, int64_t max_batch)
{
	int64_t		widest = 1,
				rows;

	for (int b = 0; b < m->nbuffers; b++)
		if (m->buffer_row_elems[b] > widest)
			widest = m->buffer_row_elems[b];
	rows = PASS_BYTES / ((int64_t) sizeof(float) * widest);
	rows = rows < PASS_MIN_ROWS ? PASS_MIN_ROWS : rows;
	return rows < max_batch ? rows : max_batch;
}

/* Whether buffer b holds a graph input or output: the whole batch, not a pass. */
static bool
buffer_holds_batch(const PiModel *m, int b)
{
	for (int i = 0; i < m->ninputs; i++)
		if (m->values[m->inputs[i]].buffer == b)
			return true;
	for (int i = 0; i < m->noutputs; i++)
		if (m->values[m->outputs[i]].buffer == b)
			return true;
	return false;
}

/* Bytes of the weights pi_executor_new packs for model; false on overflow. */
bool
pi_executor_packed_bytes(const PiModel *model, int64_t *bytes)
{
	int64_t		total = 0;

	for (int pos = 0; pos < model->norder; pos++)
	{
		int64_t		packed;

		if (!pi_mul_size(node_packed_floats(model, &model->nodes[model->order[pos]]), sizeof(float), &packed) ||
			total > INT64_MAX - packed)
			return false;
		total += packed;
	}
	*bytes = total;
	return true;
}

/*
 * Bytes pi_executor_new allocates for max_batch rows: the graph inputs' and
 * outputs' buffers for the whole batch, the others for one pass, the
 * largest scratch and the packed weights; false on overflow.
 */
bool
pi_executor_bytes(const PiModel *model, int64_t max_batch, int64_t *bytes)
{
	int64_t		total = sizeof(PiExecutor) + sizeof(float *) * (model->nbuffers + model->nnodes + 2);
	int64_t		pass = pass_rows(model, max_batch);
	int64_t		scratch = 0;
	int64_t		packed;

	for (int b = 0; b < model->nbuffers; b++)
	{
		int64_t		n;

		if (!pi_mul_size(model->buffer_row_elems[b], buffer_holds_batch(model, b) ? max_batch : pass, &n) ||
			!pi_mul_size(n > 0 ? n : 1, sizeof(float), &n) || total > INT64_MAX - n)
			return false;
		total += n;
	}
	for (int pos = 0; pos < model->norder; pos++)
		if (node_scratch_bytes(model, &model->nodes[model->order[pos]], max_batch) > scratch)
			scratch = node_scratch_bytes(model, &model->nodes[model->order[pos]], max_batch);
	if (!pi_executor_packed_bytes(model, &packed) || total > INT64_MAX - packed)
		return false;
	total += packed;
	if (scratch > INT64_MAX - PI_IMAGE_ALIGN - total)
		return false;
	*bytes = total + scratch + PI_IMAGE_ALIGN;
	return true;
}

/* Frees the activation buffers and scratch of ex, keeping its packed weights. */
static void
free_activations(PiExecutor *ex)
{
	if (ex->buffers)
		for (int b = 0; b < ex->model->nbuffers; b++)
			free(ex->buffers[b]);
	free(ex->buffers);
	free(ex->scratch);
	ex->buffers = NULL;
	ex->scratch = NULL;
	ex->max_batch = 0;
}

/*
 * Allocates ex's activation buffers and scratch for max_batch rows (after
 * freeing those it has); on failure ex holds none and accepts no run.
 */
static PiStatus
alloc_activations(PiExecutor *ex, int64_t max_batch, PiError *err)
{
	const PiModel *m = ex->model;
	int64_t		rows = pass_rows(m, max_batch);
	int64_t		scratch = 0;

	free_activations(ex);
	if ((ex->buffers = calloc(m->nbuffers + 1, sizeof(float *))) == NULL)
		goto nomem;
	for (int b = 0; b < m->nbuffers; b++)
	{
		int64_t		n;

		/* BLAS takes int dimensions: no buffer may hold more than INT32_MAX floats */
		if (!pi_mul_size(m->buffer_row_elems[b], buffer_holds_batch(m, b) ? max_batch : rows, &n) ||
			n > INT32_MAX || !pi_mul_size(n, sizeof(float), &n))
		{
			free_activations(ex);
			return pi_fail(err, PI_ERR_LIMIT, "a batch of %lld rows needs more memory than can be addressed",
						   (long long) max_batch);
		}
		if ((ex->buffers[b] = malloc(n > 0 ? n : 1)) == NULL)
			goto nomem;
	}
	for (int pos = 0; pos < m->norder; pos++)
	{
		int64_t		bytes = node_scratch_bytes(m, &m->nodes[m->order[pos]], max_batch);

		if (bytes > scratch)
			scratch = bytes;
	}
	/* cache-line aligned: the kernels place vectors of int64 and floats in it */
	scratch = (scratch + PI_IMAGE_ALIGN - 1) / PI_IMAGE_ALIGN * PI_IMAGE_ALIGN;
	if (scratch > 0 && (ex->scratch = aligned_alloc(PI_IMAGE_ALIGN, scratch)) == NULL)
		goto nomem;
	ex->max_batch = max_batch;
	ex->pass_rows = rows;
	return PI_OK;

nomem:
	free_activations(ex);
	return pi_fail(err, PI_ERR_NOMEM, "out of memory for a batch of %lld rows", (long long) max_batch);
}

/* An executor of model with no buffers yet, or NULL with err set. */
static PiExecutor *
executor_alloc(const PiModel *model, int64_t max_batch, PiError *err)
{
	PiExecutor *ex;

	if (!model->finalized)
	{
		pi_fail(err, PI_ERR_INVALID, "model is not finalized");
		return NULL;
	}
	if (pi_blas.sgemm == NULL || pi_blas.sgemv == NULL)
	{
		pi_fail(err, PI_ERR_UNSUPPORTED, "no BLAS library is installed for the engine");
		return NULL;
	}
	if (max_batch < 1)
	{
		pi_fail(err, PI_ERR_LIMIT, "batch size %lld is not positive", (long long) max_batch);
		return NULL;
	}
	if ((ex = calloc(1, sizeof(PiExecutor))) == NULL)
	{
		pi_fail(err, PI_ERR_NOMEM, "out of memory for an executor");
		return NULL;
	}
	ex->model = model;
	ex->fused = true;
	return ex;
}

/* Creates an executor for up to max_batch rows per run. */
PiExecutor *
pi_executor_new(const PiModel *model, int64_t max_batch, PiError *err)
{
	return pi_executor_new_over(model, max_batch, NULL, err);
}

/*
 * Creates an executor of model for up to max_batch rows that reads base's
 * packed forms of the weights they share (base NULL: packs its own).
 */
PiExecutor *
pi_executor_new_over(const PiModel *model, int64_t max_batch, const PiExecutor *base, PiError *err)
{
	PiExecutor *ex = executor_alloc(model, max_batch, err);

	if (ex == NULL)
		return NULL;
	if (!pack_weights(ex, base))
	{
		pi_executor_free(ex);
		pi_fail(err, PI_ERR_NOMEM, "out of memory for the packed weights");
		return NULL;
	}
	if (alloc_activations(ex, max_batch, err) != PI_OK)
	{
		pi_executor_free(ex);
		return NULL;
	}
	return ex;
}

/* Bytes of packed weights ex reads from the executor it was made over (0: none). */
int64_t
pi_executor_borrowed_bytes(const PiExecutor *ex)
{
	return ex->borrowed_bytes;
}

/* Creates an executor for up to max_batch rows that reads owner's packed weights. */
PiExecutor *
pi_executor_new_sharing(const PiExecutor *owner, int64_t max_batch, PiError *err)
{
	PiExecutor *ex = executor_alloc(owner->model, max_batch, err);

	if (ex == NULL)
		return NULL;
	ex->packed = owner->packed;
	ex->shares_packed = true;
	ex->fused = owner->fused;
	if (alloc_activations(ex, max_batch, err) != PI_OK)
	{
		pi_executor_free(ex);
		return NULL;
	}
	return ex;
}

/*
 * Gives ex activation buffers for up to max_batch rows, keeping its packed
 * weights; on failure ex accepts no run until a resize succeeds.
 */
PiStatus
pi_executor_resize(PiExecutor *ex, int64_t max_batch, PiError *err)
{
	if (max_batch < 1)
		return pi_fail(err, PI_ERR_LIMIT, "batch size %lld is not positive", (long long) max_batch);
	if (max_batch == ex->max_batch)
		return PI_OK;
	return alloc_activations(ex, max_batch, err);
}

/* Frees an executor; NULL is allowed. */
void
pi_executor_free(PiExecutor *ex)
{
	if (ex == NULL)
		return;
	free_activations(ex);
	if (ex->packed && !ex->shares_packed)
	{
		for (int i = 0; i < ex->model->nnodes; i++)
			if (ex->borrowed == NULL || !ex->borrowed[i])
				free(ex->packed[i]);
		free(ex->packed);
	}
	free(ex->borrowed);
	free(ex);
}

/* Whether runs use the fused epilogues (the default) or every node as planned. */
void
pi_executor_set_fusion(PiExecutor *ex, bool fused)
{
	ex->fused = fused;
}

/* Adds each node's kernel time of later runs to node_seconds[node] (nnodes entries); NULL stops. */
void
pi_executor_set_profile(PiExecutor *ex, double *node_seconds)
{
	ex->node_seconds = node_seconds;
}

/* The instruction set of the CPU kernels: "avx512", "avx2" or "generic". */
const char *
pi_engine_cpu_name(void)
{
	return pi_cpu()->name;
}

/* The instruction set of the int8 kernels: "vnni" or "generic". */
const char *
pi_engine_int8_name(void)
{
	return pi_int8_kernels()->name;
}

/* The kernels of bf16 models' Dense, Gemm and MatMul: "avx512bf16" or "float32". */
const char *
pi_engine_bf16_name(void)
{
	return pi_bf16_available() ? "avx512bf16" : "float32";
}

/* Largest batch this executor accepts. */
int64_t
pi_executor_max_batch(const PiExecutor *ex)
{
	return ex->max_batch;
}

/* Where the caller writes rows of input i (row-major, raw values). */
float *
pi_executor_input(PiExecutor *ex, int input)
{
	return ex->buffers[ex->model->values[ex->model->inputs[input]].buffer];
}

/* Output o of the last run: batch rows of pi_value_row_elems() floats each. */
const float *
pi_executor_output(const PiExecutor *ex, int output)
{
	return ex->buffers[ex->model->values[ex->model->outputs[output]].buffer];
}

/* Applies the model's input preprocessing to input 0, in place. */
static void
transform_input(PiExecutor *ex, int64_t batch)
{
	const PiModel *m = ex->model;
	float	   *x = pi_executor_input(ex, 0);
	int64_t		row = pi_value_row_elems(&m->values[m->inputs[0]]);

	if (m->input_transform_len == 1)
	{
		float		scale = m->input_scale[0];
		float		shift = m->input_shift[0];

		for (int64_t i = 0; i < batch * row; i++)
			x[i] = x[i] * scale + shift;
	}
	else
	{
		for (int64_t r = 0; r < batch; r++, x += row)
			for (int64_t i = 0; i < row; i++)
				x[i] = x[i] * m->input_scale[i] + m->input_shift[i];
	}
}

/*
 * Fills a tensor's data pointer and concrete dims for rows [row0, row0 +
 * rows) of the batch: graph inputs and outputs hold the whole batch, every
 * other activation only the pass's rows, from its buffer's start.
 */
static void
bind_value(const PiExecutor *ex, const PiValue *v, int64_t row0, int64_t rows,
		   const float **data, int64_t *dims, int *rank)
{
	*rank = v->rank;
	memcpy(dims, v->dims, sizeof(int64_t) * v->rank);
	if (v->kind == PI_VALUE_WEIGHT)
		*data = v->data;
	else
	{
		dims[0] = rows;
		*data = ex->buffers[v->buffer];
		if (v->kind == PI_VALUE_INPUT || v->is_output)
			*data += row0 * pi_value_row_elems(v);
	}
}

/* Scratch floats per row of any node in the model's plan (im2col, col2im, TopK's selection). */
int64_t
pi_node_scratch_elems(const PiModel *model, const PiNode *node)
{
	switch (node->op)
	{
		case PI_OP_CONV2D:
			return pi_conv2d_scratch_row_elems(model, node);
		case PI_OP_CONV_TRANSPOSE:
			return pi_conv_transpose_scratch_elems(model, node);
		case PI_OP_TOPK:
			/* values and indices of the k best of one slice */
			return 2 * node->attrs.k;
		case PI_OP_TREE_ENSEMBLE:
			return pi_tree_ensemble_scratch_elems(model, node);
		default:
			return 0;
	}
}

/* Applies the kernel's fused epilogue (residual, activation) to n outputs at offset. */
void
pi_epilogue_apply(const PiKernelArgs *a, float *y, int64_t offset, int64_t n)
{
	pi_cpu()->epilogue(y + offset, y + offset, a->residual ? a->residual + offset : NULL, n,
					   a->epi->act, &a->epi->act_attrs);
}

/* Runs one node's kernel. */
static void
run_node(const PiKernelArgs *a)
{
	if (pi_op_is_unary_elementwise(a->node->op))
	{
		pi_kernel_unary(a);
		return;
	}
	if (pi_op_is_binary_elementwise(a->node->op))
	{
		pi_kernel_binary(a);
		return;
	}
	switch (a->node->op)
	{
		case PI_OP_DENSE:
		case PI_OP_GEMM:
		case PI_OP_MATMUL:
			if (pi_gemm_int8_applies(a->model, a->node))
				pi_kernel_gemm_int8(a);
			else if (pi_gemm_bf16_applies(a->model, a->node))
				pi_kernel_gemm_bf16(a);
			else if (a->node->op == PI_OP_MATMUL)
				pi_kernel_matmul(a);
			else
				pi_kernel_gemm(a);
			break;
		case PI_OP_WHERE:
			pi_kernel_where(a);
			break;
		case PI_OP_EXPAND:
			pi_kernel_expand(a);
			break;

		case PI_OP_LAYER_NORM:
			pi_kernel_layer_norm(a);
			break;
		case PI_OP_REDUCE_MEAN:
		case PI_OP_REDUCE_SUM:
		case PI_OP_REDUCE_MAX:
			pi_kernel_reduce(a);
			break;
		case PI_OP_SQUEEZE:
		case PI_OP_UNSQUEEZE:
			pi_kernel_copy(a);
			break;
		case PI_OP_PAD:
			pi_kernel_pad(a);
			break;
		case PI_OP_SLICE:
			pi_kernel_slice(a);
			break;
		case PI_OP_GATHER:
			pi_kernel_gather(a);
			break;
		case PI_OP_TOPK:
			pi_kernel_topk(a);
			break;
		case PI_OP_CONV_TRANSPOSE:
			pi_kernel_conv_transpose(a);
			break;
		case PI_OP_SOFTMAX:
		case PI_OP_LOG_SOFTMAX:
			pi_kernel_softmax(a);
			break;
		case PI_OP_ARGMAX:
			pi_kernel_argmax(a);
			break;
		case PI_OP_RESHAPE:
		case PI_OP_FLATTEN:
		case PI_OP_IDENTITY:
		case PI_OP_DROPOUT:
			pi_kernel_copy(a);
			break;
		case PI_OP_TRANSPOSE:
			pi_kernel_transpose(a);
			break;
		case PI_OP_CONCAT:
			pi_kernel_concat(a);
			break;
		case PI_OP_CONV2D:
			pi_kernel_conv2d(a);
			break;
		case PI_OP_MAX_POOL2D:
			pi_kernel_max_pool2d(a);
			break;
		case PI_OP_AVERAGE_POOL2D:
			pi_kernel_average_pool2d(a);
			break;
		case PI_OP_GLOBAL_AVERAGE_POOL:
			pi_kernel_global_average_pool(a);
			break;
		case PI_OP_BATCH_NORM:
			pi_kernel_batch_norm(a);
			break;
		case PI_OP_TREE_ENSEMBLE:
			pi_kernel_tree_ensemble(a);
			break;
		case PI_OP_POST_TRANSFORM:
			pi_kernel_post_transform(a);
			break;
		case PI_OP_LOOKUP:
			pi_kernel_lookup(a);
			break;
		case PI_OP_NORMALIZE:
			pi_kernel_normalize(a);
			break;
		default:
			/* PI_OP_COUNT; unary and binary elementwise ops are dispatched above */
			break;
	}
}

/* CPU seconds of the calling thread (what a node's kernel takes when profiled). */
static double
thread_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs every node over rows [row0, row0 + rows) of the batch; kernel failures go to a->err. */
static void
run_pass(const PiExecutor *ex, PiKernelArgs *a, int64_t row0, int64_t rows)
{
	const PiModel *m = ex->model;

	a->batch = rows;
	a->row0 = row0;
	for (int pos = 0; pos < m->norder && a->err->status == PI_OK; pos++)
	{
		const PiNode *n = &m->nodes[m->order[pos]];
		bool		epilogue = ex->fused && n->epilogue.output >= 0;
		const float *out,
				   *residual = NULL;
		int64_t		dims[PI_MAX_RANK];
		int			rank;

		if (ex->fused && n->fused_into >= 0)
			continue;
		pi_check_interrupts();
		a->node = n;
		a->packed = ex->packed[m->order[pos]];
		a->epi = epilogue ? &n->epilogue : NULL;
		if (epilogue && n->epilogue.residual >= 0)
			bind_value(ex, &m->values[n->epilogue.residual], row0, rows, &residual, dims, &rank);
		a->residual = residual;
		for (int j = 0; j < n->ninputs && j < 8; j++)
			bind_value(ex, &m->values[n->inputs[j]], row0, rows, &a->in[j], a->in_dims[j],
					   &a->in_rank[j]);
		bind_value(ex, &m->values[epilogue ? n->epilogue.output : n->output], row0, rows, &out,
				   a->out_dims, &a->out_rank);
		a->out = (float *) out;
		if (ex->node_seconds != NULL)
		{
			double		start = thread_seconds();

			run_node(a);
			ex->node_seconds[m->order[pos]] += thread_seconds() - start;
		}
		else
			run_node(a);
	}
}

/* Runs the model over batch rows already written to the inputs, in passes of pass_rows. */
PiStatus
pi_executor_run(PiExecutor *ex, int64_t batch, PiError *err)
{
	const PiModel *m = ex->model;
	PiKernelArgs a;
	PiError		kernel_err;

	if (batch < 1 || batch > ex->max_batch)
		return pi_fail(err, PI_ERR_LIMIT, "batch of %lld rows, this executor takes 1 to %lld",
					   (long long) batch, (long long) ex->max_batch);
	if (m->input_transform_len > 0)
		transform_input(ex, batch);
	memset(&a, 0, sizeof(a));
	a.model = m;
	a.scratch = ex->scratch;
	a.err = &kernel_err;
	kernel_err.status = PI_OK;
	for (int64_t row0 = 0; row0 < batch && kernel_err.status == PI_OK; row0 += ex->pass_rows)
		run_pass(ex, &a, row0, batch - row0 < ex->pass_rows ? batch - row0 : ex->pass_rows);
	if (kernel_err.status != PI_OK && err != NULL)
		*err = kernel_err;
	return kernel_err.status;
}
