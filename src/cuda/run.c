/*
 * run.c
 *	  One run of a device executor: input rows from pinned staging to the
 *	  device, the input transform, every node in order, the outputs back to
 *	  pinned staging.  A batch of several chunks runs them on alternating
 *	  lanes (streams with their own buffers), so that the copies of one chunk
 *	  overlap the kernels of another; every op works row by row (no op works
 *	  along the batch axis), so chunks are independent.  The first run at a
 *	  batch size runs as it is enqueued; the second is captured as a CUDA
 *	  graph that later runs at that size replay.
 */
#include <string.h>

#include "cuda_internal.h"

/* Fills a node input's (or output's) device pointer and concrete dims for a chunk. */
static void
bind_value(const PiCudaExecutor *ex, const PiCudaLane *lane, int value, int64_t rows,
		   const float **data, int64_t *dims, int *rank)
{
	const PiValue *v = &ex->dm->model->values[value];

	*rank = v->rank;
	memcpy(dims, v->dims, sizeof(int64_t) * v->rank);
	if (v->kind == PI_VALUE_WEIGHT)
		*data = ex->dm->weights[value];
	else
	{
		dims[0] = rows;
		*data = lane->buffers[v->buffer];
	}
}

/* Enqueues rows [row0, row0 + rows) of a run on a lane: copies in, nodes, copies out. */
static PiStatus
enqueue_chunk(PiCudaExecutor *ex, PiCudaLane *lane, int64_t row0, int64_t rows, bool tf32,
			  PiError *err)
{
	const PiModel *m = ex->dm->model;
	PiCudaArgs	a;
	PiStatus	st;

	for (int i = 0; i < m->ninputs; i++)
	{
		const PiValue *v = &m->values[m->inputs[i]];
		int64_t		row = pi_value_row_elems(v);

		if ((st = pi_gpu_check(cudaMemcpyAsync(lane->buffers[v->buffer], ex->in_stage[i] + row0 * row,
											   rows * row * sizeof(float), cudaMemcpyHostToDevice,
											   lane->stream),
							   err, "copying input rows to the device")) != PI_OK)
			return st;
	}
	if (m->input_transform_len > 0 &&
		(st = pi_gpu_launch_input_transform(lane->buffers[m->values[m->inputs[0]].buffer], rows,
											pi_value_row_elems(&m->values[m->inputs[0]]),
											ex->dm->input_scale, ex->dm->input_shift,
											m->input_transform_len, lane->stream, err)) != PI_OK)
		return st;
	memset(&a, 0, sizeof(a));
	a.model = m;
	a.batch = rows;
	a.row0 = row0;
	a.scratch = lane->scratch;
	a.scratch_samples = lane->scratch_samples;
	a.gemm_ptrs = lane->gemm_ptrs;
	a.stream = lane->stream;
	a.blas = lane->blas;
	a.tf32 = tf32;
	a.err = err;
	for (int pos = 0; pos < m->norder; pos++)
	{
		const PiNode *n = &m->nodes[m->order[pos]];
		const float *out;

		a.node = n;
		a.index_error = &ex->index_errors[pos];
		for (int j = 0; j < n->ninputs && j < 8; j++)
			bind_value(ex, lane, n->inputs[j], rows, &a.in[j], a.in_dims[j], &a.in_rank[j]);
		bind_value(ex, lane, n->output, rows, &out, a.out_dims, &a.out_rank);
		a.out = (float *) out;
		if ((st = pi_gpu_run_node(&a)) != PI_OK)
			return st;
	}
	for (int o = 0; o < m->noutputs; o++)
	{
		const PiValue *v = &m->values[m->outputs[o]];
		int64_t		row = pi_value_row_elems(v);

		if ((st = pi_gpu_check(cudaMemcpyAsync(ex->out_stage[o] + row0 * row, lane->buffers[v->buffer],
											   rows * row * sizeof(float), cudaMemcpyDeviceToHost,
											   lane->stream),
							   err, "copying output rows from the device")) != PI_OK)
			return st;
	}
	return PI_OK;
}

/*
 * Enqueues a whole run on the first lane's stream; the other lanes fork
 * from it and join it again (also when enqueueing failed halfway, so that
 * a capture always ends joined).
 */
static PiStatus
enqueue_run(PiCudaExecutor *ex, int64_t batch, bool tf32, PiError *err)
{
	const PiModel *m = ex->dm->model;
	cudaStream_t main_stream = ex->lanes[0].stream;
	int64_t		chunks = (batch + ex->chunk_rows - 1) / ex->chunk_rows;
	int			lanes = chunks > 1 ? ex->nlanes : 1;
	int			forked = 1;		/* lanes that wait on the main stream */
	PiStatus	st = PI_OK;

	if (ex->checks_indices &&
		(st = pi_gpu_check(cudaMemsetAsync(ex->index_errors, 0xff, m->norder * sizeof(unsigned long long),
										   main_stream), err, "clearing the index error slots")) != PI_OK)
		return st;
	if (lanes > 1)
		st = pi_gpu_check(cudaEventRecord(ex->forked, main_stream), err, "cudaEventRecord");
	for (int l = 1; l < lanes && st == PI_OK; l++)
		if ((st = pi_gpu_check(cudaStreamWaitEvent(ex->lanes[l].stream, ex->forked, 0), err,
							   "cudaStreamWaitEvent")) == PI_OK)
			forked = l + 1;
	for (int64_t c = 0; c < chunks && st == PI_OK; c++)
	{
		int64_t		row0 = c * ex->chunk_rows;

		st = enqueue_chunk(ex, &ex->lanes[c % lanes], row0,
						   batch - row0 < ex->chunk_rows ? batch - row0 : ex->chunk_rows, tf32, err);
	}
	for (int l = 1; l < forked; l++)
	{
		/* a failure while joining is reported only when nothing failed before */
		PiError    *join_err = st == PI_OK ? err : NULL;
		PiStatus	joined = pi_gpu_check(cudaEventRecord(ex->lanes[l].done, ex->lanes[l].stream),
										  join_err, "cudaEventRecord");

		if (joined == PI_OK)
			joined = pi_gpu_check(cudaStreamWaitEvent(main_stream, ex->lanes[l].done, 0), join_err,
								  "cudaStreamWaitEvent");
		if (st == PI_OK)
			st = joined;
	}
	if (st != PI_OK || !ex->checks_indices)
		return st;
	return pi_gpu_check(cudaMemcpyAsync(ex->index_errors_host, ex->index_errors,
										m->norder * sizeof(unsigned long long),
										cudaMemcpyDeviceToHost, main_stream),
						err, "copying the index error slots from the device");
}

