/*
 * shared_cache.c
 *	  The shared-memory model cache: each loaded model version's image (see
 *	  src/ir/image.c) stored once in dynamic shared memory for every backend
 *	  and parallel worker of the server.
 *
 * Available when pg_infer is in shared_preload_libraries.  A small struct in
 * the main shared memory holds the handles of a DSA area and of a dshash
 * table in it, created by the first backend that needs them.  The table maps
 * (database, catalog, model id, version) to an entry with the image's place, its
 * state, pin count and statistics.  Committed versions never change and their
 * numbers are never reused (pginfer.model.last_version), so an entry never
 * goes stale; versions created by a transaction that has not committed are
 * never put here (model_cache.c keeps them private).
 *
 * Locking:
 *	- SharedCacheState.lock (LWLock) guards the area and table handles,
 *	  bytes_used and next_incarnation, and is held while evicting, so that
 *	  eviction scans and frees one at a time.  It is taken before any dshash
 *	  partition lock, never while holding one.
 *	- Each entry's fields are guarded by its dshash partition lock.
 *	- The keys a transaction dropped (forgotten again at its commit) are
 *	  private to the process.
 *	- No lock is held while reading the catalog, building a model, or
 *	  writing an image: the loader marks the entry LOADING, works unlocked,
 *	  then publishes READY (or FAILED with the error) and wakes the waiters
 *	  sleeping on load_cv.
 *
 * Pins: a transaction pins each version it uses (once) and unpins all at its
 * end (model_cache.c's transaction callback).  A pinned image is never freed:
 * eviction skips it, and a dropped version that is still pinned is marked
 * doomed and freed by its last unpin.  The budget (pg_infer.cache_size) is
 * enforced by evicting least recently used unpinned images before each load,
 * and a load that still does not fit fails (53200): transactions that pin
 * versions, idle ones included, can make loads fail but never take more
 * than the budget.  Only a lowered budget leaves pinned images above it
 * until they are unpinned.
 */
#include "pg_infer.h"

#include "access/xact.h"

#include "lib/dshash.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

typedef struct SharedCacheState
{
	LWLock	   *lock;
	int			tranche_id;		/* for the area's and the table's locks */
	dsa_handle	area_handle;	/* DSM_HANDLE_INVALID until created */
	dshash_table_handle table_handle;
	int64		bytes_used;		/* images resident or being written */
	uint64		next_incarnation;
	pg_atomic_uint64 clock;		/* ticks for least-recently-used order */
	ConditionVariable load_cv;	/* broadcast when a load finishes */
} SharedCacheState;

typedef struct CacheEntry
{
	SharedCacheKey key;			/* hash key: must be first */
	SharedCacheEntryState state;
	bool		doomed;			/* version dropped: free at the last unpin */
	int			loader_pid;
	uint64		incarnation;	/* changes with each load of the key */
	dsa_pointer chunk;			/* the allocation holding the image */
	int64		chunk_bytes;	/* its size, counted in bytes_used */
	int64		image_offset;	/* image start within the chunk (alignment) */
	int64		image_bytes;
	int32		pins;
	int64		loads;
	int64		hits;
	uint64		last_tick;
	TimestampTz last_used;
	char		model_name[NAMEDATALEN];
	int			error_code;		/* FAILED: the load's SQLSTATE and message */
	char		error_message[256];
} CacheEntry;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static SharedCacheState *state = NULL;
static dsa_area *area = NULL;
static dshash_table *table = NULL;
static int	cache_size_mb = 1024;
static SharedCacheKey *forget_at_commit_keys = NULL;	/* versions this transaction dropped */
static int	forget_at_commit_count = 0;
static int	forget_at_commit_capacity = 0;

static void forget_at_commit_callback(XactEvent event, void *arg);
static void forget_dropped_databases(void);

/* Table parameters; tranche_id filled in once known. */
static dshash_parameters table_params = {
	sizeof(SharedCacheKey), sizeof(CacheEntry), dshash_memcmp, dshash_memhash, 0
};

/* shmem_request_hook: space for the state and its lock. */
static void
shared_cache_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SharedCacheState)));
	RequestNamedLWLockTranche("pg_infer", 1);
}

