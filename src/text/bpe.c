/*
 * bpe.c
 *	  The BPE model: each piece starts as one token per character (with the
 *	  continuing-subword prefix and end-of-word suffix where they apply, byte
 *	  tokens "<0xNN>" or the unknown token for characters outside the
 *	  vocabulary), then adjacent pairs merge, the lowest rank first (the
 *	  leftmost among equal ranks), through a binary heap of candidate merges:
 *	  O(n log n) in the piece's length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_internal.h"

/* One token of a piece being merged; id -1 once merged into its left neighbour. */
typedef struct Symbol
{
	int32_t		id;
	int			prev;			/* -1 at the start */
	int			next;			/* -1 at the end */
} Symbol;

/* A candidate merge of the symbol at pos with its right neighbour. */
typedef struct Candidate
{
	uint32_t	rank;
	int			pos;
	int32_t		id;
} Candidate;

/* The scratch space of one encoding, reused from piece to piece. */
typedef struct BpeWork
{
	const PiTokenizer *tok;
	PiTokenIds *out;
	Symbol	   *symbols;
	int			nsymbols;
	size_t		symbol_cap;
	Candidate  *heap;
	int			nheap;
	size_t		heap_cap;
} BpeWork;

/* Whether candidate a merges before b: lower rank, then further left. */
static bool
merges_first(const Candidate *a, const Candidate *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

/* Pushes a candidate onto the heap (its room was reserved). */
static void
heap_push(BpeWork *w, Candidate c)
{
	int			i = w->nheap++;

	while (i > 0 && merges_first(&c, &w->heap[(i - 1) / 2]))
	{
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = c;
}

/* Pops the candidate that merges first. */
static Candidate
heap_pop(BpeWork *w)
{
	Candidate	top = w->heap[0];
	Candidate	last = w->heap[--w->nheap];
	int			i = 0;

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= w->nheap)
			break;
		if (child + 1 < w->nheap && merges_first(&w->heap[child + 1], &w->heap[child]))
			child++;
		if (!merges_first(&w->heap[child], &last))
			break;
		w->heap[i] = w->heap[child];
		i = child;
	}
	if (w->nheap > 0)
		w->heap[i] = last;
	return top;
}

