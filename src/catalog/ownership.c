/*
 * ownership.c
 *	  Who may change a model, and the record of every change.
 *
 * A model belongs to the role that created it (pginfer.model.owner).  Its
 * owner, the roles granted managing rights on it (pginfer.model_manager,
 * through grant_model) and administrators (superusers and members of the
 * extension's owner) may add, activate and drop its versions; only its
 * owner and administrators grant and revoke those rights.  Membership
 * counts: a right granted to a group role is its members'.  Every change
 * is appended to pginfer.model_event, which outlives the model.
 *
 * These run inside a catalog session (catalog_begin), as the extension's
 * owner; the caller is the session's saved user.  The model's row lock,
 * taken by the caller, serializes changes to one model.
 */
#include "catalog_internal.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

/* The name of the role that called the SQL function. */
char *
catalog_caller_name(const CatalogSession *session)
{
	return GetUserNameFromId(session->save_userid, false);
}

/* Whether the caller administers models: a superuser or a member of the extension's owner. */
static bool
caller_is_admin(const CatalogSession *session)
{
	return has_privs_of_role(session->save_userid, catalog_owner_role());
}

/* Whether the caller has the privileges of the named role (false if there is none). */
static bool
caller_acts_as(const CatalogSession *session, const char *role)
{
	Oid			role_id = get_role_oid(role, true);

	return OidIsValid(role_id) && has_privs_of_role(session->save_userid, role_id);
}

/* The owner of a model, read under the caller's row lock. */
static char *
model_owner(int32 model_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(model_id)};

	catalog_query("SELECT owner FROM pginfer.model WHERE model_id = $1", 1, types, values, false);
	if (SPI_processed != 1)
		elog(ERROR, "model %d vanished while locked", model_id);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* Raises unless the caller is the model's owner or an administrator. */
static void
require_owner(const CatalogSession *session, int32 model_id, const char *name)
{
	char	   *owner;

	if (caller_is_admin(session))
		return;
	owner = model_owner(model_id);
	if (!caller_acts_as(session, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be the owner of model \"%s\"", name),
				 errdetail("Its owner is role \"%s\".", owner)));
}

/*
 * Raises unless the caller may change the model: its owner, a role with
 * managing rights on it (or a member of one), or an administrator.
 */
void
catalog_require_manager(const CatalogSession *session, int32 model_id, const char *name)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(model_id)};
	char	   *owner;

	if (caller_is_admin(session))
		return;
	owner = model_owner(model_id);
	if (caller_acts_as(session, owner))
		return;
	catalog_query("SELECT role FROM pginfer.model_manager WHERE model_id = $1", 1, types, values, false);
	for (uint64 i = 0; i < SPI_processed; i++)
		if (caller_acts_as(session, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)))
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be the owner of model \"%s\" or have managing rights on it", name),
			 errdetail("Its owner is role \"%s\".", owner),
			 errhint("The owner or an administrator can run grant_model('%s', role).", name)));
}

/* Appends a change to the audit trail; version 0 for none. */
void
catalog_record_event(const CatalogSession *session, int32 model_id, const char *name,
					 int32 version, const char *action, const char *detail)
{
	Oid			types[6] = {TEXTOID, INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = "      ";

	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(model_id);
	values[2] = Int32GetDatum(version);
	if (version <= 0)
		nulls[2] = 'n';
	values[3] = CStringGetTextDatum(action);
	values[4] = CStringGetTextDatum(catalog_caller_name(session));
	values[5] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	if (detail == NULL)
		nulls[5] = 'n';
	if (SPI_execute_with_args("INSERT INTO pginfer.model_event (model, model_id, version, action, role, detail)"
							  " VALUES ($1, $2, $3, $4, $5::name, $6)", 6, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the %s of model \"%s\"", action, name);
}

/*
 * grant_model / revoke_model: gives role managing rights on model name, or
 * takes them back.  For the model's owner and administrators.
 */
void
catalog_grant(const char *name, const char *role, bool grant)
{
	CatalogSession session;
	Oid			name_type[1] = {TEXTOID};
	Datum		name_value[1] = {CStringGetTextDatum(name)};
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	int32		model_id;

	(void) get_role_oid(role, false);	/* raises 42704 for no such role */
	catalog_begin(&session);
	catalog_query("SELECT model_id FROM pginfer.model WHERE name = $1 FOR UPDATE", 1, name_type, name_value, false);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	model_id = (int32) catalog_result_int(1, &isnull);
	require_owner(&session, model_id, name);
	values[0] = Int32GetDatum(model_id);
	values[1] = CStringGetTextDatum(role);
	if (grant)
		catalog_query("INSERT INTO pginfer.model_manager (model_id, role) VALUES ($1, $2::name)"
					  " ON CONFLICT DO NOTHING", 2, types, values, false);
	else
		catalog_query("DELETE FROM pginfer.model_manager WHERE model_id = $1 AND role = $2::name",
					  2, types, values, false);
	catalog_record_event(&session, model_id, name, 0, grant ? "grant" : "revoke", role);
	catalog_end(&session);
}
