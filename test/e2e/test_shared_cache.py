"""The shared model cache across connections: one load per version, LRU
under the budget, pins, drops, loading errors, the versions that concurrent
statements see, and the fallback without shared_preload_libraries."""
import json
import os
import pathlib
import subprocess
import threading
import time
import uuid

import numpy as np
import psycopg
import pytest

from conftest import ROOT, alter_system, conninfo, extra_port, safetensors_bytes


def dense_graph(n_in):
    return {
        "format": "pg_infer", "version": 1,
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, n_in]}],
        "outputs": [{"name": "y"}],
        "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}],
    }


def create_dense(conn, name, n_in, n_out, bias=0.0, seed=0, scale=1.0, precision="fp32"):
    """A Dense model of n_in x n_out random weights (times scale) and a constant bias."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((n_out, n_in)) * scale).astype("f4")
    b = np.full(n_out, bias, "f4")
    weights = safetensors_bytes({"w": w, "b": b})
    return conn.execute("SELECT create_model(%s, %s::jsonb, %s, %s::jsonb)",
                        (name, json.dumps(dense_graph(n_in)), weights,
                         json.dumps({"precision": precision}))).fetchone()[0]


def cache_rows(conn, model):
    """{version: (state, pins, loads, hits, bytes)} of the model's cached versions."""
    rows = conn.execute("SELECT version, state, pins, loads, hits, bytes FROM pginfer.cached_models"
                        " WHERE model = %s AND database = current_database()", (model,)).fetchall()
    return {r[0]: r[1:] for r in rows}


def set_cache_size(value):
    """Sets pg_infer.cache_size server-wide and waits until new sessions see it."""
    want = value or "1GB"
    alter_system("pg_infer.cache_size", value,
                 lambda c: c.execute("SHOW pg_infer.cache_size").fetchone()[0] == want)


@pytest.fixture
def small_cache():
    """A 3 MB cache for the duration of a test."""
    set_cache_size("3MB")
    yield
    set_cache_size(None)


@pytest.mark.parametrize("precision", ["fp32", "int8", "bf16"])
def test_new_connection_uses_the_loaded_image(dbname, conn, precision):
    # an int8 or bf16 version's stored weights load into the image as float32
    create_dense(conn, "m", 64, 32, seed=1, precision=precision)
    assert conn.execute("SELECT warm_model('m')").fetchone()[0] == 1
    x = np.linspace(-1, 1, 64).astype("f4").tolist()
    first = conn.execute("SELECT predict('m', %s::real[])", (x,)).fetchone()[0]
    for _ in range(3):
        with psycopg.connect(**conninfo(dbname), autocommit=True) as other:
            assert other.execute("SELECT predict('m', %s::real[])", (x,)).fetchone()[0] == first
    state, pins, loads, hits, nbytes = cache_rows(conn, "m")[1]
    assert (state, pins, loads) == ("ready", 0, 1)
    assert hits == 4
    assert nbytes >= 64 * 32 * 4


def test_concurrent_first_uses_load_once(dbname, conn):
    create_dense(conn, "big", 1024, 2048, seed=2)     # 8 MB of weights
    results, errors = [], []

    def use():
        try:
            with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
                results.append(c.execute("SELECT predict('big', array_fill(0.5::real, ARRAY[1024]))")
                               .fetchone()[0][:4])
        except Exception as e:     # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 8 and all(r == results[0] for r in results)
    state, pins, loads, hits, _ = cache_rows(conn, "big")[1]
    assert (state, pins, loads, hits) == ("ready", 0, 1, 7)


def test_lru_eviction_under_the_budget(dbname, conn, small_cache):
    # 1.25 MB each: two fit in 3 MB, a third evicts the least recently used
    for i, name in enumerate(["a", "b", "c"]):
        create_dense(conn, name, 800, 400, seed=i)
    x = "array_fill(1::real, ARRAY[800])"
    conn.execute(f"SELECT predict('a', {x})")
    conn.execute(f"SELECT predict('b', {x})")
    conn.execute(f"SELECT predict('a', {x})")        # b is now the least recent
    conn.execute(f"SELECT predict('c', {x})")
    assert cache_rows(conn, "a")[1][0] == "ready"
    assert cache_rows(conn, "b")[1][0] == "evicted"
    assert cache_rows(conn, "c")[1][0] == "ready"
    used, budget = conn.execute("SELECT bytes_used, budget FROM cache_usage()").fetchone()
    assert budget == 3 * 1024 * 1024 and used <= budget
    # b comes back; now a is the least recent
    conn.execute(f"SELECT predict('b', {x})")
    assert cache_rows(conn, "a")[1][0] == "evicted"
    assert cache_rows(conn, "b")[1][:3] == ("ready", 0, 2)


