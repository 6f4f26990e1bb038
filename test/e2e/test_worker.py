"""The inference worker in CPU mode (pg_infer.worker_device = 'cpu' on the
test server): the same results as in-backend execution, dynamic batching
across sessions, cancel and statement_timeout while a request waits,
kill -9 of the executor process, a stopped worker, pg_infer.device, the
memory budget and the pginfer.worker view."""
import contextlib
import json
import os
import pathlib
import signal
import threading
import time

import numpy as np
import psycopg
import pytest

from conftest import alter_system, conninfo, create_mnist, load_mnist_test_set, safetensors_bytes

TOL = 1e-5
SERVER_LOG = os.environ.get("PG_INFER_SERVER_LOG")


def worker(conn):
    """The pginfer.worker row as a dict."""
    cur = conn.execute("SELECT * FROM pginfer.worker")
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def resident_versions(conn, model):
    """Versions of model (in conn's database) resident in the worker's executor."""
    return sorted(r[0] for r in conn.execute(
        "SELECT version FROM pginfer.worker_models WHERE database = current_database()"
        " AND model = %s", (model,)).fetchall())


def wait_for_worker(conn, state="ready", seconds=30):
    """Waits until the worker is in state; returns its row."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        row = worker(conn)
        if row["state"] == state:
            return row
        time.sleep(0.1)
    raise AssertionError(f"inference worker did not become {state}: {worker(conn)}")


def dense_chain(n, layers):
    """A graph of `layers` Dense n x n layers with Relu between them."""
    nodes, prev = [], "x"
    for i in range(layers):
        nodes.append({"name": f"d{i}", "op": "Dense", "inputs": [prev, f"w{i}", f"b{i}"]})
        prev = f"d{i}"
        if i < layers - 1:
            nodes.append({"name": f"r{i}", "op": "Relu", "inputs": [prev]})
            prev = f"r{i}"
    nodes[-1]["name"] = "y"
    return {"format": "pg_infer", "version": 1,
            "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, n]}],
            "outputs": [{"name": "y"}], "nodes": nodes}


def create_dense_chain(conn, name, n, layers, seed=0):
    """Stores a dense_chain model with random weights scaled to keep values small."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(layers):
        tensors[f"w{i}"] = (rng.standard_normal((n, n)) / np.sqrt(n)).astype("f4")
        tensors[f"b{i}"] = np.zeros(n, "f4")
    return conn.execute("SELECT create_model(%s, %s::jsonb, %s)",
                        (name, json.dumps(dense_chain(n, layers)), safetensors_bytes(tensors))).fetchone()[0]


def close(a, b):
    """|a - b| <= TOL * max(1, |b|) elementwise."""
    a, b = np.asarray(a, "f8"), np.asarray(b, "f8")
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= TOL * np.maximum(1, np.abs(b))))


@pytest.fixture
def mnist_table(conn):
    """The model and a table of 300 MNIST test images."""
    create_mnist(conn)
    images, _ = load_mnist_test_set()
    conn.execute("CREATE TABLE digits (id int PRIMARY KEY, features real[])")
    with conn.cursor().copy("COPY digits FROM STDIN") as copy:
        for i in range(300):
            copy.write_row((i, images[i].astype("f4").tolist()))
    return conn


def scores(conn, device, batching):
    """predict over the table with the given pg_infer.device and batching."""
    conn.execute(f"SET pg_infer.device = '{device}'")
    conn.execute(f"SET pg_infer.batching = {'on' if batching else 'off'}")
    rows = conn.execute("SELECT id, predict('mnist', features), predict_class('mnist', features)"
                        " FROM digits ORDER BY id").fetchall()
    conn.execute("RESET pg_infer.device")
    conn.execute("RESET pg_infer.batching")
    return rows


def test_worker_runs_on_the_cpu_engine(conn):
    row = wait_for_worker(conn)
    assert row["device"] == "cpu" and row["device_name"] == "cpu"
    assert row["pid"] > 0 and row["executor_pid"] > 0 and row["executor_pid"] != row["pid"]
    assert row["memory_budget"] == 4096 * 1024 * 1024
    assert row["last_error"] is None


