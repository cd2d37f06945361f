"""The format's semantic rules, checked on the built models before anything runs.

Ids unique and not reserved; actions known (with "did you mean"); parameters valid for
their action; ``needs`` pointing at earlier steps, without cycles; every reference in an
expression pointing at a step that is certain to have finished (through the sequence,
``needs`` or an enclosing block) — the ids of a foreach body, a switch case, a hook or a
compensation are visible only inside it; the rules of single steps (``validate_rules``:
cases, rollback, approvals...) and the run budgets a workflow would pass
(``validate_budget``).

What is visible where (``validate_tree`` names the kinds of lists): inside a hook
(``on_failure``, ``finally``) every step of its block and every step visible before the
block, and ``error`` and ``run``; inside a compensation, the step being undone and what was
visible at it; inside a repeat and its ``until``, ``loop`` and the pass's steps; after a
repeat or a group, its steps.

Workflows are hostile input, so the checks are linear in the size of the document and never
recurse deeper than its nesting (bounded by ``source.MAX_DEPTH``). Visibility is answered
per reference instead of keeping a set of visible ids per step (that was quadratic: 10 000
steps took 2.4 GB). Every list of steps numbers its steps; a step's in-list ancestors (the
steps certain to have finished before it starts) are a set of those numbers kept as a prefix
and a bitmask (a sequence or a chain of needs is just "every step before"), built from the
sets of the steps it waits for and dropped after the last step that waits for them. An
id is visible at a step when, in some list on the way from the top to that step, the id's
step (or the parallel or group holding it) is an ancestor of the step holding the reference,
or when it is inside a block whose hooks are being checked. Cycles are found with an
iterative Tarjan walk. Anything unexpected raised while checking one step becomes an issue
at that step, never an exception out of ``load``.
"""

from __future__ import annotations

import difflib
import logging

from .errors import ExpressionError, Issue
from .expressions import condition_source, expressions_in, references
from .needs import NONE, adding, cycle_path, find_cycles, has, members, union
from .spec import ActionStep, ForeachStep, GroupStep, ParallelStep, SwitchStep, Workflow
from .validate_budget import Budget
from .validate_rules import MAX_PATH, check_steps
from .validate_triggers import check_triggers
from .validate_tree import BRANCHES, BODY, CASE, COMP, HOOK, WORK, Broken, lists_of, names_in, until_of

__all__ = ["MAX_PATH", "check_workflow", "exports", "type_matches"]
log = logging.getLogger(__name__)

_TYPES = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
          "object": (dict,), "array": (list,)}
#: candidate names did-you-mean may compare in one workflow (difflib is slow on thousands)
HINT_BUDGET = 200_000
_CHAIN = 4  # places kept for one id (more are duplicates, reported already)
_TOP = "workflow"  # the workflow, in the set of blocks whose hooks are being checked
_ONLY_IN = {"error": "${error} exists only inside on_failure and finally",
            "run": "${run} exists only inside on_failure and finally",
            "loop": "${loop} exists only inside a foreach body or a repeat"}


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
        if one.id is not None:
            out.add(one.id)
        if isinstance(one, ParallelStep):
            todo.extend(one.parallel)
        elif isinstance(one, GroupStep):
            todo.extend(one.steps)
    return out


