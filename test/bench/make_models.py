#!/usr/bin/env python3
"""Export the CPU-engine benchmark models of test/bench/engine_vs_ort.py.

Run by hand, in a virtual environment with torch and onnx, when the models
must change (never in CI):

    python3 test/bench/make_models.py

writes test/bench/models/<name>.onnx, each with a dynamic batch axis, from
seeded random weights (BatchNorm statistics made non-trivial, eval mode);
TorchScript exporter, opset 17:

  resnet_cifar   3x32x32: Conv+BN+ReLU stem (16), three residual stages of
                 one basic block each (16, 32, 64 channels; the second and
                 third downsample by stride 2 with a 1x1 Conv+BN projection),
                 global average pooling, Linear to 10.  About 78K parameters.
  mobilenet      3x32x32: Conv+BN+ReLU6 stem (stride 2), five depthwise 3x3 +
                 pointwise 1x1 blocks (BN, ReLU6; strides 1, 2, 1, 2, 1; 32 to
                 128 channels), global average pooling, Linear to 10.
  mlp            784-512-256-10, Linear+ReLU (Gemm).

The other two models of the benchmark are not made here: the shared LeNet-5
(../shared/models/mnist_cnn_pytorch.onnx) and the transformer encoder layer
of the ONNX tests (test/onnx/models/transformer_encoder_opset17).
"""

import os
import warnings

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetCifar(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU())
        self.stages = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2),
                                    BasicBlock(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        y = self.stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def separable(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
        nn.ReLU6(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())


class MobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
            separable(16, 32, 1), separable(32, 64, 2), separable(64, 64, 1),
            separable(64, 128, 2), separable(128, 128, 1))
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        y = self.features(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def make_mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def randomize_bn(net, gen):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))


def export(name, net, shape):
    torch.manual_seed(0)
    net.eval()
    randomize_bn(net, torch.Generator().manual_seed(1))
    x = torch.randn([2] + shape)
    path = os.path.join(OUT, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), path, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    onnx.checker.check_model(onnx.load(path))
    params = sum(p.numel() for p in net.parameters())
    print("%-14s %8d parameters  %7d bytes" % (name, params, os.path.getsize(path)))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    export("resnet_cifar", ResNetCifar(), [3, 32, 32])
    torch.manual_seed(0)
    export("mobilenet", MobileNet(), [3, 32, 32])
    torch.manual_seed(0)
    export("mlp", make_mlp(), [784])


if __name__ == "__main__":
    main()
