/*
 * op_tree.c
 *	  TreeEnsemble: a batch of rows through every tree of an ensemble.
 *
 * Layout.  The nodes of all trees are one table of PI_TREE_COLUMNS floats
 * a node (feature, threshold, true child, false child, kind, NaN to the
 * true child, payload start, payload count), children as absolute rows and
 * leaves pointing at themselves; shape inference (src/ir/shape_tabular.c)
 * has checked every index, so nothing here checks one.
 *
 * Traversal.  Rows go through the trees a block at a time.  For each tree,
 * every row of the block takes one step per level, for exactly the tree's
 * depth: a row that reached its leaf stays there, so the loop has no
 * data-dependent exit, the rows' walks are independent chains that the CPU
 * overlaps, and the tree's nodes stay in L1 while the block walks them.
 * Ensembles of x <= t nodes only (scikit-learn, LightGBM, and XGBoost's
 * x < t, which the importer turns into x <= t') take a loop with one
 * comparison a step, another with a NaN test where missing values go to
 * the true child; other kinds (==, set membership) a general loop.
 */
#include <math.h>

#include "pi_engine.h"

/* Rows walked together. */
#define TREE_BLOCK 64

/* The node row of index i. */
#define NODE(nodes, i) ((nodes) + (int64_t) PI_TREE_COLUMNS * (i))

/* Steps a block of nb rows depth times through nodes of kind x <= t only. */
static void
walk_leq(const float *nodes, const float *x, int64_t features, int nb, int depth, int32_t *idx)
{
	for (int d = 0; d < depth; d++)
		for (int r = 0; r < nb; r++)
		{
			const float *nd = NODE(nodes, idx[r]);
			float		v = x[r * features + (int32_t) nd[0]];

			idx[r] = (int32_t) (v <= nd[1] ? nd[2] : nd[3]);
		}
}

/* The same where some nodes send NaN to the true child. */
static void
walk_leq_nan(const float *nodes, const float *x, int64_t features, int nb, int depth, int32_t *idx)
{
	for (int d = 0; d < depth; d++)
		for (int r = 0; r < nb; r++)
		{
			const float *nd = NODE(nodes, idx[r]);
			float		v = x[r * features + (int32_t) nd[0]];
			int			go = (v <= nd[1]) | ((v != v) & (nd[5] != 0.0f));

			idx[r] = (int32_t) (go ? nd[2] : nd[3]);
		}
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
walk_any(const float *nodes, const float *sets, const float *x, int64_t features, int nb,
		 int depth, int32_t *idx)
{
	for (int d = 0; d < depth; d++)
		for (int r = 0; r < nb; r++)
		{
			const float *nd = NODE(nodes, idx[r]);
			float		v = x[r * features + (int32_t) nd[0]];
			bool		go;

			if (isnan(v))
				go = nd[5] != 0.0f;
			else if (nd[4] == PI_TREE_LEQ)
				go = v <= nd[1];
			else if (nd[4] == PI_TREE_EQ)
				go = v == nd[1];
			else if (nd[4] == PI_TREE_MEMBER)
				go = is_member(v, sets + (int64_t) nd[6], (int) nd[7]);
			else
				go = true;		/* a leaf: both children are itself */
			idx[r] = (int32_t) (go ? nd[2] : nd[3]);
		}
}

/*
 * Adds the weights of the leaves the block's rows reached into acc (rows
 * of ntargets): summed, or the smallest or largest kept (has marks the
 * targets a leaf gave a weight).
 */
static void
add_leaves(const float *nodes, const float *leaves, int aggregate, const int32_t *idx, int nb,
		   int64_t ntargets, float *acc, float *has)
{
	for (int r = 0; r < nb; r++)
	{
		const float *nd = NODE(nodes, idx[r]);
		const float *w = leaves + 2 * (int64_t) nd[6];
		int			count = (int) nd[7];
		float	   *row = acc + r * ntargets;

		if (aggregate == PI_AGGREGATE_SUM || aggregate == PI_AGGREGATE_AVERAGE)
		{
			for (int j = 0; j < count; j++)
				row[(int64_t) w[2 * j]] += w[2 * j + 1];
			continue;
		}
		for (int j = 0; j < count; j++)
		{
			int64_t		t = (int64_t) w[2 * j];
			float		value = w[2 * j + 1];
			bool		first = has[r * ntargets + t] == 0.0f;

			if (first || (aggregate == PI_AGGREGATE_MIN ? value < row[t] : value > row[t]))
				row[t] = value;
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
	return TREE_BLOCK * model->values[node->inputs[4]].numel;
}

/*
 * TreeEnsemble: X [N, F], nodes, trees [T, 2] (root, depth), leaves
 * [W, 2] (target, weight), base [K], sets; output [N, K]: each target's
 * aggregated leaf weights plus its base value (a target no leaf gave a
 * weight under MIN or MAX is its base value).
 */
void
pi_kernel_tree_ensemble(const PiKernelArgs *a)
{
	const float *nodes = a->in[1];
	const float *trees = a->in[2];
	const float *leaves = a->in[3];
	const float *base = a->in[4];
	const float *sets = a->node->ninputs > 5 ? a->in[5] : NULL;
	int64_t		features = a->in_dims[0][1];
	int64_t		ntrees = a->in_dims[2][0];
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
			int32_t		root = (int32_t) trees[2 * t];
			int			depth = (int) trees[2 * t + 1];

			for (int r = 0; r < nb; r++)
				idx[r] = root;
			if (kinds & (PI_TREE_HAS_EQ | PI_TREE_HAS_MEMBER))
				walk_any(nodes, sets, x, features, nb, depth, idx);
			else if (kinds & PI_TREE_HAS_NAN_TRUE)
				walk_leq_nan(nodes, x, features, nb, depth, idx);
			else
				walk_leq(nodes, x, features, nb, depth, idx);
			add_leaves(nodes, leaves, aggregate, idx, nb, ntargets, acc, a->scratch);
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
		pi_check_interrupts();
	}
}
