/*
 * admin.c
 *	  drop_model(), set_active_version(), grant_model() and revoke_model().
 */
#include "pg_infer.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(pg_infer_drop_model);

/* drop_model(name [, version]): the whole model, or one version. */
Datum
pg_infer_drop_model(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	catalog_drop(text_to_cstring(PG_GETARG_TEXT_PP(0)),
				 PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1), !PG_ARGISNULL(1));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pg_infer_set_active_version);

/* set_active_version(name, version): roll back or forward. */
Datum
pg_infer_set_active_version(PG_FUNCTION_ARGS)
{
	catalog_set_active(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_INT32(1));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pg_infer_grant_model);

/* grant_model(name, role): managing rights on one model. */
Datum
pg_infer_grant_model(PG_FUNCTION_ARGS)
{
	catalog_grant(text_to_cstring(PG_GETARG_TEXT_PP(0)), NameStr(*PG_GETARG_NAME(1)), true);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pg_infer_revoke_model);

/* revoke_model(name, role): takes managing rights back. */
Datum
pg_infer_revoke_model(PG_FUNCTION_ARGS)
{
	catalog_grant(text_to_cstring(PG_GETARG_TEXT_PP(0)), NameStr(*PG_GETARG_NAME(1)), false);
	PG_RETURN_VOID();
}
