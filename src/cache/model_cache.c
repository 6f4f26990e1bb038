/*
 * model_cache.c
 *	  This backend's view of the models: which version a name means in the
 *	  current statement, and the versions it has ready to run.
 *
 * Two hash tables in TopMemoryContext, private to this backend (no locks):
 * the directory maps a model name to its id and active version as the
 * current statement's snapshot sees them (emptied at the start of each
 * statement, so a statement uses the version active when it began); the
 * loaded table maps (model id, version) to a model with its executors.
 *
 * With the shared cache (shared_cache.c), a loaded version's model runs
 * from the shared image: this backend holds only the graph structures and
 * its activation buffers, and pins the image once per transaction; an image
 * evicted between transactions is attached again.  Versions created by the
 * current transaction, and every version without the shared cache, are
 * built privately here.
 *
 * Versions never change once committed, so a loaded version stays valid
 * until it is dropped.  A relcache invalidation of pginfer.model (sent by
 * every catalog change at commit, see catalog.c) marks the cache stale; the
 * next lookup frees loaded versions that no longer exist.  Callers hold
 * LoadedModel pointers only within one function call or behind
 * model_cache_generation().
 */
#include "pg_infer.h"

#include <sys/mman.h>
#include <unistd.h>

#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
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
	uint64		last_use;		/* use_clock at its last model_cache_get */
} LoadedEntry;

/*
 * Most versions a backend keeps loaded; beyond, the least recently used
 * one that no running transaction uses is let go (attaching to a shared
 * image again is cheap).
 */
#define MAX_LOADED_VERSIONS 64

static HTAB *directory;
static HTAB *loaded_versions;
static bool cache_stale = true;
static uint64 cache_generation = 1;
static uint64 use_clock = 0;	/* ticks of model_cache_get, for LRU */
static uint64 statement_count = 1;	/* ExecutorStart calls outside the catalog */
static uint64 directory_statement = 0;	/* statement the directory belongs to */
static int	catalog_depth = 0;	/* nesting of catalog queries of our own */
static bool told_not_preloaded = false;
static Oid	loaded_catalog = InvalidOid;	/* pginfer.model of the loaded versions */
static ExecutorStart_hook_type prev_executor_start = NULL;

/* Marks the cache stale; may run outside a transaction, so only sets flags. */
static void
invalidate(void)
{
	cache_stale = true;
	cache_generation++;
}

/* Brackets the catalog's own queries, which do not start a user statement. */
static void
catalog_entering(void)
{
	catalog_depth++;
}

/* Ends a bracket opened by catalog_entering. */
static void
catalog_leaving(void)
{
	if (catalog_depth > 0)
		catalog_depth--;
}

/*
 * A version this transaction dropped (all versions when version is -1)
 * leaves the shared cache now and at commit; another transaction that uses
 * it keeps it pinned until it ends.  If the drop rolls back, the version is
 * simply loaded again.
 */
static void
version_dropped(int32 model_id, int32 version)
{
	SharedCacheKey key = model_cache_key(model_id, version, 0);

	shared_cache_forget_at_commit(&key);
}

/* ExecutorStart hook: a new statement resolves model names again. */
static void
model_cache_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (catalog_depth == 0)
	{
		statement_count++;
		cache_generation++;
	}
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* Relcache callback: any change to the catalog tables (or a reset). */
static void
relcache_callback(Datum arg, Oid relid)
{
	invalidate();
}

/* This session's loaded versions, as a List of LoadedModel pointers (valid until the next lookup). */
List *
model_cache_loaded_versions(void)
{
	HASH_SEQ_STATUS seq;
	LoadedEntry *e;
	List	   *result = NIL;

	if (loaded_versions == NULL)
		return NIL;
	hash_seq_init(&seq, loaded_versions);
	while ((e = hash_seq_search(&seq)) != NULL)
		result = lappend(result, e->loaded);
	return result;
}

/* Counter that changes whenever cached pointers may have become invalid. */
uint64
model_cache_generation(void)
{
	return cache_stale ? 0 : cache_generation;
}

/*
 * Frees a loaded version and its length variants (engine memory is
 * malloc'd), unpinning their shared images.
 */
static void
loaded_free(LoadedModel *lm)
{
	if (lm->pinned)
		shared_cache_unpin(&lm->shared_key, lm->incarnation);
	while (lm->variants != NULL)
	{
		LoadedModel *v = lm->variants;

		lm->variants = v->variants;
		v->variants = NULL;
		loaded_free(v);
	}
	executors_release(lm);
	pi_model_free(lm->model);
	if (lm->weights_cxt != NULL)
		MemoryContextDelete(lm->weights_cxt);
	pfree(lm);
}

