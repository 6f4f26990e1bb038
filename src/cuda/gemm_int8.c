/*
 * gemm_int8.c
 *	  Dense, Gemm and MatMul of an int8 node on the device (int8_plan.h): the
 *	  activation rows quantized into the lane's scratch, one cuBLASLt int8
 *	  GEMM (CUDA_R_8I operands, CUBLAS_COMPUTE_32I, int32 sums) in the "TN"
 *	  form with plain column-major operands, then the dequantizing epilogue
 *	  (scales, zero-point fix, bias) into the node's float32 output.  The
 *	  activation and residual that the CPU engine fuses run after it as their
 *	  own nodes, as on the float32 path.  Where cuBLASLt offers no algorithm
 *	  for a shape, our own int8 kernel computes the same sums.
 */
#include <stdio.h>

#include "cuda_internal.h"

/* Whether the first "no cuBLASLt algorithm" has been written to stderr. */
static bool no_algorithm_logged;

/*
 * The column-major int32 C[mp, rows] = A^T B by cuBLASLt, A the weight's
 * codes (kp x mp), B the rows' codes (kp x rows); *ran false (and PI_OK)
 * when cuBLASLt has no algorithm for it.
 */
static PiStatus
lt_matmul(const PiCudaArgs *a, const PiGpuInt8Shape *s, const int8_t *A, const int8_t *B,
		  int64_t rows, int32_t *C, bool *ran)
{
	cublasLtMatmulDesc_t op = NULL;
	cublasLtMatrixLayout_t la = NULL,
				lb = NULL,
				lc = NULL;
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t found;
	cublasOperation_t trans = CUBLAS_OP_T;
	size_t		workspace = PI_CUDA_BLAS_WORKSPACE;
	int32_t		one = 1,
				zero = 0;
	int			count = 0;
	cublasStatus_t st;
	PiStatus	ps = PI_OK;
	char		what[PI_MAX_NAME + 128];

	*ran = false;
	st = cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32I, CUDA_R_32I);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans));
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&la, CUDA_R_8I, (uint64_t) s->kp, (uint64_t) s->mp, s->kp);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&lb, CUDA_R_8I, (uint64_t) s->kp, (uint64_t) rows, s->kp);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatrixLayoutCreate(&lc, CUDA_R_32I, (uint64_t) s->mp, (uint64_t) rows, s->mp);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulPreferenceCreate(&pref);
	if (st == CUBLAS_STATUS_SUCCESS)
		st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
												  &workspace, sizeof(workspace));
	if (st == CUBLAS_STATUS_SUCCESS)
	{
		st = cublasLtMatmulAlgoGetHeuristic(a->lt, op, la, lb, lc, lc, pref, 1, &found, &count);
		/* no algorithm for this shape: our own kernel */
		if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && count < 1))
		{
			st = CUBLAS_STATUS_SUCCESS;
			count = 0;
		}
	}
	if (st == CUBLAS_STATUS_SUCCESS && count > 0)
	{
		st = cublasLtMatmul(a->lt, op, &one, A, la, B, lb, &zero, C, lc, C, lc, &found.algo,
							a->workspace, workspace, a->stream);
		*ran = st == CUBLAS_STATUS_SUCCESS;
		/* the algorithm refused after all: our own kernel too */
		if (st == CUBLAS_STATUS_NOT_SUPPORTED)
			st = CUBLAS_STATUS_SUCCESS;
	}
	if (st != CUBLAS_STATUS_SUCCESS)
	{
		snprintf(what, sizeof(what), "node \"%s\" (%s): cuBLASLt int8 GEMM %lld x %lld x %lld",
				 a->node->name, pi_op_name(a->node->op), (long long) rows, (long long) s->mp,
				 (long long) s->kp);
		ps = pi_gpu_check_blas(st, a->err, what);
	}
	cublasLtMatmulPreferenceDestroy(pref);
	cublasLtMatrixLayoutDestroy(lc);
	cublasLtMatrixLayoutDestroy(lb);
	cublasLtMatrixLayoutDestroy(la);
	cublasLtMatmulDescDestroy(op);
	return ps;
}

/*
 * Dense, Gemm and MatMul of rows activation rows in int8: x's rows
 * quantized, multiplied by the int8 weight, y written in float32.
 */
PiStatus
pi_gpu_int8_gemm(const PiCudaArgs *a, const float *x, int64_t rows, float *y)
{
	const PiGpuInt8Shape *s = a->int8_shape;
	PiGpuInt8Weights w = pi_gpu_int8_weights_at(a->int8_weights, s);
	int8_t	   *codes = a->int8_scratch;
	int32_t    *sums = (int32_t *) (codes + rows * s->kp);
	float	   *xs = (float *) (sums + rows * s->mp);
	int32_t    *zp = (int32_t *) (xs + rows);
	bool		ran = false;
	PiStatus	st;

	if (a->int8_weights == NULL || a->int8_scratch == NULL)
		return pi_fail(a->err, PI_ERR_INVALID, "node \"%s\" (%s) has no int8 weights or scratch on the device",
					   a->node->name, pi_op_name(a->node->op));
	if (rows > INT32_MAX || s->kp > INT32_MAX || s->mp > INT32_MAX)
		return pi_fail(a->err, PI_ERR_LIMIT, "node \"%s\" (%s): a %lld x %lld x %lld int8 product exceeds cuBLASLt's limits",
					   a->node->name, pi_op_name(a->node->op), (long long) rows, (long long) s->mdim,
					   (long long) s->kdim);
	if (rows == 0)
		return PI_OK;
	if ((st = pi_gpu_launch_int8_quantize(a, x, rows, s, codes, xs, zp)) != PI_OK ||
		(st = lt_matmul(a, s, w.codes, codes, rows, sums, &ran)) != PI_OK)
		return st;
	if (!ran)
	{
		if (!no_algorithm_logged)
		{
			no_algorithm_logged = true;
			fprintf(stderr, "pg_infer_cuda: cuBLASLt has no int8 algorithm for node \"%s\" (%lld x %lld x %lld); the device's own int8 kernel runs it\n",
					a->node->name, (long long) rows, (long long) s->mp, (long long) s->kp);
		}
		if ((st = pi_gpu_launch_int8_gemm(a, codes, rows, s, sums)) != PI_OK)
			return st;
	}
	return pi_gpu_launch_int8_output(a, sums, rows, s, xs, zp, y);
}
