/*
 * batch_planner.c
 *	  The planner hook that puts a BatchPredict node above every projecting
 *	  plan node whose target list or quals call predict() or predict_class(),
 *	  so that the forward pass runs once per batch of rows instead of once
 *	  per row.
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
#include "catalog/pg_type.h"
#include "catalog/pg_proc.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
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

typedef struct ProcKindEntry
{
	Oid			proc;
	PredictKind kind;
} ProcKindEntry;

static HTAB *proc_kinds;

/* Whether a function is our predict() or predict_class() (cached by OID). */
PredictKind
batch_predict_kind(Oid proc)
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

					if (strcmp(symbol, "pg_infer_predict") == 0 ||
						strcmp(symbol, "pg_infer_predict_inputs") == 0)
						e->kind = PREDICT_VALUES;
					else if (strcmp(symbol, "pg_infer_predict_class") == 0 ||
							 strcmp(symbol, "pg_infer_predict_class_inputs") == 0)
						e->kind = PREDICT_CLASS;
					else if (strcmp(symbol, "pg_infer_predict_label") == 0 ||
							 strcmp(symbol, "pg_infer_predict_label_inputs") == 0)
						e->kind = PREDICT_LABEL;
					else if (strcmp(symbol, "pg_infer_embed") == 0)
						e->kind = PREDICT_EMBED;
				}
			}
			ReleaseSysCache(tuple);
		}
	}
	return e->kind;
}

/*
 * Whether an argument has one value for a whole execution of the node: a
 * constant, or an expression of parameters (no column, no volatile or
 * set-returning function, no aggregate or subquery).  A parameter that a
 * rescan changes makes the node evaluate it again.
 */
static bool
is_stable_argument(Node *arg)
{
	return !contain_var_clause(arg) && !contain_volatile_functions(arg) &&
		!expression_returns_set(arg) && !contain_agg_clause(arg) &&
		!contain_window_function(arg) && !contain_subplans(arg);
}

/* Whether a predict call takes a jsonb object of named inputs: (model, inputs, output, version). */
static bool
takes_jsonb(FuncExpr *f)
{
	return exprType(lsecond(f->args)) == JSONBOID;
}

/* A call's version argument, or NULL when it has none. */
static Expr *
version_argument(FuncExpr *f)
{
	if (takes_jsonb(f))
		return list_length(f->args) > 3 ? lfourth(f->args) : NULL;
	return list_length(f->args) == 3 ? lthird(f->args) : NULL;
}

