#!/usr/bin/env python3
"""Writes test/onnx/ml-cases: small ai.onnx.ml models built with onnx.helper
that exercise what exported models rarely show (every tree node mode,
missing-value tracking with NaN inputs, each aggregate function and post
transform, the *_as_tensor attributes, the binary classifier forms, opset 5's
TreeEnsemble, every preprocessing op and encoder), each with one test data
set whose outputs are ONNX Runtime's, in the layout of ONNX's backend tests.

    /tmp/venv/bin/python test/onnx/make_ml_cases.py   (needs onnx, onnxruntime, numpy)
"""
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ml-cases")
ML = "ai.onnx.ml"
rng = np.random.default_rng(16)


def io(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def tensor(name, array):
    if array.dtype == object:
        return helper.make_tensor(name, TensorProto.STRING, array.shape, [s.encode() for s in array.ravel()])
    return numpy_helper.from_array(array, name)


def case(name, nodes, inputs, outputs, feeds, ml_opset=3, inits=(), reference=False):
    """Writes one case; its outputs are ONNX Runtime's, or with reference
    ONNX's reference implementation's (then ONNX Runtime's differences are
    printed)."""
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, ml_opset)],
                              producer_name="make_ml_cases")
    model.ir_version = 9
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = session.run(None, feeds)
    if reference:
        runtime = results
        results = ReferenceEvaluator(model).run(None, feeds)
        for k, (a, b) in enumerate(zip(runtime, results)):
            rows = np.nonzero(np.any(np.asarray(a).reshape(len(a), -1) != np.asarray(b).reshape(len(b), -1), axis=1))[0]
            if len(rows):
                print(f"  {name}: ONNX Runtime differs from the reference at output {k} rows {rows.tolist()}")
    folder = os.path.join(OUT, name)
    os.makedirs(os.path.join(folder, "test_data_set_0"))
    onnx.save(model, os.path.join(folder, "model.onnx"))
    for kind, values, infos in (("input", [feeds[i.name] for i in inputs], inputs), ("output", results, outputs)):
        for k, (value, info) in enumerate(zip(values, infos)):
            with open(os.path.join(folder, "test_data_set_0", f"{kind}_{k}.pb"), "wb") as f:
                f.write(tensor(info.name, np.asarray(value)).SerializeToString())
    print(name)


def tree_inputs():
    """Rows that hit every threshold exactly, miss them, and are NaN."""
    x = rng.uniform(-2, 2, (40, 3)).astype(np.float32)
    x[0] = [0.5, 1.0, -1.0]
    x[1] = [np.nan, 1.0, 0.25]
    x[2] = [0.5, np.nan, np.nan]
    x[3] = [-0.75, 0.0, 0.25]
    x[4:8, 2] = [0.25, 1.5, -1.0, 0.25]
    x[8:12] = np.nan
    x[12, 0] = np.float32(0.5) + np.float32(1e-7)
    return x


# Two trees over every comparison: tree 0 LEQ, LT, GTE (NaN tracked true on two
# nodes), tree 1 GT, EQ, NEQ; leaves carry weights for two targets.
TREE = dict(
    nodes_treeids=[0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1],
    nodes_nodeids=[0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6],
    nodes_featureids=[0, 1, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0],
    nodes_modes=["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "LEAF", "LEAF", "LEAF", "LEAF",
                 "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "LEAF", "LEAF", "LEAF", "LEAF"],
    nodes_values=[0.5, 1.0, 0.25, 0, 0, 0, 0, 0.0, 0.25, -0.75, 0, 0, 0, 0],
    nodes_truenodeids=[1, 3, 5, 0, 0, 0, 0, 1, 3, 5, 0, 0, 0, 0],
    nodes_falsenodeids=[2, 4, 6, 0, 0, 0, 0, 2, 4, 6, 0, 0, 0, 0],
    nodes_missing_value_tracks_true=[1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
)
LEAVES = [(0, 3), (0, 4), (0, 5), (0, 6), (1, 3), (1, 4), (1, 5), (1, 6)]


def regressor(name, aggregate="SUM", post="NONE", targets=2, base=True, as_tensor=False):
    weights = rng.uniform(-3, 3, (len(LEAVES), targets)).astype(np.float32)
    attrs = dict(TREE, n_targets=targets, aggregate_function=aggregate, post_transform=post,
                 target_treeids=[t for t, _ in LEAVES for _ in range(targets)],
                 target_nodeids=[node for _, node in LEAVES for _ in range(targets)],
                 target_ids=[k for _ in LEAVES for k in range(targets)])
    if as_tensor:
        # ONNX Runtime takes the *_as_tensor forms in the input's type
        attrs["nodes_values_as_tensor"] = tensor("v", np.array(attrs.pop("nodes_values"), np.float32))
        attrs["target_weights_as_tensor"] = tensor("w", weights.ravel())
        if base:
            attrs["base_values_as_tensor"] = tensor("b", np.linspace(-1, 1, targets).astype(np.float32))
    else:
        attrs["target_weights"] = weights.ravel().tolist()
        if base:
            attrs["base_values"] = np.linspace(-1, 1, targets).tolist()
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, **attrs)
    case(name, [node], [io("X", ["N", 3])], [io("Y", ["N", targets])], {"X": tree_inputs()})


def classifier(name, weights, class_ids, labels, post="NONE", base=None):
    attrs = dict(TREE, post_transform=post,
                 class_treeids=[t for t, _ in LEAVES for _ in class_ids],
                 class_nodeids=[node for _, node in LEAVES for _ in class_ids],
                 class_ids=[k for _ in LEAVES for k in class_ids],
                 class_weights=weights.ravel().tolist())
    label_type = TensorProto.STRING if isinstance(labels[0], str) else TensorProto.INT64
    attrs["classlabels_strings" if label_type == TensorProto.STRING else "classlabels_int64s"] = labels
    if base is not None:
        attrs["base_values"] = base
    node = helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "scores"], domain=ML, **attrs)
    case(name, [node], [io("X", ["N", 3])], [io("label", ["N"], label_type), io("scores", ["N", len(labels)])],
         {"X": tree_inputs()})


