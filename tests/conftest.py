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
