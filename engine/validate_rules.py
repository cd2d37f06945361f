"""The rules of single steps, checked in one walk over every step (hooks, cases and
compensations included): ids and their run-time paths, actions and their parameters, block
policies, switch cases, rollback and compensation, approvals.

Each rule looks at a step and at facts its parent handed down (is it inside a compensation,
a hook, how long is its run-time path), so the walk stays linear and never recurses.
"""

from __future__ import annotations

import re

from .expressions import RESERVED
from .spec import ActionStep, ForeachStep, GroupStep, ParallelStep, SwitchStep
from .validate_tree import BODY, COMP, HOOK, WORK, Broken, walk

MAX_PATH = 400  # characters of a step's run-time path (``a.b[12].c``): what every store keeps
_FOREACH_INDEX = 12  # ``[123456789]``: a foreach's items are known only at run time
_USER = re.compile(r"^[\w.@+-]{1,150}$")  # a Django user name
_TOP = "workflow"


def check_steps(c) -> None:
    """Every rule of every step; ``c`` is the validate._Checker (issues, hints, settings)."""
    facts: dict[int, tuple] = {}  # id(step) -> (run-time path length, inside compensate, inside a hook)
    undo: set = set()  # blocks (id of the step, or _TOP) holding a step with compensate in their work
    parent_of: dict[int, tuple] = {}
    rollbacks = []
    for step, parent, kind in walk(c.wf):
        above, in_comp, in_hook = facts[id(parent)] if parent is not None else (0, False, False)
        length = (above + 1 + _extra(parent, kind) if parent is not None else 0) + len(step.id or "?")
        facts[id(step)] = (length, in_comp or kind == COMP, in_hook or kind == HOOK)
        parent_of[id(step)] = (parent, kind)
        if length > MAX_PATH >= above:  # said once, where it first happens
            c.add(step.yaml_path + ("id",), f"this step's path would be about {length} characters, more than "
                                            f"{MAX_PATH}: use shorter ids or nest less deeply")
        if not isinstance(step, Broken):
            check_id(c, step)
        if getattr(step, "compensate", None):
            if in_comp or kind == COMP:
                c.add(step.yaml_path + ("compensate",),
                      "a compensation's steps cannot have their own compensate: a compensation runs only "
                      "during a rollback, and nothing rolls it back")
            _mark_undo(step, parent_of, undo)
        if not isinstance(step, (SwitchStep, Broken)) and step.on_error == "rollback":  # the others have one
            rollbacks.append(step)
        if isinstance(step, (ActionStep, Broken)) and step.uses is not None:
            c.guarded(step.yaml_path, check_action, c, step, in_comp or kind == COMP, in_hook or kind == HOOK)
        elif isinstance(step, (ParallelStep, ForeachStep)):
            check_quorum(c, step)
        elif isinstance(step, SwitchStep):
            check_cases(c, step)
    for step in rollbacks:
        if id(step) not in undo:
            c.add(step.yaml_path + ("on_error",), "nothing to roll back: add compensate to the steps that can be "
                                                  "undone")
    if c.wf.on_error == "rollback" and _TOP not in undo:
        c.add(("on_error",), "nothing to roll back: add compensate to the steps that can be undone")
    for step, _, _ in walk(c.wf):  # once every id is known
        if isinstance(step, ForeachStep) and step.as_ in c.steps:
            c.add(step.yaml_path + ("as",), f"'{step.as_}' is also a step id; choose another item name")


def _extra(parent, kind: str) -> int:
    """What the run-time path adds between a parent and a step: ``[12]``, ``.compensate``."""
    if kind == BODY:
        return _FOREACH_INDEX
    if kind == COMP:
        return len(".compensate")
    if kind == WORK and isinstance(parent, GroupStep) and parent.repeat is not None:
        return len(f"[{parent.repeat.max - 1}]")
    return 0


def _mark_undo(step, parent_of: dict, undo: set) -> None:
    """Note that every block around ``step`` (up to a hook or compensation) has something to undo."""
    node = step
    while True:
        parent, kind = parent_of[id(node)]
        if kind in (HOOK, COMP):
            return
        key = _TOP if parent is None else id(parent)
        if key in undo:
            return  # and so are the blocks above it
        undo.add(key)
        if parent is None:
            return
        node = parent


