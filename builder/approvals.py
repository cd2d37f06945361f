"""Approvals: a run waits for a person without holding a process, and goes on once they decide.

The contract (each clause has a test in tests/builder/test_approvals.py, clause 5's in
test_approvals_access.py, the cross-process ones in tests/cluster/test_approvals_cluster.py):

1. A step ``uses: approval`` without a decision emits ``step.waiting``; the recorder stores the
   step ``waiting`` and its Approval row (``record_waiting``) in the same transaction, and once
   nothing else can go on the run ends ``waiting``: its lease is cleared in the write that says
   so, and no task, lease or worker thread is held for it from then on.
2. Only the step's approvers decide (user names; none named: the run's owner), each approval
   once: ``decide`` locks the row and updates it only while it is pending, so of two
   decisions (a double click, two approvers) exactly one wins and the other is refused (409).
   A decision after the deadline, or for a run that ended, is refused too.
3. A decision continues a ``waiting`` run at once: ``continue_run`` turns it ``queued`` with a
   conditional UPDATE (so it is continued exactly once) and the caller schedules it; the
   process that claims it goes on from the stored steps, as a takeover does, with the
   decisions (``known``). A decision given while the run is still running (other branches)
   is taken up when that run ends ``waiting`` (``continue_if_due``).
4. The recovery loops continue, exactly once across processes, the waiting runs whose decision
   no process took up (it came while none ran) and those past an approval's deadline (``due``):
   the engine then fails the step ("no decision within …").
5. While an approval is pending its approvers may see that run (API, websocket, monitor page);
   nobody else but its owner and staff (``visible_runs``). When the run ends, its pending
   approvals close (``settle``): ``expired`` past their deadline, else ``closed``.
"""

from __future__ import annotations


from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from .frames import plain, when as _when
from .models import Approval, Run, StepRun

PENDING = Approval.Decision.PENDING
DECIDED = (Approval.Decision.APPROVED, Approval.Decision.REJECTED)
NAME_CHARS = 150  # a user name's length (Django's username column)


class NotYours(Exception):
    """No such approval, or not one this user may decide (answered 404, as any other's object)."""


class Refused(Exception):
    """The approval cannot take a decision any more (answered 409): the message says why."""


# -- the recorder's side (sync, inside its batch's transaction) ------------------------------------
def record_waiting(run_id: int, events) -> None:
    """Clause 1: the Approval row of each ``step.waiting`` event; a decided one is left as it is
    (a continuation that read the decisions just before it came waits again: it goes on later)."""
    users = get_user_model()
    owner = None
    for event in events:
        names = [plain(str(n))[:NAME_CHARS] for n in (event.approvers or [])]
        if not names:
            if owner is None:
                owner = Run.objects.filter(pk=run_id).values_list("workflow__owner__username", flat=True).first()
            names = [owner] if owner else []
        fields = {"message": plain(event.message or ""), "approver_names": names, "deadline": _when(event.deadline)}
        approval, made = Approval.objects.get_or_create(
            run_id=run_id, path=event.path, defaults={**fields, "requested_at": _when(event.ts)})
        if not made:
            if approval.decision != PENDING:
                continue
            Approval.objects.filter(pk=approval.pk).update(**fields)
        approval.approvers.set(users.objects.filter(username__in=names))


def settle(run_id: int, status: str) -> None:
    """Clause 5: the run ended (or ended waiting): its pending approvals whose step no longer
    waits close, ``expired`` when past their deadline, else ``closed``."""
    now = timezone.now()
    pending = Approval.objects.filter(run_id=run_id, decision=PENDING)
    if status == Run.Status.WAITING:
        pending = pending.exclude(Exists(_waiting_step()))
    pending.filter(deadline__lte=now).update(decision=Approval.Decision.EXPIRED, decided_at=now)
    pending.update(decision=Approval.Decision.CLOSED, decided_at=now)


def _waiting_step():
    """The approval's step row, still waiting (a correlated subquery)."""
    return StepRun.objects.filter(run_id=OuterRef("run_id"), path=OuterRef("path"), status="waiting")


def known(run_id: int) -> dict:
    """The run's approvals as the engine takes them (``Runner.run(approvals=...)``)."""
    found = {}
    for a in Approval.objects.filter(run_id=run_id).select_related("decided_by"):
        approved = {Approval.Decision.APPROVED: True, Approval.Decision.REJECTED: False}.get(a.decision)
        found[a.path] = {"approved": approved, "by": a.decided_by.get_username() if a.decided_by else None,
                         "comment": a.comment, "at": a.decided_at.isoformat() if a.decided_at else None,
                         "deadline": a.deadline.timestamp() if a.deadline else None}
    return found