def tree_cases():
    for aggregate in ("SUM", "AVERAGE", "MIN", "MAX"):
        regressor(f"tree_regressor_{aggregate.lower()}", aggregate)
    regressor("tree_regressor_softmax_zero", post="SOFTMAX_ZERO", targets=3, base=False)
    regressor("tree_regressor_logistic", post="LOGISTIC", targets=2)
    regressor("tree_regressor_probit", post="PROBIT", targets=1, base=False)
    regressor("tree_regressor_as_tensor", as_tensor=True)
    three = rng.uniform(0, 1, (len(LEAVES), 3)).astype(np.float32)
    classifier("tree_classifier_softmax", three, [0, 1, 2], [4, 7, 9], post="SOFTMAX", base=[0.1, -0.2, 0.3])
    classifier("tree_classifier_strings", three, [0, 1, 2], ["a", "bb", "c"])
    one = rng.uniform(0.05, 0.95, (len(LEAVES), 1)).astype(np.float32) / 2
    classifier("tree_classifier_binary_positive", one, [1], [0, 1])
    mixed = rng.uniform(-2, 2, (len(LEAVES), 1)).astype(np.float32)
    classifier("tree_classifier_binary_mixed", mixed, [0], [0, 1], base=[0.25])
    classifier("tree_classifier_binary_logistic", mixed, [0], ["no", "yes"], post="LOGISTIC", base=[0.5])
    # opset 5: interior nodes and leaves apart, set membership, integer enums; the
    # outputs are the reference implementation's (ONNX Runtime 1.32 drops the false
    # branch of a member node), whose sets may not hold 0.0 (its loop ends there);
    # ONNX Runtime takes integer members only
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain=ML, n_targets=2, aggregate_function=1, post_transform=0,
        tree_roots=[0, 3],
        nodes_modes=tensor("m", np.array([1, 6, 3, 5, 2], np.uint8)),
        nodes_featureids=[0, 1, 2, 0, 1],
        nodes_splits=tensor("s", np.array([0.5, 0, 0.25, -0.75, 1.0], np.float32)),
        nodes_truenodeids=[1, 0, 2, 4, 3], nodes_trueleafs=[0, 1, 1, 0, 1],
        nodes_falsenodeids=[2, 1, 3, 5, 4], nodes_falseleafs=[0, 1, 1, 1, 1],
        nodes_missing_value_tracks_true=[0, 1, 0, 1, 0],
        membership_values=tensor("mv", np.array([1.0, -1.0, 2.0, np.nan], np.float32)),
        leaf_targetids=[0, 1, 0, 1, 0, 1],
        leaf_weights=tensor("lw", rng.uniform(-2, 2, 6).astype(np.float32)))
    x = tree_inputs()
    x[20:24, 1] = [1.0, -1.0, 0.5, 2.0]
    case("tree_ensemble5_member", [node], [io("X", ["N", 3])], [io("Y", ["N", 2])], {"X": x}, ml_opset=5,
         reference=True)


def linear_cases():
    x = rng.standard_normal((20, 4)).astype(np.float32)
    node = helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML,
                            coefficients=rng.standard_normal(4).tolist(), intercepts=[0.1],
                            classlabels_ints=[3, 8], post_transform="LOGISTIC")
    case("linear_classifier_one_score", [node], [io("X", ["N", 4])],
         [io("label", ["N"], TensorProto.INT64), io("scores", ["N", 2])], {"X": x})
    node = helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML,
                            coefficients=rng.standard_normal(12).tolist(), intercepts=[0.1, -0.3, 0.0],
                            classlabels_strings=["x", "y", "z"], post_transform="SOFTMAX_ZERO", multi_class=1)
    case("linear_classifier_softmax_zero", [node], [io("X", ["N", 4])],
         [io("label", ["N"], TensorProto.STRING), io("scores", ["N", 3])], {"X": x})
    node = helper.make_node("LinearRegressor", ["X"], ["Y"], domain=ML, coefficients=rng.standard_normal(8).tolist(),
                            intercepts=[0.5, -0.5], targets=2, post_transform="SOFTMAX")
    case("linear_regressor_softmax", [node], [io("X", ["N", 4])], [io("Y", ["N", 2])], {"X": x})


