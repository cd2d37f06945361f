"""Embedded execution: runs go on as asyncio tasks in the server's own loop.

``schedule(run_id)`` returns at once; the run continues after the request has ended. A
run's state is in the database step by step, so runs left ``running`` by a process that
died are marked ``interrupted`` (and can be resumed) by ``recover_interrupted``.

A user has at most ``WORKFLOW_RUNS_PER_USER`` runs executing at once here; later ones stay
``queued`` (first come, first served) until one of theirs ends.

A run that ends ``waiting`` (an approval, builder/approvals.py) leaves nothing here: no task,
no lease. It is scheduled again, as the same run, when someone decides or its deadline passes.
When a run of a workflow with a ``concurrency`` limit ends, the queued runs that may start now
are scheduled (builder/concurrency.py); the recovery loop does both for what nobody did.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import weakref

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from engine import Runner, WorkflowInvalid, plan

from . import approvals, concurrency, leases, restart
from .models import Run
from .origins import origin_text
from .recorder import RunRecorder
from .runtime import engine_settings, load_workflow, registry, secrets_for
from .services import completed_outputs, take_loaded
from .throttle import services as shared_limits

log = logging.getLogger(__name__)
ACTIVE: dict[int, Runner] = {}
_TASKS: set[asyncio.Task] = set()
_USER_SLOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {owner id: semaphore}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def schedule(run_id: int, owner_id: int | None = None) -> asyncio.Task | None:
    """Start a queued run: embedded, in the current event loop (its task is returned); in the
    celery mode, enqueued for a worker once the current transaction commits (None). A caller
    that knows the workflow's owner passes it (``owner_id``): a query less before the run starts."""
    if settings.WORKFLOW_EXECUTION == "celery":
        from .tasks import enqueue

        enqueue(run_id, owner_id)  # transaction.on_commit, or at once from an event loop (nothing to commit)
        return None
    global _HOME
    _HOME = loop = asyncio.get_running_loop()
    task = loop.create_task(execute(run_id, owner_id=owner_id))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


_HOME: asyncio.AbstractEventLoop | None = None  # the loop runs were last scheduled in (``wake``)


def schedule_once(run_id: int) -> asyncio.Task | None:
    """``schedule``, unless this process runs the run or has it scheduled already."""
    if run_id in ACTIVE or run_id in _PENDING:
        return None
    task = schedule(run_id)
    if task is not None:
        _PENDING.add(run_id)
        task.add_done_callback(lambda _: _PENDING.discard(run_id))
    return task


def wake(run_ids) -> None:
    """Schedule these queued runs from any thread (a sync view, a cancel): in the celery mode
    enqueued; embedded, handed to the loop of this process's runs (none yet: the recovery loop
    starts them). A run scheduled twice runs once: its claim decides."""
    run_ids = list(run_ids)
    if settings.WORKFLOW_EXECUTION == "celery":
        for run_id in run_ids:
            schedule(run_id)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = _HOME
        if loop is not None and loop.is_running() and not loop.is_closed():
            for run_id in run_ids:  # in a context of its own: not the calling thread's (asgiref's)
                loop.call_soon_threadsafe(schedule, run_id, context=contextvars.Context())
        return
    for run_id in run_ids:
        schedule(run_id)


def _prepare(run_id: int, worker: str):
    claimed = leases.claim(run_id, worker)
    if claimed is None:  # someone else runs it, or it ended (or was cancelled) meanwhile
        return None
    run, taken_over = claimed
    # its process stopped, or it waited for a person: it goes on from its own stored steps
    if taken_over or run.started_at is not None:
        state = leases.stored_state(run_id)
    else:
        completed = completed_outputs(run.resumed_from, run.version) if run.resumed_from_id else {}
        completed = restart.narrowed(run, completed)  # a restart from a step: only what ends before it
        state = {"completed": completed, "attempts": {}, "stored": set(), "seq": 0}
    state["taken_over"] = taken_over or run.started_at is not None
    state["approvals"] = approvals.known(run_id) if state["taken_over"] else {}
    actions = registry()
    # the secrets are read now, at run time (one shared with the owner may have been unshared
    # since the run was queued); what create_run loaded in this process (services.take_loaded)
    # is used only when it was checked against the same secret names
    secrets = secrets_for(run.workflow.owner)
    handed = None if state["taken_over"] else take_loaded(run_id, run.version.yaml, actions)
    if handed is not None and sorted(handed[1]) == sorted(secrets):
        return run, actions, state, secrets, handed[0]
    return run, actions, state, secrets, None


