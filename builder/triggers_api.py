"""``/api/schedules/describe`` (a cron in words and its next fire times, for the editor) and
``/api/workflows/{id}/triggers/enabled`` (a workflow's triggers on or off).

The API's own authentication and CSRF rules apply (the router is mounted on ``api``); another
user's workflow is a 404. The describe endpoint is bounded where its input enters: a cron of at
most 200 characters and a timezone of at most 64, checked as the workflow validator checks
them (five fields or an alias, each in its range; a zoneinfo name); every error of
cron-descriptor or croniter is a 422 with the reason, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from ninja import Path, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from .models import Trigger
from .schemas import MAX_INT, NO_NUL, ErrorsOut, WorkflowDetailOut

router = Router(tags=["triggers"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 413: ErrorsOut, 422: ErrorsOut}
MAX_CRON = 200  # as the format's ScheduleTrigger.schedule
MAX_TIMEZONE = 64
NEXT = 5  # fire times shown
#: croniter's aliases as five fields, for cron-descriptor (which reads only fields)
ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
WORKFLOW_ID = Path(..., ge=1, le=MAX_INT)


class DescribeOut(Schema):
    text: str = Field(description="the cron in words (cron-descriptor): 'At 02:00 AM'")
    next: list[str] = Field(description="the next fire times, ISO 8601 in the schedule's timezone")
    problem: str | None = Field(None, description="why the validator refuses a cron that parses (it never fires)")


class EnabledIn(Schema):
    enabled: bool


def describe_cron(cron: str, timezone: str = "UTC", now: datetime | None = None) -> dict:
    """The words and next fire times of ``cron`` in ``timezone``: HttpError 422 when the workflow
    validator would refuse its syntax or timezone (the same checks, engine/validate_triggers.py);
    a cron that parses but never fires is described, with that problem."""
    from cron_descriptor import ExpressionDescriptor, Options
    from croniter import croniter
    from croniter.croniter import CroniterBadDateError

    from engine.validate_triggers import cron_problem, timezone_problem

    problem = timezone_problem(timezone)
    if problem:
        raise HttpError(422, problem)
    zone = ZoneInfo(timezone)
    problem = cron_problem(cron)
    fields = " ".join(cron.split())
    try:
        schedule = croniter(fields, (now or datetime.now(zone)).astimezone(zone))
        text = ExpressionDescriptor(ALIASES.get(fields.lower(), fields), Options()).get_description()
    except Exception as exc:  # croniter's and cron-descriptor's errors have no common root
        raise HttpError(422, problem or f"invalid cron: {str(exc).removeprefix('Error: ')[:200]}") from None
    if problem and len(fields.split()) != 5 and fields.lower() not in ALIASES:
        raise HttpError(422, problem)  # croniter also reads 6 and 7 fields (seconds, years): not ours
    times = []
    try:
        for _ in range(NEXT):
            times.append(schedule.get_next(datetime).isoformat())
    except CroniterBadDateError:
        times = []
    except Exception as exc:
        raise HttpError(422, problem or f"invalid cron: {str(exc)[:200]}") from None
    return {"text": text, "next": times, "problem": problem}


@router.get("/schedules/describe", response={200: DescribeOut, **ERRORS})
def describe(request, cron: str = Query(..., max_length=MAX_CRON, pattern=NO_NUL),
             timezone: str = Query("UTC", max_length=MAX_TIMEZONE, pattern=NO_NUL)):
    """A schedule's cron in words and its next 5 fire times in its timezone (422: not a valid cron or timezone)."""
    return describe_cron(cron, timezone)


@router.post("/workflows/{int:workflow_id}/triggers/enabled", response={200: WorkflowDetailOut, **ERRORS})
def set_enabled(request, body: EnabledIn, workflow_id: int = WORKFLOW_ID):
    """Turn the workflow's triggers on or off (its schedules and webhooks; manual runs are not
    affected); answers the workflow. Turned on again, a schedule fires from its next slot after
    now (builder/scheduler.py computes it): slots passed while off are not caught up."""
    from .api import _workflow, workflow_out  # api.py mounts this router: imported when called

    workflow = _workflow(request, workflow_id)
    if workflow.triggers_enabled != body.enabled:
        with transaction.atomic():
            if body.enabled:  # slots passed while off are not caught up: each schedule starts from now
                Trigger.objects.filter(workflow=workflow, kind=Trigger.Kind.SCHEDULE).update(next_slot=None)
            workflow.triggers_enabled = body.enabled
            workflow.save(update_fields=["triggers_enabled"])  # not a new version: updated_at stays
    return workflow_out(workflow)
