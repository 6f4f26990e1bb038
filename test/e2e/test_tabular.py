"""Tabular models through SQL: the scikit-learn, XGBoost and LightGBM models of
test/onnx/tabular (test/onnx/make_tabular.py) agree with their libraries'
own predict and predict_proba on every row, batched and per row; string
columns feed string inputs by name; NULL, unknown categories and wrong
columns behave as docs/onnx.md says."""
import json
import math

import numpy as np
import psycopg
import pytest

from conftest import ROOT

import onnx_pb

MODELS = ROOT / "test/onnx/tabular"
NAMES = [line.split("\t")[0] for line in (MODELS / "MANIFEST").read_text().splitlines()]
TOLERANCE = 1e-5


def reference(name):
    """The model's inputs and the library's outputs, as the generator wrote them."""
    data = MODELS / name / "test_data_set_0"
    inputs = [onnx_pb.read_tensor(p) for p in sorted(data.glob("input_*.pb"))]
    outputs = [onnx_pb.read_tensor(p) for p in sorted(data.glob("output_*.pb"))]
    return inputs, outputs


def create(conn, name):
    conn.execute("SELECT create_model(%s, onnx => %s)", (name, (MODELS / name / "model.onnx").read_bytes()))
    return conn.execute("SELECT inputs FROM pginfer.models WHERE name = %s", (name,)).fetchone()[0]


def sql_value(value):
    """A feature for psycopg: NaN becomes NULL, as a table would hold a missing value."""
    if isinstance(value, str):
        return value
    return None if math.isnan(value) else float(value)


def load_table(conn, name, specs, inputs):
    """A table t(id, one column per input, named as the input): real[] for
    vectors, real or text for one-value inputs."""
    columns = []
    for spec, values in zip(specs, inputs):
        if values.dtype == object:
            columns.append(f'"{spec["name"]}" text')
        elif values.reshape(len(values), -1).shape[1] == 1:
            columns.append(f'"{spec["name"]}" real')
        else:
            columns.append(f'"{spec["name"]}" real[]')
    conn.execute(f"CREATE TABLE t (id int, {', '.join(columns)})")
    rows = []
    for r in range(len(inputs[0])):
        row = [r]
        for values in inputs:
            flat = values.reshape(len(values), -1)[r]
            row.append(sql_value(flat[0]) if len(flat) == 1 else [sql_value(v) for v in flat])
        rows.append(row)
    with conn.cursor().copy(f"COPY t FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def features_argument(specs):
    """How a query passes a row: the array column of a one-input model, else the whole row."""
    return f'"{specs[0]["name"]}"' if len(specs) == 1 else "t"


def max_relative_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))


def run(conn, name, specs, classifier, batching):
    conn.execute(f"SET pg_infer.batching = {'on' if batching else 'off'}")
    arg = features_argument(specs)
    calls = f"predict(%s, {arg})" + (f", predict_class(%s, {arg}), predict_label(%s, {arg})" if classifier else "")
    params = (name, name, name) if classifier else (name,)
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT {calls} FROM t", params))
    assert ("BatchPredict" in plan) == batching, plan
    return conn.execute(f"SELECT {calls} FROM t ORDER BY id", params).fetchall()


@pytest.mark.parametrize("name", NAMES)
def test_model_agrees_with_its_library(conn, name):
    """Every row, batched and per row: the same classes (labels and indexes) as
    the library, values within 1e-5 relative (of max(1, |value|))."""
    specs = create(conn, name)
    inputs, outputs = reference(name)
    load_table(conn, name, specs, inputs)
    classifier = len(outputs) == 2
    for batching in (True, False):
        rows = run(conn, name, specs, classifier, batching)
        assert len(rows) == len(inputs[0])
        if not classifier:
            assert max_relative_error([r[0] for r in rows], outputs[0]) <= TOLERANCE
            continue
        labels = outputs[0].tolist()
        classes = sorted(set(labels))      # the libraries' classes_, in order
        assert [r[2] for r in rows] == [str(label) for label in labels]
        assert [r[1] for r in rows] == [classes.index(label) for label in labels]
        assert max_relative_error([r[0] for r in rows], outputs[1]) <= TOLERANCE


