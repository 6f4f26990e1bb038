#!/usr/bin/env python3
"""Export the real-exporter ONNX test models for pg_infer's ONNX importer.

Run by hand when the models must be regenerated, never in CI:

    flock /tmp/pkg.lock pip install torch onnx onnxruntime onnxscript \\
        skl2onnx scikit-learn
    python3 test/onnx/export_models.py

Every model is written twice, at two opsets, in the layout of ONNX's own
backend tests:

    test/onnx/models/<name>_opset<N>/model.onnx
    test/onnx/models/<name>_opset<N>/test_data_set_0/input_<i>.pb
    test/onnx/models/<name>_opset<N>/test_data_set_0/output_<j>.pb

The .pb files are serialized onnx.TensorProto messages named after the graph
input/output they belong to; inputs are in graph input order and have a batch
of 3.  The outputs are what ONNX Runtime (CPUExecutionProvider) computes for
those inputs.  Before anything is written the script checks, for batches of 3,
1 and 5, that ONNX Runtime agrees with the framework that made the model
(PyTorch eval-mode forward, scikit-learn predict_proba/predict, or a numpy
forward for the hand-built graph) to 1e-4 absolute, that the model passes
onnx.checker, that every graph input and output has a dynamic batch axis, that
no weight lives in external data, and that the file is under 200 KB; any
failure stops the script with an error.  The dynamo exporter's per-node
"pkg.torch.onnx.stack_trace" metadata (absolute paths, line numbers) is
removed so that regenerating gives the same bytes; everything else is what
the exporters wrote, except that skl2onnx's random graph name is fixed.

It also writes
    test/onnx/models/MANIFEST      one model folder per line
    test/onnx/models/VERSIONS.txt  versions of the exporters and runtime used
    test/onnx/models/OPS.txt       per model: exporter, opset, size, inputs,
                                   outputs, op types, and constructs that an
                                   importer must handle (shape subgraphs,
                                   non-default domains, int64 tensors, ...)

The models (weights are seeded random, BatchNorm statistics non-trivial,
everything in eval mode; only the scikit-learn model is actually trained):

  cnn_residual       PyTorch: Conv+BatchNorm+ReLU stem, two residual basic
                     blocks (the second strided with a 1x1 Conv+BatchNorm
                     projection), a final BatchNorm+ReLU after the last
                     residual Add (so it cannot be folded into a Conv),
                     global average pooling, flatten, Linear.  [B,3,16,16]
                     -> [B,5].  Opset 13 (TorchScript exporter) and 18
                     (dynamo exporter).
  mlp_gelu           PyTorch: Linear, LayerNorm, GELU (exact, erf) twice, then
                     Linear.  [B,20] -> [B,4].  Opset 13 (TorchScript: the
                     LayerNorm is decomposed into ReduceMean/Sub/Pow/Sqrt/Div)
                     and 18 (dynamo: LayerNormalization).
  mlp_gelu_tanh      The same MLP with GELU(approximate="tanh").  Opset 13
                     (TorchScript: the tanh formula spelled out in Mul/Pow/Tanh)
                     and 20 (dynamo: the Gelu op with approximate="tanh").
  transformer_encoder  PyTorch nn.TransformerEncoderLayer(d_model=16, nhead=2,
                     dim_feedforward=32, activation="gelu", batch_first=True).
                     [B,8,16] -> [B,8,16].  Opset 18 (dynamo, the nn layer
                     itself) and 14 and 17 (TorchScript, which cannot trace the nn
                     layer in torch 2.15, so an op-by-op twin sharing its
                     weights, reshaping with the traced batch size as
                     Hugging Face models do, checked equal to the layer).
  tabular_embedding  PyTorch: two graph inputs, "category" int64 [B,2] (two
                     categorical columns, each looked up in its own
                     nn.Embedding) and "dense" float [B,5]; the embeddings and
                     dense features are concatenated into an MLP.  -> [B,2].
                     Opset 13 (TorchScript) and 18 (dynamo).
  conv1d             PyTorch: Conv1d(padding 2) + ReLU + MaxPool1d, Conv1d
                     (dilation 2) + ReLU + MaxPool1d, flatten, Linear.
                     [B,4,32] -> [B,3].  Opset 11 (TorchScript) and 18
                     (dynamo).
  sklearn_mlp        scikit-learn MLPClassifier (hidden 16, 8; ReLU) trained on
                     a synthetic 3-class problem, converted by skl2onnx with
                     zipmap=False: outputs "label" (int64 [B]) and
                     "probabilities" (float [B,3]).  [B,6].  Converted with
                     target opsets 11 and 18; skl2onnx writes the newest
                     opset its ops need, which names the folder (ai.onnx.ml
                     domain version 1 in both).
  nhwc_cnn           Hand-built with onnx.helper in the pattern tf2onnx emits
                     for a Keras model: NHWC input [B,16,16,3], Transpose to
                     NCHW, Conv (explicit "same" pads) + Relu, MaxPool, Conv
                     (valid) + Relu, Transpose back to NHWC, Reshape to
                     [-1, N] (Keras Flatten), MatMul+Add (Dense), Relu,
                     MatMul+Add, Softmax.  -> [B,4].  Opsets 11 and 18.
"""

