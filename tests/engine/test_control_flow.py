"""switch, repeat, on_failure/finally, compensation (rollback), needs policies, approvals waiting."""

import asyncio
import gc
import time

import engine
from tests.engine.helpers import SETTINGS, load, run, statuses


async def test_switch_runs_the_matching_case_and_skips_the_others_with_the_reason():
    result, sink = await run("""
        name: sw
        inputs: {kind: {type: string}}
        steps:
          - id: route
            switch: ${inputs.kind}
            cases:
              invoice:
                - {id: book, uses: wait, with: {seconds: 0, value: booked}}
              receipt:
                - {id: file_it, uses: wait, with: {seconds: 0, value: filed}}
                - {id: file_more, uses: wait, with: {seconds: 0, value: "${file_it}!"}}
            default:
              - {id: ask, uses: wait, with: {seconds: 0, value: asked}}
          - {id: after, uses: wait, with: {seconds: 0, value: "${route}"}}
    """, {"kind": "receipt"})
    assert result.status == "succeeded", result.error
    assert result.outputs["after"] == "filed!"
    st = statuses(sink)
    assert st["route.file_it"] == st["route.file_more"] == "succeeded"
    assert st["route.book"] == st["route.ask"] == "skipped"
    reasons = {e.path: e.reason for e in sink.of_type("step.skipped")}
    assert reasons["route.book"] == "case 'receipt' ran (the value was \"receipt\")"


async def test_switch_default_and_no_match_without_default():
    text = """
        name: sw
        inputs: {n: {type: integer}}
        steps:
          - id: route
            switch: ${inputs.n * 2}
            cases:
              "4": [{id: four, uses: wait, with: {seconds: 0, value: 4}}]
            %s
    """
    result, sink = await run(text % "default: [{id: other, uses: wait, with: {seconds: 0, value: other}}]", {"n": 1})
    assert result.outputs == {"route": "other"} and statuses(sink)["route.four"] == "skipped"
    result, sink = await run(text % "", {"n": 2})
    assert result.outputs == {"route": 4}
    result, sink = await run(text % "", {"n": 5})
    assert result.status == "succeeded" and result.outputs == {"route": None}
    st = statuses(sink)
    assert st["route"] == "skipped" and st["route.four"] == "skipped"


async def test_switch_on_a_list_value_fails_the_step_with_a_clear_message():
    result, _ = await run("""
        name: sw
        steps:
          - id: route
            switch: ${[1, 2]}
            cases: {a: [{id: x, uses: wait, with: {seconds: 0}}]}
    """)
    assert result.status == "failed"
    assert "switch: a switch value is text, a number or a boolean, not list" in result.error


async def test_repeat_runs_passes_until_the_condition_holds():
    result, sink = await run("""
        name: poll
        steps:
          - id: poll
            repeat: {until: "${check >= 3}", max: 10}
            steps:
              - {id: check, uses: wait, with: {seconds: 0, value: "${loop.index + 1}"}}
          - {id: after, uses: wait, with: {seconds: 0, value: "${check}"}}
    """)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"poll": 3, "after": 3}
    assert [e.path for e in sink.of_type("step.succeeded")][:3] == ["poll[0].check", "poll[1].check", "poll[2].check"]


async def test_repeat_fails_after_max_passes_and_waits_its_delay():
    start = time.perf_counter()
    result, sink = await run("""
        name: poll
        steps:
          - id: poll
            repeat: {until: "${false}", max: 3, delay: 100ms}
            steps:
              - {id: check, uses: wait, with: {seconds: 0}}
    """)
    assert time.perf_counter() - start >= 0.2
    assert result.status == "failed"
    assert result.error == "poll: did not finish in 3 passes (until stayed false)"
    assert len(sink.of_type("step.started")) == 4  # the block and its three passes


async def test_on_failure_and_finally_of_the_workflow_see_the_error_and_the_status():
    result, sink = await run("""
        name: hooks
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: 1}}
          - {id: boom, uses: fail, with: {message: "disk full"}}
        on_failure:
          - {id: alert, uses: wait, with: {seconds: 0, value: "${error.step}: ${error.message} (${run.status})"}}
        finally:
          - {id: cleanup, uses: wait, with: {seconds: 0, value: "${run.status} after ${a}"}}
    """)
    assert result.status == "failed" and result.error == "boom: disk full"
    outputs = {e.path: e.output for e in sink.of_type("step.succeeded")}
    assert outputs["alert"] == "boom: disk full (failed)"
    assert outputs["cleanup"] == "failed after 1"


