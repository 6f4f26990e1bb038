/*
 * test_load.c
 *	  Loads pg_infer_cuda.so the way the GPU process will: CUDA's libraries
 *	  first, found by the loader's search (include/pi_cuda_loader.h, with
 *	  PG_INFER_CUDA_LIBRARY_PATH when set), then the library with dlopen,
 *	  into a program that itself carries the engine (and exports its
 *	  symbols, as the server does).  Checks that the CUDA libraries it
 *	  brings in are those the loader loaded, resolves every function of
 *	  include/pi_cuda.h with dlsym, checks the ABI version and the layout of
 *	  the structs, and asks for the devices.  Runs with or without a GPU:
 *	  without one, the device queries must fail with a message (never
 *	  abort); with one, device 0 must open and describe itself.
 *
 *	  test_load PATH/pg_infer_cuda.so
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pi_cuda.h"
#include "pi_cuda_loader.h"

/* Every function the header declares (test/gpu/check-exports.sh checks the same list). */
static const char *const abi_functions[] = {
	"pi_cuda_abi_version", "pi_cuda_abi_layout", "pi_cuda_device_count", "pi_cuda_context_new",
	"pi_cuda_context_free", "pi_cuda_device_info", "pi_cuda_set_tf32", "pi_cuda_tf32",
	"pi_cuda_model_upload", "pi_cuda_model_upload_over", "pi_cuda_model_bytes", "pi_cuda_model_free",
	"pi_cuda_executor_new", "pi_cuda_executor_free", "pi_cuda_executor_max_batch",
	"pi_cuda_executor_bytes", "pi_cuda_executor_input", "pi_cuda_executor_run",
	"pi_cuda_executor_output"
};

static int	failed;

/* Prints one check's outcome. */
static void
check(bool ok, const char *what, const char *detail)
{
	printf("%s: %s%s%s\n", ok ? "ok" : "FAIL", what, detail[0] ? ": " : "", detail);
	failed += !ok;
}

/* Appends the file name of each loaded CUDA library (lib + "cu...") to the list in data. */
static int
add_cuda_library(struct dl_phdr_info *info, size_t size, void *data)
{
	char	   *list = data;
	const char *base = strrchr(info->dlpi_name, '/');

	base = base != NULL ? base + 1 : info->dlpi_name;
	if (strncmp(base, "libcu", 5) == 0 && strlen(list) + strlen(base) + 2 < 1024)
	{
		strcat(list, list[0] != '\0' ? " " : "");
		strcat(list, base);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	void	   *lib;
	int			(*abi_version) (void);
	int			(*abi_layout) (int64_t *, int);
	PiStatus	(*device_count) (int *, PiError *);
	PiCudaContext *(*context_new) (int, PiError *);
	PiStatus	(*device_info) (PiCudaContext *, PiCudaDeviceInfo *, PiError *);
	void		(*context_free) (PiCudaContext *);
	PiError		err = {0};
	PiStatus	st;
	int			count = -1;
	int			found = 0;
	char		detail[2048];
	char		where[1536];
	char		loaded[1024] = "";

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s PATH/pg_infer_cuda.so\n", argv[0]);
		return 2;
	}
	st = pi_cuda_loader_load_libs(getenv(PI_CUDA_LIBRARY_PATH_ENV), where, sizeof(where), &err);
	check(st == PI_OK, "CUDA's libraries found and loaded", st == PI_OK ? where : err.message);
	if (st != PI_OK)
		return 1;
	/* the server loads extension libraries RTLD_NOW | RTLD_GLOBAL */
	if ((lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL)) == NULL)
	{
		check(false, "dlopen", dlerror());
		return 1;
	}
	dl_iterate_phdr(add_cuda_library, loaded);
	check(strcmp(loaded, PI_CUDA_LIBRARIES) == 0,
		  "the library brings in no CUDA library but those loaded before (" PI_CUDA_LIBRARIES ")", loaded);
	for (size_t i = 0; i < sizeof(abi_functions) / sizeof(abi_functions[0]); i++)
		found += dlsym(lib, abi_functions[i]) != NULL;
	snprintf(detail, sizeof(detail), "%d of %zu", found, sizeof(abi_functions) / sizeof(abi_functions[0]));
	check(found == (int) (sizeof(abi_functions) / sizeof(abi_functions[0])), "every ABI function resolves", detail);
	check(dlsym(lib, "pi_fail") == NULL && dlsym(lib, "pi_gpu_run_node") == NULL,
		  "engine and internal symbols stay hidden", "");
	*(void **) &abi_version = dlsym(lib, "pi_cuda_abi_version");
	*(void **) &device_count = dlsym(lib, "pi_cuda_device_count");
	*(void **) &context_new = dlsym(lib, "pi_cuda_context_new");
	*(void **) &device_info = dlsym(lib, "pi_cuda_device_info");
	*(void **) &context_free = dlsym(lib, "pi_cuda_context_free");
	if (found != (int) (sizeof(abi_functions) / sizeof(abi_functions[0])))
		return 1;
	snprintf(detail, sizeof(detail), "library %d, header %d", abi_version(), PI_CUDA_ABI_VERSION);
	check(abi_version() == PI_CUDA_ABI_VERSION, "ABI version", detail);
	*(void **) &abi_layout = dlsym(lib, "pi_cuda_abi_layout");
	st = pi_cuda_loader_check_layout(abi_layout, argv[1], &err);
	check(st == PI_OK, "the structs of pi_ir.h have the same layout in the library", st == PI_OK ? "" : err.message);
	st = device_count(&count, &err);
	snprintf(detail, sizeof(detail), "status %d, %d devices%s%s", st, count,
			 st != PI_OK ? ", " : "", st != PI_OK ? err.message : "");
	check((st == PI_OK && count >= 0) || (st == PI_ERR_DEVICE && count == 0 && err.message[0] != '\0'),
		  "device count, or a reason why there is none", detail);
	if (st == PI_OK && count > 0)
	{
		PiCudaContext *ctx = context_new(0, &err);
		PiCudaDeviceInfo info;

		st = ctx != NULL ? device_info(ctx, &info, &err) : err.status;
		snprintf(detail, sizeof(detail), "%s", st == PI_OK ? info.name : err.message);
		check(st == PI_OK, "device 0 opens", detail);
		context_free(ctx);
	}
	else
	{
		PiCudaContext *ctx = context_new(0, &err);

		snprintf(detail, sizeof(detail), "%s", err.message);
		check(ctx == NULL && err.status == PI_ERR_DEVICE && err.message[0] != '\0',
			  "without a device, opening one fails with a message", detail);
	}
	dlclose(lib);
	printf("%s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
