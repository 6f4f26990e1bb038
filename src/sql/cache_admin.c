/*
 * cache_admin.c
 *	  The model cache for administrators: the cached_models() rows behind
 *	  the pginfer.cached_models view, session_models() behind
 *	  pginfer.session_models, cache_usage(), warm_model() and evict_model().
 */
#include "pg_infer.h"

#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

/* Name of an entry's state as the view shows it. */
static const char *
state_name(SharedCacheEntryState state)
{
	switch (state)
	{
		case CACHE_LOADING:
			return "loading";
		case CACHE_READY:
			return "ready";
		case CACHE_FAILED:
			return "failed";
		case CACHE_EVICTED:
			return "evicted";
	}
	return "unknown";
}

PG_FUNCTION_INFO_V1(pg_infer_cached_models);

/*
 * cached_models(): one row per model version the shared cache knows, in
 * every database for members of pg_read_all_stats, else in this one.
 */
Datum
pg_infer_cached_models(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all_databases = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			count;
	SharedCacheInfo *entries;

	InitMaterializedSRF(fcinfo, 0);
	entries = shared_cache_snapshot(&count);
	for (int i = 0; i < count; i++)
	{
		SharedCacheInfo *e = &entries[i];
		Datum		values[11];
		bool		nulls[11] = {0};
		char	   *dbname;

		if (!all_databases && e->key.dbid != MyDatabaseId)
			continue;
		dbname = get_database_name(e->key.dbid);
		if (dbname == NULL)
			nulls[0] = true;
		else
			values[0] = CStringGetDatum(dbname);
		values[1] = CStringGetTextDatum(e->model_name);
		values[2] = Int32GetDatum(e->key.model_id);
		values[3] = Int32GetDatum(e->key.version);
		values[4] = CStringGetTextDatum(state_name(e->state));
		values[5] = Int64GetDatum(e->bytes);
		values[6] = Int32GetDatum(e->pins);
		values[7] = Int64GetDatum(e->loads);
		values[8] = Int64GetDatum(e->hits);
		values[9] = TimestampTzGetDatum(e->last_used);
		values[10] = Int32GetDatum(e->key.sequence_length);
		nulls[10] = e->key.sequence_length == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pg_infer_cache_usage);

/* cache_usage(): whether the cache is shared, bytes in use, the budget. */
Datum
pg_infer_cache_usage(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {0};
	int64		used,
				budget;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cache_usage must return a record");
	shared_cache_usage(&used, &budget);
	values[0] = BoolGetDatum(shared_cache_enabled());
	values[1] = Int64GetDatum(used);
	values[2] = Int64GetDatum(budget);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

PG_FUNCTION_INFO_V1(pg_infer_warm_model);

/* warm_model(name [, version]): loads a version now; returns its number. */
Datum
pg_infer_warm_model(PG_FUNCTION_ARGS)
{
	LoadedModel *lm;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	lm = model_cache_get(text_to_cstring(PG_GETARG_TEXT_PP(0)), !PG_ARGISNULL(1),
						 PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1));
	PG_RETURN_INT32(lm->version);
}

PG_FUNCTION_INFO_V1(pg_infer_evict_model);

/*
 * evict_model(name [, version]): frees the shared images of a model's
 * versions (or one version) that no running query uses; returns how many.
 */
Datum
pg_infer_evict_model(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		model_id,
				active;
	SharedCacheKey key;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!catalog_lookup_model(name, &model_id, &active))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	key = model_cache_key(model_id, PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1), 0);
	PG_RETURN_INT32(shared_cache_forget(&key, true));
}

PG_FUNCTION_INFO_V1(pg_infer_session_models);

/*
 * session_models(): the versions this session has loaded, whether each
 * runs from the shared cache, the engine memory its executor holds, and
 * how many executors (weight packings) this session built for it.
 */
Datum
pg_infer_session_models(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, model_cache_loaded_versions())
	{
		LoadedModel *lm = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {0};

		values[0] = CStringGetTextDatum(lm->name);
		values[1] = Int32GetDatum(lm->model_id);
		values[2] = Int32GetDatum(lm->version);
		values[3] = BoolGetDatum(lm->shared);
		values[4] = Int64GetDatum(lm->executor_bytes);
		values[5] = Int64GetDatum(lm->executor_builds);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
