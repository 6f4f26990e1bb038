"""Text models: create_model's tokenizer, stored and versioned with the model
and carried by pg_dump; tokenize(), checked id for id against HuggingFace
tokenizers on the corpus of test/text; embed(), checked against PyTorch's
vectors of the 2-layer BERT fixture (test/text/make_bert.py)."""
import json
import math
import sys
import time

import psycopg
import pytest
from tokenizers import Tokenizer

from conftest import ROOT, conninfo, restored_copy

sys.path.insert(0, str(ROOT / "test" / "text"))
from check_exact import corpus_lines  # noqa: E402

TOKENIZER = ROOT / "test" / "text" / "fixtures" / "tokenizer.json"
BERT = ROOT / "test" / "text" / "fixtures" / "bert_tiny"
ONNX = BERT / "model.onnx"
DYNAMIC = BERT / "model_dynamic.onnx"   # [batch, sequence]
NOT_TEXT = ROOT / "test" / "onnx" / "models" / "tabular_embedding_opset13" / "model.onnx"


def create_text_model(conn, name, tokenizer=None, options=None, onnx=ONNX):
    """Stores the BERT fixture with a tokenizer (the fixture's by default)."""
    return conn.execute(
        "SELECT create_model(%s, onnx => %s, options => %s::jsonb, tokenizer => %s::jsonb)",
        (name, onnx.read_bytes(), json.dumps(options or {}),
         TOKENIZER.read_text() if tokenizer is None else tokenizer)).fetchone()[0]


def reference(max_length):
    """HuggingFace's ids for the corpus (NUL, which text cannot hold, left out)."""
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.no_padding()
    if max_length:
        tok.enable_truncation(max_length)
    lines = [line.replace("\0", "") for line in corpus_lines()]
    return lines, [e.ids for e in tok.encode_batch(lines)]


def tokenize_all(conn, model, lines):
    """tokenize(model, line) for each line, in order."""
    return [r[0] for r in conn.execute(
        "SELECT tokenize(%s, x) FROM unnest(%s::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i",
        (model, lines))]


def test_tokenize_matches_tokenizers(conn):
    create_text_model(conn, "full")
    create_text_model(conn, "short", options={"max_seq_length": 16})
    for model, max_length in (("full", 0), ("short", 16)):
        lines, want = reference(max_length)
        got = tokenize_all(conn, model, lines)
        assert len(got) == len(want) > 40
        assert got == want
    longest = max(len(ids) for ids in reference(0)[1])
    assert longest > 512


def test_null_empty_and_special_ids(conn):
    create_text_model(conn, "t")
    tok = Tokenizer.from_file(str(TOKENIZER))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    assert conn.execute("SELECT tokenize('t', NULL)").fetchone()[0] is None
    assert conn.execute("SELECT tokenize('t', '')").fetchone()[0] == [cls, sep]
    assert conn.execute("SELECT tokenize('t', ' \t\n')").fetchone()[0] == [cls, sep]


def refused(conn, tokenizer, options, message):
    """create_model fails with message, and stores nothing."""
    with pytest.raises(psycopg.Error) as info:
        create_text_model(conn, "bad", tokenizer, options)
    assert message in str(info.value), str(info.value)
    assert conn.execute("SELECT count(*) FROM pginfer.model_version").fetchone()[0] == 0
    return info.value


