"""Global limits (engine/throttle.py): a skill's ``concurrency`` and http's ``host_concurrency`` and
``rate_limit`` hold for every run of the process; time queued for them is neither work nor
part of a timeout; what a workflow writes there cannot hurt other runs or the process."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

import engine
from engine import throttle
from engine.actions.base import ActionContext
from tests.engine.actions.counting_server import CountingServer, fits_rate


@pytest.fixture(scope="module")
def server():
    server = CountingServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fresh(server):
    server.reset()
    yield
    assert not throttle.LOCAL._slots, "every slot was given back and its entry dropped"


SETTINGS = engine.EngineSettings(extra={"http_allow": ("127.0.0.1",)})


def registry(**skills):
    """The built-ins plus ``name=(concurrency, config)`` skills over the http action."""
    base = engine.default_registry()
    made = {name: engine.SkillAction(engine.SkillSpec(name=name, action="http", config=config, concurrency=limit),
                                     base.get("http")) for name, (limit, config) in skills.items()}
    return base.with_skills(made.get, lambda: list(made))


def foreach(items: int, step: dict, concurrency: int = 10, on_error: str | None = None) -> str:
    body = {**step, "id": "get", **({"on_error": on_error} if on_error else {})}
    return (f"name: many\nsteps:\n  - id: each\n    foreach: {list(range(items))}\n"
            f"    concurrency: {concurrency}\n    steps:\n      - {json.dumps(body)}\n")


async def run(text: str, actions=None, runner=None, run_id=None):
    workflow = engine.load(text, "t.yaml", registry=actions, settings=SETTINGS)
    runner = runner or engine.Runner(actions, settings=SETTINGS)
    sink = engine.ListSink()
    result = await runner.run(engine.plan(workflow, actions), {}, sink, run_id=run_id)
    return result, sink


# -- queued time ---------------------------------------------------------------------------------
async def test_time_waiting_for_the_rate_is_not_the_requests_timeout(server):
    """The issue's case: 10 items at 2 a second with a timeout of 1.5 s all succeed (were: 5 failed unsent)."""
    text = foreach(10, {"uses": "http", "with": {"url": f"{server.base}/a?tag=t1", "rate_limit": 2.0,
                                                  "timeout": 1.5}}, on_error="continue")
    start = time.monotonic()
    result, sink = await run(text)
    wall = time.monotonic() - start
    assert result.status == "succeeded" and not sink.of_type("step.failed"), [e.error for e in sink.of_type("step.failed")]
    assert server.seen() == 10 and len([e for e in sink.of_type("step.succeeded") if e.path.startswith("each[")]) == 10
    assert wall >= (10 - 2) / 2 * 0.9, "2 at once, then one every half second"
    assert fits_rate(server.arrivals, 2.0)
    worked = [e.duration_ms for e in sink.of_type("step.succeeded") if e.path.startswith("each[")]
    assert max(worked) < 1000, f"time queued is not work: {worked}"
    assert result.summary["work_ms"] < 3000, result.summary


async def test_a_turn_moves_the_steps_deadline_by_the_time_queued():
    """With the runner's step deadline on the context (``ctx.deadline``), a wait in ``queued``
    is kept off it: 0.5 s queued + 0.2 s of work fit a timeout of 0.3 s."""

    class Context(ActionContext):
        __slots__ = ("deadline",)

    ctx = Context("r", "s", 1, SETTINGS)
    async with asyncio.timeout(0.3) as deadline:
        ctx.deadline = deadline
        async with throttle.queued(ctx):
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.2)
    assert 0.45 < ctx.waited < 1.0
    with pytest.raises(TimeoutError):  # the work itself is still bounded
        async with asyncio.timeout(0.3) as deadline:
            ctx.deadline = deadline
            async with throttle.queued(ctx):
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)


async def test_time_waiting_for_the_rate_is_not_the_steps_timeout(server):
    text = foreach(10, {"uses": "http", "timeout": 1.5, "with": {"url": f"{server.base}/a?tag=t2",
                                                                  "rate_limit": 2.5}}, on_error="continue")
    result, sink = await run(text)
    assert not sink.of_type("step.failed") and server.seen() == 10


