/*
 * worker_main.c
 *	  The inference worker's main loop: dynamic batching of the requests in
 *	  the slots, one forward pass per merged batch in the executor process,
 *	  and supervision of that process.
 *
 * Batching: the oldest pending request chooses the model version; every
 * other pending request for the same version joins it (in slot order,
 * whole requests only) while the batch stays within pg_infer.worker_max_batch rows and the tensor arena.
 * A batch smaller than the maximum waits until its oldest request is
 * pg_infer.worker_max_delay microseconds old (0: it runs at once; requests
 * that arrive while the executor is busy still merge into the next batch).
 *
 * When the executor dies, the requests of the batch it ran fail with an
 * ERROR, the worker starts a new executor, and pending requests are served
 * by it.  When the worker itself stops, every waiting request fails.
 */
#include "worker_internal.h"

#include <signal.h>

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#define IDLE_CHECK_MS 1000		/* how often an idle worker expires dropped models */
#define RESTART_DELAY_MS 10000	/* between attempts to start an executor that failed */

/* One request of the batch being built, copied out of its slot. */
typedef struct BatchMember
{
	int			slot;
	WorkerSlot	request;		/* the slot's fields when it was chosen */
	int64		first_row;		/* its rows' place in the batch */
} BatchMember;

static dsa_area *request_area = NULL;
static BatchMember *members = NULL;
static int	nmembers = 0;

/*
 * Sets a locked slot's final state.  An abandoned slot becomes FREE and its
 * buffer is handed back in *to_free (freed by the caller: DSA takes locks,
 * which must not be taken under a spinlock).  Returns the latch to set once
 * the spinlock is released.
 */
static Latch *
finish_locked(WorkerSlot *s, bool ok, int code, const char *message, dsa_pointer *to_free)
{
	*to_free = InvalidDsaPointer;
	if (s->state != SLOT_PENDING && s->state != SLOT_RUNNING && s->state != SLOT_ABANDONED)
		return NULL;			/* taken back, or finished already */
	if (s->state == SLOT_ABANDONED)
	{
		/* nobody waits for the result: the buffer goes back to the area */
		*to_free = s->buffer;
		s->buffer = InvalidDsaPointer;
		s->buffer_bytes = 0;
		s->state = SLOT_FREE;
	}
	else
	{
		s->state = ok ? SLOT_DONE : SLOT_FAILED;
		s->error_code = code;
		if (!ok)
			strlcpy(s->error_message, message, sizeof(s->error_message));
	}
	return s->latch;
}

/* Finishes a slot that waits for the worker, if it still does, and wakes its process. */
static void
finish(WorkerSlot *s, bool ok, int code, const char *message)
{
	Latch	   *latch;
	dsa_pointer to_free;

	SpinLockAcquire(&s->mutex);
	latch = finish_locked(s, ok, code, message, &to_free);
	SpinLockRelease(&s->mutex);
	if (DsaPointerIsValid(to_free))
		dsa_free(request_area, to_free);
	if (latch)
		SetLatch(latch);
}

/* Fails every request of the current batch. */
static void
fail_batch(int code, const char *message)
{
	for (int i = 0; i < nmembers; i++)
	{
		finish(&worker_shared->slots[members[i].slot], false, code, message);
	}
	nmembers = 0;
}

/*
 * before_shmem_exit: fails every request that waits for this worker, frees
 * abandoned buffers, and publishes that the worker stopped.
 */
static void
worker_exit(int code, Datum arg)
{
	executor_stop(NULL);
	for (int i = 0; i < worker_shared->nslots; i++)
		finish(&worker_shared->slots[i], false, ERRCODE_ADMIN_SHUTDOWN,
			   "the inference worker stopped before this request finished");
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.phase = WORKER_STOPPED;
	worker_shared->stats.pid = 0;
	worker_shared->stats.executor_pid = 0;
	worker_shared->worker_latch = NULL;
	SpinLockRelease(&worker_shared->mutex);
}

/* Attaches the area of request buffers, creating it on the first start. */
static void
attach_request_area(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (worker_shared->area_handle == DSM_HANDLE_INVALID)
	{
		request_area = dsa_create(LWLockNewTrancheId());
		dsa_pin(request_area);
		dsa_pin_mapping(request_area);
		SpinLockAcquire(&worker_shared->mutex);
		worker_shared->area_handle = dsa_get_handle(request_area);
		SpinLockRelease(&worker_shared->mutex);
	}
	else
	{
		request_area = dsa_attach(worker_shared->area_handle);
		dsa_pin_mapping(request_area);
	}
	MemoryContextSwitchTo(old);
}

/* Bytes a request of rows rows takes in the arena, each tensor 64-byte aligned. */
static int64
arena_bytes_for(const WorkerSlot *r, int64 rows)
{
	int64		bytes = 0;

	for (int i = 0; i < r->ninputs; i++)
		bytes += TYPEALIGN(64, rows * r->input_elems[i] * sizeof(float));
	for (int o = 0; o < r->noutputs; o++)
		bytes += TYPEALIGN(64, rows * r->output_elems[o] * sizeof(float));
	return bytes;
}

