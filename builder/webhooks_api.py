"""``/api/workflows/{id}/triggers``: a workflow's triggers, and its webhooks' tokens.

The API's own authentication and CSRF rules apply (the router is mounted on ``api``). Another
user's workflow is a 404; so is a trigger the current version does not have. A token is made
only by the workflow's owner (staff, who may read every workflow, get a 404 here too): the
plain token is in the answer of ``POST …/token`` and nowhere else, ever (builder/webhooks.py).
"""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Path, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from . import webhooks
from .models import Trigger, Workflow
from .schemas import MAX_INT, ErrorsOut

router = Router(tags=["triggers"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 413: ErrorsOut, 422: ErrorsOut}
WORKFLOW_ID = Path(..., ge=1, le=MAX_INT)
TRIGGER_ID = Path(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class TriggerOut(Schema):
    id: str = Field(description="the trigger's id in the YAML")
    kind: str = Field(description="schedule or webhook")
    spec: dict = Field(description="the trigger as the current version gives it")
    next_slot: datetime | None = Field(None, description="schedules: the next time it fires (UTC)")
    token_hint: str = Field("", description="webhooks: the token's last 4 characters ('' : no token yet)")
    token_created_at: datetime | None = Field(None, description="webhooks: when the token was made")
    url: str | None = Field(None, description="webhooks: the path to POST to, with the token elided")


class TokenOut(Schema):
    token: str = Field(description="the webhook's token: shown this once, never again")
    url: str = Field(description="POST a JSON body here to start a run")
    hint: str = Field(description="the token's last 4 characters, as lists show it")
    created_at: datetime


def _out(row: Trigger) -> dict:
    data = {"id": row.trigger_id, "kind": row.kind, "spec": row.spec, "next_slot": row.next_slot,
            "token_hint": row.token_hint, "token_created_at": row.token_created_at, "url": None}
    if row.kind == Trigger.Kind.WEBHOOK and row.token_hint:
        data["url"] = f"/hooks/…{row.token_hint}/"
    return data


@router.get("/workflows/{int:workflow_id}/triggers", response={200: list[TriggerOut], **ERRORS})
def list_triggers(request, workflow_id: int = WORKFLOW_ID):
    """The current version's triggers: kind, spec, a schedule's next slot, a webhook's token hint."""
    from .api import _workflow  # api.py mounts this router: imported when called

    workflow = _workflow(request, workflow_id)
    return [_out(row) for row in Trigger.objects.filter(workflow=workflow, active=True).order_by("trigger_id")]


@router.post("/workflows/{int:workflow_id}/triggers/{trigger_id}/token", response={201: TokenOut, **ERRORS})
def make_token(request, workflow_id: int = WORKFLOW_ID, trigger_id: str = TRIGGER_ID):
    """Make the webhook's token, or a new one (the old one stops at once); shown this once."""
    workflow = get_object_or_404(Workflow, pk=workflow_id, owner=request.user)
    row = get_object_or_404(Trigger, workflow=workflow, trigger_id=trigger_id, active=True)
    if row.kind != Trigger.Kind.WEBHOOK:
        raise HttpError(422, f"trigger {trigger_id} is a {row.kind}: only webhooks have tokens")
    token = webhooks.make_token(row)
    return Status(201, {"token": token, "url": f"/hooks/{token}/", "hint": row.token_hint,
                        "created_at": row.token_created_at})
