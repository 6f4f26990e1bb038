/*
 * channel.c
 *	  The pipes between the inference worker and its executor process:
 *	  whole writes and reads that survive short transfers and signals, and
 *	  one request or reply at a time (include/pi_executor_protocol.h).
 *	  Plain C, linked into the server library, the executor and the tests.
 */
#include <errno.h>
#include <unistd.h>

#include "pi_executor.h"

/* Writes all len bytes to fd; 0, or -1 with errno set. */
int
pi_exec_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0)
	{
		ssize_t		n = write(fd, p, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/* Reads len bytes from fd; len, fewer at end of file, or -1 with errno set. */
int64_t
pi_exec_read_all(int fd, void *buf, size_t len)
{
	char	   *p = buf;
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = read(fd, p + done, len - done);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t) n;
	}
	return (int64_t) done;
}

/* Writes a request and its payload; 0, or -1 with errno set (EPIPE: the executor is gone). */
int
pi_exec_send(const PiExecProcess *proc, const PiExecRequest *req, const void *payload)
{
	if (req->payload_bytes > 0 && payload == NULL)
	{
		errno = EINVAL;
		return -1;
	}
	if (pi_exec_write_all(proc->command_fd, req, sizeof(*req)) != 0)
		return -1;
	if (req->payload_bytes > 0)
		return pi_exec_write_all(proc->command_fd, payload, (size_t) req->payload_bytes);
	return 0;
}

/* Reads one reply; 0, 1 at end of file, or -1 with errno set (EPROTO: not a reply). */
int
pi_exec_receive(const PiExecProcess *proc, PiExecReply *reply)
{
	int64_t		n = pi_exec_read_all(proc->reply_fd, reply, sizeof(*reply));

	if (n < 0)
		return -1;
	if (n < (int64_t) sizeof(*reply))
		return 1;
	if (reply->magic != PI_EXEC_PROTOCOL_MAGIC)
	{
		errno = EPROTO;
		return -1;
	}
	return 0;
}
