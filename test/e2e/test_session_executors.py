"""A backend's executors across transactions: a version's weights are packed
once per session (pginfer.session_models.engine_builds counts the packings),
kept within pg_infer.work_mem, and never served after the version is
dropped, replaced, evicted from the shared cache or its extension dropped,
nor after a transaction that aborted."""
import numpy as np
import psycopg
import pytest

from conftest import conninfo, create_mnist
from test_shared_cache import create_dense

N_IN, N_OUT = 64, 32


def dense_reference(x, seed, bias):
    """What create_dense's model of this seed and bias computes for x."""
    w = np.random.default_rng(seed).standard_normal((N_OUT, N_IN)).astype("f4")
    return x @ w.T + bias


def engine(session, model):
    """{version: (engine_bytes, engine_builds)} of the model in this session."""
    rows = session.execute("SELECT version, engine_bytes, engine_builds FROM pginfer.session_models"
                           " WHERE model = %s", (model,)).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture
def backend_session(dbname):
    """An autocommit session whose forward passes run in its own backend."""
    with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
        c.execute("SET pg_infer.device = 'cpu'")
        yield c


def test_a_version_is_packed_once_across_statements_and_batch_sizes(dbname, conn, backend_session):
    """Single-row statements, a 300-row batch and single rows again, each its
    own transaction: one executor built, the same outputs as a new session's,
    and after each transaction only a one-row executor kept."""
    create_mnist(conn)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (300, 784)).astype("f4").tolist()
    single = "SELECT predict('mnist', %s::real[])"
    first = [backend_session.execute(single, (images[i],)).fetchone()[0] for i in range(5)]
    kept_bytes, builds = engine(backend_session, "mnist")[1]
    assert builds == 1 and kept_bytes > 0
    batch = backend_session.execute("SELECT predict_batch('mnist', %s::real[][])", (images,)).fetchone()[0]
    again = [backend_session.execute(single, (images[i],)).fetchone()[0] for i in range(5)]
    assert engine(backend_session, "mnist")[1] == (kept_bytes, 1)
    with psycopg.connect(**conninfo(dbname), autocommit=True) as fresh:
        fresh.execute("SET pg_infer.device = 'cpu'")
        expected = fresh.execute("SELECT predict_batch('mnist', %s::real[][])", (images,)).fetchone()[0]
        assert engine(fresh, "mnist")[1][1] == 1
    np.testing.assert_allclose(np.array(batch), np.array(expected), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(first), np.array(expected[:5]), rtol=1e-5, atol=1e-5)
    assert again == first


def test_a_dropped_and_recreated_model_is_served_fresh_in_the_same_session(conn, backend_session):
    x = np.linspace(-1, 1, N_IN, dtype="f4")
    create_dense(conn, "m", N_IN, N_OUT, bias=1.0, seed=1)
    out = backend_session.execute("SELECT predict('m', %s::real[])", (x.tolist(),)).fetchone()[0]
    np.testing.assert_allclose(out, dense_reference(x, 1, 1.0), rtol=1e-4, atol=1e-4)
    old = backend_session.execute("SELECT model_id FROM pginfer.session_models WHERE model = 'm'").fetchone()[0]
    conn.execute("SELECT drop_model('m')")
    create_dense(conn, "m", N_IN, N_OUT, bias=2.0, seed=2)
    out = backend_session.execute("SELECT predict('m', %s::real[])", (x.tolist(),)).fetchone()[0]
    np.testing.assert_allclose(out, dense_reference(x, 2, 2.0), rtol=1e-4, atol=1e-4)
    loaded = backend_session.execute("SELECT model_id, version, engine_builds FROM pginfer.session_models"
                                     " WHERE model = 'm'").fetchall()
    assert len(loaded) == 1 and loaded[0][0] != old and loaded[0][1:] == (1, 1), loaded


