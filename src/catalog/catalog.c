/*
 * catalog.c
 *	  The model registry: tables pginfer.model (one row per model, with its
 *	  active version), pginfer.model_version (graph, options, description)
 *	  and pginfer.model_weight_chunk (weights, see weights.c).
 *
 * Every access runs through catalog_begin()/catalog_end(): SPI, as the
 * extension's owner (the tables are not granted to anyone; EXECUTE on the
 * SQL functions is the gate), with search_path set to pg_catalog so that
 * nothing a user defines can capture an operator.  Changes to one model are
 * serialized by a row lock on its pginfer.model row (SELECT ... FOR UPDATE).
 * Every change of pginfer.model or pginfer.model_version, by these
 * functions or by anyone else (a logical replication apply worker), fires
 * the catalog's triggers (triggers.c), which call catalog_changed(): a
 * relcache invalidation of pginfer.model at commit, so that each backend's
 * model cache drops what it knew when it next reads invalidation messages.
 * This backend's own cache hears of changes and drops at once, through the
 * observer it registers (catalog_set_observer).  Who may change a model,
 * and the audit trail of changes, are in ownership.c.
 */
#include "pg_infer.h"

#include "catalog_internal.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"

static const CatalogObserver *observer = NULL;

/* Registers the one observer of catalog changes (the model cache, at load). */
void
catalog_set_observer(const CatalogObserver *o)
{
	observer = o;
}

/* The relation of a catalog table in schema pginfer, or InvalidOid if there is none. */
Oid
catalog_relid_if_exists(const char *table)
{
	Oid			nsp = get_namespace_oid("pginfer", true);

	return OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;
}

/* The relation of a catalog table in schema pginfer. */
Oid
catalog_relid(const char *table)
{
	Oid			relid = catalog_relid_if_exists(table);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("catalog table pginfer.%s does not exist", table),
				 errhint("Run CREATE EXTENSION pg_infer in this database.")));
	return relid;
}

/* Owner of the catalog tables: the role that created the extension. */
Oid
catalog_owner_role(void)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(catalog_relid("model")));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("catalog table pginfer.model was dropped while in use"),
				 errdetail("DROP EXTENSION pg_infer ran concurrently.")));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* Opens SPI as the extension owner with search_path = pg_catalog. */
void
catalog_begin(CatalogSession *session)
{
	Oid			owner = catalog_owner_role();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (observer)
		observer->entering();
	GetUserIdAndSecContext(&session->save_userid, &session->save_sec_context);
	SetUserIdAndSecContext(owner, session->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	session->guc_nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Undoes catalog_begin (an ERROR in between is undone by transaction abort). */
void
catalog_end(CatalogSession *session)
{
	AtEOXact_GUC(true, session->guc_nest_level);
	SetUserIdAndSecContext(session->save_userid, session->save_sec_context);
	if (observer)
		observer->leaving();
	SPI_finish();
}

/* Runs a query with parameters; raises on failure, returns SPI's code. */
int
catalog_query(const char *sql, int nargs, Oid *types, Datum *values, bool read_only)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, read_only, 0);

	if (rc < 0)
		elog(ERROR, "catalog query failed (%s): %s", SPI_result_code_string(rc), sql);
	return rc;
}

/* Integer column of the first result row; *isnull set when NULL. */
int64
catalog_result_int(int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);

	if (*isnull)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case INT8OID:
			return DatumGetInt64(d);
		default:
			return DatumGetInt32(d);
	}
}

/*
 * JSON list of a model's inputs or outputs with their shapes, for the view;
 * dtypes (or NULL: all float32) are the data types their source declares.
 * With sequence_length, dimension 1 of the first `sequence` of them is a
 * symbolic sequence dimension of at most that length, shown as
 * "sequence<=N".
 */
