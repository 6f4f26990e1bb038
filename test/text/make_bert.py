#!/usr/bin/env python3
"""Makes test/text/fixtures/bert_tiny: a 2-layer BERT encoder with random
weights over the vocabulary of fixtures/tokenizer.json, exported to ONNX by
PyTorch, and reference sentence embeddings for the corpus.

    /work/venv-engine/bin/python test/text/make_bert.py   (torch, onnx, tokenizers)

model.onnx: inputs input_ids, attention_mask, token_type_ids (int64
[batch, 32]), output last_hidden_state (float [batch, 32, 32]).
model_dynamic.onnx: the same network with a symbolic sequence dimension
(int64 [batch, sequence] in, [batch, sequence, 32] out).
reference.json: {"max_seq_length", "sentences": [...], "mean_normalized":
[[...], ...], "cls": [[...], ...]}: each sentence (truncated to 32 ids) run
alone, unpadded, its token vectors mean-pooled and L2-normalized as
sentence-transformers does, and its first ([CLS]) token vector.
"""
import json
import math
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "bert_tiny")
SEQ, HIDDEN, HEADS, FFN, LAYERS = 32, 32, 4, 64, 2


class Layer(nn.Module):
    """A post-norm BERT layer: self-attention with an additive mask, GELU feed-forward."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.out = nn.Linear(HIDDEN, HIDDEN)
        self.norm1 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.up = nn.Linear(HIDDEN, FFN)
        self.down = nn.Linear(FFN, HIDDEN)
        self.norm2 = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, x, bias):
        batch, length, _ = x.shape
        size = HIDDEN // HEADS
        q, k, v = (t.reshape(batch, length, HEADS, size).transpose(1, 2)
                   for t in self.qkv(x).split(HIDDEN, dim=-1))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(size) + bias
        attn = torch.matmul(torch.softmax(scores, dim=-1), v)
        x = self.norm1(x + self.out(attn.transpose(1, 2).reshape(batch, length, HIDDEN)))
        return self.norm2(x + self.down(nn.functional.gelu(self.up(x))))


class Bert(nn.Module):
    """Word, position and token-type embeddings, LayerNorm, the layers."""

    def __init__(self, vocab):
        super().__init__()
        self.words = nn.Embedding(vocab, HIDDEN)
        self.positions = nn.Embedding(SEQ, HIDDEN)
        self.types = nn.Embedding(2, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))

    def forward(self, input_ids, attention_mask, token_type_ids):
        length = input_ids.shape[1]
        x = self.words(input_ids) + self.positions.weight[:length] + self.types(token_type_ids)
        x = self.norm(x)
        bias = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x


def embed(model, ids):
    """Mean over the tokens, L2-normalized, and the [CLS] vector of one unpadded sentence."""
    t = torch.tensor([ids])
    hidden = model(t, torch.ones_like(t), torch.zeros_like(t))[0]
    v = hidden.mean(dim=0)
    return (v / v.norm()).tolist(), hidden[0].tolist()


def main():
    sys.path.insert(0, HERE)
    from check_exact import corpus_lines
    from tokenizers import Tokenizer

    torch.manual_seed(19)
    tok = Tokenizer.from_file(os.path.join(HERE, "fixtures", "tokenizer.json"))
    model = Bert(tok.get_vocab_size()).eval()
    for p in model.parameters():
        nn.init.normal_(p, std=0.3)
    os.makedirs(OUT, exist_ok=True)
    example = torch.zeros(2, SEQ, dtype=torch.int64)
    for file, axes in (("model.onnx", {0: "batch"}),
                       ("model_dynamic.onnx", {0: "batch", 1: "sequence"})):
        torch.onnx.export(model, (example, torch.ones_like(example), example),
                          os.path.join(OUT, file), dynamo=False, opset_version=14,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"],
                          dynamic_axes={n: axes for n in
                                        ("input_ids", "attention_mask", "token_type_ids",
                                         "last_hidden_state")})
    tok.no_padding()
    tok.enable_truncation(SEQ)
    sentences = [line.replace("\0", "") for line in corpus_lines()]
    with torch.no_grad():
        vectors = [embed(model, e.ids) for e in tok.encode_batch(sentences)]
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump({"max_seq_length": SEQ, "sentences": sentences,
                   "mean_normalized": [v[0] for v in vectors], "cls": [v[1] for v in vectors]}, f)
    print(f"{OUT}: {os.path.getsize(os.path.join(OUT, 'model.onnx'))} bytes of ONNX, "
          f"{len(sentences)} reference sentences")


if __name__ == "__main__":
    main()
