/*
 * main.c
 *	  pg_infer_executor: the process that runs models for the inference
 *	  worker, on the CPU engine or on a GPU (include/pi_executor_protocol.h).
 *
 *	  pg_infer_executor DEVICE ARENA_BYTES MAX_BATCH [CUDA_LIBRARY]
 *	  (and PG_INFER_EXECUTOR_THREADS: the CPU's threads per RUN)
 *
 * Started by pi_exec_spawn with its command pipe, reply pipe and arena on
 * descriptors 3, 4 and 5.  It maps the arena, opens the device, sends the
 * HELLO reply (an error HELLO, then exit 1, when it cannot start), then
 * answers one request at a time until end of file or QUIT (exit 0).
 *
 * How requests are framed, checked and refused, and which ones end it:
 * include/pi_executor_protocol.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "executor.h"
#include "pi_blas.h"
#include "pi_executor.h"

/* Bytes read at a time when a payload is discarded. */
#define DRAIN_CHUNK 65536

/* Sends a reply; false when the worker is gone. */
static bool
send_reply(const PiExecReply *reply)
{
	return pi_exec_write_all(PI_EXEC_FD_REPLIES, reply, sizeof(*reply)) == 0;
}

/* Parses a decimal argument in [min, max]; false if it is not one. */
static bool
parse_count(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * The CPU threads per RUN from PI_EXEC_THREADS_ENV (1 when unset); false
 * with err set when it is not 1 to PI_EXEC_MAX_THREADS.  With more than
 * one, the engine's BLAS calls are serialised (lanes.c).
 */
static bool
read_threads(int *threads, PiError *err)
{
	const char *value = getenv(PI_EXEC_THREADS_ENV);
	int64_t		n = 1;

	if (value != NULL && !parse_count(value, 1, PI_EXEC_MAX_THREADS, &n))
	{
		pi_fail(err, PI_ERR_INVALID, "%s is \"%s\", expected 1 to %d threads", PI_EXEC_THREADS_ENV,
				value, PI_EXEC_MAX_THREADS);
		return false;
	}
	*threads = (int) n;
	if (n > 1)
		lanes_share_blas();
	return true;
}

/* Reads the command line, maps the arena and opens the device; false with err set. */
static bool
start(ExecState *st, int argc, char **argv, PiError *err)
{
	struct stat sb;
	void	   *arena;
	int			threads;

	if (argc < 4 || argc > 5)
	{
		pi_fail(err, PI_ERR_INVALID, "usage: %s DEVICE ARENA_BYTES MAX_BATCH [CUDA_LIBRARY], got %d arguments",
				PI_EXEC_PROGRAM, argc - 1);
		return false;
	}
	if (!parse_count(argv[2], 1, INT64_MAX, &st->arena_bytes))
	{
		pi_fail(err, PI_ERR_INVALID, "ARENA_BYTES is \"%s\", expected a positive number of bytes", argv[2]);
		return false;
	}
	if (!parse_count(argv[3], 1, INT32_MAX, &st->max_batch))
	{
		pi_fail(err, PI_ERR_INVALID, "MAX_BATCH is \"%s\", expected 1 to %d rows", argv[3], INT32_MAX);
		return false;
	}
	if (fstat(PI_EXEC_FD_ARENA, &sb) != 0)
	{
		pi_fail(err, PI_ERR_INVALID, "the arena (descriptor %d) is not open: %s", PI_EXEC_FD_ARENA, strerror(errno));
		return false;
	}
	if (sb.st_size < st->arena_bytes)
	{
		pi_fail(err, PI_ERR_LIMIT, "the arena file has %lld bytes, expected at least %lld",
				(long long) sb.st_size, (long long) st->arena_bytes);
		return false;
	}
	arena = mmap(NULL, (size_t) st->arena_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, PI_EXEC_FD_ARENA, 0);
	if (arena == MAP_FAILED)
	{
		pi_fail(err, PI_ERR_NOMEM, "could not map the arena of %lld bytes: %s",
				(long long) st->arena_bytes, strerror(errno));
		return false;
	}
	st->arena = arena;
	if (!read_threads(&threads, err))
		return false;
	return device_open(&st->device, argv[1], threads, argc == 5 ? argv[4] : PI_EXEC_CUDA_LIBRARY, err);
}

/* Frees the models, the device and the arena, in that order. */
static void
finish(ExecState *st)
{
	models_free_all(st);
	device_close(&st->device);
	if (st->arena != NULL)
		munmap(st->arena, (size_t) st->arena_bytes);
}

/* Reads and discards len bytes; false when the pipe ends or fails first. */
static bool
drain(int64_t len)
{
	static char sink[DRAIN_CHUNK];

	while (len > 0)
	{
		size_t		n = len < DRAIN_CHUNK ? (size_t) len : DRAIN_CHUNK;

		if (pi_exec_read_all(PI_EXEC_FD_COMMANDS, sink, n) != (int64_t) n)
			return false;
		len -= (int64_t) n;
	}
	return true;
}

/*
 * Reads req's payload: a LOAD's into *image (64-byte aligned, as images
 * must be), anything else discarded with err saying why it was refused.
 * False when the pipe ends or fails first.
 */
static bool
read_payload(const PiExecRequest *req, uint8_t **image, PiError *err)
{
	int64_t		len = req->payload_bytes;

	if (req->command != PI_EXEC_LOAD)
		pi_fail(err, PI_ERR_INVALID, "command %u carries a payload of %lld bytes, expected none (only LOAD does)",
				req->command, (long long) len);
	else if ((*image = aligned_alloc(PI_IMAGE_ALIGN, (len + PI_IMAGE_ALIGN - 1) / PI_IMAGE_ALIGN * PI_IMAGE_ALIGN)) == NULL)
		pi_fail(err, PI_ERR_NOMEM, "LOAD of model %llu: out of memory for an image of %lld bytes",
				(unsigned long long) req->model_handle, (long long) len);
	else if (pi_exec_read_all(PI_EXEC_FD_COMMANDS, *image, (size_t) len) == len)
		return true;
	else
	{
		free(*image);
		*image = NULL;
		return false;
	}
	return drain(len);
}

/* Answers one well-framed request whose payload (if any) has been read. */
static void
dispatch(ExecState *st, const PiExecRequest *req, uint8_t *image, PiExecReply *reply)
{
	PiError		err = {0};

	switch ((PiExecCommand) req->command)
	{
		case PI_EXEC_LOAD:
			command_load(st, req, image, reply);
			return;
		case PI_EXEC_UNLOAD:
			command_unload(st, req, reply);
			return;
		case PI_EXEC_RUN:
			command_run(st, req, reply);
			return;
		case PI_EXEC_QUIT:
			return;
		case PI_EXEC_HELLO:
			break;
	}
	pi_fail(&err, PI_ERR_INVALID, "command %u is not a request, expected LOAD (%d), UNLOAD (%d), RUN (%d) or QUIT (%d)",
			req->command, PI_EXEC_LOAD, PI_EXEC_UNLOAD, PI_EXEC_RUN, PI_EXEC_QUIT);
	reply_error(reply, &err);
}

/*
 * Checks what the framing of the stream depends on: the magic, and a
 * payload that can be read.  False, with err set, when the stream cannot be
 * trusted any more.
 */
static bool
request_in_step(const PiExecRequest *req, PiError *err)
{
	if (req->magic != PI_EXEC_PROTOCOL_MAGIC)
	{
		pi_fail(err, PI_ERR_CORRUPT, "request magic 0x%08x, expected 0x%08x (another build of the protocol?)",
				req->magic, PI_EXEC_PROTOCOL_MAGIC);
		return false;
	}
	if (req->payload_bytes > PI_EXEC_MAX_PAYLOAD)
	{
		pi_fail(err, PI_ERR_LIMIT, "request announces a payload of %lld bytes, expected at most %lld",
				(long long) req->payload_bytes, (long long) PI_EXEC_MAX_PAYLOAD);
		return false;
	}
	return true;
}

/* Answers requests until end of file or QUIT; the exit status. */
static int
serve(ExecState *st)
{
	for (;;)
	{
		PiExecRequest req;
		PiExecReply reply;
		PiError		err = {0};
		uint8_t    *image = NULL;
		int64_t		n = pi_exec_read_all(PI_EXEC_FD_COMMANDS, &req, sizeof(req));

		if (n == 0)
			return 0;
		if (n != (int64_t) sizeof(req))
			return 1;
		memset(&reply, 0, sizeof(reply));
		reply.magic = PI_EXEC_PROTOCOL_MAGIC;
		reply.command = req.command;
		if (!request_in_step(&req, &err))
		{
			reply_error(&reply, &err);
			send_reply(&reply);
			return 1;
		}
		if (req.payload_bytes < 0)
			pi_fail(&err, PI_ERR_INVALID, "request announces a payload of %lld bytes, expected 0 or more",
					(long long) req.payload_bytes);
		else if (req.payload_bytes > 0 && !read_payload(&req, &image, &err))
			return 1;
		if (err.status != PI_OK)
			reply_error(&reply, &err);
		else
			dispatch(st, &req, image, &reply);
		if (!send_reply(&reply))
			return 1;
		if (reply.status == PI_ERR_DEVICE_LOST)
			return PI_EXEC_EXIT_DEVICE_LOST;	/* the GPU's context is gone */
		if (req.command == PI_EXEC_QUIT && reply.status == PI_OK)
			return 0;
	}
}

int
main(int argc, char **argv)
{
	ExecState	st;
	PiExecReply hello;
	PiError		err = {0};
	int			status = 1;

	/* one BLAS thread, as in the server (the sequential build starts none anyway) */
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	openblas_set_num_threads(1);
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	/* a worker that is gone shows as a failed write, not a signal */
	signal(SIGPIPE, SIG_IGN);

	memset(&st, 0, sizeof(st));
	memset(&hello, 0, sizeof(hello));
	hello.magic = PI_EXEC_PROTOCOL_MAGIC;
	hello.command = PI_EXEC_HELLO;
	if (!start(&st, argc, argv, &err))
	{
		reply_error(&hello, &err);
		send_reply(&hello);
		fprintf(stderr, "%s: %s\n", PI_EXEC_PROGRAM, err.message);
	}
	else
	{
		snprintf(hello.device_name, sizeof(hello.device_name), "%s", st.device.name);
		hello.bytes = st.device.total_bytes;
		hello.free_bytes = device_free_bytes(&st.device);
		if (send_reply(&hello))
			status = serve(&st);
	}
	/* a dead GPU context cannot free what it holds: the exit does */
	if (status != PI_EXEC_EXIT_DEVICE_LOST)
		finish(&st);
	return status;
}
