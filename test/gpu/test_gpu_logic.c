/*
 * test_gpu_logic.c
 *	  The parts of the GPU path that need no GPU, on the CPU: the classes of
 *	  CUDA errors and the fault-injection switch (src/cuda/faults.c), the
 *	  CUDA graph buckets and slots (src/cuda/graph_cache.c), the search for
 *	  CUDA's libraries over fake directory trees and the layout check of the
 *	  library's structs (src/cuda/loader_*.c).
 *
 *	  test_gpu_logic                 runs every check; "N passed, N failed"
 *	  test_gpu_logic --find ROOT LIB prints the known directory under ROOT
 *	                                 that holds LIB (for
 *	                                 test/gpu/test-find-cuda-libs.sh)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/cuda/cuda_faults.h"
#include "../../src/cuda/graph_cache.h"
#include "pi_cuda.h"
#include "test_check.h"
#include "pi_cuda_loader.h"


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

/*
 * Every name the classes list is one CUDA has: cudaGetErrorName of every
 * code, from the libcudart the loader finds (skipped without CUDA).
 */
static void
test_error_names(void)
{
	char		where[2048];
	PiError		err = {0};
	const char *(*error_name) (int);
	int			lost = 0;

	if (pi_cuda_loader_load_libs(NULL, where, sizeof(where), &err) != PI_OK)
	{
		printf("skipped: CUDA's error names (%s)\n", err.message);
		return;
	}
	*(void **) &error_name = dlsym(RTLD_DEFAULT, "cudaGetErrorName");
	check(error_name != NULL, "cudaGetErrorName resolves from %s", where);
	if (error_name == NULL)
		return;
	for (int code = 1; code < 1000; code++)
		lost += pi_gpu_error_status(error_name(code)) == PI_ERR_DEVICE_LOST;
	check(lost == 18, "every one of the 18 errors that lose the device is a CUDA error name (%d found)", lost);
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
	check(pi_gpu_fault_parse("cudaErrorStreamCaptureUnsupported@3", &error, &run, &err) && run == 3 &&
		  strcmp(error, "cudaErrorStreamCaptureUnsupported") == 0, "cudaErrorStreamCaptureUnsupported@3 is run 3's");
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

/* Creates dir/.../file (and its directories) under root; false on failure. */
static bool
make_file(const char *root, const char *path)
{
	char		full[1024];
	FILE	   *f;

	snprintf(full, sizeof(full), "%s/%s", root, path);
	for (char *p = full + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++)
	{
		*p = '\0';
		mkdir(full, 0755);
		*p = '/';
	}
	if ((f = fopen(full, "w")) == NULL)
		return false;
	fputs("not an ELF file\n", f);
	return fclose(f) == 0;
}

/* Removes one entry of the fake tree (nftw, children first). */
static int
remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

/* Whether search's directory i is root + rel. */
static bool
dir_is(const PiCudaSearch *search, int i, const char *root, const char *rel)
{
	char		want[1024];

	snprintf(want, sizeof(want), "%s%s", root, rel);
	return i < search->count && strcmp(search->dirs[i], want) == 0;
}

/* The library search over a fake tree: order, first match, explicit paths, failures. */
static void
test_library_search(void)
{
	char		root[] = "/tmp/pg_infer_cuda_libs_XXXXXX";
	char		path[2048],
				file[1024],
				where[1024];
	PiCudaSearch search;
	PiError		err = {0};

	if (mkdtemp(root) == NULL)
	{
		check(false, "mkdtemp");
		return;
	}
	unsetenv("CUDA_HOME");
	check(make_file(root, "usr/local/cuda/lib64/libcudart.so.13") &&
		  make_file(root, "usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/libcublas.so.13") &&
		  make_file(root, "usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/libcublasLt.so.13") &&
		  make_file(root, "opt/conda/lib/python3.11/site-packages/nvidia/cu13/lib/libcublas.so.13") &&
		  make_file(root, "home/ann/.local/lib/python3.10/site-packages/nvidia/cublas/lib/libcublas.so.13") &&
		  make_file(root, "cudahome/lib64/libcublas.so.13"), "fake tree under %s", root);
	pi_cuda_loader_known_dirs(root, &search);
	check(search.count == 4 && dir_is(&search, 0, root, "/usr/local/cuda/lib64") &&
		  dir_is(&search, 1, root, "/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib") &&
		  dir_is(&search, 2, root, "/opt/conda/lib/python3.11/site-packages/nvidia/cu13/lib") &&
		  dir_is(&search, 3, root, "/home/ann/.local/lib/python3.10/site-packages/nvidia/cublas/lib"),
		  "known directories in order, each once (%d found)", search.count);
	check(pi_cuda_loader_find(&search, "libcublas.so.13", file, sizeof(file)) &&
		  strstr(file, "/python3.12/dist-packages/nvidia/cu13/lib/libcublas.so.13") != NULL,
		  "libcublas.so.13 from the first wheel directory: %s", file);
	check(pi_cuda_loader_find(&search, "libcudart.so.13", file, sizeof(file)) &&
		  strstr(file, "/usr/local/cuda/lib64/libcudart.so.13") != NULL, "libcudart.so.13 from the toolkit");
	check(!pi_cuda_loader_find(&search, "libcufft.so.13", file, sizeof(file)), "a library nowhere is not found");
	snprintf(path, sizeof(path), "%s/cudahome", root);
	setenv("CUDA_HOME", path, 1);
	pi_cuda_loader_known_dirs(root, &search);
	check(search.count == 5 && dir_is(&search, 0, root, "/cudahome/lib64"), "$CUDA_HOME/lib64 comes first");
	unsetenv("CUDA_HOME");
	pi_cuda_loader_path_dirs("/a::/b:/a:", &search);
	check(search.count == 2 && strcmp(search.dirs[0], "/a") == 0 && strcmp(search.dirs[1], "/b") == 0,
		  "a colon-separated path: its directories in order, each once");
	/* the given directories win, and a file that is not a library is reported */
	snprintf(path, sizeof(path), "/nonexistent:%s/usr/local/cuda/lib64", root);
	check(pi_cuda_loader_load_libs(path, where, sizeof(where), &err) == PI_ERR_DEVICE &&
		  strstr(err.message, "could not load") && strstr(err.message, "/usr/local/cuda/lib64/libcudart.so.13"),
		  "a directory of %s is tried first: %s", PI_CUDA_LIBRARY_PATH_ENV, err.message);
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* PI_CUDA_LAYOUT's entries as text, in order. */
#define LAYOUT_NAME(expr) #expr,
static const char *const layout_names[] = {PI_CUDA_LAYOUT(LAYOUT_NAME)};

/* This build's layout with PiNode's attrs eight bytes further. */
static int
moved_layout(int64_t *values, int max)
{
	int			n = pi_cuda_abi_layout(values, max);

	for (int i = 0; i < n && i < max; i++)
		if (strcmp(layout_names[i], "offsetof(PiNode, attrs)") == 0)
			values[i] += 8;
	return n;
}

/* A layout of three values. */
static int
short_layout(int64_t *values, int max)
{
	for (int i = 0; i < 3 && i < max; i++)
		values[i] = 0;
	return 3;
}

/* The layout the library reports against this build's: equal, a member moved, a short list. */
static void
test_layout(void)
{
	PiError		err = {0};

	check(pi_cuda_loader_check_layout(pi_cuda_abi_layout, "this build", &err) == PI_OK,
		  "the layout of this build matches itself: %s", err.message);
	check(pi_cuda_loader_check_layout(moved_layout, "libother.so", &err) == PI_ERR_DEVICE &&
		  strstr(err.message, "libother.so was built from another pi_ir.h: offsetof(PiNode, attrs) is"),
		  "a moved member is named: %s", err.message);
	check(pi_cuda_loader_check_layout(short_layout, "libold.so", &err) == PI_ERR_DEVICE &&
		  strstr(err.message, "libold.so reports 3 layout values"), "a list of another length: %s", err.message);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--find") == 0)
	{
		PiCudaSearch search;
		char		file[1024];

		pi_cuda_loader_known_dirs(argv[2], &search);
		if (!pi_cuda_loader_find(&search, argv[3], file, sizeof(file)))
			return 1;
		*strrchr(file, '/') = '\0';
		printf("%s\n", file);
		return 0;
	}
	if (argc != 1)
	{
		fprintf(stderr, "usage: %s [--find ROOT LIBRARY]\n", argv[0]);
		return 2;
	}
	test_error_classes();
	test_error_names();
	test_fault_switch();
	test_buckets();
	test_graph_slots();
	test_library_search();
	test_layout();
	return check_summary();
}
