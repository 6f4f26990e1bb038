/*
 * weights.c
 *	  Weights in the database: the blob of a version (safetensors bytes, or
 *	  an ONNX file and its external data), split into chunks of
 *	  pginfer.model_weight_chunk so that no single value comes near the 1 GB
 *	  limit of a bytea.  Called inside catalog_begin()/catalog_end().
 */
#include "pg_infer.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#define CHUNK_BYTES (1024 * 1024)

/*
 * Stores a blob as chunks 0, 1, ... of a version: its parts one after the
 * other, each chunk copied from them as it is written.
 */
void
weights_store(int32 model_id, int32 version, const StoredBlob *blob)
{
	Oid			types[4] = {INT4OID, INT4OID, INT4OID, BYTEAOID};
	SPIPlanPtr	plan = SPI_prepare("INSERT INTO pginfer.model_weight_chunk (model_id, version, chunk_no, data)"
								   " VALUES ($1, $2, $3, $4)", 4, types);
	bytea	   *chunk = palloc(VARHDRSZ + CHUNK_BYTES);
	int64		total = blob->lens[0] + blob->lens[1];
	int			part = 0;
	int64		part_offset = 0;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int64 offset = 0, no = 0; offset < total; no++)
	{
		int64		n = Min(CHUNK_BYTES, total - offset);
		Datum		values[4];

		for (int64 filled = 0; filled < n;)
		{
			int64		take = Min(n - filled, blob->lens[part] - part_offset);

			memcpy(VARDATA(chunk) + filled, blob->parts[part] + part_offset, take);
			filled += take;
			part_offset += take;
			if (part_offset == blob->lens[part])
			{
				part++;
				part_offset = 0;
			}
		}
		SET_VARSIZE(chunk, VARHDRSZ + n);
		values[0] = Int32GetDatum(model_id);
		values[1] = Int32GetDatum(version);
		values[2] = Int32GetDatum((int32) no);
		values[3] = PointerGetDatum(chunk);
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store weight chunk " INT64_FORMAT, no);
		offset += n;
		progress_bytes(offset, total);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(chunk);
	SPI_freeplan(plan);
}

/*
 * Reads a version's blob of len bytes back into memory allocated in cxt
 * (huge allocations allowed: a model may exceed 1 GB): the bytes before
 * split at the start, the rest at *second, aligned to PI_IMAGE_ALIGN (an
 * ONNX file's external data, whose float32 tensors are then used in place).
 * Returns the start.
 */
uint8 *
weights_load(int32 model_id, int32 version, int64 len, int64 split, MemoryContext cxt,
			 uint8 **second)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(model_id), Int32GetDatum(version)};
	int64		gap = TYPEALIGN(PI_IMAGE_ALIGN, split) - split;
	uint8	   *buf = MemoryContextAllocExtended(cxt, Max(len + gap, 1), MCXT_ALLOC_HUGE);
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
			const uint8 *src = (const uint8 *) VARDATA_ANY(chunk);

			if (isnull || filled + n > len)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("weights of version %d of model %d are longer than the recorded " INT64_FORMAT " bytes",
								version, model_id, len)));
			/* a chunk across the split goes in two pieces */
			for (int64 done = 0; done < n;)
			{
				int64		at = filled + done;
				int64		take = at < split ? Min(n - done, split - at) : n - done;

				memcpy(buf + at + (at < split ? 0 : gap), src + done, take);
				done += take;
			}
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
	*second = buf + split + gap;
	return buf;
}
