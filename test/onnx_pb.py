"""Reads the TensorProto files of ONNX test data (input_*.pb, output_*.pb)
into numpy arrays, for tests that must not depend on the onnx package.
Handles what exporters write there: dims, data_type, raw_data or packed
float_data / int64_data, and string_data (an array of str objects)."""
import struct

import numpy as np

DTYPES = {1: "<f4", 6: "<i4", 7: "<i8", 9: "?", 11: "<f8"}


def _varint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def read_tensor(path):
    """The tensor in a TensorProto file as a numpy array."""
    buf = open(path, "rb").read()
    pos, dims, dtype, raw, floats, ints, strings = 0, [], None, None, [], [], []
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            if field == 1:
                dims.append(value)
            elif field == 2:
                dtype = value
            elif field == 7:
                ints.append(value)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            data = buf[pos:pos + length]
            pos += length
            if field == 1:
                p = 0
                while p < len(data):
                    value, p = _varint(data, p)
                    dims.append(value)
            elif field == 9:
                raw = data
            elif field == 6:
                strings.append(data.decode())
            elif field == 4:
                floats.extend(struct.unpack(f"<{len(data) // 4}f", data))
            elif field == 7:
                p = 0
                while p < len(data):
                    value, p = _varint(data, p)
                    ints.append(value - (1 << 64) if value >= 1 << 63 else value)
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"{path}: wire type {wire}")
    if dtype == 8:
        return np.array(strings, dtype=object).reshape(dims)
    if dtype not in DTYPES:
        raise ValueError(f"{path}: data type {dtype} is not handled")
    if raw is not None:
        array = np.frombuffer(raw, dtype=DTYPES[dtype])
    else:
        array = np.array(floats if dtype == 1 else ints, dtype=DTYPES[dtype])
    return array.reshape(dims)
