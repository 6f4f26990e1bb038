/*
 * test_tokenizer.c
 *	  The tokenizers (src/text: WordPiece and byte-level BPE) on their own.
 *
 *	  test_tokenizer                  unit tests on small inline tokenizer.json files,
 *	                                  and mutants of the BPE fixtures (run from the
 *	                                  repository root)
 *	  test_tokenizer encode FILE MAX  reads hex-encoded UTF-8 lines, prints the ids
 *	                                  of each (MAX > 0 truncates), for check_exact.py
 *	  test_tokenizer words FILE       prints each line's normalized words in hex,
 *	                                  space-separated, for check_exact.py
 *	  test_tokenizer unassigned       prints the code points (hex) that ICU's
 *	                                  Unicode leaves unassigned (Cn), for check_exact.py
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <unicode/uchar.h>

#include "test_files.h"
#include "../../src/text/text_internal.h"

static int	passed;
static int	failed;

/* The unit tests' tokenizer: %s stand for pieces a rejection test replaces. */
static const char base_json[] =
"{\"version\": \"1.0\","
" \"added_tokens\": [{\"id\": 4, \"content\": \"[MASK]\", \"single_word\": false, \"lstrip\": false,"
"   \"rstrip\": false, \"normalized\": false, \"special\": true}],"
" \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true,"
"   \"strip_accents\": null, \"lowercase\": true},"
" \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
" \"post_processor\": {\"type\": \"TemplateProcessing\","
"   \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
"              {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}],"
"   \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [2], \"tokens\": [\"[CLS]\"]},"
"                      \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [3], \"tokens\": [\"[SEP]\"]}}},"
" \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\","
"   \"max_input_chars_per_word\": 9,"
"   \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, \"[MASK]\": 4, \"un\": 5,"
"     \"##aff\": 6, \"##able\": 7, \"hello\": 8, \",\": 9, \"!\": 10, \"cafe\": 11, \"\xe4\xb8\xad\": 12,"
"     \"a\": 13, \"##b\": 14, \"ab\": 15, \"i\": 16, \"aaaaaaaa\": 17, \"$\": 18, \"\xcf\x83\": 19, \"##aa\": 20}}}";

/* Records one check. */
static void
check(bool ok, const char *what)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAIL: %s\n", what);
	}
}

/* Encodes text with the unit tokenizer and compares the ids with want. */
static void
check_encode(const PiTokenizer *tok, const char *text, size_t len, int max_length,
			 const int32_t *want, int nwant)
{
	PiTokenIds	ids = {0};
	PiError		err = {0};
	PiStatus	st = pi_tokenizer_encode(tok, text, len, max_length, &ids, &err);
	bool		ok = st == PI_OK && ids.count == nwant &&
		memcmp(ids.ids, want, sizeof(int32_t) * (size_t) nwant) == 0;
	char		what[800];

	snprintf(what, sizeof(what), "encode \"%.*s\" (max %d)", (int) len, text, max_length);
	if (!ok && st == PI_OK)
	{
		printf("  got:");
		for (int i = 0; i < ids.count; i++)
			printf(" %d", ids.ids[i]);
		printf("\n");
	}
	else if (!ok)
		printf("  error: %s\n", err.message);
	check(ok, what);
	pi_token_ids_free(&ids);
}

#define ENCODE(text, max, ...) do { \
	static const int32_t want_[] = {__VA_ARGS__}; \
	check_encode(tok, text, sizeof(text) - 1, max, want_, sizeof(want_) / sizeof(want_[0])); \
} while (0)

/* Encodes text that must fail with status and a message holding substr. */
static void
check_encode_fails(const PiTokenizer *tok, const char *text, size_t len, int max_length,
				   PiStatus status, const char *substr)
{
	PiTokenIds	ids = {0};
	PiError		err = {0};
	PiStatus	st = pi_tokenizer_encode(tok, text, len, max_length, &ids, &err);
	char		what[800];

	snprintf(what, sizeof(what), "encode fails with \"%s\" (got \"%s\")", substr, err.message);
	check(st == status && strstr(err.message, substr) != NULL, what);
	pi_token_ids_free(&ids);
}