/* A call's output argument (the jsonb form's), or NULL when it has none. */
static Expr *
output_argument(FuncExpr *f)
{
	return takes_jsonb(f) && list_length(f->args) > 2 ? lthird(f->args) : NULL;
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
	if (batch_predict_kind(f->funcid) == NOT_PREDICT || f->funcretset)
		return false;
	if (!is_stable_argument(linitial(f->args)) ||
		(version_argument(f) && !is_stable_argument((Node *) version_argument(f))) ||
		(output_argument(f) && !is_stable_argument((Node *) output_argument(f))))
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
	spec->kind = batch_predict_kind(f->funcid);
	spec->features_kind = spec->kind == PREDICT_EMBED ? FEATURES_TEXT
		: features_type == JSONBOID ? FEATURES_JSONB
		: (features_type == RECORDOID || type_is_rowtype(features_type)) ? FEATURES_RECORD : FEATURES_ARRAY;
	spec->version_given = (version_argument(f) != NULL);
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
	bool		batch_calls;	/* new calls here are batched (else per row) */
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
 * Pass 1 collects the calls and the Vars the rest of the expressions need
 * into the child's target list; pass 2 replaces both with INDEX_VAR
 * references to the BatchPredict scan tuple.  A call equal to one already
 * batched reads its prediction wherever it stands: the node computes it for
 * every row anyway.
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
	if (is_batchable_call(node))
	{
		FuncExpr   *f = (FuncExpr *) node;
		int			index = call_index(ctx, f);

		if (ctx->collecting && index < 0 && ctx->batch_calls && ctx->conditional_depth == 0)
		{
			AttrNumber	column = tlist_position(&ctx->child_tlist, lsecond(f->args));

			ctx->calls = lappend(ctx->calls, f);
			ctx->specs = lappend(ctx->specs, make_spec(f, column));
			return node;
		}
		if (ctx->collecting && index >= 0)
			return node;
		if (!ctx->collecting && index >= 0)
			return (Node *) makeVar(INDEX_VAR, ctx->first_prediction + index,
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

/* expression_tree_walker: the ids of the PARAM_EXEC parameters an expression reads. */
static bool
exec_params_walker(Node *node, Bitmapset **ids)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		*ids = bms_add_member(*ids, ((Param *) node)->paramid);
	return expression_tree_walker(node, exec_params_walker, ids);
}

/* The PARAM_EXEC ids an expression reads. */
static Bitmapset *
exec_params(List *exprs)
{
	Bitmapset  *ids = NULL;

	(void) exec_params_walker((Node *) exprs, &ids);
	return ids;
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

/*
 * The BatchPredict node over plan for the calls ctx collected, with the
 * target list and quals that ctx's second pass rewrote; plan's target list
 * becomes what the node reads.
 */
static Plan *
make_batch_node(Plan *plan, SplitContext *ctx, List *tlist, List *qual, int *next_node_id)
{
	CustomScan *cscan = makeNode(CustomScan);
	ListCell   *lc;

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = qual;
	cscan->scan.plan.startup_cost = plan->startup_cost;
	cscan->scan.plan.total_cost = plan->total_cost;
	cscan->scan.plan.plan_rows = plan->plan_rows;
	cscan->scan.plan.plan_width = plan->plan_width;
	cscan->scan.plan.parallel_safe = plan->parallel_safe;
	cscan->scan.plan.plan_node_id = (*next_node_id)++;
	cscan->scan.plan.lefttree = plan;
	cscan->scan.scanrelid = 0;
	cscan->methods = &batch_predict_scan_methods;
	cscan->custom_private = batch_spec_to_private(ctx->specs);
	/* each call's model, version and output arguments, evaluated when the node starts */
	foreach(lc, ctx->calls)
	{
		FuncExpr   *f = lfirst(lc);

		cscan->custom_exprs = lappend(cscan->custom_exprs, copyObject(linitial(f->args)));
		cscan->custom_exprs = lappend(cscan->custom_exprs, version_argument(f)
									  ? copyObject(version_argument(f))
									  : (Expr *) makeNullConst(INT4OID, -1, InvalidOid));
		cscan->custom_exprs = lappend(cscan->custom_exprs, output_argument(f)
									  ? copyObject(output_argument(f))
									  : (Expr *) makeNullConst(TEXTOID, -1, InvalidOid));
	}
	/* a rescan that changes their parameters must reach the node */
	cscan->scan.plan.extParam = bms_union(plan->extParam, exec_params(cscan->custom_exprs));
	cscan->scan.plan.allParam = bms_union(plan->allParam, exec_params(cscan->custom_exprs));
	foreach(lc, ctx->child_tlist)
		cscan->custom_scan_tlist = lappend(cscan->custom_scan_tlist,
										   makeTargetEntry((Expr *) outer_column(lfirst(lc)),
														   list_length(cscan->custom_scan_tlist) + 1,
														   NULL, false));
	foreach(lc, ctx->calls)
		cscan->custom_scan_tlist = lappend(cscan->custom_scan_tlist,
										   makeTargetEntry((Expr *) features_as_outer_mutator(lfirst(lc), ctx),
														   list_length(cscan->custom_scan_tlist) + 1,
														   NULL, false));
	plan->targetlist = ctx->child_tlist;
	return (Plan *) cscan;
}

/* Puts a BatchPredict node above a projecting node whose tlist calls predict. */
static Plan *
wrap_node(Plan *plan, int *next_node_id)
{
	SplitContext ctx = {0};
	List	   *tlist;

	ctx.collecting = true;
	ctx.batch_calls = true;
	(void) split_mutator((Node *) plan->targetlist, &ctx);
	ctx.first_prediction = list_length(ctx.child_tlist) + 1;
	ctx.collecting = false;
	tlist = (List *) split_mutator((Node *) plan->targetlist, &ctx);
	return make_batch_node(plan, &ctx, tlist, NIL, next_node_id);
}

/* Position in a qual list of the first qual with a batchable call, or -1. */
static int
first_batchable_qual(List *qual)
{
	ListCell   *lc;

	foreach(lc, qual)
		if (contains_batchable_walker(lfirst(lc), NULL))
			return foreach_current_index(lc);
	return -1;
}

/*
 * Puts a filtering BatchPredict node above a projecting node whose quals
 * call predict.  The quals run in list order and stop at the first false
 * one, so those before the first call stay in the node; that qual's calls
 * are batched over every row that passes them, and it and the quals after
 * it move into the new node, which evaluates them once the batch's
 * predictions are in.  Calls in the later quals and in the target list run
 * per row on the rows that reach them (or, when equal to a batched call,
 * read its prediction); a BatchPredict above batches the target list's.
 */
static Plan *
wrap_qual(Plan *plan, int first, int *next_node_id)
{
	SplitContext ctx = {0};
	Node	   *batched = list_nth(plan->qual, first);
	List	   *later = list_copy_tail(plan->qual, first + 1);
	List	   *qual;
	List	   *tlist;

	ctx.collecting = true;
	ctx.batch_calls = true;
	(void) split_mutator(batched, &ctx);
	ctx.batch_calls = false;
	(void) split_mutator((Node *) later, &ctx);
	(void) split_mutator((Node *) plan->targetlist, &ctx);
	ctx.first_prediction = list_length(ctx.child_tlist) + 1;
	ctx.collecting = false;
	qual = lcons(split_mutator(batched, &ctx), (List *) split_mutator((Node *) later, &ctx));
	tlist = (List *) split_mutator((Node *) plan->targetlist, &ctx);
	plan->qual = list_truncate(plan->qual, first);
	return make_batch_node(plan, &ctx, tlist, qual, next_node_id);
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

/*
 * expression_tree_walker: whether anything but OUTER_VAR Vars, parameters
 * and plain expressions appears (parameters have the same value in the child).
 */
static bool
has_non_outer_var_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varno != OUTER_VAR;
	if (IsA(node, Aggref) || IsA(node, SubPlan))
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
 * Whether a Limit's child projects the rows of a sort (PostgreSQL puts
 * costly expressions there, after the sort): the Limit's bound reaches the
 * sort, which then keeps only the top rows, through a Result but not
 * through BatchPredict.
 */
static bool
projects_sorted_rows(Plan *plan)
{
	return plan != NULL && IsA(plan, Result) && plan->lefttree != NULL &&
		(IsA(plan->lefttree, Sort) || IsA(plan->lefttree, IncrementalSort));
}

/*
 * Rewrites a plan tree bottom-up; stay_per_row marks a node that its parent
 * needs unwrapped: the inner side of a merge join (BatchPredict has no
 * mark/restore) and a projection between a Limit and a sort.
 */
static Plan *
batch_plan(Plan *plan, bool stay_per_row, int *next_node_id)
{
	ListCell   *lc;
	int			first_qual;

	if (plan == NULL)
		return NULL;
	if (IsA(plan, Agg) && plan->lefttree != NULL && is_projecting_node(plan->lefttree) &&
		contains_batchable_walker((Node *) plan->targetlist, NULL))
	{
		PushdownContext ctx = {plan->lefttree, false};

		plan->targetlist = (List *) pushdown_mutator((Node *) plan->targetlist, &ctx);
	}
	plan->lefttree = batch_plan(plan->lefttree,
								IsA(plan, Limit) && projects_sorted_rows(plan->lefttree),
								next_node_id);
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
	if (stay_per_row || !is_projecting_node(plan))
		return plan;
	first_qual = first_batchable_qual(plan->qual);
	if (first_qual >= 0)
		plan = wrap_qual(plan, first_qual, next_node_id);
	if (contains_batchable_walker((Node *) plan->targetlist, NULL))
		plan = wrap_node(plan, next_node_id);
	return plan;
}

/*
 * planner_hook: lock the catalog against DROP EXTENSION, name ROW(...)
 * features, plan as usual, then batch the predict calls.
 */
static PlannedStmt *
batch_planner(Query *parse, const char *query_string, int cursor_options,
			  ParamListInfo bound_params)
{
	PlannedStmt *stmt;
	int			next_node_id;
	ListCell   *lc;

	drop_guard(parse);
	record_names_fill(parse);
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
