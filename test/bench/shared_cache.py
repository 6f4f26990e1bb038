#!/usr/bin/env python3
"""pg_infer shared model cache benchmark: memory of 16 connections and the
first call in a new connection, with the shared cache and without it.

One run on one machine: starts two scratch servers (test/scratch-server.sh),

  shared   pg_infer in shared_preload_libraries: the shared model cache
  private  pg_infer loaded per connection: each connection builds its own copy

stores in each a 784-4096-4096-1024-10 MLP ("big", random float32 weights,
fixed seed, about 97 MB) and models/mnist ("mnist", 0.4 MB), and measures

  memory    16 connections each run one predict with "big"; the sum of their
            proportional set sizes (Pss from /proc/PID/smaps_rollup; the
            shared area is mapped by these backends, so its pages are in
            their Pss, split between them), before and after the predict,
            against the model's weight bytes
  latency   the first predict in a new connection (timed at the client, after
            connecting), for a model another connection already loaded
            (shared server), for a cold load (shared server after
            evict_model; the private server's every new connection), and a
            second predict in the same connection (the steady state); the
            median of --runs new connections each

Writes test/bench/shared_cache.md (the report, also printed).  The servers
are stopped at the end, also on failure.  Needs root or the postgres user
(to read the backends' /proc/PID/smaps_rollup), psycopg 3 and numpy.

    python3 test/bench/shared_cache.py [--runs 15] [--clients 16]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  (machine info, scratch server helpers)

ROOT = B.ROOT
BIG_LAYERS = [784, 4096, 4096, 1024, 10]
SERVERS = {
    "shared": ("/tmp/pg_infer_cachebench_shared", 55620, ["shared_preload_libraries = 'pg_infer'"]),
    "private": ("/tmp/pg_infer_cachebench_private", 55621, []),
}
FLOOR_MEMORY_RATIO = 1.3
FLOOR_FIRST_CALL_MS = 2.0


def conninfo(name):
    directory, port, _ = SERVERS[name]
    return dict(host=directory, port=port, user="postgres", dbname="cachebench")


def setup(name, big):
    directory, port, conf = SERVERS[name]
    subprocess.run([B.SCRATCH, "stop", directory], check=False)
    subprocess.run([B.SCRATCH, "start", directory, str(port)] + conf, check=True)
    with psycopg.connect(host=directory, port=port, user="postgres", dbname="postgres",
                         autocommit=True) as c:
        c.execute("CREATE DATABASE cachebench")
    with psycopg.connect(**conninfo(name), autocommit=True) as c:
        c.execute("CREATE EXTENSION pg_infer")
        c.execute("SELECT create_model('big', %s::jsonb, %s)", big)
        graph = open(os.path.join(ROOT, "models/mnist/model.json")).read()
        weights = open(os.path.join(ROOT, "models/mnist/model.safetensors"), "rb").read()
        c.execute("SELECT create_model('mnist', %s::jsonb, %s)", (graph, weights))
        return c.execute("SELECT version()").fetchone()[0]


def pss_bytes(pid):
    """A process's Pss, total and split by mapping: dynamic shared memory
    segments (/dev/shm/PostgreSQL.*: the shared model cache), the main shared
    memory (the buffer pool and PostgreSQL's fixed areas), everything else."""
    split = {"total": 0, "dsm": 0, "main_shmem": 0}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                split["total"] = int(line.split()[1]) * 1024
    mapping = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                mapping = parts[5] if len(parts) > 5 else ""
            elif parts[0] == "Pss:":
                kb = int(parts[1]) * 1024
                if mapping.startswith("/dev/shm/PostgreSQL."):
                    split["dsm"] += kb
                elif mapping.startswith("/dev/zero") or mapping.startswith("/SYSV"):
                    split["main_shmem"] += kb
    split["other"] = split["total"] - split["dsm"] - split["main_shmem"]
    return split


def memory(name, clients):
    """Sums of the clients' backends' Pss before and after one predict each."""
    conns = [psycopg.connect(**conninfo(name), autocommit=True) for _ in range(clients)]
    try:
        pids = [c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in conns]
        before = [pss_bytes(p) for p in pids]
        for c in conns:
            c.execute("SELECT predict_class('big', array_fill(0.5::real, ARRAY[784]))")
        time.sleep(0.2)
        after = [pss_bytes(p) for p in pids]
        used = conns[0].execute("SELECT bytes_used FROM cache_usage()").fetchone()[0]
    finally:
        for c in conns:
            c.close()

    def total(rows):
        return {k: sum(r[k] for r in rows) for k in rows[0]}
    return {"before": total(before), "after": total(after), "cache_bytes_used": used}


def first_calls(name, model, runs, evict_first):
    """Median first and second predict times (ms) over runs new connections."""
    query = f"SELECT predict_class('{model}', array_fill(0.5::real, ARRAY[784]))"
    first, second = [], []
    with psycopg.connect(**conninfo(name), autocommit=True) as keeper:
        if name == "shared" and not evict_first:
            keeper.execute(f"SELECT warm_model('{model}')")
        for _ in range(runs):
            if evict_first:
                keeper.execute(f"SELECT evict_model('{model}')")
            with psycopg.connect(**conninfo(name), autocommit=True) as c:
                c.execute("SELECT 1")
                t0 = time.perf_counter()
                c.execute(query)
                t1 = time.perf_counter()
                c.execute(query)
                t2 = time.perf_counter()
            first.append((t1 - t0) * 1000)
            second.append((t2 - t1) * 1000)
    return statistics.median(first), statistics.median(second)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    big = B.mlp_model(BIG_LAYERS, seed=7)
    model_bytes = sum(a * b * 4 + b * 4 for a, b in zip(BIG_LAYERS, BIG_LAYERS[1:]))
    ok = False
    try:
        for name in SERVERS:
            B.log(f"starting the {name} server and storing the models")
            setup(name, big)
        with psycopg.connect(**conninfo("shared"), autocommit=True) as c:
            info = B.machine_info(c)
        mem = {}
        for name in SERVERS:
            B.log(f"memory: {args.clients} connections on the {name} server")
            mem[name] = memory(name, args.clients)
        lat = {}
        for model in ("mnist", "big"):
            B.log(f"first calls: {model}")
            lat[(model, "cached by another connection")] = first_calls("shared", model, args.runs, False)
            lat[(model, "cold: evicted first")] = first_calls("shared", model, args.runs, True)
            lat[(model, "private: every connection loads")] = first_calls("private", model, args.runs, False)
        report = render(info, args, model_bytes, mem, lat)
        print(report)
        with open(os.path.join(HERE, "shared_cache.md"), "w") as f:
            f.write(report)
        ok = True
    finally:
        for name, (directory, _, _) in SERVERS.items():
            B.stop_scratch_server(directory, ok)


def render(info, args, model_bytes, mem, lat):
    mb = 1024 * 1024
    lines = ["# Shared model cache benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", f"Model \"big\": {'-'.join(map(str, BIG_LAYERS))} MLP, "
              f"{model_bytes / mb:.1f} MB of float32 weights. {args.clients} connections, "
              "one predict each.", "",
              "## Memory: sum of the connections' backends' Pss", "",
              "Pss split by mapping: the shared model cache (dynamic shared memory "
              "segments), the main shared memory (mostly the buffer pool, whose size is fixed "
              "by shared_buffers), and the rest (private memory and files).", "",
              "| server | when | total | model cache (DSM) | main shared memory | private + files |",
              "|---|---|---|---|---|---|"]
    for name, m in mem.items():
        for when in ("before", "after"):
            r = m[when]
            lines.append(f"| {name} | {when} predict | {r['total'] / mb:.1f} MB | {r['dsm'] / mb:.1f} MB | "
                         f"{r['main_shmem'] / mb:.1f} MB | {r['other'] / mb:.1f} MB |")

    def added(m):
        """What holding the model adds: the model cache plus the growth of private memory."""
        return m["after"]["dsm"] + m["after"]["other"] - m["before"]["other"]

    def outside_pool(m):
        """All of the backends' Pss but the buffer pool's pages."""
        return m["after"]["total"] - m["after"]["main_shmem"]
    shared, private = mem["shared"], mem["private"]
    added_ratio = added(shared) / model_bytes
    lines += ["", f"Shared cache area in use: {shared['cache_bytes_used'] / mb:.1f} MB.", "",
              f"- Memory the model adds to the {args.clients} connections (model cache + growth of "
              f"private memory): {added(shared) / mb:.1f} MB = {added_ratio:.2f}x the model with the "
              f"shared cache, {added(private) / mb:.1f} MB = {added(private) / model_bytes:.2f}x "
              f"without it. Floor <= {FLOOR_MEMORY_RATIO}x: "
              f"{'met' if added_ratio <= FLOOR_MEMORY_RATIO else 'NOT met'}.",
              f"- All of the backends' Pss outside the buffer pool, including the "
              f"{shared['before']['other'] / mb:.0f} MB that {args.clients} idle PostgreSQL backends "
              f"use before any predict: {outside_pool(shared) / model_bytes:.2f}x with the shared "
              f"cache, {outside_pool(private) / model_bytes:.2f}x without it.",
              f"- Everything, with the buffer pool pages the backends touched (the loading backend "
              f"reads the {model_bytes / mb:.0f} MB of weights from the catalog through shared "
              f"buffers): {shared['after']['total'] / model_bytes:.2f}x with the shared cache, "
              f"{private['after']['total'] / model_bytes:.2f}x without it.", "",
              "## First predict in a new connection (median of "
              f"{args.runs} connections, client-side, Unix socket)", "",
              "| model | case | first call | second call |", "|---|---|---|---|"]
    for (model, case), (first, second) in lat.items():
        lines.append(f"| {model} | {case} | {first:.2f} ms | {second:.2f} ms |")
    warm = lat[("mnist", "cached by another connection")][0]
    lines += ["", f"Floor: first call <= {FLOOR_FIRST_CALL_MS} ms for a model another connection "
              f"loaded (mnist): {warm:.2f} ms, {'met' if warm <= FLOOR_FIRST_CALL_MS else 'NOT met'}.",
              "For \"big\" a single-row forward pass streams all 97 MB of weights, so the steady "
              "state (second call) is itself several milliseconds; the first-call overhead is the "
              "difference between the columns.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