@pytest.fixture
def customers(conn):
    """The wine-as-a-table model with string columns, and its first rows."""
    name = "logistic_regression_customers"
    specs = create(conn, name)
    inputs, outputs = reference(name)
    load_table(conn, name, specs, inputs)
    return name


def test_string_columns_by_name_row_and_jsonb(conn, customers):
    """ROW(...) of named columns, the whole row, and the jsonb form (numbers
    and strings as scalars or arrays) give the same prediction."""
    by_row = conn.execute("""SELECT predict(%s, ROW(alcohol, malic_acid, proline, hue, color, region)),
                                    predict_label(%s, ROW(alcohol, malic_acid, proline, hue, color, region))
                             FROM t WHERE id = 7""", (customers, customers)).fetchone()
    whole = conn.execute("SELECT predict(%s, t), predict_label(%s, t) FROM t WHERE id = 7",
                         (customers, customers)).fetchone()
    row = conn.execute("SELECT row_to_json(t)::jsonb - 'id' FROM t WHERE id = 7").fetchone()[0]
    row["color"] = [row["color"]]
    as_json = conn.execute("SELECT predict(%s, %s::jsonb), predict_label(%s, %s::jsonb)",
                           (customers, json.dumps(row), customers, json.dumps(row))).fetchone()
    assert by_row == whole == as_json
    # columns in another order, and extra columns, change nothing
    other = conn.execute("""SELECT predict(%s, s) FROM (SELECT region, color, 1 AS extra, hue, proline,
                            malic_acid, alcohol FROM t WHERE id = 7) s""", (customers,)).fetchone()[0]
    assert other == by_row[0]


def test_unknown_category_and_null_are_no_category(conn, customers):
    """handle_unknown='ignore': a category the model never saw, and NULL, one-hot
    encode as all zeros, batched and per row alike."""
    conn.execute("""UPDATE t SET (alcohol, malic_acid, proline, hue, color, region) =
                    (SELECT alcohol, malic_acid, proline, hue, CASE WHEN t.id = 1 THEN 'ultraviolet' END, region
                     FROM t AS first WHERE first.id = 1) WHERE id IN (1, 2)""")
    for batching in ("on", "off"):
        conn.execute(f"SET pg_infer.batching = {batching}")
        rows = conn.execute("SELECT id, predict(%s, t) FROM t WHERE id IN (1, 2) ORDER BY id", (customers,)).fetchall()
        assert rows[0][1] == rows[1][1]
        assert all(0 <= p <= 1 for p in rows[0][1])
    row = conn.execute("SELECT row_to_json(t)::jsonb - 'id' FROM t WHERE id = 2").fetchone()[0]
    assert row["color"] is None
    assert conn.execute("SELECT predict(%s, %s::jsonb)", (customers, json.dumps(row))).fetchone()[0] == rows[0][1]


def test_unknown_category_refused_where_the_encoder_refuses(conn):
    """handle_unknown='error': ERROR 22023 naming the column and the category."""
    name = "logistic_regression_customers_strict"
    specs = create(conn, name)
    inputs, _ = reference(name)
    load_table(conn, name, specs, inputs)
    assert conn.execute("SELECT count(predict_class(%s, t)) FROM t", (name,)).fetchone()[0] == len(inputs[0])
    conn.execute("UPDATE t SET region = 'west' WHERE id = 3")
    for batching in ("on", "off"):
        conn.execute(f"SET pg_infer.batching = {batching}")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='input column "region" has the category "west"'):
            conn.execute("SELECT predict_class(%s, t) FROM t", (name,)).fetchall()
    conn.execute("UPDATE t SET region = NULL WHERE id = 3")
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match='input column "region" is NULL'):
        conn.execute("SELECT predict_class(%s, t) FROM t", (name,)).fetchall()


@pytest.mark.parametrize("columns,error,message", [
    ("alcohol, malic_acid, proline, hue, 3 AS color, region", psycopg.errors.DatatypeMismatch,
     'input column "color" is of type integer, the input takes strings'),
    ("alcohol, malic_acid, proline, hue, color", psycopg.errors.UndefinedColumn,
     'input "region" has no column of that name'),
    ("'x'::text AS alcohol, malic_acid, proline, hue, color, region", psycopg.errors.DatatypeMismatch,
     'input column "alcohol" is of type text'),
    ("alcohol, malic_acid, proline, NULL::real AS hue, color, region", psycopg.errors.NullValueNotAllowed,
     'input column "hue" is NULL'),
])
@pytest.mark.parametrize("batching", ["on", "off"])
def test_wrong_columns_name_the_column(conn, customers, columns, error, message, batching):
    conn.execute(f"SET pg_infer.batching = {batching}")
    with pytest.raises(error, match=message):
        conn.execute(f"SELECT predict(%s, s) FROM (SELECT {columns} FROM t) s", (customers,)).fetchall()


