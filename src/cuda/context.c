/*
 * context.c
 *	  The device context of the CUDA engine (one GPU), its information and
 *	  TF32 switch, and the helpers that turn CUDA and cuBLAS failures into a
 *	  PiStatus with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

/*
 * Turns a CUDA runtime error into a PiStatus (PI_OK for cudaSuccess):
 * PI_ERR_DEVICE_LOST for sticky errors and lost devices, PI_ERR_NOMEM for
 * allocations.  An error that is not sticky is cleared from CUDA's
 * last-error slot, so that a later launch check does not report it again.
 */
PiStatus
pi_gpu_check(cudaError_t e, PiError *err, const char *what)
{
	PiStatus	st;

	if (e == cudaSuccess)
		return PI_OK;
	st = pi_gpu_error_status(cudaGetErrorName(e));
	if (st != PI_ERR_DEVICE_LOST)
		cudaGetLastError();
	return pi_fail(err, st, "%s failed: %s (%s)%s", what, cudaGetErrorString(e), cudaGetErrorName(e),
				   st == PI_ERR_DEVICE_LOST ? "; the GPU cannot be used again by this process" : "");
}

/*
 * Turns a cuBLAS status into a PiStatus (PI_OK for success); a failure
 * while the device is lost is PI_ERR_DEVICE_LOST.
 */
PiStatus
pi_gpu_check_blas(cublasStatus_t s, PiError *err, const char *what)
{
	cudaError_t cuda;

	if (s == CUBLAS_STATUS_SUCCESS)
		return PI_OK;
	cuda = cudaPeekAtLastError();
	if (cuda != cudaSuccess && pi_gpu_error_status(cudaGetErrorName(cuda)) == PI_ERR_DEVICE_LOST)
		return pi_gpu_check(cuda, err, what);
	return pi_fail(err, s == CUBLAS_STATUS_ALLOC_FAILED ? PI_ERR_NOMEM : PI_ERR_DEVICE,
				   "%s failed: %s (%s)", what, cublasGetStatusString(s), cublasGetStatusName(s));
}

/* Checks the launch of a node's kernel (names the node on failure). */
PiStatus
pi_gpu_launched(const PiCudaArgs *a, const char *kernel)
{
	char		what[PI_MAX_NAME + 128];
	cudaError_t e = cudaGetLastError();

	if (e == cudaSuccess)
		return PI_OK;
	snprintf(what, sizeof(what), "node \"%s\" (%s): launching kernel %s",
			 a->node->name, pi_op_name(a->node->op), kernel);
	return pi_gpu_check(e, a->err, what);
}

/*
 * Clears an error that an earlier call left in CUDA's last-error slot (an
 * allocation that failed, say), so that this run's launch checks do not
 * report it; PI_ERR_DEVICE_LOST when it is sticky.
 */
PiStatus
pi_gpu_clear_stale_error(PiError *err)
{
	cudaError_t e = cudaGetLastError();

	if (e == cudaSuccess || pi_gpu_error_status(cudaGetErrorName(e)) != PI_ERR_DEVICE_LOST)
		return PI_OK;
	return pi_gpu_check(e, err, "an earlier CUDA call");
}

/* Blocks for n elements of a grid-stride kernel. */
unsigned int
pi_gpu_blocks(int64_t n)
{
	int64_t		blocks = (n + PI_CUDA_THREADS - 1) / PI_CUDA_THREADS;

	if (blocks < 1)
		return 1;
	return blocks > (1 << 20) ? (1u << 20) : (unsigned int) blocks;
}

/*
 * Number of CUDA devices: 0 when the driver finds none; PI_ERR_DEVICE when
 * there is no usable driver (CUDA reports a missing driver as too old).
 */
PiStatus
pi_cuda_device_count(int *count, PiError *err)
{
	cudaError_t e = cudaGetDeviceCount(count);

	*count = e == cudaSuccess ? *count : 0;
	if (e == cudaErrorNoDevice)
	{
		cudaGetLastError();		/* not sticky: clear it */
		return PI_OK;
	}
	return pi_gpu_check(e, err, "looking for CUDA devices (cudaGetDeviceCount)");
}

/* Opens GPU number device; NULL with err set on failure. */
PiCudaContext *
pi_cuda_context_new(int device, PiError *err)
{
	PiCudaContext *ctx;
	struct cudaDeviceProp prop;
	int			count;

	if (pi_cuda_device_count(&count, err) != PI_OK)
		return NULL;
	if (device < 0 || device >= count)
	{
		pi_fail(err, PI_ERR_DEVICE, "CUDA device %d does not exist: this machine has %d", device, count);
		return NULL;
	}
	/* creates the primary context now, so that later calls fail less late */
	if (pi_gpu_check(cudaSetDevice(device), err, "cudaSetDevice") != PI_OK ||
		pi_gpu_check(cudaFree(NULL), err, "CUDA context creation") != PI_OK ||
		pi_gpu_check(cudaGetDeviceProperties(&prop, device), err, "cudaGetDeviceProperties") != PI_OK)
		return NULL;
	ctx = calloc(1, sizeof(PiCudaContext));
	if (ctx == NULL)
	{
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	ctx->device = device;
	ctx->tf32 = false;
	snprintf(ctx->name, sizeof(ctx->name), "%s", prop.name);
	ctx->compute_major = prop.major;
	ctx->compute_minor = prop.minor;
	return ctx;
}

/* Frees a context (its models and executors must be freed first); NULL is allowed. */
void
pi_cuda_context_free(PiCudaContext *ctx)
{
	free(ctx);
}

/*
 * Fills info with the device's name, compute capability and memory: the
 * properties read when the context opened, the memory asked now (the
 * executor asks after every LOAD and UNLOAD).
 */
PiStatus
pi_cuda_device_info(PiCudaContext *ctx, PiCudaDeviceInfo *info, PiError *err)
{
	size_t		free_bytes,
				total_bytes;
	PiStatus	st;

	if ((st = pi_gpu_check(cudaSetDevice(ctx->device), err, "cudaSetDevice")) != PI_OK ||
		(st = pi_gpu_check(cudaMemGetInfo(&free_bytes, &total_bytes), err,
							"cudaMemGetInfo")) != PI_OK)
		return st;
	memset(info, 0, sizeof(*info));
	info->device = ctx->device;
	snprintf(info->name, sizeof(info->name), "%s", ctx->name);
	info->compute_major = ctx->compute_major;
	info->compute_minor = ctx->compute_minor;
	info->total_bytes = (int64_t) total_bytes;
	info->free_bytes = (int64_t) free_bytes;
	return PI_OK;
}

/* Allows (true) or forbids (false, the default) TF32 tensor-core GEMMs. */
void
pi_cuda_set_tf32(PiCudaContext *ctx, bool enabled)
{
	ctx->tf32 = enabled;
}

/* Whether TF32 GEMMs are allowed. */
bool
pi_cuda_tf32(const PiCudaContext *ctx)
{
	return ctx->tf32;
}
