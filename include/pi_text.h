/*
 * pi_text.h
 *	  Text to token ids: the WordPiece tokenizer of BERT-style models and the
 *	  byte-level BPE tokenizer of GPT-2 and RoBERTa, read from a HuggingFace
 *	  tokenizer.json (normalizers BertNormalizer, NFC, Lowercase; pre-tokenizers
 *	  BertPreTokenizer, ByteLevel; post-processors TemplateProcessing,
 *	  BertProcessing, RobertaProcessing, ByteLevel).
 *
 * The tokenizer.json and the text are untrusted: every length is checked and
 * text must be valid UTF-8.  Unicode properties, NFD and case mapping come
 * from ICU.  Plain C, no PostgreSQL headers.
 */
#ifndef PI_TEXT_H
#define PI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pi_ir.h"

/* Longest token (in bytes) and largest vocabulary a tokenizer may have. */
#define PI_TEXT_MAX_TOKEN_BYTES 1024
#define PI_TEXT_MAX_VOCAB (1 << 22)
/* Largest max_seq_length option. */
#define PI_TEXT_MAX_SEQ_LENGTH 65536
/* Most special tokens the template may put around the text. */
#define PI_TEXT_MAX_SPECIALS 8

typedef struct PiTokenizer PiTokenizer;

/* The ids of one encoded text, specials ([CLS] and [SEP]) included; ids is malloc'd. */
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

/* Number of special tokens the template puts around every text. */
int			pi_tokenizer_special_count(const PiTokenizer *tok);

/* Id of the padding token ("[PAD]" or "<pad>"), or -1 when the vocabulary has none. */
int			pi_tokenizer_pad_id(const PiTokenizer *tok);

/*
 * Encodes UTF-8 text: the template's special tokens around the WordPiece or
 * BPE ids of the text.  max_length > 0 truncates the text's ids (from the right) so
 * that the whole, specials included, has at most max_length ids.
 * out->ids is reused and grown as needed; free it with pi_token_ids_free.
 */
PiStatus	pi_tokenizer_encode(const PiTokenizer *tok, const char *text, size_t len,
								int max_length, PiTokenIds *out, PiError *err);

/* How a text model's token vectors become one vector (sentence-transformers' pooling). */
typedef enum PiPooling
{
	PI_POOL_MEAN,				/* the mean over the text's tokens, specials included */
	PI_POOL_CLS					/* the first token's ([CLS]) */
} PiPooling;

/* A text model's options (create_model's options JSON). */
typedef struct PiTextOptions
{
	int			max_length;		/* max_seq_length: most ids per encoding; 0: absent */
	PiPooling	pooling;		/* "pooling": "mean" (default) or "cls" */
	bool		normalize;		/* "normalize": scale the vector to unit length */
	bool		given;			/* any of the three was in the options */
} PiTextOptions;

/*
 * Reads a text model's options: max_seq_length, pooling and normalize.
 * Other keys are the model's (pi_model_apply_options) and are skipped.
 */
PiStatus	pi_text_options_parse(const char *options_json, size_t len, PiTextOptions *out,
								  PiError *err);

/* Whether an option key is a text model's (header-only: options.c skips these). */
static inline bool
pi_text_option_key(const char *key)
{
	return strcmp(key, "max_seq_length") == 0 || strcmp(key, "pooling") == 0 ||
		strcmp(key, "normalize") == 0;
}

/* A text model's inputs (indices into its inputs, -1 when absent) and shapes. */
typedef struct PiTextLayout
{
	int			ids_input;		/* "input_ids" */
	int			mask_input;		/* "attention_mask" */
	int			type_input;		/* "token_type_ids" */
	int64_t		length;			/* ids per row: the padded sequence length */
	int64_t		hidden;			/* width of output 0's token vectors */
} PiTextLayout;

/*
 * Checks that model is a text model: inputs input_ids and, optionally,
 * attention_mask and token_type_ids, each [batch, length], and a first
 * output [batch, length, hidden].
 */
PiStatus	pi_text_layout(const PiModel *model, PiTextLayout *layout, PiError *err);

/* Frees the ids of an encoding. */
void		pi_token_ids_free(PiTokenIds *ids);

#endif							/* PI_TEXT_H */
