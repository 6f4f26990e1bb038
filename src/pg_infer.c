/*
 * pg_infer.c
 *	  Module entry point: pins the BLAS to one thread per process, registers
 *	  the model cache's invalidation callback, the batching planner hook,
 *	  the BatchPredict node and the GUCs.
 */
#include "pg_infer.h"

#include <cblas.h>

#include "batch_predict.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Called once per process when the library is loaded. */
void
_PG_init(void)
{
	/*
	 * The library links the sequential OpenBLAS build, which never starts
	 * threads; this also holds a threaded build that something else loaded
	 * under the same soname to one thread.
	 */
	openblas_set_num_threads(1);
	model_cache_init();
	batch_predict_register();
	batch_planner_init();
}