def test_worker_results_equal_in_backend_results(mnist_table):
    conn = mnist_table
    wait_for_worker(conn)
    before = worker(conn)
    reference = scores(conn, "cpu", batching=False)
    after_cpu = worker(conn)
    assert after_cpu["requests"] == before["requests"], "device 'cpu' must not use the worker"
    for batching in (False, True):
        got = scores(conn, "auto", batching)
        for (i, p, c), (ri, rp, rc) in zip(got, reference):
            assert i == ri and close(p, rp), f"row {i} batching={batching}"
            top2 = sorted(rp)[-2:]
            if top2[1] - top2[0] > 2 * TOL * max(1, abs(top2[1])):
                assert c == rc
    after = worker(conn)
    # per-row: 2 requests a row; batched: a few merged requests for 300 rows
    assert after["requests"] - after_cpu["requests"] >= 600
    assert after["rows"] - after_cpu["rows"] >= 1200
    x = conn.execute("SELECT array_agg(features ORDER BY id) FROM (SELECT * FROM digits LIMIT 40) d").fetchone()[0]
    conn.execute("SET pg_infer.device = 'cpu'")
    ref = conn.execute("SELECT predict_batch('mnist', %s::real[])", (x,)).fetchone()[0]
    conn.execute("RESET pg_infer.device")
    assert close(conn.execute("SELECT predict_batch('mnist', %s::real[])", (x,)).fetchone()[0], ref)


def restarted_worker(conn, device_name_matches):
    """Restarts the worker and waits for a new one whose device_name matches; its row."""
    before = worker(conn)["pid"]
    assert conn.execute("SELECT restart_worker()").fetchone()[0] is True
    deadline = time.time() + 30
    while time.time() < deadline:
        row = worker(conn)
        if row["state"] == "ready" and row["pid"] != before and device_name_matches(row["device_name"]):
            return row
        time.sleep(0.1)
    raise AssertionError(f"no new worker with the device expected: {worker(conn)}")


def test_worker_threads_share_each_pass(mnist_table):
    """pg_infer.worker_threads = 2: the executor runs each merged batch on
    two threads (its device name says so), and its answers are the backend's."""
    conn = mnist_table
    wait_for_worker(conn)
    reference = scores(conn, "cpu", batching=True)
    show = "SHOW pg_infer.worker_threads"
    try:
        alter_system("pg_infer.worker_threads", "2", lambda c: c.execute(show).fetchone()[0] == "2")
        restarted_worker(conn, lambda name: name.startswith("cpu (") and name.endswith(", 2 threads)"))
        requests = worker(conn)["requests"]
        got = scores(conn, "auto", batching=True)
        assert worker(conn)["requests"] > requests, "the batches must go through the worker"
        for (i, p, c), (ri, rp, rc) in zip(got, reference):
            assert i == ri and close(p, rp), f"row {i}"
            top2 = sorted(rp)[-2:]
            if top2[1] - top2[0] > 2 * TOL * max(1, abs(top2[1])):
                assert c == rc
    finally:
        alter_system("pg_infer.worker_threads", None, lambda c: c.execute(show).fetchone()[0] == "1")
        restarted_worker(conn, lambda name: name == "cpu")


def test_explain_names_the_worker(mnist_table):
    wait_for_worker(mnist_table)
    plan = "\n".join(r[0] for r in mnist_table.execute(
        "EXPLAIN (COSTS OFF) SELECT predict_class('mnist', features) FROM digits").fetchall())
    assert "Device: cpu (inference worker)" in plan
    mnist_table.execute("SET pg_infer.device = 'cpu'")
    plan = "\n".join(r[0] for r in mnist_table.execute(
        "EXPLAIN (COSTS OFF) SELECT predict_class('mnist', features) FROM digits").fetchall())
    assert "Device: cpu\n" in plan + "\n"


