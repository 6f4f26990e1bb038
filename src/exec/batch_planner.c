/*
 * batch_planner.c
 *	  The planner hook that puts a BatchPredict node above every projecting
 *	  plan node whose target list calls predict() or predict_class(), so that
 *	  the forward pass runs once per batch of rows instead of once per row.
 *
 * It works on the finished plan (after standard_planner and setrefs), so it
 * builds final references itself: see batch_predict.h for the plan shape.
 * A call is batched only when its model (and version) are constants and its
 * features contain no volatile function and no set-returning function;
 * anything else keeps per-row evaluation, with identical results.
 */
#include "batch_predict.h"

#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

bool		pg_infer_batching = true;
int			pg_infer_batch_size = 256;

static planner_hook_type prev_planner_hook = NULL;

typedef enum PredictKind
{
	NOT_PREDICT,
	PREDICT_VALUES,
	PREDICT_CLASS
} PredictKind;

typedef struct ProcKindEntry
{
	Oid			proc;
	PredictKind kind;
} ProcKindEntry;

static HTAB *proc_kinds;

/* Whether a function is our predict() or predict_class() (cached by OID). */
static PredictKind
predict_kind(Oid proc)
{
	ProcKindEntry *e;
	bool		found;

	if (proc_kinds == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ProcKindEntry);
		ctl.hcxt = TopMemoryContext;
		proc_kinds = hash_create("pg_infer predict functions", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(proc_kinds, &proc, HASH_ENTER, &found);
	if (!found)
	{
		HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(proc));

		e->kind = NOT_PREDICT;
		if (HeapTupleIsValid(tuple))
		{
			Form_pg_proc form = (Form_pg_proc) GETSTRUCT(tuple);
			bool		isnull;
			Datum		src;

			if (form->prolang == ClanguageId)
			{
				src = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);
				if (!isnull)
				{
					char	   *symbol = TextDatumGetCString(src);

					if (strcmp(symbol, "pg_infer_predict") == 0)
						e->kind = PREDICT_VALUES;
					else if (strcmp(symbol, "pg_infer_predict_class") == 0)
						e->kind = PREDICT_CLASS;
				}
			}
			ReleaseSysCache(tuple);
		}
	}
	return e->kind;
}

/* Whether an expression is a predict call this node can batch. */
static bool
is_batchable_call(Node *node)
{
	FuncExpr   *f;
	Node	   *features;

	if (node == NULL || !IsA(node, FuncExpr))
		return false;
	f = (FuncExpr *) node;
	if (predict_kind(f->funcid) == NOT_PREDICT || f->funcretset)
		return false;
	if (!IsA(linitial(f->args), Const) || ((Const *) linitial(f->args))->constisnull)
		return false;
	if (list_length(f->args) == 3 &&
		(!IsA(lthird(f->args), Const) || ((Const *) lthird(f->args))->constisnull))
		return false;
	features = lsecond(f->args);
	return !contain_volatile_functions(features) && !expression_returns_set(features);
}

/*
 * Whether a node evaluates some of its arguments only for some rows (CASE,
 * COALESCE, AND/OR).  Calls below it stay per row: batching would evaluate
 * them, and raise their errors, for rows that per-row evaluation skips.
 */
static bool
is_conditional(Node *node)
{
	return IsA(node, CaseExpr) || IsA(node, CoalesceExpr) ||
		(IsA(node, BoolExpr) && ((BoolExpr *) node)->boolop != NOT_EXPR) ||
		(IsA(node, Aggref) && ((Aggref *) node)->aggfilter != NULL);
}

/* expression_tree_walker: finds a batchable call outside conditionals. */
static bool
contains_batchable_walker(Node *node, void *context)
{
	if (node == NULL || is_conditional(node))
		return false;
	if (is_batchable_call(node))
		return true;
	return expression_tree_walker(node, contains_batchable_walker, context);
}

/* The spec of one call, for the executor. */
static BatchPredictionSpec *
make_spec(FuncExpr *f, int feature_column)
{
	BatchPredictionSpec *spec = palloc0(sizeof(BatchPredictionSpec));
	Oid			features_type = exprType(lsecond(f->args));

	spec->feature_column = feature_column;
	spec->returns_class = (predict_kind(f->funcid) == PREDICT_CLASS);
	spec->features_are_record = (features_type == RECORDOID || type_is_rowtype(features_type));
	spec->model = TextDatumGetCString(((Const *) linitial(f->args))->constvalue);
	spec->version_given = (list_length(f->args) == 3);
	spec->version = spec->version_given ? DatumGetInt32(((Const *) lthird(f->args))->constvalue) : 0;
	return spec;
}

