/*
 * driver_common.c
 *	  The standalone fuzz drivers' byte buffer, file reading and guards: a
 *	  sanitizer report, an abort or a crash saves the running input before
 *	  the process dies, and an input that runs longer than
 *	  INPUT_TIMEOUT_S seconds counts as a hang.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver_common.h"

#define INPUT_TIMEOUT_S 20		/* one input running longer is a hang */

/* The fuzz target: each driver links with one. */
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sanitizers' death callback hook; weak, so that plain builds link too. */
extern void __sanitizer_set_death_callback(void (*callback) (void)) __attribute__((weak));

static const char *target_name = "fuzz";

/* The input being run, saved if it crashes. */
static const uint8_t *volatile current_data;
static volatile size_t current_len;
static volatile long current_iteration = -1;

/* Reserves room for extra more bytes (exits when out of memory). */
void
buf_reserve(Buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	b->cap = (b->len + extra) * 2 + 64;
	b->p = realloc(b->p, b->cap);
	if (b->p == NULL)
	{
		fprintf(stderr, "%s: out of memory\n", target_name);
		exit(2);
	}
}

/* Appends bytes. */
void
buf_append(Buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Reads a whole file into b (which it empties first); false if it cannot. */
bool
buf_read_file(const char *path, Buf *b)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t		chunk[65536];
	size_t		n;

	memset(b, 0, sizeof(*b));
	if (f == NULL)
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	return true;
}

/* Writes to stderr from a signal handler. */
static void
say(const char *s)
{
	ssize_t		r = write(2, s, strlen(s));

	(void) r;
}

/* Saves the current input (async-signal-safe: only open, write and close). */
static void
save_current(void)
{
	static const char hex[] = "0123456789abcdef";
	const char *prefix = getenv("FUZZ_ARTIFACT_PREFIX");
	const char *name = target_name;
	char		path[512];
	char		num[24];
	size_t		n = 0;
	int			k = sizeof(num);
	long		it = current_iteration;
	uint64_t	h = 14695981039346656037ull;
	const uint8_t *d = current_data;
	size_t		len = current_len;
	size_t		off = 0;
	int			fd;

	if (d == NULL)
		return;
	for (size_t i = 0; i < len; i++)
		h = (h ^ d[i]) * 1099511628211ull;
	while (prefix != NULL && *prefix && n < sizeof(path) - 100)
		path[n++] = *prefix++;
	while (*name && n < sizeof(path) - 40)
		path[n++] = *name++;
	memcpy(path + n, "-crash-", 7);
	n += 7;
	for (int i = 15; i >= 0; i--)
		path[n++] = hex[(h >> (4 * i)) & 15];
	path[n] = '\0';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return;
	while (off < len)
	{
		ssize_t		w = write(fd, d + off, len - off);

		if (w <= 0)
			break;
		off += (size_t) w;
	}
	close(fd);
	num[--k] = '\0';
	num[--k] = '\n';
	do
		num[--k] = (char) ('0' + it % 10);
	while ((it /= 10) > 0 && k > 0);
	say(target_name);
	say(": input saved as ");
	say(path);
	say(current_iteration >= 0 ? ", mutation " : ", a corpus file\n");
	if (current_iteration >= 0)
		say(num + k);
}

/* SIGABRT (a failed check, or UBSan): saves the input, then dies of the signal. */
static void
on_fatal_signal(int sig)
{
	save_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* SIGALRM: one input ran too long. */
static void
on_alarm(int sig)
{
	say(target_name);
	say(": an input ran for too long (a hang)\n");
	save_current();
	signal(SIGABRT, SIG_DFL);
	abort();
}

/* Installs the crash and hang guards for the named target ("fuzz_model"). */
void
guard_install(const char *target)
{
	target_name = target;
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(save_current);
	signal(SIGABRT, on_fatal_signal);
	signal(SIGALRM, on_alarm);
}

/* Runs one input under the guards; iteration is the mutation's number, -1 for a corpus file. */
void
guard_run(const uint8_t *data, size_t len, long iteration)
{
	current_data = data;
	current_len = len;
	current_iteration = iteration;
	alarm(INPUT_TIMEOUT_S);
	LLVMFuzzerTestOneInput(data, len);
	alarm(0);
	current_data = NULL;
}

/* Orders file names. */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in dir but those starting with a dot, sorted; NULL if dir cannot be opened. */
char	  **
list_dir_sorted(const char *dir, int *count)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char	  **names = NULL;
	int			n = 0,
				cap = 0;

	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		if (n == cap)
		{
			cap = cap ? cap * 2 : 64;
			if ((names = realloc(names, sizeof(char *) * cap)) == NULL)
			{
				fprintf(stderr, "%s: out of memory\n", target_name);
				exit(2);
			}
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(char *), name_cmp);
	*count = n;
	return names != NULL ? names : calloc(1, sizeof(char *));
}