/* Whether two requests are for the same model version with the same shapes. */
static bool
same_model(const WorkerSlot *a, const WorkerSlot *b)
{
	return memcmp(&a->key, &b->key, sizeof(SharedCacheKey)) == 0 &&
		a->ninputs == b->ninputs &&
		memcmp(a->input_elems, b->input_elems, sizeof(a->input_elems)) == 0 &&
		memcmp(a->output_elems, b->output_elems, sizeof(a->output_elems)) == 0;
}

/*
 * Chooses the next batch: the oldest pending request, then the pending
 * requests for the same model, in slot order, that fit.  Every request in
 * time becomes the oldest, so none waits for ever.  Returns the batch's
 * rows (0: nothing pending); *oldest is the first request's submission time.
 */
static int64
choose_batch(TimestampTz *oldest)
{
	int			first = -1;
	WorkerSlot	lead = {0};
	int64		rows = 0;
	int			noutputs = 0;

	nmembers = 0;
	for (int i = 0; i < worker_shared->nslots; i++)
	{
		WorkerSlot *s = &worker_shared->slots[i];

		SpinLockAcquire(&s->mutex);
		if (s->state == SLOT_PENDING && (first < 0 || s->submitted < lead.submitted))
		{
			first = i;
			lead = *s;
		}
		SpinLockRelease(&s->mutex);
	}
	if (first < 0)
		return 0;
	*oldest = lead.submitted;
	/* members in slot order, the lead first; each request whole */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < worker_shared->nslots; i++)
		{
			WorkerSlot *s = &worker_shared->slots[i];
			WorkerSlot	copy;
			WorkerSlot	widest;

			if ((pass == 0) != (i == first))
				continue;
			SpinLockAcquire(&s->mutex);
			copy = *s;
			SpinLockRelease(&s->mutex);
			if (copy.state != SLOT_PENDING || !same_model(&copy, &lead))
				continue;
			widest = copy;
			widest.noutputs = Max(noutputs, copy.noutputs);
			if (nmembers > 0 &&
				(rows + copy.rows > worker_shared->max_batch ||
				 arena_bytes_for(&widest, rows + copy.rows) > worker_shared->arena_bytes))
				continue;
			members[nmembers].slot = i;
			members[nmembers].request = copy;
			members[nmembers].first_row = rows;
			nmembers++;
			rows += copy.rows;
			noutputs = widest.noutputs;
		}
	return rows;
}

/* Marks the chosen requests RUNNING, dropping those taken back meanwhile. */
static int64
claim_batch(void)
{
	int			kept = 0;
	int64		rows = 0;
	TimestampTz now = GetCurrentTimestamp();
	int64		delay = 0;

	for (int i = 0; i < nmembers; i++)
	{
		WorkerSlot *s = &worker_shared->slots[members[i].slot];
		bool		claimed;

		SpinLockAcquire(&s->mutex);
		claimed = (s->state == SLOT_PENDING && s->request_id == members[i].request.request_id);
		if (claimed)
			s->state = SLOT_RUNNING;
		SpinLockRelease(&s->mutex);
		if (!claimed)
			continue;
		members[kept] = members[i];
		members[kept].first_row = rows;
		rows += members[i].request.rows;
		delay += Max(0, now - members[i].request.submitted);
		kept++;
	}
	nmembers = kept;
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.requests += kept;
	worker_shared->stats.queue_delay_us += delay;
	SpinLockRelease(&worker_shared->mutex);
	return rows;
}

/* Lays out the batch in the arena and copies the requests' inputs there. */
static void
stage_inputs(PiExecRequest *req, int64 rows)
{
	const WorkerSlot *lead = &members[0].request;
	int64		offset = 0;

	req->noutputs = 0;
	for (int m = 0; m < nmembers; m++)
		req->noutputs = Max(req->noutputs, members[m].request.noutputs);
	for (int i = 0; i < lead->ninputs; i++)
	{
		int64		row_bytes = lead->input_elems[i] * sizeof(float);

		req->input_offset[i] = offset;
		for (int m = 0; m < nmembers; m++)
		{
			const WorkerSlot *r = &members[m].request;
			const char *src = (const char *) dsa_get_address(request_area, r->buffer);

			for (int j = 0; j < i; j++)
				src += r->rows * r->input_elems[j] * sizeof(float);
			memcpy(worker_arena + offset + members[m].first_row * row_bytes, src, r->rows * row_bytes);
		}
		offset += TYPEALIGN(64, rows * row_bytes);
	}
	for (int o = 0; o < req->noutputs; o++)
	{
		req->output_offset[o] = offset;
		offset += TYPEALIGN(64, rows * lead->output_elems[o] * sizeof(float));
	}
}

