#!/usr/bin/env python3
"""Head-of-line blocking in the inference worker: the latency of a light
model's single-row predictions while another session runs a heavy model
through the same worker (docs/worker.md, "Scheduling").

Starts a scratch server (test/scratch-server.sh) with shared_preload_libraries
= 'pg_infer', pg_infer.worker_device = 'cpu' and the --set settings, stores

  light   models/mnist (784-128-10 MLP), options {"input_scale": 1/255}
  heavy   4 Dense 2048 x 2048 layers with Relu between them (random weights)

and measures, each for --seconds:

  1. light alone: one connection calling a prepared
     SELECT predict_class('light', $1) (a real MNIST image, binary) about
     --light-rate times a second, at random moments (intervals uniform in
     0.5 to 1.5 times the mean, so that calls land at every phase of the
     heavy model's batches); per-call latency at the client, p50 / p99 / max
  2. heavy alone: --heavy-sessions connections each scoring a table of 8,192
     rows in a loop, SELECT count(predict_class('heavy', f)) FROM heavy_rows
     with pg_infer.batch_size = 4096 (BatchPredict: requests of up to 4,096
     rows); rows per second
  3. both at once: the light calls' latency and the heavy rows per second

with the worker's batch counters over each window.  Prints a Markdown report
(and writes it to --out when given).  The server is stopped at the end.

    python3 test/bench/fairness.py [--seconds 20] [--light-rate 20] [--heavy-sessions 1]
        [--set pg_infer.worker_time_slice=50ms ...] [--port 55710]
        [--dir /tmp/pg_infer_fairness] [--pgbin DIR] [--out FILE]

Needs psycopg 3 and numpy, and pg_infer installed with its executor.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (machine info, server settings, scratch server helpers)
import worker as W  # noqa: E402  (binary real[] parameters, the worker's counters)
from safetensors_writer import safetensors_bytes  # noqa: E402  (bench put test/ on the path)

DB = "fairness"
HEAVY_WIDTH = 2048
HEAVY_LAYERS = 4
HEAVY_ROWS = 8192
HEAVY_BATCH = 4096
LIGHT_SQL = "SELECT predict_class('light', %b::real[])"
HEAVY_SQL = "SELECT count(predict_class('heavy', f)) FROM heavy_rows"


def connect(ctx, dbname=DB):
    return W.connect(ctx, dbname=dbname)


def heavy_model():
    """Graph JSON and safetensors of the heavy model."""
    rng = np.random.default_rng(20261128)
    nodes, prev, tensors = [], "x", {}
    for i in range(HEAVY_LAYERS):
        nodes.append({"name": f"d{i}", "op": "Dense", "inputs": [prev, f"w{i}", f"b{i}"]})
        prev = f"d{i}"
        if i < HEAVY_LAYERS - 1:
            nodes.append({"name": f"r{i}", "op": "Relu", "inputs": [prev]})
            prev = f"r{i}"
        tensors[f"w{i}"] = (rng.standard_normal((HEAVY_WIDTH, HEAVY_WIDTH)) / np.sqrt(HEAVY_WIDTH)).astype("f4")
        tensors[f"b{i}"] = np.zeros(HEAVY_WIDTH, "f4")
    nodes[-1]["name"] = "y"
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, HEAVY_WIDTH]}],
             "outputs": [{"name": "y"}], "nodes": nodes}
    return json.dumps(graph), safetensors_bytes(tensors)


def setup(ctx):
    with connect(ctx, dbname="postgres") as c:
        c.execute(f"CREATE DATABASE {DB}")
    conn = connect(ctx)
    conn.execute("CREATE EXTENSION pg_infer")
    W.wait_for_worker(conn)
    with open(os.path.join(B.MODEL_DIR, "model.json")) as f:
        graph = f.read()
    with open(os.path.join(B.MODEL_DIR, "model.safetensors"), "rb") as f:
        weights = f.read()
    conn.execute("SELECT create_model('light', %s::jsonb, %s, %s::jsonb)",
                 (graph, weights, json.dumps({"input_scale": B.INPUT_SCALE})))
    conn.execute("SELECT create_model('heavy', %s::jsonb, %s)", heavy_model())
    conn.execute(f"CREATE TABLE heavy_rows AS SELECT g AS id, array_fill((g % 7 - 3)::real, ARRAY[{HEAVY_WIDTH}])"
                 f" AS f FROM generate_series(1, {HEAVY_ROWS}) g")
    conn.execute("ALTER TABLE heavy_rows ALTER COLUMN f SET STORAGE PLAIN")
    conn.execute("VACUUM ANALYZE heavy_rows")
    return conn


def light_loop(ctx, images, seconds, rate, out):
    """Single-row predictions about rate times a second, at random moments,
    for seconds; appends each call's latency (s) to out."""
    rng = np.random.default_rng(1)
    with connect(ctx) as c:
        params = [W.real_array(images[i]) for i in range(100)]
        c.execute(LIGHT_SQL, (params[0],), prepare=True).fetchone()
        end = time.perf_counter() + seconds
        k = 0
        while time.perf_counter() < end:
            time.sleep(rng.uniform(0.5, 1.5) / rate)
            t0 = time.perf_counter()
            c.execute(LIGHT_SQL, (params[k % len(params)],), prepare=True).fetchone()
            out.append(time.perf_counter() - t0)
            k += 1


def heavy_loop(ctx, stop, counts, k):
    """Scores heavy_rows until stop is set; counts[k] = rows done."""
    with connect(ctx) as c:
        c.execute(f"SET pg_infer.batch_size = {HEAVY_BATCH}")
        while not stop.is_set():
            counts[k] += c.execute(HEAVY_SQL).fetchone()[0]


