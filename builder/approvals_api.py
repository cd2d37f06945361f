"""``/api/approvals``: what I am asked to decide, and deciding it (builder/approvals.py).

The API's own authentication and CSRF rules apply (the router is mounted on ``api``). An
approval I am not an approver of is a 404, as a missing one; one that can no longer take a
decision (decided, past its deadline, its run ended) is a 409.
"""

from __future__ import annotations

from datetime import datetime

from asgiref.sync import sync_to_async
from django.shortcuts import get_object_or_404
from ninja import Path, Router, Schema, Status
from pydantic import Field

from . import approvals, execution
from .models import Approval, Run
from .schemas import MAX_INT, NO_NUL, ErrorsOut, RunDetailOut

router = Router(tags=["approvals"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 413: ErrorsOut, 422: ErrorsOut}
APPROVAL_ID = Path(..., ge=1, le=MAX_INT)


class ApprovalOut(Schema):
    id: int
    run_id: int
    workflow_id: int
    workflow: str
    path: str = Field(description="the approval step's path in the run")
    message: str
    approvers: list[str] = Field(description="user names who may decide")
    requested_at: datetime
    deadline: datetime | None = Field(description="without a decision by then the step fails")
    decision: str = Field(description="pending, approved, rejected, expired (the deadline passed) or closed")
    by: str | None = None
    comment: str = ""
    decided_at: datetime | None = None
    run_status: str


class ApprovalDetailOut(ApprovalOut):
    run: RunDetailOut | None = Field(default=None, description="the run, while I may see it (pending, or mine)")


class DecisionIn(Schema):
    approve: bool = Field(description="true: the run goes on; false: the step fails with the comment")
    comment: str = Field(default="", max_length=2000, pattern=NO_NUL)


@router.get("", response={200: list[ApprovalOut], **ERRORS})
def list_approvals(request):
    """The approvals pending for me (I am one of their approvers), oldest first."""
    return [approvals.out(a) for a in approvals.pending_for(request.user)[:500]]


@router.get("/{int:approval_id}", response={200: ApprovalDetailOut, **ERRORS})
def read_approval(request, approval_id: int = APPROVAL_ID):
    """One approval I am asked for, with its run (steps included) while I may see that run."""
    from .api import run_out  # api mounts this router

    approval = get_object_or_404(approvals.asked(request.user).select_related("run__workflow", "decided_by"),
                                 pk=approval_id)
    data = approvals.out(approval)
    run = approvals.visible_runs(request.user, Run.objects.select_related("workflow", "version")).filter(
        pk=approval.run_id).first()
    if run is not None:
        data["run"] = {**run_out(run), "steps": list(run.steps.exclude(path__contains="["))}
    return data


@router.post("/{int:approval_id}/decide", response={200: ApprovalOut, 409: ErrorsOut, **ERRORS})
async def decide(request, body: DecisionIn, approval_id: int = APPROVAL_ID):
    """Approve or reject: exactly one decision counts (409 for any later one, or when the
    deadline passed or the run ended); a waiting run goes on at once."""
    try:
        approval, continued = await sync_to_async(_decide)(request.user, approval_id, body)
    except approvals.NotYours:
        return Status(404, {"detail": "Not Found"})
    except approvals.Refused as exc:
        return Status(409, {"detail": str(exc)})
    if continued:  # this request turned the run queued: it schedules it (once, whatever else races)
        execution.schedule(approval["run_id"])
    return approval


def _decide(user, approval_id: int, body: DecisionIn) -> tuple[dict, bool]:
    approval, continued = approvals.decide(user, approval_id, body.approve, body.comment)
    return approvals.out(Approval.objects.select_related("run__workflow", "decided_by").get(pk=approval.pk)), continued
