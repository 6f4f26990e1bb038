/*
 * text_internal.h
 *	  What the files of the tokenizer share: code point buffers, UTF-8, the
 *	  Unicode properties the BERT normalizer and pre-tokenizer ask for, the
 *	  vocabulary, and the tokenizer itself.
 */
#ifndef PI_TEXT_INTERNAL_H
#define PI_TEXT_INTERNAL_H

#include <stdbool.h>

#include "pi_text.h"

/* Largest max_input_chars_per_word a tokenizer may set. */
#define PI_TEXT_MAX_WORD_CHARS 1024

/* A growable array of Unicode code points. */
typedef struct PiCodepoints
{
	uint32_t   *cp;
	int			count;
	int			capacity;
} PiCodepoints;

/* Appends one code point; PI_ERR_NOMEM or PI_ERR_LIMIT on failure. */
PiStatus	pi_cp_push(PiCodepoints *buf, uint32_t cp, PiError *err);

/* Frees a code point buffer. */
void		pi_cp_free(PiCodepoints *buf);

/* Decodes strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
PiStatus	pi_utf8_decode(const char *text, size_t len, PiCodepoints *out, PiError *err);

/* Writes cp as UTF-8 into dst (4 bytes of room); returns the byte count. */
int			pi_utf8_encode(uint32_t cp, char *dst);

/* Unicode properties, as the BERT normalizer and pre-tokenizer define them. */
bool		pi_uni_is_control(uint32_t cp);
bool		pi_uni_is_whitespace(uint32_t cp);
bool		pi_uni_is_punctuation(uint32_t cp);
bool		pi_uni_is_cjk_ideograph(uint32_t cp);
bool		pi_uni_is_nonspacing_mark(uint32_t cp);

/* Replaces buf's contents by their canonical decomposition (NFD). */
PiStatus	pi_uni_nfd(PiCodepoints *buf, PiError *err);

/* Appends the full lowercase mapping of one code point (no context). */
PiStatus	pi_uni_lower_push(uint32_t cp, PiCodepoints *out, PiError *err);

/* A string -> id hash table; the strings are copied. */
typedef struct PiVocab
{
	char	  **keys;			/* slot -> key (NUL-terminated), NULL if empty */
	uint32_t   *key_lens;
	int32_t    *ids;
	uint32_t	slots;			/* a power of two, at least twice count */
	int			count;
} PiVocab;

/* Prepares an empty table for up to capacity entries. */
PiStatus	pi_vocab_init(PiVocab *vocab, int capacity, PiError *err);

/* Adds key -> id; PI_ERR_DUPLICATE when the key is present. */
PiStatus	pi_vocab_add(PiVocab *vocab, const char *key, size_t len, int32_t id,
						 PiError *err);

/* The id of a key, or -1. */
int32_t		pi_vocab_find(const PiVocab *vocab, const char *key, size_t len);

/* Frees the table. */
void		pi_vocab_free(PiVocab *vocab);

/* A token that is matched in the raw text before normalization ("[MASK]"). */
typedef struct PiAddedToken
{
	char	   *content;
	size_t		len;
	int32_t		id;
} PiAddedToken;

struct PiTokenizer
{
	PiVocab		vocab;
	int			vocab_size;		/* ids run over 0..vocab_size-1 */
	/* BertNormalizer */
	bool		clean_text;
	bool		handle_chinese_chars;
	bool		strip_accents;
	bool		lowercase;
	/* WordPiece */
	int32_t		unk_id;
	int32_t		pad_id;
	char		prefix[16];		/* continuing-subword prefix, "##" */
	size_t		prefix_len;
	int			max_input_chars_per_word;
	/* the template: specials before and after the text */
	int32_t		before[PI_TEXT_MAX_SPECIALS];
	int			nbefore;
	int32_t		after[PI_TEXT_MAX_SPECIALS];
	int			nafter;
	PiAddedToken *added;
	int			nadded;
};

/* Appends one id to an encoding. */
PiStatus	pi_token_ids_push(PiTokenIds *out, int32_t id, PiError *err);

/* Normalizes code points as BertNormalizer does (clean, CJK, accents, case). */
PiStatus	pi_bert_normalize(const PiTokenizer *tok, const PiCodepoints *in,
							  PiCodepoints *out, PiError *err);

/* What the pre-tokenizer calls with each word. */
typedef PiStatus (*PiWordFn) (const uint32_t *word, int n, void *arg, PiError *err);

/* BertPreTokenizer: calls fn on each word (split at whitespace, punctuation alone). */
PiStatus	pi_bert_pre_tokenize(const PiCodepoints *text, PiWordFn fn, void *arg,
								 PiError *err);

/* Splits normalized text into words and appends their WordPiece ids. */
PiStatus	pi_wordpiece_encode(const PiTokenizer *tok, const PiCodepoints *text,
								PiTokenIds *out, PiError *err);

#endif							/* PI_TEXT_INTERNAL_H */
