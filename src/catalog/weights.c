/*
 * weights.c
 *	  Weights in the database: the safetensors bytes of a version, split into
 *	  chunks of pginfer.model_weight_chunk so that no single value comes near
 *	  the 1 GB limit of a bytea.  Called inside catalog_begin()/catalog_end().
 */
#include "pg_infer.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#define CHUNK_BYTES (1024 * 1024)

/* Stores len bytes as chunks 0, 1, ... of a version. */
void
weights_store(int32 model_id, int32 version, const uint8 *bytes, int64 len)
{
	Oid			types[4] = {INT4OID, INT4OID, INT4OID, BYTEAOID};
	SPIPlanPtr	plan = SPI_prepare("INSERT INTO pginfer.model_weight_chunk (model_id, version, chunk_no, data)"
								   " VALUES ($1, $2, $3, $4)", 4, types);
	bytea	   *chunk = palloc(VARHDRSZ + CHUNK_BYTES);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int64 offset = 0, no = 0; offset < len; offset += CHUNK_BYTES, no++)
	{
		int64		n = Min(CHUNK_BYTES, len - offset);
		Datum		values[4];

		SET_VARSIZE(chunk, VARHDRSZ + n);
		memcpy(VARDATA(chunk), bytes + offset, n);
		values[0] = Int32GetDatum(model_id);
		values[1] = Int32GetDatum(version);
		values[2] = Int32GetDatum((int32) no);
		values[3] = PointerGetDatum(chunk);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store weight chunk " INT64_FORMAT, no);
		progress_bytes(offset + n, len);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(chunk);
	SPI_freeplan(plan);
}

/*
 * Reads a version's weights back into one buffer allocated in cxt
 * (huge allocations allowed: a model may exceed 1 GB).
 */
uint8 *
weights_load(int32 model_id, int32 version, int64 len, MemoryContext cxt)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(model_id), Int32GetDatum(version)};
	uint8	   *buf = MemoryContextAllocExtended(cxt, Max(len, 1), MCXT_ALLOC_HUGE);
	int64		filled = 0;
	Portal		portal;

	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT data FROM pginfer.model_weight_chunk"
									   " WHERE model_id = $1 AND version = $2 ORDER BY chunk_no",
									   2, types, values, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 16);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			bytea	   *chunk = DatumGetByteaPP(d);
			int64		n = VARSIZE_ANY_EXHDR(chunk);

			if (isnull || filled + n > len)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("weights of version %d of model %d are longer than the recorded " INT64_FORMAT " bytes",
								version, model_id, len)));
			memcpy(buf + filled, VARDATA_ANY(chunk), n);
			filled += n;
			if ((Pointer) chunk != DatumGetPointer(d))
				pfree(chunk);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	if (filled != len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("weights of version %d of model %d have " INT64_FORMAT " bytes, expected " INT64_FORMAT,
						version, model_id, filled, len),
				 errhint("A logical replication subscription whose initial copy of pginfer.model_weight_chunk "
						 "has not finished shows this; wait until pg_subscription_rel says its tables are ready.")));
	return buf;
}
