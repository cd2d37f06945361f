"""Pydantic's errors on a step or the workflow, said in the format's words.

One message a problem: a value that fits none of a field's types (``foreach: {a: 1}``) gets
one sentence naming what the field takes and what it got, not one line per type tried.
"""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from .spec import ActionStep, ForeachStep, GroupStep
from .validate_messages import kind_of, plain

#: fields that take one of several types: what to say when a value fits none of them
UNIONS = {
    "foreach": "foreach takes a list or an expression like ${step.items}",
    "switch": "switch takes an expression like ${step.kind} (or text, a number or a boolean)",
    "if": "if takes an expression like ${step.ok} or true/false",
}
#: keys holding steps: their items' errors are the items' own (reported when they were built)
_LIST_KEYS = ("parallel", "steps", "default", "compensate", "on_failure", "finally", "cases")
_ITEM_ERRORS = ("model_type", "union_tag_invalid", "model_attributes_type")


def report(exc: ValidationError, path: tuple, doc, issues: list, model, skip_keys=frozenset()) -> None:
    """Add an issue for each of pydantic's errors (``skip_keys``: lists whose steps failed and
    said so themselves)."""
    known = sorted(f.alias or name for name, f in model.model_fields.items() if not f.exclude)
    said = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc and loc[0] in skip_keys:
            continue  # the nested steps reported their own errors
        if loc and loc[0] in _LIST_KEYS and any(isinstance(k, int) for k in loc[1:3]) and err["type"] in _ITEM_ERRORS:
            continue
        if len(loc) > 2 and loc[0] == "triggers" and loc[2] in _TRIGGER_KINDS:
            loc = _trigger_loc(loc, doc, said)
            if loc is None:
                continue
            if len(loc) == 2:
                issues.append(doc.issue(path + loc, "a trigger is a schedule (schedule: '0 2 * * *') or a webhook "
                                                    "(webhook: true), with an id"))
                continue
        if len(loc) == 2 and loc[0] in UNIONS and loc[0] in known:
            if loc[0] not in said:  # one sentence for all the types tried
                said.add(loc[0])
                issues.append(doc.issue(path + loc[:1], f"{UNIONS[loc[0]]}, got {kind_of(err.get('input'))}"))
            continue
        issues.append(doc.issue(path + loc, message(err, loc, model, known)))


_TRIGGER_KINDS = {"ScheduleTrigger": "schedule", "WebhookTrigger": "webhook"}


def _trigger_loc(loc: tuple, doc, said: set) -> tuple | None:
    """A trigger's error without the class pydantic tried (``triggers[0].ScheduleTrigger.x``):
    only the errors of the kind the trigger says it is (its ``schedule`` or ``webhook`` key);
    for one that says neither, its place alone, once (None: nothing more to say)."""
    raw = doc.data.get("triggers") if isinstance(doc.data, dict) else None
    item = raw[loc[1]] if isinstance(raw, list) and isinstance(loc[1], int) and loc[1] < len(raw) else None
    kinds = [k for k in _TRIGGER_KINDS.values() if isinstance(item, dict) and k in item]
    if len(kinds) == 1:
        return loc[:2] + loc[3:] if _TRIGGER_KINDS[loc[2]] == kinds[0] else None
    if ("triggers", loc[1]) in said:
        return None
    said.add(("triggers", loc[1]))
    return loc[:2]


def message(err: dict, loc: tuple, model, known: list[str]) -> str:
    """One pydantic error as the format says it."""
    kind = err["type"]
    if kind == "extra_forbidden" and loc == ("repeat",) and model is not GroupStep:
        where = "inside the body (a group with repeat there)" if model is ForeachStep else "around this step"
        return f"repeat goes on a group (a step with steps and no foreach): put one {where}"
    if kind == "extra_forbidden" and len(loc) == 1:
        close = difflib.get_close_matches(str(loc[0]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(known)})"
        return f"unknown key {shown(str(loc[0]))}{hint}"
    if kind == "extra_forbidden":
        return f"unknown key {shown(str(loc[-1]))}"
    if kind == "missing" and loc == ("repeat", "max"):
        return "repeat needs max: the most passes it may run (1 to 10000)"
    if loc == ("repeat", "until") and kind != "missing":
        return f"repeat's until takes an expression like ${{check.state == 'done'}}, got {kind_of(err.get('input'))}"
    if loc == ("repeat", "max"):
        return f"repeat's max is a whole number of passes from 1 to 10000, not {shown(err.get('input'))}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "id":
        return (f"invalid id {shown(err.get('input'))}: use letters, digits and _, not starting with a digit, "
                "at most 100 characters")
    if kind == "string_pattern_mismatch" and loc == ("name",):
        return f"invalid name {shown(err.get('input'))}: use a slug of a-z, 0-9, - and _"
    if loc == ("on_error",) and model is ActionStep and err.get("input") == "rollback":
        return ("an action step's on_error is fail or continue; rollback goes on the block around the steps "
                "that can be undone (parallel, foreach, group or the workflow), with compensate on those steps")
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "as":
        return f"invalid as {shown(err.get('input'))}: the item's name uses letters, digits and _"
    if kind == "string_pattern_mismatch" and "triggers" in loc and loc[-1] == "id":
        return f"invalid trigger id {shown(err.get('input'))}: use letters, digits and _"
    return plain(err, _BODIES.get(model))


#: which body an empty ``steps`` list is (validate_messages names it)
_BODIES = {ForeachStep: "foreach", GroupStep: "group"}


def shown(value) -> str:
    """A value for a message, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + "…" + text[-5:]


def suggest_key(raw: dict, keys) -> str:
    """`` (did you mean 'uses' instead of 'use'?)`` for a step without a kind key."""
    for key in list(raw)[:20]:
        close = difflib.get_close_matches(str(key), keys, n=1)
        if close:
            return f" (did you mean '{close[0]}' instead of '{key}'?)"
    return ""
