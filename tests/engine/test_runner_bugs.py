"""Bugs the runner had, each found by running workflows as a user would: a cancel during a retry's
backoff, an error in ``if`` under ``on_error: continue``, ``min_success`` with ``continue``."""

import asyncio
import time

import pytest

import engine
from tests.engine import helpers
from tests.engine.helpers import run, statuses


async def test_a_cancel_during_a_retry_backoff_ends_the_step_cancelled():
    workflow = helpers.load(f"""
        name: backoff
        steps:
          - id: a
            uses: python
            with: {{function: "tests.engine.helpers:flaky", args: ["backoff-{time.time()}", 5]}}
            retry: {{attempts: 3, delay: 10}}
    """)
    runner = engine.Runner(settings=helpers.SETTINGS)
    sink = engine.ListSink()
    task = asyncio.create_task(runner.run(engine.plan(workflow), {}, sink, run_id="b1"))
    while not sink.of_type("step.retrying"):
        await asyncio.sleep(0.01)
    runner.cancel("b1")
    result = await asyncio.wait_for(task, 5)
    assert result.status == "cancelled"
    assert [e.path for e in sink.of_type("step.cancelled")] == ["a"]
    assert statuses(sink)["a"] == "cancelled"


async def test_an_error_in_if_honours_on_error_continue_as_an_error_in_with_does():
    result, sink = await run("""
        name: if_error
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: 1}}
          - {id: b, uses: wait, if: "${a.missing.deeper > 1}", on_error: continue, with: {seconds: 0, value: 2}}
          - {id: c, uses: wait, with: {seconds: 0, value: "${b}"}}
    """)
    assert result.status == "succeeded", result.error
    [failed] = sink.of_type("step.failed")
    assert failed.path == "b" and failed.continued and failed.error.startswith("if:")
    assert result.outputs["b"] is None and result.outputs["c"] is None


def test_min_success_with_on_error_continue_is_refused_with_the_rule():
    with pytest.raises(engine.WorkflowInvalid) as caught:
        helpers.load("""
            name: both
            steps:
              - id: p
                on_error: continue
                min_success: 1
                parallel:
                  - {id: a, uses: wait, with: {seconds: 0}}
                  - {id: b, uses: wait, with: {seconds: 0}}
        """)
    [issue] = caught.value.issues
    assert issue.path == "steps[0].min_success" and "on_error: continue" in issue.message
