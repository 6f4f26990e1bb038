"""Drivers that prepare statements: every driver sends the model name as a
parameter, and after a few executions (psycopg) or at once (asyncpg) the
server runs a generic plan, where the model is a Param.  Such plans batch
as custom plans do, with the same results."""
import asyncio

import asyncpg
import psycopg

from conftest import conninfo, create_mnist, load_mnist_test_set
from test_mnist import load_digits

AUTO_EXPLAIN = ["LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                "SET auto_explain.log_level = notice", "SET auto_explain.log_analyze = on",
                "SET auto_explain.log_timing = off"]


def mnist_digits(conn, rows=500):
    images, labels = load_mnist_test_set()
    create_mnist(conn)
    load_digits(conn, images[:rows], labels[:rows])


def reference_classes(conn):
    conn.execute("SET plan_cache_mode = force_custom_plan")
    rows = conn.execute("SELECT id, predict_class('mnist', features) FROM digits ORDER BY id").fetchall()
    conn.execute("RESET plan_cache_mode")
    return rows


def test_psycopg_generic_plans_keep_batching(dbname, conn):
    mnist_digits(conn)
    expected = reference_classes(conn)
    with psycopg.connect(**conninfo(dbname), autocommit=True, prepare_threshold=0) as c:
        plans = []
        c.add_notice_handler(lambda d: plans.append(d.message_primary))
        for sql in AUTO_EXPLAIN + ["SET plan_cache_mode = force_generic_plan"]:
            c.execute(sql)
        query = "SELECT id, predict_class(%s, features) FROM digits ORDER BY id"
        for _ in range(2):
            assert c.execute(query, ("mnist",)).fetchall() == expected
        assert c.execute("SELECT count(*) FROM digits WHERE predict_class(%s, features, %s) = label",
                         ("mnist", 1)).fetchone()[0] > 450
    generic = [p for p in plans if "predict_class($1" in p]
    assert len(generic) == 3, plans
    assert all("Custom Scan (BatchPredict)" in p and "Models: $1" in p for p in generic), generic


def test_asyncpg_generic_plans_keep_batching(dbname, conn):
    mnist_digits(conn)
    expected = [tuple(r) for r in reference_classes(conn)]

    async def run():
        c = await asyncpg.connect(host=conninfo(dbname)["host"], port=int(conninfo(dbname)["port"]),
                                  user="postgres", database=dbname)
        plans = []
        c.add_log_listener(lambda _c, message: plans.append(message.message))
        try:
            for sql in AUTO_EXPLAIN + ["SET plan_cache_mode = force_generic_plan"]:
                await c.execute(sql)
            rows = await c.fetch("SELECT id, predict_class($1::text, features) FROM digits ORDER BY id", "mnist")
            top = await c.fetchval("SELECT sum(predict_class($1::text, features)) FROM digits", "mnist")
        finally:
            await c.close()
        return [tuple(r) for r in rows], top, plans

    rows, top, plans = asyncio.run(run())
    assert rows == expected
    assert top == sum(cls for _, cls in expected)
    generic = [p for p in plans if "predict_class($1" in p]
    assert len(generic) == 2, plans
    assert all("Custom Scan (BatchPredict)" in p and "Models: $1" in p for p in generic), generic
