/*
 * errors.c
 *	  Turns an engine error into an ERROR with the SQLSTATE of its class.
 */
#include "pg_infer.h"

#include "miscadmin.h"
#include "utils/elog.h"

/* SQLSTATE for each engine status. */
int
pg_infer_status_errcode(PiStatus status)
{
	switch (status)
	{
		case PI_ERR_NOMEM:
			return ERRCODE_OUT_OF_MEMORY;
		case PI_ERR_CORRUPT:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case PI_ERR_INVALID:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case PI_ERR_UNSUPPORTED:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case PI_ERR_UNDEFINED:
			return ERRCODE_UNDEFINED_OBJECT;
		case PI_ERR_DUPLICATE:
			return ERRCODE_DUPLICATE_OBJECT;
		case PI_ERR_UNUSED:
		case PI_ERR_CYCLE:
		case PI_ERR_SHAPE:
			return ERRCODE_INVALID_OBJECT_DEFINITION;
		case PI_ERR_DTYPE:
			return ERRCODE_DATATYPE_MISMATCH;
		case PI_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case PI_ERR_DEVICE:
		case PI_ERR_DEVICE_LOST:
			return ERRCODE_SYSTEM_ERROR;
		case PI_ERR_INTERRUPTED:
			return ERRCODE_QUERY_CANCELED;
		case PI_OK:
			break;
	}
	return ERRCODE_INTERNAL_ERROR;
}

/*
 * Whether engine work that stopped with st should run again: after
 * PI_ERR_INTERRUPTED, CHECK_FOR_INTERRUPTS raises the cancel, timeout or
 * terminate that stopped it, and returns only when the interrupt was
 * another, harmless one.  Other statuses: false.
 */
bool
pg_infer_retry_after_interrupt(PiStatus st)
{
	if (st != PI_ERR_INTERRUPTED)
		return false;
	CHECK_FOR_INTERRUPTS();
	return true;
}

/* Raises the engine error err for model. */
void
pg_infer_report(const PiError *err, const char *model)
{
	ereport(ERROR,
			(errcode(pg_infer_status_errcode(err->status)),
			 errmsg("model \"%s\": %s", model, err->message)));
	pg_unreachable();
}
