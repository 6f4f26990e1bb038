/*
 * pg_infer.c
 *	  Module entry point: pins the BLAS to one thread per process, sets up
 *	  the shared model cache (when preloaded), the hook that takes dropped
 *	  databases and catalogs out of it, the backend's model cache, the
 *	  batching planner hook, the BatchPredict node, the inference worker,
 *	  the progress slots and the GUCs.
 */
#include "pg_infer.h"

#include "batch_predict.h"
#include "pi_worker.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Called once per process when the library is loaded. */
void
_PG_init(void)
{
	pg_infer_blas_load();
	shared_cache_init();
	drop_hook_init();
	model_cache_init();
	executors_init();
	batch_predict_register();
	batch_planner_init();
	embed_init();
	worker_init();
	progress_init();
	MarkGUCPrefixReserved("pg_infer");	/* after every pg_infer.* GUC is defined */
}