def preprocessing_cases():
    x = rng.standard_normal((12, 4)).astype(np.float32)
    x[1, 2] = np.nan
    x[5, 0] = np.nan
    x[7, 3] = 0.0
    x[9] = 0.0
    nodes = [helper.make_node("Imputer", ["X"], ["imputed"], domain=ML, imputed_value_floats=[1.0, 2.0, 3.0, 4.0],
                              replaced_value_float=float("nan")),
             helper.make_node("Imputer", ["imputed"], ["zeros_imputed"], domain=ML, imputed_value_floats=[-5.0],
                              replaced_value_float=0.0),
             helper.make_node("Scaler", ["zeros_imputed"], ["scaled"], domain=ML, offset=[0.5, 0.1, -0.2, 0.0],
                              scale=[2.0, 0.5, 1.0, -1.0]),
             helper.make_node("Normalizer", ["scaled"], ["l1"], domain=ML, norm="L1"),
             helper.make_node("Normalizer", ["scaled"], ["l2"], domain=ML, norm="L2"),
             helper.make_node("Normalizer", ["scaled"], ["max"], domain=ML, norm="MAX"),
             helper.make_node("Binarizer", ["scaled"], ["bin"], domain=ML, threshold=0.3),
             helper.make_node("FeatureVectorizer", ["l1", "bin", "Z"], ["joined"], domain=ML,
                              inputdimensions=[4, 4, 2])]
    case("preprocessing_pipeline", nodes, [io("X", ["N", 4]), io("Z", ["N", 2])],
         [io("joined", ["N", 10]), io("l2", ["N", 4]), io("max", ["N", 4])],
         {"X": x, "Z": rng.standard_normal((12, 2)).astype(np.float32)}, ml_opset=1)


def encoder_cases():
    words = np.array([["red"], ["green"], ["blue"], ["mauve"], ["green"], [""]], dtype=object)
    nodes = [helper.make_node("OneHotEncoder", ["color"], ["onehot"], domain=ML,
                              cats_strings=["green", "red", "blue"], zeros=1),
             helper.make_node("LabelEncoder", ["color"], ["code"], domain=ML,
                              keys_strings=["red", "green", "blue"], values_floats=[1.5, 2.5, 3.5],
                              default_float=-1.0),
             helper.make_node("CategoryMapper", ["color"], ["ids"], domain=ML,
                              cats_strings=["blue", "green"], cats_int64s=[10, 20], default_int64=-7),
             helper.make_node("LabelEncoder", ["n"], ["names"], domain=ML,
                              keys_int64s=[1, 2, 5], values_strings=["one", "two", "five"], default_string="none"),
             helper.make_node("OneHotEncoder", ["n"], ["n_onehot"], domain=ML, cats_int64s=[5, 1, 3], zeros=1)]
    case("encoders_strings", nodes,
         [io("color", ["N", 1], TensorProto.STRING), io("n", ["N", 1], TensorProto.INT64)],
         [io("onehot", ["N", 1, 3]), io("code", ["N", 1]), io("ids", ["N", 1], TensorProto.INT64),
          io("names", ["N", 1], TensorProto.STRING), io("n_onehot", ["N", 1, 3])],
         {"color": words, "n": np.array([[1], [5], [4], [2], [3], [1]], np.int64)}, ml_opset=2)
    node = helper.make_node("LabelEncoder", ["X"], ["Y"], domain=ML,
                            keys_tensor=tensor("k", np.array([0.5, -1.0, np.nan, 2.0], np.float32)),
                            values_tensor=tensor("v", np.array([10, 20, 30, 40], np.int64)),
                            default_tensor=tensor("d", np.array([-1], np.int64)))
    case("label_encoder_float_tensors", [node], [io("X", ["N", 2])], [io("Y", ["N", 2], TensorProto.INT64)],
         {"X": np.array([[0.5, np.nan], [2.0, 3.0], [-1.0, -1.0]], np.float32)}, ml_opset=4)
    node = helper.make_node("LabelEncoder", ["X"], ["Y"], domain=ML, classes_strings=["lo", "mid", "hi"],
                            default_int64=-1)
    case("label_encoder_opset1", [node], [io("X", ["N"], TensorProto.STRING)], [io("Y", ["N"], TensorProto.INT64)],
         {"X": np.array(["hi", "lo", "x", "mid"], dtype=object)}, ml_opset=1)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    tree_cases()
    linear_cases()
    preprocessing_cases()
    encoder_cases()


if __name__ == "__main__":
    main()
