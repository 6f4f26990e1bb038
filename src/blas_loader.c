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
 */
#include "pg_infer.h"

#include <dlfcn.h>

#include "pi_blas.h"

#define BLAS_SONAME "libopenblas.so.0"

/* Loads the BLAS and installs it for the engine; called from _PG_init. */
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
	pi_blas.sgemm = dlsym(handle, "cblas_sgemm");
	pi_blas.sgemv = dlsym(handle, "cblas_sgemv");
	set_threads = dlsym(handle, "openblas_set_num_threads");
	if (pi_blas.sgemm == NULL || pi_blas.sgemv == NULL || set_threads == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("%s lacks cblas_sgemm, cblas_sgemv or openblas_set_num_threads", BLAS_SONAME)));
	set_threads(1);
}
