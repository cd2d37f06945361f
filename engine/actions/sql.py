"""``sql``: a query on a named connection (SQLAlchemy), read-only unless the connection says so.

Connections come from ``EngineSettings.extra["sql_connections"]``: ``{name: {"url": ...,
"writable": false, "statement_timeout": 30}}`` — a URL never appears in a workflow. Read-only
connections are opened read-only by the database itself (SQLite ``mode=ro`` and ``query_only``;
PostgreSQL ``default_transaction_read_only`` and every query in a ``SET TRANSACTION READ ONLY``
transaction that is never committed). A query is one statement (on PostgreSQL every read-only
query is prepared, which refuses two: ``BEGIN READ WRITE; DELETE ...`` cannot open a writable
transaction; SQLite's driver refuses them too), with named bound parameters only (``:region``).

Queries are hostile, so (``sql_guard``) SQLite gets an authorizer that lets a read-only query
only read (no ATTACH, PRAGMA, VACUUM, temp tables, file or extension functions) and a fresh
connection per query, so nothing a step did is there for the next; a PostgreSQL connection is
reset with ``DISCARD ALL`` whenever it goes back to the pool. Every query has a statement
timeout (the connection's ``statement_timeout``, else ``extra["sql_statement_timeout"]``, else
30 s), and a step timeout or a cancel stops the query at once: ``run`` is async, runs the
blocking part in the engine's thread pool and, when it is cancelled, interrupts SQLite or
cancels the PostgreSQL statement before it lets the cancellation go on.
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

from pydantic import Field

from ..errors import ActionError
from .base import Action, Params, connection_problem
from .sql_guard import Query, discard_all, guard_sqlite

DEFAULT_STATEMENT_TIMEOUT = 30.0
#: how long a cancelled step waits for its query to let go of its thread (in 0.1 s tries)
_STOP_TRIES = 10

_ENGINES: dict[tuple[str, bool], Any] = {}
_LOCK = threading.Lock()


class SqlParams(Params):
    connection: str = Field(description="the name of a connection configured on the server")
    query: str = Field(min_length=1, description="SQL with named parameters such as :region",
                       json_schema_extra={"format": "sql"})
    params: dict[str, Any] = Field(default_factory=dict, description="values of the named parameters")
    max_rows: int = Field(default=10000, ge=1, le=1_000_000, description="rows kept at most")


class Sql(Action):
    name = "sql"
    title = "SQL query"
    description = "Run a query on a named database connection; read-only unless the connection is writable."
    category = "Data"
    Params = SqlParams
    output_schema = {"type": "object", "properties": {"columns": {"type": "array"}, "rows": {"type": "array"},
                                                  "row_count": {"type": "integer"}, "truncated": {"type": "boolean"}}}

    def check(self, raw, settings):
        problems = super().check(raw, settings)
        problem = connection_problem(raw, settings, "sql_connections")
        return problems + [problem] if problem else problems

    async def run(self, params: SqlParams, ctx) -> dict:
        config = connections(ctx.settings).get(params.connection)
        if config is None:
            raise ActionError(f"unknown connection '{params.connection}'", retryable=False)
        writable = bool(config.get("writable"))
        engine = _engine(config["url"], writable)
        query = Query(engine.dialect.name, statement_timeout(config, ctx.settings))
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(ctx.services.get("executor"), _execute, engine, writable, params, query)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await _stop(query, future)
            raise


def connections(settings) -> dict:
    return settings.extra.get("sql_connections", {}) if settings is not None else {}


def statement_timeout(config: dict, settings) -> float:
    """Seconds a query may run: the connection's own value, else the engine's, else 30."""
    value = config.get("statement_timeout")
    if value is None and settings is not None:
        value = settings.extra.get("sql_statement_timeout")
    return float(value) if value else DEFAULT_STATEMENT_TIMEOUT


async def _stop(query: Query, future) -> None:
    """Stop the query and wait (at most ~1 s) until its thread is free again."""
    for _ in range(_STOP_TRIES):  # again and again: a stop may land just before the query starts
        query.stop()
        done, _pending = await asyncio.wait({future}, timeout=0.1)
        if done:
            break
    future.cancel()  # not started yet: never will
    future.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody awaits it any more


def _execute(engine, writable: bool, params: SqlParams, query: Query) -> dict:
    """The blocking part, on a pool thread."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    authorizer = None
    try:
        with engine.connect() as conn:  # leaving it rolls back what was not committed
            dbapi = conn.connection.dbapi_connection
            if query.backend == "sqlite":
                authorizer = guard_sqlite(dbapi, writable, query)
            else:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(query.timeout * 1000))}")
            if not query.started(dbapi):
                raise ActionError("the query was stopped", retryable=False)
            try:
                result = conn.execute(text(params.query), params.params)
                if result.returns_rows:
                    columns = list(result.keys())
                    rows = result.fetchmany(params.max_rows + 1)
                else:
                    columns, rows = None, result.rowcount
                if writable:
                    conn.commit()
            finally:
                query.finished()
    except DBAPIError as exc:
        raise ActionError(f"{params.connection}: {_why(exc, authorizer, query)}", retryable=_transient(exc)) from None
    except SQLAlchemyError as exc:
        raise ActionError(f"{params.connection}: {_message(exc)}", retryable=False) from None
    if columns is None:
        return {"columns": [], "rows": [], "row_count": rows, "truncated": False}
    truncated = len(rows) > params.max_rows
    rows = rows[:params.max_rows]
    return {"columns": columns, "rows": [dict(zip(columns, map(_json, row))) for row in rows],
            "row_count": len(rows), "truncated": truncated}


