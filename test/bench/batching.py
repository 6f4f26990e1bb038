#!/usr/bin/env python3
"""pg_infer batching benchmark: BatchPredict against per-row evaluation.

One run on one machine: starts a scratch server (test/scratch-server.sh),
creates a database with pg_infer and plpython3u, stores two models

  mnist    models/mnist, the 784-128-10 MLP of the demo
  mlp512   a 784-512-256-10 MLP (Dense/Relu/Dense/Relu/Dense), random
           He-initialised float32 weights from numpy (fixed seed)

both with options {"input_scale": 1/255}, builds the 100,000-row tables of
test/bench/bench.py (real MNIST test images cycled; t_toast with default
storage, t_plain with STORAGE PLAIN) and measures rows/second, for both
models on both tables, of

  bare      a bare scan: sum(array_length(features, 1))
  per_row   sum(predict_class(m, features)) with pg_infer.batching = off
  batched   the same query planned with BatchPredict, at pg_infer.batch_size
            1, 4, 16, 64, 256 (the default), 1024, 4096
  plpython  PL/Python + numpy per row, the same model's math
  client    client-side Python: psycopg binary fetch, numpy forward pass,
            binary COPY of the classes back (bench.py's pipeline)
  insert    INSERT INTO scores SELECT id, predict_class(m, features) FROM t
            (batched, default batch size)

each the best of --runs timed runs after one warm-up run, with competing
measurements interleaved round by round (bare, per_row, batched..., plpython
of both models in one round; client and insert in another).  Then the
in-query forward-pass GFLOP/s of the 784-512-256-10 MLP at the default batch
size (EXPLAIN ANALYZE's "Forward Pass Time") against a standalone SGEMM of
the same shapes on the same OpenBLAS (test/bench/sgemm_peak.c, compiled
here, one thread), interleaved too; the forward-pass share per batch size
(one EXPLAIN ANALYZE each); a short perf profile of the batched query's
backend; and the agreement of the classes of per-row, batched, PL/Python and
numpy (>= 99.9 % or the run fails).

Writes test/bench/batching.md (the report, also printed), batching.csv (the
rates) and batching.png (drawn by plot_batching.py from the CSV, when
matplotlib is installed).  The server is stopped at the end, also on failure.

    python3 test/bench/batching.py [--port 55610] [--dir /tmp/pg_infer_batchbench]
        [--rows 100000] [--runs 3] [--py-rows-mnist 100000] [--py-rows-mlp512 10000]
        [--no-perf]

Needs what bench.py needs (psycopg 3, numpy, safetensors; plpython3u with
numpy in the server), gcc and the OpenBLAS headers (libopenblas-dev), and
optionally perf and matplotlib.
"""
import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (data loading, COPY, client pipeline, machine info)
from safetensors_writer import safetensors_bytes  # noqa: E402  (bench put test/ on the path)

ROOT = B.ROOT
SCRATCH = B.SCRATCH
INPUT_SCALE = B.INPUT_SCALE
NFEAT = B.NFEAT
SERVER_CONF = B.SERVER_CONF
BATCH_SIZES = [1, 4, 16, 64, 256, 1024, 4096]
DEFAULT_BATCH = 256
AGREEMENT_FLOOR = 0.999
FLOOR_BATCHED_VS_ROW = 3.0
FLOOR_BATCHED_VS_PLPY = 20.0
FLOOR_INSERT_VS_CLIENT = 50.0
FLOOR_GFLOPS_SHARE = 0.5
MLP_SEED = 20261126
MLP_WIDTHS = [784, 512, 256, 10]
MNIST_WIDTHS = [784, 128, 10]
MODELS = ("mnist", "mlp512")
MODEL_TITLE = {"mnist": "mnist 784-128-10", "mlp512": "mlp512 784-512-256-10"}
TABLES = (("t_toast", "TOAST"), ("t_plain", "PLAIN"))

log = B.log


# ------------------------------------------------------------------ models

def mlp_graph(widths):
    """Graph JSON of a Dense/Relu/.../Dense MLP (docs/format.md)."""
    nodes, prev = [], "pixels"
    nlayers = len(widths) - 1
    for i in range(nlayers):
        name = f"fc{i + 1}" if i < nlayers - 1 else "logits"
        nodes.append({"name": name, "op": "Dense",
                      "inputs": [prev, f"fc{i + 1}.weight", f"fc{i + 1}.bias"]})
        prev = name
        if i < nlayers - 1:
            nodes.append({"name": f"relu{i + 1}", "op": "Relu", "inputs": [name]})
            prev = f"relu{i + 1}"
    return {"format": "pg_infer", "version": 1,
            "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, widths[0]]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, widths[-1]]}],
            "nodes": nodes}


