"""ONNX models through SQL: the third-party MNIST CNN reproduces its reference
accuracy, the models of real exporters (test/onnx/models) agree with ONNX
Runtime, external data is read from beside the file, and what cannot be
imported is refused with nothing stored."""
import json
import os
import pathlib
import shutil
import sys

import numpy as np
import psycopg
import pytest

from conftest import MNIST_SCALE, ROOT, conninfo, load_mnist_test_set
from test_mnist import load_digits

sys.path.insert(0, str(ROOT / "test"))
import onnx_pb  # noqa: E402

SHARED_CNN = ROOT.parent / "shared" / "models" / "mnist_cnn_pytorch.onnx"
MODELS = ROOT / "test" / "onnx" / "models"
# models whose only input is float and whose first output is compared
SINGLE_INPUT = ["cnn_residual_opset13", "cnn_residual_opset18", "conv1d_opset11", "conv1d_opset18",
                "mlp_gelu_opset13", "mlp_gelu_opset18", "mlp_gelu_tanh_opset13",
                "mlp_gelu_tanh_opset20", "nhwc_cnn_opset11", "nhwc_cnn_opset18",
                "transformer_encoder_opset14", "transformer_encoder_opset17",
                "transformer_encoder_opset18"]


def reference_accuracy():
    """The correct count that ../shared/models/README.md gives for the CNN."""
    return 9813


def test_shared_mnist_cnn_reproduces_reference_accuracy(conn):
    onnx = SHARED_CNN.read_bytes()
    version = conn.execute("SELECT create_model('cnn', onnx => %s, options => %s::jsonb)",
                           (onnx, f'{{"input_scale": {MNIST_SCALE}}}')).fetchone()[0]
    assert version == 1
    fmt, source = conn.execute("SELECT format, source FROM pginfer.models WHERE name = 'cnn'").fetchone()
    assert fmt == "onnx" and source["opset"] == 10 and source["producer"].startswith("pytorch")
    images, labels = load_mnist_test_set()
    load_digits(conn, images, labels, storage="PLAIN")
    query = "SELECT count(*) FROM digits WHERE predict_class('cnn', features) = label"

    def plan():
        return "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + query))

    assert "BatchPredict" in plan() and "Filter: ((predict_class('cnn'" in plan(), plan()
    batched = conn.execute(query).fetchone()[0]
    conn.execute("SET pg_infer.batching = off")
    assert "BatchPredict" not in plan(), plan()
    per_row = conn.execute(query).fetchone()[0]
    print(f"MNIST CNN (ONNX) through SQL: {batched} batched, {per_row} per row, of 10000")
    assert batched == per_row == reference_accuracy()


@pytest.mark.parametrize("name", SINGLE_INPUT)
def test_exported_model_matches_onnx_runtime(conn, name):
    conn.execute("SELECT create_model(%s, onnx => %s)", (name, (MODELS / name / "model.onnx").read_bytes()))
    x = onnx_pb.read_tensor(MODELS / name / "test_data_set_0" / "input_0.pb")
    expected = onnx_pb.read_tensor(MODELS / name / "test_data_set_0" / "output_0.pb")
    rows = x.reshape(x.shape[0], -1).tolist()
    got = np.array(conn.execute("SELECT predict_batch(%s, %s::real[])", (name, rows)).fetchone()[0],
                   dtype=np.float64)
    per_row = np.array([conn.execute("SELECT predict(%s, %s::real[])", (name, r)).fetchone()[0]
                        for r in rows], dtype=np.float64)
    b = expected.reshape(expected.shape[0], -1).astype(np.float64)
    for a in (got, per_row):
        assert a.shape == b.shape
        worst = np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))
        assert worst <= 1e-4, f"{name}: worst relative error {worst:.2e}"


def max_relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


@pytest.mark.parametrize("name", ["sklearn_mlp_opset11", "sklearn_mlp_opset16"])
def test_sklearn_classifier_label_and_probabilities(conn, name):
    """skl2onnx's two outputs: the int64 label first, then the probabilities.
    predict and predict_batch return the probabilities (the first output that
    is not class labels), predict_class the class index, predict_label the label."""
    conn.execute("SELECT create_model(%s, onnx => %s)", (name, (MODELS / name / "model.onnx").read_bytes()))
    data = MODELS / name / "test_data_set_0"
    x = onnx_pb.read_tensor(data / "input_0.pb")
    labels = onnx_pb.read_tensor(data / "output_0.pb")
    probabilities = onnx_pb.read_tensor(data / "output_1.pb")
    got = conn.execute("SELECT predict_batch(%s, %s::real[])", (name, x.tolist())).fetchone()[0]
    assert max_relative_error(got, probabilities) <= 1e-4
    for row, expected, label in zip(x.tolist(), probabilities, labels.tolist()):
        got = conn.execute("SELECT predict(%s, %s::jsonb, output => 'probabilities')",
                           (name, json.dumps({"input": row}))).fetchone()[0]
        assert max_relative_error(got, expected) <= 1e-4
        cls, text = conn.execute("SELECT predict_class(%s, %s::real[]), predict_label(%s, %s::real[])",
                                 (name, row, name, row)).fetchone()
        assert (cls, text) == (label, str(label))       # the classes are 0, 1, 2


