"""Writes safetensors files from numpy arrays, for tests and benchmarks
(no dependency on the safetensors package)."""
import json
import struct

import numpy as np


def safetensors_bytes(tensors):
    """Serializes {name: float32 ndarray} in the safetensors layout."""
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)
