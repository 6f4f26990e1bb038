/*
 * executor.c
 *	  Device executors: the model's planned activation buffers on the GPU
 *	  for a maximum batch, pinned staging buffers, a stream and a cuBLAS
 *	  handle; creation and teardown.  Running is in src/cuda/run.c.
 */
#include <stdlib.h>

#include "cuda_internal.h"

/* Device floats for rows rows of row_elems each; false when too large for cuBLAS. */
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

/* Samples per im2col/col2im chunk: all of max_batch if the budget allows. */
static int64_t
scratch_samples(const PiModel *m, int64_t max_batch)
{
	int64_t		per_sample = m->scratch_row_elems;
	int64_t		samples;

	if (per_sample <= 0)
		return 0;
	samples = PI_CUDA_SCRATCH_FLOATS / per_sample;
	if (samples < 1)
		samples = 1;
	return samples < max_batch ? samples : max_batch;
}

/* Largest pointer array any batched MatMul of the model needs at max_batch. */
static int64_t
gemm_ptrs_len(const PiModel *m, int64_t max_batch)
{
	int64_t		len = 0;

	for (int pos = 0; pos < m->norder; pos++)
	{
		int64_t		n = pi_gpu_matmul_ptrs(m, &m->nodes[m->order[pos]], max_batch);

		if (n > len)
			len = n;
	}
	return len;
}

/* Allocates the device side: buffers, scratch, workspace, pointer arrays, error slots. */
static PiStatus
alloc_device(PiCudaExecutor *ex, PiError *err)
{
	const PiModel *m = ex->dm->model;
	PiStatus	st;
	int64_t		floats;

	for (int b = 0; b < m->nbuffers; b++)
	{
		if (!buffer_floats(m->buffer_row_elems[b], ex->max_batch, &floats))
			return pi_fail(err, PI_ERR_LIMIT, "a batch of %lld rows needs more memory than can be addressed",
						   (long long) ex->max_batch);
		if ((st = device_alloc(ex, (void **) &ex->buffers[b], floats * (int64_t) sizeof(float), err,
							   "cudaMalloc of an activation buffer")) != PI_OK)
			return st;
	}
	ex->scratch_samples = scratch_samples(m, ex->max_batch);
	if (ex->scratch_samples > 0 &&
		(st = device_alloc(ex, (void **) &ex->scratch,
						   ex->scratch_samples * m->scratch_row_elems * (int64_t) sizeof(float),
						   err, "cudaMalloc of the im2col scratch")) != PI_OK)
		return st;
	ex->gemm_ptrs_len = gemm_ptrs_len(m, ex->max_batch);
	if (ex->gemm_ptrs_len > 0 &&
		(st = device_alloc(ex, (void **) &ex->gemm_ptrs, ex->gemm_ptrs_len * (int64_t) sizeof(void *),
						   err, "cudaMalloc of MatMul pointer arrays")) != PI_OK)
		return st;
	if ((st = device_alloc(ex, &ex->workspace, PI_CUDA_BLAS_WORKSPACE, err,
						   "cudaMalloc of the cuBLAS workspace")) != PI_OK ||
		(st = device_alloc(ex, (void **) &ex->index_errors,
						   (m->norder > 0 ? m->norder : 1) * (int64_t) sizeof(PiCudaIndexError),
						   err, "cudaMalloc of the index error slots")) != PI_OK)
		return st;
	return PI_OK;
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
	return pi_gpu_check(cudaMallocHost((void **) &ex->index_errors_host,
										(m->norder > 0 ? m->norder : 1) * sizeof(PiCudaIndexError)),
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
	if ((ex->buffers = calloc(m->nbuffers + 1, sizeof(float *))) == NULL ||
		(ex->in_stage = calloc(m->ninputs + 1, sizeof(float *))) == NULL ||
		(ex->out_stage = calloc(m->noutputs + 1, sizeof(float *))) == NULL)
	{
		pi_cuda_executor_free(ex);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (pi_gpu_check(cudaStreamCreateWithFlags(&ex->stream, cudaStreamNonBlocking), err,
					  "cudaStreamCreate") != PI_OK)
		goto fail;
	if (pi_gpu_check_blas(cublasCreate(&ex->blas), err, "cublasCreate") != PI_OK)
	{
		ex->blas = NULL;
		goto fail;
	}
	if (alloc_device(ex, err) != PI_OK || alloc_staging(ex, err) != PI_OK ||
		pi_gpu_check_blas(cublasSetStream(ex->blas, ex->stream), err, "cublasSetStream") != PI_OK ||
		pi_gpu_check_blas(cublasSetWorkspace(ex->blas, ex->workspace, PI_CUDA_BLAS_WORKSPACE),
						   err, "cublasSetWorkspace") != PI_OK ||
		pi_gpu_check_blas(cublasSetPointerMode(ex->blas, CUBLAS_POINTER_MODE_HOST), err,
						   "cublasSetPointerMode") != PI_OK)
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
	if (ex->stream != NULL)
		cudaStreamSynchronize(ex->stream);
	for (int g = 0; g < PI_CUDA_MAX_GRAPHS; g++)
		if (ex->graphs[g].exec != NULL)
			cudaGraphExecDestroy(ex->graphs[g].exec);
	if (ex->blas != NULL)
		cublasDestroy(ex->blas);
	for (int b = 0; ex->buffers != NULL && b < m->nbuffers; b++)
		cudaFree(ex->buffers[b]);
	for (int i = 0; ex->in_stage != NULL && i < m->ninputs; i++)
		cudaFreeHost(ex->in_stage[i]);
	for (int i = 0; ex->out_stage != NULL && i < m->noutputs; i++)
		cudaFreeHost(ex->out_stage[i]);
	cudaFreeHost(ex->index_errors_host);
	cudaFree(ex->index_errors);
	cudaFree(ex->scratch);
	cudaFree(ex->gemm_ptrs);
	cudaFree(ex->workspace);
	if (ex->stream != NULL)
		cudaStreamDestroy(ex->stream);
	free(ex->buffers);
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
