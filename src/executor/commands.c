/*
 * commands.c
 *	  The executor's LOAD, UNLOAD and RUN: each request checked completely
 *	  (handles, row counts, output counts, arena ranges, the memory limit)
 *	  before anything is touched, and answered with a status and a message that says what was
 *	  expected and what came.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor.h"

/* Puts err's status and message into the reply. */
void
reply_error(PiExecReply *reply, const PiError *err)
{
	reply->status = err->status;
	snprintf(reply->message, sizeof(reply->message), "%s", err->message);
}

/*
 * LOAD: attaches the image (owned from here on), prepares it on the device
 * and answers with the model's activation plan (no buffers are made yet).
 */
void
command_load(ExecState *st, const PiExecRequest *req, uint8_t *image, PiExecReply *reply)
{
	unsigned long long handle = (unsigned long long) req->model_handle;
	PiError		err = {0};
	LoadedModel *lm;
	LoadedModel *base = NULL;

	if (req->base_handle != 0 && (base = models_find(&st->table, req->base_handle)) == NULL)
	{
		pi_fail(&err, PI_ERR_UNDEFINED, "LOAD of model %llu over model %llu: that handle is not loaded",
				handle, (unsigned long long) req->base_handle);
		free(image);
		reply_error(reply, &err);
		return;
	}
	if (image == NULL)
	{
		pi_fail(&err, PI_ERR_INVALID, "LOAD of model %llu carries no model image (payload_bytes %lld)",
				handle, (long long) req->payload_bytes);
		reply_error(reply, &err);
		return;
	}
	if (models_find(&st->table, req->model_handle) != NULL)
	{
		pi_fail(&err, PI_ERR_DUPLICATE, "LOAD of model %llu: that handle is already loaded", handle);
		free(image);
		reply_error(reply, &err);
		return;
	}
	lm = models_add(&st->table, req->model_handle);
	if (lm == NULL)
	{
		pi_fail(&err, PI_ERR_NOMEM, "LOAD of model %llu: out of memory", handle);
		free(image);
		reply_error(reply, &err);
		return;
	}
	lm->image = image;
	lm->image_bytes = req->payload_bytes;
	lm->model = pi_model_image_attach_over(image, req->payload_bytes, base ? base->model : NULL, &err);
	if (lm->model == NULL)
		goto failed;
	lm->base = base;
	if (base != NULL)
		base->dependents++;
	if (lm->model->ninputs > PI_EXEC_MAX_IO)
	{
		pi_fail(&err, PI_ERR_LIMIT, "LOAD of model %llu: the model has %d inputs, a request carries at most %d",
				handle, lm->model->ninputs, PI_EXEC_MAX_IO);
		goto failed;
	}
	if (device_load(&st->device, lm, &err) != PI_OK)
		goto failed;
	activations_plan(lm, st->max_batch, st->device.cuda ? 1 : st->device.threads);
	reply->bytes = lm->bytes;
	reply->free_bytes = device_free_bytes(&st->device);
	reply->fixed_bytes = lm->fixed_bytes;
	reply->row_bytes = lm->row_bytes;
	reply->max_rows = lm->max_rows;
	return;

failed:
	models_remove(st, lm);
	reply_error(reply, &err);
}

/* UNLOAD: frees the model; the reply's bytes are what it held. */
void
command_unload(ExecState *st, const PiExecRequest *req, PiExecReply *reply)
{
	LoadedModel *lm = models_find(&st->table, req->model_handle);
	PiError		err = {0};

	if (lm == NULL)
	{
		pi_fail(&err, PI_ERR_UNDEFINED, "UNLOAD of model %llu: that handle is not loaded",
				(unsigned long long) req->model_handle);
		reply_error(reply, &err);
		return;
	}
	if (lm->dependents > 0)
	{
		pi_fail(&err, PI_ERR_INVALID, "UNLOAD of model %llu: %d models loaded over it are still loaded",
				(unsigned long long) req->model_handle, lm->dependents);
		reply_error(reply, &err);
		return;
	}
	reply->bytes = lm->bytes;
	models_remove(st, lm);
	reply->free_bytes = device_free_bytes(&st->device);
}

