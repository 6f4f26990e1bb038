/*
 * driver_common.h
 *	  What the two standalone fuzz drivers (driver.c, driver_onnx.c) share
 *	  (test/fuzz/driver_common.c): a growable byte buffer, reading a file
 *	  and listing a corpus directory,
 *	  and running one input under the crash and hang guards, which save it
 *	  as <prefix><target>-crash-<hash> ($FUZZ_ARTIFACT_PREFIX) first.
 */
#ifndef DRIVER_COMMON_H
#define DRIVER_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. */
typedef struct Buf
{
	uint8_t    *p;
	size_t		len;
	size_t		cap;
} Buf;

/* Reserves room for extra more bytes (exits when out of memory). */
void		buf_reserve(Buf *b, size_t extra);

/* Appends bytes. */
void		buf_append(Buf *b, const void *data, size_t len);

/* Reads a whole file into b (which it empties first); false if it cannot. */
bool		buf_read_file(const char *path, Buf *b);

/* Installs the crash and hang guards for the named target ("fuzz_model"). */
void		guard_install(const char *target);

/* Runs one input under the guards; iteration is the mutation's number, -1 for a corpus file. */
void		guard_run(const uint8_t *data, size_t len, long iteration);

/* The names in dir but those starting with a dot, sorted; NULL if dir cannot be opened. */
char	  **list_dir_sorted(const char *dir, int *count);

#endif							/* DRIVER_COMMON_H */