import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")
BATCH = 3
CHECK_BATCHES = (3, 1, 5)
TOLERANCE = 1e-4
MAX_BYTES = 200 * 1024

# Ops whose presence makes an importer fold a shape computation at load time.
SHAPE_OPS = {"Shape", "Size", "ConstantOfShape", "Range", "Equal", "Where",
             "Expand", "If", "Loop", "Scan", "NonZero"}


def fail(message):
    """Stop the script with an error."""
    sys.exit("export_models.py: " + message)


# --------------------------------------------------------------------------
# writing and checking one model
# --------------------------------------------------------------------------

def graph_inputs(model):
    """The graph inputs that are not initializers, in order."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def check_batch_axis(model, name):
    """Fail unless every graph input and output has a dynamic first dim."""
    for value in list(graph_inputs(model)) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if not dims or dims[0].HasField("dim_value"):
            fail("%s: \"%s\" has no dynamic batch axis (dims %s)"
                 % (name, value.name, [str(d).strip() for d in dims]))


def check_no_external_data(model, name):
    """Fail if any initializer refers to an external data file."""
    for init in model.graph.initializer:
        if init.data_location == TensorProto.EXTERNAL:
            fail("%s: initializer %s is stored externally" % (name, init.name))


def compare(name, batch, what, got, expected):
    """Fail unless got matches expected (exactly for integers, else 1e-4)."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        fail("%s batch %d %s: shape %s, framework gives %s"
             % (name, batch, what, got.shape, expected.shape))
    if np.issubdtype(expected.dtype, np.integer):
        if not np.array_equal(got, expected):
            fail("%s batch %d %s: ORT %s, framework %s"
                 % (name, batch, what, got, expected))
        return 0.0
    diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
    if not diff <= TOLERANCE:
        fail("%s batch %d %s: max |ORT - framework| = %g > %g"
             % (name, batch, what, diff, TOLERANCE))
    return diff


