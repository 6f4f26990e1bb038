/*
 * worker_internal.h
 *	  What the inference worker's own files share (src/worker/worker_*.c).
 *	  All of it is private to the worker process: no locks.
 */
#ifndef WORKER_INTERNAL_H
#define WORKER_INTERNAL_H

#include "pi_executor.h"
#include "pi_worker.h"

/* How waiting for the executor's reply ended. */
typedef enum ExecutorWait
{
	EXECUTOR_OK,			/* the executor is there (and replied, if asked) */
	EXECUTOR_GONE,				/* it exited or broke the protocol: restart it */
	EXECUTOR_SHUTDOWN			/* the worker was asked to stop */
} ExecutorWait;

/* The tensors of one merged batch, shared with the executor. */
extern char *worker_arena;

/* src/worker/worker_executor.c */
extern void executor_setup(void);
extern bool executor_start(void);
extern void executor_stop(const char *why);
extern bool executor_running(void);
extern ExecutorWait executor_wait(long timeout_ms, bool *readable);
extern ExecutorWait executor_call(const PiExecRequest *req, const void *payload, PiExecReply *reply);
extern const char *executor_end_reason(void);

/* src/worker/worker_models.c */
extern ExecutorWait models_ensure(const WorkerSlot *request, uint64 *handle, PiExecReply *failure);
extern void models_forget_all(void);
extern ExecutorWait models_expire(void);
extern void models_publish(void);

#endif							/* WORKER_INTERNAL_H */
