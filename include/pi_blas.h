/*
 * pi_blas.h
 *	  The BLAS routines the engine's kernels call, through pointers that the
 *	  host program installs before it runs a model: the standalone tests
 *	  point them at the OpenBLAS they link, the server at the library it
 *	  loads with dlopen (src/blas_loader.c).  Plain C, no PostgreSQL headers.
 */
#ifndef PI_BLAS_H
#define PI_BLAS_H

#include <cblas.h>

typedef struct PiBlas
{
	void		(*sgemm) (const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE trans_a,
						  const enum CBLAS_TRANSPOSE trans_b, const blasint m, const blasint n,
						  const blasint k, const float alpha, const float *a, const blasint lda,
						  const float *b, const blasint ldb, const float beta, float *c,
						  const blasint ldc);
	void		(*sgemv) (const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE trans,
						  const blasint m, const blasint n, const float alpha, const float *a,
						  const blasint lda, const float *x, const blasint incx, const float beta,
						  float *y, const blasint incy);
} PiBlas;

/* Set once by the host before any model runs; read-only afterwards. */
extern PiBlas pi_blas;

#endif							/* PI_BLAS_H */
