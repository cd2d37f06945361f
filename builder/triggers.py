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