/* shmem_startup_hook: initializes the state (the area comes later). */
static void
shared_cache_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	state = ShmemInitStruct("pg_infer", sizeof(SharedCacheState), &found);
	if (!found)
	{
		state->lock = &(GetNamedLWLockTranche("pg_infer"))->lock;
		state->tranche_id = LWLockNewTrancheId();
		state->area_handle = DSM_HANDLE_INVALID;
		state->table_handle = InvalidDsaPointer;
		state->bytes_used = 0;
		state->next_incarnation = 1;
		pg_atomic_init_u64(&state->clock, 0);
		ConditionVariableInit(&state->load_cv);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init: hooks and GUC when preloaded, else only the GUC. */
void
shared_cache_init(void)
{
	DefineCustomIntVariable("pg_infer.cache_size",
							"Memory for models in the shared model cache.",
							"Least recently used models are evicted beyond this size. "
							"Takes effect with pg_infer in shared_preload_libraries.",
							&cache_size_mb, 1024, 1, INT_MAX / 2, PGC_SIGHUP,
							GUC_UNIT_MB, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shared_cache_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shared_cache_shmem_startup;
	RegisterXactCallback(forget_at_commit_callback, NULL);
}

/* Whether the shared cache exists (pg_infer was preloaded). */
bool
shared_cache_enabled(void)
{
	return state != NULL;
}

/* The budget in bytes. */
static int64
budget_bytes(void)
{
	return (int64) cache_size_mb * 1024 * 1024;
}

/* Attaches this process to the area and table, creating them if needed. */
static void
ensure_attached(void)
{
	MemoryContext old;

	if (table != NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	LWLockRegisterTranche(state->tranche_id, "pg_infer_cache");
	table_params.tranche_id = state->tranche_id;
	LWLockAcquire(state->lock, LW_EXCLUSIVE);
	if (state->area_handle == DSM_HANDLE_INVALID)
	{
		area = dsa_create(state->tranche_id);
		dsa_pin(area);
		dsa_pin_mapping(area);
		table = dshash_create(area, &table_params, NULL);
		state->area_handle = dsa_get_handle(area);
		state->table_handle = dshash_get_hash_table_handle(table);
	}
	else
	{
		area = dsa_attach(state->area_handle);
		dsa_pin_mapping(area);
		table = dshash_attach(area, &table_params, state->table_handle, NULL);
	}
	LWLockRelease(state->lock);
	MemoryContextSwitchTo(old);
}

/* Whether any process has created the area yet (before that, nothing is cached). */
static bool
area_created(void)
{
	bool		created;

	if (table != NULL)
		return true;
	LWLockAcquire(state->lock, LW_SHARED);
	created = (state->area_handle != DSM_HANDLE_INVALID);
	LWLockRelease(state->lock);
	return created;
}

/* The image of a READY entry in this process's mapping. */
static void
entry_image(const CacheEntry *e, SharedImage *out)
{
	out->image = (const uint8 *) dsa_get_address(area, e->chunk) + e->image_offset;
	out->len = e->image_bytes;
	out->incarnation = e->incarnation;
	out->loaded_here = false;
}

/* Marks a locked entry as the most recently used. */
static void
entry_touch(CacheEntry *e)
{
	e->last_tick = pg_atomic_fetch_add_u64(&state->clock, 1);
	e->last_used = GetCurrentTimestamp();
}

/* Records a use of a locked READY entry: one more pin and hit. */
static void
entry_use(CacheEntry *e)
{
	e->pins++;
	e->hits++;
	entry_touch(e);
}

/* Frees a chunk and returns its bytes to the budget; state->lock held. */
static void
release_chunk(dsa_pointer chunk, int64 bytes)
{
	dsa_free(area, chunk);
	state->bytes_used -= bytes;
}

/* Frees a locked entry's image, keeping the entry as EVICTED; state->lock held. */
static void
entry_evict(CacheEntry *e)
{
	release_chunk(e->chunk, e->chunk_bytes);
	e->chunk = InvalidDsaPointer;
	e->chunk_bytes = 0;
	e->state = CACHE_EVICTED;
}

/*
 * Evicts least recently used unpinned images until need more bytes fit the
 * budget or nothing is left to evict.  state->lock is held exclusively.
 */
static void
evict_for(int64 need)
{
	while (state->bytes_used + need > budget_bytes())
	{
		dshash_seq_status seq;
		CacheEntry *e;
		SharedCacheKey victim;
		bool		have = false;
		uint64		oldest = PG_UINT64_MAX;

		dshash_seq_init(&seq, table, false);
		while ((e = dshash_seq_next(&seq)) != NULL)
		{
			if (e->state == CACHE_READY && e->pins == 0 && e->last_tick < oldest)
			{
				oldest = e->last_tick;
				victim = e->key;
				have = true;
			}
		}
		dshash_seq_term(&seq);
		if (!have)
			return;
		e = dshash_find(table, &victim, true);
		if (e != NULL && e->state == CACHE_READY && e->pins == 0)
			entry_evict(e);
		if (e != NULL)
			dshash_release_lock(table, e);
	}
}

/* Marks a locked entry FAILED with the error being raised; wakes waiters. */
static void
entry_fail(CacheEntry *e, ErrorData *edata)
{
	e->state = CACHE_FAILED;
	e->chunk = InvalidDsaPointer;
	e->chunk_bytes = 0;
	e->pins = 0;
	e->loader_pid = 0;
	e->error_code = edata->sqlerrcode;
	strlcpy(e->error_message, edata->message ? edata->message : "unknown error",
			sizeof(e->error_message));
}

/* Raises the error a failed load recorded (for the waiters on that load). */
static void
report_failed_load(const char *name, int code, const char *message)
{
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s", message),
			 errcontext("loading model \"%s\" into the shared model cache in another session",
						name)));
}

/*
 * Builds the version with build(), writes its image into a new chunk and
 * publishes the entry (marked LOADING by this process) as READY.  On error
 * the entry becomes FAILED, or is deleted when the error says nothing about
 * the model (cancel, shutdown), so that a waiter loads it itself.
 */
static void
load_into_entry(const SharedCacheKey *key, const char *name,
				SharedCacheBuildFunction build, const void *build_arg,
				SharedImage *out)
{
	PiModel    *volatile model = NULL;
	MemoryContext volatile build_cxt = NULL;
	volatile dsa_pointer chunk = InvalidDsaPointer;
	volatile int64 bytes = 0;
	volatile uint64 incarnation = 0;
	int64		offset = 0;
	CacheEntry *e;
	MemoryContext caller = CurrentMemoryContext;

	PG_TRY();
	{
		PiError		err = {0};
		uint8	   *base;

		/* what the model points into lives until its image is written */
		build_cxt = AllocSetContextCreate(caller, "pg_infer model build", ALLOCSET_DEFAULT_SIZES);
		MemoryContextSwitchTo(build_cxt);
		model = build(name, build_arg);
		MemoryContextSwitchTo(caller);
		forget_dropped_databases();		/* their images make room first */
		bytes = pi_model_image_size(model);
		if (bytes < 0)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		if (bytes > budget_bytes())
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("model \"%s\" version %d needs %lld kB of cache, more than pg_infer.cache_size (%d MB)",
							name, key->version, (long long) (bytes / 1024), cache_size_mb),
					 errhint("Raise pg_infer.cache_size to at least %lld MB.",
							 (long long) (bytes / (1024 * 1024) + 1))));
		LWLockAcquire(state->lock, LW_EXCLUSIVE);
		evict_for(bytes + PI_IMAGE_ALIGN);
		if (state->bytes_used + bytes + PI_IMAGE_ALIGN > budget_bytes())
		{
			int64		in_use = state->bytes_used;

			LWLockRelease(state->lock);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("the shared model cache has no room for model \"%s\" version %d (%lld kB)",
							name, key->version, (long long) (bytes / 1024)),
					 errdetail("Versions that running transactions use hold %lld kB of pg_infer.cache_size (%d MB).",
							   (long long) (in_use / 1024), cache_size_mb),
					 errhint("End idle transactions that used models (idle_in_transaction_session_timeout does it), or raise pg_infer.cache_size.")));
		}
		chunk = dsa_allocate_extended(area, bytes + PI_IMAGE_ALIGN,
									  DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
		if (DsaPointerIsValid(chunk))
		{
			state->bytes_used += bytes + PI_IMAGE_ALIGN;
			incarnation = state->next_incarnation++;
		}
		LWLockRelease(state->lock);
		if (!DsaPointerIsValid(chunk))
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of shared memory for model \"%s\" version %d (%lld kB)",
							name, key->version, (long long) (bytes / 1024))));
		/* recorded at once, so that whoever takes over after our exit frees it */
		e = dshash_find(table, key, true);
		if (e == NULL)
			elog(ERROR, "shared model cache entry vanished while loading");
		e->chunk = chunk;
		e->chunk_bytes = bytes + PI_IMAGE_ALIGN;
		dshash_release_lock(table, e);
		base = dsa_get_address(area, chunk);
		offset = (PI_IMAGE_ALIGN - (uintptr_t) base % PI_IMAGE_ALIGN) % PI_IMAGE_ALIGN;
		if (pi_model_image_write(model, base + offset, &err) != PI_OK)
			pg_infer_report(&err, name);
		pi_model_free(model);
		model = NULL;
		MemoryContextDelete(build_cxt);
		build_cxt = NULL;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		if (LWLockHeldByMe(state->lock))
			LWLockRelease(state->lock);
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		pi_model_free(model);
		if (build_cxt != NULL)
			MemoryContextDelete(build_cxt);
		if (DsaPointerIsValid(chunk))
		{
			LWLockAcquire(state->lock, LW_EXCLUSIVE);
			release_chunk(chunk, bytes + PI_IMAGE_ALIGN);
			LWLockRelease(state->lock);
		}
		e = dshash_find(table, key, true);
		if (e != NULL)
		{
			if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
				edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
				edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
				dshash_delete_entry(table, e);
			else
			{
				entry_fail(e, edata);
				dshash_release_lock(table, e);
			}
		}
		ConditionVariableBroadcast(&state->load_cv);
		FreeErrorData(edata);
		PG_RE_THROW();
	}
	PG_END_TRY();

	e = dshash_find(table, key, true);
	if (e == NULL)
		elog(ERROR, "shared model cache entry vanished while loading");
	e->state = CACHE_READY;
	e->chunk = chunk;
	e->chunk_bytes = bytes + PI_IMAGE_ALIGN;
	e->image_offset = offset;
	e->image_bytes = bytes;
	e->incarnation = incarnation;
	e->loads++;
	e->loader_pid = 0;
	entry_image(e, out);
	out->loaded_here = true;
	dshash_release_lock(table, e);
	ConditionVariableBroadcast(&state->load_cv);
}

