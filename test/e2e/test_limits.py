"""Limits a session cannot escape: the engine's memory (pg_infer.work_mem),
and how fast a long forward pass answers a cancel, a timeout or a
terminate."""
import json
import threading
import time

import numpy as np
import psycopg
import pytest

from conftest import conninfo, safetensors_bytes


def broadcast_model(conn, name="wide", width=512):
    """x [-1,784] -> Expand to [-1,width,784] -> mean over the width: y = x,
    with width * 3 kB of activations per row."""
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 784]}], "outputs": [{"name": "y"}],
             "nodes": [{"name": "r", "op": "Reshape", "inputs": ["x"], "attrs": {"shape": [-1, 1, 784]}},
                       {"name": "e", "op": "Expand", "inputs": ["r"], "attrs": {"shape": [-1, width, 784]}},
                       {"name": "y", "op": "ReduceMean", "inputs": ["e"], "attrs": {"axes": [1], "keepdims": 0}}]}
    conn.execute("SELECT create_model(%s, %s::jsonb, %s)", (name, json.dumps(graph), safetensors_bytes({})))


def backend_memory_kb(pid, field):
    """VmHWM (peak) or VmRSS of a server process, in kB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


@pytest.fixture
def plain_role(dbname, conn):
    """A role with no privileges beyond PUBLIC's, and SELECT on the test tables."""
    conn.execute("CREATE ROLE e2e_plain LOGIN")
    conn.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO e2e_plain")
    yield "e2e_plain"
    conn.execute("DROP OWNED BY e2e_plain")
    conn.execute("DROP ROLE e2e_plain")


def test_engine_memory_stays_under_work_mem_whatever_a_user_sets(dbname, conn, plain_role):
    """A model with 1.6 MB of activations per row at batch_size 4096 would
    need 6.6 GB: its passes are split to fit pg_infer.work_mem (512 MB), and
    the memory goes back when the statement ends."""
    broadcast_model(conn)
    conn.execute("CREATE TABLE t AS SELECT g AS id, array_fill((g % 7)::real, ARRAY[784]) AS f"
                 " FROM generate_series(1, 4096) g")
    with psycopg.connect(**{**conninfo(dbname), "user": plain_role}, autocommit=True) as c:
        pid = c.info.backend_pid
        c.execute("SET pg_infer.device = 'cpu'")
        c.execute("SET pg_infer.batch_size = 4096")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SET pg_infer.work_mem = '8GB'")
        assert c.execute("SELECT count(*), bool_and(predict('wide', f) = f) FROM t").fetchone() == (4096, True)
        peak = backend_memory_kb(pid, "VmHWM")
        assert peak < 512 * 1024 + 256 * 1024, f"peak {peak} kB"
        assert backend_memory_kb(pid, "VmRSS") < 128 * 1024
    # a smaller limit splits into smaller passes, with the same results
    conn.execute("SET pg_infer.device = 'cpu'")
    conn.execute("SET pg_infer.work_mem = '16MB'")
    assert conn.execute("SELECT count(*), bool_and(predict('wide', f) = f),"
                        " sum(predict_class('wide', f)) FROM t").fetchone() == (4096, True, 0)
    rows = conn.execute("SELECT predict_batch('wide', array_agg(f ORDER BY id)) FROM t WHERE id <= 100").fetchone()[0]
    assert np.array_equal(np.array(rows), np.repeat(np.arange(1, 101)[:, None] % 7, 784, axis=1))


def test_a_model_whose_row_exceeds_work_mem_is_refused(conn):
    broadcast_model(conn)
    conn.execute("SET pg_infer.device = 'cpu'")
    conn.execute("SET pg_infer.work_mem = '1MB'")
    with pytest.raises(psycopg.errors.OutOfMemory, match=r'model "wide" needs \d+ kB of engine memory for one row,'
                                                         r' more than pg_infer.work_mem \(1024 kB\)'):
        conn.execute("SELECT predict('wide', array_fill(1::real, ARRAY[784]))")
    conn.execute("RESET pg_infer.work_mem")
    assert conn.execute("SELECT predict('wide', array_fill(1::real, ARRAY[784]))").fetchone()[0] == [1.0] * 784


def slow_model(conn, n=3072, layers=2):
    """x [-1,n] -> Expand to [-1,n,n] -> layers MatMuls by an n x n weight:
    2 n^3 floating-point operations per layer and row (about a second each
    at n = 3072 on one core)."""
    nodes = [{"name": "r", "op": "Reshape", "inputs": ["x"], "attrs": {"shape": [-1, 1, n]}},
             {"name": "e", "op": "Expand", "inputs": ["r"], "attrs": {"shape": [-1, n, n]}}]
    for i in range(layers):
        nodes.append({"name": f"m{i}", "op": "MatMul", "inputs": [nodes[-1]["name"], "w"]})
    graph = {"format": "pg_infer", "version": 1, "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, n]}],
             "outputs": [{"name": nodes[-1]["name"]}], "nodes": nodes}
    conn.execute("SELECT create_model('slow', %s::jsonb, %s)",
                 (json.dumps(graph), safetensors_bytes({"w": np.zeros((n, n), "f4")})))
    return f"SELECT length(predict('slow', array_fill(1::real, ARRAY[{n}]))::text)"


