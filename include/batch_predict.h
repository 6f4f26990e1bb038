/*
 * batch_predict.h
 *	  The batching layer: a planner hook that finds predict() and
 *	  predict_class() calls in plan target lists and quals, and a custom
 *	  scan node, BatchPredict, that evaluates them one forward pass per batch
 *	  of rows.
 *
 * Plan shape.  For a projecting node N (a scan, a join, or a Result over a
 * child) whose target list calls predict(model, features):
 *
 *     BatchPredict            tlist: N's original tlist, reading INDEX_VAR
 *       N                     tlist: the Vars that tlist needs, then the
 *                                    feature expressions
 *
 * BatchPredict's scan tuple (custom_scan_tlist) is N's new output followed by
 * one column per prediction.  When N's quals call predict, the quals from
 * the first such one on move into a BatchPredict of the same shape between
 * N and the one above (if any), which evaluates them on its scan tuple.
 * predict() calls inside the arguments of an aggregate are first moved into
 * the target list of the aggregate's child.
 * Nothing here is shared between processes; parallel workers rebuild the
 * node from the serialized plan (the methods are registered by name).
 */
#ifndef BATCH_PREDICT_H
#define BATCH_PREDICT_H

#include "postgres.h"

#include "nodes/extensible.h"
#include "nodes/plannodes.h"

#define BATCH_PREDICT_NAME "BatchPredict"

/* GUCs */
extern bool pg_infer_batching;
extern int	pg_infer_batch_size;

/* How a call gives its features. */
typedef enum FeaturesKind
{
	FEATURES_ARRAY,				/* one numeric array, for a one-input model */
	FEATURES_RECORD,			/* numeric columns in order (one input), or
								 * columns named as the inputs */
	FEATURES_JSONB,				/* an object of named inputs (with an output) */
	FEATURES_TEXT				/* embed()'s text */
} FeaturesKind;

/*
 * One prediction column, as carried in CustomScan.custom_private.  Its
 * model, version and output arguments are the spec's three expressions in
 * custom_exprs: constants, or expressions of parameters (a prepared
 * statement's generic plan), evaluated when the node starts or rescans.
 */
typedef struct BatchPredictionSpec
{
	int			feature_column; /* attno in the child's output */
	int			kind;			/* PredictKind of the call */
	FeaturesKind features_kind;
	bool		version_given;	/* the call has a version argument */
} BatchPredictionSpec;

extern List *batch_spec_to_private(List *specs);
extern List *batch_spec_from_private(List *private);

/* src/exec/batch_scan.c */
extern CustomScanMethods batch_predict_scan_methods;
extern void batch_predict_register(void);

/* src/exec/batch_planner.c */
typedef enum PredictKind
{
	NOT_PREDICT,
	PREDICT_VALUES,
	PREDICT_CLASS,
	PREDICT_LABEL,
	PREDICT_EMBED				/* embed(model, text): a text model's vector */
} PredictKind;

extern PredictKind batch_predict_kind(Oid proc);
extern void batch_planner_init(void);

/* src/exec/drop_guard.c */
extern void drop_guard(Query *parse);

/* src/exec/record_names.c */
extern void record_names_fill(Query *parse);

#endif							/* BATCH_PREDICT_H */
