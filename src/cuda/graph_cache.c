/*
 * graph_cache.c
 *	  Bucketing of batch sizes and the slots of captured CUDA graphs
 *	  (src/cuda/graph_cache.h).  Plain C: the unit test runs it on the CPU.
 */
#include "graph_cache.h"

/* Empties the cache. */
void
pi_graph_cache_init(PiGraphCache *cache)
{
	for (int s = 0; s < PI_GRAPH_SLOTS; s++)
	{
		cache->slot_key[s] = -1;
		cache->slot_used[s] = 0;
	}
	for (int k = 0; k < PI_GRAPH_KEYS; k++)
	{
		cache->runs[k] = 0;
		cache->no_graph[k] = false;
	}
	cache->clock = 0;
}

/* Rows a run of rows rows is padded to (at most max_batch), and its bucket's key. */
int64_t
pi_graph_bucket(int64_t rows, int64_t max_batch, bool tf32, int *key)
{
	int			exponent = 0;

	while (((int64_t) 1 << exponent) < rows)
		exponent++;
	*key = exponent * 2 + (tf32 ? 1 : 0);
	return ((int64_t) 1 << exponent) < max_batch ? (int64_t) 1 << exponent : max_batch;
}

/* The slot to capture into: an empty one, else the least recently replayed. */
static int
victim_slot(const PiGraphCache *cache)
{
	int			victim = 0;

	for (int s = 0; s < PI_GRAPH_SLOTS; s++)
	{
		if (cache->slot_key[s] < 0)
			return s;
		if (cache->slot_used[s] < cache->slot_used[victim])
			victim = s;
	}
	return victim;
}

/*
 * What the run of key does; *slot is the graph's slot for CAPTURE (which
 * may hold a graph to be replaced) and REPLAY.
 */
PiGraphAction
pi_graph_plan(PiGraphCache *cache, int key, int *slot)
{
	cache->clock++;
	for (int s = 0; s < PI_GRAPH_SLOTS; s++)
		if (cache->slot_key[s] == key)
		{
			cache->slot_used[s] = cache->clock;
			*slot = s;
			return PI_GRAPH_REPLAY;
		}
	*slot = -1;
	if (cache->no_graph[key])
		return PI_GRAPH_EAGER;
	if (cache->runs[key] < PI_GRAPH_CAPTURE_AT)
		cache->runs[key]++;
	if (cache->runs[key] < PI_GRAPH_CAPTURE_AT)
		return PI_GRAPH_EAGER;
	*slot = victim_slot(cache);
	cache->slot_key[*slot] = key;
	cache->slot_used[*slot] = cache->clock;
	return PI_GRAPH_CAPTURE;
}

/* The capture of key into slot failed: the slot is empty, key runs eager from now on. */
void
pi_graph_capture_failed(PiGraphCache *cache, int key, int slot)
{
	cache->slot_key[slot] = -1;
	cache->slot_used[slot] = 0;
	cache->no_graph[key] = true;
}
