"""The new constructs under hostile or awkward use: secrets, budgets, cancels, nesting, waiting."""

import asyncio
import time

import engine
from tests.engine.helpers import SETTINGS, load, run, statuses


async def test_compensation_and_finally_steps_are_redacted_like_any_step():
    result, sink = await run("""
        name: secret
        on_error: rollback
        steps:
          - id: book
            uses: wait
            with: {seconds: 0, value: "token ${secrets.API_KEY}"}
            compensate:
              - {id: unbook, uses: wait, with: {seconds: 0, value: "undo with ${secrets.API_KEY}"}}
          - {id: boom, uses: fail, with: {message: "x"}}
        finally:
          - {id: cleanup, uses: wait, with: {seconds: 0, value: "${secrets.API_KEY}"}}
    """, secrets={"API_KEY": "s3cr3t-value"})
    assert result.status == "failed"
    for event in sink.events:
        assert "s3cr3t-value" not in repr(event.as_dict()), event
    assert statuses(sink)["book.compensate.unbook"] == "succeeded"


async def test_hooks_and_compensations_count_against_the_run_budget():
    budgets = engine.Budgets(steps=2)
    settings = engine.EngineSettings(python_allowed=SETTINGS.python_allowed, budgets=budgets)
    workflow = engine.load("""
name: budget
steps:
  - {id: a, uses: wait, with: {seconds: 0}}
  - {id: b, uses: fail, with: {message: x}}
finally:
  - {id: c, uses: wait, with: {seconds: 0}}
""", settings=SETTINGS)  # with the budget of 2, validation refuses it already: the run must hold too
    sink = engine.ListSink()
    result = await engine.Runner(settings=settings).run(engine.plan(workflow), {}, sink)
    assert result.status == "failed" and result.error == "b: x"
    st = statuses(sink)
    assert st["c"] == "failed"
    assert "budget" in next(e.error for e in sink.of_type("step.failed") if e.path == "c")


async def test_repeat_is_bounded_by_max_even_with_a_huge_max():
    start = time.perf_counter()
    result, sink = await run("""
        name: spin
        steps:
          - id: spin
            repeat: {until: "${false}", max: 10000}
            steps:
              - {id: tick, uses: wait, with: {seconds: 0}}
    """)
    assert result.status == "failed" and "did not finish in 10000 passes" in result.error
    assert time.perf_counter() - start < 30


async def test_cancelled_time_is_not_counted_as_work():
    result, _ = await run("""
        name: ff
        steps:
          - id: p
            parallel:
              - {id: slow, uses: wait, with: {seconds: 5}}
              - {id: bad, uses: python, with: {function: "tests.engine.helpers:explode_later", args: [0.3, no]}}
    """)
    assert result.status == "failed"
    # the failed attempt counts (0.3 s); the slow branch, cancelled at 0.3 s, does not
    assert 250 < result.summary["work_ms"] < 450, result.summary


async def test_cancel_during_a_rollback_ends_the_run_cancelled_and_runs_finally():
    workflow = load("""
        name: slow_undo
        on_error: rollback
        steps:
          - id: book
            uses: wait
            with: {seconds: 0}
            compensate:
              - {id: slow_undo, uses: wait, with: {seconds: 30}}
          - {id: boom, uses: fail, with: {message: x}}
        finally:
          - {id: cleanup, uses: wait, with: {seconds: 0}}
    """)
    runner = engine.Runner(settings=SETTINGS)
    sink = engine.ListSink()
    task = asyncio.create_task(runner.run(engine.plan(workflow), {}, sink, run_id="r"))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if any(e.type == "step.started" and e.path == "book.compensate.slow_undo" for e in sink.events):
            break
    runner.cancel("r")
    result = await asyncio.wait_for(task, 5)
    assert result.status == "cancelled"
    st = statuses(sink)
    assert st["book.compensate.slow_undo"] == "cancelled" and st["cleanup"] == "succeeded"


async def test_an_approval_in_a_dag_holds_back_only_its_dependents():
    result, sink = await run("""
        name: dag
        steps:
          - {id: ask, uses: approval, with: {message: "ok?"}, needs: []}
          - {id: other, uses: wait, with: {seconds: 0.05, value: 1}, needs: []}
          - {id: after_other, uses: wait, with: {seconds: 0, value: 2}, needs: [other]}
          - {id: after_ask, uses: wait, with: {seconds: 0}, needs: [ask]}
    """, approvals={})
    assert result.status == "waiting"
    st = statuses(sink)
    assert st == {"ask": "waiting", "other": "succeeded", "after_other": "succeeded"}


