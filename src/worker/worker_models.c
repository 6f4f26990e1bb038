/*
 * worker_models.c
 *	  The model versions resident in the executor (in GPU memory on a GPU):
 *	  uploaded once per version from the shared cache's image, kept under
 *	  pg_infer.worker_memory, least recently used evicted first, and dropped
 *	  when their version leaves the shared cache's table (dropped models).
 *	  Each keeps what the scheduler sizes its RUNs by: the activation plan
 *	  of the LOAD reply and the measured time per row.
 *
 * Versions never change once committed, so a resident copy stays right for
 * as long as its version exists.  The table is the worker's own.
 */
#include "worker_internal.h"

#include "utils/timestamp.h"

static ResidentModel resident[WORKER_MAX_RESIDENT];
static int	nresident = 0;
static uint64 next_handle = 1;
static uint64 use_clock = 0;

/* Bytes of all resident models. */
static int64
resident_bytes(void)
{
	int64		total = 0;

	for (int i = 0; i < nresident; i++)
		total += resident[i].info.bytes;
	return total;
}

/*
 * Publishes the resident models (pginfer.worker_models), their count and
 * bytes, and the budget (pginfer.worker).
 */
void
models_publish(void)
{
	int64		used = resident_bytes();

	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.memory_used = used;
	worker_shared->stats.models_resident = nresident;
	worker_shared->stats.memory_budget = (int64) pg_infer_worker_memory_mb * 1024 * 1024;
	for (int i = 0; i < nresident; i++)
		worker_shared->resident[i] = resident[i].info;
	SpinLockRelease(&worker_shared->mutex);
}

/* Records a use of resident model i, for LRU and the view. */
static void
touch(int i)
{
	resident[i].use_order = ++use_clock;
	resident[i].info.last_used = GetCurrentTimestamp();
}

/*
 * Asks the executor to free resident model i, then forgets it (the views
 * show it until the executor has answered).  The last entry moves into i.
 */
static ExecutorWait
unload_one(int i)
{
	PiExecRequest req = {0};
	PiExecReply reply;
	ExecutorWait w;

	req.magic = PI_EXEC_PROTOCOL_MAGIC;
	req.command = PI_EXEC_UNLOAD;
	req.model_handle = resident[i].handle;
	w = executor_call(&req, NULL, &reply);
	resident[i] = resident[--nresident];
	models_publish();
	return w;
}

/* Unloads the resident model of handle, after the variants loaded over it. */
static ExecutorWait
unload(uint64 handle)
{
	for (int i = nresident - 1; i >= 0; i--)
		if (resident[i].base_handle == handle)
		{
			/* the entry moved into i comes from past i: already looked at */
			ExecutorWait w = unload_one(i);

			if (w != EXECUTOR_OK)
				return w;
		}
	for (int i = 0; i < nresident; i++)
		if (resident[i].handle == handle)
			return unload_one(i);
	return EXECUTOR_OK;
}

/*
 * The least recently used resident model that is neither the one of handle
 * keep nor the version keep is loaded over, or -1.
 */
static int
least_recently_used(uint64 keep)
{
	uint64		keep_base = 0;
	int			victim = -1;

	for (int i = 0; i < nresident; i++)
		if (resident[i].handle == keep)
			keep_base = resident[i].base_handle;
	for (int i = 0; i < nresident; i++)
		if (resident[i].handle != keep && resident[i].handle != keep_base &&
			(victim < 0 || resident[i].use_order < resident[victim].use_order))
			victim = i;
	return victim;
}

/* Evicts least recently used models, keeping keep's, until need more bytes fit. */
static ExecutorWait
evict_for(int64 need, uint64 keep)
{
	int64		budget = (int64) pg_infer_worker_memory_mb * 1024 * 1024;

	while (resident_bytes() + need > budget || nresident >= WORKER_MAX_RESIDENT)
	{
		int			victim = least_recently_used(keep);
		ExecutorWait w;

		if (victim < 0)
			break;
		w = unload(resident[victim].handle);
		if (w != EXECUTOR_OK)
			return w;
	}
	return EXECUTOR_OK;
}

/*
 * Sends the request's model image to the executor (over base_handle's
 * weights, when nonzero); the reply says how it went.
 */
static ExecutorWait
load(const WorkerSlot *request, uint64 handle, uint64 base_handle, PiExecReply *reply)
{
	SharedImage image;
	PiExecRequest req = {0};
	ExecutorWait w;

	if (!shared_cache_pin_image(&request->key, request->incarnation, &image))
	{
		memset(reply, 0, sizeof(*reply));
		reply->status = PI_ERR_UNDEFINED;
		snprintf(reply->message, sizeof(reply->message),
				 "version %d is no longer in the shared model cache", request->key.version);
		return EXECUTOR_OK;
	}
	req.magic = PI_EXEC_PROTOCOL_MAGIC;
	req.command = PI_EXEC_LOAD;
	req.model_handle = handle;
	req.base_handle = base_handle;
	req.payload_bytes = image.len;
	w = executor_call(&req, image.image, reply);
	shared_cache_unpin(&request->key, image.incarnation);
	return w;
}

