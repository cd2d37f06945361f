"""The format's semantic rules, checked on the built models before anything runs.

Ids unique and not reserved; actions known (with "did you mean"); parameters valid for
their action; ``needs`` pointing at earlier steps, without cycles; every reference in an
expression pointing at a step that is certain to have finished (through the sequence,
``needs`` or an enclosing block) — a foreach body's ids are visible only inside it; and the
run budgets a workflow would certainly pass (a literal foreach list too long, nested
literal lists multiplying past the run's step or item budget).

Workflows are hostile input, so the checks are linear in the size of the document and never
recurse deeper than its nesting (bounded by ``source.MAX_DEPTH``). Visibility is answered
per reference instead of keeping a set of visible ids per step (that was quadratic: 10 000
steps took 2.4 GB). Every list of steps numbers its steps; a step's in-list ancestors (the
steps certain to have finished before it starts) are a set of those numbers kept as a prefix
and a bitmask (a sequence or a chain of needs is just "every step before"), built from the
sets of the steps it waits for and dropped after the last step that waits for them. An
id is visible at a step when, in some list on the way from the top to that step, the id's
step (or the parallel or group holding it) is an ancestor of the step holding the reference.
Cycles are found with an iterative Tarjan walk. Anything unexpected raised while checking one
step becomes an issue at that step, never an exception out of ``load``.
"""

from __future__ import annotations

import difflib
import logging

from .errors import ExpressionError, Issue
from .expressions import RESERVED, condition_source, expressions_in, references
from .needs import NONE, adding, cycle_path, find_cycles, has, members, union
from .spec import ActionStep, ForeachStep, GroupStep, ParallelStep, Workflow, children, walk_steps

log = logging.getLogger(__name__)

_TYPES = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
          "object": (dict,), "array": (list,)}
#: candidate names did-you-mean may compare in one workflow (difflib is slow on thousands)
HINT_BUDGET = 200_000
MAX_PATH = 400  # characters of a step's run-time path (``a.b[12].c``): what every store keeps
_MANY = 10**18  # counts stop growing here (nested literal lists could multiply without end)


def type_matches(kind: str, value) -> bool:
    """True when ``value`` is of input type ``kind``."""
    if isinstance(value, bool) and kind in ("number", "integer"):
        return False
    return isinstance(value, _TYPES[kind])


def exports(step) -> set[str]:
    """Ids readable once ``step`` has finished: itself, and the steps of its branches and groups."""
    out = set()
    todo = [step]
    while todo:
        one = todo.pop()
        out.add(one.id)
        if isinstance(one, (ParallelStep, GroupStep)):
            todo.extend(children(one))
    return out


