#!/usr/bin/env python3
"""Backend memory of create_model, per path, and of loading a version into
the shared cache.

Starts a scratch server (test/scratch-server.sh; PGBIN chooses the
PostgreSQL binaries), writes an MLP of about --mb MB of float32 weights
(test/onnx_writer.py: an ONNX file with its weights inside, the same with
its weights in an external data file, and a native graph with safetensors
weights), and stores each through every path:

  bytea         the file as a bytea parameter from the client (binary format)
  bytea from a table  the same value read from a table (no protocol copies)
  server file   create_model_from_onnx_file / create_model_from_files
  large object  create_model_from_large_objects from large objects written
                beforehand by another connection

Each create_model runs in a new connection; the backend's resident set
before the call (VmRSS) and its peak after it (VmHWM, /proc/PID/status) give
the growth, reported against the model's bytes (file plus external data).
VmHWM also counts the shared memory the backend touches (shared buffers, up
to shared_buffers, and a load's image in the shared cache), so the private
peak (RssAnon + RssFile, sampled every 2 ms) is shown too.  Then a new
connection loads each kind of model into the shared cache (warm_model),
measured the same way.  Runs on the server's machine, as root or the
server's user.  A build from before create_model_from_large_objects is
measured without the large object rows.

    PGBIN=/usr/lib/postgresql/15/bin python3 test/bench/upload_memory.py [--mb 216]
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test"))
import onnx_writer  # noqa: E402
from proc_memory import Peaks  # noqa: E402

SCRATCH = os.path.join(ROOT, "test", "scratch-server.sh")
MB = 1 << 20


def measured(conninfo, sql, params=()):
    """Runs sql in a new connection; (seconds, growth of VmHWM over the
    resident set before, growth of the sampled private peak, status after)."""
    with psycopg.connect(**conninfo, autocommit=True) as c:
        with Peaks(c.execute("SELECT pg_backend_pid()").fetchone()[0]) as peaks:
            c.execute(sql, params)
    return peaks.seconds, peaks.hwm, peaks.private, peaks.after


def large_object(conninfo, path):
    """A large object holding the file, written in 8 MB pieces by its own connection; its oid."""
    with psycopg.connect(**conninfo) as c:
        oid = c.execute("SELECT lo_create(0)").fetchone()[0]
        with open(path, "rb") as f:
            offset = 0
            while piece := f.read(8 * MB):
                c.execute("SELECT lo_put(%s, %s, %s)", (oid, offset, piece))
                offset += len(piece)
    return oid


def has_large_object_path(conninfo):
    """Whether the server has create_model_from_large_objects (to measure a build from before it)."""
    with psycopg.connect(**conninfo) as c:
        return c.execute("SELECT count(*) FROM pg_proc WHERE proname = 'create_model_from_large_objects'"
                         ).fetchone()[0] > 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=216, help="float32 weight megabytes of the model")
    ap.add_argument("--port", type=int, default=55620)
    ap.add_argument("--dir", default="/tmp/pg_infer_upload_memory")
    args = ap.parse_args()

    shutil.rmtree(args.dir, ignore_errors=True)
    files = os.path.join(args.dir, "files")
    os.makedirs(os.path.join(files, "native"))
    widths = onnx_writer.mlp_widths(args.mb * MB, width=2048)
    inline = os.path.join(files, "inline.onnx")
    external = os.path.join(files, "external.onnx")
    native = os.path.join(files, "native")
    onnx_writer.write_mlp_onnx(inline, widths)
    onnx_writer.write_mlp_onnx(external, widths, external="external.bin")
    onnx_writer.write_mlp_native(native, widths)
    subprocess.run(["chmod", "-R", "a+rX", args.dir], check=True)
    sizes = {"inline": os.path.getsize(inline),
             "external": os.path.getsize(external) + os.path.getsize(os.path.join(files, "external.bin")),
             "native": os.path.getsize(os.path.join(native, "model.safetensors"))}
    server = os.path.join(args.dir, "server")
    subprocess.run([SCRATCH, "start", server, str(args.port), "shared_preload_libraries = 'pg_infer'",
                    "pg_infer.worker_device = 'off'", "pg_infer.cache_size = '4GB'"], check=True)
    try:
        info = dict(host=server, port=args.port, user="postgres", dbname="postgres")
        with psycopg.connect(**info, autocommit=True) as c:
            c.execute("CREATE EXTENSION pg_infer")
            shared_buffers = c.execute("SHOW shared_buffers").fetchone()[0]
            c.execute("CREATE TABLE uploads (name text, data bytea)")
            c.execute("INSERT INTO uploads VALUES ('inline', pg_read_binary_file(%s))", (inline,))
        lo = has_large_object_path(info)
        ext_bin = os.path.join(files, "external.bin")
        graph = open(os.path.join(native, "model.json")).read()
        weights = os.path.join(native, "model.safetensors")
        runs = [
            ("onnx", "bytea", "inline", lambda: ("SELECT create_model('a', onnx => %b)", (open(inline, "rb").read(),))),
            ("onnx", "server file", "inline", lambda: (f"SELECT create_model_from_onnx_file('b', '{inline}')", ())),
            ("onnx", "bytea from a table", "inline", lambda: (
                "SELECT create_model('t', onnx => (SELECT data FROM uploads WHERE name = 'inline'))", ())),
            ("onnx", "large object", "inline", lambda: (
                "SELECT create_model_from_large_objects('c', %s)", (large_object(info, inline),))),
            ("onnx + external data", "bytea", "external", lambda: ("SELECT create_model('d', onnx => %b, external_data => %b)",
                                                                  (open(external, "rb").read(), open(ext_bin, "rb").read()))),
            ("onnx + external data", "server file", "external", lambda: (f"SELECT create_model_from_onnx_file('e', '{external}')", ())),
            ("onnx + external data", "large object", "external", lambda: (
                "SELECT create_model_from_large_objects('f', %s, %s)",
                (large_object(info, external), large_object(info, ext_bin)))),
            ("native", "bytea", "native", lambda: ("SELECT create_model('g', %s::jsonb, %b)", (graph, open(weights, "rb").read()))),
            ("native", "server file", "native", lambda: (
                f"SELECT create_model_from_files('h', '{native}/model.json', '{weights}')", ())),
            ("native", "large object", "native", lambda: (
                "SELECT create_model_from_large_objects('i', graph => %s, weights_oid => %s)",
                (graph, large_object(info, weights)))),
        ]
        rows = []
        for kind, path, size_key, make in runs:
            if path == "large object" and not lo:
                continue
            sql, params = make()
            seconds, growth, private, _ = measured(info, sql, params)
            params = None
            rows.append((kind, path, sizes[size_key], seconds, growth, private))
        for name, kind, size_key in (("b", "onnx", "inline"), ("e", "onnx + external data", "external"),
                                     ("h", "native", "native")):
            seconds, growth, private, after = measured(info, "SELECT warm_model(%s)", (name,))
            rows.append((kind, "load (warm_model)", sizes[size_key], seconds, growth, private))
        with psycopg.connect(**info) as c:
            image = c.execute("SELECT bytes FROM pginfer.cached_models WHERE model = 'h'").fetchone()[0]
    finally:
        subprocess.run([SCRATCH, "stop", server])
        shutil.rmtree(args.dir, ignore_errors=True)

    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
          f"shared_buffers {shared_buffers}; layers {widths}")
    print("| model | path | model bytes | seconds | VmHWM growth | x model | private peak | x model |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, path, size, seconds, growth, private in rows:
        print(f"| {kind} | {path} | {size / MB:.0f} MB | {seconds:.1f} | {growth / MB:.0f} MB | {growth / size:.2f} "
              f"| {private / MB:.0f} MB | {private / size:.2f} |")
    print(f"VmHWM counts the shared memory the backend touched: up to shared_buffers, and for a load the "
          f"shared image ({image / MB:.0f} MB; the backend's RssShmem after the last load: "
          f"{after['RssShmem'] / MB:.0f} MB).  The private peak is RssAnon + RssFile sampled every 2 ms.")


if __name__ == "__main__":
    main()