static char *
describe_values(const PiModel *model, const int *indexes, int count, const char *const *dtypes,
				int64 sequence_length, int sequence)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < count; i++)
	{
		const PiValue *v = &model->values[indexes[i]];

		appendStringInfo(&buf, "%s{\"name\": ", i ? ", " : "");
		escape_json(&buf, v->name);
		appendStringInfoString(&buf, ", \"dtype\": ");
		escape_json(&buf, dtypes && dtypes[i] ? dtypes[i] : "float32");
		appendStringInfoString(&buf, ", \"shape\": [");
		for (int d = 0; d < v->rank; d++)
		{
			if (d == 1 && sequence_length > 0 && i < sequence)
				appendStringInfo(&buf, ", \"sequence<=%lld\"", (long long) v->dims[d]);
			else
				appendStringInfo(&buf, "%s%lld", d ? ", " : "", (long long) v->dims[d]);
		}
		appendStringInfoString(&buf, "]}");
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * What the catalog shows of a validated model: its inputs (with the data
 * types their source declares, or NULL: float32) and outputs, and its
 * parameter count.  A text model with a symbolic sequence dimension
 * (sequence_length, its longest; else 0) shows it in its inputs and its
 * token vectors (output 0) as "sequence<=N".
 */
void
catalog_describe_model(const PiModel *model, const char *const *input_dtypes,
					   int64 sequence_length, ModelDescription *out)
{
	out->inputs = describe_values(model, model->inputs, model->ninputs, input_dtypes,
								  sequence_length, model->ninputs);
	out->outputs = describe_values(model, model->outputs, model->noutputs, NULL,
								   sequence_length, 1);
	out->parameter_count = model->parameter_count;
}

/* A random nonzero 64-bit identity for a new version row. */
static uint64
new_version_uid(void)
{
	uint64		uid = 0;

	while (uid == 0)
		if (!pg_strong_random(&uid, sizeof(uid)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random identity for the new version")));
	return uid;
}

/*
 * Stores a validated model, described by model, as the next version of
 * name (creating the model on first use) with its blob, and makes it the
 * active version; tokenizer_json is a text model's tokenizer, or NULL.
 * Returns the version.
 */
int32
catalog_add_version(const char *name, const char *graph_json, const char *options_json,
					const char *description, const ModelDescription *model, const StoredBlob *blob,
					const char *tokenizer_json)
{
	CatalogSession session;
	Oid			name_type[2] = {TEXTOID, TEXTOID};
	Datum		name_value[2] = {CStringGetTextDatum(name), (Datum) 0};
	Oid			vtypes[11] = {INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID,
	INT8OID, TEXTOID};
	Datum		vvalues[11];
	char		vnulls[11] = "           ";
	Oid			utypes[2] = {INT4OID, INT4OID};
	Datum		uvalues[2];
	int32		model_id,
				version;
	bool		isnull;
	int			rc;

	catalog_begin(&session);
	name_value[1] = CStringGetTextDatum(catalog_caller_name(&session));
	/* a concurrent drop_model can delete the row between the two: try again */
	for (int attempt = 0;; attempt++)
	{
		catalog_query("INSERT INTO pginfer.model (name, owner) VALUES ($1, $2::name) ON CONFLICT (name) DO NOTHING",
					  2, name_type, name_value, false);
		catalog_query("SELECT model_id, last_version FROM pginfer.model WHERE name = $1 FOR UPDATE",
				  1, name_type, name_value, false);
		if (SPI_processed == 1)
			break;
		if (attempt == 10)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("model \"%s\" was dropped by another transaction while adding a version", name),
					 errhint("Run create_model again.")));
	}
	model_id = (int32) catalog_result_int(1, &isnull);
	version = (int32) catalog_result_int(2, &isnull) + 1;
	catalog_require_manager(&session, model_id, name);

	vvalues[0] = Int32GetDatum(model_id);
	vvalues[1] = Int32GetDatum(version);
	vvalues[2] = CStringGetTextDatum(graph_json);
	vvalues[3] = CStringGetTextDatum(options_json);
	vvalues[4] = description ? CStringGetTextDatum(description) : (Datum) 0;
	if (description == NULL)
		vnulls[4] = 'n';
	vvalues[5] = CStringGetTextDatum(model->inputs);
	vvalues[6] = CStringGetTextDatum(model->outputs);
	vvalues[7] = Int64GetDatum(model->parameter_count);
	vvalues[8] = Int64GetDatum(blob->lens[0] + blob->lens[1]);
	vvalues[9] = Int64GetDatum((int64) new_version_uid());
	vvalues[10] = tokenizer_json ? CStringGetTextDatum(tokenizer_json) : (Datum) 0;
	if (tokenizer_json == NULL)
		vnulls[10] = 'n';
	rc = SPI_execute_with_args("INSERT INTO pginfer.model_version (model_id, version, graph, options,"
							   " description, inputs, outputs, parameter_count, weight_bytes, uid, tokenizer)"
							   " VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6::jsonb, $7::jsonb, $8, $9, $10,"
							   " $11::jsonb)",
							   11, vtypes, vvalues, vnulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert version %d of model \"%s\"", version, name);
	weights_store(model_id, version, blob);
	uvalues[0] = Int32GetDatum(model_id);
	uvalues[1] = Int32GetDatum(version);
	catalog_query("UPDATE pginfer.model SET last_version = $2, active_version = $2 WHERE model_id = $1",
			  2, utypes, uvalues, false);
	catalog_record_event(&session, model_id, name, version, "create", NULL);
	catalog_end(&session);
	return version;
}

/* Locks a model's row; raises if there is no such model. */
static int32
lock_model(const char *name, int32 *active_version)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	catalog_query("SELECT model_id, active_version FROM pginfer.model WHERE name = $1 FOR UPDATE",
			  1, types, values, false);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	*active_version = (int32) catalog_result_int(2, &isnull);
	return (int32) catalog_result_int(1, &isnull);
}

