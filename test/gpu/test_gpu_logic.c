/*
 * test_gpu_logic.c
 *	  The parts of the GPU path that need no GPU, on the CPU: the classes of
 *	  CUDA errors and the fault-injection switch (src/cuda/faults.c), the
 *	  CUDA graph buckets and slots (src/cuda/graph_cache.c).
 *
 *	  test_gpu_logic      runs every check; "N passed, N failed"
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cuda/cuda_faults.h"
#include "../../src/cuda/graph_cache.h"

static int	passed;
static int	failed;

/* Records one check's outcome; prints it. */
static void
check(bool ok, const char *fmt,...)
{
	va_list		ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		passed++;
	else
		failed++;
}

/* Sticky errors and lost devices, allocations, the rest. */
static void
test_error_classes(void)
{
	static const char *const lost[] = {"cudaErrorIllegalAddress", "cudaErrorLaunchFailure",
		"cudaErrorECCUncorrectable", "cudaErrorAssert", "cudaErrorMisalignedAddress", "cudaErrorUnknown"};
	static const char *const not_lost[] = {"cudaErrorInvalidValue", "cudaErrorLaunchOutOfResources",
		"cudaErrorStreamCaptureInvalidated", "cudaErrorNotReady", "cudaErrorInsufficientDriver"};

	for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
		check(pi_gpu_error_status(lost[i]) == PI_ERR_DEVICE_LOST, "%s loses the device", lost[i]);
	for (size_t i = 0; i < sizeof(not_lost) / sizeof(not_lost[0]); i++)
		check(pi_gpu_error_status(not_lost[i]) == PI_ERR_DEVICE, "%s is a device error, not sticky", not_lost[i]);
	check(pi_gpu_error_status("cudaErrorMemoryAllocation") == PI_ERR_NOMEM, "cudaErrorMemoryAllocation is out of memory");
}

/* PG_INFER_CUDA_FAULT: the values read and refused, and the run that fails. */
static void
test_fault_switch(void)
{
	static const char *const bad[] = {"cudaErrorLaunchFailure", "cudaErrorIllegalAddress@0", "@2",
		"cudaErrorIllegalAddress@", "cudaErrorIllegalAddress@3x", "cudaErrorIllegalAddres"};
	const char *error;
	int64_t		run;
	PiError		err = {0};

	check(pi_gpu_fault_parse("cudaErrorIllegalAddress", &error, &run, &err) && run == 1 &&
		  strcmp(error, "cudaErrorIllegalAddress") == 0, "a fault without @RUN is the first run's");
	check(pi_gpu_fault_parse("cudaErrorMemoryAllocation@12", &error, &run, &err) && run == 12 &&
		  strcmp(error, "cudaErrorMemoryAllocation") == 0, "cudaErrorMemoryAllocation@12 is run 12's");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		memset(&err, 0, sizeof(err));
		check(!pi_gpu_fault_parse(bad[i], &error, &run, &err) && error == NULL &&
			  err.status == PI_ERR_INVALID && strstr(err.message, bad[i]) != NULL,
			  "\"%s\" is refused: %s", bad[i], err.message);
	}
	setenv(PI_CUDA_FAULT_ENV, "cudaErrorIllegalAddress@2", 1);
	for (int r = 1; r <= 3; r++)
	{
		PiStatus	st = pi_gpu_fault_next_run(&error, &err);

		check(st == PI_OK && (r == 2) == (error != NULL), "%s=cudaErrorIllegalAddress@2: run %d %s",
			  PI_CUDA_FAULT_ENV, r, error != NULL ? "fails" : "runs");
	}
	unsetenv(PI_CUDA_FAULT_ENV);
}

