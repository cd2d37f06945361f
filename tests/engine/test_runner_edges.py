"""The runner's edges: inputs and outputs, errors at run time, events, the summary, resume,
secrets and log lines."""

import asyncio
import os
import time

import pytest

import engine
from tests.engine import helpers
from tests.engine.helpers import run, statuses


async def test_inputs_are_typed_defaulted_and_checked_before_the_run():
    text = """
        name: i
        inputs:
          n: integer
          ratio: {type: number, default: 0.5}
          tags: {type: array, default: []}
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: "${inputs.n * inputs.ratio}"}}
    """
    result, _ = await run(text, {"n": 4})
    assert result.outputs == {"a": 2.0}
    for bad, message in [({}, "missing required input 'n'"), ({"n": "4"}, "input 'n' must be of type integer"),
                         ({"n": True}, "must be of type integer"), ({"n": 1, "zz": 1}, "unknown input 'zz'")]:
        with pytest.raises(engine.InputsInvalid, match=message):
            await run(text, bad)


async def test_outputs_template_and_its_errors():
    result, _ = await run("""
        name: o
        outputs: {total: "${a.n + 1}", label: "n is ${a.n}"}
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: {n: 41}}}
    """)
    assert result.outputs == {"total": 42, "label": "n is 41"}


async def test_plain_python_functions_run_in_worker_processes_without_blocking_the_loop():
    start = time.perf_counter()
    result, _ = await run("""
        name: th
        steps:
          - id: p
            parallel:
              - {id: a, uses: python, with: {function: "tests.engine.helpers:blocking_sleep", args: [0.3, a]}}
              - {id: b, uses: python, with: {function: "tests.engine.helpers:blocking_sleep", args: [0.3, b]}}
              - {id: pid, uses: python, with: {function: "tests.engine.helpers:process_id"}}
              - {id: tick, uses: wait, with: {seconds: 0.05, value: tick}}
    """)
    assert result.outputs["p"]["a"] == "a" and result.outputs["p"]["pid"] != os.getpid()
    assert time.perf_counter() - start < 0.55


async def test_expression_error_at_run_time_fails_the_step_with_the_reason():
    result, sink = await run("""
        name: x
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: {n: 1}}}
          - {id: b, uses: wait, with: {seconds: 0, value: "${a.missing}"}}
    """)
    assert result.status == "failed"
    assert "no key 'missing'" in sink.of_type("step.failed")[0].error


async def test_resolved_params_that_do_not_fit_fail_clearly_without_retry():
    result, sink = await run("""
        name: x
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: soon}}
          - {id: b, uses: wait, with: {seconds: "${a}"}, retry: {attempts: 3, delay: 0}}
    """)
    assert result.status == "failed" and "seconds" in result.error and "invalid duration" in result.error
    assert len(sink.of_type("step.started")) == 2


async def test_events_have_increasing_seq_and_every_step_ends():
    result, sink = await run("""
        name: ev
        steps:
          - id: p
            parallel:
              - {id: a, uses: wait, with: {seconds: 0.01}}
              - id: each
                foreach: [1, 2]
                steps: [{id: w, uses: wait, with: {seconds: 0}}]
    """)
    seqs = [e.seq for e in sink.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert sink.events[0].type == "run.started" and sink.events[-1].type == "run.finished"
    assert all(e.run_id == result.run_id for e in sink.events)
    ts = [e.ts for e in sink.events]
    assert ts == sorted(ts)
    assert set(statuses(sink).values()) == {"succeeded"}
    assert set(statuses(sink)) == {"p", "p.a", "p.each", "p.each[0].w", "p.each[1].w"}
    with pytest.raises(AttributeError):
        sink.events[0].seq = 5  # frozen


async def test_final_event_carries_the_performance_summary():
    result, sink = await run("""
        name: s
        steps:
          - id: p
            parallel:
              - {id: a, uses: wait, with: {seconds: 0.1}}
              - {id: b, uses: wait, with: {seconds: 0.1}}
    """)
    summary = sink.events[-1].summary
    assert summary == result.summary
    assert summary["work_ms"] >= 190 and summary["wall_ms"] < summary["work_ms"]
    block = summary["blocks"][0]
    assert block["saved_ms"] > 50 and "saved 0.1 s" in block["text"]


async def test_resume_reuses_completed_outputs_without_running_them():
    key = f"resume-{time.time()}"
    text = f"""
        name: re
        steps:
          - {{id: a, uses: python, with: {{function: "tests.engine.helpers:flaky", args: ["{key}", 0, first]}}}}
          - {{id: b, uses: wait, with: {{seconds: 0, value: "${{a.value}}-b"}}}}
    """
    result, sink = await run(text, completed={"a": {"value": "earlier", "calls": 0}})
    assert helpers.calls(key) == 0
    assert result.outputs["b"] == "earlier-b"
    assert sink.of_type("step.succeeded")[0].reused


async def test_secrets_resolve_and_are_redacted_from_events_and_outputs():
    result, sink = await run("""
        name: sec
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: "token=${secrets.API_KEY}"}}
          - {id: b, uses: fail, with: {message: "bad ${secrets.API_KEY}"}, on_error: continue}
    """, secrets={"API_KEY": "s3cr3t-value"})
    assert result.outputs["a"] == "token=***"
    dumped = repr([e.as_dict() for e in sink.events]) + repr(result)
    assert "s3cr3t-value" not in dumped
    missing, _ = await run("name: s\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0, value: '${secrets.NOPE}'}}\n")
    assert missing.status == "failed" and "unknown secret 'NOPE'" in missing.error


async def test_log_lines_from_actions_become_events_even_from_threads():
    class Shout(engine.Action):
        name = "shout"
        Params = engine.Params

        def run(self, params, ctx):
            ctx.log("from a thread")
            return "done"

    registry = engine.default_registry()
    registry.register(Shout)
    workflow = engine.load("name: l\nsteps:\n  - {id: a, uses: shout}\n", registry=registry)
    runner = engine.Runner(registry)
    sink = engine.ListSink()
    await runner.run(engine.plan(workflow, registry), {}, sink)
    await asyncio.sleep(0.01)
    logs = sink.of_type("log")
    assert [(e.path, e.message) for e in logs] == [("a", "from a thread")]
    runner.close()


# -- issue 12's bugs ---------------------------------------------------------------------------
