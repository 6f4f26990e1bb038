/*
 * executors.c
 *	  The engine's buffers in this backend: one executor per loaded version
 *	  in use, all of them together within pg_infer.work_mem.
 *
 * An executor holds the activations of a forward pass for up to its
 * capacity of rows (malloc'd by the engine, outside PostgreSQL's memory
 * accounting), so the limit is enforced here: a forward pass is split into
 * chunks of rows that fit (executors_rows_per_pass), other versions'
 * executors are freed to make room for the one asked for, and a model
 * whose single row does not fit is an ERROR (53200) that names the limit.
 *
 * Building an executor packs the model's weights (GEMM panels, Winograd
 * transforms, int8 and bf16 forms), which for a large model costs more than
 * a short statement's forward pass; so a committed transaction keeps each
 * executor, shrunk to one row's buffers, for the next statement on that
 * version, still counted against pg_infer.work_mem.  An executor dies with
 * its LoadedModel (model_cache.c frees it on a drop, a replaced row, DROP
 * EXTENSION or the shared image's eviction), and every executor is freed
 * when a transaction aborts, so that nothing an error interrupted is
 * reused.  Large amounts freed are handed back to the operating system.
 * A text model's length variant's executor reads the packed weights of its
 * version's executor (made first; freeing it frees the variants' first)
 * and counts only what it allocates itself.
 *
 * State is private to the backend; nothing is locked.  Callers hold an
 * executor only within one call of model_forward or a predict function.
 */
#include "pg_infer.h"

#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "lib/ilist.h"
#include "utils/guc.h"

/* Most rows one forward pass takes, whatever fits: batches stay addressable. */
#define MAX_ROWS_PER_PASS ((int64) 1 << 20)

/* Freeing this much at transaction end also trims the malloc heap. */
#define TRIM_THRESHOLD_BYTES (4 * 1024 * 1024)

int			pg_infer_work_mem_kb = 512 * 1024;

static dlist_head holders = DLIST_STATIC_INIT(holders);	/* LoadedModels with an executor */
static int64 bytes_in_use = 0;
static int64 bytes_freed = 0;	/* since the last trim */

/* pg_infer.work_mem in bytes. */
static int64
limit_bytes(void)
{
	return (int64) pg_infer_work_mem_kb * 1024;
}

/* Bytes of an executor of model for rows rows; INT64_MAX when that overflows. */
static int64
executor_bytes(const PiModel *model, int64 rows)
{
	int64		bytes;

	return pi_executor_bytes(model, rows, &bytes) ? bytes : INT64_MAX;
}

/* Frees lm's executor, if it has one, and first its variants' (which may read its packed weights). */
void
executors_release(LoadedModel *lm)
{
	if (!lm->length_variant)
		for (LoadedModel *v = lm->variants; v != NULL; v = v->variants)
			executors_release(v);
	if (lm->executor == NULL)
		return;
	pi_executor_free(lm->executor);
	dlist_delete(&lm->executor_node);
	bytes_in_use -= lm->executor_bytes;
	bytes_freed += lm->executor_bytes;
	lm->executor = NULL;
	lm->executor_bytes = 0;
}

/* Trims the malloc heap when much was freed since the last trim. */
static void
trim_freed(void)
{
#ifdef __GLIBC__
	if (bytes_freed >= TRIM_THRESHOLD_BYTES)
		malloc_trim(0);
#endif
	bytes_freed = 0;
}

/* Frees every executor (transaction abort), and hands large amounts back to the system. */
void
executors_release_all(void)
{
	/* one at a time: freeing a version frees its variants' too */
	while (!dlist_is_empty(&holders))
		executors_release(dlist_container(LoadedModel, executor_node, dlist_head_node(&holders)));
	trim_freed();
}

/*
 * Transaction commit: shrinks every executor to one row, keeping its packed
 * weights for the next statement (one that cannot be shrunk is freed), then
 * frees the oldest while they exceed pg_infer.work_mem (lowered since).
 */
void
executors_keep_packed(void)
{
	dlist_mutable_iter iter;

restart:
	dlist_foreach_modify(iter, &holders)
	{
		LoadedModel *lm = dlist_container(LoadedModel, executor_node, iter.cur);
		PiError		err = {0};
		int64		bytes;

		if (pi_executor_resize(lm->executor, 1, &err) != PI_OK)
		{
			/* it may take its variants with it: the list changed */
			executors_release(lm);
			goto restart;
		}
		bytes = executor_bytes(lm->model, 1) - pi_executor_borrowed_bytes(lm->executor);
		bytes_in_use += bytes - lm->executor_bytes;
		bytes_freed += lm->executor_bytes - bytes;
		lm->executor_bytes = bytes;
	}
	while (bytes_in_use > limit_bytes() && !dlist_is_empty(&holders))
		executors_release(dlist_container(LoadedModel, executor_node, dlist_head_node(&holders)));
	trim_freed();
}

/*
 * Most rows of lm that one forward pass may take under pg_infer.work_mem
 * (at most MAX_ROWS_PER_PASS); 0 when not even one row fits.
 */
