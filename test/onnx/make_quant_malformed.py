#!/usr/bin/env python3
"""Writes test/onnx/quant-malformed: small QDQ models, each with one bad
quantization parameter (scales zero, negative, NaN or infinite; zero points
outside their type, which the tensor reader refuses; an axis out of range; scales and zero points of
mismatched shapes), on a constant weight (folded at import) or on an
activation; the same in QOperator (QLinearMatMul, QLinearConv, QGemm) and
quantize_dynamic (MatMulInteger, ConvInteger) models, and those ops given
inputs of the wrong type; and EXPECTED: one line per file, its name, a
fragment of the message the importer must refuse it with and, for a wrong
type, "dtype" (PI_ERR_INVALID, ERROR 22023 in SQL; with "dtype"
PI_ERR_DTYPE, ERROR 42804).

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


def save(name, nodes, inits, shape=("N", 4)):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    opsets = [helper.make_opsetid("", 13)]
    if any(n.domain == "com.microsoft" for n in nodes):
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="make_quant_malformed")
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


def qoperator_case(name, op, **bad):
    """X -> QuantizeLinear -> QLinearMatMul, QLinearConv or QGemm -> DequantizeLinear -> Y,
    with the parameters in bad replacing good ones (ws: weight scales, wz: weight zero
    points, w: weight codes, xs, xz: input, ys, yz: output, b: bias)."""
    conv = op == "QLinearConv"
    f = TensorProto.FLOAT
    p = {"xs": tensor("xs", f, [], [0.1]), "xz": tensor("xz", TensorProto.UINT8, [], [128]),
         "w": numpy_helper.from_array(W.reshape(3, 1, 2, 2) if conv else W.T.copy() if op == "QGemm" else W, "w"),
         "ws": tensor("ws", f, [3], [0.01, 0.02, 0.03]), "wz": tensor("wz", TensorProto.INT8, [3], [0, 0, 0]),
         "ys": tensor("ys", f, [], [0.05]), "yz": tensor("yz", TensorProto.UINT8, [], [128]),
         "b": tensor("b", TensorProto.INT32, [3], [1, 2, 3])}
    p.update(bad)
    for key, t in p.items():
        t.name = key
    if op == "QLinearMatMul":
        node = helper.make_node(op, ["q", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["qy"])
    elif conv:
        node = helper.make_node(op, ["q", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["qy"], kernel_shape=[2, 2])
    else:
        node = helper.make_node(op, ["q", "xs", "xz", "w", "ws", "wz", "b", "ys", "yz"], ["qy"], transB=1,
                                domain="com.microsoft")
    save(name, [helper.make_node("QuantizeLinear", ["X", "xs", "xz"], ["q"]), node,
                helper.make_node("DequantizeLinear", ["qy", "ys", "yz"], ["Y"])], list(p.values()),
         shape=("N", 1, 3, 3) if conv else ("N", 4))


def dynamic_case(name, op, **bad):
    """quantize_dynamic's pattern: DynamicQuantizeLinear(X), MatMulInteger or ConvInteger
    by the weight codes, Cast to float, Mul by Mul(X's scale, the weight's scale)."""
    conv = op == "ConvInteger"
    p = {"w": numpy_helper.from_array(W.reshape(3, 1, 2, 2) if conv else W, "w"),
         "ws": tensor("ws", TensorProto.FLOAT, [], [0.01]), "wz": tensor("wz", TensorProto.INT8, [], [0])}
    p.update(bad)
    for key, t in p.items():
        t.name = key
    save(name, [helper.make_node("DynamicQuantizeLinear", ["X"], ["xq", "xs", "xz"]),
                helper.make_node("Mul", ["xs", "ws"], ["s"]),
                helper.make_node(op, ["xq", "w", "xz", "wz"], ["acc"]),
                helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
                helper.make_node("Mul", ["accf", "s"], ["Y"])], list(p.values()),
         shape=("N", 1, 3, 3) if conv else ("N", 4))


def operator_cases():
    """The QOperator and quantize_dynamic cases: (name, fragment, kind) for EXPECTED."""
    f = TensorProto.FLOAT
    cases = []

    def add(name, make, op, fragment, kind="", **bad):
        make(name, op, **bad)
        cases.append((name, fragment, kind))

    add("qlinear_matmul_weight_scale_zero", qoperator_case, "QLinearMatMul", "has scale 0,",
        ws=tensor("ws", f, [3], [0.01, 0.0, 0.03]))
    add("qlinear_matmul_output_scale_negative", qoperator_case, "QLinearMatMul", "has scale -0.5,",
        ys=tensor("ys", f, [], [-0.5]))
    add("qlinear_matmul_input_scale_nan", qoperator_case, "QLinearMatMul", "has scale nan,",
        xs=tensor("xs", f, [], [float("nan")]))
    add("qlinear_matmul_input_zero_point_under", qoperator_case, "QLinearMatMul",
        "element 0 is -129, outside [-128, 127] of its type INT8", xz=tensor("xz", TensorProto.INT8, [], [-129]))
    add("qlinear_matmul_float_weight", qoperator_case, "QLinearMatMul", "input 0 must hold integer codes", "dtype",
        w=numpy_helper.from_array(W.astype(np.float32), "w"))
    add("qlinear_matmul_weight_zero_point_type", qoperator_case, "QLinearMatMul",
        "zero point is of ONNX type 2, but its input of type 3", "dtype",
        wz=tensor("wz", TensorProto.UINT8, [3], [0, 0, 0]))
    add("qlinear_conv_weight_scale_infinite", qoperator_case, "QLinearConv", "has scale inf,",
        ws=tensor("ws", f, [3], [0.01, float("inf"), 0.03]))
    add("qlinear_conv_weight_scale_count", qoperator_case, "QLinearConv", "has 2 scales for",
        ws=tensor("ws", f, [2], [0.01, 0.02]), wz=tensor("wz", TensorProto.INT8, [2], [0, 0]))
    add("qlinear_conv_weight_zero_point_shape", qoperator_case, "QLinearConv",
        "has 3 scales but 2 zero points of another shape", wz=tensor("wz", TensorProto.INT8, [2], [0, 0]))
    add("qlinear_conv_integer_scale", qoperator_case, "QLinearConv", "scale must be a float tensor", "dtype",
        ws=tensor("ws", TensorProto.INT32, [3], [1, 1, 1]))
    add("qlinear_conv_float_bias", qoperator_case, "QLinearConv", "input 0 must hold integer codes", "dtype",
        b=tensor("b", f, [3], [1.0, 2.0, 3.0]))
    add("qgemm_output_zero_point_over", qoperator_case, "QGemm",
        "element 0 is 300, outside [0, 255] of its type UINT8", yz=tensor("yz", TensorProto.UINT8, [], [300]))
    add("qgemm_weight_scale_negative", qoperator_case, "QGemm", "has scale -0.02,",
        ws=tensor("ws", f, [3], [0.01, -0.02, 0.03]))
    add("matmul_integer_weight_scale_zero", dynamic_case, "MatMulInteger", "has scale 0,",
        ws=tensor("ws", f, [], [0.0]))
    add("matmul_integer_weight_zero_point_over", dynamic_case, "MatMulInteger",
        "element 0 is 200, outside [-128, 127] of its type INT8", wz=tensor("wz", TensorProto.INT8, [], [200]))
    add("matmul_integer_zero_point_type", dynamic_case, "MatMulInteger",
        "zero point is of ONNX type 2, but its input of type 3", "dtype",
        wz=tensor("wz", TensorProto.UINT8, [], [0]))
    add("matmul_integer_float_weight", dynamic_case, "MatMulInteger", "input 0 must hold integer codes", "dtype",
        w=numpy_helper.from_array(W.astype(np.float32), "w"))
    add("conv_integer_weight_scale_nan", dynamic_case, "ConvInteger", "has scale nan,",
        ws=tensor("ws", f, [], [float("nan")]))
    return cases


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
        for name, fragment, kind in operator_cases():
            out.write("%s\t%s%s\n" % (name, fragment, "\t" + kind if kind else ""))


if __name__ == "__main__":
    main()
