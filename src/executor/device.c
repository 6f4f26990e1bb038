/*
 * device.c
 *	  The device the executor runs models on, behind one set of calls: the
 *	  CPU engine (include/pi_engine.h), or one GPU through pg_infer_cuda.so
 *	  (include/pi_cuda.h), opened with dlopen after its ABI version is
 *	  checked.  Only this file knows which of the two it is.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor.h"
#include "pi_cuda_loader.h"

/* One function of pg_infer_cuda.so and where its address goes. */
typedef struct CudaFunction
{
	const char *name;
	size_t		offset;			/* in CudaApi */
} CudaFunction;

#define CUDA_FUNCTION(f) {"pi_cuda_" #f, offsetof(CudaApi, f)}

static const CudaFunction cuda_functions[] = {
	CUDA_FUNCTION(abi_version), CUDA_FUNCTION(abi_layout), CUDA_FUNCTION(device_count),
	CUDA_FUNCTION(context_new),
	CUDA_FUNCTION(context_free), CUDA_FUNCTION(device_info), CUDA_FUNCTION(set_tf32),
	CUDA_FUNCTION(model_upload_over), CUDA_FUNCTION(model_bytes), CUDA_FUNCTION(model_free),
	CUDA_FUNCTION(executor_new), CUDA_FUNCTION(executor_free), CUDA_FUNCTION(executor_bytes),
	CUDA_FUNCTION(executor_input), CUDA_FUNCTION(executor_run), CUDA_FUNCTION(executor_output)
};

/*
 * Loads CUDA's libraries (wherever they are, pi_cuda_loader_load_libs: the
 * directories chosen go to stderr, the server log), then pg_infer_cuda.so,
 * checks its ABI version and struct layout, and opens GPU 0; false with
 * err set.  The libraries stay loaded until the process exits: the CUDA
 * runtime is not made to be unloaded, and there is nothing to gain just
 * before exit.
 */
static bool
cuda_open(ExecDevice *dev, const char *library, PiError *err)
{
	PiCudaDeviceInfo info;
	int			count = 0;
	char		where[1024];
	void	   *handle;

	if (pi_cuda_loader_load_libs(getenv(PI_CUDA_LIBRARY_PATH_ENV), where, sizeof(where), err) != PI_OK)
		return false;
	fprintf(stderr, "pg_infer_executor: CUDA libraries: %s\n", where);
	handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL)
	{
		pi_fail(err, PI_ERR_DEVICE, "could not load the CUDA device engine: %s", dlerror());
		return false;
	}
	for (size_t i = 0; i < sizeof(cuda_functions) / sizeof(cuda_functions[0]); i++)
	{
		void	   *f = dlsym(handle, cuda_functions[i].name);

		if (f == NULL)
		{
			pi_fail(err, PI_ERR_DEVICE, "%s lacks the function %s", library, cuda_functions[i].name);
			return false;
		}
		*(void **) ((char *) &dev->api + cuda_functions[i].offset) = f;
	}
	if (dev->api.abi_version() != PI_CUDA_ABI_VERSION)
	{
		pi_fail(err, PI_ERR_DEVICE, "%s has ABI version %d, expected %d (another build?)",
				library, dev->api.abi_version(), PI_CUDA_ABI_VERSION);
		return false;
	}
	if (pi_cuda_loader_check_layout(dev->api.abi_layout, library, err) != PI_OK)
		return false;
	if (dev->api.device_count(&count, err) != PI_OK)
		return false;
	if (count == 0)
	{
		pi_fail(err, PI_ERR_DEVICE, "no CUDA device found");
		return false;
	}
	dev->context = dev->api.context_new(0, err);
	if (dev->context == NULL || dev->api.device_info(dev->context, &info, err) != PI_OK)
		return false;
	snprintf(dev->name, sizeof(dev->name), "%.*s", (int) sizeof(dev->name) - 1, info.name);
	dev->total_bytes = info.total_bytes;
	return true;
}

