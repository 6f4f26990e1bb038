/*
 * worker_main.c
 *	  The inference worker's main loop: each turn runs one RUN of the
 *	  requests in the slots (worker_schedule.c chooses it, worker_run.c runs
 *	  it) in the executor process, and supervises that process.
 *
 * Failures: when the executor refuses a RUN, its requests fail with its
 * error; when it dies, the requests with rows in the RUN it was running
 * fail with an ERROR (58000), and when it does not answer within
 * pg_infer.worker_run_timeout it is killed and those requests fail the same
 * way, or run in their backends where they may.  Either way a new executor
 * is started, and the other requests (claimed ones keep the rows already
 * done) are served by it.  A model the worker cannot run (its row does not
 * fit the worker's limits, or the executor cannot hold it) fails its
 * requests, which run in their backends where they may.  When the worker
 * itself stops, every waiting request fails.
 */
#include "worker_internal.h"

#include <signal.h>

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#define IDLE_CHECK_MS 1000		/* how often an idle worker expires dropped models */
#define RESTART_DELAY_MS 10000	/* between attempts to start an executor that failed */

/*
 * before_shmem_exit: fails every request that waits for this worker, frees
 * abandoned buffers, and publishes that the worker stopped.
 */
static void
worker_exit(int code, Datum arg)
{
	executor_stop(NULL);
	requests_fail_on_exit();
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.phase = WORKER_STOPPED;
	worker_shared->stats.pid = 0;
	worker_shared->stats.executor_pid = 0;
	worker_shared->worker_latch = NULL;
	SpinLockRelease(&worker_shared->mutex);
}

/*
 * Whether the executor refused for lack of memory or room, or for an op its
 * device has no kernel for: the backends may run the request.
 */
static bool
cannot_hold(int32 status)
{
	return status == PI_ERR_NOMEM || status == PI_ERR_LIMIT || status == PI_ERR_UNSUPPORTED;
}

/* Fails the requests with rows in the RUN of plan; the others go on. */
static void
fail_run(const RunPlan *plan, int code, const char *message, bool fall_back)
{
	for (int m = 0; m < plan->nmembers; m++)
	{
		int			slot = plan->members[m];

		if (claimed[slot].claimed && claimed[slot].take > 0)
			requests_finish(slot, false, code, message, fall_back);
	}
}

/*
 * The executor died, broke the protocol (w = EXECUTOR_GONE) or did not
 * answer in time (EXECUTOR_TIMEOUT; why says when): stops it, fails the
 * requests of the RUN of plan and those for the model of lead (either may
 * be NULL), and marks the executor for a restart.  A timeout lets the
 * failed requests run in their backends where they may.
 */
static void
executor_lost(ExecutorWait w, const char *why, const RunPlan *plan, const WorkerSlot *lead)
{
	bool		timed_out = (w == EXECUTOR_TIMEOUT);
	char		message[512];

	if (timed_out)
	{
		const char *limit = GetConfigOptionByName("pg_infer.worker_run_timeout", NULL, false);

		executor_stop(psprintf("it did not answer %s within pg_infer.worker_run_timeout (%s)", why, limit));
		snprintf(message, sizeof(message),
				 "the inference executor process did not finish this request within pg_infer.worker_run_timeout (%s) and was replaced",
				 limit);
	}
	else
	{
		executor_stop(psprintf("it ended %s", why));
		snprintf(message, sizeof(message),
				 "the inference executor process ended (%s) while running this request",
				 executor_end_reason());
	}
	/* published before the requesters wake */
	models_forget_all();
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.phase = WORKER_RESTARTING;
	worker_shared->stats.executor_restarts++;
	SpinLockRelease(&worker_shared->mutex);
	if (plan != NULL)
		fail_run(plan, ERRCODE_SYSTEM_ERROR, message, timed_out);
	if (lead != NULL)
		requests_fail_model(lead, ERRCODE_SYSTEM_ERROR, message, timed_out);
}

/* Fails every request: the worker cannot serve them (the phase's reason); backends may run them. */
static void
fail_pending(void)
{
	char		message[512];

	SpinLockAcquire(&worker_shared->mutex);
	snprintf(message, sizeof(message), "the inference worker cannot run models: %s",
			 worker_shared->stats.last_error);
	SpinLockRelease(&worker_shared->mutex);
	requests_fail_all(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, message, true);
}

