/*
 * batch_scan.c
 *	  The BatchPredict custom scan node: pulls a batch of rows from its
 *	  child, runs one forward pass per prediction column over the batch, then
 *	  returns the rows in their original order with the predictions in place,
 *	  less those that fail the node's quals.
 *
 * Batches grow from 1 row, doubling up to pg_infer.batch_size, so that a
 * LIMIT above the node never makes it compute far more rows than needed.
 * Rows are kept as minimal tuples (without their feature columns) in a
 * memory context reset per batch.  State is private to the executing
 * process; nothing is locked.
 */
#include "batch_predict.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "pg_infer.h"
#include "pi_worker.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"
#include "utils/rel.h"

/* One prediction column during execution. */
typedef struct BatchPrediction
{
	BatchPredictionSpec spec;
	ExprState  *model_arg;		/* the call's model, version and output arguments */
	ExprState  *version_arg;
	ExprState  *output_arg;
	char	   *model;			/* their values since the node (re)started */
	bool		use_version;	/* else the active version */
	int32		version;
	char	   *output_name;	/* NULL: the first output */
	bool		null_argument;	/* every row is NULL, as the function's would be */
	LoadedModel *loaded;		/* resolved for the current batch */
	ModelInputs *named;			/* the model's inputs */
	int			record_by_name; /* a record's inputs by column name: 1, in
								 * order: 0, not known yet: -1 */
	int			ninputs;
	int			output;			/* the output returned */
	int64		input_elems[PI_MAX_MODEL_IO];	/* per row */
	int64		output_elems[PI_MAX_MODEL_IO];	/* outputs 0..output */
	float	   *inputs[PI_MAX_MODEL_IO];	/* capacity rows each */
	float	   *outputs[PI_MAX_MODEL_IO];
	bool	   *isnull;			/* per row: NULL features give NULL */
	text	  **texts;			/* embed(): per row, the text (batch memory) */
} BatchPrediction;

typedef struct BatchPredictState
{
	CustomScanState css;
	int			npredictions;
	BatchPrediction *predictions;
	int			nchild;			/* child output columns */
	bool	   *is_feature;		/* per child column: only a features column */
	MemoryContext batch_cxt;	/* rows and inputs of the current batch */
	MinimalTuple *rows;
	TupleTableSlot *row_slot;	/* reads a stored row back */
	int			capacity;		/* rows the buffers hold */
	int			nrows;
	int			next_row;
	int			next_batch_rows;
	bool		child_done;
	bool		arguments_known;	/* model and version arguments evaluated */
	int64		rows_read;		/* from the child since the scan (re)started */
	/* for EXPLAIN ANALYZE */
	int64		batches;
	int64		rows_predicted;
	instr_time	forward_time;
	EmbedStats	embed_stats;	/* embed() columns' passes and tokens */
} BatchPredictState;

static Node *create_batch_state(CustomScan *cscan);
static void begin_batch(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *exec_batch(CustomScanState *node);
static void end_batch(CustomScanState *node);
static void rescan_batch(CustomScanState *node);
static void explain_batch(CustomScanState *node, List *ancestors, ExplainState *es);

CustomScanMethods batch_predict_scan_methods = {
	BATCH_PREDICT_NAME,
	create_batch_state
};

static CustomExecMethods batch_predict_exec_methods = {
	.CustomName = BATCH_PREDICT_NAME,
	.BeginCustomScan = begin_batch,
	.ExecCustomScan = exec_batch,
	.EndCustomScan = end_batch,
	.ReScanCustomScan = rescan_batch,
	.ExplainCustomScan = explain_batch
};

/* Registers the node's methods by name (parallel workers look them up). */
void
batch_predict_register(void)
{
	RegisterCustomScanMethods(&batch_predict_scan_methods);
}

/* The prediction specs as a List of plain nodes (copyable, serializable). */
List *
batch_spec_to_private(List *specs)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, specs)
	{
		BatchPredictionSpec *s = lfirst(lc);

		result = lappend(result, list_make4(makeInteger(s->feature_column),
											makeInteger(s->kind),
											makeInteger((int) s->features_kind),
											makeInteger(s->version_given ? 1 : 0)));
	}
	return result;
}

/* Inverse of batch_spec_to_private. */
List *
batch_spec_from_private(List *private)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, private)
	{
		List	   *fields = lfirst(lc);
		BatchPredictionSpec *s = palloc0(sizeof(BatchPredictionSpec));

		s->feature_column = intVal(linitial(fields));
		s->kind = intVal(lsecond(fields));
		s->features_kind = (FeaturesKind) intVal(lthird(fields));
		s->version_given = intVal(lfourth(fields)) != 0;
		result = lappend(result, s);
	}
	return result;
}