/* Captures a run as a CUDA graph and instantiates it into g. */
static PiStatus
capture_run(PiCudaExecutor *ex, PiCudaGraph *g, PiError *err)
{
	cudaStream_t main_stream = ex->lanes[0].stream;
	cudaGraph_t graph = NULL;
	PiStatus	st;
	cudaError_t end;

	if ((st = pi_gpu_check(cudaStreamBeginCapture(main_stream, cudaStreamCaptureModeThreadLocal),
						   err, "cudaStreamBeginCapture")) != PI_OK)
		return st;
	st = enqueue_run(ex, g->batch, g->tf32, err);
	/* the capture ends even when enqueueing failed */
	end = cudaStreamEndCapture(main_stream, &graph);
	if (st == PI_OK)
		st = pi_gpu_check(end, err, "cudaStreamEndCapture");
	if (st == PI_OK)
		st = pi_gpu_check(cudaGraphInstantiate(&g->exec, graph, 0), err, "cudaGraphInstantiate");
	if (st != PI_OK)
		g->exec = NULL;
	if (graph != NULL)
		cudaGraphDestroy(graph);
	return st;
}

/* The graph slot for (batch, tf32): found, or the least recently used one reset. */
static PiCudaGraph *
graph_slot(PiCudaExecutor *ex, int64_t batch, bool tf32, bool *found)
{
	PiCudaGraph *lru = &ex->graphs[0];

	for (int i = 0; i < PI_CUDA_MAX_GRAPHS; i++)
	{
		PiCudaGraph *g = &ex->graphs[i];

		if (g->batch == batch && g->tf32 == tf32)
		{
			*found = true;
			return g;
		}
		if (g->last_used < lru->last_used)
			lru = g;
	}
	if (lru->exec != NULL)
		cudaGraphExecDestroy(lru->exec);
	lru->exec = NULL;
	lru->batch = batch;
	lru->tf32 = tf32;
	*found = false;
	return lru;
}

/* The first out-of-range Gather index of the run, as the CPU engine reports it. */
static PiStatus
check_index_errors(const PiCudaExecutor *ex, PiError *err)
{
	const PiModel *m = ex->dm->model;

	for (int pos = 0; ex->checks_indices && pos < m->norder; pos++)
	{
		const PiNode *n = &m->nodes[m->order[pos]];
		unsigned long long key = ex->index_errors_host[pos];
		uint32_t	bits = (uint32_t) key;
		float		value;
		int64_t		v;

		if (n->op != PI_OP_GATHER || m->values[n->inputs[0]].kind != PI_VALUE_WEIGHT ||
			key == PI_CUDA_NO_INDEX_ERROR)
			continue;
		memcpy(&value, &bits, sizeof(value));
		v = m->values[n->inputs[0]].dims[0];
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Gather) index %g at position %lld of the batch is out of range: expected an integer in [%lld, %lld]",
					   n->name, value, (long long) (key >> 32), (long long) -v, (long long) v - 1);
	}
	return PI_OK;
}

/* Runs the model on the device over batch rows written to the inputs; waits for the result. */
PiStatus
pi_cuda_executor_run(PiCudaExecutor *ex, int64_t batch, PiError *err)
{
	bool		tf32 = ex->dm->ctx->tf32;
	bool		found;
	PiCudaGraph *g;
	PiStatus	st;

	if (batch < 1 || batch > ex->max_batch)
		return pi_fail(err, PI_ERR_LIMIT, "batch of %lld rows, this executor takes 1 to %lld",
					   (long long) batch, (long long) ex->max_batch);
	if ((st = pi_gpu_check(cudaSetDevice(ex->dm->ctx->device), err, "cudaSetDevice")) != PI_OK)
		return st;
	g = graph_slot(ex, batch, tf32, &found);
	g->last_used = ++ex->runs;
	if (!found)
		st = enqueue_run(ex, batch, tf32, err);
	else
	{
		if (g->exec == NULL)
			st = capture_run(ex, g, err);
		if (st == PI_OK)
			st = pi_gpu_check(cudaGraphLaunch(g->exec, ex->lanes[0].stream), err, "cudaGraphLaunch");
	}
	if (st != PI_OK)
	{
		/* nothing of a failed run may still be writing when the caller goes on */
		for (int l = 0; l < ex->nlanes; l++)
			cudaStreamSynchronize(ex->lanes[l].stream);
		return st;
	}
	if ((st = pi_gpu_check(cudaStreamSynchronize(ex->lanes[0].stream), err,
						   "running the model on the device")) != PI_OK)
		return st;
	return check_index_errors(ex, err);
}