def test_concurrent_sessions_are_merged(dbname, mnist_table):
    conn = mnist_table
    wait_for_worker(conn)
    images, _ = load_mnist_test_set()
    conn.execute("SET pg_infer.device = 'cpu'")
    expected = [conn.execute("SELECT predict('mnist', %s::real[])", (images[i].astype("f4").tolist(),)).fetchone()[0]
                for i in range(16)]
    before = worker(conn)
    errors = []

    def client(k):
        try:
            with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
                x = images[k].astype("f4").tolist()
                for _ in range(60):
                    got = c.execute("SELECT predict('mnist', %s::real[])", (x,)).fetchone()[0]
                    assert close(got, expected[k])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    after = worker(conn)
    requests = after["requests"] - before["requests"]
    batches = after["batches"] - before["batches"]
    assert requests == 16 * 60
    assert batches < requests, "no two requests were merged"
    print(f"16 clients: {requests} requests in {batches} batches")


@pytest.fixture
def slow_model(conn):
    """A model whose 4096-row batch takes seconds on one core."""
    create_dense_chain(conn, "slow", 2048, 4)
    wait_for_worker(conn)
    return "SELECT array_length(predict_batch('slow', array_fill(0.5::real, ARRAY[4096, 2048])), 1)"


def run_in_thread(dbname, sql, setup=()):
    """Runs sql on a new connection in a thread; returns (thread, result dict
    with pid, rows or error, seconds)."""
    result = {}
    started = threading.Event()

    def body():
        try:
            with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
                result["pid"] = c.info.backend_pid
                for s in setup:
                    c.execute(s)
                started.set()
                t0 = time.time()
                try:
                    result["rows"] = c.execute(sql).fetchall()
                except psycopg.Error as e:
                    result["error"] = e
                result["seconds"] = time.time() - t0
                result["after"] = c.execute("SELECT 1").fetchone()[0]
        finally:
            started.set()

    t = threading.Thread(target=body)
    t.start()
    started.wait(10)
    return t, result


def wait_running(conn, pid):
    """Waits until backend pid waits on the worker (wait event Extension)."""
    for _ in range(200):
        ev = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if ev and ev[0] == "Extension":
            return
        time.sleep(0.02)
    raise AssertionError("the query never waited for the worker")


def test_cancel_while_the_worker_runs_the_request(dbname, conn, slow_model):
    t, res = run_in_thread(dbname, slow_model)
    wait_running(conn, res["pid"])
    time.sleep(0.3)
    t0 = time.time()
    conn.execute("SELECT pg_cancel_backend(%s)", (res["pid"],))
    t.join(60)
    assert isinstance(res.get("error"), psycopg.errors.QueryCanceled)
    assert time.time() - t0 < 2.0, "cancel waited for the batch"
    assert res["after"] == 1
    # the same slot serves the next request once the abandoned one ends
    small = slow_model.replace("4096, 2048", "2, 2048")
    assert conn.execute(small).fetchone()[0] == 2


def test_statement_timeout_while_queued_or_running(dbname, conn, slow_model):
    t, res = run_in_thread(dbname, slow_model, setup=["SET statement_timeout = '400ms'"])
    t.join(60)
    assert isinstance(res.get("error"), psycopg.errors.QueryCanceled)
    assert "statement timeout" in str(res["error"])
    assert res["seconds"] < 2.0
    assert res["after"] == 1


def server_log_tail(offset):
    return pathlib.Path(SERVER_LOG).read_text(errors="replace")[offset:] if SERVER_LOG else ""


def log_offset():
    return pathlib.Path(SERVER_LOG).stat().st_size if SERVER_LOG else 0


def test_kill_9_of_the_executor_fails_only_its_requests(dbname, conn, slow_model):
    offset = log_offset()
    before = wait_for_worker(conn)
    bystander = psycopg.connect(**conninfo(dbname), autocommit=True)
    t, res = run_in_thread(dbname, slow_model)
    wait_running(conn, res["pid"])
    time.sleep(0.3)
    os.kill(before["executor_pid"], signal.SIGKILL)
    t.join(60)
    err = res.get("error")
    assert err is not None and err.sqlstate == "58000", repr(err)
    assert "inference executor process ended (terminated by signal 9)" in str(err)
    assert res["after"] == 1, "the session that ran the query must stay connected"
    assert bystander.execute("SELECT 1").fetchone()[0] == 1
    bystander.close()
    small = slow_model.replace("4096, 2048", "2, 2048")
    assert conn.execute(small).fetchone()[0] == 2
    after = wait_for_worker(conn)
    assert after["executor_restarts"] == before["executor_restarts"] + 1
    assert after["executor_pid"] != before["executor_pid"] and after["pid"] == before["pid"]
    if SERVER_LOG:
        log = server_log_tail(offset)
        assert "terminated by signal 9" in log
        assert "terminating any other active server processes" not in log
        assert "all server processes terminated; reinitializing" not in log


