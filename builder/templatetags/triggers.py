"""The workflow list's triggers column: ``{% with_triggers workflows %}`` puts each workflow's
active triggers (its current version's) on it as ``active_triggers``, in one query for the page."""

from django import template
from django.utils.safestring import mark_safe

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


#: a schedule's clock as static/flow/icons.js draws it: Debian's fonts have no ⏰ (a missing-glyph box)
_CLOCK = ('<svg class="svg-icon icon-clock" viewBox="0 0 16 16" width="13" height="13" fill="none" '
          'stroke="currentColor" stroke-width="1.5" stroke-linecap="round" aria-hidden="true" '
          'data-mark="schedule"><path d="M8 2.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11z"/>'
          '<path d="M8 5v3.2l2.2 1.4"/><path d="M6.5 1h3"/></svg>')


@register.filter
def trigger_mark(kind: str) -> str:
    """A schedule's clock (an inline SVG), ⚡ a webhook (DejaVu has it), • anything else."""
    return mark_safe(_CLOCK) if kind == "schedule" else {"webhook": "⚡"}.get(kind, "•")
