/*
 * pi_text.h
 *	  Text to token ids: the WordPiece tokenizer of BERT-style models, read
 *	  from a HuggingFace tokenizer.json (BertNormalizer, BertPreTokenizer,
 *	  WordPiece, TemplateProcessing or BertProcessing).
 *
 * The tokenizer.json and the text are untrusted: every length is checked and
 * text must be valid UTF-8.  Unicode properties, NFD and case mapping come
 * from ICU.  Plain C, no PostgreSQL headers.
 */
#ifndef PI_TEXT_H
#define PI_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "pi_ir.h"

/* Longest token (in bytes) and largest vocabulary a tokenizer may have. */
#define PI_TEXT_MAX_TOKEN_BYTES 1024
#define PI_TEXT_MAX_VOCAB (1 << 22)
/* Most special tokens the template may put around the text. */
#define PI_TEXT_MAX_SPECIALS 8

typedef struct PiTokenizer PiTokenizer;

/* The ids of one encoded text, [CLS] and [SEP] included; ids is malloc'd. */
typedef struct PiTokenIds
{
	int32_t    *ids;
	int			count;
	int			capacity;
} PiTokenIds;

/* Parses a tokenizer.json document; refuses what it cannot reproduce exactly. */
PiStatus	pi_tokenizer_parse(const char *json, size_t len, PiTokenizer **out,
							   PiError *err);

/* Frees a tokenizer (NULL is a no-op). */
void		pi_tokenizer_free(PiTokenizer *tok);

/* Number of entries in the vocabulary (ids run from 0 to this minus 1). */
int			pi_tokenizer_vocab_size(const PiTokenizer *tok);

/* Id of the padding token ("[PAD]"), or -1 when the vocabulary has none. */
int			pi_tokenizer_pad_id(const PiTokenizer *tok);

/*
 * Encodes UTF-8 text: the template's special tokens around the WordPiece ids
 * of the text.  max_length > 0 truncates the text's ids (from the right) so
 * that the whole, specials included, has at most max_length ids.
 * out->ids is reused and grown as needed; free it with pi_token_ids_free.
 */
PiStatus	pi_tokenizer_encode(const PiTokenizer *tok, const char *text, size_t len,
								int max_length, PiTokenIds *out, PiError *err);

/* Frees the ids of an encoding. */
void		pi_token_ids_free(PiTokenIds *ids);

#endif							/* PI_TEXT_H */