/* CreateCustomScanState callback. */
static Node *
create_batch_state(CustomScan *cscan)
{
	BatchPredictState *state = palloc0(sizeof(BatchPredictState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &batch_predict_exec_methods;
	return (Node *) state;
}

/* expression_tree_walker: collects the INDEX_VAR columns an expression reads. */
static bool
scan_columns_walker(Node *node, Bitmapset **columns)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varno == INDEX_VAR)
		*columns = bms_add_member(*columns, ((Var *) node)->varattno);
	return expression_tree_walker(node, scan_columns_walker, columns);
}

/* BeginCustomScan: initializes the child and the prediction columns. */
static void
begin_batch(CustomScanState *node, EState *estate, int eflags)
{
	BatchPredictState *state = (BatchPredictState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *specs = batch_spec_from_private(cscan->custom_private);
	PlanState  *child;
	Bitmapset  *read_columns = NULL;
	int			i = 0;
	ListCell   *lc;

	child = ExecInitNode(outerPlan(cscan), estate, eflags);
	outerPlanState(node) = child;
	state->nchild = ExecGetResultType(child)->natts;
	state->is_feature = palloc0(sizeof(bool) * (state->nchild + 1));
	state->npredictions = list_length(specs);
	state->predictions = palloc0(sizeof(BatchPrediction) * state->npredictions);
	foreach(lc, specs)
	{
		BatchPrediction *p = &state->predictions[i];

		p->spec = *(BatchPredictionSpec *) lfirst(lc);
		p->model_arg = ExecInitExpr(list_nth(cscan->custom_exprs, 3 * i), &node->ss.ps);
		p->version_arg = ExecInitExpr(list_nth(cscan->custom_exprs, 3 * i + 1), &node->ss.ps);
		p->output_arg = ExecInitExpr(list_nth(cscan->custom_exprs, 3 * i + 2), &node->ss.ps);
		state->is_feature[p->spec.feature_column - 1] = true;
		i++;
	}
	/* a features column the target list or the quals also read is kept in the rows */
	(void) scan_columns_walker((Node *) cscan->scan.plan.targetlist, &read_columns);
	(void) scan_columns_walker((Node *) cscan->scan.plan.qual, &read_columns);
	for (int c = 0; c < state->nchild; c++)
		if (bms_is_member(c + 1, read_columns))
			state->is_feature[c] = false;
	state->batch_cxt = AllocSetContextCreate(estate->es_query_cxt, "pg_infer batch",
											 ALLOCSET_DEFAULT_SIZES);
	state->row_slot = ExecAllocTableSlot(&estate->es_tupleTable, ExecGetResultType(child),
										 &TTSOpsMinimalTuple);
	state->next_batch_rows = 1;
	INSTR_TIME_SET_ZERO(state->forward_time);
}

/*
 * Evaluates each prediction's model, version and output arguments, once
 * per start or rescan of the node: constants, or parameters of a generic
 * plan.  As the functions do, a NULL model (or a NULL version of the array
 * and record forms, which are strict) makes every row NULL; the jsonb form
 * takes a NULL version or output as the default.
 */
static void
evaluate_arguments(BatchPredictState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	MemoryContext old = MemoryContextSwitchTo(state->css.ss.ps.state->es_query_cxt);

	for (int i = 0; i < state->npredictions; i++)
	{
		BatchPrediction *p = &state->predictions[i];
		bool		jsonb = (p->spec.features_kind == FEATURES_JSONB);
		bool		model_null,
					version_null,
					output_null;
		Datum		model = ExecEvalExprSwitchContext(p->model_arg, econtext, &model_null);
		Datum		version = ExecEvalExprSwitchContext(p->version_arg, econtext, &version_null);
		Datum		output = ExecEvalExprSwitchContext(p->output_arg, econtext, &output_null);

		p->null_argument = model_null || (p->spec.version_given && version_null && !jsonb);
		if (p->model)
			pfree(p->model);
		if (p->output_name)
			pfree(p->output_name);
		p->model = model_null ? pstrdup("") : TextDatumGetCString(model);
		p->use_version = p->spec.version_given && !version_null;
		p->version = p->use_version ? DatumGetInt32(version) : 0;
		p->output_name = output_null ? NULL : TextDatumGetCString(output);
	}
	state->arguments_known = true;
	MemoryContextSwitchTo(old);
}

/*
 * Whether a prediction's buffers fit lm's inputs and outputs: each input's
 * and each used output's values per row.
 */
static bool
buffers_fit(const BatchPrediction *p, const LoadedModel *lm, int output)
{
	const PiModel *m = lm->model;

	if (p->inputs[0] == NULL || p->ninputs != m->ninputs || p->output != output)
		return false;
	for (int i = 0; i < m->ninputs; i++)
		if (p->input_elems[i] != pi_value_row_elems(&m->values[m->inputs[i]]))
			return false;
	for (int o = 0; o <= output; o++)
		if (p->output_elems[o] != pi_value_row_elems(&m->values[m->outputs[o]]))
			return false;
	return true;
}

/* Makes a prediction's buffers hold capacity rows of lm's inputs and outputs 0..output. */
static void
size_buffers(BatchPrediction *p, const LoadedModel *lm, int output, int capacity)
{
	const PiModel *m = lm->model;

	for (int i = 0; i < PI_MAX_MODEL_IO; i++)
	{
		if (p->inputs[i])
			pfree(p->inputs[i]);
		if (p->outputs[i])
			pfree(p->outputs[i]);
		p->inputs[i] = p->outputs[i] = NULL;
	}
	p->ninputs = m->ninputs;
	p->output = output;
	for (int i = 0; i < m->ninputs; i++)
	{
		p->input_elems[i] = pi_value_row_elems(&m->values[m->inputs[i]]);
		p->inputs[i] = palloc_extended(sizeof(float) * capacity * Max(p->input_elems[i], 1), MCXT_ALLOC_HUGE);
	}
	for (int o = 0; o <= output; o++)
	{
		p->output_elems[o] = pi_value_row_elems(&m->values[m->outputs[o]]);
		p->outputs[o] = palloc_extended(sizeof(float) * capacity * Max(p->output_elems[o], 1), MCXT_ALLOC_HUGE);
	}
}

/*
 * Makes an embed() column's buffers hold capacity rows (old_capacity: what
 * they hold): its texts, and its vectors as output 0.
 */
static void
prepare_embedding(BatchPrediction *p, LoadedModel *lm, int capacity, int old_capacity)
{
	int64		hidden = embed_hidden(lm, p->model);

	if (capacity > old_capacity || p->output_elems[0] != hidden || p->texts == NULL)
	{
		if (p->outputs[0])
			pfree(p->outputs[0]);
		if (p->texts)
			pfree(p->texts);
		capacity = Max(capacity, old_capacity);
		p->output_elems[0] = hidden;
		p->outputs[0] = palloc_extended(sizeof(float) * capacity * hidden, MCXT_ALLOC_HUGE);
		p->texts = palloc(sizeof(text *) * capacity);
	}
	p->output = 0;
	p->loaded = lm;
}

/*
 * Resolves each prediction's model for this batch and makes its buffers
 * hold capacity rows.  Buffers live in the query context; they are resized
 * when the batch grows or the model's shapes change.
 */
static void
prepare_predictions(BatchPredictState *state, int capacity)
{
	MemoryContext old = MemoryContextSwitchTo(state->css.ss.ps.state->es_query_cxt);

	for (int i = 0; i < state->npredictions; i++)
	{
		BatchPrediction *p = &state->predictions[i];
		LoadedModel *lm;
		int			output;

		if (p->isnull == NULL || capacity > state->capacity)
		{
			if (p->isnull)
				pfree(p->isnull);
			p->isnull = palloc(sizeof(bool) * capacity);
		}
		if (p->null_argument)
			continue;			/* every row is NULL, like the strict function's */
		lm = model_cache_get(p->model, p->use_version, p->version);
		if (p->spec.kind == PREDICT_EMBED)
		{
			prepare_embedding(p, lm, capacity, state->capacity);
			continue;
		}
		if (lm->model->ninputs != 1 && p->spec.features_kind == FEATURES_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("model \"%s\" has %d inputs, one feature array cannot feed them",
							p->model, lm->model->ninputs),
					 errhint("Pass a record whose columns are named as the inputs, or a jsonb object.")));
		output = p->output_name ? model_output_index(lm->model, p->model, p->output_name) :
			predict_default_output(lm->model, p->spec.kind != PREDICT_VALUES);
		if (capacity > state->capacity || !buffers_fit(p, lm, output))
			size_buffers(p, lm, output, Max(capacity, state->capacity));
		if (p->named == NULL || lm != p->loaded)
		{
			if (p->named)
				pfree(p->named);
			p->named = model_inputs_describe(lm->model);
			p->record_by_name = -1;
		}
		p->loaded = lm;
	}
	if (capacity > state->capacity)
	{
		state->rows = state->rows ? repalloc(state->rows, sizeof(MinimalTuple) * capacity)
			: palloc(sizeof(MinimalTuple) * capacity);
		state->capacity = capacity;
	}
	MemoryContextSwitchTo(old);
}