/* The index of the resident model of handle, or -1. */
static int
find_handle(uint64 handle)
{
	for (int i = 0; i < nresident; i++)
		if (resident[i].handle == handle)
			return i;
	return -1;
}

/* The index of key's resident model, or -1. */
static int
find(const SharedCacheKey *key)
{
	for (int i = 0; i < nresident; i++)
		if (memcmp(&resident[i].info.key, key, sizeof(SharedCacheKey)) == 0)
			return i;
	return -1;
}

/*
 * Makes the request's model resident and points *model at it (valid until
 * the next call here); a length variant (key.sequence_length > 0) is loaded
 * over its version's model, made resident first.  When the executor
 * refuses it (failure->status != PI_OK), for example for lack of GPU memory
 * after evicting every other model, the caller fails the model's requests.
 */
ExecutorWait
models_ensure(const WorkerSlot *request, ResidentModel **model, PiExecReply *failure)
{
	int			i = find(&request->key);
	uint64		base_handle = 0;
	uint64		h;
	ExecutorWait w;

	failure->status = PI_OK;
	if (i >= 0)
	{
		touch(i);
		if (resident[i].base_handle != 0)
			touch(find_handle(resident[i].base_handle));
		models_publish();
		*model = &resident[i];
		return EXECUTOR_OK;
	}
	if (request->key.sequence_length > 0)
	{
		WorkerSlot	version = *request;
		ResidentModel *base;

		version.key.sequence_length = 0;
		version.incarnation = request->base_incarnation;
		w = models_ensure(&version, &base, failure);
		if (w != EXECUTOR_OK || failure->status != PI_OK)
			return w;
		base_handle = base->handle;
	}
	w = evict_for(0, base_handle);
	if (w != EXECUTOR_OK)
		return w;
	h = next_handle++;
	w = load(request, h, base_handle, failure);
	if (w == EXECUTOR_OK && failure->status == PI_ERR_NOMEM && nresident > (base_handle != 0))
	{
		/* make room by unloading every other model (but the version), then try once more */
		int			victim;

		while ((victim = least_recently_used(base_handle)) >= 0 &&
			   (w = unload(resident[victim].handle)) == EXECUTOR_OK)
			;
		if (w == EXECUTOR_OK)
			w = load(request, h, base_handle, failure);
	}
	if (w != EXECUTOR_OK || failure->status != PI_OK)
		return w;
	memset(&resident[nresident], 0, sizeof(ResidentModel));
	resident[nresident].info.key = request->key;
	strlcpy(resident[nresident].info.model_name, request->model_name, NAMEDATALEN);
	resident[nresident].info.bytes = failure->bytes;
	resident[nresident].handle = h;
	resident[nresident].base_handle = base_handle;
	resident[nresident].fixed_bytes = failure->fixed_bytes;
	resident[nresident].row_bytes = failure->row_bytes;
	resident[nresident].max_rows = failure->max_rows;
	touch(nresident);
	nresident++;
	models_publish();
	w = evict_for(0, h);
	*model = &resident[find(&request->key)];
	return w;
}

/* use_order of key's resident model, 0 when it is not resident: turns go to the smallest. */
uint64
models_last_use(const SharedCacheKey *key)
{
	int			i = find(key);

	return i >= 0 ? resident[i].use_order : 0;
}

/* Adds a RUN of rows rows that took usec to the model's average time per row. */
void
models_record_run(ResidentModel *model, int64 rows, int64 usec)
{
	double		per_row = (double) Max(usec, 1) / rows;

	model->usec_per_row = model->usec_per_row > 0 ? (model->usec_per_row + per_row) / 2 : per_row;
}

/* Forgets every resident model (the executor that held them is gone). */
void
models_forget_all(void)
{
	nresident = 0;
	models_publish();
}

/* Unloads resident models whose version was dropped (and the variants over them). */
ExecutorWait
models_expire(void)
{
	for (int i = 0; i < nresident;)
	{
		SharedCacheKey version = resident[i].info.key;

		version.sequence_length = 0;
		if (shared_cache_version_exists(&version))
			i++;
		else
		{
			ExecutorWait w = unload(resident[i].handle);

			if (w != EXECUTOR_OK)
				return w;
			i = 0;				/* entries moved */
		}
	}
	return EXECUTOR_OK;
}
