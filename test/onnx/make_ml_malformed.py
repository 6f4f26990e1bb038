#!/usr/bin/env python3
"""Writes test/onnx/ml-malformed: small tree ensembles, each broken in one
way (node ids out of range or twice, cycles, children outside the tree,
class ids outside the class list, weights on missing nodes or on branches,
array lengths that disagree, opset 5 roots and children out of range), and
EXPECTED: one line per file, its name and a fragment of the message the
importer must refuse it with (PI_ERR_INVALID; ERROR 22023 in SQL).

test/onnx/test_onnx_reject and test/e2e/test_tabular.py read them.  Run by
hand when they must change (needs the onnx package):

    /work/venv-tab/bin/python test/onnx/make_ml_malformed.py
"""
import os
import shutil

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ml-malformed")
ML = "ai.onnx.ml"

# one tree: node 0 tests feature 0 against 0.5; nodes 1 and 2 are leaves
TREE = dict(nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
            nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.5, 0.0, 0.0],
            nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0])
REGRESSOR = dict(target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0],
                 target_weights=[1.0, 2.0], n_targets=1)
CLASSIFIER = dict(class_treeids=[0, 0], class_nodeids=[1, 2], class_ids=[0, 1],
                  class_weights=[1.0, 1.0], classlabels_int64s=[0, 1])


def save(name, node, outputs, ml_opset=3):
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 2])],
                              outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, ml_opset)],
                              producer_name="make_ml_malformed")
    model.ir_version = 9
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def regressor(name, fragment, **changes):
    attrs = {**TREE, **REGRESSOR, **changes}
    save(name, helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, **attrs),
         [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])])
    return name, fragment


def classifier(name, fragment, **changes):
    attrs = {**TREE, **CLASSIFIER, **changes}
    save(name, helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "scores"], domain=ML, **attrs),
         [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
          helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])])
    return name, fragment


def ensemble5(name, fragment, **changes):
    """Opset 5: node 0 tests feature 0; its children are leaves 0 and 1."""
    attrs = dict(n_targets=1, aggregate_function=1, tree_roots=[0],
                 nodes_modes=numpy_helper.from_array(np.array([0], np.uint8), "modes"),
                 nodes_featureids=[0], nodes_splits=numpy_helper.from_array(np.array([0.5], np.float32), "splits"),
                 nodes_truenodeids=[0], nodes_trueleafs=[1], nodes_falsenodeids=[1], nodes_falseleafs=[1],
                 leaf_targetids=[0, 0], leaf_weights=numpy_helper.from_array(np.array([1, 2], np.float32), "weights"))
    attrs.update(changes)
    save(name, helper.make_node("TreeEnsemble", ["X"], ["Y"], domain=ML, **attrs),
         [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])], ml_opset=5)
    return name, fragment


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    cases = [
        regressor("node_id_out_of_range", "node id 5 out of range", nodes_nodeids=[0, 1, 5]),
        regressor("node_id_twice", "node id 1 twice", nodes_nodeids=[0, 1, 1]),
        regressor("child_outside_tree", "has children 1 and 7, outside its tree of 3 nodes",
                  nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[7, 0, 0]),
        regressor("child_negative", "outside its tree", nodes_truenodeids=[-1, 0, 0]),
        regressor("own_child", "is its own child: a cycle", nodes_truenodeids=[0, 0, 0]),
        # node 1 branches back to node 0: 0 -> 1 -> 0
        regressor("cycle", "has a cycle", nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"],
                  nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 2, 0],
                  target_nodeids=[2], target_treeids=[0], target_ids=[0], target_weights=[1.0]),
        regressor("feature_outside_input", "reads feature 4, the input has 2", nodes_featureids=[4, 0, 0]),
        regressor("mismatched_node_arrays", "nodes_modes", nodes_modes=["BRANCH_LEQ", "LEAF"]),
        regressor("mismatched_target_arrays", "target_weights", target_weights=[1.0]),
        regressor("weight_on_missing_node", "which does not exist", target_nodeids=[1, 9]),
        regressor("weight_on_branch", "which is not a leaf", target_nodeids=[1, 0]),
        regressor("target_outside_targets", "is for target 3, outside 0 to 0", target_ids=[0, 3]),
        regressor("unknown_mode", "has mode", nodes_modes=["BRANCH_SOMETIMES", "LEAF", "LEAF"]),
        classifier("class_id_outside_labels", "is for class 2, outside 0 to 1", class_ids=[0, 2]),
        classifier("mismatched_class_arrays", "class_weights", class_weights=[1.0]),
        ensemble5("ensemble5_root_out_of_range", "has root 3, outside the 1 nodes", tree_roots=[3]),
        ensemble5("ensemble5_child_out_of_range", "outside the 1 nodes and 2 leaves", nodes_falseleafs=[0]),
        ensemble5("ensemble5_own_child", "is its own child: a cycle", nodes_trueleafs=[0]),
        ensemble5("ensemble5_mismatched_lengths", "leaf_weights",
                  leaf_weights=numpy_helper.from_array(np.array([1], np.float32), "weights")),
        ensemble5("ensemble5_target_outside_targets", "is for target 1, outside 0 to 0", leaf_targetids=[0, 1]),
    ]
    with open(os.path.join(OUT, "EXPECTED"), "w") as f:
        for name, fragment in cases:
            f.write(f"{name}\t{fragment}\n")
    print(f"{len(cases)} malformed ensembles in {OUT}")


if __name__ == "__main__":
    main()
