"""Run leases: exactly one process runs a run at a time, and a run outlives its process.

The contract (each clause has a test in tests/builder/test_leases.py; 6 in test_approvals.py,
7 in test_workflow_concurrency.py):

1. A process runs a run only while it holds the run's lease. ``claim`` takes it in one
   UPDATE, for a run that is queued or running, not cancelled, and whose lease is free or
   lapsed; of two processes racing for a run, one gets it and the other does nothing.
2. The holder renews the leases of all its runs every ``WORKFLOW_LEASE_SECONDS / 3`` with one
   UPDATE (the lease names the process, ``PROCESS``). A run whose renewal finds the lease gone
   is stopped there, without recording more.
3. A lease lapses ``WORKFLOW_LEASE_SECONDS`` after its last renewal; on the holder's own host,
   at once when the holder's process is gone (or a zombie, which runs nothing).
4. A running run whose lease lapsed is taken over by whoever claims it next: the same run
   goes on from its stored steps. Succeeded steps and foreach items are reused, never run
   again; the attempt that was running is recorded as failed ("interrupted") and its step
   runs again as its next attempt; blocks that were running start again; its events go on
   ``SEQ_GAP`` past the last stored one.
5. Cancel is a flag on the run row (the database is the source of truth): a queued run is
   cancelled at once and never starts; the holder of a running run sees the flag within
   ``CANCEL_POLL`` seconds and stops it. A ``waiting`` run (6) is cancelled at once too.
6. A run that ends ``waiting`` (an approval is pending, builder/approvals.py) holds no lease:
   the write that says so clears it, and ``lapsed`` never returns it. When it is continued it
   turns ``queued`` again with its first start time kept; whoever claims it then goes on from
   its stored steps as in 4, its events right after the last stored one (it stopped cleanly:
   nothing was streamed that was not stored). The steps that waited and the blocks around them
   run again; the rest is reused. ``release`` never frees a run that is queued or running: the
   same process may have claimed it again, continued, before the first execution let go.
7. A fresh queued run of a workflow with a ``concurrency`` limit is claimed only when
   builder/concurrency.py admits it (a free slot, no older run waiting for one), decided under
   a lock on the workflow's row in the claim's transaction; ``lapsed`` leaves such runs to
   ``concurrency.startable``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from . import approvals, concurrency
from .models import Run, StepRun
from .recorder import record_status

HOST = socket.gethostname()
#: this process, as lease owner: host, pid and a token (a pid can be reused, a token not)
PROCESS = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
CANCEL_POLL = 0.5  # seconds between the holder's looks at its runs' cancel flags
BLOCKS = ("parallel", "foreach", "group", "switch")
#: a taken-over run's events go on this far past its last stored one: the stopped process may
#: have streamed events it never stored, and watchers that saw them would drop reused numbers
SEQ_GAP = 100_000


def lease_seconds() -> float:
    return float(settings.WORKFLOW_LEASE_SECONDS)


def _until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=lease_seconds())


def owner_gone(owner: str) -> bool:
    """True when ``owner`` is a process of this host that is not running any more."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit() or owner == PROCESS:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    # a live process with that pid may be another one (pids are reused): then the lease lapses
    # in its own time, never early
    return state in ("Z", "X")


def _free(now: dt.datetime) -> Q:
    return Q(lease_owner="") | Q(lease_expires__lt=now)


def claim(run_id: int, worker: str) -> tuple[Run, bool] | None:
    """Take the run's lease: ``(run, taken_over)``, or None when someone else holds it or the
    run has ended. ``taken_over``: the run was running in a process that is gone (clause 4)."""
    # The common case, a fresh queued run outside any workflow limit whose lease is free, is
    # one UPDATE in autocommit: its conditions are the whole claim, and what ``_claim`` would
    # read first and then do is exactly this. It spares three round trips (BEGIN, the SELECT,
    # COMMIT) of the ~20 a run makes. Anything else (a cancel, a limit, a takeover, a run
    # continued after a decision, a race lost) is decided by ``_claim`` as before.
    if Run.objects.filter(_free(timezone.now()), pk=run_id, status=Run.Status.QUEUED, started_at__isnull=True,
                          concurrency_limit__isnull=True, cancel_requested=False).update(
            lease_owner=PROCESS, lease_expires=_until(), worker=worker):
        return _claimed(run_id), False
    return _claim(run_id, worker)


