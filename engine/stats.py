"""Run figures: wall time, work, speed-up and each block's saving, and their words for people.

The definitions are docs/format.md's "Run figures":

- a run's *wall* is its elapsed time, start to end; its *work* the sum over action attempts of
  the time from the action's call to its end, less time queued for a limiter, without
  cancelled attempts; its *speed-up* work / wall, called one only when it shows above 1.0;
- a block's (parallel, foreach) *wall* is the union of the intervals during which any
  instance of it ran (inside a foreach a block runs once per item: overlapping instances count
  once), its *work* that of the attempts inside it, its *saving* work − wall when positive.

``BlockStat`` keeps O(1) memory however many instances a block has (10 000 foreach items): it
counts the instances running now and accumulates time while that count is above zero.
"""

from __future__ import annotations

import re
from time import perf_counter

#: the kinds a block's saving comes from, and what overlapped in it
_ACROSS = {"parallel": "branches", "foreach": "items"}
_SOURCE = {"parallel": "parallel branches", "foreach": "foreach items"}
_INDEX = re.compile(r"\[\d+\]")  # a foreach item's or a repeat pass's index in a step path


class _Span:
    """One instance of a block while it runs (``BlockStat.begin``'s token)."""

    __slots__ = ("start", "open")

    def __init__(self, start: float):
        self.start, self.open = start, True


class BlockStat:
    """Wall time of a parallel/foreach block (the union of its instances' intervals) against the
    work done inside it. The runner calls ``begin()``/``end(token)`` per instance and adds each
    counted attempt's seconds to ``work``."""

    __slots__ = ("path", "kind", "work", "instances", "peak", "busy", "_active", "_since", "_wall", "_clock")

    def __init__(self, path: str, kind: str, clock=perf_counter):
        self.path, self.kind, self.work = path, kind, 0.0
        self.instances = 0  # how many times the block ran
        self.peak = 0  # the most instances running at once
        self.busy = 0.0  # the instances' durations summed (overlaps counted each time)
        self._active, self._since, self._wall, self._clock = 0, 0.0, 0.0, clock

    def begin(self) -> _Span:
        """An instance of the block starts: the token to give ``end``."""
        now = self._clock()
        if self._active == 0:
            self._since = now
        self._active += 1
        self.instances += 1
        self.peak = max(self.peak, self._active)
        return _Span(now)

    def end(self, token: _Span | None) -> None:
        """That instance ended (once per token; a second call, or None, changes nothing)."""
        if token is None or not token.open:
            return
        token.open = False
        now = self._clock()
        self.busy += now - token.start
        self._active -= 1
        if self._active == 0:
            self._wall += now - self._since

    @property
    def wall(self) -> float:
        """Seconds during which at least one instance ran (up to now, while one runs)."""
        return self._wall + (self._clock() - self._since if self._active else 0.0)

    @wall.setter
    def wall(self, seconds: float) -> None:
        # the old protocol (``stat.wall += elapsed`` per instance) until every caller uses begin/end
        self._wall = seconds - (self._clock() - self._since if self._active else 0.0)

    def as_dict(self) -> dict:
        """The block's figures as stored in the run's summary (``text``: ``describe_block``)."""
        wall, work = self.wall, self.work
        data = {"path": self.path, "kind": self.kind, "wall_ms": _ms(wall), "work_ms": _ms(work),
                "saved_ms": _ms(max(work - wall, 0.0)), "instances": self.instances, "peak": self.peak}
        data["text"] = describe_block(data)
        return data


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def seconds_text(seconds: float) -> str:
    """A duration for people: ``0 s``, ``12 ms`` (under 0.05 s), ``4.1 s``, ``2 min 5 s``, ``1 h 2 min``."""
    if seconds <= 0:
        return "0 s"
    if seconds < 0.05:
        return f"{max(round(seconds * 1000), 1)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def speedup(wall_ms, work_ms) -> float | None:
    """work / wall when it is at least 1.05 (it shows above 1.0 with one decimal), else None:
    what is called a speed-up."""
    if not wall_ms or not work_ms or wall_ms <= 0:
        return None
    ratio = work_ms / wall_ms
    return ratio if ratio >= 1.05 else None


def saved(block: dict) -> bool:
    """Whether a block's saving shows (at least 1 ms)."""
    return (block.get("saved_ms") or 0) >= 1


