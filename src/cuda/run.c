/*
 * run.c
 *	  One run of a device executor: input rows from pinned staging to the
 *	  device, the input transform, every node in order, the outputs back to
 *	  pinned staging.  A batch of several chunks runs them on alternating
 *	  lanes (streams with their own buffers), so that the copies of one chunk
 *	  overlap the kernels of another; every op works row by row (no op works
 *	  along the batch axis), so chunks are independent, and a run padded
 *	  with rows of whatever the staging held computes the same real rows.
 *	  Batch sizes are bucketed (src/cuda/graph_cache.h): the first run in a
 *	  bucket runs as it is enqueued, the second captures a CUDA graph of the
 *	  bucket's rows that later runs in the bucket replay.
 */
#include <stdio.h>
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
	a.half_acts = lane->half_acts;
	a.int8_scratch = lane->int8_scratch;
	a.lt = lane->lt;
	a.workspace = lane->workspace;
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
		a.weight_type = n->ninputs >= 2 && ex->dm->half_weights[n->inputs[1]] ? ex->dm->half_type : CUDA_R_32F;
		a.int8_shape = &ex->dm->int8_shapes[m->order[pos]];
		a.int8_weights = ex->dm->int8_weights[m->order[pos]];
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

/*
 * Captures a run of rows rows as a CUDA graph and instantiates it into
 * *exec; break_it (PG_INFER_CUDA_FAULT) makes an allocation inside the
 * capture, which CUDA refuses and which fails it.
 */
static PiStatus
capture_run(PiCudaExecutor *ex, int64_t rows, bool tf32, bool break_it, cudaGraphExec_t *exec,
			PiError *err)
{
	cudaStream_t main_stream = ex->lanes[0].stream;
	cudaGraph_t graph = NULL;
	void	   *p = NULL;
	PiStatus	st;
	PiStatus	ended;

	*exec = NULL;
	if ((st = pi_gpu_check(cudaStreamBeginCapture(main_stream, cudaStreamCaptureModeThreadLocal),
						   err, "cudaStreamBeginCapture")) != PI_OK)
		return st;
	if (break_it)
	{
		st = pi_gpu_check(cudaMalloc(&p, 1), err, "an allocation that " PI_CUDA_FAULT_ENV " made inside a capture");
		cudaFree(p);
	}
	if (st == PI_OK)
		st = enqueue_run(ex, rows, tf32, err);
	/* the capture ends even when enqueueing failed (its error then cleared, not reported) */
	ended = pi_gpu_check(cudaStreamEndCapture(main_stream, &graph), st == PI_OK ? err : NULL,
						 "cudaStreamEndCapture");
	if (st == PI_OK)
		st = ended;
	if (st == PI_OK)
		st = pi_gpu_check(cudaGraphInstantiate(exec, graph, 0), err, "cudaGraphInstantiate");
	if (st != PI_OK)
		*exec = NULL;
	if (graph != NULL)
		cudaGraphDestroy(graph);
	return st;
}

/*
 * Captures the bucket of key (rows rows) into slot and launches it.  When
 * the capture fails and the device is not lost, the bucket runs without a
 * graph from now on, and this run of batch rows runs as enqueued; the
 * executor's first such failure is reported on stderr (the server's log).
 */
static PiStatus
capture_and_launch(PiCudaExecutor *ex, int key, int slot, int64_t rows, int64_t batch, bool tf32,
				   bool break_it, PiError *err)
{
	PiError		capture_err = {0};
	PiStatus	st;

	if (ex->graph_exec[slot] != NULL)
		cudaGraphExecDestroy(ex->graph_exec[slot]);
	st = capture_run(ex, rows, tf32, break_it, &ex->graph_exec[slot], &capture_err);
	if (st == PI_OK)
		return pi_gpu_check(cudaGraphLaunch(ex->graph_exec[slot], ex->lanes[0].stream), err,
							"cudaGraphLaunch");
	if (st == PI_ERR_DEVICE_LOST)
		return pi_fail(err, st, "%s", capture_err.message);
	pi_graph_capture_failed(&ex->graphs, key, slot);
	if (!ex->capture_failure_logged)
	{
		ex->capture_failure_logged = true;
		fprintf(stderr, "pg_infer_cuda: capturing the CUDA graph of the %lld-row bucket failed (%s); its runs go on without a graph, and later capture failures of this executor are not reported\n",
				(long long) rows, capture_err.message);
	}
	if ((st = pi_gpu_clear_stale_error(err)) != PI_OK)
		return st;
	return enqueue_run(ex, batch, tf32, err);
}