/* State of rewriting one node's target list. */
typedef struct SplitContext
{
	List	   *child_tlist;	/* the wrapped node's new target list */
	List	   *calls;			/* batchable FuncExprs, in column order */
	List	   *specs;			/* their BatchPredictionSpecs */
	int			first_prediction;	/* scan-tuple attno of the first prediction */
	bool		collecting;		/* pass 1: collect; pass 2: replace */
	int			conditional_depth;	/* inside CASE, COALESCE, AND/OR */
} SplitContext;

/* Position (1-based) of expr in a target list, appending it if absent. */
static AttrNumber
tlist_position(List **tlist, Expr *expr)
{
	ListCell   *lc;
	TargetEntry *te;

	foreach(lc, *tlist)
	{
		te = lfirst(lc);
		if (equal(te->expr, expr))
			return te->resno;
	}
	te = makeTargetEntry(copyObject(expr), list_length(*tlist) + 1, NULL, false);
	*tlist = lappend(*tlist, te);
	return te->resno;
}

/* Index of a call among the collected ones, or -1. */
static int
call_index(SplitContext *ctx, FuncExpr *f)
{
	for (int i = 0; i < list_length(ctx->calls); i++)
		if (equal(list_nth(ctx->calls, i), f))
			return i;
	return -1;
}

/*
 * Pass 1 collects the calls and the Vars the rest of the target list needs
 * into the child's target list; pass 2 replaces both with INDEX_VAR
 * references to the BatchPredict scan tuple.
 */
static Node *
split_mutator(Node *node, SplitContext *ctx)
{
	if (node == NULL)
		return NULL;
	if (is_conditional(node))
	{
		Node	   *result;

		ctx->conditional_depth++;
		result = expression_tree_mutator(node, split_mutator, ctx);
		ctx->conditional_depth--;
		return result;
	}
	if (ctx->conditional_depth == 0 && is_batchable_call(node))
	{
		FuncExpr   *f = (FuncExpr *) node;

		if (ctx->collecting)
		{
			AttrNumber	column = tlist_position(&ctx->child_tlist, lsecond(f->args));

			if (call_index(ctx, f) < 0)
			{
				ctx->calls = lappend(ctx->calls, f);
				ctx->specs = lappend(ctx->specs, make_spec(f, column));
			}
			return node;
		}
		return (Node *) makeVar(INDEX_VAR, ctx->first_prediction + call_index(ctx, f),
								f->funcresulttype, -1, InvalidOid, 0);
	}
	if (IsA(node, Var))
	{
		AttrNumber	column = tlist_position(&ctx->child_tlist, (Expr *) node);

		if (ctx->collecting)
			return node;
		return (Node *) makeVar(INDEX_VAR, column, ((Var *) node)->vartype,
								((Var *) node)->vartypmod, ((Var *) node)->varcollid, 0);
	}
	return expression_tree_mutator(node, split_mutator, ctx);
}

/* A Var of the outer child's output column for custom_scan_tlist. */
static Var *
outer_column(TargetEntry *te)
{
	return makeVar(OUTER_VAR, te->resno, exprType((Node *) te->expr),
				   exprTypmod((Node *) te->expr), exprCollation((Node *) te->expr), 0);
}

/* mutator: a call's features replaced by the child's output column. */
static Node *
features_as_outer_mutator(Node *node, SplitContext *ctx)
{
	if (node == NULL || is_conditional(node))
		return node;
	if (is_batchable_call(node))
	{
		FuncExpr   *f = copyObject((FuncExpr *) node);
		AttrNumber	column = tlist_position(&ctx->child_tlist, lsecond(f->args));

		lsecond(f->args) = outer_column(list_nth(ctx->child_tlist, column - 1));
		return (Node *) f;
	}
	return expression_tree_mutator(node, features_as_outer_mutator, ctx);
}