/*
 * Checks that rows of a tensor of row_elems floats per row, at offset, lie
 * inside the arena and are float-aligned.  False with err set.
 */
static bool
arena_range(const ExecState *st, const PiExecRequest *req, const char *what, int index,
			int64_t offset, int64_t row_elems, PiError *err)
{
	unsigned long long handle = (unsigned long long) req->model_handle;
	int64_t		bytes;
	int64_t		end;

	if (!pi_mul_size(req->rows, row_elems, &bytes) || !pi_mul_size(bytes, sizeof(float), &bytes))
	{
		pi_fail(err, PI_ERR_LIMIT, "RUN of model %llu: %s %d of %lld rows overflows", handle, what,
				index, (long long) req->rows);
		return false;
	}
	if (offset < 0 || offset % (int64_t) sizeof(float) != 0)
	{
		pi_fail(err, PI_ERR_INVALID, "RUN of model %llu: %s %d at arena offset %lld, expected a multiple of %zu from 0",
				handle, what, index, (long long) offset, sizeof(float));
		return false;
	}
	if (__builtin_add_overflow(offset, bytes, &end) || end > st->arena_bytes)
	{
		pi_fail(err, PI_ERR_LIMIT, "RUN of model %llu: %s %d takes %lld bytes at arena offset %lld, past the arena's %lld bytes",
				handle, what, index, (long long) bytes, (long long) offset, (long long) st->arena_bytes);
		return false;
	}
	return true;
}

/* Checks a RUN request against the model and the arena. */
static bool
run_valid(const ExecState *st, const PiExecRequest *req, const LoadedModel *lm, PiError *err)
{
	const PiModel *m = lm->model;
	unsigned long long handle = (unsigned long long) req->model_handle;
	int			max_outputs = m->noutputs < PI_EXEC_MAX_IO ? m->noutputs : PI_EXEC_MAX_IO;

	if (req->rows < 1 || req->rows > lm->max_rows)
	{
		pi_fail(err, PI_ERR_LIMIT, "RUN of model %llu: %lld rows, expected 1 to %lld",
				handle, (long long) req->rows, (long long) lm->max_rows);
		return false;
	}
	if (req->memory_limit < 0)
	{
		pi_fail(err, PI_ERR_INVALID, "RUN of model %llu: memory limit %lld, expected 0 (none) or more bytes",
				handle, (long long) req->memory_limit);
		return false;
	}
	if (req->noutputs < 0 || req->noutputs > max_outputs)
	{
		pi_fail(err, PI_ERR_INVALID, "RUN of model %llu: %d outputs asked, expected 0 to %d (the model has %d)",
				handle, req->noutputs, max_outputs, m->noutputs);
		return false;
	}
	for (int i = 0; i < m->ninputs; i++)
		if (!arena_range(st, req, "input", i, req->input_offset[i],
						 pi_value_row_elems(&m->values[m->inputs[i]]), err))
			return false;
	for (int o = 0; o < req->noutputs; o++)
		if (!arena_range(st, req, "output", o, req->output_offset[o],
						 pi_value_row_elems(&m->values[m->outputs[o]]), err))
			return false;
	return true;
}

/* Microseconds from a to b. */
static int64_t
elapsed_usec(const struct timespec *a, const struct timespec *b)
{
	return (int64_t) (b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

/*
 * RUN: activation buffers for the rows within the memory limit, inputs
 * from the arena, the forward pass, the first noutputs outputs into the
 * arena.
 */
void
command_run(ExecState *st, const PiExecRequest *req, PiExecReply *reply)
{
	LoadedModel *lm = models_find(&st->table, req->model_handle);
	PiError		err = {0};
	struct timespec start,
				end;

	if (lm == NULL)
	{
		pi_fail(&err, PI_ERR_UNDEFINED, "RUN of model %llu: that handle is not loaded",
				(unsigned long long) req->model_handle);
		reply_error(reply, &err);
		return;
	}
	if (!run_valid(st, req, lm, &err) ||
		activations_reserve(st, lm, req->rows, req->memory_limit, &err) != PI_OK)
	{
		reply_error(reply, &err);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (device_run(&st->device, lm, st->arena, req, &err) != PI_OK)
	{
		reply_error(reply, &err);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	reply->run_usec = elapsed_usec(&start, &end);
}
