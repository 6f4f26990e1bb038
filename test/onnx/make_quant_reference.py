#!/usr/bin/env python3
"""Writes ONNX Runtime's outputs of the QOperator and quantize_dynamic
fixtures of test/onnx/quant on more rows than their test data sets hold,
so that test/e2e/test_onnx_quant.py checks them without ONNX Runtime:
test/onnx/quant/NAME/ort_rows.pb, a float tensor [rows, outputs].

Rows: the first 1000 MNIST test images (LeNet, MLP; pixels / 255) and 200
images of numpy.random.default_rng(2027).standard_normal (ResNet-style
CNN).  Each row is run alone (batch 1): DynamicQuantizeLinear quantizes a
whole tensor, so ONNX Runtime's result for a row depends on the rows
batched with it, and pg_infer quantizes each row alone.

    /work/venv-engine/bin/python test/onnx/make_quant_reference.py
"""
import gzip
import os

import numpy as np
import onnxruntime as ort
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(os.path.dirname(os.path.dirname(HERE)), "..", "shared")
MNIST_ROWS = 1000
CIFAR_ROWS = 200


def rows_of(model):
    """The rows a fixture's reference covers, as the model takes them."""
    if model == "resnet":
        return np.random.default_rng(2027).standard_normal((CIFAR_ROWS, 3, 32, 32)).astype(np.float32)
    with gzip.open(os.path.join(SHARED, "data", "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)[:MNIST_ROWS * 784]
    images = raw.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return images.reshape(-1, 784) if model == "mlp" else images


def main():
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    for model in ("lenet", "mlp", "resnet"):
        rows = rows_of(model)
        for form in ("qoperator", "dynamic"):
            folder = os.path.join(HERE, "quant", "%s_%s" % (model, form))
            sess = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                        providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name
            out = np.concatenate([sess.run(None, {name: rows[i:i + 1]})[0] for i in range(len(rows))])
            with open(os.path.join(folder, "ort_rows.pb"), "wb") as f:
                f.write(numpy_helper.from_array(out.astype(np.float32), "ort_rows").SerializeToString())
            print("%s_%s: %d rows" % (model, form, len(out)))


if __name__ == "__main__":
    main()
