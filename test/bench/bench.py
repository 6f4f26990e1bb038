#!/usr/bin/env python3
"""pg_infer throughput benchmark on the MNIST demo model.

One run: starts a scratch server (test/scratch-server.sh), installs pg_infer
and plpython3u in a database, loads models/mnist with create_model (bytes
read client-side), builds two 100,000-row tables of real MNIST test images
(default storage = compressed inline with pglz, the same with lz4, and
STORAGE PLAIN), then measures
rows/second for

  (a) a bare scan                  sum(array_length(features, 1))
  (b) pg_infer per row             sum(predict_class('mnist', features)), pg_infer.batching off
  (g) pg_infer BatchPredict        the same query with batching on (the default)
  (c) PL/Python + numpy per row    sum(py_predict_class(features))
  (d) client-side Python           binary fetch -> numpy -> COPY scores
  (e) INSERT ... SELECT            INSERT INTO scores SELECT id, predict_class(..)
  (f) pg_infer batched             predict_batch over real[1000][784] arrays
  (h) WHERE, batched               count(*) ... WHERE predict_class('mnist', features) = 3
  (i) WHERE, per row               the same query, pg_infer.batching off
  (j) INSERT without a model       INSERT INTO scores_j SELECT id, 0 (the ceiling of (e))
  (k) parallel bulk scoring        CREATE TABLE AS SELECT id, predict_class(..), 2 workers

each the best of 3 timed runs after a warm-up, checks that the classes of
(b), (c), (d) (and (f)) agree, prints a Markdown report and writes it to
test/bench/results.md.  The server is stopped at the end, also on failure.

    python3 test/bench/bench.py [--port 55600] [--dir /tmp/pg_infer_bench]
                                [--rows 100000] [--py-rows 10000]

Needs: psycopg (3), numpy, safetensors (client); plpython3u with numpy for
the server's python; pg_infer installed (make install).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test"))
from mnist_data import load_mnist_test_set  # noqa: E402
from safetensors_writer import safetensors_bytes  # noqa: E402
SCRATCH = os.path.join(ROOT, "test", "scratch-server.sh")
MODEL_DIR = os.path.join(ROOT, "models", "mnist")
DATA_DIR = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "mnist"))
INPUT_SCALE = 0.00392156862745098          # 1/255, models/mnist/README.md
NFEAT = 784
NCLASS = 10
BATCH_ROWS = 1000
AGREEMENT_FLOOR = 0.999
SPEEDUP_FLOOR = 10.0
PARALLEL_WORKERS = 2
FLOAT4OID = 700
FLOAT4ARRAYOID = 1021

# Server settings: everything cached, no parallel query (per-backend rates,
# PL/Python functions are parallel unsafe anyway), no JIT, no WAL for the
# loads (tables created in the loading transaction).
SERVER_CONF = [
    "shared_buffers = '1GB'",
    "max_parallel_workers_per_gather = 0",
    "jit = off",
    "wal_level = minimal",
    "max_wal_senders = 0",
    "max_wal_size = '4GB'",
    "synchronous_commit = off",
    "maintenance_work_mem = '256MB'",
]


def mlp_model(layers, seed):
    """Graph JSON and safetensors of a Dense/Relu MLP with He-initialised weights."""
    rng = np.random.default_rng(seed)
    nodes, tensors, x = [], {}, "x"
    for i, (n_in, n_out) in enumerate(zip(layers, layers[1:])):
        tensors[f"w{i}"] = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype("f4")
        tensors[f"b{i}"] = np.zeros(n_out, "f4")
        nodes.append({"name": f"d{i}", "op": "Dense", "inputs": [x, f"w{i}", f"b{i}"]})
        x = f"d{i}"
        if i < len(layers) - 2:
            nodes.append({"name": f"r{i}", "op": "Relu", "inputs": [x]})
            x = f"r{i}"
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, layers[0]]}],
             "outputs": [{"name": x}], "nodes": nodes}
    return json.dumps(graph), safetensors_bytes(tensors)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- data

def load_mnist():
    images, labels = load_mnist_test_set(DATA_DIR)
    assert images.shape[1] == NFEAT, images.shape
    return images, labels


# One binary-COPY row: int16 field count, int32 id, real[784] (1-D, no NULLs).
ARRAY_HEADER = struct.pack(">iiiii", 1, 0, FLOAT4OID, NFEAT, 1)
COPY_ROW = np.dtype([
    ("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i4"),
    ("arr_len", ">i4"), ("header", "V20"),
    ("values", [("len", ">i4"), ("v", ">f4")], (NFEAT,)),
])
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)


def copy_block(images):
    """Binary COPY rows for the images, ids to be filled in."""
    block = np.zeros(len(images), dtype=COPY_ROW)
    block["nfields"] = 2
    block["id_len"] = 4
    block["arr_len"] = 20 + 8 * NFEAT
    block["header"] = np.frombuffer(ARRAY_HEADER, dtype="V20")[0]
    block["values"]["len"] = 4
    block["values"]["v"] = images.astype(np.float32)
    return block


def copy_rows(cur, table, block, nrows):
    """COPY nrows rows into table, cycling the images of block; ids 1..nrows."""
    n = len(block)
    with cur.copy(f"COPY {table} (id, features) FROM STDIN (FORMAT BINARY, FREEZE)") as cp:
        cp.write(COPY_SIGNATURE)
        for start in range(0, nrows, n):
            k = min(n, nrows - start)
            part = block[:k]
            part["id"] = np.arange(start + 1, start + k + 1, dtype=np.int32)
            cp.write(part.tobytes())
        cp.write(COPY_TRAILER)


# ------------------------------------------------------------ numpy model

class NumpyMLP:
    def __init__(self, path):
        # imported here: the modules that import this one for its helpers
        # (worker.py on a GPU machine) need not have safetensors
        from safetensors.numpy import load_file
        t = load_file(path)
        self.w1 = np.ascontiguousarray(t["fc1.weight"], dtype=np.float32)   # [128, 784]
        self.b1 = np.ascontiguousarray(t["fc1.bias"], dtype=np.float32)
        self.w2 = np.ascontiguousarray(t["fc2.weight"], dtype=np.float32)   # [10, 128]
        self.b2 = np.ascontiguousarray(t["fc2.bias"], dtype=np.float32)
        self.w1t = np.ascontiguousarray(self.w1.T)
        self.w2t = np.ascontiguousarray(self.w2.T)
        self.scale = np.float32(INPUT_SCALE)

    def classes(self, x):
        """x: [n, 784] float32 raw pixels -> [n] int32 classes."""
        h = (x * self.scale) @ self.w1t
        h += self.b1
        np.maximum(h, 0, out=h)
        logits = h @ self.w2t
        logits += self.b2
        return logits.argmax(axis=1).astype(np.int32)


# ----------------------------------------------------- psycopg loaders

class RawArrayLoader(Loader):
    """real[] in binary, kept as raw bytes (decoded per chunk with numpy)."""
    format = Format.BINARY

    def load(self, data):
        return bytes(data)


ROW_WIRE = 20 + 8 * NFEAT            # binary real[784]: header + (len, value) pairs
WIRE_DTYPE = np.dtype([("header", "V20"), ("values", [("len", ">i4"), ("v", ">f4")], (NFEAT,))])


def decode_rows(raws):
    """Binary real[784] values (bytes) -> [n, 784] float32."""
    buf = b"".join(raws)
    if len(buf) != ROW_WIRE * len(raws):
        raise SystemExit("client fetch: a features value is not a 1-D real[784]")
    rows = np.frombuffer(buf, dtype=WIRE_DTYPE)
    if not (rows["header"] == np.frombuffer(ARRAY_HEADER, dtype="V20")[0]).all():
        raise SystemExit("client fetch: a features value is not a 1-D NULL-free real[784]")
    return rows["values"]["v"].astype(np.float32)


def decode_array(raw):
    """Any binary real[] without NULLs -> ndarray of its shape."""
    ndim, hasnull, elemtype = struct.unpack_from(">iii", raw, 0)
    if hasnull or elemtype != FLOAT4OID:
        raise SystemExit("unexpected array from predict_batch")
    dims = [struct.unpack_from(">ii", raw, 12 + 8 * i)[0] for i in range(ndim)]
    pairs = np.frombuffer(raw, dtype=[("len", ">i4"), ("v", ">f4")], offset=12 + 8 * ndim)
    return pairs["v"].astype(np.float32).reshape(dims)


# ---------------------------------------------------------- measurement

def timed(conn, sql, runs=3, setup=None):
    """Warm-up + runs timed executions; returns (best seconds, last result)."""
    times = []
    result = None
    for i in range(runs + 1):
        if setup:
            conn.execute(setup)
        t0 = time.perf_counter()
        cur = conn.execute(sql)
        result = cur.fetchone() if cur.description else cur.rowcount
        dt = time.perf_counter() - t0
        if i > 0:
            times.append(dt)
    return min(times), result, times


def client_pipeline(conn, table, model, chunk=5000, nrows=None):
    """(d): binary fetch of id, features in chunks, numpy forward pass, COPY out.

    Returns the number of rows scored; the classes land in scores_d."""
    conn.execute("TRUNCATE scores_d")
    ids_all, cls_all = [], []
    with conn.transaction():
        with conn.cursor(name="fetch_features", binary=True) as cur:
            cur.adapters.register_loader(FLOAT4ARRAYOID, RawArrayLoader)
            cur.execute(f"SELECT id, features FROM {table}")
            while True:
                batch = cur.fetchmany(chunk)
                if not batch:
                    break
                ids = np.fromiter((r[0] for r in batch), dtype=np.int32, count=len(batch))
                x = decode_rows([r[1] for r in batch])
                ids_all.append(ids)
                cls_all.append(model.classes(x))
        ids = np.concatenate(ids_all)
        cls = np.concatenate(cls_all)
        out = np.empty(len(ids), dtype=[("nf", ">i2"), ("l1", ">i4"), ("id", ">i4"),
                                        ("l2", ">i4"), ("c", ">i4")])
        out["nf"], out["l1"], out["l2"] = 2, 4, 4
        out["id"], out["c"] = ids, cls
        with conn.cursor() as cur:
            with cur.copy("COPY scores_d (id, class) FROM STDIN (FORMAT BINARY)") as cp:
                cp.write(COPY_SIGNATURE)
                cp.write(out.tobytes())
                cp.write(COPY_TRAILER)
    return len(ids)


def timed_interleaved(statements, runs=3):
    """Like timed() for several (conn, sql), run in turn in each round."""
    times = [[] for _ in statements]
    results = [None] * len(statements)
    for i in range(runs + 1):
        for j, (conn, sql) in enumerate(statements):
            t0 = time.perf_counter()
            results[j] = conn.execute(sql).fetchone()
            dt = time.perf_counter() - t0
            if i > 0:
                times[j].append(dt)
    return [(min(t), r, t) for t, r in zip(times, results)]


def timed_client(conn, table, model, runs=3):
    times = []
    n = 0
    for i in range(runs + 1):
        t0 = time.perf_counter()
        n = client_pipeline(conn, table, model)
        dt = time.perf_counter() - t0
        if i > 0:
            times.append(dt)
    return min(times), n, times


# ------------------------------------------------------------- machine

def installed_library():
    """The pg_infer.so the server loads, and when it was installed."""
    try:
        if os.environ.get("PGBIN"):       # a private installation (test/scratch-server.sh PGBIN)
            libdir = os.path.join(os.path.dirname(os.environ["PGBIN"].rstrip("/")), "lib")
        else:
            libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
        path = os.path.join(libdir or "/usr/lib/postgresql/15/lib", "pg_infer.so")
        st = os.stat(path)
        when = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
        return f"{path}, installed {when:%Y-%m-%d %H:%M UTC} (the benchmark does not build it)"
    except OSError as e:
        return f"unknown ({e})"


def machine_info(conn, conn_py=None):
    """Machine, server and build facts for a report; conn_py (a session with
    py_numpy_version()) adds the server's PL/Python numpy."""
    cpu = "unknown"
    nproc_lines = 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                nproc_lines += 1
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    pgver = conn.execute("SELECT version()").fetchone()[0]
    srv_numpy = (conn_py.execute("SELECT py_numpy_version()").fetchone()[0]
                 if conn_py is not None else "not used")
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include", "sql"],
                               capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " (src/include/sql modified)"
    except OSError:
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": f"{nproc_lines} logical CPUs ({affinity} usable by this process)",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "postgres": pgver,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "python": f"client {platform.python_version()} numpy {np.__version__} psycopg {psycopg.__version__}; "
                  f"server PL/Python numpy {srv_numpy}",
        "commit": commit or "unknown",
        "pg_infer.so": installed_library(),
        "load": "load average at start " + " / ".join(open("/proc/loadavg").read().split()[:3]),
    }