def he_mlp(widths, seed):
    """Random He-initialised float32 layers [(W [out,in], b [out])] with a fixed seed."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        w = (rng.standard_normal((fan_out, fan_in)) * math.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.01).astype(np.float32)
        layers.append((w, b))
    return layers


class NumpyMLP:
    """Dense/Relu MLP in numpy float32; classes() takes raw pixels."""

    def __init__(self, layers):
        self.layers = [(np.ascontiguousarray(w), np.ascontiguousarray(b)) for w, b in layers]
        self.wt = [np.ascontiguousarray(w.T) for w, _ in self.layers]
        self.scale = np.float32(INPUT_SCALE)

    def classes(self, x):
        h = x.astype(np.float32) * self.scale
        last = len(self.layers) - 1
        for i, ((_, b), wt) in enumerate(zip(self.layers, self.wt)):
            h = h @ wt
            h += b
            if i < last:
                np.maximum(h, 0, out=h)
        return h.argmax(axis=1).astype(np.int32)


def load_models():
    """{name: (graph json text, safetensors bytes, [(W, b)], widths)}."""
    from safetensors.numpy import load_file
    t = load_file(os.path.join(B.MODEL_DIR, "model.safetensors"))
    mnist_layers = [(t["fc1.weight"], t["fc1.bias"]), (t["fc2.weight"], t["fc2.bias"])]
    with open(os.path.join(B.MODEL_DIR, "model.json")) as f:
        mnist_graph = f.read()
    mlp_layers = he_mlp(MLP_WIDTHS, MLP_SEED)
    tensors = {}
    for i, (w, b) in enumerate(mlp_layers):
        tensors[f"fc{i + 1}.weight"] = w
        tensors[f"fc{i + 1}.bias"] = b
    return {
        "mnist": (mnist_graph, open(os.path.join(B.MODEL_DIR, "model.safetensors"), "rb").read(),
                  mnist_layers, MNIST_WIDTHS),
        "mlp512": (json.dumps(mlp_graph(MLP_WIDTHS)), safetensors_bytes(tensors), mlp_layers, MLP_WIDTHS),
    }


def flops_per_row(widths):
    return 2 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


# ---------------------------------------------------------------- SQL setup

PY_FUNCTION = r"""
CREATE FUNCTION py_predict_class(model text, features real[]) RETURNS integer
LANGUAGE plpython3u AS $py$
m = SD.get(model)
if m is None:
    import numpy as np
    plan = plpy.prepare("SELECT nout, nin, w, b FROM py_layers WHERE model = $1 ORDER BY layer", ["text"])
    layers = [(np.frombuffer(r['w'], dtype='<f4').reshape(r['nout'], r['nin']),
               np.frombuffer(r['b'], dtype='<f4')) for r in plpy.execute(plan, [model])]
    m = SD[model] = (np, layers, len(layers) - 1, np.float32(%(scale)r))
np, layers, last, scale = m
h = np.asarray(features, dtype=np.float32) * scale
for i, (w, b) in enumerate(layers):
    h = w @ h + b
    if i < last:
        np.maximum(h, 0, out=h)