/* The encoder on texts whose ids follow by hand from the inline vocabulary. */
static void
test_encode(void)
{
	PiTokenizer *tok;
	PiError		err = {0};

	if (pi_tokenizer_parse(base_json, strlen(base_json), &tok, &err) != PI_OK)
	{
		check(false, err.message);
		return;
	}
	check(pi_tokenizer_vocab_size(tok) == 21, "vocabulary size");
	check(pi_tokenizer_pad_id(tok) == 0, "pad id from [PAD]");
	ENCODE("", 0, 2, 3);
	ENCODE("unaffable", 0, 2, 5, 6, 7, 3);
	ENCODE("Hello, WORLD!", 0, 2, 8, 9, 1, 10, 3);
	ENCODE("unaffablex", 0, 2, 1, 3);	/* "x" matches no piece: the whole word */
	ENCODE("Caf\xc3\xa9", 0, 2, 11, 3); /* NFD, the accent dropped */
	ENCODE("CAFE\xcc\x81", 0, 2, 11, 3);	/* a combining accent */
	ENCODE("a\xe4\xb8\xad" "ab", 0, 2, 13, 12, 15, 3); /* CJK padded with spaces */
	ENCODE("a\x01\x7f" "b", 0, 2, 15, 3);	/* control characters removed */
	ENCODE("a\xe2\x80\x8b" "b", 0, 2, 15, 3); /* U+200B (Cf) removed */
	ENCODE("a\xef\xbf\xbd" "b", 0, 2, 15, 3); /* U+FFFD removed */
	ENCODE("a\tb\n", 0, 2, 13, 1, 3);	/* whitespace splits; "b" alone is unknown */
	ENCODE("a\xe3\x80\x80" "ab", 0, 2, 13, 15, 3); /* U+3000 ideographic space */
	ENCODE("a$ab", 0, 2, 13, 18, 15, 3); /* ASCII symbols are punctuation */
	ENCODE("a\xc2\xa1" "ab", 0, 2, 13, 1, 15, 3); /* U+00A1 (Po) is punctuation */
	ENCODE("\xc4\xb0", 0, 2, 16, 3);	/* U+0130: I + dot above, the dot dropped */
	ENCODE("\xce\xa3", 0, 2, 19, 3);	/* capital sigma: lowercase sigma, no context */
	ENCODE("aaaaaaaaa", 0, 2, 1, 3); /* no piece "##a" */
	/* 10 chars would be aaaaaaaa ##aa, but the limit is 9 */
	ENCODE("aaaaaaaaaa", 0, 2, 1, 3);
	ENCODE("a[MASK]ab", 0, 2, 13, 4, 15, 3); /* added token matched in raw text */
	ENCODE("[mask]", 0, 2, 1, 1, 1, 3); /* only verbatim: [ mask ] */
	ENCODE("a a a a", 4, 2, 13, 13, 3);	/* truncated, [SEP] kept */
	ENCODE("a a", 4, 2, 13, 13, 3);
	ENCODE("a a a", 2, 2, 3);
	check_encode_fails(tok, "a", 1, 1, PI_ERR_INVALID, "no room for the 2 special tokens");
	check_encode_fails(tok, "a\xc3(", 3, 0, PI_ERR_CORRUPT, "invalid UTF-8 at byte 1");
	check_encode_fails(tok, "\xc0\xaf", 2, 0, PI_ERR_CORRUPT, "invalid UTF-8");	/* overlong */
	check_encode_fails(tok, "\xed\xa0\x80", 3, 0, PI_ERR_CORRUPT, "invalid UTF-8"); /* surrogate */
	check_encode_fails(tok, "\xf4\x90\x80\x80", 4, 0, PI_ERR_CORRUPT, "invalid UTF-8");
	check_encode_fails(tok, "ab\xe4\xb8", 4, 0, PI_ERR_CORRUPT, "invalid UTF-8 at byte 2");
	pi_tokenizer_free(tok);
}

/* One rejection: base_json with find replaced by replace. */
typedef struct Rejection
{
	const char *find;
	const char *replace;
	PiStatus	status;
	const char *message;
} Rejection;

