#!/usr/bin/env python3
"""Writes test/onnx/quant-malformed: small QDQ models, each with one bad
quantization parameter (scales zero, negative, NaN or infinite; zero points
outside their type, which the tensor reader refuses; an axis out of range; scales and zero points of
mismatched shapes), on a constant weight (folded at import) or on an
activation, and EXPECTED: one line per file, its name and a fragment of the
message the importer must refuse it with (PI_ERR_INVALID; ERROR 22023 in
SQL).

test/onnx/test_onnx_reject reads them.  Run by hand when they must change
(needs the onnx package):

    /work/venv-engine/bin/python test/onnx/make_quant_malformed.py
"""
import os
import shutil

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant-malformed")
W = np.arange(-6, 6, dtype=np.int8).reshape(4, 3)


def tensor(name, dtype, dims, values):
    """A tensor with its values in the typed field (int32_data for 8-bit types), so any value fits."""
    t = TensorProto(name=name, data_type=dtype, dims=dims)
    if dtype == TensorProto.FLOAT:
        t.float_data.extend(values)
    else:
        t.int32_data.extend(values)
    return t


def save(name, nodes, inits):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="make_quant_malformed")
    model.ir_version = 8
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def weight_case(name, scale, zero_point, axis=1):
    """Y = X @ DequantizeLinear(W, scale, zero_point): the weight is folded at import."""
    codes = W.astype(np.uint8) if zero_point is not None and zero_point.data_type == TensorProto.UINT8 else W
    inits = [numpy_helper.from_array(codes, "Wq"), scale]
    inputs = ["Wq", "s"]
    if zero_point is not None:
        inits.append(zero_point)
        inputs.append("z")
    save(name, [helper.make_node("DequantizeLinear", inputs, ["W"], axis=axis),
                helper.make_node("MatMul", ["X", "W"], ["Y"])], inits)


def activation_case(name, scale, zero_point, axis=1):
    """Y = DequantizeLinear(QuantizeLinear(X)), with the bad parameters on QuantizeLinear."""
    inits = [scale, numpy_helper.from_array(np.float32(0.1), "s2"),
             numpy_helper.from_array(np.uint8(0), "z2")]
    inputs = ["X", "s"]
    if zero_point is not None:
        inits.append(zero_point)
        inputs.append("z")
    save(name, [helper.make_node("QuantizeLinear", inputs, ["q"], axis=axis),
                helper.make_node("DequantizeLinear", ["q", "s2", "z2"], ["Y"])], inits)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    f = TensorProto.FLOAT
    expected = []
    for kind, make in (("weight", weight_case), ("activation", activation_case)):
        for what, value, fragment in (("zero", 0.0, "has scale 0,"), ("negative", -0.5, "has scale -0.5,"),
                                      ("nan", float("nan"), "has scale nan,"),
                                      ("infinite", float("inf"), "has scale inf,")):
            make("%s_scale_%s" % (kind, what), tensor("s", f, [], [value]), None)
            expected.append(("%s_scale_%s" % (kind, what), fragment))
        make("%s_zero_point_over" % kind, tensor("s", f, [], [0.1]), tensor("z", TensorProto.UINT8, [], [300]))
        expected.append(("%s_zero_point_over" % kind, "element 0 is 300, outside [0, 255] of its type UINT8"))
        make("%s_zero_point_under" % kind, tensor("s", f, [], [0.1]), tensor("z", TensorProto.INT8, [], [-129]))
        expected.append(("%s_zero_point_under" % kind, "element 0 is -129, outside [-128, 127] of its type INT8"))
        make("%s_axis_out_of_range" % kind, tensor("s", f, [3], [0.1, 0.2, 0.3]), None, axis=2)
        expected.append(("%s_axis_out_of_range" % kind, "has axis 2, out of range for an input of rank 2"))
        make("%s_scale_count" % kind, tensor("s", f, [2], [0.1, 0.2]), None)
        expected.append(("%s_scale_count" % kind, "has 2 scales for"))
        make("%s_zero_point_shape" % kind, tensor("s", f, [3], [0.1, 0.2, 0.3]),
             tensor("z", TensorProto.INT8, [2], [0, 0]))
        expected.append(("%s_zero_point_shape" % kind, "has 3 scales but 2 zero points of another shape"))
    with open(os.path.join(OUT, "EXPECTED"), "w") as out:
        for name, fragment in expected:
            out.write("%s\t%s\n" % (name, fragment))


if __name__ == "__main__":
    main()
