"""Quantized ONNX models (test/onnx/quant, written by
test/onnx/make_quant_models.py from onnxruntime.quantization's
quantize_static in QDQ and QOperator form and quantize_dynamic) through
SQL: the shared CNN's MNIST accuracy batched and per row, ONNX Runtime's
outputs on every fixture (on 1000 or 200 rows for the QOperator and
quantize_dynamic files, test/onnx/make_quant_reference.py), the float32 CNN
at precision int8 (its Convs and Gemms on the int8 path), and bad
quantization parameters (test/onnx/quant-malformed) refused with ERROR
22023 (42804 for inputs of the wrong type) and nothing stored."""
import sys

import numpy as np
import psycopg
import pytest

from conftest import MNIST_SCALE, ROOT, load_mnist_test_set
from test_mnist import load_digits

sys.path.insert(0, str(ROOT / "test"))
import onnx_pb  # noqa: E402

QUANT = ROOT / "test" / "onnx" / "quant"
SHARED_CNN = ROOT.parent / "shared" / "models" / "mnist_cnn_pytorch.onnx"
QDQ = sorted(p.name for p in QUANT.iterdir() if "_qdq_" in p.name)
OPERATOR_FORMS = sorted(p.name for p in QUANT.iterdir() if p.name.endswith(("_qoperator", "_dynamic")))
# float32 LeNet: 9813 of 10000 (98.13%); int8 must stay within 0.3 points
FLOAT_CORRECT = 9813


# ONNX Runtime's counts on the 10000 MNIST test images (quantize_dynamic row by row)
ORT_CORRECT = {"lenet_qdq_channel": 9813, "lenet_qoperator": 9813, "lenet_dynamic": 9813}


def mnist_correct_batched_and_per_row(conn, model, onnx, options):
    """Creates a model from ONNX bytes; its MNIST test-set count, batched and per row."""
    conn.execute("SELECT create_model(%s, onnx => %s, options => %s::jsonb)", (model, onnx, options))
    images, labels = load_mnist_test_set()
    load_digits(conn, images, labels, storage="PLAIN")
    query = "SELECT count(*) FROM digits WHERE predict_class(%s, features) = label"
    batched = conn.execute(query, (model,)).fetchone()[0]
    conn.execute("SET pg_infer.batching = off")
    per_row = conn.execute(query, (model,)).fetchone()[0]
    conn.execute("RESET pg_infer.batching")
    return batched, per_row


@pytest.mark.parametrize("name", sorted(ORT_CORRECT))
def test_shared_cnn_quantized_accuracy(conn, name):
    batched, per_row = mnist_correct_batched_and_per_row(
        conn, "cnn8", (QUANT / name / "model.onnx").read_bytes(), f'{{"input_scale": {MNIST_SCALE}}}')
    print(f"LeNet {name} through SQL: {batched} batched, {per_row} per row, of 10000 "
          f"(ONNX Runtime {ORT_CORRECT[name]})")
    assert batched == per_row
    assert abs(batched - FLOAT_CORRECT) <= 30
    assert batched == ORT_CORRECT[name]


def test_shared_cnn_precision_int8_accuracy(conn):
    batched, per_row = mnist_correct_batched_and_per_row(
        conn, "cnn_int8", SHARED_CNN.read_bytes(), f'{{"input_scale": {MNIST_SCALE}, "precision": "int8"}}')
    print(f"LeNet at precision int8 through SQL: {batched} batched, {per_row} per row, of 10000")
    assert conn.execute("SELECT precision FROM pginfer.models WHERE name = 'cnn_int8'").fetchone()[0] == "int8"
    assert batched == per_row
    assert abs(batched - FLOAT_CORRECT) <= 30