static const Rejection rejections[] = {
	{"{\"version\"", "[{\"version\"", PI_ERR_CORRUPT, "not valid JSON"},
	{"\"WordPiece\", \"unk", "\"Unigram\", \"unk", PI_ERR_UNSUPPORTED, "model type \"Unigram\" is not supported"},
	{"\"WordPiece\", \"unk", "\"BPE\", \"unk", PI_ERR_UNSUPPORTED, "pre_tokenizer type \"BertPreTokenizer\" is not supported for a BPE model"},
	{"\"un\": 5", "\"un\": 4", PI_ERR_DUPLICATE, "model.vocab id 4 is given to two tokens"},
	{"\"un\": 5", "\"un\": -5", PI_ERR_INVALID, "model.vocab id is -5"},
	{"\"un\": 5", "\"un\": 5.5", PI_ERR_INVALID, "model.vocab id is 5.5"},
	{"\"un\": 5", "\"un\": \"5\"", PI_ERR_INVALID, "model.vocab id must be an integer"},
	{"\"un\": 5", "\"a\": 5", PI_ERR_DUPLICATE, "token \"a\" appears twice"},
	{"\"unk_token\": \"[UNK]\"", "\"unk_token\": \"<unk>\"", PI_ERR_UNDEFINED, "unk_token \"<unk>\" is not in the vocabulary"},
	{"\"max_input_chars_per_word\": 9", "\"max_input_chars_per_word\": 0", PI_ERR_INVALID, "max_input_chars_per_word is 0"},
	{"\"continuing_subword_prefix\": \"##\"", "\"continuing_subword_prefix\": \"################\"", PI_ERR_LIMIT, "prefix is longer"},
	{"\"BertNormalizer\"", "\"NFKC\"", PI_ERR_UNSUPPORTED, "normalizer type \"NFKC\""},
	{"\"lowercase\": true", "\"lowercase\": 1", PI_ERR_INVALID, "normalizer.lowercase must be true or false"},
	{"\"BertPreTokenizer\"", "\"Whitespace\"", PI_ERR_UNSUPPORTED, "pre_tokenizer type \"Whitespace\""},
	{"\"TemplateProcessing\"", "\"PostProcessor\"", PI_ERR_UNSUPPORTED, "post_processor type \"PostProcessor\""},
	{"\"TemplateProcessing\"", "\"RobertaProcessing\"", PI_ERR_INVALID, "post_processor RobertaProcessing needs \"cls\" and \"sep\""},
	{"\"id\": \"A\"", "\"id\": \"B\"", PI_ERR_INVALID, "must hold the sequence $A once"},
	{"\"ids\": [3]", "\"ids\": [30]", PI_ERR_UNDEFINED, "special token id 30 is outside the vocabulary of 21"},
	{"\"id\": \"[SEP]\", \"type_id\": 0", "\"id\": \"[END]\", \"type_id\": 0", PI_ERR_UNDEFINED, "\"[END]\" has no ids"},
	{"\"id\": \"A\", \"type_id\": 0", "\"id\": \"A\", \"type_id\": 1", PI_ERR_UNSUPPORTED, "type_id other than 0"},
	{"\"single_word\": false", "\"single_word\": true", PI_ERR_UNSUPPORTED, "added token \"[MASK]\" sets single_word"},
	{"\"normalized\": false", "\"normalized\": true", PI_ERR_UNSUPPORTED, "sets normalized, which is not supported with a normalizer"},
	{"\"content\": \"[MASK]\"", "\"content\": \"\"", PI_ERR_INVALID, "added_tokens entry 0 has no content"},
	{"\"content\": \"[MASK]\"", "\"content\": \"\xff\"", PI_ERR_CORRUPT, "invalid UTF-8"},
	{"\"vocab\": {", "\"vocab\": {}, \"x\": {", PI_ERR_INVALID, "model.vocab must be a non-empty object"},
};

/*
 * The BPE unit tests' tokenizer: byte-level characters ("\xc4\xa0" is
 * U+0120, the character of the space byte), merges by rank.
 */
static const char bpe_json[] =
"{\"version\": \"1.0\","
" \"added_tokens\": [{\"id\": 4, \"content\": \"<mask>\", \"single_word\": false, \"lstrip\": true,"
"   \"rstrip\": false, \"normalized\": false, \"special\": true}],"
" \"normalizer\": null,"
" \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},"
" \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0],"
"   \"trim_offsets\": true, \"add_prefix_space\": false},"
" \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \"<unk>\", \"continuing_subword_prefix\": null,"
"   \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": false,"
"   \"vocab\": {\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"<mask>\": 4, \"a\": 5, \"b\": 6,"
"     \"c\": 7, \"\xc4\xa0\": 8, \"ab\": 9, \"bc\": 10, \"abc\": 11, \"\xc4\xa0" "a\": 12, \"'\": 13, \"s\": 14,"
"     \"1\": 15, \"cc\": 16, \"\xc4\x8a\": 17},"
"   \"merges\": [\"a b\", [\"b\", \"c\"], \"ab c\", [\"\xc4\xa0\", \"a\"], \"c c\"]}}";

/* Parses base with find replaced by replace; NULL (a failed check) if it does not parse. */
static PiTokenizer *
parse_variant(const char *base, const char *find, const char *replace)
{
	const char *at = strstr(base, find);
	size_t		size = strlen(base) + strlen(replace) + 1;
	char	   *json = malloc(size);
	PiTokenizer *tok = NULL;
	PiError		err = {0};

	if (at != NULL && json != NULL)
	{
		snprintf(json, size, "%.*s%s%s", (int) (at - base), base, replace, at + strlen(find));
		if (pi_tokenizer_parse(json, strlen(json), &tok, &err) != PI_OK)
			tok = NULL;
	}
	check(tok != NULL, at == NULL ? find : err.message);
	free(json);
	return tok;
}