def test_pinned_images_are_not_evicted(dbname, conn, small_cache):
    for i, name in enumerate(["a", "b", "c"]):
        create_dense(conn, name, 800, 400, seed=i)
    x = "array_fill(1::real, ARRAY[800])"
    with psycopg.connect(**conninfo(dbname)) as holder:   # one open transaction
        holder.execute(f"SELECT predict('a', {x})")
        conn.execute(f"SELECT predict('b', {x})")
        conn.execute(f"SELECT predict('c', {x})")        # a is oldest but pinned: b goes
        assert cache_rows(conn, "a")[1][:2] == ("ready", 1)
        assert cache_rows(conn, "b")[1][0] == "evicted"
        assert conn.execute("SELECT evict_model('a')").fetchone()[0] == 0
        holder.commit()
    assert conn.execute("SELECT evict_model('a')").fetchone()[0] == 1


def test_versions_in_use_never_push_the_cache_past_its_budget(dbname, conn, small_cache):
    """An idle transaction that used two 1.25 MB versions pins them: a third
    version cannot fit in the 3 MB cache and its load fails, instead of
    growing the cache; once the transaction ends it loads."""
    for i, name in enumerate(["a", "b", "c"]):
        create_dense(conn, name, 800, 400, seed=i)
    x = "array_fill(1::real, ARRAY[800])"
    with psycopg.connect(**conninfo(dbname)) as holder:
        holder.execute(f"SELECT predict('a', {x}), predict('b', {x})")
        with pytest.raises(psycopg.errors.OutOfMemory,
                           match='the shared model cache has no room for model "c" version 1') as e:
            conn.execute(f"SELECT predict('c', {x})")
        assert "idle_in_transaction_session_timeout" in e.value.diag.message_hint
        used, budget = conn.execute("SELECT bytes_used, budget FROM cache_usage()").fetchone()
        assert used <= budget
        assert 1 not in cache_rows(conn, "c")        # nothing left behind: the next use retries
        holder.commit()
    assert len(conn.execute(f"SELECT predict('c', {x})").fetchone()[0]) == 400
    assert cache_rows(conn, "c")[1][0] == "ready"


def test_model_larger_than_the_cache_is_refused(dbname, conn, small_cache):
    create_dense(conn, "huge", 1024, 1024)      # 4 MB
    with pytest.raises(psycopg.Error) as e:
        conn.execute("SELECT predict('huge', array_fill(1::real, ARRAY[1024]))")
    assert e.value.sqlstate == "54000"
    assert "pg_infer.cache_size" in str(e.value)
    assert "Raise pg_infer.cache_size to at least 5 MB" in e.value.diag.message_hint


def test_loading_error_reaches_every_waiter(dbname, conn, small_cache):
    create_dense(conn, "huge", 1024, 1024)
    errors = []

    def use():
        try:
            with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
                c.execute("SELECT predict('huge', array_fill(1::real, ARRAY[1024]))")
            errors.append(None)
        except psycopg.Error as e:
            errors.append(e.sqlstate)

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["54000"] * 6


def test_loader_terminated_midway_leaves_nothing_behind(dbname, conn):
    """A backend killed (FATAL) while loading leaves a LOADING entry; the next
    user takes it over, and the bytes in use are one image's."""
    create_dense(conn, "big", 2048, 8192, seed=4)        # 64 MB
    used_before = conn.execute("SELECT bytes_used FROM cache_usage()").fetchone()[0]
    loader = psycopg.connect(**conninfo(dbname), autocommit=True)
    pid = loader.execute("SELECT pg_backend_pid()").fetchone()[0]
    errors = []

    def load():
        try:
            loader.execute("SELECT predict('big', array_fill(1::real, ARRAY[2048]))")
        except psycopg.Error as e:
            errors.append(e)

    t = threading.Thread(target=load)
    t.start()
    time.sleep(0.05)
    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    t.join()
    loader.close()
    with psycopg.connect(**conninfo(dbname), autocommit=True) as other:
        out = other.execute("SELECT predict('big', array_fill(1::real, ARRAY[2048]))").fetchone()[0]
        assert len(out) == 8192
    state, pins, _, _, nbytes = cache_rows(conn, "big")[1]
    assert (state, pins) == ("ready", 0)
    used = conn.execute("SELECT bytes_used FROM cache_usage()").fetchone()[0]
    assert used - used_before <= nbytes + 64


