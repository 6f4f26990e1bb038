"""pg_infer on a hot standby: a primary and a pg_basebackup standby, both
scratch servers with pg_infer preloaded and the inference worker on the
CPU.  The standby predicts as the primary does, sees version changes once
they are replayed, lets go of a dropped database's images, and once
promoted creates models."""
import json
import subprocess
import time

import numpy as np
import psycopg
import pytest

from conftest import ROOT, extra_port, safetensors_bytes, scratch_servers
from test_onnx import SHARED_CNN

SETTINGS = ["shared_preload_libraries = 'pg_infer'", "pg_infer.worker_device = 'cpu'"]
GRAPH = {"format": "pg_infer", "version": 1,
         "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 8]}], "outputs": [{"name": "y"}],
         "nodes": [{"name": "h", "op": "Dense", "inputs": ["x", "w", "b"]},
                   {"name": "y", "op": "Relu", "inputs": ["h"]}]}


def weights(seed):
    rng = np.random.default_rng(seed)
    return safetensors_bytes({"w": rng.standard_normal((4, 8)).astype("f4"),
                              "b": rng.standard_normal(4).astype("f4")})


@pytest.fixture(scope="module")
def pair():
    """(primary, standby) connection parameters; the servers stop afterwards."""
    with scratch_servers("replication", [("primary", extra_port(3), SETTINGS, None),
                                         ("standby", extra_port(4), SETTINGS, "primary")]) as servers:
        yield servers["primary"], servers["standby"]