def window(ctx, conn, images, seconds, light, heavy_sessions, rate):
    """One measurement window; the light latencies, heavy rows/s and the worker's counters."""
    latencies, stop = [], threading.Event()
    counts = [0] * heavy_sessions
    heavies = [threading.Thread(target=heavy_loop, args=(ctx, stop, counts, k)) for k in range(heavy_sessions)]
    before = W.worker_row(conn)
    t0 = time.perf_counter()
    for t in heavies:
        t.start()
    if light:
        light_loop(ctx, images, seconds, rate, latencies)
    else:
        time.sleep(seconds)
    stop.set()
    for t in heavies:
        t.join()
    elapsed = time.perf_counter() - t0
    delta = W.Delta(before, W.worker_row(conn))
    return {"latencies": latencies, "heavy_rows_s": sum(counts) / elapsed if heavy_sessions else None,
            "batches": delta.batches, "batch_rows": delta.batch_rows, "forward_us": delta.forward}


def quantile(xs, q):
    return float(np.quantile(np.array(xs), q)) if xs else float("nan")


def render(args, info, settings, results):
    ms = lambda s: f"{s * 1000:,.1f}"  # noqa: E731
    L = ["# Head-of-line blocking: a light model beside a heavy one", "",
         f"Generated by `test/bench/fairness.py --seconds {args.seconds} --light-rate {args.light_rate:g} "
         f"--heavy-sessions {args.heavy_sessions}"
         + "".join(f" --set {s}" for s in args.set) + "` (scratch server, pg_infer.worker_device = 'cpu').", "",
         "## Machine", ""]
    for k in ("cpu", "cores", "memory", "postgres", "kernel", "commit", "load", "date"):
        L.append(f"- **{k}**: {info[k]}")
    L += [f"- **worker settings**: {settings}", "",
          "## Results", "",
          f"light = models/mnist, single-row `predict_class` from one connection about {args.light_rate:g} times "
          f"a second at random moments; heavy = {HEAVY_LAYERS} Dense {HEAVY_WIDTH}x{HEAVY_WIDTH} layers, "
          f"`count(predict_class(...))` over {HEAVY_ROWS:,} rows at `pg_infer.batch_size = {HEAVY_BATCH}` from "
          f"{args.heavy_sessions} connection(s) in a loop.", "",
          "| window | light calls | light p50 ms | light p99 ms | light max ms | heavy rows/s "
          "| worker batches | rows/batch | forward µs/batch |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lat = r["latencies"]
        heavy = f"{r['heavy_rows_s']:,.0f}" if r["heavy_rows_s"] is not None else "-"
        L.append(f"| {name} | {len(lat):,} | {ms(quantile(lat, 0.5)) if lat else '-'} "
                 f"| {ms(quantile(lat, 0.99)) if lat else '-'} | {ms(max(lat)) if lat else '-'} | {heavy} "
                 f"| {r['batches']:,} | {r['batch_rows']:,.1f} | {r['forward_us']:,.0f} |")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--light-rate", type=float, default=20.0, help="light calls per second")
    ap.add_argument("--heavy-sessions", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a postgresql.conf setting for the server (repeatable)")
    ap.add_argument("--port", type=int, default=55710)
    ap.add_argument("--dir", default="/tmp/pg_infer_fairness")
    ap.add_argument("--pgbin", help="PostgreSQL's bin directory (default: pg_config --bindir)")
    ap.add_argument("--out", help="also write the report here")
    args = ap.parse_args()
    if args.pgbin:
        os.environ["PGBIN"] = args.pgbin
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    images, _ = B.load_mnist()
    ctx = {"dir": args.dir, "port": args.port}
    extra = [f"{n.strip()} = '{v.strip()}'" for n, v in (s.split("=", 1) for s in args.set)]
    subprocess.run([B.SCRATCH, "stop", args.dir], check=False)
    subprocess.run([B.SCRATCH, "start", args.dir, str(args.port)] + W.server_conf("cpu") + extra, check=True)
    ok = False
    try:
        conn = setup(ctx)
        info = B.machine_info(conn)
        settings = ", ".join(f"{n} = {conn.execute(f'SHOW {n}').fetchone()[0]}"
                             for n in ("pg_infer.worker_max_batch", "pg_infer.worker_max_delay")) \
            + "".join(f", {s}" for s in args.set)
        # warm-up: both models resident in the executor
        window(ctx, conn, images, 2.0, True, 1, args.light_rate)
        results = {}
        B.log("light alone")
        results["light alone"] = window(ctx, conn, images, args.seconds, True, 0, args.light_rate)
        B.log("heavy alone")
        results["heavy alone"] = window(ctx, conn, images, args.seconds, False, args.heavy_sessions, args.light_rate)
        B.log("light beside heavy")
        results["light beside heavy"] = window(ctx, conn, images, args.seconds, True, args.heavy_sessions, args.light_rate)
        report = render(args, info, settings, results)
        print(report)
        if args.out:
            with open(args.out, "w") as f:
                f.write(report)
        for name, r in results.items():
            if r["latencies"]:
                print(f"summary: {name}: p50 {quantile(r['latencies'], 0.5) * 1000:.1f} ms, "
                      f"p99 {quantile(r['latencies'], 0.99) * 1000:.1f} ms")
        ok = True
    finally:
        B.stop_scratch_server(args.dir, ok)


if __name__ == "__main__":
    main()
