"""Shared fixtures of the end-to-end tests: a fresh database with pg_infer
on the scratch server that test/run-tests.sh started."""
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

ROOT = pathlib.Path(os.environ.get("PG_INFER_ROOT", pathlib.Path(__file__).resolve().parents[2]))
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
sys.path.insert(0, str(ROOT / "test"))
import mnist_data  # noqa: E402
from safetensors_writer import safetensors_bytes  # noqa: E402,F401
MNIST_SCALE = 0.00392156862745098


def extra_port(offset):
    """The port of an extra server a test starts: the scratch server's plus
    offset (55433 and up beside the default 55431), so that suites run
    against different scratch servers do not share ports."""
    return str(int(os.environ["PG_INFER_PORT"]) + offset)


def conninfo(dbname):
    """Connection parameters for a database on the scratch server."""
    return dict(host=os.environ["PG_INFER_HOST"], port=os.environ["PG_INFER_PORT"],
                user="postgres", dbname=dbname)


@pytest.fixture
def dbname():
    """A new database with the extension installed, dropped afterwards."""
    name = "e2e_" + uuid.uuid4().hex[:10]
    with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(**conninfo(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_infer")
    yield name
    with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def conn(dbname):
    """An autocommit connection to the test database."""
    with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
        yield c


def load_mnist_test_set():
    """The 10,000 MNIST test images (uint8 [n,784]) and labels from shared/."""
    return mnist_data.load_mnist_test_set(SHARED_MNIST)


def create_mnist(conn, name="mnist"):
    """Stores models/mnist under name with its pixel scaling; returns the version."""
    graph = (ROOT / "models/mnist/model.json").read_text()
    weights = (ROOT / "models/mnist/model.safetensors").read_bytes()
    return conn.execute("SELECT create_model(%s, %s::jsonb, %s, %s::jsonb)",
                        (name, graph, weights, json.dumps({"input_scale": MNIST_SCALE}))).fetchone()[0]


def alter_system(name, value, wait_until, dbname="postgres"):
    """ALTER SYSTEM SET name = value (RESET when value is None), reloads, and
    waits until wait_until(connection) is true in a new connection to dbname."""
    with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
        if value is None:
            admin.execute(f"ALTER SYSTEM RESET {name}")
        else:
            admin.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        admin.execute("SELECT pg_reload_conf()")
    for _ in range(100):
        with psycopg.connect(**conninfo(dbname), autocommit=True) as c:
            if wait_until(c):
                return
        time.sleep(0.05)
    raise AssertionError(f"{name} did not take the value {value}")


@contextlib.contextmanager
def restored_copy(dbname):
    """A new database restored (pg_restore --exit-on-error) from a pg_dump
    -Fc of dbname; yields its name, and drops it afterwards."""
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    params = conninfo(dbname)
    where = ["-h", params["host"], "-p", params["port"], "-U", "postgres"]
    dump = subprocess.run([f"{bindir}/pg_dump", "-Fc", *where, dbname], capture_output=True,
                          check=True).stdout
    restored = dbname + "_r"
    with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run([f"{bindir}/pg_restore", *where, "-d", restored, "--exit-on-error"],
                       input=dump, check=True, capture_output=True)
        yield restored
    finally:
        with psycopg.connect(**conninfo("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{restored}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_servers(group, servers):
    """Extra scratch servers in PG_INFER_TEST_DIR/group, started in order and
    stopped afterwards.  servers: (name, port, settings, standby_of) tuples,
    standby_of naming an earlier server to make a pg_basebackup standby of,
    or None.  Yields {name: connection parameters}."""
    base = pathlib.Path(os.environ.get("PG_INFER_TEST_DIR", "/tmp/pg_infer_test")) / group
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o777)
    script = str(ROOT / "test" / "scratch-server.sh")
    params, started = {}, []
    try:
        for name, port, settings, standby_of in servers:
            directory = str(base / name)
            if standby_of is None:
                subprocess.run([script, "start", directory, port, *settings], check=True)
            else:
                primary = params[standby_of]
                subprocess.run([script, "standby", directory, port, primary["host"], primary["port"], *settings],
                               check=True)
            started.append(directory)
            params[name] = dict(host=directory, port=port, user="postgres")
        yield params
    finally:
        for directory in reversed(started):
            subprocess.run([script, "stop", directory], check=False)
