"""Real daphne processes for the tests: ``Daphne`` (any environment), and for the security
tests ``deployment_env``: the production settings (``builder.settings``), the environment
exactly what a deployment gives it, never the tests' own."""

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def deployment_env(**extra: str) -> dict:
    """The test process's environment without anything Django-specific, with a fresh key."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "SQLITE_", "DATABASE_URL", "REDIS_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="builder.settings", DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
               WORKFLOW_RECOVER_ON_START="1")
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def postgres_admin():
    """A connection (autocommit) to the maintenance database of the tests' PostgreSQL server."""
    from urllib.parse import urlparse

    import psycopg

    from tests.settings import postgres_server

    url = urlparse(postgres_server())
    return psycopg.connect(host=url.hostname, port=url.port or 5432, user=url.username, password=url.password,
                           dbname="postgres", connect_timeout=3, autocommit=True)


_DATABASES: list[str] = []  # made by database_env on PostgreSQL, dropped by drop_databases


def database_env(directory: Path) -> dict:
    """The environment that gives a server or command a new, empty database of its own: an
    SQLite file in ``directory``, or on the PostgreSQL pass (tests/settings.py) a PostgreSQL
    database named after the session's (``drop_databases`` drops it)."""
    from tests.settings import TEST_DATABASE, postgres_server

    if TEST_DATABASE != "postgres":
        return {"SQLITE_PATH": str(Path(directory) / "db.sqlite3")}
    name = f"test_{os.environ['WORKFLOW_TEST_DATABASE_NAME']}_{len(_DATABASES) + 1}"
    with postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    _DATABASES.append(name)
    # a command started with tests.settings names its database after WORKFLOW_TEST_DATABASE_NAME
    return {"DATABASE_URL": f"{postgres_server()}/{name}", "WORKFLOW_TEST_DATABASE_NAME": name}


def session_database_env() -> dict:
    """The environment that points a server or command at this session's test database (once
    pytest-django has made it: ask for ``django_db_setup``), SQLite's or PostgreSQL's."""
    from django.conf import settings

    from tests.settings import TEST_DATABASE, postgres_server

    name = settings.DATABASES["default"]["NAME"]
    if TEST_DATABASE != "postgres":
        return {"SQLITE_PATH": str(name)}
    return {"DATABASE_URL": f"{postgres_server()}/{name}", "WORKFLOW_TEST_DATABASE_NAME": name}


def drop_databases() -> None:
    """Drop the databases ``database_env`` made (their servers' connections too)."""
    if not _DATABASES:
        return
    with postgres_admin() as admin:
        while _DATABASES:
            admin.execute(f'DROP DATABASE IF EXISTS "{_DATABASES.pop()}" WITH (FORCE)')


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def migrated(env: dict, users: dict[str, str]) -> dict:
    """Migrate the database ``env`` names and create ``users`` (name: password) in it."""
    done = manage(env, "migrate", "-v0")
    assert done.returncode == 0, done.stderr
    code = "; ".join(f"User.objects.create_user({name!r}, password={password!r})" for name, password in users.items())
    done = manage(env, "shell", "-c", f"from django.contrib.auth.models import User; {code}")
    assert done.returncode == 0, done.stderr
    return env


class Daphne:
    """``daphne builder.asgi:application`` on a free port (or ``port``); ``started`` is False when it
    exited before listening (``output`` says why)."""

    def __init__(self, env: dict, timeout: float = 60, port: int = 0):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-e", f"tcp:{port}:interface=127.0.0.1", "builder.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self.port = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.port is None:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.output.append(line)
            match = re.search(r"Listening on TCP address [\d.]+:(\d+)", line)
            if match:
                self.port = int(match.group(1))
        self.started = self.port is not None
        self.url = self.base = f"http://127.0.0.1:{self.port}"
        if self.started:  # keep reading, so a full pipe never blocks the server
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)
            del self.output[:-500]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def require_started(self) -> "Daphne":
        """This server, or stop it and fail with the end of what it printed."""
        if not self.started:
            self.stop()
            raise RuntimeError("daphne did not start:\n" + "".join(self.output[-30:]))
        return self


async def until_ended(client, run_id: int, seconds: float = 15) -> dict:
    """Poll ``GET /api/runs/<id>`` (an httpx client logged in) until the run has ended; its JSON."""
    import asyncio

    state = {}
    for _ in range(int(seconds / 0.05)):
        state = (await client.get(f"/api/runs/{run_id}")).json()
        if state["status"] not in ("queued", "running"):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end in {seconds} s: {state.get('status')}")