def run_ort(model_bytes, feeds):
    """Run the model with ONNX Runtime's CPU provider."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def notable_constructs(model):
    """List what an importer must handle beyond plain default-domain ops."""
    notes = []
    ops = [n.op_type for n in model.graph.node]
    domains = sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if domains:
        notes.append("non-default domains: " + ", ".join(
            "%s (%s)" % (d, ", ".join(sorted({n.op_type for n in model.graph.node if n.domain == d})))
            for d in domains))
    if model.functions:
        notes.append("model-local functions: " + ", ".join(f.name for f in model.functions))
    shape_ops = sorted(set(ops) & SHAPE_OPS)
    if shape_ops:
        notes.append("shape/control ops: " + ", ".join(shape_ops))
    subgraphs = [n.op_type for n in model.graph.node
                 if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                        for a in n.attribute)]
    if subgraphs:
        notes.append("nodes with subgraphs: " + ", ".join(subgraphs))
    constants = sum(1 for o in ops if o == "Constant")
    if constants:
        notes.append("%d Constant nodes" % constants)
    io_types = sorted({TensorProto.DataType.Name(v.type.tensor_type.elem_type)
                       for v in list(graph_inputs(model)) + list(model.graph.output)
                       if v.type.tensor_type.elem_type != TensorProto.FLOAT})
    if io_types:
        notes.append("non-float graph inputs/outputs: " + ", ".join(io_types))
    if any(not v.type.tensor_type.shape.dim[0].dim_param
           for v in list(graph_inputs(model)) + list(model.graph.output)):
        notes.append("batch axis without a name (dim with neither dim_value nor dim_param)")
    if len(model.graph.output) > 1:
        notes.append("%d graph outputs" % len(model.graph.output))
    multi = sorted({n.op_type for n in model.graph.node if len(n.output) > 1})
    if multi:
        notes.append("nodes with several outputs: " + ", ".join(multi))
    notes += batch_axis_moves(model)
    storage = sorted({"%s in %s" % (TensorProto.DataType.Name(i.data_type),
                                    "/".join(f.name for f, _ in i.ListFields()
                                             if f.name not in ("name", "dims", "data_type")))
                      for i in model.graph.initializer})
    notes.append("initializer storage: " + ", ".join(storage))
    node_metadata = sum(len(n.metadata_props) for n in model.graph.node)
    if node_metadata or model.graph.value_info:
        notes.append("%d NodeProto.metadata_props entries, %d graph value_info entries"
                     % (node_metadata, len(model.graph.value_info)))
    return notes


def constant_ints(model):
    """Integer initializers and Constant node values, by name."""
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
              if i.data_type in (TensorProto.INT64, TensorProto.INT32)}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute[0].name == "value":
            array = numpy_helper.to_array(n.attribute[0].t)
            if np.issubdtype(array.dtype, np.integer):
                values[n.output[0]] = array
    return values


def batch_axis_moves(model):
    """Transposes and constant-shape Reshapes that move the batch off axis 0."""
    notes = []
    ints = constant_ints(model)
    for n in model.graph.node:
        if n.op_type == "Transpose":
            perm = list(helper.get_attribute_value(n.attribute[0]))
            if perm[0] != 0:
                notes.append("Transpose %s perm %s moves the batch axis" % (n.name, perm))
        elif n.op_type == "Reshape" and n.input[1] in ints:
            shape = ints[n.input[1]].tolist()
            if shape[0] not in (-1, 0) or -1 in shape[1:]:
                notes.append("Reshape %s to constant shape %s does not keep the batch as dim 0"
                             % (n.name, shape))
    return notes


def describe_value(value):
    """Name, element type and shape of a graph input or output."""
    tt = value.type.tensor_type
    dims = [d.dim_param if d.dim_param else str(d.dim_value) if d.HasField("dim_value") else "?"
            for d in tt.shape.dim]
    return "%s %s [%s]" % (value.name, TensorProto.DataType.Name(tt.elem_type).lower(),
                           ",".join(dims))


def write_model(name, exporter, model, make_inputs, reference):
    """Check one exported model against its framework and write its folder.

    make_inputs(batch) returns the numpy inputs in graph input order;
    reference(inputs) returns the framework's outputs in graph output order.
    Returns the summary lines for OPS.txt.
    """
    onnx.checker.check_model(model, full_check=True)
    check_batch_axis(model, name)
    check_no_external_data(model, name)
    data = model.SerializeToString()
    if len(data) > MAX_BYTES:
        fail("%s: %d bytes, more than %d" % (name, len(data), MAX_BYTES))
    ins = graph_inputs(model)
    outs = list(model.graph.output)

    worst = 0.0
    written = None
    for batch in CHECK_BATCHES:
        inputs = make_inputs(batch)
        if len(inputs) != len(ins):
            fail("%s: %d inputs made for %d graph inputs" % (name, len(inputs), len(ins)))
        got = run_ort(data, {v.name: x for v, x in zip(ins, inputs)})
        expected = reference(inputs)
        if len(got) != len(outs) or len(expected) != len(outs):
            fail("%s: %d graph outputs, ORT gave %d, framework %d"
                 % (name, len(outs), len(got), len(expected)))
        for j, (g, e) in enumerate(zip(got, expected)):
            worst = max(worst, compare(name, batch, outs[j].name, g, e))
        if batch == BATCH:
            written = (inputs, got)

    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "test_data_set_0"))
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(data)
    inputs, got = written
    for prefix, values, arrays in (("input", ins, inputs), ("output", outs, got)):
        for i, (value, array) in enumerate(zip(values, arrays)):
            tensor = numpy_helper.from_array(np.ascontiguousarray(array), value.name)
            path = os.path.join(folder, "test_data_set_0", "%s_%d.pb" % (prefix, i))
            with open(path, "wb") as f:
                f.write(tensor.SerializeToString())

    opsets = ", ".join("%s %d" % (o.domain or "ai.onnx", o.version) for o in model.opset_import)
    op_types = sorted({(n.domain + "." if n.domain else "") + n.op_type
                       for n in model.graph.node})
    lines = ["%s" % name,
             "  exporter: %s" % exporter,
             "  opset_import: %s; ir_version %d; %d bytes; %d nodes"
             % (opsets, model.ir_version, len(data), len(model.graph.node)),
             "  inputs: " + "; ".join(describe_value(v) for v in ins),
             "  outputs: " + "; ".join(describe_value(v) for v in outs),
             "  ops: " + " ".join(op_types)]
    lines += ["  note: " + n for n in notable_constructs(model)]
    lines.append("  max |ORT - framework| over batches %s: %.3g"
                 % ("/".join(str(b) for b in CHECK_BATCHES), worst))
    print("%-32s %7d bytes  max diff %.3g" % (name, len(data), worst))
    return lines


# --------------------------------------------------------------------------
# PyTorch exports
# --------------------------------------------------------------------------

def export_torch(module, args, input_names, output_names, opset, dynamo):
    """Export module with the TorchScript or the dynamo exporter, batch dynamic."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if dynamo:
                batch = torch.export.Dim("batch", min=1, max=4096)
                torch.onnx.export(module, args, path, dynamo=True, external_data=False,
                                  opset_version=opset, input_names=input_names,
                                  output_names=output_names,
                                  dynamic_shapes=tuple({0: batch} for _ in args))
            else:
                axes = {n: {0: "batch"} for n in list(input_names) + list(output_names)}
                torch.onnx.export(module, args, path, dynamo=False, opset_version=opset,
                                  input_names=input_names, output_names=output_names,
                                  dynamic_axes=axes)
        model = onnx.load(path)
    drop_stack_traces(model)
    return model


