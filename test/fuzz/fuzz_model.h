/*
 * fuzz_model.h
 *	  What the model-file fuzz target shares with its standalone driver.
 */
#ifndef FUZZ_MODEL_H
#define FUZZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The three parts of one fuzz input (see fuzz_model.c). */
typedef struct PiFuzzParts
{
	const uint8_t *graph;
	size_t		graph_len;
	const uint8_t *options;
	size_t		options_len;
	const uint8_t *weights;
	size_t		weights_len;
} PiFuzzParts;

/* Counters the driver prints. */
typedef struct PiFuzzStats
{
	long		inputs;			/* inputs run */
	long		accepted;		/* inputs whose model loaded */
	long		options;		/* ... whose options applied too */
	long		executed;		/* ... that ran (within the work limits) */
	long		skipped;		/* ... over the work limits, not run */
} PiFuzzStats;

extern PiFuzzStats pi_fuzz_stats;

/* Splits an input into its three parts; false if it is too short. */
bool		pi_fuzz_split(const uint8_t *data, size_t size, PiFuzzParts *parts);

/* Reports a failed check of the target and aborts. */
void		pi_fuzz_fail(const char *fmt,...)
			__attribute__((format(printf, 1, 2), noreturn));

/* The fuzz target (libFuzzer's entry point). */
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif							/* FUZZ_MODEL_H */
