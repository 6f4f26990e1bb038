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
#include "lib/ilist.h"
#include "nodes/pg_list.h"
#include "pi_engine.h"
#include "pi_format.h"
#include "pi_text.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define PG_INFER_MAX_MODEL_NAME (NAMEDATALEN - 1)

/* src/blas_loader.c */
extern void pg_infer_blas_load(void);

/* src/progress.c: what pginfer.progress shows of this session */
typedef enum ProgressCommand
{
	PROGRESS_CREATE_MODEL,
	PROGRESS_PREDICT
} ProgressCommand;

extern void progress_init(void);
extern void progress_start(ProgressCommand command, const char *model, const char *phase);
extern void progress_phase(const char *phase);
extern void progress_rows(int64 rows);
extern void progress_bytes(int64 done, int64 total);

/* src/errors.c */
extern int	pg_infer_status_errcode(PiStatus status);
extern bool pg_infer_retry_after_interrupt(PiStatus st);
extern void pg_infer_report(const PiError *err, const char *model) pg_attribute_noreturn();

/* src/catalog/catalog.c: a session on the catalog as the extension owner */
typedef struct CatalogSession
{
	Oid			save_userid;
	int			save_sec_context;
	int			guc_nest_level;
} CatalogSession;

/*
 * What the catalog tells the model cache above it, which registers these
 * (the catalog calls nothing above itself).
 */
typedef struct CatalogObserver
{
	void		(*entering) (void); /* the catalog's own queries begin */
	void		(*leaving) (void);	/* and end */
	void		(*version_dropped) (int32 model_id, int32 version);	/* -1: every version */
	void		(*changed) (void);	/* any change by this backend, at once */
} CatalogObserver;

extern void catalog_set_observer(const CatalogObserver *observer);
extern void catalog_begin(CatalogSession *session);
extern void catalog_end(CatalogSession *session);
extern Oid	catalog_relid_if_exists(const char *table);
extern Oid	catalog_relid(const char *table);

/* What the catalog knows about one version of a model. */
typedef struct CatalogVersion
{
	int32		model_id;
	int32		version;
	int64		weight_bytes;
	uint64		uid;			/* random, never reused (model ids and version
								 * numbers can be: TRUNCATE ... RESTART
								 * IDENTITY, a rolled-back create_model) */
	char	   *graph_json;		/* palloc'd text of the graph */
	char	   *options_json;	/* palloc'd text of the options */
	bool		created_in_this_transaction;
} CatalogVersion;

/*
 * The bytes a version stores as its blob: a native model's safetensors
 * weights, or an ONNX file followed by its external data (two parts, stored
 * one after the other).
 */
typedef struct StoredBlob
{
	const uint8 *parts[2];
	int64		lens[2];
} StoredBlob;

/* What the catalog shows of a validated model (pginfer.models). */
typedef struct ModelDescription
{
	char	   *inputs;			/* JSON: names, data types, shapes */
	char	   *outputs;
	int64		parameter_count;
	PiPrecision precision;		/* the options' precision */
} ModelDescription;

extern bool catalog_lookup_model(const char *name, int32 *model_id, int32 *active_version);
extern bool catalog_lookup_version(int32 model_id, int32 version, CatalogVersion *out);
extern bool catalog_version_uid(int32 model_id, int32 version, uint64 *uid);
extern bool catalog_version_exists_now(int32 model_id, int32 version, uint64 uid);
extern void catalog_describe_model(const PiModel *model, const char *const *input_dtypes,
								   int64 sequence_length, ModelDescription *out);
extern int32 catalog_add_version(const char *name, const char *graph_json,
								 const char *options_json, const char *description,
								 const ModelDescription *model, const StoredBlob *blob,
								 const char *tokenizer_json);
extern bool catalog_lookup_tokenizer(int32 model_id, int32 version, char **tokenizer_json,
									 char **options_json);
extern void catalog_drop(const char *name, int32 version, bool version_given);
extern void catalog_set_active(const char *name, int32 version);
extern void catalog_grant(const char *name, const char *role, bool grant);
extern void catalog_changed(int32 dropped_model_id, int32 dropped_version);
extern uint8 *catalog_load_weights(int32 model_id, int32 version, int64 len, int64 split,
								   uint8 **second);

/* src/catalog/weights.c */
extern void weights_store(int32 model_id, int32 version, const StoredBlob *blob);
extern uint8 *weights_load(int32 model_id, int32 version, int64 len, int64 split,
						   MemoryContext cxt, uint8 **second);

/* src/cache/shared_cache.c */
/*
 * A model version in the shared cache.  The catalog's relation OID tells
 * apart models of the same id in a database where the extension was dropped
 * and created again.
 */
