/*
 * pi_engine.h
 *	  The CPU engine: runs a finalized PiModel over a batch of rows.
 *
 * An executor owns the model's weights packed for the kernels and the
 * activation buffers planned for a maximum batch size (resizable); it is
 * used by one thread at a time.  The model must outlive its executors.  Plain C, no PostgreSQL headers.
 */
#ifndef PI_ENGINE_H
#define PI_ENGINE_H

#include "pi_ir.h"

typedef struct PiExecutor PiExecutor;

/* Runtime view of one node for a kernel: resolved buffers and shapes. */
typedef struct PiKernelArgs
{
	const PiModel *model;
	const PiNode *node;
	int64_t		batch;			/* rows of this pass */
	int64_t		row0;			/* the pass's first row within the run */
	const float *in[8];			/* input data (weights or activations) */
	int64_t		in_dims[8][PI_MAX_RANK];	/* concrete dims, batch filled in */
	int			in_rank[8];
	float	   *out;
	int64_t		out_dims[PI_MAX_RANK];
	int			out_rank;
	float	   *scratch;		/* the executor's scratch (src/engine/cpu.h sizes it) */
	const float *packed;		/* the node's weights as the executor packed them, or NULL */
	const PiEpilogue *epi;		/* what fusion folded into the node, or NULL */
	const float *residual;		/* epi's residual, bound; NULL without one */
	PiError    *err;			/* a kernel that fails (Gather's index) records it here */
} PiKernelArgs;

/* Creates an executor for up to max_batch rows per run, packing the weights its kernels read packed. */
PiExecutor *pi_executor_new(const PiModel *model, int64_t max_batch, PiError *err);

/*
 * Creates an executor for up to max_batch rows that reads the weights owner
 * packed instead of packing its own: owner must outlive it, and runs of the
 * two may go on at once (packed weights are only read).
 */
PiExecutor *pi_executor_new_sharing(const PiExecutor *owner, int64_t max_batch, PiError *err);

/*
 * Creates an executor of model for up to max_batch rows that reads base's
 * packed forms of the weights the two models share (the same data, as
 * pi_model_share_weights leaves them: a text model at another length) and
 * packs the rest: base must outlive it.
 */
PiExecutor *pi_executor_new_over(const PiModel *model, int64_t max_batch, const PiExecutor *base,
								 PiError *err);

/* Bytes of packed weights an executor reads from the one it was made over (0: none). */
int64_t		pi_executor_borrowed_bytes(const PiExecutor *ex);

/*
 * Reallocates the executor's activation buffers for up to max_batch rows,
 * keeping its packed weights; on failure it runs nothing until a resize
 * succeeds.  pi_executor_bytes(model, max_batch) is still its size.
 */
PiStatus	pi_executor_resize(PiExecutor *ex, int64_t max_batch, PiError *err);

/*
 * Bytes pi_executor_new allocates for max_batch rows: fixed + per_row *
 * max_batch; false when that overflows.
 */
bool		pi_executor_bytes(const PiModel *model, int64_t max_batch, int64_t *bytes);

/*
 * Bytes of the weights pi_executor_new packs (part of pi_executor_bytes, and
 * all that pi_executor_new_sharing does not allocate); false on overflow.
 */
bool		pi_executor_packed_bytes(const PiModel *model, int64_t *bytes);

/*
 * Called between nodes when set (the server installs one that raises on a
 * pending cancel).  It may not return: kernels hold no allocations or other
 * resources across it, so leaving the run there leaks nothing.  A kernel
 * that runs long calls pi_check_interrupts() too, between chunks of work.
 */
extern void (*pi_interrupt_hook) (void);

static inline void
pi_check_interrupts(void)
{
	if (pi_interrupt_hook)
		pi_interrupt_hook();
}

/* Frees an executor; NULL is allowed. */
void		pi_executor_free(PiExecutor *ex);

/* Largest batch this executor accepts. */
int64_t		pi_executor_max_batch(const PiExecutor *ex);

/* Where the caller writes rows of input i (row-major, raw values). */
float	   *pi_executor_input(PiExecutor *ex, int input);

/* Runs the model over batch rows already written to the inputs. */
PiStatus	pi_executor_run(PiExecutor *ex, int64_t batch, PiError *err);

/* Output o of the last run: batch rows of pi_value_row_elems() floats each. */
const float *pi_executor_output(const PiExecutor *ex, int output);

/* Whether runs use the fused epilogues (the default) or every node as planned. */
void		pi_executor_set_fusion(PiExecutor *ex, bool fused);

/*
 * Profiles later runs: each node's kernel time (CPU seconds of the running
 * thread, summed over runs and passes) is added to node_seconds[node], an
 * array of the model's nnodes entries that the caller owns and zeroes.  A
 * node fused into another's epilogue takes no time of its own.  NULL stops.
 */
void		pi_executor_set_profile(PiExecutor *ex, double *node_seconds);