def check_id(c, step) -> None:
    """Unique, not reserved; a foreach's item name not reserved."""
    if step.id in c.steps:
        first = c.steps[step.id]
        c.add(step.yaml_path + ("id",), f"duplicate id '{step.id}' (first used at line {first.position[0]})")
    else:
        c.steps[step.id] = step
    if step.id in RESERVED:
        c.add(step.yaml_path + ("id",), f"'{step.id}' is a reserved name; choose another id")
    if isinstance(step, ForeachStep) and step.as_ in RESERVED:
        c.add(step.yaml_path + ("as",), f"'{step.as_}' is a reserved name")


def check_quorum(c, step) -> None:
    """min_success fits the block."""
    if step.min_success is not None and step.on_error == "continue":
        c.add(step.yaml_path + ("min_success",),
              "min_success cannot go with on_error: continue: min_success already lets the block "
              "succeed with failed children (it fails once fewer than min_success can succeed); "
              "keep one of them")
    if isinstance(step, ParallelStep) and step.min_success is not None and step.min_success > len(step.parallel):
        c.add(step.yaml_path + ("min_success",),
              f"min_success is {step.min_success} but there are only {len(step.parallel)} branches")


def check_cases(c, step: SwitchStep) -> None:
    """Case names written as text; an empty case only beside a default."""
    typed = c.doc.typed_keys or {}
    for name, case in step.cases.items():
        where = step.yaml_path + ("cases", name)
        if where in typed:
            text, kind = typed[where]
            c.add(where, f"case {text} is a {kind} in YAML, not text: quote it ('{text}'); a case is named by "
                         f"the text of the value (true, false, null, 3, 2.5, invoice)")
        if not case and step.default is None:
            c.add(where, f"case '{name}' is empty: an empty case needs a default beside it (without one, an "
                         f"unmatched value skips the switch just the same); add steps or a default")


def check_action(c, step, in_comp: bool, in_hook: bool) -> None:
    """The action exists, its parameters fit, and it can run where it stands."""
    action = c.registry.get(step.uses)
    if action is None:
        c.add(step.yaml_path + ("uses",), f"unknown action '{step.uses}'{c.hint(step.uses, c.registry.names())}")
        return
    params = step.with_ if isinstance(step, ActionStep) else step.raw.get("with", {})
    if not isinstance(params, dict):
        return  # a stand-in whose with is no mapping: said when it was built
    for loc, message in action.check(params, c.settings):
        c.add(step.yaml_path + ("with",) + tuple(loc), message)
    if step.uses == "workflow":
        check_call(c, step, params.get("name"))
    elif step.uses == "approval":
        check_approval(c, step, params, in_comp, in_hook)


def check_call(c, step, name) -> None:
    """A ``workflow`` step names a workflow that exists (when the names are known), not its own."""
    if not isinstance(name, str) or "${" in name:
        return
    where = step.yaml_path + ("with", "name")
    if name == c.wf.name and "name" not in c.partial:
        c.add(where, f"workflow '{c.wf.name}' cannot call itself")
    elif c.workflows is not None and name not in c.workflows:
        c.add(where, f"no workflow named '{name[:100]}'{c.hint(name, c.workflows)}")


def check_approval(c, step, params: dict, in_comp: bool, in_hook: bool) -> None:
    """Approvers are user names; an approval never sits where nobody can be asked."""
    approvers = params.get("approvers")
    if isinstance(approvers, list):
        for i, name in enumerate(approvers):
            if isinstance(name, str) and "${" not in name and not _USER.match(name):
                shown = repr(name) if len(name) <= 60 else repr(name[:50] + "…")
                c.add(step.yaml_path + ("with", "approvers", i),
                      f"approver {shown} is not a user name (letters, digits and @ . + - _, at most 150)")
    if in_comp:
        c.add(step.yaml_path + ("uses",), "an approval cannot be inside compensate: a rollback cannot wait "
                                          "for a person (ask before the step instead)")
    elif in_hook:
        c.add(step.yaml_path + ("uses",), "an approval cannot be inside on_failure or finally: they run as the "
                                          "block or run ends, when nobody can be asked (ask before the block)")

