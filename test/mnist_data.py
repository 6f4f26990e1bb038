"""Reads the MNIST test set (IDX format, gzip) that ../shared/data/mnist holds."""
import gzip
import pathlib
import struct

import numpy as np


def load_mnist_test_set(directory):
    """The 10,000 test images (uint8 [n, 784]) and their labels (uint8 [n])."""
    directory = pathlib.Path(directory)
    with gzip.open(directory / "t10k-images-idx3-ubyte.gz", "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise ValueError(f"not an IDX image file: magic {magic}")
        images = np.frombuffer(f.read(count * rows * cols), dtype=np.uint8).reshape(count, rows * cols)
    with gzip.open(directory / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        magic, count = struct.unpack(">II", f.read(8))
        if magic != 2049:
            raise ValueError(f"not an IDX label file: magic {magic}")
        labels = np.frombuffer(f.read(count), dtype=np.uint8)
    return images, labels
