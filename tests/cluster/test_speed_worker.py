"""A worker's database lanes (builder/worker_lanes.py): each run makes its ORM calls in a thread
and connection of its own; what outlives a run (the leases' watcher, the recovery loop) gets a
connection that a database restart broke replaced, so a run in progress keeps its lease."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest

from builder.worker_lanes import MAX_LANES
from tests.builder.test_server import login
from tests.cluster.conftest import Worker
from tests.cluster.test_celery_mode import _start
from tests.servers import Daphne

LONG = "name: long-{n}\nsteps:\n  - {{id: pause, uses: wait, with: {{seconds: {seconds}, value: 7}}}}\n"


@pytest.fixture(scope="module")
def short_lease(cluster_env):
    """A worker and a web process whose leases last 3 s (renewed every second): a holder that
    cannot renew loses its run to a recovery loop within seconds; a user's 8 runs go on at once."""
    env = {**cluster_env, "WORKFLOW_LEASE_SECONDS": "3", "WORKFLOW_RUNS_PER_USER": "8"}
    started = []
    try:
        started.append(Worker(env, "wf-speed-1", concurrency=8))
        started.append(Daphne(env, timeout=30).require_started())
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def _until(cluster_db, run_id: int, statuses: tuple, seconds: float) -> tuple:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = cluster_db("select status, takeovers, worker, error from builder_run where id = %s", run_id)[0]
        if row[0] in statuses:
            return row
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {row[0]} after {seconds} s")


def _postgres_connections(pid: int) -> int:
    """TCP connections to port 5432 that process ``pid`` holds (its sockets, by inode)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = 0
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                found += fields[2].endswith(":1538") and fields[9] in inodes  # remote port 5432, ours
    return found


def test_concurrent_runs_on_one_worker_share_four_lanes_and_each_ends_on_its_own(short_lease, cluster_db):
    """Eight runs at once on one worker: each succeeds, none is taken over, and the worker holds
    one connection per lane (four) and its recovery loop's, not one per run."""
    worker, web = short_lease

    async def scenario():
        client = await login(web.base, "ann", "ann-password")
        ids = [await _start(client, web.base, LONG.format(n=f"c{i}", seconds=3), {}) for i in range(8)]
        await client.aclose()
        return ids

    ids = asyncio.run(scenario())
    deadline = time.monotonic() + 30
    while cluster_db("select count(*) from builder_run where id = any(%s) and status = 'running'", ids) != [(8,)]:
        assert time.monotonic() < deadline, "the eight runs did not run at once"
        time.sleep(0.05)
    assert 2 <= _postgres_connections(worker.proc.pid) <= MAX_LANES + 1
    rows = [_until(cluster_db, run_id, ("succeeded", "failed", "cancelled", "interrupted"), 60) for run_id in ids]
    assert [(status, takeovers) for status, takeovers, _, _ in rows] == [("succeeded", 0)] * 8, rows
    assert {w.split(":")[1] for _, _, w, _ in rows} == {str(worker.proc.pid)}


def test_a_run_keeps_its_lease_when_the_database_drops_the_workers_connections_mid_run(short_lease, cluster_db):
    """The watcher renewing the lease and the run's own recorder get new connections after the
    server closed theirs (a PostgreSQL restart): the run is neither taken over nor failed."""
    worker, web = short_lease
    dbname = cluster_db("select current_database()")[0][0]

    async def scenario():
        client = await login(web.base, "ann", "ann-password")
        run_id = await _start(client, web.base, LONG.format(n="dropped", seconds=6), {})
        await client.aclose()
        return run_id

    run_id = asyncio.run(scenario())
    deadline = time.monotonic() + 30
    while not cluster_db("select 1 from builder_steprun where run_id = %s and path = 'pause'", run_id):
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    dropped = cluster_db("select pg_terminate_backend(pid) from pg_stat_activity "
                         "where datname = %s and pid <> pg_backend_pid()", dbname)
    assert dropped
    status, takeovers, held_by, error = _until(cluster_db, run_id, ("succeeded", "failed", "cancelled",
                                                                    "interrupted"), 60)
    assert (status, takeovers, error) == ("succeeded", 0, ""), (status, takeovers, error, worker.text[-3000:])
    assert held_by.split(":")[1] == str(worker.proc.pid)
