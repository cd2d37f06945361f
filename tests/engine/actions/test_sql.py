"""The sql action on real SQLite files: read-only by default, bound parameters, clear errors."""

import sqlite3

import pytest

import engine
from tests.engine.helpers import SETTINGS


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "shop.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE sales (region TEXT, amount REAL);"
                       "INSERT INTO sales VALUES ('north', 10), ('north', 5), ('south', 7), ('east', 1);")
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def settings(db):
    return engine.EngineSettings(python_allowed=SETTINGS.python_allowed, extra={"sql_connections": {
        "shop": {"url": f"sqlite:///{db}"},
        "shop_rw": {"url": f"sqlite:///{db}", "writable": True},
    }})


async def run_sql(settings, with_, **step):
    import json

    text = f"name: q\nsteps:\n  - {json.dumps({'id': 'q', 'uses': 'sql', 'with': with_, **step})}\n"
    workflow = engine.load(text, "q.yaml", settings=settings)
    runner = engine.Runner(settings=settings)
    result = await runner.run(engine.plan(workflow), {}, engine.NullSink())
    runner.close()
    return result


async def test_select_with_named_parameters(settings):
    result = await run_sql(settings, {"connection": "shop", "params": {"min": 5},
                                      "query": "SELECT region, SUM(amount) AS total FROM sales "
                                               "WHERE amount >= :min GROUP BY region ORDER BY region"})
    assert result.outputs["q"] == {"columns": ["region", "total"], "row_count": 2, "truncated": False,
                                   "rows": [{"region": "north", "total": 15.0}, {"region": "south", "total": 7.0}]}


async def test_max_rows_truncates(settings):
    result = await run_sql(settings, {"connection": "shop", "query": "SELECT * FROM sales", "max_rows": 2})
    assert result.outputs["q"]["row_count"] == 2 and result.outputs["q"]["truncated"] is True


async def test_writes_are_refused_on_a_read_only_connection(settings, db):
    result = await run_sql(settings, {"connection": "shop", "query": "DELETE FROM sales"})
    assert result.status == "failed" and "readonly" in result.error.replace("-", "").replace(" ", "")
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 4


async def test_a_writable_connection_may_write(settings, db):
    result = await run_sql(settings, {"connection": "shop_rw", "query": "INSERT INTO sales VALUES (:r, 3)",
                                      "params": {"r": "west"}})
    assert result.status == "succeeded" and result.outputs["q"]["row_count"] == 1
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 5


async def test_a_syntax_error_names_the_step_and_shows_the_database_message(settings):
    result = await run_sql(settings, {"connection": "shop", "query": "SELEC region FROM sales"})
    assert result.status == "failed"
    assert result.error.startswith("q: shop: ") and 'near "SELEC": syntax error' in result.error


def test_an_unknown_connection_is_a_validation_error(settings):
    with pytest.raises(engine.WorkflowInvalid) as info:
        engine.load("name: q\nsteps:\n  - {id: q, uses: sql, with: {connection: shopp, query: 'SELECT 1'}}\n",
                    settings=settings)
    assert "unknown connection 'shopp' (connections: shop, shop_rw)" in str(info.value)


async def test_values_are_bound_never_interpolated(settings):
    result = await run_sql(settings, {"connection": "shop", "query": "SELECT COUNT(*) AS n FROM sales "
                                      "WHERE region = :r", "params": {"r": "north' OR '1'='1"}})
    assert result.outputs["q"]["rows"] == [{"n": 0}]



