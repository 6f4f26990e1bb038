/*
 * fake_cuda.c
 *	  A CPU stand-in for pg_infer_cuda.so: the functions of include/pi_cuda.h
 *	  over the CPU engine, on one "device" named "fake CUDA device (CPU
 *	  engine)", so that the executor's cuda path (dlopen, ABI and layout
 *	  checks, upload, runs, errors) and the logic of test/gpu/test_gpu (as
 *	  test/gpu/test_gpu_fake) are tested without a GPU.
 *
 * PG_INFER_CUDA_FAULT (src/cuda/cuda_faults.h) fails a run as the real
 * library does, with the status of the CUDA error it names: after
 * cudaErrorIllegalAddress every later call that touches the device fails
 * with PI_ERR_DEVICE_LOST, as a CUDA context with a sticky error does;
 * cudaErrorMemoryAllocation fails that run only; a broken graph capture
 * (cudaErrorStreamCaptureUnsupported) changes nothing, as there are no
 * graphs.
 *
 * Built as test/executor/fake_cuda.so with its own copy of the engine and
 * the exports of src/cuda/exports.map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cuda/cuda_faults.h"
#include "../../src/cuda/int8_plan.h"
#include "pi_blas.h"
#include "pi_cuda.h"
#include "pi_engine.h"

#define FAKE_DEVICE_BYTES ((int64_t) 1 << 30)

struct PiCudaContext
{
	bool		tf32;
};

struct PiCudaModel
{
	const PiModel *model;
	int64_t		shared_bytes;	/* float32 weights it reads from a base model's */
};

/* A CPU executor between staging buffers of its own, as the device's are. */
struct PiCudaExecutor
{
	const PiModel *model;
	PiExecutor *cpu;
	int64_t		max_batch;
	float	   *in_stage[PI_MAX_MODEL_IO];
	float	   *out_stage[PI_MAX_MODEL_IO];
};

/* The sticky error the device was lost to, or NULL. */
static const char *lost_to;

/* PI_ERR_DEVICE_LOST when a sticky error was injected before. */
static PiStatus
check_device(PiError *err)
{
	if (lost_to == NULL)
		return PI_OK;
	return pi_fail(err, PI_ERR_DEVICE_LOST, "the fake CUDA device was lost to %s earlier; the GPU cannot be used again by this process",
				   lost_to);
}

/* Number of CUDA devices: always one. */
PiStatus
pi_cuda_device_count(int *count, PiError *err)
{
	*count = 1;
	return PI_OK;
}

/* Opens the fake device (number 0); NULL with err set otherwise. */
PiCudaContext *
pi_cuda_context_new(int device, PiError *err)
{
	PiCudaContext *ctx;

	if (device != 0)
	{
		pi_fail(err, PI_ERR_DEVICE, "CUDA device %d does not exist: this machine has 1", device);
		return NULL;
	}
	if ((ctx = calloc(1, sizeof(PiCudaContext))) == NULL)
	{
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	pi_blas.sgemm = cblas_sgemm;
	pi_blas.sgemv = cblas_sgemv;
	return ctx;
}

/* Frees a context; NULL is allowed. */
void
pi_cuda_context_free(PiCudaContext *ctx)
{
	free(ctx);
}

/* The fake device's name, a compute capability of 9.0 and 1 GiB, half of it free. */
PiStatus
pi_cuda_device_info(PiCudaContext *ctx, PiCudaDeviceInfo *info, PiError *err)
{
	PiStatus	st = check_device(err);

	if (st != PI_OK)
		return st;
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "fake CUDA device (CPU engine)");
	info->compute_major = 9;
	info->total_bytes = FAKE_DEVICE_BYTES;
	info->free_bytes = FAKE_DEVICE_BYTES / 2;
	return PI_OK;
}

/* Records the TF32 switch (the CPU engine has no TF32). */
void
pi_cuda_set_tf32(PiCudaContext *ctx, bool enabled)
{
	ctx->tf32 = enabled;
}

