"""The catalog across sessions, dumps, large weights and parallel query."""
import collections
import json
import threading
import time

import numpy as np
import psycopg
import pytest

from conftest import ROOT, conninfo, create_mnist, restored_copy, safetensors_bytes

DENSE_GRAPH = {
    "format": "pg_infer", "version": 1,
    "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}],
    "outputs": [{"name": "y"}],
    "nodes": [{"name": "y", "op": "Dense", "inputs": ["x", "w", "b"]}],
}


def create_dense(conn, name, w, b):
    """A Dense model y = w x + b."""
    weights = safetensors_bytes({"w": np.array(w, "f4"), "b": np.array(b, "f4")})
    return conn.execute("SELECT create_model(%s, %s::jsonb, %s)",
                        (name, json.dumps(DENSE_GRAPH), weights)).fetchone()[0]


def test_other_sessions_see_committed_changes(dbname):
    with psycopg.connect(**conninfo(dbname), autocommit=True) as a, \
            psycopg.connect(**conninfo(dbname), autocommit=True) as b:
        create_dense(b, "m", [[1, 0, 0], [0, 1, 0]], [0, 0])
        predict = "SELECT predict('m', '{1,2,3}'::real[])"
        assert a.execute(predict).fetchone()[0] == [1.0, 2.0]
        # a new version, created in an open transaction: not visible until commit
        b.execute("BEGIN")
        create_dense(b, "m", [[0, 0, 1], [0, 0, 2]], [1, 1])
        assert a.execute(predict).fetchone()[0] == [1.0, 2.0]
        b.execute("COMMIT")
        assert a.execute(predict).fetchone()[0] == [4.0, 7.0]
        # rollback to version 1
        b.execute("SELECT set_active_version('m', 1)")
        assert a.execute(predict).fetchone()[0] == [1.0, 2.0]
        # dropped: an error, not a stale answer
        b.execute("SELECT drop_model('m')")
        with pytest.raises(psycopg.errors.UndefinedObject, match='model "m" does not exist'):
            a.execute(predict)


