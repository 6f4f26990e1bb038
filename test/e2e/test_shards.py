"""Scoring across shards: a coordinator and two shards, scratch servers with
pg_infer.  create_sharded_view() makes the shards run the forward passes,
at the same time (postgres_fdw async append), and bulk scoring at the
coordinator equals scoring on one server, row for row."""
import json

import numpy as np
import psycopg
import pytest

from conftest import extra_port, safetensors_bytes, scratch_servers

SETTINGS = ["shared_preload_libraries = 'pg_infer'", "pg_infer.worker_device = 'off'"]
GRAPH = {"format": "pg_infer", "version": 1,
         "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 16]}], "outputs": [{"name": "y"}],
         "nodes": [{"name": "h", "op": "Dense", "inputs": ["x", "w", "b"]},
                   {"name": "y", "op": "Relu", "inputs": ["h"]}]}
ROWS = 20000


@pytest.fixture(scope="module")
def cluster():
    """(coordinator, shard 1, shard 2) connection parameters."""
    names = [("coordinator", extra_port(7)), ("shard1", extra_port(8)), ("shard2", extra_port(9))]
    with scratch_servers("shards", [(n, p, SETTINGS, None) for n, p in names]) as servers:
        yield [dict(servers[n], dbname="postgres") for n, _ in names]


def test_bulk_scoring_runs_on_the_shards_at_the_same_time(cluster):
    coordinator, *shards = cluster
    rng = np.random.default_rng(5)
    weights = safetensors_bytes({"w": rng.standard_normal((6, 16)).astype("f4"),
                                 "b": rng.standard_normal(6).astype("f4")})
    rows_sql = (f"SELECT g AS id, ARRAY(SELECT sin(g * k)::real FROM generate_series(1, 16) k) AS features"
                f" FROM generate_series(1, {ROWS}) g")
    for i, shard in enumerate(shards):
        with psycopg.connect(**shard, autocommit=True) as s:
            s.execute("CREATE EXTENSION pg_infer")
            s.execute("SELECT create_model('m', %s::jsonb, %s)", (json.dumps(GRAPH), weights))
            s.execute(f"CREATE TABLE t_local AS SELECT * FROM ({rows_sql}) r WHERE id % 2 = {i}")
    with psycopg.connect(**coordinator, autocommit=True) as c:
        for ext in ("pg_infer", "postgres_fdw", "dblink"):
            c.execute(f"CREATE EXTENSION {ext}")
        for i, shard in enumerate(shards, 1):
            c.execute(f"CREATE SERVER s{i} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '{shard['host']}',"
                      f" port '{shard['port']}', dbname 'postgres', async_capable 'true')")
            c.execute(f"CREATE USER MAPPING FOR postgres SERVER s{i} OPTIONS (user 'postgres')")
        c.execute("SELECT create_sharded_view('scored', ARRAY['s1', 's2'],"
                  " 'SELECT id, predict_class(''m'', features) AS class, predict(''m'', features) AS scores,"
                  " clock_timestamp() AS at FROM t_local')")
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN (VERBOSE, COSTS OFF) SELECT id, class FROM scored"))
        assert plan.count("Async Foreign Scan") == 2, plan
        assert "predict" not in plan.split("Remote SQL")[0], plan      # nothing computed here
        c.execute("CREATE TABLE scores (id int, class int, scores real[])")
        c.execute("INSERT INTO scores SELECT id, class, scores FROM scored")
        got = c.execute("SELECT id, class, scores FROM scores ORDER BY id").fetchall()
        # both shards computed, and at the same time: their first and last rows interleave
        spans = c.execute("SELECT id % 2, min(at), max(at) FROM scored GROUP BY 1 ORDER BY 1")
        spans = spans.fetchall()
        assert len(spans) == 2 and spans[0][1] < spans[1][2] and spans[1][1] < spans[0][2], spans
    # the same rows scored on one server
    with psycopg.connect(**shards[0], autocommit=True) as s:
        s.execute(f"CREATE TABLE t_all AS {rows_sql}")
        want = s.execute("SELECT id, predict_class('m', features), predict('m', features) FROM t_all"
                         " ORDER BY id").fetchall()
    # the same rows and classes, and scores within float32 rounding (a row's
    # place in a batch can change the order of its sums)
    assert [r[0] for r in got] == [r[0] for r in want] == list(range(1, ROWS + 1))
    a = np.array([r[2] for r in got], "f8")
    b = np.array([r[2] for r in want], "f8")
    assert np.all(np.abs(a - b) <= 1e-5 * np.maximum(1, np.abs(b)))
    top2 = np.sort(b, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4
    assert [r[1] for r, c in zip(got, clear) if c] == [r[1] for r, c in zip(want, clear) if c]
