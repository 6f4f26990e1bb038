#!/usr/bin/env python3
"""Writes the seed corpus of the ONNX fuzz target (test/fuzz/corpus_onnx).

Each file is [4 bytes: external data length E, little-endian][E bytes of
external data][an ONNX model], the layout fuzz_onnx.c reads.  Files named
valid-* must load.  Small models built with onnx.helper cover the importer's
paths: folding (the dynamic-batch Reshape pattern), old-opset forms,
multi-output lowering, external data, float16 weights, unsorted nodes,
lifted-batch mode (attention with the batch moved and merged), quantized
models in QDQ form, in QOperator form and as quantize_dynamic writes them.

    python3 test/fuzz/make_onnx_corpus.py
"""
import os
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_onnx")
rng = np.random.default_rng(7)


def w(name, *shape, dtype=np.float32):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def io(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def save(name, nodes, inputs, outputs, inits=(), opset=13, ir=8, external=b"", ml=None, ms=False):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", ml)] if ml else [])
    opsets += [helper.make_opsetid("com.microsoft", 1)] if ms else []
    model = helper.make_model(graph, opset_imports=opsets, producer_name="make_onnx_corpus")
    model.ir_version = ir
    data = model.SerializeToString()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(struct.pack("<I", len(external)) + external + data)


def ml_seeds(n):
    """ai.onnx.ml models: tree ensembles (every mode, missing values, the
    binary and multi-class forms, opset 5's membership) and the encoders of
    string inputs, whose tables the importer checks (ERROR 22023 when
    malformed)."""
    tree = dict(nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
                nodes_featureids=[0, 1, 0, 0, 0, 2, 0, 0],
                nodes_modes=["BRANCH_LT", "BRANCH_GTE", "LEAF", "LEAF", "LEAF", "BRANCH_NEQ", "LEAF", "LEAF"],
                nodes_values=[0.5, -1.0, 0, 0, 0, 0.25, 0, 0], nodes_truenodeids=[1, 3, 0, 0, 0, 1, 0, 0],
                nodes_falsenodeids=[2, 4, 0, 0, 0, 2, 0, 0],
                nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 1, 0, 0])
    leaves = [(0, 2), (0, 3), (0, 4), (1, 1), (1, 2)]
    save("valid-ml-tree-regressor",
         [n("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=2, aggregate_function="MAX",
            post_transform="SOFTMAX", target_treeids=[t for t, _ in leaves for _ in (0, 1)],
            target_nodeids=[i for _, i in leaves for _ in (0, 1)], target_ids=[0, 1] * len(leaves),
            target_weights=rng.standard_normal(2 * len(leaves)).tolist(), base_values=[0.5, -0.5], **tree)],
         [io("x", ["N", 3])], [io("y", ["N", 2])], ml=3)
    save("valid-ml-tree-classifier",
         [n("TreeEnsembleClassifier", ["x"], ["label", "p"], domain="ai.onnx.ml", post_transform="LOGISTIC",
            class_treeids=[t for t, _ in leaves], class_nodeids=[i for _, i in leaves], class_ids=[0] * len(leaves),
            class_weights=rng.standard_normal(len(leaves)).tolist(), classlabels_int64s=[3, 7],
            base_values=[0.25], **tree)],
         [io("x", ["N", 3])],
         [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]), io("p", ["N", 2])], ml=1)
    save("valid-ml-tree-ensemble5",
         [n("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1, aggregate_function=1,
            tree_roots=[0], nodes_modes=numpy_helper.from_array(np.array([6, 0], np.uint8), "m"),
            nodes_featureids=[0, 1], nodes_splits=numpy_helper.from_array(np.array([0, 1.5], np.float32), "s"),
            nodes_truenodeids=[0, 1], nodes_trueleafs=[1, 1], nodes_falsenodeids=[1, 2], nodes_falseleafs=[0, 1],
            membership_values=numpy_helper.from_array(np.array([1, 2, np.nan], np.float32), "mv"),
            leaf_targetids=[0, 0, 0], leaf_weights=numpy_helper.from_array(np.array([1, 2, 3], np.float32), "lw"))],
         [io("x", ["N", 2])], [io("y", ["N", 1])], opset=18, ml=5)
    save("valid-ml-strings-linear",
         [n("OneHotEncoder", ["c"], ["h"], domain="ai.onnx.ml", cats_strings=["a", "b", "c"], zeros=1),
          n("Reshape", ["h", "shape"], ["hf"]),
          n("Scaler", ["x"], ["xs"], domain="ai.onnx.ml", offset=[0.5, 1.0], scale=[2.0, 0.5]),
          n("Concat", ["xs", "hf"], ["f"], axis=1),
          n("LinearClassifier", ["f"], ["label", "p"], domain="ai.onnx.ml",
            coefficients=rng.standard_normal(10).tolist(), intercepts=[0.1, -0.1],
            classlabels_strings=["no", "yes"], post_transform="LOGISTIC")],
         [helper.make_tensor_value_info("c", TensorProto.STRING, ["N", 1]), io("x", ["N", 2])],
         [helper.make_tensor_value_info("label", TensorProto.STRING, ["N"]), io("p", ["N", 2])],
         [ints("shape", [-1, 3])], opset=13, ml=1)
    save("valid-ml-label-encoder",
         [n("LabelEncoder", ["c"], ["y"], domain="ai.onnx.ml", keys_strings=["x", "y"], values_floats=[1.5, 2.5],
            default_float=-1.0),
          n("Imputer", ["y"], ["z"], domain="ai.onnx.ml", imputed_value_floats=[0.0], replaced_value_float=-1.0)],
         [helper.make_tensor_value_info("c", TensorProto.STRING, ["N", 2])], [io("z", ["N", 2])], ml=2)


