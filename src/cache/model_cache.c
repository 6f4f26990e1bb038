/*
 * model_cache.c
 *	  Backend-local cache of parsed, planned models.
 *
 * Two hash tables in TopMemoryContext, private to this backend (no locks):
 * the directory maps a model name to its id and active version; the loaded
 * table maps (model id, version) to a built model with its executors.
 * Versions never change once stored, so a loaded version stays valid until
 * it is dropped.  A relcache invalidation of pginfer.model (sent by every
 * catalog change at commit, see catalog.c) marks the cache stale; the next
 * lookup empties the directory and frees loaded versions that no longer
 * exist.  Callers hold LoadedModel pointers only within one function call
 * or behind model_cache_generation().
 */
#include "pg_infer.h"

#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

typedef struct DirectoryEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	int32		model_id;
	int32		active_version;
} DirectoryEntry;

typedef struct LoadedKey
{
	int32		model_id;
	int32		version;
} LoadedKey;

typedef struct LoadedEntry
{
	LoadedKey	key;
	LoadedModel *loaded;
} LoadedEntry;

static HTAB *directory;
static HTAB *loaded_versions;
static bool cache_stale = true;
static uint64 cache_generation = 1;

/* Marks the cache stale; may run outside a transaction, so only sets flags. */
void
model_cache_invalidate(void)
{
	cache_stale = true;
	cache_generation++;
}

/* Relcache callback: any change to the catalog tables (or a reset). */
static void
relcache_callback(Datum arg, Oid relid)
{
	model_cache_invalidate();
}

/* Counter that changes whenever cached pointers may have become invalid. */
uint64
model_cache_generation(void)
{
	return cache_stale ? 0 : cache_generation;
}

/* Registers the invalidation callback; called once from _PG_init. */
void
model_cache_init(void)
{
	HASHCTL		ctl;

	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(DirectoryEntry);
	ctl.hcxt = TopMemoryContext;
	directory = hash_create("pg_infer model directory", 64, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(LoadedKey);
	ctl.entrysize = sizeof(LoadedEntry);
	loaded_versions = hash_create("pg_infer loaded models", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Frees a loaded version (engine memory is malloc'd). */
static void
loaded_free(LoadedModel *lm)
{
	pi_executor_free(lm->row_executor);
	pi_executor_free(lm->batch_executor);
	pi_model_free(lm->model);
	pfree(lm);
}

/*
 * Empties the directory and drops loaded versions that no longer exist.
 * The stale flag is cleared first, so that an invalidation arriving during
 * the catalog queries below marks the cache stale again.
 */
static void
revalidate(void)
{
	HASH_SEQ_STATUS seq;
	DirectoryEntry *d;
	LoadedEntry *e;

	cache_stale = false;
	hash_seq_init(&seq, directory);
	while ((d = hash_seq_search(&seq)) != NULL)
		hash_search(directory, d->name, HASH_REMOVE, NULL);
	PG_TRY();
	{
		hash_seq_init(&seq, loaded_versions);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			if (!catalog_lookup_version(e->key.model_id, e->key.version, NULL))
			{
				LoadedModel *lm = e->loaded;

				hash_search(loaded_versions, &e->key, HASH_REMOVE, NULL);
				loaded_free(lm);
			}
		}
	}
	PG_CATCH();
	{
		hash_seq_term(&seq);
		cache_stale = true;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Parses and plans a model from its stored texts; raises the engine's error.
 * The result is malloc'd (pi_model_free).
 */
PiModel *
model_build(const char *name, const char *graph_json, size_t graph_len,
			const uint8 *weights, size_t weights_len, const char *options_json)
{
	PiModel    *model = NULL;
	PiError		err = {0};

	if (pi_model_load(graph_json, graph_len, weights, weights_len, &model, &err) != PI_OK)
		pg_infer_report(&err, name);
	if (pi_model_apply_options(model, options_json, options_json ? strlen(options_json) : 0,
							   &err) != PI_OK)
	{
		pi_model_free(model);
		pg_infer_report(&err, name);
	}
	return model;
}

/* Loads one version from the catalog into a LoadedModel. */
static LoadedModel *
load_version(const char *name, int32 model_id, int32 version)
{
	CatalogVersion cv;
	uint8	   *weights;
	PiModel    *model;
	PiError		err = {0};
	LoadedModel *lm;

	if (!catalog_lookup_version(model_id, version, &cv))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
	weights = catalog_load_weights(model_id, version, cv.weight_bytes);
	model = model_build(name, cv.graph_json, strlen(cv.graph_json), weights,
						cv.weight_bytes, cv.options_json);
	pfree(weights);

	lm = MemoryContextAllocZero(TopMemoryContext, sizeof(LoadedModel));
	lm->model_id = model_id;
	lm->version = version;
	lm->model = model;
	lm->input_elems = pi_value_row_elems(&model->values[model->inputs[0]]);
	lm->output_elems = pi_value_row_elems(&model->values[model->outputs[0]]);
	lm->row_executor = pi_executor_new(model, 1, &err);
	if (lm->row_executor == NULL)
	{
		pi_model_free(model);
		pfree(lm);
		pg_infer_report(&err, name);
	}
	return lm;
}

/*
 * The model to run for name: its active version, or the given one.
 * Raises if the model or version does not exist.
 */
LoadedModel *
model_cache_get(const char *name, bool version_given, int32 version)
{
	DirectoryEntry *d;
	LoadedKey	key;
	LoadedEntry *e;
	bool		found;
	LoadedModel *lm;

	if (strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	if (cache_stale)
		revalidate();
	d = hash_search(directory, name, HASH_FIND, NULL);
	if (d == NULL)
	{
		int32		model_id,
					active;

		if (!catalog_lookup_model(name, &model_id, &active))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" does not exist", name)));
		d = hash_search(directory, name, HASH_ENTER, &found);
		d->model_id = model_id;
		d->active_version = active;
	}
	key.model_id = d->model_id;
	key.version = version_given ? version : d->active_version;
	e = hash_search(loaded_versions, &key, HASH_FIND, NULL);
	if (e != NULL)
		return e->loaded;
	lm = load_version(name, key.model_id, key.version);
	e = hash_search(loaded_versions, &key, HASH_ENTER, &found);
	e->loaded = lm;
	return lm;
}

/*
 * An executor of lm for a batch of rows: the one-row executor, or the batch
 * executor, replaced by a larger one when rows exceed its capacity.
 */
PiExecutor *
model_cache_executor(LoadedModel *lm, int64 rows)
{
	PiError		err = {0};

	if (rows <= 1)
		return lm->row_executor;
	if (lm->batch_executor == NULL || pi_executor_max_batch(lm->batch_executor) < rows)
	{
		int64		capacity = lm->batch_executor ? pi_executor_max_batch(lm->batch_executor) : 64;

		while (capacity < rows)
			capacity *= 2;
		pi_executor_free(lm->batch_executor);
		lm->batch_executor = pi_executor_new(lm->model, capacity, &err);
		if (lm->batch_executor == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not allocate buffers for a batch of " INT64_FORMAT " rows: %s",
							capacity, err.message)));
	}
	return lm->batch_executor;
}
