#!/usr/bin/env python3
"""Writes test/onnx/quant: ONNX Runtime's quantized versions of the shared
LeNet (../shared/models/mnist_cnn_pytorch.onnx), of the bench MLP and of the
ResNet-style CNN (test/bench/models), each with one test data set whose
outputs are ONNX Runtime's, in the layout of ONNX's backend tests
(model.onnx, test_data_set_0/input_0.pb, output_0.pb).  Prints ONNX
Runtime's MNIST accuracy of each quantized LeNet on the 10,000 test images.

    python3 test/onnx/make_quant_models.py   (needs onnx, onnxruntime, numpy)

Forms: quantize_static in QDQ form (per channel and per tensor; int8 or
uint8 weights; uint8 or int8 activations) and in QOperator form, and
quantize_dynamic.  Static quantization is calibrated on the first 500 MNIST
test images (LeNet, MLP) or on seeded random images (ResNet-style CNN); the
test data are other images.
"""
import gzip
import os
import shutil
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper, version_converter
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT = os.path.join(HERE, "quant")
CALIBRATION = 500
ROWS = 16


def mnist_images():
    with gzip.open(os.path.join(SHARED, "data", "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return raw.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0


def mnist_labels():
    with gzip.open(os.path.join(SHARED, "data", "mnist", "t10k-labels-idx1-ubyte.gz")) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=8)


class Reader(CalibrationDataReader):
    """Feeds calibration rows one batch of 50 at a time."""

    def __init__(self, name, data):
        self.batches = iter([{name: data[i:i + 50]} for i in range(0, len(data), 50)])

    def get_next(self):
        return next(self.batches, None)


def write_case(name, model_path, input_name, rows):
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    shutil.copy(model_path, os.path.join(d, "model.onnx"))
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    out = sess.run(None, {input_name: rows})[0]
    with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(rows, input_name).SerializeToString())
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(out, sess.get_outputs()[0].name).SerializeToString())


def accuracy(model_path, input_name, images, labels):
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    correct = 0
    for i in range(0, len(images), 1000):
        out = sess.run(None, {input_name: images[i:i + 1000]})[0]
        correct += int((out.argmax(axis=1) == labels[i:i + 1000]).sum())
    return correct


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    images = mnist_images()
    labels = mnist_labels()
    rng = np.random.default_rng(2026)
    cifar = rng.standard_normal((CALIBRATION + ROWS, 3, 32, 32)).astype(np.float32)
    models = [
        ("lenet", os.path.join(SHARED, "models", "mnist_cnn_pytorch.onnx"), "input",
         images[:CALIBRATION], images[CALIBRATION:CALIBRATION + ROWS]),
        ("mlp", os.path.join(ROOT, "test", "bench", "models", "mlp.onnx"), "x",
         images[:CALIBRATION].reshape(-1, 784), images[CALIBRATION:CALIBRATION + ROWS].reshape(-1, 784)),
        ("resnet", os.path.join(ROOT, "test", "bench", "models", "resnet_cifar.onnx"), "x",
         cifar[:CALIBRATION], cifar[CALIBRATION:CALIBRATION + ROWS // 2]),
    ]
    # name suffix, format, per channel, weight type, activation type
    static_forms = [
        ("qdq_channel", QuantFormat.QDQ, True, QuantType.QInt8, QuantType.QUInt8),
        ("qdq_tensor_s8", QuantFormat.QDQ, False, QuantType.QInt8, QuantType.QInt8),
        ("qdq_uint8_weights", QuantFormat.QDQ, False, QuantType.QUInt8, QuantType.QUInt8),
        ("qoperator", QuantFormat.QOperator, True, QuantType.QInt8, QuantType.QUInt8),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for model, path, input_name, calibration, rows in models:
            prepared = os.path.join(tmp, model + "_pre.onnx")
            upgraded = os.path.join(tmp, model + "_13.onnx")
            # per-axis quantization needs opset 13 (the LeNet export is opset 10)
            original = onnx.load(path)
            if original.opset_import[0].version < 13:
                original = version_converter.convert_version(original, 13)
            onnx.save(original, upgraded)
            quant_pre_process(upgraded, prepared)
            for suffix, fmt, per_channel, wtype, atype in static_forms:
                if model == "mlp" and suffix not in ("qdq_channel", "qoperator"):
                    continue		# the MLP's 2 MB keep the fixtures to two forms
                out = os.path.join(tmp, "%s_%s.onnx" % (model, suffix))
                quantize_static(prepared, out, Reader(input_name, calibration), quant_format=fmt,
                                per_channel=per_channel, weight_type=wtype, activation_type=atype)
                write_case("%s_%s" % (model, suffix), out, input_name, rows)
                if model == "lenet":
                    print("%s_%s: ONNX Runtime MNIST accuracy %d / 10000" % (
                        model, suffix, accuracy(out, input_name, images, labels)))
            out = os.path.join(tmp, "%s_dynamic.onnx" % model)
            quantize_dynamic(prepared, out, weight_type=QuantType.QInt8)
            write_case("%s_dynamic" % model, out, input_name, rows[:1])


if __name__ == "__main__":
    main()
