"""``sql``: a query on a named connection (SQLAlchemy), read-only unless the connection says so.

Connections come from ``EngineSettings.extra["sql_connections"]``: ``{name: {"url": ...,
"writable": false}}`` — a URL never appears in a workflow. Read-only connections are opened
read-only by the database itself (SQLite ``mode=ro``; PostgreSQL ``default_transaction_read_only``
and every query in a ``SET TRANSACTION READ ONLY`` transaction that is never committed). A query
is one statement (on PostgreSQL every query is prepared, which refuses two: ``BEGIN READ WRITE;
DELETE ...`` cannot open a writable transaction; SQLite's driver refuses them too), with named
bound parameters only (``:region``). A database role that may only read is still the
safest connection.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from pydantic import Field

from ..errors import ActionError
from .base import Action, Params, connection_problem

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

    def run(self, params: SqlParams, ctx) -> dict:  # sync: the engine runs it in its thread pool
        config = connections(ctx.settings).get(params.connection)
        if config is None:
            raise ActionError(f"unknown connection '{params.connection}'", retryable=False)
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        writable = bool(config.get("writable"))
        engine = _engine(config["url"], writable)
        try:
            with engine.connect() as conn:  # leaving it rolls back what was not committed
                result = conn.execute(text(params.query), params.params)
                if not result.returns_rows:
                    if writable:
                        conn.commit()
                    return {"columns": [], "rows": [], "row_count": result.rowcount, "truncated": False}
                columns = list(result.keys())
                rows = result.fetchmany(params.max_rows + 1)
        except DBAPIError as exc:
            raise ActionError(f"{params.connection}: {_message(exc)}", retryable=_transient(exc)) from None
        except SQLAlchemyError as exc:
            raise ActionError(f"{params.connection}: {_message(exc)}", retryable=False) from None
        truncated = len(rows) > params.max_rows
        rows = rows[:params.max_rows]
        return {"columns": columns, "rows": [dict(zip(columns, map(_json, row))) for row in rows],
                "row_count": len(rows), "truncated": truncated}


def connections(settings) -> dict:
    return settings.extra.get("sql_connections", {}) if settings is not None else {}


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

    parsed = make_url(url)
    kwargs: dict = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not writable and database and database != ":memory:":
            url = f"sqlite:///file:{database}?mode=ro&uri=true"
        kwargs["connect_args"] = {"check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql" and not writable:
        kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    engine = create_engine(url, **kwargs)
    if not writable and parsed.get_backend_name() == "postgresql":
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

    if not writable and parsed.get_backend_name() == "sqlite":
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
