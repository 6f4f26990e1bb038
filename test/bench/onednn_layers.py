#!/usr/bin/env python3
"""pg_infer's CPU kernels against oneDNN, layer by layer, one thread.

    python3 test/bench/onednn_layers.py [--seconds S] [--batches 16,256]

Needs torch and onnx (a virtual environment is fine) to write one-layer ONNX
files, and Debian's libdnnl-dev (oneDNN 2.6) to build
test/bench/onednn_layers.  The layers are those of the benchmark models of
test/bench/engine_vs_ort.py: every distinct convolution of the ResNet-style
and MobileNet-style CNNs and the three layers of the MLP, each with its bias
and a ReLU after it.  For each, and each batch size, it times:

  - the engine (bench_engine on a Conv+Relu or Gemm+Relu ONNX file: the
    layer as the server imports it, packed weights, fused epilogue);
  - oneDNN with NCHW / row-major activations ("plain", the engine's layout
    between layers);
  - oneDNN with the activation layouts it picks ("blocked", its best case,
    as if a whole network stayed in them).

All three count the running thread's CPU time, best of 5 rounds, one thread
(OMP_NUM_THREADS=1 for oneDNN).  Prints one markdown table after the machine,
the load and the date, with each layer's share of its model's FLOPs, so that
the per-model effect of a switch can be read off.
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import warnings

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from engine_vs_ort import engine_rows_per_s, machine  # noqa: E402

# (model, C, H, W, K, kernel, stride, pad, groups, times in the model)
CONVS = [
    ("ResNet", 3, 32, 32, 16, 3, 1, 1, 1, 1),
    ("ResNet", 16, 32, 32, 16, 3, 1, 1, 1, 2),
    ("ResNet", 16, 32, 32, 32, 3, 2, 1, 1, 1),
    ("ResNet", 32, 16, 16, 32, 3, 1, 1, 1, 1),
    ("ResNet", 16, 32, 32, 32, 1, 2, 0, 1, 1),
    ("ResNet", 32, 16, 16, 64, 3, 2, 1, 1, 1),
    ("ResNet", 64, 8, 8, 64, 3, 1, 1, 1, 1),
    ("ResNet", 32, 16, 16, 64, 1, 2, 0, 1, 1),
    ("MobileNet", 3, 32, 32, 16, 3, 2, 1, 1, 1),
    ("MobileNet", 16, 16, 16, 16, 3, 1, 1, 16, 1),
    ("MobileNet", 16, 16, 16, 32, 1, 1, 0, 1, 1),
    ("MobileNet", 32, 16, 16, 32, 3, 2, 1, 32, 1),
    ("MobileNet", 32, 8, 8, 64, 1, 1, 0, 1, 1),
    ("MobileNet", 64, 8, 8, 64, 3, 1, 1, 64, 1),
    ("MobileNet", 64, 8, 8, 64, 1, 1, 0, 1, 1),
    ("MobileNet", 64, 8, 8, 64, 3, 2, 1, 64, 1),
    ("MobileNet", 64, 4, 4, 128, 1, 1, 0, 1, 1),
    ("MobileNet", 128, 4, 4, 128, 3, 1, 1, 128, 1),
    ("MobileNet", 128, 4, 4, 128, 1, 1, 0, 1, 1),
]
# (model, K, M)
DENSE = [("MLP", 784, 512), ("MLP", 512, 256), ("MLP", 256, 10)]


def conv_flops(c, h, w, k, kern, stride, pad, groups):
    oh = (h + 2 * pad - kern) // stride + 1
    ow = (w + 2 * pad - kern) // stride + 1
    return 2 * oh * ow * k * (c // groups) * kern * kern


def export(net, shape, path):
    net.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn([2] + shape),), path, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


def onednn_rows_per_s(args, layout, batch, seconds):
    out = subprocess.run([os.path.join(HERE, "onednn_layers"), args[0], layout, str(seconds),
                          str(batch)] + [str(a) for a in args[1:]],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    m = re.search(r"rows_per_s ([\d.]+) impl (\S+)", out)
    return float(m.group(1)), m.group(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    ap.add_argument("--batches", default="16,256")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    subprocess.run(["make", "-s", "-C", ROOT, "test/bench/bench_engine",
                    "test/bench/onednn_layers"], check=True)
    load_before = os.getloadavg()[0]
    torch.manual_seed(0)
    layers = []
    for model, c, h, w, k, kern, stride, pad, groups, times in CONVS:
        net = nn.Sequential(nn.Conv2d(c, k, kern, stride, pad, groups=groups), nn.ReLU())
        name = "%s %dx%dx%d -> %d, %dx%d/%d%s" % (model, c, h, w, k, kern, kern, stride,
                                                  ", depthwise" if groups > 1 else "")
        layers.append((model, name, net, [c, h, w], times * conv_flops(c, h, w, k, kern, stride,
                                                                        pad, groups),
                       ["conv", c, h, w, k, kern, kern, stride, pad, groups]))
    for model, kdim, mdim in DENSE:
        layers.append((model, "MLP %d -> %d" % (kdim, mdim),
                       nn.Sequential(nn.Linear(kdim, mdim), nn.ReLU()), [kdim],
                       2 * kdim * mdim, ["fc", kdim, mdim]))
    model_flops = {}
    for model, _, _, _, flops, _ in layers:
        model_flops[model] = model_flops.get(model, 0) + flops

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (model, name, net, shape, flops, cli) in enumerate(layers):
            path = os.path.join(tmp, "layer%d.onnx" % i)
            export(net, shape, path)
            _, _, _, engine = engine_rows_per_s(path, batches, args.seconds)
            for b in batches:
                plain, _ = onednn_rows_per_s(cli, "plain", b, args.seconds)
                blocked, impl = onednn_rows_per_s(cli, "blocked", b, args.seconds)
                rows.append((name, 100.0 * flops / model_flops[model], b, engine[b], plain,
                             blocked, impl))
                print("%-45s b%-4d engine %10.0f  oneDNN plain %10.0f  blocked %10.0f (%s)" %
                      (name, b, engine[b], plain, blocked, impl), file=sys.stderr)

    print("Machine: %s; load average %.1f before, %.1f after; %s; oneDNN 2.6 (Debian libdnnl),"
          " one thread" % (machine(), load_before, os.getloadavg()[0],
                           datetime.date.today().isoformat()))
    print()
    print("| layer (+ bias, ReLU) | share of model FLOPs | batch | engine rows/s |"
          " oneDNN NCHW rows/s | engine / oneDNN NCHW | oneDNN blocked rows/s |"
          " engine / oneDNN blocked | oneDNN kernel |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, share, b, eng, plain, blocked, impl in rows:
        print("| %s | %.0f%% | %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | %s |" %
              (name, share, b, eng, plain, eng / plain, blocked, eng / blocked, impl))


if __name__ == "__main__":
    main()