def test_weights_over_one_chunk_round_trip(conn):
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((1024, 784)).astype("f4") * 0.05    # 3.2 MB: 4 chunks
    b1 = rng.standard_normal(1024).astype("f4")
    w2 = rng.standard_normal((10, 1024)).astype("f4") * 0.05
    b2 = rng.standard_normal(10).astype("f4")
    graph = {"format": "pg_infer", "version": 1,
             "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 784]}],
             "outputs": [{"name": "out"}],
             "nodes": [{"name": "h", "op": "Dense", "inputs": ["x", "w1", "b1"]},
                       {"name": "r", "op": "Relu", "inputs": ["h"]},
                       {"name": "out", "op": "Dense", "inputs": ["r", "w2", "b2"]}]}
    weights = safetensors_bytes({"w1": w1, "b1": b1, "w2": w2, "b2": b2})
    conn.execute("SELECT create_model('wide', %s::jsonb, %s)", (json.dumps(graph), weights))
    chunks, stored = conn.execute(
        "SELECT count(*), sum(length(data)) FROM pginfer.model_weight_chunk").fetchone()
    assert chunks == 4 and stored == len(weights)
    x = rng.standard_normal(784).astype("f4")
    got = np.array(conn.execute("SELECT predict('wide', %s::real[])", (x.tolist(),)).fetchone()[0])
    want = w2 @ np.maximum(w1 @ x + b1, 0) + b2
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_pg_dump_and_restore_carry_models(dbname, conn):
    create_mnist(conn)
    # versions whose stored weights are int8 codes and bf16 (src/format/compact.c)
    for name, precision in [("mnist8", "int8"), ("mnistbf", "bf16")]:
        conn.execute("SELECT create_model(%s, %s::jsonb, %s, %s::jsonb)",
                     (name, (ROOT / "models/mnist/model.json").read_text(),
                      (ROOT / "models/mnist/model.safetensors").read_bytes(),
                      json.dumps({"input_scale": 1 / 255, "precision": precision})))
    create_dense(conn, "m", [[1, 2, 3], [4, 5, 6]], [0.5, -0.5])
    create_dense(conn, "m", [[1, 1, 1], [1, 1, 1]], [0, 0])
    conn.execute("SELECT set_active_version('m', 1)")
    conn.execute("SELECT create_model('cnn', onnx => %s)",
                 ((ROOT.parent / "shared" / "models" / "mnist_cnn_pytorch.onnx").read_bytes(),))
    # an ONNX version whose file stores int8 codes (src/format/onnx_compact.c)
    conn.execute("SELECT create_model('cnn8', onnx => %s, options => '{\"precision\": \"int8\"}')",
                 ((ROOT.parent / "shared" / "models" / "mnist_cnn_pytorch.onnx").read_bytes(),))
    image = "array_fill(7::real, ARRAY[784])"
    before = conn.execute(f"SELECT predict('mnist', {image}) || predict('cnn', {image})"
                          f" || predict('mnist8', {image}) || predict('mnistbf', {image})"
                          f" || predict('cnn8', {image}),"
                          " predict('m', '{{1,1,1}}'::real[]),"
                          " (SELECT json_agg(m ORDER BY name, version)"
                          "  FROM (SELECT name, version, active, weight_bytes FROM pginfer.models) m)"
                          ).fetchone()
    with restored_copy(dbname) as restored:
        with psycopg.connect(**conninfo(restored), autocommit=True) as r:
            after = r.execute(f"SELECT predict('mnist', {image}) || predict('cnn', {image})"
                              f" || predict('mnist8', {image}) || predict('mnistbf', {image})"
                              f" || predict('cnn8', {image}),"
                              " predict('m', '{{1,1,1}}'::real[]),"
                              " (SELECT json_agg(m ORDER BY name, version)"
                              "  FROM (SELECT name, version, active, weight_bytes FROM pginfer.models) m)"
                              ).fetchone()
            assert after == before
            # numbering continues after a restore
            assert create_dense(r, "m", [[0, 0, 0], [0, 0, 0]], [0, 0]) == 3


def test_parallel_query_matches_serial(conn):
    create_mnist(conn)
    conn.execute("CREATE TABLE t AS SELECT i AS id, array_agg(((i * 31 + p * 7) % 256)::real ORDER BY p)"
                 " AS features FROM generate_series(1, 3000) i, generate_series(1, 784) p GROUP BY i")
    conn.execute("ANALYZE t")
    query = "SELECT sum(predict_class('mnist', features) * id) FROM t"
    conn.execute("SET max_parallel_workers_per_gather = 0")
    serial = conn.execute(query).fetchone()[0]
    for setting in ("max_parallel_workers_per_gather = 2", "parallel_setup_cost = 0",
                    "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0"):
        conn.execute("SET " + setting)
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + query))
    assert "Workers Launched: 2" in plan, plan
    assert conn.execute(query).fetchone()[0] == serial


def test_backends_run_one_thread(conn):
    create_mnist(conn)
    conn.execute("SELECT predict_batch('mnist', array_fill(1::real, ARRAY[256, 784]))")
    assert backend_threads(conn) == 1


def backend_threads(conn):
    """The number of threads of the connection's backend process."""
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