/* The BPE encoder on texts whose ids follow by hand from bpe_json. */
static void
test_bpe_encode(void)
{
	PiTokenizer *tok;
	PiError		err = {0};

	if (pi_tokenizer_parse(bpe_json, strlen(bpe_json), &tok, &err) != PI_OK)
	{
		check(false, err.message);
		return;
	}
	check(pi_tokenizer_vocab_size(tok) == 18, "BPE vocabulary size");
	check(pi_tokenizer_pad_id(tok) == 1, "BPE pad id from <pad>");
	check(pi_tokenizer_special_count(tok) == 2, "BPE special count");
	ENCODE("", 0, 0, 2);
	ENCODE("abc", 0, 0, 11, 2);		/* a b -> ab (rank 0), then ab c (rank 2) */
	ENCODE("bca", 0, 0, 10, 5, 2);	/* b c (rank 1); bc a is no merge */
	ENCODE("ab ab", 0, 0, 9, 8, 9, 2); /* " ab": a b (rank 0) before the space's (rank 3) */
	ENCODE(" a", 0, 0, 12, 2);		/* the space joins the letters after it */
	ENCODE("ccc", 0, 0, 16, 7, 2);	/* equal ranks: the leftmost pair first */
	ENCODE("a's", 0, 0, 5, 13, 14, 2); /* the contraction 's is a piece */
	ENCODE("a1", 0, 0, 5, 15, 2);	/* letters and numbers split */
	ENCODE("a  a", 0, 0, 5, 8, 12, 2); /* two spaces: the first alone, the second leads */
	ENCODE("a\n", 0, 0, 5, 17, 2);	/* newline is byte 0x0A, character U+010A */
	ENCODE("ax", 0, 0, 5, 3, 2);	/* x is not in the vocabulary: <unk> */
	ENCODE("xx", 0, 0, 3, 3, 2);	/* not fused */
	ENCODE("a <mask>b", 0, 0, 5, 4, 6, 2);	/* <mask> takes the space before it */
	ENCODE("abc abc abc", 4, 0, 11, 8, 2);	/* truncated, </s> kept */
	pi_tokenizer_free(tok);

	if ((tok = parse_variant(bpe_json, "\"add_prefix_space\": false, \"trim", "\"add_prefix_space\": true, \"trim")) != NULL)
	{
		ENCODE("abc", 0, 0, 8, 11, 2);	/* " abc": a b, then ab c; the space stays alone */
		ENCODE(" a", 0, 0, 12, 2);	/* no second space */
		ENCODE("a<mask>a", 0, 0, 12, 4, 12, 2);	/* each part between added tokens gets one */
		pi_tokenizer_free(tok);
	}
	if ((tok = parse_variant(bpe_json, "\"unk_token\": \"<unk>\"", "\"unk_token\": null")) != NULL)
	{
		ENCODE("axa", 0, 0, 5, 5, 2);	/* no unknown token: x is dropped */
		pi_tokenizer_free(tok);
	}
	if ((tok = parse_variant(bpe_json, "\"normalized\": false", "\"normalized\": true")) != NULL)
	{
		ENCODE("a <mask>b", 0, 0, 5, 4, 6, 2);	/* no normalizer: matched the same */
		pi_tokenizer_free(tok);
	}
	if ((tok = parse_variant(bpe_json, "\"type\": \"RobertaProcessing\"",
							 "\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, "
							 "{\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0]}]")) != NULL)
	{
		ENCODE("abc", 0, 0, 11, 2);
		pi_tokenizer_free(tok);
	}
}

