"""The inference worker's watchdog over its executor process: a stopped
executor (SIGSTOP) makes the worker report 'unresponsive' and hand the
requests that their backends can run back to them (pg_infer.device =
'auto'); a request the executor does not answer within
pg_infer.worker_run_timeout fails with 58000, or runs in its backend where
it can, and the executor is replaced."""
import json
import os
import signal
import time

import numpy as np
import psycopg
import pytest

from conftest import safetensors_bytes
from test_worker import (close, create_dense_chain, log_offset, run_in_thread, server_log_tail,
                         wait_for_worker, worker, worker_settings)


@pytest.fixture
def stop_executor():
    """stop(conn) SIGSTOPs the worker's executor and returns its pid; every
    executor stopped goes on (SIGCONT) after the test, if it still exists."""
    stopped = []

    def stop(conn):
        pid = wait_for_worker(conn)["executor_pid"]
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)
        return pid

    yield stop
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def wait_until(predicate, what, seconds=60):
    """Polls predicate() until it is true."""
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, what
        time.sleep(0.02)


def create_wide(conn):
    """x [-1,784] -> Dense 784x784 (identity) -> Expand to [-1,512,784] ->
    mean over the 512: y = x.  1.6 MB of activations a row, more than
    pg_infer.work_mem = '1MB' lets a backend hold, and 2.4 MB of weights,
    more than a pipe holds (the LOAD waits for the executor to read)."""
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 784]}], "outputs": [{"name": "y"}],
             "nodes": [{"name": "d", "op": "Dense", "inputs": ["x", "w", "b"]},
                       {"name": "r", "op": "Reshape", "inputs": ["d"], "attrs": {"shape": [-1, 1, 784]}},
                       {"name": "e", "op": "Expand", "inputs": ["r"], "attrs": {"shape": [-1, 512, 784]}},
                       {"name": "y", "op": "ReduceMean", "inputs": ["e"], "attrs": {"axes": [1], "keepdims": 0}}]}
    weights = {"w": np.eye(784, dtype="f4"), "b": np.zeros(784, "f4")}
    conn.execute("SELECT create_model('wide', %s::jsonb, %s)", (json.dumps(graph), safetensors_bytes(weights)))


def create_cube(conn, n):
    """x [-1,n] -> Expand to [-1,n,n] -> MatMul by an n x n weight, twice:
    4 n^3 floating-point operations a row (seconds at n = 3072 on one core)."""
    nodes = [{"name": "r", "op": "Reshape", "inputs": ["x"], "attrs": {"shape": [-1, 1, n]}},
             {"name": "e", "op": "Expand", "inputs": ["r"], "attrs": {"shape": [-1, n, n]}},
             {"name": "m0", "op": "MatMul", "inputs": ["e", "w"]},
             {"name": "y", "op": "MatMul", "inputs": ["m0", "w"]}]
    graph = {"format": "pg_infer", "version": 1, "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, n]}],
             "outputs": [{"name": "y"}], "nodes": nodes}
    conn.execute("SELECT create_model('cube', %s::jsonb, %s)",
                 (json.dumps(graph), safetensors_bytes({"w": np.zeros((n, n), "f4")})))


def test_a_stopped_executor_is_unresponsive_and_requests_run_in_their_backends(dbname, conn, stop_executor):
    create_dense_chain(conn, "chain", 2048, 4)
    query = "SELECT predict_batch('chain', array_fill(0.5::real, ARRAY[1024, 2048]))"
    conn.execute("SET pg_infer.device = 'cpu'")
    expected = np.array(conn.execute(query).fetchone()[0])
    conn.execute("RESET pg_infer.device")
    single = "SELECT predict('chain', array_fill(0.5::real, ARRAY[2048]))"
    assert close(conn.execute(single).fetchone()[0], expected[0])     # resident, its time per row known
    before = wait_for_worker(conn)
    t, res = run_in_thread(dbname, query)
    # frozen in the middle of the request: the worker has run a part of it
    wait_until(lambda: worker(conn)["rows"] > before["rows"], "the worker never ran a part of the request")
    pid = stop_executor(conn)
    row = wait_for_worker(conn, "unresponsive")
    assert row["executor_pid"] == pid and f"(pid {pid}) is stopped" in row["last_error"], row
    # the request went back to its backend, which ran it whole
    t.join(120)
    assert "error" not in res, res
    assert close(np.array(res["rows"][0][0]), expected)
    # new requests run in their backends at once while the executor is stopped
    requests = worker(conn)["requests"]
    assert close(conn.execute(single).fetchone()[0], expected[0])
    assert worker(conn)["requests"] == requests
    os.kill(pid, signal.SIGCONT)
    row = wait_for_worker(conn, "ready")
    assert row["executor_pid"] == pid and row["executor_restarts"] == before["executor_restarts"]
    assert close(conn.execute(single).fetchone()[0], expected[0])
    assert worker(conn)["requests"] == requests + 1