def test_a_replaced_active_version_and_a_dropped_version_are_not_served(conn, backend_session):
    """Version 2 replaces version 1 as the active one, then is dropped: each
    statement gets the version it names, each version packed once."""
    x = np.linspace(-1, 1, N_IN, dtype="f4")
    query = "SELECT predict('m', %s::real[])"
    create_dense(conn, "m", N_IN, N_OUT, bias=1.0, seed=1)
    backend_session.execute(query, (x.tolist(),))
    create_dense(conn, "m", N_IN, N_OUT, bias=2.0, seed=2)
    out = backend_session.execute(query, (x.tolist(),)).fetchone()[0]
    np.testing.assert_allclose(out, dense_reference(x, 2, 2.0), rtol=1e-4, atol=1e-4)
    assert {v: b for v, (_, b) in engine(backend_session, "m").items()} == {1: 1, 2: 1}
    conn.execute("SELECT drop_model('m', 2)")
    out = backend_session.execute(query, (x.tolist(),)).fetchone()[0]
    np.testing.assert_allclose(out, dense_reference(x, 1, 1.0), rtol=1e-4, atol=1e-4)
    assert {v: b for v, (_, b) in engine(backend_session, "m").items()} == {1: 1}


def test_an_evicted_image_is_loaded_and_packed_again(conn, backend_session):
    x = np.linspace(-1, 1, N_IN, dtype="f4")
    query = "SELECT predict('m', %s::real[])"
    create_dense(conn, "m", N_IN, N_OUT, bias=1.0, seed=1)
    before = backend_session.execute(query, (x.tolist(),)).fetchone()[0]
    assert engine(backend_session, "m")[1][1] == 1
    assert conn.execute("SELECT evict_model('m')").fetchone()[0] == 1
    assert backend_session.execute(query, (x.tolist(),)).fetchone()[0] == before
    assert engine(backend_session, "m")[1][1] == 1      # a new LoadedModel, its own first packing
    assert conn.execute("SELECT loads FROM pginfer.cached_models WHERE model = 'm'"
                        " AND database = current_database()").fetchone()[0] == 2


def test_drop_extension_leaves_nothing_of_the_old_models(conn, backend_session):
    x = np.linspace(-1, 1, N_IN, dtype="f4")
    query = "SELECT predict('m', %s::real[])"
    create_dense(conn, "m", N_IN, N_OUT, bias=1.0, seed=1)
    backend_session.execute(query, (x.tolist(),))
    conn.execute("DROP EXTENSION pg_infer CASCADE")
    conn.execute("CREATE EXTENSION pg_infer")
    create_dense(conn, "m", N_IN, N_OUT, bias=3.0, seed=3)
    out = backend_session.execute(query, (x.tolist(),)).fetchone()[0]
    np.testing.assert_allclose(out, dense_reference(x, 3, 3.0), rtol=1e-4, atol=1e-4)
    assert list(engine(backend_session, "m").values())[0][1] == 1


def test_an_aborted_transaction_frees_the_executor(conn, backend_session):
    """A statement cancelled by its timeout while it predicts row after row:
    the executor it used is freed with the transaction, and the next
    statement builds a new one that gives the same outputs."""
    x = np.linspace(-1, 1, N_IN, dtype="f4")
    query = "SELECT predict('m', %s::real[])"
    create_dense(conn, "m", N_IN, N_OUT, bias=1.0, seed=1)
    before = backend_session.execute(query, (x.tolist(),)).fetchone()[0]
    backend_session.execute("SET pg_infer.batching = off")
    backend_session.execute("SET statement_timeout = '300ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        backend_session.execute("SELECT count(predict('m', array_fill(g::real, ARRAY[%s])))"
                                " FROM generate_series(1, 100000000) g" % N_IN)
    backend_session.execute("RESET statement_timeout")
    assert engine(backend_session, "m")[1] == (0, 1)
    assert backend_session.execute(query, (x.tolist(),)).fetchone()[0] == before
    assert engine(backend_session, "m")[1][1] == 2


def test_kept_executors_stay_within_a_lowered_work_mem(conn, backend_session):
    """A kept executor with 2 MB of packed weights is freed when the session's
    pg_infer.work_mem is lowered to 1 MB, and built again once it fits."""
    x = np.linspace(-1, 1, 1024, dtype="f4")
    query = "SELECT predict('big', %s::real[])"
    create_dense(conn, "big", 1024, 512, bias=0.5, seed=4)
    before = backend_session.execute(query, (x.tolist(),)).fetchone()[0]
    kept_bytes, builds = engine(backend_session, "big")[1]
    assert builds == 1 and kept_bytes > 2 * 1024 * 1024
    backend_session.execute("SET pg_infer.work_mem = '1MB'")
    assert engine(backend_session, "big")[1] == (0, 1)
    backend_session.execute("RESET pg_infer.work_mem")
    assert backend_session.execute(query, (x.tolist(),)).fetchone()[0] == before
    assert engine(backend_session, "big")[1] == (kept_bytes, 2)