def test_malformed_tokenizer_refused_naming_the_fault(conn):
    good = json.loads(TOKENIZER.read_text())
    unigram = dict(good, model=dict(good["model"], type="Unigram"))
    no_unk = dict(good, model=dict(good["model"], unk_token="<unk>"))
    single_word = dict(good, added_tokens=[dict(good["added_tokens"][0], single_word=True)])
    err = refused(conn, json.dumps(unigram), None,
                  'model "bad": tokenizer: tokenizer model type "Unigram" is not supported, expected "WordPiece" or "BPE"')
    assert err.sqlstate == "0A000"
    err = refused(conn, json.dumps(no_unk), None, 'unk_token "<unk>" is not in the vocabulary')
    assert err.sqlstate == "42704"
    refused(conn, json.dumps(single_word), None, 'added token "[PAD]" sets single_word, which is not supported')
    refused(conn, '{"model": 1}', None, "tokenizer model type \"(missing)\" is not supported")
    refused(conn, None, {"max_seq_length": 2},
            'option "max_seq_length" is 2, which leaves no room for text after the tokenizer\'s 2 special tokens')
    refused(conn, None, {"max_seq_length": "64"}, 'option "max_seq_length" must be an integer from 1 to 65536')
    refused(conn, None, {"max_seq_length": 64}, 'option "max_seq_length" is 64, the network takes 32 ids per row')
    refused(conn, None, {"pooling": "max"}, 'option "pooling" must be "mean" or "cls"')
    with pytest.raises(psycopg.Error, match='input "category" is not one a text model takes'):
        create_text_model(conn, "bad", onnx=NOT_TEXT)
    with pytest.raises(psycopg.Error, match='options "max_seq_length", "pooling" and "normalize" need a tokenizer'):
        conn.execute("SELECT create_model('bad', onnx => %s, options => '{\"max_seq_length\": 8}')",
                     (ONNX.read_bytes(),))
    assert conn.execute("SELECT count(*) FROM pginfer.model").fetchone()[0] == 0


def test_model_without_tokenizer(conn):
    conn.execute("SELECT create_model('plain', onnx => %s)", (ONNX.read_bytes(),))
    for function in ("tokenize", "embed"):
        with pytest.raises(psycopg.Error, match='model "plain" has no tokenizer') as info:
            conn.execute(f"SELECT {function}('plain', 'text')")
        assert info.value.sqlstate == "42809"
    with pytest.raises(psycopg.Error, match='model "nothing" does not exist'):
        conn.execute("SELECT tokenize('nothing', 'text')")


def test_versions_carry_their_own_tokenizer(conn):
    assert create_text_model(conn, "t", options={"max_seq_length": 16}) == 1
    text = "the model turns each row of the table into a vector of real numbers"
    assert len(conn.execute("SELECT tokenize('t', %s)", (text,)).fetchone()[0]) == 16
    assert create_text_model(conn, "t", options={"max_seq_length": 4}) == 2
    assert len(conn.execute("SELECT tokenize('t', %s)", (text,)).fetchone()[0]) == 4
    conn.execute("SELECT set_active_version('t', 1)")
    assert len(conn.execute("SELECT tokenize('t', %s)", (text,)).fetchone()[0]) == 16
    # a session that cached version 1's tokenizer sees a new active version
    conn.execute("SELECT set_active_version('t', 2)")
    assert len(conn.execute("SELECT tokenize('t', %s)", (text,)).fetchone()[0]) == 4


def test_pg_dump_and_restore_carry_the_tokenizer(dbname, conn):
    create_text_model(conn, "t", options={"max_seq_length": 32, "normalize": True})
    # a symbolic length: the restored version keeps its stored length and runs at each pass's
    create_text_model(conn, "dyn", options={"max_seq_length": 32, "normalize": True}, onnx=DYNAMIC)
    lines, want = reference(32)
    vectors = embed_all(conn, "t", lines)
    dynamic = embed_all(conn, "dyn", lines)
    with restored_copy(dbname) as restored:
        with psycopg.connect(**conninfo(restored), autocommit=True) as r:
            assert tokenize_all(r, "t", lines) == want
            assert embed_all(r, "t", lines) == vectors
            assert embed_all(r, "dyn", lines) == dynamic
            short = explain(r, "SELECT embed('dyn', x) FROM unnest(%s::text[]) x", (["a b"],))
            assert short["Padded Tokens"] == 16


