#!/usr/bin/env python3
"""pg_infer through SQL against ONNX Runtime called from PL/Python, one run.

    python3 test/bench/sql_vs_ort.py --ort-dir DIR [--port 55650] [--dir /tmp/pg_infer_sqlort]
        [--rows-scale 1.0] [--runs 3] [--shared ../shared] [--results test/bench/sql_vs_ort.md]

The models of test/bench/engine_vs_ort.py (the shared LeNet-5, the ResNet-
and MobileNet-style CNNs and the MLP of make_models.py, the transformer
encoder layer of the ONNX tests) are stored with create_model(..., onnx =>
...), each beside a table of rows of uniform random features (setseed, a
real[] of the model's input size, default storage).  For each model, in
interleaved rounds (best of --runs after a warm-up round), rows/second of

  bare        SELECT sum(array_length(f, 1)) FROM t
  batched     SELECT sum(predict_class(m, f)) FROM t  (BatchPredict, default batch size)
  per_row     the same with pg_infer.batching = off
  py_batch    PL/Python calling onnxruntime on array_agg batches of 256 rows:
              SELECT sum(c) FROM (SELECT unnest(ort_classes(m, array_agg(f)))
              FROM t GROUP BY (id - 1) / 256) s
  py_row      PL/Python calling onnxruntime once per row (on the first rows only)
  client      client-side Python: psycopg binary fetch, onnxruntime on 256 rows at a time

ONNX Runtime runs with one intra- and inter-op thread everywhere, as pg_infer
runs in one backend (no parallel query).  The classes of batched, py_batch
and client must agree on >= 99.9 % of the rows, or the run fails.

onnxruntime for the server's PL/Python is installed with
`pip install --target DIR --python-version X.Y --only-binary=:all: --no-deps
onnxruntime` (X.Y: the server's Python, which the script asks PL/Python for)
unless DIR already holds it; the function puts DIR first on sys.path.  The
client imports onnxruntime from DIR too, so its Python must be the same X.Y
(or have onnxruntime itself).  Needs psycopg 3, numpy and plpython3u with
numpy in the server; test/bench/make_models.py's models (committed).
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np
import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402

BATCH = 256
AGREEMENT_FLOOR = 0.999
FLOAT4ARRAYOID = 1021
SEED = 0.25

# short name, rows of its table at --rows-scale 1, rows for py_row
ROWS = {
    "lenet": (20480, 4096),
    "resnet": (4096, 1024),
    "mobilenet": (8192, 2048),
    "mlp": (20480, 4096),
    "transformer": (20480, 4096),
}

PY_FUNCTIONS = r"""
CREATE TABLE ort_models (name text PRIMARY KEY, onnx bytea);

CREATE FUNCTION ort_session(model text) RETURNS void LANGUAGE plpython3u AS $py$
if model in GD:
    return
import sys
if %(dir)r not in sys.path:
    sys.path.insert(0, %(dir)r)