/*
 * Transaction end (including a parallel worker's): keeps the executors
 * (their packed weights) on commit and frees them on abort, unpins this
 * transaction's shared images and frees versions it created, which a
 * rollback would leave meaningless.  Raises no errors.
 */
static void
xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS seq;
	LoadedEntry *e;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	catalog_depth = 0;
	cache_generation++;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		executors_release_all();
	else
		executors_keep_packed();
	hash_seq_init(&seq, loaded_versions);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		LoadedModel *lm = e->loaded;

		for (LoadedModel *v = lm; v != NULL; v = v->variants)
			if (v->pinned)
			{
				shared_cache_unpin(&v->shared_key, v->incarnation);
				v->pinned = false;
			}
		if (lm->private_version)
		{
			hash_search(loaded_versions, &e->key, HASH_REMOVE, NULL);
			loaded_free(lm);
		}
	}
}

/* Subtransaction abort: an error may have skipped catalog_end. */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		catalog_depth = 0;
}

/* Registers callbacks and the ExecutorStart hook; called once from _PG_init. */
void
model_cache_init(void)
{
	static const CatalogObserver observer = {
		catalog_entering, catalog_leaving, version_dropped, invalidate
	};
	HASHCTL		ctl;

	catalog_set_observer(&observer);
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = model_cache_executor_start;

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

/* Removes a loaded version from this backend, unpinning its image. */
static void
loaded_remove(LoadedEntry *e)
{
	LoadedModel *lm = e->loaded;

	hash_search(loaded_versions, &e->key, HASH_REMOVE, NULL);
	loaded_free(lm);
}

/* The shared cache's key of a version of this database's catalog (uid 0: any row). */
SharedCacheKey
model_cache_key(int32 model_id, int32 version, uint64 uid)
{
	SharedCacheKey key;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.catalog = catalog_relid("model");
	key.model_id = model_id;
	key.version = version;
	key.uid = uid;
	return key;
}

/*
 * Removes the least recently used loaded version that the current
 * transaction does not use (if any), so that a session that runs many
 * versions over its life keeps at most MAX_LOADED_VERSIONS of them.
 */
static void
let_go_least_recent(void)
{
	HASH_SEQ_STATUS seq;
	LoadedEntry *e;
	LoadedEntry *victim = NULL;

	hash_seq_init(&seq, loaded_versions);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (!e->loaded->pinned && !e->loaded->private_version &&
			(victim == NULL || e->last_use < victim->last_use))
			victim = e;
	if (victim == NULL)
		return;
	cache_generation++;			/* callers' cached pointers may point at it */
	loaded_remove(victim);
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
		Oid			catalog = catalog_relid("model");

		hash_seq_init(&seq, loaded_versions);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			uint64		uid;

			/* the extension was dropped and created again: ids start over */
			if (catalog != loaded_catalog)
				loaded_remove(e);
			/* dropped, or another row now has its numbers (TRUNCATE ... RESTART IDENTITY) */
			else if (!catalog_version_uid(e->key.model_id, e->key.version, &uid) ||
					 uid != e->loaded->uid)
			{
				/* also a shared image this backend loaded after the drop */
				if (e->loaded->shared)
					shared_cache_forget(&e->loaded->shared_key, false);
				loaded_remove(e);
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
	loaded_catalog = catalog_relid("model");
}

static PiModel *build_at_length(const char *name, const CatalogVersion *cv,
								int64 sequence_length);

/*
 * Builds a version's model from its catalog row (a SharedCacheBuildFunction).
 * Its stored bytes are read into the current memory context and its
 * weights point into them: they must stay as long as the model.
 */
static PiModel *
build_version(const char *name, const void *arg)
{
	return build_at_length(name, arg, 0);
}

/*
 * Builds a version's model from its catalog row, a text model with a
 * symbolic sequence dimension at sequence_length (0: the stored length).
 * Its stored bytes are read into the current memory context and its
 * weights point into them.
 */
static PiModel *
build_at_length(const char *name, const CatalogVersion *cv, int64 sequence_length)
{
	size_t		graph_len = strlen(cv->graph_json);
	size_t		split;
	uint8	   *blob;
	uint8	   *second;
	PiModel    *model = NULL;
	PiError		err = {0};
	PiStatus	st;

	if (pi_model_stored_split(cv->graph_json, graph_len, cv->weight_bytes, &split, &err) != PI_OK)
		pg_infer_report(&err, name);
	blob = catalog_load_weights(cv->model_id, cv->version, cv->weight_bytes, split, &second);
	do
		st = pi_model_load_stored(cv->graph_json, graph_len, blob, split, second,
								  cv->weight_bytes - split, sequence_length, &model, &err);
	while (pg_infer_retry_after_interrupt(st));
	if (st == PI_OK &&
		(st = pi_model_apply_options(model, cv->options_json,
									 cv->options_json ? strlen(cv->options_json) : 0, &err)) != PI_OK)
		pi_model_free(model);
	if (st != PI_OK)
		pg_infer_report(&err, name);
	return model;
}

/*
 * Builds a version privately, for this backend alone: its stored bytes go
 * into a memory context of their own, which lives as long as the model.
 */
static PiModel *
build_private(const char *name, const CatalogVersion *cv, MemoryContext *weights_cxt)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "pg_infer model weights",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	PiModel    *model;

	PG_TRY();
	{
		model = build_version(name, cv);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	*weights_cxt = cxt;
	return model;
}

/*
 * Maps all of a shared image's pages into this process at once: one
 * madvise instead of a page fault per 4 kB page during the first forward
 * pass.  Only a speed-up: kernels without MADV_POPULATE_READ fault lazily.
 */
static void
map_image_pages(const SharedImage *image)
{
#ifdef MADV_POPULATE_READ
	uintptr_t	page = (uintptr_t) sysconf(_SC_PAGESIZE);
	uintptr_t	start = (uintptr_t) image->image & ~(page - 1);
	uintptr_t	end = (uintptr_t) image->image + image->len;

	(void) madvise((void *) start, end - start, MADV_POPULATE_READ);
#endif
}

/* Says once per session that models are not shared between connections. */
static void
notice_not_preloaded(void)
{
	if (told_not_preloaded)
		return;
	told_not_preloaded = true;
	ereport(NOTICE,
			(errmsg("pg_infer is not in shared_preload_libraries, so this connection loads its own copy of each model"),
			 errhint("Add pg_infer to shared_preload_libraries and restart the server to share loaded models between all connections.")));
}

/*
 * Loads one version into a LoadedModel: attached to its shared image, or
 * built privately (without the shared cache, or when the current transaction
 * created the version).
 */
static LoadedModel *
load_version(const char *name, int32 model_id, int32 version)
{
	CatalogVersion cv;
	PiModel    *model;
	PiError		err = {0};
	LoadedModel loaded = {0};
	LoadedModel *lm;

	if (!catalog_lookup_version(model_id, version, &cv))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
	strlcpy(loaded.name, name, NAMEDATALEN);
	loaded.model_id = model_id;
	loaded.version = version;
	loaded.uid = cv.uid;
	if (shared_cache_enabled() && !cv.created_in_this_transaction)
	{
		SharedImage image;

		loaded.shared_key = model_cache_key(model_id, version, cv.uid);
		shared_cache_acquire(&loaded.shared_key, name, build_version, &cv, &image);
		/*
		 * A drop that committed while we loaded has forgotten the version
		 * already (parallel workers cannot take a new snapshot; a drop's
		 * commit still forgets what they load before it).
		 */
		if (image.loaded_here && !IsInParallelMode() &&
			!catalog_version_exists_now(model_id, version, cv.uid))
			shared_cache_forget(&loaded.shared_key, false);
		map_image_pages(&image);
		model = pi_model_image_attach(image.image, image.len, &err);
		if (model == NULL)
		{
			shared_cache_unpin(&loaded.shared_key, image.incarnation);
			pg_infer_report(&err, name);
		}
		loaded.shared = loaded.pinned = true;
		loaded.incarnation = image.incarnation;
	}
	else
	{
		if (!shared_cache_enabled())
			notice_not_preloaded();
		model = build_private(name, &cv, &loaded.weights_cxt);
		loaded.private_version = cv.created_in_this_transaction;
	}
	loaded.model = model;
	loaded.input_elems = pi_value_row_elems(&model->values[model->inputs[0]]);
	if (pi_model_stored_sequence_length(cv.graph_json, strlen(cv.graph_json),
										&loaded.sequence_length, &err) != PI_OK)
		pg_infer_report(&err, name);
	/* nothing above may leave a half-built entry behind: allocate it last */
	lm = MemoryContextAlloc(TopMemoryContext, sizeof(LoadedModel));
	*lm = loaded;
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
	if (directory_statement != statement_count)
	{
		HASH_SEQ_STATUS seq;

		hash_seq_init(&seq, directory);
		while ((d = hash_seq_search(&seq)) != NULL)
			hash_search(directory, d->name, HASH_REMOVE, NULL);
		directory_statement = statement_count;
	}
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
	{
		lm = e->loaded;
		e->last_use = ++use_clock;
		if (!lm->shared || lm->pinned)
			return lm;
		if (shared_cache_repin(&lm->shared_key, lm->incarnation))
		{
			lm->pinned = true;
			return lm;
		}
		/* evicted or reloaded since this backend attached: attach again */
		loaded_remove(e);
	}
	lm = load_version(name, key.model_id, key.version);
	e = hash_search(loaded_versions, &key, HASH_ENTER, &found);
	e->loaded = lm;
	e->last_use = ++use_clock;
	if (hash_get_num_entries(loaded_versions) > MAX_LOADED_VERSIONS)
		let_go_least_recent();
	return lm;
}

/*
 * Imports lm's text model at sequence length `length`: its stored file is
 * read and imported again, and the weights that do not depend on the
 * length are then lm's own, so the model keeps only a few of its own
 * (position rows and the like) and the file's bytes go.
 */
static PiModel *
build_variant_model(const LoadedModel *lm, const char *name, int64 length)
{
	CatalogVersion cv;
	MemoryContext cxt;
	MemoryContext old;
	PiModel    *volatile model = NULL;
	PiError		err = {0};
	volatile PiStatus st = PI_OK;

	if (!catalog_lookup_version(lm->model_id, lm->version, &cv))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, lm->version)));
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_infer model file",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		model = build_at_length(name, &cv, length);
		st = pi_model_share_weights(model, lm->model, &err);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		pi_model_free(model);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	if (st != PI_OK)
	{
		pi_model_free(model);
		pg_infer_report(&err, name);
	}
	return model;
}

