/*
 * pi_cuda.h
 *	  The CUDA device engine (pg_infer_cuda.so): runs a finalized PiModel on
 *	  an NVIDIA GPU with cuBLAS and our own kernels.
 *
 * A separate shared object, never linked into pg_infer.so: the process that
 * owns the GPU loads it with dlopen and checks pi_cuda_abi_version() against
 * PI_CUDA_ABI_VERSION first (the structs of pi_ir.h cross this boundary).
 * Plain C, no CUDA types: the caller needs neither CUDA headers nor CUDA
 * libraries.  Every CUDA and cuBLAS failure comes back as a PiStatus with a
 * message; nothing aborts.  PI_ERR_NOMEM is device or pinned memory;
 * PI_ERR_DEVICE_LOST a fault after which the device is unusable in this
 * process (an illegal address, a launch failure, an uncorrectable ECC
 * error, a GPU gone): every later call fails too, and the process must
 * exit for a new one to use the GPU again; PI_ERR_DEVICE anything else
 * (the next call may succeed: errors that are not sticky are cleared).
 *
 * Objects: a context is one GPU; a device model is a finalized PiModel's
 * weights uploaded once (the PiModel must outlive it: its graph is read at
 * every run); an executor owns pinned host staging buffers for a maximum
 * batch and one or two lanes, each a stream, a cuBLAS handle and the
 * model's planned activation buffers for one chunk of rows.  Each object is
 * used by one thread at a time.
 *
 * A run copies the rows the caller wrote into the input staging buffers to
 * the device, runs every node there, and copies the outputs back into the
 * output staging buffers; a large batch runs in chunks on alternating lanes
 * so that copies overlap kernels.  Batch sizes are bucketed (powers of
 * two): the first run in a bucket runs kernel by kernel at its own size,
 * the second captures a CUDA graph of the bucket's size that later runs in
 * it replay, padded (only the caller's rows are meaningful in the output
 * staging).  docs/gpu.md has the details.
 *
 * Every op of the CPU engine runs on the device (docs/gpu.md lists the
 * kernels); there are no CPU fallbacks.  GEMMs are FP32 (cuBLAS with
 * CUBLAS_COMPUTE_32F) unless TF32 is switched on for the context.
 */
#ifndef PI_CUDA_H
#define PI_CUDA_H

#include "pi_ir.h"

#ifdef __cplusplus
extern "C"
{
#endif

/* Bumped whenever this header changes. */
#define PI_CUDA_ABI_VERSION 2

typedef struct PiCudaContext PiCudaContext;
typedef struct PiCudaModel PiCudaModel;
typedef struct PiCudaExecutor PiCudaExecutor;

/* What a context's GPU is and how much of its memory is free. */
typedef struct PiCudaDeviceInfo
{
	int			device;			/* CUDA device ordinal */
	char		name[256];
	int			compute_major;
	int			compute_minor;
	int64_t		total_bytes;
	int64_t		free_bytes;
} PiCudaDeviceInfo;

/* The PI_CUDA_ABI_VERSION this library was built with. */
int			pi_cuda_abi_version(void);

/* Number of CUDA devices: 0 when none; PI_ERR_DEVICE without a usable driver. */
PiStatus	pi_cuda_device_count(int *count, PiError *err);

/* Opens GPU number device; NULL with err set on failure. */
PiCudaContext *pi_cuda_context_new(int device, PiError *err);

/* Frees a context (its models and executors must be freed first); NULL is allowed. */
void		pi_cuda_context_free(PiCudaContext *ctx);

/* Fills info with the device's name, compute capability and memory. */
PiStatus	pi_cuda_device_info(PiCudaContext *ctx, PiCudaDeviceInfo *info, PiError *err);

/* Allows (true) or forbids (false, the default) TF32 tensor-core GEMMs. */
void		pi_cuda_set_tf32(PiCudaContext *ctx, bool enabled);

/* Whether TF32 GEMMs are allowed. */
bool		pi_cuda_tf32(const PiCudaContext *ctx);

/* Uploads a finalized model's weights; NULL with err set on failure. */
PiCudaModel *pi_cuda_model_upload(PiCudaContext *ctx, const PiModel *model, PiError *err);

/* Device bytes the model's weights take. */
int64_t		pi_cuda_model_bytes(const PiCudaModel *dm);

/* Frees a device model (its executors must be freed first); NULL is allowed. */
void		pi_cuda_model_free(PiCudaModel *dm);

/* Creates an executor for up to max_batch rows per run; NULL with err set on failure. */
PiCudaExecutor *pi_cuda_executor_new(PiCudaModel *dm, int64_t max_batch, PiError *err);

/* Frees an executor; NULL is allowed. */
void		pi_cuda_executor_free(PiCudaExecutor *ex);

/* Largest batch this executor accepts. */
int64_t		pi_cuda_executor_max_batch(const PiCudaExecutor *ex);

/* Device bytes the executor's buffers take (activations, scratch, workspace). */
int64_t		pi_cuda_executor_bytes(const PiCudaExecutor *ex);

/* Pinned staging buffer where the caller writes rows of input i (raw values). */
float	   *pi_cuda_executor_input(PiCudaExecutor *ex, int input);

/*
 * Runs the model on the device over batch rows written to the inputs; waits
 * for the result.  PG_INFER_CUDA_FAULT makes a run fail on purpose
 * (src/cuda/cuda_faults.h).
 */
PiStatus	pi_cuda_executor_run(PiCudaExecutor *ex, int64_t batch, PiError *err);

/* Output o of the last run (pinned staging): batch rows of pi_value_row_elems() floats. */
const float *pi_cuda_executor_output(const PiCudaExecutor *ex, int output);

#ifdef __cplusplus
}
#endif

#endif							/* PI_CUDA_H */
