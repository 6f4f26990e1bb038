"""Models of precision bf16 and fp16 through SQL, and the weights every
reduced precision stores: models/mnist at bf16 and fp16 classifies the
10,000 MNIST test images within 0.1 points of its float32 accuracy, batched
and per row alike; a version stores its Dense weights as int8 codes (at
most 0.27 of float32's bytes) or in 16 bits (about half), and pginfer.models
and the stored chunks say so."""
import json

import numpy as np
import psycopg
import pytest

from conftest import MNIST_SCALE, ROOT, create_mnist, load_mnist_test_set, safetensors_bytes
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