def _claimed(run_id: int) -> Run:
    return Run.objects.select_related("version", "workflow__owner", "resumed_from").get(pk=run_id)


@transaction.atomic
def _claim(run_id: int, worker: str) -> tuple[Run, bool] | None:
    now = timezone.now()
    run = Run.objects.filter(pk=run_id).values("status", "lease_owner", "lease_expires", "cancel_requested",
                                               "started_at", "workflow_id", "concurrency_limit").first()
    if run is None or run["status"] not in Run.ACTIVE:
        return None
    if run["cancel_requested"]:
        Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.CANCELLED, error="cancelled", finished_at=now)
        return None
    fresh = run["status"] == Run.Status.QUEUED and run["started_at"] is None
    if fresh and run["concurrency_limit"] is not None and not concurrency.admits(
            run_id, run["workflow_id"], run["concurrency_limit"]):  # clause 7: it waits for a slot
        return None
    free = _free(now)
    if run["lease_owner"] and owner_gone(run["lease_owner"]):
        free |= Q(lease_owner=run["lease_owner"])
    taken = Run.objects.filter(free, pk=run_id, status__in=Run.ACTIVE, cancel_requested=False).update(
        lease_owner=PROCESS, lease_expires=_until(), worker=worker)
    if not taken:
        return None
    taken_over = run["status"] == Run.Status.RUNNING
    if taken_over:
        _take_over(run_id, now, run["lease_owner"])
    elif not fresh:  # clause 6: continued after it waited for a person
        _again(run_id)
    return _claimed(run_id), taken_over


def _take_over(run_id: int, now, previous: str) -> None:
    """Clause 4: the attempts left running end as interrupted; running blocks start again;
    watchers see ``interrupted`` until the run's events go on."""
    note = f"interrupted: the process running it stopped ({previous or 'unknown'}); tried again"
    _again(run_id)
    StepRun.objects.filter(run_id=run_id, status="running").update(status="failed", error=note, finished_at=now)
    Run.objects.filter(pk=run_id).update(takeovers=F("takeovers") + 1)
    record_status(run_id, Run.Status.INTERRUPTED, "the process running it stopped; taken over by another",
                  final=False, gap=SEQ_GAP)


def _again(run_id: int) -> None:
    """What runs again when a run goes on from its stored steps: the blocks that had not ended
    and the steps that waited for a person (asked again, with the decisions known by then)."""
    rows = StepRun.objects.filter(run_id=run_id)
    rows.filter(Q(status="waiting") | Q(status="running", kind__in=BLOCKS)).delete()


def stored_state(run_id: int) -> dict:
    """What a taken-over run goes on from: reusable outputs, attempts so far, the last seq."""
    rows = StepRun.objects.filter(run_id=run_id)
    completed = dict(rows.filter(status="succeeded", output_note="").values_list("path", "output"))
    attempts = dict(rows.exclude(kind__in=BLOCKS).values("path").annotate(n=Max("attempt")).values_list("path", "n"))
    stored = set(rows.values_list("path", "attempt"))
    last_seq = Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).first() or 0
    return {"completed": completed, "attempts": attempts, "stored": stored, "seq": last_seq}


def renew(run_ids) -> set[int]:
    """Clause 2: extend this process's leases; the ids whose lease is no longer ours."""
    ids = set(run_ids)
    if not ids:
        return set()
    Run.objects.filter(pk__in=ids, lease_owner=PROCESS).update(lease_expires=_until())
    return ids - set(Run.objects.filter(pk__in=ids, lease_owner=PROCESS).values_list("pk", flat=True))


def release(run_id: int) -> None:
    """The run ended here: its lease is free (the row keeps who ran it in ``worker``). Not when
    it is queued or running again (clause 6: continued, maybe by this very process)."""
    Run.objects.filter(pk=run_id, lease_owner=PROCESS).exclude(status__in=Run.ACTIVE).update(
        lease_owner="", lease_expires=None)


