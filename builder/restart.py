"""Restarting a run from one of its steps: a new run of the same version and inputs that reuses
every completed step certain to have ended before the chosen step started, and runs the chosen
step and everything else again.

*Before* is the plan's order, level by level down to the chosen step: in a sequence, the steps
before it; in a ``needs`` graph, the steps it needs (and what they need); in a repeat, the
earlier passes whole. Parallel branches and other foreach items run at the same time as it:
they run again. The blocks around the chosen step run again (their steps before it reused).

The chosen step is a step path as the monitor shows it: ``load.parse``, ``per_file[3].download``
(that item: the others run again), ``per_file.download`` (in every item), ``poll[2].check``
(after passes 0 and 1; ``poll.check`` is the first pass). Steps of ``on_failure``, ``finally``
and ``compensate`` lists are not starting points (they run when something ends).

Refused: a step path the run's version does not have, or an index where there is no foreach or
repeat, or an item the run never started (400); a run still queued, running or waiting (409);
a version that does not load now (422). The restart itself is a resume (``resumed_from`` and
``builder/resume.py``'s answer): the new run is told the chosen step in ``origin_detail``
(``from_step``), and ``narrowed`` keeps only the stored outputs before it when it starts.
"""

from __future__ import annotations

import re

from .models import Run, StepRun
from .resume import NotResumable

_SEGMENT = re.compile(r"^([^\[\].]+)(?:\[(\d{1,9})\])?$")
_INDEX = re.compile(r"\[\d+\]")
ACTIVE = (Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING)
MAX_PATH = 500


class BadStep(Exception):
    """The chosen step path does not name a starting point of the run (400)."""


class Reused:
    """Which run-time step paths a restart reuses (with everything inside them): level by level
    down to the chosen step, the steps before it there. A check costs the path's depth, however
    many steps are before it (a 20,000-step sequence)."""

    __slots__ = ("levels",)

    def __init__(self):
        #: (the ancestors' (id, index rule), the ids before the step there, (repeat id, passes before))
        self.levels: list[tuple[tuple, frozenset, tuple | None]] = []

    def __bool__(self) -> bool:
        return any(before or passes for _, before, passes in self.levels)

    def __call__(self, path: str) -> bool:
        segments = _segments(path)
        if segments is None:
            return False
        for prefix, before, passes in self.levels:  # each level's prefix extends the one before
            depth = len(prefix)
            if len(segments) <= depth or not all(_fits(seg, rule) for seg, rule in zip(segments, prefix)):
                return False
            step_id, index = segments[depth]
            if step_id in before or (passes and step_id == passes[0] and index is not None and index < passes[1]):
                return True
        return False


def _segments(path: str) -> list | None:
    found = []
    for text in path.split("."):
        match = _SEGMENT.match(text)
        if match is None:
            return None
        found.append((match.group(1), None if match.group(2) is None else int(match.group(2))))
    return found


def _fits(segment: tuple, rule: tuple) -> bool:
    """Does a path's segment fit an ancestor's: the same id, and its index (``*``: any)."""
    return segment[0] == rule[0] and (segment[1] == rule[1] or (rule[1] == "*" and segment[1] is not None))


def reuse_pattern(plan, from_step: str) -> Reused:
    """What a restart from ``from_step`` reuses (``Reused``: call it with a run-time path).
    Raise BadStep."""
    if not isinstance(from_step, str) or not from_step or len(from_step) > MAX_PATH or "\0" in from_step:
        raise BadStep("from_step: give the path of a step of the run, such as per_file[3].download")
    parts = _segments(from_step)
    if parts is None:
        raise BadStep(f"from_step: '{from_step}' is not a step path (ids joined by '.', an item as [3])")
    reused = Reused()
    nodes, dag, prefix, side_by_side = plan.nodes, plan.dag, (), False
    hooks = [n.id for lists in (plan.on_failure, plan.finally_) if lists for n in lists[0]]
    for depth, (step_id, index) in enumerate(parts):
        at = next((i for i, n in enumerate(nodes) if n.id == step_id), None)
        if at is None:
            hook = step_id in hooks or (depth and step_id == "compensate")
            where = " (a step of on_failure, finally or compensate is no starting point)" if hook else ""
            shown = ".".join(p for p, _ in parts[:depth + 1])
            raise BadStep(f"from_step: the run's version has no step '{shown}'{where}")
        node = nodes[at]
        indexed = node.kind == "foreach" or node.until is not None
        if index is not None and not indexed:
            raise BadStep(f"from_step: '{step_id}' is a {node.kind} step, not a foreach or repeat: it has no [{index}]")
        if node.until is not None:  # a repeat: earlier passes are before this one
            index = index or 0
        # a parallel's branches all start at once: none is before another
        before = frozenset() if side_by_side else frozenset(nodes[i].id for i in _before(nodes, dag, at))
        reused.levels.append((prefix, before, (step_id, index) if node.until is not None and index else None))
        if depth == len(parts) - 1:
            break
        prefix = prefix + ((step_id, index if index is not None else "*" if indexed else None),)
        hooks = [n.id for lists in (node.on_failure, node.finally_, node.compensate) if lists for n in lists[0]]
        nodes, dag = _list_holding(node, parts[depth + 1][0])
        side_by_side = node.kind == "parallel"
    return reused