def test_dropped_version_stays_for_its_running_transaction(dbname, conn):
    create_dense(conn, "m", 64, 8, bias=1.0)
    create_dense(conn, "m", 64, 8, bias=2.0)
    x = "array_fill(0::real, ARRAY[64])"
    with psycopg.connect(**conninfo(dbname)) as reader:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        assert reader.execute(f"SELECT predict('m', {x}, 1)").fetchone()[0] == [1.0] * 8
        used_before = conn.execute("SELECT bytes_used FROM cache_usage()").fetchone()[0]
        conn.execute("SELECT drop_model('m', 1)")
        # still pinned by the reader, whose snapshot still has version 1
        assert cache_rows(conn, "m")[1][:2] == ("ready", 1)
        assert reader.execute(f"SELECT predict('m', {x}, 1)").fetchone()[0] == [1.0] * 8
        reader.commit()
    assert 1 not in cache_rows(conn, "m")
    assert conn.execute("SELECT bytes_used FROM cache_usage()").fetchone()[0] < used_before
    with pytest.raises(psycopg.errors.UndefinedObject):
        conn.execute(f"SELECT predict('m', {x}, 1)")


def test_statements_see_one_version_while_versions_change(dbname, conn):
    """16 clients predict while a 17th creates, activates and drops versions.

    Version v of model "m" outputs v.  Every statement predicts 200 rows;
    all rows of a statement must come from one version, and that version must
    have been active at some moment between the statement's start and end
    (from the changer's log: activation requested .. deactivation confirmed).
    """
    seconds = float(os.environ.get("PG_INFER_STRESS_SECONDS", "30"))
    create_dense(conn, "m", 4, 1, bias=1.0, scale=0.0)
    log = []            # (version, activated_before, deactivated_after) in monotonic time
    lock = threading.Lock()
    stop = threading.Event()
    failures = []
    counts = {"statements": 0, "changes": 0}

    created = time.monotonic()      # version 1 is active from here on

    def changer():
        active, since = 1, created
        next_version = 2
        with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
            while not stop.is_set():
                requested = time.monotonic()
                step = counts["changes"] % 3
                if step == 0:         # a new version becomes active
                    v = create_dense(c, "m", 4, 1, bias=float(next_version), scale=0.0)
                    assert v == next_version
                    next_version += 1
                elif step == 1:       # roll back to an older version still stored
                    v = c.execute("SELECT min(version) FROM pginfer.models WHERE name = 'm'"
                                  " AND NOT active").fetchone()[0]
                    c.execute("SELECT set_active_version('m', %s)", (v,))
                else:                 # drop the active one: the newest remaining takes over
                    c.execute("SELECT drop_model('m', %s)", (active,))
                    v = c.execute("SELECT version FROM pginfer.models WHERE name = 'm'"
                                  " AND active").fetchone()[0]
                confirmed = time.monotonic()
                with lock:
                    log.append((active, since, confirmed))
                active, since = v, requested
                counts["changes"] += 1
                # keep a few old versions, drop the rest (never the active one)
                c.execute("SELECT drop_model('m', version) FROM pginfer.models"
                          " WHERE name = 'm' AND NOT active AND version < %s - 3", (active,))
                time.sleep(0.01)
        with lock:
            log.append((active, since, float("inf")))

    def client(i):
        with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    rows = c.execute("SELECT (predict('m', ARRAY[i, 1, 2, 3]::real[]))[1]"
                                     " FROM generate_series(1, 200) i").fetchall()
                except psycopg.Error as e:
                    failures.append(f"client {i}: {e.sqlstate} {e}")
                    return
                end = time.monotonic()
                versions = {round(r[0]) for r in rows}
                if len(versions) != 1:
                    failures.append(f"client {i}: one statement saw versions {sorted(versions)}")
                    return
                with lock:
                    counts["statements"] += 1
                    checks.append((versions.pop(), start, end))

    checks = []
    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    changer_thread = threading.Thread(target=changer)
    for t in threads + [changer_thread]:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads + [changer_thread]:
        t.join()
    assert failures == []
    assert counts["changes"] >= 20 and counts["statements"] >= 100, counts
    for version, start, end in checks:
        assert any(v == version and since <= end and until >= start
                   for v, since, until in log), (version, start, end)
    # every dropped version's image is gone once nothing uses it
    stored = {r[0] for r in conn.execute(
        "SELECT version FROM pginfer.models WHERE name = 'm'").fetchall()}
    assert set(cache_rows(conn, "m")) <= stored


