#!/usr/bin/env python3
"""A gradient-boosted tree model (XGBoost, 100 trees of depth 6, 30 features)
scored five ways, one thread each, in rows per second:

  - pg_infer's engine alone (test/bench/bench_engine --rows, passes of 1024
    rows);
  - ONNX Runtime on the same ONNX file (CPU provider, one thread);
  - XGBoost's own in-process predict (Booster.inplace_predict, nthread 1);
  - SQL, batched: SELECT predict(...) over a table (BatchPredict, the
    backend's CPU engine: pg_infer.device = 'cpu', no parallel query);
  - SQL, PL/Python calling XGBoost per row (the booster loaded once per
    session, inplace_predict on each row).

    /work/venv-tab/bin/python test/bench/tabular.py --host DIR --port PORT \\
        --plpython-site DIR [--rows 100000] [--plpython-rows 5000]

Needs numpy, scikit-learn, xgboost, onnxmltools, onnxruntime and psycopg in
the running Python, a server with pg_infer and plpython3u, and XGBoost for
the server's PL/Python installed apart (pip install --target DIR xgboost;
the function puts DIR first on sys.path).  The rows are
make_classification's, the model is trained on 20,000 of them and scores
--rows others.  Every way's probabilities are checked against XGBoost's
(1e-5).  Times are CPU time, of the running thread (engine, ONNX Runtime,
XGBoost) or of the server's backend (SQL, from /proc: run the script on the
server's machine), so that other work on a shared machine disturbs them
less; best of several rounds.  Prints the machine, its load and a markdown
table with the ratios the issue asks for.
"""
import argparse
import datetime
import os
import platform
import re
import subprocess
import tempfile
import time

import numpy as np
import onnxmltools
import onnxruntime as ort
import psycopg
import xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.datasets import make_classification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BATCH = 1024
TOLERANCE = 1e-5


def machine():
    name = platform.processor()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} logical CPUs, {platform.platform()}"


def best_of(rounds, run, clock=time.thread_time):
    """The shortest of rounds runs of run(), in seconds of clock."""
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        run()
        best = min(best, clock() - start)
    return best


def backend_clock(pid):
    """A clock of a server process's CPU time (schedstat, nanoseconds), for SQL."""
    def clock():
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) * 1e-9
    return clock


def train(rows, folder):
    x, y = make_classification(n_samples=20000 + rows, n_features=30, n_informative=20, random_state=0)
    x = x.astype(np.float32)
    est = xgboost.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1, random_state=0)
    est.fit(x[:20000], y[:20000])
    model = onnxmltools.convert_xgboost(est, initial_types=[("input", FloatTensorType([None, 30]))],
                                        target_opset=15)
    path = os.path.join(folder, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    booster_path = os.path.join(folder, "model.json")
    est.get_booster().save_model(booster_path)
    return est.get_booster(), path, booster_path, x[20000:]


def input_pb(x, folder):
    """x as an ONNX TensorProto file (float32, raw_data) for bench_engine --rows."""
    from onnx import numpy_helper
    path = os.path.join(folder, "input.pb")
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(x, "input").SerializeToString())
    return path


def engine(model, x, folder):
    subprocess.run(["make", "-s", "-C", ROOT, "test/bench/bench_engine"], check=True)
    out = subprocess.run([os.path.join(HERE, "bench_engine"), "--rows", input_pb(x, folder), model, "10", str(BATCH)],
                         check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"rows_per_s ([0-9.]+)", out).group(1))
    return rate, float(re.search(r"first_output (\S+)", out).group(1))


def onnx_runtime(model, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in sess.get_outputs()]

    def run():
        for at in range(0, len(x), BATCH):
            sess.run(outputs, {"input": x[at:at + BATCH]})
    probabilities = sess.run(outputs, {"input": x})[1]
    return len(x) / best_of(5, run), probabilities


def library(booster, x):
    booster.set_param({"nthread": 1})
    probabilities = booster.inplace_predict(x)
    return len(x) / best_of(5, lambda: booster.inplace_predict(x)), probabilities


