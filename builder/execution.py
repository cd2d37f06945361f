"""Embedded execution: runs go on as asyncio tasks in the server's own loop.

``schedule(run_id)`` returns at once; the run continues after the request has ended. A
run's state is in the database step by step, so runs left ``running`` by a process that
died are marked ``interrupted`` (and can be resumed) by ``recover_interrupted``.

A user has at most ``WORKFLOW_RUNS_PER_USER`` runs executing at once here; later ones stay
``queued`` (first come, first served) until one of theirs ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import weakref

from asgiref.sync import sync_to_async
from django.db import DatabaseError
from django.utils import timezone

from engine import Runner, WorkflowInvalid, plan

from .models import Run
from .recorder import RunRecorder
from .runtime import engine_settings, load_workflow, registry, secrets_for
from .services import completed_outputs

log = logging.getLogger(__name__)
ACTIVE: dict[int, Runner] = {}
_TASKS: set[asyncio.Task] = set()
_USER_SLOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {owner id: semaphore}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def schedule(run_id: int) -> asyncio.Task | None:
    """Start a queued run: embedded, in the current event loop (its task is returned); in the
    celery mode, enqueued for a worker once the current transaction commits (None)."""
    from django.conf import settings

    if settings.WORKFLOW_EXECUTION == "celery":
        from .tasks import enqueue

        enqueue(run_id)  # transaction.on_commit, or at once from an event loop (nothing to commit)
        return None
    task = asyncio.get_running_loop().create_task(execute(run_id))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


def _prepare(run_id: int, worker: str):
    run = Run.objects.select_related("version", "workflow__owner", "resumed_from").get(pk=run_id)
    if run.status != Run.Status.QUEUED:
        return None
    run.worker = worker
    run.save(update_fields=["worker"])
    completed = completed_outputs(run.resumed_from) if run.resumed_from_id else {}
    return run, registry(), completed, secrets_for(run.workflow.owner)


def _fail(run_id: int, message: str) -> None:
    Run.objects.filter(pk=run_id).update(status=Run.Status.FAILED, error=message, finished_at=timezone.now())


async def execute(run_id: int, *, send: bool = True) -> Run | None:
    """Run a queued run to its end once its owner has a free slot, recording and streaming it."""
    owner_id = await Run.objects.filter(pk=run_id).values_list("workflow__owner_id", flat=True).afirst()
    if owner_id is None:
        return None
    async with _user_slot(owner_id):
        return await _execute(run_id, send=send)


def _user_slot(owner_id: int) -> asyncio.Semaphore:
    from django.conf import settings

    slots = _USER_SLOTS.setdefault(asyncio.get_running_loop(), {})
    slot = slots.get(owner_id)
    if slot is None:
        slot = slots[owner_id] = asyncio.Semaphore(settings.WORKFLOW_RUNS_PER_USER)
    return slot


async def _execute(run_id: int, *, send: bool = True) -> Run | None:
    prepared = await sync_to_async(_prepare)(run_id, worker_name())
    if prepared is None:
        return None
    run, actions, completed, secret_values = prepared
    try:
        workflow = load_workflow(run.version.yaml, f"{run.workflow.name}.yaml", actions, secret_values.keys())
    except WorkflowInvalid as exc:  # a skill changed since the version was saved
        await sync_to_async(_fail)(run_id, str(exc))
        return None
    runner = Runner(actions, engine_settings(), secrets=secret_values,
                    services={"workflows": saved_workflows(run.workflow.owner_id)})
    recorder = RunRecorder(run_id, send=send, owner_id=run.workflow.owner_id, workflow_id=run.workflow_id,
                           on_fatal=lambda: runner.cancel(str(run_id)))
    await recorder.start()
    ACTIVE[run_id] = runner
    try:
        await runner.run(plan(workflow, actions), run.inputs, recorder, run_id=str(run_id), completed=completed)
    except Exception as exc:  # noqa: BLE001 - record any engine failure on the run
        log.exception("run %s crashed", run_id)
        await recorder.close()
        await sync_to_async(_fail)(run_id, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        ACTIVE.pop(run_id, None)
        await recorder.close()
        runner.close()
    return await Run.objects.aget(pk=run_id)


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


def recover_interrupted() -> int:
    """Mark runs whose process is gone as ``interrupted``; return how many."""
    host = socket.gethostname()
    count = 0
    try:
        for run in Run.objects.filter(status__in=Run.ACTIVE).exclude(mode="celery"):
            worker_host, _, pid = run.worker.rpartition(":")
            if run.status == Run.Status.QUEUED and not run.worker:
                dead = True  # nobody took it: its server is gone (embedded runs start at once)
            else:
                dead = worker_host != host or not pid.isdigit() or not _alive(int(pid))
            if dead and int(pid or 0) != os.getpid():
                run.status = Run.Status.INTERRUPTED
                run.error = "the process running it stopped; resume it to go on"
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "error", "finished_at"])
                count += 1
    except DatabaseError:  # not migrated yet
        return 0
    return count


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
