/*
 * worker_executor.c
 *	  The inference worker's side of its executor process: the shared tensor
 *	  arena, starting and stopping pg_infer_executor, and waiting for its
 *	  replies while still answering to the latch, shutdown and postmaster
 *	  death.
 *
 * The executor is started with fork + exec (src/executor/spawn.c) from
 * $libdir, so it maps none of PostgreSQL's shared memory: when it dies, only
 * the requests it was running fail.  State here is the worker's own.
 *
 * The watchdog: a request is written without blocking (a LOAD's image goes
 * through the pipe as the executor reads it) and its reply awaited for at
 * most pg_infer.worker_run_timeout, counted from the last progress; the
 * caller replaces an executor that takes longer.  Meanwhile the worker
 * looks every WATCH_TICK_MS at whether the executor is stopped (SIGSTOP, a
 * debugger): it then reports the phase 'unresponsive' and hands the
 * requests that their backends can run back to them.
 */
#include "worker_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pi_cuda_loader.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define HELLO_TIMEOUT_MS 120000
#define WATCH_TICK_MS 200		/* how often a wait for the executor looks at it */

char	   *worker_arena = NULL;
static int	arena_fd = -1;
static PiExecProcess executor = {0};
static WaitEventSet *wait_set = NULL;
static int	reply_event = -1;
static char end_reason[256];
static bool unresponsive = false;	/* the executor was found stopped */

/* Creates the arena (a memfd both processes map) once per worker. */
void
executor_setup(void)
{
	int64		bytes = (int64) pg_infer_worker_buffer_mb * 1024 * 1024;

	arena_fd = memfd_create("pg_infer arena", MFD_CLOEXEC);
	if (arena_fd < 0 || ftruncate(arena_fd, bytes) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the inference worker's %d MB tensor buffer: %m",
						pg_infer_worker_buffer_mb)));
	worker_arena = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, arena_fd, 0);
	if (worker_arena == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not map the inference worker's tensor buffer: %m")));
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->arena_bytes = bytes;
	worker_shared->max_batch = pg_infer_worker_max_batch;
	SpinLockRelease(&worker_shared->mutex);
}

/* Publishes a phase, and the error that explains it (NULL: none). */
static void
set_phase(WorkerPhase phase, const char *error)
{
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.phase = phase;
	worker_shared->stats.executor_pid = executor.pid;
	if (error)
		strlcpy(worker_shared->stats.last_error, error, sizeof(worker_shared->stats.last_error));
	SpinLockRelease(&worker_shared->mutex);
}

/* Whether an executor process is running. */
bool
executor_running(void)
{
	return executor.pid != 0;
}

/* How the last executor ended ("terminated by signal 9"). */
const char *
executor_end_reason(void)
{
	return end_reason;
}

/*
 * Starts the executor and reads its HELLO.  Publishes READY with the device,
 * or NO_DEVICE / FAILED with the reason; returns whether it is ready.
 */
