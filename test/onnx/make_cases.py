#!/usr/bin/env python3
"""Writes test/onnx/cases: small ONNX models built with onnx.helper that
exercise the importer's own work (opset forms, folding, lowering), each with
one test data set whose outputs are ONNX Runtime's, in the layout of ONNX's
backend tests (model.onnx, test_data_set_0/input_N.pb, output_N.pb).

    python3 test/onnx/make_cases.py     (needs onnx, onnxruntime, numpy)
"""
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
rng = np.random.default_rng(2026)
n = helper.make_node


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def const(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def io(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def case(name, nodes, inputs, outputs, inits, feeds, opset, ir=None, extra_opsets=()):
    ir = ir or (3 if opset < 8 else 4 if opset < 9 else 7 if opset < 13 else 8)
    # before IR 4 initializers are graph inputs too (the importer keeps them constant)
    listed = inputs + ([helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
                       if ir < 4 else [])
    graph = helper.make_graph(nodes, name, listed, outputs, inits)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="make_cases")
    model.ir_version = ir
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = sess.run(None, feeds)
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    for i, inp in enumerate(inputs):
        t = numpy_helper.from_array(feeds[inp.name], inp.name)
        with open(os.path.join(d, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
            f.write(t.SerializeToString())
    for i, (out, value) in enumerate(zip(outputs, results)):
        t = numpy_helper.from_array(value, out.name)
        with open(os.path.join(d, "test_data_set_0", f"output_{i}.pb"), "wb") as f:
            f.write(t.SerializeToString())


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    x4 = f32(3, 2, 7, 7)
    # zero Pad (input form) absorbed by a strided Conv, as TF/Keras exports do
    case("pad_conv_opset13",
         [n("Pad", ["x", "p"], ["xp"]), n("Conv", ["xp", "W", "B"], ["y"], strides=[2, 2])],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 4, 4, 4])],
         [const("p", [0, 0, 1, 0, 0, 0, 1, 2], np.int64), numpy_helper.from_array(f32(4, 2, 3, 3), "W"),
          numpy_helper.from_array(f32(4), "B")], {"x": x4}, 13)
    # Pad (attribute form) before a 1-D Conv that has pads of its own
    case("pad_conv1d_opset7",
         [n("Pad", ["x"], ["xp"], pads=[0, 0, 2, 0, 0, 1]), n("Conv", ["xp", "W"], ["y"], pads=[1, 0])],
         [io("x", ["N", 2, 9])], [io("y", ["N", 3, 11])],
         [numpy_helper.from_array(f32(3, 2, 3), "W")], {"x": f32(3, 2, 9)}, 7)
    # the PyTorch dynamic-batch pattern feeding a Gemm
    case("dynamic_batch_reshape_opset13",
         [n("Relu", ["x"], ["r"]), n("Shape", ["r"], ["s"]), n("Gather", ["s", "i0"], ["b"], axis=0),
          n("Unsqueeze", ["b", "ax"], ["b1"]), n("Concat", ["b1", "m1"], ["t"], axis=0),
          n("Reshape", ["r", "t"], ["f"]), n("Gemm", ["f", "W", "B"], ["y"], transB=1)],
         [io("x", ["batch", 2, 7, 7])], [io("y", ["batch", 5])],
         [const("i0", 0, np.int64), const("ax", [0], np.int64), const("m1", [-1], np.int64),
          numpy_helper.from_array(f32(5, 98), "W"), numpy_helper.from_array(f32(5), "B")], {"x": x4}, 13)
    # Softmax/LogSoftmax before opset 13: flatten from axis
    case("softmax_axis1_opset11",
         [n("Softmax", ["x"], ["y"], axis=1), n("LogSoftmax", ["x"], ["z"], axis=2)],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 2, 7, 7]), io("z", ["N", 2, 7, 7])],
         [], {"x": x4}, 11)
    # Split: attribute sizes (11), input sizes (13), num_outputs with a short last part (18)
    x2 = f32(3, 7)
    case("split_opset11", [n("Split", ["x"], ["a", "b"], axis=1, split=[3, 4])],
         [io("x", ["N", 7])], [io("a", ["N", 3]), io("b", ["N", 4])], [], {"x": x2}, 11)
    case("split_opset13", [n("Split", ["x", "s"], ["a", "b", "c"], axis=-1)],
         [io("x", ["N", 7])], [io("a", ["N", 1]), io("b", ["N", 2]), io("c", ["N", 4])],
         [const("s", [1, 2, 4], np.int64)], {"x": x2}, 13)
    case("split_num_outputs_opset18", [n("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)],
         [io("x", ["N", 7])], [io("a", ["N", 3]), io("b", ["N", 3]), io("c", ["N", 1])],
         [], {"x": x2}, 18)
    # reductions: axes attribute (11), ReduceSum axes input (13), ReduceMean axes input (18)
    case("reduce_opset11", [n("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0),
                            n("ReduceMax", ["x"], ["z"], axes=[-1])],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 2]), io("z", ["N", 2, 7, 1])], [], {"x": x4}, 11)
    case("reduce_opset18", [n("ReduceSum", ["x", "a"], ["y"], keepdims=1),
                            n("ReduceMean", ["x", "a"], ["z"], keepdims=0)],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 1, 7, 1]), io("z", ["N", 7])],
         [const("a", [1, 3], np.int64)], {"x": x4}, 18)
    # Clip: attributes (6), inputs with one bound omitted (13)
    case("clip_opset6", [n("Clip", ["x"], ["y"], min=-0.5, max=0.25)],
         [io("x", ["N", 7])], [io("y", ["N", 7])], [], {"x": x2}, 6)
    case("clip_opset13", [n("Clip", ["x", "", "hi"], ["y"])],
         [io("x", ["N", 7])], [io("y", ["N", 7])], [const("hi", 0.3)], {"x": x2}, 13)
    # TopK: k attribute (9), k input (11) with smallest values, two outputs
    case("topk_opset9", [n("TopK", ["x"], ["v", "i"], k=3, axis=1)],
         [io("x", ["N", 7])], [io("v", ["N", 3]), io("i", ["N", 3], TensorProto.INT64)], [], {"x": x2}, 9)
    case("topk_opset11", [n("TopK", ["x", "k"], ["v", "i"], axis=-1, largest=0)],
         [io("x", ["N", 7])], [io("v", ["N", 2]), io("i", ["N", 2], TensorProto.INT64)],
         [const("k", [2], np.int64)], {"x": x2}, 11)
    # Slice: attributes (9), inputs with negative steps and INT64 bounds (13)
    case("slice_opset9", [n("Slice", ["x"], ["y"], starts=[1, 2], ends=[2, 100], axes=[1, 3])],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 1, 7, 5])], [], {"x": x4}, 9)
    case("slice_opset13", [n("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 2, 4, 3])],
         [const("st", [-1, 0], np.int64), const("en", [np.iinfo(np.int64).min, 7], np.int64),
          const("ax", [2, 3], np.int64), const("sp", [-2, 3], np.int64)], {"x": x4}, 13)
    # Squeeze/Unsqueeze: attributes (11), inputs (13)
    case("unsqueeze_squeeze_opset11",
         [n("Unsqueeze", ["x"], ["u"], axes=[1, 3]), n("Squeeze", ["u"], ["y"], axes=[3])],
         [io("x", ["N", 7])], [io("y", ["N", 1, 7])], [], {"x": x2}, 11)
    case("unsqueeze_squeeze_opset13",
         [n("Unsqueeze", ["x", "a"], ["u"]), n("Squeeze", ["u", "b"], ["y"])],
         [io("x", ["N", 7])], [io("y", ["N", 7, 1])],
         [const("a", [-1, 1], np.int64), const("b", [1], np.int64)], {"x": x2}, 13)
    # variadic Sum/Mean/Max as chains, GlobalMaxPool, Flatten with leading ones
    case("variadic_globalmax_opset13",
         [n("Relu", ["x"], ["r"]), n("Sigmoid", ["x"], ["s"]),
          n("Sum", ["x", "r", "s"], ["a"]), n("Mean", ["x", "r", "s"], ["m"]), n("Max", ["a", "m", "W"], ["b"]),
          n("GlobalMaxPool", ["b"], ["g"]), n("Flatten", ["g"], ["y"], axis=1)],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 2])], [numpy_helper.from_array(f32(7), "W")], {"x": x4}, 13)
    # opset 7 BatchNormalization (spatial attribute) after a broadcasting Add of a per-channel constant
    case("add_bn_opset7",
         [n("Add", ["x", "b"], ["a"]),
          n("BatchNormalization", ["a", "s", "o", "m", "v"], ["y"], spatial=1, epsilon=1e-3)],
         [io("x", ["N", 2, 7, 7])], [io("y", ["N", 2, 7, 7])],
         [numpy_helper.from_array(f32(2, 1, 1), "b"), numpy_helper.from_array(f32(2), "s"),
          numpy_helper.from_array(f32(2), "o"), numpy_helper.from_array(f32(2), "m"),
          numpy_helper.from_array(np.abs(f32(2)) + 0.5, "v")], {"x": x4}, 7)
    # integer input: Gather of an embedding by run-time indices, integer Div truncating
    idx = rng.integers(0, 10, size=(3, 2)).astype(np.int64)
    case("integer_input_embedding_div_opset13",
         [n("Gather", ["E", "i"], ["e"]), n("Div", ["i", "two"], ["h"]),
          n("Cast", ["h"], ["hf"], to=TensorProto.FLOAT), n("Unsqueeze", ["hf", "ax"], ["hu"]),
          n("Mul", ["e", "hu"], ["y"])],
         [io("i", ["N", 2], TensorProto.INT64)], [io("y", ["N", 2, 4])],
         [numpy_helper.from_array(f32(10, 4), "E"), const("two", 2, np.int64), const("ax", [2], np.int64)],
         {"i": idx}, 13)
    # constants folded: ConstantOfShape, Range, Expand and Where on constants feeding a run-time Add
    case("folding_opset13",
         [n("ConstantOfShape", ["shp"], ["ones"], value=numpy_helper.from_array(np.array([1.5], np.float32))),
          n("Range", ["r0", "r1", "r2"], ["rg"]), n("Cast", ["rg"], ["rgf"], to=TensorProto.FLOAT),
          n("Mul", ["ones", "rgf"], ["c"]), n("Less", ["rgf", "three"], ["lt"]),
          n("Where", ["lt", "c", "ones"], ["w"]), n("Add", ["x", "w"], ["y"])],
         [io("x", ["N", 7])], [io("y", ["N", 7])],
         [const("shp", [7], np.int64), const("r0", 0, np.int64), const("r1", 7, np.int64),
          const("r2", 1, np.int64), const("three", 3.0)], {"x": x2}, 13)
    # lifted batch: attention with the batch moved to axis 1 and merged with 2 heads
    # ([4, N*2, 3]), a Shape-derived target naming the batch, Gemm over [4*N, 6]
    case("lifted_attention_opset18",
         [n("Transpose", ["x"], ["t"], perm=[1, 0, 2]), n("MatMul", ["t", "Wq"], ["q"]),
          n("Reshape", ["q", "heads"], ["qh"]), n("Transpose", ["qh"], ["qt"], perm=[1, 0, 2]),
          n("Transpose", ["qt"], ["kt"], perm=[0, 2, 1]), n("MatMul", ["qt", "kt"], ["sc"]),
          n("Reshape", ["sc", "split_heads"], ["s4"]), n("Shape", ["s4"], ["s4shape"]),
          n("Slice", ["s4shape", "z", "two"], ["bh"]), n("Concat", ["bh", "sixteen"], ["tgt"], axis=0),
          n("Reshape", ["s4", "tgt"], ["s3"]), n("Softmax", ["s3"], ["p3"], axis=-1),
          n("Reshape", ["p3", "merge_heads"], ["p"]), n("MatMul", ["p", "qt"], ["o"]),
          n("Transpose", ["o"], ["ot"], perm=[1, 0, 2]), n("Reshape", ["ot", "rows"], ["flat"]),
          n("Gemm", ["flat", "Wo", "bo"], ["g"], transB=1, alpha=0.5, beta=2.0),
          n("Reshape", ["g", "back"], ["b"]), n("Transpose", ["b"], ["y"], perm=[1, 0, 2])],
         [io("x", ["N", 4, 6])], [io("y", ["N", 4, 6])],
         [numpy_helper.from_array(f32(6, 6), "Wq"), const("heads", [4, -1, 3], np.int64),
          const("split_heads", [-1, 2, 4, 4], np.int64), const("z", [0], np.int64),
          const("two", [2], np.int64), const("sixteen", [16], np.int64),
          const("merge_heads", [-1, 4, 4], np.int64), const("rows", [-1, 6], np.int64),
          numpy_helper.from_array(f32(6, 6), "Wo"), numpy_helper.from_array(f32(6), "bo"),
          const("back", [4, -1, 6], np.int64)], {"x": f32(5, 4, 6)}, 18)
    # lifted batch: Flatten(axis 2) merges the batch into the rows of [N*3, 4]; rows
    # centred, a Gemm with transA over the transposed matrix, Reshape back by Shape()
    case("lifted_flatten_gemm_opset13",
         [n("Flatten", ["x"], ["f"], axis=2), n("ReduceMean", ["f"], ["m"], axes=[1]),
          n("Sub", ["f", "m"], ["c"]), n("Transpose", ["c"], ["ct"], perm=[1, 0]),
          n("Gemm", ["ct", "W", "B"], ["g"], transA=1), n("Shape", ["x"], ["xs"]),
          n("Slice", ["xs", "z", "two"], ["lead"]), n("Concat", ["lead", "m1"], ["tgt"], axis=0),
          n("Reshape", ["g", "tgt"], ["y"])],
         [io("x", ["N", 3, 4])], [io("y", ["N", 3, 5])],
         [numpy_helper.from_array(f32(4, 5), "W"), numpy_helper.from_array(f32(1, 5), "B"),
          const("z", [0], np.int64), const("two", [2], np.int64), const("m1", [-1], np.int64)],
         {"x": f32(4, 3, 4)}, 13)
    # lifted batch: an embedding lookup (a constant table at run-time ids), the batch moved
    # to axis 1 and the mean over the ids taken there
    case("lifted_embedding_opset13",
         [n("Gather", ["E", "ids"], ["e"], axis=0), n("Transpose", ["e"], ["t"], perm=[1, 0, 2]),
          n("ReduceMean", ["t"], ["y"], axes=[0], keepdims=0)],
         [io("ids", ["N", 4], TensorProto.INT64)], [io("y", ["N", 6])],
         [numpy_helper.from_array(f32(10, 6), "E")],
         {"ids": rng.integers(0, 10, (5, 4)).astype(np.int64)}, 13)


if __name__ == "__main__":
    main()
