/*
 * worker_schedule.c
 *	  What the inference worker runs next.  Claimed and pending requests are
 *	  grouped by model version (and shapes); each turn runs one RUN of one
 *	  group:
 *
 *	- Across models, round robin: the group whose model was used least
 *	  recently goes first (one not resident counts as never used), the
 *	  oldest request breaking ties.  A light model's requests wait for at
 *	  most one RUN of each other model that has work.
 *	- The size of a RUN: at most pg_infer.worker_max_batch rows, the rows
 *	  whose inputs and outputs fit the arena, the model's max_rows, the rows
 *	  whose activations fit pg_infer.worker_work_mem, and the rows that the
 *	  model's measured time per row fits in pg_infer.worker_time_slice (one
 *	  row for a model not run yet).  A request may take several RUNs.
 *	- Across the requests of a group (sessions), max-min fairness: the rows
 *	  of a RUN go to the smallest requests first, each getting at most an
 *	  equal share of what is left, so that a one-row request is not kept
 *	  behind another session's thousands of rows.
 *	- pg_infer.worker_max_delay: a group with nothing claimed yet and fewer
 *	  pending rows than worker_max_batch waits until its oldest request is
 *	  that old.
 *
 * Everything here is the worker's own; slots are read through
 * requests_peek (under their spinlocks).
 */
#include "worker_internal.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

/* The requests for one model version. */
typedef struct Group
{
	WorkerSlot	lead;			/* one request's fields: model and shapes */
	TimestampTz oldest;			/* earliest submission */
	int64		pending_rows;
	bool		running;		/* some request is claimed */
	int			noutputs;		/* the most outputs a request wants */
	uint64		last_use;		/* models_last_use */
} Group;

/* A request that may get rows in the RUN being filled. */
typedef struct Candidate
{
	int			slot;
	WorkerSlot	seen;
	int64		remaining;		/* rows not done yet */
} Candidate;

static Group *groups = NULL;
static int	ngroups = 0;
static Candidate *candidates = NULL;
static int *members = NULL;

/* Allocates the scheduler's arrays, one entry per slot. */
void
schedule_init(void)
{
	int			n = worker_shared->nslots;

	groups = MemoryContextAlloc(TopMemoryContext, sizeof(Group) * n);
	candidates = MemoryContextAlloc(TopMemoryContext, sizeof(Candidate) * n);
	members = MemoryContextAlloc(TopMemoryContext, sizeof(int) * n);
}

/* The group of request r, added when it is the first of its model. */
static Group *
group_of(const WorkerSlot *r)
{
	Group	   *g;

	for (int i = 0; i < ngroups; i++)
		if (requests_same_model(&groups[i].lead, r))
			return &groups[i];
	g = &groups[ngroups++];
	memset(g, 0, sizeof(*g));
	g->lead = *r;
	g->oldest = r->submitted;
	g->last_use = models_last_use(&r->key);
	return g;
}

/* Groups the claimed and pending requests by model. */
static void
collect_groups(void)
{
	ngroups = 0;
	for (int i = 0; i < worker_shared->nslots; i++)
	{
		WorkerSlot	seen;
		Group	   *g;

		if (!requests_peek(i, &seen))
			continue;
		g = group_of(&seen);
		g->oldest = Min(g->oldest, seen.submitted);
		g->noutputs = Max(g->noutputs, seen.noutputs);
		if (claimed[i].claimed)
			g->running = true;
		else
			g->pending_rows += seen.rows;
	}
}

/* Microseconds until group g may run under pg_infer.worker_max_delay (0: now). */
static int64
group_delay(const Group *g, TimestampTz now)
{
	if (g->running || pg_infer_worker_max_delay_us <= 0 || g->pending_rows >= worker_shared->max_batch)
		return 0;
	return Max(0, pg_infer_worker_max_delay_us - (now - g->oldest));
}

/*
 * Chooses the group that runs next and starts plan for it.  False when no
 * group may run now; *wait_us is then how long until one may (-1: nothing
 * is pending).
 */
