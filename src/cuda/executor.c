/*
 * executor.c
 *	  Device executors: pinned staging buffers for a maximum batch, and one
 *	  or two lanes, each a stream, a cuBLAS handle and the model's planned
 *	  activation buffers for one chunk of rows; creation and teardown.
 *	  Running is in src/cuda/run.c.
 */
#include <stdlib.h>

#include "cuda_internal.h"

/* Floats for rows rows of row_elems each; false when too large for cuBLAS. */
static bool
buffer_floats(int64_t row_elems, int64_t rows, int64_t *floats)
{
	int64_t		n;

	/* cuBLAS takes int dimensions, as the CPU engine's BLAS does */
	if (!pi_mul_size(row_elems, rows, &n) || n > INT32_MAX)
		return false;
	*floats = n > 0 ? n : 1;
	return true;
}

/* cudaMalloc that adds to the executor's device byte count. */
static PiStatus
device_alloc(PiCudaExecutor *ex, void **p, int64_t bytes, PiError *err, const char *what)
{
	PiStatus	st = pi_gpu_check(cudaMalloc(p, bytes), err, what);

	if (st == PI_OK)
		ex->device_bytes += bytes;
	return st;
}

/* Samples per im2col/col2im pass of a lane: all of its rows if the budget allows. */
static int64_t
scratch_samples(const PiModel *m, int64_t rows)
{
	int64_t		per_sample = m->scratch_row_elems;
	int64_t		samples;

	if (per_sample <= 0)
		return 0;
	samples = PI_CUDA_SCRATCH_FLOATS / per_sample;
	if (samples < 1)
		samples = 1;
	return samples < rows ? samples : rows;
}

/* Largest pointer array any batched MatMul of the model needs at rows rows. */
static int64_t
gemm_ptrs_len(const PiModel *m, int64_t rows)
{
	int64_t		len = 0;

	for (int pos = 0; pos < m->norder; pos++)
	{
		int64_t		n = pi_gpu_matmul_ptrs(m, &m->nodes[m->order[pos]], rows);

		if (n > len)
			len = n;
	}
	return len;
}