/* Whether TF32 GEMMs are allowed. */
bool
pi_cuda_tf32(const PiCudaContext *ctx)
{
	return ctx->tf32;
}

/* "Uploads" a model: keeps a pointer to it. */
PiCudaModel *
pi_cuda_model_upload(PiCudaContext *ctx, const PiModel *model, PiError *err)
{
	return pi_cuda_model_upload_over(ctx, model, NULL, err);
}

/*
 * The same over base's weights: those model shares with base's model (the
 * same host data) are not counted in its bytes, as the real upload does not
 * copy them.
 */
PiCudaModel *
pi_cuda_model_upload_over(PiCudaContext *ctx, const PiModel *model, const PiCudaModel *base,
						  PiError *err)
{
	PiCudaModel *dm;

	if (check_device(err) != PI_OK)
		return NULL;
	if ((dm = calloc(1, sizeof(PiCudaModel))) == NULL)
	{
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	dm->model = model;
	for (int i = 0; base != NULL && model->weights_base == base->model && i < model->nvalues; i++)
	{
		int			j = pi_model_find_value(base->model, model->values[i].name);

		if (model->values[i].kind == PI_VALUE_WEIGHT && j >= 0 &&
			base->model->values[j].data == model->values[i].data)
			dm->shared_bytes += model->values[i].numel * (int64_t) sizeof(float);
	}
	return dm;
}

/*
 * Bytes of the model's weights: float32, except a bf16 or fp16 model's
 * Dense, Gemm and MatMul weights in 16 bits, and the int8 nodes' weights
 * and biases in their int8 blocks (src/cuda/int8_plan.h) instead, as the
 * real upload keeps them (src/cuda/model.c; its 256-byte alignment left
 * out).
 */
int64_t
pi_cuda_model_bytes(const PiCudaModel *dm)
{
	const PiModel *m = dm->model;
	int64_t		bytes = m->parameter_count * (int64_t) sizeof(float) - dm->shared_bytes;
	PiWeightForm *forms;
	bool	   *int8_only = pi_gpu_int8_only_weights(m);

	for (int i = 0; int8_only != NULL && dm->shared_bytes == 0 && i < m->nvalues; i++)
		if (int8_only[i])
			bytes -= m->values[i].numel * (int64_t) sizeof(float);
	for (int pos = 0; int8_only != NULL && dm->shared_bytes == 0 && pos < m->norder; pos++)
	{
		PiGpuInt8Shape s = pi_gpu_int8_shape(m, &m->nodes[m->order[pos]]);

		if (s.rows != PI_GPU_INT8_NONE)
			bytes += pi_gpu_int8_weight_bytes(&s);
	}
	free(int8_only);
	if (m->precision != PI_PRECISION_BF16 && m->precision != PI_PRECISION_FP16)
		return bytes;
	if ((forms = pi_model_weight_forms(m)) == NULL)
		return bytes;
	for (int i = 0; i < m->nvalues; i++)
		if (forms[i] != PI_WEIGHT_KEEP)
			bytes -= m->values[i].numel * (int64_t) sizeof(uint16_t);
	free(forms);
	return bytes;
}

/* Frees a device model; NULL is allowed. */
void
pi_cuda_model_free(PiCudaModel *dm)
{
	free(dm);
}

/* A CPU executor for up to max_batch rows; NULL with err set on failure. */
PiCudaExecutor *
pi_cuda_executor_new(PiCudaModel *dm, int64_t max_batch, PiError *err)
{
	PiCudaExecutor *ex;

	if (check_device(err) != PI_OK)
		return NULL;
	if ((ex = calloc(1, sizeof(PiCudaExecutor))) == NULL)
	{
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	ex->model = dm->model;
	ex->max_batch = max_batch;
	if ((ex->cpu = pi_executor_new(dm->model, max_batch, err)) == NULL)
	{
		free(ex);
		return NULL;
	}
	for (int i = 0; i < dm->model->ninputs + dm->model->noutputs; i++)
	{
		bool		is_input = i < dm->model->ninputs;
		int			v = is_input ? dm->model->inputs[i] : dm->model->outputs[i - dm->model->ninputs];
		float	  **slot = is_input ? &ex->in_stage[i] : &ex->out_stage[i - dm->model->ninputs];

		if ((*slot = calloc(max_batch * pi_value_row_elems(&dm->model->values[v]), sizeof(float))) == NULL)
		{
			pi_cuda_executor_free(ex);
			pi_fail(err, PI_ERR_NOMEM, "out of memory");
			return NULL;
		}
	}
	return ex;
}

/* Frees an executor; NULL is allowed. */
void
pi_cuda_executor_free(PiCudaExecutor *ex)
{
	if (ex == NULL)
		return;
	pi_executor_free(ex->cpu);
	for (int i = 0; i < PI_MAX_MODEL_IO; i++)
	{
		free(ex->in_stage[i]);
		free(ex->out_stage[i]);
	}
	free(ex);
}

/* Largest batch this executor accepts. */
int64_t
pi_cuda_executor_max_batch(const PiCudaExecutor *ex)
{
	return ex->max_batch;
}

/* Bytes of the CPU executor's buffers. */
int64_t
pi_cuda_executor_bytes(const PiCudaExecutor *ex)
{
	int64_t		bytes = 0;

	return pi_executor_bytes(ex->model, ex->max_batch, &bytes) ? bytes : 0;
}

/* Where the caller writes rows of input i. */
float *
pi_cuda_executor_input(PiCudaExecutor *ex, int input)
{
	return ex->in_stage[input];
}

/* Runs the CPU engine from the input staging to the output staging. */
static PiStatus
run_cpu(PiCudaExecutor *ex, int64_t batch, PiError *err)
{
	const PiModel *m = ex->model;
	PiStatus	st;

	for (int i = 0; i < m->ninputs; i++)
		memcpy(pi_executor_input(ex->cpu, i), ex->in_stage[i],
			   sizeof(float) * batch * pi_value_row_elems(&m->values[m->inputs[i]]));
	if ((st = pi_executor_run(ex->cpu, batch, err)) != PI_OK)
		return st;
	for (int o = 0; o < m->noutputs; o++)
		memcpy(ex->out_stage[o], pi_executor_output(ex->cpu, o),
			   sizeof(float) * batch * pi_value_row_elems(&m->values[m->outputs[o]]));
	return PI_OK;
}

/* Runs the CPU engine, or fails as PG_INFER_CUDA_FAULT asks; batch checked as the device's is. */
PiStatus
pi_cuda_executor_run(PiCudaExecutor *ex, int64_t batch, PiError *err)
{
	const char *fault;
	PiStatus	st;

	if (batch < 1 || batch > ex->max_batch)
		return pi_fail(err, PI_ERR_LIMIT, "batch of %lld rows, this executor takes 1 to %lld",
					   (long long) batch, (long long) ex->max_batch);
	if ((st = check_device(err)) != PI_OK || (st = pi_gpu_fault_next_run(&fault, err)) != PI_OK)
		return st;
	/* no graphs here: a capture that fails changes nothing */
	if (fault == NULL || strcmp(fault, "cudaErrorStreamCaptureUnsupported") == 0)
		return run_cpu(ex, batch, err);
	st = pi_gpu_error_status(fault);
	if (st == PI_ERR_DEVICE_LOST)
		lost_to = fault;
	return pi_fail(err, st, "a run that %s failed on the fake CUDA device failed: %s%s", PI_CUDA_FAULT_ENV,
				   fault, st == PI_ERR_DEVICE_LOST ? "; the GPU cannot be used again by this process" : "");
}

/* Output o of the last run. */
const float *
pi_cuda_executor_output(const PiCudaExecutor *ex, int output)
{
	return ex->out_stage[output];
}
