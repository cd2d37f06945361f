"""The garbage collector's thresholds while runs are under way (engine/runner.py, ``_Collector``):
the full pass comes less often during a run, and the process's own thresholds come back when
the last run ends, however it ended."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

import engine
from engine.actions.base import Action
from engine.runner import COLLECTOR


class Seen(Action):
    """Returns the thresholds the collector has while the step runs."""

    name = "seen_thresholds"

    async def run(self, params, ctx):
        await asyncio.sleep(0.01)
        return list(gc.get_threshold())


class Boom(Action):
    name = "boom"

    async def run(self, params, ctx):
        raise RuntimeError("boom")


def make_plan(uses: str):
    registry = engine.default_registry()
    registry.register(Seen)
    registry.register(Boom)
    workflow = engine.load(f"name: g\nsteps:\n  - {{id: s, uses: {uses}}}\n", "g.yaml", registry=registry)
    return engine.plan(workflow, registry), registry


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


async def test_a_run_raises_the_full_pass_threshold_and_puts_it_back(thresholds):
    plan, registry = make_plan("seen_thresholds")
    result = await engine.Runner(registry).run(plan, {})
    assert result.status == "succeeded"
    assert result.outputs["s"] == [700, 10, 10 * COLLECTOR.FACTOR]
    assert gc.get_threshold() == (700, 10, 10)


async def test_the_thresholds_come_back_only_when_the_last_of_several_runs_ends(thresholds):
    plan, registry = make_plan("seen_thresholds")
    runner = engine.Runner(registry)
    first = asyncio.ensure_future(runner.run(plan, {}))
    await asyncio.sleep(0)
    second = await runner.run(plan, {})
    assert second.outputs["s"] == [700, 10, 100]
    assert (await first).outputs["s"] == [700, 10, 100]
    assert gc.get_threshold() == (700, 10, 10)


async def test_a_failed_or_cancelled_run_puts_them_back(thresholds):
    plan, registry = make_plan("boom")
    assert (await engine.Runner(registry).run(plan, {})).status == "failed"
    assert gc.get_threshold() == (700, 10, 10)
    plan, registry = make_plan("seen_thresholds")
    task = asyncio.ensure_future(engine.Runner(registry).run(plan, {}))
    await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gc.get_threshold() == (700, 10, 10)


async def test_thresholds_someone_else_set_during_a_run_are_kept(thresholds):
    plan, registry = make_plan("seen_thresholds")
    task = asyncio.ensure_future(engine.Runner(registry).run(plan, {}))
    await asyncio.sleep(0.001)
    gc.set_threshold(500, 5, 5)  # the host changed its mind while the run went on
    await task
    assert gc.get_threshold() == (500, 5, 5)


class Box:
    pass


def test_the_raised_threshold_still_collects_cycles():
    """Nothing is disabled or frozen: a cycle made during a run is freed by a collection."""
    COLLECTOR.enter()
    try:
        assert gc.isenabled()
        box = Box()
        box.me = box
        ref = weakref.ref(box)
        del box
        gc.collect()
        assert ref() is None
    finally:
        COLLECTOR.leave()