/* Stores one child row: its features converted, the rest as a minimal tuple. */
static void
store_row(BatchPredictState *state, TupleTableSlot *slot, int r)
{
	Datum	   *values = slot->tts_values;
	bool	   *isnull = palloc(sizeof(bool) * state->nchild);

	slot_getallattrs(slot);
	memcpy(isnull, slot->tts_isnull, sizeof(bool) * state->nchild);
	for (int i = 0; i < state->npredictions; i++)
	{
		BatchPrediction *p = &state->predictions[i];
		int			col = p->spec.feature_column - 1;
		float	   *dsts[PI_MAX_MODEL_IO];

		p->isnull[r] = slot->tts_isnull[col] || p->null_argument;
		if (p->null_argument)
			continue;
		if (p->spec.kind == PREDICT_EMBED)
		{
			p->texts[r] = p->isnull[r] ? NULL : DatumGetTextPCopy(values[col]);
			continue;
		}
		for (int k = 0; k < p->ninputs; k++)
			dsts[k] = p->inputs[k] + (int64) r * p->input_elems[k];
		if (p->isnull[r])
		{
			for (int k = 0; k < p->ninputs; k++)
				memset(dsts[k], 0, sizeof(float) * p->input_elems[k]);
		}
		else if (p->spec.features_kind == FEATURES_JSONB)
			features_from_jsonb(DatumGetJsonbP(values[col]), p->model, p->named, dsts);
		else if (p->spec.features_kind == FEATURES_RECORD)
		{
			HeapTupleHeader rec = DatumGetHeapTupleHeader(values[col]);

			if (p->record_by_name < 0)
				p->record_by_name = record_names_inputs(rec, p->named);
			if (p->record_by_name)
				features_from_named_record(rec, p->model, p->named, dsts);
			else
				features_from_record(rec, p->model, p->named->missing_as_nan, dsts[0],
									 p->input_elems[0]);
		}
		else
			features_from_input_array(DatumGetArrayTypeP(values[col]), p->model, p->named, dsts[0]);
	}
	/* the features are in the input buffers now: do not copy them again */
	for (int c = 0; c < state->nchild; c++)
		if (state->is_feature[c])
			isnull[c] = true;
	state->rows[r] = heap_form_minimal_tuple(slot->tts_tupleDescriptor, values, isnull);
}

