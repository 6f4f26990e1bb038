/*
 * toposort.c
 *	  Kahn's algorithm over a list of edges, for the ONNX importer's node
 *	  order and the IR's execution order.
 */
#include "pi_ir.h"

#include <stdlib.h>

/*
 * Orders nodes 0..nnodes-1 so that each comes after the sources of its
 * edges (from[e] -> to[e], a node's edges counted once per use).  Returns how
 * many were ordered into order (nnodes + 1 ints); fewer than nnodes means a
 * cycle, and *stuck is then a node that is on one or waits for one.  -1 when
 * out of memory.
 */
int
pi_topological_order(int nnodes, const int *from, const int *to, int nedges, int *order,
					 int *stuck)
{
	int		   *pending = calloc(nnodes + 1, sizeof(int));
	int		   *start = calloc(nnodes + 2, sizeof(int));
	int		   *fill = calloc(nnodes + 1, sizeof(int));
	int		   *consumers = malloc(sizeof(int) * (nedges + 1));
	int			head = 0,
				tail = 0;

	if (pending == NULL || start == NULL || fill == NULL || consumers == NULL)
	{
		tail = -1;
		goto done;
	}
	/* each source's consumers, as a CSR list */
	for (int e = 0; e < nedges; e++)
	{
		start[from[e] + 1]++;
		pending[to[e]]++;
	}
	for (int i = 0; i < nnodes; i++)
		start[i + 1] += start[i];
	for (int e = 0; e < nedges; e++)
		consumers[start[from[e]] + fill[from[e]]++] = to[e];
	for (int i = 0; i < nnodes; i++)
		if (pending[i] == 0)
			order[tail++] = i;
	while (head < tail)
	{
		int			i = order[head++];

		for (int c = start[i]; c < start[i + 1]; c++)
			if (--pending[consumers[c]] == 0)
				order[tail++] = consumers[c];
	}
	*stuck = -1;
	for (int i = 0; i < nnodes && tail < nnodes; i++)
		if (pending[i] > 0)
		{
			*stuck = i;
			break;
		}
done:
	free(pending);
	free(start);
	free(fill);
	free(consumers);
	return tail;
}
