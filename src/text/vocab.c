/*
 * vocab.c
 *	  The vocabulary: an open-addressing hash table from token to id.
 */
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* FNV-1a over the key's bytes. */
static uint32_t
hash_key(const char *key, size_t len)
{
	uint32_t	h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) key[i]) * 16777619u;
	return h;
}

/* Prepares an empty table with room for capacity keys at half load. */
PiStatus
pi_vocab_init(PiVocab *vocab, int capacity, PiError *err)
{
	uint32_t	slots = 16;

	memset(vocab, 0, sizeof(*vocab));
	if (capacity < 0 || capacity > PI_TEXT_MAX_VOCAB)
		return pi_fail(err, PI_ERR_LIMIT, "vocabulary of %d entries exceeds the limit of %d",
					   capacity, PI_TEXT_MAX_VOCAB);
	while (slots < (uint32_t) capacity * 2)
		slots *= 2;
	vocab->keys = calloc(slots, sizeof(char *));
	vocab->key_lens = calloc(slots, sizeof(uint32_t));
	vocab->ids = calloc(slots, sizeof(int32_t));
	if (vocab->keys == NULL || vocab->key_lens == NULL || vocab->ids == NULL)
	{
		pi_vocab_free(vocab);
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	}
	vocab->slots = slots;
	return PI_OK;
}

/* The slot that holds key, or the empty slot where it would go. */
static uint32_t
find_slot(const PiVocab *vocab, const char *key, size_t len)
{
	uint32_t	mask = vocab->slots - 1;
	uint32_t	slot = hash_key(key, len) & mask;

	while (vocab->keys[slot] != NULL &&
		   (vocab->key_lens[slot] != len || memcmp(vocab->keys[slot], key, len) != 0))
		slot = (slot + 1) & mask;
	return slot;
}

/* Adds key -> id; the table was sized for every key, so it never fills. */
PiStatus
pi_vocab_add(PiVocab *vocab, const char *key, size_t len, int32_t id, PiError *err)
{
	uint32_t	slot;

	if (len > PI_TEXT_MAX_TOKEN_BYTES)
		return pi_fail(err, PI_ERR_LIMIT, "token of %zu bytes exceeds the limit of %d",
					   len, PI_TEXT_MAX_TOKEN_BYTES);
	if ((uint32_t) vocab->count * 2 >= vocab->slots)
		return pi_fail(err, PI_ERR_LIMIT, "vocabulary has more entries than announced");
	slot = find_slot(vocab, key, len);
	if (vocab->keys[slot] != NULL)
		return pi_fail(err, PI_ERR_DUPLICATE, "token \"%.*s\" appears twice in the vocabulary",
					   (int) (len > 40 ? 40 : len), key);
	vocab->keys[slot] = malloc(len + 1);
	if (vocab->keys[slot] == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	memcpy(vocab->keys[slot], key, len);
	vocab->keys[slot][len] = '\0';
	vocab->key_lens[slot] = (uint32_t) len;
	vocab->ids[slot] = id;
	vocab->count++;
	return PI_OK;
}

/* The id of a key, or -1. */
int32_t
pi_vocab_find(const PiVocab *vocab, const char *key, size_t len)
{
	uint32_t	slot;

	if (vocab->slots == 0)
		return -1;
	slot = find_slot(vocab, key, len);
	return vocab->keys[slot] != NULL ? vocab->ids[slot] : -1;
}

/* Frees the table's keys and arrays. */
void
pi_vocab_free(PiVocab *vocab)
{
	if (vocab->keys != NULL)
		for (uint32_t i = 0; i < vocab->slots; i++)
			free(vocab->keys[i]);
	free(vocab->keys);
	free(vocab->key_lens);
	free(vocab->ids);
	memset(vocab, 0, sizeof(*vocab));
}
