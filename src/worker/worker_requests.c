/*
 * worker_requests.c
 *	  The requests in the slots as the inference worker handles them:
 *	  claimed (PENDING -> RUNNING), run over one or more RUNs, and finished:
 *	  DONE, or FAILED with an error and, where the failure and the requester
 *	  allow it, a fallback to the requester's backend; the buffers of
 *	  requests their requesters abandoned are freed.
 *
 * The worker keeps its own record of each claimed request (claimed[], by
 * slot).  A slot's fields are read and changed under its spinlock; DSA
 * memory is never freed under it (DSA takes locks).  A pending request is
 * claimed before it is failed, so that one taken back and replaced
 * meanwhile is never failed in its successor's place.
 */
#include "worker_internal.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

ClaimedRequest *claimed = NULL;

static dsa_area *request_area = NULL;

/* Attaches the area of request buffers (creating it on the first start) and makes the table. */
void
requests_init(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (worker_shared->area_handle == DSM_HANDLE_INVALID)
	{
		request_area = dsa_create(LWLockNewTrancheId());
		dsa_pin(request_area);
		dsa_pin_mapping(request_area);
		SpinLockAcquire(&worker_shared->mutex);
		worker_shared->area_handle = dsa_get_handle(request_area);
		SpinLockRelease(&worker_shared->mutex);
	}
	else
	{
		request_area = dsa_attach(worker_shared->area_handle);
		dsa_pin_mapping(request_area);
	}
	claimed = palloc0(sizeof(ClaimedRequest) * worker_shared->nslots);
	MemoryContextSwitchTo(old);
}

/* A request's buffer: its inputs, then its outputs. */
char *
requests_buffer(const WorkerSlot *request)
{
	return (char *) dsa_get_address(request_area, request->buffer);
}

/* Whether two requests are for the same model version with the same shapes. */
bool
requests_same_model(const WorkerSlot *a, const WorkerSlot *b)
{
	return memcmp(&a->key, &b->key, sizeof(SharedCacheKey)) == 0 &&
		a->ninputs == b->ninputs &&
		memcmp(a->input_elems, b->input_elems, sizeof(a->input_elems)) == 0 &&
		memcmp(a->output_elems, b->output_elems, sizeof(a->output_elems)) == 0;
}

/*
 * Copies slot's fields into *seen; false unless the worker has claimed its
 * request or it is pending (the request the worker may take).
 */
bool
requests_peek(int slot, WorkerSlot *seen)
{
	WorkerSlot *s = &worker_shared->slots[slot];

	if (claimed[slot].claimed)
	{
		*seen = claimed[slot].request;
		return true;
	}
	SpinLockAcquire(&s->mutex);
	*seen = *s;
	SpinLockRelease(&s->mutex);
	return seen->state == SLOT_PENDING;
}

/*
 * Claims the pending request seen in slot (PENDING -> RUNNING) unless its
 * requester took it back meanwhile, and counts it.
 */
bool
requests_claim(int slot, const WorkerSlot *seen)
{
	WorkerSlot *s = &worker_shared->slots[slot];
	ClaimedRequest *c = &claimed[slot];
	bool		ok;
	TimestampTz now;

	SpinLockAcquire(&s->mutex);
	ok = (s->state == SLOT_PENDING && s->request_id == seen->request_id);
	if (ok)
		s->state = SLOT_RUNNING;
	SpinLockRelease(&s->mutex);
	if (!ok)
		return false;
	c->claimed = true;
	c->request = *seen;
	c->done = 0;
	c->take = 0;
	c->run_row = 0;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->stats.requests++;
	worker_shared->stats.queue_delay_us += Max(0, now - seen->submitted);
	SpinLockRelease(&worker_shared->mutex);
	return true;
}

/*
 * Sets a locked slot's final state.  An abandoned slot becomes FREE and its
 * buffer is handed back in *to_free (freed by the caller, not under the
 * spinlock).  Returns the latch to set once the spinlock is released.
 */