def embed_all(conn, model, lines):
    """embed(model, line) for each line, in order."""
    return [r[0] for r in conn.execute(
        "SELECT embed(%s, x) FROM unnest(%s::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i",
        (model, lines))]


def cosine(a, b):
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_embed_matches_pytorch(conn):
    ref = json.loads((BERT / "reference.json").read_text())
    create_text_model(conn, "mean", options={"max_seq_length": 32, "pooling": "mean", "normalize": True})
    create_text_model(conn, "cls", options={"pooling": "cls"})
    for model, want in (("mean", ref["mean_normalized"]), ("cls", ref["cls"])):
        got = embed_all(conn, model, ref["sentences"])
        assert len(got) == len(want) == len(ref["sentences"]) > 40
        worst = min(cosine(g, w) for g, w in zip(got, want))
        assert worst >= 0.9999, (model, worst)
        for g, w in zip(got, want):
            assert len(g) == 32
            assert math.isclose(math.sqrt(sum(x * x for x in g)), math.sqrt(sum(x * x for x in w)),
                                rel_tol=1e-4)


def test_embed_null_empty_and_truncation(conn):
    create_text_model(conn, "t", options={"max_seq_length": 8, "normalize": True})
    assert conn.execute("SELECT embed('t', NULL)").fetchone()[0] is None
    empty, blank = conn.execute("SELECT embed('t', ''), embed('t', E' \\t\\n')").fetchone()
    assert empty == blank and len(empty) == 32
    # past max_seq_length the text is cut: what follows the 6th word changes nothing
    long_a, long_b, short = conn.execute(
        "SELECT embed('t', 'a b c d e f g h'), embed('t', 'a b c d e f x y z'),"
        " embed('t', 'a b c d e')").fetchone()
    assert long_a == long_b and long_a != short


def test_tokenizer_without_template(conn):
    bare = json.loads(TOKENIZER.read_text())
    bare["post_processor"] = None
    create_text_model(conn, "bare", json.dumps(bare), {"normalize": True})
    create_text_model(conn, "bare_dyn", json.dumps(bare), {"normalize": True, "max_seq_length": 32},
                      onnx=DYNAMIC)
    ref = Tokenizer.from_str(json.dumps(bare))
    text = "The model turns each row into a vector"
    assert conn.execute("SELECT tokenize('bare', %s)", (text,)).fetchone()[0] == ref.encode(text).ids
    assert conn.execute("SELECT tokenize('bare', '')").fetchone()[0] == []
    # no token to pool over: zeros, as sentence-transformers' clamped mean gives
    assert conn.execute("SELECT embed('bare', '')").fetchone()[0] == [0.0] * 32
    assert conn.execute("SELECT embed('bare_dyn', '')").fetchone()[0] == [0.0] * 32
    assert max_diff(embed_all(conn, "bare_dyn", ["", text]), embed_all(conn, "bare", ["", text])) <= 1e-6



def explain(conn, sql, params=()):
    """EXPLAIN (ANALYZE, FORMAT JSON)'s BatchPredict node (the first one), or None."""
    plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[0][0]["Plan"]
    nodes = [plan]
    while nodes:
        node = nodes.pop(0)
        if node.get("Custom Plan Provider") == "BatchPredict":
            return node
        nodes.extend(node.get("Plans", []))
    return None


def max_diff(a, b):
    """Largest elementwise difference of two lists of vectors."""
    assert len(a) == len(b)
    return max(abs(x - y) for u, v in zip(a, b) for x, y in zip(u, v))