def test_stopped_worker_fails_waiting_requests_then_comes_back(dbname, conn, slow_model):
    before = wait_for_worker(conn)
    t, res = run_in_thread(dbname, slow_model)
    wait_running(conn, res["pid"])
    # the worker has no database connection, so pg_terminate_backend cannot reach it
    assert conn.execute("SELECT pg_terminate_backend(%s)", (before["pid"],)).fetchone()[0] is False
    assert conn.execute("SELECT restart_worker()").fetchone()[0] is True
    t.join(60)
    err = res.get("error")
    assert err is not None and err.sqlstate == "57P01", repr(err)
    assert "inference worker stopped" in str(err)
    assert res["after"] == 1
    # meanwhile 'auto' runs in the backend, and 'cuda' says why it cannot
    small = slow_model.replace("4096, 2048", "2, 2048")
    assert conn.execute(small).fetchone()[0] == 2
    after = wait_for_worker(conn, seconds=30)
    assert after["pid"] != before["pid"]


def test_restart_worker_is_not_public(dbname, conn):
    conn.execute("CREATE ROLE e2e_no_restart LOGIN")
    try:
        with psycopg.connect(**{**conninfo(dbname), "user": "e2e_no_restart"}, autocommit=True) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("SELECT restart_worker()")
    finally:
        conn.execute("DROP ROLE e2e_no_restart")


def test_device_cuda_without_a_gpu_is_an_error(mnist_table):
    wait_for_worker(mnist_table)
    mnist_table.execute("SET pg_infer.device = 'cuda'")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState,
                       match="cannot run on the GPU: the inference worker runs on the CPU"):
        mnist_table.execute("SELECT predict_class('mnist', features) FROM digits LIMIT 1").fetchall()


def test_uncommitted_version_runs_in_the_backend(dbname, conn):
    wait_for_worker(conn)
    before = worker(conn)
    with psycopg.connect(**conninfo(dbname)) as c:
        create_dense_chain(c, "fresh", 16, 1)
        y = c.execute("SELECT predict('fresh', array_fill(1::real, ARRAY[16]))").fetchone()[0]
        assert len(y) == 16
        c.rollback()
    assert worker(conn)["requests"] == before["requests"]


def test_dropped_versions_leave_the_worker(dbname, conn):
    wait_for_worker(conn)
    create_dense_chain(conn, "gone", 256, 2)
    create_dense_chain(conn, "gone", 256, 2, seed=1)
    conn.execute("SELECT predict('gone', array_fill(1::real, ARRAY[256]), 1)")
    conn.execute("SELECT predict('gone', array_fill(1::real, ARRAY[256]), 2)")
    assert resident_versions(conn, "gone") == [1, 2]
    row = conn.execute("SELECT bytes, last_used <= now() + interval '1 s' FROM pginfer.worker_models"
                       " WHERE model = 'gone' AND version = 1").fetchone()
    assert row[0] >= 256 * 256 * 4 and row[1], row
    conn.execute("SELECT drop_model('gone', 1)")
    deadline = time.time() + 10
    while resident_versions(conn, "gone") != [2]:
        assert time.time() < deadline, resident_versions(conn, "gone")
        time.sleep(0.05)
    conn.execute("SELECT drop_model('gone')")
    while resident_versions(conn, "gone"):
        assert time.time() < deadline, resident_versions(conn, "gone")
        time.sleep(0.05)