def drop_stack_traces(model):
    """Remove the dynamo exporter's per-node Python stack traces.

    They hold this checkout's absolute paths and this script's line numbers,
    so keeping them would change the committed models on every edit; the
    other metadata_props entries stay, as an importer must skip them.
    """
    for node in model.graph.node:
        kept = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)


def torch_case(name, make_module, make_inputs, input_names, output_names, opsets):
    """Export a PyTorch module at (opset, dynamo) pairs and write each model.

    make_module(dynamo) builds the module in the same state each time.
    """
    summaries = []
    for opset, dynamo in opsets:
        torch.manual_seed(0)
        module = make_module(dynamo).eval()

        def reference(inputs):
            with torch.no_grad():
                out = module(*[torch.from_numpy(x) for x in inputs])
            outs = out if isinstance(out, tuple) else (out,)
            return [o.numpy() for o in outs]

        args = tuple(torch.from_numpy(x) for x in make_inputs(BATCH))
        model = export_torch(module, args, input_names, output_names, opset, dynamo)
        exporter = "torch %s %s" % (torch.__version__,
                                    "dynamo (torch.export)" if dynamo else "TorchScript (dynamo=False)")
        summaries += write_model("%s_opset%d" % (name, opset), exporter, model,
                                 make_inputs, reference)
    return summaries


def float_inputs(seed, *shape):
    """A make_inputs function giving one seeded normal float32 input."""
    def make(batch):
        rng = np.random.default_rng(seed + batch)
        return [rng.standard_normal((batch,) + shape).astype(np.float32)]
    return make


def randomize_batchnorm(module):
    """Give every BatchNorm non-trivial affine weights and running statistics."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.uniform_(0.8, 1.2)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return module


class BasicBlock(nn.Module):
    """ResNet basic block: conv-bn-relu-conv-bn plus identity or projection."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.project = None
        if stride != 1 or cin != cout:
            self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.project is None else self.project(x)
        return torch.relu(y + skip)


class ResidualCNN(nn.Module):
    """Small ResNet: stem, two basic blocks, final BN+ReLU, pooling, Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.block1 = BasicBlock(8, 8, 1)
        self.block2 = BasicBlock(8, 16, 2)
        self.final_bn = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)
        randomize_batchnorm(self)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        x = torch.relu(self.final_bn(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def randomize_layernorm(module):
    """Give every LayerNorm non-trivial scale and bias."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.8, 1.2)
                m.bias.normal_(0.0, 0.1)
    return module


def make_mlp(approximate):
    """Linear/LayerNorm/GELU MLP with the given GELU approximation."""
    return randomize_layernorm(nn.Sequential(
        nn.Linear(20, 32), nn.LayerNorm(32), nn.GELU(approximate=approximate),
        nn.Linear(32, 32), nn.LayerNorm(32), nn.GELU(approximate=approximate),
        nn.Linear(32, 4)))


