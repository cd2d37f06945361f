"""Where a run came from, in a template: ``{{ run|origin }}`` (builder/origins.py's words)."""

from django import template

from ..origins import origin_text

register = template.Library()


@register.filter
def origin(run, form: str = "") -> str:
    """"schedule nightly at 2026-11-24 02:00 +01:00", "re-run of #12", "manual"...; with
    ``"short"``, a schedule's without its slot."""
    return origin_text(run.origin, run.origin_detail, short=form == "short")