def test_worker_models_shows_other_databases_only_to_stats_readers(dbname, conn):
    wait_for_worker(conn)
    other_db = dbname + "_other"
    with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{other_db}"')
        try:
            with psycopg.connect(**conninfo(other_db), autocommit=True) as c:
                c.execute("CREATE EXTENSION pg_infer")
                create_dense_chain(c, "theirs", 16, 1)
                c.execute("SELECT predict('theirs', array_fill(1::real, ARRAY[16]))")
            create_dense_chain(conn, "mine", 16, 1)
            conn.execute("SELECT predict('mine', array_fill(1::real, ARRAY[16]))")
            query = "SELECT database, model FROM pginfer.worker_models WHERE model IN ('mine', 'theirs')" \
                    " AND database IN (%s, %s) ORDER BY model"
            assert conn.execute(query, (dbname, other_db)).fetchall() == [(dbname, "mine"), (other_db, "theirs")]
            conn.execute("CREATE ROLE e2e_plain_reader")
            try:
                conn.execute("SET ROLE e2e_plain_reader")
                assert conn.execute(query, (dbname, other_db)).fetchall() == [(dbname, "mine")]
                conn.execute("RESET ROLE")
                conn.execute("GRANT pg_read_all_stats TO e2e_plain_reader")
                conn.execute("SET ROLE e2e_plain_reader")
                assert len(conn.execute(query, (dbname, other_db)).fetchall()) == 2
            finally:
                conn.execute("RESET ROLE")
                conn.execute("DROP ROLE e2e_plain_reader")
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{other_db}" WITH (FORCE)')


@contextlib.contextmanager
def worker_settings(dbname, **settings):
    """Sets pg_infer.<name> = value for each setting (ALTER SYSTEM, reload)
    and waits until the worker has read them, then resets them and waits
    again.  pg_infer.worker_memory changes along (4095 MB, then back to the
    default): the worker publishes it as memory_budget when it reads the
    configuration, which tells that it has read the others too."""
    def apply(pairs, budget_mb):
        with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
            for name, value in pairs:
                admin.execute(f"ALTER SYSTEM RESET pg_infer.{name}" if value is None
                              else f"ALTER SYSTEM SET pg_infer.{name} = '{value}'")
            admin.execute("SELECT pg_reload_conf()")
        with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
            deadline = time.time() + 10
            while worker(c)["memory_budget"] != budget_mb * 1024 * 1024:
                assert time.time() < deadline, "the worker did not reload its settings"
                time.sleep(0.05)

    apply(list(settings.items()) + [("worker_memory", "4095MB")], 4095)
    try:
        yield
    finally:
        apply([(name, None) for name in settings] + [("worker_memory", None)], 4096)


def set_worker_memory(dbname, value):
    """Sets pg_infer.worker_memory and waits until the worker has read it."""
    want = (int(value.rstrip("MB")) if value else 4096) * 1024 * 1024
    alter_system("pg_infer.worker_memory", value, lambda c: worker(c)["memory_budget"] == want, dbname)


def test_resident_models_stay_under_the_budget(dbname, conn):
    wait_for_worker(conn)
    set_worker_memory(dbname, "20MB")
    try:
        for k in range(4):   # 4 models of 8 MB each
            create_dense_chain(conn, f"big{k}", 1024, 2, seed=k)
            y = conn.execute(f"SELECT predict('big{k}', array_fill(1::real, ARRAY[1024]))").fetchone()[0]
            assert len(y) == 1024
            row = worker(conn)
            assert row["memory_used"] <= 20 * 1024 * 1024, row
        assert [r[0] for r in conn.execute(
            "SELECT model FROM pginfer.worker_models WHERE database = current_database()"
            " ORDER BY model").fetchall()] == ["big2", "big3"]
        # an evicted model is uploaded again when used
        y0 = conn.execute("SELECT predict('big0', array_fill(1::real, ARRAY[1024]))").fetchone()[0]
        conn.execute("SET pg_infer.device = 'cpu'")
        assert close(y0, conn.execute("SELECT predict('big0', array_fill(1::real, ARRAY[1024]))").fetchone()[0])
    finally:
        set_worker_memory(dbname, None)


def test_parallel_workers_use_the_worker(mnist_table):
    conn = mnist_table
    wait_for_worker(conn)
    reference = scores(conn, "cpu", batching=True)
    before = worker(conn)
    conn.execute("SET force_parallel_mode = on")
    conn.execute("SET parallel_setup_cost = 0")
    conn.execute("SET parallel_tuple_cost = 0")
    got = scores(conn, "auto", batching=True)
    assert all(close(p, rp) for (_, p, _), (_, rp, _) in zip(got, reference))
    assert worker(conn)["rows"] - before["rows"] >= 600