/*
 * Pins the image of (this database, model_id, version), loading it with
 * build(name, build_arg) if no process has it; waits while another process loads it.
 * Raises the load's error, whoever loaded it.
 */
void
shared_cache_acquire(const SharedCacheKey *key, const char *name,
					 SharedCacheBuildFunction build, const void *build_arg, SharedImage *out)
{
	bool		waited_for_load = false;

	ensure_attached();
	for (;;)
	{
		bool		found;
		CacheEntry *e = dshash_find_or_insert(table, key, &found);

		/* a loader that exited without cleaning up (FATAL) left LOADING */
		if (found && e->state == CACHE_LOADING && BackendPidGetProc(e->loader_pid) == NULL)
		{
			dsa_pointer orphan = e->chunk;
			int64		orphan_bytes = e->chunk_bytes;

			e->state = CACHE_EVICTED;
			e->chunk = InvalidDsaPointer;
			e->chunk_bytes = 0;
			e->pins = 0;
			dshash_release_lock(table, e);
			if (DsaPointerIsValid(orphan))
			{
				LWLockAcquire(state->lock, LW_EXCLUSIVE);
				release_chunk(orphan, orphan_bytes);
				LWLockRelease(state->lock);
			}
			continue;
		}
		if (!found || e->state == CACHE_EVICTED ||
			(e->state == CACHE_FAILED && !waited_for_load))
		{
			if (!found)
			{
				e->loads = e->hits = 0;
				e->doomed = false;
			}
			e->state = CACHE_LOADING;
			e->loader_pid = MyProcPid;
			e->chunk = InvalidDsaPointer;
			e->chunk_bytes = 0;
			e->image_bytes = 0;
			e->pins = 1;		/* this transaction's */
			strlcpy(e->model_name, name, sizeof(e->model_name));
			entry_touch(e);
			dshash_release_lock(table, e);
			ConditionVariableCancelSleep();
			load_into_entry(key, name, build, build_arg, out);
			return;
		}
		if (e->state == CACHE_READY)
		{
			entry_use(e);
			entry_image(e, out);
			dshash_release_lock(table, e);
			ConditionVariableCancelSleep();
			return;
		}
		if (e->state == CACHE_FAILED)
		{
			int			code = e->error_code;
			char		message[256];

			strlcpy(message, e->error_message, sizeof(message));
			dshash_release_lock(table, e);
			ConditionVariableCancelSleep();
			report_failed_load(name, code, message);
		}
		/* LOADING in another process: wait for a load to finish (or its loader to exit) */
		dshash_release_lock(table, e);
		waited_for_load = true;
		ConditionVariableTimedSleep(&state->load_cv, 1000, PG_WAIT_EXTENSION);
	}
}

