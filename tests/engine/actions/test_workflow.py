"""The workflow action: a saved workflow as a step, its events nested under the step."""

import pytest

import engine

SAVED = {
    "double": "name: double\ninputs: {n: integer}\nsteps:\n  - {id: d, uses: wait, with: {seconds: 0, value: '${inputs.n * 2}'}}\n"
              "outputs: {result: '${d}'}\n",
    "ping": "name: ping\nsteps:\n  - {id: p, uses: workflow, with: {name: pong}}\n",
    "pong": "name: pong\nsteps:\n  - {id: q, uses: workflow, with: {name: ping}}\n",
    "broken": "name: broken\nsteps:\n  - {id: b, uses: fail, with: {message: inner trouble}}\n",
}


async def resolve(name, version):
    return SAVED.get(name)


async def run(text, depth=5):
    settings = engine.EngineSettings(workflow_depth=depth)
    workflow = engine.load(text, "w.yaml", settings=settings)
    runner = engine.Runner(settings=settings, services={"workflows": resolve})
    sink = engine.ListSink()
    result = await runner.run(engine.plan(workflow), {}, sink)
    runner.close()
    return result, sink


async def test_a_sub_workflow_runs_with_inputs_and_its_events_nest_under_the_step():
    result, sink = await run("name: outer\nsteps:\n  - {id: call, uses: workflow, with: {name: double, inputs: {n: 21}}}\n")
    assert result.status == "succeeded" and result.outputs == {"call": {"result": 42}}
    paths = [e.path for e in sink.events if hasattr(e, "path")]
    assert paths == ["call", "call.d", "call.d", "call"]
    seqs = [e.seq for e in sink.events]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_failures_and_bad_inputs_of_the_sub_workflow_fail_the_step():
    result, _ = await run("name: outer\nsteps:\n  - {id: call, uses: workflow, with: {name: broken}}\n")
    assert "broken failed: b: inner trouble" in result.error
    result, _ = await run("name: outer\nsteps:\n  - {id: call, uses: workflow, with: {name: double}}\n")
    assert "missing required input 'n'" in result.error
    result, _ = await run("name: outer\nsteps:\n  - {id: call, uses: workflow, with: {name: nothing}}\n")
    assert "no workflow named 'nothing'" in result.error


async def test_cycles_and_depth_are_refused():
    result, _ = await run("name: outer\nsteps:\n  - {id: call, uses: workflow, with: {name: ping}}\n")
    assert result.status == "failed" and "a cycle of sub-workflows: outer → ping → pong → ping" in result.error
    result, _ = await run("name: outer\nsteps:\n  - {id: call, uses: workflow, with: {name: double, inputs: {n: 1}}}\n",
                          depth=0)
    assert "nest deeper than 0" in result.error


def test_a_workflow_calling_itself_is_a_validation_error():
    with pytest.raises(engine.WorkflowInvalid, match="'selfish' cannot call itself"):
        engine.load("name: selfish\nsteps:\n  - {id: s, uses: workflow, with: {name: selfish}}\n")


FANOUT = ("name: fanout\nsteps:\n  - id: p\n    parallel:\n"
          + "".join(f"      - {{id: w{i}, uses: wait, with: {{seconds: 0.2}}}}\n" for i in range(6)))
SAVED["fanout"] = FANOUT
SAVED["nested"] = "name: nested\nsteps:\n  - {id: inner, uses: workflow, with: {name: fanout}}\n"


def _most_at_once(sink) -> int:
    running = most = 0
    for event in sink.events:
        if event.type == "step.started" and getattr(event, "uses", None) == "wait":
            running += 1
        elif event.type in ("step.succeeded", "step.failed", "step.cancelled") and ".w" in event.path:
            running -= 1
        most = max(most, running)
    return most


@pytest.mark.parametrize("limits", ["{concurrency: 2}", "{actions: {wait: 2}}"])
async def test_the_run_limits_hold_inside_its_sub_workflows_too(limits):
    result, sink = await run(f"name: outer\nlimits: {limits}\nsteps:\n"
                             "  - {id: call, uses: workflow, with: {name: nested}}\n")
    assert result.status == "succeeded", result.error
    assert _most_at_once(sink) == 2, "the sub-workflow's six branches ran under the caller's limit of 2"


async def test_a_run_limit_of_one_never_deadlocks_its_workflow_steps():
    result, _ = await run("name: outer\nlimits: {concurrency: 1, actions: {workflow: 1}}\nsteps:\n"
                          "  - {id: call, uses: workflow, with: {name: nested}}\n")
    assert result.status == "succeeded", result.error