async def test_finally_runs_on_success_and_a_failing_hook_never_hides_the_original_error():
    result, sink = await run("""
        name: hooks
        steps:
          - {id: a, uses: wait, with: {seconds: 0, value: 1}}
        on_failure:
          - {id: alert, uses: wait, with: {seconds: 0}}
        finally:
          - {id: cleanup, uses: wait, with: {seconds: 0, value: "${run.status}"}}
    """)
    assert result.status == "succeeded"
    st = statuses(sink)
    assert st["cleanup"] == "succeeded" and "alert" not in st
    result, sink = await run("""
        name: hooks
        steps:
          - {id: boom, uses: fail, with: {message: original}}
        on_failure:
          - {id: alert, uses: fail, with: {message: "alert broke"}}
        finally:
          - {id: cleanup, uses: wait, with: {seconds: 0}}
    """)
    assert result.status == "failed" and result.error == "boom: original"
    st = statuses(sink)
    assert st["alert"] == "failed" and st["cleanup"] == "succeeded"


async def test_a_failing_finally_fails_a_run_that_had_succeeded():
    result, _ = await run("""
        name: hooks
        steps:
          - {id: a, uses: wait, with: {seconds: 0}}
        finally:
          - {id: cleanup, uses: fail, with: {message: "no cleanup"}}
    """)
    assert result.status == "failed" and result.error == "finally: cleanup: no cleanup"


async def test_block_hooks_run_for_their_block():
    result, sink = await run("""
        name: hooks
        steps:
          - id: fan
            parallel:
              - {id: good, uses: wait, with: {seconds: 0, value: 1}}
              - {id: bad, uses: fail, with: {message: nope}}
            on_error: wait_all
            on_failure:
              - {id: fan_alert, uses: wait, with: {seconds: 0, value: "${error.step}/${good}"}}
            finally:
              - {id: fan_done, uses: wait, with: {seconds: 0, value: "${run.status}"}}
    """)
    assert result.status == "failed"
    outputs = {e.path: e.output for e in sink.of_type("step.succeeded")}
    assert outputs["fan.fan_alert"] == "fan.bad/1" and outputs["fan.fan_done"] == "failed"
    events = [(e.type, e.path) for e in sink.events if getattr(e, "path", None) == "fan"]
    assert events[-1] == ("step.failed", "fan"), "the block ends after its hooks"


async def test_finally_runs_after_a_cancel_bounded_by_the_grace_period():
    workflow = load("""
        name: cancel
        steps:
          - {id: slow, uses: wait, with: {seconds: 30}}
        finally:
          - {id: cleanup, uses: wait, with: {seconds: 0, value: "${run.status}"}}
          - {id: too_slow, uses: wait, with: {seconds: 30}}
    """)
    settings = engine.EngineSettings(python_allowed=SETTINGS.python_allowed, finally_grace=0.5)
    runner = engine.Runner(settings=settings)
    sink = engine.ListSink()
    task = asyncio.create_task(runner.run(engine.plan(workflow), {}, sink, run_id="r1"))
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    runner.cancel("r1")
    result = await task
    assert result.status == "cancelled"
    assert time.perf_counter() - start < 2
    st = statuses(sink)
    assert st["slow"] == "cancelled" and st["cleanup"] == "succeeded" and st["too_slow"] == "cancelled"
    assert {e.path: e.output for e in sink.of_type("step.succeeded")}["cleanup"] == "cancelled"


def trip(hotel_undo: str, slow: bool = True) -> str:
    """Book a flight and a hotel at once, then a car fails: the bookings are rolled back."""
    text = """
        name: trip
        steps:
          - id: bookings
            on_error: rollback
            parallel:
              - id: flight
                uses: wait
                with: {seconds: 0, value: {id: F1}}
                compensate:
                  - {id: cancel_flight, uses: wait, with: {seconds: 0, value: "undo ${flight.id}"}}
              - id: hotel
                uses: wait
                with: {seconds: 0.05, value: {id: H7}}
                compensate:
                  - {id: cancel_hotel, HOTEL_UNDO}
              - {id: car, uses: python, with: {function: "tests.engine.helpers:explode_later", args: [0.2, no cars]}}
    """.replace("HOTEL_UNDO", hotel_undo)
    if slow:
        text += """
              - id: slow
                uses: wait
                with: {seconds: 5}
                compensate:
                  - {id: never, uses: wait, with: {seconds: 0}}
        """
    return text


