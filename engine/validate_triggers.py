"""The rules of a workflow's ``triggers`` (docs/format.md, "Triggers").

A schedule's cron has exactly 5 fields (minute hour day-of-month month day-of-week: no
seconds, so never more often than once a minute) that croniter accepts, each value in its
field's range, and it must fire some day (``0 0 30 2 *`` never does); its timezone is an IANA
name that ``zoneinfo`` knows. Trigger ids are unique among the triggers. A trigger's
``inputs`` are declared workflow inputs, and their expressions read only ``${trigger}``, with
the keys its kind gives (schedule: id, kind, date; webhook: id, kind, body, headers). A
webhook's ``secret`` names a secret that exists, when the secrets are known (as
``${secrets.X}``).

Cron text is at most 200 characters (spec.py), so every check here is bounded.
"""

from __future__ import annotations

import functools
import re
import zoneinfo

from .errors import ExpressionError
from .expressions import expressions_in, references
from .spec import ScheduleTrigger, WebhookTrigger

__all__ = ["TRIGGER_KEYS", "check_triggers", "cron_problem"]

#: what ``${trigger}`` holds, by kind
TRIGGER_KEYS = {"schedule": ("id", "kind", "date"), "webhook": ("id", "kind", "body", "headers")}
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = {3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
          4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat")}
_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_PART = re.compile(r"^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(\d+))?$")


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a timezone (None when it is one)."""
    if name in _zones():
        return None
    import difflib

    close = difflib.get_close_matches(name, sorted(_zones()), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown timezone '{name}'{hint}: use an IANA name such as Europe/Paris or UTC"


def _value(text: str, index: int) -> int | None:
    if text.isdigit():
        return int(text) if len(text) <= 4 else 10_000
    names = _NAMES.get(index, ())
    low = text.lower()
    if low in names:
        return names.index(low) + (1 if index == 3 else 0)
    return None


def _field_problem(field: str, index: int, expr: str) -> str | None:
    """Why one field is out of its range (None: fine, or left to croniter)."""
    name, low, high = _FIELDS[index]
    for part in field.split(","):
        match = _PART.match(part)
        if not match:
            return None  # L, W, #, ?: croniter decides
        span, step = match.groups()
        if step is not None and int(step[:6]) == 0:
            return f"invalid cron '{expr}': {name} step 0 is not allowed"
        if span == "*":
            continue
        for bound in span.split("-"):
            value = _value(bound, index)
            if value is None:
                return None  # a name this field has not, L, 5L...: croniter decides
            if not low <= value <= high:
                shown = bound if len(bound) <= 8 else bound[:8] + "…"
                return f"invalid cron '{expr}': {name} {shown} is out of range {low}-{high}"
    return None


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a schedule this format accepts (None when it is one)."""
    from croniter import croniter

    shown = expr if len(expr) <= 60 else expr[:50] + "…"
    fields = expr.split()
    if len(fields) == 1 and fields[0].lower() in _ALIASES:
        return None
    if len(fields) == 6:
        return (f"invalid cron '{shown}': 6 fields; a schedule has 5 (minute hour day-of-month month "
                f"day-of-week), no seconds: at most once a minute")
    if len(fields) != 5:
        return (f"invalid cron '{shown}': {len(fields)} field{'s' if len(fields) != 1 else ''}; a schedule has 5 "
                f"(minute hour day-of-month month day-of-week), as in '0 2 * * *'")
    for index, field in enumerate(fields):
        problem = _field_problem(field, index, shown)
        if problem:
            return problem
    try:
        iterator = croniter(" ".join(fields))
    except Exception as exc:  # noqa: BLE001 - croniter's errors have no common root worth naming
        text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc)).strip() or type(exc).__name__
        return f"invalid cron '{shown}': {text[:160]}"
    try:
        iterator.get_next(float)
    except Exception:  # noqa: BLE001 - CroniterBadDateError and kin: no date fits
        return f"invalid cron '{shown}': it never fires (no date matches every field)"
    return None


def check_triggers(c) -> None:
    """Every rule of the workflow's triggers; ``c`` is the validate._Checker."""
    if "triggers" in c.partial:
        return
    seen: set[str] = set()
    for i, trigger in enumerate(c.wf.triggers):
        path = ("triggers", i)
        c.guarded(path, _check_one, c, trigger, path, seen)


def _check_one(c, trigger, path: tuple, seen: set) -> None:
    if trigger.id in seen:
        c.add(path + ("id",), f"trigger id '{trigger.id}' is used twice; trigger ids must be unique", True)
    seen.add(trigger.id)
    if isinstance(trigger, ScheduleTrigger):
        problem = cron_problem(trigger.schedule)
        if problem:
            c.add(path + ("schedule",), problem, True)
        problem = timezone_problem(trigger.timezone) if "timezone" in trigger.model_fields_set else None
        if problem:
            c.add(path + ("timezone",), problem, True)
    elif isinstance(trigger, WebhookTrigger) and trigger.secret is not None and c.secrets is not None:
        if trigger.secret not in c.secrets:
            c.add(path + ("secret",), f"unknown secret '{trigger.secret}'{c.hint(trigger.secret, c.secrets)}", True)
    for key, value in trigger.inputs.items():
        if "inputs" not in c.partial and key not in c.wf.inputs:
            c.add(path + ("inputs", key), f"unknown input '{key}'{c.hint(key, c.wf.inputs)}: a trigger's inputs "
                                          f"must be inputs the workflow declares")
        _check_value(c, trigger.kind, value, path + ("inputs", key))


def _check_value(c, kind: str, value, path: tuple) -> None:
    try:
        found = list(expressions_in(value))
    except ExpressionError as exc:
        c.add(path, f"invalid expression: {exc.message}", True)
        return
    keys = TRIGGER_KEYS[kind]
    for sub, expr in found:
        try:
            refs = references(expr)
        except ExpressionError as exc:
            shown = expr.strip() if len(expr.strip()) <= 80 else expr.strip()[:60] + "…"
            c.add(path + sub, f"invalid expression ${{{shown}}}: {exc.message}", True)
            continue
        for root, rest in refs:
            if root != "trigger":
                c.add(path + sub, f"unknown reference '{root}'{c.hint(root, ['trigger'])}: a trigger's inputs "
                                  f"read only ${{trigger}} ({', '.join(keys)})", True)
            elif rest and isinstance(rest[0], str) and rest[0] not in keys:
                c.add(path + sub, f"unknown key '{rest[0]}' of ${{trigger}}{c.hint(rest[0], keys)}: a {kind} "
                                  f"trigger gives {', '.join(keys)}", True)