return int(np.argmax(h))
$py$;
""" % {"scale": INPUT_SCALE}


def setup_database(conn, models, images, nrows):
    conn.execute("CREATE EXTENSION pg_infer")
    conn.execute("CREATE EXTENSION plpython3u")
    conn.execute("CREATE TABLE py_layers (model text, layer int, nout int, nin int, w bytea, b bytea, "
                 "PRIMARY KEY (model, layer))")
    for name, (graph, weights, layers, widths) in models.items():
        version = conn.execute(
            "SELECT create_model(%s, %s::jsonb, %s, %s::jsonb, %s)",
            (name, graph, weights, json.dumps({"input_scale": INPUT_SCALE}),
             f"{'-'.join(map(str, widths))} MLP (batching benchmark)")).fetchone()[0]
        params = conn.execute("SELECT parameter_count FROM pginfer.models WHERE name = %s AND active",
                              (name,)).fetchone()[0]
        log(f"create_model('{name}') -> version {version}, {params:,} parameters")
        for i, (w, b) in enumerate(layers):
            conn.execute("INSERT INTO py_layers VALUES (%s, %s, %s, %s, %s, %s)",
                         (name, i, w.shape[0], w.shape[1], w.astype("<f4").tobytes(),
                          b.astype("<f4").tobytes()))
    conn.execute(PY_FUNCTION)
    conn.execute(B.PY_NUMPY_VERSION)

    B.load_feature_tables(conn, images, nrows)
    conn.execute("CREATE TABLE scores (id int, class int)")
    conn.execute("CREATE TABLE scores_d (id int, class int)")


# ------------------------------------------------------------- measuring

class Item:
    """One measurement: run() is timed, setup() is not."""

    def __init__(self, key, model, table, rows, run, setup=None, batch=None, check=None):
        self.key, self.model, self.table, self.rows = key, model, table, rows
        self.run, self.setup, self.batch, self.check = run, setup, batch, check
        self.times, self.result = [], None

    @property
    def best(self):
        return min(self.times)

    @property
    def rate(self):
        return self.rows / self.best


def query_item(key, model, table, rows, conn, sql, setup_sql=None, batch=None, check=None):
    def run():
        cur = conn.execute(sql)
        return cur.fetchone()[0] if cur.description else cur.rowcount

    setup = (lambda: conn.execute(setup_sql)) if setup_sql else None
    return Item(key, model, table, rows, run, setup, batch, check)


def run_interleaved(items, runs, label):
    """Warm-up round + runs timed rounds; in each round every item once, in order."""
    for rnd in range(runs + 1):
        t_round = time.perf_counter()
        for it in items:
            if it.setup:
                it.setup()
            t0 = time.perf_counter()
            res = it.run()
            dt = time.perf_counter() - t0
            if it.check:
                it.check(it, res)
            it.result = res
            if rnd > 0:
                it.times.append(dt)
        log(f"{label}: {'warm-up' if rnd == 0 else f'round {rnd}'} done in "
            f"{time.perf_counter() - t_round:.1f} s")
    for it in items:
        b = f" bs={it.batch}" if it.batch else ""
        log(f"  {it.model:7s} {it.table:5s} {it.key:8s}{b:8s} best {it.best:.3f} s of "
            f"{['%.3f' % t for t in it.times]} -> {it.rate:,.0f} rows/s")


def explain_json(conn, sql):
    plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return plan[0]


def find_nodes(plan, pred):
    out = []

    def walk(n):
        if pred(n):
            out.append(n)
        for c in n.get("Plans", []):
            walk(c)
    walk(plan)
    return out


def batch_node(explained):
    nodes = find_nodes(explained["Plan"], lambda n: n.get("Custom Plan Provider") == "BatchPredict")
    return nodes[0] if nodes else None


def plan_text(conn, sql):
    return "\n".join(r[0] for r in conn.execute(f"EXPLAIN (COSTS OFF) {sql}").fetchall())


# ----------------------------------------------------------------- sgemm

def build_sgemm_peak(workdir):
    exe = os.path.join(workdir, "sgemm_peak")
    cmd = ["gcc", "-O2", "-o", exe, os.path.join(HERE, "sgemm_peak.c"),
           "-L/usr/lib/x86_64-linux-gnu", "-lopenblas"]
    subprocess.run(cmd, check=True)
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    blas = [ln.strip() for ln in ldd.splitlines() if "blas" in ln]
    return exe, " ".join(cmd[:2] + ["test/bench/sgemm_peak.c"] + cmd[5:]), "; ".join(blas)


def run_sgemm_peak(exe, m, widths, budget=1.0):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([exe, str(m), str(budget)] + [str(w) for w in widths],
                         capture_output=True, text=True, check=True, env=env).stdout
    gflops = None
    for ln in out.splitlines():
        if ln.startswith("GFLOPS "):
            gflops = float(ln.split()[1])
    return gflops, out


# ------------------------------------------------------------------ perf

def perf_profile(conn, sql, seconds, out_path):
    """perf record -g -p <backend> while sql runs on conn (repeated for >= seconds); the top of perf report."""
    if shutil.which("perf") is None:
        return "perf not found"
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    p = subprocess.Popen(["perf", "record", "-g", "-F", "999", "-o", out_path, "-p", str(pid)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    t0 = time.perf_counter()
    nq = 0
    while nq == 0 or time.perf_counter() - t0 < seconds:
        conn.execute(sql).fetchall()
        nq += 1
    dt = time.perf_counter() - t0
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    rep = subprocess.run(["perf", "report", "-i", out_path, "--stdio", "--no-children",
                          "--sort", "dso,symbol", "-g", "none", "--percent-limit", "1.5"],
                         capture_output=True, text=True)
    lines = [re.sub(r"(\s+-)+\s*$", "", ln) for ln in rep.stdout.splitlines()
             if ln.strip() and not ln.startswith("#")]
    return f"(pid {pid}, {nq} runs of the query in {dt:.1f} s)\n" + "\n".join(lines[:18])


# ------------------------------------------------------------------ main

def lib_fingerprint():
    libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    path = os.path.join(libdir or "/usr/lib/postgresql/15/lib", "pg_infer.so")
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        st = os.stat(path)
        when = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
        return f"sha256 {digest}, mtime {when:%Y-%m-%d %H:%M:%S UTC}"
    except OSError as e:
        return f"unreadable ({e})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=55610)
    ap.add_argument("--dir", default="/tmp/pg_infer_batchbench")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--py-rows-mnist", type=int, default=100_000,
                    help="rows for PL/Python per row on mnist (the first N ids)")
    ap.add_argument("--py-rows-mlp512", type=int, default=10_000,
                    help="rows for PL/Python per row on mlp512 (the first N ids)")
    ap.add_argument("--no-perf", action="store_true")
    ap.add_argument("--out", default=HERE, help="where batching.md/.csv/.png go")
    args = ap.parse_args()

    t_start = time.perf_counter()
    images, labels = B.load_mnist()
    models = load_models()
    numpy_models = {name: NumpyMLP(m[2]) for name, m in models.items()}
    log(f"MNIST test set: {len(images)} images; models built client-side")

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    workdir = tempfile.mkdtemp(prefix="pg_infer_sgemm_")
    subprocess.run([SCRATCH, "stop", args.dir], check=False, env=env)
    ok = False
    try:
        sgemm = build_sgemm_peak(workdir)
        subprocess.run([SCRATCH, "start", args.dir, str(args.port)] + SERVER_CONF, check=True, env=env)
        log(f"scratch server on {args.dir} port {args.port}")
        connect = lambda db: psycopg.connect(host=args.dir, port=args.port, user="postgres",  # noqa: E731
                                             dbname=db, autocommit=True)
        with connect("postgres") as c0:
            c0.execute("CREATE DATABASE batchbench")
        with connect("batchbench") as conn, connect("batchbench") as conn_row, \
                connect("batchbench") as conn_py:
            for c in (conn, conn_row):
                c.execute("LOAD 'pg_infer'")
            conn_row.execute("SET pg_infer.batching = off")
            run(conn, conn_row, conn_py, args, models, numpy_models, images, labels, sgemm, t_start)
        ok = True
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        B.stop_scratch_server(args.dir, ok)


def run(conn, conn_row, conn_py, args, models, numpy_models, images, labels, sgemm, t_start):
    N = args.rows
    lib_before = lib_fingerprint()
    setup_database(conn, models, images, N)
    info = B.machine_info(conn, conn_py)
    sizes, avg_size = B.storage_report(conn)
    py_rows = {"mnist": min(args.py_rows_mnist, N), "mlp512": min(args.py_rows_mlp512, N)}
    sgemm_exe, sgemm_cmd, sgemm_ldd = sgemm
    server_blas = "unknown"
    try:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT predict_class('mnist', features) FROM t_plain LIMIT 1").fetchall()
        with open(f"/proc/{pid}/maps") as f:
            server_blas = "; ".join(sorted({ln.split()[-1] for ln in f if "blas" in ln}))
    except OSError:
        pass

    # ---------------------------------------------------- plan sanity
    for m in MODELS:
        q = f"SELECT sum(predict_class('{m}', features)) FROM t_plain"
        ins = f"INSERT INTO scores SELECT id, predict_class('{m}', features) FROM t_plain"
        if "BatchPredict" not in plan_text(conn, q) or "BatchPredict" not in plan_text(conn, ins):
            raise SystemExit(f"no BatchPredict node in the plan of the batched queries for {m}:\n"
                             + plan_text(conn, q) + "\n" + plan_text(conn, ins))
        if "BatchPredict" in plan_text(conn_row, q):
            raise SystemExit(f"BatchPredict planned with pg_infer.batching = off:\n{plan_text(conn_row, q)}")

    # ---------------------------------------------------- group 1: SELECT rates
    # per table: bare, then per model per_row, batched at each size, plpython
    items1 = []
    sums = {}

    def same_sum(tag):
        def check(it, res):
            prev = sums.setdefault(tag, {})
            prev[(it.key, it.batch)] = res
        return check

    for t, tag in TABLES:
        def bare_check(it, res):
            if res != N * NFEAT:
                raise SystemExit(f"bare scan of {it.table}: {res} values, expected {N * NFEAT}")
        items1.append(query_item("bare", "-", tag, N, conn,
                                 f"SELECT sum(array_length(features, 1)) FROM {t}", check=bare_check))
        for m in MODELS:
            q = f"SELECT sum(predict_class('{m}', features)) FROM {t}"
            items1.append(query_item("per_row", m, tag, N, conn_row, q, check=same_sum((m, tag))))
            for bs in BATCH_SIZES:
                items1.append(query_item("batched", m, tag, N, conn, q,
                                         setup_sql=f"SET pg_infer.batch_size = {bs}", batch=bs,
                                         check=same_sum((m, tag))))
            P = py_rows[m]
            src = t if P >= N else f"(SELECT features FROM {t} LIMIT {P}) s"
            items1.append(query_item("plpython", m, tag, P, conn_py,
                                     f"SELECT sum(py_predict_class('{m}', features)) FROM {src}"))
    # interleave per table (a round covers one table: every competing figure of it)
    for t, tag in TABLES:
        run_interleaved([it for it in items1 if it.table == tag], args.runs, f"SELECT rates on {t}")
    conn.execute(f"SET pg_infer.batch_size = {DEFAULT_BATCH}")

    # ---------------------------------------------------- group 2: INSERT vs client pipeline
    items2 = []
    for t, tag in TABLES:
        for m in MODELS:
            def client_run(t=t, m=m):
                return B.client_pipeline(conn, t, numpy_models[m])

            def client_check(it, res):
                if res != N:
                    raise SystemExit(f"client pipeline scored {res} rows, expected {N}")
            items2.append(Item("client", m, tag, N, client_run, check=client_check))
            items2.append(query_item("insert", m, tag, N, conn,
                                     f"INSERT INTO scores SELECT id, predict_class('{m}', features) FROM {t}",
                                     setup_sql="TRUNCATE scores", batch=DEFAULT_BATCH))
    for t, tag in TABLES:
        run_interleaved([it for it in items2 if it.table == tag], args.runs, f"INSERT vs client on {t}")

    # ---------------------------------------------------- group 3: GFLOP/s, in query vs SGEMM
    log("forward-pass GFLOP/s: EXPLAIN ANALYZE at the default batch size, interleaved with sgemm_peak")
    gf = {m: {"fwd_ms": [], "exec_ms": [], "rows": None, "batches": None, "sgemm": [], "sgemm_out": ""}
          for m in MODELS}
    for rnd in range(args.runs + 1):
        for m in MODELS:
            widths = models[m][3]
            ex = explain_json(conn, f"SELECT sum(predict_class('{m}', features)) FROM t_plain")
            node = batch_node(ex)
            if node is None or "Forward Pass Time" not in node:
                raise SystemExit(f"EXPLAIN ANALYZE shows no BatchPredict Forward Pass Time:\n{json.dumps(ex)[:2000]}")
            g_sgemm, out = run_sgemm_peak(sgemm_exe, DEFAULT_BATCH, widths)
            if rnd > 0:
                gf[m]["fwd_ms"].append(float(node["Forward Pass Time"]))
                gf[m]["exec_ms"].append(float(ex["Execution Time"]))
                gf[m]["rows"] = int(node["Rows Predicted"])
                gf[m]["batches"] = int(node["Batches"])
                if not gf[m]["sgemm"] or g_sgemm > max(gf[m]["sgemm"]):
                    gf[m]["sgemm_out"] = out
                gf[m]["sgemm"].append(g_sgemm)
    for m in MODELS:
        g = gf[m]
        g["fpr"] = flops_per_row(models[m][3])
        g["inquery"] = g["rows"] * g["fpr"] / (min(g["fwd_ms"]) / 1e3) / 1e9
        g["standalone"] = max(g["sgemm"])
        g["share"] = g["inquery"] / g["standalone"]
        log(f"  {m}: rows {g['rows']:,} batches {g['batches']} forward {['%.1f' % x for x in g['fwd_ms']]} ms "
            f"-> {g['inquery']:.1f} GFLOP/s in query; sgemm_peak {['%.1f' % x for x in g['sgemm']]} "
            f"GFLOP/s -> {g['share'] * 100:.0f} %")

    # forward-pass share per batch size, one EXPLAIN ANALYZE each (PLAIN table)
    log("forward-pass share per batch size (one EXPLAIN ANALYZE each, t_plain)")
    fwd_by_bs = {}
    for m in MODELS:
        for bs in BATCH_SIZES:
            conn.execute(f"SET pg_infer.batch_size = {bs}")
            ex = explain_json(conn, f"SELECT sum(predict_class('{m}', features)) FROM t_plain")
            node = batch_node(ex)
            fwd_by_bs[(m, bs)] = (int(node["Batches"]), int(node["Rows Predicted"]),
                                  float(node["Forward Pass Time"]), float(ex["Execution Time"]))
    conn.execute(f"SET pg_infer.batch_size = {DEFAULT_BATCH}")
    # the same GEMMs standalone with M = each batch size (one run each, 0.3 s)
    sgemm_by_m = {}
    for m in MODELS:
        for bs in BATCH_SIZES:
            g_m, _ = run_sgemm_peak(sgemm_exe, bs, models[m][3], budget=0.3)
            sgemm_by_m[(m, bs)] = g_m

    # ---------------------------------------------------- agreement
    log("checking agreement of the classes")
    lab_by_id = labels[(np.arange(1, N + 1) - 1) % len(labels)].astype(np.int32)
    img_class = {m: numpy_models[m].classes(images) for m in MODELS}   # per distinct image
    checks, accuracy, failures = [], {}, []

    def fetch_classes(c, sql, upto=N):
        arr = np.full(N + 1, -1, dtype=np.int32)
        r = np.array(c.execute(sql).fetchall(), dtype=np.int64)
        arr[r[:, 0]] = r[:, 1]
        if (arr[1:upto + 1] < 0).any():
            raise SystemExit(f"agreement check: missing classes from {sql}")
        return arr[1:]

    Pc = 10_000 if N >= 10_000 else N
    for m in MODELS:
        q = f"SELECT id, predict_class('{m}', features) FROM %s"
        row_plain = fetch_classes(conn_row, q % "t_plain")
        bat_plain = fetch_classes(conn, q % "t_plain")
        bat_toast = fetch_classes(conn, q % "t_toast")
        # scores from the last INSERT run (t_plain, this model, default batch size)
        conn.execute("TRUNCATE scores")
        conn.execute(f"INSERT INTO scores SELECT id, predict_class('{m}', features) FROM t_plain")
        ins_plain = fetch_classes(conn, "SELECT id, class FROM scores")
        conn.execute("SET pg_infer.batch_size = 4096")
        bat_4096 = fetch_classes(conn, q % "t_plain")
        conn.execute("SET pg_infer.batch_size = 4")
        bat_4 = fetch_classes(conn, q % "t_plain")
        conn.execute(f"SET pg_infer.batch_size = {DEFAULT_BATCH}")
        npy = img_class[m][(np.arange(1, N + 1) - 1) % len(images)]
        plpy = fetch_classes(conn_py, f"SELECT id, py_predict_class('{m}', features) FROM t_plain "
                                      f"WHERE id <= {Pc}", Pc)[:Pc]
        pairs = [
            ("per row vs batched (256)", row_plain, bat_plain),
            ("per row vs batched (4)", row_plain, bat_4),
            ("per row vs batched (4096)", row_plain, bat_4096),
            ("per row vs INSERT ... SELECT (256)", row_plain, ins_plain),
            ("batched PLAIN vs batched TOAST", bat_plain, bat_toast),
            ("per row vs numpy (client)", row_plain, npy),
            ("batched (256) vs numpy (client)", bat_plain, npy),
            (f"per row vs PL/Python (first {Pc:,} ids)", row_plain[:Pc], plpy),
            (f"batched vs PL/Python (first {Pc:,} ids)", bat_plain[:Pc], plpy),
        ]
        for name, x, y in pairs:
            a = float((x == y).mean())
            checks.append((m, name, len(x), a))
            if a < AGREEMENT_FLOOR:
                failures.append(f"{m}: {name}: agreement {a * 100:.3f} % < {AGREEMENT_FLOOR * 100:.1f} %")
        accuracy[m] = {"per row": float((row_plain == lab_by_id).mean()),
                       "batched": float((bat_plain == lab_by_id).mean()),
                       "numpy": float((npy == lab_by_id).mean())}
        # the sums of the timed queries against the per-row classes
        ref = int(row_plain.sum())
        for t, tag in TABLES:
            for (key, bs), s in sums[(m, tag)].items():
                if s != ref:
                    lower = math.ceil(abs(s - ref) / 9)
                    msg = (f"{m} {tag} {key}{' bs=' + str(bs) if bs else ''}: sum {s} != per-row classes' sum "
                           f"{ref} (>= {lower} rows differ)")
                    if lower > (1 - AGREEMENT_FLOOR) * N:
                        failures.append(msg)
                    else:
                        checks.append((m, "note: " + msg, N, float("nan")))
    lib_after = lib_fingerprint()

    # ---------------------------------------------------- perf
    profiles = {}
    if not args.no_perf:
        for m in MODELS:
            log(f"perf profile of the batched query's backend ({m}, t_plain, batch size {DEFAULT_BATCH})")
            profiles[m] = perf_profile(conn, f"SELECT sum(predict_class('{m}', features)) FROM t_plain",
                                       5, os.path.join(tempfile.gettempdir(), f"pg_infer_batching_{m}.perf"))

    # ---------------------------------------------------- results
    all_items = items1 + items2
    get = {}
    for it in all_items:
        get[(it.key, it.model, it.table, it.batch)] = it
    bare = {tag: get[("bare", "-", tag, None)] for _, tag in TABLES}

    csv_path = os.path.join(args.out, "batching.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "table", "measurement", "batch_size", "rows", "best_s", "rows_per_s", "times_s"])
        for it in all_items:
            w.writerow([it.model, it.table, it.key, it.batch or "", it.rows, f"{it.best:.6f}",
                        f"{it.rate:.1f}", " ".join(f"{x:.6f}" for x in it.times)])
    log(f"written {csv_path}")

    def rate(key, m, tag, bs=None):
        if key == "bare":
            return bare[tag].rate
        return get[(key, m, tag, bs)].rate

    cols = [(m, tag) for m in MODELS for _, tag in TABLES]
    L = []
    L.append("# pg_infer batching benchmark: BatchPredict vs per-row evaluation")
    L.append("")
    L.append("Generated by `test/bench/batching.py` (one run, scratch server, both models on both tables).")
    L.append("")
    L.append("## Machine")
    L.append("")
    for k in ("cpu", "cores", "memory", "postgres", "kernel", "python", "commit", "load", "date"):
        L.append(f"- **{k}**: {info[k]}")
    L.append(f"- **pg_infer.so**: at start {lib_before}; at the end {lib_after}"
             + ("" if lib_before == lib_after else " (**reinstalled during the run**; the connections "
                "kept the library they loaded at the start)"))
    L.append(f"- **BLAS mapped by the server backend**: {server_blas}")
    L.append(f"- **sgemm_peak**: `{sgemm_cmd}`, run with `OPENBLAS_NUM_THREADS=1`; {sgemm_ldd}; "
             + gf["mlp512"]["sgemm_out"].splitlines()[0])
    L.append("")
    L.append("## Setup")
    L.append("")
    L.append(f"- {N:,} rows `(id int, features real[784])`, the 10,000 MNIST test images (raw pixels 0..255) "
             f"cycled, binary COPY, VACUUM ANALYZE (as bench.py). `t_toast`: default storage, avg "
             f"`pg_column_size` {avg_size['t_toast']} B; `t_plain`: `STORAGE PLAIN`, {avg_size['t_plain']} B.")
    sb = conn.execute("SELECT pg_size_bytes(current_setting('shared_buffers'))").fetchone()[0]
    ring = [t for t, _ in TABLES if sizes[t][0] > sb / 4]
    if ring:
        L.append(f"- Heap of {', '.join(f'`{t}` ({sizes[t][0] / 2**20:.0f} MiB)' for t in ring)} > shared_buffers/4 "
                 f"({sb / 4 / 2**20:.0f} MiB): its sequential scans use PostgreSQL's 256 kB bulk-read ring, so every "
                 f"scan reads its pages again from the OS page cache (as in bench.py).")
    L.append("- Models, both with `options => '{\"input_scale\": 0.00392156862745098}'`: **mnist** = "
             "`models/mnist` (784-128-10, "
             f"{flops_per_row(MNIST_WIDTHS) / 1e6:.3f} MFLOP/row); **mlp512** = 784-512-256-10 "
             f"Dense/Relu/Dense/Relu/Dense, He-initialised float32 weights (numpy default_rng({MLP_SEED}), "
             f"biases N(0, 0.01)), safetensors written in Python "
             f"({flops_per_row(MLP_WIDTHS) / 1e6:.3f} MFLOP/row).")
    L.append("- Server: " + ", ".join(f"`{s}`" for s in SERVER_CONF) + "; `OPENBLAS_NUM_THREADS=1`.")
    L.append(f"- Queries: `SELECT sum(predict_class(m, features)) FROM t` per row (a connection with "
             f"`pg_infer.batching = off`) and batched (`SET pg_infer.batch_size = N` before each run, not timed); "
             f"bare scan `SELECT sum(array_length(features, 1)) FROM t`; PL/Python: `sum(py_predict_class(m, "
             f"features))` (numpy float32 `W @ x + b`, relu, argmax; weights cached in `SD`) on the first "
             f"{py_rows['mnist']:,} ids (mnist) / {py_rows['mlp512']:,} ids (mlp512); client: bench.py's "
             f"pipeline (server-side cursor, binary fetch in 5,000-row chunks, numpy forward pass, binary COPY "
             f"of `(id, class)` back); `INSERT INTO scores SELECT id, predict_class(m, features) FROM t` "
             f"(`TRUNCATE scores` before each run, not timed), batched at the default batch size {DEFAULT_BATCH}.")
    L.append(f"- Each figure: the best of {args.runs} timed runs after one warm-up run. Interleaved: per table, "
             f"each round runs bare, then for each model per row, batched at {', '.join(map(str, BATCH_SIZES))}, "
             f"PL/Python; a second set of rounds runs client and INSERT for each model.")
    L.append("")
    L.append("## Rows per second (higher is better)")
    L.append("")
    L.append("| measurement | " + " | ".join(f"{MODEL_TITLE[m].split()[0]} {tag}" for m, tag in cols) + " |")
    L.append("|---|" + "---:|" * len(cols))
    L.append("| bare scan | " + " | ".join(f"{rate('bare', m, tag):,.0f}" for m, tag in cols) + " |")
    L.append("| per row (`batching = off`) | " + " | ".join(f"{rate('per_row', m, tag):,.0f}" for m, tag in cols) + " |")
    for bs in BATCH_SIZES:
        name = f"batched, batch size {bs}" + (" (default)" if bs == DEFAULT_BATCH else "")
        L.append(f"| {name} | " + " | ".join(
            (f"**{rate('batched', m, tag, bs):,.0f}**" if bs == DEFAULT_BATCH else f"{rate('batched', m, tag, bs):,.0f}")
            for m, tag in cols) + " |")
    L.append("| PL/Python + numpy per row | " + " | ".join(
        f"{rate('plpython', m, tag):,.0f}" for m, tag in cols) + " |")
    L.append("| client Python (fetch, numpy, COPY back) | " + " | ".join(
        f"{rate('client', m, tag):,.0f}" for m, tag in cols) + " |")
    L.append(f"| `INSERT ... SELECT predict_class` (batch {DEFAULT_BATCH}) | " + " | ".join(
        f"{rate('insert', m, tag, DEFAULT_BATCH):,.0f}" for m, tag in cols) + " |")
    L.append("")
    L.append("Time per row (µs, best run):")
    L.append("")
    L.append("| measurement | " + " | ".join(f"{m} {tag}" for m, tag in cols) + " |")
    L.append("|---|" + "---:|" * len(cols))
    L.append("| bare scan | " + " | ".join(f"{1e6 / rate('bare', m, tag):.2f}" for m, tag in cols) + " |")
    L.append("| per row | " + " | ".join(f"{1e6 / rate('per_row', m, tag):.2f}" for m, tag in cols) + " |")
    for bs in BATCH_SIZES:
        L.append(f"| batched, {bs} | " + " | ".join(f"{1e6 / rate('batched', m, tag, bs):.2f}" for m, tag in cols) + " |")
    L.append("| PL/Python | " + " | ".join(f"{1e6 / rate('plpython', m, tag):.2f}" for m, tag in cols) + " |")
    L.append("| client Python | " + " | ".join(f"{1e6 / rate('client', m, tag):.2f}" for m, tag in cols) + " |")
    L.append("| INSERT ... SELECT | " + " | ".join(
        f"{1e6 / rate('insert', m, tag, DEFAULT_BATCH):.2f}" for m, tag in cols) + " |")
    L.append("")

    # floors
    L.append("## Floors from the issue")
    L.append("")
    verdicts = []

    def verdict(ok):
        return "met" if ok else "NOT MET"

    L.append("| floor | " + " | ".join(f"{m} {tag}" for m, tag in cols) + " | verdict |")
    L.append("|---|" + "---:|" * len(cols) + "---|")
    r1 = {c: rate("batched", c[0], c[1], DEFAULT_BATCH) / rate("per_row", *c) for c in cols}
    rb = {c: max(rate("batched", c[0], c[1], bs) for bs in BATCH_SIZES) / rate("per_row", *c) for c in cols}
    r2 = {c: rate("batched", c[0], c[1], DEFAULT_BATCH) / rate("plpython", *c) for c in cols}
    r3 = {c: rate("insert", c[0], c[1], DEFAULT_BATCH) / rate("client", *c) for c in cols}
    for title, r, floor in ((f"batched (default {DEFAULT_BATCH}) >= {FLOOR_BATCHED_VS_ROW:.0f}x per row", r1,
                             FLOOR_BATCHED_VS_ROW),
                            (f"batched (default {DEFAULT_BATCH}) >= {FLOOR_BATCHED_VS_PLPY:.0f}x PL/Python per row",
                             r2, FLOOR_BATCHED_VS_PLPY),
                            (f"INSERT ... SELECT >= {FLOOR_INSERT_VS_CLIENT:.0f}x client Python pipeline", r3,
                             FLOOR_INSERT_VS_CLIENT)):
        ok = all(v >= floor for v in r.values())
        nmet = sum(v >= floor for v in r.values())
        verdicts.append((title, ok, f"{nmet} of {len(r)} met"))
        L.append(f"| {title} | " + " | ".join(
            f"{r[c]:.1f}x" + ("" if r[c] >= floor else " ✗") for c in cols)
            + f" | **{verdict(ok)}**" + ("" if ok else f" ({nmet} of {len(r)} columns)") + " |")
    L.append("| (for reference) best batch size / per row | " + " | ".join(f"{rb[c]:.1f}x" for c in cols) + " | |")
    ceil = {c: (1e6 / rate("per_row", *c)) / (1e6 / rate("bare", *c)
                                              + flops_per_row(models[c[0]][3]) / (gf[c[0]]["standalone"] * 1e9) * 1e6)
            for c in cols}
    L.append("| (for reference) ceiling: per-row time / (bare scan time + FLOP/row at the standalone SGEMM "
             "rate) | " + " | ".join(f"{ceil[c]:.1f}x" for c in cols) + " | |")
    g = gf["mlp512"]
    ok4 = g["share"] >= FLOOR_GFLOPS_SHARE
    verdicts.append((f"in-query GFLOP/s >= {FLOOR_GFLOPS_SHARE * 100:.0f}% of standalone SGEMM (mlp512)", ok4,
                     f"{g['share'] * 100:.0f} %"))
    L.append("")
    L.append(f"In-query GFLOP/s >= {FLOOR_GFLOPS_SHARE * 100:.0f}% of standalone SGEMM (mlp512, batch size "
             f"{DEFAULT_BATCH}): {g['inquery']:.1f} / {g['standalone']:.1f} GFLOP/s = "
             f"**{g['share'] * 100:.0f} %: {verdict(ok4)}**.")
    L.append("")
    L.append("## Forward-pass GFLOP/s: in the query vs standalone SGEMM")
    L.append("")
    L.append(f"In query: `EXPLAIN (ANALYZE, FORMAT JSON) SELECT sum(predict_class(m, features)) FROM t_plain` at "
             f"batch size {DEFAULT_BATCH}: rows x FLOP/row / \"Forward Pass Time\" (the best of {args.runs} after a "
             f"warm-up; the time also covers copying the batch into and out of the executor and the input "
             f"scaling). Standalone: `sgemm_peak` with M = {DEFAULT_BATCH}, the same layer shapes, `cblas_sgemm` "
             f"row-major NoTrans x Trans, beta = 1 (bias preset) like the Dense kernel, best repetition "
             f"(best of {args.runs} runs, interleaved with the EXPLAINs).")
    L.append("")
    L.append("| model | rows | batches | forward pass time (ms) | in-query GFLOP/s | standalone SGEMM GFLOP/s | "
             "ratio | forward / execution time |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in MODELS:
        g = gf[m]
        i = int(np.argmin(g["fwd_ms"]))
        L.append(f"| {MODEL_TITLE[m]} | {g['rows']:,} | {g['batches']} | {min(g['fwd_ms']):.1f} "
                 f"(runs: {', '.join('%.1f' % x for x in g['fwd_ms'])}) | {g['inquery']:.1f} | "
                 f"{g['standalone']:.1f} (runs: {', '.join('%.1f' % x for x in g['sgemm'])}) | "
                 f"{g['share'] * 100:.0f} % | {g['fwd_ms'][i] / g['exec_ms'][i] * 100:.0f} % of "
                 f"{g['exec_ms'][i]:.0f} ms |")
    L.append("")
    L.append("sgemm_peak output (mlp512 shapes, the best run):")
    L.append("")
    L.append("```")
    L.extend(gf["mlp512"]["sgemm_out"].strip().splitlines())
    L.append("```")
    L.append("")
    L.append("Forward pass vs the rest, per batch size (one `EXPLAIN ANALYZE` each on t_plain, after the "
             "timed runs; EXPLAIN's per-node timing adds some overhead to the execution time), and the same "
             "GEMMs standalone (`sgemm_peak` with M = the batch size, one 0.3 s run each; pg_infer calls "
             "`cblas_sgemv` instead for a batch of one row):")
    L.append("")
    L.append("| model | batch size | batches | forward µs/row | execution µs/row | forward share | forward GFLOP/s "
             "| standalone SGEMM µs/row (M = batch size) | standalone GFLOP/s |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in MODELS:
        fpr = flops_per_row(models[m][3])
        for bs in BATCH_SIZES:
            nb, rows, fwd, exe = fwd_by_bs[(m, bs)]
            g_m = sgemm_by_m[(m, bs)]
            L.append(f"| {m} | {bs} | {nb:,} | {fwd * 1e3 / rows:.2f} | {exe * 1e3 / rows:.2f} | "
                     f"{fwd / exe * 100:.0f} % | {rows * fpr / (fwd / 1e3) / 1e9:.1f} | "
                     f"{fpr / (g_m * 1e9) * 1e6:.2f} | {g_m:.1f} |")
    L.append("")
    L.append("## Correctness")
    L.append("")
    L.append("| model | classes compared | rows | agreement |")
    L.append("|---|---|---:|---:|")
    for m, name, rows, a in checks:
        L.append(f"| {m} | {name} | {rows:,} | " + ("-" if a != a else f"{a * 100:.3f} %") + " |")
    L.append("")
    for m in MODELS:
        s_ok = all(s == next(iter(sums[(m, tag)].values())) for _, tag in TABLES for s in sums[(m, tag)].values())
        L.append(f"- {m}: the timed `sum(predict_class)` queries (per row, every batch size, both tables) "
                 + ("all returned the same sum" if s_ok else "did NOT all return the same sum (see notes above)")
                 + f"; accuracy against the MNIST labels: per row {accuracy[m]['per row']:.4f}, batched "
                 f"{accuracy[m]['batched']:.4f}, numpy {accuracy[m]['numpy']:.4f}"
                 + (" (reference 0.9391)" if m == "mnist" else " (random weights: chance level expected)") + ".")
    L.append("")
    if profiles:
        L.append("## perf profile of the batched query's backend")
        L.append("")
        L.append(f"`perf record -g -F 999 -p <backend pid>` while `SELECT sum(predict_class(m, features)) "
                 f"FROM t_plain` runs repeatedly (>= 5 s) at batch size {DEFAULT_BATCH}; `perf report --no-children --sort dso,symbol`, "
                 "entries >= 1.5 %:")
        L.append("")
        for m, text in profiles.items():
            L.append(f"{MODEL_TITLE[m]} {text.splitlines()[0]}:")
            L.append("")
            L.append("```")
            L.extend(text.splitlines()[1:])
            L.append("```")
            L.append("")
    L.append("## Verdicts")
    L.append("")
    for title, ok, detail in verdicts:
        L.append(f"- {title}: **{verdict(ok)}** ({detail})")
    L.append(f"- classes agree >= {AGREEMENT_FLOOR * 100:.1f} % (per row, batched, numpy, PL/Python): "
             f"**{'yes' if not failures else 'NO'}**")
    L.append("")
    L.append(f"Total benchmark time: {time.perf_counter() - t_start:.0f} s; load average at the end "
             + " / ".join(open("/proc/loadavg").read().split()[:3]) + " (1/5/15 min).")
    report = "\n".join(L) + "\n"
    print()
    print(report)
    md_path = os.path.join(args.out, "batching.md")
    with open(md_path, "w") as f:
        f.write(report)
    log(f"written {md_path}")

    plot = subprocess.run([sys.executable, os.path.join(HERE, "plot_batching.py"), csv_path,
                           os.path.join(args.out, "batching.png")])
    if plot.returncode != 0:
        log("plot_batching.py failed (matplotlib missing?); batching.png not drawn")

    if failures:
        print("AGREEMENT CHECK FAILED:", file=sys.stderr)
        for f_ in failures:
            print(f"  - {f_}", file=sys.stderr)
        raise SystemExit(1)
    for title, ok, detail in verdicts:
        print(f"floor: {title}: {verdict(ok)} ({detail})")


if __name__ == "__main__":
    main()
