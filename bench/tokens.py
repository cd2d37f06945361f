"""Tokens benchmark: the cost of a personal API token's check (builder/tokens.py).

Run: ``python bench/tokens.py`` (``--calls N``; ``--postgres``: a new database on the local
PostgreSQL, dropped at the end, instead of a new SQLite file). In one process, on a migrated
database with the production settings, it times per call (the median of 7 rounds):

- ``authenticate()``: the header parsed, the token's sha256, one indexed SELECT (token and
  owner joined); "last used" is written at most once a minute, so not here;
- the same with a write on every call (``USE_EVERY = 0``): what the once-a-minute rule saves;
- baselines measured in the same run: the session's check as Django's middleware does it
  (``auth.get_user``: the session row, then the user row), one indexed SELECT of the user, and
  the sha256 alone;
- whole requests in-process (Django's test client, no network): ``GET /api/workflows/`` with a
  bearer token and with a session cookie.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _setup(database_url: str | None, folder: str) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="builder.settings", DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
                      DJANGO_ALLOWED_HOSTS="testserver", DJANGO_DEBUG="0", WORKFLOW_RECOVER_ON_START="0")
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ["SQLITE_PATH"] = str(Path(folder) / "bench.sqlite3")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def per_call(fn, calls: int, rounds: int = 7) -> float:
    """Microseconds per call of ``fn``: the median of ``rounds`` timed batches of ``calls``."""
    for _ in range(min(calls, 50)):
        fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def token_check_cost(calls: int = 2000, postgres: bool = False) -> dict:
    """The figure: µs per token check against its baselines (printed, and returned). With
    ``postgres``, on a new database of the local PostgreSQL (dropped at the end), else SQLite."""
    with tempfile.TemporaryDirectory() as folder:
        name = f"bench_tokens_{secrets.token_hex(4)}"
        if postgres:
            _admin(f'CREATE DATABASE "{name}"')
        try:
            _setup(f"postgres://postgres@127.0.0.1:5432/{name}" if postgres else None, folder)
            return _measure(calls)
        finally:
            if postgres:
                from django.db import connections

                connections.close_all()
                _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(sql)


def _measure(calls: int) -> dict:
    from datetime import timedelta

    from django.contrib.auth import get_user
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from builder import tokens
    from builder.models import ApiToken

    user = User.objects.create_user(f"bench-{secrets.token_hex(3)}", password=secrets.token_urlsafe(12))
    others = User.objects.create_user(f"others-{secrets.token_hex(3)}")
    ApiToken.objects.bulk_create(ApiToken(owner=others, name=f"t{i}", token_hash=tokens.digest(f"wfb_{i}"),
                                          prefix=f"wfb_{i}"[:12]) for i in range(5000))  # a table not empty
    _, plain = tokens.make(user, "bench")
    header = f"Bearer {plain}"
    session = Client()
    session.force_login(user)
    key = session.cookies["sessionid"].value

    class Request:  # what get_user reads: the session
        def __init__(self):
            from django.contrib.sessions.backends.db import SessionStore

            self.session = SessionStore(key)

    assert tokens.authenticate(header) == user and get_user(Request()) == user
    figures = {"authenticate": per_call(lambda: tokens.authenticate(header), calls)}
    every, tokens.USE_EVERY = tokens.USE_EVERY, timedelta(0)
    try:
        figures["authenticate, writing last_used each call"] = per_call(lambda: tokens.authenticate(header),
                                                                         calls // 4)
    finally:
        tokens.USE_EVERY = every
    figures["session check (auth.get_user)"] = per_call(lambda: get_user(Request()), calls)
    figures["one indexed SELECT of the user"] = per_call(lambda: User.objects.filter(pk=user.pk).first(), calls)
    figures["sha256 of the token alone"] = per_call(lambda: tokens.digest(plain), calls * 10)
    script = Client(headers={"Authorization": header})
    assert script.get("/api/workflows/").status_code == 200 and session.get("/api/workflows/").status_code == 200
    requests = max(calls // 10, 20)
    figures["GET /api/workflows/ with the token"] = per_call(lambda: script.get("/api/workflows/"), requests)
    figures["GET /api/workflows/ with a session"] = per_call(lambda: session.get("/api/workflows/"), requests)
    print(f"token check cost ({connection.vendor}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"median of 7 rounds)")
    for name, value in figures.items():
        print(f"  {name:<44} {value:8.1f} µs")
    ratio = figures["authenticate"] / figures["session check (auth.get_user)"]
    print(f"  a token check costs {ratio:.2f}× the session's check it replaces; "
          f"{figures['authenticate'] / figures['GET /api/workflows/ with the token'] * 100:.0f}% of a small request")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed round (default 2000)")
    parser.add_argument("--postgres", action="store_true", help="on the local PostgreSQL (default: SQLite)")
    args = parser.parse_args()
    token_check_cost(args.calls, args.postgres)


if __name__ == "__main__":
    main()