/*
 * The first out-of-range Gather index among the run's batch rows, as the
 * CPU engine reports it (positions past them are padding of a graph run).
 */
static PiStatus
check_index_errors(const PiCudaExecutor *ex, int64_t batch, PiError *err)
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
			key == PI_CUDA_NO_INDEX_ERROR ||
			(int64_t) (key >> 32) >= batch * pi_value_row_elems(&m->values[n->inputs[1]]))
			continue;
		memcpy(&value, &bits, sizeof(value));
		v = m->values[n->inputs[0]].dims[0];
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Gather) index %g at position %lld of the batch is out of range: expected an integer in [%lld, %lld]",
					   n->name, value, (long long) (key >> 32), (long long) -v, (long long) v - 1);
	}
	return PI_OK;
}

/*
 * Makes this run fail with cudaErrorIllegalAddress or
 * cudaErrorMemoryAllocation as PG_INFER_CUDA_FAULT asks, caused for real.
 */
static PiStatus
inject_fault(PiCudaExecutor *ex, const char *error, PiError *err)
{
	void	   *p = NULL;
	cudaError_t e;

	if (strcmp(error, "cudaErrorIllegalAddress") == 0)
	{
		pi_gpu_launch_illegal_store(ex->lanes[0].stream);
		return pi_gpu_check(cudaStreamSynchronize(ex->lanes[0].stream), err,
							"a kernel that " PI_CUDA_FAULT_ENV " launched");
	}
	/* left in CUDA's last-error slot, as an allocation failed elsewhere would leave it */
	if ((e = cudaMalloc(&p, (size_t) 1 << 62)) == cudaSuccess)
		cudaFree(p);
	return pi_fail(err, PI_ERR_NOMEM, "an allocation of 4 EiB that %s asked for failed: %s (%s)",
				   PI_CUDA_FAULT_ENV, cudaGetErrorString(e), cudaGetErrorName(e));
}

/*
 * Runs the model on the device over batch rows written to the inputs; waits
 * for the result.  An error an earlier call left in CUDA's last-error slot
 * is cleared first (a sticky one fails the run: the device is lost).
 */
PiStatus
pi_cuda_executor_run(PiCudaExecutor *ex, int64_t batch, PiError *err)
{
	bool		tf32 = ex->dm->ctx->tf32;
	const char *fault;
	int			key,
				slot;
	int64_t		rows;
	PiStatus	st = PI_OK;

	if (batch < 1 || batch > ex->max_batch)
		return pi_fail(err, PI_ERR_LIMIT, "batch of %lld rows, this executor takes 1 to %lld",
					   (long long) batch, (long long) ex->max_batch);
	if ((st = pi_gpu_fault_next_run(&fault, err)) != PI_OK ||
		(st = pi_gpu_check(cudaSetDevice(ex->dm->ctx->device), err, "cudaSetDevice")) != PI_OK ||
		(st = pi_gpu_clear_stale_error(err)) != PI_OK)
		return st;
	if (fault != NULL && strcmp(fault, "cudaErrorStreamCaptureUnsupported") != 0)
		return inject_fault(ex, fault, err);
	rows = pi_graph_bucket(batch, ex->max_batch, tf32, &key);
	switch (pi_graph_plan(&ex->graphs, key, &slot))
	{
		case PI_GRAPH_EAGER:
			st = enqueue_run(ex, batch, tf32, err);
			break;
		case PI_GRAPH_CAPTURE:
			st = capture_and_launch(ex, key, slot, rows, batch, tf32, fault != NULL, err);
			break;
		case PI_GRAPH_REPLAY:
			st = pi_gpu_check(cudaGraphLaunch(ex->graph_exec[slot], ex->lanes[0].stream), err,
							  "cudaGraphLaunch");
			break;
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
	return check_index_errors(ex, batch, err);
}
