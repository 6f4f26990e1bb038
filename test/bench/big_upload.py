#!/usr/bin/env python3
"""A model over 1.5 GB stored and predicting from a client that has no
access to the server's files.

One run: starts a scratch server (test/scratch-server.sh; PGBIN chooses the
binaries) with pg_infer preloaded and pg_infer.cache_size large enough,
creates a role "uploader" that may log in, create models through large
objects and warm them, nothing else (not a superuser, not in
pg_read_server_files), and writes an MLP with random weights (fixed seed)
as an ONNX file whose weights are in an external data file
(test/onnx_writer.py, piece by piece; about --gib GiB, never committed).
As "uploader", the client then

  upload    pginfer.upload_model(): both files into large objects in pieces
            of 4 MB (lo_put), with a progress bar, then
            create_model_from_large_objects; the backend's peak over its
            resident set before (VmHWM of /proc/PID/status, reset first) and
            its private peak (RssAnon + RssFile, sampled every 2 ms)
  warm      warm_model() in a new connection: the load into the shared cache
            (reads the chunks back, imports the file again), its peaks
  predict   one row (predict) and 64 rows (predict_batch), each the median
            of 3, and two rows checked against the model computed with numpy

Prints a Markdown report (machine, sizes, times, peaks) and writes it to
test/bench/big_upload.md; the server and the files are removed at the end,
also on failure.  Runs on the server's machine as root (to read and reset
the backend's /proc/PID/status); needs psycopg, numpy and the client package
(pip install ./clients/python, or PYTHONPATH=clients/python).

    PGBIN=/usr/lib/postgresql/15/bin python3 test/bench/big_upload.py [--gib 1.6]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (machine info, scratch server helpers)
import onnx_writer  # noqa: E402  (test/, on the path through bench)
import pginfer  # noqa: E402
from proc_memory import Peaks  # noqa: E402  (test/)

ROOT = B.ROOT
GIB = 1 << 30
MB = 1 << 20


def median_seconds(conn, sql, params, runs=3):
    times = []
    for _ in range(runs):
        start = time.time()
        conn.execute(sql, params).fetchall()
        times.append(time.time() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=1.6, help="least float32 weight GiB of the model")
    ap.add_argument("--port", type=int, default=55640)
    ap.add_argument("--dir", default="/tmp/pg_infer_big_upload")
    args = ap.parse_args()

    shutil.rmtree(args.dir, ignore_errors=True)
    files = os.path.join(args.dir, "client")
    os.makedirs(files)
    server = os.path.join(args.dir, "server")
    widths = onnx_writer.mlp_widths(int(args.gib * GIB), width=8192, inputs=1024)
    onnx_path = os.path.join(files, "model.onnx")
    B.log(f"writing the model, layers {widths}")
    start = time.time()
    total = onnx_writer.write_mlp_onnx(onnx_path, widths, external="model.onnx.data")
    onnx_bytes = os.path.getsize(onnx_path)
    B.log(f"{total / GIB:.2f} GiB written in {time.time() - start:.0f} s")
    subprocess.run([B.SCRATCH, "start", server, str(args.port), "shared_preload_libraries = 'pg_infer'",
                    f"pg_infer.cache_size = '{int(total / GIB) + 2}GB'", "max_wal_size = '8GB'"], check=True)
    ok = False
    try:
        admin_info = dict(host=server, port=args.port, user="postgres", dbname="postgres")
        with psycopg.connect(**admin_info, autocommit=True) as admin:
            admin.execute("CREATE EXTENSION pg_infer")
            admin.execute("CREATE ROLE uploader LOGIN")
            admin.execute("GRANT EXECUTE ON FUNCTION create_model_from_large_objects, warm_model TO uploader")
            machine = B.machine_info(admin)
            shared_buffers = admin.execute("SHOW shared_buffers").fetchone()[0]
        info = dict(admin_info, user="uploader")

        with psycopg.connect(**info, autocommit=True) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            assert not conn.execute("SELECT rolsuper OR pg_has_role('pg_read_server_files', 'member')"
                                    " FROM pg_roles WHERE rolname = current_user").fetchone()[0]
            with Peaks(pid) as upload:
                version = pginfer.upload_model(conn, "big", onnx_path,
                                               external_data=os.path.join(files, "model.onnx.data"),
                                               description="bench: big_upload.py")
            row = conn.execute("SELECT parameter_count, weight_bytes FROM pginfer.models"
                               " WHERE name = 'big'").fetchone()
            left = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0]
        assert version == 1 and row[1] == total and left == 0, (version, row, total, left)
        B.log(f"uploaded in {upload.seconds:.1f} s")

        with psycopg.connect(**info, autocommit=True) as conn:
            with Peaks(conn.execute("SELECT pg_backend_pid()").fetchone()[0]) as warm:
                conn.execute("SELECT warm_model('big')")
            image = conn.execute("SELECT bytes FROM pginfer.cached_models WHERE model = 'big'").fetchone()[0]
        B.log(f"warmed in {warm.seconds:.1f} s")

        with psycopg.connect(**info, autocommit=True) as conn:
            rng = np.random.default_rng(11)
            rows = rng.standard_normal((64, widths[0])).astype(np.float32)
            start = time.time()
            got = np.array(conn.execute("SELECT predict_batch('big', %s::real[])",
                                        (rows[:2].tolist(),)).fetchone()[0])
            first = time.time() - start
            want = onnx_writer.mlp_reference(widths, rows[:2])
            error = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
            one = median_seconds(conn, "SELECT predict('big', %s::real[])", (rows[0].tolist(),))
            batch = median_seconds(conn, "SELECT predict_batch('big', %s::real[])", (rows.tolist(),))
        assert error <= 1e-4, error
        ok = True
    finally:
        subprocess.run([B.SCRATCH, "stop", server], check=False)
        if ok:
            shutil.rmtree(args.dir, ignore_errors=True)
        else:
            B.log(f"FAILED: the server's log is {os.path.join(server, 'server.log')}")

    lines = [
        "# A model over 1.5 GB from a client without server file access (test/bench/big_upload.py)",
        "",
        f"Run {machine['date']}, commit {machine['commit']}.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {machine['cpu']}, {machine['cores']} |",
        f"| memory | {machine['memory']} |",
        f"| server | {machine['postgres']}, shared_buffers {shared_buffers}, fsync off |",
        f"| kernel | {machine['kernel']} |",
        f"| load | {machine['load']} |",
        "",
        f"The model: an MLP of {widths[0]} inputs, {len(widths) - 2} layers of {widths[1]} and {widths[-1]} "
        f"outputs (MatMul, Add, Relu; "
        f"{row[0]:,} float32 parameters, random weights), an ONNX file of {onnx_bytes:,} bytes with "
        f"{(total - onnx_bytes) / GIB:.2f} GiB of external data, {total:,} bytes in all. "
        "The client is the role `uploader`: not a superuser, not in pg_read_server_files; it may run "
        "create_model_from_large_objects and warm_model.",
        "",
        "| step | time | backend peak (VmHWM growth) | private peak (RssAnon + RssFile) |",
        "|---|---|---|---|",
        f"| upload: `pginfer.upload_model` (large objects in 4 MB pieces, then "
        f"create_model_from_large_objects) | {upload.seconds:.1f} s ({total / MB / upload.seconds:.0f} MB/s) "
        f"| {upload.hwm / MB:,.0f} MB ({upload.hwm / total:.2f}x) | {upload.private / MB:,.0f} MB "
        f"({upload.private / total:.2f}x) |",
        f"| load into the shared cache: `warm_model` in a new connection | {warm.seconds:.1f} s "
        f"| {warm.hwm / MB:,.0f} MB ({warm.hwm / total:.2f}x, with the {image / MB:,.0f} MB shared image) "
        f"| {warm.private / MB:,.0f} MB ({warm.private / total:.2f}x) |",
        f"| first prediction in a new connection (2 rows) | {first * 1000:.0f} ms | | |",
        f"| predict, 1 row (median of 3) | {one * 1000:.0f} ms | | |",
        f"| predict_batch, 64 rows (median of 3) | {batch * 1000:.0f} ms | | |",
        "",
        f"Two rows agree with numpy's float64 forward pass within {error:.1e} (relative).  VmHWM counts the "
        f"shared memory a backend touches: shared buffers (up to {shared_buffers}) and, for the load, the "
        "image it writes into the shared cache; the private peak leaves those out.",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(HERE, "big_upload.md"), "w") as f:
        f.write(report)


if __name__ == "__main__":
    main()
