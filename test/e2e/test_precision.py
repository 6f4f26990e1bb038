"""Models of precision bf16 and fp16 through SQL, and the weights every
reduced precision stores: models/mnist at bf16 and fp16 classifies the
10,000 MNIST test images within 0.1 points of its float32 accuracy, batched
and per row alike; a version stores its Dense weights as int8 codes (at
most 0.27 of float32's bytes) or in 16 bits (about half), and pginfer.models
and the stored chunks say so.  At int8 the CNNs store their convolutions'
weights as codes too: the shared LeNet and the ResNet-style CNN as ONNX
files, a native LeNet with batch norms, each in at most 0.27 of float32's
bytes, predicting alike once loaded again from those bytes."""
import json

import numpy as np
import psycopg
import pytest

from conftest import MNIST_SCALE, ROOT, conninfo, create_mnist, load_mnist_test_set, safetensors_bytes
from test_onnx import SHARED_CNN
from test_int8 import accuracy_batched_and_per_row
from test_mnist import load_digits

# 0.1 points of the 10,000 test images
SLACK = 10


def create_mnist_at(conn, name, precision):
    graph = (ROOT / "models/mnist/model.json").read_text()
    weights = (ROOT / "models/mnist/model.safetensors").read_bytes()
    conn.execute("SELECT create_model(%s, %s::jsonb, %s, %s::jsonb)",
                 (name, graph, weights, json.dumps({"input_scale": MNIST_SCALE, "precision": precision})))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mnist_16_bit_accuracy(conn, precision):
    reference = json.loads((ROOT / "models/mnist/reference.json").read_text())
    create_mnist_at(conn, "m16", precision)
    assert conn.execute("SELECT precision FROM pginfer.models WHERE name = 'm16'").fetchone() == (precision,)
    images, labels = load_mnist_test_set()
    load_digits(conn, images, labels, storage="PLAIN")
    batched, per_row = accuracy_batched_and_per_row(conn, "m16")
    batch = conn.execute("SELECT predict_batch('m16', array_agg(features ORDER BY id)) FROM digits "
                         "WHERE id < 2000").fetchone()[0]
    rows = conn.execute("SELECT array_agg(predict('m16', features) ORDER BY id) FROM digits "
                        "WHERE id < 2000").fetchone()[0]
    # the logits are models/mnist's, off by the rounding of the weights (so the weights were rounded)
    create_mnist(conn)
    pairs = conn.execute("SELECT predict('mnist', features), predict('m16', features) FROM digits "
                         "WHERE id < 200 ORDER BY id").fetchall()
    fp32, low = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    worst = np.abs(fp32 - low).max() / np.abs(fp32).max()
    print(f"models/mnist at {precision} through SQL: {batched} batched, {per_row} per row, of 10000 "
          f"(float32 {reference['correct']}); logits of 200 images within {worst:.5f} of the largest")
    assert 0 < worst < (2 ** -6 if precision == "bf16" else 2 ** -9)
    assert abs(batched - reference["correct"]) <= SLACK
    assert batched == per_row
    assert batch == rows


def test_versions_store_reduced_weights(conn):
    create_mnist(conn)
    for precision in ["int8", "bf16", "fp16"]:
        create_mnist_at(conn, "m_" + precision, precision)
    sizes = dict(conn.execute("SELECT precision, weight_bytes FROM pginfer.models"
                              " WHERE name IN ('mnist', 'm_int8', 'm_bf16', 'm_fp16')").fetchall())
    stored = dict(conn.execute("SELECT m.name, sum(length(c.data)) FROM pginfer.model_weight_chunk c"
                               " JOIN pginfer.model m USING (model_id) GROUP BY m.name").fetchall())
    print("weight bytes:", sizes)
    assert sizes["int8"] <= 0.27 * sizes["fp32"]
    assert sizes["bf16"] <= 0.51 * sizes["fp32"] and sizes["fp16"] == sizes["bf16"]
    assert stored["m_int8"] == sizes["int8"] and stored["m_bf16"] == sizes["bf16"]
    # every precision classifies an image alike, loaded from the stored bytes on first use
    image = "array_fill(0::real, ARRAY[784])"
    classes = conn.execute(f"SELECT predict_class('mnist', {image}), predict_class('m_int8', {image}),"
                           f" predict_class('m_bf16', {image}), predict_class('m_fp16', {image})").fetchone()
    assert len(set(classes)) == 1


RESNET = ROOT / "test/bench/models/resnet_cifar.onnx"
LENET_BN = ROOT / "test/fixtures/model_lenet_bn"


