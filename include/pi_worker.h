/*
 * pi_worker.h
 *	  The inference worker (src/worker): one background worker that merges
 *	  the forward passes of every backend into batches and runs them in the
 *	  executor process it supervises (pg_infer_executor, on the GPU or the
 *	  CPU engine).
 *
 * Shared state.  WorkerShared, in the main shared memory, holds the
 * worker's status and one WorkerSlot per PGPROC that can run queries
 * (indexed by pgprocno).  A slot carries at most one request at a time; its
 * tensors live in a DSA area the worker creates (the request's buffer:
 * inputs, then outputs).
 *
 * Locking:
 *	- WorkerShared.mutex (spinlock) guards every field of WorkerShared
 *	  outside the slots: phase, device, statistics, resident models, area
 *	  handle.
 *	- WorkerSlot.mutex (spinlock) guards the slot's fields.  The buffer's
 *	  contents are not under it: a requester writes them before PENDING and
 *	  reads them after DONE; the worker reads and writes them only between
 *	  RUNNING and DONE/FAILED.  No spinlock is held while copying tensors.
 *
 * Slot states: FREE -> PENDING (requester) -> RUNNING (worker) -> DONE or
 * FAILED (worker) -> FREE (requester, having read the result).  A requester
 * that stops waiting (cancel, statement_timeout, exit) takes a PENDING
 * request back (FREE) or marks a RUNNING one ABANDONED; the worker frees an
 * abandoned slot's buffer before its next RUN and makes it FREE.  A request
 * FAILED with fall_back set runs in its requester's backend instead (it
 * said it may, with may_fall_back).
 */
#ifndef PI_WORKER_H
#define PI_WORKER_H

#include "postgres.h"

#include "pg_infer.h"
#include "pi_executor_protocol.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/dsa.h"

/* pg_infer.device: where this session's forward passes run. */
typedef enum DeviceChoice
{
	DEVICE_AUTO,				/* the worker when it runs, else this backend */
	DEVICE_CPU,					/* always this backend's CPU engine */
	DEVICE_CUDA					/* the worker's GPU, or an ERROR */
} DeviceChoice;

/* pg_infer.worker_device: what the worker's executor runs on. */
typedef enum WorkerDeviceChoice
{
	WORKER_DEVICE_AUTO,			/* a GPU if there is one, else no worker service */
	WORKER_DEVICE_CUDA,			/* a GPU, or the worker reports why not */
	WORKER_DEVICE_CPU,			/* the CPU engine (tests the path without a GPU) */
	WORKER_DEVICE_OFF			/* no worker */
} WorkerDeviceChoice;

typedef enum WorkerPhase
{
	WORKER_STOPPED,				/* not running */
	WORKER_STARTING,			/* executor starting */
	WORKER_READY,				/* serving requests */
	WORKER_RESTARTING,			/* executor died; a new one is starting */
	WORKER_NO_DEVICE,			/* device 'auto' and no usable GPU */
	WORKER_FAILED,				/* the executor could not start: last_error */
	WORKER_UNRESPONSIVE			/* the executor is stopped (SIGSTOP, a debugger) */
} WorkerPhase;

typedef enum WorkerSlotState
{
	SLOT_FREE,
	SLOT_PENDING,
	SLOT_RUNNING,
	SLOT_DONE,
	SLOT_FAILED,
	SLOT_ABANDONED
} WorkerSlotState;

typedef struct WorkerSlot
{
	slock_t		mutex;
	WorkerSlotState state;
	Latch	   *latch;			/* set when the state changes */
	uint64		request_id;		/* the requester's count of its submissions */
	SharedCacheKey key;			/* the model version */
	uint64		incarnation;	/* its shared image, pinned by the requester */
	uint64		base_incarnation;	/* key.sequence_length > 0: the image of
									 * the version (sequence_length 0), which
									 * the requester pins too */
	int			ninputs;
	int			noutputs;		/* outputs wanted: the model's first noutputs */
	int64		rows;
	int64		input_elems[PI_EXEC_MAX_IO];	/* per row */
	int64		output_elems[PI_EXEC_MAX_IO];
	dsa_pointer buffer;			/* inputs, then outputs; owned by the slot */
	int64		buffer_bytes;
	TimestampTz submitted;
	bool		may_fall_back;	/* the requester can run it in its backend */
	bool		fall_back;		/* FAILED: run it in the backend instead */
	int			error_code;		/* FAILED: SQLSTATE and message */
	char		error_message[512];
	char		model_name[NAMEDATALEN];
} WorkerSlot;

/* What pginfer.worker shows. */
typedef struct WorkerStats
{
	WorkerPhase phase;
	int			pid;
	int			executor_pid;
	bool		gpu;			/* the executor runs on a GPU */
	char		device_name[128];
	char		last_error[512];
	int64		device_total_bytes;
	int64		memory_used;	/* bytes of the resident models */
	int64		memory_budget;
	int			models_resident;
	int64		requests;
	int64		batches;
	int64		rows;
	int64		queue_delay_us; /* summed over requests */
	int64		forward_us;		/* summed over batches */
	int64		executor_restarts;
	int64		max_batch_rows;
} WorkerStats;

/* How many model versions the worker keeps resident at most. */
#define WORKER_MAX_RESIDENT 256

/* One resident model version, as pginfer.worker_models shows it. */
typedef struct WorkerResidentInfo
{
	SharedCacheKey key;
	char		model_name[NAMEDATALEN];
	int64		bytes;			/* what the executor holds for it */
	TimestampTz last_used;
} WorkerResidentInfo;

typedef struct WorkerShared
{
	slock_t		mutex;
	uint64		generation;		/* bumped at each worker start */
	Latch	   *worker_latch;
	dsa_handle	area_handle;	/* request buffers; DSM_HANDLE_INVALID until made */
	int64		arena_bytes;	/* largest request, inputs plus outputs */
	int			max_batch;
	WorkerStats stats;
	WorkerResidentInfo resident[WORKER_MAX_RESIDENT];	/* the first
														 * stats.models_resident */
	int			nslots;
	WorkerSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} WorkerShared;

/* GUCs (src/worker/worker_setup.c) */
extern int	pg_infer_device;
extern int	pg_infer_worker_device;
extern int	pg_infer_worker_max_batch;
extern int	pg_infer_worker_max_delay_us;
extern int	pg_infer_worker_memory_mb;
extern int	pg_infer_worker_buffer_mb;
extern int	pg_infer_worker_work_mem_kb;
extern int	pg_infer_worker_run_timeout_ms;
extern int	pg_infer_worker_time_slice_ms;
extern int	pg_infer_worker_threads;
extern bool pg_infer_tf32;
extern char *pg_infer_cuda_library_path;

/* src/worker/worker_setup.c */
extern WorkerShared *worker_shared;
extern void worker_init(void);
extern const char *worker_phase_name(WorkerPhase phase);

/* src/worker/worker_main.c */
extern PGDLLEXPORT void pg_infer_worker_main(Datum arg);

/* src/worker/client.c */
extern bool worker_routes(const LoadedModel *lm, const char *name);
extern int64 worker_forward(const LoadedModel *lm, const char *name, int64 rows,
							const float *const *inputs, int noutputs, float *const *outputs);
extern const char *worker_device_label(void);

/* src/worker/forward.c */
extern void model_forward(LoadedModel *lm, const char *name, int64 rows,
						  const float *const *inputs, int noutputs, float *const *outputs);

#endif							/* PI_WORKER_H */