def make_encoder_layer():
    """One batch-first transformer encoder layer with GELU feed-forward."""
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0,
                                       activation="gelu", batch_first=True)
    return randomize_layernorm(layer).eval()


class EncoderBlock(nn.Module):
    """nn.TransformerEncoderLayer (post-norm, GELU) written out op by op.

    The TorchScript exporter of torch 2.15 cannot trace the nn layer (its
    attention passes is_causal as a traced tensor), so that export uses this
    block, which shares the layer's weights and is checked equal to it.
    """

    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.heads = layer.self_attn.num_heads

    def forward(self, x):
        layer = self.layer
        batch, length, width = x.shape
        size = width // self.heads
        qkv = nn.functional.linear(x, layer.self_attn.in_proj_weight,
                                   layer.self_attn.in_proj_bias)
        q, k, v = (t.reshape(batch, length, self.heads, size).transpose(1, 2)
                   for t in qkv.split(width, dim=-1))
        scores = torch.matmul(q, k.transpose(-2, -1)) / (size ** 0.5)
        attn = torch.matmul(torch.softmax(scores, dim=-1), v)
        attn = layer.self_attn.out_proj(attn.transpose(1, 2).reshape(batch, length, width))
        x = layer.norm1(x + attn)
        return layer.norm2(x + layer.linear2(layer.activation(layer.linear1(x))))


def make_transformer(dynamo):
    """The nn layer for the dynamo exporter, its op-by-op twin for TorchScript."""
    layer = make_encoder_layer()
    if dynamo:
        return layer
    block = EncoderBlock(layer)
    x = torch.randn(3, 8, 16)
    with torch.no_grad():
        diff = float((block(x) - layer(x)).abs().max())
    if not diff <= 1e-5:
        fail("EncoderBlock differs from nn.TransformerEncoderLayer by %g" % diff)
    return block


class TabularEmbedding(nn.Module):
    """Two categorical columns through embeddings, joined with dense features."""

    def __init__(self):
        super().__init__()
        self.emb_a = nn.Embedding(7, 3)
        self.emb_b = nn.Embedding(5, 2)
        self.mlp = nn.Sequential(nn.Linear(3 + 2 + 5, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, category, dense):
        a = self.emb_a(category[:, 0])
        b = self.emb_b(category[:, 1])
        return self.mlp(torch.cat([a, b, dense], dim=1))


def tabular_inputs(batch):
    """Category indices (int64, in range) and dense float features."""
    rng = np.random.default_rng(40 + batch)
    category = np.stack([rng.integers(0, 7, batch), rng.integers(0, 5, batch)], axis=1)
    dense = rng.standard_normal((batch, 5)).astype(np.float32)
    return [category.astype(np.int64), dense]


class Conv1dNet(nn.Module):
    """Two Conv1d/ReLU/MaxPool1d stages, flatten, Linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(4, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                                      nn.Conv1d(8, 8, 3, dilation=2), nn.ReLU(), nn.MaxPool1d(2))
        self.fc = nn.Linear(8 * 6, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


def torch_cases():
    """All PyTorch models, each at a TorchScript and a dynamo opset."""
    lines = []
    lines += torch_case("cnn_residual", lambda dynamo: ResidualCNN(), float_inputs(1, 3, 16, 16),
                        ["input"], ["logits"], [(13, False), (18, True)])
    lines += torch_case("mlp_gelu", lambda dynamo: make_mlp("none"), float_inputs(2, 20),
                        ["input"], ["output"], [(13, False), (18, True)])
    lines += torch_case("mlp_gelu_tanh", lambda dynamo: make_mlp("tanh"), float_inputs(3, 20),
                        ["input"], ["output"], [(13, False), (20, True)])
    lines += torch_case("transformer_encoder", make_transformer, float_inputs(4, 8, 16),
                        ["input"], ["output"], [(14, False), (17, False), (18, True)])
    lines += torch_case("tabular_embedding", lambda dynamo: TabularEmbedding(), tabular_inputs,
                        ["category", "dense"], ["output"], [(13, False), (18, True)])
    lines += torch_case("conv1d", lambda dynamo: Conv1dNet(), float_inputs(6, 4, 32),
                        ["input"], ["output"], [(11, False), (18, True)])
    return lines


# --------------------------------------------------------------------------
# scikit-learn through skl2onnx
# --------------------------------------------------------------------------

def sklearn_cases():
    """MLPClassifier trained on synthetic data, converted at two opsets."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_redundant=1,
                               n_classes=3, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=400, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X.astype(np.float32), y)

    def reference(inputs):
        return [clf.predict(inputs[0]).astype(np.int64), clf.predict_proba(inputs[0])]

    import skl2onnx
    import sklearn
    lines = []
    for target in (11, 18):
        model = convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 6]))],
                                options={id(clf): {"zipmap": False}},
                                target_opset={"": target, "ai.onnx.ml": 1})
        model.graph.name = "sklearn_mlp"   # skl2onnx names the graph with a random uuid
        # skl2onnx lowers the opset to the newest one its ops need
        opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0]
        exporter = "skl2onnx %s (scikit-learn %s), zipmap=False, target_opset %d" % (
            skl2onnx.__version__, sklearn.__version__, target)
        lines += write_model("sklearn_mlp_opset%d" % opset, exporter, model,
                             float_inputs(7, 6), reference)
    return lines