import numpy as np
import onnxruntime as ort
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
plan = plpy.prepare("SELECT onnx FROM ort_models WHERE name = $1", ["text"])
sess = ort.InferenceSession(plpy.execute(plan, [model])[0]["onnx"], so,
                           providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
GD[model] = (np, sess, inp.name, [-1] + list(inp.shape[1:]))
$py$;

CREATE FUNCTION ort_classes(model text, batch real[]) RETURNS int[] LANGUAGE plpython3u AS $py$
if model not in GD:
    plpy.execute(plpy.prepare("SELECT ort_session($1)", ["text"]), [model])
np, sess, name, shape = GD[model]
x = np.asarray(batch, dtype=np.float32).reshape(shape)
return sess.run(None, {name: x})[0].reshape(len(x), -1).argmax(axis=1).tolist()
$py$;

CREATE FUNCTION ort_class(model text, features real[]) RETURNS int LANGUAGE plpython3u AS $py$
if model not in GD:
    plpy.execute(plpy.prepare("SELECT ort_session($1)", ["text"]), [model])
np, sess, name, shape = GD[model]
x = np.asarray(features, dtype=np.float32).reshape(shape)
return int(sess.run(None, {name: x})[0].argmax())
$py$;

CREATE FUNCTION py_version() RETURNS text LANGUAGE plpython3u AS $py$
import sys
return "%%d.%%d" %% sys.version_info[:2]
$py$;
"""


class BytesLoader(Loader):
    """real[] in binary, left as bytes for numpy."""
    format = Format.BINARY

    def load(self, data):
        return bytes(data)


def decode_rows(raws, n):
    """Binary 1-D NULL-free real[n] values -> [rows, n] float32."""
    dt = np.dtype([("header", "V20"), ("values", [("len", ">i4"), ("v", ">f4")], (n,))])
    buf = b"".join(raws)
    if len(buf) != dt.itemsize * len(raws):
        raise SystemExit("client fetch: a features value is not a 1-D real[%d]" % n)
    return np.frombuffer(buf, dtype=dt)["values"]["v"].astype(np.float32)


def ensure_ort(target, pyver):
    """onnxruntime for Python pyver in target (installed there if missing)."""
    if not os.path.isdir(os.path.join(target, "onnxruntime")):
        B.log(f"installing onnxruntime for Python {pyver} into {target}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", target,
                        "--python-version", pyver, "--only-binary=:all:", "--no-deps",
                        "onnxruntime"], check=True)
    subprocess.run(["chmod", "-R", "a+rX", target], check=True)
    sys.path.insert(0, target)
    import onnxruntime
    return onnxruntime


def client_classes(conn, ort, path, table, n, rows):
    """Client-side: fetch the features in binary, ONNX Runtime on BATCH rows at a time."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [-1] + list(inp.shape[1:])
    out = []
    with conn.cursor(binary=True) as cur:
        cur.adapters.register_loader(FLOAT4ARRAYOID, BytesLoader)
        cur.execute(f"SELECT f FROM {table} ORDER BY id")
        while True:
            got = cur.fetchmany(BATCH)
            if not got:
                break
            x = decode_rows([r[0] for r in got], n).reshape(shape)
            out.append(sess.run(None, {inp.name: x})[0].reshape(len(got), -1).argmax(axis=1))
    classes = np.concatenate(out)
    if len(classes) != rows:
        raise SystemExit(f"client fetch: {len(classes)} rows, expected {rows}")
    return classes


def best_rates(items, runs):
    """items: [(key, rows, fn)]; a warm-up round, then runs rounds, each item once a round."""
    times = {key: [] for key, _, _ in items}
    for rnd in range(runs + 1):
        for key, _, fn in items:
            t0 = time.perf_counter()
            fn()
            if rnd > 0:
                times[key].append(time.perf_counter() - t0)
    return {key: rows / min(times[key]) for key, rows, _ in items}


def run(conn, conn_row, ort, args):
    import engine_vs_ort            # imports onnxruntime: after ensure_ort
    models = []
    for (label, path), short in zip(engine_vs_ort.models(args.shared), ROWS):
        if not os.path.exists(path):
            raise SystemExit(f"model not found: {path}")
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        n = int(np.prod([d for d in sess.get_inputs()[0].shape[1:]]))
        rows = max(BATCH, int(ROWS[short][0] * args.rows_scale) // BATCH * BATCH)
        py_rows = min(rows, max(BATCH, int(ROWS[short][1] * args.rows_scale)))
        onnx = open(path, "rb").read()
        conn.execute("SELECT create_model(%s, onnx => %s)", (short, onnx))
        conn.execute("INSERT INTO ort_models VALUES (%s, %s)", (short, onnx))
        table = "t_" + short
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, f real[])")
        conn.execute("SELECT setseed(%s)", (SEED,))
        conn.execute(f"INSERT INTO {table} SELECT i, ARRAY(SELECT random()::real "
                     f"FROM generate_series(1, {n}) WHERE i > 0) FROM generate_series(1, {rows}) i")
        conn.execute(f"VACUUM ANALYZE {table}")
        B.log(f"{short}: {label}, input {n} floats, {rows} rows ({py_rows} for py_row)")
        models.append((short, label, path, table, n, rows, py_rows))

    results = []
    for short, label, path, table, n, rows, py_rows in models:
        q = {
            "bare": (conn, f"SELECT sum(array_length(f, 1)) FROM {table}"),
            "batched": (conn, f"SELECT sum(predict_class('{short}', f)) FROM {table}"),
            "per_row": (conn_row, f"SELECT sum(predict_class('{short}', f)) FROM {table}"),
            "py_batch": (conn, f"SELECT sum(c) FROM (SELECT unnest(ort_classes('{short}', array_agg(f))) c "
                               f"FROM {table} GROUP BY (id - 1) / {BATCH}) s"),
            "py_row": (conn, f"SELECT sum(ort_class('{short}', f)) FROM {table} WHERE id <= {py_rows}"),
        }
        items = [(key, py_rows if key == "py_row" else rows,
                  (lambda c=c, sql=sql: c.execute(sql).fetchone())) for key, (c, sql) in q.items()]
        items.append(("client", rows, lambda: client_classes(conn, ort, path, table, n, rows)))
        rate = best_rates(items, args.runs)

        # agreement of the classes, untimed
        ours = np.array([r[0] for r in conn.execute(
            f"SELECT predict_class('{short}', f) FROM {table} ORDER BY id").fetchall()])
        py = np.concatenate([r[1] for r in conn.execute(
            f"SELECT (id - 1) / {BATCH} g, ort_classes('{short}', array_agg(f ORDER BY id)) "
            f"FROM {table} GROUP BY 1 ORDER BY 1").fetchall()])
        client = client_classes(conn, ort, path, table, n, rows)
        agree_py = float(np.mean(ours == py))
        agree_client = float(np.mean(ours == client))
        B.log(f"{short}: " + ", ".join(f"{k} {v:,.0f}" for k, v in rate.items()) +
              f" rows/s; agreement {agree_py:.4%} (PL/Python), {agree_client:.4%} (client)")
        if min(agree_py, agree_client) < AGREEMENT_FLOOR:
            raise SystemExit(f"{short}: pg_infer and ONNX Runtime agree on too few rows")
        results.append((label, rows, rate, agree_py))
    return results


def report(info, pyver, ort_version, results):
    L = ["# pg_infer through SQL against ONNX Runtime in PL/Python", "",
         "`python3 test/bench/sql_vs_ort.py` (one run; see the script's docstring).  Rows per",
         "second, best of 3 after a warm-up, one backend, wall time of the query; random",
         "features, a real[] of each model's input size per row.", "",
         f"Machine: {info['cpu']}, {info['cores']}, {info['memory']}; {info['postgres'].split(',')[0]}; "
         f"{info['load']}", "",
         f"{info['date']}, commit {info['commit']}; ONNX Runtime {ort_version} (PL/Python {pyver} and "
         "client, 1 thread); pg_infer's CPU engine in the backend.", "",
         "| model | rows | bare scan | pg_infer batched | pg_infer per row | PL/Python + ORT, "
         "array_agg of 256 | PL/Python + ORT per row | client Python + ORT | batched / "
         "PL/Python array_agg |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, rows, r, _ in results:
        L.append(f"| {label} | {rows} | {r['bare']:,.0f} | {r['batched']:,.0f} | {r['per_row']:,.0f} | "
                 f"{r['py_batch']:,.0f} | {r['py_row']:,.0f} | {r['client']:,.0f} | "
                 f"{r['batched'] / r['py_batch']:.2f}x |")
    L += ["", "The classes of pg_infer batched and of ONNX Runtime (PL/Python on array_agg batches, "
          "and client) agree on " + ", ".join(f"{a:.2%}" for _, _, _, a in results) +
          " of the rows (models in the order above)."]
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ort-dir", required=True, help="onnxruntime for the server's Python (pip --target)")
    ap.add_argument("--port", type=int, default=55650)
    ap.add_argument("--dir", default="/tmp/pg_infer_sqlort")
    ap.add_argument("--rows-scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shared", default=os.path.join(B.ROOT, "..", "shared"))
    ap.add_argument("--results", default=os.path.join(HERE, "sql_vs_ort.md"))
    args = ap.parse_args()
    args.ort_dir = os.path.abspath(args.ort_dir)

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run([B.SCRATCH, "stop", args.dir], check=False, env=env)
    ok = False
    try:
        subprocess.run([B.SCRATCH, "start", args.dir, str(args.port)] + B.SERVER_CONF, check=True, env=env)
        B.log(f"scratch server on {args.dir} port {args.port}")
        connect = lambda: psycopg.connect(host=args.dir, port=args.port, user="postgres",  # noqa: E731
                                          dbname="postgres", autocommit=True)
        with connect() as conn, connect() as conn_row:
            conn.execute("CREATE EXTENSION pg_infer")
            conn.execute("CREATE EXTENSION plpython3u")
            conn.execute("LOAD 'pg_infer'")
            conn_row.execute("LOAD 'pg_infer'")
            conn_row.execute("SET pg_infer.batching = off")
            conn.execute(PY_FUNCTIONS % {"dir": args.ort_dir})
            pyver = conn.execute("SELECT py_version()").fetchone()[0]
            ort = ensure_ort(args.ort_dir, pyver)
            info = B.machine_info(conn)
            results = run(conn, conn_row, ort, args)
        text = report(info, pyver, ort.__version__, results)
        print(text)
        with open(args.results, "w") as f:
            f.write(text)
        ok = True
    finally:
        B.stop_scratch_server(args.dir, ok)


if __name__ == "__main__":
    main()
