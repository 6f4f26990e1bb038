/*
 * pi_executor_protocol.h
 *	  The protocol between the inference worker (a PostgreSQL background
 *	  worker) and the executor process it spawns (pg_infer_executor, the
 *	  only process that runs models for the worker and the only one that
 *	  ever initialises CUDA).
 *
 * The executor is a separate program started with fork + exec: it is not a
 * PostgreSQL backend and maps none of PostgreSQL's shared memory, so a GPU
 * fault, a driver abort or kill -9 ends only it.  It inherits three file
 * descriptors:
 *
 *	PI_EXEC_FD_COMMANDS  (read)   requests from the worker, one at a time
 *	PI_EXEC_FD_REPLIES   (write)  one reply per request
 *	PI_EXEC_FD_ARENA     (r/w)    a memfd of arena_bytes (argv), mapped
 *	                              MAP_SHARED by both: the tensors
 *
 * Command line: pg_infer_executor DEVICE ARENA_BYTES MAX_BATCH [CUDA_LIBRARY]
 * where DEVICE is "cpu" or "cuda" (CUDA_LIBRARY: path of pg_infer_cuda.so).
 * On the CPU, the environment variable PI_EXEC_THREADS_ENV (1 to
 * PI_EXEC_MAX_THREADS, default 1) sets how many threads share a RUN's rows.
 *
 * On start the executor sends one PiExecReply for PI_EXEC_HELLO unasked:
 * status PI_OK with the device's name and memory, or an error (no GPU, no
 * driver, library missing) after which it exits.  Then, for each request it
 * reads it sends exactly one reply:
 *
 *	LOAD    payload_bytes bytes of a model image (src/ir/image.c) follow the
 *	        request on the command pipe; the executor attaches it and uploads
 *	        it (cuda), but makes no activation buffers yet.  Reply: bytes it
 *	        holds for the model (its weights' device bytes on a GPU), and the
 *	        model's activation plan: a RUN of r rows needs fixed_bytes +
 *	        r * row_bytes of activation buffers (the engine's buffer plan, on
 *	        either device, for each of the CPU's threads), and takes at most
 *	        max_rows rows (MAX_BATCH, or
 *	        fewer where a buffer would pass INT32_MAX floats; 0: not even one
 *	        row can be addressed).
 *	        With base_handle (nonzero), the image is that of the same network
 *	        at another sequence length, which leaves out the weights it shares
 *	        with the loaded model base_handle (pi_model_image_attach_over):
 *	        they are that model's, which cannot be unloaded before it.
 *	UNLOAD  frees model_handle and its buffers.  Reply: the bytes it held.
 *	        Refused while a model loaded over it (base_handle) is loaded.
 *	RUN     rows rows of model_handle: input i is read from the arena at
 *	        input_offset[i] (rows x the model's row elements of input i),
 *	        output o written at output_offset[o] for o < noutputs.  The
 *	        model's activation buffers are made (or grown) for the rows of
 *	        the request, and the buffers of all models together stay within
 *	        memory_limit bytes (0: no limit): other models' buffers are freed
 *	        first, least recently run first.
 *	QUIT    replies, then exits 0.
 *
 * Every request is checked before anything is done (handle, rows in 1 to
 * the model's max_rows, activations within memory_limit, noutputs up to the
 * model's and PI_EXEC_MAX_IO, each arena range inside the arena and
 * float-aligned, a model of at most PI_EXEC_MAX_IO inputs); a request
 * refused gets a reply with status and message and
 * changes nothing.  payload_bytes bytes follow every request that announces
 * them: a LOAD's are its image, any other command's are read, discarded and
 * the request refused, so the stream stays in step.  A request with a bad
 * magic, or announcing more than PI_EXEC_MAX_PAYLOAD, gets an error
 * reply and then the executor exits 1, as it does (without a reply) when the
 * command pipe ends inside a request.  On the CPU, HELLO's bytes is the
 * host's memory and free_bytes is 0 (not tracked); LOAD's bytes is the image.
 *
 * Both sides are plain C; nothing here depends on PostgreSQL.  All integers
 * are native (the two processes run on one machine from one build).
 */
#ifndef PI_EXECUTOR_PROTOCOL_H
#define PI_EXECUTOR_PROTOCOL_H

#include <stdint.h>

#define PI_EXEC_PROTOCOL_MAGIC 0x7069457au	/* "piEx" + 2, bumped with the layout */
#define PI_EXEC_FD_COMMANDS 3
#define PI_EXEC_FD_REPLIES 4
#define PI_EXEC_FD_ARENA 5
#define PI_EXEC_MAX_IO 16		/* inputs or outputs a worker request carries (all a model has) */
#define PI_EXEC_MAX_PAYLOAD ((int64_t) 1 << 40)	/* 1 TiB: more than any device holds */
#define PI_EXEC_PROGRAM "pg_infer_executor"
#define PI_EXEC_CUDA_LIBRARY "pg_infer_cuda.so"
#define PI_EXEC_THREADS_ENV "PG_INFER_EXECUTOR_THREADS"
#define PI_EXEC_MAX_THREADS 64
/*
 * The executor's exit status after a reply with PI_ERR_DEVICE_LOST: the
 * GPU's context is dead (a sticky CUDA error), so it exits for the worker
 * to start a fresh one.
 */
#define PI_EXEC_EXIT_DEVICE_LOST 3

typedef enum PiExecCommand
{
	PI_EXEC_HELLO = 1,
	PI_EXEC_LOAD,
	PI_EXEC_UNLOAD,
	PI_EXEC_RUN,
	PI_EXEC_QUIT
} PiExecCommand;

typedef struct PiExecRequest
{
	uint32_t	magic;
	uint32_t	command;		/* PiExecCommand */
	uint64_t	model_handle;	/* chosen by the worker, unique per load */
	uint64_t	base_handle;	/* LOAD: the model it shares weights with; 0: none */
	int64_t		payload_bytes;	/* LOAD: image bytes that follow */
	int64_t		rows;			/* RUN */
	int64_t		memory_limit;	/* RUN: activation bytes of all models; 0: no limit */
	int32_t		noutputs;		/* RUN: outputs wanted (the first noutputs) */
	int32_t		tf32;			/* RUN: TF32 GEMMs allowed (cuda) */
	int64_t		input_offset[PI_EXEC_MAX_IO];	/* RUN: arena byte offsets */
	int64_t		output_offset[PI_EXEC_MAX_IO];
} PiExecRequest;

typedef struct PiExecReply
{
	uint32_t	magic;
	uint32_t	command;		/* the request's command */
	int32_t		status;			/* PiStatus */
	int32_t		pad;
	int64_t		bytes;			/* LOAD: bytes held for the model; HELLO: device total */
	int64_t		free_bytes;		/* HELLO, LOAD: device memory free afterwards */
	int64_t		run_usec;		/* RUN: time in the forward pass, copies included */
	int64_t		fixed_bytes;	/* LOAD: activations of a RUN of r rows are */
	int64_t		row_bytes;		/* fixed_bytes + r * row_bytes */
	int64_t		max_rows;		/* LOAD: most rows of a RUN */
	char		device_name[128];	/* HELLO */
	char		message[512];	/* status != PI_OK: what went wrong */
} PiExecReply;

#endif							/* PI_EXECUTOR_PROTOCOL_H */