class _Checker:
    def __init__(self, workflow: Workflow, doc, registry, settings, broken=frozenset(), secrets=None,
                 workflows=None, partial=frozenset()):
        self.wf = workflow
        self.doc = doc
        self.registry = registry
        self.settings = settings
        self.issues: list[Issue] = []
        self.broken = frozenset(broken)  # ids of steps that failed to build: reported already
        self.secrets = None if secrets is None else sorted(secrets)
        self.workflows = None if workflows is None else frozenset(workflows)
        self.partial = partial  # top-level keys that failed: checks relying on them are skipped
        self.steps = {}  # step id -> its first step
        self.lists: list[list] = []  # list number -> its steps (a parallel branch is a list of one)
        self.meta: list[tuple] = []  # list number -> (kind, holder's (list, index) or None, key path)
        self.pos: dict[int, tuple] = {}  # id(step) -> (list number, index)
        self.chains: dict[str, list[tuple]] = {}  # step id -> [(list, index)]
        self.active: dict[int, tuple] = {}  # list number -> ancestors of its step being checked
        self.open: set = set()  # blocks whose hooks are being checked: (list, index), or _TOP
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
        check_triggers(self)
        check_steps(self)
        names = {"inputs", "secrets"}
        for key, steps, kind in lists_of(self.wf):
            self.number(steps, None, kind, key)
        self.check_list(self.wf.steps, names)
        if self.wf.outputs:
            top = self.pos[id(self.wf.steps[0])][0] if self.wf.steps else None
            self.active = {} if top is None else {top: (len(self.wf.steps), 0)}
            for key, value in self.wf.outputs.items():
                self.guarded(("outputs", key), self.check_value, value, ("outputs", key), names)
        self.active = {}
        self.open.add(_TOP)
        for _, steps, kind in lists_of(self.wf):
            if kind == HOOK:
                self.check_list(steps, names_in(self.wf, kind, names))
        self.open.discard(_TOP)
        for name in self.wf.limits.actions:
            if self.registry.get(name) is None:
                self.add(("limits", "actions", name), f"unknown action '{name}'{self.hint(name, self.registry.names())}")
        budgets = getattr(self.settings, "budgets", None)
        if budgets is not None:
            Budget(self.add, budgets).workflow(self.wf)
        return self.issues

    def check_inputs(self) -> None:
        for name, spec in self.wf.inputs.items():
            if "default" in spec.model_fields_set and spec.default is not None and not type_matches(spec.type, spec.default):
                self.add(("inputs", name, "default"), f"default of input '{name}' is not of type {spec.type}")
            if name in ("inputs", "secrets", "loop"):
                self.add(("inputs", name), f"'{name}' is reserved")

    # -- order and references --------------------------------------------------------------
    def number(self, steps: list, holder: tuple | None, kind: str, key: tuple) -> None:
        """Number a list of steps and every list inside it; note where each id stands.

        ``holder`` is the (list, index) of the step holding the list (None: the workflow).
        """
        if kind == BRANCHES:
            for branch in steps:
                self.number([branch], holder, WORK, key)
            return
        no = len(self.lists)
        self.lists.append(steps)
        self.meta.append((kind, holder, key))
        for i, step in enumerate(steps):
            here = (no, i)
            self.pos[id(step)] = here
            if step.id is not None:
                chain = self.chains.setdefault(step.id, [])
                if len(chain) < _CHAIN:
                    chain.append(here)
            for inner_key, inner, inner_kind in lists_of(step):
                self.number(inner, here, inner_kind, inner_key)

    def visible(self, name: str) -> bool:
        """Is step ``name`` certain to have finished before the step being checked (or inside a
        block whose hooks are being checked)?"""
        for no, i in self.chains.get(name, ()):
            exported = True
            while True:
                mask = self.active.get(no) if exported else None
                if mask is not None and has(mask, i):
                    return True
                kind, holder, _ = self.meta[no]
                if kind in (HOOK, COMP):
                    break
                if (_TOP if holder is None else holder) in self.open:
                    return True
                if holder is None:
                    break
                exported = exported and kind == WORK
                no, i = holder
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
        no = self.pos[id(steps[0])][0]
        index = {s.id: i for i, s in enumerate(steps) if s.id is not None}
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
        """A step's own expressions, then its lists: its work, ``until``, hooks, compensation."""
        path = step.yaml_path
        if step.if_ is not None:
            expr = condition_source(step.if_)
            if expr is not None:
                self.guarded(path + ("if",), self.check_expression, expr, path + ("if",), names)
        if type(step) is ActionStep and not step.compensate:  # most steps: only their with to check
            if step.with_:
                where = path + ("with",)
                self.guarded(where, self.check_value, step.with_, where, names)
            return
        broken = isinstance(step, Broken)
        if isinstance(step, ActionStep) or broken and step.with_ is not None:
            self.guarded(path + ("with",), self.check_value, step.with_, path + ("with",), names)
        for key, cls in (("foreach", ForeachStep), ("switch", SwitchStep)):
            value = step.raw.get(key) if broken else getattr(step, key) if isinstance(step, cls) else None
            if isinstance(value, (str, list)):
                self.guarded(path + (key,), self.check_value, value, path + (key,), names)
        if isinstance(step, ForeachStep) and isinstance(step.foreach, str) and "${" not in step.foreach:
            self.add(path + ("foreach",), "foreach takes a list or an expression like ${step.items}")
        here = self.pos[id(step)]
        lists = lists_of(step)
        for _, steps, kind in lists:
            if kind in (WORK, BODY, CASE):
                self.check_list(steps, names_in(step, kind, names))
            elif kind == BRANCHES:
                for branch in steps:
                    self.check_list([branch], names)
        until = until_of(step)
        work = next((steps for _, steps, kind in lists if kind == WORK), None)
        if until is not None and work:
            no = self.pos[id(work[0])][0]
            self.active[no] = (len(work), 0)  # after a pass, every step of it has run
            where = path + ("repeat", "until")
            self.guarded(where, self.check_expression, until, where, names_in(step, WORK, names))
            del self.active[no]
        if any(kind == HOOK for _, _, kind in lists):
            self.open.add(here)
            for _, steps, kind in lists:
                if kind == HOOK:
                    self.check_list(steps, names_in(step, kind, names))
            self.open.discard(here)
        for _, steps, kind in lists:
            if kind == COMP:  # the step being undone is readable, with what it could read
                before = self.active[here[0]]
                self.active[here[0]] = adding(before, here[1])
                self.check_list(steps, names)
                self.active[here[0]] = before

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
                if (root == "inputs" and keys and isinstance(keys[0], str) and keys[0] not in self.wf.inputs
                        and "inputs" not in self.partial):
                    self.add(path, f"unknown input '{keys[0]}'{self.hint(keys[0], self.wf.inputs)}", True)
                if (root == "secrets" and self.secrets is not None and keys and isinstance(keys[0], str)
                        and keys[0] not in self.secrets):
                    self.add(path, f"unknown secret '{keys[0]}'{self.hint(keys[0], self.secrets)}", True)
                continue
            if root in self.broken or self.visible(root):
                continue
            self.add(path, self.describe_unknown(root, names, "reference"), True)

    def describe_unknown(self, name: str, names: set, what: str) -> str:
        if name in _ONLY_IN and name not in self.steps:
            return _ONLY_IN[name]
        if name in self.steps:
            return self.hidden(name) or (
                f"step '{name}' may not have run yet here: reference only steps that finish "
                f"before this one (earlier in the sequence, in needs, or before the enclosing block)")
        noun = "unknown step" if what == "needs" else "unknown reference"
        return f"{noun} '{name}'{self.hint(name, self.candidates(names))}"

    def hidden(self, name: str) -> str | None:
        """Why step ``name`` cannot be seen here, when a block's boundary hides it."""
        no, i = self.chains[name][0]
        if (no, i) in self.open:
            return (f"'{name}' is still running while its on_failure and finally run: read its steps "
                    f"instead (${{error}} says what failed)")
        boundary = None
        while no not in self.active:  # up to the lists being checked: the outermost wall between
            kind, holder, key = self.meta[no]
            if kind != WORK:
                boundary = (kind, holder, key)
            if holder is None:
                break
            no, i = holder
        if boundary is None:
            return None
        kind, holder, key = boundary
        owner = self.lists[holder[0]][holder[1]].id if holder is not None else None
        if kind == BODY:
            return (f"'{name}' is inside the body of foreach '{owner}' and is not visible here; "
                    f"use ${{{owner}}} for the list of results")
        if kind == CASE:
            case = f"case '{key[1]}'" if key[0] == "cases" else "the default"
            return (f"'{name}' is inside {case} of switch '{owner}' and is not visible outside it; "
                    f"use ${{{owner}}} for the chosen case's output")
        if kind == HOOK:
            of = f"block '{owner}'" if owner is not None else "the workflow"
            return f"'{name}' is inside the {key[0]} of {of}; steps of on_failure and finally are visible only there"
        return (f"'{name}' is inside the compensate of '{owner}'; a compensation's steps are visible only "
                f"there (it runs only during a rollback)")

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


def check_workflow(workflow: Workflow, doc, registry, settings, broken=frozenset(), secrets=None,
                   workflows=None, partial=frozenset()) -> list[Issue]:
    """Every semantic problem of a workflow (``broken``: ids of steps that failed to build;
    ``secrets`` / ``workflows``: the secret / saved workflow names that exist, or None not to
    check them; ``partial``: top-level keys left out because they failed)."""
    return _Checker(workflow, doc, registry, settings, broken, secrets, workflows, partial).run()
