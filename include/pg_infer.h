/*
 * pg_infer.h
 *	  Declarations shared by the server side of pg_infer: the catalog
 *	  (src/catalog), the backend-local model cache (src/cache) and the SQL
 *	  functions (src/sql).
 *
 * The catalog lives in tables of schema pginfer; all access to them goes
 * through catalog_begin()/catalog_end(), which run as the extension's owner
 * with a safe search_path.  Row locks on pginfer.model serialize changes to
 * one model; readers see a snapshot and never block.
 */
#ifndef PG_INFER_H
#define PG_INFER_H

#include "postgres.h"

#include "access/htup.h"
#include "fmgr.h"
#include "pi_engine.h"
#include "pi_format.h"
#include "utils/array.h"

#define PG_INFER_MAX_MODEL_NAME (NAMEDATALEN - 1)

/* src/blas_loader.c */
extern void pg_infer_blas_load(void);

/* src/sql/errors.c */
extern void pg_infer_report(const PiError *err, const char *model) pg_attribute_noreturn();

/* src/catalog/catalog.c: a session on the catalog as the extension owner */
typedef struct CatalogSession
{
	Oid			save_userid;
	int			save_sec_context;
	int			guc_nest_level;
} CatalogSession;

extern void catalog_begin(CatalogSession *session);
extern void catalog_end(CatalogSession *session);
extern Oid	catalog_relid(const char *table);

/* What the catalog knows about one version of a model. */
typedef struct CatalogVersion
{
	int32		model_id;
	int32		version;
	int64		weight_bytes;
	char	   *graph_json;		/* palloc'd text of the graph */
	char	   *options_json;	/* palloc'd text of the options */
} CatalogVersion;

extern bool catalog_lookup_model(const char *name, int32 *model_id, int32 *active_version);
extern bool catalog_lookup_version(int32 model_id, int32 version, CatalogVersion *out);
extern int32 catalog_add_version(const char *name, const char *graph_json,
								 const char *options_json, const char *description,
								 const PiModel *model, const uint8 *weights, int64 weight_bytes);
extern void catalog_drop(const char *name, int32 version, bool version_given);
extern void catalog_set_active(const char *name, int32 version);
extern void catalog_changed(void);
extern uint8 *catalog_load_weights(int32 model_id, int32 version, int64 len);

/* src/catalog/weights.c */
extern void weights_store(int32 model_id, int32 version, const uint8 *bytes, int64 len);
extern uint8 *weights_load(int32 model_id, int32 version, int64 len, MemoryContext cxt);

/* src/cache/model_cache.c */
typedef struct LoadedModel
{
	int32		model_id;
	int32		version;
	PiModel    *model;
	PiExecutor *row_executor;	/* batch of 1, for per-row predict */
	PiExecutor *batch_executor; /* for predict_batch, created on first use */
	int64		input_elems;	/* per row */
	int64		output_elems;	/* per row, output 0 */
} LoadedModel;

extern LoadedModel *model_cache_get(const char *name, bool version_given, int32 version);
extern void model_cache_invalidate(void);
extern uint64 model_cache_generation(void);
extern PiExecutor *model_cache_executor(LoadedModel *lm, int64 rows);
extern void model_cache_init(void);
extern PiModel *model_build(const char *name, const char *graph_json, size_t graph_len,
							const uint8 *weights, size_t weights_len, const char *options_json);

/* src/sql/features.c */
extern void features_from_array(ArrayType *array, const char *model, float *dst, int64 expected);
extern int64 features_rows_from_array(ArrayType *array, const char *model, float **dst,
									  int64 row_elems);
extern void features_from_record(HeapTupleHeader rec, const char *model, float *dst, int64 expected);

/* src/sql/predict.c */
extern ArrayType *predict_result_array(const float *values, int ndim, int *dims);
extern int32 predict_result_class(const float *values, int64 n);

#endif							/* PG_INFER_H */
