#!/usr/bin/env python3
"""Forward passes of the 784-512-256-10 MLP at every precision against float32, one thread;
and of ONNX Runtime's quantize_static QDQ files (test/onnx/quant) against
their float32 originals.

    python3 test/bench/precision.py [--seconds S] [--batch 256] [--small-batch 16]
                                    [--tables mlp,qdq,cnn,dynamic]

Needs numpy and onnxruntime (a virtual environment is fine) and builds
test/bench/bench_engine (make).  Times, in one run and on one thread, the
engine on test/bench/models/mlp.onnx at float32 and with options
{"precision": "int8"}, "bf16" and "fp16" (bench_engine --options; fp16 is
stored only and runs float32), and ONNX Runtime on the same
file and on its onnxruntime.quantization.quantize_dynamic version (int8
weights, activations quantized at run time), which the engine runs too
(its MatMulIntegers on the int8 path, each row quantized as ONNX Runtime
quantizes the tensor), best of
several rounds each in rows per second of the thread's CPU time.  Prints the
machine, the load average before and after, and one markdown table with the
ratios to the engine's float32.  A second table times the QDQ files
(per-channel int8 weights, uint8 activations) of the MLP, the shared LeNet
and the ResNet-style CNN, and the MLP's QOperator form, in the engine and in
ONNX Runtime, against the engine's float32 on the original file; a third
times the two CNNs at {"precision": "int8"} against float32, and a fourth
their quantize_dynamic files (DynamicQuantizeLinear -> ConvInteger, and
MatMulInteger) in the engine and in ONNX Runtime against the engine's
float32 on the original.  The CNN tables are at the batch and at the small
batch; --tables times only those named.
"""

import argparse
import datetime
import os
import subprocess
import tempfile

import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

from engine_vs_ort import HERE, ROOT, engine_rows_per_s, machine, ort_rows_per_s

MLP = os.path.join(HERE, "models", "mlp.onnx")
QUANT = os.path.join(ROOT, "test", "onnx", "quant")
QDQ = [("MLP 784-512-256-10", MLP, "mlp_qdq_channel"),
       ("LeNet (shared CNN)", os.path.join(ROOT, "..", "shared", "models", "mnist_cnn_pytorch.onnx"),
        "lenet_qdq_channel"),
       ("ResNet-style CNN", os.path.join(HERE, "models", "resnet_cifar.onnx"), "resnet_qdq_channel"),
       ("MLP, QOperator", MLP, "mlp_qoperator")]


CNNS = [("LeNet (shared CNN)", QDQ[1][1]), ("ResNet-style CNN", QDQ[2][1])]
DYNAMIC = [("LeNet (shared CNN)", QDQ[1][1], "lenet_dynamic"),
           ("ResNet-style CNN", QDQ[2][1], "resnet_dynamic")]


def mlp_table(args):
    """The MLP at every precision, and its quantize_dynamic file, against float32."""
    with tempfile.TemporaryDirectory() as tmp:
        quantized = os.path.join(tmp, "mlp_int8.onnx")
        quantize_dynamic(MLP, quantized, weight_type=QuantType.QInt8)
        _, _, _, fp32 = engine_rows_per_s(MLP, [args.batch], args.seconds)
        _, _, _, int8 = engine_rows_per_s(MLP, [args.batch], args.seconds, '{"precision": "int8"}')
        _, _, _, bf16 = engine_rows_per_s(MLP, [args.batch], args.seconds, '{"precision": "bf16"}')
        _, _, _, fp16 = engine_rows_per_s(MLP, [args.batch], args.seconds, '{"precision": "fp16"}')
        ort_fp32 = ort_rows_per_s(MLP, args.batch, args.seconds)
        ort_int8 = ort_rows_per_s(quantized, args.batch, args.seconds)
        _, _, _, dynamic = engine_rows_per_s(quantized, [args.batch], args.seconds)
    base = fp32[args.batch]
    print("| MLP 784-512-256-10, batch %d | rows/s | / pg_infer float32 |" % args.batch)
    print("|---|---:|---:|")
    for name, rate in [("pg_infer float32", base), ("pg_infer int8", int8[args.batch]),
                       ("pg_infer bf16", bf16[args.batch]), ("pg_infer fp16 (stored only)", fp16[args.batch]),
                       ("ONNX Runtime float32", ort_fp32),
                       ("ONNX Runtime int8 (quantize_dynamic)", ort_int8),
                       ("pg_infer on the quantize_dynamic file", dynamic[args.batch])]:
        print("| %s | %.0f | %.2fx |" % (name, rate, rate / base))
    print("pg_infer / ONNX Runtime on the quantize_dynamic file: %.2fx" % (dynamic[args.batch] / ort_int8))
    print()


def file_table(args, batches, title, files):
    """Quantized files (name, float32 original, fixture) in the engine and in ONNX Runtime,
    against the engine's float32 on the original."""
    print("| %s | batch | pg_infer float32 rows/s | pg_infer on the file | / float32 | "
          "ONNX Runtime on the file | / pg_infer float32 |" % title)
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, original, fixture in files:
        path = os.path.join(QUANT, fixture, "model.onnx")
        _, _, _, f32 = engine_rows_per_s(original, batches, args.seconds)
        _, _, _, q8 = engine_rows_per_s(path, batches, args.seconds)
        for b in batches:
            ort_q8 = ort_rows_per_s(path, b, args.seconds)
            print("| %s | %d | %.0f | %.0f | %.2fx | %.0f | %.2fx |" % (
                name, b, f32[b], q8[b], q8[b] / f32[b], ort_q8, ort_q8 / f32[b]))
    print()


def cnn_table(args, batches):
    """The CNNs at {"precision": "int8"} against float32."""
    print('| CNN, options {"precision": "int8"} | batch | pg_infer float32 rows/s | pg_infer int8 | / float32 |')
    print("|---|---:|---:|---:|---:|")
    for name, path in CNNS:
        _, _, _, f32 = engine_rows_per_s(path, batches, args.seconds)
        _, _, _, i8 = engine_rows_per_s(path, batches, args.seconds, '{"precision": "int8"}')
        for b in batches:
            print("| %s | %d | %.0f | %.0f | %.2fx |" % (name, b, f32[b], i8[b], i8[b] / f32[b]))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per measurement")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--small-batch", type=int, default=16)
    ap.add_argument("--tables", default="mlp,qdq,cnn,dynamic",
                    help="which tables to time, of mlp, qdq, cnn and dynamic")
    args = ap.parse_args()
    tables = args.tables.split(",")
    batches = [args.batch, args.small_batch]
    subprocess.run(["make", "-s", "-C", ROOT, "test/bench/bench_engine"], check=True)
    cpu, _, _, _ = engine_rows_per_s(MLP, [1], 0.01)
    print("Machine: %s" % machine())
    print("Engine CPU kernels: %s; ONNX Runtime %s, 1 thread; %s; load average %.2f before" % (
        cpu, ort.__version__, datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), os.getloadavg()[0]))
    print()
    if "mlp" in tables:
        mlp_table(args)
    if "qdq" in tables:
        file_table(args, batches, "quantize_static file (per channel)", QDQ)
    if "cnn" in tables:
        cnn_table(args, batches)
    if "dynamic" in tables:
        file_table(args, batches, "quantize_dynamic file (ConvInteger)", DYNAMIC)
    print("Load average after: %.2f" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