/* Rejections of bpe_json variants: what the parser must refuse, naming it. */
static const Rejection bpe_rejections[] = {
	{"\"ab c\"", "\"ab z\"", PI_ERR_UNDEFINED, "model.merges entry 2 refers to \"z\", which is not in the vocabulary"},
	{"[\"b\", \"c\"]", "[\"c\", \"b\"]", PI_ERR_UNDEFINED, "model.merges entry 1 refers to \"cb\""},
	{"\"ab c\"", "\"ab  c\"", PI_ERR_INVALID, "model.merges entry 2 must be \"a b\" or [\"a\", \"b\"]"},
	{"\"ab c\"", "[\"ab\"]", PI_ERR_INVALID, "model.merges entry 2 must be"},
	{"\"ab c\"", "7", PI_ERR_INVALID, "model.merges entry 2 must be"},
	{"\"merges\": [", "\"merges\": {\"x\": 1}, \"m\": [", PI_ERR_INVALID, "model.merges must be a list"},
	{"\"cc\": 16", "\"cc\": 15", PI_ERR_DUPLICATE, "model.vocab id 15 is given to two tokens"},
	{"\"cc\": 16", "\"cc\": -1", PI_ERR_INVALID, "model.vocab id is -1"},
	{"\"cc\": 16", "\"cc\": 4194304", PI_ERR_INVALID, "expected an integer from 0 to 4194303"},
	{"\"cc\": 16", "\"cc\": [16]", PI_ERR_INVALID, "model.vocab id must be an integer"},
	{"\"dropout\": null", "\"dropout\": 0.1", PI_ERR_UNSUPPORTED, "model.dropout must be null"},
	{"\"unk_token\": \"<unk>\"", "\"unk_token\": \"[UNK]\"", PI_ERR_UNDEFINED, "model.unk_token \"[UNK]\" is not in the vocabulary"},
	{"\"unk_token\": \"<unk>\"", "\"unk_token\": 3", PI_ERR_UNDEFINED, "model.unk_token \"(not a string)\""},
	{"\"byte_fallback\": false", "\"byte_fallback\": \"no\"", PI_ERR_INVALID, "model.byte_fallback must be true or false"},
	{"\"end_of_word_suffix\": null", "\"end_of_word_suffix\": 1", PI_ERR_INVALID, "model.end_of_word_suffix must be a string or null"},
	{"\"continuing_subword_prefix\": null", "\"continuing_subword_prefix\": \"##\"", PI_ERR_INVALID, "model.merges entry 0: \"b\" is shorter than the continuing_subword_prefix"},
	{"\"ByteLevel\", \"add", "\"Whitespace\", \"add", PI_ERR_UNSUPPORTED, "pre_tokenizer type \"Whitespace\" is not supported for a BPE model"},
	{"\"use_regex\": true", "\"use_regex\": null", PI_ERR_INVALID, "pre_tokenizer.use_regex must be true or false"},
	{"\"normalizer\": null", "\"normalizer\": {\"type\": \"NFKC\"}", PI_ERR_UNSUPPORTED, "normalizer type \"NFKC\" is not supported"},
	{"\"normalizer\": null", "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Strip\"}]}", PI_ERR_UNSUPPORTED, "normalizer type \"Strip\""},
	{"\"normalizer\": null", "\"normalizer\": {\"type\": \"Sequence\"}", PI_ERR_INVALID, "normalizer Sequence needs a list"},
	{"false, \"special\": true}], \"normalizer\": null", "true, \"special\": true}], \"normalizer\": {\"type\": \"Lowercase\"}", PI_ERR_UNSUPPORTED, "sets normalized, which is not supported with a normalizer"},
	{"\"sep\": [\"</s>\", 2]", "\"sep\": [\"</s>\", 20]", PI_ERR_UNDEFINED, "special token id 20 is outside the vocabulary of 18"},
	{"\"type\": \"RobertaProcessing\"", "\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0]}, {\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0]}], \"x\": \"\"", PI_ERR_UNSUPPORTED, "more than one processor that adds special tokens"},
	{"\"type\": \"RobertaProcessing\"", "\"type\": \"Sequence\", \"processors\": 1, \"x\": \"\"", PI_ERR_INVALID, "post_processor Sequence needs a list"},
};

/* Parses each rejection variant of json (length less than json_size) and checks the error. */
static void
check_rejections(const char *base, size_t base_size, const Rejection *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		const Rejection *r = &list[i];
		const char *at = strstr(base, r->find);
		char	   *json = malloc(base_size + strlen(r->replace) + 1);
		PiTokenizer *tok = NULL;
		PiError		err = {0};
		PiStatus	st;
		char		what[1200];

		if (at == NULL || json == NULL)
		{
			check(false, r->find);
			free(json);
			continue;
		}
		snprintf(json, base_size + strlen(r->replace) + 1, "%.*s%s%s", (int) (at - base), base,
				 r->replace, at + strlen(r->find));
		st = pi_tokenizer_parse(json, strlen(json), &tok, &err);
		snprintf(what, sizeof(what), "rejects %.200s: want \"%s\", got \"%s\"", r->replace,
				 r->message, err.message);
		check(st == r->status && tok == NULL && strstr(err.message, r->message) != NULL, what);
		pi_tokenizer_free(tok);
		free(json);
	}
}

/* Parses every rejection variant of both unit tokenizers. */
static void
test_rejections(void)
{
	check_rejections(base_json, sizeof(base_json), rejections,
					 sizeof(rejections) / sizeof(rejections[0]));
	check_rejections(bpe_json, sizeof(bpe_json), bpe_rejections,
					 sizeof(bpe_rejections) / sizeof(bpe_rejections[0]));
}