class _Checker:
    def __init__(self, workflow: Workflow, doc, registry, settings, broken=frozenset(), secrets=None):
        self.wf = workflow
        self.doc = doc
        self.registry = registry
        self.settings = settings
        self.issues: list[Issue] = []
        self.broken = frozenset(broken)  # ids of steps that failed to build: reported already
        self.secrets = None if secrets is None else sorted(secrets)
        self.steps = {}
        self.body_of: dict[str, str] = {}  # step id -> id of the foreach whose body holds it
        self.lists: list[list] = []  # list number -> its steps (a parallel branch is a list of one)
        self.list_of: dict[int, int] = {}  # id(step) -> number of the list it is in
        self.chains: dict[str, list[tuple]] = {}  # step id -> [(list, index, holder's entry or None)]
        self.active: dict[int, tuple] = {}  # list number -> ancestors of its step being checked
        self.hint_budget = HINT_BUDGET
        self.logged = False

    def add(self, path: tuple, message: str, at_value: bool = False) -> None:
        self.issues.append(self.doc.issue(path, message, at_value))

    def guarded(self, path: tuple, check, *args) -> None:
        """Run one check; anything it raises unexpectedly becomes an issue at ``path``."""
        try:
            check(*args)
        except RecursionError:
            self.add(path, "too deeply nested to check")
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never escape load()
            if not self.logged:  # once: a hostile file could otherwise fill the log
                self.logged = True
                log.exception("checking %s failed", path)
            self.add(path, f"could not be checked ({type(exc).__name__}: {str(exc)[:200]})")

    def run(self) -> list[Issue]:
        self.check_inputs()
        self.check_ids()
        self.check_actions()
        self.number(self.wf.steps, None)
        self.check_list(self.wf.steps, {"inputs", "secrets"})
        if self.wf.outputs:
            top = self.list_of.get(id(self.wf.steps[0])) if self.wf.steps else None
            self.active = {} if top is None else {top: (len(self.wf.steps), 0)}
            for key, value in self.wf.outputs.items():
                self.guarded(("outputs", key), self.check_value, value, ("outputs", key), {"inputs", "secrets"})
        for name in self.wf.limits.actions:
            if self.registry.get(name) is None:
                self.add(("limits", "actions", name), f"unknown action '{name}'{self.hint(name, self.registry.names())}")
        budgets = getattr(self.settings, "budgets", None)
        if budgets is not None:
            _Budget(self, budgets).count(self.wf.steps, 1)
        return self.issues

    # -- inputs, ids, actions --------------------------------------------------------------
    def check_inputs(self) -> None:
        for name, spec in self.wf.inputs.items():
            if "default" in spec.model_fields_set and spec.default is not None and not type_matches(spec.type, spec.default):
                self.add(("inputs", name, "default"), f"default of input '{name}' is not of type {spec.type}")
            if name in ("inputs", "secrets", "loop"):
                self.add(("inputs", name), f"'{name}' is reserved")

    def check_ids(self) -> None:
        lengths: dict[str, int] = {}  # step id -> the length of its run-time path (foreach indexes counted large)
        for step, parent in walk_steps(self.wf.steps):
            above = lengths.get(parent.id, 0) if parent is not None else 0
            length = lengths[step.id] = (above + 1 + (12 if isinstance(parent, ForeachStep) else 0)
                                         if parent is not None else 0) + len(step.id)
            if length > MAX_PATH >= above:  # said once, where it first happens
                self.add(step.yaml_path + ("id",), f"this step's path would be about {length} characters, more than "
                                                   f"{MAX_PATH}: use shorter ids or nest less deeply")
            if step.id in self.steps:
                first = self.steps[step.id]
                self.add(step.yaml_path + ("id",),
                         f"duplicate id '{step.id}' (first used at line {first.position[0]})")
            else:
                self.steps[step.id] = step
            if step.id in RESERVED:
                self.add(step.yaml_path + ("id",), f"'{step.id}' is a reserved name; choose another id")
            if parent is not None:  # the outermost foreach whose body holds the step
                owner = self.body_of.get(parent.id, parent.id if isinstance(parent, ForeachStep) else None)
                if owner is not None:
                    self.body_of.setdefault(step.id, owner)
            if isinstance(step, ForeachStep) and step.as_ in RESERVED:
                self.add(step.yaml_path + ("as",), f"'{step.as_}' is a reserved name")
        for step, _ in walk_steps(self.wf.steps):
            if isinstance(step, ForeachStep) and step.as_ in self.steps:
                self.add(step.yaml_path + ("as",), f"'{step.as_}' is also a step id; choose another item name")
            if isinstance(step, (ParallelStep, ForeachStep)) and step.min_success is not None \
                    and step.on_error == "continue":
                self.add(step.yaml_path + ("min_success",),
                         "min_success cannot go with on_error: continue: min_success already lets the block "
                         "succeed with failed children (it fails once fewer than min_success can succeed); "
                         "keep one of them")
            if isinstance(step, ParallelStep) and step.min_success is not None and step.min_success > len(step.parallel):
                self.add(step.yaml_path + ("min_success",),
                         f"min_success is {step.min_success} but there are only {len(step.parallel)} branches")

    def check_actions(self) -> None:
        names = self.registry.names()
        for step, _ in walk_steps(self.wf.steps):
            if isinstance(step, ActionStep):
                self.guarded(step.yaml_path, self.check_action, step, names)

    def check_action(self, step: ActionStep, names) -> None:
        action = self.registry.get(step.uses)
        if action is None:
            self.add(step.yaml_path + ("uses",), f"unknown action '{step.uses}'{self.hint(step.uses, names)}")
            return
        for loc, message in action.check(step.with_, self.settings):
            self.add(step.yaml_path + ("with",) + tuple(loc), message)
        if step.uses == "workflow" and step.with_.get("name") == self.wf.name:
            self.add(step.yaml_path + ("with", "name"), f"workflow '{self.wf.name}' cannot call itself")

    # -- order and references --------------------------------------------------------------
    def number(self, steps: list, up: tuple | None) -> None:
        """Number every list of steps; record for each id where it is readable from.

        ``up`` is ``(list, index, up)`` of the parallel or group holding these steps (None
        at the top or in a foreach body, whose ids are readable only inside it).
        """
        no = len(self.lists)
        self.lists.append(steps)
        for i, step in enumerate(steps):
            here = (no, i, up)
            self.list_of[id(step)] = no
            self.chains.setdefault(step.id, []).append(here)
            if isinstance(step, ParallelStep):
                for branch in step.parallel:
                    self.number([branch], here)
            elif isinstance(step, GroupStep):
                self.number(step.steps, here)
            elif isinstance(step, ForeachStep):
                self.number(step.steps, None)

    def visible(self, name: str) -> bool:
        """Is step ``name`` certain to have finished before the step being checked?"""
        for here in self.chains.get(name, ()):
            while here is not None:
                no, i, here = here
                mask = self.active.get(no)
                if mask is not None and has(mask, i):
                    return True
        return False

    def visible_ids(self):
        """Every id visible at the step being checked (for did-you-mean)."""
        for no, mask in list(self.active.items()):
            for i in members(mask):
                yield from exports(self.lists[no][i])

    def check_list(self, steps: list, names: set) -> None:
        """Check a sequence: its needs, cycles and each step with what it may read."""
        if not steps:
            return
        no = self.list_of[id(steps[0])]
        index = {s.id: i for i, s in enumerate(steps)}
        cyclic: set[int] = set()
        for ring in find_cycles(steps, index):
            cyclic.update(ring)
            path = cycle_path(steps, index, ring)
            ids = [steps[k].id for k in path]
            text = " → ".join(ids if len(ids) <= 12 else ids[:5] + ["…"] + ids[-3:])
            if len(ids) > 12:  # a cycle through 3 000 steps is named by its ends
                text += f" ({len(ids) - 1} steps)"
            self.add(steps[path[0]].yaml_path + ("needs",), "needs cycle: " + text)
        deps: list[list[int]] = []
        last_use: dict[int, int] = {}
        for i, step in enumerate(steps):
            if step.needs is None:
                mine = [i - 1] if i else []
            else:
                mine = sorted({index[n] for n in step.needs if n in index and index[n] < i})
            deps.append(mine)
            for d in mine:
                last_use[d] = i
        done: dict[int, tuple] = {}  # index -> its ancestors and itself, while a later step needs it
        for i, step in enumerate(steps):
            if step.needs is not None:
                self.active[no] = NONE  # needs outside this list name what finished before it began
                self.check_needs(step, i, index, i in cyclic, names)
            mask = NONE
            for d in deps[i]:
                mask = union(mask, done[d])
                if last_use[d] == i:
                    del done[d]
            if i in last_use:
                done[i] = adding(mask, i)
            self.active[no] = mask
            self.check_step(step, names)
        del self.active[no]

    def check_needs(self, step, i: int, index: dict, cyclic: bool, names: set) -> None:
        for j, need in enumerate(step.needs):
            where = step.yaml_path + ("needs", j)
            if need == step.id:
                self.add(where, f"step '{step.id}' cannot need itself")
            elif need in index and index[need] < i:
                continue
            elif need in index and cyclic:
                continue
            elif need in index:
                self.add(where, f"'{need}' comes after '{step.id}': needs may name only earlier steps")
            elif self.visible(need) or need in self.broken:
                continue
            else:
                self.add(where, self.describe_unknown(need, names, "needs"))

    def check_step(self, step, names: set) -> None:
        path = step.yaml_path
        if step.if_ is not None:
            expr = condition_source(step.if_)
            if expr is not None:
                self.guarded(path + ("if",), self.check_expression, expr, path + ("if",), names)
        if isinstance(step, ActionStep):
            self.guarded(path + ("with",), self.check_value, step.with_, path + ("with",), names)
        elif isinstance(step, ParallelStep):
            for branch in step.parallel:
                self.check_list([branch], names)
        elif isinstance(step, ForeachStep):
            self.guarded(path + ("foreach",), self.check_value, step.foreach, path + ("foreach",), names)
            if isinstance(step.foreach, str) and "${" not in step.foreach:
                self.add(path + ("foreach",), "foreach takes a list or an expression like ${step.items}")
            self.check_list(step.steps, names | {step.as_, "loop"})
        elif isinstance(step, GroupStep):
            self.check_list(step.steps, names)

    def check_value(self, value, path: tuple, names: set) -> None:
        try:
            found = list(expressions_in(value))
        except ExpressionError as exc:
            self.add(path, f"invalid expression: {exc.message}", True)
            return
        for sub, expr in found:
            self.guarded(path + sub, self.check_expression, expr, path + sub, names)

    def check_expression(self, expr: str, path: tuple, names: set) -> None:
        try:
            refs = references(expr)
        except ExpressionError as exc:
            shown = expr.strip()
            if len(shown) > 80:
                shown = shown[:60] + "…" + shown[-10:]
            self.add(path, f"invalid expression ${{{shown}}}: {exc.message}", True)
            return
        for root, keys in refs:
            if root in names:
                if root == "inputs" and keys and isinstance(keys[0], str) and keys[0] not in self.wf.inputs:
                    self.add(path, f"unknown input '{keys[0]}'{self.hint(keys[0], self.wf.inputs)}", True)
                if (root == "secrets" and self.secrets is not None and keys and isinstance(keys[0], str)
                        and keys[0] not in self.secrets):
                    self.add(path, f"unknown secret '{keys[0]}'{self.hint(keys[0], self.secrets)}", True)
                continue
            if root in self.broken or self.visible(root):
                continue
            self.add(path, self.describe_unknown(root, names, "reference"), True)

    def in_scope(self, name: str) -> bool:
        """Is the list holding step ``name`` (or its parallel or group) being checked?"""
        for here in self.chains.get(name, ()):
            while here[2] is not None:
                here = here[2]
            if here[0] in self.active:
                return True
        return False

    def describe_unknown(self, name: str, names: set, what: str) -> str:
        if name in self.body_of and name in self.steps and not self.in_scope(name):
            block = self.body_of[name]
            return (f"'{name}' is inside the body of foreach '{block}' and is not visible here; "
                    f"use ${{{block}}} for the list of results")
        if name in self.steps:
            return (f"step '{name}' may not have run yet here: reference only steps that finish "
                    f"before this one (earlier in the sequence, in needs, or before the enclosing block)")
        noun = "unknown step" if what == "needs" else "unknown reference"
        return f"{noun} '{name}'{self.hint(name, self.candidates(names))}"

    def candidates(self, names: set):
        yield from names
        yield from self.visible_ids()

    def hint(self, name: str, candidates) -> str:
        """`` (did you mean 'x'?)``, while the workflow's budget of compared names lasts."""
        pool = set()
        for candidate in candidates:
            pool.add(candidate)
            if len(pool) > 100 and len(pool) > self.hint_budget:
                self.hint_budget = 0
                return ""
        if len(pool) > 100:
            self.hint_budget -= len(pool)
        close = difflib.get_close_matches(name, sorted(pool), n=1, cutoff=0.6)
        return f" (did you mean '{close[0]}'?)" if close else ""


