/*
 * large_object.c
 *	  A large object read into memory for create_model: clients write models
 *	  of any size in pieces (lo_put, psql's \lo_import, every driver's large
 *	  object API), and create_model reads each one once, straight into the
 *	  buffer that the importer then uses in place.
 */
#include "pg_infer.h"

#include "libpq/be-fsstubs.h"
#include "libpq/libpq-fs.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#define READ_BYTES (1024 * 1024)

/*
 * Reads large object loid whole into palloc'd memory (huge allocations
 * allowed) with the caller's privileges, through the server's own large
 * object descriptors (closed at transaction end, also on error): an error
 * 42704 when it does not exist, 42501 without SELECT on it.  Sets *len; the
 * buffer has one more byte, a NUL.
 */
uint8 *
large_object_read(Oid loid, int64 *len)
{
	int32		fd = DatumGetInt32(DirectFunctionCall2(be_lo_open, ObjectIdGetDatum(loid),
													   Int32GetDatum(INV_READ)));
	int64		size = DatumGetInt64(DirectFunctionCall3(be_lo_lseek64, Int32GetDatum(fd),
														 Int64GetDatum(0), Int32GetDatum(SEEK_END)));
	uint8	   *buf = palloc_extended(size + 1, MCXT_ALLOC_HUGE);
	int64		done = 0;

	DirectFunctionCall3(be_lo_lseek64, Int32GetDatum(fd), Int64GetDatum(0), Int32GetDatum(SEEK_SET));
	while (done < size)
	{
		int			n = lo_read(fd, (char *) buf + done, (int) Min(size - done, READ_BYTES));

		if (n <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("large object %u ended after " INT64_FORMAT " of its " INT64_FORMAT " bytes",
							loid, done, size)));
		done += n;
		CHECK_FOR_INTERRUPTS();
	}
	DirectFunctionCall1(be_lo_close, Int32GetDatum(fd));
	buf[size] = '\0';
	*len = size;
	return buf;
}