/* Runs every prediction's forward pass over the stored rows. */
static void
run_forward_passes(BatchPredictState *state)
{
	instr_time	start,
				end;

	INSTR_TIME_SET_CURRENT(start);
	for (int i = 0; i < state->npredictions; i++)
	{
		BatchPrediction *p = &state->predictions[i];

		/*
		 * Look the model up again: reading the child's rows may have run
		 * other predict calls that freed versions dropped meanwhile.
		 */
		if (p->null_argument)
			continue;
		p->loaded = model_cache_get(p->model, p->use_version, p->version);
		if (p->spec.kind == PREDICT_EMBED)
		{
			if (embed_hidden(p->loaded, p->model) != p->output_elems[0])
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("model \"%s\" changed while the query ran", p->model)));
			embed_texts(p->loaded, p->model, p->texts, state->nrows, p->outputs[0],
						&state->embed_stats);
			continue;
		}
		if (!buffers_fit(p, p->loaded, p->output))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("model \"%s\" changed while the query ran", p->model)));
		model_forward(p->loaded, p->model, state->nrows, (const float *const *) p->inputs,
					  p->output + 1, p->outputs);
	}
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_ACCUM_DIFF(state->forward_time, end, start);
	state->batches++;
	state->rows_predicted += state->nrows;
	progress_rows(state->nrows);
}

/*
 * The table row under the child's current output row, when the child scans
 * a table: its ctid and relation, else false.
 */
