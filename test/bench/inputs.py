#!/usr/bin/env python3
"""The ways to give a model its inputs, on one server in one run: a numeric
array, a record whose column is named as the input, and a jsonb object,
each batched (BatchPredict) and per row (pg_infer.batching = off).

Starts a scratch server (test/scratch-server.sh, the inference worker off),
stores models/mnist, and a table of --rows rows holding the same 784 pixels
as a real[] column named features and as a column named as the model's
input; times SELECT sum(predict_class(...)) for each form, best of --runs
after a warm-up, interleaved.  Writes markdown to --out (also printed).

    python3 test/bench/inputs.py [--rows 10000] [--runs 5] [--dir /tmp/pg_infer_inputs]
        [--out test/bench/inputs.md]
"""
import argparse
import os
import subprocess
import sys
import time

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "bench"))
import bench as B  # noqa: E402

SCRATCH = os.path.join(ROOT, "test", "scratch-server.sh")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--port", default="55660")
    ap.add_argument("--dir", default="/tmp/pg_infer_inputs")
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "bench", "inputs.md"))
    args = ap.parse_args()
    subprocess.run([SCRATCH, "start", args.dir, args.port, "shared_preload_libraries = 'pg_infer'",
                    "pg_infer.worker_device = 'off'"], check=True)
    ok = False
    try:
        ok = run(args)
    finally:
        B.stop_scratch_server(args.dir, ok)
    sys.exit(0 if ok else 1)


def run(args):
    conn = psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="postgres", autocommit=True)
    conn.execute("CREATE EXTENSION pg_infer")
    with open(os.path.join(ROOT, "models", "mnist", "model.json")) as g, \
            open(os.path.join(ROOT, "models", "mnist", "model.safetensors"), "rb") as w:
        conn.execute("SELECT create_model('mnist', %s::jsonb, %s)", (g.read(), w.read()))
    name = conn.execute("SELECT inputs->0->>'name' FROM pginfer.models WHERE name = 'mnist'").fetchone()[0]
    # the two copies of the pixels stored uncompressed in the row (6 kB), as the README advises
    conn.execute(f'CREATE TABLE digits (id int, features real[], "{name}" real[])')
    conn.execute(f'ALTER TABLE digits ALTER COLUMN features SET STORAGE PLAIN,'
                 f' ALTER COLUMN "{name}" SET STORAGE PLAIN')
    conn.execute(f'INSERT INTO digits SELECT g, a, a FROM generate_series(1, {args.rows}) g,'
                 f' LATERAL (SELECT ARRAY(SELECT ((g * 7 + k) % 256)::real FROM generate_series(1, 784) k) AS a) p')
    conn.execute("VACUUM ANALYZE digits")
    forms = {
        "numeric array": "SELECT sum(predict_class('mnist', features)) FROM digits",
        f"record, column named \"{name}\"": f"SELECT sum(predict_class('mnist', ROW(\"{name}\"))) FROM digits",
        "jsonb object": f"SELECT sum(predict_class('mnist', jsonb_build_object('{name}', features))) FROM digits",
    }
    machine = B.machine_info(conn)
    best = {}
    answers = set()
    for run_no in range(args.runs + 1):
        for form, sql in forms.items():
            for batching in ("on", "off"):
                conn.execute(f"SET pg_infer.batching = {batching}")
                start = time.perf_counter()
                answers.add(conn.execute(sql).fetchone()[0])
                elapsed = time.perf_counter() - start
                if run_no > 0:
                    best[(form, batching)] = min(best.get((form, batching), float("inf")), elapsed)
    lines = ["# Inputs by array, by named record column, by jsonb", "",
             f"`python3 test/bench/inputs.py --rows {args.rows} --runs {args.runs}`", "",
             "| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", f"models/mnist (784-128-10), {args.rows:,} rows, `SELECT sum(predict_class(...))`, in the"
              f" backend; best of {args.runs} after a warm-up, interleaved.", "",
              "| inputs given as | batched, ms | per row, ms |", "|---|---:|---:|"]
    for form in forms:
        lines.append(f"| {form} | {best[(form, 'on')] * 1000:,.0f} | {best[(form, 'off')] * 1000:,.0f} |")
    lines += ["", f"Every form gave the same answer: {'yes' if len(answers) == 1 else 'NO'}."]
    report = "\n".join(lines) + "\n"
    print(report)
    with open(args.out, "w") as f:
        f.write(report)
    return len(answers) == 1


if __name__ == "__main__":
    main()
