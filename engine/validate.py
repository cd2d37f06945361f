"""The format's semantic rules, checked on the built models before anything runs.

Ids unique and not reserved; actions known (with "did you mean"); parameters valid for
their action; ``needs`` pointing at earlier steps, without cycles; every reference in an
expression pointing at a step that is certain to have finished (through the sequence,
``needs`` or an enclosing block) — a foreach body's ids are visible only inside it.
"""

from __future__ import annotations

import difflib

from .errors import ExpressionError, Issue
from .expressions import RESERVED, condition_source, expressions_in, references
from .spec import ActionStep, ForeachStep, GroupStep, ParallelStep, Workflow, children, walk_steps

_TYPES = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
          "object": (dict,), "array": (list,)}


def type_matches(kind: str, value) -> bool:
    """True when ``value`` is of input type ``kind``."""
    if isinstance(value, bool) and kind in ("number", "integer"):
        return False
    return isinstance(value, _TYPES[kind])


def exports(step) -> set[str]:
    """Ids readable once ``step`` has finished: itself, and the steps of its branches and groups."""
    out = {step.id}
    if isinstance(step, (ParallelStep, GroupStep)):
        for child in children(step):
            out |= exports(child)
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

    def add(self, path: tuple, message: str, at_value: bool = False) -> None:
        self.issues.append(self.doc.issue(path, message, at_value))

    def run(self) -> list[Issue]:
        self.check_inputs()
        self.check_ids()
        self.check_actions()
        final = self.check_list(self.wf.steps, frozenset(), {"inputs", "secrets"})
        if self.wf.outputs:
            for key, value in self.wf.outputs.items():
                self.check_value(value, ("outputs", key), final, {"inputs", "secrets"})
        for name in self.wf.limits.actions:
            if self.registry.get(name) is None:
                self.add(("limits", "actions", name), f"unknown action '{name}'{self.hint(name, self.registry.names())}")
        return self.issues

    # -- inputs, ids, actions --------------------------------------------------------------
    def check_inputs(self) -> None:
        for name, spec in self.wf.inputs.items():
            if "default" in spec.model_fields_set and spec.default is not None and not type_matches(spec.type, spec.default):
                self.add(("inputs", name, "default"), f"default of input '{name}' is not of type {spec.type}")
            if name in ("inputs", "secrets", "loop"):
                self.add(("inputs", name), f"'{name}' is reserved")

    def check_ids(self) -> None:
        for step, _parent in walk_steps(self.wf.steps):
            if step.id in self.steps:
                first = self.steps[step.id]
                self.add(step.yaml_path + ("id",),
                         f"duplicate id '{step.id}' (first used at line {first.position[0]})")
            else:
                self.steps[step.id] = step
            if step.id in RESERVED:
                self.add(step.yaml_path + ("id",), f"'{step.id}' is a reserved name; choose another id")
            if isinstance(step, ForeachStep):
                for inner, _ in walk_steps(step.steps):
                    self.body_of.setdefault(inner.id, step.id)
                if step.as_ in RESERVED:
                    self.add(step.yaml_path + ("as",), f"'{step.as_}' is a reserved name")
        for step, _ in walk_steps(self.wf.steps):
            if isinstance(step, ForeachStep) and step.as_ in self.steps:
                self.add(step.yaml_path + ("as",), f"'{step.as_}' is also a step id; choose another item name")
            if isinstance(step, ParallelStep) and step.min_success is not None and step.min_success > len(step.parallel):
                self.add(step.yaml_path + ("min_success",),
                         f"min_success is {step.min_success} but there are only {len(step.parallel)} branches")

    def check_actions(self) -> None:
        names = self.registry.names()
        for step, _ in walk_steps(self.wf.steps):
            if not isinstance(step, ActionStep):
                continue
            action = self.registry.get(step.uses)
            if action is None:
                self.add(step.yaml_path + ("uses",), f"unknown action '{step.uses}'{self.hint(step.uses, names)}")
                continue
            for loc, message in action.check(step.with_, self.settings):
                self.add(step.yaml_path + ("with",) + tuple(loc), message)
            if step.uses == "workflow" and step.with_.get("name") == self.wf.name:
                self.add(step.yaml_path + ("with", "name"), f"workflow '{self.wf.name}' cannot call itself")

    # -- order and references --------------------------------------------------------------
    def check_list(self, steps: list, visible: frozenset, names: set) -> frozenset:
        """Check a sequence; return the ids visible once all of it has finished."""
        index = {s.id: i for i, s in enumerate(steps)}
        cyclic = self.find_cycles(steps, index)
        after: list[frozenset] = []
        for i, step in enumerate(steps):
            if step.needs is not None:
                before = set(visible)
                for j, need in enumerate(step.needs):
                    where = step.yaml_path + ("needs", j)
                    if need in index and index[need] < i:
                        before |= after[index[need]]
                    elif need in index and step.id in cyclic:
                        continue
                    elif need == step.id:
                        self.add(where, f"step '{step.id}' cannot need itself")
                    elif need in index:
                        self.add(where, f"'{need}' comes after '{step.id}': needs may name only earlier steps")
                    elif need in visible or need in self.broken:
                        continue
                    else:
                        self.add(where, self.describe_unknown(need, visible | names, "needs"))
                pre = frozenset(before)
            else:
                pre = after[i - 1] if i else visible
            self.check_step(step, pre, names)
            after.append(pre | exports(step))
        done = set(visible)
        for ids in after:
            done |= ids
        return frozenset(done)

    def find_cycles(self, steps: list, index: dict) -> set[str]:
        graph = {s.id: [n for n in (s.needs or []) if n in index] for s in steps}
        on_cycle: set[str] = set()
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            trail.append(node)
            for nxt in graph[node]:
                if state.get(nxt) == 1:
                    cycle = trail[trail.index(nxt):] + [nxt]
                    if not on_cycle.issuperset(cycle):
                        on_cycle.update(cycle)
                        step = steps[index[cycle[0]]]
                        self.add(step.yaml_path + ("needs",), "needs cycle: " + " → ".join(cycle))
                elif nxt not in state:
                    visit(nxt, trail)
            trail.pop()
            state[node] = 2

        for step in steps:
            if step.id not in state:
                visit(step.id, [])
        return on_cycle

    def check_step(self, step, visible: frozenset, names: set) -> None:
        path = step.yaml_path
        if step.if_ is not None:
            expr = condition_source(step.if_)
            if expr is not None:
                self.check_expression(expr, path + ("if",), visible, names)
        if isinstance(step, ActionStep):
            self.check_value(step.with_, path + ("with",), visible, names)
        elif isinstance(step, ParallelStep):
            for branch in step.parallel:
                self.check_list([branch], visible, names)
        elif isinstance(step, ForeachStep):
            self.check_value(step.foreach, path + ("foreach",), visible, names)
            if isinstance(step.foreach, str) and "${" not in step.foreach:
                self.add(path + ("foreach",), "foreach takes a list or an expression like ${step.items}")
            self.check_list(step.steps, visible, names | {step.as_, "loop"})
        elif isinstance(step, GroupStep):
            self.check_list(step.steps, visible, names)

    def check_value(self, value, path: tuple, visible: frozenset, names: set) -> None:
        try:
            found = list(expressions_in(value))
        except ExpressionError as exc:
            self.add(path, f"invalid expression: {exc.message}", True)
            return
        for sub, expr in found:
            self.check_expression(expr, path + sub, visible, names)

    def check_expression(self, expr: str, path: tuple, visible: frozenset, names: set) -> None:
        try:
            refs = references(expr)
        except ExpressionError as exc:
            self.add(path, f"invalid expression ${{{expr.strip()}}}: {exc.message}", True)
            return
        for root, keys in refs:
            if root in names:
                if root == "inputs" and keys and isinstance(keys[0], str) and keys[0] not in self.wf.inputs:
                    self.add(path, f"unknown input '{keys[0]}'{self.hint(keys[0], list(self.wf.inputs))}", True)
                if (root == "secrets" and self.secrets is not None and keys and isinstance(keys[0], str)
                        and keys[0] not in self.secrets):
                    self.add(path, f"unknown secret '{keys[0]}'{self.hint(keys[0], self.secrets)}", True)
                continue
            if root in visible or root in self.broken:
                continue
            self.add(path, self.describe_unknown(root, visible | names, "reference"), True)

    def describe_unknown(self, name: str, candidates, what: str) -> str:
        if name in self.body_of and name in self.steps:
            block = self.body_of[name]
            return (f"'{name}' is inside the body of foreach '{block}' and is not visible here; "
                    f"use ${{{block}}} for the list of results")
        if name in self.steps:
            return (f"step '{name}' may not have run yet here: reference only steps that finish "
                    f"before this one (earlier in the sequence, in needs, or before the enclosing block)")
        noun = "unknown step" if what == "needs" else "unknown reference"
        return f"{noun} '{name}'{self.hint(name, candidates)}"

    @staticmethod
    def hint(name: str, candidates) -> str:
        close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
        return f" (did you mean '{close[0]}'?)" if close else ""


def check_workflow(workflow: Workflow, doc, registry, settings, broken=frozenset(), secrets=None) -> list[Issue]:
    """Every semantic problem of a workflow (``broken``: ids of steps that failed to build;
    ``secrets``: the secret names that exist, or None not to check them)."""
    return _Checker(workflow, doc, registry, settings, broken, secrets).run()
