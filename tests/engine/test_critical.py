"""The critical path of real runs (engine/critical.py): the chain of steps that set the wall
time, start to end, through sequences, needs graphs, parallel branches and foreach items."""

from __future__ import annotations

import pytest

from tests.engine.helpers import run

pytestmark = pytest.mark.asyncio


def wait(step_id: str, seconds, indent: int = 2, extra: str = "") -> str:
    pad = " " * indent
    return f"{pad}- id: {step_id}\n{pad}  uses: wait\n{pad}  with:\n{pad}    seconds: {seconds}\n{extra}"


async def test_a_sequence_then_a_foreach_then_a_parallel_goes_through_the_longest_item_and_branch():
    text = ("name: t\nsteps:\n" + wait("first", 0.02)
            + "  - id: per_file\n    foreach: ${[0.02, 0.12, 0.02]}\n    steps:\n"
            + wait("download", "${item}", 6) + wait("parse", 0.01, 6)
            + "  - id: fan\n    parallel:\n" + wait("a", 0.02, 6) + wait("b", 0.1, 6)
            + wait("last", 0.01))
    result, _ = await run(text)
    assert result.status == "succeeded"
    assert result.summary["critical_path"] == ["first", "per_file[1].download", "per_file[1].parse", "fan.b", "last"]
    assert result.summary["held_back"] == []  # 3 items under 8 slots, 2 branches without a limit: nothing waited


async def test_a_needs_graph_goes_back_through_the_need_that_ended_last():
    text = ("name: dag\nsteps:\n" + wait("a", 0.03) + wait("b", 0.08, extra="    needs: []\n")
            + wait("c", 0.15, extra="    needs: [a]\n")  # ends at ~0.18, after b
            + wait("d", 0.01, extra="    needs: [b, c]\n")
            + wait("side", 0.05, extra="    needs: [a]\n"))  # ends early: not on the path
    result, _ = await run(text)
    assert result.summary["critical_path"] == ["a", "c", "d"]


async def test_a_needs_graph_inside_a_group_and_a_sequence_inside_a_branch():
    text = ("name: nest\nsteps:\n  - id: g\n    steps:\n"
            + wait("x", 0.1, 6) + wait("y", 0.02, 6, "        needs: []\n") + wait("z", 0.01, 6, "        needs: [x, y]\n")
            + "  - id: fan\n    parallel:\n      - id: slow\n        steps:\n"
            + wait("s1", 0.05, 10) + wait("s2", 0.05, 10) + wait("quick", 0.02, 6))
    result, _ = await run(text)
    assert result.summary["critical_path"] == ["g.x", "g.z", "fan.slow.s1", "fan.slow.s2"]


async def test_a_limited_foreach_says_how_long_its_items_waited_for_a_slot_and_what_more_would_save():
    text = ("name: slots\nsteps:\n  - id: per_file\n    foreach: ${[1, 2, 3, 4, 5, 6, 7, 8]}\n"
            "    concurrency: 4\n    steps:\n" + wait("download", 0.1, 6))
    result, _ = await run(text)
    path = result.summary["critical_path"]
    assert len(path) == 1 and path[0].startswith("per_file[") and path[0].endswith("].download")
    [held] = result.summary["held_back"]
    assert held["block"] == "per_file" and held["cause"] == "slot" and held["limit"] == 4
    assert 80 <= held["waited_ms"] <= 200, held  # the 2nd round of items: ~0.1 s after the longest
    assert 80 <= held["saving_ms"] <= held["waited_ms"], held  # 8 slots: one round instead of two
    assert held["text"].startswith("per_file: 0.1 s waiting for a slot of 4 — 8 would have saved ~0.1 s"), held


async def test_a_limited_parallel_waits_for_its_slot_and_one_long_branch_cannot_be_sped_up():
    text = ("name: p\nsteps:\n  - id: fan\n    concurrency: 1\n    parallel:\n"
            + wait("a", 0.05, 6) + wait("b", 0.05, 6) + wait("c", 0.05, 6))
    result, _ = await run(text)
    [held] = result.summary["held_back"]
    assert held["block"] == "fan" and held["limit"] == 1 and 80 <= held["waited_ms"] <= 200
    assert "waiting for a slot of 1 — 2 would have saved ~" in held["text"]
    assert held["saving_ms"] >= 40  # two at once: two rounds of 0.05 s instead of three


async def test_a_retried_step_on_the_path_is_held_back_by_its_backoff():
    text = ("name: r\nsteps:\n  - id: flaky\n    uses: python\n"
            "    with: {function: 'tests.engine.helpers:flaky', args: [critical-backoff, 2]}\n"
            "    retry: {attempts: 3, delay: 0.06, backoff: 1}\n" + wait("after", 0.01))
    result, sink = await run(text)
    assert result.status == "succeeded" and len(sink.of_type("step.retrying")) == 2
    assert result.summary["critical_path"] == ["flaky", "after"]
    [held] = result.summary["held_back"]
    assert held["block"] == "flaky" and held["cause"] == "backoff" and held["limit"] is None
    assert held["waited_ms"] == pytest.approx(120, abs=1) and held["saving_ms"] is None
    assert held["text"] == "flaky: 0.1 s waiting between attempts (retry backoff, 2 retries)"


async def test_a_failed_run_ends_its_path_at_the_failure_and_skipped_steps_are_not_on_it():
    text = ("name: f\nsteps:\n" + wait("a", 0.02)
            + "  - id: maybe\n    if: ${false}\n    uses: wait\n    with: {seconds: 1}\n"
            + "  - id: boom\n    uses: fail\n    with: {message: stop}\n" + wait("never", 0.01))
    result, _ = await run(text)
    assert result.status == "failed"
    assert result.summary["critical_path"] == ["a", "boom"]


async def test_a_switch_case_and_a_repeats_passes_are_followed_in_order():
    text = ("name: s\nsteps:\n  - id: route\n    switch: ${'b'}\n    cases:\n      a:\n"
            + wait("in_a", 0.5, 8) + "      b:\n" + wait("in_b1", 0.01, 8) + wait("in_b2", 0.01, 8)
            + "  - id: poll\n    repeat: {until: '${loop.index == 1}', max: 5}\n    steps:\n" + wait("check", 0.01, 6))
    result, _ = await run(text)
    assert result.summary["critical_path"] == ["route.in_b1", "route.in_b2", "poll[0].check", "poll[1].check"]


async def test_a_foreach_whose_body_is_a_needs_graph_follows_the_needs_inside_its_longest_item():
    text = ("name: items\nsteps:\n  - id: per_file\n    foreach: ${[0.01, 0.08, 0.01]}\n    steps:\n"
            + wait("a", "${item}", 6) + wait("b", 0.03, 6, "        needs: []\n")
            + wait("c", 0.02, 6, "        needs: [a]\n"))
    result, _ = await run(text)
    assert result.summary["critical_path"] == ["per_file[1].a", "per_file[1].c"]
