/*
 * lookup.c
 *	  The catalog reads that every statement using a model makes: a model by
 *	  name, a version by number.  Direct index scans under the statement's
 *	  snapshot, without SPI, so that the first call in a new connection
 *	  plans nothing and the answer is the one the statement's snapshot sees.
 *
 * The index names are those the extension script creates; pg_dump restores
 * the tables through the script, so they do not change.
 */
#include "pg_infer.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* Columns of pginfer.model and pginfer.model_version (the install script's order). */
#define MODEL_COL_ID 1
#define MODEL_COL_ACTIVE 3
#define VERSION_COL_GRAPH 3
#define VERSION_COL_OPTIONS 4
#define VERSION_COL_WEIGHT_BYTES 9
#define VERSION_COL_UID 12
#define VERSION_COL_TOKENIZER 13

/* The index of a catalog table, by name. */
static Oid
catalog_index(const char *index)
{
	Oid			relid = get_relname_relid(index, get_rel_namespace(catalog_relid("model")));

	if (!OidIsValid(relid))
		elog(ERROR, "index pginfer.%s does not exist", index);
	return relid;
}

/*
 * Opens a catalog table with AccessShareLock.  A DROP EXTENSION between the
 * name lookup and the lock leaves the OID stale: look the name up again
 * (CREATE EXTENSION may have made a new one), else say what happened.
 */
static Relation
catalog_open(const char *table)
{
	for (int attempt = 0; attempt < 3; attempt++)
	{
		Relation	rel = try_table_open(catalog_relid(table), AccessShareLock);

		if (rel != NULL)
			return rel;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("catalog table pginfer.%s was dropped while in use", table),
			 errdetail("DROP EXTENSION pg_infer ran concurrently.")));
	return NULL;				/* not reached */
}

/* The snapshot the current statement reads with. */
static Snapshot
statement_snapshot(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
}

/* Text of a jsonb column, in the current memory context. */
static char *
jsonb_column_text(HeapTuple tuple, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, col, desc, &isnull);
	Jsonb	   *jb;

	if (isnull)
		elog(ERROR, "pginfer.model_version has a NULL jsonb column %d", col);
	jb = DatumGetJsonbP(d);
	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* Model id and active version by name; false if no such model. */
bool
catalog_lookup_model(const char *name, int32 *model_id, int32 *active_version)
{
	Relation	rel = catalog_open("model");
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found;

	ScanKeyInit(&key, 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(name));
	scan = systable_beginscan(rel, catalog_index("model_name_key"), true,
							  statement_snapshot(), 1, &key);
	tuple = systable_getnext(scan);
	found = HeapTupleIsValid(tuple);
	if (found)
	{
		bool		isnull;

		*model_id = DatumGetInt32(heap_getattr(tuple, MODEL_COL_ID, RelationGetDescr(rel), &isnull));
		*active_version = DatumGetInt32(heap_getattr(tuple, MODEL_COL_ACTIVE, RelationGetDescr(rel), &isnull));
		if (isnull)
			*active_version = 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Begins a scan of model_version for one version, by its primary key, as snapshot sees it. */
static SysScanDesc
begin_version_scan(Relation rel, int32 model_id, int32 version, Snapshot snapshot, ScanKeyData keys[2])
{
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(model_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(version));
	return systable_beginscan(rel, catalog_index("model_version_pkey"), true, snapshot, 2, keys);
}

/*
 * One version's row as snapshot sees it: its stored definition copied into
 * the caller's memory context when definition is set, else only its numbers
 * and uid.  False if the version does not exist.  out may be NULL to test
 * existence.
 */
static bool
lookup_version(int32 model_id, int32 version, CatalogVersion *out, bool definition,
			   Snapshot snapshot)
{
	Relation	rel = catalog_open("model_version");
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found;

	scan = begin_version_scan(rel, model_id, version, snapshot, keys);
	tuple = systable_getnext(scan);
	found = HeapTupleIsValid(tuple);
	if (found && out)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;

		memset(out, 0, sizeof(*out));
		out->model_id = model_id;
		out->version = version;
		out->weight_bytes = DatumGetInt64(heap_getattr(tuple, VERSION_COL_WEIGHT_BYTES, desc, &isnull));
		out->uid = (uint64) DatumGetInt64(heap_getattr(tuple, VERSION_COL_UID, desc, &isnull));
		out->created_in_this_transaction =
			TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(tuple->t_data));
		if (definition)
		{
			out->graph_json = jsonb_column_text(tuple, desc, VERSION_COL_GRAPH);
			out->options_json = jsonb_column_text(tuple, desc, VERSION_COL_OPTIONS);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * One version's stored definition, copied into the caller's memory context;
 * false if the version does not exist.  out may be NULL to test existence.
 */
bool
catalog_lookup_version(int32 model_id, int32 version, CatalogVersion *out)
{
	return lookup_version(model_id, version, out, true, statement_snapshot());
}

/* A version's uid; false if the version does not exist. */
bool
catalog_version_uid(int32 model_id, int32 version, uint64 *uid)
{
	CatalogVersion cv;

	if (!lookup_version(model_id, version, &cv, false, statement_snapshot()))
		return false;
	*uid = cv.uid;
	return true;
}

/*
 * Whether the version row with this uid exists as of now, whatever the
 * statement's snapshot saw (a drop may have committed since).
 */
bool
catalog_version_exists_now(int32 model_id, int32 version, uint64 uid)
{
	CatalogVersion cv;

	return lookup_version(model_id, version, &cv, false, GetLatestSnapshot()) && cv.uid == uid;
}

/*
 * A version's tokenizer (NULL when it has none) and options, copied into the
 * caller's memory context; false if the version does not exist.
 */
bool
catalog_lookup_tokenizer(int32 model_id, int32 version, char **tokenizer_json,
						 char **options_json)
{
	Relation	rel = catalog_open("model_version");
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found;

	scan = begin_version_scan(rel, model_id, version, statement_snapshot(), keys);
	tuple = systable_getnext(scan);
	found = HeapTupleIsValid(tuple);
	if (found)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;

		heap_getattr(tuple, VERSION_COL_TOKENIZER, desc, &isnull);
		*tokenizer_json = isnull ? NULL : jsonb_column_text(tuple, desc, VERSION_COL_TOKENIZER);
		*options_json = jsonb_column_text(tuple, desc, VERSION_COL_OPTIONS);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}
