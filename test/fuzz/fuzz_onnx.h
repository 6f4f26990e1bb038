/*
 * fuzz_onnx.h
 *	  What the ONNX fuzz target shares with its standalone driver.
 */
#ifndef FUZZ_ONNX_H
#define FUZZ_ONNX_H

#include <stddef.h>
#include <stdint.h>

/* Counters the driver prints. */
typedef struct PiOnnxFuzzStats
{
	long		inputs;			/* inputs run */
	long		accepted;		/* inputs whose model loaded */
	long		executed;		/* ... that ran (within the work limits) */
} PiOnnxFuzzStats;

extern PiOnnxFuzzStats pi_onnx_fuzz_stats;

/* The fuzz target (libFuzzer's entry point). */
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif							/* FUZZ_ONNX_H */