def test_the_watchdog_replaces_an_executor_that_does_not_answer(dbname, conn, stop_executor):
    offset = log_offset()
    create_wide(conn)
    query = "SELECT predict('wide', array_fill(1::real, ARRAY[784]))"
    # this session cannot run the model itself: it waits for the worker
    conn.execute("SET pg_infer.work_mem = '1MB'")
    conn.execute("SET statement_timeout = '60s'")
    with worker_settings(dbname, worker_run_timeout="2s"):
        # no model of a dropped database left to unload: the executor only ever has our request
        wait_until(lambda: conn.execute("SELECT count(*) FROM pginfer.worker_models WHERE database IS NULL")
                   .fetchone()[0] == 0, "models of dropped databases stay resident")
        before = wait_for_worker(conn)
        for step, restarts in (("a LOAD", 1), ("a RUN", 2)):
            pid = stop_executor(conn)
            wait_for_worker(conn, "unresponsive")
            start = time.time()
            with pytest.raises(psycopg.Error) as failure:
                conn.execute(query)
            assert failure.value.sqlstate == "58000", (step, failure.value)
            assert ("did not finish this request within pg_infer.worker_run_timeout (2s) and was replaced"
                    in str(failure.value)), (step, failure.value)
            assert 1.5 < time.time() - start < 30, step
            row = wait_for_worker(conn, "ready")
            assert row["executor_pid"] != pid, step
            assert row["executor_restarts"] == before["executor_restarts"] + restarts, (step, row)
            assert conn.execute(query).fetchone()[0] == [1.0] * 784
    log = server_log_tail(offset)
    if log:
        assert "did not answer while a model was loaded or unloaded within pg_infer.worker_run_timeout (2s)" in log
        assert "did not answer while running a batch within pg_infer.worker_run_timeout (2s)" in log
        assert "terminating any other active server processes" not in log


def test_a_run_past_the_timeout_runs_in_the_backend_under_auto(dbname, conn):
    """An executor that runs but takes too long (as a GPU that hangs would):
    replaced after pg_infer.worker_run_timeout; the request runs in its
    backend, or fails with 58000 where the backend cannot hold it."""
    offset = log_offset()
    n = 3072
    create_cube(conn, n)
    query = f"SELECT array_length(predict('cube', array_fill(1::real, ARRAY[{n}])), 1)"
    with worker_settings(dbname, worker_run_timeout="1s"):
        before = wait_for_worker(conn)
        start = time.time()
        assert conn.execute(query).fetchone()[0] == n * n
        assert time.time() - start > 1.0
        row = wait_for_worker(conn, "ready")
        assert row["executor_restarts"] == before["executor_restarts"] + 1
        assert row["rows"] == before["rows"], "no RUN of it finished in the worker"
        conn.execute("SET pg_infer.work_mem = '1MB'")
        with pytest.raises(psycopg.Error, match="within pg_infer.worker_run_timeout") as failure:
            conn.execute(query)
        assert failure.value.sqlstate == "58000"
        assert wait_for_worker(conn, "ready")["executor_restarts"] == before["executor_restarts"] + 2
    log = server_log_tail(offset)
    if log:
        assert "did not answer while running a batch within pg_infer.worker_run_timeout (1s)" in log