# -- shared by the runs of a process --------------------------------------------------------------
async def test_two_runs_share_a_skills_concurrency(server):
    actions = registry(one_at_a_time=(1, {"url": f"{server.base}/s?tag=skill&delay=0.15"}))
    text = foreach(4, {"uses": "one_at_a_time"}, concurrency=4)
    start = time.monotonic()
    results = await asyncio.gather(run(text, actions), run(text, actions))
    assert [r.status for r, _ in results] == ["succeeded", "succeeded"]
    assert server.seen() == 8 and server.most == 1, f"most in flight: {server.most}"
    assert time.monotonic() - start >= 8 * 0.15 * 0.95
    for _, sink in results:  # the waits are queued time, not the steps' work
        assert max(e.duration_ms for e in sink.of_type("step.succeeded") if e.path.startswith("each[")) < 600


async def test_two_runs_share_a_hosts_concurrency(server):
    text = foreach(6, {"uses": "http", "with": {"url": f"{server.base}/h?tag=host&delay=0.1", "host_concurrency": 2}})
    results = await asyncio.gather(run(text), run(text))
    assert [r.status for r, _ in results] == ["succeeded", "succeeded"]
    assert server.seen() == 12 and server.most == 2, f"most in flight: {server.most}"


async def test_two_runs_share_a_rate(server):
    text = foreach(6, {"uses": "http", "with": {"url": f"{server.base}/r?tag=rate", "rate_limit": 4.0}})
    start = time.monotonic()
    results = await asyncio.gather(run(text), run(text))
    assert [r.status for r, _ in results] == ["succeeded", "succeeded"]
    assert server.seen() == 12 and fits_rate(server.arrivals, 4.0)
    assert time.monotonic() - start >= (12 - 4) / 4 * 0.9, "one bucket of 4 for both runs, not one each"


def test_runs_on_other_event_loops_of_the_process_share_a_limit(server):
    """Per process, not per loop: two threads, each with its loop, under one skill's limit of 1."""
    actions = registry(per_process=(1, {"url": f"{server.base}/p?tag=loops&delay=0.1"}))
    text = foreach(3, {"uses": "per_process"}, concurrency=3)
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(asyncio.run(run(text, actions))[0].status))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == ["succeeded", "succeeded"] and server.seen() == 6 and server.most == 1


# -- cancelled while waiting ----------------------------------------------------------------------
async def test_a_run_cancelled_while_waiting_for_a_slot_gives_back_nothing_it_did_not_hold(server):
    actions = registry(held=(1, {"url": f"{server.base}/c?tag=${{inputs.tag}}&delay=${{inputs.delay}}"}))
    first = "name: a\nsteps:\n  - {id: s, uses: held, with: {tag: first, delay: 0.8}}\n"
    second = "name: b\nsteps:\n  - {id: s, uses: held, with: {tag: second, delay: 0}}\n"
    third = "name: c\nsteps:\n  - {id: s, uses: held, with: {tag: third, delay: 0}}\n"
    runner = engine.Runner(actions, settings=SETTINGS)
    holder = asyncio.create_task(run(first, actions, runner, "first"))
    while server.seen("first") < 1:
        await asyncio.sleep(0.01)
    waiting = asyncio.create_task(run(second, actions, runner, "second"))
    await asyncio.sleep(0.2)
    assert runner.cancel("second")
    result, _ = await waiting
    assert result.status == "cancelled" and server.seen("second") == 0
    assert throttle.LOCAL.holding(("skill", "held")) == 1, "the first run still holds its slot"
    later = asyncio.create_task(run(third, actions, runner, "third"))
    await asyncio.sleep(0.2)
    assert server.seen("third") == 0, "the slot is still the first run's"
    assert (await holder)[0].status == "succeeded" and (await later)[0].status == "succeeded"
    assert server.most == 1 and throttle.LOCAL.holding(("skill", "held")) == 0


async def test_a_slot_handed_to_a_waiter_cancelled_in_that_moment_goes_on():
    local = throttle.LocalThrottle()
    key = ("skill", "race")
    got = asyncio.Event()

    async def take(hold: float):
        async with local.slot(key, 1):
            got.set()
            await asyncio.sleep(hold)

    first = asyncio.create_task(take(0.05))
    await got.wait()
    got.clear()
    second = asyncio.create_task(take(0))
    await asyncio.sleep(0.01)  # in line
    await first  # its release hands the slot to ``second`` (a callback not yet run) ...
    second.cancel()  # ... which is cancelled before it could take it
    with pytest.raises(asyncio.CancelledError):
        await second
    assert local.holding(key) == 0 and not local._slots
    await asyncio.wait_for(take(0), 1)  # and the next one gets it