/*
 * Nothing may run now: waits wait_us (-1: until a request comes or
 * IDLE_CHECK_MS pass, then expires dropped models) and looks at the
 * executor.
 */
static ExecutorWait
idle_wait(int64 wait_us)
{
	bool		readable;
	ExecutorWait w;

	if (wait_us >= 0 && wait_us < 1000)
	{
		pg_usleep(wait_us);
		return EXECUTOR_OK;
	}
	w = executor_wait(wait_us >= 0 ? wait_us / 1000 : IDLE_CHECK_MS, &readable);
	if (w == EXECUTOR_OK && readable)
		w = EXECUTOR_GONE;		/* nothing was asked: it exited or wrote out of turn */
	else if (w == EXECUTOR_OK)
	{
		executor_watch();
		if (wait_us < 0)
			w = models_expire();
	}
	if (w == EXECUTOR_GONE || w == EXECUTOR_TIMEOUT)
		executor_lost(w, "while idle", NULL, NULL);
	return w;
}

/* One turn of the loop: one RUN if any request may run, else a wait. */
static ExecutorWait
serve_once(void)
{
	RunPlan		plan;
	ResidentModel *model;
	PiExecReply reply;
	int64		wait_us;
	int64		budget;
	char		why[256];
	ExecutorWait w;

	requests_sweep();
	if (!schedule_next(&plan, &wait_us))
		return idle_wait(wait_us);
	w = models_ensure(&plan.lead, &model, &reply);
	if (w == EXECUTOR_GONE || w == EXECUTOR_TIMEOUT)
		executor_lost(w, "while a model was loaded or unloaded", NULL, &plan.lead);
	if (w != EXECUTOR_OK)
		return w;
	if (reply.status != PI_OK)
	{
		/* the executor cannot hold the model: the backends may run it */
		requests_fail_model(&plan.lead, pg_infer_status_errcode(reply.status), reply.message,
							cannot_hold(reply.status));
		return EXECUTOR_OK;
	}
	budget = schedule_budget(&plan, model, why, sizeof(why));
	if (budget == 0)
	{
		requests_fail_model(&plan.lead, ERRCODE_PROGRAM_LIMIT_EXCEEDED, why, true);
		return EXECUTOR_OK;
	}
	if (schedule_fill(&plan, budget) == 0)
		return EXECUTOR_OK;
	w = run_plan(&plan, model, &reply);
	if (w == EXECUTOR_OK && reply.status != PI_OK)
		fail_run(&plan, pg_infer_status_errcode(reply.status), reply.message, cannot_hold(reply.status));
	else if (w == EXECUTOR_GONE || w == EXECUTOR_TIMEOUT)
		executor_lost(w, "while running a batch", &plan, NULL);
	return w;
}

/* Entry point of the background worker. */
void
pg_infer_worker_main(Datum arg)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGPIPE, SIG_IGN);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pg_infer inference worker");

	requests_init();
	schedule_init();
	executor_setup();
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->generation++;
	worker_shared->stats.pid = MyProcPid;
	worker_shared->stats.phase = WORKER_STARTING;
	worker_shared->worker_latch = MyLatch;
	SpinLockRelease(&worker_shared->mutex);
	before_shmem_exit(worker_exit, (Datum) 0);
	models_publish();

	while (!ShutdownRequestPending)
	{
		WorkerPhase phase;
		bool		readable;

		SpinLockAcquire(&worker_shared->mutex);
		phase = worker_shared->stats.phase;
		SpinLockRelease(&worker_shared->mutex);
		if (!executor_running() && phase != WORKER_NO_DEVICE && !executor_start())
		{
			/* no executor: fail what waits, then try again later (not for 'auto' without a GPU) */
			fail_pending();
			if (executor_wait(RESTART_DELAY_MS, &readable) == EXECUTOR_SHUTDOWN)
				break;
			continue;
		}
		if (phase == WORKER_NO_DEVICE)
		{
			fail_pending();
			if (executor_wait(-1, &readable) == EXECUTOR_SHUTDOWN)
				break;
			continue;
		}
		if (serve_once() == EXECUTOR_SHUTDOWN)
			break;
	}
	proc_exit(1);				/* restarted after bgw_restart_time unless the server stops */
}
