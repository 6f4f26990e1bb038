"""Models with large activations in the inference worker: its executor sizes
its buffers for the rows of each RUN, within pg_infer.worker_work_mem,
rather than for pg_infer.worker_max_batch rows up front; a model whose one
row does not fit the worker's limits runs in the backend under
pg_infer.device = 'auto'."""
import json

import numpy as np
import psycopg
import pytest

from conftest import safetensors_bytes
from test_worker import close, wait_for_worker, worker, worker_settings


def create_broadcast(conn, name, width):
    """x [-1,1] -> Expand to [-1,width] -> mean: y = x, with width floats of
    activations a row."""
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 1]}], "outputs": [{"name": "y"}],
             "nodes": [{"name": "e", "op": "Expand", "inputs": ["x"], "attrs": {"shape": [-1, width]}},
                       {"name": "y", "op": "ReduceMean", "inputs": ["e"], "attrs": {"axes": [1], "keepdims": 1}}]}
    conn.execute("SELECT create_model(%s, %s::jsonb, %s)", (name, json.dumps(graph), safetensors_bytes({})))


def create_stem(conn):
    """A ResNet-style stem over 3x224x224 images: Conv 7x7/2 to 64x112x112,
    Relu, global average pool: 3.2 MB of activations a row."""
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3, 224, 224]}], "outputs": [{"name": "y"}],
             "nodes": [{"name": "c", "op": "Conv2D", "inputs": ["x", "w", "b"],
                        "attrs": {"strides": [2, 2], "pads": [3, 3, 3, 3]}},
                       {"name": "r", "op": "Relu", "inputs": ["c"]},
                       {"name": "p", "op": "GlobalAveragePool", "inputs": ["r"]},
                       {"name": "y", "op": "Flatten", "inputs": ["p"]}]}
    rng = np.random.default_rng(7)
    weights = {"w": (rng.standard_normal((64, 3, 7, 7)) * 0.05).astype("f4"), "b": np.zeros(64, "f4")}
    conn.execute("SELECT create_model('stem', %s::jsonb, %s)", (json.dumps(graph), safetensors_bytes(weights)))


def test_large_activations_run_in_the_worker_in_runs_that_fit(conn, dbname):
    """An Expand to [-1,1048576] (4 MB a row: 4,096 rows would not be
    addressable) and a 3x224x224 conv stem run in the worker; with
    pg_infer.worker_work_mem = 64MB a batch of 512 rows takes RUNs of at
    most 15 rows."""
    create_broadcast(conn, "big", 1048576)
    create_stem(conn)
    conn.execute("CREATE TABLE t AS SELECT g AS id, ARRAY[(g % 13)::real] AS x FROM generate_series(1, 512) g")
    conn.execute("SET pg_infer.batch_size = 512")
    with worker_settings(dbname, worker_work_mem="64MB"):
        before = wait_for_worker(conn)
        assert conn.execute("SELECT count(*), bool_and(predict('big', x) = x) FROM t").fetchone() == (512, True)
        after = worker(conn)
        assert after["rows"] - before["rows"] == 512, "every row ran in the worker"
        # 4 MB a row under 64 MB: at most 15 rows a RUN
        assert after["batches"] - before["batches"] >= 512 / 15, after
        # a session whose own pg_infer.work_mem cannot hold a row has it run in the worker
        conn.execute("SET pg_infer.work_mem = '1MB'")
        assert conn.execute("SELECT predict('big', ARRAY[3::real])").fetchone()[0] == [3.0]
        conn.execute("RESET pg_infer.work_mem")
        after = worker(conn)
        images = np.random.default_rng(3).random((4, 3 * 224 * 224), dtype=np.float32)
        query = "SELECT predict_batch('stem', %s::real[])"
        got = conn.execute(query, (images.tolist(),)).fetchone()[0]
        assert worker(conn)["rows"] - after["rows"] == 4
        conn.execute("SET pg_infer.device = 'cpu'")
        assert close(got, conn.execute(query, (images.tolist(),)).fetchone()[0])


def test_a_model_the_worker_cannot_hold_runs_in_the_backend(conn, dbname):
    """One row of 32 MB of activations under pg_infer.worker_work_mem =
    16MB: the backend runs it ('auto'); a session whose own pg_infer.work_mem
    cannot hold it either gets the worker's error (54000)."""
    create_broadcast(conn, "huge", 8 * 1048576)
    with worker_settings(dbname, worker_work_mem="16MB"):
        before = wait_for_worker(conn)
        assert conn.execute("SELECT predict('huge', ARRAY[5::real])").fetchone()[0] == [5.0]
        after = worker(conn)
        assert after["rows"] == before["rows"] and after["state"] == "ready", after
        conn.execute("SET pg_infer.work_mem = '16MB'")
        with pytest.raises(psycopg.errors.ProgramLimitExceeded,
                           match=r'model "huge": one row needs \d+ kB of activation buffers in the inference worker,'
                                 r' more than pg_infer.worker_work_mem \(16384 kB\)'):
            conn.execute("SELECT predict('huge', ARRAY[5::real])")