/* xorshift64*: the mutation smoke's deterministic pseudo-random numbers. */
static uint64_t
next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 2685821657736338717ULL;
}

/* Applies one random edit to buf[0..*len-1] (room for cap bytes). */
static void
mutate_once(char *buf, size_t *len, size_t cap, uint64_t *rng)
{
	static const char *const pieces[] = {
		"\"", "[", "]", "{", "}", ",", ":", " ", "-1", "0", "4194304", "1e308", "null", "true",
		"\"a b\"", "[\"a\",\"b\"]", "\"\xc4\xa0\"", "\\u0000", "\xff", "\"BPE\"", "\"ByteLevel\"",
		"\"Sequence\"", "\"<0x41>\"", "0.5",
	};
	size_t		at = *len ? next_random(rng) % *len : 0;
	size_t		span = 1 + next_random(rng) % 64;

	switch (next_random(rng) % 4)
	{
		case 0:					/* flip a byte */
			if (*len)
				buf[at] = (char) next_random(rng);
			break;
		case 1:					/* delete a span */
			span = span > *len - at ? *len - at : span;
			memmove(buf + at, buf + at + span, *len - at - span);
			*len -= span;
			break;
		case 2:					/* insert a JSON piece */
			{
				const char *piece = pieces[next_random(rng) % (sizeof(pieces) / sizeof(pieces[0]))];
				size_t		n = strlen(piece);

				if (*len + n > cap)
					break;
				memmove(buf + at + n, buf + at, *len - at);
				memcpy(buf + at, piece, n);
				*len += n;
			}
			break;
		default:				/* copy a span over another place */
			{
				size_t		from = *len ? next_random(rng) % *len : 0;

				span = span > *len - from ? *len - from : span;
				span = span > *len - at ? *len - at : span;
				memmove(buf + at, buf + from, span);
			}
			break;
	}
}

/* Applies one structured edit to a BPE tokenizer.json tree: ids, vocab, merges, flags, affixes. */
static void
mutate_tree(cJSON *root, uint64_t *rng)
{
	static const char *const flags[] = {"byte_fallback", "fuse_unk", "ignore_merges"};
	static const char *const affixes[] = {"", "##", "</w>", "\xc4\xa0", "a"};
	cJSON	   *model = cJSON_GetObjectItemCaseSensitive(root, "model");
	cJSON	   *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
	cJSON	   *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
	cJSON	   *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
	int			nvocab = cJSON_GetArraySize(vocab);
	int			nmerges = cJSON_GetArraySize(merges);
	cJSON	   *entry = cJSON_GetArrayItem(vocab, (int) (next_random(rng) % (uint64_t) (nvocab ? nvocab : 1)));
	int			merge = (int) (next_random(rng) % (uint64_t) (nmerges ? nmerges : 1));

	switch (next_random(rng) % 7)
	{
		case 0:					/* a vocab id changed (collisions, out of range) */
			if (entry)
				cJSON_SetNumberValue(entry, (double) (next_random(rng) % (uint64_t) (nvocab + 2)) -
									 (next_random(rng) % 8 == 0 ? 5e6 : 0));
			break;
		case 1:					/* a vocab entry removed */
			if (entry)
				cJSON_DeleteItemFromObjectCaseSensitive(vocab, entry->string);
			break;
		case 2:					/* a merge replaced by two random tokens */
			{
				cJSON	   *a = cJSON_GetArrayItem(vocab, (int) (next_random(rng) % (uint64_t) (nvocab ? nvocab : 1)));
				cJSON	   *b = cJSON_GetArrayItem(vocab, (int) (next_random(rng) % (uint64_t) (nvocab ? nvocab : 1)));

				if (a && b && nmerges)
				{
					const char *pair[2] = {a->string, b->string};

					cJSON_ReplaceItemInArray(merges, merge, cJSON_CreateStringArray(pair, 2));
				}
			}
			break;
		case 3:					/* merges moved: a merge deleted */
			if (nmerges)
				cJSON_DeleteItemFromArray(merges, merge);
			break;
		case 4:					/* a model flag toggled */
			cJSON_DeleteItemFromObjectCaseSensitive(model, flags[next_random(rng) % 3]);
			cJSON_AddBoolToObject(model, flags[next_random(rng) % 3], next_random(rng) % 2);
			break;
		case 5:					/* a prefix or suffix set */
			{
				const char *name = next_random(rng) % 2 ? "continuing_subword_prefix" : "end_of_word_suffix";

				cJSON_DeleteItemFromObjectCaseSensitive(model, name);
				cJSON_AddStringToObject(model, name, affixes[next_random(rng) % 5]);
			}
			break;
		default:				/* a pre-tokenizer flag toggled */
			{
				const char *name = next_random(rng) % 2 ? "add_prefix_space" : "use_regex";

				cJSON_DeleteItemFromObjectCaseSensitive(pre, name);
				cJSON_AddBoolToObject(pre, name, next_random(rng) % 2);
			}
			break;
	}
}

