/*
 * cuda_faults.h
 *	  The plain-C half of the CUDA device engine's error handling, shared by
 *	  pg_infer_cuda.so, its CPU stand-in for tests (test/executor/fake_cuda.c)
 *	  and the unit test (test/gpu/test_gpu_logic.c): which CUDA errors leave
 *	  the device unusable, and the fault-injection switch that tests set.
 *
 * No CUDA headers: errors are named as cudaGetErrorName() names them.
 */
#ifndef PI_CUDA_FAULTS_H
#define PI_CUDA_FAULTS_H

#include "pi_ir.h"

/*
 * PG_INFER_CUDA_FAULT=NAME[@RUN] makes run number RUN of the process
 * (counting every executor's runs from 1; default 1) fail with the CUDA
 * error NAME, caused for real on a GPU:
 *
 *	cudaErrorIllegalAddress    a kernel stores through an invalid address:
 *	                           a sticky error, the device is lost
 *	cudaErrorMemoryAllocation  an allocation larger than any device fails
 *	                           and its error is left in CUDA's last-error
 *	                           slot: the next run must not see it
 *	cudaErrorStreamCaptureUnsupported
 *	                           when run RUN captures a CUDA graph, an
 *	                           allocation inside the capture breaks it: the
 *	                           run must go on without a graph (a run that
 *	                           does not capture is not affected)
 */
#define PI_CUDA_FAULT_ENV "PG_INFER_CUDA_FAULT"

/* The status of a failure with the CUDA error of this name (cudaGetErrorName). */
PiStatus	pi_gpu_error_status(const char *name);

/* Reads a PG_INFER_CUDA_FAULT value into *error and *run; false with err set. */
bool		pi_gpu_fault_parse(const char *spec, const char **error, int64_t *run,
								PiError *err);

/*
 * Counts a run of the process and says which CUDA error it must fail with
 * (*error NULL: none); PI_ERR_INVALID when PG_INFER_CUDA_FAULT is malformed.
 */
PiStatus	pi_gpu_fault_next_run(const char **error, PiError *err);

#endif							/* PI_CUDA_FAULTS_H */
