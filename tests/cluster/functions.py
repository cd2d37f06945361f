"""Functions the cluster tests' workflows call through ``python`` steps, allowed only in the
processes those tests start (``WORKFLOW_PYTHON_ALLOWED=...,tests.cluster.functions.*``).

``record`` is a step with a side effect outside the run's own rows: a row in a table of the
test's PostgreSQL database, so a test can count how many times each item really ran.
"""

from __future__ import annotations

import os
import time

#: the database and table ``record`` writes to (the test creates the table)
DSN_VARIABLE = "WF_TEST_SIDE_EFFECTS_DSN"
TABLE = "test_side_effects"


def record(tag: str, item: int, delay: float = 0.0) -> int:
    """Work for ``delay`` seconds, then record that ``item`` of the run tagged ``tag`` ran:
    one row (tag, item, the pids of this process and of its two ancestors, the time).
    Returns ``item * 3``."""
    import psycopg

    time.sleep(delay)
    with psycopg.connect(os.environ[DSN_VARIABLE], autocommit=True, connect_timeout=5) as connection:
        connection.execute(f"INSERT INTO {TABLE} (tag, item, pids) VALUES (%s, %s, %s)",
                           (tag, int(item), _ancestry()))
    return int(item) * 3


def _ancestry() -> list[int]:
    pids = [os.getpid()]
    for _ in range(2):
        try:
            with open(f"/proc/{pids[-1]}/stat") as handle:
                pids.append(int(handle.read().rsplit(")", 1)[1].split()[1]))
        except (OSError, IndexError, ValueError):
            break
    return pids


#: the table ``span`` writes to (the test creates it)
SPANS = "test_spans"


def span(tag: str, item: int, delay: float = 0.0, fail: int = -1) -> int:
    """Like ``record``, with when the call began and ended (``start``, ``stop``, epoch seconds),
    so a test can count how many calls ran at once. Item ``fail`` raises instead. Returns
    ``item * 3``."""
    import psycopg

    start = time.time()
    if int(item) == int(fail):
        raise ValueError(f"item {item} refuses")
    time.sleep(delay)
    with psycopg.connect(os.environ[DSN_VARIABLE], autocommit=True, connect_timeout=5) as connection:
        connection.execute(f"INSERT INTO {SPANS} (tag, item, pids, start, stop) VALUES (%s, %s, %s, %s, %s)",
                           (tag, int(item), _ancestry(), start, time.time()))
    return int(item) * 3