bool
executor_start(void)
{
	bool		cpu = (pg_infer_worker_device == WORKER_DEVICE_CPU);
	char	   *program = psprintf("%s/%s", pkglib_path, PI_EXEC_PROGRAM);
	char	   *library = psprintf("%s/%s", pkglib_path, PI_EXEC_CUDA_LIBRARY);
	char		errbuf[512];
	PiExecReply hello = {0};
	int			received = -1;
	bool		readable = false;
	TimestampTz deadline;
	ExecutorWait w;

	/* the executor looks for CUDA's libraries there first (pi_cuda_loader_load_libs) */
	if (pg_infer_cuda_library_path && pg_infer_cuda_library_path[0] != '\0')
		setenv(PI_CUDA_LIBRARY_PATH_ENV, pg_infer_cuda_library_path, 1);
	/* the CPU executor's threads per pass (the GPU's executor has none) */
	setenv(PI_EXEC_THREADS_ENV, psprintf("%d", pg_infer_worker_threads), 1);
	if (pi_exec_spawn(&executor, program, cpu ? "cpu" : "cuda", arena_fd,
					  worker_shared->arena_bytes, pg_infer_worker_max_batch,
					  cpu ? NULL : library, errbuf, sizeof(errbuf)) != 0)
	{
		set_phase(WORKER_FAILED, errbuf);
		return false;
	}
	/* writes wait for the pipe to drain under the watchdog, never block */
	if (fcntl(executor.command_fd, F_SETFL, O_NONBLOCK) != 0)
		elog(ERROR, "could not make the executor's command pipe non-blocking: %m");
	unresponsive = false;
	wait_set = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	reply_event = AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, executor.reply_fd, NULL, NULL);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HELLO_TIMEOUT_MS);
	do
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

		w = executor_wait(Max(left, 0), &readable);
	} while (w == EXECUTOR_OK && !readable && GetCurrentTimestamp() < deadline);
	if (w == EXECUTOR_OK && readable)
		received = pi_exec_receive(&executor, &hello);
	if (received == 0 && hello.command == PI_EXEC_HELLO && hello.status == PI_OK)
	{
		SpinLockAcquire(&worker_shared->mutex);
		worker_shared->stats.gpu = !cpu;
		strlcpy(worker_shared->stats.device_name, hello.device_name,
				sizeof(worker_shared->stats.device_name));
		worker_shared->stats.device_total_bytes = hello.bytes;
		worker_shared->stats.last_error[0] = '\0';
		SpinLockRelease(&worker_shared->mutex);
		set_phase(WORKER_READY, NULL);
		return true;
	}
	if (received == 0)
		snprintf(errbuf, sizeof(errbuf), "%s", hello.message);
	else if (w == EXECUTOR_OK && !readable)
		snprintf(errbuf, sizeof(errbuf), "%s did not answer within %d s", program, HELLO_TIMEOUT_MS / 1000);
	else
		snprintf(errbuf, sizeof(errbuf), "%s did not start", program);
	executor_stop(NULL);
	if (!cpu && pg_infer_worker_device == WORKER_DEVICE_AUTO)
	{
		ereport(LOG,
				(errmsg("pg_infer inference worker found no usable GPU, forward passes run in the backends"),
				 errdetail("%s (%s).", errbuf, end_reason)));
		set_phase(WORKER_NO_DEVICE, errbuf);
	}
	else
	{
		ereport(LOG,
				(errmsg("pg_infer inference worker could not start its executor"),
				 errdetail("%s (%s).", errbuf, end_reason)));
		set_phase(WORKER_FAILED, errbuf);
	}
	return false;
}

/* Stops the executor (SIGKILL unless it exited) and records how it ended. */
void
executor_stop(const char *why)
{
	if (wait_set)
	{
		FreeWaitEventSet(wait_set);
		wait_set = NULL;
		reply_event = -1;
	}
	if (executor.pid == 0)
		return;
	pi_exec_stop(&executor, end_reason, sizeof(end_reason));
	if (why)
		ereport(LOG,
				(errmsg("pg_infer executor process %s", end_reason),
				 errdetail("%s", why)));
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.executor_pid = 0;
	SpinLockRelease(&worker_shared->mutex);
}

/*
 * Waits up to timeout_ms (-1: forever) for the executor to write, for the
 * latch, or for shutdown.  *readable tells whether the reply pipe is
 * readable.  Handles config reloads; a postmaster death ends the process.
 */
ExecutorWait
executor_wait(long timeout_ms, bool *readable)
{
	WaitEvent	event;

	*readable = false;
	for (;;)
	{
		int			n;

		if (ShutdownRequestPending)
			return EXECUTOR_SHUTDOWN;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			models_publish();	/* the memory budget may have changed */
		}
		if (wait_set == NULL)
		{
			/* no executor: wait for the latch or the timeout only */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout_ms >= 0 ? WL_TIMEOUT : 0),
							 timeout_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			return EXECUTOR_OK;
		}
		n = WaitEventSetWait(wait_set, timeout_ms, &event, 1, PG_WAIT_EXTENSION);
		if (n == 0)
			return EXECUTOR_OK;	/* timeout: nothing to read */
		if (event.events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			if (timeout_ms >= 0)
				return EXECUTOR_OK;	/* let the caller look at new requests */
			continue;
		}
		if (event.pos == reply_event)
		{
			*readable = true;
			return EXECUTOR_OK;
		}
	}
}

/*
 * Milliseconds left before the watchdog fires for a wait that has made no
 * progress since since, under the current pg_infer.worker_run_timeout (a
 * reload applies to calls in flight); -1 when the limit is off.
 */
static long
watchdog_left_ms(TimestampTz since)
{
	TimestampTz deadline;

	if (pg_infer_worker_run_timeout_ms <= 0)
		return -1;
	deadline = TimestampTzPlusMilliseconds(since, pg_infer_worker_run_timeout_ms);
	return TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
}

