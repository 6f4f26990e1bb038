/*
 * gemm.c
 *	  Dense, Gemm and MatMul on cuBLAS.  The engine's tensors are row-major
 *	  and cuBLAS is column-major: a row-major C = A B is computed as the
 *	  column-major C^T = B^T A^T, which reads the same bytes.  FP32 with
 *	  CUBLAS_COMPUTE_32F unless the context allows TF32.  A weight uploaded
 *	  in 16 bits (a bf16 or fp16 model, src/cuda/model.c) multiplies the
 *	  activation rounded to the same type, summed in float32
 *	  (CUBLAS_COMPUTE_32F), the result float32.  A node that runs in int8
 *	  (int8_plan.h) goes to src/cuda/gemm_int8.c.
 */
#include <stdio.h>

#include "cuda_internal.h"

/* Whether every value fits cuBLAS's int arguments. */
static bool
fits_int(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc, int64_t count)
{
	return m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX && lda <= INT32_MAX &&
		ldb <= INT32_MAX && ldc <= INT32_MAX && count <= INT32_MAX;
}

/*
 * Row-major C = alpha op(A) op(B) + beta C for count matrices at the given
 * element strides (src/cuda/gemm.c).
 */
PiStatus
pi_gpu_gemm(const PiCudaArgs *a, bool trans_a, bool trans_b,
			 int64_t m, int64_t n, int64_t k, float alpha,
			 const float *A, int64_t lda, int64_t stride_a,
			 const float *B, int64_t ldb, int64_t stride_b,
			 float beta, float *C, int64_t ldc, int64_t stride_c,
			 int64_t count)
{
	cublasComputeType_t compute = a->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
	cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasStatus_t s;
	char		what[PI_MAX_NAME + 128];

	if (!fits_int(m, n, k, lda, ldb, ldc, count))
		return pi_fail(a->err, PI_ERR_LIMIT, "node \"%s\" (%s): a %lld x %lld x %lld product exceeds cuBLAS's limits",
					   a->node->name, pi_op_name(a->node->op), (long long) m, (long long) n, (long long) k);
	if (count == 1)
		s = cublasGemmEx(a->blas, op_b, op_a, (int) n, (int) m, (int) k, &alpha,
						 B, CUDA_R_32F, (int) ldb, A, CUDA_R_32F, (int) lda, &beta,
						 C, CUDA_R_32F, (int) ldc, compute, CUBLAS_GEMM_DEFAULT);
	else
		s = cublasGemmStridedBatchedEx(a->blas, op_b, op_a, (int) n, (int) m, (int) k, &alpha,
									   B, CUDA_R_32F, (int) ldb, stride_b,
									   A, CUDA_R_32F, (int) lda, stride_a, &beta,
									   C, CUDA_R_32F, (int) ldc, stride_c, (int) count,
									   compute, CUBLAS_GEMM_DEFAULT);
	if (s == CUBLAS_STATUS_SUCCESS)
		return PI_OK;
	snprintf(what, sizeof(what), "node \"%s\" (%s): cuBLAS GEMM %lld x %lld x %lld",
			 a->node->name, pi_op_name(a->node->op), (long long) m, (long long) n, (long long) k);
	return pi_gpu_check_blas(s, a->err, what);
}

/*
 * Row-major C[m,n] = alpha X[m,k] op(W) + beta C for a 16-bit weight W
 * (a->weight_type, [n,k] when trans_w else [k,n]): X is rounded to the
 * weight's type first, into a->half_acts.
 */
