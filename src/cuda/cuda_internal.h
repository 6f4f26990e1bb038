/*
 * cuda_internal.h
 *	  Shared structures of the CUDA device engine (src/cuda): the objects
 *	  behind pi_cuda.h, the per-node view the kernel launchers read, error
 *	  helpers and the launchers of the kernel files (*.cu).
 *
 * Included from C (the host files) and from CUDA C++ (the kernel files);
 * never installed, never seen by pg_infer.so.
 */
#ifndef PI_CUDA_INTERNAL_H
#define PI_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C"
{
#endif

#include "cuda_faults.h"
#include "graph_cache.h"
#include "int8_plan.h"
#include "pi_cuda.h"

/* cuBLAS workspace per lane (the size NVIDIA recommends for Hopper). */
#define PI_CUDA_BLAS_WORKSPACE ((size_t) 32 << 20)

/*
 * Floats of im2col/col2im scratch a lane aims to stay under (32 MiB): room
 * for the columns of enough samples that each strided-batched GEMM is large.
 */
#define PI_CUDA_SCRATCH_FLOATS ((int64_t) 1 << 23)

/* Threads per block of the elementwise kernels. */
#define PI_CUDA_THREADS 256

/*
 * Pipelining: a batch of more than one chunk runs chunk by chunk on
 * alternating lanes, so that one chunk's copies overlap another's kernels.
 * A chunk is max_batch / PI_CUDA_CHUNKS rows, at least PI_CUDA_MIN_CHUNK_ROWS.
 */
#define PI_CUDA_LANES 2
#define PI_CUDA_CHUNKS 8
#define PI_CUDA_MIN_CHUNK_ROWS 64

struct PiCudaContext
{
	int			device;
	bool		tf32;
	char		name[256];		/* cudaDeviceProp's, read once */
	int			compute_major;
	int			compute_minor;
};

struct PiCudaModel
{
	PiCudaContext *ctx;
	const PiModel *model;
	float	  **weights;		/* per value: device copy of a weight (in block,
								 * or a base model's), else NULL */
	bool	   *half_weights;	/* per value: the copy is 16-bit (half_type) */
	cudaDataType_t half_type;	/* CUDA_R_16BF (bf16 model) or CUDA_R_16F (fp16) */
	int64_t		half_act_elems; /* per row: the widest activation a 16-bit GEMM reads */
	PiGpuInt8Shape *int8_shapes;	/* per node: its int8 geometry (int8_plan.h) */
	void	  **int8_weights;	/* per node: its int8 weight block on the device, or NULL */
	int64_t		int8_item_bytes;	/* per batch row: the most int8 scratch a node needs */
	float	   *input_scale;	/* device copies of the input transform */
	float	   *input_shift;
	void	   *block;			/* one allocation holding all of the above */
	int64_t		bytes;
};

/*
 * Where Gather (embedding form) records an index outside its table: the
 * first bad position of the batch in the high 32 bits and the float found
 * there in the low 32, so that one atomicMin keeps both; ~0 when none.
 */
#define PI_CUDA_NO_INDEX_ERROR (~0ULL)

/* What one chunk in flight needs: a stream and its own planned buffers. */
typedef struct PiCudaLane
{
	cudaStream_t stream;
	cublasHandle_t blas;
	cudaEvent_t done;			/* lanes after the first: their chunks are done */
	float	  **buffers;		/* device activation buffers of the plan */
	float	   *scratch;		/* im2col/col2im for scratch_samples samples */
	int64_t		scratch_samples;
	void	   *workspace;		/* cuBLAS workspace (fixed: graph capture) */
	const void **gemm_ptrs;		/* device pointer arrays of batched MatMuls */
	void	   *half_acts;		/* activations rounded for 16-bit GEMMs */
	cublasLtHandle_t lt;		/* int8 GEMMs */
	void	   *int8_scratch;	/* int8 codes, sums, row scales (int8_item_bytes a row) */
} PiCudaLane;

struct PiCudaExecutor
{
	PiCudaModel *dm;
	int64_t		max_batch;
	int64_t		chunk_rows;		/* rows per chunk: the lanes' buffer size */
	int			nlanes;
	PiCudaLane	lanes[PI_CUDA_LANES];
	cudaEvent_t forked;			/* the first lane's start, for the others to wait on */
	bool		checks_indices; /* the model has an embedding Gather */
	unsigned long long *index_errors;	/* device, one per position in the order */
	unsigned long long *index_errors_host;	/* pinned copy read after a run */
	float	  **in_stage;		/* pinned, per graph input */
	float	  **out_stage;		/* pinned, per graph output */
	PiGraphCache graphs;		/* which buckets have a graph, in which slot */
	cudaGraphExec_t graph_exec[PI_GRAPH_SLOTS];
	bool		capture_failure_logged;
	int64_t		device_bytes;
};

/* The device view of one node for its launcher: resolved buffers and shapes. */
typedef struct PiCudaArgs
{
	const PiModel *model;
	const PiNode *node;
	int64_t		batch;			/* rows of this chunk */
	int64_t		row0;			/* the chunk's first row in the whole batch */
	const float *in[8];			/* device data (weights or activations) */
	int64_t		in_dims[8][PI_MAX_RANK];	/* concrete dims, batch filled in */
	int			in_rank[8];
	float	   *out;
	int64_t		out_dims[PI_MAX_RANK];
	int			out_rank;
	float	   *scratch;
	int64_t		scratch_samples;
	const void **gemm_ptrs;
	cudaDataType_t weight_type; /* of in[1]: CUDA_R_32F, or a 16-bit weight's type */
	void	   *half_acts;		/* room for in[0] rounded to weight_type */
	const PiGpuInt8Shape *int8_shape;	/* the node's int8 geometry (rows NONE: float32) */
	const void *int8_weights;	/* its int8 weight block */
	void	   *int8_scratch;
	cublasLtHandle_t lt;
	void	   *workspace;		/* the lane's cuBLAS workspace, PI_CUDA_BLAS_WORKSPACE bytes */
	unsigned long long *index_error;
	cudaStream_t stream;
	cublasHandle_t blas;
	bool		tf32;
	PiError    *err;
} PiCudaArgs;

/* Turns a CUDA runtime error into a PiStatus (PI_OK for cudaSuccess). */
PiStatus	pi_gpu_check(cudaError_t e, PiError *err, const char *what);

/* Turns a cuBLAS status into a PiStatus (PI_OK for success). */
PiStatus	pi_gpu_check_blas(cublasStatus_t s, PiError *err, const char *what);

/* Checks the launch of a node's kernel (names the node on failure). */
PiStatus	pi_gpu_launched(const PiCudaArgs *a, const char *kernel);

/* Clears an error an earlier call left behind; PI_ERR_DEVICE_LOST when it is sticky. */
PiStatus	pi_gpu_clear_stale_error(PiError *err);

/* Blocks for n elements of a grid-stride kernel. */
unsigned int pi_gpu_blocks(int64_t n);

/* Runs one node on the device (src/cuda/dispatch.c). */
PiStatus	pi_gpu_run_node(const PiCudaArgs *a);

/* Pointer-array entries a MatMul node needs at this batch (0 when it needs none). */
int64_t		pi_gpu_matmul_ptrs(const PiModel *model, const PiNode *node, int64_t batch);

/*
 * Row-major C = alpha op(A) op(B) + beta C for count matrices at the given
 * element strides (src/cuda/gemm.c).
 */
PiStatus	pi_gpu_gemm(const PiCudaArgs *a, bool trans_a, bool trans_b,
						 int64_t m, int64_t n, int64_t k, float alpha,
						 const float *A, int64_t lda, int64_t stride_a,
						 const float *B, int64_t ldb, int64_t stride_b,
						 float beta, float *C, int64_t ldc, int64_t stride_c,
						 int64_t count);

/* Dense, Gemm and MatMul (src/cuda/gemm.c). */
PiStatus	pi_gpu_dense(const PiCudaArgs *a);

/* Rounds count floats of x to 16 bits of type (CUDA_R_16BF or CUDA_R_16F) into out. */
PiStatus	pi_gpu_launch_to_half(const PiCudaArgs *a, const float *x, int64_t count, void *out,
								   cudaDataType_t type);
PiStatus	pi_gpu_matmul(const PiCudaArgs *a);

/*
 * Dense, Gemm and MatMul of rows activation rows in int8 (src/cuda/gemm_int8.c):
 * x's rows quantized, multiplied by the int8 weight, y written in float32.
 */
PiStatus	pi_gpu_int8_gemm(const PiCudaArgs *a, const float *x, int64_t rows, float *y);

/* The int8 kernels (src/cuda/kernels_int8.cu). */
PiStatus	pi_gpu_launch_int8_quantize(const PiCudaArgs *a, const float *x, int64_t rows,
										const PiGpuInt8Shape *s, int8_t *codes, float *xs,
										int32_t *zp);
PiStatus	pi_gpu_launch_int8_gemm(const PiCudaArgs *a, const int8_t *codes, int64_t rows,
									const PiGpuInt8Shape *s, int32_t *sums);
PiStatus	pi_gpu_launch_int8_output(const PiCudaArgs *a, const int32_t *sums, int64_t rows,
									  const PiGpuInt8Shape *s, const float *xs, const int32_t *zp,
									  float *y);

/* Conv2D and ConvTranspose (src/cuda/conv.c). */
PiStatus	pi_gpu_conv2d(const PiCudaArgs *a);
PiStatus	pi_gpu_conv_transpose(const PiCudaArgs *a);

/* Kernel launchers (src/cuda/kernels_*.cu). */
PiStatus	pi_gpu_launch_unary(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_broadcast(const PiCudaArgs *a, int ninputs);
PiStatus	pi_gpu_launch_input_transform(float *x, int64_t batch, int64_t row,
										   const float *scale, const float *shift,
										   int64_t len, cudaStream_t stream, PiError *err);
PiStatus	pi_gpu_launch_batch_norm(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_channel_fill(const PiCudaArgs *a, float *y, int64_t count,
										int64_t channels, int64_t inner, const float *values);
PiStatus	pi_gpu_launch_matmul_ptrs(const PiCudaArgs *a, const int64_t *sa,
									   const int64_t *sb, int lead, int64_t mats,
									   int64_t rows, int64_t cols, int64_t k);
PiStatus	pi_gpu_launch_im2col(const PiCudaArgs *a, const float *x, int64_t samples,
								  int64_t group);
PiStatus	pi_gpu_launch_col2im(const PiCudaArgs *a, float *y, int64_t samples,
								  int64_t group);
PiStatus	pi_gpu_launch_max_pool(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_average_pool(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_global_average_pool(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_softmax(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_argmax(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_layer_norm(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_reduce(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_topk(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_transpose(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_concat(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_slice(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_pad(const PiCudaArgs *a);
PiStatus	pi_gpu_launch_gather(const PiCudaArgs *a);

/* A kernel that stores through an invalid address (PG_INFER_CUDA_FAULT). */
void		pi_gpu_launch_illegal_store(cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif							/* PI_CUDA_INTERNAL_H */