/* The instruction set of the CPU kernels: "avx512", "avx2" or "generic". */
const char *pi_engine_cpu_name(void);

/*
 * How a stored version of the model, at its precision, keeps each value's
 * weight (nvalues entries, malloc'd; NULL when out of memory): reduced for
 * the matrices that the precision's path of Dense, Gemm and MatMul reads
 * and nothing else does, as given otherwise (src/engine/weight_forms.c).
 */
PiWeightForm *pi_model_weight_forms(const PiModel *model);

/* The instruction set of the int8 kernels (models of precision int8): "vnni" or "generic". */
const char *pi_engine_int8_name(void);

/* The kernels of bf16 models' Dense, Gemm and MatMul: "avx512bf16", or "float32" on a CPU without. */
const char *pi_engine_bf16_name(void);

/* Kernel entry points, one per op family (src/engine/op_*.c). */
void		pi_kernel_gemm(const PiKernelArgs *a);
void		pi_kernel_matmul(const PiKernelArgs *a);
void		pi_kernel_binary(const PiKernelArgs *a);
void		pi_kernel_unary(const PiKernelArgs *a);
void		pi_kernel_softmax(const PiKernelArgs *a);
void		pi_kernel_argmax(const PiKernelArgs *a);
void		pi_kernel_copy(const PiKernelArgs *a);
void		pi_kernel_transpose(const PiKernelArgs *a);
void		pi_kernel_concat(const PiKernelArgs *a);
void		pi_kernel_conv2d(const PiKernelArgs *a);
void		pi_kernel_max_pool2d(const PiKernelArgs *a);
void		pi_kernel_average_pool2d(const PiKernelArgs *a);
void		pi_kernel_global_average_pool(const PiKernelArgs *a);
void		pi_kernel_batch_norm(const PiKernelArgs *a);
void		pi_kernel_where(const PiKernelArgs *a);
void		pi_kernel_expand(const PiKernelArgs *a);
void		pi_kernel_layer_norm(const PiKernelArgs *a);
void		pi_kernel_reduce(const PiKernelArgs *a);
void		pi_kernel_slice(const PiKernelArgs *a);
void		pi_kernel_pad(const PiKernelArgs *a);
void		pi_kernel_gather(const PiKernelArgs *a);
void		pi_kernel_topk(const PiKernelArgs *a);
void		pi_kernel_conv_transpose(const PiKernelArgs *a);
void		pi_kernel_tree_ensemble(const PiKernelArgs *a);
void		pi_kernel_post_transform(const PiKernelArgs *a);
void		pi_kernel_lookup(const PiKernelArgs *a);
void		pi_kernel_normalize(const PiKernelArgs *a);

/* Scratch floats a TreeEnsemble node needs (src/engine/op_tree.c). */
int64_t		pi_tree_ensemble_scratch_elems(const PiModel *model, const PiNode *node);

/* Per-row scratch floats of a Conv2D's per-sample im2col, the plan the CUDA engine follows (0 for other ops). */
int64_t		pi_conv2d_scratch_row_elems(const PiModel *model, const PiNode *node);

/* Sizes of a Conv2D or ConvTranspose over [N,C,H,W] ([N,C,L] read as H = 1). */
typedef struct PiConvGeometry
{
	int64_t		c,				/* input channels, height, width */
				h,
				w;
	int64_t		m,				/* output channels, height, width */
				oh,
				ow;
	int64_t		groups,			/* groups; input and output channels per group */
				cg,
				mg;
	int64_t		taps;			/* kernel height x width */
} PiConvGeometry;

/* The geometry of a Conv2D or ConvTranspose node with these input and output dims. */
PiConvGeometry pi_conv_geometry(const PiNode *node, const int64_t *in_dims, int in_rank,
								const int64_t *out_dims, int out_rank);

/* Whether a Conv2D reads its input directly as the GEMM's right operand (1x1, stride 1, no pads). */
bool		pi_conv_is_pointwise(const PiAttrs *at);

/* Scratch floats a ConvTranspose node needs per sample (0 for other ops). */
int64_t		pi_conv_transpose_scratch_elems(const PiModel *model, const PiNode *node);

/* Scratch floats per row of any node in the model's plan (im2col, col2im, TopK's selection). */
int64_t		pi_node_scratch_elems(const PiModel *model, const PiNode *node);

/*
 * Slice's first element, step and length along each axis of an input of
 * these dims (ONNX clamping; the batch axis is taken whole).  Returns false
 * when an axis is named twice or out of range.
 */
bool		pi_slice_bounds(const PiAttrs *attrs, int rank, const int64_t *dims,
							int64_t *start, int64_t *step, int64_t *count);

/* Output spatial size of a window op along one axis; -1 if empty. */
int64_t		pi_window_out_size(int64_t in, int kernel, int stride, int pad_begin,
							   int pad_end, int dilation, int ceil_mode);

#endif							/* PI_ENGINE_H */
