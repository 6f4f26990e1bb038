#!/usr/bin/env python3
"""pg_infer inference worker benchmark: the worker path (docs/worker.md)
against the backend's own CPU engine, on the CPU (worker_device = 'cpu') or
on a GPU (worker_device = 'cuda').

One run on one machine: starts a scratch server (test/scratch-server.sh)
with shared_preload_libraries = 'pg_infer' and pg_infer.worker_device =
--worker-device, waits until pginfer.worker is 'ready', stores three models

  mnist    models/mnist, the 784-128-10 MLP, options {"input_scale": 1/255}
  mlp512   a 784-512-256-10 MLP with He-initialised random weights (numpy,
           batching.py's seed), options {"input_scale": 1/255}
  cnn      the shared MNIST CNN (mnist_cnn_pytorch.onnx, LeNet-5) stored with
           create_model_from_onnx_file, options {"input_scale": 1/255}

and tables of MNIST-shaped rows (id, features real[784] STORAGE PLAIN): digits
(the 10,000 test images with their labels, binary COPY) and t (--rows rows,
the images cycled, INSERT ... SELECT from digits in SQL), then measures

  1. correctness: the CNN and the mnist MLP over the 10,000 test images
     through the worker, batched and per row, must reproduce their reference
     accuracy exactly (9,813 and 9,391 correct); predict() of 1,000 rows of
     each model through the worker must equal pg_infer.device = 'cpu' within
     |a - b| <= 1e-5 * max(1, |b|)
  2. one backend, SELECT sum(predict_class(m, features)) FROM t (BatchPredict)
     at pg_infer.batch_size 256 (default) and 4096: pg_infer.device = 'cpu'
     (in-backend CPU engine) against 'auto' (the worker), and the bare scan
     sum(array_length(features, 1)); best of --runs after a warm-up,
     interleaved.  When --rows > --cpu-rows, the comparison with the
     in-backend engine runs on a second table of --cpu-rows rows (and t gets
     the bare scan and the worker only)
  3. single-row latency: one connection, a prepared SELECT predict('mnist', $1)
     (the parameter sent in binary), --latency-calls calls after a warm-up,
     per device, interleaved in blocks; p50/p99 at the client
  4. --clients concurrent clients (processes, one connection each) running
     single-row predict_class on mnist and on mlp512 for --seconds:
     (a) device 'cpu' (in-backend), (b) the worker with default settings,
     (b') the worker with pg_infer.worker_max_delay = 200 (reload),
     (c) the worker without merging (pg_infer.worker_max_batch = 1, restart);
     predictions/s and the worker's batch statistics over the window
  5. with --fault-checks: kill -9 of the executor while a query runs on it
     (SQLSTATE 58000, the session stays, the next query works, no crash
     recovery in the server log), and a cancel and a statement_timeout while
     the request runs (the executor is held with SIGSTOP so that the request
     is certainly in flight; a model of 1.6 MB of activations a row, in a
     session whose pg_infer.work_mem = 1MB, so that the worker cannot hand
     the request back to the backend)

Writes the report (markdown, also printed; rewritten after each part, so a
run cut off leaves what it measured) to --out and prints "summary:" lines.
Exits 1 when a correctness or fault check fails.  The server is stopped at
the end, also on failure.

    python3 test/bench/worker.py [--worker-device cpu|cuda] [--rows 100000]
        [--cpu-rows 100000] [--seconds 10] [--runs 3] [--clients 16]
        [--latency-calls 2000] [--port 55630] [--dir /tmp/pg_infer_workerbench]
        [--out test/bench/worker.md] [--pgbin DIR] [--mnist-dir DIR] [--cnn FILE]
        [--fault-checks]

Needs psycopg 3 and numpy (no safetensors, no PL/Python), pg_infer installed
with its executor (and pg_infer_cuda.so for --worker-device cuda), and root
or the server's owner (to signal the executor process).
"""
import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (machine info, server settings, scratch server helpers)
import batching as BT  # noqa: E402  (the mlp512 model)
from mnist_data import load_mnist_test_set  # noqa: E402  (bench put test/ on the path)
from safetensors_writer import safetensors_bytes  # noqa: E402

ROOT = B.ROOT
SCRATCH = B.SCRATCH
INPUT_SCALE = B.INPUT_SCALE
NFEAT = B.NFEAT
TOL = 1e-5
MODELS = ("mnist", "mlp512", "cnn")
MODEL_TITLE = {"mnist": "mnist 784-128-10 MLP", "mlp512": "mlp512 784-512-256-10 MLP",
               "cnn": "cnn (MNIST LeNet-5, ONNX)"}
BATCH_SIZES = (256, 4096)
DEFAULT_BATCH = 256
DB = "workerbench"
FLOAT4OID = 700
FLOAT4ARRAYOID = 1021
GOAL_MERGE_RATIO = 3.0

log = B.log


# ------------------------------------------------------------ parameters

class RealArray(bytes):
    """A real[] parameter already encoded in PostgreSQL's binary format."""


class RealArrayDumper(Dumper):
    format = Format.BINARY
    oid = FLOAT4ARRAYOID

    def dump(self, obj):
        return obj


def real_array(values):
    v = np.asarray(values, dtype=np.float32)
    pairs = np.empty(len(v), dtype=[("len", ">i4"), ("v", ">f4")])
    pairs["len"] = 4
    pairs["v"] = v
    return RealArray(struct.pack(">iiiii", 1, 0, FLOAT4OID, len(v), 1) + pairs.tobytes())


def connect(ctx, **kw):
    c = psycopg.connect(host=ctx["dir"], port=ctx["port"], user="postgres", dbname=kw.pop("dbname", DB),
                        autocommit=True, **kw)
    c.adapters.register_dumper(RealArray, RealArrayDumper)
    return c


# ----------------------------------------------------------------- server

def server_conf(worker_device):
    return B.SERVER_CONF + ["shared_preload_libraries = 'pg_infer'",
                            f"pg_infer.worker_device = '{worker_device}'"]


def worker_row(conn):
    cur = conn.execute("SELECT * FROM pginfer.worker")
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def wait_for_worker(conn, seconds=120):
    """Waits until the worker serves requests; returns its row."""
    deadline = time.time() + seconds
    row = worker_row(conn)
    while row["state"] != "ready" and time.time() < deadline:
        time.sleep(0.1)
        row = worker_row(conn)
    if row["state"] != "ready":
        raise SystemExit(f"the inference worker is not ready after {seconds} s: {row}")
    return row


