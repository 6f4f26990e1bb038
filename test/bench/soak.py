#!/usr/bin/env python3
"""pg_infer soak test: many clients for many minutes of mixed work, with
the inference executor killed now and then, against one scratch server.

Starts a scratch server (test/scratch-server.sh) with pg_infer preloaded and
the inference worker on the CPU, stores

  stable_k  four Dense models whose every output is k (zero weights, bias k):
            any wrong answer, from any cache or batch, shows
  churn     a Dense model whose versions come and go: each version's outputs
            are a token the client that created it records

and a table rows(id, f real[64]) of 2,000 rows.  Then --clients client
threads (one connection each) loop for --minutes over a mix of

  40%  predict_class / predict of a stable model, per row
  20%  SELECT sum(...) over the table (BatchPredict), for a stable model
  18%  predict('churn', x): must be one of the tokens ever created
  12%  predict('churn', x, v) of a recent version: v's token, or 42704 once dropped
   5%  create_model('churn', ...) of a new version with a new token, then
       drop_model('churn', v) of the oldest while more than 8 are known
   5%  set_active_version('churn', v) of a recent version

while every --kill-every seconds the executor is killed (SIGKILL).  Expected
errors are counted by SQLSTATE: 42704 (a version dropped meanwhile), 58000
(the executor ended under a request), 40001 (a model changed under a
statement); anything else is unexpected.  Every answer is checked.

Reports (markdown to --out, also printed): the machine; statements and
errors by SQLSTATE; wrong results; the private memory (RssAnon: shared
pages are not counted) of the client backends, the worker and the executor
after a warm-up minute and at the end (and the growth);
the shared cache's bytes; and server crashes (a postmaster restart, or
"terminated by signal" for a backend in the server log).  Exits 1 when a
result is wrong, an unexpected error occurred, the server crashed, or the
backends' private memory grew by 10% or more.

    python3 test/bench/soak.py [--clients 16] [--minutes 10] [--kill-every 30]
        [--port 55640] [--dir /tmp/pg_infer_soak] [--out test/bench/soak.md]

Needs psycopg 3 and numpy, pg_infer installed with its executor, and root
or the server's owner (to signal the executor and read /proc).
"""
import argparse
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test"))
sys.path.insert(0, os.path.join(ROOT, "test", "bench"))
import bench as B  # noqa: E402  (machine facts, scratch server helpers)
from safetensors_writer import safetensors_bytes  # noqa: E402

SCRATCH = os.path.join(ROOT, "test", "scratch-server.sh")
WIDTH = 64
EXPECTED_STATES = {"42704": "a version dropped meanwhile",
                   "58000": "the inference executor ended under the request",
                   "40001": "a model changed under a statement"}


