/*
 * worker_run.c
 *	  One RUN of the inference worker: the rows each member request has in
 *	  it are copied from the request's buffer into the arena, the executor
 *	  runs them, and their outputs are copied back; a request whose last
 *	  rows ran is DONE.
 *
 * The arena holds one RUN: input after input, then output after output,
 * each tensor 64-byte aligned, the members' rows in plan order.  A
 * request's buffer holds all its rows: input after input, then output
 * after output.  Only the worker touches the buffer of a claimed request.
 */
#include "worker_internal.h"

/* Byte offset of input i's rows in a request's buffer. */
static int64
input_start(const WorkerSlot *r, int i)
{
	int64		offset = 0;

	for (int j = 0; j < i; j++)
		offset += r->rows * r->input_elems[j] * sizeof(float);
	return offset;
}

/* Byte offset of output o's rows in a request's buffer: after every input. */
static int64
output_start(const WorkerSlot *r, int o)
{
	int64		offset = input_start(r, r->ninputs);

	for (int p = 0; p < o; p++)
		offset += r->rows * r->output_elems[p] * sizeof(float);
	return offset;
}

/* Lays out the RUN in the arena, copies the members' rows of each input there and sets req's offsets. */
static void
stage_inputs(const RunPlan *plan, PiExecRequest *req)
{
	const WorkerSlot *lead = &plan->lead;
	int64		offset = 0;

	req->noutputs = plan->noutputs;
	for (int i = 0; i < lead->ninputs; i++)
	{
		int64		row_bytes = lead->input_elems[i] * sizeof(float);

		req->input_offset[i] = offset;
		for (int m = 0; m < plan->nmembers; m++)
		{
			const ClaimedRequest *c = &claimed[plan->members[m]];
			const char *src = requests_buffer(&c->request) + input_start(&c->request, i) + c->done * row_bytes;

			memcpy(worker_arena + offset + c->run_row * row_bytes, src, c->take * row_bytes);
		}
		offset += TYPEALIGN(64, plan->rows * row_bytes);
	}
	for (int o = 0; o < plan->noutputs; o++)
	{
		req->output_offset[o] = offset;
		offset += TYPEALIGN(64, plan->rows * lead->output_elems[o] * sizeof(float));
	}
}

/*
 * Copies each member's rows of the outputs it wants from the arena into
 * its buffer; a member whose last rows these were is DONE.  Members handed
 * back to their backends during the RUN are skipped.
 */
static void
deliver_outputs(const RunPlan *plan, const PiExecRequest *req)
{
	for (int m = 0; m < plan->nmembers; m++)
	{
		int			slot = plan->members[m];
		ClaimedRequest *c = &claimed[slot];
		const WorkerSlot *r = &c->request;
		char	   *buffer;

		if (!c->claimed || c->take == 0)
			continue;
		buffer = requests_buffer(r);
		for (int o = 0; o < r->noutputs; o++)
		{
			int64		row_bytes = r->output_elems[o] * sizeof(float);

			memcpy(buffer + output_start(r, o) + c->done * row_bytes,
				   worker_arena + req->output_offset[o] + c->run_row * row_bytes, c->take * row_bytes);
		}
		c->done += c->take;
		c->take = 0;
		if (c->done == r->rows)
			requests_finish(slot, true, 0, NULL, false);
	}
}

/*
 * Runs plan in the executor, where model is resident, and delivers the
 * outputs.  When the executor refuses the RUN (reply->status != PI_OK),
 * or does not answer (the wait's result), the caller fails the members.
 */
ExecutorWait
run_plan(const RunPlan *plan, ResidentModel *model, PiExecReply *reply)
{
	PiExecRequest req = {0};
	ExecutorWait w;

	req.magic = PI_EXEC_PROTOCOL_MAGIC;
	req.command = PI_EXEC_RUN;
	req.model_handle = model->handle;
	req.rows = plan->rows;
	req.memory_limit = (int64) pg_infer_worker_work_mem_kb * 1024;
	req.tf32 = pg_infer_tf32 ? 1 : 0;
	stage_inputs(plan, &req);
	w = executor_call(&req, NULL, reply);
	if (w != EXECUTOR_OK || reply->status != PI_OK)
		return w;
	models_record_run(model, plan->rows, reply->run_usec);
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.batches++;
	worker_shared->stats.rows += plan->rows;
	worker_shared->stats.forward_us += reply->run_usec;
	worker_shared->stats.max_batch_rows = Max(worker_shared->stats.max_batch_rows, plan->rows);
	SpinLockRelease(&worker_shared->mutex);
	deliver_outputs(plan, &req);
	return EXECUTOR_OK;
}