def sql(args, model, booster_path, x, want):
    with psycopg.connect(host=args.host, port=args.port, user="postgres", dbname="postgres",
                         autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS bench_tabular")
        admin.execute("CREATE DATABASE bench_tabular")
    with psycopg.connect(host=args.host, port=args.port, user="postgres", dbname="bench_tabular",
                         autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_infer")
        conn.execute("CREATE EXTENSION plpython3u")
        conn.execute("SELECT create_model('gbm', onnx => %s)", (open(model, "rb").read(),))
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, x real[])")
        with conn.cursor().copy("COPY t FROM STDIN") as copy:
            for i, row in enumerate(x):
                copy.write_row((i, row.tolist()))
        conn.execute("VACUUM ANALYZE t")
        conn.execute(f"""CREATE FUNCTION xgb_predict(x real[]) RETURNS real LANGUAGE plpython3u AS $$
if 'booster' not in SD:
    import sys
    sys.path.insert(0, {args.plpython_site!r})
    import numpy, xgboost
    booster = xgboost.Booster(model_file={booster_path!r})
    booster.set_param({{'nthread': 1}})
    SD['booster'], SD['numpy'] = booster, numpy
return float(SD['booster'].inplace_predict(SD['numpy'].array(x, dtype=SD['numpy'].float32).reshape(1, -1))[0])
$$""")
        conn.execute("SET pg_infer.device = 'cpu'")
        conn.execute("SET max_parallel_workers_per_gather = 0")   # one backend, one thread
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT count(predict('gbm', x)) FROM t"))
        assert "BatchPredict" in plan, plan
        got = conn.execute("SELECT (predict('gbm', x))[2] FROM t ORDER BY id").fetchall()
        error = np.max(np.abs(np.array([g[0] for g in got]) - want[:, 1]))
        assert error <= TOLERANCE, error
        clock = backend_clock(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        batched = len(x) / best_of(3, lambda: conn.execute("SELECT count(predict('gbm', x)) FROM t").fetchone(),
                                   clock)
        n = args.plpython_rows
        got = conn.execute("SELECT xgb_predict(x) FROM t WHERE id < %s ORDER BY id", (n,)).fetchall()
        error = np.max(np.abs(np.array([g[0] for g in got]) - want[:n, 1]))
        assert error <= TOLERANCE, error
        per_row = n / best_of(3, lambda: conn.execute("SELECT count(xgb_predict(x)) FROM t WHERE id < %s",
                                                      (n,)).fetchone(), clock)
    return batched, per_row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", required=True)
    parser.add_argument("--plpython-site", required=True)
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--plpython-rows", type=int, default=5000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench_tabular_")
    os.chmod(folder, 0o755)
    booster, model, booster_path, x = train(args.rows, folder)
    os.chmod(booster_path, 0o644)
    lib_rate, want = library(booster, x)
    ort_rate, ort_probabilities = onnx_runtime(model, x)
    assert np.max(np.abs(ort_probabilities[:, 1] - want)) <= TOLERANCE
    engine_rate, first = engine(model, x, folder)
    assert abs(first - (1 - want[0])) <= TOLERANCE, (first, want[0])
    want2 = np.stack([1 - want, want], axis=1)
    batched, per_row = sql(args, model, booster_path, x, want2)
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"XGBoost {xgboost.__version__}, ONNX Runtime {ort.__version__}; 100 trees of depth 6, 30 features, "
          f"{len(x)} rows ({args.plpython_rows} for PL/Python); one thread each, CPU time, best of 3-5 rounds\n")
    print("| way | rows/s | ratio |")
    print("|---|---:|---|")
    print(f"| pg_infer engine alone, passes of {BATCH} | {engine_rate:,.0f} | {engine_rate / ort_rate:.2f}x ONNX Runtime, "
          f"{engine_rate / lib_rate:.2f}x XGBoost |")
    print(f"| ONNX Runtime, passes of {BATCH} | {ort_rate:,.0f} | |")
    print(f"| XGBoost inplace_predict, all rows at once | {lib_rate:,.0f} | |")
    print(f"| SQL predict over a table (BatchPredict) | {batched:,.0f} | {batched / per_row:.1f}x PL/Python per row |")
    print(f"| SQL, PL/Python calling XGBoost per row | {per_row:,.0f} | |")


if __name__ == "__main__":
    main()