/* A variant of lm at sequence length `length`, running model (freed with lm). */
static LoadedModel *
new_variant(LoadedModel *lm, PiModel *model, int64 length)
{
	LoadedModel *v = MemoryContextAllocZero(TopMemoryContext, sizeof(LoadedModel));

	strlcpy(v->name, lm->name, NAMEDATALEN);
	v->model_id = lm->model_id;
	v->version = lm->version;
	v->uid = lm->uid;
	v->model = model;
	v->input_elems = pi_value_row_elems(&model->values[model->inputs[0]]);
	v->sequence_length = length;
	v->length_variant = true;
	v->base = lm;
	v->shared_key = lm->shared_key;
	v->shared_key.sequence_length = (int32) length;
	return v;
}

/* What build_shared_variant builds: a version's model at a length. */
typedef struct VariantBuild
{
	const LoadedModel *base;
	int64		length;
} VariantBuild;

/* Builds a variant's model for the shared cache (a SharedCacheBuildFunction). */
static PiModel *
build_shared_variant(const char *name, const void *arg)
{
	const VariantBuild *build = arg;

	return build_variant_model(build->base, name, build->length);
}

/*
 * lm's text model at sequence length `length` from the shared cache's
 * image of it, built there if no process has: the image keeps only the
 * weights that differ from the version's (position rows and the like), and
 * the model takes the others from lm's (pi_model_image_attach_over).  The
 * inference worker's executor loads the same image over its copy of the
 * version.  Pinned until the transaction ends, like lm.
 */
