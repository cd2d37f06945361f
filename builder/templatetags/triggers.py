"""The workflow list's triggers column: ``{% with_triggers workflows %}`` puts each workflow's
active triggers (its current version's) on it as ``active_triggers``, in one query for the page."""

from django import template

from ..models import Trigger

register = template.Library()


@register.simple_tag
def with_triggers(workflows) -> str:
    """Attach ``active_triggers`` (ordered by id) to each workflow of the list; renders nothing."""
    workflows = list(workflows)
    found: dict[int, list[Trigger]] = {w.pk: [] for w in workflows}
    for row in Trigger.objects.filter(workflow__in=list(found), active=True).order_by("trigger_id"):
        found[row.workflow_id].append(row)
    for workflow in workflows:
        workflow.active_triggers = found[workflow.pk]
    return ""


@register.filter
def trigger_mark(kind: str) -> str:
    """⏰ a schedule, ⚡ a webhook."""
    return {"schedule": "⏰", "webhook": "⚡"}.get(kind, "•")
