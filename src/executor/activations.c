/*
 * activations.c
 *	  The executor's activation buffers: none at LOAD; made for a model at
 *	  its first RUN and grown (by doubling, keeping its packed weights) when
 *	  a RUN brings more rows, within the memory limit the worker sends with
 *	  every RUN.  Other models' buffers are freed, least recently run
 *	  first, to make room.  Sizes follow the engine's buffer plan
 *	  (pi_executor_bytes) on either device, so that the worker can size its
 *	  RUNs from the LOAD reply.
 */
#include <stdint.h>
#include <stdio.h>

#include "executor.h"

/*
 * Sets lm's activation plan: a RUN of r rows needs fixed_bytes + r *
 * row_bytes, and at most max_rows rows fit (max_batch, or fewer where one
 * buffer would pass INT32_MAX floats, which BLAS cannot address; 0 when
 * not even one row can).  With lanes lanes (CPU threads), each holds its
 * share of the rows, rounded up, and its own fixed part but for the packed
 * weights, which the first lane holds for all.
 */
void
activations_plan(LoadedModel *lm, int64_t max_batch, int lanes)
{
	const PiModel *m = lm->model;
	int64_t		widest = 1;
	int64_t		one,
				two,
				packed;

	for (int b = 0; b < m->nbuffers; b++)
		if (m->buffer_row_elems[b] > widest)
			widest = m->buffer_row_elems[b];
	lm->max_rows = INT32_MAX / widest;
	if (lm->max_rows > max_batch)
		lm->max_rows = max_batch;
	if (lm->max_rows < 1 || !pi_executor_bytes(m, 1, &one) || !pi_executor_bytes(m, 2, &two) ||
		!pi_executor_packed_bytes(m, &packed))
	{
		lm->max_rows = 0;
		lm->fixed_bytes = lm->row_bytes = 0;
		return;
	}
	lm->row_bytes = two - one;
	lm->fixed_bytes = one - lm->row_bytes;
	/* packed + lanes x (fixed - packed + ceil(r / lanes) rows) <= that + (r + lanes - 1) rows */
	lm->fixed_bytes = packed + lanes * (lm->fixed_bytes - packed) + (lanes - 1) * lm->row_bytes;
}

/* Bytes of lm's buffers for rows rows by its plan (rows <= max_rows: no overflow). */
static int64_t
plan_bytes(const LoadedModel *lm, int64_t rows)
{
	return lm->fixed_bytes + rows * lm->row_bytes;
}

/* Frees lm's activation buffers, if it has them. */
void
activations_free(ExecState *st, LoadedModel *lm)
{
	device_buffers_free(&st->device, lm);
	st->activation_bytes -= lm->activation_bytes;
	lm->activation_bytes = 0;
	lm->capacity = 0;
}

/* The model other than keep whose buffers were run least recently, or NULL. */
static LoadedModel *
least_recently_run(const ExecState *st, const LoadedModel *keep)
{
	LoadedModel *victim = NULL;

	for (int i = 0; i < st->table.count; i++)
	{
		LoadedModel *lm = st->table.models[i];

		if (lm != keep && lm->capacity > 0 && (victim == NULL || lm->last_run < victim->last_run))
			victim = lm;
	}
	return victim;
}

/*
 * Makes lm's buffers hold at least rows rows (1 to its max_rows) while the
 * buffers of all models stay within limit bytes (0: no limit): others'
 * are freed first, and lm's own made again when they alone pass the limit.
 * Refused, with err set and nothing freed, when rows alone need more.
 */
PiStatus
activations_reserve(ExecState *st, LoadedModel *lm, int64_t rows, int64_t limit, PiError *err)
{
	int64_t		capacity = lm->capacity;
	LoadedModel *victim;
	PiStatus	status;

	lm->last_run = ++st->run_clock;
	if (limit > 0 && plan_bytes(lm, rows) > limit)
		return pi_fail(err, PI_ERR_LIMIT,
					   "RUN of model %llu: %lld rows need %lld bytes of activation buffers, more than the limit of %lld",
					   (unsigned long long) lm->handle, (long long) rows, (long long) plan_bytes(lm, rows),
					   (long long) limit);
	if (lm->capacity < rows || (limit > 0 && lm->activation_bytes > limit))
	{
		/* doubling, so that batches that grow reallocate rarely; within max_rows and the limit */
		for (capacity = 1; capacity < rows; capacity *= 2)
			;
		if (capacity > lm->max_rows)
			capacity = lm->max_rows;
		if (limit > 0 && plan_bytes(lm, capacity) > limit)
			capacity = (limit - lm->fixed_bytes) / lm->row_bytes;
	}
	while (limit > 0 && st->activation_bytes - lm->activation_bytes + plan_bytes(lm, capacity) > limit &&
		   (victim = least_recently_run(st, lm)) != NULL)
		activations_free(st, victim);
	if (capacity == lm->capacity)
		return PI_OK;
	status = device_buffers_resize(&st->device, lm, capacity, err);
	if (status != PI_OK)
	{
		activations_free(st, lm);
		return status;
	}
	st->activation_bytes += plan_bytes(lm, capacity) - lm->activation_bytes;
	lm->capacity = capacity;
	lm->activation_bytes = plan_bytes(lm, capacity);
	return PI_OK;
}