# --------------------------------------------------------------------------
# NHWC model in tf2onnx's pattern, built with onnx.helper
# --------------------------------------------------------------------------

def nhwc_weights():
    """Seeded Keras-like weights: HWIO-trained kernels already in OIHW for ONNX."""
    rng = np.random.default_rng(8)

    def glorot(shape, fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    w = {}
    w["conv1_w"] = glorot((8, 3, 3, 3), 27, 72)
    w["conv1_b"] = (0.05 * rng.standard_normal(8)).astype(np.float32)
    w["conv2_w"] = glorot((8, 8, 3, 3), 72, 72)
    w["conv2_b"] = (0.05 * rng.standard_normal(8)).astype(np.float32)
    w["dense1_w"] = glorot((6 * 6 * 8, 16), 288, 16)
    w["dense1_b"] = (0.05 * rng.standard_normal(16)).astype(np.float32)
    w["dense2_w"] = glorot((16, 4), 16, 4)
    w["dense2_b"] = (0.05 * rng.standard_normal(4)).astype(np.float32)
    return w


def nhwc_graph(opset, w):
    """The tf2onnx-style graph for a Keras Conv/MaxPool/Flatten/Dense model."""
    prefix = "StatefulPartitionedCall/sequential/"
    inits = [numpy_helper.from_array(v, prefix + k) for k, v in w.items()]
    inits.append(numpy_helper.from_array(np.array([-1, 6 * 6 * 8], np.int64),
                                         "const_fold_opt__flatten_shape"))

    def W(key):
        """The tf2onnx-style name of a weight."""
        return prefix + key

    nodes = [
        helper.make_node("Transpose", ["input_1"], ["conv2d__6:0"], perm=[0, 3, 1, 2],
                         name=prefix + "conv2d/BiasAdd__6"),
        helper.make_node("Conv", ["conv2d__6:0", W("conv1_w"), W("conv1_b")], ["conv2d:0"],
                         kernel_shape=[3, 3], strides=[1, 1], dilations=[1, 1],
                         pads=[1, 1, 1, 1], group=1, name=prefix + "conv2d/BiasAdd"),
        helper.make_node("Relu", ["conv2d:0"], ["relu:0"], name=prefix + "conv2d/Relu"),
        helper.make_node("MaxPool", ["relu:0"], ["pool:0"], kernel_shape=[2, 2],
                         strides=[2, 2], name=prefix + "max_pooling2d/MaxPool"),
        helper.make_node("Conv", ["pool:0", W("conv2_w"), W("conv2_b")], ["conv2d_1:0"],
                         kernel_shape=[3, 3], strides=[1, 1], dilations=[1, 1],
                         pads=[0, 0, 0, 0], group=1, name=prefix + "conv2d_1/BiasAdd"),
        helper.make_node("Relu", ["conv2d_1:0"], ["relu_1:0"], name=prefix + "conv2d_1/Relu"),
        helper.make_node("Transpose", ["relu_1:0"], ["relu_1__nhwc:0"], perm=[0, 2, 3, 1],
                         name=prefix + "conv2d_1/Relu__14"),
        helper.make_node("Reshape", ["relu_1__nhwc:0", "const_fold_opt__flatten_shape"],
                         ["flatten:0"], name=prefix + "flatten/Reshape"),
        helper.make_node("MatMul", ["flatten:0", W("dense1_w")], ["dense_mm:0"],
                         name=prefix + "dense/MatMul"),
        helper.make_node("Add", ["dense_mm:0", W("dense1_b")], ["dense:0"],
                         name=prefix + "dense/BiasAdd"),
        helper.make_node("Relu", ["dense:0"], ["dense_relu:0"], name=prefix + "dense/Relu"),
        helper.make_node("MatMul", ["dense_relu:0", W("dense2_w")], ["dense_1_mm:0"],
                         name=prefix + "dense_1/MatMul"),
        helper.make_node("Add", ["dense_1_mm:0", W("dense2_b")], ["dense_1:0"],
                         name=prefix + "dense_1/BiasAdd"),
        helper.make_node("Softmax", ["dense_1:0"], ["dense_1"],
                         axis=1 if opset < 13 else -1, name=prefix + "dense_1/Softmax"),
    ]
    graph = helper.make_graph(
        nodes, "tf2onnx",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__20", 16, 16, 3])],
        [helper.make_tensor_value_info("dense_1", TensorProto.FLOAT, ["unk__21", 4])],
        inits)
    model = helper.make_model(graph, producer_name="tf2onnx-pattern (pg_infer export_models.py)",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 6 if opset < 13 else 8
    return model


def nhwc_reference(w):
    """A numpy forward of the NHWC model, independent of ONNX Runtime."""
    def conv(x, k, b, pad):
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        oh, ow = x.shape[2] - 2, x.shape[3] - 2
        cols = np.stack([x[:, :, i:i + oh, j:j + ow] for i in range(3) for j in range(3)], axis=2)
        kernel = k.reshape(k.shape[0], k.shape[1], 9)
        return np.einsum("nckhw,ock->nohw", cols, kernel) + b[None, :, None, None]

    def forward(inputs):
        x = inputs[0].astype(np.float64).transpose(0, 3, 1, 2)
        x = np.maximum(conv(x, w["conv1_w"], w["conv1_b"], 1), 0)
        n, c, h, wd = x.shape
        x = x.reshape(n, c, h // 2, 2, wd // 2, 2).max(axis=(3, 5))
        x = np.maximum(conv(x, w["conv2_w"], w["conv2_b"], 0), 0)
        x = x.transpose(0, 2, 3, 1).reshape(n, -1)
        x = np.maximum(x @ w["dense1_w"] + w["dense1_b"], 0)
        x = x @ w["dense2_w"] + w["dense2_b"]
        x = np.exp(x - x.max(axis=1, keepdims=True))
        return [x / x.sum(axis=1, keepdims=True)]
    return forward


def nhwc_cases():
    """The NHWC model at opsets 11 and 18."""
    w = nhwc_weights()
    lines = []
    for opset in (11, 18):
        lines += write_model("nhwc_cnn_opset%d" % opset,
                             "onnx.helper %s, tf2onnx-style NHWC pattern" % onnx.__version__,
                             nhwc_graph(opset, w), float_inputs(9, 16, 16, 3), nhwc_reference(w))
    return lines


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def versions():
    """The versions of everything that made or checked the models."""
    import google.protobuf
    import onnxscript
    import skl2onnx
    import sklearn
    return ["python %s" % sys.version.split()[0],
            "torch %s" % torch.__version__,
            "onnxscript %s" % onnxscript.__version__,
            "onnx %s" % onnx.__version__,
            "onnxruntime %s" % ort.__version__,
            "skl2onnx %s" % skl2onnx.__version__,
            "scikit-learn %s" % sklearn.__version__,
            "numpy %s" % np.__version__,
            "protobuf %s" % google.protobuf.__version__]


def main():
    """Export, check and write every model, then the MANIFEST and notes."""
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    lines = torch_cases() + sklearn_cases() + nhwc_cases()
    names = sorted(l for l in lines if not l.startswith(" "))
    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    with open(os.path.join(OUT, "VERSIONS.txt"), "w") as f:
        f.write("# Generated by test/onnx/export_models.py\n")
        f.write("".join(v + "\n" for v in versions()))
    with open(os.path.join(OUT, "OPS.txt"), "w") as f:
        f.write("# Generated by test/onnx/export_models.py: what each model contains\n\n")
        f.write("".join(l + "\n" for l in lines))
    print("wrote %d models to %s" % (len(names), OUT))


if __name__ == "__main__":
    main()
