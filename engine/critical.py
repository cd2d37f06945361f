"""The critical path of a run: the chain of steps that set its wall time, and what held it back.

Fed every step event of a run (``CriticalPath.emit``) and the time each action queued for a
limiter (``waited``, from ``throttle.queued``), it folds the steps bottom-up as they end, by
docs/format.md's "The critical path and what held the run back" (chains: critical_chain.py;
words: critical_text.py; from stored rows: critical_rows.py):

- a step list (the run's, a group's, a switch case's, a block's hooks) goes back from the step
  that ended last to the one that let it start: in a ``needs`` graph the need that ended last,
  else the step that ended last before it started (in a sequence: the step before);
- a parallel block goes through its longest branch and a foreach through its longest item;
  the rest of the block's time (its wall less that branch or item) was spent because the
  others waited for one of its ``concurrency`` slots;
- a repeat's passes follow each other.

What bounds it: a foreach keeps the items running now (at most its ``concurrency``, each with
its own steps' results) and, for the ones that ended, a count, two sums, a maximum and the
longest one's chain: a 10 000-item foreach holds no per-item record. Waits are kept summed per
(block, cause), chains are cut to ``MAX_CHAIN`` paths (their head and tail).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from .critical_chain import MAX_CHAIN, NOTHING, Res, Wait, combine, joined, merged, template
from .critical_text import MIN_WAIT, held_back

__all__ = ["CriticalPath", "MAX_CHAIN", "combine", "shape_of", "template"]

BINDING = 0.75  # a block's own slot limit is what held it when its model explains this much of its wall
_ENDS = frozenset({"step.succeeded", "step.failed", "step.skipped", "step.cancelled"})


class Info:
    """What the plan says of a step (``shape_of``): its kind, its slot limit, its lists' needs."""

    __slots__ = ("kind", "limit", "deps", "body", "branches")

    def __init__(self, kind: str, limit=None, deps: dict | None = None, body=None, branches=None):
        self.kind, self.limit, self.deps, self.body, self.branches = kind, limit, deps, body, branches


def shape_of(plan) -> dict:
    """``{template path: Info}`` for a Plan's blocks (an action step needs none); ``""`` is the
    run's own list."""
    shape: dict = {}

    def deps_of(lists) -> dict:
        found: dict = {}
        for nodes, dag in lists:
            if dag:
                for node in nodes:
                    if node.deps:
                        found[node.id] = tuple(nodes[d].id for d in node.deps)
        return found

    def visit(node, prefix: str) -> None:
        path = prefix + node.id
        if node.action is not None:  # a record needs nothing of the plan for an action: only its compensation
            if node.compensate is not None:
                for child in node.compensate[0]:
                    visit(child, path + ".compensate.")
            return
        step = node.step
        lists = [(node.children, node.dag)] if node.children else []
        lists += [v for v in (node.cases or {}).values()]
        lists += [x for x in (node.on_failure, node.finally_) if x is not None]
        kind = "repeat" if node.until is not None else node.kind
        limit = (getattr(step, "concurrency", None) or 8) if kind == "foreach" else \
            getattr(step, "concurrency", None) if kind == "parallel" else None
        shape[path] = Info(kind, limit, deps_of(lists), frozenset(c.id for c in node.children) if kind == "foreach"
                           else None, frozenset(c.id for c in node.children) if kind == "parallel" else None)
        for nodes, _ in lists:
            for child in nodes:
                visit(child, path + ".")
        if node.compensate is not None:
            for child in node.compensate[0]:
                visit(child, path + ".compensate.")

    root_lists = [(plan.nodes, plan.dag)] + [x for x in (plan.on_failure, plan.finally_) if x is not None]
    shape[""] = Info("root", None, deps_of(root_lists))
    for nodes, _ in root_lists:
        for node in nodes:
            visit(node, "")
    return shape


