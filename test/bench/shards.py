#!/usr/bin/env python3
"""Bulk scoring on one server against a coordinator and two shards, in one
run on one machine.

Starts three scratch servers (test/scratch-server.sh; the inference worker
off, so that every forward pass runs in a backend), stores the same MLP
(--features inputs, two hidden layers of --hidden, 10 outputs, random
weights) on each, and a table of --rows rows of --features real values:

  single  one server holds every row: INSERT INTO scores SELECT id,
          predict_class('mlp', features) FROM t (BatchPredict, one backend)
  sharded each shard holds half the rows; the coordinator, through
          create_sharded_view() (postgres_fdw async append), runs
          INSERT INTO scores SELECT id, class FROM scored: the shards score
          their halves at the same time and send only (id, class)

Each is run --runs times, interleaved, after a warm-up; the best time is
reported with rows/s and the ratio, and the two score tables must agree.
Writes markdown to --out (also printed).

    python3 test/bench/shards.py [--rows 1000000] [--features 64] [--hidden 256]
        [--runs 3] [--dir /tmp/pg_infer_shards] [--out test/bench/shards.md]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test"))
sys.path.insert(0, os.path.join(ROOT, "test", "bench"))
import bench as B  # noqa: E402
from safetensors_writer import safetensors_bytes  # noqa: E402

SCRATCH = os.path.join(ROOT, "test", "scratch-server.sh")
SETTINGS = ["shared_preload_libraries = 'pg_infer'", "pg_infer.worker_device = 'off'",
            "shared_buffers = '1GB'", "max_parallel_workers_per_gather = 0"]


def mlp(features, hidden):
    """The graph and weights of a features-hidden-hidden-10 ReLU MLP."""
    rng = np.random.default_rng(11)
    dims = [features, hidden, hidden, 10]
    nodes, tensors, prev = [], {}, "x"
    for i in range(3):
        tensors[f"w{i}"] = (rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i])).astype("f4")
        tensors[f"b{i}"] = (rng.standard_normal(dims[i + 1]) * 0.1).astype("f4")
        nodes.append({"name": f"d{i}", "op": "Dense", "inputs": [prev, f"w{i}", f"b{i}"]})
        prev = f"d{i}"
        if i < 2:
            nodes.append({"name": f"r{i}", "op": "Relu", "inputs": [prev]})
            prev = f"r{i}"
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, features]}],
             "outputs": [{"name": prev}], "nodes": nodes}
    return json.dumps(graph), safetensors_bytes(tensors)


def timed(conn, setup, sql):
    conn.execute(setup)
    start = time.perf_counter()
    conn.execute(sql)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/pg_infer_shards")
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "bench", "shards.md"))
    args = ap.parse_args()
    names = [("single", "55650"), ("coordinator", "55651"), ("shard1", "55652"), ("shard2", "55653")]
    os.makedirs(args.dir, exist_ok=True)
    os.chmod(args.dir, 0o777)
    started, ok = [], False
    try:
        params = {}
        for name, port in names:
            directory = os.path.join(args.dir, name)
            subprocess.run([SCRATCH, "start", directory, port, *SETTINGS], check=True)
            started.append(directory)
            params[name] = dict(host=directory, port=port, user="postgres", dbname="postgres", autocommit=True)
        ok = run(args, params)
    finally:
        for directory in started:
            subprocess.run([SCRATCH, "stop", directory], check=False)
    sys.exit(0 if ok else 1)


def run(args, params):
    graph, weights = mlp(args.features, args.hidden)
    rows_sql = (f"SELECT g AS id, ARRAY(SELECT sin(g * 0.001 * k)::real FROM generate_series(1, {args.features}) k)"
                f" AS features FROM generate_series(1, {args.rows}) g")
    conns = {n: psycopg.connect(**p) for n, p in params.items()}
    for n in ("single", "shard1", "shard2"):
        c = conns[n]
        c.execute("CREATE EXTENSION pg_infer")
        c.execute("SELECT create_model('mlp', %s::jsonb, %s)", (graph, weights))
        where = "" if n == "single" else f" WHERE id % 2 = {int(n == 'shard2')}"
        c.execute(f"CREATE TABLE t AS SELECT * FROM ({rows_sql}) r{where}")
        c.execute("ALTER TABLE t ALTER COLUMN features SET STORAGE PLAIN")
        c.execute("VACUUM ANALYZE t")
    c = conns["coordinator"]
    for ext in ("pg_infer", "postgres_fdw", "dblink"):
        c.execute(f"CREATE EXTENSION {ext}")
    for i, n in enumerate(("shard1", "shard2"), 1):
        c.execute(f"CREATE SERVER s{i} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '{params[n]['host']}',"
                  f" port '{params[n]['port']}', dbname 'postgres', async_capable 'true', fetch_size '10000')")
        c.execute(f"CREATE USER MAPPING FOR postgres SERVER s{i} OPTIONS (user 'postgres')")
    c.execute("SELECT create_sharded_view('scored', ARRAY['s1', 's2'],"
              " 'SELECT id, predict_class(''mlp'', features) AS class FROM t')")
    machine = B.machine_info(conns["single"])
    statements = {
        "single": (conns["single"], "DROP TABLE IF EXISTS scores; CREATE TABLE scores (id int, class int)",
                   "INSERT INTO scores SELECT id, predict_class('mlp', features) FROM t"),
        "sharded": (conns["coordinator"], "DROP TABLE IF EXISTS scores; CREATE TABLE scores (id int, class int)",
                    "INSERT INTO scores SELECT id, class FROM scored"),
    }
    best = {k: float("inf") for k in statements}
    for run_no in range(args.runs + 1):          # the first is a warm-up
        for k, (conn, setup, sql) in statements.items():
            t = timed(conn, setup, sql)
            B.log(f"{k} run {run_no}: {t:.2f} s")
            if run_no > 0:
                best[k] = min(best[k], t)
    single = conns["single"].execute("SELECT array_agg(class ORDER BY id) FROM scores").fetchone()[0]
    sharded = conns["coordinator"].execute("SELECT array_agg(class ORDER BY id) FROM scores").fetchone()[0]
    agree = sum(a == b for a, b in zip(single, sharded))
    lines = ["# Scoring across shards", "",
             f"`python3 test/bench/shards.py --rows {args.rows} --features {args.features} --hidden {args.hidden}"
             f" --runs {args.runs}`", "", "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", f"MLP {args.features}-{args.hidden}-{args.hidden}-10, {args.rows:,} rows; best of {args.runs}"
              " after a warm-up, interleaved. All servers on this machine.", "",
              "| INSERT ... SELECT scoring | seconds | rows/s |", "|---|---:|---:|"]
    for k, label in (("single", "one server"), ("sharded", "coordinator + 2 shards (async append)")):
        lines.append(f"| {label} | {best[k]:.2f} | {args.rows / best[k]:,.0f} |")
    lines += ["", f"Sharded / single: **{best['single'] / best['sharded']:.2f}x**. Classes agree on"
              f" {agree:,} of {len(single):,} rows."]
    report = "\n".join(lines) + "\n"
    print(report)
    with open(args.out, "w") as f:
        f.write(report)
    return len(single) == len(sharded) == args.rows and agree >= args.rows * 0.999


if __name__ == "__main__":
    main()
