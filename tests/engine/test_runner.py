"""The runner: sequences, blocks, policies, retries, timeouts, limits, cancellation."""

import asyncio
import time

import engine
from tests.engine import helpers
from tests.engine.helpers import run, statuses


async def test_sequence_runs_in_order_and_outputs_default_to_top_level_steps():
    result, sink = await run("""
        name: seq
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: 1}}
          - {id: b, uses: wait, with: {seconds: 0, value: "${a + 1}"}}
    """)
    assert result.status == "succeeded" and result.outputs == {"a": 1, "b": 2}
    started = [e.path for e in sink.of_type("step.started")]
    assert started == ["a", "b"]


async def test_parallel_branches_run_at_the_same_time():
    start = time.perf_counter()
    result, _ = await run("""
        name: par
        steps:
          - id: p
            parallel:
              - {id: a, uses: wait, with: {seconds: 0.3, value: A}}
              - {id: b, uses: wait, with: {seconds: 0.3, value: B}}
              - {id: c, uses: wait, with: {seconds: 0.3, value: C}}
          - {id: after, uses: merge, with: {values: ["${p}", {direct: "${b}"}]}}
    """)
    wall = time.perf_counter() - start
    assert result.outputs["after"] == {"a": "A", "b": "B", "c": "C", "direct": "B"}
    assert wall < 0.9 * 0.75, "three 0.3 s branches must overlap"
    block = result.summary["blocks"][0]
    assert block["path"] == "p" and block["work_ms"] > 2 * block["wall_ms"]
    assert result.summary["speedup"] > 1.5


async def test_foreach_keeps_item_order_and_runs_items_as_pipelines():
    result, sink = await run("""
        name: each
        steps:
          - id: each
            foreach: [3, 1, 2]
            as: n
            concurrency: 3
            steps:
              - {id: slow, uses: wait, with: {seconds: "${n / 10}", value: "${n}"}}
              - {id: fast, uses: wait, with: {seconds: 0, value: "${slow * 10} at ${loop.index}"}}
    """)
    assert result.outputs["each"] == ["30 at 0", "10 at 1", "20 at 2"]
    order = [e.path for e in sink.of_type("step.succeeded") if "fast" in e.path]
    assert order == ["each[1].fast", "each[2].fast", "each[0].fast"], "an item moves on without waiting for others"
    progress = sink.of_type("foreach.progress")
    assert (progress[-1].done, progress[-1].failed, progress[-1].total) == (3, 0, 3)


async def test_foreach_concurrency_caps_items_in_flight():
    helpers.active.update(now=0, peak=0)
    result, _ = await run("""
        name: cap
        steps:
          - id: each
            foreach: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
            concurrency: 3
            steps:
              - {id: t, uses: python, with: {function: "tests.engine.helpers:tracked", args: [0.05, "${item}"]}}
    """)
    assert result.outputs["each"] == list(range(1, 11))
    assert helpers.active["peak"] == 3


async def test_foreach_over_an_empty_list_and_over_a_non_list():
    ok, _ = await run("name: e\nsteps:\n  - {id: e, foreach: [], steps: [{id: a, uses: wait, with: {seconds: 0}}]}\n")
    assert ok.outputs == {"e": []}
    bad, _ = await run("name: e\ninputs: {x: {type: string, default: s}}\nsteps:\n"
                       "  - {id: e, foreach: '${inputs.x}', steps: [{id: a, uses: wait, with: {seconds: 0}}]}\n")
    assert bad.status == "failed" and "foreach needs a list" in bad.error


async def test_group_output_is_its_last_step_and_its_steps_stay_visible():
    result, _ = await run("""
        name: g
        steps:
          - id: grp
            steps:
              - {id: one, uses: wait, with: {seconds: 0, value: 1}}
              - {id: two, uses: wait, with: {seconds: 0, value: 2}}
          - {id: sum, uses: wait, with: {seconds: 0, value: "${one + grp}"}}
    """)
    assert result.outputs == {"grp": 2, "sum": 3}


async def test_needs_dag_runs_independent_steps_together():
    start = time.perf_counter()
    result, sink = await run("""
        name: dag
        steps:
          - {id: a, needs: [], uses: wait, with: {seconds: 0.2, value: a}}
          - {id: b, needs: [], uses: wait, with: {seconds: 0.2, value: b}}
          - {id: c, needs: [a, b], uses: merge, with: {values: ["${a}", "${b}"]}}
          - {id: d, needs: [a], uses: wait, with: {seconds: 0, value: d}}
    """)
    wall = time.perf_counter() - start
    assert result.outputs["c"] == ["a", "b"]
    assert wall < 0.35
    events = [(e.type, e.path) for e in sink.events if hasattr(e, "path")]
    assert events.index(("step.started", "c")) > events.index(("step.succeeded", "b"))


