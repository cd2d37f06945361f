"""Hostile ``sql`` steps, run through the real engine on real SQLite files and PostgreSQL.

What a workflow must never do with a query: reach another database file (the app's own, with
its users' password hashes), turn a read-only connection writable, write a file, leave state
for the next step, or keep a core busy after its step timed out or was cancelled.
"""

import asyncio
import hashlib
import json
import sqlite3
import time
import uuid

import pytest

import engine

RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) AS n FROM r"
HASH = "pbkdf2_sha256$870000$salt$c2VjcmV0LWhhc2gtb2YtYWRtaW4="


@pytest.fixture
def app_db(tmp_path):
    """A real SQLite file standing for the app's own database: a user with a password hash."""
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT, password TEXT, "
                       "is_superuser BOOL);")
    conn.execute("INSERT INTO auth_user VALUES (1, 'alice', ?, 0)", (HASH,))
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE sales (region TEXT, amount REAL);"
                       "INSERT INTO sales VALUES ('north', 10), ('south', 7);")
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def settings(shop):
    return engine.EngineSettings(extra={"sql_connections": {
        "shop": {"url": f"sqlite:///{shop}"},
        "shop_rw": {"url": f"sqlite:///{shop}", "writable": True},
        "shop_short": {"url": f"sqlite:///{shop}", "statement_timeout": 0.5},
    }})


def fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def workflow(*steps) -> str:
    return "name: hostile\nsteps:\n" + "".join(f"  - {json.dumps(step)}\n" for step in steps)


def step(id_, connection, query, **extra):
    return {"id": id_, "uses": "sql", "on_error": "continue",
            "with": {"connection": connection, "query": query, **extra.pop("with_", {})}, **extra}


async def run(settings, text, runner=None, **kwargs):
    runner = runner or engine.Runner(settings=settings)
    sink = engine.ListSink()
    try:
        result = await runner.run(engine.plan(engine.load(text, "hostile.yaml", settings=settings)), {}, sink,
                                  **kwargs)
    finally:
        runner.close()
    return result, sink


def outcome(sink) -> dict:
    """{step id: output, or 'failed: <error>'}"""
    found = {}
    for event in sink.events:
        if event.type == "step.succeeded":
            found[event.path] = event.output
        elif event.type == "step.failed":
            found[event.path] = f"failed: {event.error}"
    return found


def cpu_used(seconds: float = 0.5) -> float:
    """CPU seconds this process (every thread) spends while the caller sleeps ``seconds``."""
    start = time.process_time()
    time.sleep(seconds)
    return time.process_time() - start


# -- the attack: the app's database through ATTACH --------------------------------------------
@pytest.mark.parametrize("connection", ["shop", "shop_rw"])
async def test_the_apps_database_can_be_neither_attached_nor_read_nor_changed(settings, app_db, connection):
    before = fingerprint(app_db)
    text = workflow(step("unlock", connection, "PRAGMA query_only = OFF"),
                    step("attach", connection, "ATTACH DATABASE :path AS app", with_={"params": {"path": str(app_db)}}),
                    step("read", connection, "SELECT username, password FROM app.auth_user"),
                    step("promote", connection, "WITH x AS (SELECT 1) UPDATE app.auth_user SET is_superuser = 1"),
                    step("vacuum", connection, "VACUUM INTO :path", with_={"params": {"path": str(app_db)}}))
    result, sink = await run(settings, text)
    found = outcome(sink)
    assert found["unlock"] == f"failed: {connection}: refused: PRAGMA query_only is not allowed"
    assert "refused: ATTACH, DETACH and VACUUM are not allowed" in found["attach"]
    assert "no such table: app.auth_user" in found["read"] and "no such table" in found["promote"]
    assert "refused: ATTACH, DETACH and VACUUM are not allowed" in found["vacuum"]
    assert HASH not in repr(sink.events)
    assert fingerprint(app_db) == before
    conn = sqlite3.connect(app_db)
    assert conn.execute("SELECT password, is_superuser FROM auth_user").fetchall() == [(HASH, 0)]
    conn.close()