/* Grows an array to hold at least need elements of size bytes. */
static PiStatus
reserve(void **array, size_t *cap, size_t need, size_t size, PiError *err)
{
	void	   *grown;

	if (need <= *cap)
		return PI_OK;
	if (need > (size_t) INT32_MAX / 4)
		return pi_fail(err, PI_ERR_LIMIT, "a piece of the text is too long (%zu tokens)", need);
	grown = realloc(*array, need * size);
	if (grown == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	*array = grown;
	*cap = need;
	return PI_OK;
}

/* Appends a symbol (room reserved) linked after the previous one. */
static void
add_symbol(BpeWork *w, int32_t id)
{
	int			i = w->nsymbols++;

	w->symbols[i].id = id;
	w->symbols[i].prev = i - 1;
	w->symbols[i].next = -1;
	if (i > 0)
		w->symbols[i - 1].next = i;
}

/* Adds the byte tokens "<0xNN>" of s[0..len-1]; false (nothing added) when one is missing. */
static bool
add_byte_tokens(BpeWork *w, const char *s, size_t len)
{
	int32_t		ids[64];

	for (size_t k = 0; k < len; k++)
	{
		char		name[8];

		snprintf(name, sizeof(name), "<0x%02X>", (unsigned char) s[k]);
		if ((ids[k] = pi_vocab_find(&w->tok->vocab, name, 6)) < 0)
			return false;
	}
	for (size_t k = 0; k < len; k++)
		add_symbol(w, ids[k]);
	return true;
}

/* Builds the piece's first symbols: one per character, or its bytes, or the unknown token. */
static void
initial_symbols(BpeWork *w, const uint32_t *piece, int n)
{
	const PiTokenizer *tok = w->tok;
	bool		unk_pending = false;

	w->nsymbols = 0;
	for (int i = 0; i < n; i++)
	{
		char		s[sizeof(tok->prefix) + 4 + sizeof(tok->suffix)];
		size_t		len = 0;
		int32_t		id;

		if (i > 0)
		{
			memcpy(s, tok->prefix, tok->prefix_len);
			len = tok->prefix_len;
		}
		len += (size_t) pi_utf8_encode(piece[i], s + len);
		if (i == n - 1)
		{
			memcpy(s + len, tok->suffix, tok->suffix_len);
			len += tok->suffix_len;
		}
		if ((id = pi_vocab_find(&tok->vocab, s, len)) >= 0)
		{
			if (unk_pending)
				add_symbol(w, tok->unk_id);
			unk_pending = false;
			add_symbol(w, id);
			continue;
		}
		if (tok->byte_fallback && add_byte_tokens(w, s, len))
			continue;
		if (tok->unk_id < 0)
			continue;
		if (unk_pending && !tok->fuse_unk)
			add_symbol(w, tok->unk_id);
		unk_pending = true;
	}
	if (unk_pending)
		add_symbol(w, tok->unk_id);
}

/* Queues the merge of the symbol at pos with its right neighbour, if there is one. */
static void
queue_merge(BpeWork *w, int pos)
{
	Candidate	c = {0, pos, 0};
	int			next = w->symbols[pos].next;

	if (next >= 0 && pi_merges_find(&w->tok->merges, w->symbols[pos].id,
									w->symbols[next].id, &c.rank, &c.id))
		heap_push(w, c);
}

/* Applies merges, lowest rank first, until none applies. */
static void
merge_all(BpeWork *w)
{
	w->nheap = 0;
	for (int i = 0; i + 1 < w->nsymbols; i++)
		queue_merge(w, i);
	while (w->nheap > 0)
	{
		Candidate	top = heap_pop(w);
		Symbol	   *left = &w->symbols[top.pos];
		uint32_t	rank;
		int32_t		id;
		int			right;

		/* stale: merged away, now last, or the pair has changed since */
		if (left->id < 0 || (right = left->next) < 0 ||
			!pi_merges_find(&w->tok->merges, left->id, w->symbols[right].id, &rank, &id) ||
			id != top.id)
			continue;
		left->id = top.id;
		left->next = w->symbols[right].next;
		if (left->next >= 0)
			w->symbols[left->next].prev = top.pos;
		w->symbols[right].id = -1;
		if (left->prev >= 0)
			queue_merge(w, left->prev);
		queue_merge(w, top.pos);
	}
}

/* Encodes one piece (byte-level characters) and appends its ids. */
static PiStatus
encode_piece(const uint32_t *piece, int n, void *arg, PiError *err)
{
	BpeWork    *w = arg;
	const PiTokenizer *tok = w->tok;
	size_t		per_char = 4 + tok->prefix_len + tok->suffix_len;
	PiStatus	st = PI_OK;

	if (n == 0)
		return PI_OK;
	if (tok->ignore_merges)
	{
		char	   *whole = malloc((size_t) n * 4);
		size_t		len = 0;
		int32_t		id;

		if (whole == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		for (int i = 0; i < n; i++)
			len += (size_t) pi_utf8_encode(piece[i], whole + len);
		id = len <= PI_TEXT_MAX_TOKEN_BYTES ? pi_vocab_find(&tok->vocab, whole, len) : -1;
		free(whole);
		if (id >= 0)
			return pi_token_ids_push(w->out, id, err);
	}
	/* a character gives one symbol, or with byte fallback up to per_char */
	if ((st = reserve((void **) &w->symbols, &w->symbol_cap,
					  (size_t) n * (tok->byte_fallback ? per_char : 1),
					  sizeof(Symbol), err)) != PI_OK)
		return st;
	initial_symbols(w, piece, n);
	/* the first pairs, then at most two per merge */
	if ((st = reserve((void **) &w->heap, &w->heap_cap, (size_t) w->nsymbols * 3,
					  sizeof(Candidate), err)) != PI_OK)
		return st;
	merge_all(w);
	for (int i = 0; i < w->nsymbols && st == PI_OK; i++)
		if (w->symbols[i].id >= 0)
			st = pi_token_ids_push(w->out, w->symbols[i].id, err);
	return st;
}

/* Splits normalized text into byte-level pieces and appends their BPE ids. */
PiStatus
pi_bpe_encode(const PiTokenizer *tok, const PiCodepoints *text, PiTokenIds *out,
			  PiError *err)
{
	BpeWork		work = {tok, out, NULL, 0, 0, NULL, 0, 0};
	PiStatus	st = pi_byte_level_pre_tokenize(tok, text, encode_piece, &work, err);

	free(work.symbols);
	free(work.heap);
	return st;
}
