/*
 * pi_executor.h
 *	  Starting the executor process (pg_infer_executor) and talking to it:
 *	  plain C shared by the inference worker and the standalone tests.
 *	  include/pi_executor_protocol.h has the protocol itself.
 */
#ifndef PI_EXECUTOR_H
#define PI_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pi_executor_protocol.h"

/* A running executor as its parent sees it. */
typedef struct PiExecProcess
{
	pid_t		pid;			/* 0 when not running */
	int			command_fd;		/* write end of the command pipe */
	int			reply_fd;		/* read end of the reply pipe */
} PiExecProcess;

/*
 * Starts program (fork + exec) with the command and reply pipes and
 * arena_fd as PI_EXEC_FD_*; every other descriptor above 2 is closed in the
 * child, its signal mask and handlers are reset, and it is killed when its
 * parent dies (PR_SET_PDEATHSIG).  cuda_library may be NULL (device "cpu").
 * Returns 0, or -1 with a message in errbuf.
 */
int			pi_exec_spawn(PiExecProcess *proc, const char *program, const char *device,
						  int arena_fd, int64_t arena_bytes, int64_t max_batch,
						  const char *cuda_library, char *errbuf, size_t errlen);

/*
 * Writes req and then payload_bytes of payload (LOAD); 0, or -1 with errno
 * set (EPIPE: the executor is gone; the caller ignores SIGPIPE, which a
 * pipe would otherwise raise).
 */
int			pi_exec_send(const PiExecProcess *proc, const PiExecRequest *req, const void *payload);

/* Reads one whole reply; 0, 1 at end of file (the executor is gone), -1 with errno set. */
int			pi_exec_receive(const PiExecProcess *proc, PiExecReply *reply);

/*
 * Kills (SIGKILL) the executor unless it already exited, waits for it,
 * closes the pipes, and describes how it ended in buf ("exited with status
 * 1", "terminated by signal 9").
 */
void		pi_exec_stop(PiExecProcess *proc, char *buf, size_t len);

/* Writes all len bytes to fd (short writes and EINTR retried); 0, or -1 with errno set. */
int			pi_exec_write_all(int fd, const void *buf, size_t len);

/*
 * Reads len bytes from fd (short reads and EINTR retried): returns len, or
 * fewer when end of file came first, or -1 with errno set.  The executor
 * reads its requests with it too.
 */
int64_t		pi_exec_read_all(int fd, void *buf, size_t len);

#endif							/* PI_EXECUTOR_H */
