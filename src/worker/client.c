/*
 * client.c
 *	  The requesting side of the inference worker: whether a forward pass
 *	  goes to the worker (pg_infer.device and the worker's state), and
 *	  sending it there through this process's slot.
 *
 * A backend or parallel worker uses the slot of its PGPROC (pgprocno); the
 * slot's buffer, in the worker's DSA area, holds the inputs, then the
 * outputs.  Waits are on this process's latch: cancel and statement_timeout
 * interrupt them (the request is taken back or abandoned first), and a
 * worker that stops fails the request at once.  With pg_infer.device =
 * 'auto', a request the worker cannot run (too large for its limits, its
 * executor stopped or too slow) runs in this backend instead, when this
 * backend's pg_infer.work_mem can hold one row of it.  include/pi_worker.h
 * has the slot states and locks.
 */
#include "pi_worker.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/memutils.h"

#define WAIT_CHECK_MS 1000		/* how often a waiting request checks the worker is alive */

static dsa_area *request_area = NULL;
static bool exit_callback_set = false;
static uint64 request_count = 0;

/* The worker's phase, whether it has a GPU, and the reason it gave for its state. */
static WorkerPhase
worker_state(bool *gpu, char *reason, size_t len)
{
	WorkerPhase phase;

	SpinLockAcquire(&worker_shared->mutex);
	phase = worker_shared->stats.phase;
	*gpu = worker_shared->stats.gpu;
	if (reason)
		strlcpy(reason, worker_shared->stats.last_error, len);
	SpinLockRelease(&worker_shared->mutex);
	return phase;
}

/* Raises the ERROR for pg_infer.device = 'cuda' when the worker cannot serve. */
static void
cuda_unavailable(const char *name, const char *why, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("model \"%s\" cannot run on the GPU: %s", name, why),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("SET pg_infer.device = 'auto' runs it on the CPU engine where no GPU serves.")));
}

/* Whether this backend may run lm's forward passes itself when the worker cannot. */
static bool
may_fall_back(const LoadedModel *lm)
{
	return pg_infer_device == DEVICE_AUTO && executors_rows_fit(lm) > 0;
}

/*
 * Whether lm's forward passes go to the inference worker.  With
 * pg_infer.device = 'cuda', every reason they cannot is an ERROR.  While the
 * worker's executor is unresponsive, 'auto' runs them in this backend when
 * it can.
 */
bool
worker_routes(const LoadedModel *lm, const char *name)
{
	bool		cuda = (pg_infer_device == DEVICE_CUDA);
	bool		gpu;
	WorkerPhase phase;
	char		reason[512];

	if (pg_infer_device == DEVICE_CPU)
		return false;
	if (worker_shared == NULL || pg_infer_worker_device == WORKER_DEVICE_OFF)
	{
		if (cuda)
			cuda_unavailable(name, "no inference worker runs",
							 "pg_infer must be in shared_preload_libraries, with pg_infer.worker_device other than 'off'.");
		return false;
	}
	phase = worker_state(&gpu, reason, sizeof(reason));
	if (phase == WORKER_UNRESPONSIVE && may_fall_back(lm))
		return false;
	if (phase != WORKER_READY && phase != WORKER_RESTARTING && phase != WORKER_UNRESPONSIVE)
	{
		if (cuda)
			cuda_unavailable(name, phase == WORKER_NO_DEVICE ? "the inference worker found no usable GPU"
							 : psprintf("the inference worker is %s", worker_phase_name(phase)),
							 reason[0] ? reason : NULL);
		return false;
	}
	if (cuda && !gpu)
		cuda_unavailable(name, "the inference worker runs on the CPU",
						 "pg_infer.worker_device is 'cpu'.");
	if (gpu && pi_model_cpu_only_node(lm->model) >= 0)
	{
		const PiNode *n = &lm->model->nodes[pi_model_cpu_only_node(lm->model)];

		if (cuda)
			cuda_unavailable(name, psprintf("node \"%s\" (%s) has no GPU implementation",
											n->name, pi_op_name(n->op)),
							 "Tree ensembles and the other operators of tabular models run on the CPU engine.");
		return false;
	}
	/* a length variant is an image over its version's (model_cache_at_length) */
	if (lm->length_variant)
		lm = lm->base;
	if (!lm->shared || lm->private_version || MyProc == NULL ||
		MyProc->pgprocno >= worker_shared->nslots ||
		lm->model->ninputs > PI_EXEC_MAX_IO || lm->model->noutputs > PI_EXEC_MAX_IO)
	{
		if (cuda)
			cuda_unavailable(name,
							 lm->private_version ? "its version was created by this transaction"
							 : "it is not in the shared model cache",
							 "Only committed versions in the shared cache run in the inference worker.");
		return false;
	}
	return true;
}

