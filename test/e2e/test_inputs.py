"""predict(model, inputs jsonb, output, version): named inputs and outputs."""
import json

import numpy as np
import psycopg
import pytest

from conftest import safetensors_bytes

GRAPH = {
    "format": "pg_infer", "version": 1,
    "inputs": [{"name": "a", "dtype": "float32", "shape": [-1, 2]},
               {"name": "b", "dtype": "float32", "shape": [-1, 3]}],
    "outputs": [{"name": "y"}, {"name": "z"}],
    "nodes": [{"name": "ab", "op": "Concat", "inputs": ["a", "b"], "attrs": {"axis": 1}},
              {"name": "y", "op": "Dense", "inputs": ["ab", "w", "c"]},
              {"name": "z", "op": "Relu", "inputs": ["y"]}],
}
DENSE3 = {
    "format": "pg_infer", "version": 1,
    "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}],
    "outputs": [{"name": "y"}],
    "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}],
}
W = np.arange(10, dtype="f4").reshape(2, 5) - 4.5
C = np.array([0.25, -8.0], "f4")


@pytest.fixture
def two_inputs(conn):
    conn.execute("SELECT create_model('two', %s::jsonb, %s)",
                 (json.dumps(GRAPH), safetensors_bytes({"w": W, "c": C})))
    return conn


def test_named_inputs_and_outputs(two_inputs):
    a, b = [1.0, -2.0], [[0.5], [3.0], [-1.0]]         # nested arrays are flattened
    y = W @ np.array(a + [0.5, 3.0, -1.0], "f4") + C
    got = two_inputs.execute("SELECT predict('two', %s::jsonb)",
                             (json.dumps({"b": b, "a": a}),)).fetchone()[0]
    assert np.allclose(got, y, rtol=1e-6)
    got_z = two_inputs.execute("SELECT predict('two', %s::jsonb, output => 'z')",
                               (json.dumps({"a": a, "b": b}),)).fetchone()[0]
    assert np.allclose(got_z, np.maximum(y, 0), rtol=1e-6)
    got_v = two_inputs.execute("SELECT predict('two', %s::jsonb, 'y', 1)",
                               (json.dumps({"a": a, "b": b}),)).fetchone()[0]
    assert got_v == got


@pytest.mark.parametrize("inputs, output, sqlstate, message", [
    ({"a": [1, 2]}, None, "22004", 'input "b" is missing'),
    ({"a": [1, 2], "b": [1, 2, 3], "c": [1]}, None, "42704", 'has no input "c"'),
    ({"a": [1, 2, 3], "b": [1, 2, 3]}, None, "2202E", 'input "a" expects 2 values, got 3'),
    ({"a": [1, "x"], "b": [1, 2, 3]}, None, "42804", 'input "a" element 2 is not a number'),
    ({"a": 1, "b": [1, 2, 3]}, None, "42804", 'input "a" must be a JSON array'),
    ([1, 2], None, "42804", "inputs must be a JSON object"),
    ({"a": [1, 2], "b": [1, 2, 3]}, "q", "42704", 'has no output "q"'),
])
def test_bad_inputs_say_what_was_expected(two_inputs, inputs, output, sqlstate, message):
    with pytest.raises(psycopg.Error) as e:
        two_inputs.execute("SELECT predict('two', %s::jsonb, %s)", (json.dumps(inputs), output))
    assert e.value.sqlstate == sqlstate
    assert message in str(e.value)


def test_single_input_model_by_name(two_inputs):
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 5]}],
             "outputs": [{"name": "y"}],
             "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "c"]}]}
    two_inputs.execute("SELECT create_model('one', %s::jsonb, %s)",
                       (json.dumps(graph), safetensors_bytes({"w": W, "c": C})))
    x = [1, 2, 3, 4, 5]
    by_array = two_inputs.execute("SELECT predict('one', %s::real[])", (x,)).fetchone()[0]
    by_name = two_inputs.execute("SELECT predict('one', %s::jsonb)", (json.dumps({"x": x}),)).fetchone()[0]
    assert by_array == by_name
    assert two_inputs.execute("SELECT predict('one', NULL::jsonb)").fetchone()[0] is None


