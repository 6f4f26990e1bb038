/*
 * int8_cases.h
 *	  One-node Dense, Gemm and MatMul models that the int8 path runs (and two
 *	  it does not), their input rows, and the size of one quantization step
 *	  of each output: shared by test_gpu_logic (the device arithmetic in C,
 *	  no GPU) and test_gpu (the device against the CPU engine).
 */
#ifndef TEST_INT8_CASES_H
#define TEST_INT8_CASES_H

#include "pi_ir.h"

typedef struct TestInt8Case
{
	const char *label;
	const char *op;				/* "Dense", "Gemm" or "MatMul" */
	int64_t		kdim;
	int64_t		mdim;			/* 0: a MatMul weight of rank 1 */
	int64_t		lead;			/* MatMul: rows of its input per batch row (1: rank 2) */
	bool		bias;
	const char *attrs;			/* the node's JSON attrs, or NULL */
	bool		int8_model;		/* precision int8; else float32 (dynamic_int8 in attrs) */
	int			expect;			/* PiGpuInt8Rows the device should choose */
} TestInt8Case;

extern const TestInt8Case test_int8_cases[];
extern const int test_int8_ncases;

/* Batch rows of the cases' inputs: the first ones special (zeros, a NaN, an infinity, one sign). */
#define TEST_INT8_BATCH 37

/* The case's model, finalized (with its precision); NULL after a failed check. */
PiModel    *test_int8_model(const TestInt8Case *c);

/* Output columns of the case (1 for a rank-1 MatMul weight). */
int64_t		test_int8_columns(const TestInt8Case *c);

/* TEST_INT8_BATCH rows of the case's input (malloc'd; NULL when out of memory). */
float	   *test_int8_rows(const TestInt8Case *c, uint32_t seed);

/*
 * One quantization step of output j of activation row x (kdim values):
 * the row's scale times the weight column's, |alpha| folded in (the
 * weight's one scale where the case's file would have one does not apply:
 * the cases' weights are random).  NaN for a row that is not finite.
 */
double		test_int8_step(const TestInt8Case *c, const PiModel *m, const float *x, int64_t j);

#endif							/* TEST_INT8_CASES_H */
