#!/usr/bin/env python3
"""Writes test/onnx/stored-malformed: small models in the form a stored
int8 version keeps (src/format/onnx_compact.c: INT8 codes with FLOAT column
maxima NAME:int8_amax, metadata "pg_infer.stored_weights" = "int8"), each
damaged in one way: the metadata's value, maxima without codes, codes of
FLOAT type, maxima of the wrong shape or type, a maximum negative, NaN or
infinite, a code of -128; and EXPECTED: one line per file, its name, a
fragment of the message the importer must refuse it with, and "corrupt"
(PI_ERR_CORRUPT, ERROR 22P03 in SQL).  One good file (good_conv.onnx, a
Conv and a Gemm stored so) must import; test/onnx/test_onnx_reject reads
them.  Run by hand when they must change (needs the onnx package):

    /work/venv-engine/bin/python test/onnx/make_stored_malformed.py
"""
import os
import shutil

import numpy as np
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stored-malformed")


def codes(name, dims, values, dtype=TensorProto.INT8):
    """Codes in int32_data, so that any value fits (FLOAT ones in float_data)."""
    t = helper.make_tensor(name, dtype, dims, values)
    return t


def maxima(name, dims, values, dtype=TensorProto.FLOAT):
    return helper.make_tensor(name + ":int8_amax", dtype, dims, values)


def save(name, inits, metadata="int8"):
    """x [N, 2, 4, 4] -> Conv by w [3, 2, 3, 3] (pads 1) -> Flatten -> Gemm by v [48, 2] (columns last)."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"]),
             helper.make_node("Gemm", ["f", "v"], ["y"])]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_stored_malformed")
    model.ir_version = 8
    if metadata is not None:
        helper.set_model_props(model, {"pg_infer.stored_weights": metadata})
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    w = [(i * 37) % 255 - 127 for i in range(54)]
    v = [(i * 11) % 255 - 127 for i in range(96)]
    good_w = [codes("w", [3, 2, 3, 3], w), maxima("w", [3, 1, 1, 1], [0.5, 1.0, 2.0])]
    good_v = [codes("v", [48, 2], v), maxima("v", [1, 2], [0.25, 4.0])]
    save("good_conv", good_w + good_v)
    cases = [
        ("metadata_other_value", good_w + good_v, "int4", "is \"int4\", expected \"int8\""),
        ("maxima_without_codes", good_w + [helper.make_tensor("v", TensorProto.FLOAT, [48, 2], [0.0] * 96),
                                           maxima("v", [1, 2], [0.25, 4.0])], "int8",
         "have no INT8 initializer \"v\""),
        ("maxima_int8", good_v + [codes("w", [3, 2, 3, 3], w),
                                  maxima("w", [3, 1, 1, 1], [1, 1, 1], TensorProto.INT8)], "int8",
         "FLOAT column maxima"),
        ("maxima_middle_axis", good_v + [codes("w", [3, 2, 3, 3], w), maxima("w", [1, 2, 1, 1], [1.0, 1.0])],
         "int8", "FLOAT column maxima"),
        ("maxima_rank_2", good_v + [codes("w", [3, 2, 3, 3], w), maxima("w", [3, 1], [1.0, 1.0, 1.0])],
         "int8", "FLOAT column maxima"),
        ("maxima_too_few", good_w + [codes("v", [48, 2], v), maxima("v", [1, 1], [1.0])], "int8",
         "FLOAT column maxima"),
        ("maximum_negative", good_v + [codes("w", [3, 2, 3, 3], w), maxima("w", [3, 1, 1, 1], [0.5, -1.0, 2.0])],
         "int8", "column maximum -1 at 1"),
        ("maximum_nan", good_v + [codes("w", [3, 2, 3, 3], w), maxima("w", [3, 1, 1, 1], [0.5, 1.0, np.nan])],
         "int8", "column maximum nan at 2"),
        ("maximum_infinite", good_w + [codes("v", [48, 2], v), maxima("v", [1, 2], [np.inf, 4.0])], "int8",
         "column maximum inf at 0"),
        ("code_minus_128", good_v + [codes("w", [3, 2, 3, 3], [-128] + w[1:]), maxima("w", [3, 1, 1, 1], [1.0] * 3)],
         "int8", "has code -128 at 0"),
    ]
    with open(os.path.join(OUT, "EXPECTED"), "w") as f:
        for name, inits, metadata, fragment in cases:
            save(name, inits, metadata)
            f.write("%s\t%s\tcorrupt\n" % (name, fragment))
    print("%d malformed models and good_conv.onnx in %s" % (len(cases), os.path.relpath(OUT)))


if __name__ == "__main__":
    main()
