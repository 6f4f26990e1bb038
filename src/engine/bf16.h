/*
 * bf16.h
 *	  The bf16 path of Dense, Gemm and MatMul with a constant weight, for
 *	  models of precision bf16 on a CPU with AVX512-BF16 (op_gemm_bf16.c),
 *	  and its inner loops (bf16_kernels.c).  Internal to src/engine.
 *
 * The weight [K, M] is rounded to bf16 (to nearest even) once, when packed;
 * each call rounds its input rows to bf16 the same way and sums the
 * products of pairs of bf16 in float32 (vdpbf16ps):
 *
 *	 y[r][j] = sum_k bf16(x[r][k]) * bf16(w[k][j]) + bias[j]
 *
 * Packed weights: panels of PI_BF16_PANEL columns; in a panel, pairs of
 * rows k (K padded with a zero row to kp, even); in a pair, for each column
 * its two bf16 w[2g][j], w[2g + 1][j].  Then Gemm's bias scaled by beta
 * (M floats; zeros without one).
 *
 * Where the CPU has no AVX512-BF16, or PG_INFER_CPU asks for kernels other
 * than avx512, a bf16 model runs the float32 path on its weights (which a
 * stored bf16 version loads already rounded).
 */
#ifndef PI_BF16_H
#define PI_BF16_H

#include "pi_engine.h"

/* Columns per panel: 4 vectors of 16 float32 lanes. */
#define PI_BF16_PANEL 64

/* A packed bf16 weight, and the arrays within it. */
typedef struct PiBf16Weights
{
	const uint16_t *w;			/* the panels */
	const float *bias;			/* M floats */
	int64_t		kp;				/* K rounded up to 2 */
	int64_t		mdim;
} PiBf16Weights;

/* Whether this CPU runs the bf16 kernels (AVX512-BF16, with the avx512 float kernels). */
bool		pi_bf16_available(void);

/* Rounds rows of x (kdim floats each) to bf16 rows of kp (the padding zero). */
void		pi_bf16_round_rows(const float *x, int64_t rows, int64_t kdim, int64_t kp, uint16_t *xb);

/*
 * y[r * ldy + j] for rows r < rows and columns j < w->mdim, by the formula
 * above, from xb (rows of w->kp bf16); bias (M floats) may be NULL.
 */
void		pi_bf16_gemm(const uint16_t *xb, int64_t rows, const PiBf16Weights *w, const float *bias,
						 float *y, int64_t ldy);

/* Whether a node runs on the bf16 path: a bf16 model's Dense, Gemm or MatMul by a weight, on a CPU with BF16. */
bool		pi_gemm_bf16_applies(const PiModel *model, const PiNode *node);

/* Floats (4 bytes each) that the node's packed bf16 weight takes. */
int64_t		pi_gemm_bf16_packed_floats(const PiModel *model, const PiNode *node);

/* Rounds and packs the node's weight (and Gemm's scaled bias) into dst. */
void		pi_gemm_bf16_pack(const PiModel *model, const PiNode *node, void *dst);

/* Scratch bytes the bf16 path of the node needs (rounded rows). */
int64_t		pi_gemm_bf16_scratch_bytes(const PiModel *model, const PiNode *node);

/* Runs a Dense, Gemm or MatMul on the bf16 path (a->packed from pi_gemm_bf16_pack). */
void		pi_kernel_gemm_bf16(const PiKernelArgs *a);

#endif							/* PI_BF16_H */