static PiStatus
half_gemm(const PiCudaArgs *a, bool trans_w, int64_t m, int64_t n, int64_t k, float alpha,
		  const float *X, const void *W, int64_t ldw, float beta, float *C, int64_t ldc)
{
	cublasStatus_t s;
	PiStatus	st;
	char		what[PI_MAX_NAME + 128];

	if (!fits_int(m, n, k, k, ldw, ldc, 1))
		return pi_fail(a->err, PI_ERR_LIMIT, "node \"%s\" (%s): a %lld x %lld x %lld product exceeds cuBLAS's limits",
					   a->node->name, pi_op_name(a->node->op), (long long) m, (long long) n, (long long) k);
	if (a->half_acts == NULL)
		return pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (%s) has no room for its 16-bit activations",
					   a->node->name, pi_op_name(a->node->op));
	if ((st = pi_gpu_launch_to_half(a, X, m * k, a->half_acts, a->weight_type)) != PI_OK)
		return st;
	s = cublasGemmEx(a->blas, trans_w ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, (int) n, (int) m, (int) k,
					 &alpha, W, a->weight_type, (int) ldw, a->half_acts, a->weight_type, (int) k, &beta,
					 C, CUDA_R_32F, (int) ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
	if (s == CUBLAS_STATUS_SUCCESS)
		return PI_OK;
	snprintf(what, sizeof(what), "node \"%s\" (%s): cuBLAS 16-bit GEMM %lld x %lld x %lld",
			 a->node->name, pi_op_name(a->node->op), (long long) m, (long long) n, (long long) k);
	return pi_gpu_check_blas(s, a->err, what);
}

/* Dense and Gemm: out[N,M] = alpha * X[N,K] W + beta * bias. */
PiStatus
pi_gpu_dense(const PiCudaArgs *a)
{
	const PiNode *n = a->node;
	int64_t		rows = a->batch;
	int64_t		k = a->in_dims[0][1];
	int64_t		mdim = a->out_dims[1];
	bool		w_is_mk = (n->op == PI_OP_DENSE) || n->attrs.trans_b;
	float		alpha = (n->op == PI_OP_GEMM) ? n->attrs.alpha : 1.0f;
	float		beta = (n->op == PI_OP_GEMM) ? n->attrs.beta : 1.0f;
	PiStatus	st;

	if (a->int8_shape != NULL && a->int8_shape->rows != PI_GPU_INT8_NONE)
		return pi_gpu_int8_gemm(a, a->in[0], rows, a->out);
	if (n->ninputs == 3)
	{
		if ((st = pi_gpu_launch_channel_fill(a, a->out, rows * mdim, mdim, 1, a->in[2])) != PI_OK)
			return st;
	}
	else
		beta = 0.0f;
	if (a->weight_type != CUDA_R_32F)
		return half_gemm(a, w_is_mk, rows, mdim, k, alpha, a->in[0], a->in[1], w_is_mk ? k : mdim,
						 beta, a->out, mdim);
	return pi_gpu_gemm(a, false, w_is_mk, rows, mdim, k, alpha,
						a->in[0], k, 0, a->in[1], w_is_mk ? k : mdim, 0,
						beta, a->out, mdim, 0, 1);
}

/* The MatMul geometry shared by the pointer-array sizing and the run. */
typedef struct MatMulShape
{
	int64_t		k,
				rows,
				cols;
	int			as,
				bs,
				lead;
	bool		weight_rhs;		/* activation times a weight [K,M] or [K]: one GEMM */
} MatMulShape;

/* Reads MatMul's geometry from its operands' ranks and dims. */
static MatMulShape
matmul_shape(const PiModel *model, const PiNode *node, int ar, const int64_t *ad,
			 int br, const int64_t *bd)
{
	MatMulShape s;

	s.k = ad[ar - 1];
	s.rows = ar > 1 ? ad[ar - 2] : 1;
	s.cols = br > 1 ? bd[br - 1] : 1;
	s.as = ar > 2 ? ar - 2 : 0;
	s.bs = br > 2 ? br - 2 : 0;
	s.lead = s.as > s.bs ? s.as : s.bs;
	s.weight_rhs = model->values[node->inputs[1]].kind == PI_VALUE_WEIGHT &&
		model->values[node->inputs[0]].kind != PI_VALUE_WEIGHT && br <= 2;
	return s;
}