/* Batch sizes to buckets: powers of two, capped at the executor's maximum. */
static void
test_buckets(void)
{
	static const struct
	{
		int64_t		rows,
					max;
		bool		tf32;
		int64_t		padded;
		int			key;
	}			cases[] = {
		{1, 4096, false, 1, 0}, {2, 4096, false, 2, 2}, {3, 4096, false, 4, 4},
		{64, 4096, false, 64, 12}, {65, 4096, false, 128, 14}, {65, 4096, true, 128, 15},
		{4000, 4096, false, 4096, 24}, {4096, 4096, false, 4096, 24}, {600, 1000, false, 1000, 20},
		{1000, 1000, false, 1000, 20}, {1, 1, false, 1, 0}, {65536, 65536, true, 65536, 33},
		{(int64_t) 1 << 30 | 1, INT32_MAX, false, INT32_MAX, 62}
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int			key = -1;
		int64_t		padded = pi_graph_bucket(cases[i].rows, cases[i].max, cases[i].tf32, &key);

		check(padded == cases[i].padded && key == cases[i].key && key < PI_GRAPH_KEYS,
			  "%lld rows (maximum %lld, tf32 %d) run as %lld, key %d (expected %lld, key %d)",
			  (long long) cases[i].rows, (long long) cases[i].max, cases[i].tf32, (long long) padded,
			  key, (long long) cases[i].padded, cases[i].key);
	}
}

/* Capture at the second run, one-off sizes, LRU replacement, failed captures. */
static void
test_graph_slots(void)
{
	PiGraphCache cache;
	PiGraphAction action;
	int			slot,
				first,
				lru_slot = -1;
	bool		ok = true;

	pi_graph_cache_init(&cache);
	action = pi_graph_plan(&cache, 24, &slot);
	check(action == PI_GRAPH_EAGER && slot == -1, "a bucket's first run is eager");
	action = pi_graph_plan(&cache, 24, &first);
	check(action == PI_GRAPH_CAPTURE && first >= 0, "its second run captures (slot %d)", first);
	action = pi_graph_plan(&cache, 24, &slot);
	check(action == PI_GRAPH_REPLAY && slot == first, "its third run replays slot %d", slot);
	/* 32 one-off buckets (TF32 on: the odd keys) never take a slot */
	for (int k = 1; k < PI_GRAPH_KEYS; k += 2)
		ok &= pi_graph_plan(&cache, k, &slot) == PI_GRAPH_EAGER;
	check(ok, "sizes seen once run eager and take no slot");
	action = pi_graph_plan(&cache, 24, &slot);
	check(action == PI_GRAPH_REPLAY && slot == first, "the captured bucket still replays");
	/* fill the other slots with buckets 26, 28, ... run twice each */
	ok = true;
	for (int k = 26; k < 26 + 2 * (PI_GRAPH_SLOTS - 1); k += 2)
	{
		ok &= pi_graph_plan(&cache, k, &slot) == PI_GRAPH_EAGER;
		ok &= pi_graph_plan(&cache, k, &slot) == PI_GRAPH_CAPTURE && slot != first;
		if (k == 26)
			lru_slot = slot;
	}
	check(ok, "%d buckets captured into the %d slots", PI_GRAPH_SLOTS, PI_GRAPH_SLOTS);
	action = pi_graph_plan(&cache, 24, &slot);
	check(action == PI_GRAPH_REPLAY && slot == first, "bucket 24 replays again: bucket 26 is the least recently replayed");
	action = pi_graph_plan(&cache, 60, &slot);
	check(action == PI_GRAPH_EAGER && slot == -1, "a new bucket's first run is eager with every slot taken");
	action = pi_graph_plan(&cache, 60, &slot);
	check(action == PI_GRAPH_CAPTURE && slot == lru_slot,
		  "its second run takes the least recently replayed slot (%d, expected %d)", slot, lru_slot);
	action = pi_graph_plan(&cache, 26, &slot);
	check(action == PI_GRAPH_CAPTURE && slot != first,
		  "the bucket it replaced captures again at its next run (it ran twice before), not into bucket 24's slot");
	/* a failed capture: the slot empties, the bucket stays eager */
	pi_graph_plan(&cache, 62, &slot);
	action = pi_graph_plan(&cache, 62, &slot);
	check(action == PI_GRAPH_CAPTURE, "bucket 62 captures at its second run");
	first = slot;
	pi_graph_capture_failed(&cache, 62, slot);
	ok = true;
	for (int r = 0; r < 10; r++)
		ok &= pi_graph_plan(&cache, 62, &slot) == PI_GRAPH_EAGER && slot == -1;
	check(ok, "after its capture failed, bucket 62 runs eager every time");
	pi_graph_plan(&cache, 0, &slot);
	action = pi_graph_plan(&cache, 0, &slot);
	check(action == PI_GRAPH_CAPTURE && slot == first, "the emptied slot %d is the next capture's", first);
}

int
main(void)
{
	test_error_classes();
	test_fault_switch();
	test_buckets();
	test_graph_slots();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
