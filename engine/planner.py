"""Validated workflow → Plan: a tree of step nodes with their dependencies resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .actions import Action, ActionRegistry, default_registry
from .expressions import condition_source, has_expression
from .loader import collector_paused
from .source import path_str
from .spec import ActionStep, ForeachStep, GroupStep, ParallelStep, SwitchStep, Workflow, walk_steps
from .values import lenient


@dataclass(slots=True, eq=False)
class Node:
    """One step of the plan. ``deps`` index earlier nodes of the same list (DAG lists only)."""

    step: Any
    kind: str
    id: str
    yaml_path: str
    children: list["Node"] = field(default_factory=list)
    dag: bool = False  # children form a needs-DAG rather than a plain sequence
    deps: tuple[int, ...] = ()
    action: Action | None = None
    params: Any = None  # pre-validated parameters when ``with`` holds no expression
    shown: Any = None  # those parameters as plain data, for the step.started event
    condition: str | None = None  # expression of ``if``
    skip: bool = False  # ``if: false`` literally
    #: the other step lists a step may hold, as ``(nodes, dag)``: a switch's cases (and its
    #: default under ``None``), a block's hooks, a step's compensation
    cases: dict | None = None
    on_failure: tuple | None = None
    finally_: tuple | None = None
    compensate: tuple | None = None
    until: str | None = None  # expression of ``repeat.until``
    policy: str = "fail_fast"  # how the step list of a group, parallel or foreach meets a failure

    @property
    def label(self) -> str:
        return self.step.name or self.id


@dataclass(slots=True, eq=False)
class Plan:
    """What the runner executes: the root step list and the workflow it came from."""

    workflow: Workflow
    nodes: list[Node]
    dag: bool
    step_ids: frozenset
    on_failure: tuple | None = None
    finally_: tuple | None = None
    _described: list | None = field(default=None, repr=False)

    def describe(self) -> list[dict]:
        """The step tree as plain data (id, kind, action, children; a switch's cases, hooks and
        compensations under their keys) for displays. The workflow's own hooks are the last
        entries, marked ``"hook": "on_failure" | "finally"``.

        Built once: every run of the plan hands it to its ``run.started`` event, so the same
        list is returned each time and callers must not change it."""
        if self._described is None:
            self._described = self._describe()
        return self._described

    def _describe(self) -> list[dict]:
        def many(lists: tuple) -> list[dict]:
            return [one(c) for c in lists[0]]

        def one(node: Node) -> dict:
            data = {"id": node.id, "kind": node.kind, "name": node.step.name, "path": node.yaml_path}
            if node.action is not None:
                data["uses"] = node.step.uses
            if node.children:
                data["children"] = [one(c) for c in node.children]
            if node.cases is not None:
                data["cases"] = {("" if k is None else k): many(v) for k, v in node.cases.items() if k is not None}
                if None in node.cases:
                    data["default"] = many(node.cases[None])
            if isinstance(node.step, GroupStep) and node.step.repeat is not None:
                data["repeat"] = {"max": node.step.repeat.max}
            for key, lists in (("on_failure", node.on_failure), ("finally", node.finally_),
                               ("compensate", node.compensate)):
                if lists is not None:
                    data[key] = many(lists)
            return data
        tree = [one(n) for n in self.nodes]
        for hook, lists in (("on_failure", self.on_failure), ("finally", self.finally_)):
            for entry in many(lists) if lists is not None else ():
                entry["hook"] = hook
                tree.append(entry)
        return lenient(tree)  # names are the author's text: stored as is


def plan(workflow: Workflow, registry: ActionRegistry | None = None) -> Plan:
    """Turn a validated workflow into a Plan; actions are resolved through ``registry``."""
    with collector_paused():  # a node and its parameters per step, all kept: as for load
        return _plan(workflow, registry or default_registry())


def _plan(workflow: Workflow, registry: ActionRegistry) -> Plan:
    nodes, dag = _plan_list(workflow.steps, registry)
    hooks = [*(workflow.on_failure or ()), *(workflow.finally_ or ())]
    ids = frozenset(step.id for step, _ in walk_steps(workflow.steps + hooks))
    return Plan(workflow, nodes, dag, ids, _optional(workflow.on_failure, registry),
                _optional(workflow.finally_, registry))


def _optional(steps: list | None, registry: ActionRegistry) -> tuple | None:
    return None if not steps else _plan_list(steps, registry)


def _plan_list(steps: list, registry: ActionRegistry) -> tuple[list[Node], bool]:
    nodes = [_plan_step(step, registry) for step in steps]
    dag = any(step.needs is not None for step in steps)
    if dag:
        index = {step.id: i for i, step in enumerate(steps)}
        for i, (step, node) in enumerate(zip(steps, nodes)):
            if step.needs is None:
                node.deps = (i - 1,) if i else ()
            else:
                # needs outside this list name steps finished before the list started
                node.deps = tuple(sorted({index[n] for n in step.needs if n in index and index[n] < i}))
    return nodes, dag


def _plan_step(step, registry: ActionRegistry) -> Node:
    node = Node(step=step, kind=step.kind, id=step.id, yaml_path=path_str(step.yaml_path))
    if step.if_ is not None:
        if step.if_ is False:
            node.skip = True
        elif step.if_ is not True:
            node.condition = condition_source(step.if_)
    if isinstance(step, ActionStep):
        node.action = registry.get(step.uses)
        if not has_expression(step.with_):
            node.params = node.action.parse(step.with_)
            dump = getattr(node.params, "model_dump", None)
            node.shown = lenient(dump(mode="json") if dump else node.params)  # stored as is: JSON-safe
    elif isinstance(step, ParallelStep):
        node.children = [_plan_step(branch, registry) for branch in step.parallel]
    elif isinstance(step, (ForeachStep, GroupStep)):
        node.children, node.dag = _plan_list(step.steps, registry)
    elif isinstance(step, SwitchStep):
        node.cases = {name: _plan_list(case, registry) for name, case in step.cases.items()}
        if step.default is not None:
            node.cases[None] = _plan_list(step.default, registry)
    if isinstance(step, GroupStep) and step.repeat is not None:
        node.until = condition_source(step.repeat.until)
    if isinstance(step, (ParallelStep, ForeachStep, GroupStep)):
        node.policy = step.on_error
        node.on_failure = _optional(step.on_failure, registry)
        node.finally_ = _optional(step.finally_, registry)
    node.compensate = _optional(step.compensate, registry)
    return node