async def test_rollback_cancels_running_steps_and_compensates_succeeded_ones_newest_first():
    result, sink = await run(trip('uses: wait, with: {seconds: 0, value: "undo ${hotel.id}"}'))
    assert result.status == "failed", result.error
    assert result.error == "bookings.car: ValueError: no cars"
    st = statuses(sink)
    assert st["bookings.flight"] == st["bookings.hotel"] == "compensated"
    assert st["bookings.slow"] == "cancelled" and "bookings.slow.compensate.never" not in st
    outputs = [(e.path, e.output) for e in sink.of_type("step.succeeded")]
    undo = [o for o in outputs if ".compensate." in o[0]]
    assert undo == [("bookings.hotel.compensate.cancel_hotel", "undo H7"),
                    ("bookings.flight.compensate.cancel_flight", "undo F1")]
    order = [(e.type, e.path) for e in sink.events if getattr(e, "path", "").startswith("bookings")]
    assert order[-1] == ("step.failed", "bookings")


async def test_a_failing_compensation_is_recorded_and_the_others_still_run():
    result, sink = await run(trip('uses: fail, with: {message: "hotel says no"}', slow=False))
    assert result.status == "failed"
    assert result.error == ("bookings.car: ValueError: no cars "
                            "(rollback failed at bookings.hotel.compensate.cancel_hotel: hotel says no)")
    st = statuses(sink)
    assert st["bookings.hotel.compensate.cancel_hotel"] == "failed" and st["bookings.hotel"] == "succeeded"
    assert st["bookings.flight"] == "compensated"


async def test_foreach_rollback_undoes_items_in_reverse_order():
    result, sink = await run("""
        name: items
        steps:
          - id: each
            foreach: [1, 2, 3, 4]
            concurrency: 1
            on_error: rollback
            steps:
              - id: book
                uses: python
                with: {function: "tests.engine.helpers:fail_on", args: ["${item}", 4]}
                compensate:
                  - {id: unbook, uses: wait, with: {seconds: 0, value: "${book}"}}
    """)
    assert result.status == "failed"
    undone = [e.output for e in sink.of_type("step.succeeded") if e.path.endswith(".unbook")]
    assert undone == [3, 2, 1]
    assert [e.path for e in sink.of_type("step.compensated")] == ["each[2].book", "each[1].book", "each[0].book"]


async def test_workflow_rollback_and_a_group_with_its_own_compensation():
    result, sink = await run("""
        name: wf
        on_error: rollback
        steps:
          - id: setup
            steps:
              - {id: mk_dir, uses: wait, with: {seconds: 0, value: d}, compensate: [{id: rm_dir, uses: wait, with: {seconds: 0}}]}
            compensate:
              - {id: undo_setup, uses: wait, with: {seconds: 0, value: "${setup}"}}
          - {id: write, uses: wait, with: {seconds: 0, value: w}, compensate: [{id: unwrite, uses: wait, with: {seconds: 0}}]}
          - {id: boom, uses: fail, with: {message: late}}
    """)
    assert result.status == "failed" and result.error.startswith("boom: late")
    st = statuses(sink)
    assert st["write"] == st["setup"] == "compensated"
    assert "mk_dir.compensate.rm_dir" not in st, "the group's own compensation stands for its steps"
    assert [e.path for e in sink.of_type("step.compensated")] == ["write", "setup"]


async def test_needs_policy_wait_all_runs_unrelated_steps_and_skips_dependents():
    result, sink = await run("""
        name: dag
        on_error: wait_all
        steps:
          - {id: bad, uses: fail, with: {message: x}}
          - {id: slow, uses: wait, with: {seconds: 0.2, value: 1}, needs: []}
          - {id: after_bad, uses: wait, with: {seconds: 0}, needs: [bad]}
          - {id: after_slow, uses: wait, with: {seconds: 0, value: 2}, needs: [slow]}
    """)
    assert result.status == "failed" and result.error == "bad: x"
    st = statuses(sink)
    assert st["slow"] == st["after_slow"] == "succeeded"
    assert st["after_bad"] == "skipped"