def test_extension_created_again_does_not_reuse_old_images(dbname, conn):
    """After DROP/CREATE EXTENSION, model ids start over at 1: the new model 1
    version 1 must not be served from the old one's image."""
    create_dense(conn, "m", 16, 2, bias=1.0, scale=0.0)
    x = "array_fill(1::real, ARRAY[16])"
    with psycopg.connect(**conninfo(dbname), autocommit=True) as other:
        assert other.execute(f"SELECT predict('m', {x})").fetchone()[0] == [1.0, 1.0]
        assert conn.execute(f"SELECT predict('m', {x})").fetchone()[0] == [1.0, 1.0]
        conn.execute("DROP EXTENSION pg_infer CASCADE")
        conn.execute("CREATE EXTENSION pg_infer")
        create_dense(conn, "m", 16, 2, bias=5.0, scale=0.0)
        assert conn.execute("SELECT model_id, version FROM pginfer.model JOIN pginfer.model_version"
                            " USING (model_id)").fetchone() == (1, 1)
        assert conn.execute(f"SELECT predict('m', {x})").fetchone()[0] == [5.0, 5.0]
        assert other.execute(f"SELECT predict('m', {x})").fetchone()[0] == [5.0, 5.0]
    with psycopg.connect(**conninfo(dbname), autocommit=True) as third:
        assert third.execute(f"SELECT predict('m', {x})").fetchone()[0] == [5.0, 5.0]


@pytest.fixture(scope="module")
def unpreloaded_server():
    """A second scratch server without pg_infer in shared_preload_libraries."""
    base = pathlib.Path(os.environ.get("PG_INFER_TEST_DIR", "/tmp/pg_infer_test"))
    directory, port = base / "server_unpreloaded", extra_port(2)
    script = str(ROOT / "test" / "scratch-server.sh")
    subprocess.run([script, "start", str(directory), port], check=True)
    try:
        yield dict(host=str(directory), port=port, user="postgres", dbname="postgres")
    finally:
        subprocess.run([script, "stop", str(directory)], check=False)