def test_symbolic_sequence_runs_at_each_batch_length(conn):
    """A [batch, sequence] export runs each batch at its own padded length,
    with the vectors of PyTorch and of the fixed [batch, 32] export."""
    ref = json.loads((BERT / "reference.json").read_text())
    options = {"max_seq_length": 32, "normalize": True}
    create_text_model(conn, "dyn", options=options, onnx=DYNAMIC)
    create_text_model(conn, "fixed", options=options)
    fixed = embed_all(conn, "fixed", ref["sentences"])
    for device in ("cpu", "auto"):
        conn.execute("SELECT set_config('pg_infer.device', %s, false)", (device,))
        got = embed_all(conn, "dyn", ref["sentences"])
        assert min(cosine(g, w) for g, w in zip(got, ref["mean_normalized"])) >= 0.9999
        assert max_diff(got, fixed) <= 1e-6
    # short texts: one batch, padded to 16 tokens instead of the stored 32
    short = ["a b", "the model", "a vector of real numbers", "rows", "x y z"]
    ids = tokenize_all(conn, "dyn", short)
    node = explain(conn, "SELECT embed('dyn', x) FROM unnest(%s::text[]) x", (short,))
    assert node["Text Tokens"] == sum(len(i) for i in ids)
    assert node["Padded Tokens"] == node["Rows Predicted"] * 16 == len(short) * 16
    node = explain(conn, "SELECT embed('fixed', x) FROM unnest(%s::text[]) x", (short,))
    assert node["Padded Tokens"] == len(short) * 32


def test_symbolic_sequence_passes_of_one_length(conn):
    """Texts of mixed lengths in one batch run in passes of one padded length
    each (16 or 32 here), not all padded to the batch's longest, with the
    vectors they have alone."""
    lines = json.loads((BERT / "reference.json").read_text())["sentences"]
    create_text_model(conn, "dyn", options={"max_seq_length": 32, "normalize": True}, onnx=DYNAMIC)
    ids = tokenize_all(conn, "dyn", lines)
    lengths = {16 if len(i) <= 16 else 32 for i in ids}
    assert lengths == {16, 32}
    conn.execute("SET pg_infer.batch_size = 1000")
    node = explain(conn, "SELECT embed('dyn', x) FROM unnest(%s::text[]) x", (lines,))
    assert node["Padded Tokens"] == sum(16 if len(i) <= 16 else 32 for i in ids)
    assert node["Text Passes"] > node["Batches"]
    alone = [conn.execute("SELECT embed('dyn', %s)", (x,)).fetchone()[0] for x in lines]
    assert max_diff(embed_all(conn, "dyn", lines), alone) <= 1e-6


def worker_rows(conn):
    """Rows the inference worker has run, all databases together."""
    return conn.execute("SELECT rows FROM pginfer.worker").fetchone()[0]


