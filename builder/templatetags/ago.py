"""``{{ when|ago }}``: how long ago, in words a person says ("just now", "3 minutes ago"), with
the exact time for a tooltip: ``{{ when|date:'c' }}``. Django's ``timesince`` gives "0 minutes"
for the first minute, which reads like a bug."""

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(value) -> str:
    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, depth=1)} ago"
