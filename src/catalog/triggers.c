/*
 * triggers.c
 *	  The trigger function behind the catalog's row triggers: any insert,
 *	  update or delete of pginfer.model or pginfer.model_version, whoever
 *	  makes it, announces a catalog change (catalog_changed), and a deleted
 *	  version leaves the shared cache.
 *
 * The triggers are ENABLE ALWAYS: they fire in logical replication's apply
 * workers too, so that a version received from a model registry is used by
 * the subscriber's next statement, and a version dropped there goes.  No
 * state, no locks.
 */
#include "pg_infer.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/rel.h"

/* Columns of pginfer.model_version (the install script's order). */
#define VERSION_COL_MODEL_ID 1
#define VERSION_COL_VERSION 2

PG_FUNCTION_INFO_V1(pg_infer_catalog_trigger);

/* AFTER ... FOR EACH ROW on pginfer.model and pginfer.model_version. */
Datum
pg_infer_catalog_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	int32		model_id = 0;
	int32		version = 0;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "pg_infer_catalog_trigger must run AFTER ... FOR EACH ROW");
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		RelationGetRelid(trigdata->tg_relation) == catalog_relid_if_exists("model_version"))
	{
		TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
		bool		isnull;

		model_id = DatumGetInt32(heap_getattr(trigdata->tg_trigtuple, VERSION_COL_MODEL_ID, desc, &isnull));
		version = DatumGetInt32(heap_getattr(trigdata->tg_trigtuple, VERSION_COL_VERSION, desc, &isnull));
	}
	catalog_changed(model_id, version);
	return PointerGetDatum(NULL);
}
