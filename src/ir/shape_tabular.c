/*
 * shape_tabular.c
 *	  Shape inference of the tabular ops (op set 3): TreeEnsemble,
 *	  PostTransform, Lookup and Normalize.  TreeEnsemble's tables (records
 *	  of 32-bit fields, include/pi_ir.h) are checked completely here, so
 *	  that its kernel (src/engine/op_tree.c) may follow every index without
 *	  a check: every reference in range, leaves that point at themselves,
 *	  and every tree reaching its leaves in at most its stated depth (which
 *	  rules out cycles).
 */
#include <math.h>
#include <stdlib.h>

#include "pi_engine.h"
#include "pi_ir.h"
#include "shape_internal.h"

/* Returns the status of a failed check at once. */
#define CHECK(expr) do { PiStatus st_ = (expr); if (st_ != PI_OK) return st_; } while (0)

/* Largest table of a tree ensemble. */
#define TREE_MAX_ROWS ((int64_t) 1 << 30)

/* TreeEnsemble's inputs, in order. */
enum
{
	TREE_X, TREE_NODES, TREE_INFO, TREE_TREES, TREE_LEAVES, TREE_BASE, TREE_SETS
};

/*
 * Requires weight input i to be a table of records of fields 32-bit fields
 * ([rows, fields]; a plain list [rows] when fields is 0); returns rows.
 */
static PiStatus
table_rows(const PiModel *m, const PiNode *n, int i, int fields, int64_t *rows, PiError *err)
{
	static const char *const names[] = {"X", "nodes", "info", "trees", "leaves", "base", "sets"};
	const PiValue *v = &m->values[n->inputs[i]];

	CHECK(pi_shape_need_weight(m, n, i, fields ? 2 : 1, err));
	if (fields && v->dims[1] != fields)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) table \"%s\" has %lld columns, expected %d",
					   n->name, names[i], (long long) v->dims[1], fields);
	if (v->dims[0] >= TREE_MAX_ROWS)
		return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (TreeEnsemble) table \"%s\" has %lld rows, the limit is %lld",
					   n->name, names[i], (long long) v->dims[0], (long long) TREE_MAX_ROWS - 1);
	*rows = v->dims[0];
	return PI_OK;
}

/*
 * Checks one node: its kind, its payload inside its table, its feature
 * inside the input (leaves' too: the walk reads it), its children inside
 * the nodes (a leaf's both itself, a branch's not).
 */
static PiStatus
check_tree_node(const PiNode *n, const PiTreeNode *node, const PiTreeInfo *info, int64_t i,
				int64_t nnodes, int64_t features, int64_t nleaves, int64_t nsets, PiError *err)
{
	bool		leaf = info->kind == PI_TREE_LEAF;
	int64_t		payload = leaf ? nleaves : info->kind == PI_TREE_MEMBER ? nsets : 0;
	int64_t		feature = node->feature & PI_TREE_FEATURE_MASK;

	if (info->kind < PI_TREE_LEQ || info->kind > PI_TREE_LEAF || node->feature < 0 ||
		(leaf && (node->feature & PI_TREE_NAN_TRUE)))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) tree node %lld has kind %d and feature field %d",
					   n->name, (long long) i, info->kind, node->feature);
	if (info->start < 0 || info->count < 0 || info->start > payload || info->count > payload - info->start)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) tree node %lld refers to entries %d to %lld of a table of %lld",
					   n->name, (long long) i, info->start, (long long) info->start + info->count,
					   (long long) payload);
	if (feature >= features)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) tree node %lld reads feature %lld, the input has %lld",
					   n->name, (long long) i, (long long) feature, (long long) features);
	if (leaf && (node->yes != i || node->no != i))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) leaf %lld must have itself as both children",
					   n->name, (long long) i);
	if (!leaf && (node->yes < 0 || node->yes >= nnodes || node->no < 0 || node->no >= nnodes ||
				  node->yes == i || node->no == i))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) tree node %lld has children %d and %d, outside the %lld nodes or itself",
					   n->name, (long long) i, node->yes, node->no, (long long) nnodes);
	return PI_OK;
}

