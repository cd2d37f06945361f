"""Parallel branches of eager actions (``wait``, ``merge``) start in their block's task and get
a Task of their own only once they wait (blocks/common.py, ``start``): same events, outputs,
failures and cancellations as with a Task each from the start."""

from __future__ import annotations

import asyncio

import engine

from .helpers import SETTINGS


async def run(text: str, inputs=None):
    workflow = engine.load(text, "eager.yaml", settings=SETTINGS)
    sink = engine.ListSink()
    result = await engine.Runner(settings=SETTINGS).run(engine.plan(workflow), inputs or {}, sink)
    return result, sink


def steps(sink) -> list[tuple[str, str]]:
    return [(e.type, e.path) for e in sink.events if getattr(e, "path", None) is not None]


class CountingTasks:
    """Counts the Tasks created on the running loop."""

    def __init__(self, loop):
        self.count = 0
        self.loop = loop

    def __enter__(self):
        self.loop.set_task_factory(self)
        return self

    def __exit__(self, *exc):
        self.loop.set_task_factory(None)

    def __call__(self, loop, coro, **kwargs):
        self.count += 1
        return asyncio.Task(coro, loop=loop, **kwargs)


async def test_branches_that_end_at_once_need_no_task_and_keep_their_order():
    text = "name: e\nsteps:\n  - id: p\n    parallel:\n" + "".join(
        f"      - {{id: b{i}, uses: wait, with: {{seconds: 0, value: {i}}}}}\n" for i in range(50))
    with CountingTasks(asyncio.get_running_loop()) as tasks:
        result, sink = await run(text)
    assert result.status == "succeeded"
    assert result.outputs["p"] == {f"b{i}": i for i in range(50)}
    assert tasks.count < 5  # the run's own, not one a branch
    expected = [("step.started", "p")]
    for i in range(50):
        expected += [("step.started", f"p.b{i}"), ("step.succeeded", f"p.b{i}")]
    assert steps(sink) == expected + [("step.succeeded", "p")]


async def test_branches_that_wait_go_on_in_tasks_of_their_own():
    text = """
    name: e
    steps:
      - id: p
        parallel:
          - {id: slow, uses: wait, with: {seconds: 0.05, value: 1}}
          - {id: quick, uses: wait, with: {seconds: 0, value: 2}}
          - {id: join, uses: merge, with: {values: [{a: 1}, {b: 2}]}}
    """
    result, sink = await run(text)
    assert result.status == "succeeded"
    assert result.outputs["p"] == {"slow": 1, "quick": 2, "join": {"a": 1, "b": 2}}
    assert steps(sink)[-2:] == [("step.succeeded", "p.slow"), ("step.succeeded", "p")]


async def test_a_branch_failing_at_once_cancels_one_that_waits_before_its_task_ran():
    """fail_fast: ``slow`` is parked on its sleep (its Task not yet stepped) when ``bad`` fails
    in its first step; ``slow`` is cancelled in its own code (step.cancelled), ``after`` had
    started and ended too, as with a Task each."""
    text = """
    name: e
    inputs: {n: {type: string, default: "x"}}
    steps:
      - id: p
        parallel:
          - {id: slow, uses: wait, with: {seconds: 5}}
          - {id: bad, uses: wait, with: {seconds: "${inputs.n}"}}
          - {id: after, uses: wait, with: {seconds: 0, value: 3}}
    """
    result, sink = await run(text)
    assert result.status == "failed" and "p.bad" in result.error
    kinds = {path: kind for kind, path in steps(sink)}
    assert kinds["p.slow"] == "step.cancelled"
    assert kinds["p.bad"] == "step.failed"
    assert kinds["p.after"] == "step.succeeded"
    assert result.summary["wall_ms"] < 4000


async def test_wait_all_lets_the_waiting_branches_finish_after_an_immediate_failure():
    text = """
    name: e
    inputs: {n: {type: string, default: "x"}}
    steps:
      - id: p
        on_error: wait_all
        parallel:
          - {id: slow, uses: wait, with: {seconds: 0.02, value: 1}}
          - {id: bad, uses: wait, with: {seconds: "${inputs.n}"}}
    """
    result, sink = await run(text)
    assert result.status == "failed"
    kinds = {path: kind for kind, path in steps(sink)}
    assert kinds["p.slow"] == "step.succeeded" and kinds["p.bad"] == "step.failed"


async def test_cancelling_the_run_cancels_the_parked_branches_in_their_own_code():
    text = """
    name: e
    steps:
      - id: p
        parallel:
          - {id: a, uses: wait, with: {seconds: 5}}
          - {id: b, uses: wait, with: {seconds: 5}}
    """
    workflow = engine.load(text, "eager.yaml", settings=SETTINGS)
    sink = engine.ListSink()
    runner = engine.Runner(settings=SETTINGS)
    task = asyncio.ensure_future(runner.run(engine.plan(workflow), {}, sink, run_id="r1"))
    await asyncio.sleep(0.05)
    assert runner.cancel("r1")
    result = await task
    assert result.status == "cancelled"
    kinds = {path: kind for kind, path in steps(sink)}
    assert kinds == {"p": "step.cancelled", "p.a": "step.cancelled", "p.b": "step.cancelled"}


async def test_a_step_with_a_timeout_or_a_non_eager_action_keeps_its_task():
    text = """
    name: e
    steps:
      - id: p
        parallel:
          - {id: t, uses: wait, timeout: 0.02, with: {seconds: 1}}
          - {id: q, uses: wait, with: {seconds: 0}}
    """
    result, sink = await run(text)
    assert result.status == "failed" and "timed out" in result.error
    assert {path: kind for kind, path in steps(sink)}["p.t"] == "step.failed"
