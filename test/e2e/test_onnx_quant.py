"""Quantized ONNX models (QDQ form, test/onnx/quant, written by
test/onnx/make_quant_models.py from onnxruntime.quantization.quantize_static)
through SQL: the shared CNN's MNIST accuracy batched and per row, ONNX
Runtime's outputs on every fixture, the float32 CNN at precision int8 (its
Convs and Gemms on the int8 path), and bad quantization parameters
(test/onnx/quant-malformed) refused with ERROR 22023 and nothing stored."""
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
# float32 LeNet: 9813 of 10000 (98.13%); int8 must stay within 0.3 points
FLOAT_CORRECT = 9813


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


def test_shared_cnn_static_qdq_accuracy(conn):
    batched, per_row = mnist_correct_batched_and_per_row(
        conn, "cnn8", (QUANT / "lenet_qdq_channel" / "model.onnx").read_bytes(),
        f'{{"input_scale": {MNIST_SCALE}}}')
    print(f"LeNet static QDQ int8 through SQL: {batched} batched, {per_row} per row, of 10000")
    assert batched == per_row
    assert abs(batched - FLOAT_CORRECT) <= 30


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


def test_bad_quantization_parameters_are_refused_and_not_stored(conn):
    """Scales zero, negative, NaN, infinite; zero points outside their type;
    axis out of range; scales and zero points of mismatched shapes: on a
    weight and on an activation."""
    folder = ROOT / "test" / "onnx" / "quant-malformed"
    cases = [line.split("\t") for line in (folder / "EXPECTED").read_text().splitlines()]
    assert len(cases) >= 16
    for name, fragment in cases:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
            conn.execute("SELECT create_model(%s, onnx => %s)", (name, (folder / f"{name}.onnx").read_bytes()))
        assert fragment in raised.value.diag.message_primary + (raised.value.diag.message_detail or ""), \
            (name, raised.value.diag.message_primary, raised.value.diag.message_detail)
    assert conn.execute("SELECT count(*) FROM pginfer.model").fetchone()[0] == 0