/* Largest plan_node_id in a tree (new nodes get ids above it). */
static int
max_plan_node_id(Plan *plan, int max)
{
	ListCell   *lc;

	if (plan == NULL)
		return max;
	max = Max(max, plan->plan_node_id);
	max = max_plan_node_id(plan->lefttree, max);
	max = max_plan_node_id(plan->righttree, max);
	if (IsA(plan, Append))
		foreach(lc, ((Append *) plan)->appendplans)
			max = max_plan_node_id(lfirst(lc), max);
	if (IsA(plan, MergeAppend))
		foreach(lc, ((MergeAppend *) plan)->mergeplans)
			max = max_plan_node_id(lfirst(lc), max);
	if (IsA(plan, SubqueryScan))
		max = max_plan_node_id(((SubqueryScan *) plan)->subplan, max);
	if (IsA(plan, CustomScan))
		foreach(lc, ((CustomScan *) plan)->custom_plans)
			max = max_plan_node_id(lfirst(lc), max);
	if (IsA(plan, BitmapAnd))
		foreach(lc, ((BitmapAnd *) plan)->bitmapplans)
			max = max_plan_node_id(lfirst(lc), max);
	if (IsA(plan, BitmapOr))
		foreach(lc, ((BitmapOr *) plan)->bitmapplans)
			max = max_plan_node_id(lfirst(lc), max);
	return max;
}

/* Whether a node computes its own target list from its input rows. */
static bool
is_projecting_node(Plan *plan)
{
	switch (nodeTag(plan))
	{
		case T_SeqScan:
		case T_SampleScan:
		case T_IndexScan:
		case T_IndexOnlyScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_SubqueryScan:
		case T_FunctionScan:
		case T_ValuesScan:
		case T_CteScan:
		case T_NamedTuplestoreScan:
		case T_WorkTableScan:
		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
			return true;
		case T_Result:
			return plan->lefttree != NULL;
		default:
			return false;
	}
}

/* Puts a BatchPredict node above a projecting node whose tlist calls predict. */
static Plan *
wrap_node(Plan *plan, int *next_node_id)
{
	SplitContext ctx = {0};
	CustomScan *cscan;
	List	   *tlist;
	ListCell   *lc;
	int			nchild;

	ctx.collecting = true;
	(void) split_mutator((Node *) plan->targetlist, &ctx);
	nchild = list_length(ctx.child_tlist);
	ctx.first_prediction = nchild + 1;
	ctx.collecting = false;
	tlist = (List *) split_mutator((Node *) plan->targetlist, &ctx);

	cscan = makeNode(CustomScan);
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.startup_cost = plan->startup_cost;
	cscan->scan.plan.total_cost = plan->total_cost;
	cscan->scan.plan.plan_rows = plan->plan_rows;
	cscan->scan.plan.plan_width = plan->plan_width;
	cscan->scan.plan.parallel_safe = plan->parallel_safe;
	cscan->scan.plan.plan_node_id = (*next_node_id)++;
	cscan->scan.plan.extParam = bms_copy(plan->extParam);
	cscan->scan.plan.allParam = bms_copy(plan->allParam);
	cscan->scan.plan.lefttree = plan;
	cscan->scan.scanrelid = 0;
	cscan->methods = &batch_predict_scan_methods;
	cscan->custom_private = batch_spec_to_private(ctx.specs);
	foreach(lc, ctx.child_tlist)
		cscan->custom_scan_tlist = lappend(cscan->custom_scan_tlist,
										   makeTargetEntry((Expr *) outer_column(lfirst(lc)),
														   list_length(cscan->custom_scan_tlist) + 1,
														   NULL, false));
	foreach(lc, ctx.calls)
		cscan->custom_scan_tlist = lappend(cscan->custom_scan_tlist,
										   makeTargetEntry((Expr *) features_as_outer_mutator(lfirst(lc), &ctx),
														   list_length(cscan->custom_scan_tlist) + 1,
														   NULL, false));
	plan->targetlist = ctx.child_tlist;
	return (Plan *) cscan;
}

/* State of moving calls out of an aggregate's arguments into its child. */
typedef struct PushdownContext
{
	Plan	   *child;
	bool		in_aggregate;
} PushdownContext;

/* mutator: Var(OUTER_VAR, k) becomes the child's k-th output expression. */
static Node *
outer_to_child_mutator(Node *node, Plan *child)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Var) && ((Var *) node)->varno == OUTER_VAR)
		return copyObject((Node *) ((TargetEntry *) list_nth(child->targetlist,
															 ((Var *) node)->varattno - 1))->expr);
	return expression_tree_mutator(node, outer_to_child_mutator, child);
}

/* expression_tree_walker: whether only OUTER_VAR Vars appear. */
static bool
has_non_outer_var_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varno != OUTER_VAR;
	if (IsA(node, Aggref) || IsA(node, SubPlan) || IsA(node, Param))
		return true;
	return expression_tree_walker(node, has_non_outer_var_walker, context);
}