def quant_seeds(n):
    """QDQ models as quantize_static writes them: a Conv with per-channel
    int8 weights and an int32 bias, uint8 activations, a MatMul with uint8
    weights and a zero point; and one with a zero scale, refused."""
    codes = numpy_helper.from_array(rng.integers(-127, 128, (2, 1, 3, 3)).astype(np.int8), "Wq")
    scale = numpy_helper.from_array(np.array([0.02, 0.03], np.float32), "ws")
    bias = numpy_helper.from_array(np.array([5, -7], np.int32), "bq")
    bias_scale = numpy_helper.from_array(np.array([0.002, 0.003], np.float32), "bs")
    act = [numpy_helper.from_array(np.float32(0.1), "as"), numpy_helper.from_array(np.uint8(128), "az")]
    save("valid-qdq-conv",
         [n("QuantizeLinear", ["x", "as", "az"], ["xq"]), n("DequantizeLinear", ["xq", "as", "az"], ["xd"]),
          n("DequantizeLinear", ["Wq", "ws"], ["W"], axis=0), n("DequantizeLinear", ["bq", "bs"], ["b"], axis=0),
          n("Conv", ["xd", "W", "b"], ["y"])],
         [io("x", ["N", 1, 5, 5])], [io("y", ["N", 2, 3, 3])], [codes, scale, bias, bias_scale] + act)
    wq = numpy_helper.from_array(rng.integers(0, 256, (4, 3)).astype(np.uint8), "Wq")
    save("valid-qdq-matmul-uint8",
         [n("DequantizeLinear", ["Wq", "ws", "wz"], ["W"]), n("MatMul", ["x", "W"], ["y"])],
         [io("x", ["N", 4])], [io("y", ["N", 3])],
         [wq, numpy_helper.from_array(np.float32(0.05), "ws"), numpy_helper.from_array(np.uint8(131), "wz")])
    save("qdq-zero-scale",
         [n("QuantizeLinear", ["x", "s"], ["q"]), n("DequantizeLinear", ["q", "s"], ["y"])],
         [io("x", ["N", 4])], [io("y", ["N", 4])], [numpy_helper.from_array(np.float32(0.0), "s")])


