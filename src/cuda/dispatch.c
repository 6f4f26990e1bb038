/*
 * dispatch.c
 *	  Picks the device implementation of each op: the same families as the
 *	  CPU engine's dispatch (src/engine/exec.c), every one on the GPU.
 */
#include "cuda_internal.h"

/* Reshape and friends: a device copy unless the plan ran them in place. */
static PiStatus
copy_node(const PiCudaArgs *a)
{
	size_t		bytes = a->batch * a->model->values[a->node->output].numel * sizeof(float);

	if (a->out == a->in[0])
		return PI_OK;
	return pi_gpu_check(cudaMemcpyAsync(a->out, a->in[0], bytes, cudaMemcpyDeviceToDevice,
										 a->stream), a->err, "copying a tensor on the device");
}

/* Runs one node on the device (src/cuda/dispatch.c). */
PiStatus
pi_gpu_run_node(const PiCudaArgs *a)
{
	/* every op listed, no default: -Wswitch names an op added without a device kernel */
	switch (a->node->op)
	{
		case PI_OP_RELU:
		case PI_OP_LEAKY_RELU:
		case PI_OP_SIGMOID:
		case PI_OP_TANH:
		case PI_OP_GELU:
		case PI_OP_EXP:
		case PI_OP_LOG:
		case PI_OP_SQRT:
		case PI_OP_NEG:
		case PI_OP_ABS:
		case PI_OP_RECIPROCAL:
		case PI_OP_ERF:
		case PI_OP_SOFTPLUS:
		case PI_OP_HARD_SIGMOID:
		case PI_OP_ELU:
		case PI_OP_SELU:
		case PI_OP_CLIP:
		case PI_OP_CAST:
			return pi_gpu_launch_unary(a);
		case PI_OP_DENSE:
		case PI_OP_GEMM:
			return pi_gpu_dense(a);
		case PI_OP_MATMUL:
			return pi_gpu_matmul(a);
		case PI_OP_ADD:
		case PI_OP_SUB:
		case PI_OP_MUL:
		case PI_OP_DIV:
		case PI_OP_POW:
		case PI_OP_PRELU:
		case PI_OP_EQUAL:
		case PI_OP_LESS:
		case PI_OP_GREATER:
		case PI_OP_MIN:
		case PI_OP_MAX:
			return pi_gpu_launch_broadcast(a, 2);
		case PI_OP_WHERE:
			return pi_gpu_launch_broadcast(a, 3);
		case PI_OP_EXPAND:
			return pi_gpu_launch_broadcast(a, 1);
		case PI_OP_LAYER_NORM:
			return pi_gpu_launch_layer_norm(a);
		case PI_OP_REDUCE_MEAN:
		case PI_OP_REDUCE_SUM:
		case PI_OP_REDUCE_MAX:
			return pi_gpu_launch_reduce(a);
		case PI_OP_SLICE:
			return pi_gpu_launch_slice(a);
		case PI_OP_PAD:
			return pi_gpu_launch_pad(a);
		case PI_OP_GATHER:
			return pi_gpu_launch_gather(a);
		case PI_OP_TOPK:
			return pi_gpu_launch_topk(a);
		case PI_OP_CONV_TRANSPOSE:
			return pi_gpu_conv_transpose(a);
		case PI_OP_SOFTMAX:
		case PI_OP_LOG_SOFTMAX:
			return pi_gpu_launch_softmax(a);
		case PI_OP_ARGMAX:
			return pi_gpu_launch_argmax(a);
		case PI_OP_RESHAPE:
		case PI_OP_FLATTEN:
		case PI_OP_IDENTITY:
		case PI_OP_DROPOUT:
		case PI_OP_SQUEEZE:
		case PI_OP_UNSQUEEZE:
			return copy_node(a);
		case PI_OP_TRANSPOSE:
			return pi_gpu_launch_transpose(a);
		case PI_OP_CONCAT:
			return pi_gpu_launch_concat(a);
		case PI_OP_CONV2D:
			return pi_gpu_conv2d(a);
		case PI_OP_MAX_POOL2D:
			return pi_gpu_launch_max_pool(a);
		case PI_OP_AVERAGE_POOL2D:
			return pi_gpu_launch_average_pool(a);
		case PI_OP_GLOBAL_AVERAGE_POOL:
			return pi_gpu_launch_global_average_pool(a);
		case PI_OP_BATCH_NORM:
			return pi_gpu_launch_batch_norm(a);
		case PI_OP_TREE_ENSEMBLE:
		case PI_OP_POST_TRANSFORM:
		case PI_OP_LOOKUP:
		case PI_OP_NORMALIZE:
		case PI_OP_QUANTIZE:
		case PI_OP_DEQUANTIZE:
			/* CPU only: pi_cuda_model_upload refuses models with these */
		case PI_OP_COUNT:
			break;
	}
	return pi_fail(a->err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has no device implementation",
				   a->node->name, pi_op_name(a->node->op));
}