typedef struct SharedCacheKey
{
	Oid			dbid;
	Oid			catalog;		/* OID of pginfer.model; invalid in
								 * shared_cache_forget: all catalogs */
	int32		model_id;		/* -1 in shared_cache_forget: all models */
	int32		version;		/* -1 in shared_cache_forget: all versions */
	uint64		uid;			/* the version row's never-reused identity; 0
								 * in shared_cache_forget: any */
	int32		sequence_length;	/* a text model at another length than
									 * stored (an image over the version's,
									 * which has 0); shared_cache_forget
									 * takes all */
} SharedCacheKey;

typedef enum SharedCacheEntryState
{
	CACHE_LOADING,				/* a process is building the image */
	CACHE_READY,				/* the image is resident */
	CACHE_FAILED,				/* the last load raised an error */
	CACHE_EVICTED				/* statistics kept, image freed */
} SharedCacheEntryState;

/* A pinned image in this process's address space. */
typedef struct SharedImage
{
	const uint8 *image;
	int64		len;
	uint64		incarnation;	/* identifies this load of the version */
	bool		loaded_here;	/* this process built it just now */
} SharedImage;

/* What the pginfer.cache view shows of one entry. */
typedef struct SharedCacheInfo
{
	SharedCacheKey key;
	SharedCacheEntryState state;
	bool		doomed;
	int64		bytes;
	int32		pins;
	int64		loads;
	int64		hits;
	TimestampTz last_used;
	char		model_name[NAMEDATALEN];
} SharedCacheInfo;

/*
 * Builds a finalized model for the shared cache; raises on failure.  The
 * model may point into memory it allocates in the current memory context,
 * which the cache frees once the model's image is written.
 */
typedef PiModel *(*SharedCacheBuildFunction) (const char *name, const void *arg);

extern void shared_cache_init(void);
extern bool shared_cache_enabled(void);
extern void shared_cache_acquire(const SharedCacheKey *key, const char *name,
								 SharedCacheBuildFunction build, const void *build_arg,
								 SharedImage *out);
extern bool shared_cache_repin(const SharedCacheKey *key, uint64 incarnation);
extern bool shared_cache_pin_image(const SharedCacheKey *key, uint64 incarnation,
								   SharedImage *out);
extern bool shared_cache_version_exists(const SharedCacheKey *key);
extern void shared_cache_unpin(const SharedCacheKey *key, uint64 incarnation);
extern int	shared_cache_forget(const SharedCacheKey *key, bool only_unpinned);
extern void shared_cache_forget_at_commit(const SharedCacheKey *key);
extern SharedCacheInfo *shared_cache_snapshot(int *count);
extern void shared_cache_usage(int64 *used, int64 *budget);

/* src/cache/drop_hook.c */
extern void drop_hook_init(void);

/* src/cache/model_cache.c */
typedef struct LoadedModel
{
	char		name[NAMEDATALEN];	/* as it was looked up */
	int32		model_id;
	int32		version;
	uint64		uid;			/* the version row's identity */
	PiModel    *model;
	MemoryContext weights_cxt;	/* built privately: the stored bytes its
								 * weights point into; else NULL */
	PiExecutor *executor;		/* buffers for a forward pass, or NULL (executors.c) */
	int64		executor_bytes;
	int64		executor_builds;	/* executors made, each packing the weights */
	dlist_node	executor_node;	/* in executors.c's list while executor is set */
	bool		shared;			/* model runs from a shared cache image */
	SharedCacheKey shared_key;
	bool		pinned;			/* shared: pinned by the current transaction */
	bool		private_version;	/* created by the current transaction */
	uint64		incarnation;	/* shared: the image's load */
	int64		input_elems;	/* per row */
	int64		sequence_length;	/* a text model with a symbolic sequence
									 * dimension: the length model runs at
									 * (the stored one, or a variant's);
									 * else 0 */
	bool		length_variant; /* a variant: the version at a shorter
								 * length, most weights its base's; when
								 * shared, attached to the shared cache's
								 * image of that length (shared_key) */
	struct LoadedModel *base;	/* a variant: the version it is of */
	struct LoadedModel *variants;	/* the base's list of variants, built
									 * here; in a variant, the next one */
} LoadedModel;

extern LoadedModel *model_cache_get(const char *name, bool version_given, int32 version);
extern LoadedModel *model_cache_at_length(LoadedModel *lm, const char *name, int64 length);
extern SharedCacheKey model_cache_key(int32 model_id, int32 version, uint64 uid);
extern uint64 model_cache_generation(void);
extern List *model_cache_loaded_versions(void);
extern void model_cache_init(void);

