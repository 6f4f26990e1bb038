/*
 * drop_guard.c
 *	  Keeps DROP EXTENSION from dropping pg_infer's functions under a query
 *	  that calls them.
 *
 * A query does not lock the functions it calls, so a concurrent DROP
 * EXTENSION could remove predict() between parse analysis and execution,
 * which then fails with an internal error ("cache lookup failed for
 * function").  Before planning, a query that calls predict takes
 * pginfer.model's AccessShareLock, held to the end of its transaction: DROP
 * EXTENSION, which locks that table before it drops anything, waits for the
 * query.  A function already gone when the lock is granted is reported as
 * such (42883).  No state of our own; the lock manager does the locking.
 */
#include "batch_predict.h"

#include "nodes/nodeFuncs.h"
#include "pg_infer.h"
#include "storage/lmgr.h"
#include "utils/syscache.h"

/* What the walk found. */
typedef struct GuardContext
{
	bool		calls_predict;
	bool		function_missing;
} GuardContext;

/* Walks a query tree for calls of pg_infer's functions and calls of functions gone. */
static bool
guard_walker(Node *node, GuardContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, guard_walker, ctx, 0);
	if (IsA(node, FuncExpr))
	{
		Oid			funcid = ((FuncExpr *) node)->funcid;

		if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(funcid)))
			ctx->function_missing = true;
		else if (batch_predict_kind(funcid) != NOT_PREDICT)
			ctx->calls_predict = true;
	}
	return expression_tree_walker(node, guard_walker, ctx);
}

/* Raises 42883 when a function the query calls no longer exists. */
static void
report_missing(GuardContext *ctx)
{
	if (ctx->function_missing)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("a function this query calls was dropped while the query was planned"),
				 errdetail("DROP EXTENSION or DROP FUNCTION ran concurrently; run the query again.")));
}

/* Called before planning a query: locks the catalog if it calls predict. */
void
drop_guard(Query *parse)
{
	GuardContext ctx = {false, false};
	Oid			catalog;

	(void) guard_walker((Node *) parse, &ctx);
	report_missing(&ctx);
	if (!ctx.calls_predict || !OidIsValid(catalog = catalog_relid_if_exists("model")))
		return;
	LockRelationOid(catalog, AccessShareLock);
	/* the lock processed invalidations: a drop that committed first shows now */
	(void) guard_walker((Node *) parse, &ctx);
	report_missing(&ctx);
}