/*
 * Pins one load of a version if it is still resident; counts a hit when
 * asked, and fills *out (when given) with the image.
 */
static bool
pin_load(const SharedCacheKey *key, uint64 incarnation, bool count_hit, SharedImage *out)
{
	CacheEntry *e;
	bool		ok;

	ensure_attached();
	e = dshash_find(table, key, true);
	if (e == NULL)
		return false;
	ok = (e->state == CACHE_READY && e->incarnation == incarnation);
	if (ok && count_hit)
		entry_use(e);
	else if (ok)
		e->pins++;
	if (ok && out)
		entry_image(e, out);
	dshash_release_lock(table, e);
	return ok;
}

/*
 * Pins an image this process attached in an earlier transaction, if it is
 * still the same load; false if it was evicted or reloaded meanwhile.
 */
bool
shared_cache_repin(const SharedCacheKey *key, uint64 incarnation)
{
	return pin_load(key, incarnation, true, NULL);
}

/*
 * Pins the image of one load of a version for a process outside
 * transactions (the inference worker), without counting a hit; false if
 * that load is no longer resident.  The caller unpins it.
 */
bool
shared_cache_pin_image(const SharedCacheKey *key, uint64 incarnation, SharedImage *out)
{
	return pin_load(key, incarnation, false, out);
}

