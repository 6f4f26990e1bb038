#!/usr/bin/env python3
"""Writes test/onnx/external_data/: test/onnx/models/mlp_gelu_opset13 saved again
with every initializer in an external data file ("weights.bin" beside the
model), as exporters do for large models, plus its test inputs and ONNX
Runtime's outputs.  Run by hand when regenerating (needs onnx, onnxruntime):

    python3 test/onnx/make_external_data.py
"""
import os
import shutil

import onnx
import onnxruntime

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "models", "mlp_gelu_opset13")
TARGET = os.path.join(HERE, "external_data")


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
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    print(f"{len(external)} initializers in weights.bin ({os.path.getsize(os.path.join(TARGET, 'weights.bin'))} bytes)")


if __name__ == "__main__":
    main()
