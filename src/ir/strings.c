/*
 * strings.c
 *	  Lists of strings of a model: the categories of its string inputs and
 *	  the class labels of its outputs.
 *
 * The engine computes on float32 only, so strings stay at the edges of a
 * model: a string input's rows are the indexes of their categories in the
 * input's list (the SQL layer looks each text up, -1 for a category not
 * listed), and an output with labels holds class indexes whose labels the
 * list gives.  While a model is imported, a list grows as converters name
 * categories (a hash keeps that linear); once complete it is sealed: a
 * sorted index serves lookups by binary search, without allocating.  The
 * lists travel in the model's image (pi_strings_image_*).
 */
#include <stdlib.h>
#include <string.h>

#include "pi_ir.h"

/* An empty list of strings; NULL when out of memory. */
PiStrings *
pi_strings_new(void)
{
	return calloc(1, sizeof(PiStrings));
}

/* Frees a list of strings; NULL is allowed. */
void
pi_strings_free(PiStrings *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->count; i++)
		free(s->items[i]);
	free(s->items);
	free(s->sorted);
	free(s->slots);
	free(s);
}

/* A copy of a list (NULL for NULL, or when out of memory: *ok false). */
PiStrings *
pi_strings_copy(const PiStrings *s, bool *ok)
{
	PiStrings  *c;

	if (s == NULL)
		return NULL;
	if ((c = pi_strings_new()) == NULL)
	{
		*ok = false;
		return NULL;
	}
	c->strict = s->strict;
	for (int i = 0; i < s->count; i++)
		if (pi_strings_add(c, s->items[i]) < 0)
		{
			pi_strings_free(c);
			*ok = false;
			return NULL;
		}
	if (!pi_strings_seal(c))
	{
		pi_strings_free(c);
		*ok = false;
		return NULL;
	}
	return c;
}

