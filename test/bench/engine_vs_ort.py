#!/usr/bin/env python3
"""pg_infer's CPU engine against ONNX Runtime, forward passes only, one thread.

    python3 test/bench/engine_vs_ort.py [--seconds S] [--batches 16,256] [--shared DIR]

Needs numpy and onnxruntime (a virtual environment is fine) and builds
test/bench/bench_engine (make).  For each model it times ONNX Runtime (CPU
provider, intra_op_num_threads = inter_op_num_threads = 1, all graph
optimizations) and the engine (bench_engine: the ONNX file imported as the
server imports it, one thread, sequential OpenBLAS) on the same file and the
same batch sizes, best of several rounds each, and prints one markdown table
with rows/s and the ratio engine / ONNX Runtime, after the machine, the CPU
kernels the engine chose and the date.  Both count seconds of the running
thread's CPU time, not wall time, so that other work on a shared machine
disturbs the comparison less (both run single-threaded in that thread).

Models: the shared LeNet-5, the models of test/bench/make_models.py
(ResNet-style, MobileNet-style, MLP) and the transformer encoder layer of the
ONNX tests.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def models(shared):
    return [
        ("LeNet-5 (shared MNIST CNN)", os.path.join(shared, "models", "mnist_cnn_pytorch.onnx")),
        ("ResNet-style CNN, 3x32x32", os.path.join(HERE, "models", "resnet_cifar.onnx")),
        ("MobileNet-style CNN, 3x32x32", os.path.join(HERE, "models", "mobilenet.onnx")),
        ("MLP 784-512-256-10", os.path.join(HERE, "models", "mlp.onnx")),
        ("Transformer encoder layer, 8x16", os.path.join(
            ROOT, "test", "onnx", "models", "transformer_encoder_opset17", "model.onnx")),
    ]


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d logical CPUs, %s" % (model, os.cpu_count(), platform.platform())


def ort_rows_per_s(path, batch, seconds, rounds=5):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(12345)
    feeds = {}
    for i in sess.get_inputs():
        shape = [batch if not isinstance(d, int) else d for d in i.shape]
        feeds[i.name] = rng.random(shape, dtype=np.float32)
    end = time.thread_time() + seconds / 4          # warm-up
    while time.thread_time() < end:
        sess.run(None, feeds)
    best = 0.0
    for _ in range(rounds):
        start = time.thread_time()
        runs = 0
        while True:
            sess.run(None, feeds)
            runs += 1
            elapsed = time.thread_time() - start
            if elapsed >= seconds / rounds:
                break
        best = max(best, runs * batch / elapsed)
    return best


def engine_rows_per_s(path, batches, seconds, options=None):
    """bench_engine's rows/s per batch, with model options (a JSON string) if given."""
    extra = ["--options", options] if options else []
    out = subprocess.run([os.path.join(HERE, "bench_engine")] + extra + [path, str(seconds)] +
                         [str(b) for b in batches], check=True, capture_output=True, text=True).stdout
    head = re.search(r"cpu (\S+) nodes (\d+) fused (\d+)", out)
    rates = {int(b): float(r) for b, r in re.findall(r"batch (\d+) rows_per_s ([\d.]+)", out)}
    return head.group(1), int(head.group(2)), int(head.group(3)), rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per measurement")
    ap.add_argument("--batches", default="16,256")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    subprocess.run(["make", "-s", "-C", ROOT, "test/bench/bench_engine"], check=True)

    rows = []
    cpu = "?"
    for name, path in models(args.shared):
        if not os.path.exists(path):
            print("skipped, not found: %s" % path, file=sys.stderr)
            continue
        cpu, nodes, fused, engine = engine_rows_per_s(path, batches, args.seconds)
        for b in batches:
            rows.append((name, "%d -> %d" % (nodes, fused), b, ort_rows_per_s(path, b, args.seconds),
                         engine[b]))

    print("Machine: %s" % machine())
    print("Engine CPU kernels: %s; ONNX Runtime %s, 1 thread; %s" % (
        cpu, ort.__version__, datetime.datetime.now().strftime("%Y-%m-%d %H:%M")))
    print()
    print("| model | nodes (fused) | batch | ONNX Runtime rows/s | pg_infer rows/s | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for name, nodes, b, o, e in rows:
        print("| %s | %s | %d | %.0f | %.0f | %.2fx |" % (name, nodes, b, o, e, e / o))


if __name__ == "__main__":
    main()
