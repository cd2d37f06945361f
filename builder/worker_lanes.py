"""A worker's database lanes: each run on the worker's loop makes its ORM calls in a thread of
its own (with that thread's own connection), not in the one thread all of the loop's
``sync_to_async`` calls share by default.

Why: a run makes some twenty short database round trips (claim, skills, secrets, its batches,
the lease's release). Through asgiref's single thread they queue behind every other run's, so
a worker's throughput was bounded by one connection's round-trip time (on a busy machine each
round trip waits for the database process and then for this process's GIL to be scheduled):
bench/cluster.py measured 20-40 runs/s with the worker's core three quarters idle. Lanes let
the round trips of concurrent runs overlap (60-70 runs/s, the worker's core then busy), while one
run's calls still run one at a time in one thread, in order, as the ORM and the recorder's
transactions expect.

A lane is an asgiref ``ThreadSensitiveContext`` that is never exited: ``sync_to_async``
(thread-sensitive, Django's default) sends the calls of a task whose context names it to the
lane's one-thread executor. A task that a run starts and that outlives it (the leases' watcher,
builder/execution.py ``_watch``) keeps using that lane's thread, shared with the lane's later
runs; nothing is shut down under it. Lanes are made on demand, one per run executing at once up
to ``MAX_LANES``, and kept for the process's life, so a worker holds at most that many
PostgreSQL connections plus one for its recovery loop.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, ThreadSensitiveContext

#: lanes of a worker process at most: beyond, runs share them. Four let the round trips overlap
#: as much as eight did (bench A/B, 8 runs at once: 52.0 vs 51.5 runs/s), with half the connections
MAX_LANES = 4
_free: list[ThreadSensitiveContext] = []  # lanes no run is in; touched only in the worker loop's thread
_lanes: list[ThreadSensitiveContext] = []  # every lane made (they and their executors live on)
_users: dict[ThreadSensitiveContext, int] = {}  # runs in each lane now


def _new() -> ThreadSensitiveContext:
    lane = ThreadSensitiveContext()
    # asgiref keeps a context's executor in this (weak) map: the lane is held in _lanes, so its
    # executor stays, and since the lane is never exited nothing shuts it down
    SyncToAsync.context_to_thread_executor[lane] = ThreadPoolExecutor(
        max_workers=1, thread_name_prefix=f"wf-db-{len(_lanes) + 1}")
    _lanes.append(lane)
    return lane


@contextlib.contextmanager
def lane():
    """In the worker loop's task of a run: its thread-sensitive calls go to a lane (its own while
    there are at most MAX_LANES runs) until the block ends; tasks it started meanwhile keep it."""
    if _free:
        taken = _free.pop()  # last in, first out: a recently used connection is reused first
    elif len(_lanes) < MAX_LANES:
        taken = _new()
    else:  # shared with the runs already in it: their calls and this run's take turns
        taken = min(_lanes, key=_users.__getitem__)
    _users[taken] = _users.get(taken, 0) + 1
    token = SyncToAsync.thread_sensitive_context.set(taken)
    try:
        yield taken
    finally:
        SyncToAsync.thread_sensitive_context.reset(token)
        _users[taken] -= 1
        if not _users[taken]:
            _free.append(taken)


def executors() -> list:
    """The lanes' one-thread executors (to look after their connections, builder/tasks.py)."""
    return [SyncToAsync.context_to_thread_executor[lane] for lane in _lanes]


def count() -> int:
    """Lanes made so far (each a thread and, once used, a database connection)."""
    return len(_lanes)
