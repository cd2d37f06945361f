"""Template filters for the status marks of UI.md (colour is never the only signal)."""

from django import template

from ..terminal import MARKS

register = template.Library()


@register.filter
def mark(status: str) -> str:
    """The mark of a status: ``{{ run.status|mark }}``."""
    return MARKS.get(status, ("?",))[0]
