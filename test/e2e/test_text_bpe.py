"""Byte-level BPE tokenizers through SQL: create_model with a RoBERTa-style
tokenizer.json, tokenize() checked id for id against HuggingFace tokenizers
on the corpus of test/text, embed() on the 2-layer BERT fixture checked
against ONNX Runtime's vectors (test/text/make_bpe_reference.py), and
malformed BPE tokenizers refused with nothing stored."""
import json
import math

import psycopg
import pytest
from tokenizers import Tokenizer

from test_text import ONNX, BERT, ROOT, cosine, embed_all, refused, tokenize_all
from check_exact import corpus_lines

FIXTURES = ROOT / "test" / "text" / "fixtures"
ROBERTA = FIXTURES / "bpe_roberta.json"
VARIANTS = FIXTURES / "bpe_variants.json"


def create_bpe_model(conn, name, path=ROBERTA, options=None):
    """Stores the BERT fixture with a BPE tokenizer."""
    return conn.execute(
        "SELECT create_model(%s, onnx => %s, options => %s::jsonb, tokenizer => %s::jsonb)",
        (name, ONNX.read_bytes(), json.dumps(options or {}), path.read_text())).fetchone()[0]


def reference(path, max_length):
    """HuggingFace's ids for the corpus (NUL, which text cannot hold, left out)."""
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    if max_length:
        tok.enable_truncation(max_length)
    lines = [line.replace("\0", "") for line in corpus_lines()]
    return lines, [e.ids for e in tok.encode_batch(lines)]


def test_bpe_tokenize_matches_tokenizers(conn):
    create_bpe_model(conn, "roberta")
    create_bpe_model(conn, "roberta16", options={"max_seq_length": 16})
    create_bpe_model(conn, "variants", VARIANTS)
    for model, path, max_length in (("roberta", ROBERTA, 0), ("roberta16", ROBERTA, 16),
                                    ("variants", VARIANTS, 0)):
        lines, want = reference(path, max_length)
        got = tokenize_all(conn, model, lines)
        assert len(got) == len(want) > 40
        assert got == want, model
    assert max(len(ids) for ids in reference(ROBERTA, 0)[1]) > 512
    assert conn.execute("SELECT tokenize('roberta', NULL)").fetchone()[0] is None
    assert conn.execute("SELECT tokenize('roberta', '')").fetchone()[0] == [0, 2]


def test_bpe_embed_matches_onnx_runtime(conn):
    ref = json.loads((BERT / "reference_bpe.json").read_text())
    create_bpe_model(conn, "mean", options={"max_seq_length": 32, "pooling": "mean", "normalize": True})
    create_bpe_model(conn, "cls", options={"max_seq_length": 32, "pooling": "cls"})
    for model, want in (("mean", ref["mean_normalized"]), ("cls", ref["cls"])):
        got = embed_all(conn, model, ref["sentences"])
        assert len(got) == len(want) == len(ref["sentences"]) > 40
        worst = min(cosine(g, w) for g, w in zip(got, want))
        assert worst >= 0.9999, (model, worst)
        for g, w in zip(got, want):
            assert math.isclose(math.sqrt(sum(x * x for x in g)), math.sqrt(sum(x * x for x in w)),
                                rel_tol=1e-4)


def test_malformed_bpe_tokenizer_refused_naming_the_fault(conn):
    good = json.loads(ROBERTA.read_text())
    model = good["model"]
    unknown_merge = dict(good, model=dict(model, merges=model["merges"][:5] + [["Ġt", "zzz"]]))
    err = refused(conn, json.dumps(unknown_merge), None,
                  'model "bad": tokenizer: model.merges entry 5 refers to "zzz", which is not in the vocabulary')
    assert err.sqlstate == "42704"
    vocab = dict(model["vocab"], extra=7)
    err = refused(conn, json.dumps(dict(good, model=dict(model, vocab=vocab))), None,
                  "model.vocab id 7 is given to two tokens")
    assert err.sqlstate == "42710"
    refused(conn, json.dumps(dict(good, model=dict(model, dropout=0.1))), None,
            "model.dropout must be null: BPE dropout makes the ids random")
    refused(conn, json.dumps(dict(good, model=dict(model, merges=["a b c"]))), None,
            'model.merges entry 0 must be "a b" or ["a", "b"]')
    refused(conn, json.dumps(dict(good, model=dict(model, vocab=dict(model["vocab"], big=1 << 30)))), None,
            "a model.vocab id is 1.07374e+09, expected an integer from 0 to 4194303")
    refused(conn, json.dumps(dict(good, pre_tokenizer={"type": "Whitespace"})), None,
            'pre_tokenizer type "Whitespace" is not supported for a BPE model, expected "ByteLevel"')
    assert conn.execute("SELECT count(*) FROM pginfer.model").fetchone()[0] == 0
