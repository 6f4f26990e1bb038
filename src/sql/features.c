/*
 * features.c
 *	  Turns SQL values into model input rows: numeric arrays (real, double
 *	  precision, smallint, integer, bigint, numeric, and domains over them)
 *	  and records.  A value too large for float32 is an error, as in
 *	  PostgreSQL's own ::real.  NULL is an error too, except for models
 *	  that define missing values (an Imputer of NaN, trees that route NaN),
 *	  where it is NaN.
 */
#include "pg_infer.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

/* Whether values of this type can be model inputs. */
static bool
type_is_numeric(Oid type)
{
	switch (type)
	{
		case FLOAT4OID:
		case FLOAT8OID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
			return true;
		default:
			return false;
	}
}

/*
 * One double as float; raises 22003 when a finite value overflows float32.
 * The error names the record column, or else the array element position.
 */
static float
double_to_float(double value, const char *model, const char *column, int64 position)
{
	float		f = (float) value;

	if (unlikely(isinf(f)) && !isinf(value))
	{
		if (column)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("model \"%s\" input column \"%s\" is out of range for type real", model, column),
					 errdetail("The value %g is beyond the float32 range of the model's inputs.", value)));
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("model \"%s\" input element " INT64_FORMAT " is out of range for type real", model,
						position),
				 errdetail("The value %g is beyond the float32 range of the model's inputs.", value)));
	}
	return f;
}

/* One numeric datum (of a base type) as float; column or position name it in errors. */
static float
datum_to_float(Datum d, Oid type, const char *model, const char *column, int64 position)
{
	switch (type)
	{
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case FLOAT8OID:
			return double_to_float(DatumGetFloat8(d), model, column, position);
		case INT2OID:
			return (float) DatumGetInt16(d);
		case INT4OID:
			return (float) DatumGetInt32(d);
		case INT8OID:
			return (float) DatumGetInt64(d);
		case NUMERICOID:
			return DatumGetFloat4(DirectFunctionCall1(numeric_float4, d));
	}
	elog(ERROR, "unexpected feature type %u", type);
	return 0.0f;
}

/* Raises unless the array's elements are numeric and, unless nan_for_null, not NULL. */
static void
check_array(ArrayType *array, const char *model, bool nan_for_null)
{
	Oid			type = ARR_ELEMTYPE(array);

	if (!type_is_numeric(getBaseType(type)))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("model \"%s\" takes numeric features, got %s", model,
						format_type_be(get_array_type(type) ? get_array_type(type) : type))));
	if (ARR_HASNULL(array) && !nan_for_null)
	{
		bits8	   *bitmap = ARR_NULLBITMAP(array);
		int			n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));

		for (int i = 0; i < n; i++)
			if (!(bitmap[i / 8] & (1 << (i % 8))))
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("model \"%s\" input element %d is NULL", model, i + 1),
						 errhint("Replace missing values before predicting, for example with array_replace(features, NULL, 0).")));
	}
}

/* Copies n elements of a numeric array into dst as floats, NULL ones as NaN. */
static void
copy_elements(ArrayType *array, const char *model, float *dst, int64 n)
{
	Oid			type = getBaseType(ARR_ELEMTYPE(array));
	const char *p = ARR_DATA_PTR(array);

	switch (ARR_HASNULL(array) ? InvalidOid : type)
	{
		case FLOAT4OID:
			memcpy(dst, p, sizeof(float) * n);
			return;
		case FLOAT8OID:
			{
				bool		overflow = false;

				for (int64 i = 0; i < n; i++)
				{
					dst[i] = (float) ((const float8 *) p)[i];
					overflow |= isinf(dst[i]);
				}
				if (unlikely(overflow))
					for (int64 i = 0; i < n; i++)
						(void) double_to_float(((const float8 *) p)[i], model, NULL, i + 1);
				return;
			}
		case INT2OID:
			for (int64 i = 0; i < n; i++)
				dst[i] = (float) ((const int16 *) p)[i];
			return;
		case INT4OID:
			for (int64 i = 0; i < n; i++)
				dst[i] = (float) ((const int32 *) p)[i];
			return;
		case INT8OID:
			for (int64 i = 0; i < n; i++)
				dst[i] = (float) ((const int64 *) p)[i];
			return;
		default:
			{
				Datum	   *values;
				int			count;
				int16		typlen;
				bool		typbyval;
				char		typalign;

				bool	   *nulls;

				get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
				deconstruct_array(array, ARR_ELEMTYPE(array), typlen, typbyval, typalign, &values, &nulls, &count);
				for (int i = 0; i < count; i++)
					dst[i] = nulls[i] ? NAN : datum_to_float(values[i], type, model, NULL, i + 1);
				pfree(values);
				pfree(nulls);
			}
	}
}

