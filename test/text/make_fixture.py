#!/usr/bin/env python3
"""Makes test/text/fixtures/tokenizer.json: a small BERT-style WordPiece
tokenizer (BertNormalizer with lowercase, BertPreTokenizer, [CLS] $A [SEP])
trained by HuggingFace tokenizers on test/text/corpus.txt and the README.

    python3 test/text/make_fixture.py        (needs: pip install tokenizers)
"""
import os

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def main():
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=1500, min_frequency=1, show_progress=False,
                                        special_tokens=SPECIALS)
    tok.train([os.path.join(HERE, "corpus.txt"), os.path.join(ROOT, "README.md")], trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    out = os.path.join(HERE, "fixtures", "tokenizer.json")
    tok.save(out, pretty=False)
    print(f"{out}: {tok.get_vocab_size()} tokens, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