async def test_if_false_skips_and_output_is_null():
    result, sink = await run("""
        name: cond
        inputs: {go: {type: boolean, default: false}}
        steps:
          - {id: a, if: "${inputs.go}", uses: wait, with: {seconds: 0, value: 1}}
          - {id: b, if: "not inputs.go", uses: wait, with: {seconds: 0, value: 2}}
          - {id: c, if: false, parallel: [{id: c1, uses: wait, with: {seconds: 0, value: 3}}]}
          - {id: d, uses: wait, with: {seconds: 0, value: "${a} ${c1}"}}
    """)
    assert result.outputs == {"a": None, "b": 2, "c": None, "d": "null null"}
    assert statuses(sink)["a"] == "skipped" and "c.c1" not in statuses(sink)


async def test_fail_fast_cancels_running_branches_quickly():
    start = time.perf_counter()
    result, sink = await run("""
        name: ff
        steps:
          - id: p
            parallel:
              - {id: slow, uses: wait, with: {seconds: 5}}
              - {id: boom, uses: fail, with: {message: broken}}
    """)
    assert time.perf_counter() - start < 1
    assert result.status == "failed" and "broken" in result.error
    st = statuses(sink)
    assert st["p.slow"] == "cancelled" and st["p.boom"] == "failed" and st["p"] == "failed"
    types = [e.type for e in sink.events]
    assert types.index("step.cancelled") < max(i for i, t in enumerate(types) if t == "step.failed")


async def test_wait_all_lets_other_branches_finish_then_fails():
    result, sink = await run("""
        name: wa
        steps:
          - id: p
            on_error: wait_all
            parallel:
              - {id: ok, uses: wait, with: {seconds: 0.1, value: 1}}
              - {id: boom, uses: fail, with: {message: broken}}
    """)
    assert result.status == "failed"
    assert statuses(sink)["p.ok"] == "succeeded"


async def test_continue_policy_succeeds_with_null_for_failed_branches():
    result, sink = await run("""
        name: co
        steps:
          - id: p
            on_error: continue
            parallel:
              - {id: ok, uses: wait, with: {seconds: 0, value: 1}}
              - {id: boom, uses: fail, with: {message: broken}}
    """)
    assert result.status == "succeeded" and result.outputs["p"] == {"ok": 1, "boom": None}
    assert statuses(sink)["p.boom"] == "failed"


async def test_min_success_quorum_met_and_out_of_reach():
    good, _ = await run("""
        name: q
        steps:
          - id: p
            min_success: 2
            parallel:
              - {id: a, uses: wait, with: {seconds: 0, value: 1}}
              - {id: b, uses: fail, with: {message: down}}
              - {id: c, uses: wait, with: {seconds: 0.05, value: 3}}
    """)
    assert good.status == "succeeded" and good.outputs["p"] == {"a": 1, "b": None, "c": 3}
    start = time.perf_counter()
    bad, sink = await run("""
        name: q
        steps:
          - id: p
            min_success: 2
            parallel:
              - {id: a, uses: fail, with: {message: down}}
              - {id: b, uses: fail, with: {message: down too}}
              - {id: c, uses: wait, with: {seconds: 5, value: 3}}
    """)
    assert time.perf_counter() - start < 1, "fails as soon as the quorum is out of reach"
    assert bad.status == "failed" and "0 of 3 branches succeeded, 2 needed" in bad.error
    assert statuses(sink)["p.c"] == "cancelled"


async def test_foreach_policies():
    text = """
        name: fe
        steps:
          - id: each
            foreach: [1, 0, 2]
            concurrency: 1
            {policy}
            steps:
              - {{id: check, if: "item == 0", uses: fail, with: {{message: zero}}}}
              - {{id: out, uses: wait, with: {{seconds: 0, value: "${{item}}"}}}}
    """
    ff, sink = await run(text.format(policy="on_error: fail_fast"))
    assert ff.status == "failed" and "each[1].check" in ff.error and "each[2].out" not in statuses(sink)
    cont, _ = await run(text.format(policy="on_error: continue"))
    assert cont.status == "succeeded" and cont.outputs["each"] == [1, None, 2]
    wait_all, sink = await run(text.format(policy="on_error: wait_all"))
    assert wait_all.status == "failed" and statuses(sink)["each[2].out"] == "succeeded"
    quorum, _ = await run(text.format(policy="min_success: 2"))
    assert quorum.status == "succeeded"


async def test_on_error_continue_records_the_failure_and_goes_on():
    result, sink = await run("""
        name: oc
        steps:
          - {id: a, uses: fail, with: {message: nope}, on_error: continue}
          - {id: b, uses: wait, with: {seconds: 0, value: "${a}"}}
    """)
    assert result.status == "succeeded" and result.outputs == {"a": None, "b": None}
    failed = sink.of_type("step.failed")[0]
    assert failed.continued and failed.error == "nope"


