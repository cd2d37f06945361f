"""A worker's database lanes (builder/worker_lanes.py): each run makes its ORM calls in a thread
and connection of its own; what outlives a run (the leases' watcher, the recovery loop) gets a
connection that a database restart broke replaced, so a run in progress keeps its lease."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.builder.test_server import login
from tests.cluster.conftest import Worker
from tests.cluster.test_celery_mode import _start
from tests.servers import Daphne

LONG = "name: long-{n}\nsteps:\n  - {{id: pause, uses: wait, with: {{seconds: {seconds}, value: 7}}}}\n"


@pytest.fixture(scope="module")
def short_lease(cluster_env):
    """A worker and a web process whose leases last 3 s (renewed every second): a holder that
    cannot renew loses its run to a recovery loop within seconds."""
    env = {**cluster_env, "WORKFLOW_LEASE_SECONDS": "3"}
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


def test_concurrent_runs_on_one_worker_each_end_on_their_own(short_lease, cluster_db):
    """Eight runs at once on one worker (eight lanes): each succeeds, none is taken over."""
    worker, web = short_lease

    async def scenario():
        client = await login(web.base, "ann", "ann-password")
        ids = [await _start(client, web.base, LONG.format(n=f"c{i}", seconds=1.5), {}) for i in range(8)]
        await client.aclose()
        return ids

    ids = asyncio.run(scenario())
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