/* src/cache/tokenizers.c: a text model's parsed tokenizer (pi_text.h) */
typedef struct TextModel
{
	uint64		uid;			/* the version row's identity */
	PiTokenizer *tok;
	PiTextOptions options;		/* max_seq_length, pooling, normalize */
} TextModel;

extern const TextModel *tokenizer_cache_get(const char *name);
extern const TextModel *tokenizer_cache_for_version(const char *name, int32 model_id,
													int32 version, uint64 uid);
extern const TextModel *tokenizer_cache_find(uint64 uid);

/* src/cache/executors.c */
extern int	pg_infer_work_mem_kb;
extern void executors_init(void);
extern PiExecutor *executors_get(LoadedModel *lm, const char *name, int64 rows);
extern int64 executors_rows_fit(const LoadedModel *lm);
extern int64 executors_rows_per_pass(LoadedModel *lm, const char *name);
extern void executors_release(LoadedModel *lm);
extern void executors_release_all(void);
extern void executors_keep_packed(void);

/* src/sql/large_object.c */
extern uint8 *large_object_read(Oid loid, int64 *len);

/* src/sql/features.c: nan_for_null makes NULL elements and columns NaN (else an error) */
extern void features_from_array(ArrayType *array, const char *model, bool nan_for_null,
								float *dst, int64 expected);
extern int64 features_rows_from_array(ArrayType *array, const char *model, bool nan_for_null,
									  float **dst, int64 row_elems);
extern void features_from_record(HeapTupleHeader rec, const char *model, bool nan_for_null,
								 float *dst, int64 expected);
extern void features_from_scalar(Datum value, Oid base_type, const char *model, const char *input,
								 float *dst, int64 expected);

/* src/sql/categories.c: strings at the edges of a model */
extern PiStrings *categories_copy(const PiStrings *s);
extern float category_index(const PiStrings *list, const char *text, int len, const char *model,
							const char *input);
extern float category_of_null(const PiStrings *list, const char *model, const char *input);
extern void categories_from_datum(Datum value, Oid type, const PiStrings *list, const char *model,
								  const char *input, float *dst, int64 expected);

/*
 * src/sql/named_inputs.c: a model's inputs, matched by name, and what of
 * its outputs predict_class and predict_label read; a copy, which outlives
 * the loaded version.
 */
typedef struct ModelInputs
{
	int			count;
	char	   *names[PI_MAX_MODEL_IO];
	int64		elems[PI_MAX_MODEL_IO]; /* per row */
	PiStrings  *strings[PI_MAX_MODEL_IO];	/* a string input's categories; NULL: numbers */
	bool		missing_as_nan; /* NULL features are NaN: the model defines missing values */
	char	   *output_names[PI_MAX_MODEL_IO];
	PiStrings  *labels[PI_MAX_MODEL_IO];	/* an output's class labels; NULL: numbers */
} ModelInputs;

extern int	predict_default_output(const PiModel *model, bool classes);
extern bool predict_class_of(const ModelInputs *mi, int o, const float *values, int64 n, int32 *cls);
extern text *predict_label_of(const ModelInputs *mi, int o, const float *values, int64 n,
							  const char *name);

extern ModelInputs *model_inputs_describe(const PiModel *model);
extern int	model_output_index(const PiModel *model, const char *model_name, const char *output);
extern void features_from_jsonb(Jsonb *inputs, const char *model, const ModelInputs *mi,
								float *const *dsts);
extern bool record_names_inputs(HeapTupleHeader rec, const ModelInputs *mi);
extern void features_from_named_record(HeapTupleHeader rec, const char *model, const ModelInputs *mi,
									   float *const *dsts);
extern void features_from_input_array(ArrayType *array, const char *model, const ModelInputs *mi,
									  float *dst);

/* src/sql/embed.c: text models */
typedef enum TextTruncation
{
	TEXT_TRUNCATE,				/* a text over max_seq_length keeps its first tokens */
	TEXT_ERROR					/* it raises 22001 */
} TextTruncation;

/* What embed_texts did: forward passes, the texts' tokens, and tokens with padding. */
typedef struct EmbedStats
{
	int64		passes;
	int64		tokens;
	int64		padded_tokens;
} EmbedStats;

extern int	pg_infer_embed_batch_tokens;
extern int	pg_infer_text_truncation;
extern void embed_init(void);
extern int64 embed_hidden(LoadedModel *lm, const char *name);
extern void embed_texts(LoadedModel *lm, const char *name, text *const *texts, int n,
						float *vecs, EmbedStats *stats);

/* src/sql/predict.c */
extern ArrayType *predict_result_array(const float *values, int ndim, int *dims);
extern bool predict_result_class(const float *values, int64 n, int32 *cls);

#endif							/* PG_INFER_H */
