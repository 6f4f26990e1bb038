#!/usr/bin/env python3
"""Makes the byte-level BPE tokenizers of test/text/fixtures, trained by
HuggingFace tokenizers on test/text/corpus.txt and the README:

  bpe_roberta.json   RoBERTa-style: ByteLevel with a prefix space, the GPT-2
                     split, RobertaProcessing (<s> $A </s>), <mask> with
                     lstrip, merges saved as [a, b] pairs; 1400 ids, so the
                     2-layer BERT of fixtures/bert_tiny (1500 ids) runs on it.
  bpe_variants.json  the other options: a Sequence of NFC and Lowercase,
                     no prefix space and no split (use_regex false: each
                     part between added tokens is one piece),
                     continuing_subword_prefix "##" and end_of_word_suffix
                     "</w>", ignore_merges, a small alphabet so that
                     characters fall back to "<0xNN>" byte tokens or to a
                     fused <unk>, TemplateProcessing, merges as "a b" strings.

    python3 test/text/make_bpe_fixtures.py        (needs: pip install tokenizers)
"""
import json
import os

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import AddedToken

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FILES = [os.path.join(HERE, "corpus.txt"), os.path.join(ROOT, "README.md")]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def roberta():
    """The RoBERTa-style tokenizer."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    trainer = trainers.BpeTrainer(vocab_size=1400, min_frequency=1, show_progress=False,
                                  special_tokens=SPECIALS + [AddedToken("<mask>", lstrip=True)],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train(FILES, trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    return tok


def variants():
    """The tokenizer with the other options; its merges rewritten as "a b" strings."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True,
                               continuing_subword_prefix="##", end_of_word_suffix="</w>",
                               ignore_merges=True))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=900, min_frequency=2, show_progress=False,
                                  special_tokens=SPECIALS, limit_alphabet=60,
                                  continuing_subword_prefix="##", end_of_word_suffix="</w>")
    tok.train(FILES, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    doc = json.loads(tok.to_str())
    vocab = doc["model"]["vocab"]
    # byte tokens for the bytes of "é" (c3 a9 as byte-level characters "Ã" "©", and the prefix)
    for byte in sorted({b for ch in "##Ã©" for b in ch.encode("utf-8")}):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    doc["model"]["merges"] = [" ".join(pair) for pair in doc["model"]["merges"]]
    doc["pre_tokenizer"]["use_regex"] = False
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def main():
    for name, text in (("bpe_roberta.json", roberta().to_str()), ("bpe_variants.json", variants())):
        out = os.path.join(HERE, "fixtures", name)
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        tok = Tokenizer.from_file(out)
        print(f"{out}: {tok.get_vocab_size()} tokens, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
