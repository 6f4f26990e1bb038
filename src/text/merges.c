/*
 * merges.c
 *	  The BPE merge table: an open-addressing hash table from a pair of
 *	  token ids to the merge's rank and the id of the token it makes.
 */
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* The table's key for a pair of ids. */
static uint64_t
pair_key(int32_t left, int32_t right)
{
	return ((uint64_t) (uint32_t) left << 32) | (uint32_t) right;
}

/* A 64-bit mix of the key (splitmix64's finalizer). */
static uint32_t
hash_pair(uint64_t key)
{
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebULL;
	key ^= key >> 31;
	return (uint32_t) key;
}

/* Prepares an empty table with room for capacity merges at half load. */
PiStatus
pi_merges_init(PiMerges *merges, int capacity, PiError *err)
{
	uint32_t	slots = 16;

	memset(merges, 0, sizeof(*merges));
	if (capacity < 0 || capacity > PI_TEXT_MAX_VOCAB)
		return pi_fail(err, PI_ERR_LIMIT, "%d merges exceed the limit of %d",
					   capacity, PI_TEXT_MAX_VOCAB);
	while (slots < (uint32_t) capacity * 2)
		slots *= 2;
	merges->pairs = malloc(sizeof(uint64_t) * slots);
	merges->ranks = calloc(slots, sizeof(uint32_t));
	merges->ids = calloc(slots, sizeof(int32_t));
	if (merges->pairs == NULL || merges->ranks == NULL || merges->ids == NULL)
	{
		pi_merges_free(merges);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	memset(merges->pairs, 0xff, sizeof(uint64_t) * slots);
	merges->slots = slots;
	return PI_OK;
}

/* The slot that holds key, or the empty slot where it would go. */
static uint32_t
find_slot(const PiMerges *merges, uint64_t key)
{
	uint32_t	mask = merges->slots - 1;
	uint32_t	slot = hash_pair(key) & mask;

	while (merges->pairs[slot] != UINT64_MAX && merges->pairs[slot] != key)
		slot = (slot + 1) & mask;
	return slot;
}

/* Sets the merge of (left, right); the table was sized for every merge, so it never fills. */
void
pi_merges_set(PiMerges *merges, int32_t left, int32_t right, uint32_t rank, int32_t id)
{
	uint64_t	key = pair_key(left, right);
	uint32_t	slot = find_slot(merges, key);

	if (merges->pairs[slot] == UINT64_MAX)
		merges->count++;
	merges->pairs[slot] = key;
	merges->ranks[slot] = rank;
	merges->ids[slot] = id;
}

/* The merge of (left, right), if there is one. */
bool
pi_merges_find(const PiMerges *merges, int32_t left, int32_t right, uint32_t *rank,
			   int32_t *id)
{
	uint32_t	slot;

	if (merges->slots == 0)
		return false;
	slot = find_slot(merges, pair_key(left, right));
	if (merges->pairs[slot] == UINT64_MAX)
		return false;
	*rank = merges->ranks[slot];
	*id = merges->ids[slot];
	return true;
}

/* Frees the table's arrays. */
void
pi_merges_free(PiMerges *merges)
{
	free(merges->pairs);
	free(merges->ranks);
	free(merges->ids);
	memset(merges, 0, sizeof(*merges));
}