# ------------------------------------------------------------------ SQL

PY_FUNCTION = r"""
CREATE FUNCTION py_predict_class(features real[]) RETURNS integer
LANGUAGE plpython3u AS $py$
m = SD.get('m')
if m is None:
    import numpy as np
    w = {}
    for r in plpy.execute("SELECT name, nrows, ncols, data FROM py_weights"):
        a = np.frombuffer(r['data'], dtype='<f4')
        w[r['name']] = a.reshape(r['nrows'], r['ncols']) if r['ncols'] > 1 else a
    m = SD['m'] = (np, w['fc1.weight'], w['fc1.bias'], w['fc2.weight'], w['fc2.bias'],
                   np.float32(%(scale)r))
np, w1, b1, w2, b2, scale = m
x = np.asarray(features, dtype=np.float32) * scale
h = w1 @ x + b1
np.maximum(h, 0, out=h)
return int(np.argmax(w2 @ h + b2))
$py$;
""" % {"scale": INPUT_SCALE}

# PY_SESSION_NOTE: numpy cannot be imported in a backend that has already
# loaded pg_infer.so: pg_infer links .../openblas-serial/libopenblas.so.0,
# Debian's numpy links libblas.so.3 (openblas-pthread), which needs symbols of
# the pthread libopenblas.so.0; the dynamic linker reuses the already loaded
# serial library of the same soname and the import fails with
# "libblas.so.3: undefined symbol: sgemv_thread_n".  So the PL/Python
# measurements run on a second connection that never calls pg_infer.
PY_NUMPY_VERSION = r"""
CREATE FUNCTION py_numpy_version() RETURNS text LANGUAGE plpython3u AS $py$
import numpy, os
return numpy.__version__ + ' (OPENBLAS_NUM_THREADS=' + os.environ.get('OPENBLAS_NUM_THREADS', 'unset') + ')'
$py$;
"""


