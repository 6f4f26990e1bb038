/*
 * test_gpu_logic.c
 *	  The parts of the GPU path that need no GPU, on the CPU: the classes of
 *	  CUDA errors and the fault-injection switch (src/cuda/faults.c), the
 *	  CUDA graph buckets and slots (src/cuda/graph_cache.c), the search for
 *	  CUDA's libraries over fake directory trees and the layout check of the
 *	  library's structs (src/cuda/loader_*.c), which nodes run in int8 and
 *	  their weights as uploaded (src/cuda/int8_plan.c), and the device's
 *	  int8 arithmetic (src/cuda/int8_math.h) in C against the CPU engine.
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
#include "../../src/cuda/int8_math.h"
#include "../../src/cuda/int8_plan.h"
#include "int8_cases.h"
#include "pi_blas.h"
#include "pi_engine.h"
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

/*
 * The device's int8 product of rows rows of x, as its kernels compute it
 * (int8_math.h over the weight block int8_plan.c fills), into y; into
 * bound, per output, how far a fused multiply-add in the CPU's epilogue
 * would round from the device's separate multiply and add (the CPU's
 * kernels round as the device does; the bound is slack).
 */
static void
emulate_int8(const PiGpuInt8Shape *s, const void *block, const float *x, int64_t rows, float *y,
			 double *bound)
{
	PiGpuInt8Weights w = pi_gpu_int8_weights_at(block, s);
	bool		dynamic = s->rows == PI_GPU_INT8_DYNAMIC;
	int8_t	   *v = calloc(s->kp, 1);

	for (int64_t r = 0; v != NULL && r < rows; r++)
	{
		const float *row = x + r * s->kdim;
		uint32_t	a = 0,
					b = 0;
		PiGpuInt8Row q;

		for (int64_t k = 0; k < s->kdim; k++)
		{
			uint32_t	av = dynamic ? pi_gpu_int8_pos_bits(row[k]) : pi_gpu_int8_abs_bits(row[k]);
			uint32_t	bv = dynamic ? pi_gpu_int8_neg_bits(row[k]) : 0;

			a = av > a ? av : a;
			b = bv > b ? bv : b;
		}
		q = dynamic ? pi_gpu_int8_dynamic_row(a, b) : pi_gpu_int8_symmetric_row(a);
		for (int64_t k = 0; k < s->kp; k++)
			v[k] = k < s->kdim ? pi_gpu_int8_code(&q, dynamic, row[k]) : 0;
		for (int64_t j = 0; j < s->mdim; j++)
		{
			int32_t		sum = 0;
			float		out;

			for (int64_t k = 0; k < s->kp; k++)
				sum += (int32_t) v[k] * w.codes[j * s->kp + k];
			out = pi_gpu_int8_output(sum, q.zp, w.colsum[j], q.xs, w.scale[j], w.bias[j]);
			y[r * s->mdim + j] = out;
			bound[r * s->mdim + j] = ldexp(fabs((double) out - w.bias[j]) + fabs((double) out), -23);
		}
	}
	free(v);
}

/*
 * Which nodes run in int8 on the device (exactly those on the CPU
 * engine's int8 path), their padded shapes, which weights go up as codes
 * only, and the device's arithmetic over the uploaded block against the
 * CPU engine's output on the same rows: equal to within the rounding of
 * one fused multiply-add (both CPU epilogues round as the device does:
 * measured equal), NaN where the CPU gives NaN.
 */
static void
test_int8_plan(void)
{
	for (int ci = 0; ci < test_int8_ncases; ci++)
	{
		const TestInt8Case *c = &test_int8_cases[ci];
		PiModel    *m = test_int8_model(c);
		const PiNode *node;
		PiGpuInt8Shape s;
		bool	   *only;
		void	   *block = NULL;
		float	   *x = NULL,
				   *y = NULL;
		double	   *bound = NULL;
		PiExecutor *ex = NULL;
		PiError		err = {0};
		int64_t		rows = TEST_INT8_BATCH * c->lead,
					cols = test_int8_columns(c);
		int64_t		differ = 0;
		double		worst = 0.0;

		if (m == NULL)
			continue;
		node = &m->nodes[m->order[0]];
		s = pi_gpu_int8_shape(m, node);
		check((int) s.rows == c->expect, "%s: the device runs it %s (expected %d, got %d)", c->label,
			  c->expect == 0 ? "in float32" : c->expect == 1 ? "in int8, rows symmetric" : "in int8, rows as DynamicQuantizeLinear",
			  c->expect, s.rows);
		only = pi_gpu_int8_only_weights(m);
		check(only != NULL && only[node->inputs[1]] == (c->expect != 0) &&
			  (node->ninputs < 3 || only[node->inputs[2]] == (c->expect != 0)) && !only[node->inputs[0]],
			  "%s: its weight and bias go to the device %s", c->label,
			  c->expect != 0 ? "only in its int8 block" : "in float32");
		free(only);
		if (s.rows == PI_GPU_INT8_NONE)
		{
			pi_model_free(m);
			continue;
		}
		check(s.kdim == c->kdim && s.mdim == cols && s.kp % 16 == 0 && s.kp >= s.kdim && s.kp < s.kdim + 16 &&
			  s.mp % 16 == 0 && s.mp >= s.mdim && s.mp < s.mdim + 16 &&
			  pi_gpu_int8_rows_per_item(m, node, &s) == c->lead,
			  "%s: k %lld padded to %lld, m %lld to %lld (multiples of 16 for cuBLASLt), %lld rows per item",
			  c->label, (long long) s.kdim, (long long) s.kp, (long long) s.mdim, (long long) s.mp,
			  (long long) pi_gpu_int8_rows_per_item(m, node, &s));
		block = malloc(pi_gpu_int8_weight_bytes(&s));
		x = test_int8_rows(c, 4242u + ci);
		y = malloc(sizeof(float) * rows * cols);
		bound = malloc(sizeof(double) * rows * cols);
		if (block == NULL || x == NULL || y == NULL || bound == NULL ||
			!pi_gpu_int8_fill_weights(m, node, &s, block) ||
			(ex = pi_executor_new(m, TEST_INT8_BATCH, &err)) == NULL)
			check(false, "%s: weights, rows and CPU executor: %s", c->label, err.message);
		else
		{
			const float *cpu;

			memcpy(pi_executor_input(ex, 0), x, sizeof(float) * rows * c->kdim);
			if (pi_executor_run(ex, TEST_INT8_BATCH, &err) != PI_OK)
				check(false, "%s: CPU run: %s", c->label, err.message);
			cpu = pi_executor_output(ex, 0);
			emulate_int8(&s, block, x, rows, y, bound);
			for (int64_t i = 0; i < rows * cols; i++)
			{
				double		d = fabs((double) y[i] - cpu[i]);

				if (isnan(y[i]) != isnan(cpu[i]) || (!isnan(cpu[i]) && !(d <= bound[i])))
					differ++;
				else if (!isnan(d) && d > worst)
					worst = d;
			}
			check(differ == 0 && isnan(y[c->lead * cols]) && isnan(y[(3 * c->lead - 1) * cols]),
				  "%s: the device's int8 arithmetic (in C) gives the CPU engine's %lld outputs (%lld differ, worst %.2e; NaN and infinite rows NaN)",
				  c->label, (long long) (rows * cols), (long long) differ, worst);
		}
		pi_executor_free(ex);
		free(block);
		free(x);
		free(y);
		free(bound);
		pi_model_free(m);
	}
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
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	test_int8_plan();
	return check_summary();
}
