#!/usr/bin/env python3
"""The inference worker's CPU executor on 1 and 2 threads
(pg_infer.worker_threads): rows per second of batched scoring through the
worker, and the executor's forward time per row.

Starts a scratch server (test/scratch-server.sh) with shared_preload_libraries
= 'pg_infer' and pg_infer.worker_device = 'cpu', stores

  cnn      the shared MNIST CNN (LeNet-5, mnist_cnn_pytorch.onnx)
  mlp512   a 784-512-256-10 MLP with He-initialised random weights

with options {"input_scale": 1/255}, and a table t of --rows MNIST test images
(cycled).  For each thread count (ALTER SYSTEM, reload, restart_worker()):
SELECT count(predict_class(m, features)) FROM t with pg_infer.batch_size =
4096 through the worker, best of --runs after a warm-up, with the worker's
rows and forward time over the runs (pginfer.worker).  Prints a Markdown
report; the server is stopped at the end.

    python3 test/bench/worker_threads.py [--rows 40000] [--runs 3] [--threads 1,2]
        [--port 55730] [--dir /tmp/pg_infer_worker_threads] [--pgbin DIR] [--cnn FILE]

Needs psycopg 3 and numpy, and pg_infer installed with its executor.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (machine info, MNIST, scratch server helpers)
import worker as W  # noqa: E402  (the worker's counters, the MLP, the tables)

MODELS = ("cnn", "mlp512")
SQL = "SELECT count(predict_class('{model}', features)) FROM t"


def with_threads(conn, threads):
    """Sets pg_infer.worker_threads, restarts the worker; its device name."""
    conn.execute(f"ALTER SYSTEM SET pg_infer.worker_threads = {threads}")
    conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the worker rereads the file at its next wake-up
    before = W.worker_row(conn)["pid"]
    conn.execute("SELECT restart_worker()")
    deadline = time.time() + 60
    while time.time() < deadline:
        row = W.worker_row(conn)
        if row["state"] == "ready" and row["pid"] != before:
            return row["device_name"]
        time.sleep(0.1)
    raise SystemExit(f"the worker did not come back with {threads} threads: {W.worker_row(conn)}")


def measure(conn, model, rows, runs):
    """Best seconds of runs, and the worker's counters over them."""
    sql = SQL.format(model=model)
    conn.execute(sql)  # warm-up: the model resident, the buffers made
    before = W.worker_row(conn)
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        n = conn.execute(sql).fetchone()[0]
        best = min(best, time.perf_counter() - t0)
        if n != rows:
            raise SystemExit(f"{model}: counted {n} rows, expected {rows}")
    delta = W.Delta(before, W.worker_row(conn))
    if delta.rows < rows * runs:
        raise SystemExit(f"{model}: the worker ran {delta.rows} rows, expected {rows * runs}")
    return best, delta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=40000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--port", type=int, default=55730)
    ap.add_argument("--dir", default="/tmp/pg_infer_worker_threads")
    ap.add_argument("--pgbin", help="PostgreSQL's bin directory (default: pg_config --bindir)")
    ap.add_argument("--cnn", default=os.path.join(B.ROOT, "..", "shared", "models", "mnist_cnn_pytorch.onnx"))
    args = ap.parse_args()
    if args.pgbin:
        os.environ["PGBIN"] = args.pgbin
    threads = [int(t) for t in args.threads.split(",")]
    images, labels = B.load_mnist()
    ctx = {"dir": args.dir, "port": args.port}
    subprocess.run([B.SCRATCH, "stop", args.dir], check=False)
    subprocess.run([B.SCRATCH, "start", args.dir, str(args.port)] + W.server_conf("cpu"), check=True)
    ok = False
    try:
        with W.connect(ctx, dbname="postgres") as c0:
            c0.execute(f"CREATE DATABASE {W.DB}")
        conn = W.connect(ctx)
        conn.execute("CREATE EXTENSION pg_infer")
        W.wait_for_worker(conn)
        opts = json.dumps({"input_scale": B.INPUT_SCALE})
        cnn_copy = os.path.join(args.dir, "cnn.onnx")
        shutil.copyfile(args.cnn, cnn_copy)
        os.chmod(cnn_copy, 0o644)
        conn.execute("SELECT create_model_from_onnx_file('cnn', %s, %s::jsonb)", (cnn_copy, opts))
        conn.execute("SELECT create_model('mlp512', %s::jsonb, %s, %s::jsonb)", (*W.mlp512_model(), opts))
        W.load_digits(conn, images, labels)
        W.build_table(conn, "t", args.rows, len(images))
        conn.execute("SET pg_infer.batch_size = 4096")
        info = B.machine_info(conn)
        results = {}
        for n in threads:
            device = with_threads(conn, n)
            B.log(f"{n} thread(s): executor device {device!r}")
            for model in MODELS:
                results[(model, n)] = measure(conn, model, args.rows, args.runs)
                B.log(f"  {model}: {args.rows / results[(model, n)][0]:,.0f} rows/s")
        lines = [f"# The worker's CPU executor on {', '.join(map(str, threads))} threads", "",
                 *(f"- **{k}**: {info[k]}" for k in ("cpu", "cores", "memory", "postgres", "kernel", "commit",
                                                      "load", "date")), "",
                 f"{args.rows:,} rows, pg_infer.batch_size = 4096, best of {args.runs}; load average "
                 f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end.", "",
                 "| model | threads | rows/s (statement) | executor µs/row | speed-up over 1 thread |",
                 "|---|---:|---:|---:|---:|"]
        for model in MODELS:
            base = results[(model, threads[0])][0]
            for n in threads:
                seconds, delta = results[(model, n)]
                lines.append(f"| {model} | {n} | {args.rows / seconds:,.0f} | "
                             f"{delta.forward_us / delta.rows:.2f} | {base / seconds:.2f}x |")
        print("\n".join(lines))
        ok = True
    finally:
        B.stop_scratch_server(args.dir, ok)


if __name__ == "__main__":
    main()
