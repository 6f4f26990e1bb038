/*
 * worker_admin.c
 *	  worker_status(), the row behind the pginfer.worker view: the inference
 *	  worker's state, device, memory and batching statistics; and
 *	  worker_models(), the rows behind pginfer.worker_models: the model
 *	  versions resident in its executor; and restart_worker().
 */
#include "pi_worker.h"

#include <signal.h>

#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#define WORKER_STATUS_COLUMNS 17

PG_FUNCTION_INFO_V1(pg_infer_worker_status);

/* worker_status(): one row; "not running" when pg_infer is not preloaded. */
Datum
pg_infer_worker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[WORKER_STATUS_COLUMNS];
	bool		nulls[WORKER_STATUS_COLUMNS] = {0};
	WorkerStats s;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "worker_status must return a record");
	if (worker_shared == NULL)
	{
		memset(&s, 0, sizeof(s));
		s.phase = WORKER_STOPPED;
		strlcpy(s.last_error, "pg_infer is not in shared_preload_libraries", sizeof(s.last_error));
	}
	else
	{
		SpinLockAcquire(&worker_shared->mutex);
		s = worker_shared->stats;
		SpinLockRelease(&worker_shared->mutex);
	}
	values[0] = CStringGetTextDatum(worker_phase_name(s.phase));
	values[1] = CStringGetTextDatum(s.phase == WORKER_READY || s.phase == WORKER_RESTARTING ||
									s.phase == WORKER_UNRESPONSIVE
									? (s.gpu ? "cuda" : "cpu") : "none");
	values[2] = CStringGetTextDatum(s.device_name);
	nulls[2] = (s.device_name[0] == '\0');
	values[3] = Int32GetDatum(s.pid);
	nulls[3] = (s.pid == 0);
	values[4] = Int32GetDatum(s.executor_pid);
	nulls[4] = (s.executor_pid == 0);
	values[5] = Int64GetDatum(s.device_total_bytes);
	nulls[5] = !s.gpu;
	values[6] = Int64GetDatum(s.memory_used);
	values[7] = Int64GetDatum(s.memory_budget);
	values[8] = Int32GetDatum(s.models_resident);
	values[9] = Int64GetDatum(s.requests);
	values[10] = Int64GetDatum(s.batches);
	values[11] = Int64GetDatum(s.rows);
	values[12] = Float8GetDatum(s.batches > 0 ? (double) s.rows / s.batches : 0.0);
	values[13] = Float8GetDatum(s.requests > 0 ? (double) s.queue_delay_us / s.requests : 0.0);
	values[14] = Float8GetDatum(s.batches > 0 ? (double) s.forward_us / s.batches : 0.0);
	values[15] = Int64GetDatum(s.executor_restarts);
	values[16] = CStringGetTextDatum(s.last_error);
	nulls[16] = (s.last_error[0] == '\0');
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

PG_FUNCTION_INFO_V1(pg_infer_worker_models);

/*
 * worker_models(): one row per model version resident in the worker's
 * executor, in every database for members of pg_read_all_stats, else in
 * this one.  No rows when pg_infer is not preloaded.
 */
Datum
pg_infer_worker_models(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all_databases = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	WorkerResidentInfo *models;
	int			count = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (worker_shared == NULL)
		return (Datum) 0;
	models = palloc(sizeof(WorkerResidentInfo) * WORKER_MAX_RESIDENT);
	SpinLockAcquire(&worker_shared->mutex);
	count = worker_shared->stats.models_resident;
	memcpy(models, worker_shared->resident, sizeof(WorkerResidentInfo) * count);
	SpinLockRelease(&worker_shared->mutex);
	for (int i = 0; i < count; i++)
	{
		WorkerResidentInfo *m = &models[i];
		Datum		values[7];
		bool		nulls[7] = {0};
		char	   *dbname;

		if (!all_databases && m->key.dbid != MyDatabaseId)
			continue;
		dbname = get_database_name(m->key.dbid);
		if (dbname == NULL)
			nulls[0] = true;	/* dropped; the worker unloads it when idle */
		else
			values[0] = CStringGetDatum(dbname);
		values[1] = CStringGetTextDatum(m->model_name);
		values[2] = Int32GetDatum(m->key.model_id);
		values[3] = Int32GetDatum(m->key.version);
		values[4] = Int64GetDatum(m->bytes);
		values[5] = TimestampTzGetDatum(m->last_used);
		values[6] = Int32GetDatum(m->key.sequence_length);
		nulls[6] = m->key.sequence_length == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pg_infer_restart_worker);

/*
 * restart_worker(): stops the inference worker (SIGTERM), which the
 * postmaster starts again after bgw_restart_time; its queued and running
 * requests fail with 57P01 meanwhile.  Returns whether a worker was
 * running.  Not executable by PUBLIC.
 */
Datum
pg_infer_restart_worker(PG_FUNCTION_ARGS)
{
	int			pid = 0;

	if (worker_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the inference worker does not run without pg_infer in shared_preload_libraries")));
	SpinLockAcquire(&worker_shared->mutex);
	if (worker_shared->stats.phase != WORKER_STOPPED)
		pid = worker_shared->stats.pid;
	SpinLockRelease(&worker_shared->mutex);
	if (pid == 0)
		PG_RETURN_BOOL(false);
	if (kill(pid, SIGTERM) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not signal the inference worker (pid %d): %m", pid)));
	PG_RETURN_BOOL(true);
}
