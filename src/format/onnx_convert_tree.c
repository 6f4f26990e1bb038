/*
 * onnx_convert_tree.c
 *	  Tree ensembles of ai.onnx.ml: TreeEnsembleClassifier and
 *	  TreeEnsembleRegressor (opsets 1 and 3) and TreeEnsemble (opset 5),
 *	  lowered to one TreeEnsemble IR node (src/engine/op_tree.c) whose flat
 *	  tables are built here, then a PostTransform for the scores and class.
 *
 *	  Every reference of the file is checked with an error that names the
 *	  tree and node (ERROR 22023 in SQL): array lengths, node ids (0 to the
 *	  tree's node count - 1, each once), children inside their tree, modes,
 *	  features inside the input, weights on leaves, class and target ids
 *	  inside their lists, and cycles.
 *
 *	  Comparisons become x <= t, x == t or set membership with the children
 *	  in the right order, exactly for every float32 x: x < t is x <= the
 *	  largest float32 below t, x > t is the false side of x <= t, and a
 *	  double threshold (the *_as_tensor forms) is rounded down to float32,
 *	  which keeps x <= t exact.  Where NaN goes (missing-value tracking, and
 *	  NEQ, which NaN satisfies) is the node's NaN flag.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

/* ONNX node modes, in opset 5's numbering, and LEAF. */
enum
{
	MODE_LEQ, MODE_LT, MODE_GTE, MODE_GT, MODE_EQ, MODE_NEQ, MODE_MEMBER, MODE_LEAF
};

/* Most nodes or leaf weights an ensemble may have. */
#define MAX_ROWS (((int64_t) 1 << 26) - 1)

/* One node as the attributes give it. */
typedef struct InNode
{
	int64_t		tree;			/* tree id (opset 5: unused) */
	int64_t		id;				/* node id in its tree */
	int64_t		feature;
	int64_t		yes;			/* child id when the comparison holds */
	int64_t		no;
	int			mode;
	bool		nan_yes;		/* missing_value_tracks_true */
	double		value;
} InNode;

/* One leaf weight as the attributes give it. */
typedef struct InWeight
{
	int64_t		tree;
	int64_t		id;
	int64_t		target;
	double		weight;
} InWeight;

/* The IR node's tables (include/pi_ir.h, docs/format.md op set 3) while they are built. */
typedef struct Tables
{
	int64_t		nnodes;
	PiTreeNode *nodes;
	PiTreeInfo *info;
	int64_t		ntrees;
	PiTreeRoot *trees;
	int64_t		nleaves;
	PiTreeLeaf *leaves;
	int64_t		nsets;
	float	   *sets;
	int64_t		ntargets;
	float	   *base;
} Tables;

/* Everything one conversion allocates. */
typedef struct TreeWork
{
	InNode	   *in;
	int64_t		nin;
	InWeight   *weights;
	int64_t		nweights;
	int64_t    *order;			/* opset 1/3: node indexes by (tree, id) */
	int64_t    *tree_ids;		/* distinct tree ids, sorted */
	int64_t    *tree_start;		/* row of each tree's node 0 */
	int64_t    *tree_size;
	double	   *values;			/* decoded numeric attributes */
	double	   *weight_values;
	double	   *base_values;
	double	   *member_values;
	int64_t		nbase;
	Tables		t;
} TreeWork;

/* Frees a conversion's allocations. */
static void
work_free(TreeWork *w)
{
	free(w->in);
	free(w->weights);
	free(w->order);
	free(w->tree_ids);
	free(w->tree_start);
	free(w->tree_size);
	free(w->values);
	free(w->weight_values);
	free(w->base_values);
	free(w->member_values);
	free(w->t.nodes);
	free(w->t.info);
	free(w->t.trees);
	free(w->t.leaves);
	free(w->t.sets);
	free(w->t.base);
}

/* Fails with 22023 for the node: a malformed ensemble. */
#define MALFORMED(c, ...) pi_fail((c)->err, PI_ERR_INVALID, __VA_ARGS__)