@pytest.mark.parametrize("numpy_first", [False, True])
def test_numpy_in_plpython_shares_the_session(dbname, conn, numpy_first):
    """PL/Python's numpy and pg_infer load one OpenBLAS, in either order, and
    pg_infer starts no BLAS threads (numpy loaded first may have started its own)."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
    conn.execute("CREATE FUNCTION np_dot(x real[]) RETURNS float8 LANGUAGE plpython3u AS $$\n"
                 "import numpy as np\n"
                 "v = np.array(x, dtype=np.float64)\n"
                 "return float(v @ v)\n$$")
    create_mnist(conn)
    image = "array_fill(2::real, ARRAY[784])"
    numpy_call = f"SELECT np_dot({image})"
    infer_call = "SELECT predict_batch('mnist', array_fill(1::real, ARRAY[64, 784]))"
    with psycopg.connect(**conninfo(dbname), autocommit=True) as fresh:
        if numpy_first:
            fresh.execute(numpy_call)
            before = backend_threads(fresh)
            fresh.execute(infer_call)
            assert backend_threads(fresh) == before
        else:
            fresh.execute(infer_call)
            assert backend_threads(fresh) == 1
            fresh.execute(numpy_call)
            assert backend_threads(fresh) == 1
        assert fresh.execute(numpy_call).fetchone()[0] == 784 * 4
        assert fresh.execute(f"SELECT predict_class('mnist', {image})").fetchone()[0] in range(10)
        pid = fresh.execute("SELECT pg_backend_pid()").fetchone()[0]
        with open(f"/proc/{pid}/maps") as maps:
            blas = {line.split()[-1] for line in maps if "libopenblas" in line}
        assert len(blas) == 1, blas


def wait_for_lock_wait(observer, pid, seconds=10):
    """Waits until backend pid waits for a lock (a defined point of a race)."""
    deadline = time.monotonic() + seconds
    while observer.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                           (pid,)).fetchone()[0] != "Lock":
        assert time.monotonic() < deadline, "the session never waited for the lock"
        time.sleep(0.01)


@pytest.mark.parametrize("isolation, error", [
    ("READ COMMITTED", psycopg.errors.UndefinedObject),
    ("REPEATABLE READ", psycopg.errors.SerializationFailure)])
def test_activating_a_version_dropped_meanwhile_fails(dbname, conn, isolation, error):
    """set_active_version waits for a concurrent drop_model of that version,
    then fails instead of activating a version that no longer exists."""
    create_dense(conn, "race", [[1, 0, 0]], [0])
    create_dense(conn, "race", [[2, 0, 0]], [0])
    create_dense(conn, "race", [[3, 0, 0]], [0])
    conn.execute("SELECT set_active_version('race', 3)")
    with psycopg.connect(**conninfo(dbname)) as dropper, \
            psycopg.connect(**conninfo(dbname)) as activator:
        dropper.execute("SELECT drop_model('race', 2)")
        activator.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
        activator.execute("SELECT 1")      # the transaction's snapshot still has version 2
        outcome = {}

        def activate():
            try:
                activator.execute("SELECT set_active_version('race', 2)")
                activator.commit()
                outcome["ok"] = True
            except psycopg.Error as e:
                outcome["error"] = e
                activator.rollback()

        t = threading.Thread(target=activate)
        t.start()
        wait_for_lock_wait(conn, activator.info.backend_pid)
        dropper.commit()
        t.join(30)
        assert isinstance(outcome.get("error"), error), outcome
    assert conn.execute("SELECT version FROM pginfer.models WHERE name = 'race' AND active").fetchone() == (3,)
    assert conn.execute("SELECT predict('race', '{1,0,0}'::real[])").fetchone()[0] == [3.0]


def test_a_version_being_activated_cannot_be_dropped_under_it(dbname, conn):
    """drop_model of the version another transaction is activating waits for
    it, and then drops it as the new active version (with its NOTICE)."""
    create_dense(conn, "race", [[1, 0, 0]], [0])
    create_dense(conn, "race", [[2, 0, 0]], [0])
    with psycopg.connect(**conninfo(dbname)) as activator, \
            psycopg.connect(**conninfo(dbname), autocommit=True) as dropper:
        activator.execute("SELECT set_active_version('race', 1)")
        t = threading.Thread(target=lambda: dropper.execute("SELECT drop_model('race', 1)"))
        t.start()
        wait_for_lock_wait(conn, dropper.info.backend_pid)
        activator.commit()
        t.join(30)
    assert conn.execute("SELECT version, active FROM pginfer.models WHERE name = 'race'").fetchall() == [(2, True)]
    assert conn.execute("SELECT predict('race', '{1,0,0}'::real[])").fetchone()[0] == [2.0]


def test_model_ids_restarted_by_truncate_are_not_served_from_old_images(dbname, conn):
    """TRUNCATE ... RESTART IDENTITY gives a new model an old model's id and
    version number: neither the shared cache nor a session's cache may serve
    the old model's image for it."""
    create_dense(conn, "old", [[1, 0, 0]], [0])
    x = "'{1,2,3}'::real[]"
    with psycopg.connect(**conninfo(dbname), autocommit=True) as other:
        assert other.execute(f"SELECT predict('old', {x})").fetchone()[0] == [1.0]
        assert conn.execute(f"SELECT predict('old', {x})").fetchone()[0] == [1.0]
        conn.execute("TRUNCATE pginfer.model RESTART IDENTITY CASCADE")
        create_dense(conn, "new", [[0, 0, 1]], [0])
        assert conn.execute("SELECT model_id, version FROM pginfer.model JOIN pginfer.model_version"
                            " USING (model_id)").fetchone() == (1, 1)
        assert conn.execute(f"SELECT predict('new', {x})").fetchone()[0] == [3.0]
        assert other.execute(f"SELECT predict('new', {x})").fetchone()[0] == [3.0]
    with psycopg.connect(**conninfo(dbname), autocommit=True) as third:
        assert third.execute(f"SELECT predict('new', {x})").fetchone()[0] == [3.0]


