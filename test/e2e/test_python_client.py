"""The Python client package (clients/python, import pginfer) against the
real server: SQLAlchemy on psycopg and on asyncpg, Django, psycopg and
asyncpg parameters of each supported Python type, and uploads."""
import asyncio
import pathlib

import numpy as np
import psycopg
import pytest

from conftest import ROOT, SHARED_MNIST, conninfo, create_mnist, load_mnist_test_set
from test_mnist import load_digits

import pginfer  # noqa: E402  (pip install ./clients/python)
import pginfer.asyncpg  # noqa: E402
import pginfer.psycopg  # noqa: E402

SHARED_CNN = ROOT.parent / "shared" / "models" / "mnist_cnn_pytorch.onnx"


@pytest.fixture
def digits(conn):
    """models/mnist and 300 test images in table digits(id, label, features)."""
    images, labels = load_mnist_test_set()
    create_mnist(conn)
    load_digits(conn, images[:300], labels[:300])
    expected = conn.execute("SELECT id, predict_class('mnist', features) FROM digits ORDER BY id").fetchall()
    return images[:300], expected


def url(dbname, driver):
    info = conninfo(dbname)
    return f"postgresql+{driver}://postgres@/{dbname}?host={info['host']}&port={info['port']}"


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_sqlalchemy_select_filter_insert_and_types(dbname, digits, driver):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy import Column, Integer, MetaData, Table, insert, select
    from sqlalchemy.dialects.postgresql import ARRAY, REAL

    from pginfer.sqlalchemy import predict, predict_batch, predict_class

    images, expected = digits
    meta = MetaData()
    table = Table("digits", meta, Column("id", Integer), Column("label", Integer), Column("features", ARRAY(REAL)))
    scores = Table("scores", meta, Column("id", Integer), Column("class", Integer))
    plan_mode = "SET plan_cache_mode = force_generic_plan"

    async def run_async(statements):
        from sqlalchemy.ext.asyncio import create_async_engine
        engine = create_async_engine(url(dbname, "asyncpg"))
        async with engine.begin() as c:
            await c.exec_driver_sql(plan_mode)
            results = [(await c.execute(s)).all() if s.is_select else (await c.execute(s)) and None
                       for s in statements]
        await engine.dispose()
        return results

    def run_sync(statements):
        engine = sqlalchemy.create_engine(url(dbname, "psycopg"))
        with engine.begin() as c:
            c.exec_driver_sql(plan_mode)
            results = [c.execute(s).all() if s.is_select else c.execute(s) and None for s in statements]
        engine.dispose()
        return results

    meta.create_all(sqlalchemy.create_engine(url(dbname, "psycopg")), tables=[scores])
    first = images[0].astype(np.float32)
    statements = [
        select(table.c.id, predict_class("mnist", table.c.features)).order_by(table.c.id),
        select(table.c.id).where(predict_class("mnist", table.c.features) == 7).order_by(table.c.id),
        insert(scores).from_select(["id", "class"],
                                   select(table.c.id, predict_class("mnist", table.c.features))),
        select(scores.c.id, scores.c["class"]).order_by(scores.c.id),
        select(predict("mnist", first)[1], predict_class("mnist", first), predict_class("mnist", list(first)),
               predict_class("mnist", first, 1)),
        select(predict_batch("mnist", images[:3].astype(np.float32))),
    ]
    results = asyncio.run(run_async(statements)) if driver == "asyncpg" else run_sync(statements)
    assert [tuple(r) for r in results[0]] == expected
    assert [r[0] for r in results[1]] == [i for i, c in expected if c == 7]
    assert [tuple(r) for r in results[3]] == expected
    score0, cls_array, cls_list, cls_version = results[4][0]
    assert isinstance(score0, float) and cls_array == cls_list == cls_version == expected[0][1]
    batch = results[5][0][0]
    assert len(batch) == 3 and [int(np.argmax(row)) for row in batch] == [c for _, c in expected[:3]]


def test_django_expressions(dbname, digits):
    django = pytest.importorskip("django")
    from django.conf import settings

    images, expected = digits
    info = conninfo(dbname)
    if not settings.configured:
        settings.configure(DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": dbname,
                                                  "USER": "postgres", "HOST": info["host"], "PORT": info["port"]}},
                           INSTALLED_APPS=[], USE_TZ=True)
        django.setup()
    else:
        settings.DATABASES["default"]["NAME"] = dbname
    from django.contrib.postgres.fields import ArrayField
    from django.db import connection, models

    from pginfer.django import Predict, PredictClass

    class Digit(models.Model):
        id = models.IntegerField(primary_key=True)
        label = models.IntegerField()
        features = ArrayField(models.FloatField())

        class Meta:
            app_label = "pginfer_tests"
            db_table = "digits"
            managed = False

    connection.close()
    got = list(Digit.objects.annotate(c=PredictClass("mnist", "features")).order_by("id").values_list("id", "c"))
    assert got == expected
    sevens = list(Digit.objects.annotate(c=PredictClass("mnist", "features")).filter(c=7)
                  .order_by("id").values_list("id", flat=True))
    assert sevens == [i for i, c in expected if c == 7]
    scores = Digit.objects.annotate(p=Predict("mnist", "features", version=1)).order_by("id").first().p
    assert len(scores) == 10 and int(np.argmax(scores)) == expected[0][1]
    assert Digit.objects.annotate(c=PredictClass("mnist", list(images[0].astype(float)))).first().c == expected[0][1]
    connection.close()