async def test_a_failure_beside_a_waiting_approval_fails_the_run():
    result, sink = await run("""
        name: both
        steps:
          - id: p
            parallel:
              - {id: ask, uses: approval, with: {message: "ok?"}}
              - {id: bad, uses: python, with: {function: "tests.engine.helpers:explode_later", args: [0.05, no]}}
    """, approvals={})
    assert result.status == "failed"
    assert statuses(sink)["p.ask"] == "waiting"


async def test_approvals_in_foreach_items_wait_together_and_go_on_per_decision():
    text = """
        name: items
        steps:
          - id: each
            foreach: [a, b, c]
            steps:
              - {id: ok, uses: approval, with: {message: "${item}?"}}
              - {id: done, uses: wait, with: {seconds: 0, value: "${item} by ${ok.by}"}}
    """
    result, sink = await run(text, approvals={})
    assert result.status == "waiting"
    assert sorted(e.path for e in sink.of_type("step.waiting")) == ["each[0].ok", "each[1].ok", "each[2].ok"]
    decided = {f"each[{i}].ok": {"approved": True, "by": "ann"} for i in (0, 2)}
    result, sink = await run(text, approvals=decided)
    assert result.status == "waiting"
    assert [e.path for e in sink.of_type("step.waiting")] == ["each[1].ok"]
    decided["each[1].ok"] = {"approved": True, "by": "bob"}
    result, _ = await run(text, approvals=decided)
    assert result.status == "succeeded" and result.outputs == {"each": ["a by ann", "b by bob", "c by ann"]}


async def test_an_approval_inside_a_sub_workflow_makes_the_caller_wait_and_goes_on_there():
    child = "name: child\nsteps:\n  - {id: ok, uses: approval, with: {message: sure?}}\n" \
            "  - {id: after, uses: wait, with: {seconds: 0, value: \"${ok.by}\"}}\noutputs: {by: \"${after}\"}\n"

    async def saved(name, version):
        return child if name == "child" else None

    workflow = load("""
        name: parent
        steps:
          - {id: call, uses: workflow, with: {name: child}}
    """)
    runner = engine.Runner(settings=SETTINGS, services={"workflows": saved})
    sink = engine.ListSink()
    result = await runner.run(engine.plan(workflow), {}, sink, approvals={})
    assert result.status == "waiting"
    assert [e.path for e in sink.of_type("step.waiting")] == ["call.ok"]
    result = await runner.run(engine.plan(workflow), {}, engine.ListSink(),
                              approvals={"call.ok": {"approved": True, "by": "eve"}})
    assert result.status == "succeeded" and result.outputs == {"call": {"by": "eve"}}


async def test_a_switch_value_of_hostile_length_is_shown_cut():
    result, sink = await run("""
        name: sw
        inputs: {v: {type: string}}
        steps:
          - id: route
            switch: ${inputs.v}
            cases: {a: [{id: x, uses: wait, with: {seconds: 0}}]}
    """, {"v": "z" * 100_000})
    assert result.status == "succeeded"
    reason = next(e.reason for e in sink.of_type("step.skipped") if e.path == "route")
    assert len(reason) < 200


async def test_a_switch_that_skipped_itself_is_not_undone_by_a_rollback():
    result, sink = await run("""
        name: sw
        on_error: rollback
        steps:
          - id: route
            switch: nothing
            cases: {a: [{id: x, uses: wait, with: {seconds: 0}}]}
            compensate: [{id: undo_route, uses: wait, with: {seconds: 0}}]
          - {id: booked, uses: wait, with: {seconds: 0}, compensate: [{id: unbook, uses: wait, with: {seconds: 0}}]}
          - {id: boom, uses: fail, with: {message: x}}
    """)
    assert result.status == "failed"
    st = statuses(sink)
    assert st["route"] == "skipped" and "route.compensate.undo_route" not in st
    assert st["booked"] == "compensated"


async def test_after_a_cancel_nested_finally_steps_share_one_grace_period():
    workflow = load("""
        name: nested_finally
        steps:
          - id: outer
            steps:
              - id: inner
                steps:
                  - {id: slow, uses: wait, with: {seconds: 30}}
                finally:
                  - {id: inner_cleanup, uses: wait, with: {seconds: 30}}
            finally:
              - {id: outer_cleanup, uses: wait, with: {seconds: 30}}
        finally:
          - {id: run_cleanup, uses: wait, with: {seconds: 30}}
    """)
    settings = engine.EngineSettings(python_allowed=SETTINGS.python_allowed, finally_grace=0.6)
    runner = engine.Runner(settings=settings)
    sink = engine.ListSink()
    task = asyncio.create_task(runner.run(engine.plan(workflow), {}, sink, run_id="r"))
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    runner.cancel("r")
    result = await task
    assert result.status == "cancelled"
    assert time.perf_counter() - start < 1.5, "one grace of 0.6 s for all, not one per level"
    st = statuses(sink)
    assert st["outer.inner.inner_cleanup"] == "cancelled"