def test_a_rolled_back_version_number_is_given_again_but_never_a_dropped_one(conn):
    create_dense(conn, "m", [[1, 0, 0]], [0])
    conn.execute("BEGIN")
    assert create_dense(conn, "m", [[2, 0, 0]], [0]) == 2
    assert conn.execute("SELECT predict('m', '{1,0,0}'::real[])").fetchone()[0] == [2.0]
    conn.execute("ROLLBACK")
    assert create_dense(conn, "m", [[3, 0, 0]], [0]) == 2
    assert conn.execute("SELECT predict('m', '{1,0,0}'::real[])").fetchone()[0] == [3.0]
    conn.execute("SELECT drop_model('m', 2)")
    assert create_dense(conn, "m", [[4, 0, 0]], [0]) == 3
    uids = conn.execute("SELECT count(DISTINCT uid), count(*) FROM pginfer.model_version").fetchone()
    assert uids == (2, 2)


def test_a_missing_version_leaks_no_session_memory(conn):
    """predict with a version that does not exist raises without leaving
    anything in the session's long-lived memory."""
    create_dense(conn, "m", [[1, 0, 0]], [0])
    conn.execute("SELECT predict('m', '{1,2,3}'::real[])")

    def session_bytes():
        return conn.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts"
                            " WHERE name = 'TopMemoryContext' OR parent = 'TopMemoryContext'").fetchone()[0]

    def fail_many(n):
        conn.execute(f"""DO $$ BEGIN FOR i IN 1..{n} LOOP
                           BEGIN PERFORM predict('m', '{{1,2,3}}'::real[], 999);
                           EXCEPTION WHEN undefined_object THEN NULL; END;
                         END LOOP; END $$""")

    fail_many(200)                   # warm every cache the loop itself uses
    before = session_bytes()
    fail_many(5000)
    assert session_bytes() - before < 64 * 1024


def test_drop_and_create_extension_under_load_raise_only_proper_errors(dbname, conn):
    """Sessions predicting while the extension is dropped and created again
    get errors that say what happened, never an internal error (XX000)."""
    create_dense(conn, "m", [[1, 0, 0]], [0])
    stop = threading.Event()
    states = collections.Counter()

    def client():
        with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
            while not stop.is_set():
                try:
                    c.execute("SELECT predict('m', '{1,2,3}'::real[])")
                    states["ok"] += 1
                except psycopg.Error as e:
                    states[e.sqlstate] += 1
                    if e.sqlstate == "XX000":
                        states["XX000: " + str(e)] += 1

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(15):
            conn.execute("DROP EXTENSION pg_infer CASCADE")
            conn.execute("CREATE EXTENSION pg_infer")
            create_dense(conn, "m", [[1, 0, 0]], [0])
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert states["ok"] > 0, states
    assert not any(k.startswith("XX") for k in states), states