def test_without_preloading_each_connection_caches_privately(unpreloaded_server):
    notices = []
    with psycopg.connect(**unpreloaded_server, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_infer")
        create_dense(c, "m", 16, 4, seed=3)
    with psycopg.connect(**unpreloaded_server, autocommit=True) as c:
        c.add_notice_handler(lambda d: notices.append((d.message_primary, d.message_hint)))
        first = c.execute("SELECT predict('m', array_fill(1::real, ARRAY[16]))").fetchone()[0]
        assert c.execute("SELECT predict('m', array_fill(1::real, ARRAY[16]))").fetchone()[0] == first
        assert c.execute("SELECT shared, bytes_used FROM cache_usage()").fetchone() == (False, 0)
        assert c.execute("SELECT count(*) FROM pginfer.cached_models").fetchone()[0] == 0
    assert len(notices) == 1
    assert "not in shared_preload_libraries" in notices[0][0]
    assert "shared_preload_libraries" in notices[0][1]


def test_dropped_database_and_extension_leave_the_cache(conn):
    """DROP DATABASE, and DROP EXTENSION in a database that stays, take that
    database's models out of the shared cache and the inference worker at
    once; a DROP DATABASE that fails costs only a reload."""
    tag = uuid.uuid4().hex[:8]
    databases = [f"e2e_drop_{tag}_{i}" for i in range(2)]
    model = f"m_{tag}"
    x = "array_fill(0::real, ARRAY[64])"

    def cached():
        return conn.execute("SELECT count(*) FROM pginfer.cached_models WHERE model = %s",
                            (model,)).fetchone()[0]

    def resident():
        """The worker's resident versions of the model, in every database (dropped ones too)."""
        return conn.execute("SELECT count(*) FROM pginfer.worker_models WHERE model = %s",
                            (model,)).fetchone()[0]

    def predict(c):
        assert c.execute(f"SELECT predict(%s, {x})", (model,)).fetchone()[0] == [1.0] * 8

    with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
        try:
            for d in databases:
                admin.execute(f'CREATE DATABASE "{d}"')
                with psycopg.connect(**conninfo(d), autocommit=True) as c:
                    c.execute("CREATE EXTENSION pg_infer")
                    create_dense(c, model, 64, 8, bias=1.0)
                    predict(c)
            assert cached() == 2
            assert resident() == 2
            used = conn.execute("SELECT bytes_used FROM cache_usage()").fetchone()[0]

            admin.execute(f'DROP DATABASE "{databases[0]}"')
            assert cached() == 1
            assert conn.execute("SELECT bytes_used FROM cache_usage()").fetchone()[0] < used

            with psycopg.connect(**conninfo(databases[1]), autocommit=True) as c:
                with pytest.raises(psycopg.errors.ObjectInUse):
                    admin.execute(f'DROP DATABASE "{databases[1]}"')
                assert cached() == 0          # forgotten before the drop failed
                predict(c)                    # loaded again
                assert cached() == 1
                c.execute("DROP EXTENSION pg_infer")
            assert cached() == 0

            deadline = time.monotonic() + 10
            while resident() != 0:
                assert time.monotonic() < deadline, resident()
                time.sleep(0.1)
        finally:
            for d in databases:
                admin.execute(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)')


def test_a_version_loaded_while_its_drop_commits_leaves_the_cache(dbname, conn):
    """A session whose snapshot still has a version loads it while another
    transaction drops it: when the drop commits, the image goes too, instead
    of staying ready (and resident in the worker) until evicted."""
    create_dense(conn, "m", 16, 2, bias=1.0, scale=0.0)
    create_dense(conn, "m", 16, 2, bias=2.0, scale=0.0)
    x = "array_fill(1::real, ARRAY[16])"
    with psycopg.connect(**conninfo(dbname)) as dropper, \
            psycopg.connect(**conninfo(dbname), autocommit=True) as loader:
        dropper.execute("SELECT drop_model('m', 1)")      # not committed yet
        assert loader.execute(f"SELECT predict('m', {x}, 1)").fetchone()[0] == [1.0, 1.0]
        assert cache_rows(conn, "m")[1][0] == "ready"
        dropper.commit()
        assert 1 not in cache_rows(conn, "m")
    deadline = time.monotonic() + 10
    while conn.execute("SELECT count(*) FROM pginfer.worker_models WHERE database = current_database()"
                       " AND model = 'm' AND version = 1").fetchone()[0] != 0:
        assert time.monotonic() < deadline, "the worker kept the dropped version"
        time.sleep(0.05)
    assert conn.execute(f"SELECT predict('m', {x})").fetchone()[0] == [2.0, 2.0]


def test_a_session_that_runs_many_versions_keeps_a_bounded_set(dbname, conn):
    """A session lets go of the least recently used of more than 64 loaded
    versions (attaching again is cheap): 100 versions used in turn, twice,
    all give their own outputs, and the session holds 64."""
    for v in range(1, 101):
        create_dense(conn, "m", 16, 2, bias=float(v), scale=0.0)
    x = "array_fill(1::real, ARRAY[16])"
    with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
        for _ in range(2):
            for v in range(1, 101):
                assert c.execute(f"SELECT predict('m', {x}, %s)", (v,)).fetchone()[0] == [float(v)] * 2
        loaded = c.execute("SELECT array_agg(version ORDER BY version), bool_and(shared)"
                           " FROM pginfer.session_models WHERE model = 'm'").fetchone()
        assert loaded == (list(range(37, 101)), True), loaded