class _Budget:
    """The run budgets a workflow would pass if every step ran once (literal foreach lists only)."""

    def __init__(self, checker: _Checker, budgets):
        self.checker = checker
        self.budgets = budgets
        self.spent = {"steps": 0, "sub_runs": 0, "items": 0}
        self.reported: set[str] = set()

    def count(self, steps: list, times: int) -> None:
        for step in steps:
            if step.if_ is False:
                continue
            if isinstance(step, ActionStep):
                self.spend("steps", times, step, "action steps", "WORKFLOW_MAX_STEPS")
                if step.uses == "workflow":
                    self.spend("sub_runs", times, step, "sub-workflow runs", "WORKFLOW_MAX_SUB_RUNS")
            elif isinstance(step, ForeachStep):
                if not isinstance(step.foreach, list):
                    continue  # known only at run time: the budget is checked then
                n = len(step.foreach)
                limit = self.budgets.items_per_block
                if n > limit:
                    self.checker.add(step.yaml_path + ("foreach",), f"{n:,} items is more than a foreach may "
                                     f"have ({limit:,}, the WORKFLOW_MAX_ITEMS setting)")
                self.spend("items", times * n, step, "foreach items", "WORKFLOW_MAX_RUN_ITEMS")
                self.count(step.steps, min(times * n, _MANY))
            else:
                self.count(children(step), times)

    def spend(self, what: str, amount: int, step, noun: str, setting: str) -> None:
        self.spent[what] = min(self.spent[what] + amount, _MANY)
        limit = getattr(self.budgets, "items_per_run" if what == "items" else what)
        if self.spent[what] > limit and what not in self.reported:
            self.reported.add(what)
            self.checker.add(step.yaml_path, f"with this step a run would start at least {self.spent[what]:,} "
                             f"{noun}, more than its budget of {limit:,} (the {setting} setting)")


def check_workflow(workflow: Workflow, doc, registry, settings, broken=frozenset(), secrets=None) -> list[Issue]:
    """Every semantic problem of a workflow (``broken``: ids of steps that failed to build;
    ``secrets``: the secret names that exist, or None not to check them)."""
    return _Checker(workflow, doc, registry, settings, broken, secrets).run()