/* A numeric attribute (floats, or name_as_tensor doubles) as malloc'd doubles; count -1 when absent. */
static PiStatus
attr_doubles(OnnxCv *c, const char *name, double **out, int64_t *count)
{
	char		tensor_name[64];
	const OnnxAttr *a;

	snprintf(tensor_name, sizeof(tensor_name), "%s_as_tensor", name);
	*out = NULL;
	*count = -1;
	if ((a = onnx_attr(c->n, tensor_name)) == NULL || a->t == NULL)
		a = onnx_attr(c->n, name);
	if (a == NULL)
		return PI_OK;
	if (a->t != NULL)
	{
		*count = a->t->numel;
		return onnx_tensor_doubles(a->t, c->im->external, c->im->external_len, out, c->err);
	}
	*count = a->nfloats;
	if ((*out = malloc(sizeof(double) * (a->nfloats + 1))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int i = 0; i < a->nfloats; i++)
		(*out)[i] = a->floats[i];
	return PI_OK;
}

/* An ints attribute that must have count values (when required, or when present). */
static PiStatus
attr_ints_of(OnnxCv *c, const char *name, int64_t count, bool required, const int64_t **values)
{
	int			n = onnx_attr_ints(c->n, name, values);

	if (n < 0 && !required)
		return PI_OK;
	if (n != count)
		return MALFORMED(c, "node \"%s\" (%s) attribute \"%s\" has %d values, expected %lld like the other node arrays",
						 onnx_cv_label(c), c->n->op_type, name, n < 0 ? 0 : n, (long long) count);
	return PI_OK;
}

/* The largest float32 <= v (NaN stays NaN). */
static float
float_at_most(double v)
{
	float		f = (float) v;

	if ((double) f > v)
		f = nextafterf(f, -INFINITY);
	return f;
}

/* The largest float32 < v; NaN when there is none (x < -inf never holds). */
static float
float_below(double v)
{
	float		f = float_at_most(v);

	if (isinf(f) && f < 0)
		return NAN;
	return (double) f == v ? nextafterf(f, -INFINITY) : f;
}

/*
 * Writes a branch node: x <= t, x == t or membership, children in the
 * order that makes the condition hold for the yes child, and where NaN
 * goes: where missing_value_tracks_true says, or to the true child of NEQ
 * (NaN != t holds).
 */
static void
branch_row(const InNode *in, int64_t yes_row, int64_t no_row, PiTreeNode *node, PiTreeInfo *info)
{
	bool		swap = (in->mode == MODE_GT || in->mode == MODE_GTE || in->mode == MODE_NEQ);
	bool		nan_yes = in->mode == MODE_NEQ ? true : in->nan_yes;

	memset(info, 0, sizeof(*info));
	switch (in->mode)
	{
		case MODE_LEQ:
		case MODE_GT:
			node->threshold = float_at_most(in->value);
			info->kind = PI_TREE_LEQ;
			break;
		case MODE_LT:
		case MODE_GTE:
			node->threshold = float_below(in->value);
			info->kind = PI_TREE_LEQ;
			break;
		case MODE_EQ:
		case MODE_NEQ:
			node->threshold = (double) (float) in->value == in->value ? (float) in->value : NAN;
			info->kind = PI_TREE_EQ;
			break;
		default:
			node->threshold = 0.0f;
			info->kind = PI_TREE_MEMBER;
			break;
	}
	node->feature = (int32_t) in->feature | ((nan_yes != swap) ? PI_TREE_NAN_TRUE : 0);
	node->yes = (int32_t) (swap ? no_row : yes_row);
	node->no = (int32_t) (swap ? yes_row : no_row);
}

/* A leaf: itself as both children; its weights are set later. */
static void
leaf_row(int64_t row, PiTreeNode *node, PiTreeInfo *info)
{
	memset(node, 0, sizeof(*node));
	memset(info, 0, sizeof(*info));
	node->yes = node->no = (int32_t) row;
	info->kind = PI_TREE_LEAF;
}

/* The mode of an opset 1/3 mode string, or -1. */
static int
mode_of(const char *s)
{
	static const char *const names[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT",
	"BRANCH_EQ", "BRANCH_NEQ", "BRANCH_MEMBER", "LEAF"};

	for (int i = 0; i < 8; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Reads the nodes_* attributes of opsets 1 and 3 into w->in. */
static PiStatus
read_nodes(OnnxCv *c, TreeWork *w)
{
	const OnnxAttr *modes = onnx_attr(c->n, "nodes_modes");
	const int64_t *trees,
			   *ids,
			   *features,
			   *yes,
			   *no,
			   *missing = NULL;
	int64_t		nvalues;

	w->nin = onnx_attr_ints(c->n, "nodes_treeids", &trees);
	if (w->nin <= 0 || modes == NULL)
		return MALFORMED(c, "node \"%s\" (%s) needs nodes_treeids, nodes_modes and the other node arrays",
						 onnx_cv_label(c), c->n->op_type);
	if (w->nin > MAX_ROWS)
		return pi_fail(c->err, PI_ERR_LIMIT, "node \"%s\" (%s) has %lld tree nodes, the limit is %lld",
					   onnx_cv_label(c), c->n->op_type, (long long) w->nin, (long long) MAX_ROWS);
	TRY(attr_ints_of(c, "nodes_nodeids", w->nin, true, &ids));
	TRY(attr_ints_of(c, "nodes_featureids", w->nin, true, &features));
	TRY(attr_ints_of(c, "nodes_truenodeids", w->nin, true, &yes));
	TRY(attr_ints_of(c, "nodes_falsenodeids", w->nin, true, &no));
	TRY(attr_ints_of(c, "nodes_missing_value_tracks_true", w->nin, false, &missing));
	TRY(attr_doubles(c, "nodes_values", &w->values, &nvalues));
	if (modes->nstrings != w->nin || nvalues != w->nin)
		return MALFORMED(c, "node \"%s\" (%s) has %lld nodes_treeids, %d nodes_modes and %lld nodes_values",
						 onnx_cv_label(c), c->n->op_type, (long long) w->nin, modes->nstrings,
						 (long long) (nvalues < 0 ? 0 : nvalues));
	if ((w->in = calloc(w->nin, sizeof(InNode))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < w->nin; i++)
	{
		InNode	   *in = &w->in[i];

		in->tree = trees[i];
		in->id = ids[i];
		in->feature = features[i];
		in->yes = yes[i];
		in->no = no[i];
		in->value = w->values[i];
		in->nan_yes = missing != NULL && missing[i] != 0;
		if ((in->mode = mode_of(modes->strings[i])) < 0 || in->mode == MODE_MEMBER)
			return MALFORMED(c, "node \"%s\" (%s) node %lld of tree %lld has mode \"%.32s\"",
							 onnx_cv_label(c), c->n->op_type, (long long) in->id, (long long) in->tree,
							 modes->strings[i]);
	}
	return PI_OK;
}

/* Reads the prefix_* leaf weight attributes (target_ or class_) into w->weights. */
static PiStatus
read_weights(OnnxCv *c, const char *prefix, TreeWork *w)
{
	char		name[4][64];
	const int64_t *trees,
			   *ids,
			   *targets;
	int64_t		nvalues;
	int			n;

	snprintf(name[0], sizeof(name[0]), "%s_treeids", prefix);
	snprintf(name[1], sizeof(name[1]), "%s_nodeids", prefix);
	snprintf(name[2], sizeof(name[2]), "%s_ids", prefix);
	snprintf(name[3], sizeof(name[3]), "%s_weights", prefix);
	n = onnx_attr_ints(c->n, name[0], &trees);
	w->nweights = n < 0 ? 0 : n;
	if (w->nweights > MAX_ROWS)
		return pi_fail(c->err, PI_ERR_LIMIT, "node \"%s\" (%s) has %lld leaf weights, the limit is %lld",
					   onnx_cv_label(c), c->n->op_type, (long long) w->nweights, (long long) MAX_ROWS);
	TRY(attr_ints_of(c, name[1], w->nweights, w->nweights > 0, &ids));
	TRY(attr_ints_of(c, name[2], w->nweights, w->nweights > 0, &targets));
	TRY(attr_doubles(c, name[3], &w->weight_values, &nvalues));
	if (nvalues != w->nweights && !(nvalues < 0 && w->nweights == 0))
		return MALFORMED(c, "node \"%s\" (%s) has %lld %s and %lld %s",
						 onnx_cv_label(c), c->n->op_type, (long long) w->nweights, name[0],
						 (long long) (nvalues < 0 ? 0 : nvalues), name[3]);
	if ((w->weights = calloc(w->nweights + 1, sizeof(InWeight))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < w->nweights; i++)
	{
		w->weights[i].tree = trees[i];
		w->weights[i].id = ids[i];
		w->weights[i].target = targets[i];
		w->weights[i].weight = w->weight_values[i];
	}
	return PI_OK;
}

/* The nodes of the conversion, for qsort by (tree, id). */
static const InNode *sort_nodes;

/* qsort comparator of node indexes by (tree, id). */
static int
compare_nodes(const void *a, const void *b)
{
	const InNode *x = &sort_nodes[*(const int64_t *) a];
	const InNode *y = &sort_nodes[*(const int64_t *) b];

	if (x->tree != y->tree)
		return x->tree < y->tree ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* The position of tree id in w->tree_ids, or -1. */
static int64_t
find_tree(const TreeWork *w, int64_t tree)
{
	int64_t		lo = 0,
				hi = w->t.ntrees - 1;

	while (lo <= hi)
	{
		int64_t		mid = lo + (hi - lo) / 2;

		if (w->tree_ids[mid] == tree)
			return mid;
		if (w->tree_ids[mid] < tree)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Orders the nodes by tree and id, and checks that each tree's ids are 0
 * to its node count - 1, each once: a node's row is its tree's start plus
 * its id.
 */
static PiStatus
index_trees(OnnxCv *c, TreeWork *w)
{
	w->order = malloc(sizeof(int64_t) * w->nin);
	w->tree_ids = malloc(sizeof(int64_t) * w->nin);
	w->tree_start = malloc(sizeof(int64_t) * w->nin);
	w->tree_size = calloc(w->nin, sizeof(int64_t));
	if (w->order == NULL || w->tree_ids == NULL || w->tree_start == NULL || w->tree_size == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < w->nin; i++)
		w->order[i] = i;
	sort_nodes = w->in;
	qsort(w->order, w->nin, sizeof(int64_t), compare_nodes);
	w->t.ntrees = 0;
	for (int64_t k = 0; k < w->nin; k++)
	{
		const InNode *in = &w->in[w->order[k]];
		int64_t		t;

		if (k == 0 || in->tree != w->in[w->order[k - 1]].tree)
		{
			w->tree_ids[w->t.ntrees] = in->tree;
			w->tree_start[w->t.ntrees] = k;
			w->t.ntrees++;
		}
		t = w->t.ntrees - 1;
		if (in->id != w->tree_size[t])
			return MALFORMED(c, in->id < w->tree_size[t] ?
							 "node \"%s\" (%s) tree %lld has node id %lld twice" :
							 "node \"%s\" (%s) tree %lld has node id %lld out of range: its node ids must be 0 to its node count - 1",
							 onnx_cv_label(c), c->n->op_type, (long long) in->tree, (long long) in->id);
		w->tree_size[t]++;
	}
	return PI_OK;
}

/* Allocates the node and tree tables for nnodes and ntrees. */
static PiStatus
alloc_tables(OnnxCv *c, Tables *t)
{
	t->nodes = malloc(sizeof(PiTreeNode) * (t->nnodes + 1));
	t->info = malloc(sizeof(PiTreeInfo) * (t->nnodes + 1));
	t->trees = malloc(sizeof(PiTreeRoot) * (t->ntrees + 1));
	if (t->nodes == NULL || t->info == NULL || t->trees == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	return PI_OK;
}

/* Fills the node rows of opsets 1/3: children inside their tree, features inside the input. */
static PiStatus
fill_nodes(OnnxCv *c, TreeWork *w, int64_t features)
{
	w->t.nnodes = w->nin;
	TRY(alloc_tables(c, &w->t));
	for (int64_t row = 0; row < w->nin; row++)
	{
		const InNode *in = &w->in[w->order[row]];
		int64_t		t = find_tree(w, in->tree);
		int64_t		size = w->tree_size[t];

		if (in->mode == MODE_LEAF)
		{
			leaf_row(row, &w->t.nodes[row], &w->t.info[row]);
			continue;
		}
		if (in->yes < 0 || in->yes >= size || in->no < 0 || in->no >= size)
			return MALFORMED(c, "node \"%s\" (%s) node %lld of tree %lld has children %lld and %lld, outside its tree of %lld nodes",
							 onnx_cv_label(c), c->n->op_type, (long long) in->id, (long long) in->tree,
							 (long long) in->yes, (long long) in->no, (long long) size);
		if (in->yes == in->id || in->no == in->id)
			return MALFORMED(c, "node \"%s\" (%s) node %lld of tree %lld is its own child: a cycle",
							 onnx_cv_label(c), c->n->op_type, (long long) in->id, (long long) in->tree);
		if (in->feature < 0 || in->feature >= features)
			return MALFORMED(c, "node \"%s\" (%s) node %lld of tree %lld reads feature %lld, the input has %lld",
							 onnx_cv_label(c), c->n->op_type, (long long) in->id, (long long) in->tree,
							 (long long) in->feature, (long long) features);
		branch_row(in, w->tree_start[t] + in->yes, w->tree_start[t] + in->no,
				   &w->t.nodes[row], &w->t.info[row]);
	}
	for (int64_t t = 0; t < w->t.ntrees; t++)
		w->t.trees[t].root = (int32_t) w->tree_start[t];
	return PI_OK;
}

/*
 * Sets the tree depths: the longest path of branch nodes from each root,
 * walked iteratively; a node met again on its own path is a cycle.
 */
static PiStatus
set_depths(OnnxCv *c, TreeWork *w)
{
	int64_t		n = w->t.nnodes;
	int64_t    *height = malloc(sizeof(int64_t) * (n + 1));
	int64_t    *stack = malloc(sizeof(int64_t) * (n + 1));
	PiStatus	st = PI_OK;

	if (height == NULL || stack == NULL)
		st = pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; st == PI_OK && i < n; i++)
		height[i] = -1;
	for (int64_t start = 0; st == PI_OK && start < n; start++)
	{
		int64_t		top = 0;

		if (height[start] >= 0)
			continue;
		stack[top++] = start;
		height[start] = -2;
		while (top > 0 && st == PI_OK)
		{
			int64_t		i = stack[top - 1];
			int64_t		a = w->t.nodes[i].yes,
						b = w->t.nodes[i].no;

			if (w->t.info[i].kind == PI_TREE_LEAF)
			{
				height[i] = 0;
				top--;
			}
			else if (height[a] == -2 || height[b] == -2)
				st = MALFORMED(c, "node \"%s\" (%s) has a cycle through node %lld of tree %lld",
							   onnx_cv_label(c), c->n->op_type,
							   (long long) (w->order ? w->in[w->order[i]].id : i),
							   (long long) (w->order ? w->in[w->order[i]].tree : 0));
			else if (height[a] == -1 || height[b] == -1)
			{
				int64_t		next = height[a] == -1 ? a : b;

				height[next] = -2;
				stack[top++] = next;
			}
			else
			{
				height[i] = 1 + (height[a] > height[b] ? height[a] : height[b]);
				top--;
			}
		}
	}
	for (int64_t t = 0; st == PI_OK && t < w->t.ntrees; t++)
		w->t.trees[t].depth = (int32_t) height[w->t.trees[t].root];
	free(height);
	free(stack);
	return st;
}

/*
 * Builds the leaves table from w->weights: each weight on a leaf row
 * (row_of gives it, or -1), its target inside ntargets; a leaf's weights
 * are consecutive.
 */
static PiStatus
fill_leaves(OnnxCv *c, TreeWork *w, const int64_t *rows, const char *target_what)
{
	int64_t    *count = calloc(w->t.nnodes + 1, sizeof(int64_t));
	int64_t		at = 0;

	w->t.nleaves = w->nweights;
	w->t.leaves = malloc(sizeof(PiTreeLeaf) * (w->nweights + 1));
	if (count == NULL || w->t.leaves == NULL)
	{
		free(count);
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	}
	for (int64_t k = 0; k < w->nweights; k++)
		count[rows[k]]++;
	for (int64_t r = 0; r < w->t.nnodes; r++)
	{
		if (w->t.info[r].kind != PI_TREE_LEAF)
			continue;
		w->t.info[r].start = (int32_t) at;
		w->t.info[r].count = 0;
		at += count[r];
	}
	free(count);
	for (int64_t k = 0; k < w->nweights; k++)
	{
		PiTreeInfo *info = &w->t.info[rows[k]];
		int64_t		slot = (int64_t) info->start + info->count;

		if (w->weights[k].target < 0 || w->weights[k].target >= w->t.ntargets)
			return MALFORMED(c, "node \"%s\" (%s) leaf weight %lld is for %s %lld, outside 0 to %lld",
							 onnx_cv_label(c), c->n->op_type, (long long) k, target_what,
							 (long long) w->weights[k].target, (long long) w->t.ntargets - 1);
		w->t.leaves[slot].target = (int32_t) w->weights[k].target;
		w->t.leaves[slot].weight = (float) w->weights[k].weight;
		info->count++;
	}
	return PI_OK;
}

/* The rows of the weights of opsets 1/3: each on a leaf of an existing tree. */
static PiStatus
weight_rows(OnnxCv *c, TreeWork *w, int64_t *rows)
{
	for (int64_t k = 0; k < w->nweights; k++)
	{
		const InWeight *iw = &w->weights[k];
		int64_t		t = find_tree(w, iw->tree);

		if (t < 0 || iw->id < 0 || iw->id >= w->tree_size[t])
			return MALFORMED(c, "node \"%s\" (%s) has a weight for node %lld of tree %lld, which does not exist",
							 onnx_cv_label(c), c->n->op_type, (long long) iw->id, (long long) iw->tree);
		rows[k] = w->tree_start[t] + iw->id;
		if (w->t.info[rows[k]].kind != PI_TREE_LEAF)
			return MALFORMED(c, "node \"%s\" (%s) has a weight for node %lld of tree %lld, which is not a leaf",
							 onnx_cv_label(c), c->n->op_type, (long long) iw->id, (long long) iw->tree);
	}
	return PI_OK;
}

/* Emits the TreeEnsemble node over X: output 0 when suffix is NULL, else a step. */
static PiStatus
emit_ensemble(OnnxCv *c, TreeWork *w, int x, const char *aggregate, const char *suffix, int *out)
{
	int			inputs[7];
	int64_t		dims[2];
	int			ninputs = 6;
	PiAttrs		a;

	/* the tables are records of 32-bit fields, passed as the floats they span */
	inputs[0] = x;
	dims[0] = w->t.nnodes;
	dims[1] = 4;
	TRY(onnx_cv_weight(c, "tree_nodes", (const float *) w->t.nodes, 2, dims, &inputs[1]));
	TRY(onnx_cv_weight(c, "tree_info", (const float *) w->t.info, 2, dims, &inputs[2]));
	dims[0] = w->t.ntrees;
	dims[1] = 2;
	TRY(onnx_cv_weight(c, "trees", (const float *) w->t.trees, 2, dims, &inputs[3]));
	dims[0] = w->t.nleaves > 0 ? w->t.nleaves : 1;
	if (w->t.nleaves == 0)
		memset(w->t.leaves, 0, sizeof(PiTreeLeaf));	/* an ensemble without weights */
	TRY(onnx_cv_weight(c, "leaves", (const float *) w->t.leaves, 2, dims, &inputs[4]));
	dims[0] = w->t.ntargets;
	TRY(onnx_cv_weight(c, "base", w->t.base, 1, dims, &inputs[5]));
	if (w->t.nsets > 0)
	{
		dims[0] = w->t.nsets;
		TRY(onnx_cv_weight(c, "sets", w->t.sets, 1, dims, &inputs[6]));
		ninputs = 7;
	}
	/* every node says where NaN goes (missing-value tracking, else the no child) */
	c->im->model->missing_as_nan = true;
	pi_attrs_default(PI_OP_TREE_ENSEMBLE, &a);
	TRY(pi_attr_set_string(PI_OP_TREE_ENSEMBLE, &a, onnx_cv_label(c), "aggregate_function",
						   aggregate, c->err));
	if (suffix == NULL)
	{
		TRY(onnx_cv_finish_output(c, 0, PI_OP_TREE_ENSEMBLE, inputs, ninputs, &a));
		*out = onnx_entry(c->im, c->n->outputs[0])->value;
		return PI_OK;
	}
	return onnx_cv_step(c, suffix, PI_OP_TREE_ENSEMBLE, inputs, ninputs, &a, out);
}

/* Sets w->t.base from w->base_values: none (zeros) or one per target. */
static PiStatus
set_base(OnnxCv *c, TreeWork *w, int64_t from)
{
	if ((w->t.base = calloc(w->t.ntargets, sizeof(float))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t k = 0; k < w->t.ntargets && w->nbase > 0; k++)
		w->t.base[k] = (float) w->base_values[from + k];
	return PI_OK;
}

/* Reads and checks the trees of opsets 1/3 into w's tables (ntargets set). */
static PiStatus
build_tables(OnnxCv *c, TreeWork *w, int64_t features, const char *target_what)
{
	int64_t    *rows;
	PiStatus	st;

	TRY(read_nodes(c, w));
	TRY(read_weights(c, strcmp(target_what, "class") == 0 ? "class" : "target", w));
	TRY(index_trees(c, w));
	TRY(fill_nodes(c, w, features));
	TRY(set_depths(c, w));
	if ((rows = malloc(sizeof(int64_t) * (w->nweights + 1))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	st = weight_rows(c, w, rows);
	if (st == PI_OK)
		st = fill_leaves(c, w, rows, target_what);
	free(rows);
	return st;
}

/*
 * TreeEnsembleRegressor: n_targets sums (or averages, minima, maxima) of
 * the leaves' weights plus base_values, then post_transform.
 */
static PiStatus
convert_regressor(OnnxCv *c, TreeWork *w, int x, int64_t features)
{
	const char *transform = onnx_attr_string(c->n, "post_transform", "NONE");
	int			raw;
	PiAttrs		post;

	w->t.ntargets = onnx_attr_int(c->n, "n_targets", 1);
	if (w->t.ntargets < 1 || w->t.ntargets > 65536)
		return MALFORMED(c, "node \"%s\" (TreeEnsembleRegressor) has n_targets %lld, expected 1 to 65536",
						 onnx_cv_label(c), (long long) w->t.ntargets);
	TRY(build_tables(c, w, features, "target"));
	TRY(attr_doubles(c, "base_values", &w->base_values, &w->nbase));
	if (w->nbase > 0 && w->nbase != w->t.ntargets)
		return MALFORMED(c, "node \"%s\" (TreeEnsembleRegressor) has %lld base_values for %lld targets",
						 onnx_cv_label(c), (long long) w->nbase, (long long) w->t.ntargets);
	TRY(set_base(c, w, 0));
	TRY(emit_ensemble(c, w, x, onnx_attr_string(c->n, "aggregate_function", "SUM"),
					  strcmp(transform, "NONE") == 0 ? NULL : "raw_scores", &raw));
	if (strcmp(transform, "NONE") == 0)
		return PI_OK;
	TRY(onnx_cv_post_transform(c, transform, &post));
	return onnx_cv_finish_output(c, 0, PI_OP_POST_TRANSFORM, &raw, 1, &post);
}

/*
 * TreeEnsembleClassifier: one score per class (base_values added), the
 * class the largest.  With two classes and the weights of one only, one
 * score s, as ONNX Runtime reads it (T: logistic under LOGISTIC): weights
 * of class 0, as scikit-learn's gradient boosting writes them, with
 * base_values[0] added, give [1 - T(s), T(s)] when every weight is
 * positive, else [T(-s), T(s)]; weights of class 1 give [T(0), T(s)] (no
 * base value).  The class is s > 0.5 when every weight is positive, else
 * s > 0.
 */
static PiStatus
convert_classifier(OnnxCv *c, TreeWork *w, int x, int64_t features)
{
	PiStrings  *labels;
	bool		ints;
	bool		one_score = true;
	bool		positive = true;
	int			raw;
	PiAttrs		post;

	TRY(onnx_cv_class_labels(c, "classlabels_int64s", &labels, &ints));
	if (labels->count < 1)
		return MALFORMED(c, "node \"%s\" (TreeEnsembleClassifier) has no class labels", onnx_cv_label(c));
	w->t.ntargets = labels->count;
	TRY(build_tables(c, w, features, "class"));
	for (int64_t k = 0; k < w->nweights; k++)
	{
		one_score &= w->weights[k].target == w->weights[0].target;
		positive &= w->weights[k].weight >= 0;
	}
	one_score &= labels->count == 2 && w->nweights > 0;
	TRY(attr_doubles(c, "base_values", &w->base_values, &w->nbase));
	TRY(onnx_cv_post_transform(c, onnx_attr_string(c->n, "post_transform", "NONE"), &post));
	if (one_score)
	{
		bool		second = w->weights[0].target == 1;

		/* every weight is for one class: one score, of class 1 */
		for (int64_t k = 0; k < w->t.nleaves; k++)
			w->t.leaves[k].target = 0;
		w->t.ntargets = 1;
		if (w->nbase > 1 || post.post_transform > PI_POST_LOGISTIC)
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (TreeEnsembleClassifier) has one score for two classes with %lld base_values and post_transform %s: only one base value and NONE or LOGISTIC are defined",
						   onnx_cv_label(c), (long long) w->nbase,
						   onnx_attr_string(c->n, "post_transform", "NONE"));
		if (second)
			w->nbase = 0;
		TRY(set_base(c, w, 0));
		post.binary = second ? PI_BINARY_SECOND : positive ? PI_BINARY_COMPLEMENT : PI_BINARY_NEGATE;
		post.threshold = positive ? 0.5f : 0.0f;
	}
	else
	{
		if (w->nbase > 0 && w->nbase != labels->count)
			return MALFORMED(c, "node \"%s\" (TreeEnsembleClassifier) has %lld base_values for %d classes",
							 onnx_cv_label(c), (long long) w->nbase, labels->count);
		TRY(set_base(c, w, 0));
	}
	TRY(emit_ensemble(c, w, x, "SUM", "raw_scores", &raw));
	return onnx_cv_classifier_outputs(c, raw, &post, labels, ints);
}

/* TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml opsets 1 and 3). */
PiStatus
onnx_cv_tree_ensemble(OnnxCv *c)
{
	TreeWork	w;
	int			x;
	int64_t		features;
	PiStatus	st;

	memset(&w, 0, sizeof(w));
	st = onnx_cv_rows(c, &x, &features);
	if (st == PI_OK)
		st = strcmp(c->n->op_type, "TreeEnsembleClassifier") == 0 ?
			convert_classifier(c, &w, x, features) : convert_regressor(c, &w, x, features);
	work_free(&w);
	return st;
}

/* Reads opset 5's interior nodes (rows 0..I-1) and leaves (rows I..). */
static PiStatus
read_nodes5(OnnxCv *c, TreeWork *w, int64_t features, int64_t *nmodes_out)
{
	const int64_t *feature_ids,
			   *yes,
			   *yes_leaf,
			   *no,
			   *no_leaf,
			   *missing = NULL,
			   *targets;
	const OnnxAttr *modes_attr = onnx_attr(c->n, "nodes_modes");
	int64_t    *modes = NULL;
	int64_t		nsplits,
				nleaf_weights;
	int			ninterior = onnx_attr_ints(c->n, "nodes_featureids", &feature_ids);
	int			nleaves = onnx_attr_ints(c->n, "leaf_targetids", &targets);
	PiStatus	st;

	if (ninterior <= 0 || nleaves <= 0 || modes_attr == NULL || modes_attr->t == NULL ||
		(int64_t) ninterior + nleaves > MAX_ROWS)
		return MALFORMED(c, "node \"%s\" (TreeEnsemble) needs nodes_featureids, nodes_modes, leaf_targetids and the other arrays, at most %lld nodes",
						 onnx_cv_label(c), (long long) MAX_ROWS);
	TRY(attr_ints_of(c, "nodes_truenodeids", ninterior, true, &yes));
	TRY(attr_ints_of(c, "nodes_trueleafs", ninterior, true, &yes_leaf));
	TRY(attr_ints_of(c, "nodes_falsenodeids", ninterior, true, &no));
	TRY(attr_ints_of(c, "nodes_falseleafs", ninterior, true, &no_leaf));
	TRY(attr_ints_of(c, "nodes_missing_value_tracks_true", ninterior, false, &missing));
	TRY(attr_doubles(c, "nodes_splits", &w->values, &nsplits));
	TRY(attr_doubles(c, "leaf_weights", &w->weight_values, &nleaf_weights));
	TRY(onnx_tensor_ints(modes_attr->t, c->im->external, c->im->external_len, &modes, c->err));
	if (modes_attr->t->numel != ninterior || nsplits != ninterior || nleaf_weights != nleaves)
	{
		free(modes);
		return MALFORMED(c, "node \"%s\" (TreeEnsemble) has %d nodes_featureids, %lld nodes_modes, %lld nodes_splits, %d leaf_targetids and %lld leaf_weights",
						 onnx_cv_label(c), ninterior, (long long) modes_attr->t->numel,
						 (long long) nsplits, nleaves, (long long) nleaf_weights);
	}
	w->t.nnodes = (int64_t) ninterior + nleaves;
	w->nin = ninterior;
	w->nweights = nleaves;
	st = alloc_tables(c, &w->t);
	if (st == PI_OK && (w->in = calloc(ninterior, sizeof(InNode))) == NULL)
		st = pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	if (st == PI_OK && (w->weights = calloc(nleaves, sizeof(InWeight))) == NULL)
		st = pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; st == PI_OK && i < ninterior; i++)
	{
		InNode	   *in = &w->in[i];
		int64_t		yes_row = yes_leaf[i] ? ninterior + yes[i] : yes[i];
		int64_t		no_row = no_leaf[i] ? ninterior + no[i] : no[i];

		in->id = i;
		in->feature = feature_ids[i];
		in->mode = (int) modes[i];
		in->value = w->values[i];
		in->nan_yes = missing != NULL && missing[i] != 0;
		if (modes[i] < MODE_LEQ || modes[i] > MODE_MEMBER)
			st = MALFORMED(c, "node \"%s\" (TreeEnsemble) node %lld has mode %lld, expected 0 to 6",
						   onnx_cv_label(c), (long long) i, (long long) modes[i]);
		else if (yes[i] < 0 || no[i] < 0 || yes[i] >= (yes_leaf[i] ? nleaves : ninterior) ||
				 no[i] >= (no_leaf[i] ? nleaves : ninterior))
			st = MALFORMED(c, "node \"%s\" (TreeEnsemble) node %lld has children %lld and %lld outside the %d nodes and %d leaves",
						   onnx_cv_label(c), (long long) i, (long long) yes[i], (long long) no[i],
						   ninterior, nleaves);
		else if (yes_row == i || no_row == i)
			st = MALFORMED(c, "node \"%s\" (TreeEnsemble) node %lld is its own child: a cycle",
						   onnx_cv_label(c), (long long) i);
		else if (in->feature < 0 || in->feature >= features)
			st = MALFORMED(c, "node \"%s\" (TreeEnsemble) node %lld reads feature %lld, the input has %lld",
						   onnx_cv_label(c), (long long) i, (long long) in->feature, (long long) features);
		else
			branch_row(in, yes_row, no_row, &w->t.nodes[i], &w->t.info[i]);
	}
	for (int64_t j = 0; st == PI_OK && j < nleaves; j++)
	{
		leaf_row(ninterior + j, &w->t.nodes[ninterior + j], &w->t.info[ninterior + j]);
		w->weights[j].target = targets[j];
		w->weights[j].weight = w->weight_values[j];
	}
	free(modes);
	*nmodes_out = ninterior;
	return st;
}

/*
 * Gives opset 5's member nodes their sets: membership_values holds one
 * set per member node, in node order, each ended by a NaN.
 */
static PiStatus
read_sets5(OnnxCv *c, TreeWork *w)
{
	int64_t		count,
				at = 0,
				members = 0;

	TRY(attr_doubles(c, "membership_values", &w->member_values, &count));
	for (int64_t i = 0; i < w->nin; i++)
		members += w->in[i].mode == MODE_MEMBER;
	if (members == 0)
		return PI_OK;
	if (count <= 0 || (w->t.sets = malloc(sizeof(float) * count)) == NULL)
		return count <= 0 ? MALFORMED(c, "node \"%s\" (TreeEnsemble) has member nodes but no membership_values", onnx_cv_label(c)) :
			pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0, k = 0; i < w->nin; i++)
	{
		PiTreeInfo *info = &w->t.info[i];

		if (w->in[i].mode != MODE_MEMBER)
			continue;
		info->start = (int32_t) w->t.nsets;
		for (; k < count && !isnan(w->member_values[k]); k++)
			if ((double) (float) w->member_values[k] == w->member_values[k])
				w->t.sets[w->t.nsets++] = (float) w->member_values[k];
		info->count = (int32_t) w->t.nsets - info->start;
		if (k == count)
			return MALFORMED(c, "node \"%s\" (TreeEnsemble) membership_values has fewer NaN-ended sets than the %lld member nodes",
							 onnx_cv_label(c), (long long) members);
		k++;
		at = k;
	}
	if (at != count)
		return MALFORMED(c, "node \"%s\" (TreeEnsemble) membership_values has more sets than the %lld member nodes",
						 onnx_cv_label(c), (long long) members);
	if (w->t.nsets == 0)
		w->t.sets[w->t.nsets++] = NAN;	/* only values no float32 equals: a weight cannot be empty */
	return PI_OK;
}

/*
 * TreeEnsemble (ai.onnx.ml opset 5): interior nodes and leaves in their
 * own arrays, tree_roots, one weight a leaf, set membership, and integer
 * aggregate_function and post_transform.
 */
PiStatus
onnx_cv_tree_ensemble5(OnnxCv *c)
{
	static const char *const aggregates[] = {"AVERAGE", "SUM", "MIN", "MAX"};
	static const char *const transforms[] = {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"};
	int64_t		aggregate = onnx_attr_int(c->n, "aggregate_function", 1);
	int64_t		transform = onnx_attr_int(c->n, "post_transform", 0);
	const int64_t *roots;
	int			nroots = onnx_attr_ints(c->n, "tree_roots", &roots);
	TreeWork	w;
	int64_t    *rows = NULL;
	int64_t		ninterior = 0,
				features;
	int			x,
				raw;
	PiAttrs		post;
	PiStatus	st;

	memset(&w, 0, sizeof(w));
	w.t.ntargets = onnx_attr_int(c->n, "n_targets", 0);
	if (aggregate < 0 || aggregate > 3 || transform < 0 || transform > 4 || nroots <= 0 ||
		w.t.ntargets < 1 || w.t.ntargets > 65536)
		return MALFORMED(c, "node \"%s\" (TreeEnsemble) has aggregate_function %lld, post_transform %lld, %d tree_roots and n_targets %lld",
						 onnx_cv_label(c), (long long) aggregate, (long long) transform, nroots,
						 (long long) w.t.ntargets);
	w.t.ntrees = nroots;		/* alloc_tables sizes the tree table by it */
	st = onnx_cv_rows(c, &x, &features);
	if (st == PI_OK)
		st = read_nodes5(c, &w, features, &ninterior);
	if (st == PI_OK)
		st = read_sets5(c, &w);
	if (st == PI_OK)
	{
		for (int64_t t = 0; t < nroots && st == PI_OK; t++)
		{
			int64_t		r = roots[t];

			if (r < 0 || r >= ninterior)
				st = MALFORMED(c, "node \"%s\" (TreeEnsemble) tree %lld has root %lld, outside the %lld nodes",
							   onnx_cv_label(c), (long long) t, (long long) r, (long long) ninterior);
			else
				w.t.trees[t].root = (int32_t) r;
		}
	}
	if (st == PI_OK)
		st = set_depths(c, &w);
	if (st == PI_OK && (rows = malloc(sizeof(int64_t) * (w.nweights + 1))) == NULL)
		st = pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int64_t j = 0; st == PI_OK && j < w.nweights; j++)
		rows[j] = ninterior + j;
	if (st == PI_OK)
		st = fill_leaves(c, &w, rows, "target");
	free(rows);
	if (st == PI_OK && (w.t.base = calloc(w.t.ntargets, sizeof(float))) == NULL)
		st = pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	if (st == PI_OK)
		st = emit_ensemble(c, &w, x, aggregates[aggregate], transform == 0 ? NULL : "raw_scores", &raw);
	if (st == PI_OK && transform != 0)
	{
		st = onnx_cv_post_transform(c, transforms[transform], &post);
		if (st == PI_OK)
			st = onnx_cv_finish_output(c, 0, PI_OP_POST_TRANSFORM, &raw, 1, &post);
	}
	work_free(&w);
	return st;
}
