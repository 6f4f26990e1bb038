/*
 * worker_internal.h
 *	  What the inference worker's own files share (src/worker/worker_*.c).
 *	  All of it is private to the worker process: no locks, except the
 *	  slots' spinlocks (include/pi_worker.h) where a slot is read or changed.
 */
#ifndef WORKER_INTERNAL_H
#define WORKER_INTERNAL_H

#include "pi_executor.h"
#include "pi_worker.h"

/* How a call to the executor, or a wait for it, ended. */
typedef enum ExecutorWait
{
	EXECUTOR_OK,				/* the executor is there (and replied, if asked) */
	EXECUTOR_GONE,				/* it exited or broke the protocol: restart it */
	EXECUTOR_TIMEOUT,			/* no reply within pg_infer.worker_run_timeout */
	EXECUTOR_SHUTDOWN			/* the worker was asked to stop */
} ExecutorWait;

/*
 * A request the worker has claimed (its slot RUNNING, or ABANDONED since):
 * it runs over one or more RUNs, done rows at a time.
 */
typedef struct ClaimedRequest
{
	bool		claimed;
	WorkerSlot	request;		/* the slot's fields when it was claimed */
	int64		done;			/* rows finished, from the first */
	int64		take;			/* rows in the RUN being run, from done; 0: none */
	int64		run_row;		/* their first row in that RUN */
} ClaimedRequest;

/* A model version resident in the executor. */
typedef struct ResidentModel
{
	WorkerResidentInfo info;	/* key, name, bytes, last use: published */
	uint64		handle;			/* the executor's name for it */
	uint64		base_handle;	/* a length variant: its version's; else 0 */
	uint64		use_order;		/* use_clock at its last use: LRU and turns */
	int64		fixed_bytes;	/* activation plan of a RUN of r rows: */
	int64		row_bytes;		/* fixed_bytes + r * row_bytes */
	int64		max_rows;		/* most rows of a RUN; 0: not one */
	double		usec_per_row;	/* forward-pass time a row, averaged; 0: unknown */
} ResidentModel;

/* One RUN: the requests that have rows in it, in the arena's row order. */
typedef struct RunPlan
{
	WorkerSlot	lead;			/* the model and shapes (one request's fields) */
	int			noutputs;		/* outputs staged: the most any member wants */
	int			nmembers;
	int		   *members;		/* slot numbers */
	int64		rows;
} RunPlan;

/* The tensors of one RUN, shared with the executor. */
extern char *worker_arena;

/* The claimed requests, one entry per slot. */
extern ClaimedRequest *claimed;

/* src/worker/worker_executor.c */
extern void executor_setup(void);
extern bool executor_start(void);
extern void executor_stop(const char *why);
extern bool executor_running(void);
extern ExecutorWait executor_wait(long timeout_ms, bool *readable);
extern ExecutorWait executor_call(const PiExecRequest *req, const void *payload, PiExecReply *reply);
extern void executor_watch(void);
extern const char *executor_end_reason(void);

/* src/worker/worker_models.c */
extern ExecutorWait models_ensure(const WorkerSlot *request, ResidentModel **model, PiExecReply *failure);
extern uint64 models_last_use(const SharedCacheKey *key);
extern void models_record_run(ResidentModel *model, int64 rows, int64 usec);
extern void models_forget_all(void);
extern ExecutorWait models_expire(void);
extern void models_publish(void);

/* src/worker/worker_requests.c */
extern void requests_init(void);
extern char *requests_buffer(const WorkerSlot *request);
extern bool requests_same_model(const WorkerSlot *a, const WorkerSlot *b);
extern bool requests_peek(int slot, WorkerSlot *seen);
extern bool requests_claim(int slot, const WorkerSlot *seen);
extern void requests_finish(int slot, bool ok, int code, const char *message, bool fall_back);
extern void requests_sweep(void);
extern void requests_fail_model(const WorkerSlot *lead, int code, const char *message, bool fall_back);
extern void requests_fail_all(int code, const char *message, bool fall_back);
extern void requests_release_to_backends(const char *why);
extern void requests_fail_on_exit(void);

/* src/worker/worker_schedule.c */
extern void schedule_init(void);
extern bool schedule_next(RunPlan *plan, int64 *wait_us);
extern int64 schedule_budget(const RunPlan *plan, const ResidentModel *model, char *why, size_t len);
extern int64 schedule_fill(RunPlan *plan, int64 budget);

/* src/worker/worker_run.c */
extern ExecutorWait run_plan(const RunPlan *plan, ResidentModel *model, PiExecReply *reply);

#endif							/* WORKER_INTERNAL_H */
