/*
 * op_tree.c
 *	  TreeEnsemble: a batch of rows through every tree of an ensemble.
 *
 * Layout.  The nodes of all trees are one table of 16-byte records
 * (PiTreeNode: feature, threshold, the two children as node rows), leaves
 * pointing at themselves; what a step does not need (kinds, leaf weights)
 * is in tables beside it.  Shape inference (src/ir/shape_tabular.c) has
 * checked every index, so nothing here checks one.
 *
 * Traversal.  Rows go through the trees a block at a time.  For each tree,
 * every row of the block takes one step per level, for exactly the tree's
 * depth: a row that reached its leaf stays there, so the loop has no
 * data-dependent exit, the rows' walks are independent chains that the CPU
 * overlaps, and the tree's nodes stay in L1 while the block walks them.
 * Ensembles of x <= t nodes only (scikit-learn, LightGBM, and XGBoost's
 * x < t, which the importer turns into x <= t') take a loop with one
 * comparison a step, another with a NaN test where missing values go to
 * the yes child; other kinds (==, set membership) a general loop.
 */
#include <math.h>

#include "pi_engine.h"

/* Rows walked together. */
#define TREE_BLOCK 64

/*
 * One step of a row (x its features) from node i of kind x <= t; with nan,
 * NaN goes to the yes child where the node says so.  Inlined into each
 * walk, so that nan is a constant there.
 */
static inline __attribute__((always_inline)) int32_t
step_leq(const PiTreeNode *nodes, int32_t i, const float *x, bool nan)
{
	const PiTreeNode *nd = &nodes[i];
	float		v;

	if (!nan)
		return x[nd->feature] <= nd->threshold ? nd->yes : nd->no;
	v = x[nd->feature & PI_TREE_FEATURE_MASK];
	return ((v <= nd->threshold) | ((v != v) & (nd->feature >> 30))) ? nd->yes : nd->no;
}

/*
 * Steps a block of nb rows depth times through nodes of kind x <= t only:
 * eight rows at a time, their node indexes in registers.
 */
static inline __attribute__((always_inline)) void
walk_leq_rows(const PiTreeNode *nodes, const float *x, int64_t features, int nb, int depth,
			  int32_t *idx, bool nan)
{
	int			r = 0;

	for (; r + 8 <= nb; r += 8)
	{
		const float *x0 = x + r * features;
		int32_t		i0 = idx[r],
					i1 = idx[r + 1],
					i2 = idx[r + 2],
					i3 = idx[r + 3],
					i4 = idx[r + 4],
					i5 = idx[r + 5],
					i6 = idx[r + 6],
					i7 = idx[r + 7];

		for (int d = 0; d < depth; d++)
		{
			i0 = step_leq(nodes, i0, x0, nan);
			i1 = step_leq(nodes, i1, x0 + features, nan);
			i2 = step_leq(nodes, i2, x0 + 2 * features, nan);
			i3 = step_leq(nodes, i3, x0 + 3 * features, nan);
			i4 = step_leq(nodes, i4, x0 + 4 * features, nan);
			i5 = step_leq(nodes, i5, x0 + 5 * features, nan);
			i6 = step_leq(nodes, i6, x0 + 6 * features, nan);
			i7 = step_leq(nodes, i7, x0 + 7 * features, nan);
		}
		idx[r] = i0;
		idx[r + 1] = i1;
		idx[r + 2] = i2;
		idx[r + 3] = i3;
		idx[r + 4] = i4;
		idx[r + 5] = i5;
		idx[r + 6] = i6;
		idx[r + 7] = i7;
	}
	for (; r < nb; r++)
		for (int d = 0; d < depth; d++)
			idx[r] = step_leq(nodes, idx[r], x + r * features, nan);
}

/* walk_leq_rows where no node sends NaN to its yes child. */
static void
walk_leq(const PiTreeNode *nodes, const float *x, int64_t features, int nb, int depth, int32_t *idx)
{
	walk_leq_rows(nodes, x, features, nb, depth, idx, false);
}

/* walk_leq_rows where some nodes send NaN to their yes child. */
static void
walk_leq_nan(const PiTreeNode *nodes, const float *x, int64_t features, int nb, int depth,
			 int32_t *idx)
{
	walk_leq_rows(nodes, x, features, nb, depth, idx, true);
}

/* Whether v is one of the count values at set. */
static bool
is_member(float v, const float *set, int count)
{
	for (int i = 0; i < count; i++)
		if (set[i] == v)
			return true;
	return false;
}

/* Steps a block through nodes of any kind. */
static void
walk_any(const PiTreeNode *nodes, const PiTreeInfo *info, const float *sets, const float *x,
		 int64_t features, int nb, int depth, int32_t *idx)
{
	for (int d = 0; d < depth; d++)
		for (int r = 0; r < nb; r++)
		{
			const PiTreeNode *nd = &nodes[idx[r]];
			const PiTreeInfo *in = &info[idx[r]];
			float		v = x[r * features + (nd->feature & PI_TREE_FEATURE_MASK)];
			bool		go;

			if (isnan(v))
				go = (nd->feature & PI_TREE_NAN_TRUE) != 0;
			else if (in->kind == PI_TREE_LEQ)
				go = v <= nd->threshold;
			else if (in->kind == PI_TREE_EQ)
				go = v == nd->threshold;
			else if (in->kind == PI_TREE_MEMBER)
				go = is_member(v, sets + in->start, in->count);
			else
				go = true;		/* a leaf: both children are itself */
			idx[r] = go ? nd->yes : nd->no;
		}
}