def test_symbolic_sequence_in_the_worker(dbname, conn):
    """Through the inference worker (the e2e server runs it on the CPU), a
    [batch, sequence] export runs each pass at its own padded length too,
    loaded over the version's weights, with the backend's vectors; EXPLAIN
    names the worker."""
    assert conn.execute("SELECT state FROM pginfer.worker").fetchone()[0] == "ready"
    lines = json.loads((BERT / "reference.json").read_text())["sentences"]
    short = ["a b", "the model", "a vector of real numbers", "rows", "x y z"]
    create_text_model(conn, "dyn", options={"max_seq_length": 32, "normalize": True}, onnx=DYNAMIC)
    conn.execute("SET pg_infer.device = 'cpu'")
    backend = [embed_all(conn, "dyn", x) for x in (lines, short, short[:1])]
    node = explain(conn, "SELECT embed('dyn', x) FROM unnest(%s::text[]) x", (short,))
    assert node["Device"] == "cpu"
    conn.execute("SET pg_infer.device = 'auto'")
    before = worker_rows(conn)
    worker = [embed_all(conn, "dyn", x) for x in (lines, short, short[:1])]
    assert worker_rows(conn) - before == len(lines) + len(short) + 1
    for got, want in zip(worker, backend):
        assert max_diff(got, want) <= 1e-6
    node = explain(conn, "SELECT embed('dyn', x) FROM unnest(%s::text[]) x", (short,))
    assert node["Device"] == "cpu (inference worker)"
    assert node["Padded Tokens"] == len(short) * 16
    # the short texts ran at 16 tokens: a model of that length, over the version's weights
    resident = dict(conn.execute(
        "SELECT sequence_length, bytes FROM pginfer.worker_models WHERE model = 'dyn'").fetchall())
    assert None in resident and 16 in resident
    assert set(resident) <= {None, 16, 32} and resident[16] < resident[None]
    cached = dict(conn.execute(
        "SELECT sequence_length, bytes FROM pginfer.cached_models WHERE model = 'dyn'").fetchall())
    assert 16 in cached and cached[16] < cached[None]
    # another session, in the backend and through the worker, attaches the same image
    with psycopg.connect(**conninfo(dbname), autocommit=True) as other:
        for device in ("cpu", "auto"):
            other.execute("SELECT set_config('pg_infer.device', %s, false)", (device,))
            assert max_diff(embed_all(other, "dyn", short), backend[1]) <= 1e-6
    assert conn.execute("SELECT loads FROM pginfer.cached_models"
                        " WHERE model = 'dyn' AND sequence_length = 16").fetchone()[0] == 1
    # a drop unloads the version and the lengths loaded over it
    conn.execute("SELECT drop_model('dyn')")
    deadline = time.monotonic() + 30
    while conn.execute("SELECT count(*) FROM pginfer.worker_models WHERE model = 'dyn'").fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert conn.execute("SELECT count(*) FROM pginfer.cached_models WHERE model = 'dyn'").fetchone()[0] == 0


def test_models_view_shows_a_symbolic_sequence(conn):
    """pginfer.models shows a symbolic sequence dimension as such, with its
    longest (max_seq_length), and a fixed one as its number."""
    create_text_model(conn, "dyn", options={"max_seq_length": 24}, onnx=DYNAMIC)
    create_text_model(conn, "fixed", options={"max_seq_length": 24})
    shapes = {name: ([i["shape"] for i in inputs], [o["shape"] for o in outputs])
              for name, inputs, outputs in conn.execute(
                  "SELECT name, inputs, outputs FROM pginfer.models")}
    inputs, outputs = shapes["dyn"]
    assert inputs == [[-1, "sequence<=24"]] * 3
    assert outputs[0] == [-1, "sequence<=24", 32]
    inputs, outputs = shapes["fixed"]
    assert inputs == [[-1, 32]] * 3 and outputs[0] == [-1, 32, 32]


def test_symbolic_sequence_needs_max_seq_length(conn):
    with pytest.raises(psycopg.Error) as info:
        create_text_model(conn, "dyn", onnx=DYNAMIC)
    assert info.value.sqlstate == "22023"
    assert 'a text model with a symbolic sequence dimension needs option "max_seq_length"' in str(info.value)
    with pytest.raises(psycopg.Error, match="dimension 1 is symbolic"):
        conn.execute("SELECT create_model('plain', onnx => %s)", (DYNAMIC.read_bytes(),))
    assert conn.execute("SELECT count(*) FROM pginfer.model").fetchone()[0] == 0


@pytest.mark.parametrize("onnx", [ONNX, DYNAMIC], ids=["fixed", "symbolic"])
def test_batch_invariance(conn, onnx):
    """A text's vector is the same alone (per row) and among others of other
    lengths in a batch, whatever the batch's token cap."""
    lines = [line for line in json.loads((BERT / "reference.json").read_text())["sentences"]]
    create_text_model(conn, "t", options={"max_seq_length": 32, "normalize": True}, onnx=onnx)
    alone = [conn.execute("SELECT embed('t', %s)", (x,)).fetchone()[0] for x in lines]
    batched = embed_all(conn, "t", lines)
    assert max_diff(alone, batched) <= 1e-6
    conn.execute("SET pg_infer.embed_batch_tokens = 64")
    node = explain(conn, "SELECT embed('t', x) FROM unnest(%s::text[]) x", (lines,))
    assert node["Text Passes"] > node["Batches"]
    assert node["Padded Tokens"] <= 64 * node["Text Passes"]
    assert max_diff(embed_all(conn, "t", lines), batched) <= 1e-6
    conn.execute("SET pg_infer.embed_batch_tokens = 16")
    node = explain(conn, "SELECT embed('t', x) FROM unnest(%s::text[]) x", (lines,))
    assert node["Text Passes"] == len(lines)
    assert max_diff(embed_all(conn, "t", lines), batched) <= 1e-6