static bool
current_table_row(BatchPredictState *state, ItemPointer tid, Relation *rel)
{
	PlanState  *child = outerPlanState(state);
	ScanState  *scan = (ScanState *) child;

	switch (nodeTag(child))
	{
		case T_SeqScanState:
		case T_SampleScanState:
		case T_IndexScanState:
		case T_BitmapHeapScanState:
		case T_TidScanState:
		case T_TidRangeScanState:
			if (scan->ss_currentRelation == NULL || scan->ss_ScanTupleSlot == NULL ||
				TupIsNull(scan->ss_ScanTupleSlot) ||
				!ItemPointerIsValid(&scan->ss_ScanTupleSlot->tts_tid))
				return false;
			*tid = scan->ss_ScanTupleSlot->tts_tid;
			*rel = scan->ss_currentRelation;
			return true;
		default:
			return false;
	}
}

/* errcontext of a failed feature conversion: which row of the scan it was. */
static void
store_row_context(void *arg)
{
	BatchPredictState *state = arg;
	ItemPointerData tid;
	Relation	rel;

	if (current_table_row(state, &tid, &rel))
		errcontext("BatchPredict reading row " INT64_FORMAT " of its input, ctid (%u,%u) of table \"%s\"",
				   state->rows_read, ItemPointerGetBlockNumberNoCheck(&tid),
				   ItemPointerGetOffsetNumberNoCheck(&tid), RelationGetRelationName(rel));
	else
		errcontext("BatchPredict reading row " INT64_FORMAT " of its input", state->rows_read);
}

/* Reads the next batch from the child; false when it has no more rows. */
static bool
fill_batch(BatchPredictState *state)
{
	PlanState  *child = outerPlanState(state);
	int			target = state->next_batch_rows;
	ErrorContextCallback context;
	MemoryContext old;

	state->nrows = 0;
	state->next_row = 0;
	if (state->child_done)
		return false;
	MemoryContextReset(state->batch_cxt);
	if (!state->arguments_known)
	{
		evaluate_arguments(state);
		progress_start(PROGRESS_PREDICT, state->predictions[0].model, "predicting");
	}
	prepare_predictions(state, target);
	while (state->nrows < target)
	{
		/* the child runs in the caller's context: it may allocate for the whole scan */
		TupleTableSlot *slot = ExecProcNode(child);

		if (TupIsNull(slot))
		{
			state->child_done = true;
			break;
		}
		state->rows_read++;
		context.callback = store_row_context;
		context.arg = state;
		context.previous = error_context_stack;
		error_context_stack = &context;
		old = MemoryContextSwitchTo(state->batch_cxt);
		store_row(state, slot, state->nrows++);
		MemoryContextSwitchTo(old);
		error_context_stack = context.previous;
	}
	state->next_batch_rows = Min(target * 2, pg_infer_batch_size);
	if (state->nrows == 0)
		return false;
	run_forward_passes(state);
	return true;
}

/* Puts stored row r with its predictions into the node's scan tuple. */
static void
load_scan_tuple(BatchPredictState *state, int r)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	TupleTableSlot *scan = state->css.ss.ss_ScanTupleSlot;

	ExecClearTuple(scan);
	ExecStoreMinimalTuple(state->rows[r], state->row_slot, false);
	slot_getallattrs(state->row_slot);
	memcpy(scan->tts_values, state->row_slot->tts_values, sizeof(Datum) * state->nchild);
	memcpy(scan->tts_isnull, state->row_slot->tts_isnull, sizeof(bool) * state->nchild);
	for (int i = 0; i < state->npredictions; i++)
	{
		BatchPrediction *p = &state->predictions[i];
		int			col = state->nchild + i;
		int64		elems;
		const float *out;
		MemoryContext old;

		scan->tts_isnull[col] = p->isnull[r];
		scan->tts_values[col] = (Datum) 0;
		if (p->isnull[r])
			continue;
		elems = p->output_elems[p->output];
		out = p->outputs[p->output] + (int64) r * elems;
		old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
		if (p->spec.kind == PREDICT_CLASS)
		{
			int32		cls;

			scan->tts_isnull[col] = !predict_class_of(p->named, p->output, out, elems, &cls);
			if (!scan->tts_isnull[col])
				scan->tts_values[col] = Int32GetDatum(cls);
		}
		else if (p->spec.kind == PREDICT_LABEL)
		{
			text	   *label = predict_label_of(p->named, p->output, out, elems, p->model);

			scan->tts_isnull[col] = (label == NULL);
			scan->tts_values[col] = PointerGetDatum(label);
		}
		else
		{
			int			dims[1] = {(int) elems};

			scan->tts_values[col] = PointerGetDatum(predict_result_array(out, 1, dims));
		}
		MemoryContextSwitchTo(old);
	}
	ExecStoreVirtualTuple(scan);
	econtext->ecxt_scantuple = scan;
}