bool
schedule_next(RunPlan *plan, int64 *wait_us)
{
	TimestampTz now = GetCurrentTimestamp();
	Group	   *best = NULL;

	*wait_us = -1;
	collect_groups();
	for (int i = 0; i < ngroups; i++)
	{
		Group	   *g = &groups[i];
		int64		delay = group_delay(g, now);

		if (delay > 0)
		{
			*wait_us = (*wait_us < 0) ? delay : Min(*wait_us, delay);
			continue;
		}
		if (best == NULL || g->last_use < best->last_use ||
			(g->last_use == best->last_use && g->oldest < best->oldest))
			best = g;
	}
	if (best == NULL)
		return false;
	plan->lead = best->lead;
	plan->noutputs = best->noutputs;
	plan->members = members;
	plan->nmembers = 0;
	plan->rows = 0;
	return true;
}

/*
 * Most rows of the RUN for plan's model (resident as model); 0 when not
 * even one row fits the worker's limits, with the reason in why.
 */
int64
schedule_budget(const RunPlan *plan, const ResidentModel *model, char *why, size_t len)
{
	const WorkerSlot *r = &plan->lead;
	int64		io_bytes = 0;
	int64		work_mem = (int64) pg_infer_worker_work_mem_kb * 1024;
	int64		arena_rows;
	int64		rows;

	for (int i = 0; i < r->ninputs; i++)
		io_bytes += r->input_elems[i] * sizeof(float);
	for (int o = 0; o < plan->noutputs; o++)
		io_bytes += r->output_elems[o] * sizeof(float);
	/* each tensor 64-byte aligned in the arena */
	arena_rows = (worker_shared->arena_bytes - 64 * (r->ninputs + plan->noutputs)) / Max(io_bytes, 1);
	rows = Min(worker_shared->max_batch, Min(arena_rows, model->max_rows));
	if (model->fixed_bytes + model->row_bytes > work_mem)
		rows = 0;
	else if (model->row_bytes > 0)
		rows = Min(rows, (work_mem - model->fixed_bytes) / model->row_bytes);
	if (model->max_rows < 1)
		snprintf(why, len, "one row needs a buffer of more than %d values in the inference worker, more than can be addressed",
				 INT32_MAX);
	else if (arena_rows < 1)
		snprintf(why, len, "one row's inputs and outputs take " INT64_FORMAT " bytes, more than the inference worker's buffer (pg_infer.worker_buffer_size)",
				 io_bytes);
	else if (rows < 1)
		snprintf(why, len, "one row needs " INT64_FORMAT " kB of activation buffers in the inference worker, more than pg_infer.worker_work_mem (%d kB)",
				 (model->fixed_bytes + model->row_bytes) / 1024 + 1, pg_infer_worker_work_mem_kb);
	if (rows < 1)
		return 0;
	if (pg_infer_worker_time_slice_ms > 0)
		rows = Min(rows, model->usec_per_row > 0
				   ? Max(1, (int64) (pg_infer_worker_time_slice_ms * 1000.0 / model->usec_per_row))
				   : 1);
	return rows;
}

/* qsort order of candidates: fewest remaining rows first, then the oldest. */
static int
candidate_cmp(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (x->remaining != y->remaining)
		return x->remaining < y->remaining ? -1 : 1;
	if (x->seen.submitted != y->seen.submitted)
		return x->seen.submitted < y->seen.submitted ? -1 : 1;
	return x->slot - y->slot;
}

/*
 * Shares out up to budget rows of the RUN among the requests for plan's
 * model, smallest first, each at most an equal share of the rows left;
 * claims the pending ones that get rows.  Sets their take and run_row and
 * returns the RUN's rows (0: every request was taken back meanwhile).
 */
int64
schedule_fill(RunPlan *plan, int64 budget)
{
	int			n = 0;
	int64		left = budget;

	for (int i = 0; i < worker_shared->nslots; i++)
	{
		Candidate  *c = &candidates[n];

		if (!requests_peek(i, &c->seen) || !requests_same_model(&c->seen, &plan->lead))
			continue;
		c->slot = i;
		c->remaining = c->seen.rows - (claimed[i].claimed ? claimed[i].done : 0);
		n++;
	}
	qsort(candidates, n, sizeof(Candidate), candidate_cmp);
	for (int k = 0; k < n && left > 0; k++)
	{
		Candidate  *c = &candidates[k];
		ClaimedRequest *r = &claimed[c->slot];
		int64		take = Min(c->remaining, Max(1, left / (n - k)));

		if (!r->claimed && !requests_claim(c->slot, &c->seen))
			continue;
		r->take = take;
		r->run_row = plan->rows;
		plan->members[plan->nmembers++] = c->slot;
		plan->rows += take;
		left -= take;
	}
	return plan->rows;
}