# The feature tables: (name, column setting, report tag).
FEATURE_TABLES = (("t_toast", None, "TOAST"),
                  ("t_lz4", "SET COMPRESSION lz4", "LZ4"),
                  ("t_plain", "SET STORAGE PLAIN", "PLAIN"))


def load_feature_tables(conn, images, nrows):
    """Tables t_toast (default storage, pglz), t_lz4 (default storage, lz4)
    and t_plain (STORAGE PLAIN) of nrows (id, features real[784]) rows, the
    images cycled, by binary COPY."""
    block = copy_block(images)
    for table, setting, _ in FEATURE_TABLES:
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute(f"CREATE TABLE {table} (id int, features real[])")
            if setting:
                conn.execute(f"ALTER TABLE {table} ALTER COLUMN features {setting}")
            with conn.cursor() as cur:
                copy_rows(cur, table, block, nrows)
        conn.execute(f"VACUUM ANALYZE {table}")
        log(f"{table}: {nrows:,} rows loaded with binary COPY + VACUUM ANALYZE in "
            f"{time.perf_counter() - t0:.1f} s")


def setup_database(conn, model, images, nrows):
    conn.execute("CREATE EXTENSION pg_infer")
    conn.execute("CREATE EXTENSION plpython3u")
    with open(os.path.join(MODEL_DIR, "model.json"), "rb") as f:
        graph = f.read().decode()
    with open(os.path.join(MODEL_DIR, "model.safetensors"), "rb") as f:
        weights = f.read()
    version = conn.execute(
        "SELECT create_model('mnist', %s::jsonb, %s, %s::jsonb, 'MNIST demo (benchmark)')",
        (graph, weights, json.dumps({"input_scale": INPUT_SCALE}))).fetchone()[0]
    log(f"create_model('mnist') -> version {version}")

    # weights for PL/Python: little-endian float32 bytes
    conn.execute("CREATE TABLE py_weights (name text PRIMARY KEY, nrows int, ncols int, data bytea)")
    for name, arr in (("fc1.weight", model.w1), ("fc1.bias", model.b1),
                      ("fc2.weight", model.w2), ("fc2.bias", model.b2)):
        shape = arr.shape if arr.ndim == 2 else (arr.shape[0], 1)
        conn.execute("INSERT INTO py_weights VALUES (%s, %s, %s, %s)",
                     (name, shape[0], shape[1], arr.astype("<f4").tobytes()))
    conn.execute(PY_FUNCTION)
    conn.execute(PY_NUMPY_VERSION)

    load_feature_tables(conn, images, nrows)

    # the batched layout: real[1000][784] per row, 100 rows (for 100,000 rows)
    for table, source, storage in (("batch_toast", "t_toast", None),
                                   ("batch_external", "t_plain", "EXTERNAL")):
        t0 = time.perf_counter()
        conn.execute(f"CREATE TABLE {table} (b int, features real[])")
        if storage:
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN features SET STORAGE {storage}")
        conn.execute(f"INSERT INTO {table} SELECT (id - 1) / {BATCH_ROWS}, "
                     f"array_agg(features ORDER BY id) FROM {source} GROUP BY 1")
        conn.execute(f"VACUUM ANALYZE {table}")
        log(f"{table}: {BATCH_ROWS}-row arrays built in {time.perf_counter() - t0:.1f} s")

    conn.execute("CREATE TABLE scores (id int, class int)")
    conn.execute("CREATE TABLE scores_d (id int, class int)")
    conn.execute("CREATE TABLE scores_j (id int, class int)")
    conn.execute("CREATE TABLE labels (id int PRIMARY KEY, label int)")