/* ExecCustomScan: the next row with its predictions that passes the quals. */
static TupleTableSlot *
exec_batch(CustomScanState *node)
{
	BatchPredictState *state = (BatchPredictState *) node;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	ExprState  *qual = node->ss.ps.qual;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (state->next_row >= state->nrows && !fill_batch(state))
			return NULL;
		ResetExprContext(econtext);
		load_scan_tuple(state, state->next_row++);
		if (qual != NULL && !ExecQual(qual, econtext))
		{
			InstrCountFiltered1(node, 1);
			continue;
		}
		if (node->ss.ps.ps_ProjInfo == NULL)
			return node->ss.ss_ScanTupleSlot;
		return ExecProject(node->ss.ps.ps_ProjInfo);
	}
}

/* EndCustomScan */
static void
end_batch(CustomScanState *node)
{
	ExecEndNode(outerPlanState(node));
}

/* ReScanCustomScan: forget the current batch, start the child over. */
static void
rescan_batch(CustomScanState *node)
{
	BatchPredictState *state = (BatchPredictState *) node;
	PlanState  *child = outerPlanState(node);

	state->nrows = 0;
	state->next_row = 0;
	state->child_done = false;
	state->next_batch_rows = 1;
	state->rows_read = 0;
	state->arguments_known = false;	/* a changed parameter may name another model */
	if (child->chgParam == NULL)
		ExecReScan(child);
}

/* A model or version argument for EXPLAIN: its value when constant, else the expression ($1). */
static void
append_argument(StringInfo buf, Node *arg, List *context, bool is_name)
{
	if (IsA(arg, Const) && !((Const *) arg)->constisnull)
	{
		Datum		value = ((Const *) arg)->constvalue;

		if (is_name)
			appendStringInfoString(buf, quote_identifier(TextDatumGetCString(value)));
		else
			appendStringInfo(buf, "%d", DatumGetInt32(value));
	}
	else
		appendStringInfoString(buf, deparse_expression(arg, context, false, false));
}

/*
 * EXPLAIN: models, batch size and device; batches, rows and time when
 * analyzed, and for embed() the forward passes and tokens, real and padded.
 */
static void
explain_batch(CustomScanState *node, List *ancestors, ExplainState *es)
{
	BatchPredictState *state = (BatchPredictState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *context = set_deparse_context_plan(es->deparse_cxt, node->ss.ps.plan, ancestors);
	StringInfoData models;

	initStringInfo(&models);
	for (int i = 0; i < state->npredictions; i++)
	{
		Node	   *version = list_nth(cscan->custom_exprs, 3 * i + 1);
		Node	   *output = list_nth(cscan->custom_exprs, 3 * i + 2);

		appendStringInfoString(&models, i ? ", " : "");
		append_argument(&models, list_nth(cscan->custom_exprs, 3 * i), context, true);
		if (state->predictions[i].spec.version_given &&
			!(IsA(version, Const) && ((Const *) version)->constisnull))
		{
			appendStringInfoString(&models, " version ");
			append_argument(&models, version, context, false);
		}
		if (!(IsA(output, Const) && ((Const *) output)->constisnull))
		{
			appendStringInfoString(&models, " output ");
			append_argument(&models, output, context, true);
		}
	}
	ExplainPropertyText("Models", models.data, es);
	ExplainPropertyInteger("Batch Size", NULL, pg_infer_batch_size, es);
	ExplainPropertyText("Device", worker_device_label(), es);
	if (es->analyze)
	{
		ExplainPropertyInteger("Batches", NULL, state->batches, es);
		ExplainPropertyInteger("Rows Predicted", NULL, state->rows_predicted, es);
		if (state->embed_stats.passes > 0)
		{
			ExplainPropertyInteger("Text Passes", NULL, state->embed_stats.passes, es);
			ExplainPropertyInteger("Text Tokens", NULL, state->embed_stats.tokens, es);
			ExplainPropertyInteger("Padded Tokens", NULL, state->embed_stats.padded_tokens, es);
		}
		if (es->timing)
			ExplainPropertyFloat("Forward Pass Time", "ms",
								 INSTR_TIME_GET_MILLISEC(state->forward_time), 3, es);
	}
}
