"""The celery mode against the machine's real services: a PostgreSQL database and a Redis key
prefix of the session's own, celery workers and daphne processes, all started as a deployment
would start them (``builder.settings``, the environment only).

PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) and Redis at 127.0.0.1:6379: a test
that needs them fails with ``REQUIRE_SERVICES=1`` (CI) when one is missing, else is skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import need_service
from tests.servers import ROOT, deployment_env, migrated

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "13"))


class Worker:
    """``celery -A builder worker`` with the environment a test gives it, started once it says
    it is ready; ``output`` keeps what it printed."""

    def __init__(self, env: dict, name: str, concurrency: int = 4, timeout: float = 60):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "builder", "worker", "-n", f"{name}@%h", "-c", str(concurrency),
             "--loglevel=INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self.ready = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.ready:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.output.append(line)
            self.ready = bool(re.search(rf"{re.escape(name)}@\S+ ready\.", line))
        if not self.ready:
            self.stop()
            raise RuntimeError(f"celery worker {name} did not start:\n" + "".join(self.output[-40:]))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown: its runs end first (none are left by the tests)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def workers_side_by_side(env: dict, names: list[str], concurrency: int = 4):
    """Start a worker per name at once (each takes seconds to be ready); yield them by name, and
    stop every one at the end. A worker that did not start fails the fixture using this."""
    started: list[Worker] = []
    failures: list[Exception] = []

    def start(name):
        try:
            started.append(Worker(env, name, concurrency=concurrency))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if failures:
            raise failures[0]
        yield sorted(started, key=lambda w: w.name)
    finally:
        for worker in started:
            worker.stop()


def side_effects_env(cluster_env: dict, table: str, **settings: str) -> dict:
    """The cluster's environment with ``table`` (``CREATE TABLE`` text) made in its database for
    tests/cluster/functions.py to write to, those functions allowed, and ``settings``."""
    import psycopg

    from tests.cluster import functions

    dsn = cluster_env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(table)
    allowed = "engine.functions.*,examples.functions.*,tests.cluster.functions.*"
    return {**cluster_env, "WORKFLOW_PYTHON_ALLOWED": allowed, functions.DSN_VARIABLE: dsn, **settings}


def serving(env: dict):
    """A daphne process of the cluster for as long as the fixture using this lasts."""
    from tests.servers import Daphne

    server = Daphne(env, timeout=30).require_started()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster_env():
    """A migrated database ``wf_cluster_<pid>`` and a Redis prefix of this session, user ``ann``;
    the environment of every process of the cluster. Both are dropped at the end."""
    try:
        import psycopg

        admin = psycopg.connect(dbname="postgres", connect_timeout=3, autocommit=True, **PG)
    except Exception as exc:  # noqa: BLE001 - any failure means: not there
        need_service("PostgreSQL", exc)
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    try:
        import redis

        broker = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
        broker.ping()
    except Exception as exc:  # noqa: BLE001
        admin.close()
        need_service("Redis", exc)
    name = prefix = f"wf_cluster_{os.getpid()}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    env = deployment_env(
        WORKFLOW_EXECUTION="celery", DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        REDIS_URL=redis_url, WORKFLOW_REDIS_PREFIX=prefix + ":", WORKFLOW_PYTHON_WORKERS="1",
        CELERY_SKIP_CHECKS="1")
    try:
        migrated(env, {"ann": "ann-password"})
        yield env
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        for key in broker.scan_iter(match=prefix + ":*", count=1000):
            broker.delete(key)
        broker.close()


@pytest.fixture(scope="session")
def cluster_db(cluster_env):
    """Read the cluster's database as it is: ``cluster_db("select ...", args)`` → rows."""
    import psycopg

    dbname = cluster_env["DATABASE_URL"].rsplit("/", 1)[1]
    connection = psycopg.connect(dbname=dbname, autocommit=True, **PG)

    def query(sql: str, *args):
        return connection.execute(sql, args).fetchall()

    yield query
    connection.close()
