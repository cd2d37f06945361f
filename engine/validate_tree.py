"""The step tree as validation walks it: every list of steps with its kind, and stand-ins.

A step holds lists of several kinds, which decide what is visible where:

- ``work``: a group's steps (or the workflow's): visible after the block;
- ``branches``: a parallel's branches (each a list of one): visible after the block;
- ``body``: a foreach's body: visible only inside it (``${each}`` outside);
- ``case``: a switch's case or default: visible only inside it (``${route}`` outside);
- ``hook``: ``on_failure`` / ``finally``: visible only inside; ``error`` and ``run`` exist there;
- ``comp``: ``compensate``: visible only inside; the step being undone is readable there.

A step that failed to build stays in its list as a ``Broken`` stand-in, so the steps after it
keep their order and the expressions it holds are still checked ("all errors at once"). A
stand-in never leaves the loader: a workflow holding one has issues.
"""

from __future__ import annotations

import re

from .expressions import condition_source
from .spec import (ID_PATTERN, STEP_LIST_KEYS, ActionStep, ForeachStep, GroupStep, ParallelStep, SwitchStep,
                   Workflow, extra_lists, step_kind)

WORK, BRANCHES, BODY, CASE, HOOK, COMP = "work", "branches", "body", "case", "hook", "comp"
_KINDS = {"parallel": BRANCHES, "default": CASE, "compensate": COMP, "on_failure": HOOK, "finally": HOOK}
_ID = re.compile(ID_PATTERN)


class Broken:
    """Stands in its list for a step that failed to build (its issues are reported already).

    It keeps the raw ``id`` (when it is one), ``needs`` and the expressions it holds, and its
    nested lists of steps as built (stand-ins included), so they are checked where they stand.
    """

    kind = "broken"
    name = None

    def __init__(self, raw: dict, path: tuple, position: tuple[int, int]):
        self.raw = raw
        self.of = step_kind(raw)  # what it meant to be, when its keys say
        self.id = raw.get("id") if isinstance(raw.get("id"), str) and _ID.match(raw["id"]) else None
        needs = raw.get("needs")
        self.needs = needs if isinstance(needs, list) and all(isinstance(n, str) for n in needs) else None
        self.if_ = raw.get("if") if isinstance(raw.get("if"), (str, bool)) else None
        self.uses = raw.get("uses") if isinstance(raw.get("uses"), str) else None
        self.with_ = raw.get("with")
        self.compensate = raw.get("compensate") if isinstance(raw.get("compensate"), list) else None
        self.on_failure = self.finally_ = None
        self.yaml_path, self.position = path, position
        self.lists = []
        for key in STEP_LIST_KEYS:
            if isinstance(raw.get(key), list):
                kind = _KINDS.get(key, BODY if "foreach" in raw else WORK)
                self.lists.append(((key,), raw[key], kind))
        if isinstance(raw.get("cases"), dict):
            self.lists.extend((("cases", name), case, CASE) for name, case in raw["cases"].items()
                              if isinstance(case, list))

    @property
    def item_name(self) -> str:
        name = self.raw.get("as", "item")
        return name if isinstance(name, str) and _ID.match(name) else "item"

    @property
    def repeats(self) -> bool:
        return isinstance(self.raw.get("repeat"), dict) and "foreach" not in self.raw


def lists_of(step) -> list[tuple[tuple, list, str]]:
    """Every list of steps ``step`` (or a Workflow) holds, as ``(key path, steps, kind)``;
    its own work first, then its hooks and its compensation."""
    if type(step) is ActionStep and not step.compensate:  # most steps: nothing to build
        return []
    if isinstance(step, Broken):
        return step.lists
    out = []
    if isinstance(step, ParallelStep):
        out.append((("parallel",), step.parallel, BRANCHES))
    elif isinstance(step, ForeachStep):
        out.append((("steps",), step.steps, BODY))
    elif isinstance(step, (GroupStep, Workflow)):
        out.append((("steps",), step.steps, WORK))
    elif isinstance(step, SwitchStep):
        out.extend((("cases", name), case, CASE) for name, case in step.cases.items())
        if step.default is not None:
            out.append((("default",), step.default, CASE))
    extras = _EXTRAS.get(type(step))
    if extras is None:  # hooks first, then the compensation (spec.extra_lists: which the model has)
        has = {attr for _, attr in extra_lists(type(step))}
        extras = _EXTRAS[type(step)] = tuple(one for one in _EXTRA_ORDER if one[1] in has)
    for key, attr, kind in extras:
        value = getattr(step, attr)
        if value:
            out.append((key, value, kind))
    return out


_EXTRA_ORDER = ((("on_failure",), "on_failure", HOOK), (("finally",), "finally_", HOOK),
                (("compensate",), "compensate", COMP))
_EXTRAS: dict[type, tuple] = {}


def names_in(step, kind: str, names: set) -> set:
    """The names (besides step ids) readable inside a list of ``kind`` held by ``step``."""
    if kind == BODY and isinstance(step, ForeachStep):
        return names | {step.as_, "loop"}
    if kind == BODY and isinstance(step, Broken):
        return names | {step.item_name, "loop"}
    if kind == WORK and (getattr(step, "repeat", None) is not None
                         or isinstance(step, Broken) and step.repeats):
        return names | {"loop"}
    if kind == HOOK:
        return names | {"error", "run"}
    return names


def until_of(step) -> str | None:
    """The expression of a repeat's ``until`` (a group's, or a stand-in's when it is text)."""
    if isinstance(step, GroupStep) and step.repeat is not None:
        return condition_source(step.repeat.until)
    if isinstance(step, Broken) and step.repeats and isinstance(step.raw["repeat"].get("until"), str):
        return condition_source(step.raw["repeat"]["until"])
    return None


def walk(workflow):
    """Yield ``(step, parent or None, kind of the list holding it)`` over every step of the
    workflow, hooks and compensations included, depth first. No recursion."""
    todo = [(step, None, kind) for _, steps, kind in reversed(lists_of(workflow)) for step in reversed(steps)]
    while todo:
        step, parent, kind = todo.pop()
        yield step, parent, kind
        todo.extend((child, step, inner) for _, steps, inner in reversed(lists_of(step))
                    for child in reversed(steps))