def _list_holding(node, step_id: str) -> tuple[list, bool]:
    """The step list of ``node`` (its body, branches or the switch case) that holds ``step_id``."""
    if node.cases:
        for nodes, dag in node.cases.values():
            if any(n.id == step_id for n in nodes):
                return nodes, dag
    return node.children, node.dag


def _before(nodes: list, dag: bool, at: int) -> list[int]:
    """The steps of a list certain to end before step ``at`` starts: those before it in a
    sequence; what it needs, and what they need, in a needs graph."""
    if not dag:
        return list(range(at))
    seen, todo = set(), list(nodes[at].deps)
    while todo:
        one = todo.pop()
        if one not in seen:
            seen.add(one)
            todo.extend(nodes[one].deps)
    return sorted(seen)


def kept(stored: dict, reused: Reused) -> dict:
    """The stored outputs (``{path: output}``) a restart reuses."""
    if not reused:
        return {}
    return {path: output for path, output in stored.items() if reused(path)}


def _plan_of(run: Run):
    """The plan of a run's version now; raise services.Invalid when it does not load."""
    from engine import plan

    from .runtime import registry
    from .services import check_yaml

    return plan(check_yaml(run.version.yaml, owner=run.workflow.owner), registry())


def narrowed(run: Run, completed: dict) -> dict:
    """What a new run reuses (``completed``, from ``resume.completed_for``), kept to the steps
    before its ``from_step`` when it is a restart (``execution._prepare``); unchanged otherwise."""
    detail = run.origin_detail if isinstance(run.origin_detail, dict) else {}
    from_step = detail.get("from_step")
    if not from_step:
        return completed
    from .services import Invalid

    try:
        return kept(completed, reuse_pattern(_plan_of(run), from_step))
    except (Invalid, BadStep):  # the version no longer loads (the run fails when it starts): reuse nothing
        return {}


def restart_run(old: Run, user, from_step) -> tuple[Run, dict]:
    """A queued run that restarts ``old`` from ``from_step``, and what it reuses (the answer of a
    resume, with ``from_step``). Raise NotResumable (400, 409, 422) or InputsInvalid."""
    from .services import Invalid, create_run

    if old.status in ACTIVE:
        raise NotResumable(409, f"run #{old.pk} is still {old.status}: restart it from a step once it has ended "
                                "(or cancel it first)")
    try:
        reused_here = reuse_pattern(_plan_of(old), from_step)
    except BadStep as exc:
        raise NotResumable(400, str(exc)) from None
    except Invalid as exc:
        raise NotResumable(422, f"version {old.version.number} of the workflow is not valid now (a skill or "
                                "secret changed): it cannot be restarted", [i.as_dict() for i in exc.issues]) from None
    item = from_step.rsplit("]", 1)[0] + "]" if "[" in from_step else None
    if item is not None and not StepRun.objects.filter(run=old, path__startswith=item + ".").exists():
        raise NotResumable(400, f"from_step: run #{old.pk} never started {item}")
    stored = list(StepRun.objects.filter(run=old, status="succeeded", output_note="").order_by("id")
                  .values_list("path", flat=True))
    reused = dict.fromkeys(_INDEX.sub("[*]", p) for p in stored if reused_here(p))
    again = dict.fromkeys(_INDEX.sub("[*]", p) for p in stored if not reused_here(p))
    new = create_run(old.workflow, user, old.inputs, version=old.version, resumed_from=old,
                     origin_detail={"run": old.pk, "from_step": from_step})
    number = old.version.number
    return new, {"version": "original", "from_version": number, "to_version": number, "from_step": from_step,
                 "reused": list(reused), "dropped": [p for p in again if p not in reused]}