def test_psycopg_parameters_of_each_python_type(dbname, digits):
    images, expected = digits
    with psycopg.connect(**conninfo(dbname), autocommit=True, prepare_threshold=0) as c:
        pginfer.psycopg.register(c)
        x = images[0]
        want = expected[0][1]
        for value in (x.astype(np.float32), x.astype(np.float64), x.astype(np.uint8), x.reshape(28, 28),
                      tuple(float(v) for v in x)):
            assert c.execute("SELECT predict_class('mnist', %s)", (value,)).fetchone()[0] == want
        name = c.execute("SELECT inputs->0->>'name' FROM pginfer.models WHERE name = 'mnist'").fetchone()[0]
        assert c.execute("SELECT predict_class('mnist', %s)", ({name: x.tolist()},)).fetchone()[0] == want
        with pytest.raises(psycopg.errors.ArraySubscriptError, match="expects 784 input values, got 0"):
            c.execute("SELECT predict_class('mnist', %s)", (np.zeros(0, np.float32),))


def test_asyncpg_helpers_of_each_python_type(dbname, digits):
    asyncpg = pytest.importorskip("asyncpg")
    images, expected = digits
    info = conninfo(dbname)

    async def run():
        c = await asyncpg.connect(host=info["host"], port=int(info["port"]), user="postgres", database=dbname)
        try:
            x = images[0]
            name = await c.fetchval("SELECT inputs->0->>'name' FROM pginfer.models WHERE name = 'mnist'")
            classes = [await pginfer.asyncpg.predict_class(c, "mnist", v)
                       for v in (x.astype(np.float32), x.tolist(), {name: x.tolist()})]
            classes.append(await pginfer.asyncpg.predict_class(c, "mnist", x, version=1))
            scores = await pginfer.asyncpg.predict(c, "mnist", x)
            rows = await c.fetch(pginfer.asyncpg.PREDICT_CLASS_SQL.format(features="features")
                                 + ", id FROM digits ORDER BY id", "mnist")
            return classes, scores, [(r["id"], r["predict_class"]) for r in rows]
        finally:
            await c.close()

    classes, scores, rows = asyncio.run(run())
    assert classes == [expected[0][1]] * 4
    assert len(scores) == 10
    assert rows == expected


def test_upload_model_from_python_with_progress(conn, capsys):
    images = load_mnist_test_set()[0][:50]
    version = pginfer.upload_model(conn, "cnn", SHARED_CNN, options={"input_scale": 1 / 255},
                                   description="uploaded from Python", chunk_bytes=64 * 1024)
    assert version == 1
    assert "uploading cnn" in capsys.readouterr().err
    graph = (ROOT / "models/mnist/model.json").read_text()
    weights = pathlib.Path(ROOT / "models/mnist/model.safetensors")
    assert pginfer.upload_model(conn, "mlp", graph=graph, weights=weights, progress=False) == 1
    row = conn.execute("SELECT format, description FROM pginfer.models WHERE name = 'cnn'").fetchone()
    assert row == ("onnx", "uploaded from Python")
    x = images[0].astype(float).tolist()
    assert 0 <= conn.execute("SELECT predict_class('cnn', %s::real[])", (x,)).fetchone()[0] <= 9
    assert SHARED_MNIST.exists()
    # external data from a file object, in a transaction: stored as given
    external = ROOT / "test" / "onnx" / "external_data"
    with psycopg.connect(**conninfo(conn.info.dbname)) as c, open(external / "weights.bin", "rb") as f:
        assert pginfer.upload_model(c, "ext", external / "model.onnx", external_data=f, progress=False,
                                    chunk_bytes=1000) == 1
    stored = conn.execute("SELECT string_agg(c.data, ''::bytea ORDER BY c.chunk_no) FROM pginfer.model_weight_chunk c"
                          " JOIN pginfer.model m USING (model_id) WHERE m.name = 'ext'").fetchone()[0]
    assert stored == (external / "model.onnx").read_bytes() + (external / "weights.bin").read_bytes()
    # a failed upload stores nothing; no large object is left behind
    with pytest.raises(psycopg.errors.InvalidBinaryRepresentation):
        pginfer.upload_model(conn, "bad", b"not an onnx file", progress=False)
    assert conn.execute("SELECT count(*) FROM pginfer.models WHERE name = 'bad'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0] == 0