def create_cnns(conn, suffix, precision):
    """The shared LeNet and the ResNet-style CNN (ONNX) and test/fixtures' native LeNet with batch norms."""
    options = json.dumps({"precision": precision})
    conn.execute("SELECT create_model(%s, onnx => %s, options => %s::jsonb)",
                 ("lenet" + suffix, SHARED_CNN.read_bytes(), options))
    conn.execute("SELECT create_model(%s, onnx => %s, options => %s::jsonb)",
                 ("resnet" + suffix, RESNET.read_bytes(), options))
    conn.execute("SELECT create_model(%s, %s::jsonb, %s, %s::jsonb)",
                 ("lenet_bn" + suffix, (LENET_BN / "model.json").read_text(),
                  (LENET_BN / "model.safetensors").read_bytes(), options))


def cnn_predictions(conn, suffix):
    """Each CNN's outputs for a few fixed inputs."""
    rng = np.random.default_rng(3)
    images = [rng.uniform(0, 1, 784).astype("f4").tolist() for _ in range(3)]
    cifar = [rng.uniform(-1, 1, 3 * 32 * 32).astype("f4").tolist() for _ in range(3)]
    return [conn.execute("SELECT predict(%s, %s::real[])", (name + suffix, x)).fetchone()[0]
            for name, inputs in [("lenet", images), ("lenet_bn", images), ("resnet", cifar)] for x in inputs]


def test_int8_versions_store_cnn_weights_reduced(dbname, conn):
    create_cnns(conn, "", "fp32")
    create_cnns(conn, "8", "int8")
    rows = conn.execute("SELECT name, format, precision, weight_bytes FROM pginfer.models"
                        " WHERE name LIKE 'lenet%' OR name LIKE 'resnet%'").fetchall()
    shown = {name: (fmt, precision) for name, fmt, precision, _ in rows}
    sizes = {name: size for name, _, _, size in rows}
    assert shown["lenet8"] == ("onnx", "int8") and shown["resnet8"] == ("onnx", "int8")
    assert shown["lenet_bn8"] == ("pg_infer", "int8") and shown["lenet"] == ("onnx", "fp32")
    # a float32 ONNX version keeps the file as given, byte for byte
    assert sizes["lenet"] == len(SHARED_CNN.read_bytes()) and sizes["resnet"] == len(RESNET.read_bytes())
    ratios = {name: sizes[name + "8"] / sizes[name] for name in ["lenet", "resnet", "lenet_bn"]}
    print("int8 weight bytes / float32:", {k: round(v, 4) for k, v in ratios.items()}, sizes)
    assert all(r <= 0.27 for r in ratios.values()), ratios
    stored = dict(conn.execute("SELECT m.name, sum(length(c.data)) FROM pginfer.model_weight_chunk c"
                               " JOIN pginfer.model m USING (model_id) GROUP BY m.name").fetchall())
    assert all(stored[name + "8"] == sizes[name + "8"] for name in ratios)
    # the int8 outputs, then again from the stored bytes in a new session after the shared cache dropped them
    before = cnn_predictions(conn, "8")
    for name in ratios:
        conn.execute("SELECT evict_model(%s)", (name + "8",))
    with psycopg.connect(**conninfo(dbname), autocommit=True) as fresh:
        after = cnn_predictions(fresh, "8")
    assert after == before
    # and they are int8's, not float32's: near them, not equal
    fp32 = cnn_predictions(conn, "")
    worst = max(np.abs(np.array(a) - np.array(b)).max() / np.abs(np.array(b)).max() for a, b in zip(after, fp32))
    assert 0 < worst < 0.1, worst


def test_fp16_refuses_weights_past_its_range(conn):
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}],
             "outputs": [{"name": "y"}],
             "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}]}
    w = np.array([[1, 2, 3], [4, 70000, 6]], "f4")
    weights = safetensors_bytes({"w": w, "b": np.zeros(2, "f4")})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="beyond the range of float16"):
        conn.execute("SELECT create_model('big16', %s::jsonb, %s, '{\"precision\": \"fp16\"}')",
                     (json.dumps(graph), weights))
    assert conn.execute("SELECT count(*) FROM pginfer.model WHERE name = 'big16'").fetchone()[0] == 0
    # bf16 reaches 3.4e38: the same weights are stored
    conn.execute("SELECT create_model('big16', %s::jsonb, %s, '{\"precision\": \"bf16\"}')",
                 (json.dumps(graph), weights))
    got = conn.execute("SELECT predict('big16', '{0,1,0}'::real[])").fetchone()[0]
    assert got == [2.0, 70144.0]    # 70000 rounded to bf16
