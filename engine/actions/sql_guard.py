"""What a ``sql`` query may do on SQLite, and how a query that runs too long is stopped.

Why: a workflow's query is hostile input. SQLite's read-only mode still lets a statement
``ATTACH`` any file the server can open (read-write), turn ``PRAGMA query_only`` off, write
a copy of the database anywhere with ``VACUUM INTO`` and keep temp tables for the next step.
An authorizer is asked about every table, column, function and statement kind while a
statement is compiled, so whatever it does not allow never runs. A query that runs away (a
recursive CTE with no end) must give its thread back when its step times out or is
cancelled: a progress handler checks a deadline and a stop flag, and ``Query.stop``
interrupts SQLite at once or sends PostgreSQL a cancel request.
"""

from __future__ import annotations

import sqlite3
import threading
import time

#: functions a read-only query may call: SQLite's own scalar, aggregate, window, date, math
#: and JSON functions; none reads or writes a file or loads code
SAFE_FUNCTIONS = frozenset("""
abs char coalesce concat concat_ws format glob hex ifnull iif instr length like likelihood likely
lower ltrim max min nullif octet_length printf quote random randomblob replace round rtrim sign
soundex substr substring trim typeof unhex unicode unlikely upper zeroblob sqlite_version
avg count group_concat string_agg sum total
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
date time datetime julianday unixepoch strftime timediff
acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 log2
mod pi pow power radians sin sinh sqrt tan tanh trunc
json jsonb json_array jsonb_array json_array_length json_extract jsonb_extract json_insert
jsonb_insert json_object jsonb_object json_patch jsonb_patch json_remove jsonb_remove
json_replace jsonb_replace json_set jsonb_set json_type json_valid json_quote json_error_position
json_pretty json_group_array jsonb_group_array json_group_object jsonb_group_object -> ->>
""".split())

#: functions no query may call, on writable connections too (those allow any other function)
DENIED_FUNCTIONS = frozenset({
    "load_extension",          # loads native code
    "readfile", "writefile", "edit", "lsmode",  # the sqlite3 shell's file functions, if present
    "fts3_tokenizer",          # hands out native pointers
    "regexp",                  # a Python function: a hostile pattern could not be interrupted
})

#: pragmas that only describe the schema; every other pragma is refused
READ_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                          "foreign_key_list"})

#: the longest string or blob a query may build (SQLITE_LIMIT_LENGTH), so that
#: ``randomblob(999999999)`` cannot take a gigabyte
MAX_VALUE_BYTES = 32 * 1024 * 1024
#: the progress handler runs every this many virtual machine steps (well under a millisecond)
PROGRESS_STEPS = 10_000

_A = sqlite3
_READING = {_A.SQLITE_SELECT, _A.SQLITE_READ, _A.SQLITE_RECURSIVE}
#: SQLite's own code for table-valued functions (json_each, pragma_table_info) asks to update
#: the schema table; a statement of the user's cannot (SQLite refuses "may not be modified")
_SCHEMA_TABLES = {"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"}
_ACTIONS = """CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER
CREATE_TEMP_VIEW CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE
DROP_TEMP_TRIGGER DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW INSERT PRAGMA READ SELECT TRANSACTION UPDATE ATTACH
DETACH ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE DROP_VTABLE FUNCTION SAVEPOINT RECURSIVE""".split()
_NAMES = {getattr(_A, f"SQLITE_{name}"): name.replace("_", " ") for name in _ACTIONS if hasattr(_A, f"SQLITE_{name}")}