def test_timeout_and_cancel_stop_a_long_forward_pass_within_milliseconds(conn):
    query = slow_model(conn)
    conn.execute("SET pg_infer.device = 'cpu'")
    conn.execute(query.replace("predict(", "predict_class("))     # loaded once: the load is not timed
    conn.execute("SET statement_timeout = '200ms'")
    start = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute(query)
    assert time.monotonic() - start < 0.6
    conn.execute("RESET statement_timeout")
    assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_terminate_stops_a_long_forward_pass_within_milliseconds(dbname, conn):
    query = slow_model(conn)
    victim = psycopg.connect(**conninfo(dbname), autocommit=True)
    victim.execute("SET pg_infer.device = 'cpu'")
    victim.execute(query.replace("predict(", "predict_class("))
    outcome = {}

    def run():
        try:
            victim.execute(query)
        except psycopg.Error as e:
            outcome["error"] = e

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 10
    while conn.execute("SELECT state FROM pg_stat_activity WHERE pid = %s",
                       (victim.info.backend_pid,)).fetchone()[0] != "active":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    start = time.monotonic()
    conn.execute("SELECT pg_terminate_backend(%s, 5000)", (victim.info.backend_pid,))
    assert time.monotonic() - start < 0.6
    t.join(10)
    assert isinstance(outcome.get("error"), psycopg.OperationalError), outcome
    victim.close()


def test_progress_shows_a_scoring_statement_and_a_create_model(dbname, conn):
    """pginfer.progress: another session sees a long scoring statement's rows
    and batches grow, and a create_model's bytes stored; rows go with their
    transactions."""
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 256]}], "outputs": [{"name": "y"}],
             "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}]}
    conn.execute("SELECT create_model('m', %s::jsonb, %s)",
                 (json.dumps(graph), safetensors_bytes({"w": np.ones((256, 256), "f4"), "b": np.zeros(256, "f4")})))
    conn.execute("CREATE TABLE t AS SELECT g AS id, array_fill(1::real, ARRAY[256]) AS f"
                 " FROM generate_series(1, 200000) g")
    with psycopg.connect(**conninfo(dbname)) as scorer:
        pid = scorer.info.backend_pid
        scorer.execute("SET pg_infer.device = 'cpu'")
        scorer.execute("SET max_parallel_workers_per_gather = 0")
        done = threading.Event()
        t = threading.Thread(target=lambda: (scorer.execute("CREATE TABLE s AS SELECT id, predict_class('m', f) FROM t"),
                                             done.set()))
        t.start()
        seen = []
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            row = conn.execute("SELECT command, model, phase, rows, batches FROM pginfer.progress WHERE pid = %s",
                               (pid,)).fetchone()
            if row:
                seen.append(row)
            time.sleep(0.01)
        t.join(60)
        assert seen, "the scoring statement never showed in pginfer.progress"
        assert {r[:3] for r in seen} == {("predict", "m", "predicting")}
        assert all(0 <= r <= 200000 and 0 <= b <= r for *_, r, b in seen)
        assert any(r > 0 for *_, r, _ in seen)      # caught while its rows went by
        assert [r[3] for r in seen] == sorted(r[3] for r in seen)        # rows only grow
        assert conn.execute("SELECT count(*) FROM pginfer.progress WHERE pid = %s", (pid,)).fetchone()[0] == 1
        scorer.commit()
        assert conn.execute("SELECT count(*) FROM pginfer.progress WHERE pid = %s", (pid,)).fetchone()[0] == 0
        # create_model in an open transaction: its phase and the bytes it stored stay until it ends
        scorer.execute("SELECT create_model('big', %s::jsonb, %s)",
                       (json.dumps(graph), safetensors_bytes({"w": np.ones((256, 256), "f4"),
                                                              "b": np.zeros(256, "f4")})))
        row = conn.execute("SELECT command, model, phase, bytes_done = bytes_total, bytes_total > 256 * 256 * 4"
                           " FROM pginfer.progress WHERE pid = %s", (pid,)).fetchone()
        assert row == ("create_model", "big", "storing", True, True), row
        scorer.rollback()
        assert conn.execute("SELECT count(*) FROM pginfer.progress WHERE pid = %s", (pid,)).fetchone()[0] == 0
