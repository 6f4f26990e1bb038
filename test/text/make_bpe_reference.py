#!/usr/bin/env python3
"""Makes test/text/fixtures/bert_tiny/reference_bpe.json: the 2-layer BERT of
fixtures/bert_tiny run by ONNX Runtime on the ids of the byte-level BPE
fixture bpe_roberta.json (1400 ids, inside the network's 1500), for the
end-to-end test of embed() with a BPE tokenizer.

    /work/venv-engine/bin/python test/text/make_bpe_reference.py   (onnxruntime, tokenizers)

Each corpus sentence is encoded by HuggingFace tokenizers (truncated to 32
ids), run alone, padded to 32 with <pad> under a zero attention mask; its
vectors: the mean over its real tokens, L2-normalized, and the first (<s>).
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
BERT = os.path.join(HERE, "fixtures", "bert_tiny")
SEQ = 32


def main():
    sys.path.insert(0, HERE)
    from check_exact import corpus_lines
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(HERE, "fixtures", "bpe_roberta.json"))
    tok.no_padding()
    tok.enable_truncation(SEQ)
    pad = tok.token_to_id("<pad>")
    session = ort.InferenceSession(os.path.join(BERT, "model.onnx"))
    sentences = [line.replace("\0", "") for line in corpus_lines()]
    means, firsts = [], []
    for e in tok.encode_batch(sentences):
        n = len(e.ids)
        ids = np.full((1, SEQ), pad, dtype=np.int64)
        ids[0, :n] = e.ids
        mask = np.zeros((1, SEQ), dtype=np.int64)
        mask[0, :n] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0][0]
        v = hidden[:n].astype(np.float64).mean(axis=0)
        means.append((v / np.linalg.norm(v)).tolist())
        firsts.append(hidden[0].tolist())
    out = os.path.join(BERT, "reference_bpe.json")
    with open(out, "w") as f:
        json.dump({"max_seq_length": SEQ, "sentences": sentences,
                   "mean_normalized": means, "cls": firsts}, f)
    print(f"{out}: {len(sentences)} reference sentences")


if __name__ == "__main__":
    main()
