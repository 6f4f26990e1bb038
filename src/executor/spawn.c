/*
 * spawn.c
 *	  Starts the executor process (fork + exec) with its pipes and arena on
 *	  the descriptors of the protocol, and stops it.
 *
 * The parent may be a PostgreSQL background worker holding signal handlers,
 * latches and descriptors of its own: the child blocks every signal from
 * before fork, calls only async-signal-safe functions until exec, keeps no
 * descriptor above PI_EXEC_FD_ARENA, and runs with default signal handlers
 * and an empty mask.  If exec fails the child writes nothing and exits 127,
 * so the parent sees end of file on the reply pipe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pi_executor.h"

/* How long a stopped executor may take to exit by itself. */
#define STOP_GRACE_MS 200

_Static_assert(PI_EXEC_FD_COMMANDS < PI_EXEC_FD_ARENA && PI_EXEC_FD_REPLIES < PI_EXEC_FD_ARENA,
			   "the arena has the highest of the executor's descriptors");

/* The child's first descriptor that is neither standard nor the protocol's. */
#define FIRST_FREE_FD (PI_EXEC_FD_ARENA + 1)

/* What the child needs, all prepared before fork. */
typedef struct ChildPlan
{
	const char *program;
	char	   *const *argv;
	int			from[3];		/* becoming PI_EXEC_FD_COMMANDS, _REPLIES, _ARENA */
	long		max_fd;			/* bound of the close loop without close_range */
	pid_t		parent;
} ChildPlan;

/* Puts plan->from on the protocol's descriptors, without CLOEXEC; false on failure. */
static bool
child_install_fds(const ChildPlan *plan)
{
	static const int targets[3] = {PI_EXEC_FD_COMMANDS, PI_EXEC_FD_REPLIES, PI_EXEC_FD_ARENA};
	int			moved[3];

	/* first above every target, so that no dup2 overwrites a source */
	for (int i = 0; i < 3; i++)
		if ((moved[i] = fcntl(plan->from[i], F_DUPFD_CLOEXEC, FIRST_FREE_FD)) < 0)
			return false;
	for (int i = 0; i < 3; i++)
		if (dup2(moved[i], targets[i]) < 0 || fcntl(targets[i], F_SETFD, 0) < 0)
			return false;
	return true;
}

/* Closes every descriptor from FIRST_FREE_FD on. */
static void
child_close_others(long max_fd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, FIRST_FREE_FD, ~0U, 0) == 0)
		return;
#endif
	for (long fd = FIRST_FREE_FD; fd < max_fd; fd++)
		close((int) fd);
}

/*
 * Default handlers for every signal, then an empty mask.  By the system
 * call itself: the C library's sigaction refuses the signals it keeps for
 * itself (32 and 33), which the parent's own parent may have left ignored.
 * An all-zero kernel sigaction is SIG_DFL, no flags, an empty mask, on
 * every architecture.
 */
static void
child_reset_signals(void)
{
	unsigned long zero[8] = {0};
	sigset_t	none;

	/* fails, harmlessly, for SIGKILL and SIGSTOP */
	for (int sig = 1; sig < NSIG; sig++)
		syscall(SYS_rt_sigaction, sig, zero, NULL, (NSIG - 1) / 8);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The child between fork and exec: async-signal-safe calls only. */
static void
child_exec(const ChildPlan *plan)
{
	child_reset_signals();
	if (!child_install_fds(plan))
		_exit(127);
	child_close_others(plan->max_fd);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != plan->parent)
		_exit(127);
	execv(plan->program, plan->argv);
	_exit(127);
}

/* Starts the executor; 0, or -1 with a message in errbuf. */
int
pi_exec_spawn(PiExecProcess *proc, const char *program, const char *device,
			  int arena_fd, int64_t arena_bytes, int64_t max_batch,
			  const char *cuda_library, char *errbuf, size_t errlen)
{
	char		arena_arg[24];
	char		batch_arg[24];
	char	   *argv[6] = {(char *) program, (char *) device, arena_arg, batch_arg,
	(char *) cuda_library, NULL};
	int			commands[2] = {-1, -1};
	int			replies[2] = {-1, -1};
	ChildPlan	plan;
	sigset_t	all,
				old;
	pid_t		pid;
	int			fork_errno;

	proc->pid = 0;
	proc->command_fd = proc->reply_fd = -1;
	snprintf(arena_arg, sizeof(arena_arg), "%" PRId64, arena_bytes);
	snprintf(batch_arg, sizeof(batch_arg), "%" PRId64, max_batch);
	if (pipe2(commands, O_CLOEXEC) != 0 || pipe2(replies, O_CLOEXEC) != 0)
	{
		snprintf(errbuf, errlen, "could not create the executor's pipes: %s", strerror(errno));
		for (int i = 0; i < 2; i++)
		{
			if (commands[i] >= 0)
				close(commands[i]);
			if (replies[i] >= 0)
				close(replies[i]);
		}
		return -1;
	}
	plan.program = program;
	plan.argv = argv;
	plan.from[0] = commands[0];
	plan.from[1] = replies[1];
	plan.from[2] = arena_fd;
	plan.max_fd = sysconf(_SC_OPEN_MAX);
	plan.parent = getpid();

	/* no handler of the parent's may run in the child before it resets them */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(&plan);
	fork_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);

	close(commands[0]);
	close(replies[1]);
	if (pid < 0)
	{
		close(commands[1]);
		close(replies[0]);
		snprintf(errbuf, errlen, "could not fork the executor process: %s", strerror(fork_errno));
		return -1;
	}
	proc->pid = pid;
	proc->command_fd = commands[1];
	proc->reply_fd = replies[0];
	return 0;
}

/*
 * Stops the executor: closes its command pipe, so that a responsive one
 * exits by itself, kills it (SIGKILL) after STOP_GRACE_MS otherwise, waits
 * for it, closes the pipes, and says how it ended.
 */
void
pi_exec_stop(PiExecProcess *proc, char *buf, size_t len)
{
	int			status = 0;
	pid_t		r = -1;
	bool		killed = false;

	if (proc->pid > 0)
	{
		/* end of file on its commands makes a responsive executor exit by itself */
		if (proc->command_fd >= 0)
		{
			close(proc->command_fd);
			proc->command_fd = -1;
		}
		for (int waited_ms = 0; waited_ms < STOP_GRACE_MS; waited_ms += 10)
		{
			r = waitpid(proc->pid, &status, WNOHANG);
			if (r != 0 && !(r < 0 && errno == EINTR))
				break;
			usleep(10 * 1000);
		}
		if (r == 0 || (r < 0 && errno == EINTR))
		{
			kill(proc->pid, SIGKILL);
			killed = true;
			do
				r = waitpid(proc->pid, &status, 0);
			while (r < 0 && errno == EINTR);
		}
	}
	if (proc->pid <= 0)
		snprintf(buf, len, "was not running");
	else if (r < 0)
		snprintf(buf, len, "could not be waited for: %s", strerror(errno));
	else if (killed)
		snprintf(buf, len, "was stopped by the worker (SIGKILL)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "terminated by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	if (proc->command_fd >= 0)
		close(proc->command_fd);
	if (proc->reply_fd >= 0)
		close(proc->reply_fd);
	proc->pid = 0;
	proc->command_fd = proc->reply_fd = -1;
}