/*
 * Heights of the nodes (branch steps to the farthest leaf below), by an
 * iterative depth-first walk from every node; a node met again on the
 * current path is a cycle.  height[] is -1 unvisited, -2 on the path.
 */
static PiStatus
tree_heights(const PiNode *n, const PiTreeNode *nodes, const PiTreeInfo *info, int64_t nnodes,
			 int64_t *height, PiError *err)
{
	int64_t    *stack = malloc(sizeof(int64_t) * (nnodes + 1));

	if (stack == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < nnodes; i++)
		height[i] = -1;
	for (int64_t start = 0; start < nnodes; start++)
	{
		int64_t		top = 0;

		if (height[start] >= 0)
			continue;
		stack[top++] = start;
		height[start] = -2;
		while (top > 0)
		{
			int64_t		i = stack[top - 1];
			int64_t		a = nodes[i].yes,
						b = nodes[i].no;

			if (info[i].kind == PI_TREE_LEAF)
			{
				height[i] = 0;
				top--;
				continue;
			}
			if (height[a] == -2 || height[b] == -2)
			{
				free(stack);
				return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) trees have a cycle through tree node %lld",
							   n->name, (long long) i);
			}
			if (height[a] == -1 || height[b] == -1)
			{
				int64_t		next = height[a] == -1 ? a : b;

				height[next] = -2;
				stack[top++] = next;
				continue;
			}
			height[i] = 1 + (height[a] > height[b] ? height[a] : height[b]);
			top--;
		}
	}
	free(stack);
	return PI_OK;
}

/*
 * TreeEnsemble: X [N, F] and its tables of records (docs/format.md, op
 * set 3); output [N, K] where K is the length of base.  Sets tree_kinds.
 */
static PiStatus
infer_tree_ensemble(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[TREE_X]];
	const PiTreeNode *nodes = (const PiTreeNode *) m->values[n->inputs[TREE_NODES]].data;
	const PiTreeInfo *info = (const PiTreeInfo *) m->values[n->inputs[TREE_INFO]].data;
	const PiTreeRoot *trees = (const PiTreeRoot *) m->values[n->inputs[TREE_TREES]].data;
	const PiTreeLeaf *leaves = (const PiTreeLeaf *) m->values[n->inputs[TREE_LEAVES]].data;
	int64_t		nnodes = 0,
				ninfo = 0,
				ntrees = 0,
				nleaves = 0,
				ntargets = 0,
				nsets = 0;
	int64_t    *height;
	int64_t		dims[2];
	PiStatus	st = PI_OK;

	CHECK(pi_shape_need_activation(m, n, TREE_X, err));
	if (x->rank != 2)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (TreeEnsemble) input must have rank 2 [batch, features], found rank %d",
					   n->name, x->rank);
	CHECK(table_rows(m, n, TREE_NODES, 4, &nnodes, err));
	CHECK(table_rows(m, n, TREE_INFO, 4, &ninfo, err));
	CHECK(table_rows(m, n, TREE_TREES, 2, &ntrees, err));
	CHECK(table_rows(m, n, TREE_LEAVES, 2, &nleaves, err));
	CHECK(table_rows(m, n, TREE_BASE, 0, &ntargets, err));
	if (n->ninputs > TREE_SETS)
		CHECK(table_rows(m, n, TREE_SETS, 0, &nsets, err));
	if (ninfo != nnodes)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) has %lld rows of nodes and %lld of info",
					   n->name, (long long) nnodes, (long long) ninfo);
	n->attrs.tree_kinds = 0;
	for (int64_t i = 0; i < nnodes; i++)
	{
		CHECK(check_tree_node(n, &nodes[i], &info[i], i, nnodes, x->dims[1], nleaves, nsets, err));
		if (info[i].kind != PI_TREE_LEAF)
			n->attrs.tree_kinds |= (1 << info[i].kind) |
				((nodes[i].feature & PI_TREE_NAN_TRUE) ? PI_TREE_HAS_NAN_TRUE : 0);
	}
	for (int64_t i = 0; i < nleaves; i++)
		if (leaves[i].target < 0 || leaves[i].target >= ntargets)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) leaf weight %lld is for target %d, there are %lld",
						   n->name, (long long) i, leaves[i].target, (long long) ntargets);
	if ((height = malloc(sizeof(int64_t) * (nnodes + 1))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	st = tree_heights(n, nodes, info, nnodes, height, err);
	for (int64_t t = 0; st == PI_OK && t < ntrees; t++)
	{
		if (trees[t].root < 0 || trees[t].root >= nnodes || trees[t].depth < 0)
			st = pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) tree %lld has root %d and depth %d, outside the %lld nodes",
						 n->name, (long long) t, trees[t].root, trees[t].depth, (long long) nnodes);
		else if (height[trees[t].root] > trees[t].depth)
			st = pi_fail(err, PI_ERR_INVALID, "node \"%s\" (TreeEnsemble) tree %lld is deeper than its depth %d",
						 n->name, (long long) t, trees[t].depth);
	}
	free(height);
	if (st != PI_OK)
		return st;
	dims[0] = -1;
	dims[1] = ntargets;
	return pi_shape_set_output(m, n, 2, dims, err);
}