/* Rebuilds the hash of items for nslots slots (a power of two). */
static bool
rehash(PiStrings *s, int nslots)
{
	int32_t    *slots = malloc(sizeof(int32_t) * nslots);

	if (slots == NULL)
		return false;
	memset(slots, 0xff, sizeof(int32_t) * nslots);
	for (int i = 0; i < s->count; i++)
	{
		uint32_t	j = pi_name_hash(s->items[i]) & (nslots - 1);

		while (slots[j] >= 0)
			j = (j + 1) & (nslots - 1);
		slots[j] = i;
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	return true;
}

/* The index of str in the list, added at the end if absent; -1 when out of memory. */
int
pi_strings_add(PiStrings *s, const char *str)
{
	uint32_t	j;

	if (s->slots == NULL && !rehash(s, 64))
		return -1;
	j = pi_name_hash(str) & (s->nslots - 1);
	for (; s->slots[j] >= 0; j = (j + 1) & (s->nslots - 1))
		if (strcmp(s->items[s->slots[j]], str) == 0)
			return s->slots[j];
	if (s->count == INT32_MAX / 2)
		return -1;
	if (s->count == s->cap)
	{
		int			cap = s->cap ? s->cap * 2 : 16;
		char	  **items = realloc(s->items, sizeof(char *) * cap);

		if (items == NULL)
			return -1;
		s->items = items;
		s->cap = cap;
	}
	if ((s->items[s->count] = strdup(str)) == NULL)
		return -1;
	s->slots[j] = s->count++;
	free(s->sorted);
	s->sorted = NULL;
	if (s->count * 2 > s->nslots && !rehash(s, s->nslots * 2))
		return -1;
	return s->count - 1;
}

/* Compares a NUL-terminated item with str of len bytes, as strcmp orders them. */
static int
compare_item(const char *item, const char *str, size_t len)
{
	size_t		item_len = strlen(item);
	int			c = memcmp(item, str, item_len < len ? item_len : len);

	if (c != 0)
		return c;
	return (item_len > len) - (item_len < len);
}

/* The index of str (len bytes, not NUL-terminated) in a sorted list, or -1. */
int
pi_strings_find(const PiStrings *s, const char *str, size_t len)
{
	int			lo = 0,
				hi = s->count - 1;

	if (s->sorted == NULL)
		return -1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = compare_item(s->items[s->sorted[mid]], str, len);

		if (c == 0)
			return s->sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* An item and its index, for sorting. */
typedef struct SortEntry
{
	const char *item;
	int32_t		index;
} SortEntry;

/* qsort comparator of items. */
static int
compare_entries(const void *a, const void *b)
{
	return strcmp(((const SortEntry *) a)->item, ((const SortEntry *) b)->item);
}

/* Sorts the lookup index of a list that is complete; false when out of memory. */
bool
pi_strings_seal(PiStrings *s)
{
	SortEntry  *entries = malloc(sizeof(SortEntry) * (s->count + 1));

	free(s->sorted);
	s->sorted = malloc(sizeof(int32_t) * (s->count + 1));
	if (entries == NULL || s->sorted == NULL)
	{
		free(entries);
		return false;
	}
	for (int i = 0; i < s->count; i++)
	{
		entries[i].item = s->items[i];
		entries[i].index = i;
	}
	qsort(entries, s->count, sizeof(SortEntry), compare_entries);
	for (int i = 0; i < s->count; i++)
		s->sorted[i] = entries[i].index;
	free(entries);
	free(s->slots);
	s->slots = NULL;
	s->nslots = 0;
	return true;
}

/* The first output that is not a class label (output 0 when every one is). */
int
pi_model_scores_output(const PiModel *m)
{
	for (int o = 0; o < m->noutputs; o++)
		if (m->output_labels[o] == NULL)
			return o;
	return 0;
}

/* The first output that holds class labels, or -1. */
int
pi_model_label_output(const PiModel *m)
{
	for (int o = 0; o < m->noutputs; o++)
		if (m->output_labels[o] != NULL)
			return o;
	return -1;
}

/*
 * The image section: int32 missing_as_nan, then for each of the 16 input
 * and 16 output slots an int32 count (-1: no list) and an int32 strict;
 * then for each list its sorted index (count int32) and its items, each
 * NUL-terminated, in order.
 */
#define SLOTS (2 * PI_MAX_MODEL_IO)

/* The list of slot i: inputs first, then outputs. */
static const PiStrings *
slot_list(const PiModel *m, int i)
{
	return i < PI_MAX_MODEL_IO ? m->input_strings[i] : m->output_labels[i - PI_MAX_MODEL_IO];
}

/* Bytes the strings of a model take in its image. */
int64_t
pi_strings_image_size(const PiModel *m)
{
	int64_t		bytes = sizeof(int32_t) * (1 + 2 * SLOTS);

	for (int i = 0; i < SLOTS; i++)
	{
		const PiStrings *s = slot_list(m, i);

		if (s == NULL)
			continue;
		bytes += sizeof(int32_t) * (int64_t) s->count;
		for (int k = 0; k < s->count; k++)
			bytes += strlen(s->items[k]) + 1;
	}
	return bytes;
}

/* Writes the strings of a model at dst (pi_strings_image_size bytes). */
void
pi_strings_image_write(const PiModel *m, uint8_t *dst)
{
	int32_t		head[1 + 2 * SLOTS];

	head[0] = m->missing_as_nan ? 1 : 0;
	for (int i = 0; i < SLOTS; i++)
	{
		const PiStrings *s = slot_list(m, i);

		head[1 + 2 * i] = s ? s->count : -1;
		head[2 + 2 * i] = s ? s->strict : 0;
	}
	memcpy(dst, head, sizeof(head));
	dst += sizeof(head);
	for (int i = 0; i < SLOTS; i++)
	{
		const PiStrings *s = slot_list(m, i);

		if (s == NULL)
			continue;
		memcpy(dst, s->sorted, sizeof(int32_t) * s->count);
		dst += sizeof(int32_t) * s->count;
		for (int k = 0; k < s->count; k++)
		{
			size_t		len = strlen(s->items[k]) + 1;

			memcpy(dst, s->items[k], len);
			dst += len;
		}
	}
}

/* Reads one list of count items at *p (before end); NULL when damaged or out of memory. */
static PiStrings *
read_list(const uint8_t **p, const uint8_t *end, int32_t count, bool strict)
{
	PiStrings  *s = pi_strings_new();

	if (s == NULL || count < 0 || (end - *p) / (int64_t) sizeof(int32_t) < count ||
		(s->items = calloc(count + 1, sizeof(char *))) == NULL ||
		(s->sorted = malloc(sizeof(int32_t) * (count + 1))) == NULL)
		goto damaged;
	s->strict = strict;
	s->cap = count + 1;
	memcpy(s->sorted, *p, sizeof(int32_t) * count);
	*p += sizeof(int32_t) * count;
	for (int k = 0; k < count; k++)
	{
		const uint8_t *nul = memchr(*p, '\0', end - *p);

		if (nul == NULL || s->sorted[k] < 0 || s->sorted[k] >= count ||
			(s->items[k] = strdup((const char *) *p)) == NULL)
			goto damaged;
		s->count = k + 1;
		*p = nul + 1;
	}
	return s;

damaged:
	pi_strings_free(s);
	return NULL;
}

/* Reads a model's strings from an image's section; false when damaged. */
bool
pi_strings_image_read(PiModel *m, const uint8_t *src, int64_t len)
{
	int32_t		head[1 + 2 * SLOTS];
	const uint8_t *p = src + sizeof(head);
	const uint8_t *end = src + len;

	if (len < (int64_t) sizeof(head))
		return false;
	memcpy(head, src, sizeof(head));
	m->missing_as_nan = head[0] != 0;
	for (int i = 0; i < SLOTS; i++)
	{
		PiStrings  *s;

		if (head[1 + 2 * i] < 0)
			continue;
		if ((s = read_list(&p, end, head[1 + 2 * i], head[2 + 2 * i] != 0)) == NULL)
			return false;
		if (i < PI_MAX_MODEL_IO)
			m->input_strings[i] = s;
		else
			m->output_labels[i - PI_MAX_MODEL_IO] = s;
	}
	return true;
}