def dense_graph():
    return {"format": "pg_infer", "version": 1,
            "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, WIDTH]}],
            "outputs": [{"name": "y"}],
            "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}]}


def constant_weights(value, outputs=4):
    """Dense weights whose every output is value, whatever the input."""
    return safetensors_bytes({"w": np.zeros((outputs, WIDTH), "f4"), "b": np.full(outputs, value, "f4")})


class Shared:
    """What the clients share: tokens by version, counters; one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}             # churn version -> token
        self.all_tokens = set()
        self.next_token = 1000
        self.states = collections.Counter()
        self.unexpected = collections.Counter()
        self.wrong = []
        self.statements = 0
        self.stop = threading.Event()

    def new_token(self):
        with self.lock:
            self.next_token += 1
            self.all_tokens.add(float(self.next_token))
            return self.next_token

    def record(self, version, token):
        with self.lock:
            self.tokens[version] = float(token)

    def recent_versions(self):
        with self.lock:
            return sorted(self.tokens)[-12:]

    def wrong_result(self, what):
        with self.lock:
            if len(self.wrong) < 20:
                self.wrong.append(what)
            else:
                self.wrong.append("...")


def create_churn_version(conn, shared):
    token = shared.new_token()
    version = conn.execute("SELECT create_model('churn', %s::jsonb, %s)",
                           (json.dumps(dense_graph()), constant_weights(token))).fetchone()[0]
    shared.record(version, token)


def one_step(conn, shared, rng, x):
    """One statement of the mix; raises psycopg errors to the caller."""
    r = rng.random()
    if r < 0.40:
        k = rng.randint(1, 4)
        got = conn.execute(f"SELECT predict('stable_{k}', %s::real[])", (x,)).fetchone()[0]
        if got != [float(k)] * 4:
            shared.wrong_result(f"stable_{k} per row gave {got}")
    elif r < 0.60:
        k = rng.randint(1, 4)
        got = conn.execute(f"SELECT count(*), sum(predict_class('stable_{k}', f)), min((predict('stable_{k}', f))[2]),"
                           f" max((predict('stable_{k}', f))[3]) FROM rows WHERE id %% 4 = %s",
                           (rng.randint(0, 3),)).fetchone()
        if got != (500, 0, float(k), float(k)):
            shared.wrong_result(f"stable_{k} batched gave {got}")
    elif r < 0.78:
        got = conn.execute("SELECT predict('churn', %s::real[])", (x,)).fetchone()[0]
        if len(set(got)) != 1 or got[0] not in shared.all_tokens:
            shared.wrong_result(f"churn (active) gave {got}")
    elif r < 0.90:
        versions = shared.recent_versions()
        if versions:
            v = rng.choice(versions)
            token = shared.tokens.get(v)
            got = conn.execute("SELECT predict('churn', %s::real[], %s)", (x, v)).fetchone()[0]
            if token is not None and got != [token] * 4:
                shared.wrong_result(f"churn version {v} gave {got}, its token is {token}")
    elif r < 0.95:
        create_churn_version(conn, shared)
        with shared.lock:
            versions = sorted(shared.tokens)
            oldest = versions[0] if len(versions) > 8 else None
            shared.tokens.pop(oldest, None)
        if oldest is not None:
            conn.execute("SELECT drop_model('churn', %s)", (oldest,))
    else:
        versions = shared.recent_versions()
        if versions:
            conn.execute("SELECT set_active_version('churn', %s)", (rng.choice(versions),))


def client(args, shared, seed, pids):
    rng = random.Random(seed)
    x = [rng.uniform(-1, 1) for _ in range(WIDTH)]
    conn = psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="soak", autocommit=True)
    pids.append(conn.info.backend_pid)
    while not shared.stop.is_set():
        try:
            one_step(conn, shared, rng, x)
        except psycopg.Error as e:
            state = e.sqlstate or "connection"
            with shared.lock:
                shared.states[state] += 1
                if state not in EXPECTED_STATES:
                    shared.unexpected[f"{state}: {str(e).splitlines()[0]}"] += 1
            if conn.closed:
                conn = psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="soak",
                                       autocommit=True)
        with shared.lock:
            shared.statements += 1
    conn.close()


def private_kb(pid):
    """A process's private resident memory (RssAnon) in kB, 0 when it is gone.
    Shared memory (the model cache's images, shared buffers) is left out:
    every process that reads a page of it counts it once more."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def snapshot(admin, pids):
    """Private memory of the client backends (sum), the worker and the executor; the cache."""
    worker = admin.execute("SELECT pid, executor_pid FROM pginfer.worker").fetchone()
    cached = admin.execute("SELECT coalesce(sum(bytes), 0), count(*) FROM pginfer.cached_models"
                           " WHERE state = 'ready'").fetchone()
    return {"backends_kb": sum(private_kb(p) for p in pids),
            "worker_kb": private_kb(worker[0]) if worker[0] else 0,
            "executor_kb": private_kb(worker[1]) if worker[1] else 0, "cached_bytes": int(cached[0]),
            "cached_versions": cached[1], "churn_versions": admin.execute(
                "SELECT count(*) FROM pginfer.models WHERE name = 'churn'").fetchone()[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--kill-every", type=float, default=30)
    ap.add_argument("--port", default="55640")
    ap.add_argument("--dir", default="/tmp/pg_infer_soak")
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "bench", "soak.md"))
    args = ap.parse_args()

    subprocess.run([SCRATCH, "stop", args.dir], check=False, capture_output=True)
    subprocess.run(["rm", "-rf", args.dir], check=True)
    subprocess.run([SCRATCH, "start", args.dir, args.port, "shared_preload_libraries = 'pg_infer'",
                    "pg_infer.worker_device = 'cpu'", "max_connections = 64"], check=True)
    ok = False
    try:
        ok = soak(args)
    finally:
        B.stop_scratch_server(args.dir, ok)
    sys.exit(0 if ok else 1)


def soak(args):
    with psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="postgres",
                         autocommit=True) as c:
        c.execute("CREATE DATABASE soak")
    admin = psycopg.connect(host=args.dir, port=args.port, user="postgres", dbname="soak", autocommit=True)
    admin.execute("CREATE EXTENSION pg_infer")
    for k in range(1, 5):
        admin.execute("SELECT create_model(%s, %s::jsonb, %s)",
                      (f"stable_{k}", json.dumps(dense_graph()), constant_weights(k)))
    admin.execute(f"CREATE TABLE rows AS SELECT g AS id, array_fill((g % 13)::real, ARRAY[{WIDTH}]) AS f"
                  " FROM generate_series(0, 1999) g")
    shared = Shared()
    for _ in range(3):
        create_churn_version(admin, shared)
    deadline = time.monotonic() + 60
    while admin.execute("SELECT state FROM pginfer.worker").fetchone()[0] != "ready":
        if time.monotonic() > deadline:
            raise RuntimeError("the inference worker did not become ready")
        time.sleep(0.2)
    postmaster = int(open(os.path.join(args.dir, "data", "postmaster.pid")).readline())
    log_path = os.path.join(args.dir, "server.log")
    log_start = os.path.getsize(log_path)
    machine = B.machine_info(admin)

    pids = []
    threads = [threading.Thread(target=client, args=(args, shared, seed, pids)) for seed in range(args.clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    end = start + args.minutes * 60
    warm, final, kills, next_kill = None, None, 0, start + args.kill_every
    while time.monotonic() < end:
        time.sleep(1)
        now = time.monotonic()
        if warm is None and now - start >= min(60, args.minutes * 30):
            warm = snapshot(admin, pids)
        if end - now < 3:
            final = snapshot(admin, pids)       # before the last kill could come
            break
        if now >= next_kill:
            executor = admin.execute("SELECT executor_pid FROM pginfer.worker").fetchone()[0]
            if executor:
                os.kill(executor, signal.SIGKILL)
                kills += 1
            next_kill = now + args.kill_every
    final = final or snapshot(admin, pids)
    warm = warm or final
    shared.stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - start

    log_text = open(log_path, errors="replace").read()[log_start:]
    postmaster_now = int(open(os.path.join(args.dir, "data", "postmaster.pid")).readline())
    crashes = (postmaster_now != postmaster) + len(re.findall(r"server process \(PID \d+\) was terminated", log_text))
    restarts = admin.execute("SELECT executor_restarts FROM pginfer.worker").fetchone()[0]
    admin.close()

    growth = (final["backends_kb"] - warm["backends_kb"]) / max(1, warm["backends_kb"])
    lines = ["# Soak test", "",
             f"`python3 test/bench/soak.py --clients {args.clients} --minutes {args.minutes:g}"
             f" --kill-every {args.kill_every:g}`", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", f"{shared.statements:,} statements by {args.clients} clients in {elapsed:.0f} s"
              f" ({shared.statements / elapsed:,.0f}/s); the executor killed {kills} times"
              f" (the worker counted {restarts} restarts).", "",
              "| errors by SQLSTATE | count | |", "|---|---:|---|"]
    for state, n in sorted(shared.states.items()):
        lines.append(f"| {state} | {n:,} | {EXPECTED_STATES.get(state, '**unexpected**')} |")
    if not shared.states:
        lines.append("| none | 0 | |")
    lines += ["", f"Wrong results: **{len(shared.wrong)}**." + ("" if not shared.wrong else " " + "; ".join(shared.wrong)),
              f"Server crashes: **{crashes}**.", "",
              "| private memory (RssAnon) | after warm-up | at the end | growth |", "|---|---:|---:|---:|"]
    for key, label in (("backends_kb", f"the {args.clients} client backends (sum)"),
                       ("worker_kb", "the inference worker"),
                       ("executor_kb", "the executor (a new process after each kill)")):
        a, b = warm[key], final[key]
        lines.append(f"| {label} | {a / 1024:,.1f} MB | {b / 1024:,.1f} MB | {(b - a) / max(1, a):+.1%} |")
    lines.append(f"| shared cache (ready versions) | {warm['cached_bytes'] / 1024:,.0f} kB, {warm['cached_versions']}"
                 f" | {final['cached_bytes'] / 1024:,.0f} kB, {final['cached_versions']} | |")
    lines.append(f"| versions of churn stored | {warm['churn_versions']} | {final['churn_versions']} | |")
    if shared.unexpected:
        lines += ["", "Unexpected errors:"] + [f"- {k} ({n})" for k, n in shared.unexpected.most_common(20)]
    ok = not shared.wrong and not shared.unexpected and crashes == 0 and growth < 0.10
    lines += ["", f"Verdict: **{'pass' if ok else 'FAIL'}** (no wrong result, only expected errors, no crash,"
              " client backends' private memory growth under 10%)."]
    report = "\n".join(lines) + "\n"
    print(report)
    with open(args.out, "w") as f:
        f.write(report)
    print(f"summary: statements={shared.statements} wrong={len(shared.wrong)} unexpected={sum(shared.unexpected.values())}"
          f" crashes={crashes} backend_rss_growth={growth:+.1%}")
    return ok


if __name__ == "__main__":
    main()
