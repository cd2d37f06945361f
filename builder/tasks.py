"""The celery mode's task: ``execute_run(run_id)`` runs a queued run on a worker.

A worker process keeps one event loop, in a thread of its own, for all its runs, as daphne
does in the embedded mode: the same ``execution.execute`` runs there (each run's ORM calls in a
database lane of its own, builder/worker_lanes.py), the channel layer's
Redis connections and the leases' heartbeat are the loop's, shared by its runs, and
``WORKFLOW_RUNS_PER_USER`` holds per worker process as it holds per web process. Each of the
pool's threads (``WORKFLOW_WORKER_CONCURRENCY``) hands one run to the loop and waits for its
end, so the message is acknowledged only when the run has ended (``acks_late``).

``enqueue`` is the web side: the message leaves once the run's row is committed, so a worker
never looks for a run it cannot see yet.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from django.db import connections, transaction

from celery.signals import worker_ready

from .celery import app

log = logging.getLogger(__name__)
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
HEAL_EVERY = 0.25  # seconds between looks at the connections of the loop's threads (a recorder retries a
# failed write after 0.2 and 0.6 s: a dead connection is replaced before its last try)


@app.task(name="builder.execute_run")
def execute_run(run_id: int, owner_id: int | None = None) -> None:
    """Run a queued run to its end (nothing when another process has it, or it has ended);
    ``owner_id``, when the sender knew it: a query less before the run starts."""
    asyncio.run_coroutine_threadsafe(_execute(run_id, owner_id), worker_loop()).result()


@app.task(name="builder.run_chunk")
def run_chunk(key: str, number: int) -> None:
    """Run a chunk of a spread foreach's items (builder/distribute.py) unless another process has it."""
    asyncio.run_coroutine_threadsafe(_chunk(key, number), worker_loop()).result()


async def _chunk(key: str, number: int) -> None:
    from .distribute import run_chunk as run
    from .worker_lanes import lane

    with lane():
        await run(key, number)


async def _execute(run_id: int, owner_id: int | None = None) -> None:
    from asgiref.sync import sync_to_async

    from . import execution
    from .worker_lanes import lane

    # the run's ORM calls go to a thread (and connection) of its own, kept between runs
    # (builder/worker_lanes.py); a connection that broke meanwhile (a database restart) is
    # replaced before the run starts
    with lane():
        await sync_to_async(_drop_broken_connections)()
        await execution.execute(run_id, owner_id=owner_id)


def _drop_broken_connections() -> None:
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()


def _drop_failed_connections() -> None:
    """A connection on which a query failed is closed when it does not answer any more (the next
    query opens a new one); one that failed nothing is left alone (no round trip)."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()


async def _heal_connections() -> None:
    """Runs ping their lane's connection as they start, but the tasks that outlive runs (the
    recovery loop in the loop's default thread, the leases' watcher in the lane it started in)
    would go on with a connection a database restart broke, failing every pass. Every HEAL_EVERY,
    each thread's connection that saw an error is replaced if it is dead."""
    from asgiref.sync import sync_to_async

    from .worker_lanes import executors

    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(HEAL_EVERY)
        try:
            await sync_to_async(_drop_failed_connections)()  # the default thread: the recovery loop's
            for executor in executors():
                await loop.run_in_executor(executor, _drop_failed_connections)
        except Exception:  # noqa: BLE001 - the next pass tries again
            log.exception("looking after the database connections failed")


def worker_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for runs, started in a daemon thread at first use."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="wf-runs-loop", daemon=True).start()
            _loop = loop
            # every worker takes over runs whose process stopped (builder/leases.py), so a dead
            # worker's run goes on even when no web process is up
            asyncio.run_coroutine_threadsafe(_recovery(), loop)
            asyncio.run_coroutine_threadsafe(_heal_connections(), loop)
        return _loop


async def _recovery() -> None:
    from . import execution

    await execution.recovery_loop()


@worker_ready.connect
def _start_loop(**_) -> None:
    """The worker's loop (and its recovery) runs from the start, not from its first run; so does
    its pool for ``python`` steps (the web processes of the celery mode never start one)."""
    from django.conf import settings

    from engine import pool

    worker_loop()
    pool.warm(settings.WORKFLOW_PYTHON_WORKERS)


def enqueue(run_id: int, owner_id: int | None = None) -> None:
    """Send ``execute_run(run_id)`` to the workers once the run's row is committed.

    From sync code that may be inside ``transaction.atomic``: on commit. From an event loop
    (the API's async views): the row is committed already (the ORM runs no transaction in a
    loop's thread), and publishing is blocking network I/O, so it happens in a thread.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        transaction.on_commit(lambda: _publish(run_id, owner_id=owner_id))
        return
    loop.run_in_executor(None, _publish, run_id, True, owner_id)


def _publish(run_id: int, in_executor: bool = False, owner_id: int | None = None) -> None:
    try:
        execute_run.delay(run_id, owner_id)
    except Exception as exc:  # noqa: BLE001 - Redis unreachable: the run must not wait queued forever
        log.exception("run %s: could not enqueue it", run_id)
        _fail_unsent(run_id, f"could not reach the queue of runs (REDIS_URL): {type(exc).__name__}: {exc}",
                     in_executor)


def _fail_unsent(run_id: int, message: str, in_executor: bool) -> None:
    from django.db import connection
    from django.utils import timezone

    from .models import Run

    try:
        Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.FAILED, error=message, finished_at=timezone.now())
    finally:
        if in_executor:
            connection.close()  # a thread of the loop's executor, not Django's: leave no connection open
