"""What held a run back, measured for real: a skill's concurrency and an http rate limit, as
the throttle reports the time each step queued (engine/throttle.py → engine/critical.py)."""

from __future__ import annotations

import re

import pytest

import engine
from tests.engine.actions.counting_server import CountingServer
from tests.engine.actions.test_throttle import SETTINGS, registry
from tests.engine.actions.test_throttle import foreach as _foreach


@pytest.fixture(scope="module")
def server():
    server = CountingServer()
    yield server
    server.close()


def foreach(items: int, step: dict, concurrency: int, base: str) -> str:
    """The throttle tests' foreach after a first request that makes the run's http client (its
    first call costs a few hundred ms on a loaded machine: it would be the longest item)."""
    warm = f"  - id: warm\n    uses: http\n    with: {{url: '{base}/w?tag=warm'}}\n"
    text = _foreach(items, step, concurrency)
    head, steps = text.split("steps:\n", 1)
    return f"{head}steps:\n{warm}{steps}"


async def run(text: str, actions=None):
    workflow = engine.load(text, "t.yaml", registry=actions, settings=SETTINGS)
    sink = engine.ListSink()
    return await engine.Runner(actions, settings=SETTINGS).run(engine.plan(workflow, actions), {}, sink), sink


async def test_a_skills_concurrency_holds_the_longest_item_and_the_foreach_itself_is_not_blamed(server):
    actions = registry(crit_one=(1, {"url": f"{server.base}/s?tag=crit-skill&delay=0.06"}))
    result, _ = await run(foreach(4, {"uses": "crit_one"}, 4, server.base), actions)
    assert result.status == "succeeded"
    warm, step = result.summary["critical_path"]
    assert warm == "warm" and step.startswith("each[") and step.endswith("].get")
    [held] = result.summary["held_back"]  # 4 items under 4 slots: only the skill's one slot waited
    assert held["block"] == "each.get" and held["cause"] == "slot" and held["limit"] == 1
    assert 150 <= held["waited_ms"] <= 400, held  # the last of four waited for the three before it
    assert held["saving_ms"] == pytest.approx(held["waited_ms"] / 2, abs=0.01)
    assert held["text"].startswith("each.get: 0.") and "waiting for a slot of 1 — 2 would have saved ~0." in held["text"]


async def test_an_outer_limit_is_not_credited_with_a_saving_an_inner_limit_would_eat(server):
    """8 items, 4 at a time, each waiting for a skill of one slot: doubling the foreach's slots
    would save nothing, so it gets no estimate (and the skill's wait is on the path)."""
    actions = registry(crit_serial=(1, {"url": f"{server.base}/s?tag=crit-serial&delay=0.03"}))
    result, _ = await run(foreach(8, {"uses": "crit_serial"}, 4, server.base), actions)
    held = {(h["block"], h["cause"]): h for h in result.summary["held_back"]}
    assert held[("each.get", "slot")]["limit"] == 1
    outer = held.get(("each", "slot"))
    assert outer is None or outer["saving_ms"] is None and "no estimate" in outer["text"], outer


async def test_a_rate_limit_on_the_path_is_told_with_the_rate(server):
    text = foreach(10, {"uses": "http", "with": {"url": f"{server.base}/r?tag=crit-rate", "rate_limit": 4.0}},
                   10, server.base)
    result, _ = await run(text)
    assert result.status == "succeeded"
    [held] = result.summary["held_back"]
    assert held["block"] == "each.get" and held["cause"] == "rate" and held["limit"] == 4.0
    # a bucket of 4 lets 4 go at once, then one every 0.25 s: the last waits ~1.5 s
    assert 1000 <= held["waited_ms"] <= 2000, held
    assert held["saving_ms"] == pytest.approx(held["waited_ms"] / 2, abs=0.01)
    assert re.fullmatch(r"each\.get: 1\.\d s waiting for a rate limit of 4/s — 8/s would have saved ~0\.\d s",
                        held["text"]), held
