/*
 * faults.c
 *	  Which CUDA errors leave the device unusable (sticky errors and lost
 *	  devices), and the fault-injection switch PG_INFER_CUDA_FAULT
 *	  (src/cuda/cuda_faults.h).  Plain C: also built into the CPU stand-in
 *	  of pg_infer_cuda.so and the unit test.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_faults.h"

/*
 * Errors after which "any further CUDA work will return the same error" and
 * "the process must be terminated and relaunched" (driver_types.h), and
 * those of a device that is gone.
 */
static const char *const lost_errors[] = {
	"cudaErrorIllegalAddress", "cudaErrorLaunchFailure", "cudaErrorLaunchTimeout",
	"cudaErrorAssert", "cudaErrorHardwareStackError", "cudaErrorIllegalInstruction",
	"cudaErrorMisalignedAddress", "cudaErrorInvalidAddressSpace", "cudaErrorInvalidPc",
	"cudaErrorContained", "cudaErrorTensorMemoryLeak", "cudaErrorMpsClientTerminated",
	"cudaErrorExternalDevice", "cudaErrorECCUncorrectable", "cudaErrorNvlinkUncorrectable",
	"cudaErrorContextIsDestroyed", "cudaErrorNoDevice", "cudaErrorUnknown"
};

/* The errors PG_INFER_CUDA_FAULT can cause. */
static const char *const injectable_errors[] = {
	"cudaErrorIllegalAddress", "cudaErrorMemoryAllocation", "cudaErrorStreamCaptureUnsupported"
};

/* The status of a failure with the CUDA error of this name (cudaGetErrorName). */
PiStatus
pi_gpu_error_status(const char *name)
{
	if (strcmp(name, "cudaErrorMemoryAllocation") == 0)
		return PI_ERR_NOMEM;
	for (size_t i = 0; i < sizeof(lost_errors) / sizeof(lost_errors[0]); i++)
		if (strcmp(name, lost_errors[i]) == 0)
			return PI_ERR_DEVICE_LOST;
	return PI_ERR_DEVICE;
}

/* Reads a PG_INFER_CUDA_FAULT value into *error and *run; false with err set. */
bool
pi_gpu_fault_parse(const char *spec, const char **error, int64_t *run, PiError *err)
{
	const char *at = strchr(spec, '@');
	size_t		len = at != NULL ? (size_t) (at - spec) : strlen(spec);
	char	   *end = NULL;

	*error = NULL;
	*run = 1;
	for (size_t i = 0; i < sizeof(injectable_errors) / sizeof(injectable_errors[0]); i++)
		if (strlen(injectable_errors[i]) == len && strncmp(spec, injectable_errors[i], len) == 0)
			*error = injectable_errors[i];
	if (at != NULL)
		*run = strtoll(at + 1, &end, 10);
	if (*error == NULL || (at != NULL && (end == at + 1 || *end != '\0' || *run < 1)))
	{
		*error = NULL;
		pi_fail(err, PI_ERR_INVALID, "%s is \"%s\", expected cudaErrorIllegalAddress, cudaErrorMemoryAllocation or cudaErrorStreamCaptureUnsupported, optionally followed by @RUN (a run number from 1)",
				PI_CUDA_FAULT_ENV, spec);
		return false;
	}
	return true;
}

/*
 * Counts a run of the process and says which CUDA error it must fail with
 * (*error NULL: none); PI_ERR_INVALID when PG_INFER_CUDA_FAULT is malformed.
 * The variable is read at the first run.
 */
PiStatus
pi_gpu_fault_next_run(const char **error, PiError *err)
{
	static bool read;
	static PiError bad;
	static const char *fault;
	static int64_t fault_run;
	static int64_t runs;
	const char *spec;

	if (!read)
	{
		read = true;
		if ((spec = getenv(PI_CUDA_FAULT_ENV)) != NULL && spec[0] != '\0')
			pi_gpu_fault_parse(spec, &fault, &fault_run, &bad);
	}
	*error = NULL;
	if (bad.status != PI_OK)
		return pi_fail(err, bad.status, "%s", bad.message);
	if (fault != NULL && ++runs == fault_run)
		*error = fault;
	return PI_OK;
}