def storage_report(conn):
    rows = conn.execute("""
        SELECT c.relname,
               pg_relation_size(c.oid) AS heap,
               coalesce(pg_relation_size(c.reltoastrelid), 0) AS toast,
               pg_total_relation_size(c.oid) AS total
        FROM pg_class c
        WHERE c.relname IN ('t_toast', 't_lz4', 't_plain', 'batch_toast', 'batch_external')
        ORDER BY c.relname""").fetchall()
    out = {}
    for name, heap, toast, total in rows:
        out[name] = (heap, toast, total)
    avg = dict(conn.execute("""
        SELECT 't_toast', avg(pg_column_size(features))::int FROM t_toast
        UNION ALL SELECT 't_lz4', avg(pg_column_size(features))::int FROM t_lz4
        UNION ALL SELECT 't_plain', avg(pg_column_size(features))::int FROM t_plain""").fetchall())
    return out, avg


# ----------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=55600)
    ap.add_argument("--dir", default="/tmp/pg_infer_bench")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--py-rows", type=int, default=None,
                    help="rows for the PL/Python per-row measurement (c); default all")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--results", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--keep-server", action="store_true",
                    help="leave the server running at the end (for profiling)")
    args = ap.parse_args()
    if args.rows % BATCH_ROWS:
        ap.error(f"--rows must be a multiple of {BATCH_ROWS}")
    args.py_rows = min(args.py_rows or args.rows, args.rows)

    t_start = time.perf_counter()
    images, labels = load_mnist()
    model = NumpyMLP(os.path.join(MODEL_DIR, "model.safetensors"))
    log(f"MNIST test set: {len(images)} images; model weights loaded client-side")

    # numpy inside the server: one BLAS thread per backend, like pg_infer
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run([SCRATCH, "stop", args.dir], check=False, env=env)
    ok = False
    try:
        subprocess.run([SCRATCH, "start", args.dir, str(args.port)] + SERVER_CONF, check=True, env=env)
        log(f"scratch server on {args.dir} port {args.port}")
        with psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="postgres",
                             autocommit=True) as c0:
            c0.execute("CREATE DATABASE bench")
        with psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="bench",
                             autocommit=True) as conn:
            # PL/Python + numpy in its own session: see PY_SESSION_NOTE
            with psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="bench",
                                 autocommit=True) as conn_py, \
                    psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="bench",
                                    autocommit=True) as conn_row:
                # the planner hook is installed when the library loads
                conn.execute("LOAD 'pg_infer'")
                conn_row.execute("LOAD 'pg_infer'")
                conn_row.execute("SET pg_infer.batching = off")
                run(conn, conn_py, conn_row, args, model, images, labels, t_start)
        ok = True
    finally:
        if args.keep_server:
            log(f"server left running: psql -h {args.dir} -p {args.port} -U postgres bench; "
                f"stop with {SCRATCH} stop {args.dir}")
        else:
            stop_scratch_server(args.dir, ok)