/* Pointer-array entries a MatMul node needs at this batch (0 when it needs none). */
int64_t
pi_gpu_matmul_ptrs(const PiModel *model, const PiNode *node, int64_t batch)
{
	const PiValue *x = &model->values[node->inputs[0]];
	const PiValue *y = &model->values[node->inputs[1]];
	const PiValue *out = &model->values[node->output];
	MatMulShape s;
	int64_t		mats = 1;

	if (node->op != PI_OP_MATMUL)
		return 0;
	s = matmul_shape(model, node, x->rank, x->dims, y->rank, y->dims);
	if (s.weight_rhs)
		return 0;
	for (int i = 0; i < s.lead; i++)
		mats *= (i == 0) ? batch : out->dims[i];
	return 3 * mats;
}

/*
 * MatMul: an activation times a weight [K,M] or [K] is one GEMM over all
 * rows; otherwise one batched GEMM over the broadcast stack dimensions,
 * its pointer arrays computed on the device.
 */
PiStatus
pi_gpu_matmul(const PiCudaArgs *a)
{
	int			ar = a->in_rank[0],
				br = a->in_rank[1];
	const int64_t *ad = a->in_dims[0];
	MatMulShape s = matmul_shape(a->model, a->node, ar, ad, br, a->in_dims[1]);
	int64_t		sa[PI_MAX_RANK],
				sb[PI_MAX_RANK];
	int64_t		mats = 1;
	cublasStatus_t st;
	PiStatus	ps;
	float		one = 1.0f,
				zero = 0.0f;
	const void *const *ptrs = a->gemm_ptrs;
	char		what[PI_MAX_NAME + 128];

	if (s.weight_rhs)
	{
		int64_t		all_rows = 1;

		for (int i = 0; i < ar - 1; i++)
			all_rows *= ad[i];
		if (a->int8_shape != NULL && a->int8_shape->rows != PI_GPU_INT8_NONE)
			return pi_gpu_int8_gemm(a, a->in[0], all_rows, a->out);
		if (a->weight_type != CUDA_R_32F)
			return half_gemm(a, false, all_rows, s.cols, s.k, 1.0f, a->in[0], a->in[1], s.cols,
							 0.0f, a->out, s.cols);
		return pi_gpu_gemm(a, false, false, all_rows, s.cols, s.k, 1.0f,
							a->in[0], s.k, 0, a->in[1], s.cols, 0, 0.0f, a->out, s.cols, 0, 1);
	}
	pi_broadcast_strides(ad, s.as, s.lead, sa);
	pi_broadcast_strides(a->in_dims[1], s.bs, s.lead, sb);
	for (int i = 0; i < s.lead; i++)
		mats *= a->out_dims[i];
	if (!fits_int(s.rows, s.cols, s.k, s.k, s.cols, s.cols, mats))
		return pi_fail(a->err, PI_ERR_LIMIT, "node \"%s\" (MatMul): %lld products of %lld x %lld x %lld exceed cuBLAS's limits",
					   a->node->name, (long long) mats, (long long) s.rows, (long long) s.cols,
					   (long long) s.k);
	if ((ps = pi_gpu_launch_matmul_ptrs(a, sa, sb, s.lead, mats, s.rows, s.cols, s.k)) != PI_OK)
		return ps;
	st = cublasGemmBatchedEx(a->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int) s.cols, (int) s.rows, (int) s.k,
							 &one, ptrs + mats, CUDA_R_32F, (int) s.cols, ptrs, CUDA_R_32F, (int) s.k,
							 &zero, (void *const *) (ptrs + 2 * mats), CUDA_R_32F, (int) s.cols,
							 (int) mats,
							 a->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
							 CUBLAS_GEMM_DEFAULT);
	if (st == CUBLAS_STATUS_SUCCESS)
		return PI_OK;
	snprintf(what, sizeof(what), "node \"%s\" (MatMul): cuBLAS batched GEMM of %lld products",
			 a->node->name, (long long) mats);
	return pi_gpu_check_blas(st, a->err, what);
}