def _why(exc, authorizer, query: Query) -> str:
    if authorizer is not None and authorizer.refused:
        return f"refused: {authorizer.refused}"
    if query.backend == "sqlite" and "interrupted" in str(getattr(exc, "orig", "")) and not query.stopped \
            and query.expired():
        return f"the query ran longer than its statement timeout of {query.timeout:g} s"
    return _message(exc)


def _engine(url: str, writable: bool):
    key = (url, writable)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _create(url, writable)
        return engine


def _create(url: str, writable: bool):
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict = {}
    if backend == "sqlite":
        database = parsed.database or ""
        if not writable and database and database != ":memory:":
            url = f"sqlite:///file:{database}?mode=ro&uri=true"
        # a fresh connection per query: no temp table, pragma or function outlives its step
        kwargs.update(poolclass=NullPool, connect_args={"check_same_thread": False})
    else:
        kwargs.update(pool_pre_ping=True)
    if backend == "postgresql":
        kwargs["pool_reset_on_return"] = None  # discard_all rolls back, then forgets the session
        if not writable:
            kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    engine = create_engine(url, **kwargs)
    if backend == "postgresql":
        event.listen(engine, "reset", lambda dbapi, _record, state: discard_all(dbapi, state))
    if not writable and backend == "postgresql":
        @event.listens_for(engine, "begin")
        def _read_only(conn):  # whatever the session's settings say
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")

        @event.listens_for(engine, "do_execute")
        def _prepared(cursor, statement, parameters, _context):  # one statement, never a script
            cursor.execute(statement, parameters, prepare=True)
            return True

        @event.listens_for(engine, "do_execute_no_params")
        def _prepared_no_params(cursor, statement, context):
            return _prepared(cursor, statement, None, context)

    if not writable and backend == "sqlite":
        @event.listens_for(engine, "connect")
        def _query_only(dbapi_conn, _record):  # a second lock, for :memory: and odd paths
            dbapi_conn.execute("PRAGMA query_only = ON")
    return engine


def _message(exc) -> str:
    original = getattr(exc, "orig", None)
    text = str(original) if original is not None else str(exc).split("\n")[0]
    return text.strip().split("\n")[0]


def _transient(exc) -> bool:
    return bool(getattr(exc, "connection_invalidated", False))


def _json(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):  # NUMERIC, and PostgreSQL's SUM/AVG: numbers, as JSON has them
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)