static LoadedModel *
attach_variant(LoadedModel *lm, const char *name, int64 length)
{
	VariantBuild build = {lm, length};
	SharedCacheKey key = lm->shared_key;
	SharedImage image;
	PiModel    *model;
	PiError		err = {0};
	LoadedModel *v;

	key.sequence_length = (int32) length;
	shared_cache_acquire(&key, name, build_shared_variant, &build, &image);
	model = pi_model_image_attach_over(image.image, image.len, lm->model, &err);
	if (model == NULL)
	{
		shared_cache_unpin(&key, image.incarnation);
		pg_infer_report(&err, name);
	}
	v = new_variant(lm, model, length);
	v->shared = v->pinned = true;
	v->incarnation = image.incarnation;
	return v;
}

/* Removes variant v from lm's list and frees it. */
static void
variant_remove(LoadedModel *lm, LoadedModel *v)
{
	LoadedModel **link = &lm->variants;

	while (*link != v)
		link = &(*link)->variants;
	*link = v->variants;
	v->variants = NULL;
	loaded_free(v);
}

/*
 * The model to run lm's text model at sequence length `length`: lm itself
 * when its sequence length is fixed or not longer, else a variant at that
 * length, made once per backend and version (freed with lm): attached to
 * the shared cache's image of it when lm runs from the shared cache, else
 * imported again by this backend.
 */
LoadedModel *
model_cache_at_length(LoadedModel *lm, const char *name, int64 length)
{
	LoadedModel *v;

	if (lm->sequence_length == 0 || length >= lm->sequence_length)
		return lm;
	for (v = lm->variants; v != NULL; v = v->variants)
		if (v->sequence_length == length)
			break;
	if (v != NULL && (!v->shared || v->pinned))
		return v;
	if (v != NULL && shared_cache_repin(&v->shared_key, v->incarnation))
	{
		v->pinned = true;
		return v;
	}
	/* evicted or reloaded since this backend attached: attach again */
	if (v != NULL)
		variant_remove(lm, v);
	v = lm->shared ? attach_variant(lm, name, length)
		: new_variant(lm, build_variant_model(lm, name, length), length);
	v->variants = lm->variants;
	lm->variants = v;
	return v;
}
