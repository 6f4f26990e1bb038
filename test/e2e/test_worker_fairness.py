"""Fair scheduling in the inference worker: a heavy request runs in RUNs of
about pg_infer.worker_time_slice, and between them the worker turns to the
other models (round robin) and to the other sessions' requests for the same
model (smallest first), so that they do not wait for the whole heavy
request."""
import time

import pytest

from test_worker import create_dense_chain, run_in_thread, wait_for_worker, wait_running, worker

HEAVY_ROWS = 1024


@pytest.fixture
def heavy(conn):
    """A model of 4 Dense 2048 x 2048 layers (about a millisecond a row on
    one core), resident in the worker with its time per row measured."""
    create_dense_chain(conn, "heavy", 2048, 4)
    conn.execute("SELECT predict('heavy', array_fill(0.5::real, ARRAY[2048]))")
    wait_for_worker(conn)
    return f"SELECT array_length(predict_batch('heavy', array_fill(0.5::real, ARRAY[{HEAVY_ROWS}, 2048])), 1)"


@pytest.mark.parametrize("light", ["another model", "the same model"])
def test_a_small_request_does_not_wait_for_a_heavy_one(dbname, conn, heavy, light):
    if light == "another model":
        create_dense_chain(conn, "light", 16, 1)
        small = "SELECT predict('light', array_fill(1::real, ARRAY[16]))"
    else:
        small = "SELECT predict('heavy', array_fill(1::real, ARRAY[2048]))"
    conn.execute(small)
    before = wait_for_worker(conn)
    t, res = run_in_thread(dbname, heavy)
    wait_running(conn, res["pid"])
    # the heavy request has started: the worker finished a RUN of it
    deadline = time.time() + 60
    while worker(conn)["rows"] == before["rows"]:
        assert time.time() < deadline, "the worker never ran a part of the heavy request"
        time.sleep(0.01)
    conn.execute(small).fetchone()
    # the small request was served between two RUNs of the heavy one
    done = worker(conn)["rows"] - before["rows"] - 1
    assert done < HEAVY_ROWS, f"the small request waited for all {done} rows of the heavy one"
    t.join(120)
    assert res.get("rows") == [(HEAVY_ROWS,)], res