# -- one statement at a time on a read-only connection ------------------------------------------------
REFUSED = [
    ("PRAGMA query_only = OFF", "PRAGMA query_only is not allowed"),
    ("PRAGMA writable_schema = ON", "PRAGMA writable_schema is not allowed"),
    ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode is not allowed"),
    ("SELECT * FROM pragma_database_list", "PRAGMA database_list is not allowed"),
    ("WITH x AS (SELECT 1) UPDATE sales SET amount = 0", "UPDATE sales on a read-only connection"),
    ("INSERT INTO sales VALUES ('west', 1)", "INSERT sales on a read-only connection"),
    ("DELETE FROM sales", "DELETE sales on a read-only connection"),
    ("REPLACE INTO sales VALUES ('west', 1)", "INSERT sales on a read-only connection"),
    ("CREATE TEMP TABLE notes AS SELECT 1 AS n", "on a read-only connection"),
    ("CREATE TEMP VIEW v AS SELECT 1 AS n", "on a read-only connection"),
    ("CREATE TEMP TRIGGER t AFTER INSERT ON sales BEGIN SELECT 1; END", "on a read-only connection"),
    ("CREATE TABLE notes (n)", "on a read-only connection"),
    ("DROP TABLE sales", "on a read-only connection"),
    ("ALTER TABLE sales RENAME TO s", "on a read-only connection"),
    ("BEGIN IMMEDIATE", "TRANSACTION on a read-only connection"),
    ("SAVEPOINT a", "SAVEPOINT"),
    ("ANALYZE", "on a read-only connection"),
    ("VACUUM", "ATTACH, DETACH and VACUUM are not allowed"),
    ("DETACH DATABASE main", "ATTACH, DETACH and VACUUM are not allowed"),
    ("SELECT load_extension('/nonexistent/evil')", "the function load_extension() is not allowed"),
    ("SELECT fts3_tokenizer('simple')", "the function fts3_tokenizer() is not allowed"),
    ("SELECT 1 WHERE 'a' REGEXP 'a'", "the function regexp() is not allowed"),
]


@pytest.mark.parametrize("query,reason", REFUSED, ids=[q for q, _ in REFUSED])
async def test_a_read_only_connection_refuses(settings, shop, query, reason):
    before = fingerprint(shop)
    result, sink = await run(settings, workflow(step("q", "shop", query)))
    error = outcome(sink)["q"]
    assert error.startswith("failed: shop: refused: ") and reason in error, error
    assert fingerprint(shop) == before


async def test_vacuum_into_writes_no_file_even_on_a_writable_connection(settings, tmp_path):
    copies = [tmp_path / "copy-ro.sqlite3", tmp_path / "copy-rw.sqlite3"]
    text = workflow(step("ro", "shop", "VACUUM INTO :p", with_={"params": {"p": str(copies[0])}}),
                    step("rw", "shop_rw", "VACUUM INTO :p", with_={"params": {"p": str(copies[1])}}))
    result, sink = await run(settings, text)
    assert all("refused" in error for error in outcome(sink).values())
    assert not any(path.exists() for path in copies)


async def test_load_extension_is_refused_on_a_writable_connection_too(settings):
    result, sink = await run(settings, workflow(step("q", "shop_rw", "SELECT load_extension('/tmp/evil.so')")))
    assert "refused: the function load_extension() is not allowed" in outcome(sink)["q"]


async def test_nothing_a_step_leaves_on_its_connection_reaches_the_next_step(settings):
    text = workflow(step("make", "shop_rw", "CREATE TEMP TABLE stash AS SELECT 'left behind' AS note"),
                    step("read", "shop_rw", "SELECT note FROM stash"),
                    step("read_ro", "shop", "SELECT note FROM temp.stash"))
    result, sink = await run(settings, text)
    found = outcome(sink)
    assert found["make"]["row_count"] in (-1, 0, 1)  # made, on its own connection
    assert "no such table: stash" in found["read"]
    assert "no such table: temp.stash" in found["read_ro"]


# -- runaway queries ------------------------------------------------------------------------------------
async def test_a_runaway_query_stops_when_its_step_times_out_and_frees_its_core(settings):
    text = workflow(step("spin", "shop", RUNAWAY, timeout=0.5),
                    step("after", "shop", "SELECT 1 AS n", timeout=2))
    start = time.perf_counter()
    result, sink = await run(settings, text)
    found = outcome(sink)
    assert found["spin"] == "failed: timed out after 0.5 s"
    assert found["after"]["rows"] == [{"n": 1}]
    assert time.perf_counter() - start < 2.5
    assert cpu_used() < 0.2  # no thread goes on computing


