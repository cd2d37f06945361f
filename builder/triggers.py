"""A workflow's triggers as rows: synced from its current version whenever one is saved.

``sync(workflow, parsed)`` keeps one Trigger row per trigger id of the current version (a
schedule's ``next_slot`` is computed by the scheduler, builder/scheduler.py; a webhook's token
is made by builder/webhooks.py and shown once), and marks the rows of triggers the version no
longer has inactive (their slots and tokens stop acting; a trigger that comes back is active
again, with its token). Triggers act only for the current version, while
``Workflow.triggers_enabled`` is on.
"""

from __future__ import annotations

from .models import Trigger, Workflow


def sync(workflow: Workflow, parsed) -> list[Trigger]:
    """The workflow's active Trigger rows after saving a version whose model is ``parsed``."""
    wanted = {t.id: t for t in getattr(parsed, "triggers", None) or []}
    rows = {row.trigger_id: row for row in Trigger.objects.filter(workflow=workflow)}
    kept = []
    for trigger_id, trigger in wanted.items():
        spec = trigger.model_dump(mode="json", by_alias=True, exclude_none=True)
        row = rows.get(trigger_id)
        if row is None:
            row = Trigger.objects.create(workflow=workflow, trigger_id=trigger_id, kind=trigger.kind, spec=spec)
        elif row.kind != trigger.kind or row.spec != spec or not row.active:
            changed_kind = row.kind != trigger.kind
            row.kind, row.spec, row.active = trigger.kind, spec, True
            if changed_kind or row.kind == "schedule":
                row.next_slot = None  # the scheduler computes it again from now
            if changed_kind:
                row.token_hash = row.token_hint = ""
                row.token_created_at = None
            row.save()
        kept.append(row)
    Trigger.objects.filter(workflow=workflow).exclude(trigger_id__in=list(wanted)).update(active=False)
    return kept


class TriggerInputsInvalid(Exception):
    """A trigger's ``inputs`` could not be made from what the trigger gave (said in ``str``)."""


def trigger_inputs(row: Trigger, data: dict) -> dict:
    """The run's inputs from the trigger's ``inputs`` template, ``${trigger}`` being ``data``
    ({id, kind, date} for a schedule; {id, kind, body, headers} for a webhook). Expressions are
    the engine's, bounded as everywhere; only ``trigger`` is readable."""
    from engine import ExpressionError
    from engine.expressions import Evaluator, render

    try:
        return render(row.spec.get("inputs") or {}, {"trigger": data}, Evaluator())
    except ExpressionError as exc:
        raise TriggerInputsInvalid(f"trigger {row.trigger_id}: inputs: {exc}") from None


def start(row: Trigger, data: dict, detail: dict):
    """Make the run a trigger asks for, as the workflow's owner, and schedule it (embedded: in
    this process's loop when there is one, else the recovery loop's; celery: enqueued). The
    run's origin is the trigger's kind, with ``detail`` ({"trigger": id, "slot": iso} ...).
    Raises TriggerInputsInvalid, or the services' InputsInvalid / Invalid, when no run can be made."""
    from . import execution
    from .services import create_run

    workflow = row.workflow
    inputs = trigger_inputs(row, data)
    run = create_run(workflow, workflow.owner, inputs, origin=row.kind, origin_detail=detail)
    execution.wake([run.pk])
    return run