/* PostTransform: [N, K] scores to [N, C] (C = 2 for binary forms), plus a label column. */
static PiStatus
infer_post_transform(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];
	int64_t		dims[2];

	CHECK(pi_shape_need_activation(m, n, 0, err));
	if (x->rank != 2)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (PostTransform) input must have rank 2 [batch, scores], found rank %d",
					   n->name, x->rank);
	if (n->attrs.binary != PI_BINARY_NONE &&
		(x->dims[1] != 1 || (n->attrs.post_transform != PI_POST_NONE &&
							 n->attrs.post_transform != PI_POST_LOGISTIC)))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (PostTransform) makes two classes of one score, and needs one score and post_transform NONE or LOGISTIC, found %lld scores",
					   n->name, (long long) x->dims[1]);
	dims[0] = -1;
	dims[1] = (n->attrs.binary != PI_BINARY_NONE ? 2 : x->dims[1]) + (n->attrs.label ? 1 : 0);
	return pi_shape_set_output(m, n, 2, dims, err);
}

/* Lookup: X of any shape, keys [K] sorted (NaN last), values [K]; output like X. */
static PiStatus
infer_lookup(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *keys = &m->values[n->inputs[1]];
	const PiValue *values = &m->values[n->inputs[2]];
	const PiValue *x = &m->values[n->inputs[0]];

	CHECK(pi_shape_need_activation(m, n, 0, err));
	CHECK(pi_shape_need_weight(m, n, 1, 1, err));
	CHECK(pi_shape_need_weight(m, n, 2, 1, err));
	if (keys->numel != values->numel)
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Lookup) has %lld keys and %lld values",
					   n->name, (long long) keys->numel, (long long) values->numel);
	for (int64_t i = 1; i < keys->numel; i++)
		if (!(keys->data[i - 1] < keys->data[i]) && !isnan(keys->data[i]))
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (Lookup) keys must be distinct and sorted, NaN last: key %lld is not",
						   n->name, (long long) i);
	return pi_shape_set_output(m, n, x->rank, x->dims, err);
}

/* Normalize: [N, F], each row by its MAX, L1 or L2 norm. */
static PiStatus
infer_normalize(PiModel *m, PiNode *n, PiError *err)
{
	const PiValue *x = &m->values[n->inputs[0]];

	CHECK(pi_shape_need_activation(m, n, 0, err));
	if (x->rank != 2)
		return pi_fail(err, PI_ERR_SHAPE, "node \"%s\" (Normalize) input must have rank 2 [batch, features], found rank %d",
					   n->name, x->rank);
	return pi_shape_set_output(m, n, x->rank, x->dims, err);
}

/* TreeEnsemble, PostTransform, Lookup, Normalize. */
PiStatus
pi_infer_tabular(PiModel *m, PiNode *n, PiError *err)
{
	switch (n->op)
	{
		case PI_OP_TREE_ENSEMBLE:
			return infer_tree_ensemble(m, n, err);
		case PI_OP_POST_TRANSFORM:
			return infer_post_transform(m, n, err);
		case PI_OP_LOOKUP:
			return infer_lookup(m, n, err);
		default:
			return infer_normalize(m, n, err);
	}
}