/* Copies each request's outputs from the arena into its buffer, then marks it DONE. */
static void
deliver_outputs(const PiExecRequest *req)
{
	for (int m = 0; m < nmembers; m++)
	{
		const WorkerSlot *r = &members[m].request;
		WorkerSlot *s = &worker_shared->slots[members[m].slot];
		char	   *dst = (char *) dsa_get_address(request_area, r->buffer);

		for (int i = 0; i < r->ninputs; i++)
			dst += r->rows * r->input_elems[i] * sizeof(float);
		for (int o = 0; o < r->noutputs; o++)
		{
			int64		row_bytes = r->output_elems[o] * sizeof(float);

			memcpy(dst, worker_arena + req->output_offset[o] + members[m].first_row * row_bytes,
				   r->rows * row_bytes);
			dst += r->rows * row_bytes;
		}
		finish(s, true, 0, NULL);
	}
	nmembers = 0;
}

/*
 * The executor died or broke the protocol: fails the claimed batch, if any,
 * and marks the executor for a restart.
 */
static void
executor_lost(const char *why)
{
	char		message[512];

	executor_stop(why);
	snprintf(message, sizeof(message),
			 "the inference executor process ended (%s) while running this request",
			 executor_end_reason());
	fail_batch(ERRCODE_SYSTEM_ERROR, message);
	models_forget_all();
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.phase = WORKER_RESTARTING;
	worker_shared->stats.executor_restarts++;
	SpinLockRelease(&worker_shared->mutex);
}

/* Runs the claimed batch of rows rows in the executor and delivers the results. */
static ExecutorWait
run_batch(int64 rows)
{
	PiExecRequest req = {0};
	PiExecReply reply;
	ExecutorWait w;

	w = models_ensure(&members[0].request, &req.model_handle, &reply);
	if (w != EXECUTOR_OK)
		return w;
	if (reply.status != PI_OK)
	{
		fail_batch(pg_infer_status_errcode(reply.status), reply.message);
		return EXECUTOR_OK;
	}
	req.magic = PI_EXEC_PROTOCOL_MAGIC;
	req.command = PI_EXEC_RUN;
	req.rows = rows;
	req.tf32 = pg_infer_tf32 ? 1 : 0;
	stage_inputs(&req, rows);
	w = executor_call(&req, NULL, &reply);
	if (w != EXECUTOR_OK)
		return w;
	if (reply.status != PI_OK)
	{
		fail_batch(pg_infer_status_errcode(reply.status), reply.message);
		return EXECUTOR_OK;
	}
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.batches++;
	worker_shared->stats.rows += rows;
	worker_shared->stats.forward_us += reply.run_usec;
	worker_shared->stats.max_batch_rows = Max(worker_shared->stats.max_batch_rows, rows);
	SpinLockRelease(&worker_shared->mutex);
	deliver_outputs(&req);
	return EXECUTOR_OK;
}

/* Fails every pending request: the worker cannot serve them (phase's reason). */
static void
fail_pending(void)
{
	char		message[512];
	TimestampTz oldest;

	SpinLockAcquire(&worker_shared->mutex);
	snprintf(message, sizeof(message), "the inference worker cannot run models: %s",
			 worker_shared->stats.last_error);
	SpinLockRelease(&worker_shared->mutex);
	while (choose_batch(&oldest) > 0)
	{
		claim_batch();
		fail_batch(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, message);
	}
}

/* How long the batch led by a request submitted at oldest may still wait, in µs. */
static int64
delay_left(TimestampTz oldest, int64 rows)
{
	if (pg_infer_worker_max_delay_us <= 0 || rows >= worker_shared->max_batch)
		return 0;
	return pg_infer_worker_max_delay_us - (GetCurrentTimestamp() - oldest);
}

/* One turn of the loop: run a batch if one is due, else wait. */
static ExecutorWait
serve_once(void)
{
	TimestampTz oldest;
	int64		rows = choose_batch(&oldest);
	int64		wait_us = 0;
	bool		readable;
	ExecutorWait w;

	if (rows > 0 && (wait_us = delay_left(oldest, rows)) <= 0)
	{
		rows = claim_batch();
		if (rows == 0)
			return EXECUTOR_OK;
		w = run_batch(rows);
		if (w == EXECUTOR_GONE)
			executor_lost("it ended while running a batch");
		return w;
	}
	nmembers = 0;				/* chosen but not claimed: they stay pending */
	if (rows > 0 && wait_us < 1000)
	{
		pg_usleep(wait_us);
		return EXECUTOR_OK;
	}
	w = executor_wait(rows > 0 ? wait_us / 1000 : IDLE_CHECK_MS, &readable);
	if (w == EXECUTOR_OK && readable)
		w = EXECUTOR_GONE;		/* nothing was asked: it exited or wrote out of turn */
	else if (w == EXECUTOR_OK && rows == 0)
		w = models_expire();
	if (w == EXECUTOR_GONE)
		executor_lost("it exited or wrote while idle");
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

	members = MemoryContextAlloc(TopMemoryContext, sizeof(BatchMember) * worker_shared->nslots);
	attach_request_area();
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