async def test_retry_with_backoff_until_success():
    key = f"retry-{time.time()}"
    start = time.perf_counter()
    result, sink = await run(f"""
        name: r
        steps:
          - id: a
            uses: python
            with: {{function: "tests.engine.helpers:flaky", args: ["{key}", 2]}}
            retry: {{attempts: 3, delay: 50ms, backoff: 2}}
    """)
    assert result.status == "succeeded" and result.outputs["a"]["calls"] == 3
    retries = sink.of_type("step.retrying")
    assert [(r.attempt, r.delay) for r in retries] == [(1, 0.05), (2, 0.1)]
    assert time.perf_counter() - start >= 0.15
    assert [e.attempt for e in sink.of_type("step.started")] == [1, 2, 3]


async def test_retry_gives_up_after_its_attempts_and_fail_is_never_retried():
    key = f"giveup-{time.time()}"
    result, sink = await run(f"""
        name: r
        steps:
          - id: p
            on_error: continue
            parallel:
              - {{id: a, uses: python, with: {{function: "tests.engine.helpers:flaky", args: ["{key}", 9]}},
                 retry: {{attempts: 2, delay: 0}}}}
              - {{id: b, uses: fail, with: {{message: stop}}, retry: {{attempts: 5, delay: 0}}}}
    """)
    assert helpers.calls(key) == 2
    assert [e.attempt for e in sink.of_type("step.failed") if e.path == "p.b"] == [1]


async def test_step_timeout_fails_the_step():
    result, sink = await run("""
        name: t
        steps:
          - {id: a, uses: wait, with: {seconds: 5}, timeout: 100ms}
    """)
    assert result.status == "failed" and "timed out after 0.1 s" in result.error
    assert sink.of_type("step.failed")[0].error == "timed out after 0.1 s"


async def test_block_timeout_cancels_its_children():
    result, sink = await run("""
        name: t
        steps:
          - id: p
            timeout: 0.1
            parallel:
              - {id: a, uses: wait, with: {seconds: 5}}
              - {id: b, uses: wait, with: {seconds: 5}}
    """)
    assert result.status == "failed" and "timed out after 0.1 s" in result.error
    assert statuses(sink) == {"p": "failed", "p.a": "cancelled", "p.b": "cancelled"}


async def test_run_timeout():
    start = time.perf_counter()
    result, _ = await run("""
        name: t
        limits: {timeout: 150ms}
        steps:
          - {id: a, uses: wait, with: {seconds: 5}}
    """)
    assert result.status == "failed" and "the run timed out after 0.15 s" in result.error
    assert time.perf_counter() - start < 1


async def test_run_concurrency_limit_and_per_action_limit():
    helpers.active.update(now=0, peak=0)
    branches = "\n".join(
        f'              - {{id: b{i}, uses: python, with: {{function: "tests.engine.helpers:tracked", args: [0.05]}}}}'
        for i in range(8))
    result, _ = await run(f"""
        name: lim
        limits: {{concurrency: 2}}
        steps:
          - id: p
            parallel:
{branches}
    """)
    assert result.status == "succeeded" and helpers.active["peak"] == 2
    helpers.active.update(now=0, peak=0)
    result, _ = await run(f"""
        name: lim
        limits: {{actions: {{python: 3}}}}
        steps:
          - id: p
            parallel:
{branches}
    """)
    assert helpers.active["peak"] == 3


async def test_parallel_concurrency_caps_branches():
    helpers.active.update(now=0, peak=0)
    branches = "\n".join(
        f'      - {{id: b{i}, uses: python, with: {{function: "tests.engine.helpers:tracked", args: [0.03]}}}}'
        for i in range(6))
    result, _ = await run(f"name: pc\nsteps:\n  - id: p\n    concurrency: 2\n    parallel:\n{branches}\n")
    assert result.status == "succeeded" and helpers.active["peak"] == 2


async def test_cancelling_a_run_stops_everything_within_a_second():
    workflow = helpers.load("""
        name: c
        steps:
          - id: p
            parallel:
              - {id: a, uses: wait, with: {seconds: 30}}
              - id: each
                foreach: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
                steps: [{id: w, uses: wait, with: {seconds: 30}}]
              - {id: s, uses: python, with: {function: "tests.engine.helpers:blocking_sleep", args: [2]}}
    """)
    runner = engine.Runner(settings=helpers.SETTINGS)
    sink = engine.ListSink()
    task = asyncio.create_task(runner.run(engine.plan(workflow), {}, sink, run_id="r1"))
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    assert runner.cancel("r1")
    result = await task
    assert time.perf_counter() - start < 1
    assert result.status == "cancelled"
    finished = sink.of_type("run.finished")[0]
    assert finished.status == "cancelled"
    assert all(s in ("cancelled", "succeeded") for s in statuses(sink).values())
    assert statuses(sink)["p.a"] == "cancelled"
    runner.close()