class Authorizer:
    """The ``set_authorizer`` callback of one query; ``refused`` says why it said no."""

    __slots__ = ("writable", "refused")

    def __init__(self, writable: bool):
        self.writable = writable
        self.refused: str | None = None

    def __call__(self, action: int, arg1, arg2, _database, _trigger) -> int:
        reason = self.judge(action, arg1, arg2)
        if reason is None:
            return _A.SQLITE_OK
        if self.refused is None:
            self.refused = reason
        return _A.SQLITE_DENY

    def judge(self, action: int, arg1, arg2) -> str | None:
        """None when allowed, else the reason."""
        if action in _READING:
            return None
        if action == _A.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in DENIED_FUNCTIONS or not (self.writable or name in SAFE_FUNCTIONS):
                return f"the function {arg2}() is not allowed"
            return None
        if action == _A.SQLITE_PRAGMA:
            return None if (arg1 or "").lower() in READ_PRAGMAS else f"PRAGMA {arg1} is not allowed"
        if action in (_A.SQLITE_ATTACH, _A.SQLITE_DETACH):
            return "ATTACH, DETACH and VACUUM are not allowed"
        if action == _A.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
            return None
        if self.writable:
            return None
        what = _NAMES.get(action, f"action {action}")
        target = f" {arg1}" if isinstance(arg1, str) and arg1 and action != _A.SQLITE_TRANSACTION else ""
        return f"{what}{target} on a read-only connection (it may only read)"


class Query:
    """The stop switch of one running query, shared by its thread and the event loop.

    The thread calls ``started`` with its DBAPI connection before it executes and
    ``finished`` after; ``stop`` may come from any thread at any moment, even before the
    query started (then it never starts).
    """

    def __init__(self, backend: str, timeout: float):
        self.backend = backend
        self.timeout = timeout
        self.deadline = float("inf")
        self.stopped = False
        self._dbapi = None
        self._lock = threading.Lock()

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def should_stop(self) -> bool:  # the progress handler: a true value ends the statement
        return self.stopped or time.monotonic() > self.deadline

    def started(self, dbapi) -> bool:
        """Remember the connection to interrupt; False when the query was stopped already."""
        with self._lock:
            if self.stopped:
                return False
            self._dbapi = dbapi
            self.deadline = time.monotonic() + self.timeout
            return True

    def finished(self) -> None:
        with self._lock:
            self._dbapi = None

    def stop(self) -> None:
        """End the query as soon as possible (safe from any thread; never blocks)."""
        with self._lock:
            self.stopped = True
            dbapi = self._dbapi
        if dbapi is None:
            return
        if self.backend == "sqlite":
            dbapi.interrupt()  # thread-safe: the running statement ends with "interrupted"
        else:  # a cancel request is a network round trip: not on the event loop
            threading.Thread(target=_cancel, args=(dbapi,), name="wf-sql-cancel", daemon=True).start()


def guard_sqlite(dbapi, writable: bool, query: Query) -> Authorizer:
    """Install the authorizer, the stop check and the size limits on a fresh connection."""
    authorizer = Authorizer(writable)
    dbapi.set_authorizer(authorizer)
    dbapi.set_progress_handler(query.should_stop, PROGRESS_STEPS)
    dbapi.setlimit(_A.SQLITE_LIMIT_ATTACHED, 0)
    dbapi.setlimit(_A.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    return authorizer


def discard_all(dbapi, reset_state) -> None:
    """The PostgreSQL pool's reset: roll back, then forget every session setting, prepared
    statement, temp table and advisory lock (``DISCARD ALL``) before the next step gets it."""
    dbapi.rollback()
    if getattr(reset_state, "terminate_only", False):
        return
    autocommit = dbapi.autocommit
    dbapi.autocommit = True  # DISCARD ALL cannot run inside a transaction
    try:
        dbapi.execute("DISCARD ALL")
    finally:
        dbapi.autocommit = autocommit
    # psycopg remembers which statements it prepared on the server; DISCARD ALL dropped them
    # (psycopg only notices that itself the first time, so tell it every time)
    prepared = getattr(dbapi, "_prepared", None)
    if prepared is not None:
        prepared.clear()


def _cancel(dbapi) -> None:
    try:
        cancel = getattr(dbapi, "cancel_safe", None)
        cancel(timeout=2.0) if cancel is not None else dbapi.cancel()
    except Exception:  # noqa: BLE001 - the statement timeout still ends the query
        pass
