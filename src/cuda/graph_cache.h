/*
 * graph_cache.h
 *	  Which runs of a device executor replay a CUDA graph (src/cuda/run.c):
 *	  batch sizes are bucketed (powers of two, capped at the executor's
 *	  maximum) and a run is padded to its bucket's rows, so that merged
 *	  requests of many sizes share a few graphs.  A bucket is captured at its
 *	  second run, so a size seen once never takes a slot from a captured
 *	  graph; when every slot holds one, the least recently replayed goes.
 *	  A bucket whose capture failed runs without a graph from then on.
 *
 * Plain C, no CUDA: the caller keeps the graphs, slot by slot, and does
 * what the plan says; the unit test (test/gpu/test_gpu_logic.c) checks it.
 */
#ifndef PI_GRAPH_CACHE_H
#define PI_GRAPH_CACHE_H

#include <stdbool.h>
#include <stdint.h>

/* Captured graphs an executor keeps (more than the buckets of 4096 rows). */
#define PI_GRAPH_SLOTS 16

/* Buckets 2^0 .. 2^31 rows, each with TF32 off and on. */
#define PI_GRAPH_KEYS 64

/* Runs of a bucket before it is captured. */
#define PI_GRAPH_CAPTURE_AT 2

/* What a run does. */
typedef enum PiGraphAction
{
	PI_GRAPH_EAGER,				/* run as enqueued, at its own rows */
	PI_GRAPH_CAPTURE,			/* capture the bucket into the slot, then replay it */
	PI_GRAPH_REPLAY				/* replay the slot's graph */
} PiGraphAction;

typedef struct PiGraphCache
{
	int			slot_key[PI_GRAPH_SLOTS];	/* key of the captured graph, -1: empty */
	uint64_t	slot_used[PI_GRAPH_SLOTS];	/* clock of its last replay */
	uint32_t	runs[PI_GRAPH_KEYS];	/* runs per key, up to PI_GRAPH_CAPTURE_AT */
	bool		no_graph[PI_GRAPH_KEYS];	/* its capture failed: always eager */
	uint64_t	clock;
} PiGraphCache;

/* Empties the cache. */
void		pi_graph_cache_init(PiGraphCache *cache);

/* Rows a run of rows rows is padded to (at most max_batch), and its bucket's key. */
int64_t		pi_graph_bucket(int64_t rows, int64_t max_batch, bool tf32, int *key);

/*
 * What the run of key does; *slot is the graph's slot for CAPTURE (which
 * may hold a graph to be replaced) and REPLAY.
 */
PiGraphAction pi_graph_plan(PiGraphCache *cache, int key, int *slot);

/* The capture of key into slot failed: the slot is empty, key runs eager from now on. */
void		pi_graph_capture_failed(PiGraphCache *cache, int key, int slot);

#endif							/* PI_GRAPH_CACHE_H */