def test_null_features_are_missing_values_for_trees_that_route_them(conn):
    """XGBoost routes NaN: NULL array elements are NaN (the reference rows
    have 5% NaN, loaded as NULL, and agree in the main test); a whole NULL
    array gives NULL, as the function is strict."""
    name = "xgboost_classifier_breast_cancer"
    specs = create(conn, name)
    inputs, outputs = reference(name)
    load_table(conn, name, specs, inputs)
    assert conn.execute("SELECT count(*) FROM t WHERE array_position(input, NULL) IS NOT NULL").fetchone()[0] > 0
    assert conn.execute("SELECT predict(%s, NULL::real[])", (name,)).fetchone()[0] is None


def test_labels_of_a_model_without_labels(conn):
    """predict_label of a regressor is an error; its predict_class is the index of the largest value."""
    name = "gb_regressor_diabetes"
    create(conn, name)
    x = reference(name)[0][0][0].tolist()
    with pytest.raises(psycopg.errors.WrongObjectType, match="has no class labels"):
        conn.execute("SELECT predict_label(%s, %s::real[])", (name, x))
    assert conn.execute("SELECT predict_class(%s, %s::real[])", (name, x)).fetchone()[0] == 0


def test_models_view_shows_string_inputs(conn, customers):
    inputs = conn.execute("SELECT inputs FROM pginfer.models WHERE name = %s", (customers,)).fetchone()[0]
    assert {i["name"]: i["dtype"] for i in inputs} == {
        "alcohol": "float32", "malic_acid": "float32", "proline": "float32", "hue": "float32",
        "color": "string", "region": "string"}


def test_malformed_ensembles_are_refused_and_not_stored(conn):
    """test/onnx/ml-malformed (node ids out of range, cycles, children outside
    the tree, class ids outside the class list, mismatched lengths...): ERROR
    22023 at create_model with the importer's message, and no model row."""
    folder = ROOT / "test/onnx/ml-malformed"
    cases = [line.split("\t") for line in (folder / "EXPECTED").read_text().splitlines()]
    assert len(cases) >= 20
    for name, fragment in cases:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
            conn.execute("SELECT create_model(%s, onnx => %s)", (name, (folder / f"{name}.onnx").read_bytes()))
        assert fragment in raised.value.diag.message_primary + (raised.value.diag.message_detail or ""), \
            (name, raised.value.diag.message_primary, raised.value.diag.message_detail)
    assert conn.execute("SELECT count(*) FROM pginfer.model").fetchone()[0] == 0


@pytest.mark.parametrize("case", ["tree_ensemble5_member", "tree_regressor_as_tensor"])
def test_tensor_attributes_through_create_model(conn, case):
    """Ensembles whose node arrays are tensor attributes (opset 5's modes,
    splits and sets; opset 3's *_as_tensor), stored by create_model, which
    imports the file in place: ONNX Runtime's outputs on every row, per row
    and with predict_batch."""
    folder = ROOT / "test/onnx/ml-cases" / case
    conn.execute("SELECT create_model(%s, onnx => %s)", (case, (folder / "model.onnx").read_bytes()))
    x = onnx_pb.read_tensor(folder / "test_data_set_0/input_0.pb")
    want = onnx_pb.read_tensor(folder / "test_data_set_0/output_0.pb").reshape(len(x), -1)
    rows = [[sql_value(v) for v in row] for row in x.reshape(len(x), -1).tolist()]
    got = conn.execute("SELECT predict_batch(%s, %s::real[])", (case, rows)).fetchone()[0]
    assert max_relative_error(got, want) <= TOLERANCE
    per_row = [conn.execute("SELECT predict(%s, %s::real[])", (case, row)).fetchone()[0] for row in rows]
    assert max_relative_error(per_row, want) <= TOLERANCE
