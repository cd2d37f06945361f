"""Per-workflow concurrency: ``concurrency: {limit, when_busy}`` holds across every process.

The contract (tests/builder/test_workflow_concurrency.py on SQLite, in one process and with a
real server; tests/cluster/test_concurrency_cluster.py across real celery workers):

1. What counts: the runs of the workflow (any version) that the server executes, which are
   the top-level ones (a ``workflow`` step runs inside its caller's run and is never a run of
   its own; the CLI's runs start at once and neither wait nor count). A run holds a slot from
   the moment a process claims it until it ends; a run ``waiting`` for an approval keeps its
   slot (it is part way through, and goes on without asking again).
2. When a run is made (``create_run``, under a lock on the workflow's row, so two runs made at
   once are decided one after the other) and ``limit`` others are active (queued, running or
   waiting): ``skip`` records the new one ``skipped`` with the reason, and it never starts;
   ``cancel_running`` asks the oldest of them to cancel (they end ``cancelled``, their
   ``finally`` run by the engine) and the new one starts once they have stopped; ``queue``
   (the default) leaves it ``queued``.
3. A queued run starts only when a slot is free and no older run of the workflow waits for
   one (first come, first served): ``admits`` decides it in the transaction that claims the
   run (builder/leases.py clause 7), under the workflow row's lock (PostgreSQL's row lock;
   SQLite's transactions are IMMEDIATE, one writer at a time), so of two processes racing
   for the last slot exactly one gets it.
4. When a run ends, the process that ran it starts the next ones (``startable``); so does
   every recovery loop, every third of a lease, for what no process started (a message lost,
   a process that died: its run is taken over and ends, or is marked interrupted, and frees
   its slot), so a queue never stays blocked.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Run, Workflow

OPEN = (Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING)


def _live_lease(now) -> Q:
    return ~Q(lease_owner="") & Q(lease_expires__gte=now)


def _holding(now) -> Q:
    """Clause 1: runs that hold a slot: claimed (a live lease) or started, and not ended."""
    started = Q(status__in=(Run.Status.RUNNING, Run.Status.WAITING))
    return started | Q(status=Run.Status.QUEUED) & (Q(started_at__isnull=False) | _live_lease(now))


def _held(now) -> Q:
    """Runs waiting for a slot: queued, never started, claimed by nobody alive."""
    return Q(status=Run.Status.QUEUED, started_at__isnull=True, cancel_requested=False) & ~_live_lease(now)


def _runs(workflow_id: int):
    return Run.objects.filter(workflow_id=workflow_id).exclude(mode="cli")


def _lock(workflow_id: int) -> None:
    list(Workflow.objects.select_for_update().filter(pk=workflow_id).values_list("pk"))


def create_run(policy, **fields) -> Run:
    """Clause 2: the new run, decided by ``policy`` (the version's ``concurrency``, or None)."""
    if policy is None or fields.get("mode") == "cli":
        return Run.objects.create(**fields)
    workflow_id = fields["workflow"].pk
    with transaction.atomic():
        _lock(workflow_id)
        active = _runs(workflow_id).filter(status__in=OPEN, cancel_requested=False).order_by("created_at", "pk")
        count = active.count()
        fields["concurrency_limit"] = policy.limit
        if count < policy.limit or policy.when_busy == "queue":
            return Run.objects.create(**fields)
        if policy.when_busy == "skip":
            noun = "run of this workflow is" if count == 1 else "runs of this workflow are"
            return Run.objects.create(**fields, status=Run.Status.SKIPPED, finished_at=timezone.now(),
                                      error=f"skipped: {count} {noun} active (concurrency limit "
                                            f"{policy.limit}, when_busy: skip)")
        oldest = list(active.values_list("pk", flat=True)[:count - policy.limit + 1])
        run = Run.objects.create(**fields)
        transaction.on_commit(lambda: _cancel(oldest, run.pk))
        return run


def _cancel(run_ids: list[int], by: int) -> None:
    from .leases import request_cancel

    for run_id in run_ids:
        request_cancel(run_id)  # a queued or waiting one at once; a running one within a second
    Run.objects.filter(pk__in=run_ids, status=Run.Status.CANCELLED, error="cancelled").update(
        error=f"cancelled: run #{by} of this workflow started (concurrency: cancel_running)")


def admits(run_id: int, workflow_id: int, limit: int) -> bool:
    """Clause 3 (in the claim's transaction): may this queued run take a slot now?"""
    _lock(workflow_id)
    now = timezone.now()
    others = _runs(workflow_id).exclude(pk=run_id)
    holding = others.filter(_holding(now)).count()
    ahead = others.filter(_held(now), pk__lt=run_id).count()
    return holding + ahead < limit


def startable(workflow_id: int | None = None) -> list[int]:
    """Clause 4: the queued runs (of one workflow, or all) that may start now, oldest first.
    Only a suggestion: ``admits`` decides when one is claimed."""
    now = timezone.now()
    held = Run.objects.filter(_held(now), concurrency_limit__isnull=False).exclude(mode="cli")
    if workflow_id is not None:
        held = held.filter(workflow_id=workflow_id)
    found = []
    for wid in sorted(set(held.values_list("workflow_id", flat=True))):
        queue = list(held.filter(workflow_id=wid).order_by("pk").values_list("pk", "concurrency_limit")[:1000])
        free = queue[0][1] - _runs(wid).filter(_holding(now)).count()
        found += [pk for pk, _ in queue[:max(free, 0)]]
    return found


def start_next(run_id: int) -> None:
    """Clause 4: a run of a limited workflow ended outside its process (a cancel, an interrupt):
    start what may start now, from this process (sync code, any thread)."""
    workflow_id = Run.objects.filter(pk=run_id, concurrency_limit__isnull=False).values_list(
        "workflow_id", flat=True).first()
    if workflow_id is None:
        return
    found = startable(workflow_id)
    if found:
        from .execution import wake

        transaction.on_commit(lambda: wake(found))