@pytest.mark.parametrize("name", QDQ)
def test_qdq_model_matches_onnx_runtime(conn, name):
    folder = QUANT / name
    conn.execute("SELECT create_model(%s, onnx => %s)", (name, (folder / "model.onnx").read_bytes()))
    x = onnx_pb.read_tensor(folder / "test_data_set_0" / "input_0.pb")
    want = onnx_pb.read_tensor(folder / "test_data_set_0" / "output_0.pb").astype(np.float64)
    rows = x.reshape(x.shape[0], -1).tolist()
    batched = np.array(conn.execute("SELECT predict_batch(%s, %s::real[])", (name, rows)).fetchone()[0],
                       dtype=np.float64)
    per_row = np.array([conn.execute("SELECT predict(%s, %s::real[])", (name, r)).fetchone()[0]
                        for r in rows], dtype=np.float64)
    want = want.reshape(want.shape[0], -1)
    # the outputs are codes times the output's scale: their smallest gap is one step
    step = np.min(np.diff(np.unique(want)))
    for got in (batched, per_row):
        assert got.shape == want.shape
        if "uint8_weights" in name:
            # asymmetric weights are quantized again per column: within one output step
            assert np.max(np.abs(got - want)) <= step * 1.001, (name, step)
        else:
            worst = np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))
            assert worst <= 1e-4, f"{name}: worst relative error {worst:.2e}"
        assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


def reference_rows(name):
    """The rows of test/onnx/make_quant_reference.py, as flat lists."""
    if name.startswith("resnet"):
        rows = np.random.default_rng(2027).standard_normal((200, 3, 32, 32)).astype(np.float32)
    else:
        rows = load_mnist_test_set()[0][:1000].astype(np.float32) / 255.0
    return rows.reshape(rows.shape[0], -1)


@pytest.mark.parametrize("name", OPERATOR_FORMS)
def test_operator_form_matches_onnx_runtime(conn, name):
    """QOperator: every output within one step of the output's codes of ONNX
    Runtime's; quantize_dynamic (MatMulInteger and ConvInteger on the int8
    path, each row quantized as DynamicQuantizeLinear quantizes a tensor):
    of ONNX Runtime's on each row alone within 1e-5 relative (measured:
    6e-8).  Argmax agrees on at least 99.8% of the rows."""
    folder = QUANT / name
    conn.execute("SELECT create_model(%s, onnx => %s)", (name, (folder / "model.onnx").read_bytes()))
    rows = reference_rows(name)
    want = onnx_pb.read_tensor(folder / "ort_rows.pb").astype(np.float64)
    want = want.reshape(want.shape[0], -1)
    batched = np.array(conn.execute("SELECT predict_batch(%s, %s::real[])", (name, rows.tolist())).fetchone()[0],
                       dtype=np.float64)
    per_row = np.array([conn.execute("SELECT predict(%s, %s::real[])", (name, r)).fetchone()[0]
                        for r in rows[:100].tolist()], dtype=np.float64)
    assert (per_row == batched[:100]).all()
    assert batched.shape == want.shape
    error = np.abs(batched - want)
    if name.endswith("_qoperator"):
        step = np.min(np.diff(np.unique(want)))
        bound = step * 1.001
    else:
        bound = 1e-5 * np.maximum(1.0, np.abs(want))
    agree = float(np.mean(batched.argmax(axis=1) == want.argmax(axis=1)))
    print(f"{name}: {len(want)} rows, worst |ours - ORT| {error.max():.3g}, argmax agreement {agree:.4f}")
    assert (error <= bound).all(), (name, float(error.max()))
    assert agree >= 0.998


def test_bad_quantization_parameters_are_refused_and_not_stored(conn):
    """Scales zero, negative, NaN, infinite; zero points outside their type;
    axis out of range; scales and zero points of mismatched shapes: on a
    weight and on an activation."""
    folder = ROOT / "test" / "onnx" / "quant-malformed"
    cases = [line.split("\t") for line in (folder / "EXPECTED").read_text().splitlines()]
    assert len(cases) >= 36
    for name, fragment, *kind in cases:
        error = psycopg.errors.DatatypeMismatch if kind == ["dtype"] else psycopg.errors.InvalidParameterValue
        with pytest.raises(error) as raised:
            conn.execute("SELECT create_model(%s, onnx => %s)", (name, (folder / f"{name}.onnx").read_bytes()))
        assert fragment in raised.value.diag.message_primary + (raised.value.diag.message_detail or ""), \
            (name, raised.value.diag.message_primary, raised.value.diag.message_detail)
    assert conn.execute("SELECT count(*) FROM pginfer.model").fetchone()[0] == 0