async def test_a_read_only_connection_still_reads_everything_sqlite_offers(settings):
    """The authorizer refuses what could write or escape, never an ordinary read."""
    queries = {
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT SUM(n) AS v FROM r": 6,
        "SELECT COUNT(*) AS v FROM json_each('[1, 2, 3]')": 3,
        "SELECT json_extract('{\"a\": [5]}', '$.a[0]') + ('{\"b\": 1}' ->> 'b') AS v": 6,
        "SELECT COUNT(*) AS v FROM pragma_table_info('sales')": 2,
        "SELECT MAX(r) AS v FROM (SELECT RANK() OVER (ORDER BY amount) AS r FROM sales)": 4,
        "SELECT strftime('%Y', date('2025-03-01', '+1 day')) || upper(substr('abc', 2)) AS v": "2025BC",
        "SELECT ROUND(SQRT(16) + ABS(-1.5), 1) AS v": 5.5,
        "SELECT COUNT(*) AS v FROM sqlite_master WHERE type = 'table'": 1,
        "SELECT GROUP_CONCAT(DISTINCT region) IS NOT NULL AS v FROM sales WHERE region LIKE 'n%'": 1,
    }
    for query, value in queries.items():
        result = await run_sql(settings, {"connection": "shop", "query": query})
        assert result.status == "succeeded", (query, result.error)
        assert result.outputs["q"]["rows"] == [{"v": value}], query
    result = await run_sql(settings, {"connection": "shop", "query": "PRAGMA table_info(sales)"})
    assert [row["name"] for row in result.outputs["q"]["rows"]] == ["region", "amount"]


async def test_a_writable_connection_commits_a_write_that_returns_rows(settings, db):
    result = await run_sql(settings, {"connection": "shop_rw", "query": "INSERT INTO sales VALUES ('west', 2) "
                                      "RETURNING region"})
    assert result.outputs["q"]["rows"] == [{"region": "west"}]
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 5

@pytest.fixture
def pg(postgres_url):
    """A table of its own in the PostgreSQL test database, and connections to it."""
    import uuid

    from sqlalchemy import create_engine, text

    table = f"sales_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (region TEXT, amount NUMERIC)"))
        conn.execute(text(f"INSERT INTO {table} VALUES ('north', 10), ('south', 7)"))
    settings = engine.EngineSettings(python_allowed=SETTINGS.python_allowed, extra={"sql_connections": {
        "pg": {"url": postgres_url}, "pg_rw": {"url": postgres_url, "writable": True}}})
    yield settings, table, admin
    with admin.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    admin.dispose()


def count(admin, table):
    from sqlalchemy import text

    with admin.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()


async def test_postgresql_reads_and_refuses_writes_on_a_read_only_connection(pg):
    settings, table, admin = pg
    result = await run_sql(settings, {"connection": "pg", "query": f"SELECT region, amount FROM {table} "
                                                                   "WHERE amount > :min ORDER BY region",
                                      "params": {"min": 8}})
    assert result.status == "succeeded", result.error
    assert result.outputs["q"]["rows"] == [{"region": "north", "amount": 10}]  # NUMERIC: a JSON number
    result = await run_sql(settings, {"connection": "pg", "query": f"SELECT AVG(amount) AS mean FROM {table}"})
    assert result.outputs["q"]["rows"] == [{"mean": 8.5}]
    for query in (f"DELETE FROM {table}", f"INSERT INTO {table} VALUES ('x', 1)", f"DROP TABLE {table}"):
        result = await run_sql(settings, {"connection": "pg", "query": query})
        assert result.status == "failed" and "read-only transaction" in result.error, (query, result.error)
    # a script could open a writable transaction: a query is one statement
    result = await run_sql(settings, {"connection": "pg", "query": f"BEGIN READ WRITE; DELETE FROM {table}"})
    assert result.status == "failed" and "multiple commands" in result.error
    # a session setting left on the pooled connection does not make the next query writable
    for query in ("SET default_transaction_read_only = off",
                  "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "COMMIT"):
        await run_sql(settings, {"connection": "pg", "query": query})
        result = await run_sql(settings, {"connection": "pg", "query": f"DELETE FROM {table}"})
        assert result.status == "failed" and "read-only transaction" in result.error, (query, result.error)
    assert count(admin, table) == 2


async def test_postgresql_writes_on_a_connection_marked_writable(pg):
    settings, table, admin = pg
    result = await run_sql(settings, {"connection": "pg_rw", "query": f"INSERT INTO {table} VALUES (:r, 3)",
                                      "params": {"r": "west"}})
    assert result.status == "succeeded" and result.outputs["q"]["row_count"] == 1
    assert count(admin, table) == 3