/* Milliseconds to wait before looking at the executor again. */
static long
watch_wait_ms(TimestampTz since)
{
	long		left = watchdog_left_ms(since);

	return left < 0 ? WATCH_TICK_MS : Min(WATCH_TICK_MS, left);
}

/* Whether the watchdog fires for a wait without progress since since. */
static bool
watchdog_fired(TimestampTz since)
{
	return pg_infer_worker_run_timeout_ms > 0 && watchdog_left_ms(since) <= 0;
}

/* Whether the executor is stopped (SIGSTOP, a debugger): state T or t in /proc/PID/stat. */
static bool
executor_stopped(void)
{
	char		path[64];
	char		stat[512];
	char	   *state;
	int			fd;
	ssize_t		n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) executor.pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat[n] = '\0';
	/* "PID (COMM) STATE ...", where COMM may hold ')' */
	state = strrchr(stat, ')');
	return state != NULL && state[1] == ' ' && (state[2] == 'T' || state[2] == 't');
}

/*
 * Looks at whether the executor is stopped: publishes the phase
 * 'unresponsive' (and 'ready' again when it goes on), and while it is
 * stopped hands back to their backends the requests that can run there.
 */
void
executor_watch(void)
{
	char		why[128];
	bool		stopped;

	if (executor.pid == 0)
		return;
	stopped = executor_stopped();
	snprintf(why, sizeof(why), "the inference executor process (pid %d) is stopped", (int) executor.pid);
	if (stopped != unresponsive)
	{
		unresponsive = stopped;
		if (stopped)
			ereport(LOG,
					(errmsg("pg_infer: %s", why),
					 errdetail("Requests that can run in their backends go there until it goes on, or is replaced after pg_infer.worker_run_timeout.")));
		else
			ereport(LOG,
					(errmsg("pg_infer: the inference executor process (pid %d) goes on", (int) executor.pid)));
		set_phase(stopped ? WORKER_UNRESPONSIVE : WORKER_READY, stopped ? why : NULL);
	}
	if (stopped)
		requests_release_to_backends(why);
}

/*
 * Writes len bytes to the executor's command pipe, waiting while the pipe
 * is full; EXECUTOR_TIMEOUT when no byte goes through for
 * pg_infer.worker_run_timeout.
 */
static ExecutorWait
send_watched(const void *data, size_t len)
{
	const char *p = data;
	TimestampTz progress = GetCurrentTimestamp();

	while (len > 0)
	{
		ssize_t		n = write(executor.command_fd, p, len);

		if (n > 0)
		{
			p += n;
			len -= n;
			progress = GetCurrentTimestamp();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		{
			executor_stop(psprintf("writing a request failed: %m"));
			return EXECUTOR_GONE;
		}
		if (ShutdownRequestPending)
			return EXECUTOR_SHUTDOWN;
		(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_WRITEABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 executor.command_fd, watch_wait_ms(progress), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);	/* the main loop looks at every slot each turn */
		executor_watch();
		if (watchdog_fired(progress))
			return EXECUTOR_TIMEOUT;
	}
	return EXECUTOR_OK;
}

/*
 * Sends one request (and its payload) and waits for the reply, under the
 * watchdog.  A latch set meanwhile is noted and the wait goes on: requests
 * that arrive now are scheduled after this one.  The caller replaces the
 * executor after EXECUTOR_TIMEOUT; after EXECUTOR_GONE it is stopped.
 */
ExecutorWait
executor_call(const PiExecRequest *req, const void *payload, PiExecReply *reply)
{
	TimestampTz sent;
	ExecutorWait w;
	bool		readable;

	if (executor.pid == 0)
		return EXECUTOR_GONE;
	w = send_watched(req, sizeof(*req));
	if (w == EXECUTOR_OK && req->payload_bytes > 0)
		w = send_watched(payload, (size_t) req->payload_bytes);
	if (w != EXECUTOR_OK)
		return w;
	sent = GetCurrentTimestamp();
	for (;;)
	{
		w = executor_wait(watch_wait_ms(sent), &readable);
		if (w != EXECUTOR_OK)
			return w;
		if (readable)
			break;
		executor_watch();
		if (watchdog_fired(sent))
			return EXECUTOR_TIMEOUT;
	}
	if (pi_exec_receive(&executor, reply) != 0 || reply->command != req->command)
	{
		executor_stop("it closed its reply pipe or sent a reply out of turn");
		return EXECUTOR_GONE;
	}
	if (unresponsive)
		executor_watch();		/* it went on */
	return EXECUTOR_OK;
}
