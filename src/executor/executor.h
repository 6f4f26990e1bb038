/*
 * executor.h
 *	  The parts of pg_infer_executor, the program that runs models for the
 *	  inference worker (include/pi_executor_protocol.h): the device it runs
 *	  them on (device.c, with the CPU's threads in lanes.c), its table of loaded models (models.c), their
 *	  activation buffers (activations.c) and the handlers of LOAD, UNLOAD
 *	  and RUN (commands.c).  Plain C, no PostgreSQL headers.
 */
#ifndef PI_EXECUTOR_INTERNAL_H
#define PI_EXECUTOR_INTERNAL_H

#include "pi_cuda.h"
#include "pi_engine.h"
#include "pi_executor_protocol.h"

/* The functions of pg_infer_cuda.so the executor calls, resolved with dlsym. */
typedef struct CudaApi
{
	int			(*abi_version) (void);
	int			(*abi_layout) (int64_t *values, int max);
	PiStatus	(*device_count) (int *count, PiError *err);
	PiCudaContext *(*context_new) (int device, PiError *err);
	void		(*context_free) (PiCudaContext *ctx);
	PiStatus	(*device_info) (PiCudaContext *ctx, PiCudaDeviceInfo *info, PiError *err);
	void		(*set_tf32) (PiCudaContext *ctx, bool enabled);
	PiCudaModel *(*model_upload_over) (PiCudaContext *ctx, const PiModel *model,
									   const PiCudaModel *base, PiError *err);
	int64_t		(*model_bytes) (const PiCudaModel *dm);
	void		(*model_free) (PiCudaModel *dm);
	PiCudaExecutor *(*executor_new) (PiCudaModel *dm, int64_t max_batch, PiError *err);
	void		(*executor_free) (PiCudaExecutor *ex);
	int64_t		(*executor_bytes) (const PiCudaExecutor *ex);
	float	   *(*executor_input) (PiCudaExecutor *ex, int input);
	PiStatus	(*executor_run) (PiCudaExecutor *ex, int64_t batch, PiError *err);
	const float *(*executor_output) (const PiCudaExecutor *ex, int output);
} CudaApi;

/*
 * The device models run on: the CPU engine, or one GPU through
 * pg_infer_cuda.so.  On the CPU, threads threads share each RUN's rows,
 * each with an engine executor of its own (a "lane").
 */
typedef struct ExecDevice
{
	bool		cuda;
	int			threads;		/* CPU: threads per RUN, 1 to PI_EXEC_MAX_THREADS */
	CudaApi		api;			/* pg_infer_cuda.so's functions */
	PiCudaContext *context;
	char		name[128];
	int64_t		total_bytes;	/* device memory (host memory for the CPU) */
} ExecDevice;

/* One model the worker loaded, under the handle it chose. */
typedef struct LoadedModel
{
	uint64_t	handle;
	uint8_t    *image;			/* the LOAD payload; the model reads its weights here */
	int64_t		image_bytes;
	PiModel    *model;
	struct LoadedModel *base;	/* the model whose weights it shares, or NULL */
	int			dependents;		/* models loaded over this one */
	PiExecutor *cpu[PI_EXEC_MAX_THREADS];	/* CPU: one executor per lane */
	int			lanes;			/* CPU: lanes made (0: no buffers) */
	PiCudaModel *device_model;
	PiCudaExecutor *gpu;
	int64_t		bytes;			/* reported to the worker: image or device bytes */
	int64_t		fixed_bytes;	/* activation plan: fixed_bytes + rows * row_bytes */
	int64_t		row_bytes;
	int64_t		max_rows;		/* most rows of a RUN */
	int64_t		capacity;		/* rows the activation buffers hold; 0: none made */
	int64_t		activation_bytes;	/* their bytes by the plan */
	uint64_t	last_run;		/* ExecState.run_clock at its last RUN */
} LoadedModel;

/* The loaded models (a handful: looked up by a linear scan). */
typedef struct ModelTable
{
	LoadedModel **models;
	int			count;
	int			capacity;
} ModelTable;

/* Everything the executor holds. */
typedef struct ExecState
{
	ExecDevice	device;
	ModelTable	table;
	uint8_t    *arena;
	int64_t		arena_bytes;
	int64_t		max_batch;
	int64_t		activation_bytes;	/* of every model's buffers, by the plan */
	uint64_t	run_clock;		/* counts RUNs: least recently run first out */
} ExecState;

/* device.c */
bool		device_open(ExecDevice *dev, const char *kind, int threads, const char *cuda_library,
						PiError *err);
void		device_close(ExecDevice *dev);
int64_t		device_free_bytes(ExecDevice *dev);
PiStatus	device_load(ExecDevice *dev, LoadedModel *lm, PiError *err);
PiStatus	device_buffers_resize(ExecDevice *dev, LoadedModel *lm, int64_t rows, PiError *err);
void		device_buffers_free(ExecDevice *dev, LoadedModel *lm);
void		device_release(ExecDevice *dev, LoadedModel *lm);
PiStatus	device_run(ExecDevice *dev, LoadedModel *lm, uint8_t *arena, const PiExecRequest *req,
					   PiError *err);

/* lanes.c */
void		lanes_share_blas(void);
PiStatus	lanes_resize(LoadedModel *lm, int threads, int64_t rows, PiError *err);
void		lanes_free(LoadedModel *lm);
PiStatus	lanes_run(LoadedModel *lm, uint8_t *arena, const PiExecRequest *req, PiError *err);

/* activations.c */
void		activations_plan(LoadedModel *lm, int64_t max_batch, int lanes);
PiStatus	activations_reserve(ExecState *st, LoadedModel *lm, int64_t rows, int64_t limit, PiError *err);
void		activations_free(ExecState *st, LoadedModel *lm);

/* models.c */
LoadedModel *models_find(const ModelTable *table, uint64_t handle);
LoadedModel *models_add(ModelTable *table, uint64_t handle);
void		models_remove(ExecState *st, LoadedModel *lm);
void		models_free_all(ExecState *st);

/* commands.c */
void		command_load(ExecState *st, const PiExecRequest *req, uint8_t *image, PiExecReply *reply);
void		command_unload(ExecState *st, const PiExecRequest *req, PiExecReply *reply);
void		command_run(ExecState *st, const PiExecRequest *req, PiExecReply *reply);
void		reply_error(PiExecReply *reply, const PiError *err);

#endif							/* PI_EXECUTOR_INTERNAL_H */