class _List:
    """The children of one list instance as they end; for a foreach item also when it is done."""

    __slots__ = ("kids", "owner", "index", "body", "ended", "prefix")

    def __init__(self, prefix: str, owner=None, index=None, body=None):
        self.kids: list = []
        self.prefix = prefix  # the template path of its steps, up to their ids
        self.owner, self.index, self.body = owner, index, body
        self.ended = set() if body is not None and len(body) > 1 else None

    def add(self, cid: str, res: Res, event, direct: bool) -> None:
        if res.start is not None:
            self.kids.append((cid, res))
        if self.owner is None or not direct or self.body is None or cid not in self.body:
            return
        if len(self.body) == 1:  # its one step ended: the item is done (the common foreach body)
            self.owner.finish(self.index)
            return
        self.ended.add(cid)
        stops = event.type == "step.cancelled" or (event.type == "step.failed" and not getattr(event, "continued", False))
        if stops or len(self.ended) >= len(self.body):
            self.owner.finish(self.index)


class _Items:
    """The indexed instances of a block: foreach items (``longest``) or repeat passes."""

    __slots__ = ("longest", "open", "body", "deps", "prefix", "n", "sum_w", "max_w", "best", "last_end", "passes")

    def __init__(self, longest: bool, prefix: str, body=None, deps=None):
        self.longest, self.prefix, self.body, self.deps = longest, prefix, body, deps
        self.open: dict[int, _List] = {}
        self.n, self.sum_w, self.max_w, self.best, self.last_end = 0, 0.0, 0.0, None, None
        self.passes: list = []

    def item(self, index: int, create: bool):
        found = self.open.get(index)
        if found is None and create:
            if not self.longest:  # a repeat's new pass: the one before it has ended
                for done in [i for i in self.open if i < index]:
                    self.finish(done)
            found = self.open[index] = _List(self.prefix, self, index, self.body)
        return found

    def finish(self, index: int) -> None:
        one = self.open.pop(index, None)
        if one is None:
            return
        kids = one.kids
        res = kids[0][1] if len(kids) == 1 else combine(kids, self.deps)  # one step: its own (what combine gives)
        if res.start is None:
            return
        self.last_end = res.end if self.last_end is None else max(self.last_end, res.end)
        if not self.longest:
            if self.passes:  # passes follow each other: folded into one as they end (O(1) a pass)
                before = self.passes[0][1]
                chain, waits, cut = joined([before, res])
                res = Res(before.start, res.end, chain, waits, cut)
            self.passes = [("", res)]
            return
        work = res.own_work()
        self.n += 1
        self.sum_w += work
        self.max_w = max(self.max_w, work)
        if self.best is None or res.span > self.best.span:
            self.best = res

    def close(self) -> None:
        for index in sorted(self.open):
            self.finish(index)


class _Rec:
    """A step instance that started and has not ended."""

    __slots__ = ("path", "template", "kind", "start", "info", "home", "direct", "kids", "items", "slot", "rate",
                 "backoff")

    def __init__(self, path: str, template_path: str, kind: str, start: float, info, home, direct: bool):
        self.path, self.template, self.kind, self.start, self.info = path, template_path, kind, start, info
        self.home, self.direct = home, direct
        self.kids = _List(template_path + ".") if kind != "action" else None
        self.items: _Items | None = None
        self.slot = self.rate = self.backoff = None

    def indexed(self) -> _Items:
        if self.items is None:
            body, deps = (self.info.body, self.info.deps) if self.info is not None else (None, None)
            self.items = _Items(self.kind == "foreach", self.template + ".", body, deps)
        return self.items

    def result(self, end: float) -> Res:
        template_path = self.template
        if self.kind == "action":
            waits = None
            if self.slot is not None or self.rate is not None or self.backoff is not None:
                waits = {(template_path, cause): w for cause, w in
                         (("slot", self.slot), ("rate", self.rate), ("backoff", self.backoff)) if w is not None}
            return Res(self.start, end, (self.path,), waits)
        deps = self.info.deps if self.info is not None else None
        kids = list(self.kids.kids)
        if self.items is not None:
            self.items.close()
            if self.items.longest:
                kids.append(("", self._through_longest(template_path, self.items.best, self.items.last_end,
                                                       self.items.n, self.items.sum_w, self.items.max_w)))
            else:
                kids.extend(self.items.passes)
        elif self.kind == "parallel":
            branches = self.info.branches if self.info is not None else None
            rest, works = [], []
            best = last_end = None
            best_span = 0.0
            for c, r in kids:  # one pass (10 000 branches): the longest, the last end, each one's work
                if branches is not None and c not in branches:
                    rest.append((c, r))
                    continue
                span = r.span
                works.append(r.own_work() if r.waits else span)
                if best is None or span > best_span:
                    best, best_span = r, span
                if last_end is None or r.end > last_end:
                    last_end = r.end
            if works:
                kids = rest + [("", self._through_longest(template_path, best, last_end, len(works), sum(works),
                                                          max(works)))]
        return combine(kids, deps, self.start, end)

    def _through_longest(self, template_path, best, last_end, n, sum_w, max_w) -> Res:
        """The block's children phase: its longest child's chain, and the rest of its time as
        waiting for its slots (estimated as docs/format.md says)."""
        if best is None:
            return NOTHING
        limit = self.info.limit if self.info is not None else None
        wall = max(last_end - self.start, 0.0)
        wait = _slot_wait(wall, best.span, n, sum_w, max_w, limit)
        waits = merged(best.waits, {(template_path, "slot"): wait}) if wait is not None else best.waits
        return Res(self.start, last_end, best.chain, waits, best.cut)