/* Creates one lane for chunks of up to ex->chunk_rows rows. */
static PiStatus
lane_new(PiCudaExecutor *ex, PiCudaLane *lane, PiError *err)
{
	const PiModel *m = ex->dm->model;
	int64_t		rows = ex->chunk_rows;
	int64_t		floats,
				ptrs;
	PiStatus	st;

	if ((st = pi_gpu_check(cudaStreamCreateWithFlags(&lane->stream, cudaStreamNonBlocking), err,
						   "cudaStreamCreate")) != PI_OK ||
		(st = pi_gpu_check(cudaEventCreateWithFlags(&lane->done, cudaEventDisableTiming), err,
						   "cudaEventCreate")) != PI_OK)
		return st;
	if ((st = pi_gpu_check_blas(cublasCreate(&lane->blas), err, "cublasCreate")) != PI_OK)
	{
		lane->blas = NULL;
		return st;
	}
	if ((lane->buffers = calloc(m->nbuffers + 1, sizeof(float *))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int b = 0; b < m->nbuffers; b++)
	{
		if (!buffer_floats(m->buffer_row_elems[b], rows, &floats))
			return pi_fail(err, PI_ERR_LIMIT, "a batch of %lld rows needs more memory than can be addressed",
						   (long long) ex->max_batch);
		if ((st = device_alloc(ex, (void **) &lane->buffers[b], floats * (int64_t) sizeof(float), err,
							   "cudaMalloc of an activation buffer")) != PI_OK)
			return st;
	}
	lane->scratch_samples = scratch_samples(m, rows);
	if (lane->scratch_samples > 0 &&
		(st = device_alloc(ex, (void **) &lane->scratch,
						   lane->scratch_samples * m->scratch_row_elems * (int64_t) sizeof(float),
						   err, "cudaMalloc of the im2col scratch")) != PI_OK)
		return st;
	if (ex->dm->half_act_elems > 0 &&
		(st = device_alloc(ex, &lane->half_acts, ex->dm->half_act_elems * rows * (int64_t) sizeof(uint16_t),
						   err, "cudaMalloc of the 16-bit activations")) != PI_OK)
		return st;
	if (ex->dm->int8_item_bytes > 0 &&
		((st = pi_gpu_check_blas(cublasLtCreate(&lane->lt), err, "cublasLtCreate")) != PI_OK ||
		 (st = device_alloc(ex, &lane->int8_scratch, ex->dm->int8_item_bytes * rows, err,
							"cudaMalloc of the int8 scratch")) != PI_OK))
		return st;
	ptrs = gemm_ptrs_len(m, rows);
	if (ptrs > 0 &&
		(st = device_alloc(ex, (void **) &lane->gemm_ptrs, ptrs * (int64_t) sizeof(void *),
						   err, "cudaMalloc of MatMul pointer arrays")) != PI_OK)
		return st;
	if ((st = device_alloc(ex, &lane->workspace, PI_CUDA_BLAS_WORKSPACE, err,
						   "cudaMalloc of the cuBLAS workspace")) != PI_OK)
		return st;
	if ((st = pi_gpu_check_blas(cublasSetStream(lane->blas, lane->stream), err, "cublasSetStream")) != PI_OK ||
		(st = pi_gpu_check_blas(cublasSetWorkspace(lane->blas, lane->workspace, PI_CUDA_BLAS_WORKSPACE),
								err, "cublasSetWorkspace")) != PI_OK)
		return st;
	return pi_gpu_check_blas(cublasSetPointerMode(lane->blas, CUBLAS_POINTER_MODE_HOST), err,
							 "cublasSetPointerMode");
}

/* Frees a lane's resources (after its stream is idle). */
static void
lane_free(const PiModel *m, PiCudaLane *lane)
{
	if (lane->blas != NULL)
		cublasDestroy(lane->blas);
	if (lane->lt != NULL)
		cublasLtDestroy(lane->lt);
	for (int b = 0; lane->buffers != NULL && b < m->nbuffers; b++)
		cudaFree(lane->buffers[b]);
	free(lane->buffers);
	cudaFree(lane->scratch);
	cudaFree(lane->gemm_ptrs);
	cudaFree(lane->half_acts);
	cudaFree(lane->int8_scratch);
	cudaFree(lane->workspace);
	if (lane->done != NULL)
		cudaEventDestroy(lane->done);
	if (lane->stream != NULL)
		cudaStreamDestroy(lane->stream);
}

/* Allocates the pinned staging buffers of the graph's inputs and outputs. */
static PiStatus
alloc_staging(PiCudaExecutor *ex, PiError *err)
{
	const PiModel *m = ex->dm->model;
	PiStatus	st;
	int64_t		floats;

	for (int i = 0; i < m->ninputs + m->noutputs; i++)
	{
		bool		is_input = i < m->ninputs;
		const PiValue *v = &m->values[is_input ? m->inputs[i] : m->outputs[i - m->ninputs]];
		float	  **slot = is_input ? &ex->in_stage[i] : &ex->out_stage[i - m->ninputs];

		if (!buffer_floats(pi_value_row_elems(v), ex->max_batch, &floats))
			return pi_fail(err, PI_ERR_LIMIT, "a batch of %lld rows needs more memory than can be addressed",
						   (long long) ex->max_batch);
		if ((st = pi_gpu_check(cudaMallocHost((void **) slot, floats * sizeof(float)), err,
							   "cudaMallocHost of a staging buffer")) != PI_OK)
			return st;
	}
	if ((st = device_alloc(ex, (void **) &ex->index_errors, m->norder * (int64_t) sizeof(unsigned long long),
						   err, "cudaMalloc of the index error slots")) != PI_OK)
		return st;
	return pi_gpu_check(cudaMallocHost((void **) &ex->index_errors_host,
									   m->norder * sizeof(unsigned long long)),
						err, "cudaMallocHost of the index error slots");
}

/* Creates an executor for up to max_batch rows per run; NULL with err set on failure. */
PiCudaExecutor *
pi_cuda_executor_new(PiCudaModel *dm, int64_t max_batch, PiError *err)
{
	const PiModel *m = dm->model;
	PiCudaExecutor *ex;

	if (max_batch < 1)
	{
		pi_fail(err, PI_ERR_LIMIT, "batch size %lld is not positive", (long long) max_batch);
		return NULL;
	}
	if (pi_gpu_check(cudaSetDevice(dm->ctx->device), err, "cudaSetDevice") != PI_OK)
		return NULL;
	if ((ex = calloc(1, sizeof(PiCudaExecutor))) == NULL)
	{
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	ex->dm = dm;
	ex->max_batch = max_batch;
	pi_graph_cache_init(&ex->graphs);
	/* one lane for the whole batch, or two for chunks of an eighth of it */
	ex->chunk_rows = (max_batch + PI_CUDA_CHUNKS - 1) / PI_CUDA_CHUNKS;
	if (ex->chunk_rows < PI_CUDA_MIN_CHUNK_ROWS)
		ex->chunk_rows = PI_CUDA_MIN_CHUNK_ROWS;
	if (ex->chunk_rows >= max_batch)
		ex->chunk_rows = max_batch;
	ex->nlanes = ex->chunk_rows < max_batch ? PI_CUDA_LANES : 1;
	for (int pos = 0; pos < m->norder; pos++)
		if (m->nodes[m->order[pos]].op == PI_OP_GATHER &&
			m->values[m->nodes[m->order[pos]].inputs[0]].kind == PI_VALUE_WEIGHT)
			ex->checks_indices = true;
	if ((ex->in_stage = calloc(m->ninputs + 1, sizeof(float *))) == NULL ||
		(ex->out_stage = calloc(m->noutputs + 1, sizeof(float *))) == NULL)
	{
		pi_cuda_executor_free(ex);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (pi_gpu_check(cudaEventCreateWithFlags(&ex->forked, cudaEventDisableTiming), err,
					 "cudaEventCreate") != PI_OK ||
		alloc_staging(ex, err) != PI_OK)
		goto fail;
	for (int l = 0; l < ex->nlanes; l++)
		if (lane_new(ex, &ex->lanes[l], err) != PI_OK)
			goto fail;
	return ex;

fail:
	pi_cuda_executor_free(ex);
	return NULL;
}

/* Frees an executor; NULL is allowed. */
void
pi_cuda_executor_free(PiCudaExecutor *ex)
{
	const PiModel *m;

	if (ex == NULL)
		return;
	m = ex->dm->model;
	cudaSetDevice(ex->dm->ctx->device);
	for (int l = 0; l < ex->nlanes; l++)
		if (ex->lanes[l].stream != NULL)
			cudaStreamSynchronize(ex->lanes[l].stream);
	for (int g = 0; g < PI_GRAPH_SLOTS; g++)
		if (ex->graph_exec[g] != NULL)
			cudaGraphExecDestroy(ex->graph_exec[g]);
	for (int l = 0; l < ex->nlanes; l++)
		lane_free(m, &ex->lanes[l]);
	for (int i = 0; ex->in_stage != NULL && i < m->ninputs; i++)
		cudaFreeHost(ex->in_stage[i]);
	for (int i = 0; ex->out_stage != NULL && i < m->noutputs; i++)
		cudaFreeHost(ex->out_stage[i]);
	cudaFreeHost(ex->index_errors_host);
	cudaFree(ex->index_errors);
	if (ex->forked != NULL)
		cudaEventDestroy(ex->forked);
	free(ex->in_stage);
	free(ex->out_stage);
	free(ex);
}

/* Largest batch this executor accepts. */
int64_t
pi_cuda_executor_max_batch(const PiCudaExecutor *ex)
{
	return ex->max_batch;
}

/* Device bytes the executor's buffers take (activations, scratch, workspace). */
int64_t
pi_cuda_executor_bytes(const PiCudaExecutor *ex)
{
	return ex->device_bytes;
}

/* Pinned staging buffer where the caller writes rows of input i (raw values). */
float *
pi_cuda_executor_input(PiCudaExecutor *ex, int input)
{
	return ex->in_stage[input];
}

/* Output o of the last run (pinned staging): batch rows of pi_value_row_elems() floats. */
const float *
pi_cuda_executor_output(const PiCudaExecutor *ex, int output)
{
	return ex->out_stage[output];
}