@pytest.mark.parametrize("name", ["tabular_embedding_opset13", "tabular_embedding_opset18"])
def test_embedding_model_with_integer_and_float_inputs(conn, name):
    conn.execute("SELECT create_model(%s, onnx => %s)", (name, (MODELS / name / "model.onnx").read_bytes()))
    data = MODELS / name / "test_data_set_0"
    inputs = conn.execute("SELECT inputs FROM pginfer.models WHERE name = %s", (name,)).fetchone()[0]
    arrays = {i["name"]: onnx_pb.read_tensor(data / f"input_{k}.pb") for k, i in enumerate(inputs)}
    expected = onnx_pb.read_tensor(data / "output_0.pb")
    assert arrays["category"].dtype == np.int64
    assert {i["name"]: i["dtype"] for i in inputs}["category"] == "int64"      # as the file declares it
    for r in range(expected.shape[0]):
        row = {k: v[r].tolist() for k, v in arrays.items()}
        got = conn.execute("SELECT predict(%s, %s::jsonb)", (name, json.dumps(row))).fetchone()[0]
        assert max_relative_error(got, expected[r]) <= 1e-4


def test_external_data_beside_the_file(conn):
    source = ROOT / "test" / "onnx" / "external_data"
    # a directory the server's unprivileged user can read
    work = pathlib.Path(os.environ.get("PG_INFER_TEST_DIR", "/tmp/pg_infer_test"))
    directory = work / "onnx_external"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for f in ("model.onnx", "weights.bin"):
        shutil.copy(source / f, directory / f)
        os.chmod(directory / f, 0o644)
    for d in (work, directory):
        os.chmod(d, 0o755)
    x = onnx_pb.read_tensor(source / "input_0.pb")
    b = onnx_pb.read_tensor(source / "output_0.pb").astype(np.float64)
    conn.execute("SELECT create_model_from_onnx_file('ext', %s)", (str(directory / "model.onnx"),))
    conn.execute("SELECT create_model('ext', onnx => %s, external_data => %s)",
                 ((source / "model.onnx").read_bytes(), (source / "weights.bin").read_bytes()))
    for version in (1, 2):
        got = np.array(conn.execute("SELECT predict_batch('ext', %s::real[], %s)",
                                    (x.tolist(), version)).fetchone()[0], dtype=np.float64)
        assert np.max(np.abs(got - b) / np.maximum(1.0, np.abs(b))) <= 1e-4
    # without its external data the file is refused, and nothing is stored
    with pytest.raises(psycopg.Error) as e:
        conn.execute("SELECT create_model('ext', onnx => %s)", ((source / "model.onnx").read_bytes(),))
    assert "external" in str(e.value)
    assert conn.execute("SELECT max(version) FROM pginfer.models WHERE name = 'ext'").fetchone()[0] == 2


def test_malformed_and_unsupported_files_store_nothing(conn):
    onnx = SHARED_CNN.read_bytes()
    cases = [onnx[:len(onnx) // 2], b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"not an onnx file",
             (ROOT / "test" / "onnx" / "unsupported.onnx").read_bytes()]
    states, messages = [], []
    for data in cases:
        with pytest.raises(psycopg.Error) as e:
            conn.execute("SELECT create_model('bad', onnx => %s)", (data,))
        states.append(e.value.sqlstate)
        messages.append(str(e.value))
    assert states[:3] == ["22P03"] * 3, messages
    assert states[3] == "0A000"
    assert 'LSTM (node "lstm_1")' in messages[3] and 'Loop (node "loop_1")' in messages[3], messages[3]
    assert conn.execute("SELECT count(*) FROM pginfer.models WHERE name = 'bad'").fetchone()[0] == 0


def test_onnx_import_is_not_public(dbname, conn):
    conn.execute("CREATE ROLE onnx_user LOGIN")
    try:
        with psycopg.connect(**{**conninfo(dbname), "user": "onnx_user"}, autocommit=True) as c:
            for sql in ("SELECT create_model('x', onnx => '\\x00'::bytea)",
                        "SELECT create_model_from_onnx_file('x', '/tmp/x.onnx')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(sql)
    finally:
        conn.execute("DROP ROLE onnx_user")


def test_external_data_through_a_symlink_out_of_the_directory_is_refused(conn):
    """An ONNX file's external data location may not lead, through a symbolic
    link, to another file of the server."""
    source = ROOT / "test" / "onnx" / "external_data"
    work = pathlib.Path(os.environ.get("PG_INFER_TEST_DIR", "/tmp/pg_infer_test"))
    directory = work / "onnx_symlink"
    elsewhere = work / "onnx_symlink_target"
    for d in (directory, elsewhere):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        os.chmod(d, 0o755)
    shutil.copy(source / "model.onnx", directory / "model.onnx")
    shutil.copy(source / "weights.bin", elsewhere / "weights.bin")
    for f in (directory / "model.onnx", elsewhere / "weights.bin"):
        os.chmod(f, 0o644)
    # a link to a file outside the directory
    os.symlink(elsewhere / "weights.bin", directory / "weights.bin")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="leads outside the model's directory"):
        conn.execute("SELECT create_model_from_onnx_file('ext', %s)", (str(directory / "model.onnx"),))
    os.remove(directory / "weights.bin")
    # a link that stays inside the directory is followed
    shutil.copy(source / "weights.bin", directory / "real_weights.bin")
    os.chmod(directory / "real_weights.bin", 0o644)
    os.symlink("real_weights.bin", directory / "weights.bin")
    assert conn.execute("SELECT create_model_from_onnx_file('ext', %s)",
                        (str(directory / "model.onnx"),)).fetchone()[0] == 1
    # and so is a model directory named through a link
    os.symlink(directory, work / "onnx_symlink_alias")
    try:
        assert conn.execute("SELECT create_model_from_onnx_file('ext', %s)",
                            (str(work / "onnx_symlink_alias" / "model.onnx"),)).fetchone()[0] == 2
    finally:
        os.remove(work / "onnx_symlink_alias")