def _fail(run_id: int, message: str) -> None:
    Run.objects.filter(pk=run_id).update(status=Run.Status.FAILED, error=message, finished_at=timezone.now())


async def execute(run_id: int, *, send: bool = True, owner_id: int | None = None) -> Run | None:
    """Run a queued run to its end once its owner has a free slot, recording and streaming it."""
    if owner_id is None:
        owner_id = await Run.objects.filter(pk=run_id).values_list("workflow__owner_id", flat=True).afirst()
    if owner_id is None:
        return None
    async with _user_slot(owner_id):
        return await _execute(run_id, send=send)


def _user_slot(owner_id: int) -> asyncio.Semaphore:
    slots = _USER_SLOTS.setdefault(asyncio.get_running_loop(), {})
    slot = slots.get(owner_id)
    if slot is None:
        slot = slots[owner_id] = asyncio.Semaphore(settings.WORKFLOW_RUNS_PER_USER)
    return slot


async def _execute(run_id: int, *, send: bool = True) -> Run | None:
    prepared = await sync_to_async(_prepare)(run_id, worker_name())
    if prepared is None:
        return None
    run, actions, state, secret_values, workflow = prepared
    try:
        try:
            if workflow is None:
                workflow = load_workflow(run.version.yaml, f"{run.workflow.name}.yaml", actions, secret_values.keys())
        except WorkflowInvalid as exc:  # a skill changed since the version was saved
            await sync_to_async(_fail)(run_id, str(exc))
            return None
        services = {"workflows": saved_workflows(run.workflow.owner_id)}
        services.update(shared_limits())  # skills' and http's limits, across every worker in the celery mode
        if settings.WORKFLOW_EXECUTION == "celery":  # a foreach may spread its items over the workers
            from .distribute import Distributor

            services["distribute"] = Distributor(run_id)
        runner = Runner(actions, engine_settings(), secrets=secret_values, services=services)
        recorder = RunRecorder(run_id, send=send, owner_id=run.workflow.owner_id, workflow_id=run.workflow_id,
                               on_fatal=lambda: runner.cancel(str(run_id)), stored_rows=state["stored"],
                               resumed=state["taken_over"],
                               origin=origin_text(run.origin, run.origin_detail, short=True),
                               interval=settings.WORKFLOW_STREAM_INTERVAL)
        await recorder.start()
        ACTIVE[run_id] = runner
        _watch()
        try:
            await runner.run(plan(workflow, actions), run.inputs, recorder, run_id=str(run_id),
                             completed=state["completed"], seq=state["seq"], attempts=state["attempts"],
                             approvals=state["approvals"])
        except Exception as exc:  # noqa: BLE001 - record any engine failure on the run
            log.exception("run %s crashed", run_id)
            await recorder.close()
            await sync_to_async(_fail)(run_id, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if ACTIVE.get(run_id) is runner:  # (continued meanwhile, here: that one is not ours)
                del ACTIVE[run_id]
            await recorder.close()
            runner.close()
    finally:
        await sync_to_async(leases.release)(run_id)
    ended = await Run.objects.aget(pk=run_id)
    await _after(ended)
    return ended


async def _after(run: Run) -> None:
    """What a run's end starts: itself again when it ended waiting but a decision came meanwhile
    (or a deadline passed); the queued runs of its workflow that may take its slot."""
    again = []
    if run.status == Run.Status.WAITING and await sync_to_async(approvals.continue_if_due)(run.pk):
        again.append(run.pk)
    elif run.concurrency_limit is not None and run.finished:
        again += await sync_to_async(concurrency.startable)(run.workflow_id)
    for run_id in again:  # (not schedule_once: an ending task of the same run may still be listed)
        schedule(run_id)


_WATCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> its watcher task


def _watch() -> None:
    """Make sure this loop has a task renewing its runs' leases and looking at their cancel flags."""
    loop = asyncio.get_running_loop()
    task = _WATCHERS.get(loop)
    if task is None or task.done():
        _WATCHERS[loop] = loop.create_task(_watcher())


async def _watcher() -> None:
    """Leases clauses 2 and 5 for the runs of this loop; ends when it has none left."""
    loop = asyncio.get_running_loop()
    renewed = loop.time()
    while True:
        await asyncio.sleep(leases.CANCEL_POLL)
        runners = {run_id: runner for run_id, runner in list(ACTIVE.items()) if getattr(runner, "loop", loop) is loop}
        ids = list(runners)
        if not ids:
            _WATCHERS.pop(loop, None)
            return
        try:
            stop = await sync_to_async(leases.cancel_flags)(ids)
            if loop.time() - renewed >= leases.lease_seconds() / 3:
                lost = await sync_to_async(leases.renew)(ids)
                renewed = loop.time()
                if lost:
                    log.warning("runs %s: their lease is held elsewhere now; stopping them here", sorted(lost))
                stop |= lost
        except DatabaseError as exc:  # the next tick tries again; a lease lasts several ticks
            log.warning("leases: %s", exc)
            continue
        for run_id in stop:
            if ACTIVE.get(run_id) is runners[run_id]:  # not a continuation of it begun meanwhile
                cancel_here(run_id)


def saved_workflows(owner_id: int):
    """``workflow`` steps' resolver: the YAML of the owner's workflow by name (and version)."""
    from .models import Workflow, WorkflowVersion

    def find(name: str, version: int | None):
        workflow = Workflow.objects.filter(owner_id=owner_id, name=name).first()
        if workflow is None:
            return None
        if version is None:
            return workflow.yaml
        found = WorkflowVersion.objects.filter(workflow=workflow, number=version).first()
        return found.yaml if found else None

    return sync_to_async(find)


def cancel_here(run_id: int) -> bool:
    """Cancel a run executing in this process; False when it is not here."""
    runner = ACTIVE.get(run_id)
    return bool(runner and runner.cancel(str(run_id)))


_PENDING: set[int] = set()  # runs this process took up to recover and has not finished


async def recover() -> list[int]:
    """Take over (or, with ``WORKFLOW_RECOVERY=interrupt``, mark interrupted) the runs whose
    lease lapsed: their process stopped (leases clause 3). Runs of live processes are never
    touched. Returns the runs taken up."""
    try:
        found = await sync_to_async(leases.lapsed)()
    except DatabaseError:  # not migrated yet
        return []
    taken = []
    for run_id in found:
        if run_id in _PENDING or run_id in ACTIVE:
            continue
        if settings.WORKFLOW_RECOVERY == "interrupt":
            if await sync_to_async(leases.interrupt)(run_id):
                taken.append(run_id)
            continue
        schedule_once(run_id)
        taken.append(run_id)
    for run_id in await sync_to_async(leases.orphaned)():  # trials and CLI runs: never taken over
        if run_id not in ACTIVE and await sync_to_async(leases.interrupt)(run_id):
            taken.append(run_id)
    if taken:
        log.warning("recovered runs %s (%s)", taken, settings.WORKFLOW_RECOVERY)
    return taken + await _go_on()


async def _go_on() -> list[int]:
    """The recovery loop's other half: waiting runs now due (a decision no process took up, a
    deadline passed), continued runs nobody holds, and queued runs a workflow's limit lets start."""
    found = await sync_to_async(approvals.due)()
    found += await sync_to_async(leases.continuing)()
    found += await sync_to_async(concurrency.startable)()
    started = [run_id for run_id in dict.fromkeys(found) if run_id not in ACTIVE and run_id not in _PENDING]
    for run_id in started:
        schedule_once(run_id)
    return started


async def recovery_loop() -> None:
    """At start and then every third of a lease: ``recover()``."""
    global _HOME
    _HOME = asyncio.get_running_loop()
    while True:
        try:
            await recover()
        except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
            log.exception("recovering runs failed")
        await asyncio.sleep(leases.lease_seconds() / 3)


def start_recovery() -> None:
    """Under daphne: run ``recovery_loop`` in the server's event loop once it runs."""
    import sys
    from importlib import import_module

    if "twisted.internet.reactor" not in sys.modules:  # not a daphne server (a test, a command)
        return
    from twisted.internet import reactor

    reactor.callWhenRunning(lambda: asyncio.ensure_future(recovery_loop()))
    if settings.WORKFLOW_SCHEDULER:  # schedules fire from this server too (builder/scheduler.py)
        reactor.callWhenRunning(lambda: asyncio.ensure_future(import_module("builder.scheduler").loop()))