async def test_needs_policy_default_fail_fast_cancels_and_continue_succeeds():
    text = """
        name: dag
        %s
        steps:
          - {id: bad, uses: fail, with: {message: x}}
          - {id: slow, uses: wait, with: {seconds: 0.3, value: 1}, needs: []}
          - {id: after_bad, uses: wait, with: {seconds: 0}, needs: [bad]}
    """
    result, sink = await run(text % "")
    assert result.status == "failed" and statuses(sink)["slow"] == "cancelled"
    result, sink = await run(text % "on_error: continue")
    assert result.status == "succeeded"
    st = statuses(sink)
    assert st["slow"] == "succeeded" and st["after_bad"] == "skipped" and st["bad"] == "failed"


async def test_two_branches_failing_at_once_leave_no_unretrieved_task_exception():
    """a and b fail together; while the inner block waits for c to stop, d fails and the outer
    block cancels the inner one: b's error must still be read (it was logged as "Task
    exception was never retrieved")."""
    seen = []
    loop = asyncio.get_running_loop()
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context.get("message")))
    try:
        for _ in range(5):
            result, _sink = await run("""
                name: ff
                steps:
                  - id: outer
                    parallel:
                      - id: inner
                        parallel:
                          - {id: a, uses: python, with: {function: "tests.engine.helpers:explode_later", args: [0.05, a]}}
                          - {id: b, uses: python, with: {function: "tests.engine.helpers:explode_later", args: [0.05, b]}}
                          - {id: c, uses: python, with: {function: "tests.engine.helpers:stubborn", args: [5, 0.2]}}
                      - {id: d, uses: python, with: {function: "tests.engine.helpers:explode_later", args: [0.1, d]}}
            """)
            assert result.status == "failed"
        gc.collect()
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(old)
    assert not [m for m in seen if m and "never retrieved" in m], seen


async def test_an_approval_makes_the_run_wait_after_the_rest_finishes_then_goes_on_with_the_decision():
    text = """
        name: publish
        steps:
          - id: both
            parallel:
              - {id: draft, uses: wait, with: {seconds: 0.1, value: {title: Hello}}}
              - {id: sign_off, uses: approval, with: {message: "Publish?", approvers: [alice], timeout: 2d}}
          - {id: publish, uses: wait, with: {seconds: 0, value: "${both.draft.title} by ${sign_off.by}"}}
    """
    result, sink = await run(text, approvals={})
    assert result.status == "waiting"
    st = statuses(sink)
    assert st["both.draft"] == "succeeded" and st["both.sign_off"] == "waiting" and "publish" not in st
    waiting = sink.of_type("step.waiting")[0]
    assert waiting.approvers == ["alice"] and waiting.message == "Publish?"
    assert waiting.deadline > time.time() + 86400
    completed = {e.path: e.output for e in sink.of_type("step.succeeded")}
    decided = {"both.sign_off": {"approved": True, "by": "alice", "comment": "ok", "at": "now",
                                 "deadline": waiting.deadline}}
    result, sink = await run(text, approvals=decided, completed=completed)
    assert result.status == "succeeded", result.error
    assert result.outputs["publish"] == "Hello by alice"
    rejected = {"both.sign_off": {"approved": False, "by": "bob", "comment": "not yet"}}
    result, _ = await run(text, approvals=rejected, completed=completed)
    assert result.status == "failed" and "rejected by bob: not yet" in result.error
    expired = {"both.sign_off": {"approved": None, "deadline": time.time() - 1}}
    result, _ = await run(text, approvals=expired, completed=completed)
    assert result.status == "failed" and "no decision within 2d" in result.error


async def test_an_approval_without_a_host_that_stores_runs_fails_clearly():
    result, _ = await run("""
        name: a
        steps:
          - {id: ok, uses: approval, with: {message: "Go?"}}
    """)
    assert result.status == "failed" and "approvals need a run stored by the server" in result.error
