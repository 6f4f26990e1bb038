/*
 * text_internal.h
 *	  What the files of the tokenizer share: code point buffers, UTF-8, the
 *	  Unicode properties the normalizers and pre-tokenizers ask for, the
 *	  vocabulary, the BPE merges, and the tokenizer itself.
 */
#ifndef PI_TEXT_INTERNAL_H
#define PI_TEXT_INTERNAL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

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

/* General categories L* and N*, and White_Space, as the GPT-2 split pattern asks. */
bool		pi_uni_is_letter(uint32_t cp);
bool		pi_uni_is_number(uint32_t cp);

/* Replaces buf's contents by their canonical decomposition (NFD). */
PiStatus	pi_uni_nfd(PiCodepoints *buf, PiError *err);

/* Replaces buf's contents by their canonical composition (NFC). */
PiStatus	pi_uni_nfc(PiCodepoints *buf, PiError *err);

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

/* The BPE merges: a pair of ids -> the merge's rank and the merged token's id. */
typedef struct PiMerges
{
	uint64_t   *pairs;			/* slot -> (left << 32 | right), UINT64_MAX if empty */
	uint32_t   *ranks;
	int32_t    *ids;
	uint32_t	slots;			/* a power of two, at least twice count */
	int			count;
} PiMerges;

/* Prepares an empty merge table for up to capacity merges. */
PiStatus	pi_merges_init(PiMerges *merges, int capacity, PiError *err);

/* Sets the merge of (left, right); a later merge of the same pair replaces it. */
void		pi_merges_set(PiMerges *merges, int32_t left, int32_t right, uint32_t rank,
						  int32_t id);

/* The merge of (left, right): true and its rank and id, or false. */
bool		pi_merges_find(const PiMerges *merges, int32_t left, int32_t right,
						   uint32_t *rank, int32_t *id);

/* Frees the merge table. */
void		pi_merges_free(PiMerges *merges);

/* A token that is matched in the raw text before normalization ("[MASK]"). */
typedef struct PiAddedToken
{
	char	   *content;
	size_t		len;
	int32_t		id;
	bool		lstrip;			/* takes the whitespace before it */
	bool		rstrip;			/* takes the whitespace after it */
	bool		normalized;		/* matched after the first pass (no normalizer) */
} PiAddedToken;

/* The tokenizer's model. */
typedef enum PiTextModel
{
	PI_TEXT_WORDPIECE,
	PI_TEXT_BPE
} PiTextModel;

/* One step of the normalizer (a Sequence is several). */
typedef enum PiNormStep
{
	PI_NORM_BERT,
	PI_NORM_NFC,
	PI_NORM_LOWERCASE
} PiNormStep;

/* Most steps a normalizer Sequence may have. */
#define PI_TEXT_MAX_NORM_STEPS 8

struct PiTokenizer
{
	PiTextModel model;
	PiVocab		vocab;
	int			vocab_size;		/* ids run over 0..vocab_size-1 */
	PiNormStep	norm[PI_TEXT_MAX_NORM_STEPS];
	int			nnorm;
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
	/* BPE (unk_id is -1 when there is no unk_token) */
	PiMerges	merges;
	char		suffix[16];		/* end_of_word_suffix */
	size_t		suffix_len;
	bool		byte_fallback;
	bool		fuse_unk;
	bool		ignore_merges;
	/* the ByteLevel pre-tokenizer */
	bool		add_prefix_space;
	bool		use_regex;
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

/* Reads an integer in [lo, hi] from a JSON number. */
PiStatus	pi_json_int(const cJSON *item, const char *what, int64_t lo, int64_t hi,
						int64_t *value, PiError *err);

/* The string member name of obj, or NULL when it is missing or not a string. */
const char *pi_json_string(const cJSON *obj, const char *name);

/* Reads a boolean member of section; missing means dflt. */
PiStatus	pi_json_bool(const cJSON *obj, const char *section, const char *name, bool dflt,
						 bool *value, PiError *err);

/* Reads a BPE model (vocab, merges, unk_token, prefix, suffix, flags). */
PiStatus	pi_bpe_read_model(PiTokenizer *tok, const cJSON *model, PiError *err);

/* Reads a ByteLevel pre-tokenizer's add_prefix_space and use_regex. */
PiStatus	pi_byte_level_read(PiTokenizer *tok, const cJSON *pre, PiError *err);

/* Runs the normalizer's steps on in, into out (which must start empty). */
PiStatus	pi_text_normalize(const PiTokenizer *tok, const PiCodepoints *in,
							  PiCodepoints *out, PiError *err);

/* Lowercases every code point of buf (whose mapping may be longer). */
PiStatus	pi_uni_lower_all(PiCodepoints *buf, PiError *err);

/* Normalizes code points as BertNormalizer does (clean, CJK, accents, case). */
PiStatus	pi_bert_normalize(const PiTokenizer *tok, const PiCodepoints *in,
							  PiCodepoints *out, PiError *err);

/* What the pre-tokenizer calls with each word. */
typedef PiStatus (*PiWordFn) (const uint32_t *word, int n, void *arg, PiError *err);

/* BertPreTokenizer: calls fn on each word (split at whitespace, punctuation alone). */
PiStatus	pi_bert_pre_tokenize(const PiCodepoints *text, PiWordFn fn, void *arg,
								 PiError *err);

/*
 * ByteLevel: prefixes a space when asked, splits at the GPT-2 pattern when
 * asked, and calls fn on each piece with its UTF-8 bytes mapped to characters.
 */
PiStatus	pi_byte_level_pre_tokenize(const PiTokenizer *tok, const PiCodepoints *text,
									   PiWordFn fn, void *arg, PiError *err);

/* The tokenizer's pre-tokenizer: BertPreTokenizer or ByteLevel. */
PiStatus	pi_text_pre_tokenize(const PiTokenizer *tok, const PiCodepoints *text,
								 PiWordFn fn, void *arg, PiError *err);

/* Splits normalized text into words and appends their WordPiece ids. */
PiStatus	pi_wordpiece_encode(const PiTokenizer *tok, const PiCodepoints *text,
								PiTokenIds *out, PiError *err);

/* Splits normalized text into byte-level pieces and appends their BPE ids. */
PiStatus	pi_bpe_encode(const PiTokenizer *tok, const PiCodepoints *text,
						  PiTokenIds *out, PiError *err);

#endif							/* PI_TEXT_INTERNAL_H */
