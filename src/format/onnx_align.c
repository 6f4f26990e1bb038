/*
 * onnx_align.c
 *	  FLOAT tensors whose raw_data lies in an ONNX file at an address not
 *	  aligned for float32.  An in-place import (pi_onnx_load_in_place) moves
 *	  each one back to the aligned address just before it, over the last one
 *	  to three bytes of its own field header (which the decoder has read
 *	  already; no other tensor's data lies there), so that the model uses
 *	  the data where it is instead of a copy.  pi_onnx_moves_undo puts every
 *	  byte back, for a caller that stores the file afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx_proto.h"

/* One tensor's data moved back by shift bytes, to offset to of the file. */
typedef struct PiOnnxMove
{
	size_t		to;
	size_t		len;
	uint8_t		shift;
	uint8_t		saved[sizeof(float) - 1];	/* the header bytes overwritten */
} PiOnnxMove;

/* Moves a FLOAT tensor's raw_data to the aligned address before it, if it is not aligned. */
static PiStatus
align_tensor(uint8_t *file, OnnxTensor *t, PiOnnxMoves *moves, PiError *err)
{
	size_t		shift = (uintptr_t) t->raw % sizeof(float);
	uint8_t    *raw = file + (t->raw - file);
	PiOnnxMove *m;

	if (t->data_type != ONNX_FLOAT || t->external || !t->has_raw || t->raw_len == 0 ||
		shift == 0 || (size_t) (t->raw - file) < shift)
		return PI_OK;
	if (moves->count == moves->cap)
	{
		int			cap = moves->cap ? moves->cap * 2 : 64;
		PiOnnxMove *items = realloc(moves->items, sizeof(PiOnnxMove) * cap);

		if (items == NULL)
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		moves->items = items;
		moves->cap = cap;
	}
	m = &moves->items[moves->count++];
	m->to = (size_t) (raw - shift - file);
	m->len = t->raw_len;
	m->shift = (uint8_t) shift;
	memcpy(m->saved, raw - shift, shift);
	memmove(raw - shift, raw, t->raw_len);
	t->raw = raw - shift;
	return PI_OK;
}

/*
 * Aligns the raw_data of every FLOAT initializer and Constant-node tensor
 * of a model decoded from file, recording each move in moves.
 */
PiStatus
onnx_align_tensors(uint8_t *file, OnnxModelProto *model, PiOnnxMoves *moves, PiError *err)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	OnnxGraph  *g = &model->graph;

	for (int i = 0; i < g->ninitializers; i++)
		TRY(align_tensor(file, &g->initializers[i], moves, err));
	for (int n = 0; n < g->nnodes; n++)
		for (int a = 0; a < g->nodes[n].nattrs; a++)
			if (g->nodes[n].attrs[a].t != NULL)
				TRY(align_tensor(file, g->nodes[n].attrs[a].t, moves, err));
#endif
	return PI_OK;
}

/* Puts the bytes that an in-place import moved back where they were, and frees the record. */
void
pi_onnx_moves_undo(uint8_t *file, PiOnnxMoves *moves)
{
	for (int i = moves->count - 1; i >= 0; i--)
	{
		const PiOnnxMove *m = &moves->items[i];

		memmove(file + m->to + m->shift, file + m->to, m->len);
		memcpy(file + m->to, m->saved, m->shift);
	}
	pi_onnx_moves_free(moves);
}

/* Frees the record of an in-place import's moves (the file keeps them). */
void
pi_onnx_moves_free(PiOnnxMoves *moves)
{
	free(moves->items);
	memset(moves, 0, sizeof(*moves));
}