@pytest.fixture
def three_roles(dbname, conn):
    """alice, bob and carol, who may run the model-managing functions."""
    roles = ["e2e_alice", "e2e_bob", "e2e_carol"]
    for r in roles:
        conn.execute(f"CREATE ROLE {r} LOGIN")
        conn.execute(f"GRANT EXECUTE ON FUNCTION create_model(text, jsonb, bytea, jsonb, text),"
                     f" drop_model(text, integer), set_active_version(text, integer),"
                     f" grant_model(text, name), revoke_model(text, name) TO {r}")
    conns = {r: psycopg.connect(**{**conninfo(dbname), "user": r}, autocommit=True) for r in roles}
    yield [conns[r] for r in roles]
    for c in conns.values():
        c.close()
    for r in roles:
        conn.execute(f"DROP OWNED BY {r}")
        conn.execute(f"DROP ROLE {r}")


def test_only_owners_managers_and_administrators_change_a_model(conn, three_roles):
    alice, bob, carol = three_roles
    create_dense(alice, "m", [[1, 0, 0]], [0])
    assert conn.execute("SELECT owner FROM pginfer.models WHERE name = 'm'").fetchone()[0] == "e2e_alice"
    denied = psycopg.errors.InsufficientPrivilege
    for sql in ("SELECT drop_model('m')", "SELECT drop_model('m', 1)", "SELECT set_active_version('m', 1)",
                "SELECT grant_model('m', 'e2e_bob')"):
        with pytest.raises(denied):
            bob.execute(sql)
    with pytest.raises(denied, match='must be the owner of model "m" or have managing rights on it'):
        create_dense(bob, "m", [[2, 0, 0]], [0])
    # managing rights on one model, through a group role too
    alice.execute("SELECT grant_model('m', 'e2e_bob')")
    assert create_dense(bob, "m", [[2, 0, 0]], [0]) == 2
    bob.execute("SELECT set_active_version('m', 1)")
    with pytest.raises(denied, match='must be the owner of model "m"'):
        bob.execute("SELECT grant_model('m', 'e2e_carol')")      # managers do not grant
    conn.execute("GRANT e2e_bob TO e2e_carol")
    carol.execute("SELECT drop_model('m', 2)")
    conn.execute("REVOKE e2e_bob FROM e2e_carol")
    alice.execute("SELECT revoke_model('m', 'e2e_bob')")
    with pytest.raises(denied):
        bob.execute("SELECT set_active_version('m', 1)")
    # a model of one's own is one's own; the administrator may change any
    create_dense(carol, "c", [[3, 0, 0]], [0])
    with pytest.raises(denied):
        alice.execute("SELECT drop_model('c')")
    conn.execute("SELECT drop_model('c')")
    with pytest.raises(psycopg.errors.UndefinedObject):
        alice.execute("SELECT grant_model('m', 'no_such_role')")
    history = conn.execute("SELECT model, version, action, role, detail FROM pginfer.model_history").fetchall()
    assert history == [
        ("m", 1, "create", "e2e_alice", None),
        ("m", None, "grant", "e2e_alice", "e2e_bob"),
        ("m", 2, "create", "e2e_bob", None),
        ("m", 1, "activate", "e2e_bob", None),
        ("m", 2, "drop", "e2e_carol", None),
        ("m", None, "revoke", "e2e_alice", "e2e_bob"),
        ("c", 1, "create", "e2e_carol", None),
        ("c", None, "drop", "postgres", "the model and all its versions"),
    ], history
    # refused changes leave no trace
    assert conn.execute("SELECT count(*) FROM pginfer.model_manager").fetchone()[0] == 0