/*
 * Mutation smoke under ASan and UBSan: mutants of a BPE tokenizer.json
 * (structured edits, then byte flips, deletions, JSON pieces and copied
 * spans in one of four) must parse or be refused with a message, and those
 * that parse must encode texts; a crash or sanitizer report ends the run.
 */
static void
test_mutants(const char *path, int count)
{
	static const char *const texts[] = {
		"", "Hello world, it's 12 o'clock!", "  spaces \n\n and\ttabs  ", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",
		"<s>a<mask> b</s><pad>",
	};
	size_t		len;
	char	   *json = test_read_file(path, &len);
	size_t		cap = 2 * len + 4096;
	char	   *buf = malloc(cap);
	uint64_t	rng = 0x9e3779b97f4a7c15ULL;
	int			parsed = 0;
	int			refused = 0;
	char		what[300];

	if (json == NULL || buf == NULL)
	{
		check(false, path);
		free(json);
		free(buf);
		return;
	}
	for (int i = 0; i < count; i++)
	{
		cJSON	   *root = cJSON_ParseWithLength(json, len);
		char	   *text;
		size_t		n;
		int			edits = 1 + (int) (next_random(&rng) % 4);
		PiTokenizer *tok = NULL;
		PiError		err = {0};

		for (int k = 0; k < edits; k++)
			mutate_tree(root, &rng);
		text = cJSON_PrintUnformatted(root);
		cJSON_Delete(root);
		n = strlen(text);
		if (n > cap)
			n = cap;
		memcpy(buf, text, n);
		free(text);
		if (i % 4 == 3)
			mutate_once(buf, &n, cap, &rng);
		if (pi_tokenizer_parse(buf, n, &tok, &err) != PI_OK)
		{
			refused += tok == NULL && err.message[0] != '\0';
			continue;
		}
		parsed++;
		for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
		{
			PiTokenIds	ids = {0};

			pi_tokenizer_encode(tok, texts[t], strlen(texts[t]), (int) t * 3, &ids, &err);
			pi_token_ids_free(&ids);
		}
		pi_tokenizer_free(tok);
	}
	snprintf(what, sizeof(what), "%s: %d mutants, %d parsed, %d refused with a message",
			 path, count, parsed, refused);
	check(parsed + refused == count && parsed > 0 && refused > 0, what);
	printf("  %s\n", what);
	free(json);
	free(buf);
}

/* A text model's options, and the template's special count. */
static void
test_options(void)
{
	static const struct
	{
		const char *json;
		PiStatus	status;
		int			max_length;
		PiPooling	pooling;
		bool		normalize;
	}			cases[] = {
		{"{}", PI_OK, 0, PI_POOL_MEAN, false},
		{"{\"input_scale\": 2, \"max_seq_length\": 256}", PI_OK, 256, PI_POOL_MEAN, false},
		{"{\"max_seq_length\": 1, \"pooling\": \"cls\", \"normalize\": true}", PI_OK, 1, PI_POOL_CLS, true},
		{"{\"pooling\": \"mean\", \"normalize\": false}", PI_OK, 0, PI_POOL_MEAN, false},
		{"{\"max_seq_length\": 0}", PI_ERR_INVALID, 0, PI_POOL_MEAN, false},
		{"{\"max_seq_length\": 65537}", PI_ERR_INVALID, 0, PI_POOL_MEAN, false},
		{"{\"max_seq_length\": 12.5}", PI_ERR_INVALID, 0, PI_POOL_MEAN, false},
		{"{\"max_seq_length\": \"12\"}", PI_ERR_INVALID, 0, PI_POOL_MEAN, false},
		{"{\"pooling\": \"max\"}", PI_ERR_INVALID, 0, PI_POOL_MEAN, false},
		{"{\"normalize\": 1}", PI_ERR_INVALID, 0, PI_POOL_MEAN, false},
		{"[1]", PI_ERR_INVALID, 0, PI_POOL_MEAN, false},
	};
	PiTokenizer *tok;
	PiError		err = {0};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		PiTextOptions opt;
		PiStatus	st = pi_text_options_parse(cases[i].json, strlen(cases[i].json), &opt, &err);
		char		what[200];

		snprintf(what, sizeof(what), "options %s", cases[i].json);
		check(st == cases[i].status &&
			  (st != PI_OK || (opt.max_length == cases[i].max_length &&
							   opt.pooling == cases[i].pooling &&
							   opt.normalize == cases[i].normalize)), what);
	}
	check(pi_text_option_key("pooling") && !pi_text_option_key("input_scale"), "text option keys");
	{
		static const char plain[] = "{\"input_scale\": 2}";
		static const char text[] = "{\"normalize\": false}";
		PiTextOptions opt;

		check(pi_text_options_parse(plain, strlen(plain), &opt, &err) == PI_OK && !opt.given &&
			  pi_text_options_parse(text, strlen(text), &opt, &err) == PI_OK && opt.given,
			  "options given");
	}
	if (pi_tokenizer_parse(base_json, strlen(base_json), &tok, &err) == PI_OK)
	{
		check(pi_tokenizer_special_count(tok) == 2, "special count");
		pi_tokenizer_free(tok);
	}
	else
		check(false, err.message);
}

