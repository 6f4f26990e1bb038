#!/usr/bin/env python3
"""Builds the seed corpus of the model-file fuzzer (test/fuzz/fuzz_model).

    python3 test/fuzz/make_corpus.py [--fixtures DIR] [--out DIR]

Each corpus file is one fuzz input, laid out as fuzz_model.c reads it:

    [u32 LE graph length G][u32 LE options length O][graph JSON][options JSON][safetensors]

Files named valid-* must load as models (the driver checks it): they come from
the PyTorch fixtures under test/fixtures and from hand-made models below.
Files named edge-* are hand-made near misses that must be rejected cleanly.
Files named regress-* are inputs that once crashed the engine; this script
leaves them alone.  Standard library only.
"""

import argparse
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Varied fixtures: dense in every dtype, gemm, conv (groups, dilation, stride
# and pads), batch norm folded and not, pools, concat, transpose, matmul,
# softmax/argmax axes, reshape, broadcasting, two whole models, and the ops
# of op set 2 (layer norm, reductions, slices, gathers, window ops...).
FIXTURES = [
    "dense_b3", "dense_f16", "dense_bf16", "dense_f64",
    "gemm_transb0_alpha_beta", "gemm_bn_fold",
    "conv_bn_fold", "conv_nobias_bn_fold_b1", "conv_group2", "conv_dilation",
    "conv_stride_pad",
    "maxpool_ceil_pad", "maxpool_dilation", "avgpool_ceil_pad_cip1", "globalavgpool",
    "batchnorm_4d", "batchnorm_3d_b1",
    "concat_axism1_3in", "concat_axis2_4d_b1", "transpose_perm_4d",
    "matmul_act_4d", "matmul_weight_3d_b1",
    "softmax_axis2_4d_b1", "logsoftmax_axism2_3d", "argmax_axis1_keepdims0_3d",
    "reshape_2d_to_4d_b1", "reshape_4d_to_3d", "flatten_4d",
    "add_w_channel", "div_act_bcast", "gelu_tanh_2d", "leakyrelu_alpha02_2d",
    "model_resblock", "model_mlp",
    # op set 2
    "layernorm_last", "reducesum_13_keep_4d", "matmul_attention", "matmul_weight_left",
    "slice_multi_4d", "slice_reverse", "gather_embedding", "gather_constant_axis1",
    "expand_short_shape", "topk_indices_axis1_3d", "convtranspose_stride_pad_outpad",
    "conv1d_stride_pads_b1", "conv_same_upper_stride2", "where_all_act_bcast",
    "prelu_w_channel_b1", "cast_float16_2d", "squeeze_all", "unsqueeze_two_b1",
    "clip_min_max_2d", "pow_w_left", "pad_reflect_crop_3d", "pad_constant_2d",
]


def fuzz_input(graph, weights, options=b""):
    """Joins the three parts into one fuzz input."""
    if not isinstance(graph, bytes):
        graph = json.dumps(graph, separators=(",", ":")).encode()
    if not isinstance(options, bytes):
        options = json.dumps(options, separators=(",", ":")).encode()
    return struct.pack("<II", len(graph), len(options)) + graph + options + weights


def safetensors(tensors, metadata=None):
    """A safetensors file from [(name, dtype, shape, raw bytes)], in that order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def graph(inputs, outputs, nodes):
    return {"format": "pg_infer", "version": 1, "inputs": inputs,
            "outputs": outputs, "nodes": nodes}


def hand_made():
    """Hand-made seeds: name -> input bytes."""
    seeds = {}

    # Per-feature options on a dense layer.
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 3]}], ["y"],
              [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}])
    w = safetensors([("w", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6)),
                     ("b", "F32", [2], f32(0.5, -0.5))])
    seeds["valid-options-per-feature"] = fuzz_input(
        g, w, {"input_scale": [0.5, 1, 2], "input_shift": -1})
    seeds["valid-options-global"] = fuzz_input(g, w, {"input_scale": 2})

    # Nodes out of order, two outputs (one with a declared shape), a dead node,
    # a rank-0 weight broadcast, mixed dtypes and metadata in the weights.
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 2, 3]},
               {"name": "unused", "dtype": "float32", "shape": [-1, 1]}],
              [{"name": "probs", "shape": [-1, 2, 3]}, "scaled"],
              [{"name": "probs", "op": "Softmax", "inputs": ["t"], "attrs": {"axis": 1}},
               {"name": "scaled", "op": "Mul", "inputs": ["t", "k"]},
               {"name": "dead", "op": "Relu", "inputs": ["x"]},
               {"name": "t", "op": "Add", "inputs": ["x", "bias"]}])
    w = safetensors([("k", "F64", [], struct.pack("<d", 0.25)),
                     ("bias", "BF16", [1, 3], struct.pack("<3H", 0x3f80, 0xbf80, 0x4000))],
                    metadata={"format": "pt"})
    seeds["valid-forward-refs-two-outputs"] = fuzz_input(g, w)

    # A conv whose batch norm cannot fold (its output is also a graph output).
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 2, 4, 4]}], ["c", "bn"],
              [{"name": "c", "op": "Conv2D", "inputs": ["x", "cw"],
                "attrs": {"pads": [1, 0, 0, 1], "strides": [2, 1]}},
               {"name": "bn", "op": "BatchNormalization",
                "inputs": ["c", "s", "s", "m", "v"], "attrs": {"epsilon": 0.001}}])
    w = safetensors([("cw", "F32", [2, 2, 2, 2], f32(*[0.1 * i for i in range(16)])),
                     ("s", "F32", [2], f32(1, 2)), ("m", "F32", [2], f32(0, 1)),
                     ("v", "F32", [2], f32(1, 4))])
    seeds["valid-conv-bn-unfolded-output"] = fuzz_input(g, w)

    # A 1x1 grouped conv (no im2col), and a batch norm after a Relu (no fold).
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 4, 3, 3]}], ["bn"],
              [{"name": "pw", "op": "Conv2D", "inputs": ["x", "pw.w", "pw.b"], "attrs": {"group": 2}},
               {"name": "r", "op": "Relu", "inputs": ["pw"]},
               {"name": "bn", "op": "BatchNormalization",
                "inputs": ["r", "bn.s", "bn.b", "bn.m", "bn.v"]}])
    w = safetensors([("pw.w", "F32", [6, 2, 1, 1], f32(*[0.25 * i - 1 for i in range(12)])),
                     ("pw.b", "F32", [6], f32(1, 2, 3, 4, 5, 6)),
                     ("bn.s", "F32", [6], f32(1, 1, 2, 2, 3, 3)),
                     ("bn.b", "F32", [6], f32(0, 0, 1, 1, 0, 0)),
                     ("bn.m", "F32", [6], f32(0.5, 0, 0, 0, 0, 0.5)),
                     ("bn.v", "F32", [6], f32(1, 1, 1, 2, 2, 2))])
    seeds["valid-conv-pointwise-bn-after-relu"] = fuzz_input(g, w)

    # Batch norms that must not fold (a conv weight shared by two convs) next
    # to one that folds into a conv without bias, whose new bias's name
    # ("c3/folded_bias") is taken.
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 2, 4, 4]}], ["sum"],
              [{"name": "c1", "op": "Conv2D", "inputs": ["x", "w"], "attrs": {"pads": [1, 1]}},
               {"name": "c2", "op": "Conv2D", "inputs": ["x", "w"], "attrs": {"pads": [1, 1]}},
               {"name": "b1", "op": "BatchNormalization", "inputs": ["c1", "s", "t", "m", "v"]},
               {"name": "b2", "op": "BatchNormalization", "inputs": ["c2", "s", "t", "m", "v"]},
               {"name": "c3", "op": "Conv2D", "inputs": ["x", "w3"], "attrs": {"pads": [1, 1]}},
               {"name": "b3", "op": "BatchNormalization", "inputs": ["c3", "s", "t", "m", "v"]},
               {"name": "a1", "op": "Add", "inputs": ["b1", "b2"]},
               {"name": "a2", "op": "Add", "inputs": ["b3", "c3/folded_bias"]},
               {"name": "sum", "op": "Concat", "inputs": ["a1", "a2"], "attrs": {"axis": 1}}])
    w = safetensors([("w", "F32", [2, 2, 3, 3], f32(*[((i * 7) % 11 - 5) / 8 for i in range(36)])),
                     ("w3", "F32", [2, 2, 3, 3], f32(*[((i * 5) % 13 - 6) / 8 for i in range(36)])),
                     ("s", "F32", [2], f32(1.5, 0.5)), ("t", "F32", [2], f32(0.1, -0.1)),
                     ("m", "F32", [2], f32(0.2, 0.3)), ("v", "F32", [2], f32(0.9, 1.1)),
                     ("c3/folded_bias", "F32", [2, 1, 1], f32(100, 200))])
    seeds["valid-bn-shared-weight-and-name-clash"] = fuzz_input(g, w)

    # Stored reduced weights (src/format/compact.c): int8 codes with their
    # column maxima along either axis, bf16 and fp16 weights, each model at
    # its precision.
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 3]}], ["y"],
              [{"name": "h", "op": "Dense", "inputs": ["x", "w", "b"]},
               {"name": "y", "op": "MatMul", "inputs": ["h", "v"]}])
    w = safetensors([("b", "F32", [2], f32(0.5, -0.5)),
                     ("w:int8_amax", "F32", [2, 1], f32(3, 0.5)),
                     ("v:int8_amax", "F32", [1, 2], f32(2, 1)),
                     ("w", "I8", [2, 3], struct.pack("<6b", 127, -40, 3, 0, -127, 64)),
                     ("v", "I8", [2, 2], struct.pack("<4b", -127, 127, 5, -9))],
                    metadata={"precision": "int8"})
    seeds["valid-stored-int8"] = fuzz_input(g, w, {"precision": "int8"})
    # a convolution's codes per output channel, maxima [M, 1, 1, 1]
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 2, 4, 4]}], ["y"],
              [{"name": "y", "op": "Conv2D", "inputs": ["x", "cw", "cb"], "attrs": {"pads": [1, 1]}}])
    w = safetensors([("cb", "F32", [3], f32(0.5, -0.5, 0)),
                     ("cw:int8_amax", "F32", [3, 1, 1, 1], f32(3, 0.5, 0)),
                     ("cw", "I8", [3, 2, 3, 3],
                      struct.pack("<54b", *[(i * 37) % 255 - 127 if i < 36 else 0 for i in range(54)]))],
                    metadata={"precision": "int8"})
    seeds["valid-stored-int8-conv"] = fuzz_input(g, w, {"precision": "int8"})
    w = safetensors([("b", "F32", [2], f32(0.5, -0.5)),
                     ("w", "BF16", [2, 3], struct.pack("<6H", 0x3f80, 0xbf80, 0x4000, 0, 0x3e00, 0xc040)),
                     ("v", "F16", [2, 2], struct.pack("<4H", 0x3c00, 0xbc00, 0x4000, 0x0001))])
    seeds["valid-stored-16-bit"] = fuzz_input(g, w, {"precision": "bf16"})

    # An empty tensor that no node uses (rejected: unused weight).
    g = graph([{"name": "x", "dtype": "float32", "shape": [-1, 1, 5]}], ["y"],
              [{"name": "y", "op": "Add", "inputs": ["x", "w"]}])
    w = safetensors([("e", "F32", [0, 5], b""), ("w", "F32", [1, 5], f32(1, 2, 3, 4, 5))])
    seeds["edge-empty-tensor-unused"] = fuzz_input(g, w)

    # A safetensors header length past the end of the file.
    good = safetensors([("w", "F32", [1, 5], f32(1, 2, 3, 4, 5))])
    seeds["edge-header-past-end"] = fuzz_input(g, struct.pack("<Q", len(good)) + good[8:])
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default=os.path.join(HERE, "..", "fixtures"))
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):
        if name.startswith(("valid-", "edge-")):
            os.remove(os.path.join(args.out, name))
    files = {}
    for case in FIXTURES:
        d = os.path.join(args.fixtures, case)
        with open(os.path.join(d, "model.json"), "rb") as f:
            g = json.load(f)
        with open(os.path.join(d, "model.safetensors"), "rb") as f:
            w = f.read()
        files["valid-" + case] = fuzz_input(g, w)
    files.update(hand_made())
    total = 0
    for name, data in sorted(files.items()):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        total += len(data)
    print("%d corpus files, %d bytes, in %s" % (len(files), total, os.path.relpath(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