/*
 * Raises unless the model has this version, and locks the version's row
 * until the transaction ends.  The caller holds the model's row lock, but
 * a drop of this version may have committed while it waited for it: the
 * query takes a new snapshot (not read-only), and FOR KEY SHARE skips a row
 * deleted meanwhile (or, under REPEATABLE READ, raises a serialization
 * failure), so that no check passes on a version already gone.
 */
static void
require_version(const char *name, int32 model_id, int32 version)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(model_id), Int32GetDatum(version)};

	catalog_query("SELECT 1 FROM pginfer.model_version WHERE model_id = $1 AND version = $2 FOR KEY SHARE",
			  2, types, values, false);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
}

/*
 * Drops a whole model, or one version.  Dropping the active version makes
 * the newest remaining version active; dropping the last one drops the model.
 */
void
catalog_drop(const char *name, int32 version, bool version_given)
{
	CatalogSession session;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	int32		model_id,
				active;
	bool		isnull;

	catalog_begin(&session);
	model_id = lock_model(name, &active);
	catalog_require_manager(&session, model_id, name);
	values[0] = Int32GetDatum(model_id);
	values[1] = Int32GetDatum(version);
	if (version_given)
	{
		int32		newest;

		require_version(name, model_id, version);
		catalog_query("DELETE FROM pginfer.model_version WHERE model_id = $1 AND version = $2",
				  2, types, values, false);
		/* not read-only: it must see the DELETE above */
		catalog_query("SELECT max(version) FROM pginfer.model_version WHERE model_id = $1",
				  1, types, values, false);
		newest = (int32) catalog_result_int(1, &isnull);
		if (isnull)
			version_given = false;	/* no version left: drop the model */
		else if (active == version)
		{
			values[1] = Int32GetDatum(newest);
			catalog_query("UPDATE pginfer.model SET active_version = $2 WHERE model_id = $1",
					  2, types, values, false);
			ereport(NOTICE,
					(errmsg("version %d of model \"%s\" is now the active version", newest, name)));
		}
	}
	if (!version_given)
		catalog_query("DELETE FROM pginfer.model WHERE model_id = $1", 1, types, values, false);
	catalog_record_event(&session, model_id, name, version_given ? version : 0, "drop",
						 version_given ? NULL : "the model and all its versions");
	catalog_end(&session);
}

/* Makes version the active version of model name (a rollback, or forward). */
void
catalog_set_active(const char *name, int32 version)
{
	CatalogSession session;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	int32		model_id,
				active;

	catalog_begin(&session);
	model_id = lock_model(name, &active);
	catalog_require_manager(&session, model_id, name);
	require_version(name, model_id, version);
	values[0] = Int32GetDatum(model_id);
	values[1] = Int32GetDatum(version);
	catalog_query("UPDATE pginfer.model SET active_version = $2 WHERE model_id = $1",
			  2, types, values, false);
	catalog_record_event(&session, model_id, name, version, "activate", NULL);
	catalog_end(&session);
}

/*
 * Announces a change of pginfer.model or pginfer.model_version (the
 * catalog's triggers call this for every row, whoever writes it: these
 * functions, a logical replication apply worker, a restore): this backend's
 * cache forgets now, the others when this transaction commits (a relcache
 * invalidation of pginfer.model).  A deleted version row also leaves the
 * shared cache.
 */
void
catalog_changed(int32 dropped_model_id, int32 dropped_version)
{
	CacheInvalidateRelcacheByRelid(catalog_relid("model"));
	if (observer == NULL)
		return;
	if (dropped_model_id > 0)
		observer->version_dropped(dropped_model_id, dropped_version);
	observer->changed();
}

/*
 * A version's blob of len bytes, in one buffer in the caller's memory
 * context: the bytes from split on at *second, aligned (see weights_load).
 */
uint8 *
catalog_load_weights(int32 model_id, int32 version, int64 len, int64 split, uint8 **second)
{
	CatalogSession session;
	MemoryContext caller = CurrentMemoryContext;
	uint8	   *buf;

	catalog_begin(&session);
	buf = weights_load(model_id, version, len, split, caller, second);
	catalog_end(&session);
	return buf;
}
