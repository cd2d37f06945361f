"""The critical path from stored step rows, for a run whose events were not all seen by one
process (a run taken over by another): the rows become events in time order, folded as the
live ones are (engine/critical.py)."""

from __future__ import annotations

from types import SimpleNamespace

from .critical import CriticalPath

__all__ = ["from_rows"]


def from_rows(rows, shape: dict | None = None, begin: float | None = None, end: float | None = None) -> dict:
    """The same figures from stored step rows ``(path, kind, attempt, started, finished, status)``
    (epoch seconds; a run taken over by another process): the rows do not say what an action
    queued for, so its limiter waits are not told; a retried step's backoff is the time between
    a ``failed`` attempt and the next (after an ``interrupted`` one it is the takeover's, not told)."""
    attempts: dict = {}
    for path, kind, attempt, started, finished, status in rows:
        attempts.setdefault(path, []).append((attempt or 1, kind, started, finished, status))
    events = []
    depth = {}
    for path, tries in attempts.items():
        tries.sort(key=lambda t: t[0])
        depth[path] = path.count(".") + path.count("[")
        first = next((t for t in tries if t[2] is not None), None)
        if first is None:
            continue
        events.append((first[2], 0, depth[path], SimpleNamespace(type="step.started", path=path, kind=first[1],
                                                                  ts=first[2])))
        for before, after in zip(tries, tries[1:]):
            if before[4] == "failed" and before[3] is not None and after[2] is not None and after[2] > before[3]:
                events.append((before[3], 1, -depth[path], SimpleNamespace(
                    type="step.retrying", path=path, delay=after[2] - before[3], ts=before[3])))
        last = tries[-1]
        if last[3] is not None:
            status = last[4] if last[4] in ("succeeded", "failed", "skipped", "cancelled") else "succeeded"
            events.append((last[3], 2, -depth[path], SimpleNamespace(type=f"step.{status}", path=path, ts=last[3],
                                                                      continued=True)))
    events.sort(key=lambda e: e[:3])
    tracker = CriticalPath(shape, eager=True)
    tracker.begin = begin if begin is not None else (events[0][0] if events else None)
    for _, _, _, event in events:
        tracker.emit(event)
    return tracker.summary(end if end is not None else (events[-1][0] if events else 0.0))