/* Whether a version is still in the table and not dropped (doomed). */
bool
shared_cache_version_exists(const SharedCacheKey *key)
{
	CacheEntry *e;
	bool		exists;

	ensure_attached();
	e = dshash_find(table, key, false);
	if (e == NULL)
		return false;
	exists = !e->doomed;
	dshash_release_lock(table, e);
	return exists;
}

/*
 * Drops one pin.  A doomed image is freed with its last pin; an image over
 * the budget makes room by evicting others.  Safe in transaction callbacks:
 * raises no errors.
 */
void
shared_cache_unpin(const SharedCacheKey *key, uint64 incarnation)
{
	CacheEntry *e;
	dsa_pointer free_chunk = InvalidDsaPointer;
	int64		free_bytes = 0;

	if (table == NULL)
		return;
	e = dshash_find(table, key, true);
	if (e == NULL)
		return;
	if (e->incarnation != incarnation || e->pins <= 0)
	{
		dshash_release_lock(table, e);
		return;
	}
	e->pins--;
	if (e->pins == 0 && e->doomed)
	{
		free_chunk = e->chunk;
		free_bytes = e->chunk_bytes;
		dshash_delete_entry(table, e);
	}
	else
		dshash_release_lock(table, e);
	if (DsaPointerIsValid(free_chunk) || state->bytes_used > budget_bytes())
	{
		LWLockAcquire(state->lock, LW_EXCLUSIVE);
		if (DsaPointerIsValid(free_chunk))
			release_chunk(free_chunk, free_bytes);
		evict_for(0);
		LWLockRelease(state->lock);
	}
}

/* Removes or dooms the entries key matches (see shared_cache_forget); this process is attached. */
static int
forget_matching(const SharedCacheKey *key, bool only_unpinned)
{
	dshash_seq_status seq;
	CacheEntry *e;
	int			count = 0;

	LWLockAcquire(state->lock, LW_EXCLUSIVE);
	dshash_seq_init(&seq, table, true);
	while ((e = dshash_seq_next(&seq)) != NULL)
	{
		if (e->key.dbid != key->dbid ||
			(OidIsValid(key->catalog) && e->key.catalog != key->catalog) ||
			(key->model_id >= 0 && e->key.model_id != key->model_id) ||
			(key->version >= 0 && e->key.version != key->version) ||
			(key->uid != 0 && e->key.uid != key->uid))
			continue;
		if (only_unpinned)
		{
			if (e->state == CACHE_READY && e->pins == 0)
			{
				entry_evict(e);
				count++;
			}
			continue;
		}
		count++;
		/* a loading entry is pinned by its loader, and goes when that pin does */
		if (e->pins > 0)
			e->doomed = true;
		else
		{
			if (e->state == CACHE_READY)
				release_chunk(e->chunk, e->chunk_bytes);
			dshash_delete_current(&seq);
		}
	}
	dshash_seq_term(&seq);
	LWLockRelease(state->lock);
	return count;
}

/*
 * Removes the images of a dropped version: freed now if unpinned, else at
 * their last unpin (a version being loaded, at its loader's).
 * key->version -1 takes all versions of the model, key->model_id -1 all
 * models of the catalog, key->uid 0 any row of the version, and an invalid
 * key->catalog all catalogs of the database.
 * With only_unpinned, pinned ones are left alone (explicit evict).
 * Returns the number removed or doomed.
 */