/*
 * One input row from an array of any shape whose element count is the
 * model's input size.
 */
void
features_from_array(ArrayType *array, const char *model, bool nan_for_null, float *dst,
					int64 expected)
{
	int64		n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));

	check_array(array, model, nan_for_null);
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" expects " INT64_FORMAT " input values, got " INT64_FORMAT,
						model, expected, n)));
	copy_elements(array, model, dst, n);
}

/*
 * Rows from a 2-D (or higher) array [rows][...]: each row's element count
 * must be the model's input size.  *dst is palloc'd; returns the row count.
 */
int64
features_rows_from_array(ArrayType *array, const char *model, bool nan_for_null, float **dst,
						 int64 row_elems)
{
	int			ndim = ARR_NDIM(array);
	int64		n = ArrayGetNItems(ndim, ARR_DIMS(array));
	int64		rows;

	check_array(array, model, nan_for_null);
	if (ndim < 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" batch input must be a 2-D array [rows][" INT64_FORMAT "], got %d dimension%s",
						model, row_elems, ndim, ndim == 1 ? "" : "s")));
	rows = ARR_DIMS(array)[0];
	if (n != rows * row_elems)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" expects " INT64_FORMAT " input values per row, got " INT64_FORMAT,
						model, row_elems, n / rows)));
	*dst = palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE);
	copy_elements(array, model, *dst, n);
	return rows;
}

/*
 * One input row from a record: its numeric columns in order (other columns
 * are skipped); a NULL column is NaN with nan_for_null, else an error that
 * names it.
 */
void
features_from_record(HeapTupleHeader rec, const char *model, bool nan_for_null, float *dst,
					 int64 expected)
{
	Oid			type = HeapTupleHeaderGetTypeId(rec);
	int32		typmod = HeapTupleHeaderGetTypMod(rec);
	TupleDesc	desc = lookup_rowtype_tupdesc(type, typmod);
	HeapTupleData tuple;
	int64		n = 0;

	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			base = getBaseType(att->atttypid);
		bool		isnull;
		Datum		d;

		if (att->attisdropped || !type_is_numeric(base))
			continue;
		d = heap_getattr(&tuple, i + 1, desc, &isnull);
		if (isnull && !nan_for_null)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model \"%s\" input column \"%s\" is NULL", model, NameStr(att->attname))));
		if (n < expected)
			dst[n] = isnull ? NAN : datum_to_float(d, base, model, NameStr(att->attname), i + 1);
		n++;
	}
	ReleaseTupleDesc(desc);
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" expects " INT64_FORMAT " input values, got " INT64_FORMAT " numeric columns",
						model, expected, n)));
}

/*
 * The value of a one-value input from a number (a record's column of that
 * input's name); input names it in errors.
 */
void
features_from_scalar(Datum value, Oid base_type, const char *model, const char *input,
					 float *dst, int64 expected)
{
	if (!type_is_numeric(base_type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("model \"%s\" input column \"%s\" is of type %s, expected a number or a numeric array",
						model, input, format_type_be(base_type))));
	if (expected != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("model \"%s\" input \"%s\" expects " INT64_FORMAT " values, got one number",
						model, input, expected)));
	*dst = datum_to_float(value, base_type, model, input, 1);
}
