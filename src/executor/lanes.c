/*
 * lanes.c
 *	  The CPU's threads in the executor: a model's activation buffers are
 *	  made as one engine executor per thread (a "lane"), and a RUN's rows
 *	  are shared among them, each lane copying its rows in from the arena,
 *	  running them and copying its outputs back, at the same time.  The
 *	  executor is not a PostgreSQL backend, so it may start threads; one
 *	  RUN's lanes start and end with it.  The first lane packs the weights
 *	  its kernels read packed; the others read its copy.
 *
 *	  What the lanes share is read-only (the model and its packed weights) except
 *	  the BLAS library, whose serial build may not be called from several
 *	  threads at once: lanes_share_blas serialises its calls, which the
 *	  engine makes only for GEMMs its own kernels do not take (products of
 *	  two activations).
 */
#include <pthread.h>
#include <string.h>

#include "executor.h"
#include "pi_blas.h"

/* One lane's share of a RUN. */
typedef struct LaneWork
{
	PiExecutor *ex;
	const PiModel *model;
	uint8_t    *arena;
	const PiExecRequest *req;
	int64_t		row0;			/* first row of the request it runs */
	int64_t		rows;
	PiStatus	status;
	PiError		err;
} LaneWork;

static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static PiBlas unlocked_blas;

/* sgemm of the BLAS library, one call at a time. */
static void
locked_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE trans_a,
			 const enum CBLAS_TRANSPOSE trans_b, const blasint m, const blasint n,
			 const blasint k, const float alpha, const float *a, const blasint lda,
			 const float *b, const blasint ldb, const float beta, float *c,
			 const blasint ldc)
{
	pthread_mutex_lock(&blas_lock);
	unlocked_blas.sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	pthread_mutex_unlock(&blas_lock);
}

/* sgemv of the BLAS library, one call at a time. */
static void
locked_sgemv(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE trans,
			 const blasint m, const blasint n, const float alpha, const float *a,
			 const blasint lda, const float *x, const blasint incx, const float beta,
			 float *y, const blasint incy)
{
	pthread_mutex_lock(&blas_lock);
	unlocked_blas.sgemv(order, trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
	pthread_mutex_unlock(&blas_lock);
}

/* Makes the engine's BLAS calls safe from several lanes (pi_blas set before). */
void
lanes_share_blas(void)
{
	unlocked_blas = pi_blas;
	pi_blas.sgemm = locked_sgemm;
	pi_blas.sgemv = locked_sgemv;
}

/*
 * Makes or resizes lm's lanes for runs of up to rows rows: min(threads,
 * rows) engine executors of ceil(rows / lanes) rows each, the first one's
 * packed weights kept and read by the rest; on failure none stay.
 */
PiStatus
lanes_resize(LoadedModel *lm, int threads, int64_t rows, PiError *err)
{
	int			lanes = rows < threads ? (int) rows : threads;
	int64_t		per = (rows + lanes - 1) / lanes;

	for (int j = PI_EXEC_MAX_THREADS - 1; j >= lanes; j--)
	{
		pi_executor_free(lm->cpu[j]);
		lm->cpu[j] = NULL;
	}
	for (int j = 0; j < lanes; j++)
	{
		PiStatus	st;

		if (lm->cpu[j] != NULL)
			st = pi_executor_resize(lm->cpu[j], per, err);
		else
		{
			lm->cpu[j] = j == 0 ? pi_executor_new(lm->model, per, err) :
				pi_executor_new_sharing(lm->cpu[0], per, err);
			st = lm->cpu[j] != NULL ? PI_OK : err->status;
		}
		if (st != PI_OK)
		{
			lanes_free(lm);
			return st;
		}
	}
	lm->lanes = lanes;
	return PI_OK;
}

/* Frees lm's lanes, if it has them: the first, whose packed weights the others read, last. */
void
lanes_free(LoadedModel *lm)
{
	for (int j = PI_EXEC_MAX_THREADS - 1; j >= 0; j--)
	{
		pi_executor_free(lm->cpu[j]);
		lm->cpu[j] = NULL;
	}
	lm->lanes = 0;
}

/* Runs one lane's rows: its inputs from the arena, the pass, its outputs back. */
static void *
lane_main(void *arg)
{
	LaneWork   *w = arg;
	const PiModel *m = w->model;
	const PiExecRequest *req = w->req;

	for (int i = 0; i < m->ninputs; i++)
	{
		size_t		row = sizeof(float) * pi_value_row_elems(&m->values[m->inputs[i]]);

		memcpy(pi_executor_input(w->ex, i), w->arena + req->input_offset[i] + w->row0 * row,
			   w->rows * row);
	}
	w->status = pi_executor_run(w->ex, w->rows, &w->err);
	if (w->status != PI_OK)
		return NULL;
	for (int o = 0; o < req->noutputs; o++)
	{
		size_t		row = sizeof(float) * pi_value_row_elems(&m->values[m->outputs[o]]);

		memcpy(w->arena + req->output_offset[o] + w->row0 * row, pi_executor_output(w->ex, o),
			   w->rows * row);
	}
	return NULL;
}

/*
 * Runs a RUN's rows (at most what lm's lanes hold) on as many lanes as
 * share them, the first in this thread; the first lane's error, if any.
 * A thread that cannot start leaves its rows to this one.
 */
PiStatus
lanes_run(LoadedModel *lm, uint8_t *arena, const PiExecRequest *req, PiError *err)
{
	LaneWork	work[PI_EXEC_MAX_THREADS];
	pthread_t	thread[PI_EXEC_MAX_THREADS];
	bool		started[PI_EXEC_MAX_THREADS] = {false};
	int			lanes = req->rows < lm->lanes ? (int) req->rows : lm->lanes;
	int64_t		per = (req->rows + lanes - 1) / lanes;

	lanes = (int) ((req->rows + per - 1) / per);	/* none left without rows */
	for (int j = 0; j < lanes; j++)
	{
		memset(&work[j], 0, sizeof(work[j]));
		work[j].ex = lm->cpu[j];
		work[j].model = lm->model;
		work[j].arena = arena;
		work[j].req = req;
		work[j].row0 = j * per;
		work[j].rows = j < lanes - 1 ? per : req->rows - j * per;
	}
	for (int j = 1; j < lanes; j++)
		started[j] = pthread_create(&thread[j], NULL, lane_main, &work[j]) == 0;
	lane_main(&work[0]);
	for (int j = 1; j < lanes; j++)
		if (started[j])
			pthread_join(thread[j], NULL);
		else
			lane_main(&work[j]);
	for (int j = 0; j < lanes; j++)
		if (work[j].status != PI_OK)
		{
			*err = work[j].err;
			return work[j].status;
		}
	return PI_OK;
}
