"""Pydantic's error types said in the format's words, for every construct.

Pydantic's own sentences ("Input should be greater than or equal to 1", "List should have at
least 1 item after validation, not 0") name neither the key nor what it is for, and a new user
reads them as noise. ``plain(err)`` turns the common error types into one sentence that names
the key and what it takes; a type not listed here keeps pydantic's text (without its
``Value error,`` prefix: those are our own validators' sentences already).
"""

from __future__ import annotations

#: lists of steps that may not be empty: what to say, by the key holding them
EMPTY_LISTS = {
    "parallel": "a parallel block needs at least one branch",
    "cases": "a switch needs at least one case",
}
#: what a block whose ``steps`` is empty is called, by its kind key (validate_schema passes it)
BODIES = {"foreach": "a foreach body", "repeat": "a repeat group", "group": "a group", None: "steps"}
#: what a key whose value has the wrong shape takes, when pydantic's word would be a class name
SHAPES = {
    "retry": "retry takes a mapping like {attempts: 3, delay: 1s}",
    "concurrency": "concurrency takes a mapping like {limit: 1, when_busy: queue}",
    "repeat": "repeat takes a mapping like {until: ${check.done}, max: 10}",
    "limits": "limits takes a mapping like {concurrency: 4}",
    "with": "with takes a mapping of the action's parameters",
    "inputs": "inputs takes a mapping of input name → {type, default, description}",
    "outputs": "outputs takes a mapping of output name → expression",
    "needs": "needs takes a list of step ids, like [fetch, parse]",
    "triggers": "triggers takes a list of schedules and webhooks",
}
_TYPES = {
    "string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "tuple_type": "a list", "set_type": "a list",
}


def kind_of(value) -> str:
    """``a mapping``, ``a list``, ``text``, ``nothing``... for messages."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "nothing" if value is None else type(value).__name__


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + "…" + text[-5:]


def _key(loc) -> str:
    """The key a problem is at: the last named part of its place (``retry.attempts`` → attempts)."""
    names = [str(p) for p in loc if isinstance(p, str) and not p[:1].isupper()]  # not a union's class name
    return names[-1] if names else "the value"


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plain(err: dict, body: str | None = None) -> str:
    """One pydantic error (``ValidationError.errors()`` item) as one plain sentence.

    ``body``: the kind of block whose list is at fault (``foreach``, ``group``...), so an empty
    ``steps`` says which body needs a step."""
    kind, loc, ctx = err.get("type", ""), tuple(err.get("loc", ())), err.get("ctx") or {}
    key = _key(loc)
    got = err.get("input")
    if kind == "missing":
        return f"missing required key '{key}'"
    if kind in ("too_short", "string_too_short"):
        if key in EMPTY_LISTS:
            return EMPTY_LISTS[key]
        if key == "steps":
            return f"{BODIES.get(body, BODIES[None])} needs at least one step"
        least = ctx.get("min_length", 1)
        unit = "character" if kind == "string_too_short" else "item"
        return f"{key} needs at least {least} {unit}{'' if least == 1 else 's'}"
    if kind in ("too_long", "string_too_long"):
        most = ctx.get("max_length")
        unit = "characters" if kind == "string_too_long" else "items"
        return f"{key} takes at most {most} {unit}" + ("" if kind == "string_too_long" else
                                                       f", not {ctx.get('actual_length', 'more')}")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        words = {"greater_than_equal": "at least", "greater_than": "more than",
                 "less_than_equal": "at most", "less_than": "less than"}[kind]
        return f"{key} must be {words} {_number(bound)}, not {_shown(got)}"
    if kind == "int_from_float":
        return f"{key} takes a whole number, not {_shown(got)}"
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "").replace("'", "").replace("True", "true").replace("False", "false")
        if " or " not in expected and "," not in expected:
            return f"{key} must be {expected}, not {_shown(got)}"
        return f"{key} is one of {expected}, not {_shown(got)}"
    if kind == "string_pattern_mismatch":
        return f"{key} {_shown(got)} has characters it may not: use letters, digits and _ (not starting with a digit)"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"{key} is not one of the kinds it may be"
    if kind in ("model_type", "model_attributes_type", "dict_type") and key in SHAPES:
        return f"{SHAPES[key]}, got {kind_of(got)}"
    if kind == "list_type" and key in SHAPES:
        return f"{SHAPES[key]}, got {kind_of(got)}"
    if kind in _TYPES:
        return f"{key} takes {_TYPES[kind]}, not {kind_of(got) if kind.endswith('_type') else _shown(got)}"
    if kind == "finite_number":
        return f"{key} takes a finite number, not {_shown(got)}"
    if kind == "none_required":
        return f"{key} takes no value here"
    if kind == "multiple_of":
        return f"{key} must be a multiple of {_number(ctx.get('multiple_of'))}, not {_shown(got)}"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")
