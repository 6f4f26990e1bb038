#!/usr/bin/env python3
"""Makes GPT-2's tokenizer.json from the GPT-2 ranks that PyPI's
openai-whisper ships (whisper/assets/gpt2.tiktoken: base64 token, rank),
for check_exact.py: too large to commit (2 MB), so made at check time.

    pip download --no-deps --no-binary :all: openai-whisper==20250625
    tar xzf openai_whisper-20250625.tar.gz
    python3 test/text/make_gpt2.py openai_whisper-20250625/whisper/assets/gpt2.tiktoken OUT_DIR
    python3 test/text/check_exact.py test/text/test_tokenizer OUT_DIR/gpt2.json \\
        OUT_DIR/gpt2_ignore_merges.json

The vocabulary is each token's bytes through GPT-2's byte-to-character
table, with its rank as id, and <|endoftext|> as 50256.  A token's merge is
the last step of byte-pair merging its own bytes by the ranks below its
own: the pair it was made from.  gpt2_ignore_merges.json is the same with
the model's ignore_merges set (a piece that is a token is taken whole).
"""
import base64
import json
import os
import sys

from tokenizers import Tokenizer, models, pre_tokenizers, processors, AddedToken
from tokenizers import decoders


def byte_chars():
    """GPT-2's table: printable bytes stand for themselves, the others for 256, 257, ..."""
    printable = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or b >= 174]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def split_in_two(token, ranks):
    """The pair byte-pair merging by the ranks below token's own ends with."""
    parts = [bytes([b]) for b in token]
    limit = ranks[token]
    while len(parts) > 2:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < limit and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            raise ValueError(f"token {token!r} cannot be merged from lower ranks")
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def main():
    source, out_dir = sys.argv[1], sys.argv[2]
    ranks = {}
    with open(source) as f:
        for line in f:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    table = byte_chars()
    text = {tok: "".join(table[b] for b in tok) for tok in ranks}
    vocab = {text[tok]: rank for tok, rank in ranks.items()}
    merges = [tuple(text[p] for p in split_in_two(tok, ranks))
              for tok, _ in sorted(ranks.items(), key=lambda kv: kv[1]) if len(tok) > 1]
    os.makedirs(out_dir, exist_ok=True)
    for name, ignore in (("gpt2.json", False), ("gpt2_ignore_merges.json", True)):
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
        path = os.path.join(out_dir, name)
        tok.save(path)
        print(f"{path}: {tok.get_vocab_size()} tokens, {len(merges)} merges")


if __name__ == "__main__":
    main()
