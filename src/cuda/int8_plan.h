/*
 * int8_plan.h
 *	  Which Dense, Gemm and MatMul nodes the device engine runs in int8, the
 *	  shapes of their cuBLASLt operands, and their weights as uploaded.  A
 *	  node runs in int8 on the device exactly where the CPU engine runs it on
 *	  its int8 path (src/engine/int8.h): the device's int32 sums are the CPU's
 *	  and its float epilogue rounds as the CPU's portable kernel does.
 *
 * The device multiplies int8 by int8 (cuBLASLt, CUDA_R_8I operands,
 * CUBLAS_COMPUTE_32I): an activation row's codes are stored as v = u - 128,
 * u being the CPU's unsigned operand (int8.h), and the weight's codes q as
 * they are, so that the device's sum S = sum_k v[k] q[k][j] gives the CPU's
 * by a per-row fix:
 *
 *	 y[r][j] = (S + (128 - zp[r]) * colsum[j]) * (xs[r] * ws[j]) + bias[j]
 *
 * where zp[r] is 128 for rows quantized symmetrically (u = q + 128, no
 * fix) and the row's zero point for rows quantized as ONNX's
 * DynamicQuantizeLinear does (quantize_dynamic files), colsum[j] = sum_k
 * q[k][j].
 *
 * cuBLASLt takes int8 operands in plain column-major order in the "TN"
 * form only (A transposed), with m, k and the leading dimensions multiples
 * of 4: the row-major product Y[rows, M] = X[rows, K] W[K, M] is computed
 * as the column-major C[mp, rows] = A^T B, A the weight's codes as mp
 * columns of kp bytes (output column j's codes contiguous), B the
 * activation codes as rows columns of kp bytes, K and M padded with zero
 * codes to kp and mp (multiples of PI_GPU_INT8_ALIGN).  With the padding
 * every shape is allowed; the nodes left to the float32 path are those the
 * CPU engine runs in float32.
 *
 * Plain C, no CUDA headers: also built into test_gpu_logic and the CPU
 * stand-in of the library (test/executor/fake_cuda.so).
 */
#ifndef PI_CUDA_INT8_PLAN_H
#define PI_CUDA_INT8_PLAN_H

#include "pi_ir.h"

/* K and M are padded to a multiple of this (16 bytes: aligned columns for cuBLASLt). */
#define PI_GPU_INT8_ALIGN 16

/* How a node's activation rows are quantized on the device, or not at all. */
typedef enum PiGpuInt8Rows
{
	PI_GPU_INT8_NONE = 0,		/* the float32 path */
	PI_GPU_INT8_SYMMETRIC,		/* per row, scale max |x| / 127 (int8 models) */
	PI_GPU_INT8_DYNAMIC			/* per row as DynamicQuantizeLinear (dynamic_int8) */
} PiGpuInt8Rows;

/* A node's int8 geometry on the device. */
typedef struct PiGpuInt8Shape
{
	PiGpuInt8Rows rows;
	int64_t		kdim;			/* the weight as a [kdim, mdim] matrix */
	int64_t		mdim;
	int64_t		kp;				/* kdim padded: k and the leading dimension of A and B */
	int64_t		mp;				/* mdim padded: m and the leading dimension of C */
} PiGpuInt8Shape;

/*
 * A node's device weights, one block (pi_gpu_int8_weight_bytes): the codes
 * (mp columns of kp bytes), then mp floats of ws, mp int32 column sums and
 * mp floats of bias (Gemm's scaled by beta; zeros without one or past M).
 */
typedef struct PiGpuInt8Weights
{
	const int8_t *codes;
	const float *scale;
	const int32_t *colsum;
	const float *bias;
} PiGpuInt8Weights;

/* The node's int8 geometry; rows PI_GPU_INT8_NONE where the float32 path runs it. */
PiGpuInt8Shape pi_gpu_int8_shape(const PiModel *model, const PiNode *node);

/* Bytes of the node's device weight block. */
int64_t		pi_gpu_int8_weight_bytes(const PiGpuInt8Shape *s);

/* The arrays of a weight block at block. */
PiGpuInt8Weights pi_gpu_int8_weights_at(const void *block, const PiGpuInt8Shape *s);

/*
 * Fills a host block (pi_gpu_int8_weight_bytes) with the node's weights as
 * the CPU engine's int8 path quantizes them (its own packing, unpacked);
 * false when out of memory.
 */
bool		pi_gpu_int8_fill_weights(const PiModel *model, const PiNode *node,
									 const PiGpuInt8Shape *s, void *block);

/* Activation rows of the product per row of the batch (MatMul: its leading axes). */
int64_t		pi_gpu_int8_rows_per_item(const PiModel *model, const PiNode *node,
									  const PiGpuInt8Shape *s);

/*
 * Scratch bytes per activation row of the product: kp codes, mp int32
 * sums, its scale and its zero point.
 */
int64_t		pi_gpu_int8_row_bytes(const PiGpuInt8Shape *s);

/*
 * Per value (malloc'd, nvalues entries; NULL when out of memory): whether
 * every live node that reads it runs in int8 with it as its weight or
 * bias (both in the node's block), so that its float32 copy need not go
 * to the device.
 */
bool	   *pi_gpu_int8_only_weights(const PiModel *model);

#endif							/* PI_CUDA_INT8_PLAN_H */
