/*
 * blas_loader.c
 *	  Loads OpenBLAS into the server process for the engine, one thread only.
 *
 * The library is not linked but opened with dlopen by its usual soname, so
 * that it is the same copy that other code in the process (numpy under
 * PL/Python, say) loads: two builds under one soname would break whichever
 * loads second.  OPENBLAS_NUM_THREADS=1 is set before the first load, so a
 * threaded build starts no threads; if the library was loaded before us,
 * it is set to one thread.
 *
 * The engine runs inside a backend, which must answer a cancel, a
 * statement_timeout or a terminate within milliseconds.  It checks for
 * interrupts between nodes (pi_interrupt_hook), and the SGEMM it is given
 * splits a large product into blocks of about GEMM_SLICE_FLOPS, checking
 * between them: one 4096x4096x4096 product is seconds of one core.
 * Nothing here is shared; the hook and the pointers are set once.
 */
#include "pg_infer.h"

#include <dlfcn.h>

#include "miscadmin.h"
#include "pi_blas.h"
#include "pi_engine.h"

#define BLAS_SONAME "libopenblas.so.0"

/* Floating-point operations of one block of a large SGEMM: 10-20 ms of one core. */
#define GEMM_SLICE_FLOPS (1024.0 * 1024 * 1024)
/* Rows and columns a block keeps at least, for the library's efficiency. */
#define GEMM_MIN_BLOCK 256

typedef void (*SgemmFunction) (const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE trans_a,
							   const enum CBLAS_TRANSPOSE trans_b, const blasint m, const blasint n,
							   const blasint k, const float alpha, const float *a, const blasint lda,
							   const float *b, const blasint ldb, const float beta, float *c,
							   const blasint ldc);

static SgemmFunction blas_sgemm;

/* pi_interrupt_pending_hook: whether CHECK_FOR_INTERRUPTS would act now. */
static bool
engine_interrupt_pending(void)
{
	return InterruptPending && INTERRUPTS_CAN_BE_PROCESSED();
}

/* pi_interrupt_hook: raises if a cancel, timeout or terminate is pending. */
static void
engine_check_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * The engine's SGEMM (row-major): the library's, over blocks of C of about
 * GEMM_SLICE_FLOPS each, with an interrupt check before each.  Blocks keep
 * at least GEMM_MIN_BLOCK rows and columns, so that the library still runs
 * at full speed; blocks of C are independent, so the result is the same.
 */
static void
interruptible_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE trans_a,
					const enum CBLAS_TRANSPOSE trans_b, const blasint m, const blasint n,
					const blasint k, const float alpha, const float *a, const blasint lda,
					const float *b, const blasint ldb, const float beta, float *c,
					const blasint ldc)
{
	blasint		rows = m,
				cols = n;

	CHECK_FOR_INTERRUPTS();
	if (order != CblasRowMajor)
	{
		blas_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
		return;
	}
	while (2.0 * rows * cols * Max(k, 1) > GEMM_SLICE_FLOPS &&
		   (rows > GEMM_MIN_BLOCK || cols > GEMM_MIN_BLOCK))
	{
		if (cols >= rows)
			cols = (cols + 1) / 2;
		else
			rows = (rows + 1) / 2;
	}
	for (blasint i = 0; i < m; i += rows)
		for (blasint j = 0; j < n; j += cols)
		{
			const float *a_rows = trans_a == CblasNoTrans ? a + (int64) i * lda : a + i;
			const float *b_cols = trans_b == CblasNoTrans ? b + j : b + (int64) j * ldb;

			if (i > 0 || j > 0)
				CHECK_FOR_INTERRUPTS();
			blas_sgemm(order, trans_a, trans_b, Min(rows, m - i), Min(cols, n - j), k, alpha,
					   a_rows, lda, b_cols, ldb, beta, c + (int64) i * ldc + j, ldc);
		}
}

/*
 * Loads the BLAS and installs it, and the interrupt hook, for the engine;
 * called from _PG_init.
 */
void
pg_infer_blas_load(void)
{
	void	   *handle;
	void		(*set_threads) (int);

	if (getenv("OPENBLAS_NUM_THREADS") == NULL)
		setenv("OPENBLAS_NUM_THREADS", "1", 0);
	handle = dlopen(BLAS_SONAME, RTLD_NOW | RTLD_GLOBAL);
	if (handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("pg_infer could not load %s: %s", BLAS_SONAME, dlerror()),
				 errhint("Install OpenBLAS (Debian package libopenblas0).")));
	blas_sgemm = (SgemmFunction) dlsym(handle, "cblas_sgemm");
	pi_blas.sgemv = dlsym(handle, "cblas_sgemv");
	set_threads = dlsym(handle, "openblas_set_num_threads");
	if (blas_sgemm == NULL || pi_blas.sgemv == NULL || set_threads == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("%s lacks cblas_sgemm, cblas_sgemv or openblas_set_num_threads", BLAS_SONAME)));
	set_threads(1);
	pi_blas.sgemm = interruptible_sgemm;
	pi_interrupt_hook = engine_check_interrupts;
	pi_interrupt_pending_hook = engine_interrupt_pending;
}