def test_a_bad_row_in_a_batched_scan_is_named_by_position_and_ctid(conn):
    conn.execute("SELECT create_model('d', %s::jsonb, %s)",
                 (json.dumps(DENSE3), safetensors_bytes({"w": np.eye(3, dtype="f4"), "b": np.zeros(3, "f4")})))
    conn.execute("CREATE TABLE customers (id int, age int, income float8, tenure int)")
    conn.execute("INSERT INTO customers SELECT g, 30, 1000, 2 FROM generate_series(1, 500) g")
    conn.execute("UPDATE customers SET income = NULL WHERE id = 300")     # moves to the end: row 500
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as e:
        conn.execute("SELECT id, predict_class('d', ROW(age, income, tenure)) FROM customers").fetchall()
    assert e.value.diag.message_primary == 'model "d" input column "income" is NULL'
    block, offset = conn.execute("SELECT ctid FROM customers WHERE id = 300").fetchone()[0][1:-1].split(",")
    assert e.value.diag.context.startswith(
        f'BatchPredict reading row 500 of its input, ctid ({block},{offset}) of table "customers"'), \
        e.value.diag.context
    # under a join, the position in the join's output
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as e:
        conn.execute("SELECT c.id, predict('d', ROW(c.age, c.income, o.tenure)) FROM customers c"
                     " JOIN customers o USING (id) ORDER BY 1").fetchall()
    assert "BatchPredict reading row" in e.value.diag.context
    # the hint shows how to replace NULL elements of an array
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as e:
        conn.execute("SELECT predict('d', ARRAY[1, NULL, 2]::real[])")
    assert "array_replace(features, NULL, 0)" in e.value.diag.message_hint


def plan_of(conn, sql):
    return "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + sql))


def agree(rows, other):
    """Same ids and classes, and scores within 1e-5 relative (a row's place in a
    batch may change the order of its sums)."""
    if [r[0] for r in rows] != [r[0] for r in other]:
        return False
    for (_, x), (_, y) in zip(rows, other):
        if isinstance(x, list):
            if not np.allclose(x, y, rtol=1e-5, atol=1e-5):
                return False
        elif x != y:
            return False
    return True


def test_several_inputs_batch_by_jsonb_and_by_record_column_names(two_inputs):
    """A model with two inputs, scored over a table three ways: a jsonb
    object per row, the table's row (columns named as the inputs) and a
    ROW(...) with those names; batched, each equals the per-row answers,
    for both outputs and predict_class."""
    conn = two_inputs
    rng = np.random.default_rng(3)
    conn.execute("CREATE TABLE pairs (id int, a real[], b real[], note text)")
    with conn.cursor().copy("COPY pairs FROM STDIN") as copy:
        for i in range(1, 1001):
            copy.write_row((i, rng.standard_normal(2).astype("f4").tolist(),
                            rng.standard_normal(3).astype("f4").tolist(), "x"))
    conn.execute("CREATE TABLE inputs_only AS SELECT id, a, b FROM pairs")
    queries = [
        "SELECT id, predict('two', jsonb_build_object('a', a, 'b', b)) FROM pairs ORDER BY id",
        "SELECT id, predict('two', jsonb_build_object('a', a, 'b', b), 'z') FROM pairs ORDER BY id",
        "SELECT id, predict_class('two', jsonb_build_object('a', a, 'b', b)) FROM pairs ORDER BY id",
        "SELECT id, predict('two', p) FROM pairs p ORDER BY id",
        "SELECT id, predict_class('two', ROW(a, b)) FROM pairs ORDER BY id",
    ]
    for q in queries:
        assert "BatchPredict" in plan_of(conn, q), q
        batched = conn.execute(q).fetchall()
        conn.execute("SET pg_infer.batching = off")
        assert "BatchPredict" not in plan_of(conn, q)
        assert agree(conn.execute(q).fetchall(), batched), q
        conn.execute("RESET pg_infer.batching")
    # the values themselves
    a, b = conn.execute("SELECT a, b FROM pairs WHERE id = 7").fetchone()
    y = W @ np.array(a + b, "f4") + C
    got = conn.execute(queries[0].replace("ORDER BY id", "") + " WHERE id = 7").fetchone()[1]
    assert np.allclose(got, y, rtol=1e-5)
    # a generic plan with the output as a parameter
    conn.execute("PREPARE by_output(text) AS SELECT sum((predict('two', jsonb_build_object('a', a, 'b', b),"
                 " $1))[1]) FROM pairs")
    conn.execute("SET plan_cache_mode = force_generic_plan")
    assert "Models: two output $1" in "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) EXECUTE by_output('z')"))
    z = conn.execute("EXECUTE by_output('z')").fetchone()[0]
    conn.execute("SET pg_infer.batching = off")
    assert conn.execute("EXECUTE by_output('z')").fetchone()[0] == pytest.approx(z, rel=1e-5)
    # a record without a column for an input says which
    with pytest.raises(psycopg.errors.UndefinedColumn, match='input "b" has no column of that name'):
        conn.execute("SELECT predict('two', ROW(a, a)) FROM pairs LIMIT 1")
    conn.execute("RESET pg_infer.batching")
    with pytest.raises(psycopg.errors.UndefinedColumn, match='input "b" has no column of that name'):
        conn.execute("SELECT predict('two', ROW(a, a)) FROM pairs")
    with pytest.raises(psycopg.errors.FeatureNotSupported, match="one feature array cannot feed them"):
        conn.execute("SELECT predict('two', a) FROM pairs")
