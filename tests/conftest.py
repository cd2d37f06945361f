"""Shared fixtures: users, logged-in clients, and workflows."""

import pytest

SIMPLE = """name: simple
title: Simple
inputs:
  n: {type: integer, default: 2}
steps:
  - id: a
    uses: wait
    with: {seconds: 0.01, value: "${inputs.n}"}
  - id: b
    uses: wait
    with: {seconds: 0, value: "${a * 10}"}
"""


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sam", password="sam-password", is_staff=True)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def workflow(alice):
    from builder.services import save_workflow

    return save_workflow(alice, SIMPLE, "created")


def need_service(what: str, problem: Exception) -> None:
    """A service the test needs is missing: a failure with REQUIRE_SERVICES=1 (CI), else a skip."""
    import os

    message = f"{what} is not reachable: {problem}"
    if os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url():
    """The PostgreSQL every machine runs (127.0.0.1:5432, trust auth, database ``test``)."""
    import os

    url = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        parts = make_url(url)
        psycopg.connect(host=parts.host, port=parts.port or 5432, dbname=parts.database,
                        user=parts.username, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means: not there
        need_service("PostgreSQL", exc)
    return url


# -- the PostgreSQL pass (WORKFLOW_TEST_DATABASE=postgres, tests/settings.py) ----------------------
#: fixtures that mean a test uses a database (besides the django_db mark)
DATABASE_FIXTURES = {"_django_db_helper", "db", "transactional_db", "django_db_reset_sequences",
                     "django_db_serialized_rollback", "live_server", "new_database"}
SKIPPED_PASS = pytest.StashKey[str]()  # why the PostgreSQL pass was skipped


def _postgres_problem() -> Exception | None:
    """Why the tests' PostgreSQL server cannot be used, or None."""
    from tests.servers import postgres_admin

    try:
        postgres_admin().close()
    except Exception as exc:  # noqa: BLE001 - any failure means: not there
        return exc
    return None


def pytest_collection_modifyitems(config, items):
    """On the PostgreSQL pass, only the tests that use a database run (the others ran on the
    SQLite pass); without a reachable server they are skipped, or fail with REQUIRE_SERVICES=1."""
    import os

    from django.conf import settings

    if getattr(settings, "TEST_DATABASE", "sqlite") != "postgres":
        return
    kept = [item for item in items
            if item.get_closest_marker("django_db") is not None or DATABASE_FIXTURES & set(item.fixturenames)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
    problem = _postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL is not reachable: {problem}"
    if os.environ.get("REQUIRE_SERVICES"):
        pytest.exit(f"the PostgreSQL pass failed: {message}", returncode=1)
    config.stash[SKIPPED_PASS] = message
    for item in items:
        item.add_marker(pytest.mark.skip(reason=message))


def pytest_terminal_summary(terminalreporter, config):
    """A skipped PostgreSQL pass says so at the end, not only in each test's skip reason."""
    if SKIPPED_PASS in config.stash:
        terminalreporter.write_line(f"SKIPPED the PostgreSQL pass: {config.stash[SKIPPED_PASS]}", yellow=True)


def pytest_report_header(config):
    """Which database the tests use (shown with -v)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if getattr(settings, "TEST_DATABASE", "sqlite") == "postgres":
        return f"database: PostgreSQL {database['HOST']}:{database['PORT']}, test_{database['NAME']}"
    return f"database: {database['ENGINE'].rsplit('.', 1)[-1]}"


@pytest.fixture(scope="session")
def new_database():
    """``new_database(directory)``: the environment that gives a server or command a new, empty
    database of its own (``tests.servers.database_env``); those made on PostgreSQL are dropped
    at the end of the session."""
    from tests import servers

    yield servers.database_env
    servers.drop_databases()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's test database; on PostgreSQL, at the end, the connections that other
    threads left open to it (sync_to_async's, the runs') are ended, so that it can be dropped."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        from tests.servers import postgres_admin

        with postgres_admin() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", [connection.settings_dict["NAME"]])