/*
 * Adds the weights of the leaves the block's rows reached into acc (rows
 * of ntargets): summed, or the smallest or largest kept (has marks the
 * targets a leaf gave a weight).
 */
static void
add_leaves(const PiTreeInfo *info, const PiTreeLeaf *leaves, int aggregate, const int32_t *idx,
		   int nb, int64_t ntargets, float *acc, float *has)
{
	for (int r = 0; r < nb; r++)
	{
		const PiTreeLeaf *w = leaves + info[idx[r]].start;
		int			count = info[idx[r]].count;
		float	   *row = acc + r * ntargets;

		if (aggregate == PI_AGGREGATE_SUM || aggregate == PI_AGGREGATE_AVERAGE)
		{
			for (int j = 0; j < count; j++)
				row[w[j].target] += w[j].weight;
			continue;
		}
		for (int j = 0; j < count; j++)
		{
			int64_t		t = w[j].target;
			bool		first = has[r * ntargets + t] == 0.0f;

			if (first || (aggregate == PI_AGGREGATE_MIN ? w[j].weight < row[t] : w[j].weight > row[t]))
				row[t] = w[j].weight;
			has[r * ntargets + t] = 1.0f;
		}
	}
}

/* Scratch floats a TreeEnsemble needs: MIN and MAX mark which targets have a weight. */
int64_t
pi_tree_ensemble_scratch_elems(const PiModel *model, const PiNode *node)
{
	if (node->attrs.aggregate != PI_AGGREGATE_MIN && node->attrs.aggregate != PI_AGGREGATE_MAX)
		return 0;
	return TREE_BLOCK * model->values[node->inputs[5]].numel;
}

/*
 * TreeEnsemble: X [N, F], nodes, info, trees, leaves, base [K], sets;
 * output [N, K]: each target's aggregated leaf weights plus its base value
 * (a target no leaf gave a weight under MIN or MAX is its base value).
 */
void
pi_kernel_tree_ensemble(const PiKernelArgs *a)
{
	const PiTreeNode *nodes = (const PiTreeNode *) a->in[1];
	const PiTreeInfo *info = (const PiTreeInfo *) a->in[2];
	const PiTreeRoot *trees = (const PiTreeRoot *) a->in[3];
	const PiTreeLeaf *leaves = (const PiTreeLeaf *) a->in[4];
	const float *base = a->in[5];
	const float *sets = a->node->ninputs > 6 ? a->in[6] : NULL;
	int64_t		features = a->in_dims[0][1];
	int64_t		ntrees = a->in_dims[3][0];
	int64_t		ntargets = a->out_dims[1];
	int			aggregate = a->node->attrs.aggregate;
	int			kinds = a->node->attrs.tree_kinds;
	int32_t		idx[TREE_BLOCK];

	for (int64_t r0 = 0; r0 < a->batch; r0 += TREE_BLOCK)
	{
		int			nb = (int) (a->batch - r0 < TREE_BLOCK ? a->batch - r0 : TREE_BLOCK);
		const float *x = a->in[0] + r0 * features;
		float	   *acc = a->out + r0 * ntargets;

		for (int64_t i = 0; i < nb * ntargets; i++)
		{
			acc[i] = 0.0f;
			if (a->scratch != NULL && (aggregate == PI_AGGREGATE_MIN || aggregate == PI_AGGREGATE_MAX))
				a->scratch[i] = 0.0f;
		}
		for (int64_t t = 0; t < ntrees; t++)
		{
			for (int r = 0; r < nb; r++)
				idx[r] = trees[t].root;
			if (kinds & (PI_TREE_HAS_EQ | PI_TREE_HAS_MEMBER))
				walk_any(nodes, info, sets, x, features, nb, trees[t].depth, idx);
			else if (kinds & PI_TREE_HAS_NAN_TRUE)
				walk_leq_nan(nodes, x, features, nb, trees[t].depth, idx);
			else
				walk_leq(nodes, x, features, nb, trees[t].depth, idx);
			add_leaves(info, leaves, aggregate, idx, nb, ntargets, acc, a->scratch);
			pi_check_interrupts();	/* trees may share deep nodes: no bound per tree */
		}
		for (int64_t i = 0; i < nb * ntargets; i++)
		{
			float		v = acc[i];

			if (aggregate == PI_AGGREGATE_AVERAGE)
				v /= (float) ntrees;
			else if ((aggregate == PI_AGGREGATE_MIN || aggregate == PI_AGGREGATE_MAX) &&
					 a->scratch[i] == 0.0f)
				v = 0.0f;
			acc[i] = v + base[i % ntargets];
		}
	}
}