def qoperator_seeds(n):
    """QOperator models (QLinearConv with a bias, QLinearMatMul, com.microsoft's
    QGemm, QLinearAdd, QLinearGlobalAveragePool) and quantize_dynamic's
    DynamicQuantizeLinear, MatMulInteger and ConvInteger chains."""
    u8 = lambda name, v: numpy_helper.from_array(np.uint8(v), name)  # noqa: E731
    f32 = lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name)  # noqa: E731
    act = [f32("xs", 0.1), u8("xz", 128), f32("ys", 0.2), u8("yz", 100)]
    conv_w = numpy_helper.from_array(rng.integers(-127, 128, (2, 1, 3, 3)).astype(np.int8), "w")
    conv_zp = numpy_helper.from_array(np.zeros(2, np.int8), "wz")
    save("valid-qoperator-conv",
         [n("QuantizeLinear", ["x", "xs", "xz"], ["q"]),
          n("QLinearConv", ["q", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["qc"], kernel_shape=[3, 3]),
          n("QLinearGlobalAveragePool", ["qc", "ys", "yz", "ys", "yz"], ["qp"], domain="com.microsoft"),
          n("QLinearAdd", ["qp", "ys", "yz", "qp", "ys", "yz", "ys", "yz"], ["qa"], domain="com.microsoft"),
          n("DequantizeLinear", ["qa", "ys", "yz"], ["y"])],
         [io("x", ["N", 1, 5, 5])], [io("y", ["N", 2, 1, 1])],
         [conv_w, f32("ws", [0.02, 0.03]), conv_zp, numpy_helper.from_array(np.array([5, -7], np.int32), "b")] + act,
         ms=True)
    mat_w = numpy_helper.from_array(rng.integers(-127, 128, (4, 3)).astype(np.int8), "w")
    save("valid-qoperator-matmul",
         [n("QuantizeLinear", ["x", "xs", "xz"], ["q"]),
          n("QLinearMatMul", ["q", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["qm"]),
          n("QGemm", ["qm", "ys", "yz", "w3", "ws3", "wz3", "b3"], ["y"], transB=1, domain="com.microsoft")],
         [io("x", ["N", 4])], [io("y", ["N", 3])],
         [mat_w, f32("ws", 0.05), numpy_helper.from_array(np.int8(0), "wz"),
          numpy_helper.from_array(rng.integers(-127, 128, (3, 3)).astype(np.int8), "w3"),
          f32("ws3", [0.01, 0.02, 0.03]), numpy_helper.from_array(np.zeros(3, np.int8), "wz3"),
          numpy_helper.from_array(np.array([1, 2, 3], np.int32), "b3")] + act, ms=True)
    for op, shape, out, weight in (("MatMulInteger", ["N", 4], ["N", 3], mat_w), ("ConvInteger", ["N", 1, 5, 5],
                                                                                 ["N", 2, 3, 3], conv_w)):
        save("valid-dynamic-" + op.lower(),
             [n("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]), n("Mul", ["xs", "ws"], ["s"]),
              n(op, ["xq", "w", "xz", "wz"], ["acc"]), n("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
              n("Mul", ["accf", "s"], ["m"]), n("Relu", ["m"], ["y"])],
             [io("x", shape)], [io("y", out)],
             [weight, f32("ws", 0.04), numpy_helper.from_array(np.int8(0), "wz")])


def stored_seeds(n):
    """The form a stored int8 version keeps (src/format/onnx_compact.c): a
    Conv's INT8 codes with maxima [M, 1, 1, 1] and a Gemm's with maxima
    [1, N], metadata pg_infer.stored_weights = int8."""
    codes = [(i * 37) % 255 - 127 for i in range(54)]
    inits = [helper.make_tensor("w", TensorProto.INT8, [3, 2, 3, 3], codes),
             helper.make_tensor("w:int8_amax", TensorProto.FLOAT, [3, 1, 1, 1], [0.5, 1.0, 0.0]),
             helper.make_tensor("v", TensorProto.INT8, [48, 2], [(i * 11) % 255 - 127 for i in range(96)]),
             helper.make_tensor("v:int8_amax", TensorProto.FLOAT, [1, 2], [0.25, 4.0])]
    graph = helper.make_graph([n("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), n("Flatten", ["c"], ["f"]),
                               n("Gemm", ["f", "v"], ["y"])], "stored", [io("x", ["N", 2, 4, 4])],
                              [io("y", ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_onnx_corpus")
    model.ir_version = 8
    helper.set_model_props(model, {"pg_infer.stored_weights": "int8"})
    with open(os.path.join(OUT, "valid-stored-int8-conv-gemm"), "wb") as f:
        f.write(struct.pack("<I", 0) + model.SerializeToString())


def main():
    os.makedirs(OUT, exist_ok=True)
    n = helper.make_node
    save("valid-gemm-relu",
         [n("Gemm", ["x", "W", "b"], ["h"], transB=1), n("Relu", ["h"], ["y"])],
         [io("x", ["N", 4])], [io("y", ["N", 3])], [w("W", 3, 4), w("b", 3)])
    save("valid-unsorted-nodes",
         [n("Sigmoid", ["h"], ["y"]), n("MatMul", ["x", "W"], ["h"])],
         [io("x", ["N", 4])], [io("y", ["N", 2])], [w("W", 4, 2)])
    save("valid-conv-bn-pool-gemm",
         [n("Conv", ["x", "K", "kb"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
          n("BatchNormalization", ["c", "s", "o", "m", "v"], ["bn"], epsilon=1e-3),
          n("Relu", ["bn"], ["r"]),
          n("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
          n("Flatten", ["p"], ["f"]),
          n("Gemm", ["f", "G", "gb"], ["y"], transB=1)],
         [io("x", ["N", 1, 6, 6])], [io("y", ["N", 5])],
         [w("K", 2, 1, 3, 3), w("kb", 2), w("s", 2), w("o", 2), w("m", 2),
          numpy_helper.from_array(np.abs(rng.standard_normal(2)).astype(np.float32) + 0.5, "v"),
          w("G", 5, 18), w("gb", 5)], opset=11, ir=6)
    save("valid-dynamic-reshape",
         [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i0"], ["b"], axis=0),
          n("Unsqueeze", ["b", "ax"], ["b1"]), n("Concat", ["b1", "k"], ["t"], axis=0),
          n("Reshape", ["x", "t"], ["y"])],
         [io("x", ["N", 2, 3])], [io("y", ["N", 6])],
         [ints("i0", 0), ints("ax", [0]), ints("k", [-1])])
    save("valid-softmax-opset11",
         [n("Softmax", ["x"], ["y"], axis=1)],
         [io("x", ["N", 2, 3])], [io("y", ["N", 2, 3])], opset=11, ir=6)
    save("valid-split-topk",
         [n("Split", ["x", "sp"], ["a", "b"], axis=1),
          n("TopK", ["a", "kk"], ["v", "i"], axis=1),
          n("Concat", ["v", "i", "b"], ["y"], axis=1)],
         [io("x", ["N", 6])], [io("y", ["N", 7])],
         [ints("sp", [3, 3]), ints("kk", [2])])
    save("valid-slice-squeeze-unsqueeze",
         [n("Slice", ["x", "st", "en", "axs"], ["s"]),
          n("Unsqueeze", ["s", "u"], ["s1"]), n("Squeeze", ["s1", "u"], ["y"])],
         [io("x", ["N", 5, 4])], [io("y", ["N", 2, 4])],
         [ints("st", [1]), ints("en", [3]), ints("axs", [1]), ints("u", [2])])
    save("valid-reduce-transpose-expand-where",
         [n("ReduceMean", ["x"], ["m"], axes=[2], keepdims=1),
          n("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
          n("Expand", ["m", "sh"], ["e"]),
          n("Greater", ["x", "e"], ["g"]),
          n("Where", ["g", "x", "e"], ["w"]),
          n("Add", ["w", "t"], ["y"])],
         [io("x", ["N", 3, 3])], [io("y", ["N", 3, 3])], [ints("sh", [1, 3, 3])])
    half = numpy_helper.from_array(rng.standard_normal((3,)).astype(np.float16), "H")
    save("valid-fp16-clip-cast",
         [n("Mul", ["x", "H"], ["m"]), n("Clip", ["m", "lo", "hi"], ["c"]),
          n("Cast", ["c"], ["y"], to=TensorProto.FLOAT)],
         [io("x", ["N", 3])], [io("y", ["N", 3])],
         [half, numpy_helper.from_array(np.array(-0.5, np.float32), "lo"),
          numpy_helper.from_array(np.array(0.5, np.float32), "hi")])
    save("valid-layernorm-gelu",
         [n("LayerNormalization", ["x", "g", "bb"], ["l"], axis=-1),
          n("Gelu", ["l"], ["y"], approximate="tanh")],
         [io("x", ["N", 4])], [io("y", ["N", 4])], [w("g", 4), w("bb", 4)], opset=20, ir=9)
    save("valid-pad-conv-opset13",
         [n("Pad", ["x", "pp"], ["xp"]), n("Conv", ["xp", "K"], ["y"], strides=[2, 2])],
         [io("x", ["N", 1, 5, 5])], [io("y", ["N", 2, 3, 3])],
         [ints("pp", [0, 0, 1, 1, 0, 0, 1, 1]), w("K", 2, 1, 3, 3)])
    save("valid-int-input-boolean",
         [n("Gather", ["E", "i"], ["e"]), n("ReduceSum", ["e", "ax"], ["s"], keepdims=0),
          n("Greater", ["s", "z"], ["g"]), n("LessOrEqual", ["s", "z"], ["le"]),
          n("Or", ["g", "le"], ["o"]), n("Not", ["o"], ["no"]),
          n("Cast", ["no"], ["nf"], to=TensorProto.FLOAT), n("Add", ["s", "nf"], ["y"])],
         [helper.make_tensor_value_info("i", TensorProto.INT64, ["N", 3])], [io("y", ["N", 3])],
         [w("E", 6, 4), ints("ax", [2]), numpy_helper.from_array(np.zeros(1, np.float32), "z")])
    ext_w = rng.standard_normal((3, 4)).astype(np.float32)
    t = onnx.TensorProto()
    t.name = "W"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([3, 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "16"), ("length", "48")):
        e = t.external_data.add()
        e.key, e.value = k, v
    save("valid-external-data",
         [n("MatMul", ["x", "W"], ["y"])],
         [io("x", ["N", 3])], [io("y", ["N", 4])], [t],
         external=b"\0" * 16 + ext_w.tobytes())
    save("unsupported-lstm-loop",
         [n("LSTM", ["x"], ["a"], name="lstm_1"), n("Loop", ["a"], ["y"], name="loop")],
         [io("x", ["N", 3])], [io("y", ["N", 3])])
    save("domain-ml",
         [n("LinearClassifier", ["x"], ["y"], domain="ai.onnx.ml", name="clf")],
         [io("x", ["N", 3])], [io("y", ["N", 3])])
    ml_seeds(n)
    # attention with the batch moved to axis 1 and merged with 2 heads: lifted-batch mode
    save("valid-lifted-attention",
         [n("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
          n("MatMul", ["t", "Wq"], ["q"]),
          n("Reshape", ["q", "heads"], ["qh"]),
          n("Transpose", ["qh"], ["qt"], perm=[1, 0, 2]),
          n("Transpose", ["qt"], ["kt"], perm=[0, 2, 1]),
          n("MatMul", ["qt", "kt"], ["s"]),
          n("Softmax", ["s"], ["p"], axis=-1),
          n("MatMul", ["p", "qt"], ["o"]),
          n("Transpose", ["o"], ["ot"], perm=[1, 0, 2]),
          n("Reshape", ["ot", "rows"], ["flat"]),
          n("Gemm", ["flat", "Wo", "bo"], ["g"], transB=1),
          n("Reshape", ["g", "back"], ["b"]),
          n("Transpose", ["b"], ["y"], perm=[1, 0, 2])],
         [io("x", ["N", 4, 6])], [io("y", ["N", 4, 6])],
         [w("Wq", 6, 6), ints("heads", [4, -1, 3]), ints("rows", [-1, 6]), w("Wo", 6, 6),
          w("bo", 6), ints("back", [4, -1, 6])])
    quant_seeds(n)
    qoperator_seeds(n)
    stored_seeds(n)


if __name__ == "__main__":
    main()