int
shared_cache_forget(const SharedCacheKey *key, bool only_unpinned)
{
	if (!shared_cache_enabled() || !area_created())
		return 0;
	ensure_attached();
	return forget_matching(key, only_unpinned);
}

/* Transaction end: a commit forgets again the versions its transaction dropped. */
static void
forget_at_commit_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT && event != XACT_EVENT_PREPARE)
		return;
	/* attached when the keys were queued; forget_matching raises nothing */
	if (event == XACT_EVENT_COMMIT && table != NULL)
		for (int i = 0; i < forget_at_commit_count; i++)
			(void) forget_matching(&forget_at_commit_keys[i], false);
	forget_at_commit_count = 0;
}

/*
 * The images of a version this transaction drops leave the cache now, and
 * again when the drop commits: a session whose snapshot still has the
 * version may load it in between.  Creates the area if no process has.
 */
void
shared_cache_forget_at_commit(const SharedCacheKey *key)
{
	if (!shared_cache_enabled())
		return;
	ensure_attached();
	(void) forget_matching(key, false);
	if (forget_at_commit_count == forget_at_commit_capacity)
	{
		int			capacity = Max(8, forget_at_commit_capacity * 2);

		forget_at_commit_keys = forget_at_commit_keys
			? repalloc(forget_at_commit_keys, sizeof(SharedCacheKey) * capacity)
			: MemoryContextAlloc(TopMemoryContext, sizeof(SharedCacheKey) * capacity);
		forget_at_commit_capacity = capacity;
	}
	forget_at_commit_keys[forget_at_commit_count++] = *key;
}

/*
 * Forgets the images of databases that no longer exist.  DROP DATABASE
 * forgets its images through the drop hook, but a hot standby replays the
 * drop without running hooks: its loads and cache views sweep instead.
 * The catalog is read with no lock of ours held.
 */
static void
forget_dropped_databases(void)
{
	dshash_seq_status seq;
	CacheEntry *e;
	Oid			dbids[64];
	int			ndbids = 0;

	dshash_seq_init(&seq, table, false);
	while ((e = dshash_seq_next(&seq)) != NULL && ndbids < lengthof(dbids))
	{
		bool		seen = (e->key.dbid == MyDatabaseId);

		for (int i = 0; i < ndbids && !seen; i++)
			seen = (dbids[i] == e->key.dbid);
		if (!seen)
			dbids[ndbids++] = e->key.dbid;
	}
	dshash_seq_term(&seq);
	for (int i = 0; i < ndbids; i++)
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbids[i])))
		{
			SharedCacheKey key = {0};

			key.dbid = dbids[i];
			key.model_id = -1;
			key.version = -1;
			(void) forget_matching(&key, false);
		}
}

/* A copy of every entry's public fields, for the pginfer.cache view. */
SharedCacheInfo *
shared_cache_snapshot(int *count)
{
	dshash_seq_status seq;
	CacheEntry *e;
	int			cap = 16,
				n = 0;
	SharedCacheInfo *out = palloc(sizeof(SharedCacheInfo) * cap);

	*count = 0;
	if (!shared_cache_enabled())
		return out;
	ensure_attached();
	forget_dropped_databases();
	dshash_seq_init(&seq, table, false);
	while ((e = dshash_seq_next(&seq)) != NULL)
	{
		SharedCacheInfo *i;

		if (n == cap)
		{
			cap *= 2;
			out = repalloc(out, sizeof(SharedCacheInfo) * cap);
		}
		i = &out[n++];
		i->key = e->key;
		i->state = e->state;
		i->doomed = e->doomed;
		i->bytes = e->state == CACHE_READY ? e->image_bytes : 0;
		i->pins = e->pins;
		i->loads = e->loads;
		i->hits = e->hits;
		i->last_used = e->last_used;
		strlcpy(i->model_name, e->model_name, sizeof(i->model_name));
	}
	dshash_seq_term(&seq);
	*count = n;
	return out;
}

/* Bytes in use and the budget, for the view and tests. */
void
shared_cache_usage(int64 *used, int64 *budget)
{
	*used = 0;
	*budget = budget_bytes();
	if (!shared_cache_enabled())
		return;
	LWLockAcquire(state->lock, LW_SHARED);
	*used = state->bytes_used;
	LWLockRelease(state->lock);
}
