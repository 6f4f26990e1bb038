"""Writes large models for tests and benchmarks without the onnx or torch
packages: a multi-layer perceptron with random weights, as an ONNX file
(weights in the file's raw_data, or in an external data file) or as a
native graph JSON with safetensors weights.  The weights are written piece
by piece from a seeded generator, so a model of gigabytes never sits in
memory, and mlp_reference() computes the model's output from the files."""
import json
import os
import struct

import numpy as np

BLOCK_ROWS_BYTES = 16 << 20     # weights are generated and written this much at a time
ONNX_DTYPES = {"float32": 1, "float16": 10}
SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16"}


def mlp_widths(target_bytes, width=4096, inputs=256, outputs=10, itemsize=4):
    """Layer widths [inputs, width, ..., width, outputs] whose float weights take at least target_bytes."""
    widths = [inputs, width]
    while sum(a * b for a, b in zip(widths, widths[1:])) * itemsize < target_bytes:
        widths.append(width)
    return widths + [outputs]


def _weight_blocks(seed, fan_in, fan_out, dtype, transposed):
    """Layer weights as bytes, in row blocks: [fan_in, fan_out] (ONNX MatMul) or, transposed, [fan_out, fan_in]."""
    rng = np.random.default_rng(seed)
    rows, cols = (fan_out, fan_in) if transposed else (fan_in, fan_out)
    step = max(1, BLOCK_ROWS_BYTES // (cols * 4))
    for start in range(0, rows, step):
        n = min(step, rows - start)
        yield (rng.standard_normal((n, cols), dtype=np.float32) / np.sqrt(fan_in)).astype(dtype).tobytes()


def _bias(seed, n, dtype):
    return (np.random.default_rng(seed + 1).standard_normal(n, dtype=np.float32) * 0.01).astype(dtype).tobytes()


def _layers(widths, dtype, transposed):
    """(weight name, dims, byte length, block iterator) and (bias name, dims, length, bytes) per layer."""
    size = np.dtype(dtype).itemsize
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        dims = [b, a] if transposed else [a, b]
        yield (f"fc{i}.weight", dims, a * b * size, lambda i=i, a=a, b=b: _weight_blocks(i * 2, a, b, dtype, transposed))
        yield (f"fc{i}.bias", [b], b * size, lambda i=i, b=b: iter([_bias(i * 2, b, dtype)]))


# Protobuf: a message is a list of parts, each bytes or (length, function returning an iterator of bytes).
def _varint(n):
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _size(parts):
    return sum(p[0] if isinstance(p, tuple) else len(p) for p in parts)


def _int(field, n):
    return [_varint(field << 3) + _varint(n)]


def _len(field, parts):
    if isinstance(parts, (bytes, str)):
        parts = [parts.encode() if isinstance(parts, str) else parts]
    return [_varint(field << 3 | 2) + _varint(_size(parts))] + list(parts)


def _value_info(name, dims):
    shape = []
    for d in dims:
        shape += _len(1, _len(2, d) if isinstance(d, str) else _int(1, d))
    return _len(1, name) + _len(2, _len(1, _int(1, 1) + _len(2, shape)))


def _tensor(name, dims, dtype, data, external):
    parts = []
    for d in dims:
        parts += _int(1, d)
    parts += _int(2, ONNX_DTYPES[dtype]) + _len(8, name)
    if external is None:
        return parts + _len(9, [data])
    location, offset, length = external
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        parts += _len(13, _len(1, key) + _len(2, value))
    return parts + _int(14, 1)


def write_mlp_onnx(path, widths, dtype="float32", external=None):
    """Writes the MLP as an ONNX file (MatMul, Add, Relu; opset 13) at path.
    external: None (weights in the file) or the name of the external data
    file, written beside path.  Returns the bytes written in all."""
    nodes, inits, prev = [], [], "x"
    ext_file = open(os.path.join(os.path.dirname(path), external), "wb") if external else None
    try:
        for name, dims, length, blocks in _layers(widths, dtype, transposed=False):
            if ext_file is not None:
                offset = ext_file.tell()
                for block in blocks():
                    ext_file.write(block)
                inits.append(_len(5, _tensor(name, dims, dtype, None, (external, offset, length))))
            else:
                inits.append(_len(5, _tensor(name, dims, dtype, (length, blocks), None)))
        ext_bytes = ext_file.tell() if ext_file else 0
    finally:
        if ext_file is not None:
            ext_file.close()
    last = len(widths) - 2
    for i in range(last + 1):
        ops = [("MatMul", [prev, f"fc{i}.weight"], f"mm{i}"), ("Add", [f"mm{i}", f"fc{i}.bias"], f"fc{i}")]
        if i < last:
            ops.append(("Relu", [f"fc{i}"], f"relu{i}"))
        for op, ins, out in ops:
            node = []
            for x in ins:
                node += _len(1, x)
            nodes.append(_len(1, node + _len(2, out) + _len(3, out) + _len(4, op)))
            prev = out
    graph = [p for n in nodes for p in n] + _len(2, "mlp") + [p for t in inits for p in t]
    graph += _len(11, _value_info("x", ["batch", widths[0]])) + _len(12, _value_info(prev, ["batch", widths[-1]]))
    model = _int(1, 8) + _len(2, "onnx_writer") + _len(8, _int(2, 13)) + _len(7, graph)
    with open(path, "wb") as f:
        for part in model:
            if isinstance(part, tuple):
                for block in part[1]():
                    f.write(block)
            else:
                f.write(part)
        return f.tell() + ext_bytes


def write_mlp_native(directory, widths, dtype="float32"):
    """Writes the MLP as model.json (Dense, Relu) and model.safetensors in
    directory; returns the safetensors file's size."""
    header, offset, layers = {}, 0, list(_layers(widths, dtype, transposed=True))
    for name, dims, length, _ in layers:
        header[name] = {"dtype": SAFETENSORS_DTYPES[dtype], "shape": dims, "data_offsets": [offset, offset + length]}
        offset += length
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    nodes, prev, last = [], "x", len(widths) - 2
    for i in range(last + 1):
        nodes.append({"name": f"fc{i}", "op": "Dense", "inputs": [prev, f"fc{i}.weight", f"fc{i}.bias"]})
        prev = f"fc{i}"
        if i < last:
            nodes.append({"name": f"relu{i}", "op": "Relu", "inputs": [prev]})
            prev = f"relu{i}"
    graph = {"format": "pg_infer", "version": 1, "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, widths[0]]}],
             "outputs": [{"name": prev}], "nodes": nodes}
    with open(os.path.join(directory, "model.json"), "w") as f:
        json.dump(graph, f)
    with open(os.path.join(directory, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for _, _, _, blocks in layers:
            for block in blocks():
                f.write(block)
        return f.tell()


def mlp_reference(widths, x, dtype="float32", native=False):
    """The output of the ONNX (or native) MLP for rows x [n, widths[0]],
    computed layer by layer from the generator."""
    x = np.asarray(x, dtype=np.float64)
    layers = list(_layers(widths, dtype, transposed=native))
    for i in range(0, len(layers), 2):
        w = np.frombuffer(b"".join(layers[i][3]()), dtype=dtype).reshape(layers[i][1]).astype(np.float64)
        bias = np.frombuffer(b"".join(layers[i + 1][3]()), dtype=dtype)
        x = x @ (w.T if native else w) + bias
        if i + 2 < len(layers):
            x = np.maximum(x, 0)
    return x
