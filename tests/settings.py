"""The test runs' settings: the builder's own, with a secret key for the test processes.

With ``DJANGO_DEBUG`` off (the default, as in CI) the builder refuses to start without a
real ``DJANGO_SECRET_KEY``. The suite is not a deployment, so it sets one here, in the
environment too: the servers and commands the tests start inherit it.

``WORKFLOW_TEST_DATABASE=postgres`` runs the tests on PostgreSQL instead of SQLite (``make
test`` does it for tests/builder and tests/security, after the SQLite pass): the server of
``TEST_POSTGRES_URL`` (default 127.0.0.1:5432, user postgres), through ``DATABASE_URL`` as a
deployment sets it. The database's name is this session's own (pid and a random part), so
sessions on one machine never meet; pytest-django creates ``test_<name>`` and drops it at
the end. tests/conftest.py skips the pass (fails it with REQUIRE_SERVICES=1) when the server
is not reachable.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-4c1f0e7a9b2d8e3f6a5c4b3a2918f7e6d5c4b3a29")

#: "postgres" or "sqlite" (the default)
TEST_DATABASE = os.environ.get("WORKFLOW_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if TEST_DATABASE not in ("sqlite", "postgres"):
    raise ValueError(f"WORKFLOW_TEST_DATABASE must be 'sqlite' or 'postgres', not {TEST_DATABASE!r}")


def postgres_server() -> str:
    """``postgres://user[:password]@host:port`` of the tests' PostgreSQL (no database)."""
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    return f"postgres://{url.netloc}"


if TEST_DATABASE == "postgres":
    # set once per session: the commands a test starts with tests.settings share it
    os.environ.setdefault("WORKFLOW_TEST_DATABASE_NAME", f"wf_tests_{os.getpid()}_{secrets.token_hex(3)}")
    os.environ["DATABASE_URL"] = f"{postgres_server()}/{os.environ['WORKFLOW_TEST_DATABASE_NAME']}"

from builder.settings import *  # noqa: E402,F403