int64
executors_rows_fit(const LoadedModel *lm)
{
	int64		limit = limit_bytes();
	int64		fits = 1,
				over;

	if (executor_bytes(lm->model, 1) > limit)
		return 0;
	/*
	 * An executor's bytes grow with its rows, not in proportion (the engine
	 * runs a batch in passes of rows): double, then bisect.
	 */
	for (over = 2; over <= MAX_ROWS_PER_PASS && executor_bytes(lm->model, over) <= limit; over *= 2)
		fits = over;
	if (over > MAX_ROWS_PER_PASS)
		return MAX_ROWS_PER_PASS;
	while (over - fits > 1)
	{
		int64		mid = fits + (over - fits) / 2;

		if (executor_bytes(lm->model, mid) <= limit)
			fits = mid;
		else
			over = mid;
	}
	return fits;
}

/* executors_rows_fit, raising 53200 when not even one row fits. */
int64
executors_rows_per_pass(LoadedModel *lm, const char *name)
{
	int64		rows = executors_rows_fit(lm);

	if (rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("model \"%s\" needs " INT64_FORMAT " kB of engine memory for one row, more than pg_infer.work_mem (%d kB)",
						name, executor_bytes(lm->model, 1) / 1024 + 1, pg_infer_work_mem_kb),
				 errhint("A superuser can raise pg_infer.work_mem.")));
	return rows;
}

/*
 * Frees other executors than keep's (NULL: any) while bytes more would
 * exceed pg_infer.work_mem, oldest first, one at a time (a version takes its
 * variants' with it).
 */
static void
make_room(int64 bytes, const LoadedModel *keep)
{
	bool		freed = true;

	while (bytes_in_use + bytes > limit_bytes() && freed)
	{
		dlist_iter	iter;

		freed = false;
		dlist_foreach(iter, &holders)
		{
			LoadedModel *other = dlist_container(LoadedModel, executor_node, iter.cur);

			if (other != keep)
			{
				executors_release(other);
				freed = true;
				break;
			}
		}
	}
}

/*
 * An executor of lm for at least rows rows (at most executors_rows_per_pass):
 * lm's own, its buffers grown when too small, or a new one, which packs the
 * weights (a length variant's reads its version's packed weights, whose
 * executor it makes first when there is none).  Others' executors are freed
 * to keep the total under pg_infer.work_mem.
 */
PiExecutor *
executors_get(LoadedModel *lm, const char *name, int64 rows)
{
	PiError		err = {0};
	int64		most = executors_rows_per_pass(lm, name);
	int64		capacity;
	int64		bytes;
	LoadedModel *base = (lm->length_variant && lm->base != NULL) ? lm->base : NULL;

	if (lm->executor != NULL && pi_executor_max_batch(lm->executor) >= rows)
		return lm->executor;
	/* a variant's executor reads its version's packed weights: that executor first */
	if (base != NULL && lm->executor == NULL)
		executors_get(base, name, 1);
	if (rows > most)
		elog(ERROR, "a forward pass of " INT64_FORMAT " rows of model \"%s\" exceeds pg_infer.work_mem",
			 rows, name);
	/* grow by doubling from 64, so that batches growing row by row reallocate rarely */
	capacity = rows > 1 ? 64 : 1;
	if (lm->executor != NULL)
		capacity = Max(capacity, pi_executor_max_batch(lm->executor));
	while (capacity < rows)
		capacity *= 2;
	capacity = Min(capacity, most);
	bytes = executor_bytes(lm->model, capacity);
	if (lm->executor != NULL)
		bytes -= pi_executor_borrowed_bytes(lm->executor);
	else if (base != NULL)
	{
		int64		packed;

		/* about all of a variant's packed weights are its version's */
		if (pi_executor_packed_bytes(lm->model, &packed))
			bytes -= packed;
	}
	if (lm->executor != NULL)
	{
		/* out of the list while others make room, so that it is not freed */
		dlist_delete(&lm->executor_node);
		bytes_in_use -= lm->executor_bytes;
	}
	/* the version's executor stays: a variant's reads it */
	make_room(bytes, base);
	if (lm->executor == NULL)
	{
		lm->executor = base != NULL && base->executor != NULL ?
			pi_executor_new_over(lm->model, capacity, base->executor, &err) :
			pi_executor_new(lm->model, capacity, &err);
		if (lm->executor != NULL)
			lm->executor_builds++;
	}
	else if (pi_executor_resize(lm->executor, capacity, &err) != PI_OK)
	{
		/* its variants read its packed weights */
		if (!lm->length_variant)
			for (LoadedModel *v = lm->variants; v != NULL; v = v->variants)
				executors_release(v);
		pi_executor_free(lm->executor);
		lm->executor = NULL;
	}
	if (lm->executor == NULL)
	{
		bytes_freed += lm->executor_bytes;
		lm->executor_bytes = 0;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("model \"%s\": could not allocate engine buffers for " INT64_FORMAT " rows: %s",
						name, capacity, err.message)));
	}
	lm->executor_bytes = executor_bytes(lm->model, capacity) - pi_executor_borrowed_bytes(lm->executor);
	bytes_in_use += lm->executor_bytes;
	dlist_push_tail(&holders, &lm->executor_node);
	return lm->executor;
}

/* Defines pg_infer.work_mem; called once from _PG_init. */
void
executors_init(void)
{
	DefineCustomIntVariable("pg_infer.work_mem",
							"Memory for the engine's buffers in one session (activations of forward passes, packed weights kept between transactions).",
							"Forward passes are split into batches that fit; a model whose single row "
							"does not fit is an error.  Only superusers may change it.",
							&pg_infer_work_mem_kb, 512 * 1024, 1024, INT_MAX, PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}