def run_figures(summary: dict, running: bool = False) -> list[str]:
    """The run's figures as phrases: ``ran in 4.1 s``, ``9.0 s of work``, ``2.2× from parallel
    branches`` (or ``no speed-up``). Joined by the caller ("; " in a terminal, " · " on a page)."""
    wall_ms, work_ms = summary.get("wall_ms"), summary.get("work_ms")
    parts = []
    if wall_ms is not None:
        parts.append(f"{'running for' if running else 'ran in'} {seconds_text(wall_ms / 1000)}")
    if work_ms is None:
        return parts
    parts.append(f"{seconds_text(work_ms / 1000)} of work")
    if not wall_ms or not work_ms:
        return parts
    ratio = speedup(wall_ms, work_ms)
    if ratio is not None:
        parts.append(f"{ratio:.1f}× from {_sources(summary.get('blocks') or ())}")
        return parts
    idle = (wall_ms - work_ms) / 1000
    if work_ms < 0.95 * wall_ms and idle >= 0.001:
        # where no action ran: at least wall − work, since some action ran all through the work
        parts.append(f"no speed-up: for at least {seconds_text(idle)} no step was working")
    else:
        parts.append("no speed-up: steps ran one at a time")
    return parts


def _sources(blocks) -> str:
    """What overlapped: the kinds of the blocks that saved time, or steps run side by side
    (a ``needs`` graph, sub-workflows)."""
    kinds = [kind for kind in _SOURCE if any(b.get("kind") == kind and saved(b) for b in blocks)]
    if not kinds:
        return "steps running side by side"
    return " and ".join(_SOURCE[k] for k in kinds)


def describe_run(summary: dict, running: bool = False) -> str:
    """``ran in 4.1 s; 9.0 s of work; 2.2× from parallel branches``."""
    return "; ".join(run_figures(summary, running))


def describe_block(block: dict) -> str:
    """``loop (foreach): 3.0 s for 12.0 s of work, saved 9.0 s across items``; a block that ran
    more than once says how often, and that overlapping runs counted once."""
    kind = block.get("kind", "")
    wall = (block.get("wall_ms") or 0) / 1000
    work = (block.get("work_ms") or 0) / 1000
    runs, peak = block.get("instances") or 1, block.get("peak") or 1
    label = kind
    if runs > 1:
        label += f", ran {runs} times" + (f", up to {peak} at once" if peak > 1 else "")
    text = f"{block.get('path', '')} ({label}): {seconds_text(wall)} for {seconds_text(work)} of work"
    if not saved(block):
        return text + ", no time saved"
    across = _ACROSS.get(kind, "steps")
    if peak > 1:
        across += " and overlapping runs"
    return text + f", saved {seconds_text(block['saved_ms'] / 1000)} across {across}"


def union_wall(intervals) -> float:
    """The length of the union of ``(start, end)`` intervals (any order): a block's wall from
    stored rows, as ``BlockStat`` measures it live."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if stop <= start:
            continue
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def blocks_from_rows(blocks, actions) -> list[dict]:
    """The blocks' figures from stored rows, as ``BlockStat.as_dict`` gives them live (a run
    taken over by another process measured only its own part). ``blocks``: ``(path, kind,
    start, end)`` of each block instance that ended (seconds); ``actions``: ``(path, seconds)``
    of each counted attempt. Paths are run-time paths (``loop[3].fan``); a block is named by its
    id, as the runner names it."""
    spans: dict[str, dict] = {}
    for path, kind, start, end in blocks:
        template = _INDEX.sub("", path)
        entry = spans.setdefault(template, {"kind": kind, "intervals": []})
        entry["intervals"].append((start, end))
    work = dict.fromkeys(spans, 0.0)
    for path, seconds in actions:
        parts = _INDEX.sub("", path).split(".")
        for depth in range(1, len(parts)):  # every enclosing block's work
            prefix = ".".join(parts[:depth])
            if prefix in work:
                work[prefix] += seconds or 0.0
    figures = []
    for template, entry in spans.items():
        wall, intervals = union_wall(entry["intervals"]), entry["intervals"]
        data = {"path": template.rsplit(".", 1)[-1], "kind": entry["kind"], "wall_ms": _ms(wall),
                "work_ms": _ms(work[template]), "saved_ms": _ms(max(work[template] - wall, 0.0)),
                "instances": len(intervals), "peak": most_at_once(intervals)}
        data["text"] = describe_block(data)
        figures.append(data)
    return figures


def most_at_once(intervals) -> int:
    """The most ``(start, end)`` intervals open at once (one ending as another starts: not at once)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda e: (e[0], e[1]))
    peak = count = 0
    for _, step in edges:
        count += step
        peak = max(peak, count)
    return peak
