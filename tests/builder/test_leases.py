"""builder/leases.py: one test per clause of the lease contract (its module docstring)."""

import asyncio
import datetime as dt
import os
import time

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from builder import execution, leases
from builder.models import Run, RunEvent, StepRun
from builder.services import create_run, save_workflow
from tests.builder.helpers import finished

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = """name: slow
steps:
  - {id: a, uses: wait, with: {seconds: 0.05, value: 1}}
  - {id: b, uses: wait, with: {seconds: 5, value: 2}}
"""


@pytest.fixture
def run(alice):
    return create_run(save_workflow(alice, SLOW), alice, {})


def another_process(run_id, *, expires_in: float = 60, pid: int | None = None, host: str = leases.HOST):
    """Give the run's lease to some other process (alive: this test's pid with another token)."""
    Run.objects.filter(pk=run_id).update(
        status=Run.Status.RUNNING, lease_owner=f"{host}:{pid or os.getpid()}:0ther000",
        lease_expires=timezone.now() + dt.timedelta(seconds=expires_in))


def left_by_a_stopped_process(run, now):
    """The rows a process that died mid-run leaves: step a succeeded, step b running."""
    StepRun.objects.create(run=run, path="a", step_id="a", kind="action", uses="wait", attempt=1,
                           status="succeeded", output=1, started_at=now, finished_at=now)
    StepRun.objects.create(run=run, path="b", step_id="b", kind="action", uses="wait", attempt=1,
                           status="running", started_at=now)


def test_1_a_leased_run_is_not_claimed_again_and_only_one_claim_wins(run):
    assert leases.claim(run.pk, "w1") is not None
    assert leases.claim(run.pk, "w2") is None, "the holder's lease stands"
    another_process(run.pk)
    assert leases.claim(run.pk, "w3") is None, "a live process's lease is never taken"
    run.refresh_from_db()
    assert run.worker == "w1"


def test_2_renewal_extends_the_lease_and_reports_runs_whose_lease_is_gone(run, alice):
    other = create_run(run.workflow, alice, {})
    leases.claim(run.pk, "w")
    leases.claim(other.pk, "w")
    Run.objects.filter(pk__in=[run.pk, other.pk]).update(lease_expires=timezone.now())
    another_process(other.pk)
    assert leases.renew([run.pk, other.pk]) == {other.pk}
    run.refresh_from_db()
    assert run.lease_expires > timezone.now() + dt.timedelta(seconds=leases.lease_seconds() - 5)


def test_3_a_lease_lapses_in_time_or_at_once_when_its_process_is_gone(run, alice):
    another_process(run.pk, expires_in=60)
    assert run.pk not in leases.lapsed()
    another_process(run.pk, expires_in=-1)
    assert run.pk in leases.lapsed()
    another_process(run.pk, expires_in=60, pid=999_999)  # no such process on this host
    assert run.pk in leases.lapsed()
    another_process(run.pk, expires_in=60, pid=999_999, host="other-host")  # can't tell: wait for it
    assert run.pk not in leases.lapsed()


def test_4_a_taken_over_run_marks_the_running_attempt_interrupted_and_restarts_running_blocks(run):
    another_process(run.pk, expires_in=-1)
    now = timezone.now()
    left_by_a_stopped_process(run, now)
    StepRun.objects.create(run=run, path="blk", step_id="blk", kind="parallel", attempt=1,
                           status="running", started_at=now)
    claimed, taken_over = leases.claim(run.pk, "w")
    assert taken_over and claimed.takeovers == 1
    b = StepRun.objects.get(run=run, path="b")
    assert b.status == "failed" and b.error.startswith("interrupted")
    assert not StepRun.objects.filter(run=run, path="blk").exists()
    state = leases.stored_state(run.pk)
    assert state["completed"] == {"a": 1} and state["attempts"] == {"a": 1, "b": 1}


