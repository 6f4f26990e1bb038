#!/usr/bin/env python3
"""Writes the ONNX fixtures of the SQL tests (test/e2e/test_onnx.py):

  external_data/   test/onnx/models/mlp_gelu_opset13 saved again with every
                   initializer in an external data file ("weights.bin" beside
                   the model), as exporters do for large models, plus its test
                   inputs and ONNX Runtime's outputs
  unsupported.onnx a valid model (onnx.checker) with operators pg_infer does
                   not run: LSTM and Loop beside a Relu

Run by hand when regenerating (needs onnx, onnxruntime):

    python3 test/onnx/make_sql_fixtures.py
"""
import os
import shutil

import onnx
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "models", "mlp_gelu_opset13")
TARGET = os.path.join(HERE, "external_data")


def write_unsupported():
    """A model whose LSTM and Loop nodes the importer must list by name."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 5, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 12, 4], [0.1] * 48)
    r = helper.make_tensor("r", TensorProto.FLOAT, [1, 12, 3], [0.1] * 36)
    nodes = [
        helper.make_node("Relu", ["x"], ["xr"], name="relu"),
        helper.make_node("LSTM", ["xr", "w", "r"], ["y"], name="lstm_1", hidden_size=3),
        helper.make_node("Loop", ["", ""], [], name="loop_1", body=body),
    ]
    graph = helper.make_graph(nodes, "unsupported", [x], [y], initializer=[w, r])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(HERE, "unsupported.onnx"), "wb") as f:
        f.write(model.SerializeToString())


def main():
    model = onnx.load(os.path.join(SOURCE, "model.onnx"))
    shutil.rmtree(TARGET, ignore_errors=True)
    os.makedirs(TARGET)
    onnx.save_model(model, os.path.join(TARGET, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    shutil.copy(os.path.join(SOURCE, "test_data_set_0", "input_0.pb"), TARGET)
    tensor = onnx.TensorProto()
    with open(os.path.join(TARGET, "input_0.pb"), "rb") as f:
        tensor.ParseFromString(f.read())
    session = onnxruntime.InferenceSession(os.path.join(TARGET, "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out = session.run(None, {name: onnx.numpy_helper.to_array(tensor)})[0]
    with open(os.path.join(TARGET, "output_0.pb"), "wb") as f:
        f.write(onnx.numpy_helper.from_array(out, "output").SerializeToString())
    write_unsupported()
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    print(f"{len(external)} initializers in weights.bin ({os.path.getsize(os.path.join(TARGET, 'weights.bin'))} bytes)")


if __name__ == "__main__":
    main()
