"""``approval``: a person decides whether the run goes on.

The host passes the run's known approvals as ``services["approvals"]``: step path →
``{"approved": True | False | None, "by", "comment", "at", "deadline"}`` (``approved`` None:
still pending). Without a decision the action raises ``Suspend``: the runner marks the step
``waiting`` (``step.waiting``), lets every other step that can go on finish, and ends the run
``waiting``; the host continues it from its stored state once someone decides or the
deadline passes. No process or worker is held meanwhile.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from ..errors import ActionError, Suspend
from ..spec import Duration
from .base import Action, Params


class ApprovalParams(Params):
    message: str = Field(min_length=1, max_length=4000, description="what the approvers are asked")
    approvers: list[str] = Field(default_factory=list, max_length=100,
                                 description="user names who may decide; empty: the run's owner")
    timeout: Duration | None = Field(default=None, description="without a decision by then, the step fails")


class Approval(Action):
    name = "approval"
    title = "Approval"
    description = "Wait for a person to approve or reject; the run holds no process while it waits."
    category = "Flow"
    Params = ApprovalParams

    async def run(self, params: ApprovalParams, ctx) -> Any:
        known = (ctx.services.get("approvals") or {}).get(ctx.path) or {}
        approved = known.get("approved")
        if approved is True:
            return {"approved": True, "by": known.get("by"), "comment": known.get("comment") or "",
                    "at": known.get("at")}
        if approved is False:
            comment = known.get("comment") or "no comment"
            raise ActionError(f"rejected by {known.get('by') or 'an approver'}: {comment}", retryable=False)
        deadline = known.get("deadline")
        if deadline is None and params.timeout is not None:
            deadline = time.time() + params.timeout
        if deadline is not None and time.time() >= deadline:
            raise ActionError(f"no decision within {_span(params.timeout)}", retryable=False)
        if ctx.services.get("approvals") is None:
            raise ActionError("approvals need a run stored by the server (they wait without a process)",
                              retryable=False)
        raise Suspend(params.message, params.approvers, deadline)


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "the time allowed"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g} s"