/*
 * Inside an aggregate's arguments, a batchable call over the child's
 * columns is computed by the child instead: it becomes a child output
 * column, and the aggregate reads that column.
 */
static Node *
pushdown_mutator(Node *node, PushdownContext *ctx)
{
	if (node == NULL || is_conditional(node))
		return node;
	if (IsA(node, Aggref))
	{
		bool		saved = ctx->in_aggregate;
		Node	   *result;

		ctx->in_aggregate = true;
		result = expression_tree_mutator(node, pushdown_mutator, ctx);
		ctx->in_aggregate = saved;
		return result;
	}
	if (ctx->in_aggregate && is_batchable_call(node) &&
		!has_non_outer_var_walker(node, NULL))
	{
		Expr	   *call = (Expr *) outer_to_child_mutator(node, ctx->child);
		AttrNumber	column = tlist_position(&ctx->child->targetlist, call);

		return (Node *) makeVar(OUTER_VAR, column, exprType(node), exprTypmod(node),
								exprCollation(node), 0);
	}
	return expression_tree_mutator(node, pushdown_mutator, ctx);
}

/*
 * Rewrites a plan tree bottom-up; inner_of_merge_join marks a node that
 * must keep mark/restore support (BatchPredict has none).
 */
static Plan *
batch_plan(Plan *plan, bool inner_of_merge_join, int *next_node_id)
{
	ListCell   *lc;

	if (plan == NULL)
		return NULL;
	if (IsA(plan, Agg) && plan->lefttree != NULL && is_projecting_node(plan->lefttree) &&
		contains_batchable_walker((Node *) plan->targetlist, NULL))
	{
		PushdownContext ctx = {plan->lefttree, false};

		plan->targetlist = (List *) pushdown_mutator((Node *) plan->targetlist, &ctx);
	}
	plan->lefttree = batch_plan(plan->lefttree, false, next_node_id);
	plan->righttree = batch_plan(plan->righttree, IsA(plan, MergeJoin), next_node_id);
	if (IsA(plan, Append))
		foreach(lc, ((Append *) plan)->appendplans)
			lfirst(lc) = batch_plan(lfirst(lc), false, next_node_id);
	if (IsA(plan, MergeAppend))
		foreach(lc, ((MergeAppend *) plan)->mergeplans)
			lfirst(lc) = batch_plan(lfirst(lc), false, next_node_id);
	if (IsA(plan, SubqueryScan))
		((SubqueryScan *) plan)->subplan =
			batch_plan(((SubqueryScan *) plan)->subplan, false, next_node_id);
	if (!inner_of_merge_join && is_projecting_node(plan) &&
		contains_batchable_walker((Node *) plan->targetlist, NULL))
		return wrap_node(plan, next_node_id);
	return plan;
}

/* planner_hook: plan as usual, then batch the predict calls. */
static PlannedStmt *
batch_planner(Query *parse, const char *query_string, int cursor_options,
			  ParamListInfo bound_params)
{
	PlannedStmt *stmt;
	int			next_node_id;
	ListCell   *lc;

	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursor_options, bound_params);
	else
		stmt = standard_planner(parse, query_string, cursor_options, bound_params);

	/* a scrollable cursor needs backward scans, which BatchPredict lacks */
	if (!pg_infer_batching || (cursor_options & CURSOR_OPT_SCROLL))
		return stmt;
	next_node_id = max_plan_node_id(stmt->planTree, 0);
	foreach(lc, stmt->subplans)
		next_node_id = max_plan_node_id(lfirst(lc), next_node_id);
	next_node_id++;
	stmt->planTree = batch_plan(stmt->planTree, false, &next_node_id);
	foreach(lc, stmt->subplans)
		lfirst(lc) = batch_plan(lfirst(lc), false, &next_node_id);
	return stmt;
}

/* Installs the planner hook and the GUCs; called from _PG_init. */
void
batch_planner_init(void)
{
	DefineCustomBoolVariable("pg_infer.batching",
							 "Runs predict() calls in a query one forward pass per batch of rows.",
							 NULL, &pg_infer_batching, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_infer.batch_size",
							"Largest number of rows per forward pass of a BatchPredict node.",
							NULL, &pg_infer_batch_size, 256, 1, 65536, PGC_USERSET, 0,
							NULL, NULL, NULL);
	prev_planner_hook = planner_hook;
	planner_hook = batch_planner;
}