def _slot_wait(wall: float, longest: float, n: int, sum_w: float, max_w: float, limit) -> Wait | None:
    """How much longer a block took than its longest child, when more children than slots
    waited; the saving with twice the slots (or one for each child) from the model
    ``max(longest work, ceil(n / slots) × mean work)``, given only where that model explains the
    wall (else another limit inside held the children, and raising this one alone says little)."""
    waited = wall - longest
    if waited < MIN_WAIT or n <= 1 or (limit is not None and n <= limit):
        return None
    if limit is None:  # the slots are not known (stored rows without a plan): no estimate
        return Wait(waited)
    target = min(2 * limit, n)
    mean = sum_w / n

    def model(slots):
        return max(max_w, math.ceil(n / slots) * mean)

    saving = None
    if model(limit) >= BINDING * wall:
        saving = min(max(model(limit) - model(target), 0.0), waited)
    return Wait(waited, limit, saving, target)


class CriticalPath:
    """Folds a run's step events into its critical path and what held it back (``summary``)."""

    def __init__(self, shape: dict | None = None, eager: bool = False):
        self.shape = shape or {}
        self.eager = eager  # every start made a record at once (stored rows replayed: no hot path)
        self.open: dict[str, _Rec] = {}
        deps = self.shape[""].deps if "" in self.shape else None
        self.root = _List("")
        self.root_deps = deps
        self.begin: float | None = None
        self.broken: str | None = None  # a figure must never fail a run: once wrong, it stops

    # -- what the runner tells -----------------------------------------------------------------
    def emit(self, event) -> None:
        """Fold one event (never raises: a fault turns the figures off, the run goes on)."""
        if self.broken is None:
            if event.type == "step.started" and event.kind == "action" and not self.eager:  # the most frequent: kept as is
                if event.path not in self.open:
                    self.open[event.path] = event
                return
            fold = _FOLD.get(event.type)
            if fold is not None:
                try:
                    fold(self, event)
                except Exception as exc:  # noqa: BLE001 - the run matters more than its figures
                    self.broken = f"{type(exc).__name__}: {exc}"

    def _on_started(self, event) -> None:
        path = event.path
        if path not in self.open:
            # an action step is kept as its event until something needs more (a wait, a retry,
            # the summary): most end with nothing else said, and their list is found then
            rec = event if event.kind == "action" and not self.eager else self._started(event)
            if rec is not None:
                self.open[path] = rec

    def _on_retrying(self, event) -> None:
        rec = self._rec(event.path)
        if rec is not None and event.delay > 0:
            rec.backoff = _add(rec.backoff, Wait(event.delay))

    def _on_run_started(self, event) -> None:
        if self.begin is None:
            self.begin = event.ts

    def waited(self, path: str, cause: str, seconds: float, limit) -> None:
        """An action at ``path`` waited ``seconds`` for a ``slot`` of ``limit`` or a ``rate``."""
        if not seconds > 0 or cause not in ("slot", "rate"):
            return
        rec = self._rec(path)
        if rec is None:
            return
        wait = Wait(seconds, limit, seconds / 2, 2 * limit if limit else None)  # twice the slots or rate: half the wait
        if cause == "slot":
            rec.slot = _add(rec.slot, wait)
        else:
            rec.rate = _add(rec.rate, wait)

    def summary(self, end: float) -> dict:
        """``critical_path`` (paths, start to end) and ``held_back`` (docs/format.md); open steps
        (a run that ended waiting, or cancelled) end now. Empty, with the reason, after a fault."""
        if self.broken is None:
            try:
                return self._summary(end)
            except Exception as exc:  # noqa: BLE001 - as in emit
                self.broken = f"{type(exc).__name__}: {exc}"
        return {"critical_path": [], "held_back": [], "critical_path_error": self.broken}

    def _summary(self, end: float) -> dict:
        for path in sorted(self.open, key=len, reverse=True):
            rec = self._rec(path)
            del self.open[path]
            if rec is not None:
                self._deliver(rec, rec.result(end), SimpleNamespace(type="step.cancelled", path=path))
        res = combine(self.root.kids, self.root_deps, self.begin, end)
        data = {"critical_path": list(res.chain), "held_back": held_back(res.waits)}
        if res.cut:
            data["critical_path_cut"] = res.cut
        return data

    # -- folding ---------------------------------------------------------------------------------
    def _home(self, path: str, create: bool):
        """The list an instance at ``path`` ends in, and whether it is its direct parent; None
        inside an action (a sub-workflow's steps) or where no instance is open."""
        parent, direct = path, True
        while True:
            cut = parent.rfind(".")
            if cut <= 0:
                return self.root, direct
            parent = parent[:cut]
            if parent[-1] == "]":
                bracket = parent.rfind("[")
                rec = self.open.get(parent[:bracket])
                if rec is not None and rec.kind != "action":
                    items = rec.indexed().item(int(parent[bracket + 1:-1]), create and direct)
                    return (items, direct) if items is not None else None
            else:
                rec = self.open.get(parent)
                if rec is not None:
                    return (rec.kids, direct) if rec.kind != "action" else None
            direct = False

    def _rec(self, path: str):
        """The open record at ``path`` (an action kept as its start event becomes one now), or None."""
        rec = self.open.get(path)
        if rec is None or type(rec) is _Rec:
            return rec
        rec = self._started(rec)
        if rec is None:
            del self.open[path]
        else:
            self.open[path] = rec
        return rec

    def _started(self, event) -> _Rec | None:
        found = self._home(event.path, True)
        if found is None:
            return None
        home, direct = found
        path = event.path
        template_path = home.prefix + path[path.rfind(".") + 1:] if direct else template(path)
        info = self.shape.get(template_path)
        kind = info.kind if info is not None and info.kind == "repeat" else event.kind
        return _Rec(path, template_path, kind, event.ts, info, home, direct)

    def _ended(self, event) -> None:
        path = event.path
        rec = self.open.pop(path, None)
        if rec is None:  # never started (skipped, reused, refused before it started), or inside an action
            found = self._home(path, False)
            if found is not None:
                found[0].add(_id(path), NOTHING, event, found[1])
            return
        if type(rec) is _Rec:
            self._deliver(rec, rec.result(event.ts), event)
            return
        found = self._home(path, True)  # an action that waited for nothing: its chain is itself
        if found is not None:
            found[0].add(path[path.rfind(".") + 1:], Res(rec.ts, event.ts, (path,)), event, found[1])

    def _deliver(self, rec: _Rec, res: Res, event) -> None:
        rec.home.add(_id(rec.path), res, event, rec.direct)


_FOLD = {"step.started": CriticalPath._on_started, "step.retrying": CriticalPath._on_retrying,
         "run.started": CriticalPath._on_run_started, **{kind: CriticalPath._ended for kind in _ENDS}}


def _add(have: Wait | None, wait: Wait) -> Wait:
    return wait if have is None else have.plus(wait)


def _id(path: str) -> str:
    return path[path.rfind(".") + 1:]
