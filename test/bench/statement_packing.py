#!/usr/bin/env python3
"""Per-statement time of single-row predict() in a backend's own engine.

Each statement is its own transaction (autocommit), with
pg_infer.device = 'cpu' so that every forward pass runs in the session's
backend.  Measures, for each model, the median and 10th percentile
client-side time of --statements statements `SELECT predict(m, x)` after
--warmup ones, the models interleaved round by round, and prints the
executors this session built per version (pginfer.session_models'
engine_builds, when the installed version has that column).

Runs against a server that has pg_infer (a scratch server:
test/scratch-server.sh); creates its models in the database given:

  mnist    models/mnist, the 784-128-10 MLP of the demo
  mlp      test/bench/models/mlp.onnx, 784-512-256-10
  resnet   test/bench/models/resnet_cifar.onnx, a ResNet-style CNN on 3x32x32
  wide     a 1024-4096-4096-10 MLP (Dense/Relu), random float32 weights from
           numpy (fixed seed, bench.mlp_model), 80 MB: a large model's packing

  statement_packing.py --host DIR --port PORT --dbname DB --data DIR

where --data is a directory the server can read holding copies of
models/mnist/model.{json,safetensors} under mnist/ and the two ONNX files.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (the Dense/Relu MLP builder)

WIDE = [1024, 4096, 4096, 10]
MODELS = [
    ("mnist", "SELECT create_model_from_files('mnist', %s, %s)",
     lambda d: (os.path.join(d, "mnist", "model.json"), os.path.join(d, "mnist", "model.safetensors")), 784),
    ("mlp", "SELECT create_model_from_onnx_file('mlp', %s)",
     lambda d: (os.path.join(d, "mlp.onnx"),), 784),
    ("resnet", "SELECT create_model_from_onnx_file('resnet', %s)",
     lambda d: (os.path.join(d, "resnet_cifar.onnx"),), 3 * 32 * 32),
    ("wide", None, None, WIDE[0]),
]


def create_wide(conn):
    graph, weights = B.mlp_model(WIDE, seed=7)
    conn.execute("SELECT create_model('wide', %s::jsonb, %s)", (graph, weights))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dbname", default="postgres")
    ap.add_argument("--data", required=True)
    ap.add_argument("--statements", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    with psycopg.connect(host=args.host, port=args.port, user="postgres", dbname=args.dbname,
                         autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_infer")
        for name, sql, files, _ in MODELS:
            if c.execute("SELECT count(*) FROM pginfer.models WHERE name = %s", (name,)).fetchone()[0] == 0:
                if name == "wide":
                    create_wide(c)
                else:
                    c.execute(sql, files(args.data))
        c.execute("SET pg_infer.device = 'cpu'")
        rng = np.random.default_rng(0)
        inputs = {name: rng.random(n, dtype=np.float32).tolist() for name, _, _, n in MODELS}
        times = {name: [] for name, _, _, _ in MODELS}
        for i in range(args.warmup + args.statements):
            for name, _, _, _ in MODELS:
                start = time.perf_counter()
                c.execute("SELECT predict(%s, %s::real[])", (name, inputs[name])).fetchone()
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - start)
        builds = None
        cols = [r[0] for r in c.execute("SELECT attname FROM pg_attribute"
                                        " WHERE attrelid = 'pginfer.session_models'::regclass").fetchall()]
        if "engine_builds" in cols:
            builds = dict(c.execute("SELECT model, engine_builds FROM pginfer.session_models").fetchall())
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
          f" (end of the run)")
    print(f"{args.statements} single-row statements per model after {args.warmup} warm-up, pg_infer.device = 'cpu'")
    print("| model | median ms | p10 ms | executors built |")
    print("|---|---|---|---|")
    for name, _, _, _ in MODELS:
        t = sorted(times[name])
        print(f"| {name} | {statistics.median(t) * 1e3:.3f} | {t[len(t) // 10] * 1e3:.3f} |"
              f" {builds.get(name, '-') if builds else 'n/a'} |")


if __name__ == "__main__":
    main()
