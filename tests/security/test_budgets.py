"""Budgets: a run that goes past one is stopped and fails naming it; per-user runs queue."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

import engine
from engine import Budgets, EngineSettings

SAVED: dict[str, str] = {}


def run(text: str, inputs=None, **limits):
    settings = EngineSettings(budgets=Budgets(**limits))
    registry = engine.default_registry()
    workflow = engine.load(text, registry=registry, settings=settings)

    async def resolve(name, version):
        return SAVED.get(name)

    runner = engine.Runner(registry, settings, services={"workflows": resolve})
    sink = engine.ListSink()
    result = asyncio.run(runner.run(engine.plan(workflow, registry), inputs, sink))
    return result, sink.events


def started(events, prefix=""):
    return [e.path for e in events if e.type == "step.started" and e.path.startswith(prefix)]


FOREACH = """name: many
inputs: {n: {type: array}}
steps:
  - id: each
    foreach: ${inputs.n}
    concurrency: 4
    steps:
      - {id: w, uses: wait, on_error: continue, with: {seconds: 0, value: "${item}"}}
"""


def test_executed_steps_are_budgeted_and_on_error_continue_cannot_swallow_it():
    result, events = run(FOREACH, {"n": list(range(50))}, steps=10)
    assert result.status == "failed"
    assert "budget of 10 executed steps is spent" in result.error and "WORKFLOW_MAX_STEPS" in result.error
    succeeded = [e for e in events if e.type == "step.succeeded" and e.path.endswith(".w")]
    assert len(succeeded) == 10
    assert len(started(events, "each[")) <= 10 + 4, "the run stops: the other items never start"
    block = [e for e in events if getattr(e, "path", None) == "each" and e.type in ("step.failed", "step.succeeded")]
    assert block and block[-1].type == "step.failed", "the block ends with the run, not running forever"


def test_a_foreach_over_its_item_budget_fails_before_any_item_starts():
    result, events = run(FOREACH, {"n": list(range(101))}, items_per_block=100)
    assert result.status == "failed" and "101 items is more than a foreach may have (100" in result.error
    assert started(events, "each[") == []


def test_foreach_items_are_counted_over_the_whole_run():
    text = FOREACH + """  - id: again
    foreach: ${inputs.n}
    steps:
      - {id: w2, uses: wait, with: {seconds: 0}}
"""
    result, events = run(text, {"n": list(range(60))}, items_per_run=100)
    assert result.status == "failed" and "budget of 100 foreach items is spent" in result.error
    assert started(events, "again[") == []


def test_output_bytes_are_budgeted():
    text = """name: big
steps:
  - id: each
    foreach: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    concurrency: 1
    steps:
      - {id: w, uses: wait, with: {seconds: 0, value: "${'x' * 100000}"}}
"""
    result, events = run(text, output_bytes=450_000)
    assert result.status == "failed" and "outputs passed" in result.error
    assert len([e for e in events if e.type == "step.succeeded" and e.path.endswith(".w")]) == 4


def test_nested_sub_workflow_fan_out_shares_the_budget_of_the_run_that_started_it():
    SAVED["leaf"] = "name: leaf\nsteps:\n  - {id: w, uses: wait, with: {seconds: 0, value: 1}}\n"
    SAVED["middle"] = """name: middle
steps:
  - id: each
    foreach: [1, 2, 3]
    steps:
      - {id: call, uses: workflow, with: {name: leaf}}
"""
    text = """name: top
steps:
  - id: each
    foreach: [1, 2, 3, 4]
    steps:
      - {id: call, uses: workflow, on_error: continue, with: {name: middle}}
"""
    result, events = run(text, sub_runs=8)
    assert result.status == "failed" and "budget of 8 sub-workflow runs is spent" in result.error
    # the whole tree stopped: 4 middles and 12 leaves would be 16 runs
    ran = [e for e in events if e.type == "step.succeeded" and e.path.endswith(".w")]
    assert len(ran) <= 8


LONG = """name: long
steps:
  - {id: w, uses: wait, with: {seconds: 0.4, value: 1}}
"""


@pytest.mark.django_db(transaction=True)
async def test_a_users_runs_past_the_limit_wait_queued_while_others_run(alice, bob):
    from builder import execution
    from builder.models import Run
    from builder.services import create_run, save_workflow
    from tests.builder.helpers import finished

    with override_settings(WORKFLOW_RUNS_PER_USER=2):
        mine = await sync_to_async(save_workflow)(alice, LONG)
        theirs = await sync_to_async(save_workflow)(bob, LONG.replace("name: long", "name: other"))
        runs = [await sync_to_async(create_run)(mine, alice, {}) for _ in range(4)]
        other = await sync_to_async(create_run)(theirs, bob, {})
        for r in runs + [other]:
            execution.schedule(r.pk)
        peak = 0
        bob_started_early = False
        while True:
            statuses = {r.pk: r.status async for r in Run.objects.filter(pk__in=[x.pk for x in runs + [other]])}
            running = sum(1 for r in runs if statuses[r.pk] == "running")
            peak = max(peak, running)
            if statuses[other.pk] != "queued" and sum(statuses[r.pk] == "succeeded" for r in runs) == 0:
                bob_started_early = True
            if all(statuses[r.pk] == "succeeded" for r in runs):
                break
            await asyncio.sleep(0.02)
        for r in runs + [other]:
            assert (await finished(r.pk)).status == "succeeded"
    assert peak == 2, "alice never has more than 2 runs executing"
    assert bob_started_early, "bob's run does not wait for alice's"
