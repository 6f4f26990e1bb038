/*
 * worker_setup.c
 *	  The inference worker's GUCs, its shared memory (WorkerShared and the
 *	  request slots) and its registration as a background worker.
 *
 * The worker is registered when pg_infer is in shared_preload_libraries and
 * pg_infer.worker_device is not 'off'.  include/pi_worker.h describes the
 * shared state and its locks.
 */
#include "pi_worker.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

int			pg_infer_device = DEVICE_AUTO;
int			pg_infer_worker_device = WORKER_DEVICE_AUTO;
int			pg_infer_worker_max_batch = 4096;
int			pg_infer_worker_max_delay_us = 0;
int			pg_infer_worker_memory_mb = 4096;
int			pg_infer_worker_buffer_mb = 256;
int			pg_infer_worker_work_mem_kb = 1024 * 1024;
int			pg_infer_worker_run_timeout_ms = 60000;
int			pg_infer_worker_time_slice_ms = 50;
int			pg_infer_worker_threads = 1;
bool		pg_infer_tf32 = false;
char	   *pg_infer_cuda_library_path = NULL;

WorkerShared *worker_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static const struct config_enum_entry device_options[] = {
	{"auto", DEVICE_AUTO, false},
	{"cpu", DEVICE_CPU, false},
	{"cuda", DEVICE_CUDA, false},
	{NULL, 0, false}
};

static const struct config_enum_entry worker_device_options[] = {
	{"auto", WORKER_DEVICE_AUTO, false},
	{"cuda", WORKER_DEVICE_CUDA, false},
	{"cpu", WORKER_DEVICE_CPU, false},
	{"off", WORKER_DEVICE_OFF, false},
	{NULL, 0, false}
};

/* Bytes of WorkerShared with one slot per process that can run queries. */
static Size
worker_shmem_size(void)
{
	return add_size(offsetof(WorkerShared, slots), mul_size(MaxBackends, sizeof(WorkerSlot)));
}

/* shmem_request_hook: room for the worker's shared state. */
static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(worker_shmem_size()));
}

/* shmem_startup_hook: initializes the shared state and the slots. */
static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shared = ShmemInitStruct("pg_infer worker", worker_shmem_size(), &found);
	if (!found)
	{
		memset(worker_shared, 0, worker_shmem_size());
		SpinLockInit(&worker_shared->mutex);
		worker_shared->area_handle = DSM_HANDLE_INVALID;
		worker_shared->stats.phase = WORKER_STOPPED;
		worker_shared->nslots = MaxBackends;
		for (int i = 0; i < MaxBackends; i++)
		{
			SpinLockInit(&worker_shared->slots[i].mutex);
			worker_shared->slots[i].state = SLOT_FREE;
			worker_shared->slots[i].buffer = InvalidDsaPointer;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Registers the background worker. */
static void
register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	/* it reads no database, so hot standbys get one too, as soon as they accept queries */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_infer");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pg_infer_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_infer inference worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_infer inference worker");
	RegisterBackgroundWorker(&worker);
}

/* Called from _PG_init: GUCs; shared memory and the worker when preloaded. */
void
worker_init(void)
{
	DefineCustomEnumVariable("pg_infer.device",
							 "Where forward passes run: auto, cpu or cuda.",
							 "auto: the inference worker when it serves requests, else this backend's CPU engine. "
							 "cpu: always this backend. cuda: the inference worker's GPU, or an error.",
							 &pg_infer_device, DEVICE_AUTO, device_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_max_delay",
							"Longest a request waits for others to merge with, in microseconds.",
							"0 runs a batch as soon as the executor is free; requests that arrive "
							"while it is busy are still merged.",
							&pg_infer_worker_max_delay_us, 0, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_memory",
							"Memory the inference worker's resident models may take (GPU memory on a GPU).",
							NULL, &pg_infer_worker_memory_mb, 4096, 16, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_work_mem",
							"Memory for the activation buffers of the inference worker's executor, all models together.",
							"Merged batches are run in pieces that fit; a model whose single row does not fit "
							"runs in the backends.",
							&pg_infer_worker_work_mem_kb, 1024 * 1024, 1024, INT_MAX, PGC_SIGHUP, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_run_timeout",
							"Longest the inference worker's executor may take to answer a request.",
							"A forward pass that takes longer fails, and the executor is replaced; "
							"with pg_infer.device = 'auto' the backend runs it instead.  0 turns the limit off.",
							&pg_infer_worker_run_timeout_ms, 60000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_time_slice",
							"Time one forward pass of the inference worker aims at, so that requests for other models wait at most about as long.",
							"Batches are cut to the rows that a model's measured time per row fits in it.  "
							"0 runs batches as large as the other limits allow.",
							&pg_infer_worker_time_slice_ms, 50, 0, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("pg_infer.tf32",
							 "Allows TF32 tensor-core GEMMs on the GPU.",
							 "Faster, but results then differ from the CPU engine's beyond 1e-5.",
							 &pg_infer_tf32, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_threads",
							"Threads that share each forward pass of the inference worker's CPU executor.",
							"For the executor's next start (restart_worker()).  The executor is a process of "
							"its own, not a backend; backends always run their passes on one thread.",
							&pg_infer_worker_threads, 1, 1, PI_EXEC_MAX_THREADS, PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("pg_infer.cuda_library_path",
							   "Directories (colon-separated) searched first for CUDA's libraries.",
							   "For the executor's next start; empty: the dynamic loader's search, the CUDA "
							   "toolkit's directories, then Python's nvidia/cu13/lib wheels.",
							   &pg_infer_cuda_library_path, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	/* settings the worker reads when it starts; without preloading there is no worker */
	DefineCustomEnumVariable("pg_infer.worker_device",
							 "What the inference worker runs models on: auto, cuda, cpu or off.",
							 "auto: a GPU when one is usable, else the worker serves nothing. "
							 "cpu: the CPU engine in the executor process.",
							 &pg_infer_worker_device, WORKER_DEVICE_AUTO, worker_device_options,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_max_batch",
							"Most rows the inference worker merges into one forward pass.",
							NULL, &pg_infer_worker_max_batch, 4096, 1, 65536,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.worker_buffer_size",
							"Shared memory for the tensors of one merged batch.",
							NULL, &pg_infer_worker_buffer_mb, 256, 1, 65536,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	if (pg_infer_worker_device != WORKER_DEVICE_OFF)
		register_worker();
}

/* The name pginfer.worker shows for a phase. */
const char *
worker_phase_name(WorkerPhase phase)
{
	switch (phase)
	{
		case WORKER_STOPPED:
			return "stopped";
		case WORKER_STARTING:
			return "starting";
		case WORKER_READY:
			return "ready";
		case WORKER_RESTARTING:
			return "restarting";
		case WORKER_NO_DEVICE:
			return "no device";
		case WORKER_FAILED:
			return "failed";
		case WORKER_UNRESPONSIVE:
			return "unresponsive";
	}
	return "unknown";
}