async def test_4_the_taken_over_run_goes_on_from_its_stored_steps(alice):
    """The same run: a is reused (no new row, not started again), b runs as attempt 2."""
    b_fast = SLOW.replace("seconds: 5", "seconds: 0.05")

    def prepare():
        run = create_run(save_workflow(alice, b_fast), alice, {})
        another_process(run.pk, expires_in=-1)
        now = timezone.now()
        left_by_a_stopped_process(run, now)
        Run.objects.filter(pk=run.pk).update(last_seq=7, started_at=now - dt.timedelta(seconds=3))
        return run
    run = await sync_to_async(prepare)()
    await execution.execute(run.pk)
    done = await Run.objects.aget(pk=run.pk)
    assert done.status == "succeeded" and done.outputs == {"a": 1, "b": 2}
    rows = [(r.path, r.attempt, r.status) async for r in StepRun.objects.filter(run=run).order_by("path", "attempt")]
    assert rows == [("a", 1, "succeeded"), ("b", 1, "failed"), ("b", 2, "succeeded")]
    assert done.started_at < timezone.now() - dt.timedelta(seconds=2), "the first start time stays"
    assert done.lease_owner == ""
    seqs = [s async for s in RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True)]
    assert seqs[0] == 7 + leases.SEQ_GAP, "past anything the stopped process may have streamed"
    assert seqs == sorted(set(seqs)) and done.last_seq == seqs[-1]
    # a stored step is reused quietly: watchers saw it end already, and its row is there
    kinds = [(e.type, e.data.get("path")) async for e in RunEvent.objects.filter(run=run).order_by("seq")]
    assert ("step.succeeded", "a") not in kinds and ("step.started", "a") not in kinds
    # the run's figures are the whole run's, from its first start, not the last process's part
    assert done.duration_ms >= 3000 and done.summary["wall_ms"] == done.duration_ms
    assert done.summary["taken_over"] is True and done.summary["action_steps"] == 2
    finished = [e.data async for e in RunEvent.objects.filter(run=run, type="run.finished")]
    assert finished[0]["duration_ms"] == done.duration_ms and finished[0]["summary"] == done.summary


def test_5_a_queued_run_cancelled_before_anyone_takes_it_never_starts(run):
    leases.request_cancel(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.cancel_requested
    assert leases.claim(run.pk, "w") is None
    assert not StepRun.objects.filter(run=run).exists()


async def test_5_a_cancel_flag_set_by_another_process_stops_the_run_within_a_second(run):
    task = execution.schedule(run.pk)
    for _ in range(200):
        if await StepRun.objects.filter(run=run, path="b", status="running").aexists():
            break
        await asyncio.sleep(0.02)
    # as another web process does it: only the database row changes
    flagged = time.monotonic()
    await sync_to_async(leases.request_cancel)(run.pk)
    await asyncio.wait_for(task, 5)
    took = time.monotonic() - flagged
    done = await finished(run.pk)
    assert done.status == "cancelled"
    assert took < 1.0, f"stopped {took:.2f} s after the flag"
    b = await StepRun.objects.aget(run=run, path="b")
    assert b.status == "cancelled", "no step is left running"


async def test_watchers_see_a_cancel_or_an_interruption_made_outside_a_running_run(run):
    """Clause 5 and the recovery choice 'interrupt' change only the row: the monitor is told."""
    from tests.builder.test_consumers import connect, events_from

    ws = await connect(run.workflow.owner, run.pk)
    assert (await ws.receive_json_from())["type"] == "snapshot"
    await sync_to_async(leases.request_cancel)(run.pk)
    [event] = await events_from(ws)
    assert event["type"] == "run.status" and event["status"] == "cancelled" and event["final"]
    await ws.disconnect()
    stored = [e.data async for e in RunEvent.objects.filter(run=run)]
    assert stored == [event], "stored too: a monitor opened later replays it"

    other = await sync_to_async(create_run)(run.workflow, run.workflow.owner, {})
    await sync_to_async(another_process)(other.pk, expires_in=-1)
    ws = await connect(run.workflow.owner, other.pk)
    await ws.receive_json_from()
    assert await sync_to_async(leases.interrupt)(other.pk)
    [event] = await events_from(ws)
    assert event["status"] == "interrupted" and event["final"] and "resume" in event["error"]
    await ws.disconnect()
