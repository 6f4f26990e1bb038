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
 * CUBLAS_COMPUTE_32F) unless TF32 is switched on for the context; a bf16 or
 * fp16 model's Dense, Gemm and MatMul weights are 16-bit (float32 sums);
 * the Dense, Gemm and MatMul nodes that the CPU engine runs in int8 run as
 * cuBLASLt int8 GEMMs with the CPU's quantization (int32 sums).
 */
#ifndef PI_CUDA_H
#define PI_CUDA_H

#include "pi_ir.h"

#ifdef __cplusplus
extern "C"
{
#endif

/* Bumped whenever this header changes. */
#define PI_CUDA_ABI_VERSION 6

/*
 * What the two sides of the dlopen boundary must agree on besides this
 * header: the pi_ir.h structs the library reads (sizeof and offsetof of
 * every member), the op numbering and the status numbering.  The library
 * reports its build's values (pi_cuda_abi_layout) and the loader compares
 * them with its own (pi_cuda_loader_check_layout, include/pi_cuda_loader.h).
 * A member added to one of these structs is added here too.
 */
#define PI_CUDA_LAYOUT(V) \
	V(PI_OP_COUNT) V(PI_MAX_RANK) V(PI_MAX_MODEL_IO) V(PI_ERR_DEVICE_LOST) V(sizeof(PiError)) \
	V(sizeof(PiValue)) V(offsetof(PiValue, name)) V(offsetof(PiValue, kind)) \
	V(offsetof(PiValue, rank)) V(offsetof(PiValue, dims)) V(offsetof(PiValue, numel)) \
	V(offsetof(PiValue, data)) V(offsetof(PiValue, producer)) V(offsetof(PiValue, use_count)) \
	V(offsetof(PiValue, last_use)) V(offsetof(PiValue, buffer)) V(offsetof(PiValue, is_output)) \
	V(offsetof(PiValue, shape_known)) V(sizeof(PiAttrs)) V(offsetof(PiAttrs, axis)) \
	V(offsetof(PiAttrs, keepdims)) V(offsetof(PiAttrs, trans_a)) V(offsetof(PiAttrs, trans_b)) \
	V(offsetof(PiAttrs, alpha)) V(offsetof(PiAttrs, beta)) V(offsetof(PiAttrs, gamma)) \
	V(offsetof(PiAttrs, epsilon)) V(offsetof(PiAttrs, clip_min)) V(offsetof(PiAttrs, clip_max)) \
	V(offsetof(PiAttrs, gelu_tanh)) V(offsetof(PiAttrs, shape_len)) V(offsetof(PiAttrs, shape)) \
	V(offsetof(PiAttrs, perm_len)) V(offsetof(PiAttrs, perm)) V(offsetof(PiAttrs, kernel_len)) \
	V(offsetof(PiAttrs, kernel)) V(offsetof(PiAttrs, strides_len)) \
	V(offsetof(PiAttrs, strides)) V(offsetof(PiAttrs, pads_len)) V(offsetof(PiAttrs, pads)) \
	V(offsetof(PiAttrs, dilations_len)) V(offsetof(PiAttrs, dilations)) \
	V(offsetof(PiAttrs, output_padding_len)) V(offsetof(PiAttrs, output_padding)) \
	V(offsetof(PiAttrs, auto_pad)) V(offsetof(PiAttrs, spatial_rank)) \
	V(offsetof(PiAttrs, group)) V(offsetof(PiAttrs, ceil_mode)) \
	V(offsetof(PiAttrs, count_include_pad)) V(offsetof(PiAttrs, cast_to)) \
	V(offsetof(PiAttrs, axes_len)) V(offsetof(PiAttrs, axes)) V(offsetof(PiAttrs, starts_len)) \
	V(offsetof(PiAttrs, starts)) V(offsetof(PiAttrs, ends_len)) V(offsetof(PiAttrs, ends)) \
	V(offsetof(PiAttrs, pad_amounts_len)) V(offsetof(PiAttrs, pad_amounts)) \
	V(offsetof(PiAttrs, pad_mode)) V(offsetof(PiAttrs, pad_value)) \
	V(offsetof(PiAttrs, steps_len)) V(offsetof(PiAttrs, steps)) V(offsetof(PiAttrs, k)) \
	V(offsetof(PiAttrs, largest)) V(offsetof(PiAttrs, sorted)) \
	V(offsetof(PiAttrs, output_index)) V(sizeof(PiNode)) V(offsetof(PiNode, name)) \
	V(offsetof(PiNode, op)) V(offsetof(PiNode, ninputs)) V(offsetof(PiNode, inputs)) \
	V(offsetof(PiNode, output)) V(offsetof(PiNode, attrs)) V(offsetof(PiNode, live)) \
	V(offsetof(PiNode, fused_into)) V(offsetof(PiNode, epilogue)) V(sizeof(PiEpilogue)) \
	V(sizeof(PiModel)) V(offsetof(PiModel, values)) V(offsetof(PiModel, nvalues)) \
	V(offsetof(PiModel, values_cap)) V(offsetof(PiModel, nodes)) V(offsetof(PiModel, nnodes)) \
	V(offsetof(PiModel, nodes_cap)) V(offsetof(PiModel, order)) V(offsetof(PiModel, norder)) \
	V(offsetof(PiModel, norder_fused)) \
	V(offsetof(PiModel, inputs)) V(offsetof(PiModel, ninputs)) V(offsetof(PiModel, outputs)) \
	V(offsetof(PiModel, noutputs)) V(offsetof(PiModel, names)) V(offsetof(PiModel, nbuffers)) \
	V(offsetof(PiModel, buffer_row_elems)) V(offsetof(PiModel, scratch_row_elems)) \
	V(offsetof(PiModel, input_scale)) V(offsetof(PiModel, input_shift)) \
	V(offsetof(PiModel, input_transform_len)) V(offsetof(PiModel, parameter_count)) \
	V(offsetof(PiModel, finalized)) V(offsetof(PiModel, weights_borrowed))


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

/*
 * The values of PI_CUDA_LAYOUT in this library's build, in order: the
 * first max of them into values; returns how many there are.
 */
int			pi_cuda_abi_layout(int64_t *values, int max);

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

/*
 * The same for a model that shares weights with base's model
 * (model->weights_base, pi_model_share_weights): those weights are not
 * uploaded again but read from base's device copies, so base must outlive
 * it; base NULL uploads every weight.
 */
PiCudaModel *pi_cuda_model_upload_over(PiCudaContext *ctx, const PiModel *model,
									   const PiCudaModel *base, PiError *err);

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
