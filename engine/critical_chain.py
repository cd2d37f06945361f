"""Chains through step lists (engine/critical.py's folding): a step's ``Res`` — its interval,
the chain of step paths through it and the waits on that chain — and ``combine``, which makes
a list's from its children's, going back from the child that ended last."""

from __future__ import annotations

import re
from bisect import bisect_right

__all__ = ["MAX_CHAIN", "NOTHING", "Res", "Wait", "combine", "joined", "merged", "template"]

MAX_CHAIN = 1000  # paths kept on a chain: the first and last half of a longer one
_INDEX = re.compile(r"\[\d+\]")
_NONE: dict = {}  # the waits of a Res that waited for nothing (shared: a Res's waits are never changed)


def template(path: str) -> str:
    """A run-time step path without its item or pass indexes: ``a[3].b`` → ``a.b``."""
    return _INDEX.sub("", path) if "[" in path else path


class Wait:
    """Time waited for one cause at one block, summed over its waits on a chain."""

    __slots__ = ("seconds", "limit", "saving", "target", "count")

    def __init__(self, seconds: float, limit=None, saving: float | None = None, target=None, count: int = 1):
        self.seconds, self.limit, self.saving, self.target, self.count = seconds, limit, saving, target, count

    def plus(self, other: Wait) -> Wait:
        if self.saving is None:
            saving = other.saving
        else:
            saving = self.saving + (other.saving or 0.0)
        return Wait(self.seconds + other.seconds, self.limit if self.limit is not None else other.limit, saving,
                    self.target if self.target is not None else other.target, self.count + other.count)


def merged(*many: dict) -> dict:
    out: dict = {}
    for waits in many:
        for key, wait in waits.items():
            have = out.get(key)
            out[key] = wait if have is None else have.plus(wait)
    return out


class Res:
    """An ended step (or item, or pass): its interval, the chain through it, its waits on that chain."""

    __slots__ = ("start", "end", "chain", "waits", "cut")

    def __init__(self, start, end, chain: tuple = (), waits: dict | None = None, cut: int = 0):
        self.start, self.end, self.chain, self.waits, self.cut = start, end, chain, waits or _NONE, cut

    @property
    def span(self) -> float:
        return max(self.end - self.start, 0.0) if self.start is not None else 0.0

    def own_work(self) -> float:
        """Its span less what it waited for on its chain (limiters, slots), backoff kept: what
        it would take with no limit."""
        if not self.waits:
            return self.span
        waited = sum(w.seconds for (_, cause), w in self.waits.items() if cause != "backoff")
        return max(self.span - waited, 0.0)


NOTHING = Res(None, None)


def joined(parts: list[Res]) -> tuple[tuple, dict, int]:
    chain: list = []
    cut = 0
    for part in parts:
        chain.extend(part.chain)
        cut += part.cut
    if len(chain) > MAX_CHAIN:
        half = MAX_CHAIN // 2
        cut += len(chain) - MAX_CHAIN
        chain = chain[:half] + chain[-half:]
    waits = [p.waits for p in parts if p.waits]
    return tuple(chain), (waits[0] if len(waits) == 1 else merged(*waits)) if waits else _NONE, cut


def combine(kids: list, deps: dict | None, start=None, end=None) -> Res:
    """A step list's Res from its children's ``(id, Res)``: back from the one that ended last,
    each time to its need that ended last (``deps``: id → ids it needs) or else to the child
    that ended last before it started."""
    if not deps and kids and all(kids[i - 1][1].end <= kids[i][1].start for i in range(1, len(kids))):
        chain, waits, cut = joined([r for _, r in kids])  # one after another (a sequence): all of them
        return Res(kids[0][1].start if start is None else start, kids[-1][1].end if end is None else end,
                   chain, waits, cut)
    timed = sorted((r.end, i, cid, r) for i, (cid, r) in enumerate(kids) if r.start is not None)
    if not timed:
        return Res(start, end if start is not None else None)
    ends = [t[0] for t in timed]
    where = {t[2]: pos for pos, t in enumerate(timed)}
    pos = len(timed) - 1
    picked = [pos]
    while True:
        _, _, cid, res = timed[pos]
        need = deps.get(cid) if deps else None
        if need:
            found = [where[d] for d in need if d in where and where[d] < pos]
            if not found:
                break
            pos = max(found)
        else:
            pos = bisect_right(ends, res.start, 0, pos) - 1
            if pos < 0:
                break
        picked.append(pos)
    parts = [timed[p][3] for p in reversed(picked)]
    chain, waits, cut = joined(parts)
    first = min(t[3].start for t in timed)
    return Res(first if start is None else start, timed[-1][0] if end is None else end, chain, waits, cut)