async def test_a_pace_cancelled_before_its_start_gives_its_place_back():
    local = throttle.LocalThrottle()
    await local.pace(("k",), 1.0)  # the bucket of one is spent: the next waits a second
    waiter = asyncio.create_task(local.pace(("k",), 1.0))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    start = time.monotonic()
    await local.pace(("k",), 1.0)
    assert time.monotonic() - start < 1.1, "not two seconds: the cancelled one's place came back"


# -- hostile values -------------------------------------------------------------------------------
@pytest.mark.parametrize("with_, message", [
    ({"host_concurrency": 0}, "must be at least 1"),
    ({"host_concurrency": -3}, "must be at least 1"),
    ({"host_concurrency": 1.5}, "whole number"),
    ({"rate_limit": 0}, "must be more than 0"),
    ({"rate_limit": -1}, "must be more than 0"),
    ({"rate_limit": "inf"}, "finite number"),
    ({"rate_limit": "nan"}, "finite number"),
])
def test_zero_negative_and_endless_limits_are_refused_where_the_workflow_is_checked(with_, message):
    text = f"name: bad\nsteps:\n  - {json.dumps({'id': 'h', 'uses': 'http', 'with': {'url': 'http://x.test/', **with_}})}\n"
    with pytest.raises(engine.WorkflowInvalid) as info:
        engine.load(text, "bad.yaml", settings=SETTINGS)
    assert message in str(info.value), str(info.value)


async def test_a_rate_too_small_to_space_fails_the_step_and_nothing_else(server):
    text = foreach(2, {"uses": "http", "with": {"url": f"{server.base}/x?tag=tiny", "rate_limit": 1e-320}})
    result, _ = await run(text)
    assert result.status == "failed" and "finite number of starts a second" in result.error
    assert server.seen() == 0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None, "2"])
def test_the_throttle_refuses_limits_that_are_not_whole_numbers_of_at_least_one(bad):
    with pytest.raises(ValueError):
        throttle.check_limit(bad)


async def test_huge_limits_are_as_good_as_none(server):
    actions = registry(huge=(10 ** 30, {"url": f"{server.base}/g?tag=huge&delay=0.1"}))
    text = foreach(6, {"uses": "huge"}, concurrency=6)
    result, _ = await run(text, actions)
    assert result.status == "succeeded" and server.most == 6
    server.reset()
    text = foreach(20, {"uses": "http", "with": {"url": f"{server.base}/g?tag=fast", "rate_limit": 1e300,
                                                  "host_concurrency": 10 ** 18}}, concurrency=20)
    start = time.monotonic()
    result, _ = await run(text)
    assert result.status == "succeeded" and server.seen() == 20 and time.monotonic() - start < 3


async def test_a_tiny_rate_of_one_workflow_does_not_slow_another_workflows_requests(server):
    """Limits are keyed by host and value: a hostile ``rate_limit: 0.001`` is a limit of its own."""
    runner = engine.Runner(settings=SETTINGS)
    slow = asyncio.create_task(run(foreach(3, {"uses": "http", "with": {"url": f"{server.base}/t?tag=slow",
                                                                         "rate_limit": 0.001}}), None, runner, "slow"))
    while server.seen("slow") < 1:
        await asyncio.sleep(0.01)
    start = time.monotonic()
    result, _ = await run(foreach(10, {"uses": "http", "with": {"url": f"{server.base}/t?tag=quick",
                                                                "rate_limit": 50.0}}))
    assert result.status == "succeeded" and time.monotonic() - start < 2
    runner.cancel("slow")
    assert (await slow)[0].status == "cancelled" and server.seen("slow") == 1


def test_keys_a_workflow_invents_do_not_pile_up_in_the_process():
    local = throttle.LocalThrottle()

    async def many():
        for n in range(2000):
            await local.pace(("http-rate", f"host{n}.test", "1000.0"), 1000.0)
            async with local.slot(("http-host", f"host{n}.test", "3"), 3):
                pass
            if n % 100 == 0:
                await asyncio.sleep(0.01)

    asyncio.run(many())
    assert not local._slots and len(local._paces) <= 2 * throttle.SWEEP_AT