static Latch *
finish_locked(WorkerSlot *s, bool ok, int code, const char *message, bool fall_back,
			  dsa_pointer *to_free)
{
	*to_free = InvalidDsaPointer;
	if (s->state != SLOT_PENDING && s->state != SLOT_RUNNING && s->state != SLOT_ABANDONED)
		return NULL;			/* taken back, or finished already */
	if (s->state == SLOT_ABANDONED)
	{
		/* nobody waits for the result: the buffer goes back to the area */
		*to_free = s->buffer;
		s->buffer = InvalidDsaPointer;
		s->buffer_bytes = 0;
		s->state = SLOT_FREE;
		return NULL;
	}
	s->state = ok ? SLOT_DONE : SLOT_FAILED;
	s->error_code = code;
	s->fall_back = !ok && fall_back && s->may_fall_back;
	if (!ok)
		strlcpy(s->error_message, message, sizeof(s->error_message));
	return s->latch;
}

/* Finishes the request in a slot that waits for the worker, if it still does, and wakes its process. */
static void
finish_slot(int slot, bool ok, int code, const char *message, bool fall_back)
{
	WorkerSlot *s = &worker_shared->slots[slot];
	Latch	   *latch;
	dsa_pointer to_free;

	SpinLockAcquire(&s->mutex);
	latch = finish_locked(s, ok, code, message, fall_back, &to_free);
	SpinLockRelease(&s->mutex);
	if (DsaPointerIsValid(to_free))
		dsa_free(request_area, to_free);
	if (latch)
		SetLatch(latch);
}

/*
 * Finishes the claimed request of slot: DONE, or FAILED with code and
 * message (run in the backend instead when fall_back and its requester
 * may); frees it if it was abandoned.  The worker forgets it.
 */
void
requests_finish(int slot, bool ok, int code, const char *message, bool fall_back)
{
	finish_slot(slot, ok, code, message, fall_back);
	claimed[slot].claimed = false;
	claimed[slot].take = 0;
}

/* Frees the claimed requests their requesters abandoned (cancel, timeout, exit). */
void
requests_sweep(void)
{
	for (int i = 0; i < worker_shared->nslots; i++)
	{
		WorkerSlot *s = &worker_shared->slots[i];
		WorkerSlotState state;

		if (!claimed[i].claimed)
			continue;
		SpinLockAcquire(&s->mutex);
		state = s->state;
		SpinLockRelease(&s->mutex);
		if (state == SLOT_ABANDONED)
			requests_finish(i, false, 0, NULL, false);
	}
}

/*
 * Fails the claimed and pending requests for lead's model (NULL: all),
 * only those that may fall back to their backend when only_fallible.
 */
static void
fail_matching(const WorkerSlot *lead, bool only_fallible, int code, const char *message, bool fall_back)
{
	for (int i = 0; i < worker_shared->nslots; i++)
	{
		WorkerSlot	seen;

		if (!requests_peek(i, &seen) ||
			(lead != NULL && !requests_same_model(&seen, lead)) ||
			(only_fallible && !seen.may_fall_back))
			continue;
		if (claimed[i].claimed || requests_claim(i, &seen))
			requests_finish(i, false, code, message, fall_back);
	}
}

/* Fails every claimed and pending request for lead's model. */
void
requests_fail_model(const WorkerSlot *lead, int code, const char *message, bool fall_back)
{
	fail_matching(lead, false, code, message, fall_back);
}

/* Fails every claimed and pending request. */
void
requests_fail_all(int code, const char *message, bool fall_back)
{
	fail_matching(NULL, false, code, message, fall_back);
}

/*
 * Hands every claimed and pending request whose requester can run it back
 * to that backend (the executor does not answer: why).  The others wait.
 */
void
requests_release_to_backends(const char *why)
{
	fail_matching(NULL, true, ERRCODE_SYSTEM_ERROR, why, true);
}

/* Fails every request of every slot: the worker stops. */
void
requests_fail_on_exit(void)
{
	for (int i = 0; i < worker_shared->nslots; i++)
		finish_slot(i, false, ERRCODE_ADMIN_SHUTDOWN,
					"the inference worker stopped before this request finished", false);
}
