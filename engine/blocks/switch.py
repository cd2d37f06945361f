"""``switch``: the case named by the value of an expression runs; the others are skipped."""

from __future__ import annotations

import json

from .. import events as ev
from ..errors import ExpressionError, StepFailed
from ..expressions import render


def case_key(value) -> str:
    """A switch value as the text that names a case: ``true``, ``3``, ``2.5``, ``invoice``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"a switch value is text, a number or a boolean, not {type(value).__name__}")


async def run_switch(ex, node, scope, path: str, frames: tuple):
    """Run the chosen case; its output (its last step's) is the switch's. Without a matching
    case or a default, the switch is skipped (``Skip``)."""
    try:
        value = render(node.step.switch, scope, ex.evaluator)
        key = case_key(value)
    except ExpressionError as exc:
        raise StepFailed(path, f"switch: {exc}") from None
    except ValueError as exc:
        raise StepFailed(path, f"switch: {exc}") from None
    chosen = key if key in node.cases and key is not None else None
    shown = json.dumps(key, ensure_ascii=False)
    if len(shown) > 80:
        shown = shown[:70] + "…\""
    if chosen is None and None not in node.cases:
        skip_cases(ex, node, path, None, f"no case for the value {shown} and no default")
        raise Skip(f"no case for the value {shown}")
    name = "default" if chosen is None else f"case '{chosen}'"
    ex.emit(ev.LogLine, path, "info", ex.clean(f"value {shown}: {name} runs"))
    skip_cases(ex, node, path, chosen, f"{name} ran (the value was {shown})", keep_default=chosen is None)
    nodes, dag = node.cases[chosen]
    return await ex.run_list(nodes, dag, scope, path + ".", frames)


class Skip(Exception):
    """The switch matched no case and has no default: the block is skipped."""


def skip_cases(ex, node, path: str, chosen, reason: str, keep_default: bool = False) -> None:
    """Every step of the cases that do not run is skipped, with the reason (steps whose path
    would hold an index — inside a foreach or repeat of a skipped case — never start either)."""
    for key, (nodes, _) in node.cases.items():
        if key == chosen and (key is not None or keep_default):
            continue
        todo = [(path + ".", n) for n in reversed(nodes)]
        while todo:
            prefix, one = todo.pop()
            ex.emit(ev.StepSkipped, prefix + one.id, reason)
            if one.kind in ("parallel", "group") and not getattr(one.step, "repeat", None):
                todo.extend((prefix + one.id + ".", c) for c in reversed(one.children))
            elif one.cases is not None:
                todo.extend((prefix + one.id + ".", c) for lst, _ in reversed(list(one.cases.values()))
                            for c in reversed(lst))