/* What EXPLAIN shows as the device of this session's forward passes. */
const char *
worker_device_label(void)
{
	bool		gpu;
	WorkerPhase phase;
	char		device[sizeof(worker_shared->stats.device_name)];

	if (pg_infer_device == DEVICE_CPU || worker_shared == NULL ||
		pg_infer_worker_device == WORKER_DEVICE_OFF)
		return "cpu";
	phase = worker_state(&gpu, NULL, 0);
	if (phase == WORKER_UNRESPONSIVE && pg_infer_device == DEVICE_AUTO)
		return "cpu";
	if (phase != WORKER_READY && phase != WORKER_RESTARTING && phase != WORKER_UNRESPONSIVE)
		return pg_infer_device == DEVICE_CUDA ? "cuda (unavailable)" : "cpu";
	if (!gpu)
		return "cpu (inference worker)";
	SpinLockAcquire(&worker_shared->mutex);
	strlcpy(device, worker_shared->stats.device_name, sizeof(device));
	SpinLockRelease(&worker_shared->mutex);
	return psprintf("cuda (%s)", device);
}

/* This process's slot. */
static WorkerSlot *
my_slot(void)
{
	return &worker_shared->slots[MyProc->pgprocno];
}

/*
 * Takes back the request of this process, or leaves it to the worker when
 * it is running (the worker frees its buffer).  Raises no errors.
 */
static void
withdraw_request(void)
{
	WorkerSlot *s = my_slot();

	SpinLockAcquire(&s->mutex);
	if (s->state == SLOT_PENDING || s->state == SLOT_DONE || s->state == SLOT_FAILED)
		s->state = SLOT_FREE;
	else if (s->state == SLOT_RUNNING)
		s->state = SLOT_ABANDONED;
	SpinLockRelease(&s->mutex);
}

/* before_shmem_exit: withdraws any request and frees the slot's buffer when it can. */
static void
release_slot(int code, Datum arg)
{
	WorkerSlot *s = my_slot();
	dsa_pointer to_free = InvalidDsaPointer;

	withdraw_request();
	SpinLockAcquire(&s->mutex);
	if (s->state == SLOT_FREE)
	{
		to_free = s->buffer;
		s->buffer = InvalidDsaPointer;
		s->buffer_bytes = 0;
	}
	s->latch = NULL;
	SpinLockRelease(&s->mutex);
	/* DSA takes locks: never under the spinlock */
	if (DsaPointerIsValid(to_free))
		dsa_free(request_area, to_free);
}

/* Attaches the worker's area of request buffers (once per process). */
static void
attach_area(void)
{
	MemoryContext old;
	dsa_handle	handle;

	if (request_area != NULL)
		return;
	SpinLockAcquire(&worker_shared->mutex);
	handle = worker_shared->area_handle;
	SpinLockRelease(&worker_shared->mutex);
	if (handle == DSM_HANDLE_INVALID)
		elog(ERROR, "inference worker is ready but has no request area");
	old = MemoryContextSwitchTo(TopMemoryContext);
	request_area = dsa_attach(handle);
	dsa_pin_mapping(request_area);
	MemoryContextSwitchTo(old);
	if (!exit_callback_set)
	{
		before_shmem_exit(release_slot, (Datum) 0);
		exit_callback_set = true;
	}
}

