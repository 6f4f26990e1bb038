/*
 * progress.c
 *	  What each session's pg_infer work is doing now, for pginfer.progress:
 *	  a create_model's phase, and the rows and batches a scoring statement
 *	  has predicted so far, in the spirit of pg_stat_progress_*.
 *
 * Shared state (with pg_infer in shared_preload_libraries): one slot per
 * process that can run queries, indexed by its PGPROC number, written only
 * by that process.  Each slot's spinlock guards its fields; readers copy a
 * slot under it.  A slot is cleared when its transaction ends.  Without
 * preloading there are no slots and the view is empty.
 */
#include "pg_infer.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "catalog/pg_authid.h"
#include "utils/timestamp.h"

typedef struct ProgressSlot
{
	slock_t		mutex;
	int			pid;			/* 0: idle */
	int			leader_pid;		/* a parallel worker's leader, else 0 */
	Oid			userid;
	ProgressCommand command;
	char		model[NAMEDATALEN];
	char		phase[64];
	int64		rows;
	int64		batches;
	int64		bytes_done;		/* create_model: weights stored */
	int64		bytes_total;
	TimestampTz started;
} ProgressSlot;

static ProgressSlot *slots = NULL;
static int	nslots = 0;
static ProgressSlot *mine = NULL;	/* this process's slot, when it reports */
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Bytes of the slot array. */
static Size
progress_shmem_size(void)
{
	return mul_size(MaxBackends, sizeof(ProgressSlot));
}

/* shmem_request_hook: room for the slots. */
static void
progress_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(progress_shmem_size()));
}

/* shmem_startup_hook: the slots, idle. */
static void
progress_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	slots = ShmemInitStruct("pg_infer progress", progress_shmem_size(), &found);
	nslots = MaxBackends;
	if (!found)
	{
		memset(slots, 0, progress_shmem_size());
		for (int i = 0; i < nslots; i++)
			SpinLockInit(&slots[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Transaction end: this process reports nothing any more. */
static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (mine == NULL || (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
						 event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
						 event != XACT_EVENT_PREPARE))
		return;
	SpinLockAcquire(&mine->mutex);
	mine->pid = 0;
	SpinLockRelease(&mine->mutex);
	mine = NULL;
}

/* Called from _PG_init: the slots when preloaded. */
void
progress_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = progress_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = progress_shmem_startup;
	RegisterXactCallback(progress_xact_callback, NULL);
}

/*
 * Starts reporting a command on a model, from a phase; a command already
 * reported by this transaction (another BatchPredict node, the next row of
 * a per-row predict) goes on as it is, counting on.
 */
void
progress_start(ProgressCommand command, const char *model, const char *phase)
{
	if (slots == NULL || MyProc == NULL || MyProc->pgprocno >= nslots)
		return;
	if (mine != NULL && mine->command == command)
		return;
	mine = &slots[MyProc->pgprocno];
	SpinLockAcquire(&mine->mutex);
	mine->pid = MyProcPid;
	mine->leader_pid = (MyProc->lockGroupLeader != NULL && MyProc->lockGroupLeader != MyProc)
		? MyProc->lockGroupLeader->pid : 0;
	mine->userid = GetUserId();
	mine->command = command;
	strlcpy(mine->model, model, sizeof(mine->model));
	strlcpy(mine->phase, phase, sizeof(mine->phase));
	mine->rows = mine->batches = mine->bytes_done = mine->bytes_total = 0;
	mine->started = GetCurrentTimestamp();
	SpinLockRelease(&mine->mutex);
}

/* The reported command enters a phase. */
void
progress_phase(const char *phase)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	strlcpy(mine->phase, phase, sizeof(mine->phase));
	SpinLockRelease(&mine->mutex);
}

/* Rows predicted by one more batch (of one row, per row). */
void
progress_rows(int64 rows)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->rows += rows;
	mine->batches++;
	SpinLockRelease(&mine->mutex);
}

/* Bytes of weights stored so far, of total. */
void
progress_bytes(int64 done, int64 total)
{
	if (mine == NULL)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->bytes_done = done;
	mine->bytes_total = total;
	SpinLockRelease(&mine->mutex);
}

PG_FUNCTION_INFO_V1(pg_infer_progress);

/*
 * progress(): one row per session doing pg_infer work now; members of
 * pg_read_all_stats see every session's, others their own role's.
 */
Datum
pg_infer_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	TimestampTz now = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < nslots; i++)
	{
		ProgressSlot s;
		Datum		values[10];
		bool		nulls[10] = {0};

		SpinLockAcquire(&slots[i].mutex);
		s = slots[i];
		SpinLockRelease(&slots[i].mutex);
		if (s.pid == 0 || (!all && !has_privs_of_role(GetUserId(), s.userid)))
			continue;
		values[0] = Int32GetDatum(s.pid);
		values[1] = CStringGetTextDatum(s.command == PROGRESS_CREATE_MODEL ? "create_model" : "predict");
		values[2] = CStringGetTextDatum(s.model);
		values[3] = CStringGetTextDatum(s.phase);
		values[4] = Int64GetDatum(s.rows);
		values[5] = Int64GetDatum(s.batches);
		values[6] = Int64GetDatum(s.bytes_done);
		values[7] = Int64GetDatum(s.bytes_total);
		values[8] = IntervalPGetDatum(DatumGetIntervalP(DirectFunctionCall2(timestamp_mi,
																			   TimestampTzGetDatum(now),
																			   TimestampTzGetDatum(s.started))));
		values[9] = Int32GetDatum(s.leader_pid);
		nulls[9] = (s.leader_pid == 0);
		nulls[4] = nulls[5] = (s.command != PROGRESS_PREDICT);
		nulls[6] = nulls[7] = (s.command != PROGRESS_CREATE_MODEL);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