# -- deciding ---------------------------------------------------------------------------------------
def asked(user):
    """The approvals ``user`` is an approver of."""
    return Approval.objects.filter(approvers=user)


def pending_for(user):
    """Clause 5: what ``user`` may decide now (their runs not ended)."""
    return (asked(user).filter(decision=PENDING, run__status__in=(*Run.ACTIVE, Run.Status.WAITING))
            .select_related("run__workflow").order_by("requested_at", "id"))


@transaction.atomic
def decide(user, approval_id: int, approve: bool, comment: str = "") -> tuple[Approval, bool]:
    """Clauses 2 and 3: record ``user``'s decision; ``(approval, continued)``, where
    ``continued`` says the run turned ``queued`` and the caller must schedule it.

    NotYours when ``user`` is not one of its approvers; Refused when it was decided, or its
    deadline passed, or its run ended."""
    approval = asked(user).select_for_update(of=("self",)).filter(pk=approval_id).first()
    if approval is None:
        raise NotYours()
    if approval.decision != PENDING:
        raise Refused(f"this approval is {approval.decision} already")
    status, cancelling = Run.objects.filter(pk=approval.run_id).values_list("status", "cancel_requested").get()
    if status not in (*Run.ACTIVE, Run.Status.WAITING) or cancelling:
        raise Refused(f"the run is no longer waiting (it is {'being cancelled' if cancelling else status})")
    now = timezone.now()
    if approval.deadline is not None and approval.deadline <= now:
        raise Refused("its deadline has passed")
    decision = Approval.Decision.APPROVED if approve else Approval.Decision.REJECTED
    # conditional: on SQLite (no row locks) it is what makes the second of two decisions lose
    if not Approval.objects.filter(pk=approval.pk, decision=PENDING).update(
            decision=decision, decided_by=user, comment=plain(comment), decided_at=now):
        raise Refused("this approval was decided already")
    approval.refresh_from_db()
    return approval, continue_run(approval.run_id)


def continue_run(run_id: int) -> bool:
    """Clause 3: a waiting run becomes queued, to be continued; True for the one caller that did it.
    A run the CLI recorded goes on in the server (the command has ended): its mode says so."""
    server = Case(When(mode="cli", then=Value(settings.WORKFLOW_EXECUTION)), default=F("mode"))
    return bool(Run.objects.filter(pk=run_id, status=Run.Status.WAITING, cancel_requested=False)
                .update(status=Run.Status.QUEUED, lease_owner="", lease_expires=None, mode=server))


def _due_runs(now):
    """Waiting runs with a decision no continuation took up yet, or past an approval's deadline."""
    decided = Approval.objects.filter(run_id=OuterRef("pk"), decision__in=DECIDED).filter(Exists(_waiting_step()))
    late = Approval.objects.filter(run_id=OuterRef("pk"), decision=PENDING, deadline__lte=now)
    return Run.objects.filter(status=Run.Status.WAITING, cancel_requested=False).filter(
        Q(Exists(decided)) | Q(Exists(late)))


def continue_if_due(run_id: int) -> bool:
    """Clause 3: after a run ended ``waiting``, continue it when it is due already."""
    return _due_runs(timezone.now()).filter(pk=run_id).exists() and continue_run(run_id)


def due(limit: int = 100) -> list[int]:
    """Clause 4 (the recovery loops): continue the waiting runs that are due; the ids this
    process turned ``queued`` (another process racing for one gets nothing)."""
    found = list(_due_runs(timezone.now()).order_by("pk").values_list("pk", flat=True)[:limit])
    return [run_id for run_id in found if continue_run(run_id)]


# -- who sees a run -----------------------------------------------------------------------------------
def visible_runs(user, queryset):
    """Clause 5: runs ``user`` may see: their own, all for staff, and those with an approval
    pending that names them."""
    if user.is_staff:
        return queryset
    asking = Approval.objects.filter(run_id=OuterRef("pk"), decision=PENDING, approvers=user)
    return queryset.filter(Q(workflow__owner=user) | Q(Exists(asking)))


def out(approval: Approval) -> dict:
    """An approval as the API shows it."""
    run = approval.run
    return {"id": approval.pk, "run_id": approval.run_id, "workflow_id": run.workflow_id,
            "workflow": run.workflow.name, "path": approval.path, "message": approval.message,
            "approvers": approval.approver_names, "requested_at": approval.requested_at,
            "deadline": approval.deadline, "decision": approval.decision,
            "by": approval.decided_by.get_username() if approval.decided_by_id else None,
            "comment": approval.comment, "decided_at": approval.decided_at, "run_status": run.status}