def replayed(primary, standby):
    """Waits until the standby has replayed everything the primary wrote so far."""
    with psycopg.connect(**primary, dbname="postgres", autocommit=True) as p:
        lsn = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + 30
    with psycopg.connect(**standby, dbname="postgres", autocommit=True) as s:
        while not s.execute("SELECT pg_last_wal_replay_lsn() >= %s", (lsn,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the standby did not replay"
            time.sleep(0.02)


def wait_ready(params):
    """Waits until a server's inference worker serves requests."""
    deadline = time.monotonic() + 30
    with psycopg.connect(**params, dbname="rdb", autocommit=True) as c:
        while c.execute("SELECT state FROM pginfer.worker").fetchone()[0] != "ready":
            assert time.monotonic() < deadline, "the inference worker did not become ready"
            time.sleep(0.1)


QUERY = "SELECT id, predict('m', f) FROM t ORDER BY id"


def test_a_hot_standby_predicts_follows_versions_and_is_promoted(pair):
    primary, standby = pair
    with psycopg.connect(**primary, dbname="postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE rdb")
    with psycopg.connect(**primary, dbname="rdb", autocommit=True) as p:
        p.execute("CREATE EXTENSION pg_infer")
        p.execute("SELECT create_model('m', %s::jsonb, %s)", (json.dumps(GRAPH), weights(1)))
        p.execute("CREATE TABLE t AS SELECT g AS id, array_fill((g % 5 - 2)::real, ARRAY[8]) AS f"
                  " FROM generate_series(1, 300) g")
        replayed(primary, standby)
        wait_ready(standby)
        with psycopg.connect(**standby, dbname="rdb", autocommit=True) as s:
            # the same answers, batched, per row and through the worker; views readable
            assert s.execute(QUERY).fetchall() == p.execute(QUERY).fetchall()
            s.execute("SET pg_infer.batching = off")
            p.execute("SET pg_infer.batching = off")
            assert s.execute(QUERY).fetchall() == p.execute(QUERY).fetchall()
            p.execute("RESET pg_infer.batching")
            s.execute("RESET pg_infer.batching")
            assert s.execute("SELECT requests > 0 FROM pginfer.worker").fetchone()[0]
            assert s.execute("SELECT state FROM pginfer.cached_models WHERE model = 'm'").fetchone()[0] == "ready"
            assert s.execute("SELECT count(*) FROM pginfer.session_models").fetchone()[0] == 1
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                s.execute("SELECT create_model('n', %s::jsonb, %s)", (json.dumps(GRAPH), weights(2)))
            # a new version, an activation and a drop on the primary reach the next statement
            p.execute("SELECT create_model('m', %s::jsonb, %s)", (json.dumps(GRAPH), weights(2)))
            replayed(primary, standby)
            assert s.execute(QUERY).fetchall() == p.execute(QUERY).fetchall()
            p.execute("SELECT set_active_version('m', 1)")
            replayed(primary, standby)
            assert s.execute(QUERY).fetchall() == p.execute(QUERY).fetchall()
            p.execute("SELECT drop_model('m', 2)")
            replayed(primary, standby)
            with pytest.raises(psycopg.errors.UndefinedObject):
                s.execute("SELECT predict('m', f, 2) FROM t LIMIT 1")
            # an ONNX version whose file stores int8 codes (src/format/onnx_compact.c) predicts alike there
            p.execute("SELECT create_model('cnn8', onnx => %s, options => '{\"precision\": \"int8\"}')",
                      (SHARED_CNN.read_bytes(),))
            replayed(primary, standby)
            image = "SELECT predict('cnn8', array_fill(0.5::real, ARRAY[784]))"
            assert s.execute(image).fetchone() == p.execute(image).fetchone()
    # a dropped database's images leave the standby's cache
    with psycopg.connect(**primary, dbname="postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE gone")
        with psycopg.connect(**primary, dbname="gone", autocommit=True) as g:
            g.execute("CREATE EXTENSION pg_infer")
            g.execute("SELECT create_model('big', %s::jsonb, %s)", (json.dumps(GRAPH), weights(3)))
        replayed(primary, standby)
        with psycopg.connect(**standby, dbname="gone", autocommit=True) as s:
            assert s.execute("SELECT predict('big', array_fill(1::real, ARRAY[8]))").fetchone()[0]
        with psycopg.connect(**standby, dbname="rdb", autocommit=True) as s:
            assert s.execute("SELECT count(*) FROM pginfer.cached_models WHERE model = 'big'").fetchone()[0] == 1
        c.execute("DROP DATABASE gone")
        replayed(primary, standby)
        with psycopg.connect(**standby, dbname="rdb", autocommit=True) as s:
            assert s.execute("SELECT count(*) FROM pginfer.cached_models WHERE model = 'big'").fetchone()[0] == 0
    # promoted, the standby creates models
    subprocess.run([str(ROOT / "test" / "scratch-server.sh"), "promote", standby["host"]], check=True)
    with psycopg.connect(**standby, dbname="rdb", autocommit=True) as s:
        assert s.execute("SELECT create_model('m', %s::jsonb, %s)",
                         (json.dumps(GRAPH), weights(4))).fetchone()[0] == 3
        assert s.execute("SELECT version FROM pginfer.models WHERE name = 'm' AND active").fetchone()[0] == 3
        assert len(s.execute(QUERY).fetchall()) == 300


@pytest.fixture(scope="module")
def registry_and_subscriber():
    """A model registry (wal_level = logical) and a serving cluster."""
    with scratch_servers("replication", [("registry", extra_port(5), SETTINGS + ["wal_level = logical"], None),
                                         ("serving", extra_port(6), SETTINGS, None)]) as servers:
        yield servers["registry"], servers["serving"]


def received(serving, condition, seconds=30):
    """Waits until a query on the serving cluster returns true."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(**serving, dbname="models", autocommit=True) as c:
        while not c.execute(condition).fetchone()[0]:
            assert time.monotonic() < deadline, f"not replicated: {condition}"
            time.sleep(0.05)


def test_versions_from_a_model_registry_reach_a_subscriber(registry_and_subscriber):
    """Logical replication of pg_infer's catalog tables from a registry: each
    version created, activated or dropped there is what the subscriber's
    sessions use next, an open session included."""
    registry, serving = registry_and_subscriber
    for params in (registry, serving):
        with psycopg.connect(**params, dbname="postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE models")
        with psycopg.connect(**params, dbname="models", autocommit=True) as c:
            c.execute("CREATE EXTENSION pg_infer")
            c.execute("CREATE TABLE t AS SELECT g AS id, array_fill((g % 5 - 2)::real, ARRAY[8]) AS f"
                      " FROM generate_series(1, 200) g")
    with psycopg.connect(**registry, dbname="models", autocommit=True) as r, \
            psycopg.connect(**serving, dbname="models", autocommit=True) as s:
        r.execute("CREATE PUBLICATION models FOR TABLE pginfer.model, pginfer.model_version,"
                  " pginfer.model_weight_chunk")
        r.execute("SELECT create_model('m', %s::jsonb, %s)", (json.dumps(GRAPH), weights(1)))
        s.execute(f"CREATE SUBSCRIPTION models CONNECTION 'host={registry['host']} port={registry['port']}"
                  f" user=postgres dbname=models' PUBLICATION models")
        # the initial copy runs table by table: wait until every table is ready
        received(serving, "SELECT count(*) = 3 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel")
        assert s.execute(QUERY).fetchall() == r.execute(QUERY).fetchall()
        # a new version, stored as int8 codes: the open session uses it at its next statement
        r.execute("SELECT create_model('m', %s::jsonb, %s, '{\"precision\": \"int8\"}')",
                  (json.dumps(GRAPH), weights(2)))
        received(serving, "SELECT version = 2 FROM pginfer.models WHERE name = 'm' AND active")
        assert s.execute(QUERY).fetchall() == r.execute(QUERY).fetchall()
        assert s.execute("SELECT bool_and(position('\"dtype\":\"I8\"'::bytea in data) > 0)"
                         " FROM pginfer.model_weight_chunk WHERE version = 2").fetchone()[0]
        assert s.execute("SELECT count(*) FROM pginfer.cached_models WHERE model = 'm'").fetchone()[0] == 2
        # activation
        r.execute("SELECT set_active_version('m', 1)")
        received(serving, "SELECT version = 1 FROM pginfer.models WHERE name = 'm' AND active")
        assert s.execute(QUERY).fetchall() == r.execute(QUERY).fetchall()
        # a drop: the version goes from the subscriber's sessions and shared cache
        r.execute("SELECT drop_model('m', 2)")
        received(serving, "SELECT count(*) = 1 FROM pginfer.models WHERE name = 'm'")
        with pytest.raises(psycopg.errors.UndefinedObject, match="has no version 2"):
            s.execute("SELECT predict('m', f, 2) FROM t LIMIT 1")
        assert s.execute("SELECT version FROM pginfer.cached_models WHERE model = 'm'").fetchall() == [(1,)]
        s.execute("DROP SUBSCRIPTION models")