/* Opens the device named kind ("cpu" or "cuda"); false with err set (then device_close). */
bool
device_open(ExecDevice *dev, const char *kind, int threads, const char *cuda_library, PiError *err)
{
	memset(dev, 0, sizeof(*dev));
	dev->threads = threads;
	if (strcmp(kind, "cuda") == 0)
	{
		dev->cuda = true;
		return cuda_open(dev, cuda_library, err);
	}
	if (strcmp(kind, "cpu") != 0)
	{
		pi_fail(err, PI_ERR_DEVICE, "unknown device \"%s\", expected \"cpu\" or \"cuda\"", kind);
		return false;
	}
	/* the engine chooses its kernels now, before any lane could race to */
	if (dev->threads > 1)
		snprintf(dev->name, sizeof(dev->name), "cpu (%s, %d threads)", pi_engine_cpu_name(), dev->threads);
	else
		snprintf(dev->name, sizeof(dev->name), "cpu");
	dev->total_bytes = (int64_t) sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
	return true;
}

/* Frees the GPU context (every model released before). */
void
device_close(ExecDevice *dev)
{
	if (dev->context != NULL)
		dev->api.context_free(dev->context);
	memset(dev, 0, sizeof(*dev));
}

/* Device memory free now: the GPU's; 0 on the CPU (not tracked) or when unknown. */
int64_t
device_free_bytes(ExecDevice *dev)
{
	PiCudaDeviceInfo info;
	PiError		err;

	if (!dev->cuda || dev->api.device_info(dev->context, &info, &err) != PI_OK)
		return 0;
	return info.free_bytes;
}

/*
 * Prepares lm->model to run (uploads its weights to the GPU, but for those
 * it shares with lm->base's) and sets lm->bytes.
 */
PiStatus
device_load(ExecDevice *dev, LoadedModel *lm, PiError *err)
{
	if (!dev->cuda)
	{
		lm->bytes = lm->image_bytes;
		return PI_OK;
	}
	lm->device_model = dev->api.model_upload_over(dev->context, lm->model,
												  lm->base ? lm->base->device_model : NULL, err);
	if (lm->device_model == NULL)
		return err->status;
	lm->bytes = dev->api.model_bytes(lm->device_model);
	return PI_OK;
}

/*
 * Makes or remakes lm's activation buffers for runs of up to rows rows (the
 * CPU's lanes keep their packed weights); on failure it has none.
 */
PiStatus
device_buffers_resize(ExecDevice *dev, LoadedModel *lm, int64_t rows, PiError *err)
{
	if (!dev->cuda)
		return lanes_resize(lm, dev->threads, rows, err);
	dev->api.executor_free(lm->gpu);
	lm->gpu = dev->api.executor_new(lm->device_model, rows, err);
	return lm->gpu != NULL ? PI_OK : err->status;
}

/* Frees lm's activation buffers, if it has them. */
void
device_buffers_free(ExecDevice *dev, LoadedModel *lm)
{
	lanes_free(lm);
	if (dev->cuda)
		dev->api.executor_free(lm->gpu);
	lm->gpu = NULL;
}

/* Frees what device_load and device_buffers_resize made: the buffers before the device model. */
void
device_release(ExecDevice *dev, LoadedModel *lm)
{
	device_buffers_free(dev, lm);
	if (dev->cuda)
		dev->api.model_free(lm->device_model);
	lm->device_model = NULL;
}

/*
 * Runs req->rows rows of lm (within its buffers): each input i read from
 * the arena at req->input_offset[i], the first req->noutputs outputs
 * written at req->output_offset[o] (ranges checked by the caller).
 */
PiStatus
device_run(ExecDevice *dev, LoadedModel *lm, uint8_t *arena, const PiExecRequest *req, PiError *err)
{
	const PiModel *m = lm->model;
	PiStatus	st;

	if (!dev->cuda)
		return lanes_run(lm, arena, req, err);
	for (int i = 0; i < m->ninputs; i++)
		memcpy(dev->api.executor_input(lm->gpu, i), arena + req->input_offset[i],
			   sizeof(float) * req->rows * pi_value_row_elems(&m->values[m->inputs[i]]));
	dev->api.set_tf32(dev->context, req->tf32 != 0);
	if ((st = dev->api.executor_run(lm->gpu, req->rows, err)) != PI_OK)
		return st;
	for (int o = 0; o < req->noutputs; o++)
		memcpy(arena + req->output_offset[o], dev->api.executor_output(lm->gpu, o),
			   sizeof(float) * req->rows * pi_value_row_elems(&m->values[m->outputs[o]]));
	return PI_OK;
}