def stop_scratch_server(directory, ok):
    """Stops the server; removes its directory after a success, else shows its log."""
    subprocess.run([SCRATCH, "stop", directory], check=False)
    if ok:
        shutil.rmtree(directory, ignore_errors=True)
        log(f"scratch server stopped, {directory} removed")
        return
    server_log = os.path.join(directory, "server.log")
    log(f"FAILED; scratch server stopped, its log kept in {server_log}; last lines:")
    try:
        with open(server_log, errors="replace") as f:
            sys.stderr.write("".join(f.readlines()[-25:]))
    except OSError:
        pass


def run(conn, conn_py, conn_row, args, model, images, labels, t_start):
    N = args.rows
    setup_database(conn, model, images, N)
    ids = np.arange(1, N + 1)
    with conn.cursor() as cur:
        with cur.copy("COPY labels (id, label) FROM STDIN") as cp:
            cp.write("".join(f"{i}\t{labels[(i - 1) % len(labels)]}\n" for i in ids))
    info = machine_info(conn, conn_py)
    sizes, avg_size = storage_report(conn)

    results = []          # (key, label, table, rows, best, times)
    tables = tuple((t, tag) for t, _, tag in FEATURE_TABLES)

    def record(key, what, table, rows, best, times):
        results.append((key, what, table, rows, best, times))
        log(f"{key} {what} [{table}]: best {best:.3f} s of {['%.3f' % t for t in times]} "
            f"-> {rows / best:,.0f} rows/s")

    # (a) bare scan
    for t, tag in tables:
        best, res, times = timed(conn, f"SELECT sum(array_length(features, 1)) FROM {t}", args.runs)
        assert res[0] == N * NFEAT, res
        record("a", "bare scan: sum(array_length(features, 1))", tag, N, best, times)

    # (b) pg_infer per row and (c) PL/Python + numpy per row, interleaved
    # (b, c, b, c, ...) so that both see the same machine conditions; (c) on
    # its own connection (PY_SESSION_NOTE), on the first py_rows rows.
    sums_b = {}
    P = args.py_rows
    what_b = "pg_infer per row (batching off): sum(predict_class('mnist', features))"
    what_g = "pg_infer BatchPredict (batching on, the default): the same query"
    what_c = "PL/Python + numpy per row: sum(py_predict_class(features))" + \
        (f" ({P:,}-row subset)" if P < N else "")
    for t, tag in tables:
        sub = f"(SELECT features FROM {t} LIMIT {P})" if P < N else t
        (best_b, res_b, times_b), (best_g, res_g, times_g), (best_c, _, times_c) = timed_interleaved(
            [(conn_row, f"SELECT sum(predict_class('mnist', features)) FROM {t}"),
             (conn, f"SELECT sum(predict_class('mnist', features)) FROM {t}"),
             (conn_py, f"SELECT sum(py_predict_class(features)) FROM {sub} s")], args.runs)
        assert res_b[0] == res_g[0], (res_b, res_g)
        sums_b[tag] = res_b[0]
        record("b", what_b, tag, N, best_b, times_b)
        record("g", what_g, tag, N, best_g, times_g)
        record("c", what_c, tag, P, best_c, times_c)

    # (d) client-side pipeline
    for t, tag in tables:
        best, n, times = timed_client(conn, t, model, args.runs)
        assert n == N, n
        record("d", "client Python: binary fetch + numpy + COPY scores", tag, N, best, times)

    # (e) INSERT ... SELECT predict_class
    for t, tag in tables:
        best, _, times = timed(conn, f"INSERT INTO scores SELECT id, predict_class('mnist', features) FROM {t}",
                               args.runs, setup="TRUNCATE scores")
        record("e", "INSERT INTO scores SELECT id, predict_class(..)", tag, N, best, times)

    # (h) predictions in WHERE, batched, and (i) the same per row
    for t, tag in tables:
        q = f"SELECT count(*) FROM {t} WHERE predict_class('mnist', features) = 3"
        (best_h, res_h, times_h), (best_i, res_i, times_i) = timed_interleaved(
            [(conn, q), (conn_row, q)], args.runs)
        assert res_h[0] == res_i[0], (res_h, res_i)
        record("h", "WHERE predict_class(..) = 3, BatchPredict filter: count(*)", tag, N, best_h, times_h)
        record("i", "the same query per row (batching off)", tag, N, best_i, times_i)

    # (j) INSERT ... SELECT without a model: PostgreSQL's own rate for (e)
    for t, tag in tables:
        best, _, times = timed(conn, f"INSERT INTO scores_j SELECT id, 0 FROM {t}",
                               args.runs, setup="TRUNCATE scores_j")
        record("j", "INSERT INTO scores_j SELECT id, 0 (no model: the ceiling of (e))", tag, N, best, times)

    # (k) bulk scoring into a new table with parallel query: CREATE TABLE AS
    # may run its SELECT in parallel workers (INSERT ... SELECT may not), and
    # each worker batches its own rows
    conn.execute(f"SET max_parallel_workers_per_gather = {PARALLEL_WORKERS}")
    for t, tag in tables:
        best, _, times = timed(conn, f"CREATE TABLE scores_k AS SELECT id, predict_class('mnist', features) AS class "
                                     f"FROM {t}", args.runs, setup="DROP TABLE IF EXISTS scores_k")
        record("k", f"CREATE TABLE AS SELECT id, predict_class(..), {PARALLEL_WORKERS} parallel workers",
               tag, N, best, times)
    plan_k = "; ".join(r[0].strip() for r in conn.execute(
        "EXPLAIN (COSTS OFF) CREATE TABLE scores_k2 AS SELECT id, predict_class('mnist', features) FROM t_plain"))
    log(f"(k) plan: {plan_k}")
    assert "Gather" in plan_k and "BatchPredict" in plan_k, plan_k
    conn.execute("RESET max_parallel_workers_per_gather")

    # (f) predict_batch over real[1000][784] arrays
    for t, tag in (("batch_toast", "TOAST"), ("batch_external", "EXTERNAL")):
        best, res, times = timed(conn, f"SELECT sum(array_length(predict_batch('mnist', features), 1)) FROM {t}",
                                 args.runs)
        assert res[0] == N, res
        record("f", f"pg_infer batched: predict_batch over real[{BATCH_ROWS}][784] rows", tag, N, best, times)

    # ---------------------------------------------------- correctness
    log("checking agreement")
    # classes per id: (b)/(e) from scores (filled by the last (e) run, on t_plain);
    # (d) from scores_d (last (d) run, on t_plain); (k) from scores_k (last (k) run,
    # on t_plain); (c) on the first P ids of t_plain.
    conn_py.execute("CREATE TABLE scores_c AS SELECT id, py_predict_class(features) AS class "
                 f"FROM t_plain WHERE id <= {P}")
    cls_b = np.full(N + 1, -1, dtype=np.int32)
    cls_d = np.full(N + 1, -1, dtype=np.int32)
    cls_c = np.full(N + 1, -1, dtype=np.int32)
    cls_k = np.full(N + 1, -1, dtype=np.int32)
    for arr, tbl in ((cls_b, "scores"), (cls_d, "scores_d"), (cls_c, "scores_c"), (cls_k, "scores_k")):
        rows = conn.execute(f"SELECT id, class FROM {tbl}").fetchall()
        r = np.array(rows, dtype=np.int64)
        arr[r[:, 0]] = r[:, 1]
    # the same rows through predict_class on the compressed tables and through predict_batch
    cls_b_compressed = {}
    for t, tag in (("t_toast", "TOAST"), ("t_lz4", "LZ4")):
        cls_b_compressed[tag] = np.full(N + 1, -1, dtype=np.int32)
        r = np.array(conn.execute(f"SELECT id, predict_class('mnist', features) FROM {t}").fetchall(),
                     dtype=np.int64)
        cls_b_compressed[tag][r[:, 0]] = r[:, 1]
    cls_f = np.full(N + 1, -1, dtype=np.int32)
    with conn.cursor(binary=True) as cur:
        cur.adapters.register_loader(FLOAT4ARRAYOID, RawArrayLoader)
        cur.execute("SELECT b, predict_batch('mnist', features) FROM batch_external ORDER BY b")
        for b, raw in cur:
            out = decode_array(raw)
            cls_f[1 + b * BATCH_ROWS: 1 + (b + 1) * BATCH_ROWS] = out.argmax(axis=1)
    lab = np.concatenate([[-2], labels[(ids - 1) % len(labels)].astype(np.int32)])

    def agree(x, y, upto=N):
        sel = slice(1, upto + 1)
        if (x[sel] < 0).any() or (y[sel] < 0).any():
            raise SystemExit("agreement check: missing classes")
        return float((x[sel] == y[sel]).mean())

    checks = [
        ("pg_infer predict_class (b/e) vs client numpy (d)", N, agree(cls_b, cls_d)),
        ("pg_infer predict_class (b/e) vs PL/Python numpy (c)", P, agree(cls_b, cls_c, P)),
        ("client numpy (d) vs PL/Python numpy (c)", P, agree(cls_d, cls_c, P)),
        ("predict_class on TOAST vs PLAIN table", N, agree(cls_b, cls_b_compressed["TOAST"])),
        ("predict_class on LZ4 vs PLAIN table", N, agree(cls_b, cls_b_compressed["LZ4"])),
        ("predict_batch (f) vs predict_class (b/e)", N, agree(cls_f, cls_b)),
        ("parallel CREATE TABLE AS (k) vs predict_class (b/e)", N, agree(cls_k, cls_b)),
    ]
    # the per-row sums of (b) must match the classes stored by (e)
    sum_e = int(cls_b[1:].sum())
    sum_checks = {tag: (int(s), sum_e) for tag, s in sums_b.items()}
    accuracy = {
        "pg_infer predict_class": agree(cls_b, lab),
        "pg_infer predict_batch": agree(cls_f, lab),
        "client numpy": agree(cls_d, lab),
    }
    if P < N:
        accuracy[f"PL/Python numpy (first {P:,} rows)"] = agree(cls_c, lab, P)
        accuracy[f"pg_infer predict_class (same first {P:,} rows)"] = agree(cls_b, lab, P)
    else:
        accuracy["PL/Python numpy"] = agree(cls_c, lab)
    failures = [name for name, _, a in checks if a < AGREEMENT_FLOOR]
    for tag, (s, e) in sum_checks.items():
        if s != e:
            failures.append(f"sum(predict_class) on {tag} = {s} but the (e) classes sum to {e}")

    # ------------------------------------------------------- report
    rate = {}
    for key, what, table, rows, best, times in results:
        rate[(key, table)] = rows / best
    ratio = {tag: rate[("b", tag)] / rate[("c", tag)] for _, tag in tables}
    ratio_batched = {tag: rate[("g", tag)] / rate[("c", tag)] for _, tag in tables}
    floor_met = all(r >= SPEEDUP_FLOOR for r in ratio.values())
    floor_met_batched = all(r >= SPEEDUP_FLOOR for r in ratio_batched.values())
    per_run = {(k, tb): tm for k, w, tb, rw, bs, tm in results}
    rows_of = {(k, tb): rw for k, w, tb, rw, bs, tm in results}
    ratio_median = {tag: (rows_of[("b", tag)] / float(np.median(per_run[("b", tag)])))
                    / (rows_of[("c", tag)] / float(np.median(per_run[("c", tag)]))) for _, tag in tables}

    lines = []
    lines.append("# pg_infer benchmark: MNIST MLP (784-128-10)")
    lines.append("")
    lines.append("Generated by `test/bench/bench.py` (one run, scratch server).")
    lines.append("")
    lines.append("## Machine")
    lines.append("")
    for k in ("cpu", "cores", "memory", "postgres", "kernel", "python", "commit", "pg_infer.so", "load", "date"):
        lines.append(f"- **{k}**: {info[k]}")
    lines.append("")
    lines.append("## Setup")
    lines.append("")
    lines.append(f"- {N:,} rows `(id int, features real[784])`: the 10,000 MNIST test images "
                 f"(raw pixels 0..255) cycled; loaded with binary COPY, then VACUUM ANALYZE.")
    lines.append(f"- `t_toast`: default storage (EXTENDED): the arrays are compressed inline, "
                 f"avg `pg_column_size` {avg_size['t_toast']} B; heap {sizes['t_toast'][0] / 2**20:.0f} MiB, "
                 f"toast {sizes['t_toast'][1] / 2**20:.0f} MiB.")
    lines.append(f"- `t_lz4`: default storage with `SET COMPRESSION lz4`: avg `pg_column_size` "
                 f"{avg_size['t_lz4']} B; heap {sizes['t_lz4'][0] / 2**20:.0f} MiB, "
                 f"toast {sizes['t_lz4'][1] / 2**20:.0f} MiB.")
    lines.append(f"- `t_plain`: `SET STORAGE PLAIN`: avg `pg_column_size` {avg_size['t_plain']} B; "
                 f"heap {sizes['t_plain'][0] / 2**20:.0f} MiB, toast {sizes['t_plain'][1] / 2**20:.0f} MiB.")
    lines.append(f"- Batched (f): {N // BATCH_ROWS} rows of `real[{BATCH_ROWS}][784]` built with `array_agg`, "
                 f"default storage (`batch_toast`, {sizes['batch_toast'][2] / 2**20:.0f} MiB) and "
                 f"`SET STORAGE EXTERNAL` (`batch_external`, uncompressed, {sizes['batch_external'][2] / 2**20:.0f} MiB).")
    lines.append("- Server: " + ", ".join(f"`{s}`" for s in SERVER_CONF)
                 + "; the model loaded with `create_model(..., '{\"input_scale\": 0.00392156862745098}')`.")
    lines.append("- PL/Python (c): `plpython3u` function, weights read once per session from a table into "
                 "`SD`, numpy float32 `W1 @ x + b1`, relu, `W2 @ h + b2`, argmax, `x` scaled by float32(1/255); "
                 "server started with `OPENBLAS_NUM_THREADS=1`.")
    lines.append("- Client (d): psycopg server-side cursor, binary `SELECT id, features`, 5,000-row chunks, "
                 "`real[]` decoded with numpy (custom binary loader), numpy forward pass per chunk, "
                 "binary COPY of `(id, class)` into a table; client and server on the same machine.")
    lines.append(f"- Each figure: the best of {args.runs} timed runs after one warm-up run, same session; "
                 "wall time seen by psycopg, results reduced server-side (`sum`). (b), (g) and (c) are timed "
                 "in turn (b, g, c, b, g, c, ...) so that all see the same machine conditions.")
    lines.append("")
    lines.append("## Results (rows/second, higher is better)")
    lines.append("")
    tags = [tag for _, tag in tables]
    lines.append("| | measurement | rows | " + " | ".join(f"{tag} table" for tag in tags) + " |")
    lines.append("|---|---|---:|" + "---:|" * len(tags))
    seen = []
    for key, what, table, rows, best, times in results:
        if key in seen:
            continue
        seen.append(key)
        per = {tb: (rw, bs) for k, w, tb, rw, bs, tm in results if k == key}
        cells = []
        for tag in tags:
            if tag in per:
                rw, bs = per[tag]
                cells.append(f"{rw / bs:,.0f}")
            elif key == "f" and "EXTERNAL" in per and tag == "PLAIN":
                rw, bs = per["EXTERNAL"]
                cells.append(f"{rw / bs:,.0f} (EXTERNAL)")
            else:
                cells.append("-")
        lines.append(f"| ({key}) | {what} | {per[next(iter(per))][0]:,} | " + " | ".join(cells) + " |")
    lines.append("| | **ratio (b) / (c)**: pg_infer per row vs PL/Python per row | | "
                 + " | ".join(f"**{ratio[tag]:.1f}x**" for tag in tags) + " |")
    lines.append("| | **ratio (g) / (c)**: the same query batched (default) vs PL/Python per row | | "
                 + " | ".join(f"**{ratio_batched[tag]:.1f}x**" for tag in tags) + " |")
    for num, den, what in (("g", "b", "batched vs per row"),
                           ("h", "i", "WHERE predict_class: batched vs per row"),
                           ("e", "d", "INSERT ... SELECT vs the client pipeline"),
                           ("j", "d", "INSERT ... SELECT without a model vs the client pipeline (ceiling of (e) / (d))"),
                           ("k", "d", "parallel CREATE TABLE AS vs the client pipeline")):
        lines.append(f"| | ratio ({num}) / ({den}): {what} | | "
                     + " | ".join(f"{rate[(num, tag)] / rate[(den, tag)]:.1f}x" for _, tag in tables) + " |")
    lines.append("")
    lines.append(f"Floor from the issue: `predict_class` >= {SPEEDUP_FLOOR:.0f}x the PL/Python per-row rate: "
                 f"with batching (the default) **{'met' if floor_met_batched else 'NOT MET'}**; "
                 f"evaluated per row (batching off) **{'met' if floor_met else 'NOT MET'}** "
                 f"(best-of-{args.runs} ratio). "
                 "Per row, the ratio of the median runs: "
                 + ", ".join(f"{ratio_median[tag]:.1f}x ({tag})" for tag in tags) + ".")
    lines.append("")
    lines.append("Per-row time (µs/row, best run):")
    lines.append("")
    lines.append("| | " + " | ".join(tags) + " |")
    lines.append("|---|" + "---:|" * len(tags))
    for key in seen:
        per = {tb: (rw, bs) for k, w, tb, rw, bs, tm in results if k == key}
        cells = []
        for tag in tags:
            src = tag if tag in per else ("EXTERNAL" if key == "f" and tag == "PLAIN" else None)
            cells.append(f"{per[src][1] / per[src][0] * 1e6:.2f}" if src else "-")
        lines.append(f"| ({key}) | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("## Correctness")
    lines.append("")
    lines.append(f"| classes compared | rows | agreement |")
    lines.append("|---|---:|---:|")
    for name, rows, a in checks:
        lines.append(f"| {name} | {rows:,} | {a * 100:.3f} % |")
    lines.append("")
    for tag, (s, e) in sum_checks.items():
        lines.append(f"- `sum(predict_class)` on the {tag} table: {s:,}; sum of the classes stored by (e): {e:,}.")
    lines.append("- Accuracy against the MNIST test labels (reference.json: 0.9391): "
                 + "; ".join(f"{k} {v:.4f}" for k, v in accuracy.items()) + ".")
    lines.append("")
    lines.append(f"Total benchmark time: {time.perf_counter() - t_start:.0f} s; load average at the end "
                 + " / ".join(open("/proc/loadavg").read().split()[:3])
                 + " (1/5/15 min; other work on the machine shows up as noise, above all in (c)).")
    report = "\n".join(lines) + "\n"

    print()
    print(report)
    with open(args.results, "w") as f:
        f.write(report)
    log(f"written {args.results}")

    if failures:
        print("AGREEMENT CHECK FAILED:", file=sys.stderr)
        for f_ in failures:
            print(f"  - {f_}", file=sys.stderr)
        raise SystemExit(1)
    if not floor_met_batched:
        print(f"NOTE: the {SPEEDUP_FLOOR:.0f}x floor (pg_infer vs PL/Python per row) is NOT met",
              file=sys.stderr)


if __name__ == "__main__":
    main()
