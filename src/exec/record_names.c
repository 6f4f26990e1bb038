/*
 * record_names.c
 *	  Gives ROW(...) feature records of predict calls the names of the
 *	  columns they are made of, so that an error about a record's field
 *	  names the column ("income"), not the anonymous field ("f2").
 *
 * PostgreSQL names the fields of ROW(a, b) f1, f2.  Before planning, each
 * predict(model, ROW(...)) in the query (and its subqueries) gets the names
 * of the columns it lists; fields that are not plain columns keep fN.  Nothing else reads these
 * names, and the records never leave the call.  No state, no locks.
 */
#include "batch_predict.h"

#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"

/* Range tables of the queries around the current node, innermost first. */
typedef struct NamingContext
{
	List	   *rtables;
} NamingContext;

/* Names the anonymous fields (fN, as the parser made them) of a ROW(...) after their columns. */
static void
name_row(RowExpr *row, NamingContext *ctx)
{
	ListCell   *arg_cell,
			   *name_cell;
	int			i = 0;

	if (row->row_typeid != RECORDOID || list_length(row->colnames) != list_length(row->args))
		return;
	forboth(arg_cell, row->args, name_cell, row->colnames)
	{
		Var		   *var = lfirst(arg_cell);
		char	   *name;
		List	   *rtable;

		i++;
		if (!IsA(var, Var) || var->varattno <= 0 || var->varlevelsup >= list_length(ctx->rtables) ||
			strcmp(strVal(lfirst(name_cell)), psprintf("f%d", i)) != 0)
			continue;
		rtable = list_nth(ctx->rtables, var->varlevelsup);
		if (var->varno < 1 || var->varno > list_length(rtable))
			continue;
		name = get_rte_attribute_name(rt_fetch(var->varno, rtable), var->varattno);
		if (name != NULL && name[0] != '\0')
			lfirst(name_cell) = makeString(pstrdup(name));
	}
}

/* Walks a query tree, naming the records of predict calls. */
static bool
name_walker(Node *node, NamingContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		bool		result;

		ctx->rtables = lcons(((Query *) node)->rtable, ctx->rtables);
		result = query_tree_walker((Query *) node, name_walker, ctx, 0);
		ctx->rtables = list_delete_first(ctx->rtables);
		return result;
	}
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) node;

		if (list_length(f->args) >= 2 && IsA(lsecond(f->args), RowExpr) &&
			batch_predict_kind(f->funcid) != NOT_PREDICT)
			name_row(lsecond(f->args), ctx);
	}
	return expression_tree_walker(node, name_walker, ctx);
}

/* Names the ROW(...) features of every predict call in a query about to be planned. */
void
record_names_fill(Query *parse)
{
	NamingContext ctx = {NIL};

	(void) name_walker((Node *) parse, &ctx);
}