/*
 * Waits until the slot is FREE (a request this process or an earlier one
 * abandoned is still running) and has a buffer of at least bytes; returns
 * the buffer's address.
 */
static char *
prepare_slot(int64 bytes)
{
	WorkerSlot *s = my_slot();

	for (;;)
	{
		WorkerSlotState state;

		SpinLockAcquire(&s->mutex);
		s->latch = MyLatch;
		state = s->state;
		SpinLockRelease(&s->mutex);
		if (state == SLOT_FREE)
			break;
		if (state != SLOT_ABANDONED)
			elog(ERROR, "inference worker slot %d is in state %d between requests",
				 MyProc->pgprocno, (int) state);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WAIT_CHECK_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (s->buffer_bytes < bytes)
	{
		dsa_pointer old_buffer;
		dsa_pointer new_buffer;

		/* the slot is FREE: this process owns the buffer until it submits */
		SpinLockAcquire(&s->mutex);
		old_buffer = s->buffer;
		s->buffer = InvalidDsaPointer;
		s->buffer_bytes = 0;
		SpinLockRelease(&s->mutex);
		if (DsaPointerIsValid(old_buffer))
			dsa_free(request_area, old_buffer);
		new_buffer = dsa_allocate_extended(request_area, bytes, DSA_ALLOC_HUGE);
		SpinLockAcquire(&s->mutex);
		s->buffer = new_buffer;
		s->buffer_bytes = bytes;
		SpinLockRelease(&s->mutex);
	}
	return dsa_get_address(request_area, s->buffer);
}

/*
 * Waits for this process's request to finish; cancel, statement_timeout and
 * a stopped worker end the wait with an ERROR after the request is taken
 * back.  Returns the final state.
 */
static WorkerSlotState
await_request(uint64 generation)
{
	WorkerSlot *s = my_slot();
	volatile WorkerSlotState state = SLOT_PENDING;

	PG_TRY();
	{
		for (;;)
		{
			bool		alive;

			SpinLockAcquire(&s->mutex);
			state = s->state;
			SpinLockRelease(&s->mutex);
			if (state == SLOT_DONE || state == SLOT_FAILED)
				break;
			SpinLockAcquire(&worker_shared->mutex);
			alive = (worker_shared->stats.pid != 0 && worker_shared->generation == generation);
			SpinLockRelease(&worker_shared->mutex);
			if (!alive)
				ereport(ERROR,
						(errcode(ERRCODE_ADMIN_SHUTDOWN),
						 errmsg("the inference worker stopped while this request waited")));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 WAIT_CHECK_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		withdraw_request();
		PG_RE_THROW();
	}
	PG_END_TRY();
	return state;
}

/*
 * Runs one request of rows rows (they fit the worker's buffer) and copies
 * its outputs out; false when the worker handed it back to this backend.
 */
static bool
run_request(const LoadedModel *lm, const char *name, int64 rows, int64 first_row,
			const float *const *inputs, int noutputs, float *const *outputs, bool fallible)
{
	const PiModel *model = lm->model;
	WorkerSlot *s = my_slot();
	int64		bytes = 0;
	char	   *buffer;
	char	   *p;
	uint64		generation;
	Latch	   *worker_latch;
	WorkerSlotState state;

	for (int i = 0; i < model->ninputs; i++)
		bytes += rows * pi_value_row_elems(&model->values[model->inputs[i]]) * sizeof(float);
	for (int o = 0; o < noutputs; o++)
		bytes += rows * pi_value_row_elems(&model->values[model->outputs[o]]) * sizeof(float);
	buffer = prepare_slot(bytes);
	p = buffer;
	for (int i = 0; i < model->ninputs; i++)
	{
		int64		elems = pi_value_row_elems(&model->values[model->inputs[i]]);

		memcpy(p, inputs[i] + first_row * elems, rows * elems * sizeof(float));
		p += rows * elems * sizeof(float);
	}

	SpinLockAcquire(&s->mutex);
	s->key = lm->shared_key;
	s->incarnation = lm->incarnation;
	s->base_incarnation = lm->length_variant ? lm->base->incarnation : 0;
	s->ninputs = model->ninputs;
	s->noutputs = noutputs;
	s->rows = rows;
	for (int i = 0; i < PI_EXEC_MAX_IO; i++)
	{
		s->input_elems[i] = i < model->ninputs ? pi_value_row_elems(&model->values[model->inputs[i]]) : 0;
		s->output_elems[i] = i < model->noutputs ? pi_value_row_elems(&model->values[model->outputs[i]]) : 0;
	}
	strlcpy(s->model_name, name, sizeof(s->model_name));
	s->may_fall_back = fallible;
	s->fall_back = false;
	s->request_id = ++request_count;
	s->submitted = GetCurrentTimestamp();
	s->latch = MyLatch;
	s->state = SLOT_PENDING;
	SpinLockRelease(&s->mutex);

	SpinLockAcquire(&worker_shared->mutex);
	generation = worker_shared->generation;
	worker_latch = worker_shared->worker_latch;
	SpinLockRelease(&worker_shared->mutex);
	if (worker_latch)
		SetLatch(worker_latch);

	state = await_request(generation);
	if (state == SLOT_FAILED)
	{
		int			code;
		bool		fall_back;
		char		message[512];

		SpinLockAcquire(&s->mutex);
		code = s->error_code;
		fall_back = s->fall_back;
		strlcpy(message, s->error_message, sizeof(message));
		s->state = SLOT_FREE;
		SpinLockRelease(&s->mutex);
		if (fall_back)
		{
			elog(DEBUG1, "model \"%s\" runs in this backend: %s", name, message);
			return false;
		}
		ereport(ERROR, (errcode(code), errmsg("model \"%s\": %s", name, message)));
	}
	for (int o = 0; o < noutputs; o++)
	{
		int64		elems = pi_value_row_elems(&model->values[model->outputs[o]]);

		memcpy(outputs[o] + first_row * elems, p, rows * elems * sizeof(float));
		p += rows * elems * sizeof(float);
	}
	SpinLockAcquire(&s->mutex);
	s->state = SLOT_FREE;
	SpinLockRelease(&s->mutex);
	return true;
}

/*
 * Runs rows rows through lm in the inference worker: inputs[i] holds rows
 * rows of input i, outputs[o] receives rows rows of output o for o <
 * noutputs.  Requests larger than the worker's buffer holds are sent in
 * pieces.  Returns the rows done: fewer than rows when the worker handed
 * the rest back to this backend (pg_infer.device = 'auto').
 */
int64
worker_forward(const LoadedModel *lm, const char *name, int64 rows,
			   const float *const *inputs, int noutputs, float *const *outputs)
{
	const PiModel *model = lm->model;
	bool		fallible = may_fall_back(lm);
	int64		row_bytes = 0;
	int64		arena_bytes;
	int64		per_request;

	for (int i = 0; i < model->ninputs; i++)
		row_bytes += pi_value_row_elems(&model->values[model->inputs[i]]) * sizeof(float);
	for (int o = 0; o < noutputs; o++)
		row_bytes += pi_value_row_elems(&model->values[model->outputs[o]]) * sizeof(float);
	SpinLockAcquire(&worker_shared->mutex);
	/* the worker aligns each tensor to 64 bytes in the arena */
	arena_bytes = worker_shared->arena_bytes - 64 * (model->ninputs + noutputs);
	per_request = Min(worker_shared->max_batch, arena_bytes / Max(row_bytes, 1));
	SpinLockRelease(&worker_shared->mutex);
	if (per_request < 1 && fallible)
		return 0;
	if (per_request < 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model \"%s\" needs " INT64_FORMAT " bytes per row, more than the inference worker's buffer",
						name, row_bytes),
				 errhint("Raise pg_infer.worker_buffer_size, or SET pg_infer.device = 'cpu'.")));
	attach_area();
	for (int64 start = 0; start < rows; start += per_request)
		if (!run_request(lm, name, Min(per_request, rows - start), start, inputs, noutputs, outputs, fallible))
			return start;
	return rows;
}
