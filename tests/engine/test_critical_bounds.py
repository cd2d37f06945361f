"""engine/critical.py's bounds and its second source: a 10 000-item foreach folds in O(1) per
item, the saving estimate follows its documented model exactly, and stored rows (a run taken
over by another process) give the same path as the live events."""

from __future__ import annotations

import heapq
from types import SimpleNamespace

import pytest

import engine
from engine.critical import CriticalPath, shape_of
from engine.critical_rows import from_rows
from tests.engine.helpers import load, run

FOREACH = """
name: big
steps:
  - id: per_file
    foreach: ${inputs.files}
    concurrency: 8
    steps:
      - id: a
        uses: wait
        with: {seconds: 0}
      - id: b
        uses: wait
        with: {seconds: 0}
inputs:
  files: {type: array}
"""


def started(path, ts, kind="action"):
    return SimpleNamespace(type="step.started", path=path, ts=ts, kind=kind)


def ended(path, ts):
    return SimpleNamespace(type="step.succeeded", path=path, ts=ts)


def test_a_10000_item_foreach_keeps_only_the_items_in_flight_and_goes_through_its_longest():
    tracker = CriticalPath(shape_of(engine.plan(load(FOREACH))))
    tracker.emit(SimpleNamespace(type="run.started", ts=0.0))
    tracker.emit(started("per_file", 0.0, "foreach"))
    lanes = [(0.0, lane) for lane in range(8)]  # 8 workers pull the items in order
    most = 0
    pending = []  # (time, order, event): the events of the items in flight, in time order
    order = 0
    for index in range(10_000):
        free, lane = heapq.heappop(lanes)
        length = 3.0 if index == 4321 else 1.0
        for when, event in ((free, started(f"per_file[{index}].a", free)),
                            (free + length / 2, ended(f"per_file[{index}].a", free + length / 2)),
                            (free + length / 2, started(f"per_file[{index}].b", free + length / 2)),
                            (free + length, ended(f"per_file[{index}].b", free + length))):
            order += 1
            heapq.heappush(pending, (when, order, event))
        heapq.heappush(lanes, (free + length, lane))
        while pending and pending[0][0] <= lanes[0][0]:  # what happened before the next item starts
            tracker.emit(heapq.heappop(pending)[2])
            items = tracker.open["per_file"].items  # made when the first item's first step ends
            most = max(most, len(items.open) if items is not None else 0)
            assert len(tracker.open) <= 1 + 8  # the foreach and the steps running now
    while pending:
        tracker.emit(heapq.heappop(pending)[2])
    end = max(t for t, _ in lanes)
    tracker.emit(ended("per_file", end))
    summary = tracker.summary(end)
    assert most <= 8, f"{most} items held at once"
    assert summary["critical_path"] == ["per_file[4321].a", "per_file[4321].b"]
    [held] = summary["held_back"]
    assert held["waited_ms"] == pytest.approx((end - 3.0) * 1000)
    # the model: max(longest, ceil(n / slots) × mean) = 1250.25 s with 8 slots, 625.125 s with 16
    assert held["saving_ms"] == pytest.approx(625_125.0)
    assert held["text"] == "per_file: 20 min 48 s waiting for a slot of 8 — 16 would have saved ~10 min 25 s"


async def test_stored_rows_give_the_live_path():
    text = """
    name: rows
    steps:
      - id: a
        uses: wait
        with: {seconds: 0.02}
      - id: per_file
        foreach: ${[0.01, 0.06, 0.01]}
        steps:
          - id: get
            uses: wait
            with:
              seconds: ${item}
      - id: c
        uses: wait
        with: {seconds: 0.01}
        needs: [a]
      - id: d
        uses: wait
        with: {seconds: 0.01}
        needs: [per_file, c]
    """
    result, sink = await run(text)
    rows, begun = {}, {}
    for event in sink.events:
        if event.type == "step.started":
            begun[event.path] = (event.kind, event.ts)
        elif event.type in ("step.succeeded", "step.failed"):
            kind, ts = begun[event.path]
            rows[event.path] = (event.path, kind, 1, ts, event.ts, event.type.split(".")[1])
    shape = shape_of(engine.plan(load(text)))
    stored = from_rows(list(rows.values())[::-1], shape)  # in any order
    assert result.summary["critical_path"] == ["a", "per_file[1].get", "d"]
    assert stored["critical_path"] == result.summary["critical_path"]
    assert from_rows(list(rows.values()))["critical_path"] == ["a", "per_file[1].get", "d"]  # no plan: by time


def test_rows_of_a_retried_step_count_the_time_between_attempts_as_backoff():
    rows = [("fetch", "action", 1, 10.0, 10.5, "failed"), ("fetch", "action", 2, 11.5, 12.0, "succeeded"),
            ("after", "action", 1, 12.0, 12.25, "succeeded")]
    summary = from_rows(rows)
    assert summary["critical_path"] == ["fetch", "after"]
    assert summary["held_back"] == [{"block": "fetch", "cause": "backoff", "waited_ms": 1000.0, "limit": None,
                                     "saving_ms": None,
                                     "text": "fetch: 1.0 s waiting between attempts (retry backoff)"}]


def test_a_repeat_folds_each_pass_as_the_next_begins():
    tracker = CriticalPath(shape_of(engine.plan(load("""
    name: poll
    steps:
      - id: poll
        repeat: {until: "${loop.index == 999}", max: 1000}
        steps:
          - {id: check, uses: wait, with: {seconds: 0}}
    """))))
    tracker.emit(started("poll", 0.0, "group"))
    for index in range(1000):
        tracker.emit(started(f"poll[{index}].check", index + 0.1))
        tracker.emit(ended(f"poll[{index}].check", index + 0.9))
        assert len(tracker.open["poll"].items.open) == 1 and len(tracker.open["poll"].items.passes) <= 1
    tracker.emit(ended("poll", 1000.0))
    path = tracker.summary(1000.0)["critical_path"]
    assert path == [f"poll[{i}].check" for i in range(1000)]


def test_a_fault_in_the_figures_turns_them_off_and_never_reaches_the_run():
    tracker = CriticalPath()
    tracker.emit(started("a", 0.0))
    tracker.emit(SimpleNamespace(type="step.succeeded", path="a"))  # no time stamp: the fold fails
    tracker.emit(ended("b", 1.0))
    assert tracker.summary(2.0) == {"critical_path": [], "held_back": [],
                                    "critical_path_error": "AttributeError: 'types.SimpleNamespace' object has no "
                                                           "attribute 'ts'"}