def test_insert_select_is_batched_in_row_order(conn):
    lines = json.loads((BERT / "reference.json").read_text())["sentences"]
    create_text_model(conn, "minilm", options={"max_seq_length": 32, "normalize": True}, onnx=DYNAMIC)
    conn.execute("CREATE TABLE docs (id int PRIMARY KEY, body text)")
    conn.execute("CREATE TABLE docs_vec (id int, v real[], n serial)")
    # rows of mixed lengths in no length order, and a NULL body
    conn.execute("INSERT INTO docs SELECT i, x FROM unnest(%s::text[]) WITH ORDINALITY AS u(x, i)",
                 (lines,))
    conn.execute("INSERT INTO docs VALUES (0, NULL)")
    sql = "INSERT INTO docs_vec (id, v) SELECT id, embed('minilm', body) FROM docs ORDER BY id DESC"
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + sql))
    assert "BatchPredict" in plan and "Models: minilm" in plan
    node = explain(conn, sql)
    assert node["Rows Predicted"] == len(lines) + 1 and node["Batches"] < len(lines)
    conn.execute("TRUNCATE docs_vec")
    conn.execute(sql)
    rows = conn.execute("SELECT id, v FROM docs_vec ORDER BY n").fetchall()
    assert [r[0] for r in rows] == list(range(len(lines), -1, -1))
    assert rows[-1][1] is None
    alone = [conn.execute("SELECT embed('minilm', %s)", (x,)).fetchone()[0] for x in reversed(lines)]
    assert max_diff([r[1] for r in rows[:-1]], alone) <= 1e-6


def test_over_length_text_truncated_or_refused(conn):
    create_text_model(conn, "t", options={"max_seq_length": 8, "normalize": True}, onnx=DYNAMIC)
    fits, cut = "a b c d e f", "a b c d e f g h"   # 6 words + 2 specials = 8; 10
    assert len(conn.execute("SELECT tokenize('t', %s)", (fits,)).fetchone()[0]) == 8
    truncated = conn.execute("SELECT embed('t', %s)", (cut,)).fetchone()[0]
    assert truncated == conn.execute("SELECT embed('t', %s)", (fits,)).fetchone()[0]
    conn.execute("SET pg_infer.text_truncation = 'error'")
    assert len(conn.execute("SELECT embed('t', %s)", (fits,)).fetchone()[0]) == 32
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT embed('t', %s)", (cut,))
    assert info.value.sqlstate == "22001"
    assert 'text of 10 tokens is longer than model "t" takes, 8 tokens' in str(info.value)
    # batched: the statement fails and stores nothing
    conn.execute("CREATE TABLE docs_vec (v real[])")
    with pytest.raises(psycopg.Error) as info:
        conn.execute("INSERT INTO docs_vec SELECT embed('t', x) FROM unnest(%s::text[]) x",
                     ([fits, fits, cut, fits],))
    assert info.value.sqlstate == "22001"
    assert conn.execute("SELECT count(*) FROM docs_vec").fetchone()[0] == 0
    conn.execute("RESET pg_infer.text_truncation")
    conn.execute("INSERT INTO docs_vec SELECT embed('t', x) FROM unnest(%s::text[]) x", ([fits, cut],))
    assert conn.execute("SELECT count(DISTINCT v) FROM docs_vec").fetchone()[0] == 1