/* Decodes a hex line into bytes (in place); returns the byte count or -1. */
static long
unhex(char *line)
{
	size_t		n = strcspn(line, "\r\n");

	if (n % 2 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 2)
	{
		unsigned int b;

		if (sscanf(line + i, "%2x", &b) != 1)
			return -1;
		line[i / 2] = (char) b;
	}
	return (long) (n / 2);
}

/* Prints the ids of each hex line of stdin. */
static int
run_encode(const PiTokenizer *tok, int max_length)
{
	static char line[1 << 22];
	PiTokenIds	ids = {0};

	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		long		len = unhex(line);
		PiError		err = {0};

		if (len < 0 || pi_tokenizer_encode(tok, line, (size_t) len, max_length, &ids, &err) != PI_OK)
		{
			printf("error: %s\n", len < 0 ? "bad hex line" : err.message);
			continue;
		}
		for (int i = 0; i < ids.count; i++)
			printf(i ? " %d" : "%d", ids.ids[i]);
		printf("\n");
	}
	pi_token_ids_free(&ids);
	return 0;
}

/* The pre-tokenizer's callback: prints one word in hex, after a space unless first. */
static PiStatus
print_word(const uint32_t *word, int n, void *arg, PiError *err)
{
	bool	   *first = arg;

	printf("%s", *first ? "" : " ");
	*first = false;
	for (int i = 0; i < n; i++)
	{
		char		utf8[4];
		int			len = pi_utf8_encode(word[i], utf8);

		for (int k = 0; k < len; k++)
			printf("%02x", (unsigned char) utf8[k]);
	}
	return PI_OK;
}

/* Prints each hex line's normalized, pre-tokenized words, in hex. */
static int
run_words(const PiTokenizer *tok)
{
	static char line[1 << 22];

	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		long		len = unhex(line);
		PiCodepoints raw = {0};
		PiCodepoints norm = {0};
		PiError		err = {0};
		bool		first = true;

		if (len < 0 || pi_utf8_decode(line, (size_t) len, &raw, &err) != PI_OK ||
			pi_text_normalize(tok, &raw, &norm, &err) != PI_OK ||
			pi_text_pre_tokenize(tok, &norm, print_word, &first, &err) != PI_OK)
			printf("error: %s", len < 0 ? "bad hex line" : err.message);
		printf("\n");
		pi_cp_free(&raw);
		pi_cp_free(&norm);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	PiTokenizer *tok;
	PiError		err = {0};
	char	   *json;
	size_t		len;
	int			rc;

	if (argc == 1)
	{
		test_encode();
		test_bpe_encode();
		test_rejections();
		test_mutants("test/text/fixtures/bpe_roberta.json", 400);
		test_mutants("test/text/fixtures/bpe_variants.json", 400);
		test_options();
		printf("tokenizer: %d passed, %d failed\n", passed, failed);
		return failed != 0;
	}
	if (argc == 2 && strcmp(argv[1], "unassigned") == 0)
	{
		for (UChar32 cp = 0; cp <= 0x10FFFF; cp++)
			if (u_charType(cp) == U_UNASSIGNED)
				printf("%X\n", (unsigned) cp);
		return 0;
	}
	if (argc < 3 || (json = test_read_file(argv[2], &len)) == NULL)
	{
		fprintf(stderr, "usage: %s [encode TOKENIZER.json MAX_LENGTH | words TOKENIZER.json | unassigned]\n", argv[0]);
		return 2;
	}
	if (pi_tokenizer_parse(json, len, &tok, &err) != PI_OK)
	{
		fprintf(stderr, "%s: %s\n", argv[2], err.message);
		return 1;
	}
	rc = strcmp(argv[1], "encode") == 0 ? run_encode(tok, argc > 3 ? atoi(argv[3]) : 0)
		: run_words(tok);
	pi_tokenizer_free(tok);
	free(json);
	return rc;
}
