"""Accounts and deployment (issue 10, item 10): failed logins are throttled, DEBUG is off
unless asked for, the server will not start without a real secret key, HTTPS gives Secure
cookies and HSTS, `check --deploy` is clean, and a 500 never shows a traceback."""

import secrets

import httpx
import pytest
from django.test import Client

from tests.servers import Daphne, deployment_env, manage, migrated

pytestmark = pytest.mark.django_db


def log_in(client: Client, username: str, password: str, **extra):
    client.get("/login/")
    return client.post("/login/", {"username": username, "password": password}, **extra)


# -- login throttling --------------------------------------------------------------------------
def test_five_failed_logins_lock_that_user_out_from_that_address_even_with_the_right_password(alice):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(4):
        response = log_in(attacker, "alice", "guess")
        assert response.status_code == 200 and b"correct username and password" in response.content
    assert log_in(attacker, "alice", "guess").status_code == 429  # the fifth failure locks
    locked = log_in(attacker, "alice", "alice-password")
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in attacker.session
    assert attacker.get("/").status_code == 302  # still not logged in
    ajax = log_in(attacker, "alice", "alice-password", headers={"X-Requested-With": "XMLHttpRequest"})
    assert ajax.status_code == 429 and ajax.json()["failure_limit"] == 5
    admin = attacker.post("/admin/login/", {"username": "alice", "password": "alice-password"})
    assert admin.status_code == 429
    # the lockout is for that user name from that address: alice logs in from her own
    owner = Client(REMOTE_ADDR="198.51.100.20")
    assert log_in(owner, "alice", "alice-password").status_code == 302
    assert owner.get("/").status_code == 200


def test_a_successful_login_clears_the_failures_before_it(alice):
    person = Client(REMOTE_ADDR="198.51.100.21")
    for _ in range(2):
        for _ in range(4):
            assert log_in(person, "alice", "typo").status_code == 200
        assert log_in(person, "alice", "alice-password").status_code == 302
        person.logout()
    for _ in range(4):
        assert log_in(person, "alice", "typo").status_code == 200
    assert log_in(person, "alice", "typo").status_code == 429  # five in a row do lock


# -- deployment --------------------------------------------------------------------------------
def test_the_server_refuses_to_start_without_a_real_secret_key():
    for key in (None, "", "short-key", "x" * 60):
        server = Daphne(deployment_env(DJANGO_SECRET_KEY=key), timeout=30)
        try:
            assert not server.started, f"daphne started with DJANGO_SECRET_KEY={key!r}"
            assert server.proc.wait(10) != 0
            assert "DJANGO_SECRET_KEY" in "".join(server.output)
        finally:
            server.stop()
    made_as_told = manage(deployment_env(DJANGO_SECRET_KEY=secrets.token_urlsafe(50)), "check")
    assert made_as_told.returncode == 0, made_as_told.stderr


def test_check_deploy_is_clean_with_https_and_a_real_key():
    done = manage(deployment_env(DJANGO_HTTPS="1"), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory):
    """A server left at its defaults (no DJANGO_DEBUG) whose database cannot be opened."""
    from tests.settings import TEST_DATABASE, postgres_server

    if TEST_DATABASE == "postgres":
        database = {"DATABASE_URL": f"{postgres_server()}/no_such_database_{secrets.token_hex(4)}"}
    else:
        database = {"SQLITE_PATH": str(tmp_path_factory.mktemp("web") / "no-such-dir" / "db.sqlite3")}
    server = Daphne(deployment_env(**database))
    assert server.started, "".join(server.output)
    yield server
    server.stop()


def test_debug_is_off_by_default_so_a_500_shows_no_traceback(broken_server):
    with httpx.Client(base_url=broken_server.url, cookies={"sessionid": "x" * 32}) as client:
        page = client.get("/")
        api = client.get("/api/workflows/")
    assert page.status_code == 500 and "Something went wrong" in page.text
    assert api.status_code == 500 and api.json() == {"detail": "internal server error"}
    for text in (page.text, api.text):
        assert "Traceback" not in text and "OperationalError" not in text
        assert "sqlite" not in text.lower() and "postgres" not in text.lower() and "psycopg" not in text.lower()
        assert "DJANGO_SECRET_KEY" not in text and "settings" not in text


@pytest.fixture(scope="module")
def https_server(tmp_path_factory, new_database):
    """Behind a TLS-terminating proxy (it sets X-Forwarded-Proto), with a user."""
    env = deployment_env(**new_database(tmp_path_factory.mktemp("web")), DJANGO_HTTPS="1",
                         DJANGO_BEHIND_PROXY="1", DJANGO_CSRF_TRUSTED_ORIGINS="https://127.0.0.1")
    server = Daphne(migrated(env, {"carol": "carol-password"}))
    assert server.started, "".join(server.output)
    yield server
    server.stop()


def test_https_sets_secure_cookies_and_hsts_and_redirects_plain_http(https_server):
    with httpx.Client(base_url=https_server.url) as plain:
        redirect = plain.get("/login/")
    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
    proxied = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=https_server.url, headers=proxied) as client:
        form = client.get("/login/")
        assert form.status_code == 200
        assert form.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
        assert "secure" in form.headers["set-cookie"].lower()
        token = form.cookies["csrftoken"]
        client.cookies.set("csrftoken", token)
        logged_in = client.post("/login/", data={"username": "carol", "password": "carol-password",
                                                 "csrfmiddlewaretoken": token},
                                headers={"Referer": "https://127.0.0.1/login/", "Origin": "https://127.0.0.1"})
    assert logged_in.status_code == 302, logged_in.text[:500]
    session_cookie = [c for c in logged_in.headers.get_list("set-cookie") if c.startswith("sessionid=")]
    assert session_cookie and "secure" in session_cookie[0].lower() and "httponly" in session_cookie[0].lower()