class Delta:
    """The worker's counters between two snapshots of pginfer.worker."""

    def __init__(self, a, b):
        self.requests = b["requests"] - a["requests"]
        self.batches = b["batches"] - a["batches"]
        self.rows = b["rows"] - a["rows"]
        self.queue_us = b["avg_queue_delay_us"] * b["requests"] - a["avg_queue_delay_us"] * a["requests"]
        self.forward_us = b["avg_forward_us"] * b["batches"] - a["avg_forward_us"] * a["batches"]

    def add(self, o):
        for k in ("requests", "batches", "rows", "queue_us", "forward_us"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        return self

    @property
    def batch_rows(self):
        return self.rows / self.batches if self.batches else 0.0

    @property
    def queue_delay(self):
        return self.queue_us / self.requests if self.requests else 0.0

    @property
    def forward(self):
        return self.forward_us / self.batches if self.batches else 0.0


def restart_server(ctx, settings):
    """ALTER SYSTEM (None resets), restart, wait for the worker."""
    with connect(ctx) as c:
        for name, value in settings.items():
            c.execute(f"ALTER SYSTEM RESET {name}" if value is None else f"ALTER SYSTEM SET {name} = '{value}'")
    t0 = time.perf_counter()
    subprocess.run([SCRATCH, "restart", ctx["dir"]], check=True)
    with connect(ctx) as c:
        row = wait_for_worker(c)
    log(f"server restarted with {settings}; worker ready after {time.perf_counter() - t0:.1f} s")
    return row


def reload_setting(conn, name, value):
    conn.execute(f"ALTER SYSTEM RESET {name}" if value is None else f"ALTER SYSTEM SET {name} = '{value}'")
    conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the worker rereads the file at its next wake-up


# ------------------------------------------------------------------ setup

def reference_counts(cnn_path):
    """Correct counts of the references: models/mnist/reference.json and the
    README.md beside the CNN (../shared/models/README.md)."""
    with open(os.path.join(ROOT, "models", "mnist", "reference.json")) as f:
        mnist = json.load(f)["correct"]
    readme = os.path.join(os.path.dirname(os.path.abspath(cnn_path)), "README.md")
    with open(readme) as f:
        for line in f:
            if os.path.basename(cnn_path) in line:
                m = re.search(r"\*\*([0-9.]+)%\*\* \(([0-9,]+) correct\)", line)
                if m:
                    return {"mnist": mnist, "cnn": int(m.group(2).replace(",", "")),
                            "cnn_text": f"{m.group(1)}%"}
    raise SystemExit(f"no reference accuracy for {os.path.basename(cnn_path)} in {readme}")


def mlp512_model():
    layers = BT.he_mlp(BT.MLP_WIDTHS, BT.MLP_SEED)
    tensors = {}
    for i, (w, b) in enumerate(layers):
        tensors[f"fc{i + 1}.weight"] = w
        tensors[f"fc{i + 1}.bias"] = b
    return json.dumps(BT.mlp_graph(BT.MLP_WIDTHS)), safetensors_bytes(tensors)


# binary COPY row of digits: int16 field count, id int4, label int4, real[784]
DIGIT_ROW = np.dtype([
    ("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("label_len", ">i4"), ("label", ">i4"),
    ("arr_len", ">i4"), ("header", "V20"), ("values", [("len", ">i4"), ("v", ">f4")], (NFEAT,)),
])


def load_digits(conn, images, labels):
    block = np.zeros(len(images), dtype=DIGIT_ROW)
    block["nfields"] = 3
    block["id_len"] = block["label_len"] = 4
    block["id"] = np.arange(1, len(images) + 1)
    block["label"] = labels
    block["arr_len"] = 20 + 8 * NFEAT
    block["header"] = np.frombuffer(struct.pack(">iiiii", 1, 0, FLOAT4OID, NFEAT, 1), dtype="V20")[0]
    block["values"]["len"] = 4
    block["values"]["v"] = images.astype(np.float32)
    with conn.transaction():
        conn.execute("CREATE TABLE digits (id int PRIMARY KEY, label int, features real[])")
        conn.execute("ALTER TABLE digits ALTER COLUMN features SET STORAGE PLAIN")
        with conn.cursor().copy("COPY digits (id, label, features) FROM STDIN (FORMAT BINARY, FREEZE)") as cp:
            cp.write(B.COPY_SIGNATURE)
            cp.write(block.tobytes())
            cp.write(B.COPY_TRAILER)
    conn.execute("VACUUM ANALYZE digits")


def build_table(conn, name, nrows, ndigits):
    """name (id, features real[] PLAIN): nrows rows, the digits cycled, in SQL."""
    t0 = time.perf_counter()
    with conn.transaction():
        # no autovacuum in the middle of a measurement
        conn.execute(f"CREATE TABLE {name} (id int, features real[]) WITH (autovacuum_enabled = off)")
        conn.execute(f"ALTER TABLE {name} ALTER COLUMN features SET STORAGE PLAIN")
        conn.execute("SET LOCAL work_mem = '256MB'")
        conn.execute(f"INSERT INTO {name} SELECT k * {ndigits} + d.id, d.features "
                     f"FROM generate_series(0, {(nrows - 1) // ndigits}) k, digits d "
                     f"WHERE k * {ndigits} + d.id <= {nrows}")
    t1 = time.perf_counter()
    # ANALYZE only: a VACUUM of 1,000,000 rows (4 GB) takes a minute; the
    # warm-up rounds set the hint bits instead
    conn.execute(f"ANALYZE {name}")
    n, heap = conn.execute(f"SELECT count(*), pg_relation_size('{name}') FROM {name}").fetchone()
    if n != nrows:
        raise SystemExit(f"{name}: {n} rows, expected {nrows}")
    log(f"{name}: {nrows:,} rows ({heap / 2**20:,.0f} MiB heap) by INSERT ... SELECT in {t1 - t0:.1f} s, "
        f"ANALYZE and a count {time.perf_counter() - t1:.1f} s")
    return {"rows": nrows, "heap": heap, "insert_s": t1 - t0, "analyze_s": time.perf_counter() - t1}


def setup(ctx, args, images, labels):
    with connect(ctx, dbname="postgres") as c0:
        c0.execute(f"CREATE DATABASE {DB}")
    conn = connect(ctx)
    conn.execute("CREATE EXTENSION pg_infer")
    row = wait_for_worker(conn)
    log(f"worker ready: device {row['device']} ({row['device_name']}), pid {row['pid']}, "
        f"executor {row['executor_pid']}")
    opts = json.dumps({"input_scale": INPUT_SCALE})
    with open(os.path.join(B.MODEL_DIR, "model.json")) as f:
        graph = f.read()
    with open(os.path.join(B.MODEL_DIR, "model.safetensors"), "rb") as f:
        weights = f.read()
    conn.execute("SELECT create_model('mnist', %s::jsonb, %s, %s::jsonb)", (graph, weights, opts))
    conn.execute("SELECT create_model('mlp512', %s::jsonb, %s, %s::jsonb)", (*mlp512_model(), opts))
    # the server reads the file: a copy its owner can read, whatever the checkout's permissions
    cnn_copy = os.path.join(ctx["dir"], os.path.basename(args.cnn))
    shutil.copyfile(args.cnn, cnn_copy)
    os.chmod(cnn_copy, 0o644)
    conn.execute("SELECT create_model_from_onnx_file('cnn', %s, %s::jsonb)", (cnn_copy, opts))
    t0 = time.perf_counter()
    load_digits(conn, images, labels)
    log(f"digits: {len(images):,} test images by binary COPY in {time.perf_counter() - t0:.1f} s")
    tables = {"t": build_table(conn, "t", args.rows, len(images))}
    if args.cpu_rows < args.rows:
        tables["t_cpu"] = build_table(conn, "t_cpu", args.cpu_rows, len(images))
    return conn, tables


# ------------------------------------------------------------ measurements

def close_enough(a, b):
    """Worst |a - b| / max(1, |b|) and whether every value is within TOL."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf"), False
    worst = float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))) if a.size else 0.0
    return worst, bool(np.all(np.abs(a - b) <= TOL * np.maximum(1.0, np.abs(b))))


def correctness(ctx, conn, refs, failures):
    """Accuracy of cnn and mnist through the worker; predict() of 1,000 rows
    of every model through the worker against device 'cpu'."""
    stats = connect(ctx)
    out = {"accuracy": [], "agreement": []}
    for m in ("cnn", "mnist"):
        for batching in ("on", "off"):
            conn.execute(f"SET pg_infer.batching = {batching}")
            a = worker_row(stats)
            t0 = time.perf_counter()
            # in the target list (an aggregate's argument), where BatchPredict batches it
            correct = conn.execute(f"SELECT sum((predict_class('{m}', features) = label)::int) FROM digits"
                                   ).fetchone()[0]
            dt = time.perf_counter() - t0
            d = Delta(a, worker_row(stats))
            ok = correct == refs[m] and d.rows >= 10000
            out["accuracy"].append((m, batching, correct, refs[m], d, dt, ok))
            log(f"accuracy {m} batching={batching}: {correct} of 10000 (reference {refs[m]}), "
                f"{d.rows} rows through the worker in {d.batches} batches, {dt:.2f} s")
            if not ok:
                failures.append(f"accuracy of {m} through the worker (batching {batching}): {correct} correct, "
                                f"reference {refs[m]}; {d.rows} rows went through the worker (expected >= 10000)")
    conn.execute("RESET pg_infer.batching")
    q = "SELECT id, predict('{m}', features) FROM digits WHERE id <= 1000 ORDER BY id"
    for m in MODELS:
        conn.execute("SET pg_infer.device = 'cpu'")
        ref = [r[1] for r in conn.execute(q.format(m=m)).fetchall()]
        conn.execute("RESET pg_infer.device")
        for batching in ("on", "off"):
            conn.execute(f"SET pg_infer.batching = {batching}")
            a = worker_row(stats)
            got = [r[1] for r in conn.execute(q.format(m=m)).fetchall()]
            d = Delta(a, worker_row(stats))
            worst, ok = close_enough(got, ref)
            ok = ok and d.rows >= 1000
            out["agreement"].append((m, batching, len(got), worst, d, ok))
            log(f"worker vs cpu {m} batching={batching}: worst relative difference {worst:.2e} over "
                f"{len(got)} rows x {len(ref[0])} outputs ({d.rows} rows through the worker)")
            if not ok:
                failures.append(f"{m} (batching {batching}): worker and device 'cpu' differ by {worst:.2e} "
                                f"(tolerance {TOL}), or the rows did not go through the worker ({d.rows})")
        conn.execute("RESET pg_infer.batching")
    stats.close()
    return out


class Item:
    def __init__(self, kind, model, table, rows, batch, conn, sql):
        self.kind, self.model, self.table, self.rows, self.batch = kind, model, table, rows, batch
        self.conn, self.sql = conn, sql
        self.times, self.result, self.delta = [], None, None

    @property
    def rate(self):
        return self.rows / min(self.times)


def throughput(ctx, args, R, write_report):
    """One backend, bare scan / device 'cpu' / the worker; R["throughput"]
    holds the items from the start, so a run cut off reports the rounds done."""
    tables, failures = R["tables"], R["failures"]
    conn_cpu, conn_auto, stats = connect(ctx), connect(ctx), connect(ctx)
    conn_cpu.execute("SET pg_infer.device = 'cpu'")
    cpu_table = "t_cpu" if "t_cpu" in tables else "t"
    order = sorted(tables, key=lambda t: t != cpu_table)    # the comparison with the backend first
    items = []
    for table in order:
        n = tables[table]["rows"]
        items.append(Item("bare", "-", table, n, None, conn_auto,
                          f"SELECT sum(array_length(features, 1)) FROM {table}"))
        for m in MODELS:
            for bs in BATCH_SIZES:
                q = f"SELECT sum(predict_class('{m}', features)) FROM {table}"
                if table == cpu_table:
                    items.append(Item("cpu", m, table, n, bs, conn_cpu, q))
                items.append(Item("worker", m, table, n, bs, conn_auto, q))
    plans = {}
    for c, name in ((conn_auto, "worker"), (conn_cpu, "cpu")):
        plans[name] = "\n".join(r[0] for r in c.execute(
            "EXPLAIN (COSTS OFF) SELECT sum(predict_class('mnist', features)) FROM t").fetchall())
        if "BatchPredict" not in plans[name]:
            raise SystemExit(f"no BatchPredict node in the plan:\n{plans[name]}")
    R["throughput"] = {"items": items, "plans": plans, "cpu_table": cpu_table, "rounds": {t: 0 for t in tables}}
    for table in order:
        group = [it for it in items if it.table == table]
        for rnd in range(args.runs + 1):
            t_round = time.perf_counter()
            for it in group:
                if it.batch:
                    it.conn.execute(f"SET pg_infer.batch_size = {it.batch}")
                a = worker_row(stats)
                t0 = time.perf_counter()
                res = it.conn.execute(it.sql).fetchone()[0]
                dt = time.perf_counter() - t0
                d = Delta(a, worker_row(stats))
                if it.kind == "bare" and res != it.rows * NFEAT:
                    raise SystemExit(f"bare scan of {table}: {res} values, expected {it.rows * NFEAT}")
                if it.kind == "cpu" and d.requests:
                    failures.append(f"device 'cpu' sent {d.requests} requests to the worker ({it.model} on {table})")
                if it.kind == "worker" and d.rows < it.rows:
                    failures.append(f"the worker forwarded {d.rows} rows of {it.rows} ({it.model} on {table}, "
                                    f"batch size {it.batch}): device 'auto' ran in the backend")
                it.result = res
                if rnd > 0:
                    it.times.append(dt)
                    it.delta = d if it.delta is None else it.delta.add(d)
            log(f"throughput on {table}: {'warm-up' if rnd == 0 else f'round {rnd}'} in "
                f"{time.perf_counter() - t_round:.1f} s")
            R["throughput"]["rounds"][table] = rnd
            write_report()
        for it in group:
            extra = (f", worker: {it.delta.batch_rows:.0f} rows/batch, forward {it.delta.forward:.0f} µs/batch"
                     if it.kind == "worker" else "")
            log(f"  {it.kind:6s} {it.model:6s} {table:5s} bs={it.batch or '-':<5} best {min(it.times):.3f} s "
                f"-> {it.rate:,.0f} rows/s{extra}")
    for c in (conn_cpu, conn_auto, stats):
        c.close()


def latency(ctx, args, images):
    """Measurement 3: single-row predict through a prepared statement."""
    xs = [real_array(images[i]) for i in range(100)]
    conns = {"cpu": connect(ctx), "worker": connect(ctx), "no model": connect(ctx)}
    conns["cpu"].execute("SET pg_infer.device = 'cpu'")
    sql = {"cpu": "SELECT predict('mnist', %b::real[])", "worker": "SELECT predict('mnist', %b::real[])",
           "no model": "SELECT array_length(%b::real[], 1)"}
    stats = connect(ctx)
    times = {k: [] for k in conns}
    delta = None
    block = 250
    for k, c in conns.items():       # warm-up: prepares the statements, loads the model
        for i in range(200):
            c.execute(sql[k], (xs[i % len(xs)],), prepare=True).fetchone()
    done = 0
    while done < args.latency_calls:
        n = min(block, args.latency_calls - done)
        for k, c in conns.items():
            a = worker_row(stats) if k == "worker" else None
            for i in range(done, done + n):
                t0 = time.perf_counter()
                c.execute(sql[k], (xs[i % len(xs)],), prepare=True).fetchone()
                times[k].append(time.perf_counter() - t0)
            if a is not None:
                d = Delta(a, worker_row(stats))
                delta = d if delta is None else delta.add(d)
        done += n
    for c in list(conns.values()) + [stats]:
        c.close()
    out = {}
    for k, ts in times.items():
        us = np.array(ts) * 1e6
        out[k] = {"calls": len(us), "p50": float(np.percentile(us, 50)), "p99": float(np.percentile(us, 99)),
                  "mean": float(us.mean())}
        log(f"latency {k}: p50 {out[k]['p50']:.0f} µs, p99 {out[k]['p99']:.0f} µs, mean {out[k]['mean']:.0f} µs "
            f"over {len(us)} calls")
    out["delta"] = delta
    return out


def client_loop(task):
    """One concurrent client (a process of its own): connects, warms up,
    then calls single-row predict_class from start_at to end_at."""
    ctx, device, model, image_bytes, start_at, end_at = task
    xs = [real_array(np.frombuffer(b, dtype=np.uint8)) for b in image_bytes]
    sql = f"SELECT predict_class('{model}', %b::real[])"
    count, late, busy = 0, False, 0.0
    try:
        with connect(ctx) as c:
            c.execute(f"SET pg_infer.device = '{device}'")
            for i in range(20):
                c.execute(sql, (xs[i % len(xs)],), prepare=True).fetchone()
            late = time.time() > start_at
            while time.time() < start_at:
                time.sleep(0.001)
            i = 0
            while True:
                t0 = time.time()
                if t0 >= end_at:
                    break
                c.execute(sql, (xs[i % len(xs)],), prepare=True).fetchone()
                t1 = time.time()
                if t1 <= end_at:
                    count += 1
                    busy += t1 - t0
                i += 1
    except Exception as e:  # noqa: BLE001 - reported by the parent
        return count, late, busy, repr(e)
    return count, late, busy, None


def client_main(index, tasks, results):
    """A client process: runs the tasks it is given until it gets None."""
    results.put(("ready", index, os.getpid()))
    for task in iter(tasks.get, None):
        results.put(("done", index, client_loop(task)))


class Clients:
    """args.clients processes started once (spawn: nothing inherited), one
    task each per measurement; killed at the end (never waited for, so a
    run stopped by a signal cannot hang on them)."""

    def __init__(self, n):
        mp = multiprocessing.get_context("spawn")
        self.tasks = [mp.SimpleQueue() for _ in range(n)]
        self.results = mp.Queue()
        self.procs = [mp.Process(target=client_main, args=(i, q, self.results), daemon=True)
                      for i, q in enumerate(self.tasks)]
        for p in self.procs:
            p.start()
        ready = [self.results.get(timeout=300) for _ in self.procs]
        log(f"{len(ready)} client processes ready")

    def run(self, tasks, timeout):
        for q, t in zip(self.tasks, tasks):
            q.put(t)
        out = [None] * len(tasks)
        for _ in tasks:
            kind, index, result = self.results.get(timeout=timeout)
            out[index] = result
        return out

    def close(self):
        for p in self.procs:
            if p.is_alive():
                p.kill()
        for p in self.procs:
            p.join(timeout=2)
        self.results.cancel_join_thread()


def concurrent(ctx, args, clients, images, device, model):
    """predictions/s of args.clients clients over args.seconds, and the worker's statistics."""
    margin = 1.0 + 0.1 * args.clients
    for attempt in range(2):
        start_at = time.time() + margin
        end_at = start_at + args.seconds
        tasks = [(ctx, device, model, [images[(k * 7 + j) % len(images)].tobytes() for j in range(8)],
                  start_at, end_at) for k in range(args.clients)]
        box = {}
        runner = threading.Thread(target=lambda: box.update(r=clients.run(tasks, args.seconds + margin + 120)),
                                  daemon=True)
        runner.start()
        with connect(ctx) as stats:
            time.sleep(max(0.0, start_at - time.time()))
            a = worker_row(stats)
            time.sleep(max(0.0, end_at - time.time()))
            d = Delta(a, worker_row(stats))
        runner.join()
        if "r" not in box:
            raise SystemExit("the concurrent clients did not report")
        results = box["r"]
        if not any(r[1] for r in results):
            break
        log(f"{sum(1 for r in results if r[1])} clients were not ready at the start; "
            + ("again with a longer lead time" if attempt == 0 else "reported as such"))
        margin *= 3
    errors = [r[3] for r in results if r[3]]
    if errors:
        raise SystemExit(f"concurrent clients failed: {errors[:3]}")
    total = sum(r[0] for r in results)
    late = sum(1 for r in results if r[1])
    mean_ms = sum(r[2] for r in results) / total * 1000 if total else float("nan")
    out = {"rate": total / args.seconds, "calls": total, "late": late, "mean_ms": mean_ms, "delta": d}
    log(f"concurrent {device:6s} {model:6s}: {out['rate']:,.0f} predictions/s ({total} calls, mean "
        f"{mean_ms:.2f} ms/call, {late} clients late), worker: {d.requests} requests in {d.batches} batches "
        f"= {d.batch_rows:.1f} rows/batch, queue {d.queue_delay:.0f} µs, forward {d.forward:.0f} µs/batch")
    return out


# ------------------------------------------------------------ fault checks

def run_in_thread(ctx, sql, setup=()):
    """sql on a new connection in a thread: the dict gets pid, value or
    error, seconds, after (SELECT 1 in the same session), then, once the
    event returned is set, again (sql once more) or again_error."""
    result = {}
    started, proceed = threading.Event(), threading.Event()

    def body():
        try:
            with connect(ctx) as c:
                result["pid"] = c.info.backend_pid
                for s in setup:
                    c.execute(s)
                started.set()
                t0 = time.time()
                try:
                    result["value"] = c.execute(sql).fetchone()[0]
                except psycopg.Error as e:
                    result["error"] = e
                result["seconds"] = time.time() - t0
                result["after"] = c.execute("SELECT 1").fetchone()[0]
                proceed.wait(60)
                try:
                    result["again"] = c.execute(sql).fetchone()[0]
                except psycopg.Error as e:
                    result["again_error"] = e
        except Exception as e:  # noqa: BLE001 - reported by the caller
            result.setdefault("error", e)
        finally:
            started.set()

    t = threading.Thread(target=body)
    t.start()
    started.wait(30)
    return t, result, proceed


def wait_waiting(conn, pid, seconds=20):
    """Waits until backend pid waits for the worker (wait event type Extension)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        ev = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if ev and ev[0] == "Extension":
            return True
        time.sleep(0.01)
    return False


WIDE_GRAPH = {"format": "pg_infer", "version": 1,
              "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, NFEAT]}], "outputs": [{"name": "y"}],
              "nodes": [{"name": "r", "op": "Reshape", "inputs": ["x"], "attrs": {"shape": [-1, 1, NFEAT]}},
                        {"name": "e", "op": "Expand", "inputs": ["r"], "attrs": {"shape": [-1, 512, NFEAT]}},
                        {"name": "y", "op": "ReduceMean", "inputs": ["e"], "attrs": {"axes": [1], "keepdims": 0}}]}


def fault_checks(ctx, conn, failures):
    """kill -9 of the executor during a query (a real forward pass, then a
    request held in flight with SIGSTOP), a cancel and a statement_timeout of
    a request in flight."""
    out = []
    server_log = os.path.join(ctx["dir"], "server.log")
    offset = os.path.getsize(server_log)
    # 'wide' (y = x through 1.6 MB of activations a row): a session whose
    # pg_infer.work_mem cannot hold a row waits for the worker even while its
    # executor is stopped, instead of running the request itself
    conn.execute("SELECT create_model('wide', %s::jsonb, %s)", (json.dumps(WIDE_GRAPH), safetensors_bytes({})))
    held_setup = ["SET pg_infer.work_mem = '1MB'"]
    query = "SELECT sum(predict_class('wide', features)) FROM digits WHERE id <= 200"
    big = "SELECT sum(predict_class('mlp512', features)) FROM t"
    # the results the queries must give, through the worker
    expected = conn.execute(query).fetchone()[0]
    conn.execute("SET pg_infer.batch_size = 4096")
    big_expected = conn.execute(big).fetchone()[0]
    conn.execute("RESET pg_infer.batch_size")

    def check(name, ok, detail):
        out.append((name, ok, detail))
        log(f"fault check: {name}: {'ok' if ok else 'FAILED'} ({detail})")
        if not ok:
            failures.append(f"fault check {name}: {detail}")

    def again(res, want):
        if "again" in res:
            return f"{res['again']} (expected {want})"
        return repr(res.get("again_error"))

    # 1. kill -9 while the executor runs a forward pass (the moment is
    # chosen by time, so the backend may be between two requests: then its
    # next request goes to the new executor and the query succeeds)
    before = wait_for_worker(conn)
    t, res, proceed = run_in_thread(ctx, big, setup=["SET pg_infer.batch_size = 4096"])
    waiting = wait_waiting(conn, res.get("pid"))
    time.sleep(0.05)
    os.kill(before["executor_pid"], signal.SIGKILL)
    proceed.set()
    t.join(300)
    err = res.get("error")
    if err is not None:
        ok = getattr(err, "sqlstate", None) == "58000" and "terminated by signal 9" in str(err)
        detail = f"the query failed with {getattr(err, 'sqlstate', None)}: {str(err).splitlines()[0]}"
    else:
        ok = res.get("value") == big_expected
        detail = (f"the query finished with {res.get('value')} (expected {big_expected}): the kill fell "
                  "between two of its requests")
    ok = ok and waiting and res.get("after") == 1 and res.get("again") == big_expected
    check("kill -9 during a forward pass over t", ok,
          detail + f"; session kept: {res.get('after') == 1}; the same query again: " + again(res, big_expected))
    after = wait_for_worker(conn)
    check("the worker starts a new executor", after["executor_restarts"] == before["executor_restarts"] + 1
          and after["executor_pid"] != before["executor_pid"] and after["pid"] == before["pid"],
          f"executor_restarts {before['executor_restarts']} -> {after['executor_restarts']}, executor pid "
          f"{before['executor_pid']} -> {after['executor_pid']}, worker pid {before['pid']} -> {after['pid']}")

    # 2. to 4.: the executor is stopped (SIGSTOP) before the query, so its
    # first request is certainly running in the executor when the fault comes
    def held(name, setup, fault, expect):
        row = wait_for_worker(conn)
        pid = row["executor_pid"]
        os.kill(pid, signal.SIGSTOP)
        try:
            t, res, proceed = run_in_thread(ctx, query, setup=setup)
            waiting = wait_waiting(conn, res.get("pid"))
            time.sleep(0.3)
            t0 = time.time()
            fault(res.get("pid"), pid)
            while "seconds" not in res and time.time() - t0 < 30:
                time.sleep(0.005)
            took = time.time() - t0
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        proceed.set()
        t.join(60)
        err = res.get("error")
        ok = waiting and expect(err, took) and res.get("after") == 1 and res.get("again") == expected
        check(name, ok, f"error {getattr(err, 'sqlstate', None)}: {str(err).splitlines()[0] if err else None}; "
              f"{took:.2f} s after the fault; session kept: {res.get('after') == 1}; the same query again: "
              + again(res, expected))
        return row

    before = held("kill -9 of the executor with a request in flight", held_setup,
                  lambda backend, executor: os.kill(executor, signal.SIGKILL),
                  lambda e, s: e is not None and getattr(e, "sqlstate", None) == "58000"
                  and "inference executor process ended (terminated by signal 9)" in str(e))
    after = wait_for_worker(conn)
    check("a new executor after the kill", after["executor_restarts"] == before["executor_restarts"] + 1
          and after["pid"] == before["pid"],
          f"executor_restarts {before['executor_restarts']} -> {after['executor_restarts']}")
    held("cancel of a request in flight", held_setup,
         lambda backend, executor: conn.execute("SELECT pg_cancel_backend(%s)", (backend,)),
         lambda e, s: isinstance(e, psycopg.errors.QueryCanceled) and s < 2.0)
    held("statement_timeout of a request in flight", held_setup + ["SET statement_timeout = '1s'"],
         lambda backend, executor: None,
         lambda e, s: isinstance(e, psycopg.errors.QueryCanceled) and "statement timeout" in str(e) and s < 2.0)
    with open(server_log, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    bad = [s for s in ("terminating any other active server processes", "all server processes terminated",
                       "server process (PID") if s in text]
    killed = "terminated by signal 9" in text
    check("no crash recovery in the server log", killed and not bad,
          f"log since the checks: 'terminated by signal 9' {'present' if killed else 'ABSENT'}"
          + (f"; found {bad}" if bad else ""))
    return out


# ------------------------------------------------------------------ report

def machine(conn):
    info = B.machine_info(conn)
    gpu = "none (nvidia-smi not found)"
    if shutil.which("nvidia-smi"):
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                            "--format=csv,noheader"], capture_output=True, text=True)
        gpu = r.stdout.strip().replace("\n", "; ") or r.stderr.strip()
    info["gpu"] = gpu
    info["server pkglibdir"] = conn.execute("SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'").fetchone()[0]
    return info


def render(R):
    args = R["args"]
    L = ["# Inference worker benchmark", "",
         f"Generated by `test/bench/worker.py --worker-device {args.worker_device} --rows {args.rows} "
         f"--cpu-rows {args.cpu_rows} --seconds {args.seconds} --runs {args.runs} --clients {args.clients} "
         f"--latency-calls {args.latency_calls}{' --fault-checks' if args.fault_checks else ''}` "
         "(one run, scratch server).", ""]
    if not R.get("complete"):
        L += ["**Incomplete: the run ended before every part was measured.**", ""]
    L += ["## Machine", ""]
    info = R.get("info", {})
    for k in ("cpu", "cores", "memory", "gpu", "postgres", "server pkglibdir", "kernel", "python", "commit", "load",
              "date"):
        if k in info:
            L.append(f"- **{k}**: {info[k]}")
    w = R.get("worker")
    if w:
        mem = f"{w['device_memory'] / 2**30:.1f} GiB" if w["device_memory"] else "-"
        L.append(f"- **worker**: state {w['state']}, device {w['device']} ({w['device_name']}), device memory "
                 f"{mem}, pg_infer.worker_memory {w['memory_budget'] / 2**20:.0f} MB")
    if "lib_before" in R:
        after = R.get("lib_after", R["lib_before"])
        L.append(f"- **pg_infer.so**: at start {R['lib_before']}; at the end {after}"
                 + ("" if after == R["lib_before"] else " (**reinstalled during the run**: the server kept the "
                    "library it loaded at the start, the restart for (c) loaded the new one)"))
    L += ["", "## Setup", ""]
    tables = R.get("tables", {})
    L.append("- Tables `(id int, features real[784])`, `STORAGE PLAIN`: `digits`, the 10,000 MNIST test "
             "images (raw pixels 0..255) with their labels, binary COPY; "
             + "; ".join(f"`{n}`: {t['rows']:,} rows ({t['heap'] / 2**20:,.0f} MiB heap), the images cycled, "
                         f"`INSERT ... SELECT` from digits in {t['insert_s']:.1f} s, then `ANALYZE` and a count "
                         f"{t['analyze_s']:.1f} s (no VACUUM: the first scan sets the hint bits; autovacuum off)"
                         for n, t in tables.items()) + ".")
    L.append("- Models, all with `options => '{\"input_scale\": 0.00392156862745098}'`: **mnist** = `models/mnist` "
             "(784-128-10); **mlp512** = 784-512-256-10 Dense/Relu MLP, He-initialised weights "
             f"(numpy default_rng({BT.MLP_SEED}), as batching.py); **cnn** = `mnist_cnn_pytorch.onnx` "
             "(LeNet-5, PyTorch export, opset 10) by `create_model_from_onnx_file`.")
    L.append("- Server: " + ", ".join(f"`{s}`" for s in server_conf(args.worker_device))
             + "; worker settings at their defaults unless a row says otherwise.")
    L.append("")
    c = R.get("correct")
    if c:
        L += ["## Correctness through the worker", "",
              "| model | batching | correct of 10,000 | reference | rows through the worker | batches | time | |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
        for m, b, got, ref, d, dt, ok in c["accuracy"]:
            L.append(f"| {m} | {b} | {got:,} | {ref:,} | {d.rows:,} | {d.batches:,} | {dt:.2f} s | "
                     f"{'ok' if ok else '**FAIL**'} |")
        L += ["", "`predict()` of the first 1,000 digits through the worker against `pg_infer.device = 'cpu'` "
              f"(every output value within |a - b| <= {TOL} * max(1, |b|)):", "",
              "| model | batching | rows | worst |a - b| / max(1, |b|) | rows through the worker | |",
              "|---|---|---:|---:|---:|---|"]
        for m, b, n, worst, d, ok in c["agreement"]:
            L.append(f"| {m} | {b} | {n:,} | {worst:.2e} | {d.rows:,} | {'ok' if ok else '**FAIL**'} |")
        L.append("")
    tp = R.get("throughput")
    if tp:
        items = tp["items"]

        def find(kind, m, table, bs):
            for it in items:
                if (it.kind, it.model, it.table, it.batch) == (kind, m, table, bs) and it.times:
                    return it
            return None
        L += ["## One backend: `SELECT sum(predict_class(m, features)) FROM t`", "",
              f"Rows per second, best of {args.runs} after a warm-up, interleaved round by round. `cpu`: "
              "`pg_infer.device = 'cpu'` (the backend's CPU engine); `worker`: `'auto'` (every forward pass "
              "checked to have gone through the worker). Worker columns: rows per merged batch and µs per "
              "batch in the executor (copies included), over the timed runs.", "",
              "| table | model | batch size | bare scan | cpu | worker | worker / cpu | worker / bare scan "
              "| rows/batch | forward µs/batch |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for table in tables:
            bare = find("bare", "-", table, None)
            if bare is None:
                continue
            for m in MODELS:
                for bs in BATCH_SIZES:
                    cpu, wk = find("cpu", m, table, bs), find("worker", m, table, bs)
                    if wk is None:
                        continue
                    L.append(f"| {table} ({tables[table]['rows']:,}) | {m} | {bs} | "
                             f"{bare.rate:,.0f} | " + (f"{cpu.rate:,.0f}" if cpu else "-") +
                             f" | **{wk.rate:,.0f}** | " + (f"{wk.rate / cpu.rate:.2f}x" if cpu else "-") +
                             f" | {wk.rate / bare.rate:.2f} | {wk.delta.batch_rows:,.0f} | {wk.delta.forward:,.0f} |")
        pairs = [(find("cpu", m, tp["cpu_table"], bs), find("worker", m, tp["cpu_table"], bs))
                 for m in MODELS for bs in BATCH_SIZES]
        same = all(a.result == b.result for a, b in pairs if a and b)
        short = {t: r for t, r in tp["rounds"].items() if r < args.runs}
        if short:
            L += ["", "**Cut off**: timed rounds completed: " + ", ".join(f"{t} {r} of {args.runs}"
                                                                     for t, r in tp["rounds"].items()) + "."]
        L += ["", f"Sums of the classes, cpu against worker on `{tp['cpu_table']}`: "
              + ("all equal." if same else "**not all equal** (see the correctness section)."), "",
              "Plan (`EXPLAIN (COSTS OFF)`, device 'auto'):", "", "```", tp["plans"]["worker"], "```", ""]
    lat = R.get("latency")
    if lat:
        d = lat["delta"]
        L += ["## Single-row latency (one connection)", "",
              f"`SELECT predict('mnist', $1::real[])`, prepared, the parameter in binary; {lat['cpu']['calls']:,} "
              "calls per case after 200 warm-up calls, the cases interleaved in blocks of 250; time at the "
              "client (Unix socket) from sending to the row received. `no model`: "
              "`SELECT array_length($1::real[], 1)`, the round trip without pg_infer.", "",
              "| case | p50 µs | p99 µs | mean µs |", "|---|---:|---:|---:|"]
        for k in ("no model", "cpu", "worker"):
            L.append(f"| {k} | {lat[k]['p50']:.0f} | {lat[k]['p99']:.0f} | {lat[k]['mean']:.0f} |")
        L += ["", f"Worker, over the timed calls: {d.requests:,} requests, queue delay {d.queue_delay:.0f} µs "
              f"(submission to dispatch), forward {d.forward:.0f} µs per batch (copies in and out included).", ""]
    cc = R.get("concurrent")
    if cc:
        L += [f"## {args.clients} concurrent clients, single-row `predict_class` ({args.seconds} s each)", "",
              f"{args.clients} client processes (Python's GIL would make threads the bottleneck), one connection "
              "each, a prepared `SELECT predict_class(m, $1::real[])` in a loop over 8 images each; predictions "
              "per second completed in the window. Worker statistics are the deltas of `pginfer.worker` over "
              "the window.", "",
              "| case | model | predictions/s | mean ms/call | requests | batches | rows/batch | queue delay µs "
              "| forward µs/batch |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        names = {"a": "(a) device 'cpu' (in-backend)", "b": "(b) worker, defaults",
                 "b2": "(b') worker, worker_max_delay = 200", "c": "(c) worker, worker_max_batch = 1 (no merging)"}
        for key in ("a", "b", "b2", "c"):
            for m in ("mnist", "mlp512"):
                r = cc.get((key, m))
                if r is None:
                    continue
                d = r["delta"]
                wk = (f"{d.requests:,} | {d.batches:,} | {d.batch_rows:.1f} | {d.queue_delay:.0f} | {d.forward:.0f}"
                      if d.requests else f"{d.requests} | - | - | - | -")
                L.append(f"| {names[key]} | {m} | **{r['rate']:,.0f}** | {r['mean_ms']:.2f} | {wk} |"
                         + (f" ({r['late']} clients not ready at the start)" if r["late"] else ""))
        L.append("")
        for m in ("mnist", "mlp512"):
            b, c_, a = cc.get(("b", m)), cc.get(("c", m)), cc.get(("a", m))
            if b and c_ and c_["rate"]:
                L.append(f"- {m}: merging (b) / no merging (c) = **{b['rate'] / c_['rate']:.2f}x** (the issue's "
                         f"goal on a GPU: >= {GOAL_MERGE_RATIO:.0f}x); (b) / in-backend (a) = "
                         + (f"{b['rate'] / a['rate']:.2f}x" if a and a["rate"] else "-") + ".")
        L.append("")
    fc = R.get("faults")
    if fc:
        L += ["## Fault checks", "", "| check | result | detail |", "|---|---|---|"]
        for name, ok, detail in fc:
            L.append(f"| {name} | {'ok' if ok else '**FAIL**'} | {detail.replace('|', '/')} |")
        L.append("")
    L += ["## Verdict", ""]
    if R.get("stopped"):
        L.append(f"- **Incomplete**: {R['stopped']}" + (" after every check had run" if R.get("checks_done") else
                                                        " before every check had run"))
    if R["failures"]:
        L += [f"- **FAIL**: {f}" for f in R["failures"]]
    else:
        L.append("- every correctness check" + (" and fault check" if args.fault_checks else "") + " passed"
                 + ("" if R.get("complete") else " (of those that ran)"))
    L += ["", f"Total benchmark time: {time.perf_counter() - R['t_start']:.0f} s; load average at the end "
          + " / ".join(open("/proc/loadavg").read().split()[:3]) + " (1/5/15 min).", ""]
    return "\n".join(L)


def summary_lines(R):
    S = []
    c = R.get("correct")
    if c:
        for m, b, got, ref, d, dt, ok in c["accuracy"]:
            S.append(f"accuracy {m} batching={b}: {got}/10000 (reference {ref}) {'ok' if ok else 'FAIL'}")
        S.append("worker vs cpu, worst relative difference: " + ", ".join(
            f"{m}/{b} {worst:.1e}" for m, b, n, worst, d, ok in c["agreement"]))
    tp = R.get("throughput")
    if tp:
        for it in tp["items"]:
            bare = next((x for x in tp["items"] if x.kind == "bare" and x.table == it.table and x.times), None)
            if it.kind == "worker" and it.times and bare:
                cpu = next((x for x in tp["items"] if (x.kind, x.model, x.table, x.batch)
                            == ("cpu", it.model, it.table, it.batch) and x.times), None)
                S.append(f"one backend {it.table} {it.model} bs={it.batch}: worker {it.rate:,.0f} rows/s"
                         + (f", cpu {cpu.rate:,.0f} ({it.rate / cpu.rate:.2f}x)" if cpu else "")
                         + f", bare scan {bare.rate:,.0f} ({it.rate / bare.rate:.2f})")
    lat = R.get("latency")
    if lat:
        S.append("latency p50/p99 µs: " + ", ".join(f"{k} {lat[k]['p50']:.0f}/{lat[k]['p99']:.0f}"
                                                    for k in ("no model", "cpu", "worker")))
    cc = R.get("concurrent")
    if cc:
        for m in ("mnist", "mlp512"):
            parts = [f"{k} {cc[(k, m)]['rate']:,.0f}/s ({cc[(k, m)]['delta'].batch_rows:.1f} rows/batch)"
                     for k in ("a", "b", "b2", "c") if (k, m) in cc]
            if ("b", m) in cc and ("c", m) in cc and cc[("c", m)]["rate"]:
                parts.append(f"b/c {cc[('b', m)]['rate'] / cc[('c', m)]['rate']:.2f}x")
            S.append(f"concurrent {m}: " + ", ".join(parts))
    for name, ok, detail in R.get("faults") or []:
        S.append(f"fault check {name}: {'ok' if ok else 'FAIL'}")
    if R["failures"]:
        verdict = "FAIL: " + "; ".join(R["failures"])
    elif R.get("complete"):
        verdict = "all checks passed"
    elif R.get("checks_done"):
        verdict = "all checks passed; measurements INCOMPLETE (" + R.get("stopped", "stopped") + ")"
    else:
        verdict = "INCOMPLETE before every check had run (" + R.get("stopped", "stopped") + ")"
    S.append("verdict: " + verdict)
    return S


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker-device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cpu-rows", type=int, default=100_000,
                    help="rows of the table for the in-backend CPU comparison when --rows is larger")
    ap.add_argument("--seconds", type=float, default=10.0, help="per concurrent measurement")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--latency-calls", type=int, default=2000)
    ap.add_argument("--port", type=int, default=55630)
    ap.add_argument("--dir", default="/tmp/pg_infer_workerbench")
    ap.add_argument("--out", default=os.path.join(HERE, "worker.md"))
    ap.add_argument("--pgbin", help="PostgreSQL's bin directory (default: pg_config --bindir)")
    ap.add_argument("--mnist-dir", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "mnist")))
    ap.add_argument("--cnn", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "models",
                                                                   "mnist_cnn_pytorch.onnx")),
                    help="the MNIST CNN; its reference accuracy is read from README.md beside it")
    ap.add_argument("--fault-checks", action="store_true")
    ap.add_argument("--server-log", help="copy the server's log here at the end")
    args = ap.parse_args()
    args.cpu_rows = min(args.cpu_rows, args.rows)
    if args.pgbin:
        os.environ["PGBIN"] = args.pgbin
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    # a timeout's SIGTERM still writes the report and stops the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    R = {"args": args, "t_start": time.perf_counter(), "failures": [], "complete": False}
    refs = reference_counts(args.cnn)
    images, labels = load_mnist_test_set(args.mnist_dir)
    ctx = {"dir": args.dir, "port": args.port}

    def write_report():
        report = render(R)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(report)
        return report

    subprocess.run([SCRATCH, "stop", args.dir], check=False)
    R["lib_before"] = BT.lib_fingerprint()
    try:
        run_all(R, ctx, args, refs, images, labels, write_report)
    except SystemExit as e:
        if e.code == 143:
            R["stopped"] = "terminated (SIGTERM, the caller's time limit)"
        else:
            R["failures"].append(f"stopped: {e.code}")
    except Exception as e:  # noqa: BLE001 - reported, then the run fails
        import traceback
        traceback.print_exc()
        R["failures"].append(f"stopped by {e!r}")
    finally:
        if R.get("clients") is not None:
            R["clients"].close()
        R["lib_after"] = BT.lib_fingerprint()
        report = write_report()
        print()
        print(report)
        log(f"written {args.out}")
        for line in summary_lines(R):
            print(f"summary: {line}")
        subprocess.run([SCRATCH, "stop", args.dir], check=False)
        if args.server_log and os.path.exists(os.path.join(args.dir, "server.log")):
            shutil.copyfile(os.path.join(args.dir, "server.log"), args.server_log)
        B.stop_scratch_server(args.dir, R["complete"] and not R["failures"])
    if R["failures"]:
        raise SystemExit(1)
    if not R["complete"]:
        # 3: cut off after every correctness (and fault) check ran and passed
        raise SystemExit(3 if R.get("checks_done") else 2)


def run_all(R, ctx, args, refs, images, labels, write_report):
    """The parts in order of importance: checks first, the long throughput
    measurement last (a run cut off by a time limit keeps the verdict)."""
    subprocess.run([SCRATCH, "start", args.dir, str(args.port)] + server_conf(args.worker_device), check=True)
    log(f"scratch server on {args.dir} port {args.port}, worker_device {args.worker_device}")
    conn, R["tables"] = setup(ctx, args, images, labels)
    R["info"] = machine(conn)
    R["worker"] = worker_row(conn)
    log(f"machine: {R['info']['cpu']}, {R['info']['cores']}, {R['info']['memory']}, GPU {R['info']['gpu']}")
    write_report()

    log("correctness through the worker")
    R["correct"] = correctness(ctx, conn, refs, R["failures"])
    write_report()
    if args.fault_checks:
        log("fault checks")
        R["faults"] = fault_checks(ctx, conn, R["failures"])
        write_report()
    R["checks_done"] = True

    log("single-row latency")
    R["latency"] = latency(ctx, args, images)
    write_report()

    log(f"{args.clients} concurrent clients, {args.seconds} s each")
    clients = R["clients"] = Clients(args.clients)
    R["concurrent"] = {}
    for key, device in (("a", "cpu"), ("b", "auto")):
        for m in ("mnist", "mlp512"):
            R["concurrent"][(key, m)] = concurrent(ctx, args, clients, images, device, m)
    reload_setting(conn, "pg_infer.worker_max_delay", 200)
    for m in ("mnist", "mlp512"):
        R["concurrent"][("b2", m)] = concurrent(ctx, args, clients, images, "auto", m)
    reload_setting(conn, "pg_infer.worker_max_delay", None)
    write_report()
    conn.close()
    restart_server(ctx, {"pg_infer.worker_max_batch": 1})
    for m in ("mnist", "mlp512"):
        R["concurrent"][("c", m)] = concurrent(ctx, args, clients, images, "auto", m)
    write_report()
    restart_server(ctx, {"pg_infer.worker_max_batch": None})

    log("one backend: bare scan, device 'cpu', the worker")
    throughput(ctx, args, R, write_report)
    R["complete"] = True


if __name__ == "__main__":
    main()
