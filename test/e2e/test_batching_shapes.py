"""Randomized query shapes: every query gives the same rows (or the same
error) with BatchPredict as evaluated per row.

A seeded generator combines predict calls in target lists, WHERE clauses
(first, later and conditional quals), aggregates, ORDER BY, LIMIT,
subqueries and joins over a small table with NULL features and rows of the
wrong length.  PG_INFER_SHAPES_SEED picks another seed, PG_INFER_SHAPES_QUERIES
the number of queries.
"""
import json
import os
import random

import numpy as np
import psycopg
import pytest

from conftest import safetensors_bytes

SEED = int(os.environ.get("PG_INFER_SHAPES_SEED", "20261127"))
QUERIES = int(os.environ.get("PG_INFER_SHAPES_QUERIES", "160"))
ROWS = 600


@pytest.fixture
def shapes(conn):
    """Model "d" (Dense 4 -> 3), tables s (features of 4 values, some NULL, a
    few of the wrong length) and u (a key into s)."""
    rng = np.random.default_rng(7)
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
             "outputs": [{"name": "y"}],
             "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}]}
    weights = safetensors_bytes({"w": rng.standard_normal((3, 4)).astype("f4"),
                                 "b": rng.standard_normal(3).astype("f4")})
    conn.execute("SELECT create_model('d', %s::jsonb, %s)", (json.dumps(graph), weights))
    conn.execute("CREATE TABLE s (id int, grp int, f real[])")
    rows = []
    for i in range(1, ROWS + 1):
        if i % 53 == 0:
            f = None
        elif i % 97 == 0:
            f = [1.0, 2.0]                  # wrong length: predict raises 2202E
        else:
            f = [round(float(v), 3) for v in rng.standard_normal(4)]
        rows.append((i, i % 5, f))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO s VALUES (%s, %s, %s)", rows)
    conn.execute("CREATE TABLE u AS SELECT id, id % 3 AS k FROM s WHERE id % 2 = 0")
    conn.execute("ANALYZE s, u")
    return conn


def good_rows():
    """A condition that keeps out the rows whose features have the wrong length."""
    return "coalesce(array_length(f, 1), 4) = 4"


def random_query(rnd):
    """One query: (sql, ordered) where ordered says its row order is defined."""
    calls = ["predict_class('d', f)", "(predict('d', f))[1]", "(predict('d', f))[3]",
             "predict_class('d', ARRAY[f[2], f[1], f[3], f[4]])"]
    call = rnd.choice(calls)
    conds = [f"{rnd.choice(calls)} = {rnd.randrange(3)}",
             f"{rnd.choice(calls[1:3])} > {rnd.uniform(-1, 1):.2f}",
             f"grp = {rnd.randrange(5)}", f"id % {rnd.randrange(2, 6)} = 0", "f IS NOT NULL",
             f"(grp = {rnd.randrange(5)} OR {rnd.choice(calls)} = {rnd.randrange(3)})",
             f"CASE WHEN grp > 2 THEN {rnd.choice(calls)} = 1 ELSE true END"]
    shape = rnd.choice(["plain", "plain", "aggregate", "subquery", "join", "limit"])
    # batches run ahead of a LIMIT, so they may reach a bad row that per-row
    # evaluation stops short of: LIMIT queries keep the bad rows out
    where = [good_rows()] if shape == "limit" or rnd.random() < 0.85 else []
    where += rnd.sample(conds, rnd.randrange(0, 4))
    rnd.shuffle(where)
    where_sql = (" WHERE " + " AND ".join(where)) if where else ""
    targets = ["id"] + rnd.sample([call, "grp", f"{call} + grp", "predict('d', f)",
                                   f"CASE WHEN id % 2 = 0 THEN {call} END",
                                   f"coalesce({call}, -1)"], rnd.randrange(1, 4))
    if shape == "aggregate":
        return (f"SELECT grp, count(*), sum({call}), max({call}) FROM s{where_sql} "
                f"GROUP BY grp ORDER BY grp", True)
    if shape == "subquery":
        return (f"SELECT * FROM (SELECT {', '.join(targets)}, {call} AS c FROM s{where_sql}) q "
                f"WHERE c IS NOT NULL AND id > {rnd.randrange(ROWS)} ORDER BY id", True)
    if shape == "join":
        return (f"SELECT s.id, u.k, {call.replace('f)', 's.f)').replace('f[', 's.f[')} "
                f"FROM s JOIN u ON u.id = s.id{where_sql.replace(' id', ' s.id')} ORDER BY s.id", True)
    if shape == "limit":
        return (f"SELECT {', '.join(targets)} FROM s{where_sql} ORDER BY id "
                f"LIMIT {rnd.randrange(1, 40)} OFFSET {rnd.randrange(5)}", True)
    return f"SELECT {', '.join(targets)} FROM s{where_sql}", False


def outcome(conn, sql, batching):
    """("rows", rows) or ("error", SQLSTATE) of sql with batching on or off."""
    conn.execute(f"SET pg_infer.batching = {batching}")
    try:
        return "rows", conn.execute(sql).fetchall()
    except psycopg.Error as e:
        return "error", e.sqlstate


def same_value(a, b):
    """Equal, with numbers within 1e-5 relative and lists element by element."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-5 * max(1.0, abs(b))
    return a == b


def sort_key(row):
    return json.dumps(row, default=str)


def test_random_query_shapes_agree_with_per_row(shapes):
    conn = shapes
    rnd = random.Random(SEED)
    batched_plans = 0
    for n in range(QUERIES):
        sql, ordered = random_query(rnd)
        conn.execute("SET pg_infer.batching = on")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + sql))
        batched_plans += "BatchPredict" in plan
        on, off = outcome(conn, sql, "on"), outcome(conn, sql, "off")
        where = f"query {n} (seed {SEED}): {sql}\n{plan}"
        assert on[0] == off[0], f"{where}\nbatched: {on}\nper row: {off}"
        if on[0] == "error":
            assert on[1] == off[1], where
            continue
        rows_on, rows_off = on[1], off[1]
        if not ordered:
            rows_on, rows_off = sorted(rows_on, key=sort_key), sorted(rows_off, key=sort_key)
        assert len(rows_on) == len(rows_off), f"{where}\n{len(rows_on)} rows batched, {len(rows_off)} per row"
        for a, b in zip(rows_on, rows_off):
            assert same_value(a, b), f"{where}\nbatched {a}\nper row {b}"
    # the generator must exercise the node, not only per-row plans
    assert batched_plans >= QUERIES // 2, batched_plans
