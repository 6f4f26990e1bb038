#!/usr/bin/env python3
"""Write ONNX's own node tests of the ai.onnx.ml domain for the conformance run.

Debian's libonnx-testdata (1.12) predates them, so they are generated here
from the onnx package's test case definitions (onnx/backend/test/case/node/
ai_onnx_ml: ArrayFeatureExtractor, Binarizer, LabelEncoder, TreeEnsemble),
in the layout of libonnx-testdata:

    test/onnx/ml-node/test_ai_onnx_ml_<case>/model.onnx
    test/onnx/ml-node/test_ai_onnx_ml_<case>/test_data_set_0/{input,output}_<i>.pb

Run by hand when onnx is upgraded, never in CI:

    /tmp/venv/bin/pip install onnx numpy
    /tmp/venv/bin/python test/onnx/make_ml_node_tests.py

The outputs are those of ONNX's reference implementation, as in its own
test data.  make check-onnx runs them with the other conformance roots
against test/onnx/conformance-expected.txt.
"""
import os
import shutil

import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ml-node")


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    cases = [c for c in node_cases.collect_testcases() if c.name.startswith("test_ai_onnx_ml_")]
    for case in cases:
        folder = os.path.join(ROOT, case.name)
        os.makedirs(folder)
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            data = os.path.join(folder, f"test_data_set_{i}")
            os.makedirs(data)
            for kind, values, infos in (("input", inputs, case.model.graph.input),
                                        ("output", outputs, case.model.graph.output)):
                for j, (value, info) in enumerate(zip(values, infos)):
                    tensor = value if isinstance(value, onnx.TensorProto) else numpy_helper.from_array(value, info.name)
                    with open(os.path.join(data, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(tensor.SerializeToString())
        print(case.name)
    with open(os.path.join(ROOT, "VERSION.txt"), "w") as f:
        f.write(f"onnx {onnx.__version__}\n")


if __name__ == "__main__":
    main()