def cancel_flags(run_ids) -> set[int]:
    """Clause 5: which of these runs someone asked to cancel."""
    if not run_ids:
        return set()
    return set(Run.objects.filter(pk__in=list(run_ids), cancel_requested=True).values_list("pk", flat=True))


def request_cancel(run_id: int) -> None:
    """Clause 5: a queued or waiting run is cancelled at once; a running one is flagged for its holder."""
    now = timezone.now()
    Run.objects.filter(pk=run_id, status__in=[*Run.ACTIVE, Run.Status.INTERRUPTED, Run.Status.WAITING]).update(
        cancel_requested=True)
    if Run.objects.filter(Q(status__in=(Run.Status.INTERRUPTED, Run.Status.WAITING))
                          | Q(status=Run.Status.QUEUED, lease_owner=""),
                          pk=run_id).update(status=Run.Status.CANCELLED, error="cancelled", finished_at=now):
        approvals.settle(run_id, Run.Status.CANCELLED)
        record_status(run_id, Run.Status.CANCELLED, "cancelled")
        concurrency.start_next(run_id)


def lapsed(grace: float = 0.0) -> list[int]:
    """Runs to take over (clause 3): running with a lapsed lease or a gone holder on this host,
    and queued ones nobody took for a whole lease (their server stopped before starting them)."""
    now = timezone.now()
    rows = Run.objects.filter(status__in=Run.ACTIVE, cancel_requested=False).exclude(mode__in=("cli", "try"))
    found = list(rows.filter(status=Run.Status.RUNNING).filter(_free(now)).values_list("pk", flat=True))
    # (a queued run whose claimer stopped before it started is free again once its lease lapsed)
    queued = rows.filter(_free(now), status=Run.Status.QUEUED, started_at__isnull=True,
                         created_at__lt=now - dt.timedelta(seconds=max(lease_seconds(), grace)))
    found += list(queued.exclude(concurrency_limit__isnull=False).values_list("pk", flat=True))  # clause 7
    for pk, owner in rows.exclude(lease_owner="").exclude(lease_owner=PROCESS).values_list("pk", "lease_owner"):
        if owner_gone(owner) and pk not in found:
            found.append(pk)
    return sorted(found)


def orphaned() -> list[int]:
    """Runs no server takes over whose process is gone: a trial of one step (``mode="try"``,
    builder/step_try.py) whose lease lapsed, and a command-line run (``mode="cli"``) whose
    ``runworkflow`` process on this host has ended. They are marked interrupted (``interrupt``),
    so none stays "running" for ever; a command-line one can be resumed."""
    now = timezone.now()
    rows = Run.objects.filter(status__in=Run.ACTIVE, mode__in=("cli", "try"))
    found = list(rows.filter(_free(now), mode="try", started_at__isnull=False).values_list("pk", flat=True))
    for pk, mode, owner, worker in rows.values_list("pk", "mode", "lease_owner", "worker"):
        holder = owner if mode == "try" else worker
        if holder and owner_gone(holder) and pk not in found:
            found.append(pk)
    return sorted(found)


def continuing() -> list[int]:
    """Clause 6: runs continued after they waited (queued, started before) that no process holds."""
    rows = Run.objects.filter(_free(timezone.now()), status=Run.Status.QUEUED, started_at__isnull=False,
                              cancel_requested=False).exclude(mode__in=("cli", "try"))
    return sorted(rows.values_list("pk", flat=True))


def interrupt(run_id: int) -> bool:
    """The ``WORKFLOW_RECOVERY=interrupt`` choice: mark a lapsed run interrupted (resumable)."""
    now = timezone.now()
    error = "the process running it stopped; resume it to go on"
    done = Run.objects.filter(pk=run_id, status__in=Run.ACTIVE).update(
        status=Run.Status.INTERRUPTED, error=error, finished_at=now, lease_owner="", lease_expires=None)
    if done:
        StepRun.objects.filter(run_id=run_id, status="running").update(
            status="failed", error="interrupted: the process running it stopped", finished_at=now)
        approvals.settle(run_id, Run.Status.INTERRUPTED)
        record_status(run_id, Run.Status.INTERRUPTED, error)
        concurrency.start_next(run_id)
    return bool(done)