async def test_cancelling_a_run_stops_its_runaway_query(settings):
    runner = engine.Runner(settings=settings)
    task = asyncio.create_task(run(settings, workflow(step("spin", "shop", RUNAWAY)), runner, run_id="spin-run"))
    await asyncio.sleep(0.4)  # the query is running
    assert runner.cancel("spin-run")
    result, sink = await asyncio.wait_for(task, 2)
    assert result.status == "cancelled" and [e.type for e in sink.events][-2] == "step.cancelled"
    assert cpu_used() < 0.2


async def test_a_statement_timeout_stops_a_query_of_a_step_without_a_timeout(settings):
    result, sink = await asyncio.wait_for(run(settings, workflow(step("spin", "shop_short", RUNAWAY))), 5)
    assert outcome(sink)["spin"] == \
        "failed: shop_short: the query ran longer than its statement timeout of 0.5 s"
    assert cpu_used() < 0.2


# -- PostgreSQL -----------------------------------------------------------------------------------------
@pytest.fixture
def pg(postgres_url):
    """Connections of their own (a unique application_name: a pool of their own, findable in
    pg_stat_activity), and an admin engine to look from outside."""
    from sqlalchemy import create_engine

    name = f"wf_sec_{uuid.uuid4().hex[:10]}"
    url = f"{postgres_url}?application_name={name}"
    settings = engine.EngineSettings(extra={"sql_connections": {
        "pg": {"url": url}, "pg_rw": {"url": url, "writable": True},
        "pg_short": {"url": f"{url}_short", "statement_timeout": 0.5}}})
    admin = create_engine(postgres_url)
    yield settings, name, admin
    admin.dispose()
    from engine.actions import sql

    for key in [key for key in sql._ENGINES if name in key[0]]:  # close this test's pooled connections
        sql._ENGINES.pop(key).dispose()


def activity(admin, name):
    from sqlalchemy import text

    with admin.connect() as conn:
        return conn.execute(text("SELECT state, query FROM pg_stat_activity WHERE application_name = :n"),
                            {"n": name}).all()


async def test_postgresql_session_state_does_not_reach_the_next_step(pg):
    from sqlalchemy import text

    settings, name, admin = pg
    key = uuid.uuid4().int % 2**31
    text_ = workflow(step("path", "pg_rw", "SET search_path = attacker, public"),
                     step("timeout", "pg_rw", "SET statement_timeout = 0"),
                     step("lock", "pg", "SELECT pg_advisory_lock(:k) IS NULL AS locked", with_={"params": {"k": key}}),
                     step("prepare", "pg", "PREPARE leak AS SELECT 42 AS answer"),
                     step("show_path", "pg_rw", "SHOW search_path"),
                     step("show_timeout", "pg_rw", "SHOW statement_timeout"),
                     step("execute", "pg", "EXECUTE leak"))
    result, sink = await run(settings, text_)
    found = outcome(sink)
    assert found["show_path"]["rows"] == [{"search_path": '"$user", public'}]
    assert found["show_timeout"]["rows"] == [{"statement_timeout": "30s"}]
    assert 'prepared statement "leak" does not exist' in found["execute"]
    with admin.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"),
                            {"k": key}).scalar()
    assert held == 0


async def test_postgresql_query_stops_when_its_step_times_out_and_the_backend_is_idle(pg):
    settings, name, admin = pg
    start = time.perf_counter()
    result, sink = await run(settings, workflow(step("sleep", "pg", "SELECT pg_sleep(10)", timeout=0.5)))
    assert outcome(sink)["sleep"] == "failed: timed out after 0.5 s"
    assert time.perf_counter() - start < 2
    assert [state for state, _query in activity(admin, name)] == ["idle"]


async def test_postgresql_queries_have_a_statement_timeout(pg):
    settings, name, admin = pg
    result, sink = await asyncio.wait_for(run(settings, workflow(step("sleep", "pg_short", "SELECT pg_sleep(5)"))), 3)
    assert "canceling statement due to statement timeout" in outcome(sink)["sleep"]


async def test_cancelling_a_run_cancels_its_postgresql_query(pg):
    settings, name, admin = pg
    runner = engine.Runner(settings=settings)
    task = asyncio.create_task(run(settings, workflow(step("sleep", "pg", "SELECT pg_sleep(10)")), runner,
                                   run_id="pg-sleep-run"))
    await asyncio.sleep(0.4)
    assert [state for state, _query in activity(admin, name)] == ["active"]  # the query is running
    assert runner.cancel("pg-sleep-run")
    result, sink = await asyncio.wait_for(task, 2)
    assert result.status == "cancelled"
    assert [state for state, _query in activity(admin, name)] == ["idle"]
